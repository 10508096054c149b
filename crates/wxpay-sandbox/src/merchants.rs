//! The sandbox's merchants and keys: the shared test keys, never real ones.

use std::fmt::Write as _;
use std::path::Path;

use wxpay_core::ApiV2Key;
use wxpay_core::v3::{PublicKeyVerifier, RsaSigner};

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
    /// Sub-merchants it may act for.
    pub subs: &'static [&'static str],
    /// Merchants whose orders it may close in a combined order besides its own.
    pub combined_with: &'static [&'static str],
}

/// The APIv2 merchants: a common-mode merchant and a service provider (institutional mode)
/// with one sub-merchant. The ids are those of the shared vectors, so they replay as sent.
pub const V2_MERCHANTS: &[V2Merchant] = &[
    V2Merchant { mch_id: "10000100", appid: "wx2421b1c4370ec43b", subs: &[] },
    V2Merchant {
        mch_id: "1900000109",
        appid: "wx8888888888888888",
        subs: &[("1900000110", "wx9999999999999999")],
    },
];

/// The APIv3 merchants: a direct merchant and a service provider with one sub-merchant.
pub const V3_MERCHANTS: &[V3Merchant] = &[
    V3Merchant { mchid: "1900000001", subs: &[], combined_with: &["1900000109"] },
    V3Merchant { mchid: "1230000109", subs: &["1900000109"], combined_with: &[] },
];

pub(crate) fn v2_merchant(mch_id: &str) -> Option<&'static V2Merchant> {
    V2_MERCHANTS.iter().find(|m| m.mch_id == mch_id)
}

pub(crate) fn v3_merchant(mchid: &str) -> Option<&'static V3Merchant> {
    V3_MERCHANTS.iter().find(|m| m.mchid == mchid)
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

    /// Writes the key files a client reads into `dir` and returns `export` lines a shell can
    /// source (`WXPAY_*` variables; the key material stays in the files).
    ///
    /// # Errors
    /// Any error writing the files.
    pub fn write_env(&self, dir: &Path) -> std::io::Result<String> {
        std::fs::create_dir_all(dir)?;
        let key = dir.join("apiclient_key.pem");
        let public = dir.join("wechatpay_pub.pem");
        let cert = dir.join("wechatpay_cert.pem");
        let v2_key = dir.join("api_v2_key.txt");
        std::fs::write(&key, MERCHANT_KEY_PEM)?;
        std::fs::write(&public, WECHATPAY_PUB_PEM)?;
        std::fs::write(&cert, WECHATPAY_CERT_PEM)?;
        std::fs::write(&v2_key, API_V2_KEY)?;
        let mut out = String::new();
        let mut line = |k: &str, v: &str| {
            let _ = writeln!(out, "export {k}={v}");
        };
        line("WXPAY_BASE_URL", &self.base_url);
        line("WXPAY_APPID", V2_MERCHANTS[0].appid);
        line("WXPAY_MCH_ID", V2_MERCHANTS[0].mch_id);
        line("WXPAY_API_V2_KEY_FILE", &v2_key.display().to_string());
        line("WXPAY_MCHID", V3_MERCHANTS[0].mchid);
        line("WXPAY_SERIAL_NO", MERCHANT_SERIAL_NO);
        line("WXPAY_PRIVATE_KEY_FILE", &key.display().to_string());
        line("WXPAY_PUBLIC_KEY_ID", WECHATPAY_PUBLIC_KEY_ID);
        line("WXPAY_PUBLIC_KEY_FILE", &public.display().to_string());
        line("WXPAY_PLATFORM_CERT_FILE", &cert.display().to_string());
        line("WXPAY_SP_MCHID", V3_MERCHANTS[1].mchid);
        line("WXPAY_SUB_MCHID", V3_MERCHANTS[1].subs[0]);
        if self.base_url.starts_with("https://") {
            let roots = dir.join("tls_ca.pem");
            std::fs::write(&roots, TLS_CA_PEM)?;
            line("WXPAY_TLS_ROOTS_FILE", &roots.display().to_string());
        }
        Ok(out)
    }
}
