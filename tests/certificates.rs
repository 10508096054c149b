//! Platform-certificate mode with automatic download and rotation, through both clients,
//! against the sandbox rotating its certificate as WeChat Pay does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wxpay_core::v3::{CloseOrderV3, PlatformCertificates, V3Credentials};
use wxpay_core::{
    CertificateRefresh, ClientConfig, CloseOrder, CloseOutcome, Error, ErrorKind, OrderEffect,
    VerifyError,
};
use wxpay_integration_tests::*;
use wxpay_sandbox::merchants::{MERCHANT_SERIAL_NO, PLATFORM_CERTIFICATES};
use wxpay_sandbox::{
    AnswerMode, Fault, FaultRule, OrderKey, OrderState, RotationStep, Route, SandboxConfig,
    SandboxThread,
};

fn sandbox() -> SandboxThread {
    SandboxThread::start(SandboxConfig {
        answer_mode: AnswerMode::PlatformCertificate,
        ..SandboxConfig::default()
    })
    .unwrap()
}

/// A client configuration in certificate mode whose certificates are all downloaded.
fn config_with(
    sandbox: &SandboxThread,
    store: &PlatformCertificates,
    every: Duration,
) -> ClientConfig {
    let c = sandbox.credentials();
    let creds = V3Credentials::new(V3_MCH, MERCHANT_SERIAL_NO, c.merchant_signer(), store.clone())
        .unwrap()
        .with_api_v3_key(c.api_v3_key());
    config(sandbox.base_url())
        .v3(creds)
        .refresh_certificates(store.clone(), CertificateRefresh::every(every))
        .build()
        .unwrap()
}

/// Closes through one client of either kind, made once.
struct Closer {
    blocking: Option<wxpay_blocking::Client>,
    asynchronous: Option<(wxpay_async::Client, tokio::runtime::Runtime)>,
}

impl Closer {
    fn new(blocking: bool, config: ClientConfig) -> Closer {
        if blocking {
            Closer {
                blocking: Some(wxpay_blocking::Client::new(config).unwrap()),
                asynchronous: None,
            }
        } else {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            Closer {
                blocking: None,
                asynchronous: Some((wxpay_async::Client::new(config).unwrap(), rt)),
            }
        }
    }

    fn session(&self) -> &wxpay_core::Session {
        match (&self.blocking, &self.asynchronous) {
            (Some(c), _) => c.session(),
            (None, Some((c, _))) => c.session(),
            _ => unreachable!(),
        }
    }

    fn close(&self, op: impl Into<CloseOrder>) -> Result<CloseOutcome, Error> {
        match (&self.blocking, &self.asynchronous) {
            (Some(c), _) => c.close(op),
            (None, Some((c, rt))) => rt.block_on(c.close(op)),
            _ => unreachable!(),
        }
    }
}

fn order(sandbox: &SandboxThread, no: &str) -> CloseOrderV3 {
    sandbox.state().put_order(OrderKey::new(V3_MCH, no), OrderState::Unpaid);
    CloseOrderV3::new(no)
}

#[test]
fn clients_keep_closing_while_the_platform_certificate_rotates() {
    for blocking in [true, false] {
        let sandbox = sandbox();
        // An empty store: the first list verifies with the certificate inside it.
        let store = PlatformCertificates::new();
        let client =
            Closer::new(blocking, config_with(&sandbox, &store, Duration::from_millis(100)));
        for i in 0..36 {
            match i {
                6 => sandbox.state().rotate_certificate(RotationStep::Add).unwrap(),
                16 => sandbox.state().rotate_certificate(RotationStep::Switch).unwrap(),
                26 => sandbox.state().rotate_certificate(RotationStep::Retire).unwrap(),
                _ => {}
            }
            let no = format!("rotate-{blocking}-{i:03}");
            assert_eq!(
                client.close(order(&sandbox, &no)).unwrap(),
                CloseOutcome::Closed,
                "blocking={blocking} {no}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
        assert!(store.knows(PLATFORM_CERTIFICATES[1].0), "the new certificate was downloaded");
        let (listed, signing) = sandbox.state().platform_certificates();
        assert_eq!((listed, signing), (vec![1], 1));
        assert!(sandbox.state().certificate_downloads() >= 3, "refreshed as it went");
    }
}

#[test]
fn an_unknown_serial_refreshes_once_and_the_close_is_made_again() {
    for blocking in [true, false] {
        let sandbox = sandbox();
        let store = PlatformCertificates::new();
        // No periodic refresh within the test: only the first call's.
        let client =
            Closer::new(blocking, config_with(&sandbox, &store, Duration::from_secs(11 * 3600)));
        assert_eq!(client.close(order(&sandbox, "unknown-0001")).unwrap(), CloseOutcome::Closed);
        assert_eq!(sandbox.state().certificate_downloads(), 1);
        sandbox.state().rotate_certificate(RotationStep::Add).unwrap();
        sandbox.state().rotate_certificate(RotationStep::Switch).unwrap();
        // Signed by a certificate the client has not seen: one refresh, then the close again,
        // whose verified answer says what the first (unbelieved) one did: already closed.
        let again = client.close(order(&sandbox, "unknown-0002")).unwrap();
        assert_eq!(again, CloseOutcome::AlreadyClosed);
        assert_eq!(sandbox.state().certificate_downloads(), 2);
        let o = sandbox.state().order(&OrderKey::new(V3_MCH, "unknown-0002")).unwrap();
        assert_eq!((o.close_calls, o.closes), (2, 1));
        assert_eq!(client.close(order(&sandbox, "unknown-0003")).unwrap(), CloseOutcome::Closed);
        assert_eq!(sandbox.state().certificate_downloads(), 2, "known now: no refresh");
    }
}

#[test]
fn a_forged_serial_triggers_at_most_one_refresh_per_interval() {
    for blocking in [true, false] {
        let sandbox = sandbox();
        let store = PlatformCertificates::new();
        let client =
            Closer::new(blocking, config_with(&sandbox, &store, Duration::from_secs(11 * 3600)));
        assert_eq!(client.close(order(&sandbox, "forged-0000")).unwrap(), CloseOutcome::Closed);
        sandbox.state().add_fault(FaultRule::always(Fault::ForgedSerial).on(Route::V3Direct));
        for i in 1..=8 {
            let err = client.close(order(&sandbox, &format!("forged-{i:04}"))).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Verify(VerifyError::UnknownSerial(_))),
                "{err:?}"
            );
            assert_eq!(err.order_effect(), OrderEffect::Unknown, "never believed: {err}");
        }
        assert_eq!(
            sandbox.state().certificate_downloads(),
            2,
            "the first download and one refresh"
        );
    }
}

#[test]
fn a_failed_refresh_keeps_the_current_certificates() {
    let sandbox = sandbox();
    let store = PlatformCertificates::new();
    let client = Closer::new(true, config_with(&sandbox, &store, Duration::from_millis(50)));
    assert_eq!(client.close(order(&sandbox, "keep-0000")).unwrap(), CloseOutcome::Closed);
    let known = store.certificates().len();
    sandbox.state().add_fault(FaultRule::always(Fault::SystemError).on(Route::V3Certificates));
    for i in 1..=5 {
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            client.close(order(&sandbox, &format!("keep-{i:04}"))).unwrap(),
            CloseOutcome::Closed
        );
    }
    assert_eq!(store.certificates().len(), known);
    assert_eq!(sandbox.state().certificate_downloads(), 1, "every later list failed");
}

#[test]
fn refreshing_needs_the_api_v3_key_and_an_interval_under_12_hours() {
    let sandbox = sandbox();
    let c = sandbox.credentials();
    let store = PlatformCertificates::new();
    let creds =
        V3Credentials::new(V3_MCH, MERCHANT_SERIAL_NO, c.merchant_signer(), store.clone()).unwrap();
    let err = config(sandbox.base_url())
        .v3(creds.clone())
        .refresh_certificates(store.clone(), CertificateRefresh::default())
        .build()
        .unwrap_err();
    assert_eq!(err, wxpay_core::InvalidInput::MissingApiV3Key);
    let err = config(sandbox.base_url())
        .v3(creds.with_api_v3_key(c.api_v3_key()))
        .refresh_certificates(store, CertificateRefresh::every(Duration::from_secs(12 * 3600)))
        .build()
        .unwrap_err();
    assert!(matches!(err, wxpay_core::InvalidInput::OutOfRange { .. }), "{err}");
}

#[test]
fn concurrent_first_calls_wait_for_the_first_list_instead_of_failing() {
    let sandbox = sandbox();
    let store = PlatformCertificates::new();
    let client =
        wxpay_async::Client::new(config_with(&sandbox, &store, Duration::from_secs(3600))).unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let op = order(&sandbox, &format!("first-list-{i:03}"));
                let client = client.clone();
                tokio::spawn(async move { client.close(op).await })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        results
    });
    for r in results {
        assert_eq!(r.unwrap(), CloseOutcome::Closed);
    }
    assert_eq!(sandbox.state().certificate_downloads(), 1, "one list for all of them");
}

/// A client whose refresh backs off `retry_after` after a failure (and between forced ones).
fn config_backing_off(
    sandbox: &SandboxThread,
    store: &PlatformCertificates,
    retry_after: Duration,
) -> ClientConfig {
    let c = sandbox.credentials();
    let creds = V3Credentials::new(V3_MCH, MERCHANT_SERIAL_NO, c.merchant_signer(), store.clone())
        .unwrap()
        .with_api_v3_key(c.api_v3_key());
    let refresh = CertificateRefresh::every(Duration::from_secs(3600)).retry_after(retry_after);
    config(sandbox.base_url())
        .v3(creds)
        .refresh_certificates(store.clone(), refresh)
        .build()
        .unwrap()
}

#[test]
fn failed_downloads_back_off_and_recover_within_the_back_off_not_the_interval() {
    for blocking in [true, false] {
        let sandbox = sandbox();
        let store = PlatformCertificates::new();
        let retry_after = Duration::from_millis(300);
        let client = Closer::new(blocking, config_backing_off(&sandbox, &store, retry_after));
        assert_eq!(client.close(order(&sandbox, "recover-0000")).unwrap(), CloseOutcome::Closed);
        assert_eq!(sandbox.state().certificate_downloads(), 1);
        // WeChat Pay switches to a certificate the client has not seen, while the list fails.
        sandbox.state().rotate_certificate(RotationStep::Add).unwrap();
        sandbox.state().rotate_certificate(RotationStep::Switch).unwrap();
        sandbox.state().add_fault(FaultRule::always(Fault::SystemError).on(Route::V3Certificates));
        let unknown = |no: &str| {
            let err = client.close(order(&sandbox, no)).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Verify(VerifyError::UnknownSerial(_))),
                "blocking={blocking} {no}: {err:?}"
            );
            assert_eq!(err.order_effect(), OrderEffect::Unknown);
        };
        unknown("recover-0001"); // forces a refresh, which fails
        unknown("recover-0002"); // within the back-off: no download
        std::thread::sleep(retry_after + Duration::from_millis(50));
        unknown("recover-0003"); // a second forced refresh, which fails too; the back-off doubles
        std::thread::sleep(retry_after + Duration::from_millis(50));
        unknown("recover-0004"); // still within the doubled back-off
        // The list is served again: the next forced refresh (after the doubled back-off, long
        // before the hour's interval) brings the new certificate, and closing goes on.
        sandbox.state().clear_faults();
        std::thread::sleep(retry_after + Duration::from_millis(100));
        assert_eq!(
            client.close(order(&sandbox, "recover-0005")).unwrap(),
            CloseOutcome::AlreadyClosed,
            "blocking={blocking}: the first (unbelieved) answer closed it, the second says so"
        );
        assert!(store.knows(PLATFORM_CERTIFICATES[1].0));
        assert_eq!(client.close(order(&sandbox, "recover-0006")).unwrap(), CloseOutcome::Closed);
    }
}

#[test]
fn requests_name_the_store_s_newest_certificate_and_follow_a_rotation() {
    use wxpay_core::v3::{DownloadCertificates, PlatformCertificate};
    use wxpay_core::{Attempt, BaseUrl, Context, Operation};
    let sandbox = sandbox();
    let c = sandbox.credentials();
    let old = PlatformCertificate::from_pem(PLATFORM_CERTIFICATES[0].1).unwrap();
    let new = PlatformCertificate::from_pem(PLATFORM_CERTIFICATES[1].1).unwrap();
    let store = PlatformCertificates::from_certificates([old.clone()]);
    let creds = V3Credentials::new(V3_MCH, MERCHANT_SERIAL_NO, c.merchant_signer(), store.clone())
        .unwrap()
        .with_api_v3_key(c.api_v3_key());
    let ctx = Context::new().with_v3(creds);
    let base = BaseUrl::parse(sandbox.base_url()).unwrap();
    let named = |now: u64| {
        let attempt = Attempt::new(&base, now, "0123456789ABCDEF0123456789ABCDEF");
        let request = CloseOrderV3::new("serial-0001").build(&ctx, &attempt).unwrap();
        let download = DownloadCertificates::new().build(&ctx, &attempt).unwrap();
        assert_eq!(request.headers()["wechatpay-serial"], download.headers()["wechatpay-serial"]);
        request.headers()["wechatpay-serial"].to_str().unwrap().to_owned()
    };
    let now = wxpay_core::unix_now();
    assert_eq!(named(now), old.serial());
    // A newer list holds both: requests name the newer, valid now.
    assert!(new.validity().0 <= now && now <= new.validity().1, "the test certificate is valid");
    assert_eq!(store.update(vec![old.clone(), new.clone()], now), 1);
    assert_eq!(named(now), new.serial());
    // The next list no longer holds the old one: dropped (it is not expired, just retired).
    assert_eq!(store.update(vec![new.clone()], now), 0);
    assert!(!store.knows(old.serial()) && store.knows(new.serial()));
    assert_eq!(named(now), new.serial());
}

#[test]
fn a_certificate_listed_before_its_start_is_kept_until_it_starts() {
    let old = wxpay_core::v3::PlatformCertificate::from_pem(PLATFORM_CERTIFICATES[0].1).unwrap();
    let new = wxpay_core::v3::PlatformCertificate::from_pem(PLATFORM_CERTIFICATES[1].1).unwrap();
    let store = PlatformCertificates::new();
    // A moment before the new one starts, while the old one is valid.
    let (new_from, _) = new.validity();
    let before = new_from - 1;
    assert!(old.validity().0 <= before && before <= old.validity().1, "the fixtures overlap");
    assert_eq!(store.update(vec![old.clone(), new.clone()], before), 2);
    assert!(store.knows(new.serial()), "kept for later, not filtered out");
    use wxpay_core::v3::Verifier;
    // Requests still name the one valid now.
    assert_eq!(store.preferred_serial().as_deref(), Some(old.serial()));
    // It verifies nothing before its start.
    assert!(matches!(
        store.verify(new.serial(), b"m", b"s", before),
        Err(VerifyError::CertificateNotValidNow { .. })
    ));
}

#[test]
fn a_wrong_api_v3_key_is_named_in_the_close_error() {
    for blocking in [true, false] {
        let sandbox = sandbox();
        let c = sandbox.credentials();
        let store = PlatformCertificates::new();
        let wrong = wxpay_core::ApiV3Key::new("WrongApiV3Key0123456789abcdefghi").unwrap();
        let creds =
            V3Credentials::new(V3_MCH, MERCHANT_SERIAL_NO, c.merchant_signer(), store.clone())
                .unwrap()
                .with_api_v3_key(wrong);
        let config = config(sandbox.base_url())
            .v3(creds)
            .refresh_certificates(store.clone(), CertificateRefresh::default())
            .build()
            .unwrap();
        let client = Closer::new(blocking, config);
        let err = client.close(order(&sandbox, "wrong-key-0001")).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Verify(VerifyError::UnknownSerial(_))), "{err:?}");
        let cause = err.refresh_failure().expect("the refresh's failure is named");
        assert!(cause.contains("wrong APIv3 key"), "{cause}");
        assert!(err.to_string().contains("could not be refreshed"), "{err}");
        assert!(err.to_string().contains("wrong APIv3 key"), "{err}");
        assert!(!cause.starts_with("order state"), "no order is involved in a download: {cause}");
        assert_eq!(err.order_effect(), OrderEffect::Unknown, "the close was sent: {err}");
    }
}

#[test]
fn certificate_mode_is_one_call_and_the_public_key_can_join_it() {
    for blocking in [true, false] {
        let sandbox = sandbox();
        let c = sandbox.credentials();
        // One call: an empty store, the APIv3 key, kept current by the client.
        let creds = V3Credentials::certificate_mode(
            V3_MCH,
            MERCHANT_SERIAL_NO,
            c.merchant_signer(),
            c.api_v3_key(),
        )
        .unwrap();
        let client =
            Closer::new(blocking, config(sandbox.base_url()).v3(creds.clone()).build().unwrap());
        assert_eq!(client.close(order(&sandbox, "one-call-0001")).unwrap(), CloseOutcome::Closed);
        assert_eq!(sandbox.state().certificate_downloads(), 1, "downloaded before the first call");
        // During the move: requests name the public key, whose answers verify too.
        let verifier = wxpay_core::v3::PublicKeyVerifier::from_pem(
            wxpay_sandbox::merchants::WECHATPAY_PUBLIC_KEY_ID,
            wxpay_sandbox::merchants::WECHATPAY_PUB_PEM,
        )
        .unwrap();
        let moving = creds.and_public_key(verifier);
        let client = Closer::new(blocking, config(sandbox.base_url()).v3(moving).build().unwrap());
        assert_eq!(client.close(order(&sandbox, "one-call-0002")).unwrap(), CloseOutcome::Closed);
    }
}

/// Credentials as a merchant in the move configures them: certificate mode kept current,
/// and the public key.
fn moving_client(sandbox: &SandboxThread, blocking: bool) -> Closer {
    let c = sandbox.credentials();
    let public_key = wxpay_core::v3::PublicKeyVerifier::from_pem(
        wxpay_sandbox::merchants::WECHATPAY_PUBLIC_KEY_ID,
        wxpay_sandbox::merchants::WECHATPAY_PUB_PEM,
    )
    .unwrap();
    let creds = V3Credentials::certificate_mode(
        V3_MCH,
        MERCHANT_SERIAL_NO,
        c.merchant_signer(),
        c.api_v3_key(),
    )
    .unwrap()
    .and_public_key(public_key);
    Closer::new(blocking, config(sandbox.base_url()).v3(creds).build().unwrap())
}

#[test]
fn a_public_key_merchant_answers_the_list_with_a_signed_404_and_closes_go_on() {
    use wxpay_sandbox::KeyMode;
    for blocking in [true, false] {
        let sandbox = SandboxThread::start(SandboxConfig {
            keys: KeyMode::PublicKey,
            ..SandboxConfig::default()
        })
        .unwrap();
        let client = moving_client(&sandbox, blocking);
        let before = sandbox.state().requests();
        for i in 0..5 {
            let no = format!("pk-only-{i:04}");
            assert_eq!(client.close(order(&sandbox, &no)).unwrap(), CloseOutcome::Closed, "{no}");
        }
        // The signed 404 (no certificates) counts as a list that says so, not a failure to
        // retry a minute later.
        assert!(client.session().certificates_refreshed_at().is_some());
        // One list asked for, then only the closes.
        assert_eq!(
            sandbox.state().requests() - before,
            6,
            "the list is not asked again on every call"
        );
        assert_eq!(sandbox.state().certificate_downloads(), 0);
    }
}

#[test]
fn closes_go_on_through_the_move_certificates_then_both_then_the_public_key() {
    use wxpay_sandbox::KeyMode;
    for blocking in [true, false] {
        let sandbox = SandboxThread::start(SandboxConfig {
            keys: KeyMode::Certificates,
            ..SandboxConfig::default()
        })
        .unwrap();
        let client = moving_client(&sandbox, blocking);
        let mut n = 0;
        let mut close_some = |label: &str| {
            for _ in 0..3 {
                n += 1;
                let no = format!("move-{blocking}-{n:04}");
                let got = client.close(order(&sandbox, &no));
                assert_eq!(got.unwrap(), CloseOutcome::Closed, "{label} {no}");
                let o = sandbox.state().order(&OrderKey::new(V3_MCH, &no)).unwrap();
                assert_eq!(
                    (o.close_calls, o.closes),
                    (1, 1),
                    "{label} {no}: one close, no false claim"
                );
            }
        };
        close_some("certificates");
        assert!(sandbox.state().set_key_mode(V3_MCH, KeyMode::Both));
        close_some("both");
        // A rotation while in both.
        sandbox.state().rotate_certificate(RotationStep::Add).unwrap();
        sandbox.state().rotate_certificate(RotationStep::Switch).unwrap();
        close_some("both, rotated");
        assert!(sandbox.state().set_key_mode(V3_MCH, KeyMode::PublicKey));
        close_some("public key");
    }
}
