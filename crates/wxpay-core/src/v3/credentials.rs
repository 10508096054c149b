//! The merchant's APIv3 identity: merchant id, certificate serial, signer, verifier, and the
//! `Wechatpay-Serial` its requests name.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

use super::sign::{AsyncSigner, Signer};
use super::verify::{DEFAULT_WINDOW_SECS, Verifier};
use crate::error::InvalidInput;
use crate::validate;

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
    /// The store [`certificate_mode`](Self::certificate_mode) made: kept current by the
    /// clients unless the configuration says otherwise.
    pub(crate) kept_store: Option<super::PlatformCertificates>,
}

impl V3Credentials {
    /// Credentials with a synchronous signer (an [`RsaSigner`](super::RsaSigner) or your own).
    ///
    /// ```
    /// use wxpay_core::v3::{PlatformCertificateVerifier, PublicKeyVerifier, RsaSigner, V3Credentials, VerifierSet};
    /// # let dir = std::path::Path::new("tests/vectors/keys"); // the test keys
    /// # let (key, public_key, cert) = (dir.join("merchant_key.pem"), dir.join("wechatpay_pub.pem"), dir.join("wechatpay_cert.pem"));
    ///
    /// let signer = RsaSigner::from_pem(std::fs::read(key)?)?; // apiclient_key.pem
    /// // Public-key mode; during a migration, the platform certificate as well.
    /// let verifiers = VerifierSet::new()
    ///     .with(PublicKeyVerifier::from_pem("PUB_KEY_ID_0114232134912410000000000000", std::fs::read(public_key)?)?)
    ///     .with(PlatformCertificateVerifier::from_pem(std::fs::read(cert)?)?);
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
            kept_store: None,
        })
    }

    /// Platform-certificate mode in one call: answers are verified with WeChat Pay's platform
    /// certificates, which the clients download with `api_v3_key` before the first call and
    /// keep current (every 6 hours, after an unknown serial, with back-off after failures:
    /// [`CertificateRefresh::default`](crate::CertificateRefresh::default)). No certificate
    /// file is needed. A configuration that names its own store and refresh
    /// ([`ClientConfigBuilder::refresh_certificates`](crate::ClientConfigBuilder::refresh_certificates))
    /// takes precedence. During the move to the WeChat Pay public key, add it with
    /// [`and_public_key`](Self::and_public_key). A merchant with the public key only (no
    /// certificates; the sandbox's `public-key` key mode) answers in a way these credentials
    /// cannot verify without it: an unknown serial `PUB_KEY_ID_…` means "add the public key".
    ///
    /// ```
    /// use wxpay_core::{ApiV3Key, ClientConfig};
    /// use wxpay_core::v3::{RsaSigner, V3Credentials};
    /// # let key = "tests/vectors/keys/merchant_key.pem"; // the test key
    /// # let api_v3_key = "wxpaySandboxApiV3Key0123456789ab";
    ///
    /// let creds = V3Credentials::certificate_mode(
    ///     "1900000001",
    ///     "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
    ///     RsaSigner::from_pem(std::fs::read(key)?)?, // apiclient_key.pem
    ///     ApiV3Key::new(api_v3_key)?,                 // 32 characters, from a file too
    /// )?;
    /// let config = ClientConfig::builder().v3(creds).build()?;
    /// assert!(config.certificate_refresh().is_some()); // kept current by the clients
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn certificate_mode(
        mchid: impl Into<String>,
        serial_no: impl Into<String>,
        signer: impl Signer + 'static,
        api_v3_key: crate::ApiV3Key,
    ) -> Result<Self, InvalidInput> {
        let store = super::PlatformCertificates::new();
        let mut creds = Self::new(mchid, serial_no, signer, store.clone())?;
        creds.api_v3_key = Some(api_v3_key);
        creds.kept_store = Some(store);
        Ok(creds)
    }

    /// During the move to the WeChat Pay public key: answers signed with the public key
    /// verify too (besides those the credentials' verifier takes, such as the platform
    /// certificates of [`certificate_mode`](Self::certificate_mode)), and requests name the
    /// public key (`Wechatpay-Serial`), so that WeChat Pay signs with it.
    #[must_use]
    pub fn and_public_key(mut self, public_key: super::PublicKeyVerifier) -> Self {
        if let Ok(header) = serial_header(public_key.id()) {
            self.wechatpay_serial = WechatpaySerial::Fixed(header);
        }
        let set = super::VerifierSet::new().with(public_key).with(Arc::clone(&self.verifier));
        self.verifier = Arc::new(set);
        self
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
    /// ([`DownloadCertificates`](super::DownloadCertificates)).
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
