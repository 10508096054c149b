//! Building a client: what can go wrong before any call (nothing is ever sent).

/// Why a client could not be built. No call was made, so no order is involved: unlike a
/// call's [`Error`](super::Error), it has no effect on any order.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting the client refuses (a proxy URL, a TLS root).
    #[error("invalid setting: {0}")]
    InvalidInput(#[from] super::InvalidInput),
    /// The blocking client was given an asynchronous-only APIv3 signer (a KMS, an HSM).
    #[error("the blocking client cannot run an asynchronous signer: use wxpay-async")]
    AsyncSigner,
    /// The HTTP client could not be built (its own error is the source).
    #[error("the HTTP client could not be built")]
    Http(#[source] Box<dyn std::error::Error + Send + Sync>),
}
