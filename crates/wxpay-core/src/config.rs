//! A client's configuration, checked once, shared by both transports.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::endpoint::{BaseUrl, Endpoint};
use crate::error::{InvalidInput, KeyError};
use crate::operation::Context;
use crate::refresh::{CertificateRefresh, MAX_REFRESH_INTERVAL};
use crate::retry::RetryPolicy;
use crate::v2::V2Credentials;
use crate::v3::V3Credentials;

/// Everything a transport client needs: credentials, endpoint, timeouts, retries, limits.
/// Built with [`ClientConfig::builder`]; the transports take it as it is.
///
/// `Debug` shows no secret: credentials are redacted, a proxy's user name and password are
/// replaced, and TLS roots are counted, not printed.
///
/// ```
/// use wxpay_core::{ApiV2Key, ClientConfig, v2::V2Credentials};
///
/// let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d")?;
/// let config = ClientConfig::builder()
///     .v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?)
///     .proxy("http://alice:secret@proxy.internal:3128")
///     .build()?;
/// let shown = format!("{config:?}");
/// assert!(!shown.contains("secret") && !shown.contains("alice") && !shown.contains("192006250b4c"));
/// assert!(shown.contains("proxy.internal:3128"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    context: Context,
    endpoint: Endpoint,
    connect_timeout: Duration,
    timeout: Duration,
    retry: RetryPolicy,
    max_response_bytes: u64,
    proxy: Option<String>,
    tls_roots: Option<Arc<[Vec<u8>]>>,
    certificates: Option<(crate::v3::PlatformCertificates, CertificateRefresh)>,
}

impl ClientConfig {
    /// A builder with the defaults: mainland endpoint with fail-over, 5 s to connect, 10 s
    /// per attempt, [`RetryPolicy::default`], answers capped at 64 KiB, no proxy.
    #[must_use]
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder {
            v2: None,
            v3: None,
            endpoint: Ok(Endpoint::Mainland),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_response_bytes: crate::wire::MAX_RESPONSE_BODY as u64,
            user_agent_suffix: None,
            proxy: None,
            tls_roots: None,
            certificates: None,
        }
    }

    /// Credentials and `User-Agent`.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Where requests go.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// How long to wait for a connection.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long one attempt may take in all.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The retry policy.
    #[must_use]
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The largest answer body read; a larger one fails the attempt.
    #[must_use]
    pub fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }

    /// The proxy URL, if any (applied through the HTTP client's own proxy support).
    #[must_use]
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// The platform certificate store the clients keep current, if any.
    #[must_use]
    pub fn certificate_store(&self) -> Option<&crate::v3::PlatformCertificates> {
        self.certificates.as_ref().map(|(store, _)| store)
    }

    /// The store kept current and when it is refreshed, if the configuration asks for it
    /// ([`ClientConfigBuilder::refresh_certificates`]).
    #[must_use]
    pub fn certificate_refresh(
        &self,
    ) -> Option<(&crate::v3::PlatformCertificates, &CertificateRefresh)> {
        self.certificates.as_ref().map(|(store, refresh)| (store, refresh))
    }

    /// The only certificate authorities trusted for TLS, as DER, when set with
    /// [`ClientConfigBuilder::tls_roots_pem`]; `None` means the built-in Mozilla roots.
    #[must_use]
    pub fn tls_roots(&self) -> Option<&[Vec<u8>]> {
        self.tls_roots.as_deref()
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("context", &self.context)
            .field("endpoint", &self.endpoint)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("proxy", &self.proxy.as_deref().map(redact_proxy))
            .field(
                "tls_roots",
                &self.tls_roots.as_ref().map(|r| format!("{} certificates", r.len())),
            )
            .finish()
    }
}

/// A proxy URL with any user name and password replaced by `[redacted]`: everything between
/// `://` and the last `@`. People type a raw `/`, `?`, `#` or `@` in a password
/// (`http://u:pa/ss@host:1`), so the userinfo cannot be told from the path by the first `/`;
/// a proxy URL has no path worth showing, and an `@` in one costs only some redaction.
pub(crate) fn redact_proxy(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[redacted]".to_owned();
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}://[redacted]@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Builds a [`ClientConfig`]. `Debug` shows no secret, as `ClientConfig`'s.
///
/// ```
/// use std::time::Duration;
/// use wxpay_core::{ApiV2Key, ClientConfig, Endpoint, RetryPolicy, v2::V2Credentials};
///
/// let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d")?;
/// let config = ClientConfig::builder()
///     .v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?)
///     .endpoint(Endpoint::HongKong)
///     .timeout(Duration::from_secs(5))
///     .retry(RetryPolicy::default().with_max_attempts(3))
///     .user_agent_suffix("my-shop/1.4")
///     .build()?;
/// assert_eq!(config.retry().max_attempts, 3);
///
/// // Refused at build time, before any request: plain http off loopback, a cap above 64 KiB.
/// assert!(ClientConfig::builder().base_url("http://example.com").build().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientConfigBuilder {
    v2: Option<V2Credentials>,
    v3: Option<V3Credentials>,
    endpoint: Result<Endpoint, InvalidInput>,
    connect_timeout: Duration,
    timeout: Duration,
    retry: RetryPolicy,
    max_response_bytes: u64,
    user_agent_suffix: Option<String>,
    proxy: Option<String>,
    tls_roots: Option<Vec<u8>>,
    certificates: Option<(crate::v3::PlatformCertificates, CertificateRefresh)>,
}

impl fmt::Debug for ClientConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfigBuilder")
            .field("v2", &self.v2)
            .field("v3", &self.v3)
            .field("endpoint", &self.endpoint)
            .field("retry", &self.retry)
            .field("proxy", &self.proxy.as_deref().map(redact_proxy))
            .field(
                "tls_roots",
                &self.tls_roots.as_ref().map(|pem| format!("{} PEM bytes", pem.len())),
            )
            .finish_non_exhaustive()
    }
}

impl ClientConfigBuilder {
    /// APIv2 credentials (needed for APIv2 calls).
    #[must_use]
    pub fn v2(mut self, credentials: V2Credentials) -> Self {
        self.v2 = Some(credentials);
        self
    }

    /// APIv3 credentials (needed for APIv3 calls).
    #[must_use]
    pub fn v3(mut self, credentials: V3Credentials) -> Self {
        self.v3 = Some(credentials);
        self
    }

    /// Where requests go (mainland with fail-over by default).
    #[must_use]
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Ok(endpoint);
        self
    }

    /// A base URL of your own (a proxy, the sandbox): `https`, or `http` to loopback only.
    /// Checked at [`build`](Self::build).
    #[must_use]
    pub fn base_url(mut self, url: &str) -> Self {
        self.endpoint = Endpoint::custom(url);
        self
    }

    /// A base URL and the one to fail over to when it cannot be reached.
    #[must_use]
    pub fn base_urls(mut self, primary: &str, backup: &str) -> Self {
        self.endpoint = BaseUrl::parse(primary).and_then(|primary| {
            Ok(Endpoint::Custom { primary, backup: Some(BaseUrl::parse(backup)?) })
        });
        self
    }

    /// How long to wait for a connection (5 s by default).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take in all (10 s by default).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The retry policy ([`RetryPolicy::never`] turns retries off).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The largest answer body read (64 KiB by default and at most; close answers are a few
    /// hundred bytes). A larger value is refused at [`build`](Self::build).
    #[must_use]
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Appended to the `User-Agent`, e.g. your service's name and version.
    #[must_use]
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// Sends through a proxy (`http://`, `https://` or `socks5://` URL).
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Trusts only the certificate authorities in this PEM bundle (one or more
    /// `CERTIFICATE` blocks) instead of the built-in Mozilla roots: to pin WeChat Pay's
    /// issuers, or to reach it through a gateway with a CA of your own. Checked at
    /// [`build`](Self::build).
    #[must_use]
    pub fn tls_roots_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.tls_roots = Some(pem.as_ref().to_vec());
        self
    }

    /// Keeps `store` (the APIv3 credentials' verifier, or part of it) current: the clients
    /// download the platform certificate list as `refresh` says, with the credentials' APIv3
    /// key ([`V3Credentials::with_api_v3_key`](crate::v3::V3Credentials::with_api_v3_key)).
    /// Checked at [`build`](Self::build).
    #[must_use]
    pub fn refresh_certificates(
        mut self,
        store: crate::v3::PlatformCertificates,
        refresh: CertificateRefresh,
    ) -> Self {
        self.certificates = Some((store, refresh));
        self
    }

    /// Checks everything and builds the configuration.
    ///
    /// # Errors
    /// [`InvalidInput::MissingCredentials`] when neither APIv2 nor APIv3 credentials were
    /// given, [`InvalidInput::BadBaseUrl`] for a refused base URL,
    /// [`InvalidInput::BadProxy`] for a refused proxy URL, and
    /// [`InvalidInput::BadCharacter`] for a `User-Agent` suffix a header cannot carry, and
    /// [`InvalidInput::TlsRoots`] for TLS roots that are not PEM certificates, and
    /// [`InvalidInput::OutOfRange`] for a response cap above 64 KiB (the core reads no more).
    pub fn build(self) -> Result<ClientConfig, InvalidInput> {
        if self.v2.is_none() && self.v3.is_none() {
            return Err(InvalidInput::MissingCredentials { api: "v2 or v3" });
        }
        // Credentials made for certificate mode bring their store, kept current by default.
        let kept = self.v3.as_ref().and_then(|v3| v3.kept_store.clone());
        let certificates = self.certificates.or(kept.map(|s| (s, CertificateRefresh::default())));
        let certificates = match certificates {
            None => None,
            Some((store, refresh)) => {
                let v3 = self.v3.as_ref().ok_or(InvalidInput::MissingCredentials { api: "v3" })?;
                if v3.api_v3_key.is_none() {
                    return Err(InvalidInput::MissingApiV3Key);
                }
                if refresh.interval >= MAX_REFRESH_INTERVAL || refresh.interval.is_zero() {
                    return Err(InvalidInput::OutOfRange {
                        setting: "certificate refresh interval (seconds, more than 0)",
                        given: refresh.interval.as_secs(),
                        max: MAX_REFRESH_INTERVAL.as_secs() - 1,
                    });
                }
                if refresh.retry_after.is_zero() {
                    return Err(InvalidInput::OutOfRange {
                        setting: "certificate refresh back-off (milliseconds, more than 0)",
                        given: 0,
                        max: u64::try_from(MAX_REFRESH_INTERVAL.as_millis()).unwrap_or(u64::MAX),
                    });
                }
                Some((store, refresh))
            }
        };
        let max = crate::wire::MAX_RESPONSE_BODY as u64;
        if self.max_response_bytes > max {
            let given = self.max_response_bytes;
            return Err(InvalidInput::OutOfRange { setting: "max_response_bytes", given, max });
        }
        let endpoint = self.endpoint?;
        if let Some(proxy) = &self.proxy {
            let ok = proxy.parse::<http::Uri>().ok().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https" | "socks5" | "socks5h"))
                    && u.host().is_some()
            });
            if !ok {
                return Err(InvalidInput::BadProxy {
                    reason: "the proxy must be an http, https or socks5 URL",
                });
            }
        }
        let tls_roots = match &self.tls_roots {
            Some(pem) => Some(parse_roots(pem).map_err(InvalidInput::TlsRoots)?),
            None => None,
        };
        let mut context = Context::new();
        if let Some(v2) = self.v2 {
            context = context.with_v2(v2);
        }
        if let Some(v3) = self.v3 {
            context = context.with_v3(v3);
        }
        if let Some(suffix) = &self.user_agent_suffix {
            context = context.with_user_agent_suffix(suffix)?;
        }
        Ok(ClientConfig {
            context,
            endpoint,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            retry: self.retry,
            max_response_bytes: self.max_response_bytes,
            proxy: self.proxy,
            tls_roots,
            certificates,
        })
    }
}

/// The DER of every certificate in a PEM bundle; at least one, and nothing but certificates.
fn parse_roots(pem: &[u8]) -> Result<Arc<[Vec<u8>]>, KeyError> {
    use x509_cert::der::Decode;
    let mut roots = Vec::new();
    let mut rest = pem;
    while memchr::memmem::find(rest, b"-----BEGIN ").is_some() {
        // A BEGIN without its END is a damaged bundle, not the end of it.
        let (block, after) = crate::v3::keys::split_pem_block(rest).ok_or(KeyError::NotPem)?;
        let (label, der) = pem_rfc7468::decode_vec(block).map_err(|_| KeyError::NotPem)?;
        if label != "CERTIFICATE" {
            let found = label.to_owned();
            return Err(KeyError::WrongPemLabel { expected: "a certificate", found });
        }
        // Parsed here so that a damaged certificate fails the builder, not the first call.
        x509_cert::Certificate::from_der(&der).map_err(|e| KeyError::Malformed(e.to_string()))?;
        roots.push(der);
        rest = after;
    }
    if roots.is_empty() {
        return Err(KeyError::NotPem);
    }
    Ok(roots.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiV2Key;

    fn v2() -> V2Credentials {
        V2Credentials::new("wx1", "1", ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap())
            .unwrap()
    }

    #[test]
    fn tls_roots_are_every_certificate_of_a_pem_bundle_and_nothing_else() {
        let a = include_str!("../tests/keys/ec_cert.pem");
        let b = include_str!("../tests/vectors/keys/wechatpay_cert.pem");
        let roots = |pem: &str| ClientConfig::builder().v2(v2()).tls_roots_pem(pem).build();
        let bundle = format!("# two roots\n{a}\n{b}");
        let config = roots(&bundle).unwrap();
        let ders = config.tls_roots().unwrap();
        assert_eq!(ders.len(), 2);
        assert_eq!(ders[0], pem_rfc7468::decode_vec(a.trim().as_bytes()).unwrap().1);
        assert_eq!(ders[1], pem_rfc7468::decode_vec(b.trim().as_bytes()).unwrap().1);

        assert_eq!(roots("no PEM here").unwrap_err(), InvalidInput::TlsRoots(KeyError::NotPem));
        let key = include_str!("../tests/keys/ec_pkcs8.pem");
        let err = roots(&format!("{a}{key}")).unwrap_err();
        assert!(
            matches!(&err, InvalidInput::TlsRoots(KeyError::WrongPemLabel { found, .. }) if found == "PRIVATE KEY"),
            "{err}"
        );
        assert!(err.to_string().starts_with("TLS root certificates: "), "{err}");
        // A CERTIFICATE block whose content is not a certificate.
        let junk = "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n";
        assert!(matches!(roots(junk).unwrap_err(), InvalidInput::TlsRoots(KeyError::Malformed(_))));
    }

    #[test]
    fn proxy_credentials_and_roots_never_show_in_debug() {
        assert_eq!(redact_proxy("http://alice:secret@proxy:3128"), "http://[redacted]@proxy:3128");
        // A raw `/` (or `@`, `?`, `#`) in the password: the whole userinfo goes.
        assert_eq!(redact_proxy("http://u:pa/ss@host:1"), "http://[redacted]@host:1");
        assert_eq!(redact_proxy("http://u:p@s/s?x#y@host:1"), "http://[redacted]@host:1");
        assert_eq!(redact_proxy("socks5://bob@p:1080/x@y"), "socks5://[redacted]@y");
        assert_eq!(redact_proxy("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact_proxy("no scheme alice:secret"), "[redacted]");
        let ca = include_str!("../tests/vectors/keys/wechatpay_cert.pem");
        let builder = ClientConfig::builder()
            .v2(v2())
            .proxy("http://alice:s3cr3t@proxy.internal:3128")
            .tls_roots_pem(ca);
        let shown = format!("{builder:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("alice"), "{shown}");
        let config = builder.build().unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("alice"), "{shown}");
        assert!(shown.contains("1 certificates") && shown.contains("proxy.internal"), "{shown}");
        assert!(!shown.contains("192006250b4c09247ec02edce69f6a2d"), "{shown}");
        assert!(shown.len() < 2000, "no DER bytes: {shown}");
    }

    #[test]
    fn builder_errors_are_clear() {
        assert_eq!(
            ClientConfig::builder().build().unwrap_err(),
            InvalidInput::MissingCredentials { api: "v2 or v3" }
        );
        let err =
            ClientConfig::builder().v2(v2()).base_url("http://example.com").build().unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = ClientConfig::builder().v2(v2()).proxy("ftp://x").build().unwrap_err();
        assert!(err.to_string().contains("proxy"), "{err}");
        let err =
            ClientConfig::builder().v2(v2()).user_agent_suffix("bad\nline").build().unwrap_err();
        assert!(matches!(err, InvalidInput::BadCharacter { field: "user_agent", .. }), "{err}");
        let ok = ClientConfig::builder()
            .v2(v2())
            .base_urls("http://127.0.0.1:1", "http://127.0.0.1:2")
            .proxy("socks5://127.0.0.1:1080")
            .user_agent_suffix("shop/1.2")
            .build()
            .unwrap();
        assert_eq!(ok.endpoint().backup().unwrap().as_str(), "http://127.0.0.1:2");
        assert!(ok.tls_roots().is_none(), "the built-in roots unless told otherwise");
        let err = ClientConfig::builder().v2(v2()).max_response_bytes(1 << 20).build().unwrap_err();
        assert!(matches!(err, InvalidInput::OutOfRange { setting: "max_response_bytes", .. }));
        assert_eq!(
            ok.context().user_agent.to_str().unwrap(),
            format!("{} shop/1.2", crate::USER_AGENT)
        );
    }
}
