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

mod answer;
mod api;
mod build;
mod input;
mod sign;
mod transport;

pub use answer::{CertificateMismatch, DecodeError, VerifyError};
pub use api::{ApiCode, ApiError, ApiVersion};
pub use build::BuildError;
pub use input::{InvalidInput, KeyError};
pub use sign::SignError;
pub use transport::{TransportError, TransportErrorKind};

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
    /// Why the last platform certificate refresh failed, when it explains this error.
    refresh_failure: Option<String>,
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

    /// Why the last platform certificate refresh failed, when that explains this error (an
    /// answer under a serial the store could not learn: a wrong APIv3 key, a refused list,
    /// the network). Shown by `Display` too.
    #[must_use]
    pub fn refresh_failure(&self) -> Option<&str> {
        self.inner.refresh_failure.as_deref()
    }

    pub(crate) fn with_refresh_failure(mut self, cause: String) -> Self {
        self.inner.refresh_failure = Some(cause);
        self
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
            inner: Box::new(Inner {
                kind,
                attempts: 0,
                earlier: OrderEffect::NotSent,
                request_id,
                refresh_failure: None,
            }),
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
            .field("refresh_failure", &self.inner.refresh_failure)
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
        if let Some(cause) = &self.inner.refresh_failure {
            if *cause == format!("{}", self.inner.kind) {
                f.write_str(
                    "; the platform certificate list, asked for that key, failed the same way",
                )?;
            } else {
                write!(f, "; the platform certificate list could not be refreshed: {cause}")?;
            }
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
        "no end state proven before the deadline{}{}",
        .last_state.as_ref().map(|s| format!(" (last state seen: {s})")).unwrap_or_default(),
        .last_close.as_ref().map(|e| format!("; the last close: {}", e.kind())).unwrap_or_default()
    )]
    Unproven {
        /// The last `trade_state` a verified query answer named.
        last_state: Option<crate::order_state::TradeState>,
        /// The last close's error, if it failed (its code, text and `Request-ID`).
        last_close: Option<Box<Error>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_serial_says_what_it_names_and_a_refresh_that_failed_alike_once() {
        let e = Error::from(VerifyError::UnknownSerial("PUB_KEY_ID_0114".into()));
        let same = e.kind().to_string();
        let text = e.with_refresh_failure(same).to_string();
        assert!(
            text.contains(
                "no key held for serial \"PUB_KEY_ID_0114\" (a WeChat Pay public key's id"
            ),
            "{text}"
        );
        assert!(text.ends_with("failed the same way"), "{text}");
        assert_eq!(text.matches("no key held").count(), 1, "{text}");
        let e = Error::from(VerifyError::UnknownSerial("5157F09E".into()))
            .with_refresh_failure("a transport failure".into());
        let text = e.to_string();
        assert!(text.contains("(a platform certificate's serial"), "{text}");
        assert!(text.ends_with("could not be refreshed: a transport failure"), "{text}");
    }
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
