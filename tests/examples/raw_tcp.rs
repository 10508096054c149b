//! wxpay-core inside another HTTP stack: a plain `std::net::TcpStream`, no transport crate.
//! Starts the sandbox (in platform-certificate mode), then closes an order through APIv2 and
//! one through APIv3 with the certificate list downloaded and kept current, driving the
//! core's call machine with the same short loop the clients use.
//!
//! `cargo run -p wxpay-integration-tests --example raw_tcp`

use std::time::Instant;

use wxpay_core::v2::{CloseOrderV2, SignType};
use wxpay_core::v3::{CloseOrderV3, PlatformCertificates, V3Credentials};
use wxpay_core::{
    Action, CertificateRefresh, ClientConfig, Error, Listener, Machine, Now, Session, SignError,
    TransportError, TransportErrorKind, system_random,
};
use wxpay_integration_tests::{V2_MCH, V3_MCH, raw_tcp_exchange, v2_credentials};
use wxpay_sandbox::merchants::MERCHANT_SERIAL_NO;
use wxpay_sandbox::{AnswerMode, OrderKey, OrderState, SandboxConfig, SandboxThread};

/// The whole driver: the machine decides, this loop does the IO.
fn drive<M: Machine>(mut machine: M) -> Result<M::Output, Error> {
    loop {
        match machine.poll(Now::system()) {
            Action::Random => machine.random(system_random()),
            Action::Sign { .. } => machine.signed(Err(SignError::new("no asynchronous signer"))),
            Action::Send(request) => {
                let answer = raw_tcp_exchange(request).map_err(|e| {
                    TransportError::new(TransportErrorKind::Io, "sandbox", Some(Box::new(e)))
                });
                machine.answer(Now::system(), answer);
            }
            Action::Wait(wait) => {
                let until = wait.until();
                match wait.listener() {
                    Some(listener) => drop(listener.wait_deadline(until)),
                    None => std::thread::sleep(until.saturating_duration_since(Instant::now())),
                }
            }
            Action::Done(result) => return result,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = SandboxThread::start(SandboxConfig {
        answer_mode: AnswerMode::PlatformCertificate,
        ..SandboxConfig::default()
    })?;
    sandbox.state().put_order(OrderKey::new(V2_MCH, "raw-v2-1"), OrderState::Unpaid);
    sandbox.state().put_order(OrderKey::new(V3_MCH, "raw-v3-1"), OrderState::Unpaid);

    // Certificate mode from an empty store: the first call downloads the list.
    let c = sandbox.credentials();
    let store = PlatformCertificates::new();
    let v3 = V3Credentials::new(V3_MCH, MERCHANT_SERIAL_NO, c.merchant_signer(), store.clone())?
        .with_api_v3_key(c.api_v3_key());
    let config = ClientConfig::builder()
        .base_url(sandbox.base_url())
        .v2(v2_credentials(V2_MCH, SignType::HmacSha256))
        .v3(v3)
        .refresh_certificates(store.clone(), CertificateRefresh::default())
        .build()?;
    let session = Session::new(config);

    let outcome = drive(session.call(&CloseOrderV2::new("raw-v2-1")))?;
    println!("APIv2 close of raw-v2-1 over a bare TcpStream: {outcome}");
    let outcome = drive(session.call(&CloseOrderV3::new("raw-v3-1")))?;
    println!("APIv3 close of raw-v3-1 over a bare TcpStream: {outcome}");
    println!("platform certificates downloaded: {}", store.certificates().len());
    Ok(())
}
