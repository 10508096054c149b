//! How the sandbox behaves: its configuration. A leaf: it imports no other module of the
//! sandbox.

/// Which key id APIv3 answers name when the request's `Wechatpay-Serial` names neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerMode {
    /// `PUB_KEY_ID_…`: the current mode.
    #[default]
    PublicKey,
    /// The platform certificate's serial: the older mode.
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
    /// The key APIv3 answers are signed under by default.
    pub answer_mode: AnswerMode,
    /// Serve HTTPS (`https://127.0.0.1:<port>`) with the built-in test certificate, issued
    /// by [`TLS_CA_PEM`](crate::merchants::TLS_CA_PEM), instead of plain HTTP.
    pub tls: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            min_close_delay_secs: wxpay_core::MIN_CLOSE_DELAY_SECS,
            request_window_secs: Some(300),
            answer_mode: AnswerMode::PublicKey,
            tls: false,
        }
    }
}
