//! The settings as a library user reads them: variables, a file, key files, and a client
//! configuration that closes an order against the sandbox.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use wxpay_blocking::{Client, CloseOutcome};
use wxpay_sandbox::{Merchant, OrderState, SandboxThread};
use wxpay_settings::{Api, Purpose, Settings, SettingsError, Source};

/// The sandbox's exported settings (`WXPAY_*`), key files written to `dir`.
fn exported(sandbox: &SandboxThread, dir: &Path) -> Vec<(String, String)> {
    let vars = sandbox.credentials().write_key_files(dir).unwrap();
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[test]
fn from_vars_reads_each_setting_by_the_rule_and_nothing_else() {
    let vars: Vec<(String, String)> = Settings::KEYS
        .iter()
        .filter(|k| **k != "config")
        .map(|k| (Settings::env_var(k), format!("value-of-{k}")))
        .chain([
            ("WXPAY_SANDBOX_V3_KEY_MODE".to_owned(), "both".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ])
        .collect();
    let s = Settings::from_vars(vars).unwrap();
    assert_eq!(s.mch_id.as_deref(), Some("value-of-mch_id"));
    assert_eq!(s.mchid.as_deref(), Some("value-of-mchid"));
    assert_eq!(s.api_v2_key_file.as_deref(), Some(Path::new("value-of-api_v2_key_file")));
    assert_eq!(s.tls_roots_file.as_deref(), Some(Path::new("value-of-tls_roots_file")));
    assert_eq!(s.proxy.as_deref(), Some("value-of-proxy"));
    for key in Settings::KEYS.iter().filter(|k| **k != "config") {
        assert_eq!(s.origin.of(key), Some(Source::Env), "{key}");
    }
    // An empty variable, or one that names no setting, is refused (never read as unset).
    let e = Settings::from_vars([("WXPAY_MCH_ID", "")]).unwrap_err();
    assert!(matches!(&e, SettingsError::EmptyVariable { variable } if variable == "WXPAY_MCH_ID"));
    let e = Settings::from_vars([("WXPAY_MCHI", "1")]).unwrap_err();
    assert!(
        matches!(&e, SettingsError::UnknownVariable { suggestion: Some(s), .. } if s == "WXPAY_MCHID"),
        "{e}"
    );
}

#[test]
fn a_text_variable_that_is_not_utf8_is_named() {
    use std::os::unix::ffi::OsStringExt;
    let bad = std::ffi::OsString::from_vec(vec![0x31, 0xff]);
    let err = Settings::from_vars([("WXPAY_MCHID", bad.clone())]).unwrap_err();
    assert_eq!(err.to_string(), "WXPAY_MCHID is not UTF-8");
    // A path may be any bytes.
    let s =
        Settings::from_vars([(std::ffi::OsString::from("WXPAY_PRIVATE_KEY_FILE"), bad)]).unwrap();
    assert!(s.private_key_file.is_some());
}

#[test]
fn the_file_wxpay_config_names_fills_only_whole_groups_the_variables_leave_unset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wxpay.toml");
    std::fs::write(&file, "mch_id = \"from-file\"\nappid = \"wxfile\"\nproxy = \"http://p:1\"\n")
        .unwrap();
    let file = file.to_str().unwrap();
    // The variables give part of the APIv2 merchant: none of the file's joins it.
    let s = Settings::from_vars([("WXPAY_CONFIG", file), ("WXPAY_MCH_ID", "from-env")]).unwrap();
    assert_eq!(s.mch_id.as_deref(), Some("from-env"));
    assert_eq!(s.appid, None);
    assert_eq!(s.proxy.as_deref(), Some("http://p:1"));
    assert_eq!(s.origin.of("proxy"), Some(Source::File));
    // They give none of it: the file's whole group.
    let s = Settings::from_vars([("WXPAY_CONFIG", file), ("WXPAY_MCHID", "1900000001")]).unwrap();
    assert_eq!((s.mch_id.as_deref(), s.appid.as_deref()), (Some("from-file"), Some("wxfile")));
    assert_eq!(s.origin.of("appid"), Some(Source::File));
}

#[test]
fn from_file_takes_relative_key_paths_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    let file = dir.path().join("etc/wxpay.toml");
    let absolute = dir.path().join("abs.pem");
    std::fs::write(
        &file,
        format!(
            "mchid = \"1900000001\"\nprivate_key_file = \"keys/apiclient_key.pem\"\nplatform_cert_file = {:?}\n",
            absolute.to_str().unwrap()
        ),
    )
    .unwrap();
    let s = Settings::from_file(&file).unwrap();
    assert_eq!(s.mchid.as_deref(), Some("1900000001"));
    assert_eq!(s.private_key_file.unwrap(), dir.path().join("etc/keys/apiclient_key.pem"));
    assert_eq!(s.platform_cert_file.unwrap(), absolute);
    assert_eq!(s.origin.of("mchid"), Some(Source::File));
    assert_eq!(s.config, None);
}

#[test]
fn a_file_with_an_unknown_key_or_a_number_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wxpay.toml");
    for (text, says) in [
        ("mch_id = \"1\"\napi_v2_key = \"0123\"\n", "unknown field `api_v2_key`"),
        ("mch_id = 10000100\n", "wxpay.toml:1: invalid type"),
        ("appid = \"wx1\"\n\nmchid = 7\n", "wxpay.toml:3: invalid type"),
        ("config = \"other.toml\"\n", "unknown field `config`"),
        ("mch_id = \n", "wxpay.toml"),
    ] {
        std::fs::write(&file, text).unwrap();
        let err = Settings::from_file(&file).unwrap_err();
        assert!(matches!(err, SettingsError::Toml { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains(says) && shown.contains("wxpay.toml"), "{shown}");
        assert!(!shown.contains("0123"), "no value is shown: {shown}");
    }
    std::fs::write(&file, "private_key_file = \"\"\n").unwrap();
    let err = Settings::from_file(&file).unwrap_err();
    assert!(err.to_string().ends_with("wxpay.toml: `private_key_file` is empty"), "{err}");
    std::fs::write(&file, [0x6d, 0xff]).unwrap();
    let err = Settings::from_file(&file).unwrap_err();
    assert!(err.to_string().contains("the config file is not UTF-8 text"), "{err}");
    let err = Settings::from_file(dir.path().join("none.toml")).unwrap_err();
    assert!(err.to_string().starts_with("cannot read config file "), "{err}");
}

#[test]
fn missing_settings_name_flag_variable_and_config_key_and_the_merchant_id_trap() {
    let s = Settings::from_vars([("WXPAY_MCHID", "1900000001")]).unwrap();
    let err = s.require(Api::V2).unwrap_err().to_string();
    for needed in [
        "APIv2 needs settings that are not set: ",
        "--appid (WXPAY_APPID, or `appid` in --config)",
        "--mch-id (WXPAY_MCH_ID, or `mch_id` in --config)",
        "--api-v2-key-file (WXPAY_API_V2_KEY_FILE, or `api_v2_key_file` in --config)",
        "Note: `mchid` is APIv3's merchant id; APIv2 reads `mch_id`",
    ] {
        assert!(err.contains(needed), "{needed}: {err}");
    }
    let err = Settings::default().require(Api::V3).unwrap_err().to_string();
    assert!(
        err.contains("--serial-no (WXPAY_SERIAL_NO") && err.contains("certificates downloaded")
    );
    assert!(!err.contains("Note"), "{err}");
    // Half a group is an error, not silently dropped.
    let s = Settings::from_vars([("WXPAY_APPID", "wx2421b1c4370ec43b")]).unwrap();
    assert!(matches!(s.v2_credentials(), Err(SettingsError::Missing { api: Api::V2, .. })));
    assert!(matches!(s.client_config(), Err(SettingsError::Missing { .. })));
    assert!(matches!(Settings::default().client_config(), Err(SettingsError::NoCredentials)));
    assert!(Settings::default().v3_credentials().unwrap().is_none());
}

/// Settings of APIv2 with the key in `key`, written to a file.
fn v2_with_key(dir: &Path, key: &[u8]) -> (Settings, std::path::PathBuf) {
    let file = dir.join("key.txt");
    std::fs::write(&file, key).unwrap();
    let s = Settings::from_vars([
        ("WXPAY_APPID", "wx2421b1c4370ec43b"),
        ("WXPAY_MCH_ID", "10000100"),
        ("WXPAY_API_V2_KEY_FILE", file.to_str().unwrap()),
    ])
    .unwrap();
    (s, file)
}

#[test]
fn key_files_errors_name_the_file_and_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "S3cr3tS3cr3tS3cr3tS3cr3t";
    let (s, file) = v2_with_key(dir.path(), format!("{secret}\n").as_bytes());
    let err = s.v2_credentials().unwrap_err();
    assert!(
        matches!(&err, SettingsError::KeyLength { which: "API v2 key", len: 24, path } if *path == file),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.ends_with("key.txt: the API v2 key must be 32 characters, got 24"), "{shown}");
    assert!(!shown.contains(secret) && !format!("{err:?}").contains(secret));
    // A non-UTF-8 key file.
    let (s, _) = v2_with_key(dir.path(), &[0xff; 32]);
    let err = s.v2_credentials().unwrap_err().to_string();
    assert!(err.ends_with("key.txt: the API v2 key file is not UTF-8 text"), "{err}");
    // A control character: its position, not the character.
    let (s, _) = v2_with_key(dir.path(), b"0123456789abcdef\x070123456789abcde");
    let err = s.v2_credentials().unwrap_err().to_string();
    assert!(err.ends_with("must be printable ASCII; character 17 is not"), "{err}");
    // The APIv3 key: its own name, non-UTF-8 bytes as a bad character.
    let v3 = dir.path().join("v3.txt");
    std::fs::write(&v3, "0123456789abcdef\n").unwrap();
    let err = wxpay_settings::api_v3_key(&v3).unwrap_err().to_string();
    assert!(err.ends_with("v3.txt: the APIv3 key must be 32 characters, got 16"), "{err}");
    std::fs::write(&v3, [0xff; 32]).unwrap();
    let err = wxpay_settings::api_v3_key(&v3).unwrap_err().to_string();
    assert!(err.ends_with("v3.txt: the APIv3 key must be printable ASCII; character 1 is not"));
    // PEM files: the file and what is wrong.
    let pem = dir.path().join("apiclient_key.pem");
    std::fs::write(&pem, "not a key").unwrap();
    let err = wxpay_settings::private_key(&pem).unwrap_err().to_string();
    assert!(err.ends_with("apiclient_key.pem: not a PEM document"), "{err}");
    let err = wxpay_settings::public_key("PUB_KEY_ID_1", dir.path().join("absent.pem"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot read public key ") && err.contains("absent.pem"), "{err}");
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::write(certs.join("notes.txt"), "not a certificate, not read").unwrap();
    assert!(wxpay_settings::certificate_dir(&certs).unwrap().is_empty());
    std::fs::write(
        certs.join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = wxpay_settings::certificate_dir(&certs).unwrap_err().to_string();
    assert!(err.contains("bad.pem: "), "{err}");
}

#[test]
fn debug_shows_no_proxy_password() {
    let s = Settings::from_vars([("WXPAY_PROXY", "http://alice:s3cr3t@proxy:3128")]).unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("s3cr3t") && shown.contains("proxy: Some(\"[redacted]\")"), "{shown}");
}

#[test]
fn the_sandbox_exports_make_a_client_that_closes_with_both_api_generations() {
    let sandbox = SandboxThread::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_vars(exported(&sandbox, dir.path())).unwrap();
    let client = Client::new(settings.client_config().unwrap()).unwrap();
    sandbox.put_order(Merchant::V2Common, "settings-v2-1", OrderState::Unpaid);
    sandbox.put_order(Merchant::V3Direct, "settings-v3-1", OrderState::Unpaid);
    let v2 = client.close(wxpay_blocking::v2::CloseOrderV2::new("settings-v2-1")).unwrap();
    assert_eq!(v2, CloseOutcome::Closed);
    let v3 = client.close(wxpay_blocking::v3::CloseOrderV3::new("settings-v3-1")).unwrap();
    assert_eq!(v3, CloseOutcome::Closed);
    // The same from a TOML file of those settings (by absolute paths here).
    let toml: String = exported(&sandbox, dir.path())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("WXPAY_SANDBOX_"))
        .map(|(k, v)| format!("{} = {v:?}\n", k.trim_start_matches("WXPAY_").to_ascii_lowercase()))
        .collect();
    let file = dir.path().join("wxpay.toml");
    std::fs::write(&file, toml).unwrap();
    let config = Settings::from_file(&file).unwrap().client_config().unwrap();
    sandbox.put_order(Merchant::V3Direct, "settings-v3-2", OrderState::Unpaid);
    let v3 =
        Client::new(config).unwrap().close(wxpay_blocking::v3::CloseOrderV3::new("settings-v3-2"));
    assert_eq!(v3.unwrap(), CloseOutcome::Closed);
}

#[test]
fn certificate_mode_with_the_apiv3_key_downloads_and_keeps_the_list() {
    use wxpay_sandbox::{AnswerMode, SandboxConfig};
    let sandbox = SandboxThread::start(SandboxConfig {
        answer_mode: AnswerMode::PlatformCertificate,
        ..SandboxConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // No certificate and no public key: the APIv3 key downloads the list before the close.
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let vars: Vec<(String, String)> = exported(&sandbox, dir.path())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("WXPAY_PUBLIC_KEY") && k != "WXPAY_PLATFORM_CERT_FILE")
        .chain([("WXPAY_PLATFORM_CERT_DIR".to_owned(), certs.display().to_string())])
        .collect();
    let settings = Settings::from_vars(vars).unwrap();
    let setup = settings.client_setup(Purpose::V3).unwrap();
    let loaded = setup.certificates.expect("kept current");
    assert!(loaded.store.is_empty() && loaded.dir.as_deref() == Some(certs.as_path()));
    let config = setup.builder.build().unwrap();
    assert!(config.certificate_refresh().is_some());
    sandbox.put_order(Merchant::V3Direct, "settings-cert-1", OrderState::Unpaid);
    let client = Client::new(config).unwrap();
    let closed = client.close(wxpay_blocking::v3::CloseOrderV3::new("settings-cert-1")).unwrap();
    assert_eq!(closed, CloseOutcome::Closed);
    assert_eq!(sandbox.state().certificate_downloads(), 1);
    assert!(!loaded.store.is_empty(), "the store the setup handed out was refreshed");
    // An APIv2 client of the same settings reads nothing of APIv3.
    let setup = settings.client_setup(Purpose::V2).unwrap();
    assert!(setup.certificates.is_none());
    // The one-call configuration keeps the list current too.
    assert!(settings.client_config().unwrap().certificate_refresh().is_some());
    // Downloading the list once: no refresh of the configuration's own.
    let setup = settings.client_setup(Purpose::DownloadCertificates).unwrap();
    assert!(setup.certificates.is_none());
    assert!(setup.builder.build().unwrap().certificate_refresh().is_none());
}

#[test]
fn an_unknown_endpoint_is_refused_with_a_base_url_too() {
    // It picks the certificate list to download even when a base URL is given.
    let sandbox = SandboxThread::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vars = exported(&sandbox, dir.path())
        .into_iter()
        .chain([("WXPAY_ENDPOINT".to_owned(), "china".to_owned())]);
    let e = Settings::from_vars(vars).unwrap().client_config().unwrap_err();
    assert!(matches!(&e, SettingsError::Endpoint { given } if given == "china"), "{e}");
}

#[test]
fn a_bad_base_url_is_named_as_the_setting_it_is() {
    let sandbox = SandboxThread::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vars = exported(&sandbox, dir.path()).into_iter().map(|(k, v)| {
        if k == "WXPAY_BASE_URL" { (k, "127.0.0.1:38080".to_owned()) } else { (k, v) }
    });
    let e = Settings::from_vars(vars).unwrap().client_config().unwrap_err();
    assert!(matches!(e, SettingsError::Setting { key: "base_url", .. }), "{e}");
    assert!(e.to_string().starts_with("--base-url (WXPAY_BASE_URL"), "{e}");
}
