//! The one error type of wxpay, what it says about the order, and the kinds it is made of.
//!
//! An [`Error`] means: *this call produced no outcome*. What the server said about the order
//! (closed, already closed, not found, paid) is never an error; it is a
//! [`CloseOutcome`](crate::CloseOutcome). Every error says, through
//! [`Error::order_effect`], what the failed call means for the order:
//!
//! | [`OrderEffect`] | meaning | what to do |
//! | --- | --- | --- |
//! | `NotSent` | nothing left this machine; the order is unchanged | fix the cause and call again |
//! | `Refused` | WeChat Pay answered (verified) and refused; the order is unchanged | rate limits pass, other refusals repeat until the request changes |
//! | `Unknown` | the request may have been processed | close again: it is safe and is how to learn the state |

use std::fmt;

use crate::escape::Escaped;

/// What a failed call means for the order, as [`Error::order_effect`] reports it over every
/// attempt of the call. Ordered from the most to the least certain, so that the worst of
/// several attempts is their maximum.
///
/// | effect | meaning | what to do |
/// | --- | --- | --- |
/// | `NotSent` | nothing left this machine; the order is unchanged | fix the cause and close again |
/// | `Refused` | WeChat Pay answered (verified) and refused; the order is unchanged | rate limits pass on a later try; other refusals repeat until the request changes |
/// | `Unknown` | the request may have been processed | close again: it is safe, and it is how to learn the state |
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrderEffect {
    /// Nothing was sent (bad input, signing or the random source failed, connection refused,
    /// TLS handshake failed): the order is unchanged.
    NotSent,
    /// WeChat Pay answered and refused the request: the order is unchanged. A verified 4xx
    /// other than an outcome (`429 FREQUENCY_LIMITED` included), a verified APIv2
    /// `result_code=FAIL` that is neither an outcome nor `SYSTEMERROR`, or APIv2
    /// `return_code=FAIL` (which WeChat Pay never signs; see [`ErrorKind::Communication`]).
    Refused,
    /// The request may have been processed: timeout, broken connection, 5xx, `SYSTEMERROR`,
    /// an answer that failed verification, could not be decoded or was not signed. Closing
    /// again is safe and is how to learn the state.
    Unknown,
}

impl OrderEffect {
    /// A stable lower-case name: `not_sent`, `refused`, `unknown`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderEffect::NotSent => "not_sent",
            OrderEffect::Refused => "refused",
            OrderEffect::Unknown => "unknown",
        }
    }

    /// Whether the order is certainly unchanged (`NotSent` or `Refused`).
    #[must_use]
    pub fn is_unchanged(self) -> bool {
        self != OrderEffect::Unknown
    }

    /// The phrase the error messages use.
    fn phrase(self) -> &'static str {
        match self {
            OrderEffect::NotSent => "not sent, the order is unchanged",
            OrderEffect::Refused => "refused by WeChat Pay, the order is unchanged",
            OrderEffect::Unknown => "order state unknown",
        }
    }
}

impl fmt::Display for OrderEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call did not produce an outcome: the [`kind`](Error::kind) of the last attempt's
/// failure (matchable whatever retries came before), what the call means for the order
/// ([`order_effect`](Error::order_effect), over all attempts), how many attempts were
/// made, and WeChat Pay's `Request-ID` when an answer carried one.
///
/// ```
/// use wxpay_core::{Error, ErrorKind, OrderEffect, VerifyError};
///
/// let err = Error::from(VerifyError::BadSignature);
/// assert!(matches!(err.kind(), ErrorKind::Verify(VerifyError::BadSignature)));
/// assert_eq!(err.order_effect(), OrderEffect::Unknown); // an answer we cannot believe
/// assert_eq!(err.to_string(), "order state unknown: the answer failed verification: signature does not match");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    attempts: u32,
    /// The worst effect of the attempts before the last one.
    earlier: OrderEffect,
    request_id: Option<String>,
}

impl Error {
    /// The kind of the last attempt's failure.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The kind of the last attempt's failure, by value.
    #[must_use]
    pub fn into_kind(self) -> ErrorKind {
        self.inner.kind
    }

    /// What the call means for the order, over every attempt it made: `Unknown` if any
    /// attempt may have been processed, else `Refused` if WeChat Pay refused one, else
    /// `NotSent`.
    #[must_use]
    pub fn order_effect(&self) -> OrderEffect {
        self.inner.earlier.max(self.inner.kind.order_effect())
    }

    /// Whether any attempt may have reached WeChat Pay (`order_effect() != NotSent`).
    #[must_use]
    pub fn was_sent(&self) -> bool {
        self.order_effect() != OrderEffect::NotSent
    }

    /// How many attempts the call made (0 when it failed before the first, 1 without retries).
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The API error, if the last attempt was answered with one.
    #[must_use]
    pub fn api(&self) -> Option<&ApiError> {
        match &self.inner.kind {
            ErrorKind::Api(e) => Some(e),
            _ => None,
        }
    }

    /// WeChat Pay's `Request-ID` of the last answer, when it carried one (support asks for it
    /// first).
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// This error of a call made again after `previous` failed: the attempts add up, and
    /// what the earlier call may have done stays.
    #[must_use]
    pub(crate) fn after(mut self, previous: &Error) -> Self {
        self.inner.attempts += previous.inner.attempts;
        self.inner.earlier = self.inner.earlier.max(previous.order_effect());
        self
    }

    /// Records the call's history: `attempts` made, the worst effect of those before the
    /// last, and the last answer's `Request-ID`.
    pub(crate) fn with_history(
        mut self,
        attempts: u32,
        earlier: OrderEffect,
        request_id: Option<String>,
    ) -> Self {
        self.inner.attempts = attempts;
        self.inner.earlier = earlier;
        if request_id.is_some() {
            self.inner.request_id = request_id;
        }
        self
    }
}

impl<T: Into<ErrorKind>> From<T> for Error {
    fn from(kind: T) -> Self {
        let kind = kind.into();
        let request_id = match &kind {
            ErrorKind::Api(a) => a.request_id.clone(),
            _ => None,
        };
        Error {
            inner: Box::new(Inner { kind, attempts: 0, earlier: OrderEffect::NotSent, request_id }),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("order_effect", &self.order_effect())
            .field("attempts", &self.inner.attempts)
            .field("request_id", &self.inner.request_id)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.order_effect().phrase(), self.inner.kind)?;
        if self.inner.attempts > 1 {
            write!(f, " (after {} attempts)", self.inner.attempts)?;
        }
        if let Some(id) = &self.inner.request_id {
            write!(f, " [Request-ID {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    /// The cause below what `Display` shows: an HTTP client's or a KMS signer's own error.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.inner.kind)
    }
}

/// What failed. Each kind's [`order_effect`](ErrorKind::order_effect) is what it means on
/// its own; [`Error::order_effect`] adds what earlier attempts may have done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input was refused before anything was built or sent.
    #[error("invalid input: {0}")]
    InvalidInput(InvalidInput),
    /// The signer failed; nothing was sent.
    #[error(transparent)]
    Sign(SignError),
    /// The system's random source failed, so no nonce could be drawn; nothing was sent.
    #[error("the random source failed")]
    Random,
    /// The transport failed (set by the transport crates, never by the core itself).
    #[error(transparent)]
    Transport(TransportError),
    /// APIv2 `return_code=FAIL`: WeChat Pay refused the request itself (bad signature, bad
    /// XML…) before looking at the order. Such answers are never signed; wxpay counts them as
    /// refusals (the order unchanged), as the API documents. A forged one could at worst make
    /// a closed order look open, and closing again is safe.
    #[error("WeChat Pay rejected the request (return_code=FAIL): {}", Escaped(.return_msg))]
    Communication {
        /// WeChat Pay's `return_msg`, as received (may be empty).
        return_msg: String,
    },
    /// WeChat Pay answered with an error that is not an order outcome.
    #[error(transparent)]
    Api(ApiError),
    /// The answer failed verification: it must not be believed.
    #[error("the answer failed verification: {0}")]
    Verify(VerifyError),
    /// The answer could not be decoded.
    #[error(transparent)]
    Decode(DecodeError),
    /// A confirmed close could not prove the order's end state before its deadline: the
    /// close may have happened, and the last state a verified query answer named (if any)
    /// was not an end state.
    #[error(
        "no end state proven before the deadline{}",
        .last_state.as_ref().map(|s| format!(" (last state seen: {s})")).unwrap_or_default()
    )]
    Unproven {
        /// The last `trade_state` a verified query answer named.
        last_state: Option<crate::order_state::TradeState>,
    },
}

impl ErrorKind {
    /// What this failure, on its own, means for the order.
    #[must_use]
    pub fn order_effect(&self) -> OrderEffect {
        match self {
            ErrorKind::InvalidInput(_) | ErrorKind::Sign(_) | ErrorKind::Random => {
                OrderEffect::NotSent
            }
            ErrorKind::Transport(t) => match t.kind {
                TransportErrorKind::Connect | TransportErrorKind::Tls => OrderEffect::NotSent,
                _ => OrderEffect::Unknown,
            },
            ErrorKind::Communication { .. } => OrderEffect::Refused,
            ErrorKind::Api(a) if a.is_refusal() => OrderEffect::Refused,
            ErrorKind::Api(_)
            | ErrorKind::Verify(_)
            | ErrorKind::Decode(_)
            | ErrorKind::Unproven { .. } => OrderEffect::Unknown,
        }
    }

    /// A stable lower-case name for logs and journals: `invalid_input`, `sign`, `random`,
    /// `transport`, `communication`, `api`, `verify`, `decode`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::InvalidInput(_) => "invalid_input",
            ErrorKind::Sign(_) => "sign",
            ErrorKind::Random => "random",
            ErrorKind::Transport(_) => "transport",
            ErrorKind::Communication { .. } => "communication",
            ErrorKind::Api(_) => "api",
            ErrorKind::Verify(_) => "verify",
            ErrorKind::Decode(_) => "decode",
            ErrorKind::Unproven { .. } => "unproven",
        }
    }
}

macro_rules! kind_from {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for ErrorKind {
            fn from(e: $t) -> Self { ErrorKind::$v(e) }
        }
    )*};
}
kind_from!(InvalidInput => InvalidInput, SignError => Sign, TransportError => Transport,
    ApiError => Api, VerifyError => Verify, DecodeError => Decode);

impl From<KeyError> for ErrorKind {
    fn from(e: KeyError) -> Self {
        ErrorKind::InvalidInput(InvalidInput::Key(e))
    }
}

/// Input that wxpay refuses before building a request. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A required field is empty.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The field's wire name.
        field: &'static str,
    },
    /// A field is longer than the API allows.
    #[error("`{field}` is {len} characters; at most {max} are allowed")]
    TooLong {
        /// The field's wire name.
        field: &'static str,
        /// The most characters allowed.
        max: usize,
        /// The characters given.
        len: usize,
    },
    /// A field is shorter than the API allows.
    #[error("`{field}` is {len} characters; at least {min} are required")]
    TooShort {
        /// The field's wire name.
        field: &'static str,
        /// The fewest characters allowed.
        min: usize,
        /// The characters given.
        len: usize,
    },
    /// A field holds a character the API does not allow there.
    #[error("`{field}` has {character:?} at position {position}, which is not allowed there")]
    BadCharacter {
        /// The field's wire name.
        field: &'static str,
        /// The offending character.
        character: char,
        /// Its character position (0-based).
        position: usize,
    },
    /// The API v2 key is not 32 characters long (its value is never shown).
    #[error("the API v2 key must be 32 characters, got {len}")]
    ApiKeyLength {
        /// The length given.
        len: usize,
    },
    /// Institutional (service-provider) mode needs a `sub_mch_id`.
    #[error("institutional mode needs `sub_mch_id` (sub_appid alone is not enough)")]
    MissingSubMchId,
    /// The order is too young to close: WeChat Pay refuses closes within 5 minutes of creation.
    #[error(
        "an order can be closed 5 minutes after creation at the earliest; wait {wait_secs} s more"
    )]
    TooEarly {
        /// Seconds to wait before the close is allowed.
        wait_secs: u64,
    },
    /// The call needs credentials of an API generation that the client was not given.
    #[error("this call needs API{api} credentials, which the client was not given")]
    MissingCredentials {
        /// `"v2"`, `"v3"` or `"v2 or v3"`.
        api: &'static str,
    },
    /// The call needs the APIv3 key (to decrypt platform certificates), which the
    /// credentials were not given.
    #[error("this call needs the APIv3 key: V3Credentials::with_api_v3_key")]
    MissingApiV3Key,
    /// A base URL or proxy URL was refused.
    #[error("bad base URL: {reason}")]
    BadBaseUrl {
        /// Why.
        reason: &'static str,
    },
    /// The TLS root certificates given to the client builder are not usable.
    #[error("TLS root certificates: {0}")]
    TlsRoots(KeyError),
    /// A combined close needs between 1 and 50 sub-orders.
    #[error("a combined close takes 1 to 50 sub-orders, got {count}")]
    SubOrderCount {
        /// How many were given.
        count: usize,
    },
    /// A setting is outside what wxpay can honour.
    #[error("`{setting}` is {given}; at most {max} is allowed")]
    OutOfRange {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        given: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A key or certificate could not be used.
    #[error(transparent)]
    Key(KeyError),
    /// A call machine was polled after it had finished (a driver's mistake): nothing was
    /// sent for that poll.
    #[error("the call had already finished: make a new one")]
    Finished,
}

/// Why a key, public key or certificate could not be loaded. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input is not PEM.
    #[error("not a PEM document")]
    NotPem,
    /// The PEM holds something other than what was asked for (its label is given).
    #[error("expected {expected}, found a PEM `{found}`")]
    WrongPemLabel {
        /// What was expected, in words.
        expected: &'static str,
        /// The PEM label found, e.g. `CERTIFICATE`.
        found: String,
    },
    /// An encrypted private key: decrypt it first (`openssl pkcs8 -in … -nocrypt`).
    #[error("the private key is encrypted; give the unencrypted PKCS#8 `apiclient_key.pem`")]
    Encrypted,
    /// The key is not an RSA key.
    #[error("not an RSA key")]
    NotRsa,
    /// The RSA key is shorter than 2048 bits.
    #[error("RSA keys must be at least 2048 bits")]
    TooSmall,
    /// The key or certificate is malformed; the text says where it failed.
    #[error("malformed key or certificate: {0}")]
    Malformed(String),
}

/// A signer's failure. Opaque on purpose: a KMS or HSM signer wraps its own error with
/// [`SignError::from_source`], which is then this error's `source()`. Never carries key
/// material.
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {message}")]
pub struct SignError {
    message: String,
    #[source]
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
        SignError { message: "the signer reported an error".into(), source: Some(source.into()) }
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
    /// The response body exceeded the size cap (an answer came: the state is unknown).
    BodyTooLarge,
    /// Anything else the HTTP client reported (counted as possibly sent).
    Other,
}

impl TransportErrorKind {
    fn describe(self) -> &'static str {
        match self {
            TransportErrorKind::Connect => "could not connect",
            TransportErrorKind::Timeout => "timed out",
            TransportErrorKind::Io => "the connection broke",
            TransportErrorKind::Tls => "TLS handshake failed",
            TransportErrorKind::BodyTooLarge => "the answer exceeded the size cap",
            TransportErrorKind::Other => "the HTTP client failed",
        }
    }
}

/// A transport failure, as reported by the transport crates. Its `source()` is the HTTP
/// client's own error.
#[derive(Debug, thiserror::Error)]
#[error("{host}: {}", .kind.describe())]
#[non_exhaustive]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// The host that failed.
    pub host: String,
    #[source]
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

/// Which API generation an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// APIv2 (XML).
    V2,
    /// APIv3 (JSON).
    V3,
}

impl ApiVersion {
    /// `APIv2` or `APIv3`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ApiVersion::V2 => "APIv2",
            ApiVersion::V3 => "APIv3",
        }
    }
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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "WeChat Pay {} error {} (HTTP {status}){}{}{}",
    .version.name(),
    Escaped(.code.as_str()),
    if .message.is_empty() { "" } else { ": " },
    Escaped(.message),
    if *.verified { "" } else { " (unverified)" }
)]
#[non_exhaustive]
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
    /// been forged or altered on the way: it never counts as a refusal.
    pub verified: bool,
}

impl ApiError {
    /// An error answer; `detail` and `request_id` empty.
    #[must_use]
    pub fn new(
        version: ApiVersion,
        status: u16,
        code: ApiCode,
        message: impl Into<String>,
        verified: bool,
    ) -> Self {
        ApiError {
            version,
            status,
            code,
            message: message.into(),
            detail: None,
            request_id: None,
            verified,
        }
    }

    /// Whether WeChat Pay reported a fault of its own (`SYSTEMERROR` / `SYSTEM_ERROR`, 5xx):
    /// the request may have been processed.
    #[must_use]
    pub fn is_server_fault(&self) -> bool {
        self.code == ApiCode::SystemError || self.status >= 500
    }

    /// Whether this answer proves WeChat Pay refused the request (the order unchanged): it
    /// is verified, names a code in its signed body, and is not a server fault. An answer
    /// with no code (an empty body under a 4xx status, which the signature does not cover)
    /// proves nothing.
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        self.verified && self.code != ApiCode::HttpStatus && !self.is_server_fault()
    }

    /// Whether calling again with the same parameters may succeed (server faults and
    /// frequency limits).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.is_server_fault() || self.code == ApiCode::FrequencyLimited
    }
}

/// Why a response failed verification. A response that fails is never believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// An APIv2 success answer carries no `sign`.
    #[error("the answer has no `sign`")]
    MissingSign,
    /// A signature header is missing (its name is given).
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A signature header is not valid text or not of the expected form.
    #[error("malformed header `{0}`")]
    BadHeader(&'static str),
    /// `Wechatpay-Signature-Type` names an algorithm wxpay does not accept.
    #[error("unsupported signature type {0:?}")]
    UnsupportedSignatureType(String),
    /// The response timestamp is too far from local time (replay protection).
    #[error("timestamp {timestamp} is more than {window} s from local time {now}")]
    StaleTimestamp {
        /// The response's `Wechatpay-Timestamp`.
        timestamp: u64,
        /// Local time.
        now: u64,
        /// The allowed distance, seconds.
        window: u64,
    },
    /// `Wechatpay-Serial` names no key held.
    #[error("no key held for serial {0:?}")]
    UnknownSerial(String),
    /// The platform certificate that the serial names is outside its validity window.
    #[error("platform certificate {serial} is not valid now")]
    CertificateNotValidNow {
        /// The certificate's serial.
        serial: String,
    },
    /// A `WECHATPAY/SIGNTEST/` probe signature: WeChat Pay checking that we verify.
    #[error("WECHATPAY/SIGNTEST probe signature (rejected, as WeChat Pay expects)")]
    SignTestProbe,
    /// The signature does not match.
    #[error("signature does not match")]
    BadSignature,
    /// The answer names a different merchant or app than the request did.
    #[error("answer's `{field}` differs from the request's")]
    Mismatch {
        /// The field that differs.
        field: &'static str,
    },
    /// An encrypted resource (a platform certificate) does not decrypt: a wrong APIv3 key,
    /// or a ciphertext, nonce or associated data altered on the way.
    #[error(
        "the encrypted certificate {} does not decrypt (wrong APIv3 key, or altered ciphertext, nonce or associated data)",
        Escaped(.serial)
    )]
    Decrypt {
        /// The serial the list gives for it.
        serial: String,
    },
    /// An encryption algorithm wxpay does not accept (it takes `AEAD_AES_256_GCM`).
    #[error("unsupported encryption algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// A decrypted platform certificate is not what the list says it is.
    #[error("platform certificate {}: {}", Escaped(.serial), Escaped(.what))]
    CertificateMismatch {
        /// The serial the list gives.
        serial: String,
        /// What differs.
        what: String,
    },
    /// The same signed answer was believed before: someone in the path sent it again (a
    /// signature names no request, so only its second coming shows a replay).
    #[error("the same signed answer was seen before (a replay), so it is not believed")]
    Replayed,
    /// A certificate list holds no certificate valid now.
    #[error("the certificate list holds no certificate valid now")]
    NoValidCertificate,
}

/// A response that could not be decoded. Keeps the raw body for diagnosis.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not decode the answer (HTTP {status}, {} bytes): {}", .body.len(), Escaped(.reason))]
#[non_exhaustive]
pub struct DecodeError {
    /// What was wrong.
    pub reason: String,
    /// The HTTP status.
    pub status: u16,
    /// The body as received (capped by the transport).
    pub body: Vec<u8>,
}

impl DecodeError {
    /// A decoding failure of an answer with `status` and `body`.
    #[must_use]
    pub fn new(reason: impl Into<String>, status: u16, body: Vec<u8>) -> Self {
        DecodeError { reason: reason.into(), status, body }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

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

    fn api(status: u16, code: &str, verified: bool) -> Error {
        ApiError::new(ApiVersion::V3, status, ApiCode::from_wire(code), "m", verified).into()
    }

    #[test]
    fn every_kind_states_what_it_means_for_the_order() {
        use OrderEffect::*;
        let t = |k| Error::from(TransportError::new(k, "h", None)).order_effect();
        assert_eq!(t(TransportErrorKind::Connect), NotSent);
        assert_eq!(t(TransportErrorKind::Tls), NotSent);
        assert_eq!(t(TransportErrorKind::Timeout), Unknown);
        assert_eq!(t(TransportErrorKind::Io), Unknown);
        assert_eq!(t(TransportErrorKind::BodyTooLarge), Unknown);
        assert_eq!(t(TransportErrorKind::Other), Unknown);
        assert_eq!(Error::from(InvalidInput::MissingSubMchId).order_effect(), NotSent);
        assert_eq!(Error::from(SignError::new("x")).order_effect(), NotSent);
        assert_eq!(Error::from(ErrorKind::Random).order_effect(), NotSent);
        let comm = Error::from(ErrorKind::Communication { return_msg: "SIGNERROR".into() });
        assert_eq!(comm.order_effect(), Refused);
        // Verified refusals.
        assert_eq!(api(403, "RULE_LIMIT", true).order_effect(), Refused);
        assert_eq!(api(400, "PARAM_ERROR", true).order_effect(), Refused);
        assert_eq!(api(429, "FREQUENCY_LIMITED", true).order_effect(), Refused);
        let v2 = ApiError::new(ApiVersion::V2, 200, ApiCode::SignError, "", true);
        assert_eq!(Error::from(v2).order_effect(), Refused);
        // Server faults and anything unverified: unknown.
        assert_eq!(api(500, "SYSTEM_ERROR", true).order_effect(), Unknown);
        let v2sys = ApiError::new(ApiVersion::V2, 200, ApiCode::SystemError, "", true);
        assert_eq!(Error::from(v2sys).order_effect(), Unknown);
        assert_eq!(api(403, "RULE_LIMIT", false).order_effect(), Unknown);
        assert_eq!(api(502, "", false).order_effect(), Unknown);
        assert_eq!(Error::from(VerifyError::BadSignature).order_effect(), Unknown);
        assert_eq!(Error::from(DecodeError::new("x", 200, vec![])).order_effect(), Unknown);
    }

    #[test]
    fn the_worst_attempt_decides_and_the_kind_stays_matchable() {
        let e = Error::from(SignError::new("kms down")).with_history(2, OrderEffect::Unknown, None);
        assert!(matches!(e.kind(), ErrorKind::Sign(_)));
        assert_eq!(e.order_effect(), OrderEffect::Unknown);
        assert!(e.was_sent());
        assert_eq!(
            e.to_string(),
            "order state unknown: signing failed: kms down (after 2 attempts)"
        );
        let e = Error::from(TransportError::new(TransportErrorKind::Connect, "h", None))
            .with_history(3, OrderEffect::Refused, None);
        assert_eq!(e.order_effect(), OrderEffect::Refused);
        assert!(e.order_effect().is_unchanged());
    }

    #[test]
    fn display_never_repeats_what_source_returns() {
        let cause = std::io::Error::other("connection reset by peer");
        let errors = [
            Error::from(TransportError::new(TransportErrorKind::Io, "h", Some(Box::new(cause)))),
            Error::from(SignError::from_source("kms: access denied")),
            Error::from(VerifyError::BadSignature),
            api(403, "RULE_LIMIT", true).with_history(
                1,
                OrderEffect::NotSent,
                Some("RID-1".into()),
            ),
        ];
        for e in &errors {
            let shown = e.to_string();
            let mut next = e.source();
            while let Some(s) = next {
                assert!(!shown.contains(&s.to_string()), "{shown:?} repeats {s}");
                next = s.source();
            }
        }
        assert_eq!(errors[0].source().unwrap().to_string(), "connection reset by peer");
        assert_eq!(errors[1].source().unwrap().to_string(), "kms: access denied");
        assert!(errors[3].to_string().ends_with("[Request-ID RID-1]"), "{}", errors[3]);
        assert_eq!(errors[3].request_id(), Some("RID-1"));
    }
}
