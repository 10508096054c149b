//! Platform certificates: the list WeChat Pay serves (`GET /v3/certificates`), decrypted and
//! checked, and a store that keeps them current while calls use it.

use std::fmt;
use std::sync::{Arc, RwLock};

use http::Method;
use serde_json::Value;

use super::answer::{check_size, read_error_answer};
use super::decrypt::decrypt_resource;
use super::request::prepare_request;
use super::verify::{PlatformCertificateVerifier, Verifier, VerifierSet, verify_once};
use crate::endpoint::Endpoint;
use crate::error::{
    CertificateMismatch as Mismatch, DecodeError, Error, InvalidInput, KeyError, VerifyError,
};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::replay::ReplayGuard;
use crate::wire::Response;

/// Downloads WeChat Pay's platform certificates: `GET /v3/certificates` (or
/// `GET /v3/global/certificates` at the Hong Kong host, for cross-border merchants).
///
/// The answer is believed only once every certificate in it decrypts (AES-256-GCM under the
/// APIv3 key, [`V3Credentials::with_api_v3_key`](super::V3Credentials::with_api_v3_key)), matches the serial and validity the list
/// gives, and the answer's own signature verifies: with a certificate already trusted, or
/// with the one just decrypted whose serial the answer names (the AEAD tag, made with a key
/// only the merchant and WeChat Pay hold, is what makes a new certificate trustworthy). An
/// answer signed by any other serial is refused. Certificates not valid at `now` are left
/// out.
///
/// ```
/// use wxpay_core::{ApiV3Key, Attempt, BaseUrl, Context, Operation};
/// use wxpay_core::v3::{DownloadCertificates, RsaSigner, V3Credentials};
/// # let key = "tests/vectors/keys/merchant_key.pem"; // the test key
///
/// let signer = RsaSigner::from_pem(std::fs::read(key)?)?;
/// let api_v3_key = ApiV3Key::new("wxpaySandboxApiV3Key0123456789ab")?;
/// let creds = V3Credentials::certificate_mode("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, api_v3_key)?;
/// let ctx = Context::new().with_v3(creds);
/// let base = BaseUrl::parse(BaseUrl::PRIMARY)?;
/// let request = DownloadCertificates::new().build(&ctx, &Attempt::new(&base, 1_700_000_000, "NONCE"))?;
/// assert_eq!((request.method().as_str(), request.uri().path()), ("GET", "/v3/certificates"));
/// assert!(request.body().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownloadCertificates {
    global: bool,
}

impl DownloadCertificates {
    /// The mainland list, `GET /v3/certificates`.
    #[must_use]
    pub const fn new() -> Self {
        DownloadCertificates { global: false }
    }

    /// The cross-border list, `GET /v3/global/certificates` (at the Hong Kong host unless
    /// the client has a base URL of its own).
    #[must_use]
    pub const fn global() -> Self {
        DownloadCertificates { global: true }
    }

    /// The request path.
    #[must_use]
    pub fn path(&self) -> &'static str {
        if self.global { "/v3/global/certificates" } else { "/v3/certificates" }
    }
}

impl Operation for DownloadCertificates {
    type Output = Vec<PlatformCertificate>;

    fn endpoint(&self, configured: &Endpoint) -> Endpoint {
        match configured {
            Endpoint::Mainland if self.global => Endpoint::HongKong,
            other => other.clone(),
        }
    }

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        let creds = ctx.v3()?;
        // Nothing is sent that could not be read.
        creds.api_v3_key.as_ref().ok_or(InvalidInput::MissingApiV3Key)?;
        prepare_request(ctx, creds, attempt, Method::GET, self.path().to_owned(), Vec::new())
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<Self::Output, Error> {
        read_certificates(ctx, seen, now, response)
    }
}

/// A platform certificate from a verified list (or a file the merchant trusts): its PEM, its
/// serial and validity, and the key that verifies answers.
#[derive(Clone)]
pub struct PlatformCertificate {
    pem: String,
    verifier: PlatformCertificateVerifier,
}

impl PlatformCertificate {
    /// Reads a certificate PEM.
    ///
    /// # Errors
    /// [`KeyError`] when it is not an X.509 certificate with an RSA key of 2048 bits or more.
    pub fn from_pem(pem: impl Into<String>) -> Result<Self, KeyError> {
        let pem = pem.into();
        let verifier = PlatformCertificateVerifier::from_pem(pem.as_bytes())?;
        Ok(PlatformCertificate { pem, verifier })
    }

    /// The serial number, upper-case hex.
    #[must_use]
    pub fn serial(&self) -> &str {
        self.verifier.serial()
    }

    /// The validity window, Unix seconds (not before, not after).
    #[must_use]
    pub fn validity(&self) -> (u64, u64) {
        self.verifier.validity()
    }

    /// The certificate as PEM, to store.
    #[must_use]
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Its verifier.
    #[must_use]
    pub fn verifier(&self) -> &PlatformCertificateVerifier {
        &self.verifier
    }

    fn valid_at(&self, now: u64) -> bool {
        let (from, until) = self.validity();
        (from..=until).contains(&now)
    }
}

impl fmt::Debug for PlatformCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (from, until) = self.validity();
        f.debug_struct("PlatformCertificate")
            .field("serial", &self.serial())
            .field("not_before", &from)
            .field("not_after", &until)
            .finish_non_exhaustive()
    }
}

/// An RFC 3339 time (`2023-06-08T10:34:56+08:00`) in Unix seconds.
fn rfc3339(text: &str) -> Option<u64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// Reads and verifies a certificate list answer (see [`DownloadCertificates`]): `200` and
/// only `200`, with `ctx`'s APIv3 credentials and replay guard. Returns the listed
/// certificates that have not expired, oldest first (one listed ahead of its start
/// included); at least one is valid at `now`.
///
/// # Errors
/// [`ErrorKind::Verify`](crate::ErrorKind::Verify) for anything that does not decrypt, match
/// or verify; [`ErrorKind::Decode`](crate::ErrorKind::Decode) for a malformed answer;
/// [`ErrorKind::Api`](crate::ErrorKind::Api) for an error answer.
pub fn read_certificates(
    ctx: &Context,
    seen: &ReplayGuard,
    now: u64,
    response: Response,
) -> Result<Vec<PlatformCertificate>, Error> {
    let creds = ctx.v3()?;
    let key = creds.api_v3_key.as_ref().ok_or(InvalidInput::MissingApiV3Key)?;
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        let (error, _) = read_error_answer(seen, creds, now, &parts, body)?;
        return Err(error.into());
    }
    check_size(parts.status, &body)?;
    let status = parts.status.as_u16();
    if parts.status != http::StatusCode::OK {
        // The signature does not cover the status line: the list comes as 200 and only so.
        let reason = "the certificate list is answered 200; this 2xx answer is not one";
        return Err(DecodeError::new(reason, status, body).into());
    }
    let decode = |reason: &str| Error::from(DecodeError::new(reason, status, body.clone()));
    let json: Value = serde_json::from_slice(&body).map_err(|_| decode("not JSON"))?;
    let entries =
        json.get("data").and_then(Value::as_array).ok_or_else(|| decode("no `data` list"))?;
    let mut listed = Vec::with_capacity(entries.len());
    for entry in entries {
        let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(serial), Some(effective), Some(expire), Some(enc)) = (
            text(entry, "serial_no"),
            text(entry, "effective_time"),
            text(entry, "expire_time"),
            entry.get("encrypt_certificate"),
        ) else {
            return Err(decode(
                "a certificate entry without serial_no, times or encrypt_certificate",
            ));
        };
        let (Some(algorithm), Some(nonce), Some(ad), Some(ciphertext)) = (
            text(enc, "algorithm"),
            text(enc, "nonce"),
            text(enc, "associated_data"),
            text(enc, "ciphertext"),
        ) else {
            return Err(decode(
                "an encrypt_certificate without algorithm, nonce, associated_data or ciphertext",
            ));
        };
        let pem = decrypt_resource(key, &algorithm, &nonce, &ad, &ciphertext, &serial)?;
        let mismatch =
            |what: Mismatch| VerifyError::CertificateMismatch { serial: serial.clone(), what };
        let pem = String::from_utf8(pem.to_vec()).map_err(|_| mismatch(Mismatch::NotText))?;
        let certificate = PlatformCertificate::from_pem(pem)
            .map_err(|e| mismatch(Mismatch::NotCertificate(e)))?;
        if !certificate.serial().eq_ignore_ascii_case(&serial) {
            let found = certificate.serial().to_owned();
            return Err(mismatch(Mismatch::Serial { found }).into());
        }
        let (from, until) = certificate.validity();
        if rfc3339(&effective) != Some(from) || rfc3339(&expire) != Some(until) {
            return Err(mismatch(Mismatch::Validity {
                listed_from: effective.clone(),
                listed_until: expire.clone(),
                from,
                until,
            })
            .into());
        }
        listed.push(certificate);
    }
    // Nothing above is believed before the answer verifies: with what is already trusted,
    // or with the just-decrypted certificate it names (tried after, and only by serial).
    let mut verifiers = VerifierSet::new().with(Arc::clone(&creds.verifier));
    for certificate in &listed {
        verifiers = verifiers.with(certificate.verifier.clone());
    }
    verify_once(seen, &verifiers, &parts.headers, &body, now, creds.window_secs)?;
    if !listed.iter().any(|c| c.valid_at(now)) {
        return Err(VerifyError::NoValidCertificate.into());
    }
    // Expired ones go; one listed ahead of its start stays, to be used once it starts.
    listed.retain(|c| c.validity().1 >= now);
    listed.sort_by_key(|c| c.validity().0);
    Ok(listed)
}

/// Platform certificates kept current while calls use them: a [`Verifier`] whose set can
/// be updated in place. Old and new certificates are both accepted during a rotation. Each
/// update replaces the set with the newer list (certificates listed again stay, those no
/// longer listed are dropped, expired ones too; one listed ahead of its start is kept and
/// used once it starts). Clones share one set.
///
/// Give it to [`V3Credentials`](super::V3Credentials) as the verifier, and to
/// [`ClientConfigBuilder::refresh_certificates`](crate::ClientConfigBuilder::refresh_certificates)
/// so that the clients refresh it. It may start empty: the first list verifies with the
/// certificate inside it. Requests name its newest certificate valid at the last update
/// (`Wechatpay-Serial`), so they follow a rotation.
#[derive(Clone, Default)]
pub struct PlatformCertificates {
    inner: Arc<RwLock<Held>>,
}

/// The certificates held, oldest first, and the serial requests name.
#[derive(Default)]
struct Held {
    set: Vec<PlatformCertificate>,
    preferred: Option<Arc<str>>,
}

impl PlatformCertificates {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        PlatformCertificates::default()
    }

    /// A store holding `certificates` (loaded from files, say); requests name the newest.
    #[must_use]
    pub fn from_certificates(certificates: impl IntoIterator<Item = PlatformCertificate>) -> Self {
        let mut set: Vec<PlatformCertificate> = certificates.into_iter().collect();
        set.sort_by_key(|c| c.validity().0);
        let preferred = set.last().map(|c| c.verifier.serial_arc());
        PlatformCertificates { inner: Arc::new(RwLock::new(Held { set, preferred })) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Held> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the set with `fresh`, a newer verified list, less what has expired at `now`;
    /// requests name its newest certificate valid at `now` from then on. Returns how many
    /// of its certificates were not held before.
    pub fn update(&self, fresh: Vec<PlatformCertificate>, now: u64) -> usize {
        let mut fresh: Vec<PlatformCertificate> =
            fresh.into_iter().filter(|c| c.validity().1 >= now).collect();
        fresh.sort_by_key(|c| c.validity().0);
        fresh.dedup_by(|a, b| a.serial().eq_ignore_ascii_case(b.serial()));
        let mut held = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let added = fresh
            .iter()
            .filter(|c| !held.set.iter().any(|h| h.serial().eq_ignore_ascii_case(c.serial())))
            .count();
        let preferred = fresh.iter().rev().find(|c| c.valid_at(now)).or(fresh.last());
        if let Some(p) = preferred {
            held.preferred = Some(p.verifier.serial_arc());
        }
        held.set = fresh;
        added
    }

    /// The certificates held, oldest first.
    #[must_use]
    pub fn certificates(&self) -> Vec<PlatformCertificate> {
        self.read().set.clone()
    }

    /// Whether it holds a certificate of `serial`.
    #[must_use]
    pub fn knows(&self, serial: &str) -> bool {
        self.read().set.iter().any(|c| c.serial().eq_ignore_ascii_case(serial))
    }

    /// Whether it holds no certificate.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.read().set.is_empty()
    }
}

impl Verifier for PlatformCertificates {
    fn verify(
        &self,
        serial: &str,
        message: &[u8],
        signature: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        // Verified under the read lock: an update waits for one RSA verification at most.
        let held = self.read();
        match held.set.iter().find(|c| c.serial().eq_ignore_ascii_case(serial)) {
            Some(c) => c.verifier.verify(serial, message, signature, now),
            None => Err(VerifyError::UnknownSerial(serial.to_owned())),
        }
    }

    fn preferred_serial(&self) -> Option<Arc<str>> {
        self.read().preferred.clone()
    }

    fn learns_serials(&self) -> bool {
        true
    }
}

impl fmt::Debug for PlatformCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformCertificates").field("certificates", &self.certificates()).finish()
    }
}
