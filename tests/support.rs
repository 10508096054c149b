//! Shared by the workspace's integration tests: client contexts for the sandbox's merchants
//! and a way to put both clients behind one interface.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use wxpay_core::v2::{SignType, V2Credentials};
use wxpay_core::v3::{PlatformCertificateVerifier, V3Credentials, VerifierSet};
use wxpay_core::{ClientConfig, ClientConfigBuilder, RetryPolicy};
use wxpay_sandbox::merchants::{MERCHANT_SERIAL_NO, V2_MERCHANTS, WECHATPAY_CERT_PEM};
use wxpay_sandbox::{AnswerMode, Credentials};

pub const V2_MCH: &str = "10000100";
pub const V2_SP: &str = "1900000109";
pub const V2_SUB: &str = "1900000110";
pub const V2_SUB_APPID: &str = "wx9999999999999999";
pub const V3_MCH: &str = "1900000001";
pub const V3_SP: &str = "1230000109";
pub const V3_SUB: &str = "1900000109";

fn creds() -> Credentials {
    Credentials { base_url: String::new() }
}

pub fn v2_credentials(mch_id: &str, sign_type: SignType) -> V2Credentials {
    let appid = V2_MERCHANTS.iter().find(|m| m.mch_id == mch_id).unwrap().appid;
    V2Credentials::new(appid, mch_id, creds().api_v2_key()).unwrap().with_sign_type(sign_type)
}

/// APIv3 credentials verifying in `mode` only: the request asks for that key.
pub fn v3_credentials(mchid: &str, mode: AnswerMode) -> V3Credentials {
    let c = creds();
    let verifiers = match mode {
        AnswerMode::PublicKey => VerifierSet::new().with(c.public_key_verifier()),
        AnswerMode::PlatformCertificate => VerifierSet::new()
            .with(PlatformCertificateVerifier::from_pem(WECHATPAY_CERT_PEM).unwrap()),
    };
    V3Credentials::new(mchid, MERCHANT_SERIAL_NO, c.merchant_signer(), verifiers).unwrap()
}

/// A retry policy quick enough for tests.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        deadline: Duration::from_secs(10),
    }
}

/// A configuration builder pointed at `base_url` with quick retries.
pub fn config(base_url: &str) -> ClientConfigBuilder {
    ClientConfig::builder()
        .base_url(base_url)
        .retry(quick_retries())
        .timeout(Duration::from_secs(5))
}
