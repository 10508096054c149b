//! `cargo run -p wxpay-sandbox -- [--port N] [--no-delay-rule] [--certificate-mode] [--tls]`:
//! runs the sandbox in the foreground until Ctrl-C, printing its address and credentials.

use std::process::ExitCode;

use wxpay_sandbox::{AnswerMode, Sandbox, SandboxConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut config = SandboxConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => config.port = p,
                None => return usage("--port takes a number"),
            },
            "--no-delay-rule" => config.min_close_delay_secs = 0,
            "--certificate-mode" => config.answer_mode = AnswerMode::PlatformCertificate,
            "--tls" => config.tls = true,
            "--help" | "-h" => return usage(""),
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let stop = match wxpay_sandbox::shutdown_signal() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("wxpay-sandbox: cannot install the Ctrl-C handler: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sandbox = match Sandbox::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wxpay-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = std::env::temp_dir().join(format!("wxpay-sandbox-{}", sandbox.addr().port()));
    println!(
        "# WeChat Pay sandbox at {} (test keys only). Source these lines:",
        sandbox.base_url()
    );
    match sandbox.credentials().write_env(&dir) {
        Ok(lines) => print!("{lines}"),
        Err(e) => eprintln!("wxpay-sandbox: could not write key files to {}: {e}", dir.display()),
    }
    stop.await;
    eprintln!("wxpay-sandbox: shutting down");
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("wxpay-sandbox: {problem}");
    }
    eprintln!("usage: wxpay-sandbox [--port N] [--no-delay-rule] [--certificate-mode] [--tls]");
    if problem.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) }
}
