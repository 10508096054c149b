//! APIv3: JSON over HTTPS, requests signed with the merchant's RSA key, answers verified
//! with WeChat Pay's public key or platform certificate.

mod certificates;
mod close;
pub(crate) mod keys;
mod verify;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderValue;

pub use certificates::{
    AEAD_AES_256_GCM, DownloadCertificates, PlatformCertificate, PlatformCertificates,
    decrypt_resource, read_certificates,
};
pub(crate) use close::authorize as authorize_request;
pub use close::{
    CloseCall, CloseCombinedOrder, CloseGlobalOrder, CloseOrderV3, SubOrder, check_out_trade_no,
    check_transaction_id, percent_decode, read_close_answer,
};
pub use keys::RsaSigner;
pub use verify::{
    DEFAULT_WINDOW_SECS, PlatformCertificateVerifier, PublicKeyVerifier, SIGNATURE_TYPE,
    SIGNTEST_PREFIX, Verifier, VerifierSet, has_signature_headers, header, response_message,
    verifier_from_pem, verify_response,
};

use crate::error::{InvalidInput, SignError};
use crate::validate;

/// The scheme of the `Authorization` header.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

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

#[derive(Clone)]
pub(crate) enum SignerKind {
    Sync(Arc<dyn Signer>),
    Async(Arc<dyn AsyncSigner>),
}

/// The merchant's APIv3 identity: merchant id, API certificate serial, request signer and
/// answer verifier.
///
/// For the service-provider and combined closes, `mchid` is the service provider's
/// (`sp_mchid`) or the combining merchant's: whoever signs the request.
#[derive(Clone)]
pub struct V3Credentials {
    pub(crate) mchid: String,
    pub(crate) serial_no: String,
    pub(crate) signer: SignerKind,
    pub(crate) verifier: Arc<dyn Verifier>,
    /// The `Wechatpay-Serial` request header.
    pub(crate) wechatpay_serial: WechatpaySerial,
    pub(crate) window_secs: u64,
    pub(crate) signature_len: usize,
    pub(crate) api_v3_key: Option<crate::ApiV3Key>,
}

impl V3Credentials {
    /// Credentials with a synchronous signer (an [`RsaSigner`] or your own).
    ///
    /// ```
    /// use wxpay_core::v3::{PlatformCertificateVerifier, PublicKeyVerifier, RsaSigner, V3Credentials, VerifierSet};
    /// # use wxpay_sandbox::merchants::{MERCHANT_KEY_PEM as KEY, WECHATPAY_PUB_PEM as PUB, WECHATPAY_CERT_PEM as CERT};
    ///
    /// let signer = RsaSigner::from_pem(KEY)?; // apiclient_key.pem
    /// // Public-key mode; during a migration, the platform certificate as well.
    /// let verifiers = VerifierSet::new()
    ///     .with(PublicKeyVerifier::from_pem("PUB_KEY_ID_0114232134912410000000000000", PUB)?)
    ///     .with(PlatformCertificateVerifier::from_pem(CERT)?);
    /// let creds = V3Credentials::new("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, verifiers)?;
    /// assert_eq!(creds.mchid(), "1900000001");
    /// assert!(!format!("{creds:?}").contains("PRIVATE KEY"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`InvalidInput`] when `mchid` or `serial_no` is empty, too long or not letters and
    /// digits, or when the verifier names no serial to expect.
    pub fn new(
        mchid: impl Into<String>,
        serial_no: impl Into<String>,
        signer: impl Signer + 'static,
        verifier: impl Verifier + 'static,
    ) -> Result<Self, InvalidInput> {
        let signature_len = signer.signature_len();
        let signer = SignerKind::Sync(Arc::new(signer));
        Self::with_kind(mchid.into(), serial_no.into(), signer, signature_len, Arc::new(verifier))
    }

    /// Credentials whose signer is asynchronous only (a KMS, an HSM). Such credentials work
    /// with the async client and [`Prepared::sign_async`](crate::Prepared::sign_async) only.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_async_signer(
        mchid: impl Into<String>,
        serial_no: impl Into<String>,
        signer: impl AsyncSigner + 'static,
        verifier: impl Verifier + 'static,
    ) -> Result<Self, InvalidInput> {
        let signer = SignerKind::Async(Arc::new(signer));
        Self::with_kind(mchid.into(), serial_no.into(), signer, 256, Arc::new(verifier))
    }

    fn with_kind(
        mchid: String,
        serial_no: String,
        signer: SignerKind,
        signature_len: usize,
        verifier: Arc<dyn Verifier>,
    ) -> Result<Self, InvalidInput> {
        validate::charset("mchid", &mchid, 1, 32, b"")?;
        validate::charset("serial_no", &serial_no, 1, 64, b"")?;
        // A verifier that knows no serial is a mistake, unless it is a store that learns them
        // (its first certificate list is verified by the certificate inside it).
        let wechatpay_serial = match verifier.preferred_serial() {
            _ if verifier.learns_serials() => WechatpaySerial::Follow(Arc::default()),
            Some(preferred) => WechatpaySerial::Fixed(serial_header(&preferred)?),
            None => return Err(InvalidInput::Empty { field: "wechatpay_serial" }),
        };
        Ok(V3Credentials {
            mchid,
            serial_no,
            signer,
            verifier,
            wechatpay_serial,
            window_secs: DEFAULT_WINDOW_SECS,
            signature_len,
            api_v3_key: None,
        })
    }

    /// Names the key answers are expected to be signed with (`Wechatpay-Serial` request
    /// header) instead of the verifier's preferred one.
    ///
    /// # Errors
    /// [`InvalidInput`] when the serial is empty or not letters, digits and `_`.
    pub fn with_wechatpay_serial(mut self, serial: &str) -> Result<Self, InvalidInput> {
        self.wechatpay_serial = WechatpaySerial::Fixed(serial_header(serial)?);
        Ok(self)
    }

    /// The APIv3 key, which decrypts the platform certificate list
    /// ([`DownloadCertificates`]).
    #[must_use]
    pub fn with_api_v3_key(mut self, key: crate::ApiV3Key) -> Self {
        self.api_v3_key = Some(key);
        self
    }

    /// How far (seconds) an answer's `Wechatpay-Timestamp` may be from local time; 300 by
    /// default. Widen it only to replay recorded answers in tests.
    #[must_use]
    pub fn dangerous_timestamp_window(mut self, secs: u64) -> Self {
        self.window_secs = secs;
        self
    }

    /// The merchant id that signs requests.
    #[must_use]
    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// The merchant API certificate's serial number.
    #[must_use]
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// The verifier for answers.
    #[must_use]
    pub fn verifier(&self) -> &dyn Verifier {
        self.verifier.as_ref()
    }

    /// The allowed timestamp distance, seconds.
    #[must_use]
    pub fn timestamp_window(&self) -> u64 {
        self.window_secs
    }

    /// Whether the signer can sign synchronously (the blocking client needs that).
    #[must_use]
    pub fn has_sync_signer(&self) -> bool {
        matches!(self.signer, SignerKind::Sync(_))
    }
}

fn serial_header(serial: &str) -> Result<HeaderValue, InvalidInput> {
    validate::charset("wechatpay_serial", serial, 1, 64, b"_")?;
    HeaderValue::from_str(serial).map_err(|_| InvalidInput::Empty { field: "wechatpay_serial" })
}

/// Where the `Wechatpay-Serial` request header comes from.
#[derive(Debug, Clone)]
pub(crate) enum WechatpaySerial {
    /// Named once: a fixed key, or the caller's choice.
    Fixed(HeaderValue),
    /// The verifier's preferred serial at each request (a certificate store learns new
    /// ones), with the header made for the last one seen, so that a request makes none.
    Follow(Arc<std::sync::Mutex<Option<NamedSerial>>>),
}

/// A serial and the header value made for it.
pub(crate) type NamedSerial = (Arc<str>, HeaderValue);

impl V3Credentials {
    /// The `Wechatpay-Serial` header the next request carries, if any (none while a store
    /// knows no certificate).
    pub(crate) fn wechatpay_serial(&self) -> Option<HeaderValue> {
        let cache = match &self.wechatpay_serial {
            WechatpaySerial::Fixed(value) => return Some(value.clone()),
            WechatpaySerial::Follow(cache) => cache,
        };
        let serial = self.verifier.preferred_serial()?;
        let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*cache {
            Some((seen, value)) if **seen == *serial => Some(value.clone()),
            _ => {
                let value = serial_header(&serial).ok()?;
                *cache = Some((serial, value.clone()));
                Some(value)
            }
        }
    }
}

impl fmt::Debug for V3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V3Credentials")
            .field("mchid", &self.mchid)
            .field("serial_no", &self.serial_no)
            .field("signer", &"[redacted]")
            .field("wechatpay_serial", &self.wechatpay_serial)
            .field("window_secs", &self.window_secs)
            .finish()
    }
}

/// The message an APIv3 request signature covers:
/// `{method}\n{target}\n{timestamp}\n{nonce}\n{body}\n`.
#[must_use]
pub fn request_message(
    method: &str,
    target: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    message_lines(method, target, itoa_buf(timestamp).as_str(), nonce, body)
}

/// The five lines of a request message, the timestamp as text.
fn message_lines(method: &str, target: &str, ts: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m =
        Vec::with_capacity(method.len() + target.len() + ts.len() + nonce.len() + body.len() + 5);
    for part in [method.as_bytes(), target.as_bytes(), ts.as_bytes(), nonce.as_bytes(), body] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m
}

/// A small decimal formatter that does not allocate.
pub(crate) struct ItoaBuf {
    buf: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

pub(crate) fn itoa_buf(mut n: u64) -> ItoaBuf {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    ItoaBuf { buf, start: i }
}

/// The parts of an APIv3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `mchid`.
    pub mchid: String,
    /// `nonce_str`.
    pub nonce_str: String,
    /// `signature`, base64.
    pub signature: String,
    /// `timestamp`, as sent.
    pub timestamp: String,
    /// `serial_no`.
    pub serial_no: String,
}

impl Authorization {
    /// Parses `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`
    /// (the five parameters in any order, each exactly once).
    ///
    /// # Errors
    /// A reason in words.
    pub fn parse(header: &str) -> Result<Authorization, String> {
        let rest = header
            .strip_prefix(AUTH_SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| format!("the scheme must be {AUTH_SCHEME}"))?;
        let mut slots: [Option<String>; 5] = Default::default();
        const NAMES: [&str; 5] = ["mchid", "nonce_str", "signature", "timestamp", "serial_no"];
        for param in rest.split(',') {
            let (name, value) = param.trim().split_once('=').ok_or("a parameter without `=`")?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| format!("`{name}` is not quoted"))?;
            let i = NAMES
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| format!("unknown parameter `{name}`"))?;
            if slots[i].replace(value.to_owned()).is_some() {
                return Err(format!("`{name}` appears twice"));
            }
        }
        let [mchid, nonce_str, signature, timestamp, serial_no] = slots;
        let need = |v: Option<String>, n: &str| v.ok_or_else(|| format!("`{n}` is missing"));
        Ok(Authorization {
            mchid: need(mchid, "mchid")?,
            nonce_str: need(nonce_str, "nonce_str")?,
            signature: need(signature, "signature")?,
            timestamp: need(timestamp, "timestamp")?,
            serial_no: need(serial_no, "serial_no")?,
        })
    }
}

impl Authorization {
    /// The `timestamp` in Unix seconds. WeChat Pay signs and checks the header's own text,
    /// so only the canonical decimal form is taken: digits, no sign, no leading zero.
    ///
    /// # Errors
    /// A reason in words.
    pub fn timestamp_secs(&self) -> Result<u64, String> {
        let t = &self.timestamp;
        let canonical = !t.is_empty()
            && t.bytes().all(|b| b.is_ascii_digit())
            && (t == "0" || !t.starts_with('0'));
        if !canonical {
            return Err(format!(
                "timestamp {t:?} is not decimal Unix seconds (digits, no sign, no leading zero)"
            ));
        }
        t.parse().map_err(|_| format!("timestamp {t:?} is out of range"))
    }

    /// The message the signature must cover, for a request with this header: built from the
    /// header's own `timestamp` and `nonce_str` text, as WeChat Pay rebuilds it.
    ///
    /// # Errors
    /// As [`timestamp_secs`](Self::timestamp_secs).
    pub fn signed_message(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.timestamp_secs()?;
        Ok(message_lines(method, target, &self.timestamp, &self.nonce_str, body))
    }
}

/// A request that WeChat Pay refuses before it reads the business part: the HTTP status,
/// the error code and a message, as its answer carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The error code (`INVALID_REQUEST`, `SIGN_ERROR`, `PARAM_ERROR`…).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Refusal {
    /// `400 INVALID_REQUEST`.
    #[must_use]
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Refusal { status: 400, code: "INVALID_REQUEST", message: message.into() }
    }

    /// `401 SIGN_ERROR`.
    #[must_use]
    pub fn sign_error(message: impl Into<String>) -> Self {
        Refusal { status: 401, code: "SIGN_ERROR", message: message.into() }
    }
}

/// What WeChat Pay requires of an APIv3 request's headers, the same rules this crate's
/// requests follow: a `User-Agent`, `Accept: application/json`, and, when there is a body,
/// `Content-Type: application/json` (parameters such as `charset` allowed). For servers
/// that stand in for WeChat Pay, as the sandbox does.
///
/// # Errors
/// A `400 INVALID_REQUEST` [`Refusal`] naming the header.
pub fn check_request_headers(headers: &http::HeaderMap, has_body: bool) -> Result<(), Refusal> {
    use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let is_json = |media: &str| {
        media.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    };
    if text(USER_AGENT).is_none_or(|ua| ua.trim().is_empty()) {
        return Err(Refusal::invalid_request(
            "HTTP头缺少 User-Agent (APIv3 requests must carry a User-Agent)",
        ));
    }
    if !text(ACCEPT).is_some_and(|a| a.split(',').any(is_json)) {
        return Err(Refusal::invalid_request("HTTP头 Accept 应为 application/json"));
    }
    if has_body && !text(CONTENT_TYPE).is_some_and(is_json) {
        return Err(Refusal::invalid_request("HTTP头 Content-Type 应为 application/json"));
    }
    Ok(())
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{}\",signature=\"{}\",timestamp=\"{}\",serial_no=\"{}\"",
            self.mchid, self.nonce_str, self.signature, self.timestamp, self.serial_no
        )
    }
}
