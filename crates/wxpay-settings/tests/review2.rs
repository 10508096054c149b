//! Review 2: attacks on the fixes of review 1 (settings groups, WXPAY_CONFIG, variable
//! checks, certificate directory owners). Each test asserts the behaviour as it is NOW, so
//! that it passes and documents the finding; the comment says what it should be.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use wxpay_sandbox::merchants::{MERCHANT_KEY_PEM, MERCHANT_SERIAL_NO, WECHATPAY_CERT_PEM};
use wxpay_settings::{Settings, SettingsError, Source};

/// Settings as the command makes them: each value with its source.
fn with(pairs: &[(&str, &str, Source)]) -> Settings {
    let mut s = Settings::default();
    for (key, value, source) in pairs {
        match *key {
            "config" => s.config = Some(PathBuf::from(value)),
            "base_url" => s.base_url = Some((*value).to_owned()),
            "endpoint" => s.endpoint = Some((*value).to_owned()),
            "mchid" => s.mchid = Some((*value).to_owned()),
            "serial_no" => s.serial_no = Some((*value).to_owned()),
            "private_key_file" => s.private_key_file = Some(PathBuf::from(value)),
            "platform_cert_dir" => s.platform_cert_dir = Some(PathBuf::from(value)),
            "api_v3_key_file" => s.api_v3_key_file = Some(PathBuf::from(value)),
            "proxy" => s.proxy = Some((*value).to_owned()),
            "tls_roots_file" => s.tls_roots_file = Some(PathBuf::from(value)),
            other => panic!("{other}: add it"),
        }
        s.origin.set(*key, *source);
    }
    s
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// R2-1. An explicit --config that moves the destination set the environment's credentials
/// aside but kept its proxy and TLS roots, chosen for the environment's destination (after
/// `wxpay sandbox --tls`'s exports, production was tried with the sandbox's CA only). Fixed:
/// they stay with it. Still so: a WXPAY_CONFIG file's proxy / TLS roots join the
/// environment's settings one by one (whoever writes that file controls them anyway).
#[test]
fn proxy_and_tls_roots_cross_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let prod = write(dir.path(), "prod.toml", "mchid = \"1230000001\"\nserial_no = \"AB\"\n");
    let s = with(&[
        ("config", &prod, Source::Flag),
        ("base_url", "https://127.0.0.1:8443", Source::Env),
        ("mchid", "1900000001", Source::Env),
        ("tls_roots_file", "/tmp/sandbox-keys/tls_ca.pem", Source::Env),
        ("proxy", "http://127.0.0.1:8888", Source::Env),
    ])
    .resolve()
    .unwrap();
    assert_eq!(s.base_url, None, "the environment's destination is set aside");
    assert_eq!(s.mchid.as_deref(), Some("1230000001"));
    // Fixed: its TLS trust and its proxy stay with it.
    assert_eq!(s.tls_roots_file, None);
    assert_eq!(s.proxy, None);

    // WXPAY_CONFIG: a dev file's proxy and TLS roots under production variables (no
    // destination in either): filled, no CrossedDestination.
    let dev = write(
        dir.path(),
        "dev.toml",
        "proxy = \"http://127.0.0.1:8888\"\ntls_roots_file = \"mitm-ca.pem\"\n",
    );
    let s = with(&[
        ("config", &dev, Source::Env),
        ("mchid", "1230000001", Source::Env),
        ("serial_no", "AB", Source::Env),
    ])
    .resolve()
    .unwrap();
    assert_eq!(s.proxy.as_deref(), Some("http://127.0.0.1:8888"));
    assert_eq!(s.tls_roots_file.as_deref(), Some(dir.path().join("mitm-ca.pem").as_path()));
    assert_eq!(s.destination(), "mainland");
}

/// R2-2. A flag of the destination group did not set the other sources' destination aside:
/// `--endpoint mainland` with a --config (or a WXPAY_BASE_URL) naming a base URL still sent
/// to the base URL. Fixed: the flag wins.
#[test]
fn an_endpoint_flag_wins_over_a_base_url_of_lower_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let dev = write(dir.path(), "dev.toml", "base_url = \"http://127.0.0.1:9\"\n");
    let s = with(&[("config", &dev, Source::Flag), ("endpoint", "mainland", Source::Flag)])
        .resolve()
        .unwrap();
    assert_eq!(s.destination(), "mainland", "the flag said mainland");
    // No file at all: the environment's base URL against the flag.
    let s = with(&[
        ("base_url", "http://127.0.0.1:9", Source::Env),
        ("endpoint", "hongkong", Source::Flag),
    ])
    .resolve()
    .unwrap();
    assert_eq!(s.destination(), "hongkong", "the flag said hongkong");
    assert_eq!(s.base_url, None);
}

/// R2-3. One flag of a group sets a WXPAY_CONFIG file's whole group aside (a merchant's
/// credentials come from one place): README's `wxpay close --platform-cert-dir certs/
/// --api-v3-key-file api_v3_key.txt ORDER` with the merchant in WXPAY_CONFIG's file. The
/// error said only "not set"; it now names what the file gave and why it was set aside.
#[test]
fn one_flag_sets_the_wxpay_config_file_s_group_aside_and_the_error_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "prod.toml",
        "mchid = \"1230000001\"\nserial_no = \"AB\"\nprivate_key_file = \"apiclient_key.pem\"\n",
    );
    let s = with(&[
        ("config", &file, Source::Env),
        ("platform_cert_dir", "certs", Source::Flag),
        ("api_v3_key_file", "api_v3_key.txt", Source::Flag),
    ])
    .resolve()
    .unwrap();
    assert_eq!(s.mchid, None);
    assert_eq!(s.origin.set_aside(), ["mchid", "serial_no", "private_key_file"]);
    let e = s.require(wxpay_settings::Api::V3).unwrap_err().to_string();
    assert!(e.contains("needs settings that are not set"), "{e}");
    assert!(
        e.contains(
            "The file WXPAY_CONFIG names gives mchid, serial_no, private_key_file, set aside"
        ),
        "{e}"
    );
}

/// R2-4. The variable check was case-sensitive: `wxpay_base_url` was neither read (on Unix)
/// nor refused, leaving the destination at WeChat Pay itself. Refused now.
#[test]
fn a_lower_case_variable_is_refused_as_a_misspelling() {
    for name in ["wxpay_base_url", "Wxpay_Base_Url"] {
        let e = Settings::check_vars([(name, "http://127.0.0.1:8080")]).unwrap_err();
        assert!(
            matches!(&e, SettingsError::UnknownVariable { suggestion: Some(s), .. } if s == "WXPAY_BASE_URL"),
            "{e}"
        );
        assert!(Settings::from_vars([(name, "http://127.0.0.1:8080")]).is_err());
    }
}

/// A certificate directory holding the sandbox's platform certificate, and APIv3 settings
/// of merchant `mchid` at `destination` (a base URL, or an endpoint name).
fn v3(dir: &Path, mchid: &str, destination: &str) -> Settings {
    let key = dir.join("apiclient_key.pem");
    std::fs::write(&key, MERCHANT_KEY_PEM).unwrap();
    let mut s = Settings::default();
    s.mchid = Some(mchid.to_owned());
    s.serial_no = Some(MERCHANT_SERIAL_NO.to_owned());
    s.private_key_file = Some(key);
    s.platform_cert_dir = Some(dir.join("certs"));
    if destination.contains("://") {
        s.base_url = Some(destination.to_owned());
    } else {
        s.endpoint = Some(destination.to_owned());
    }
    s
}

/// R2-5. A directory without an owner file (what the review-1 F2 bug could leave in a
/// production directory: the sandbox's certificate, whose key is public) was trusted by
/// anyone. Refused now until claimed (`wxpay certificates --out DIR` checks and claims it).
#[test]
fn a_directory_without_an_owner_file_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::write(dir.path().join("certs/SANDBOX.pem"), WECHATPAY_CERT_PEM).unwrap();
    let prod = v3(dir.path(), "1230000001", "mainland");
    let e = prod.v3_credentials().unwrap_err();
    assert!(matches!(e, SettingsError::UnclaimedCertificates { .. }), "{e}");
    assert!(e.to_string().contains("wxpay certificates --out"), "{e}");
    // Claimed by its merchant: trusted.
    let owner = wxpay_settings::certificate_owner("1230000001", "mainland");
    wxpay_settings::claim_dir(dir.path().join("certs"), &owner).unwrap();
    assert!(prod.v3_credentials().unwrap().is_some());
    // An empty unclaimed directory is fine (certificates are downloaded into it).
    let empty = tempfile::tempdir().unwrap();
    wxpay_settings::check_owner(empty.path(), &owner).unwrap();
}

/// R2-6 (legitimate setups refused). The owner named the destination as typed: WeChat Pay's
/// primary host given as a base URL was not `mainland`, nor the same URL in another case or
/// with its default port. Compared as endpoints now. A sandbox restarted on another port
/// stays another owner (a loopback port is all that tells two servers apart).
#[test]
fn the_same_destination_spelt_another_way_is_the_same_owner() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::write(
        dir.path().join("certs/5157F09EFDC096DE15EBE81A47057A7232F1B8E1.pem"),
        WECHATPAY_CERT_PEM,
    )
    .unwrap();
    let owner = wxpay_settings::certificate_owner("1230000001", "mainland");
    wxpay_settings::claim_dir(dir.path().join("certs"), &owner).unwrap();
    for same in [
        "https://api.mch.weixin.qq.com",
        "https://API.mch.weixin.qq.com/",
        "https://api.mch.weixin.qq.com:443",
        "https://api2.mch.weixin.qq.com",
    ] {
        v3(dir.path(), "1230000001", same).v3_credentials().unwrap();
    }
    for other in ["hongkong", "https://apihk.mch.weixin.qq.com", "https://gateway.example:8443"] {
        let e = v3(dir.path(), "1230000001", other).v3_credentials().unwrap_err();
        assert!(matches!(e, SettingsError::CertificatesOfAnother { .. }), "{other}: {e}");
    }
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir2.path().join("certs")).unwrap();
    std::fs::write(dir2.path().join("certs/S.pem"), WECHATPAY_CERT_PEM).unwrap();
    let sandbox = wxpay_settings::certificate_owner("1900000001", "http://127.0.0.1:41001");
    wxpay_settings::claim_dir(dir2.path().join("certs"), &sandbox).unwrap();
    v3(dir2.path(), "1900000001", "http://127.0.0.1:41001/").v3_credentials().unwrap();
    v3(dir2.path(), "1900000001", "HTTP://127.0.0.1:41001").v3_credentials().unwrap();
    let e = v3(dir2.path(), "1900000001", "http://127.0.0.1:41002").v3_credentials().unwrap_err();
    assert!(matches!(e, SettingsError::CertificatesOfAnother { .. }), "{e}");
}
