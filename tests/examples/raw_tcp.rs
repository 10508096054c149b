//! wxpay-core inside another HTTP stack: a plain `std::net::TcpStream`, no transport crate.
//! Starts the sandbox, then closes an order through APIv2 and one through APIv3.
//!
//! `cargo run -p wxpay-integration-tests --example raw_tcp`

use wxpay_core::v2::{CloseOrderV2, SignType};
use wxpay_core::v3::CloseOrderV3;
use wxpay_core::{Attempt, BaseUrl, Context, Operation};
use wxpay_integration_tests::{V2_MCH, V3_MCH, raw_tcp_exchange, v2_credentials, v3_credentials};
use wxpay_sandbox::{AnswerMode, OrderKey, OrderState, SandboxConfig, SandboxThread};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = SandboxThread::start(SandboxConfig::default())?;
    sandbox.state().put_order(OrderKey::new(V2_MCH, "raw-v2-1"), OrderState::Unpaid);
    sandbox.state().put_order(OrderKey::new(V3_MCH, "raw-v3-1"), OrderState::Unpaid);

    let ctx = Context::new()
        .with_v2(v2_credentials(V2_MCH, SignType::HmacSha256))
        .with_v3(v3_credentials(V3_MCH, AnswerMode::PublicKey));
    let base = BaseUrl::parse(sandbox.base_url())?;
    let now = wxpay_core::unix_now;

    let v2 = CloseOrderV2::new("raw-v2-1");
    let request = v2.build(&ctx, &Attempt::new(&base, now(), "RAWTCPNONCE1"))?;
    let outcome = v2.parse(&ctx, now(), raw_tcp_exchange(request)?)?;
    println!("APIv2 close of raw-v2-1 over a bare TcpStream: {outcome}");

    let v3 = CloseOrderV3::direct("raw-v3-1");
    let request = v3.build(&ctx, &Attempt::new(&base, now(), "RAWTCPNONCE2"))?;
    let outcome = v3.parse(&ctx, now(), raw_tcp_exchange(request)?)?;
    println!("APIv3 close of raw-v3-1 over a bare TcpStream: {outcome}");
    Ok(())
}
