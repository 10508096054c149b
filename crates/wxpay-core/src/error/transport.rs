//! The transport's failures: whether the request could have been sent.

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
