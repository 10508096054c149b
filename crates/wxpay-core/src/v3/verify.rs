//! Verifying WeChat Pay's APIv3 answers: `Wechatpay-*` headers, SHA256-with-RSA.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName};

use super::keys::{RsaPublicKey, parse_certificate};
use crate::error::{KeyError, VerifyError};
use crate::replay::ReplayGuard;

/// The signature-type header value wxpay accepts.
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
/// The prefix of WeChat Pay's deliberate probe signatures.
pub const SIGNTEST_PREFIX: &str = "WECHATPAY/SIGNTEST/";
/// How far (seconds) an answer's timestamp may be from local time by default.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// Header names.
pub mod header {
    /// `Wechatpay-Timestamp`.
    pub const TIMESTAMP: &str = "wechatpay-timestamp";
    /// `Wechatpay-Nonce`.
    pub const NONCE: &str = "wechatpay-nonce";
    /// `Wechatpay-Signature`.
    pub const SIGNATURE: &str = "wechatpay-signature";
    /// `Wechatpay-Serial`.
    pub const SERIAL: &str = "wechatpay-serial";
    /// `Wechatpay-Signature-Type`.
    pub const SIGNATURE_TYPE: &str = "wechatpay-signature-type";
    /// `Request-ID`.
    pub const REQUEST_ID: &str = "request-id";
}

/// Checks a SHA256-with-RSA signature made by the WeChat Pay key that `serial` names.
///
/// Implementations: [`PublicKeyVerifier`] (public-key mode), [`PlatformCertificateVerifier`]
/// (platform-certificate mode) and [`VerifierSet`] (several, for migration); or your own.
pub trait Verifier: Send + Sync {
    /// Verifies `signature` (raw bytes, base64 already decoded) over `message` with the key
    /// that `serial` names, at local Unix time `now`.
    ///
    /// # Errors
    /// [`VerifyError::UnknownSerial`] when this verifier holds no key of that serial (a set
    /// then tries its next member), [`VerifyError::CertificateNotValidNow`] for a platform
    /// certificate outside its validity, [`VerifyError::BadSignature`] otherwise.
    fn verify(
        &self,
        serial: &str,
        message: &[u8],
        signature: &[u8],
        now: u64,
    ) -> Result<(), VerifyError>;

    /// The serial the merchant expects answers to be signed with, sent as the request's
    /// `Wechatpay-Serial` header (a set answers its first member's). Asked before every
    /// request, so a store that learns a new certificate names it from then on.
    fn preferred_serial(&self) -> Option<Arc<str>>;

    /// Whether it learns serials as it goes (a [`PlatformCertificates`](super::PlatformCertificates)
    /// store), so that knowing none yet is no mistake. `false` by default.
    fn learns_serials(&self) -> bool {
        false
    }
}

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    fn verify(
        &self,
        serial: &str,
        message: &[u8],
        signature: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        (**self).verify(serial, message, signature, now)
    }

    fn preferred_serial(&self) -> Option<Arc<str>> {
        (**self).preferred_serial()
    }

    fn learns_serials(&self) -> bool {
        (**self).learns_serials()
    }
}

/// Public-key mode: the WeChat Pay public key (PEM) and its id, `PUB_KEY_ID_…`.
#[derive(Clone)]
pub struct PublicKeyVerifier {
    id: Arc<str>,
    key: RsaPublicKey,
}

impl PublicKeyVerifier {
    /// The key downloaded from the merchant platform, with its id.
    ///
    /// # Errors
    /// [`KeyError`] when the PEM is not an RSA public key of at least 2048 bits, or the id is
    /// empty or has characters other than letters, digits and `_`.
    pub fn from_pem(id: impl Into<String>, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let id = id.into();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(KeyError::Malformed("a public-key id is letters, digits and `_`".into()));
        }
        Ok(PublicKeyVerifier { id: id.into(), key: RsaPublicKey::from_pem(pem.as_ref())? })
    }

    /// The key's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Verifier for PublicKeyVerifier {
    fn verify(
        &self,
        serial: &str,
        message: &[u8],
        signature: &[u8],
        _now: u64,
    ) -> Result<(), VerifyError> {
        if serial != &*self.id {
            return Err(VerifyError::UnknownSerial(serial.to_owned()));
        }
        if self.key.verify(message, signature) { Ok(()) } else { Err(VerifyError::BadSignature) }
    }

    fn preferred_serial(&self) -> Option<Arc<str>> {
        Some(Arc::clone(&self.id))
    }
}

impl fmt::Debug for PublicKeyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKeyVerifier").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Platform-certificate mode: a WeChat Pay platform certificate (X.509 PEM), chosen by its
/// serial number and used only within its validity window.
#[derive(Clone)]
pub struct PlatformCertificateVerifier {
    serial: Arc<str>,
    not_before: u64,
    not_after: u64,
    key: RsaPublicKey,
}

impl PlatformCertificateVerifier {
    /// Reads the certificate's serial, validity and RSA public key.
    ///
    /// # Errors
    /// [`KeyError`] when the PEM is not an X.509 certificate with an RSA key of at least 2048 bits.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let cert = parse_certificate(pem.as_ref())?;
        Ok(PlatformCertificateVerifier {
            serial: cert.serial.into(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            key: cert.key,
        })
    }

    /// The certificate's serial number, upper-case hex.
    #[must_use]
    pub fn serial(&self) -> &str {
        &self.serial
    }

    pub(crate) fn serial_arc(&self) -> Arc<str> {
        Arc::clone(&self.serial)
    }

    /// The validity window, Unix seconds (not before, not after).
    #[must_use]
    pub fn validity(&self) -> (u64, u64) {
        (self.not_before, self.not_after)
    }
}

impl Verifier for PlatformCertificateVerifier {
    fn verify(
        &self,
        serial: &str,
        message: &[u8],
        signature: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        if !serial.eq_ignore_ascii_case(&self.serial) {
            return Err(VerifyError::UnknownSerial(serial.to_owned()));
        }
        if now < self.not_before || now > self.not_after {
            return Err(VerifyError::CertificateNotValidNow { serial: self.serial.to_string() });
        }
        if self.key.verify(message, signature) { Ok(()) } else { Err(VerifyError::BadSignature) }
    }

    fn preferred_serial(&self) -> Option<Arc<str>> {
        Some(Arc::clone(&self.serial))
    }
}

impl fmt::Debug for PlatformCertificateVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformCertificateVerifier")
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Several verifiers, chosen by serial: for a merchant migrating between public-key and
/// platform-certificate mode, or across certificate renewals.
#[derive(Clone, Default)]
pub struct VerifierSet {
    members: Vec<Arc<dyn Verifier>>,
}

impl VerifierSet {
    /// An empty set (it knows no serial).
    #[must_use]
    pub fn new() -> Self {
        VerifierSet::default()
    }

    /// Adds a verifier. The first added names the request's `Wechatpay-Serial`.
    #[must_use]
    pub fn with(mut self, verifier: impl Verifier + 'static) -> Self {
        self.members.push(Arc::new(verifier));
        self
    }
}

impl Verifier for VerifierSet {
    fn verify(
        &self,
        serial: &str,
        message: &[u8],
        signature: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        for member in &self.members {
            match member.verify(serial, message, signature, now) {
                Err(VerifyError::UnknownSerial(_)) => continue,
                verdict => return verdict,
            }
        }
        Err(VerifyError::UnknownSerial(serial.to_owned()))
    }

    fn preferred_serial(&self) -> Option<Arc<str>> {
        self.members.iter().find_map(|m| m.preferred_serial())
    }

    fn learns_serials(&self) -> bool {
        self.members.iter().any(|m| m.learns_serials())
    }
}

impl fmt::Debug for VerifierSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let serials: Vec<_> = self.members.iter().map(|m| m.preferred_serial()).collect();
        f.debug_struct("VerifierSet").field("serials", &serials).finish()
    }
}

/// The message WeChat Pay signs for an answer: `{timestamp}\n{nonce}\n{body}\n`.
#[must_use]
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// Whether the answer carries any of the signature headers (error answers may carry none).
#[must_use]
pub fn has_signature_headers(headers: &HeaderMap) -> bool {
    [header::TIMESTAMP, header::NONCE, header::SIGNATURE, header::SERIAL]
        .iter()
        .any(|h| headers.contains_key(*h))
}

fn text<'h>(headers: &'h HeaderMap, name: &'static HeaderName) -> Result<&'h str, VerifyError> {
    let value = headers.get(name).ok_or(VerifyError::MissingHeader(name.as_str()))?;
    value.to_str().map_err(|_| VerifyError::BadHeader(name.as_str()))
}

/// Verifies an APIv3 answer: every signature header present, the signature type supported,
/// no probe signature, the timestamp within `window_secs` of `now`, the serial known, and
/// the signature (base64 of at most 1,024 bytes: RSA-8192's) valid over the body exactly as
/// received. A signature that is not such base64 is refused before the verifier is asked,
/// whatever its serial: a custom [`Verifier`] never sees a longer one.
///
/// # Errors
/// The first [`VerifyError`] found, in that order.
pub fn verify_response(
    verifier: &dyn Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
    window_secs: u64,
) -> Result<(), VerifyError> {
    verify_signed(None, verifier, headers, body, now, window_secs)
}

/// [`verify_response`], then the replay guard: an answer that verifies is believed once, and
/// refused as [`VerifyError::Replayed`] if it comes again.
pub(crate) fn verify_once(
    guard: &ReplayGuard,
    verifier: &dyn Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
    window_secs: u64,
) -> Result<(), VerifyError> {
    verify_signed(Some(guard), verifier, headers, body, now, window_secs)
}

/// The longest signature read (bytes, decoded): RSA-8192's, the longest ring verifies.
const MAX_SIGNATURE: usize = 1024;

/// Verifies as [`verify_response`] says; then, with a `guard`, records the answer by what
/// identifies it among the answers its signature covers: its signature, timestamp and nonce.
/// Not its serial: the header is not signed, and serials match in any letter case.
fn verify_signed(
    guard: Option<&ReplayGuard>,
    verifier: &dyn Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
    window_secs: u64,
) -> Result<(), VerifyError> {
    // Names made at compile time: a lookup by `&str` parses the name each time.
    static TIMESTAMP: HeaderName = HeaderName::from_static(header::TIMESTAMP);
    static NONCE: HeaderName = HeaderName::from_static(header::NONCE);
    static SIGNATURE: HeaderName = HeaderName::from_static(header::SIGNATURE);
    static SERIAL: HeaderName = HeaderName::from_static(header::SERIAL);
    static KIND: HeaderName = HeaderName::from_static(header::SIGNATURE_TYPE);
    let timestamp = text(headers, &TIMESTAMP)?;
    let nonce = text(headers, &NONCE)?;
    // Decoded straight from the header's bytes, onto the stack. Base64 is visible ASCII, so
    // a signature that decodes is text; one that does not is checked as text here (the
    // error it had in this order) and refused as a bad signature below.
    let value = headers.get(&SIGNATURE).ok_or(VerifyError::MissingHeader(header::SIGNATURE))?;
    let mut raw = [0u8; MAX_SIGNATURE];
    let decoded = STANDARD.decode_slice(value, &mut raw);
    if decoded.is_err() {
        value.to_str().map_err(|_| VerifyError::BadHeader(header::SIGNATURE))?;
    }
    let signature = value.as_bytes();
    let serial = text(headers, &SERIAL)?;
    if let Some(kind) = headers.get(&KIND) {
        let kind = kind.to_str().map_err(|_| VerifyError::BadHeader(header::SIGNATURE_TYPE))?;
        if kind != SIGNATURE_TYPE {
            return Err(VerifyError::UnsupportedSignatureType(kind.to_owned()));
        }
    }
    if signature.starts_with(SIGNTEST_PREFIX.as_bytes()) {
        return Err(VerifyError::SignTestProbe);
    }
    if timestamp.is_empty()
        || timestamp.len() > 19
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(VerifyError::BadHeader(header::TIMESTAMP));
    }
    let ts: u64 = timestamp.parse().map_err(|_| VerifyError::BadHeader(header::TIMESTAMP))?;
    if ts.abs_diff(now) > window_secs {
        return Err(VerifyError::StaleTimestamp { timestamp: ts, now, window: window_secs });
    }
    let raw = &raw[..decoded.map_err(|_| VerifyError::BadSignature)?];
    let message = response_message(timestamp, nonce, body);
    verifier.verify(serial, &message, raw, now)?;
    match guard {
        Some(guard) => guard.first_v3(raw, ts, nonce, now, window_secs),
        None => Ok(()),
    }
}

/// Reads a public key or certificate PEM into the matching verifier: a certificate becomes a
/// [`PlatformCertificateVerifier`], a public key a [`PublicKeyVerifier`] with `public_key_id`.
///
/// # Errors
/// [`KeyError`] as those constructors; a public key without an id is refused.
pub fn verifier_from_pem(
    pem: &[u8],
    public_key_id: Option<&str>,
) -> Result<Arc<dyn Verifier>, KeyError> {
    let (label, _) = super::keys::decode_pem(pem)?;
    if label == "CERTIFICATE" {
        Ok(Arc::new(PlatformCertificateVerifier::from_pem(pem)?))
    } else {
        let id = public_key_id
            .ok_or_else(|| KeyError::Malformed("a public key needs its PUB_KEY_ID_… id".into()))?;
        Ok(Arc::new(PublicKeyVerifier::from_pem(id, pem)?))
    }
}
