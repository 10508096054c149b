//! The sandbox's merchants and keys: the shared test keys, never real ones.

use std::path::Path;

use wxpay_core::v2::{CloseOrderV2, V2Credentials};
use wxpay_core::v3::{
    CloseOrderV3, PlatformCertificateVerifier, PublicKeyVerifier, RsaSigner, V3Credentials,
    VerifierSet,
};
use wxpay_core::{ApiV2Key, ClientConfig, ClientConfigBuilder, CloseOrder};

use crate::config::KeyMode;
use crate::order::OrderKey;

/// The merchant's API private key (test key).
pub const MERCHANT_KEY_PEM: &str = include_str!("../keys/merchant_key.pem");
/// The merchant's API public key (test key).
pub const MERCHANT_PUB_PEM: &str = include_str!("../keys/merchant_pub.pem");
/// The merchant's API certificate (test certificate).
pub const MERCHANT_CERT_PEM: &str = include_str!("../keys/merchant_cert.pem");
/// The sandbox's WeChat Pay private key, which signs every APIv3 answer (test key).
pub const WECHATPAY_KEY_PEM: &str = include_str!("../keys/wechatpay_key.pem");
/// The sandbox's WeChat Pay public key, for public-key mode (test key).
pub const WECHATPAY_PUB_PEM: &str = include_str!("../keys/wechatpay_pub.pem");
/// The sandbox's WeChat Pay platform certificate, for platform-certificate mode (test certificate).
pub const WECHATPAY_CERT_PEM: &str = include_str!("../keys/wechatpay_cert.pem");

/// The test certificate authority that issued the sandbox's HTTPS certificate: give it to
/// a client (`ClientConfigBuilder::tls_roots_pem`) to reach a sandbox started with
/// `tls: true`. A test CA whose key was thrown away: never trust it outside tests.
pub const TLS_CA_PEM: &str = include_str!("../keys/tls_ca.pem");
/// The sandbox's HTTPS certificate, for `127.0.0.1` and `localhost` (test certificate).
pub const TLS_CERT_PEM: &str = include_str!("../keys/tls_cert.pem");
/// The private key of the sandbox's HTTPS certificate (test key, ECDSA P-256).
pub const TLS_KEY_PEM: &str = include_str!("../keys/tls_key.pem");

/// A second platform certificate and its key, for rotation (test key).
pub const WECHATPAY_CERT2_PEM: &str = include_str!("../keys/wechatpay_cert2.pem");
/// The key of [`WECHATPAY_CERT2_PEM`] (test key).
pub const WECHATPAY_KEY2_PEM: &str = include_str!("../keys/wechatpay_key2.pem");
/// A third platform certificate and its key, for a second rotation (test key).
pub const WECHATPAY_CERT3_PEM: &str = include_str!("../keys/wechatpay_cert3.pem");
/// The key of [`WECHATPAY_CERT3_PEM`] (test key).
pub const WECHATPAY_KEY3_PEM: &str = include_str!("../keys/wechatpay_key3.pem");

/// The platform certificates the sandbox rotates through, in order, as (serial,
/// certificate, key): the first is listed and signs when it starts; see
/// [`State::rotate_certificate`](crate::State::rotate_certificate).
pub const PLATFORM_CERTIFICATES: [(&str, &str, &str); 3] = [
    (WECHATPAY_CERT_SERIAL, WECHATPAY_CERT_PEM, WECHATPAY_KEY_PEM),
    ("6A2B7C3D4E5F60718293A4B5C6D7E8F920", WECHATPAY_CERT2_PEM, WECHATPAY_KEY2_PEM),
    ("6A2B7C3D4E5F60718293A4B5C6D7E8F930", WECHATPAY_CERT3_PEM, WECHATPAY_KEY3_PEM),
];

/// The APIv3 key of every sandbox merchant (test key): it encrypts the certificate list.
pub const API_V3_KEY: &str = "wxpaySandboxApiV3Key0123456789ab";

/// The id of the sandbox's WeChat Pay public key.
pub const WECHATPAY_PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
/// The serial number of the sandbox's platform certificate.
pub const WECHATPAY_CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
/// The serial number of the merchants' API certificate.
pub const MERCHANT_SERIAL_NO: &str = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C";
/// The API v2 key of every sandbox merchant (test key).
pub const API_V2_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// An APIv2 merchant the sandbox knows.
#[derive(Debug, Clone)]
pub struct V2Merchant {
    /// `mch_id`.
    pub mch_id: &'static str,
    /// `appid`.
    pub appid: &'static str,
    /// Sub-merchants it may act for (institutional mode): `sub_mch_id` and `sub_appid`.
    pub subs: &'static [(&'static str, &'static str)],
}

/// An APIv3 merchant the sandbox knows.
#[derive(Debug, Clone)]
pub struct V3Merchant {
    /// `mchid` (`sp_mchid` for a service provider).
    pub mchid: &'static str,
    /// Its app (`appid`, or `sp_appid` for a service provider), as query answers name it.
    pub appid: &'static str,
    /// Sub-merchants it may act for: the first is the one the sandbox presents
    /// ([`Merchant::V3Partner`], `WXPAY_SANDBOX_V3_SUB_MCHID`); any after it are the shared
    /// vectors', accepted only when the sandbox is told to
    /// ([`SandboxConfig::accept_vector_ids`](crate::SandboxConfig::accept_vector_ids)).
    pub subs: &'static [&'static str],
    /// Their apps (`sub_appid`), one for each of [`subs`](Self::subs).
    pub sub_appids: &'static [&'static str],
    /// Merchants whose orders it may close in a combined order besides its own: the first is
    /// the one the sandbox presents ([`V3_SUB_ORDER_MCHID`]); any after it are the shared
    /// vectors', accepted only when the sandbox is told to
    /// ([`SandboxConfig::accept_vector_ids`](crate::SandboxConfig::accept_vector_ids)).
    pub combined_with: &'static [&'static str],
}

impl V3Merchant {
    /// The sub-merchants the sandbox presents: the first of [`subs`](Self::subs), if any.
    #[must_use]
    pub fn presented_subs(&self) -> &'static [&'static str] {
        let subs: &'static [&'static str] = self.subs;
        subs.get(..1).unwrap_or(subs)
    }

    /// The shared vectors' sub-merchants (not presented; accepted only when the sandbox is told
    /// to).
    #[must_use]
    pub fn vector_subs(&self) -> &'static [&'static str] {
        let subs: &'static [&'static str] = self.subs;
        subs.get(1..).unwrap_or(&[])
    }

    /// The combined sub-order merchants the sandbox presents: the first of
    /// [`combined_with`](Self::combined_with), if any.
    #[must_use]
    pub fn presented_combined_with(&self) -> &'static [&'static str] {
        let with: &'static [&'static str] = self.combined_with;
        with.get(..1).unwrap_or(with)
    }

    /// The shared vectors' combined sub-order merchants (not presented; accepted only when the
    /// sandbox is told to).
    #[must_use]
    pub fn vector_combined_with(&self) -> &'static [&'static str] {
        let with: &'static [&'static str] = self.combined_with;
        with.get(1..).unwrap_or(&[])
    }

    /// The sub-merchants it may act for in a run that accepts the shared vectors' ids
    /// (`accept_vector_ids`, [`SandboxConfig::accept_vector_ids`](crate::SandboxConfig::accept_vector_ids))
    /// or not: all of [`subs`](Self::subs), or only those presented. Either way a prefix of
    /// `subs`, so an index into it is one into [`sub_appids`](Self::sub_appids) too.
    #[must_use]
    pub fn accepted_subs(&self, accept_vector_ids: bool) -> &'static [&'static str] {
        if accept_vector_ids { self.subs } else { self.presented_subs() }
    }

    /// The merchants whose orders it may close in a combined order besides its own, in a run
    /// that accepts the shared vectors' ids or not: all of
    /// [`combined_with`](Self::combined_with), or only those presented.
    #[must_use]
    pub fn accepted_combined_with(&self, accept_vector_ids: bool) -> &'static [&'static str] {
        if accept_vector_ids { self.combined_with } else { self.presented_combined_with() }
    }
}

/// The APIv2 merchants: a common-mode merchant and a service provider (institutional mode)
/// with one sub-merchant. The ids are those of the shared vectors, so they replay as sent;
/// each is used for one role only.
pub const V2_MERCHANTS: &[V2Merchant] = &[
    V2Merchant { mch_id: "10000100", appid: "wx2421b1c4370ec43b", subs: &[] },
    V2Merchant {
        mch_id: "1900000109",
        appid: "wx8888888888888888",
        subs: &[("1900000110", "wx9999999999999999")],
    },
];

/// The APIv3 sub-merchant the sandbox presents for its service provider `1230000109`
/// ([`Merchant::V3Partner`], `WXPAY_SANDBOX_V3_SUB_MCHID`).
pub const V3_SUB_MCHID: &str = "1900000209";

/// The merchant of the second sub-order of the combined orders the sandbox presents (the
/// direct merchant `1900000001` holds the first): `WXPAY_SANDBOX_V3_SUB_ORDER_MCHID`.
pub const V3_SUB_ORDER_MCHID: &str = "1900000309";

/// The APIv3 id of the shared vectors that the sandbox does not present: `1900000109` as the
/// service provider's sub-merchant and as a combined order's sub-order merchant. The vectors
/// sign requests with it, so the sandbox must know it for those requests to replay as sent;
/// but it is the APIv2 service provider's id, so the sandbox presents [`V3_SUB_MCHID`] and
/// [`V3_SUB_ORDER_MCHID`] in those roles instead, and accepts it only when told to
/// ([`SandboxConfig::accept_vector_ids`](crate::SandboxConfig::accept_vector_ids), for
/// replaying recorded vector requests). Otherwise it is refused as WeChat Pay refuses it: as
/// a sub-merchant that is not the service provider's, or a sub-order merchant the merchant
/// does not combine orders for.
pub const V3_VECTOR_SUB_MCHID: &str = "1900000109";

/// The APIv3 merchants: a direct merchant and a service provider with one sub-merchant, as
/// presented; and the shared vectors' sub-merchant ids, accepted only when the sandbox is told
/// to ([`V3_VECTOR_SUB_MCHID`]).
///
/// The service provider's app is `wx7777777777777777`, not the vectors' `wx8888888888888888`
/// (the APIv2 service provider's `appid`, which the APIv2 vectors sign): no APIv3 request
/// carries the `sp_appid`, only query answers name it, so the vectors allow an app of its own.
pub const V3_MERCHANTS: &[V3Merchant] = &[
    V3Merchant {
        mchid: "1900000001",
        appid: "wxd678efh567hg6787",
        subs: &[],
        sub_appids: &[],
        combined_with: &[V3_SUB_ORDER_MCHID, V3_VECTOR_SUB_MCHID],
    },
    V3Merchant {
        mchid: "1230000109",
        appid: "wx7777777777777777",
        subs: &[V3_SUB_MCHID, V3_VECTOR_SUB_MCHID],
        sub_appids: &["wxd678efh567hg7209", "wxd678efh567hg6999"],
        combined_with: &[],
    },
];

pub(crate) fn v2_merchant(mch_id: &str) -> Option<&'static V2Merchant> {
    V2_MERCHANTS.iter().find(|m| m.mch_id == mch_id)
}

pub(crate) fn v3_merchant(mchid: &str) -> Option<&'static V3Merchant> {
    V3_MERCHANTS.iter().find(|m| m.mchid == mchid)
}

/// Which of the sandbox's test merchants a client speaks as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Merchant {
    /// APIv2 common mode: merchant `10000100`.
    V2Common,
    /// APIv2 institutional mode: service provider `1900000109` for sub-merchant `1900000110`.
    V2Institutional,
    /// APIv3 direct merchant `1900000001`.
    V3Direct,
    /// APIv3 service provider `1230000109` for sub-merchant `1900000209`
    /// ([`V3_SUB_MCHID`]).
    V3Partner,
}

impl Merchant {
    /// Every test merchant.
    pub const ALL: [Merchant; 4] =
        [Merchant::V2Common, Merchant::V2Institutional, Merchant::V3Direct, Merchant::V3Partner];

    /// Where the sandbox keeps this merchant's order `out_trade_no`.
    #[must_use]
    pub fn order_key(self, out_trade_no: &str) -> OrderKey {
        match self {
            Merchant::V2Common => OrderKey::new(V2_MERCHANTS[0].mch_id, out_trade_no),
            Merchant::V2Institutional => {
                OrderKey::sub(V2_MERCHANTS[1].mch_id, V2_MERCHANTS[1].subs[0].0, out_trade_no)
            }
            Merchant::V3Direct => OrderKey::new(V3_MERCHANTS[0].mchid, out_trade_no),
            Merchant::V3Partner => {
                OrderKey::sub(V3_MERCHANTS[1].mchid, V3_MERCHANTS[1].subs[0], out_trade_no)
            }
        }
    }

    /// The close call for this merchant's order `out_trade_no` (sub-merchant ids filled in).
    #[must_use]
    pub fn close_order(self, out_trade_no: &str) -> CloseOrder {
        match self {
            Merchant::V2Common => CloseOrderV2::new(out_trade_no).into(),
            Merchant::V2Institutional => {
                let (sub, appid) = V2_MERCHANTS[1].subs[0];
                CloseOrderV2::new(out_trade_no).for_sub_merchant(sub).with_sub_appid(appid).into()
            }
            Merchant::V3Direct => CloseOrderV3::new(out_trade_no).into(),
            Merchant::V3Partner => {
                CloseOrderV3::new(out_trade_no).for_sub_merchant(V3_MERCHANTS[1].subs[0]).into()
            }
        }
    }
}

/// Everything a client needs to talk to a running sandbox.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl Credentials {
    /// The API v2 key.
    ///
    /// # Panics
    /// Never: the constant is a valid key.
    #[must_use]
    pub fn api_v2_key(&self) -> ApiV2Key {
        #[allow(clippy::expect_used)]
        ApiV2Key::new(API_V2_KEY).expect("the sandbox key is 32 characters")
    }

    /// The APIv3 key.
    ///
    /// # Panics
    /// Never: the constant is a valid key.
    #[must_use]
    pub fn api_v3_key(&self) -> wxpay_core::ApiV3Key {
        #[allow(clippy::expect_used)]
        wxpay_core::ApiV3Key::new(API_V3_KEY).expect("the sandbox key is 32 characters")
    }

    /// The merchants' request signer.
    ///
    /// # Panics
    /// Never: the embedded key is valid.
    #[must_use]
    pub fn merchant_signer(&self) -> RsaSigner {
        #[allow(clippy::expect_used)]
        RsaSigner::from_pem(MERCHANT_KEY_PEM).expect("the embedded merchant key loads")
    }

    /// A verifier for the sandbox's answers in public-key mode.
    ///
    /// # Panics
    /// Never: the embedded key is valid.
    #[must_use]
    pub fn public_key_verifier(&self) -> PublicKeyVerifier {
        #[allow(clippy::expect_used)]
        PublicKeyVerifier::from_pem(WECHATPAY_PUBLIC_KEY_ID, WECHATPAY_PUB_PEM)
            .expect("the embedded public key loads")
    }

    /// A client configuration for the sandbox as `merchant`: its base URL, the merchant's
    /// credentials (APIv3 answers verified in either mode, the public key first; the APIv3
    /// key), the sandbox's TLS root when it serves HTTPS. Add settings, then `build()`. A
    /// running sandbox's [`SandboxCredentials::client_config`] follows the merchant's key mode.
    ///
    /// # Panics
    /// Never: the embedded test ids and keys are valid.
    #[must_use]
    pub fn client_config(&self, merchant: Merchant) -> ClientConfigBuilder {
        self.client_config_for(merchant, KeyMode::Both)
    }

    /// [`client_config`](Self::client_config) for a merchant in key mode `keys`: APIv3
    /// answers verified with the public key, the first platform certificate, or both (the
    /// public key first, so it is the key the requests name).
    #[must_use]
    pub fn client_config_for(&self, merchant: Merchant, keys: KeyMode) -> ClientConfigBuilder {
        self.client_config_with(merchant, keys, &[0])
    }

    /// The client configuration, APIv3 answers verified by the keys of mode `keys`: the public
    /// key and the platform certificates `certificates` (indexes into
    /// [`PLATFORM_CERTIFICATES`]).
    fn client_config_with(
        &self,
        merchant: Merchant,
        keys: KeyMode,
        certificates: &[usize],
    ) -> ClientConfigBuilder {
        let mut builder = ClientConfig::builder().base_url(&self.base_url);
        if self.base_url.starts_with("https://") {
            builder = builder.tls_roots_pem(TLS_CA_PEM);
        }
        #[allow(clippy::expect_used)]
        match merchant {
            Merchant::V2Common | Merchant::V2Institutional => {
                let m = &V2_MERCHANTS[usize::from(merchant == Merchant::V2Institutional)];
                let creds = V2Credentials::new(m.appid, m.mch_id, self.api_v2_key())
                    .expect("the sandbox's ids are valid");
                builder.v2(creds)
            }
            Merchant::V3Direct | Merchant::V3Partner => {
                let m = &V3_MERCHANTS[usize::from(merchant == Merchant::V3Partner)];
                let mut verifiers = VerifierSet::new();
                if keys.has_public_key() {
                    verifiers = verifiers.with(self.public_key_verifier());
                }
                if keys.has_certificates() {
                    for i in certificates {
                        let Some((_, pem, _)) = PLATFORM_CERTIFICATES.get(*i) else { continue };
                        let certificate = PlatformCertificateVerifier::from_pem(pem)
                            .expect("the embedded certificate loads");
                        verifiers = verifiers.with(certificate);
                    }
                }
                let creds = V3Credentials::new(
                    m.mchid,
                    MERCHANT_SERIAL_NO,
                    self.merchant_signer(),
                    verifiers,
                )
                .expect("the sandbox's ids are valid")
                .with_api_v3_key(self.api_v3_key());
                builder.v3(creds)
            }
        }
    }

    /// Writes the key files a client reads into `dir` and returns the `WXPAY_*` settings
    /// that name them and the default merchants (APIv2 common mode, APIv3 direct), which the
    /// `wxpay` command reads; then `WXPAY_SANDBOX_*` values for the other merchants, to give
    /// as flags (`--mch-id "$WXPAY_SANDBOX_V2_SP_MCH_ID"` …): the APIv2 service provider's
    /// `appid`, `mch_id` and sub-merchant, the APIv3 service provider and its sub-merchant,
    /// and the merchant of a combined order's second sub-order (`WXPAY_SANDBOX_V3_SUB_ORDER_MCHID`),
    /// every id of one role only. Key material stays in the files; on Unix the private key
    /// and the API keys are readable by their owner only (0600).
    /// The WeChat Pay keys are those of a `both` merchant (the public key and the first
    /// platform certificate); a running sandbox's [`SandboxCredentials::write_key_files`]
    /// follows the direct merchant's key mode.
    ///
    /// # Errors
    /// Any error writing the files.
    pub fn write_key_files(&self, dir: &Path) -> std::io::Result<Vec<(&'static str, String)>> {
        self.write_key_files_for(dir, KeyMode::Both)
    }

    /// [`write_key_files`](Self::write_key_files) for a direct merchant in key mode `keys`:
    /// `WXPAY_PUBLIC_KEY_ID` and `WXPAY_PUBLIC_KEY_FILE` when it has the public key,
    /// `WXPAY_PLATFORM_CERT_FILE` (the first platform certificate) when it has certificates,
    /// and `WXPAY_SANDBOX_V3_KEY_MODE` naming the mode.
    ///
    /// # Errors
    /// Any error writing the files.
    pub fn write_key_files_for(
        &self,
        dir: &Path,
        keys: KeyMode,
    ) -> std::io::Result<Vec<(&'static str, String)>> {
        self.write_key_files_with(dir, keys, 0)
    }

    /// The key files, the platform certificate written being `certificate` (an index into
    /// [`PLATFORM_CERTIFICATES`]).
    fn write_key_files_with(
        &self,
        dir: &Path,
        keys: KeyMode,
        certificate: usize,
    ) -> std::io::Result<Vec<(&'static str, String)>> {
        std::fs::create_dir_all(dir)?;
        let file = |name: &str, content: &str| -> std::io::Result<String> {
            let path = dir.join(name);
            std::fs::write(&path, content)?;
            Ok(path.display().to_string())
        };
        let mut vars = vec![
            ("WXPAY_BASE_URL", self.base_url.clone()),
            ("WXPAY_APPID", V2_MERCHANTS[0].appid.to_owned()),
            ("WXPAY_MCH_ID", V2_MERCHANTS[0].mch_id.to_owned()),
            ("WXPAY_API_V2_KEY_FILE", secret_file(dir, "api_v2_key.txt", API_V2_KEY)?),
            ("WXPAY_API_V3_KEY_FILE", secret_file(dir, "api_v3_key.txt", API_V3_KEY)?),
            ("WXPAY_MCHID", V3_MERCHANTS[0].mchid.to_owned()),
            ("WXPAY_SERIAL_NO", MERCHANT_SERIAL_NO.to_owned()),
            ("WXPAY_PRIVATE_KEY_FILE", secret_file(dir, "apiclient_key.pem", MERCHANT_KEY_PEM)?),
        ];
        if keys.has_public_key() {
            vars.push(("WXPAY_PUBLIC_KEY_ID", WECHATPAY_PUBLIC_KEY_ID.to_owned()));
            vars.push(("WXPAY_PUBLIC_KEY_FILE", file("wechatpay_pub.pem", WECHATPAY_PUB_PEM)?));
        }
        if keys.has_certificates() {
            let (_, pem, _) =
                PLATFORM_CERTIFICATES.get(certificate).unwrap_or(&PLATFORM_CERTIFICATES[0]);
            vars.push(("WXPAY_PLATFORM_CERT_FILE", file("wechatpay_cert.pem", pem)?));
        }
        if self.base_url.starts_with("https://") {
            vars.push(("WXPAY_TLS_ROOTS_FILE", file("tls_ca.pem", TLS_CA_PEM)?));
        }
        vars.extend([
            ("WXPAY_SANDBOX_V2_SP_APPID", V2_MERCHANTS[1].appid.to_owned()),
            ("WXPAY_SANDBOX_V2_SP_MCH_ID", V2_MERCHANTS[1].mch_id.to_owned()),
            ("WXPAY_SANDBOX_V2_SUB_MCH_ID", V2_MERCHANTS[1].subs[0].0.to_owned()),
            ("WXPAY_SANDBOX_V3_SP_MCHID", V3_MERCHANTS[1].mchid.to_owned()),
            ("WXPAY_SANDBOX_V3_SUB_MCHID", V3_MERCHANTS[1].subs[0].to_owned()),
            ("WXPAY_SANDBOX_V3_SUB_ORDER_MCHID", V3_MERCHANTS[0].combined_with[0].to_owned()),
            ("WXPAY_SANDBOX_V3_KEY_MODE", keys.as_str().to_owned()),
        ]);
        Ok(vars)
    }
}

/// What a client needs to talk to a running sandbox ([`Sandbox::credentials`](crate::Sandbox::credentials)),
/// with its APIv3 merchants' key modes and platform certificates as they were when taken:
/// the [`Credentials`] (it derefs to them), whose key files and client configurations
/// follow each merchant's key mode.
#[derive(Debug, Clone)]
pub struct SandboxCredentials {
    credentials: Credentials,
    key_modes: Vec<(&'static str, KeyMode)>,
    /// The listed platform certificates, the one that signs first (indexes into
    /// [`PLATFORM_CERTIFICATES`]).
    certificates: Vec<usize>,
}

impl SandboxCredentials {
    /// The credentials of the sandbox at `base_url`, whose APIv3 merchants are in
    /// `key_modes`, and whose platform certificates `listed` are listed, `signing` signing.
    pub(crate) fn new(
        base_url: String,
        key_modes: Vec<(&'static str, KeyMode)>,
        listed: Vec<usize>,
        signing: usize,
    ) -> Self {
        let mut certificates = vec![signing];
        certificates.extend(listed.into_iter().filter(|i| *i != signing));
        SandboxCredentials { credentials: Credentials { base_url }, key_modes, certificates }
    }

    /// The key mode of `merchant` (an APIv3 merchant's; for a service provider, its own),
    /// `None` for APIv2 merchants.
    #[must_use]
    pub fn key_mode(&self, merchant: Merchant) -> Option<KeyMode> {
        let mchid = match merchant {
            Merchant::V2Common | Merchant::V2Institutional => return None,
            Merchant::V3Direct => V3_MERCHANTS[0].mchid,
            Merchant::V3Partner => V3_MERCHANTS[1].mchid,
        };
        self.key_modes.iter().find(|(m, _)| *m == mchid).map(|(_, k)| *k)
    }

    /// The credentials, whatever the key modes.
    #[must_use]
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A client configuration for the sandbox as `merchant`, as
    /// [`Credentials::client_config`], verifying APIv3 answers with the keys of the
    /// merchant's key mode: the public key, the listed platform certificates (the one that
    /// signs first), or both (the public key first, so it is the key the requests name).
    #[must_use]
    pub fn client_config(&self, merchant: Merchant) -> ClientConfigBuilder {
        let keys = self.key_mode(merchant).unwrap_or_default();
        self.credentials.client_config_with(merchant, keys, &self.certificates)
    }

    /// Writes the key files as [`Credentials::write_key_files`], the WeChat Pay keys being
    /// those of the direct merchant's key mode (the one `WXPAY_MCHID` names): `public-key`
    /// writes `WXPAY_PUBLIC_KEY_ID` and `WXPAY_PUBLIC_KEY_FILE` and no certificate;
    /// `certificates` writes `WXPAY_PLATFORM_CERT_FILE` (the certificate that signs) and no
    /// public key; `both` writes the three. `WXPAY_SANDBOX_V3_KEY_MODE` names the mode.
    ///
    /// # Errors
    /// Any error writing the files.
    pub fn write_key_files(&self, dir: &Path) -> std::io::Result<Vec<(&'static str, String)>> {
        let keys = self.key_mode(Merchant::V3Direct).unwrap_or_default();
        self.credentials.write_key_files_with(dir, keys, self.certificates[0])
    }
}

impl std::ops::Deref for SandboxCredentials {
    type Target = Credentials;

    fn deref(&self) -> &Credentials {
        &self.credentials
    }
}

/// Writes a secret (a private key, an API key) to `dir/name`, readable and writable by its
/// owner only on Unix (0600, also when the file was there before, its mode set before the
/// secret is written), and returns its path.
fn secret_file(dir: &Path, name: &str, content: &str) -> std::io::Result<String> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&path)?;
    #[cfg(unix)]
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(content.as_bytes())?;
    Ok(path.display().to_string())
}
