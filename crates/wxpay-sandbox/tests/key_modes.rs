//! Key modes over real HTTP: which key signs each answer for a `public-key`, `certificates`
//! and `both` merchant, whatever the request's `Wechatpay-Serial` names; the certificate
//! list of a merchant without certificates; a merchant switched mid-run through the control
//! API; rotation while both; and what the credentials export in each mode. Every answer is
//! checked with the core's own verifiers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use wxpay_core::v3::{
    CloseOrderV3, DownloadCertificates, PlatformCertificateVerifier, PublicKeyVerifier,
    V3Credentials, Verifier, VerifierSet, header, verify_response,
};
use wxpay_core::{Attempt, BaseUrl, CloseOutcome, Context, Operation, VerifyError};
use wxpay_sandbox::merchants::{
    MERCHANT_SERIAL_NO, PLATFORM_CERTIFICATES, WECHATPAY_CERT_SERIAL, WECHATPAY_PUBLIC_KEY_ID,
};
use wxpay_sandbox::{
    Credentials, KeyMode, Merchant, OrderKey, OrderState, RotationStep, SandboxConfig,
    SandboxThread,
};

use wxpay_core::unix_now as now;

const V3_MCH: &str = "1900000001";
const V3_SP: &str = "1230000109";

/// The request leaves `Wechatpay-Serial` out, or names this.
#[derive(Clone, Copy)]
enum Asks {
    Nothing,
    PublicKey,
    Certificate(&'static str),
}

struct Fixture {
    sandbox: SandboxThread,
    agent: ureq::Agent,
    base: BaseUrl,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

fn send(agent: &ureq::Agent, req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let resp = agent.run(req).unwrap();
    let (parts, mut body) = resp.into_parts();
    let bytes = body.with_config().limit(4 * 1024 * 1024).read_to_vec().unwrap();
    http::Response::from_parts(parts, bytes)
}

fn creds() -> Credentials {
    Credentials { base_url: String::new() }
}

/// The merchant's context (used to build and sign requests; the answers are verified
/// separately, with the verifier each test names).
fn ctx(mchid: &str) -> Context {
    let verifiers = VerifierSet::new().with(creds().public_key_verifier());
    let v3 = V3Credentials::new(mchid, MERCHANT_SERIAL_NO, creds().merchant_signer(), verifiers)
        .unwrap()
        .with_api_v3_key(creds().api_v3_key());
    Context::new().with_v3(v3)
}

fn certificate(i: usize) -> PlatformCertificateVerifier {
    PlatformCertificateVerifier::from_pem(PLATFORM_CERTIFICATES[i].1).unwrap()
}

fn public_key() -> PublicKeyVerifier {
    creds().public_key_verifier()
}

impl Fixture {
    fn new(keys: KeyMode) -> Self {
        let config = SandboxConfig { min_close_delay_secs: 0, keys, ..SandboxConfig::default() };
        let sandbox = SandboxThread::start(config).unwrap();
        let base = BaseUrl::parse(sandbox.base_url()).unwrap();
        Fixture { sandbox, agent: agent(), base }
    }

    /// Sends `op` as `mchid` built and signed by the core, its `Wechatpay-Serial` as `asks`
    /// says (the header is not covered by the request's signature).
    fn send<O: Operation>(&self, mchid: &str, op: &O, asks: Asks) -> http::Response<Vec<u8>> {
        let nonce = format!("N{}", now());
        let attempt = Attempt::new(&self.base, now(), &nonce);
        let mut req = op.build(&ctx(mchid), &attempt).unwrap();
        let headers = req.headers_mut();
        headers.remove(header::SERIAL);
        match asks {
            Asks::Nothing => {}
            Asks::PublicKey => {
                headers.insert(header::SERIAL, WECHATPAY_PUBLIC_KEY_ID.parse().unwrap());
            }
            Asks::Certificate(serial) => {
                headers.insert(header::SERIAL, serial.parse().unwrap());
            }
        }
        send(&self.agent, req)
    }

    /// Closes a fresh unpaid order of `mchid`'s (direct) or of its sub-merchant (partner).
    fn close(&self, mchid: &str, no: &str, asks: Asks) -> http::Response<Vec<u8>> {
        if mchid == V3_SP {
            let sub = wxpay_sandbox::merchants::V3_MERCHANTS[1].subs[0];
            self.sandbox.state().put_order(OrderKey::sub(mchid, sub, no), OrderState::Unpaid);
            self.send(mchid, &CloseOrderV3::new(no).for_sub_merchant(sub), asks)
        } else {
            self.sandbox.state().put_order(OrderKey::new(mchid, no), OrderState::Unpaid);
            self.send(mchid, &CloseOrderV3::new(no), asks)
        }
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/__sandbox/{path}", self.sandbox.base_url());
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
            .unwrap();
        let resp = send(&self.agent, req);
        (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
    }

    fn set_keys(&self, mchid: &str, mode: &str) -> (u16, Value) {
        self.control("POST", &format!("merchants/{mchid}/keys"), Some(json!({ "mode": mode })))
    }
}

/// The answer's `Wechatpay-Serial`.
fn serial(resp: &http::Response<Vec<u8>>) -> &str {
    resp.headers().get(header::SERIAL).unwrap().to_str().unwrap()
}

/// Whether `verifier` verifies the answer (the core's rule, 5-minute window).
fn verifies(verifier: &dyn Verifier, resp: &http::Response<Vec<u8>>) -> Result<(), VerifyError> {
    verify_response(verifier, resp.headers(), resp.body(), now(), 300)
}

/// Asserts the answer is signed with the public key: it names the key, verifies with it,
/// and a client holding only the certificates cannot verify it.
fn assert_public_key_signed(resp: &http::Response<Vec<u8>>) {
    assert_eq!(serial(resp), WECHATPAY_PUBLIC_KEY_ID);
    verifies(&public_key(), resp).unwrap();
    let certificates = VerifierSet::new().with(certificate(0)).with(certificate(1));
    assert!(matches!(verifies(&certificates, resp), Err(VerifyError::UnknownSerial(_))));
}

/// Asserts the answer is signed with platform certificate `i`: it names it, verifies with
/// it, and a client holding only the public key cannot verify it.
fn assert_certificate_signed(resp: &http::Response<Vec<u8>>, i: usize) {
    assert_eq!(serial(resp), PLATFORM_CERTIFICATES[i].0);
    verifies(&certificate(i), resp).unwrap();
    assert!(matches!(verifies(&public_key(), resp), Err(VerifyError::UnknownSerial(_))));
}

#[test]
fn a_both_merchant_answers_with_the_key_the_request_names_and_else_the_certificate() {
    let f = Fixture::new(KeyMode::Both);
    // No `Wechatpay-Serial` (wechatpayv3 in certificate mode): the certificate signs.
    let resp = f.close(V3_MCH, "both-none-1", Asks::Nothing);
    assert_eq!(resp.status(), 204);
    assert_certificate_signed(&resp, 0);
    assert_eq!(serial(&resp), WECHATPAY_CERT_SERIAL);
    // The public key id: the public key signs.
    let resp = f.close(V3_MCH, "both-pk-1", Asks::PublicKey);
    assert_eq!(resp.status(), 204);
    assert_public_key_signed(&resp);
    // The certificate's serial, and a serial of no key: the certificate.
    let resp = f.close(V3_MCH, "both-cert-1", Asks::Certificate(WECHATPAY_CERT_SERIAL));
    assert_certificate_signed(&resp, 0);
    let resp = f.close(V3_MCH, "both-other-1", Asks::Certificate("PUB_KEY_ID_0000000000000000"));
    assert_certificate_signed(&resp, 0);
    // Error answers too: a not-found close of the service provider, asking for nothing.
    let resp = f.send(
        V3_SP,
        &CloseOrderV3::new("both-missing-1")
            .for_sub_merchant(wxpay_sandbox::merchants::V3_SUB_MCHID),
        Asks::Nothing,
    );
    assert_eq!(resp.status(), 404);
    assert_certificate_signed(&resp, 0);
    // And the list of a both merchant is served, whatever the request names.
    let resp = f.send(V3_MCH, &DownloadCertificates::new(), Asks::PublicKey);
    assert_eq!(resp.status(), 200);
    assert_public_key_signed(&resp);
    let list: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(list["data"][0]["serial_no"], WECHATPAY_CERT_SERIAL);
}

#[test]
fn a_public_key_merchant_has_no_certificate_list_and_signs_every_answer_with_the_public_key() {
    let f = Fixture::new(KeyMode::PublicKey);
    for path in [DownloadCertificates::new(), DownloadCertificates::global()] {
        for asks in [Asks::Nothing, Asks::Certificate(WECHATPAY_CERT_SERIAL)] {
            let resp = f.send(V3_MCH, &path, asks);
            assert_eq!(resp.status(), 404, "{}", path.path());
            let body: Value = serde_json::from_slice(resp.body()).unwrap();
            assert_eq!(body["code"], "RESOURCE_NOT_EXISTS", "{body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
            assert_public_key_signed(&resp);
        }
    }
    assert_eq!(f.sandbox.state().certificate_downloads(), 0, "no list was served");
    // Through the core's own download: a verified API error, not a transport failure.
    let resp = f.send(V3_MCH, &DownloadCertificates::new(), Asks::PublicKey);
    let err = DownloadCertificates::new()
        .parse(&ctx(V3_MCH), &wxpay_core::ReplayGuard::new(), now(), resp)
        .unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!((api.status, api.code.as_str(), api.verified), (404, "RESOURCE_NOT_EXISTS", true));
    // Closes asking for the certificate (or nothing) are answered with the public key.
    let resp = f.close(V3_MCH, "pk-cert-1", Asks::Certificate(WECHATPAY_CERT_SERIAL));
    assert_eq!(resp.status(), 204);
    assert_public_key_signed(&resp);
    let resp = f.close(V3_SP, "pk-none-1", Asks::Nothing);
    assert_eq!(resp.status(), 204);
    assert_public_key_signed(&resp);
}

#[test]
fn a_certificates_merchant_signs_with_the_certificate_even_when_the_public_key_is_asked_for() {
    let f = Fixture::new(KeyMode::Certificates);
    let resp = f.close(V3_MCH, "cert-pk-1", Asks::PublicKey);
    assert_eq!(resp.status(), 204);
    assert_certificate_signed(&resp, 0);
    let resp = f.close(V3_SP, "cert-none-1", Asks::Nothing);
    assert_certificate_signed(&resp, 0);
    // A client that trusts only the public key (the "serial not found" of the move) fails
    // cleanly on it through the core: an unverified answer, not a close.
    let resp = f.close(V3_MCH, "cert-pk-2", Asks::PublicKey);
    let pk_only =
        V3Credentials::new(V3_MCH, MERCHANT_SERIAL_NO, creds().merchant_signer(), public_key())
            .unwrap();
    let outcome = CloseOrderV3::new("cert-pk-2").parse(
        &Context::new().with_v3(pk_only),
        &wxpay_core::ReplayGuard::new(),
        now(),
        resp,
    );
    assert!(outcome.is_err(), "{outcome:?}");
    // Rotation still works: the new certificate signs once switched.
    f.sandbox.state().rotate_certificate(RotationStep::Add).unwrap();
    f.sandbox.state().rotate_certificate(RotationStep::Switch).unwrap();
    let resp = f.close(V3_MCH, "cert-pk-3", Asks::PublicKey);
    assert_certificate_signed(&resp, 1);
    let resp = f.send(V3_MCH, &DownloadCertificates::new(), Asks::PublicKey);
    assert_eq!(resp.status(), 200);
    assert_certificate_signed(&resp, 1);
}

#[test]
fn switching_a_merchant_mid_run_changes_its_next_answer_and_no_other_merchants() {
    let f = Fixture::new(KeyMode::Both);
    assert_certificate_signed(&f.close(V3_MCH, "move-1", Asks::Nothing), 0);
    // The move: the direct merchant now has only the public key.
    let (status, v) = f.set_keys(V3_MCH, "public-key");
    assert_eq!((status, &v), (200, &json!({"mchid": V3_MCH, "mode": "public-key"})));
    assert_public_key_signed(&f.close(V3_MCH, "move-2", Asks::Nothing));
    let list = f.send(V3_MCH, &DownloadCertificates::new(), Asks::Nothing);
    assert_eq!(list.status(), 404);
    // The service provider has not moved.
    assert_certificate_signed(&f.close(V3_SP, "move-3", Asks::Nothing), 0);
    let (_, merchants) = f.control("GET", "merchants", None);
    let modes: Vec<(&str, &str)> = merchants["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["mchid"].as_str().unwrap(), m["key_mode"].as_str().unwrap()))
        .collect();
    assert_eq!(modes, [(V3_MCH, "public-key"), (V3_SP, "both")]);
    // And back to certificates only: the public key is no longer used, even when asked for.
    assert_eq!(f.set_keys(V3_MCH, "certificates").0, 200);
    assert_certificate_signed(&f.close(V3_MCH, "move-4", Asks::PublicKey), 0);
    assert_eq!(f.sandbox.state().key_mode(V3_MCH), KeyMode::Certificates);
    // In-process, as the control API does.
    assert!(f.sandbox.state().set_key_mode(V3_MCH, KeyMode::Both));
    assert_public_key_signed(&f.close(V3_MCH, "move-5", Asks::PublicKey));

    // What the route refuses, saying what it takes.
    let (status, v) = f.set_keys(V3_MCH, "public_key");
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["accepted"], json!(["public-key", "certificates", "both"]));
    let (status, v) = f.set_keys(wxpay_sandbox::merchants::V3_SUB_MCHID, "both");
    assert_eq!(status, 400, "a sub-merchant has the service provider's keys: {v}");
    assert_eq!(v["accepted"], json!([V3_MCH, V3_SP]));
    let (status, v) = f.control("POST", &format!("merchants/{V3_MCH}/keys"), Some(json!({})));
    assert_eq!(status, 400, "{v}");
    let body = json!({"mode": "both", "mchid": V3_SP});
    let (status, v) = f.control("POST", &format!("merchants/{V3_MCH}/keys"), Some(body));
    assert_eq!(status, 400, "the merchant is named by the path only: {v}");
    assert_eq!(f.sandbox.state().key_mode(V3_SP), KeyMode::Both);
    assert_eq!(f.control("POST", "merchants//keys", Some(json!({"mode": "both"}))).0, 404);
    assert_eq!(f.control("GET", &format!("merchants/{V3_MCH}/keys"), None).0, 404);
}

#[test]
fn rotation_while_both_moves_the_unnamed_answers_and_leaves_the_public_key_alone() {
    let f = Fixture::new(KeyMode::Both);
    let state = f.sandbox.state();
    state.rotate_certificate(RotationStep::Add).unwrap();
    // Listed ahead of use: the old one still signs.
    assert_certificate_signed(&f.close(V3_MCH, "rotate-1", Asks::Nothing), 0);
    state.rotate_certificate(RotationStep::Switch).unwrap();
    // The new one signs, whichever certificate the request names, old or new.
    assert_certificate_signed(&f.close(V3_MCH, "rotate-2", Asks::Nothing), 1);
    let old = Asks::Certificate(WECHATPAY_CERT_SERIAL);
    assert_certificate_signed(&f.close(V3_MCH, "rotate-3", old), 1);
    // The new certificate's key is not the old one's: the old certificate cannot verify it.
    let resp = f.close(V3_MCH, "rotate-4", Asks::Nothing);
    let forged_serial = {
        let mut r = http::Response::new(resp.body().clone());
        *r.headers_mut() = resp.headers().clone();
        r.headers_mut().insert(header::SERIAL, WECHATPAY_CERT_SERIAL.parse().unwrap());
        r
    };
    assert_eq!(verifies(&certificate(0), &forged_serial), Err(VerifyError::BadSignature));
    // The public key is untouched by the rotation.
    assert_public_key_signed(&f.close(V3_MCH, "rotate-5", Asks::PublicKey));
    state.rotate_certificate(RotationStep::Retire).unwrap();
    assert_certificate_signed(&f.close(V3_SP, "rotate-6", Asks::Nothing), 1);
    // A client made now trusts the certificate that signs: it closes asking for nothing
    // special (its first key, the public key) and through the certificate.
    let client = wxpay_blocking::Client::new(
        f.sandbox.credentials().client_config(Merchant::V3Direct).build().unwrap(),
    )
    .unwrap();
    f.sandbox.put_order(Merchant::V3Direct, "rotate-7", OrderState::Unpaid);
    assert_eq!(
        client.close(Merchant::V3Direct.close_order("rotate-7")).unwrap(),
        CloseOutcome::Closed
    );
    state.set_key_mode(V3_MCH, KeyMode::Certificates);
    let client = wxpay_blocking::Client::new(
        f.sandbox.credentials().client_config(Merchant::V3Direct).build().unwrap(),
    )
    .unwrap();
    f.sandbox.put_order(Merchant::V3Direct, "rotate-8", OrderState::Unpaid);
    assert_eq!(
        client.close(Merchant::V3Direct.close_order("rotate-8")).unwrap(),
        CloseOutcome::Closed
    );
}

/// The names of the variables `write_key_files` returns.
fn names(vars: &[(&'static str, String)]) -> Vec<&'static str> {
    vars.iter().map(|(k, _)| *k).collect()
}

fn var<'v>(vars: &'v [(&'static str, String)], name: &str) -> Option<&'v str> {
    vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
}

#[test]
fn the_credentials_export_the_keys_of_each_mode_only() {
    let common = [
        "WXPAY_BASE_URL",
        "WXPAY_APPID",
        "WXPAY_MCH_ID",
        "WXPAY_API_V2_KEY_FILE",
        "WXPAY_API_V3_KEY_FILE",
        "WXPAY_MCHID",
        "WXPAY_SERIAL_NO",
        "WXPAY_PRIVATE_KEY_FILE",
    ];
    let sandbox_vars = [
        "WXPAY_SANDBOX_V2_SP_APPID",
        "WXPAY_SANDBOX_V2_SP_MCH_ID",
        "WXPAY_SANDBOX_V2_SUB_MCH_ID",
        "WXPAY_SANDBOX_V3_SP_MCHID",
        "WXPAY_SANDBOX_V3_SUB_MCHID",
        "WXPAY_SANDBOX_V3_SUB_ORDER_MCHID",
        "WXPAY_SANDBOX_V3_KEY_MODE",
    ];
    let public = ["WXPAY_PUBLIC_KEY_ID", "WXPAY_PUBLIC_KEY_FILE"];
    let certificate = ["WXPAY_PLATFORM_CERT_FILE"];
    for (mode, keys) in [
        (KeyMode::PublicKey, &public[..]),
        (KeyMode::Certificates, &certificate[..]),
        (KeyMode::Both, &[public[0], public[1], certificate[0]][..]),
    ] {
        let f = Fixture::new(mode);
        let dir = std::env::temp_dir().join(format!(
            "wxpay-sandbox-keys-{}-{}",
            mode.as_str(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let vars = f.sandbox.credentials().write_key_files(&dir).unwrap();
        let want: Vec<&str> = common.iter().chain(keys).chain(&sandbox_vars).copied().collect();
        assert_eq!(names(&vars), want, "{mode:?}");
        assert_eq!(var(&vars, "WXPAY_SANDBOX_V3_KEY_MODE"), Some(mode.as_str()));
        assert_eq!(dir.join("wechatpay_pub.pem").exists(), mode.has_public_key(), "{mode:?}");
        assert_eq!(dir.join("wechatpay_cert.pem").exists(), mode.has_certificates(), "{mode:?}");
        if let Some(file) = var(&vars, "WXPAY_PLATFORM_CERT_FILE") {
            let pem = std::fs::read_to_string(file).unwrap();
            assert_eq!(
                PlatformCertificateVerifier::from_pem(pem).unwrap().serial(),
                WECHATPAY_CERT_SERIAL
            );
        }
        // The control API says the same, merchant by merchant.
        let (_, creds) = f.control("GET", "credentials", None);
        for m in creds["v3"]["merchants"].as_array().unwrap() {
            assert_eq!(m["key_mode"], mode.as_str(), "{m}");
            assert_eq!(m.get("wechatpay_public_key_pem").is_some(), mode.has_public_key(), "{m}");
            assert_eq!(m.get("wechatpay_cert_pem").is_some(), mode.has_certificates(), "{m}");
        }
        // A client made from the credentials closes in this mode.
        let client = wxpay_blocking::Client::new(
            f.sandbox.credentials().client_config(Merchant::V3Partner).build().unwrap(),
        )
        .unwrap();
        f.sandbox.put_order(Merchant::V3Partner, "export-1", OrderState::Unpaid);
        let outcome = client.close(Merchant::V3Partner.close_order("export-1")).unwrap();
        assert_eq!(outcome, CloseOutcome::Closed, "{mode:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    // The export follows the direct merchant's mode when taken, and the certificate that
    // signs when taken.
    let f = Fixture::new(KeyMode::Both);
    f.sandbox.state().rotate_certificate(RotationStep::Add).unwrap();
    f.sandbox.state().rotate_certificate(RotationStep::Switch).unwrap();
    f.sandbox.state().set_key_mode(V3_MCH, KeyMode::Certificates);
    let taken = f.sandbox.credentials();
    assert_eq!(taken.key_mode(Merchant::V3Direct), Some(KeyMode::Certificates));
    assert_eq!(taken.key_mode(Merchant::V3Partner), Some(KeyMode::Both));
    assert_eq!(taken.key_mode(Merchant::V2Common), None);
    let dir = std::env::temp_dir().join(format!("wxpay-sandbox-keys-moved-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let vars = taken.write_key_files(&dir).unwrap();
    assert!(var(&vars, "WXPAY_PUBLIC_KEY_ID").is_none());
    let pem = std::fs::read_to_string(var(&vars, "WXPAY_PLATFORM_CERT_FILE").unwrap()).unwrap();
    assert_eq!(
        PlatformCertificateVerifier::from_pem(pem).unwrap().serial(),
        PLATFORM_CERTIFICATES[1].0
    );
    let (_, creds) = f.control("GET", "credentials", None);
    assert_eq!(creds["v3"]["merchants"][0]["wechatpay_cert_serial"], PLATFORM_CERTIFICATES[1].0);
    assert!(creds["v3"]["merchants"][0].get("wechatpay_public_key_id").is_none());
    assert_eq!(creds["v3"]["merchants"][1]["wechatpay_public_key_id"], WECHATPAY_PUBLIC_KEY_ID);
    let _ = std::fs::remove_dir_all(&dir);

    // Without a running sandbox, the credentials are a both merchant's, as before.
    let plain = creds_names_without_sandbox();
    assert!(plain.contains(&"WXPAY_PUBLIC_KEY_ID") && plain.contains(&"WXPAY_PLATFORM_CERT_FILE"));
}

fn creds_names_without_sandbox() -> Vec<&'static str> {
    let dir = std::env::temp_dir().join(format!("wxpay-sandbox-keys-plain-{}", std::process::id()));
    let vars = creds().write_key_files(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let only_pk = creds().write_key_files_for(&dir, KeyMode::PublicKey).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(var(&only_pk, "WXPAY_PLATFORM_CERT_FILE").is_none());
    names(&vars)
}

/// The private key and the API keys are written for their owner only (0600), even over files
/// an earlier run left readable; public keys and certificates need no such care.
#[cfg(unix)]
#[test]
fn secret_key_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("wxpay-sandbox-keys-mode-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join("api_v3_key.txt");
    std::fs::write(&stale, "old").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
    let vars = creds().write_key_files(&dir).unwrap();
    for name in ["WXPAY_PRIVATE_KEY_FILE", "WXPAY_API_V2_KEY_FILE", "WXPAY_API_V3_KEY_FILE"] {
        let path = var(&vars, name).unwrap();
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}: {path} is {mode:o}");
    }
    assert_ne!(std::fs::read_to_string(&stale).unwrap(), "old");
    let _ = std::fs::remove_dir_all(&dir);
}
