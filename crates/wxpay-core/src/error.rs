//! The one error type of wxpay, and the kinds it is made of.
//!
//! An [`Error`] always means: *we do not know the order's state from this call*. What the
//! server said about the order (closed, already closed, not found, paid) is never an error;
//! it is a [`CloseOutcome`](crate::CloseOutcome).

use std::fmt;

/// Why a call did not produce an outcome.
///
/// Each variant says whether the request may have reached WeChat Pay:
/// [`Error::was_sent`] answers that for callers that must decide between "safe to give up"
/// and "must find out".
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input was rejected before anything was built or sent.
    InvalidInput(InvalidInput),
    /// The signer failed; nothing was sent.
    Sign(SignError),
    /// The transport failed (set by the transport crates, never by the core itself).
    Transport(TransportError),
    /// APIv2 `return_code=FAIL`: the request itself was rejected (bad signature, bad XML…).
    /// Says nothing about the order.
    Communication {
        /// WeChat Pay's `return_msg`, as received (may be empty).
        return_msg: String,
    },
    /// WeChat Pay answered with an error that is not an order outcome.
    Api(ApiError),
    /// The response failed verification: it must not be believed.
    Verify(VerifyError),
    /// The response could not be decoded.
    Decode(DecodeError),
    /// Every attempt the retry policy allowed failed. Unless `sent` is false (no attempt
    /// got past connecting), the order's state is unknown.
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// Whether any attempt may have reached WeChat Pay.
        sent: bool,
        /// The error of the last attempt.
        last: Box<Error>,
    },
}

impl Error {
    /// Whether the request may have reached WeChat Pay (and so the order may have been closed).
    #[must_use]
    pub fn was_sent(&self) -> bool {
        match self {
            Error::InvalidInput(_) | Error::Sign(_) => false,
            Error::Transport(t) => {
                !matches!(t.kind, TransportErrorKind::Connect | TransportErrorKind::Tls)
            }
            // Over all attempts: an earlier one may have been sent when the last was not.
            Error::RetriesExhausted { sent, .. } => *sent,
            Error::Communication { .. } | Error::Api(_) | Error::Verify(_) | Error::Decode(_) => {
                true
            }
        }
    }

    /// The API error, if WeChat Pay answered with one.
    #[must_use]
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            Error::RetriesExhausted { last, .. } => last.api(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(e) => write!(f, "invalid input (nothing sent): {e}"),
            Error::Sign(e) => write!(f, "signing failed (nothing sent): {e}"),
            Error::Transport(e) => write!(f, "{e}"),
            Error::Communication { return_msg } => {
                write!(f, "WeChat Pay rejected the request (return_code=FAIL): {return_msg}")
            }
            Error::Api(e) => write!(f, "{e}"),
            Error::Verify(e) => write!(f, "response failed verification: {e}"),
            Error::Decode(e) => write!(f, "{e}"),
            Error::RetriesExhausted { attempts, sent: true, last } => write!(
                f,
                "order state unknown: gave up after {attempts} attempts; last error: {last}"
            ),
            Error::RetriesExhausted { attempts, sent: false, last } => write!(
                f,
                "gave up after {attempts} attempts, none sent (the order is unchanged); \
                 last error: {last}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidInput(e) => Some(e),
            Error::Sign(e) => Some(e),
            Error::Transport(e) => Some(e),
            Error::Api(e) => Some(e),
            Error::Verify(e) => Some(e),
            Error::Decode(e) => Some(e),
            Error::RetriesExhausted { last, .. } => Some(last.as_ref()),
            Error::Communication { .. } => None,
        }
    }
}

macro_rules! from_kind {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self { Error::$v(e) }
        }
    )*};
}
from_kind!(InvalidInput => InvalidInput, SignError => Sign, TransportError => Transport,
    ApiError => Api, VerifyError => Verify, DecodeError => Decode);

/// Input that wxpay refuses before building a request. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A required field is empty.
    Empty {
        /// The field's wire name.
        field: &'static str,
    },
    /// A field is longer than the API allows.
    TooLong {
        /// The field's wire name.
        field: &'static str,
        /// The most characters allowed.
        max: usize,
        /// The characters given.
        len: usize,
    },
    /// A field is shorter than the API allows.
    TooShort {
        /// The field's wire name.
        field: &'static str,
        /// The fewest characters allowed.
        min: usize,
        /// The characters given.
        len: usize,
    },
    /// A field holds a character the API does not allow there.
    BadCharacter {
        /// The field's wire name.
        field: &'static str,
        /// The offending character.
        character: char,
        /// Its character position (0-based).
        position: usize,
    },
    /// The API v2 key is not 32 characters long (its value is never shown).
    ApiKeyLength {
        /// The length given.
        len: usize,
    },
    /// Institutional (service-provider) mode needs a `sub_mch_id`.
    MissingSubMchId,
    /// The order is too young to close: WeChat Pay refuses closes within 5 minutes of creation.
    TooEarly {
        /// Seconds to wait before the close is allowed.
        wait_secs: u64,
    },
    /// The call needs credentials of an API generation that the client was not given.
    MissingCredentials {
        /// `"v2"` or `"v3"`.
        api: &'static str,
    },
    /// A base URL was refused.
    BadBaseUrl {
        /// Why.
        reason: &'static str,
    },
    /// The TLS root certificates given to the client builder are not usable.
    TlsRoots(KeyError),
    /// A combined close needs between 1 and 50 sub-orders.
    SubOrderCount {
        /// How many were given.
        count: usize,
    },
    /// A key or certificate could not be used.
    Key(KeyError),
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidInput::Empty { field } => write!(f, "`{field}` must not be empty"),
            InvalidInput::TooLong { field, max, len } => {
                write!(f, "`{field}` is {len} characters; at most {max} are allowed")
            }
            InvalidInput::TooShort { field, min, len } => {
                write!(f, "`{field}` is {len} characters; at least {min} are required")
            }
            InvalidInput::BadCharacter { field, character, position } => write!(
                f,
                "`{field}` has {character:?} at position {position}, which is not allowed there"
            ),
            InvalidInput::ApiKeyLength { len } => {
                write!(f, "the API v2 key must be 32 characters, got {len}")
            }
            InvalidInput::MissingSubMchId => {
                f.write_str("institutional mode needs `sub_mch_id` (sub_appid alone is not enough)")
            }
            InvalidInput::TooEarly { wait_secs } => write!(
                f,
                "an order can be closed 5 minutes after creation at the earliest; wait {wait_secs} s more"
            ),
            InvalidInput::MissingCredentials { api } => {
                write!(f, "this call needs API{api} credentials, which the client was not given")
            }
            InvalidInput::BadBaseUrl { reason } => write!(f, "bad base URL: {reason}"),
            InvalidInput::TlsRoots(e) => write!(f, "TLS root certificates: {e}"),
            InvalidInput::SubOrderCount { count } => {
                write!(f, "a combined close takes 1 to 50 sub-orders, got {count}")
            }
            InvalidInput::Key(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InvalidInput {}

/// Why a key, public key or certificate could not be loaded. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The input is not PEM.
    NotPem,
    /// The PEM holds something other than what was asked for (its label is given).
    WrongPemLabel {
        /// What was expected, in words.
        expected: &'static str,
        /// The PEM label found, e.g. `CERTIFICATE`.
        found: String,
    },
    /// An encrypted private key: decrypt it first (`openssl pkcs8 -in … -nocrypt`).
    Encrypted,
    /// The key is not an RSA key.
    NotRsa,
    /// The RSA key is shorter than 2048 bits.
    TooSmall,
    /// The key or certificate is malformed; the text says where it failed.
    Malformed(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotPem => f.write_str("not a PEM document"),
            KeyError::WrongPemLabel { expected, found } => {
                write!(f, "expected {expected}, found a PEM `{found}`")
            }
            KeyError::Encrypted => f.write_str(
                "the private key is encrypted; give the unencrypted PKCS#8 `apiclient_key.pem`",
            ),
            KeyError::NotRsa => f.write_str("not an RSA key"),
            KeyError::TooSmall => f.write_str("RSA keys must be at least 2048 bits"),
            KeyError::Malformed(why) => write!(f, "malformed key or certificate: {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::InvalidInput(InvalidInput::Key(e))
    }
}

/// A signer's failure. Opaque on purpose: a KMS or HSM signer wraps its own error with
/// [`SignError::from_source`]. Never carries key material.
#[derive(Debug)]
pub struct SignError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SignError {
    /// A signing error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        SignError { message: message.into(), source: None }
    }

    /// A signing error caused by another error (a KMS client's, say).
    pub fn from_source(
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        SignError { message: "signer failed".into(), source: Some(source.into()) }
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(s) => write!(f, "{}: {s}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SignError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// How a transport failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect: the request was not sent.
    Connect,
    /// Timed out: the request may have been sent.
    Timeout,
    /// The connection broke mid-exchange: the request may have been sent.
    Io,
    /// The TLS handshake failed (a certificate not trusted or not for this host, no
    /// protocol in common): the request was not sent. Not retried: trying again or another
    /// host would not change the certificate, and it may be someone in the middle.
    Tls,
    /// The response body exceeded the size cap.
    BodyTooLarge,
    /// Anything else the HTTP client reported.
    Other,
}

/// A transport failure, as reported by the transport crates.
#[derive(Debug)]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// The host that failed.
    pub host: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TransportError {
    /// A transport error of `kind` on `host`, with its cause.
    pub fn new(
        kind: TransportErrorKind,
        host: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        TransportError { kind, host: host.into(), source }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TransportErrorKind::Connect => "could not connect (not sent)",
            TransportErrorKind::Timeout => "timed out (may have been sent)",
            TransportErrorKind::Io => "connection broke (may have been sent)",
            TransportErrorKind::Tls => "TLS handshake failed (not sent)",
            TransportErrorKind::BodyTooLarge => "response body too large",
            TransportErrorKind::Other => "transport failed",
        };
        write!(f, "{} {what}", self.host)?;
        // The whole chain: HTTP clients' own messages often leave the root cause (the
        // certificate rustls refused, say) to their sources.
        let mut next = self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static));
        let mut last = String::new();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !last.contains(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            next = cause.source();
        }
        Ok(())
    }
}

impl TransportError {
    /// The first `T` among `error` and its causes, looking inside [`std::io::Error`]s too
    /// (whose `source` skips the error they wrap). For transports classifying failures.
    #[must_use]
    pub fn find_cause<'a, T: std::error::Error + 'static>(
        error: &'a (dyn std::error::Error + 'static),
    ) -> Option<&'a T> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<T>() {
                return Some(found);
            }
            let inner = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
            if let Some(found) = inner.and_then(|i| i.downcast_ref::<T>()) {
                return Some(found);
            }
            next = inner.map(|i| i as &(dyn std::error::Error + 'static)).or_else(|| e.source());
        }
        None
    }

    /// Whether `error` holds a failed TLS handshake: a rustls error that only the handshake
    /// raises (a certificate not trusted or not for the host, no protocol in common), so
    /// that no byte of the request was sent.
    #[cfg(feature = "rustls")]
    #[must_use]
    pub fn is_tls_handshake_failure(error: &(dyn std::error::Error + 'static)) -> bool {
        use rustls::Error as R;
        matches!(
            Self::find_cause::<R>(error),
            Some(
                R::InvalidCertificate(_)
                    | R::NoCertificatesPresented
                    | R::PeerIncompatible(_)
                    | R::UnsupportedNameType
            )
        )
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Which API generation an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// APIv2 (XML).
    V2,
    /// APIv3 (JSON).
    V3,
}

/// An error code from WeChat Pay, both generations. Codes wxpay does not know are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiCode {
    /// Server fault; call again with the same parameters (`SYSTEMERROR`, `SYSTEM_ERROR`).
    SystemError,
    /// The signature check failed (`SIGNERROR`, `SIGN_ERROR`).
    SignError,
    /// The request was not a POST (`REQUIRE_POST_METHOD`).
    RequirePostMethod,
    /// The body is not valid XML (`XML_FORMAT_ERROR`).
    XmlFormatError,
    /// A bad parameter (`PARAM_ERROR`).
    ParamError,
    /// The request breaks the APIv3 rules (`INVALID_REQUEST`).
    InvalidRequest,
    /// No such merchant (`MCH_NOT_EXISTS`).
    MchNotExists,
    /// A business rule limit (`RULE_LIMIT`).
    RuleLimit,
    /// Trade refused for a business reason (`TRADE_ERROR`).
    TradeError,
    /// Too many calls, or the payer is paying right now (`FREQUENCY_LIMITED`).
    FrequencyLimited,
    /// The HTTP status was an error and the body carried no code.
    HttpStatus,
    /// Any other code, as received.
    Other(String),
}

impl ApiCode {
    /// Reads a wire code; both the APIv2 and the APIv3 spellings are understood.
    #[must_use]
    pub fn from_wire(code: &str) -> ApiCode {
        match code {
            "SYSTEMERROR" | "SYSTEM_ERROR" => ApiCode::SystemError,
            "SIGNERROR" | "SIGN_ERROR" => ApiCode::SignError,
            "REQUIRE_POST_METHOD" => ApiCode::RequirePostMethod,
            "XML_FORMAT_ERROR" => ApiCode::XmlFormatError,
            "PARAM_ERROR" => ApiCode::ParamError,
            "INVALID_REQUEST" => ApiCode::InvalidRequest,
            "MCH_NOT_EXISTS" => ApiCode::MchNotExists,
            "RULE_LIMIT" => ApiCode::RuleLimit,
            "TRADE_ERROR" => ApiCode::TradeError,
            "FREQUENCY_LIMITED" => ApiCode::FrequencyLimited,
            other => ApiCode::Other(other.to_owned()),
        }
    }

    /// The code as text (the APIv3 spelling where the two differ).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            ApiCode::SystemError => "SYSTEM_ERROR",
            ApiCode::SignError => "SIGN_ERROR",
            ApiCode::RequirePostMethod => "REQUIRE_POST_METHOD",
            ApiCode::XmlFormatError => "XML_FORMAT_ERROR",
            ApiCode::ParamError => "PARAM_ERROR",
            ApiCode::InvalidRequest => "INVALID_REQUEST",
            ApiCode::MchNotExists => "MCH_NOT_EXISTS",
            ApiCode::RuleLimit => "RULE_LIMIT",
            ApiCode::TradeError => "TRADE_ERROR",
            ApiCode::FrequencyLimited => "FREQUENCY_LIMITED",
            ApiCode::HttpStatus => "HTTP_STATUS",
            ApiCode::Other(s) => s,
        }
    }
}

/// An error answer from WeChat Pay that is not an order outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// Which API generation answered.
    pub version: ApiVersion,
    /// The HTTP status (200 for APIv2 business errors).
    pub status: u16,
    /// The error code.
    pub code: ApiCode,
    /// The human-readable message (`err_code_des` in APIv2, `message` in APIv3).
    pub message: String,
    /// APIv3's free-form `detail` object, when present (its keys vary).
    pub detail: Option<serde_json::Value>,
    /// APIv3's `Request-ID` header, when present.
    pub request_id: Option<String>,
    /// Whether the error answer's signature was verified. An unverified error could have
    /// been forged or altered on the way; act on it with that in mind.
    pub verified: bool,
}

impl ApiError {
    /// Whether calling again with the same parameters may succeed (system errors, 5xx,
    /// frequency limits).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self.code, ApiCode::SystemError | ApiCode::FrequencyLimited) || self.status >= 500
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.version {
            ApiVersion::V2 => "APIv2",
            ApiVersion::V3 => "APIv3",
        };
        write!(f, "WeChat Pay {v} error {} (HTTP {})", self.code.as_str(), self.status)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [Request-ID {id}]")?;
        }
        if !self.verified {
            f.write_str(" (unverified)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Why a response failed verification. A response that fails is never believed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// An APIv2 success answer carries no `sign`.
    MissingSign,
    /// A signature header is missing (its name is given).
    MissingHeader(&'static str),
    /// A signature header is not valid text or not of the expected form.
    BadHeader(&'static str),
    /// `Wechatpay-Signature-Type` names an algorithm wxpay does not accept.
    UnsupportedSignatureType(String),
    /// The response timestamp is too far from local time (replay protection).
    StaleTimestamp {
        /// The response's `Wechatpay-Timestamp`.
        timestamp: u64,
        /// Local time.
        now: u64,
        /// The allowed distance, seconds.
        window: u64,
    },
    /// `Wechatpay-Serial` names no key held.
    UnknownSerial(String),
    /// The platform certificate that the serial names is outside its validity window.
    CertificateNotValidNow {
        /// The certificate's serial.
        serial: String,
    },
    /// A `WECHATPAY/SIGNTEST/` probe signature: WeChat Pay checking that we verify.
    SignTestProbe,
    /// The signature does not match.
    BadSignature,
    /// The answer names a different merchant or app than the request did.
    Mismatch {
        /// The field that differs.
        field: &'static str,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingSign => f.write_str("the answer has no `sign`"),
            VerifyError::MissingHeader(h) => write!(f, "missing header `{h}`"),
            VerifyError::BadHeader(h) => write!(f, "malformed header `{h}`"),
            VerifyError::UnsupportedSignatureType(t) => {
                write!(f, "unsupported signature type {t:?}")
            }
            VerifyError::StaleTimestamp { timestamp, now, window } => {
                write!(f, "timestamp {timestamp} is more than {window} s from local time {now}")
            }
            VerifyError::UnknownSerial(s) => write!(f, "no key held for serial {s:?}"),
            VerifyError::CertificateNotValidNow { serial } => {
                write!(f, "platform certificate {serial} is not valid now")
            }
            VerifyError::SignTestProbe => {
                f.write_str("WECHATPAY/SIGNTEST probe signature (rejected, as WeChat Pay expects)")
            }
            VerifyError::BadSignature => f.write_str("signature does not match"),
            VerifyError::Mismatch { field } => {
                write!(f, "answer's `{field}` differs from the request's")
            }
        }
    }
}

impl std::error::Error for VerifyError {}

/// A response that could not be decoded. Keeps the raw body for diagnosis.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was wrong.
    pub reason: String,
    /// The HTTP status.
    pub status: u16,
    /// The body as received (capped by the transport).
    pub body: Vec<u8>,
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("reason", &self.reason)
            .field("status", &self.status)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not decode the answer (HTTP {}, {} bytes): {}",
            self.status,
            self.body.len(),
            self.reason
        )
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(Box<dyn std::error::Error + Send + Sync>);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapper")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn find_cause_looks_through_sources_and_inside_io_errors() {
        // An io::Error whose `source()` would skip the KeyError it wraps.
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, KeyError::TooSmall);
        let chain = Wrapper(Box::new(Wrapper(Box::new(io))));
        let found = TransportError::find_cause::<KeyError>(&chain);
        assert_eq!(found, Some(&KeyError::TooSmall));
        assert!(TransportError::find_cause::<SignError>(&chain).is_none());
    }
}
