//! Request signing: the [`Signer`] a merchant's key (or a KMS) implements, synchronous or
//! not. What is signed is [`request_message`](super::request_message)'s five lines.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::SignError;

/// Signs APIv3 request messages with the merchant's API private key.
///
/// The message is exactly the five lines of SPEC (method, request target, timestamp, nonce,
/// body, each ending in `\n`); the implementation must return the raw
/// RSASSA-PKCS1-v1_5 SHA-256 signature over those bytes (wxpay base64-encodes it). It hashes
/// the message itself: the message is not pre-hashed.
pub trait Signer: Send + Sync {
    /// Signs `message`.
    ///
    /// # Errors
    /// Whatever stops the signer; the request is then not sent.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;

    /// The signature's length in bytes (256 for RSA-2048), used to size buffers; a wrong
    /// hint costs only an allocation.
    fn signature_len(&self) -> usize {
        256
    }
}

impl<S: Signer + ?Sized> Signer for Arc<S> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        (**self).sign(message)
    }

    fn signature_len(&self) -> usize {
        (**self).signature_len()
    }
}

/// The future an [`AsyncSigner`] returns.
pub type SignFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, SignError>> + Send + 'a>>;

/// The asynchronous counterpart of [`Signer`], for keys held by a KMS or HSM. Same contract.
///
/// Every [`Signer`] is an `AsyncSigner` too (a blanket impl), so a local key works wherever
/// an async signer is taken; a remote signer need implement only this trait.
pub trait AsyncSigner: Send + Sync {
    /// Signs `message`.
    fn sign_async<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a>;
}

impl<S: Signer + ?Sized> AsyncSigner for S {
    fn sign_async<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        Box::pin(std::future::ready(self.sign(message)))
    }
}
