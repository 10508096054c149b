//! The signer's failure: nothing was sent.

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
