//! Answers that must not be believed: failed verification, or not decodable.

use std::fmt;

use crate::escape::Escaped;

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
    #[error("no key held for serial {:?}{}", .0, unknown_serial_hint(.0))]
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
    #[error("platform certificate {}: {what}", Escaped(.serial))]
    CertificateMismatch {
        /// The serial the list gives.
        serial: String,
        /// What differs.
        what: CertificateMismatch,
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

/// What an unknown serial most likely means, by its form (it is unsigned: what the answer
/// names, not a fact).
fn unknown_serial_hint(serial: &str) -> &'static str {
    if serial.starts_with("PUB_KEY_ID_") {
        " (a WeChat Pay public key's id: give the client that public key, in a VerifierSet with any certificates)"
    } else if serial.is_empty() {
        ""
    } else {
        " (a platform certificate's serial: keep certificates current with the APIv3 key, or give that certificate)"
    }
}

/// How a decrypted platform certificate differs from what the list says of it
/// ([`VerifyError::CertificateMismatch`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateMismatch {
    /// The decrypted bytes are not text.
    #[error("not a PEM text")]
    NotText,
    /// The decrypted text is not a usable certificate.
    #[error("not a usable certificate: {0}")]
    NotCertificate(crate::error::KeyError),
    /// The certificate's own serial is another.
    #[error("the certificate's serial is {}", Escaped(.found))]
    Serial {
        /// The certificate's serial.
        found: String,
    },
    /// The list's validity times are not the certificate's.
    #[error(
        "the list says valid {} to {}, the certificate says {from} to {until} (Unix)",
        Escaped(.listed_from),
        Escaped(.listed_until)
    )]
    Validity {
        /// The list's `effective_time`, as given.
        listed_from: String,
        /// The list's `expire_time`, as given.
        listed_until: String,
        /// The certificate's not-before, Unix seconds.
        from: u64,
        /// The certificate's not-after, Unix seconds.
        until: u64,
    },
}
