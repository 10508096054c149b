//! How the sandbox behaves: its configuration. A leaf: it imports no other module of the
//! sandbox.

/// Which keys WeChat Pay holds for an APIv3 merchant, and so which key signs its answers
/// (see the crate's "Key modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyMode {
    /// `public-key`: only the WeChat Pay public key (merchants registered since late 2024).
    /// Every answer is signed with it, whatever the request's `Wechatpay-Serial` names, and
    /// `GET /v3/certificates` answers `404 RESOURCE_NOT_EXISTS`.
    PublicKey,
    /// `certificates`: only platform certificates (the older mode). Every answer is signed
    /// with the certificate that signs now (rotation included), whatever the request names.
    Certificates,
    /// `both`: a merchant moving from certificates to the public key. The request's
    /// `Wechatpay-Serial` decides: the public key id, the public key; anything else, or
    /// no header, the certificate that signs now.
    #[default]
    Both,
}

impl KeyMode {
    /// Every mode.
    pub const ALL: [KeyMode; 3] = [KeyMode::PublicKey, KeyMode::Certificates, KeyMode::Both];

    /// `public-key`, `certificates` or `both`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::PublicKey => "public-key",
            KeyMode::Certificates => "certificates",
            KeyMode::Both => "both",
        }
    }

    /// Reads what [`as_str`](Self::as_str) writes.
    #[must_use]
    pub fn parse(s: &str) -> Option<KeyMode> {
        KeyMode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the merchant has the WeChat Pay public key.
    #[must_use]
    pub fn has_public_key(self) -> bool {
        self != KeyMode::Certificates
    }

    /// Whether the merchant has platform certificates.
    #[must_use]
    pub fn has_certificates(self) -> bool {
        self != KeyMode::PublicKey
    }
}

/// Which key signs an answer to a [`KeyMode::Both`] merchant's request whose
/// `Wechatpay-Serial` names neither the public key nor a platform certificate (or that has
/// no such header). WeChat Pay signs those with the platform certificate, the default; the
/// other choice keeps the sandbox's behaviour from before key modes. It has no effect on
/// `public-key` and `certificates` merchants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerMode {
    /// `PUB_KEY_ID_…`: the sandbox's default before key modes (not WeChat Pay's).
    PublicKey,
    /// The platform certificate that signs now: what WeChat Pay does.
    #[default]
    PlatformCertificate,
}

/// How the sandbox behaves. `Default` is what WeChat Pay does.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The shortest time between creating and closing an order; 0 turns the rule off.
    pub min_close_delay_secs: u64,
    /// How far an APIv3 request's timestamp may be from now; `None` accepts any (to replay
    /// recorded requests).
    pub request_window_secs: Option<u64>,
    /// Every APIv3 merchant's key mode at start ([`KeyMode::Both`] unless set); each can be
    /// changed while running ([`State::set_key_mode`](crate::State::set_key_mode), or
    /// `POST /__sandbox/merchants/{mchid}/keys`).
    pub keys: KeyMode,
    /// For `both` merchants, the key that signs an answer to a request naming neither key
    /// (the platform certificate unless set, as WeChat Pay does).
    pub answer_mode: AnswerMode,
    /// How far WeChat Pay's clock is from this machine's, in seconds (positive: ahead), as
    /// seen in the `Wechatpay-Timestamp` of its APIv3 answers and in the 5-minute window it
    /// checks requests' timestamps against; 0 (the default) for clocks that agree. It
    /// simulates a merchant whose clock is off.
    pub clock_offset_secs: i64,
    /// Serve HTTPS (`https://127.0.0.1:<port>`) with the built-in test certificate, issued
    /// by [`TLS_CA_PEM`](crate::merchants::TLS_CA_PEM), instead of plain HTTP.
    pub tls: bool,
    /// Accept the shared vectors' merchant ids, for replaying recorded vector requests: their
    /// APIv3 sub-merchant `1900000109`
    /// ([`V3_VECTOR_SUB_MCHID`](crate::merchants::V3_VECTOR_SUB_MCHID)) as the service
    /// provider's sub-merchant and as the direct merchant's combined sub-order merchant, which
    /// the vectors sign. Off by default: `1900000109` is the APIv2 service provider's id, and
    /// WeChat Pay refuses it in those roles as it refuses any sub-merchant that is not the
    /// service provider's (a client that confuses `WXPAY_SANDBOX_V2_SP_MCH_ID` with
    /// `WXPAY_SANDBOX_V3_SUB_MCHID` must not pass here).
    pub accept_vector_ids: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            min_close_delay_secs: wxpay_core::MIN_CLOSE_DELAY_SECS,
            request_window_secs: Some(300),
            keys: KeyMode::Both,
            answer_mode: AnswerMode::PlatformCertificate,
            clock_offset_secs: 0,
            tls: false,
            accept_vector_ids: false,
        }
    }
}
