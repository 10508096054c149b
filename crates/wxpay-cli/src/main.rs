//! `wxpay`: close WeChat Pay orders (one, or many from a file), run the local sandbox, run
//! a demo against it, and debug signatures.
#![forbid(unsafe_code)]

/// `println!` that does not panic when standard output is closed (`wxpay demo | head -2`):
/// what cannot be written is dropped, and exit codes still say how the command went.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that does not panic when standard error is closed.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bulk;
mod close;
mod demo;
mod settings;
mod sign;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in `wxpay close --help`.
pub(crate) mod exit {
    /// Closed, or already closed: the order can no longer be paid.
    pub(crate) const CLOSED: u8 = 0;
    /// The state is unknown: an error after the request may have been sent.
    pub(crate) const ERROR: u8 = 1;
    /// Bad usage or settings: nothing was sent.
    pub(crate) const USAGE: u8 = 2;
    /// The order was paid: deliver or refund.
    pub(crate) const PAID: u8 = 3;
    /// No such order.
    pub(crate) const NOT_FOUND: u8 = 4;
    /// Bulk: some input lines were not order numbers (the others were processed).
    pub(crate) const BAD_LINES: u8 = 5;
    /// An error that left the order unchanged: not sent, or refused by WeChat Pay.
    pub(crate) const UNCHANGED: u8 = 6;
}

/// A failure that ends the command, with its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure { message: message.into(), code: exit::USAGE }
    }

    pub(crate) fn error(message: impl Into<String>) -> Self {
        Failure { message: message.into(), code: exit::ERROR }
    }
}

#[derive(Parser, Debug)]
#[command(name = "wxpay", version, about = "WeChat Pay close order (关闭订单), APIv2 and APIv3", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the embedded sandbox and close orders in every state through every call and
    /// both clients; print a table; exit 0 only if every row is as expected.
    Demo,
    /// Close one order, or many from a file.
    #[command(after_long_help = close::AFTER_HELP)]
    Close(Box<close::CloseArgs>),
    /// Run the sandbox (a local WeChat Pay for close order) in the foreground until Ctrl-C,
    /// printing its address and `export WXPAY_*=…` lines for the test credentials.
    Sandbox {
        /// The port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Turn off the rule that orders cannot be closed within 5 minutes of creation.
        #[arg(long)]
        no_delay_rule: bool,
        /// Sign APIv3 answers under the platform certificate's serial by default.
        #[arg(long)]
        certificate_mode: bool,
        /// Where to write the test key files (a temporary directory by default).
        #[arg(long, value_name = "DIR")]
        key_dir: Option<PathBuf>,
        /// Serve HTTPS with a test certificate; the printed settings include its CA
        /// (`WXPAY_TLS_ROOTS_FILE`).
        #[arg(long)]
        tls: bool,
    },
    /// Show how a request is signed: string-to-sign, signature, and what is sent.
    #[command(subcommand)]
    Sign(sign::SignCommand),
    /// Check an APIv3 answer's signature, and say why it fails.
    #[command(subcommand)]
    Verify(sign::VerifyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => demo::run(),
        Command::Close(args) => close::run(*args),
        Command::Sandbox { port, no_delay_rule, certificate_mode, key_dir, tls } => {
            sandbox(SandboxArgs { port, no_delay_rule, certificate_mode, key_dir, tls })
        }
        Command::Sign(cmd) => sign::sign(cmd),
        Command::Verify(cmd) => sign::verify(cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            note!("wxpay: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the runtime: {e}")))
}

/// The options of `wxpay sandbox`.
struct SandboxArgs {
    port: u16,
    no_delay_rule: bool,
    certificate_mode: bool,
    key_dir: Option<PathBuf>,
    tls: bool,
}

fn sandbox(args: SandboxArgs) -> Result<u8, Failure> {
    use wxpay_sandbox::{AnswerMode, Sandbox, SandboxConfig};
    let SandboxArgs { port, no_delay_rule, certificate_mode, key_dir, tls } = args;
    let mut config = SandboxConfig { port, tls, ..SandboxConfig::default() };
    if no_delay_rule {
        config.min_close_delay_secs = 0;
    }
    if certificate_mode {
        config.answer_mode = AnswerMode::PlatformCertificate;
    }
    runtime()?.block_on(async {
        let stop = wxpay_sandbox::shutdown_signal()
            .map_err(|e| Failure::error(format!("cannot install the Ctrl-C handler: {e}")))?;
        let sandbox = Sandbox::start(config)
            .await
            .map_err(|e| Failure::error(format!("cannot start: {e}")))?;
        let dir = key_dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("wxpay-sandbox-{}", sandbox.addr().port()))
        });
        let lines = sandbox.credentials().write_env(&dir).map_err(|e| {
            Failure::error(format!("cannot write key files to {}: {e}", dir.display()))
        })?;
        say!(
            "# WeChat Pay sandbox at {} (test keys only). Source these lines:",
            sandbox.base_url()
        );
        {
            use std::io::Write as _;
            let _ = write!(std::io::stdout(), "{lines}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        stop.await;
        note!("wxpay: sandbox shutting down");
        sandbox.shutdown().await;
        Ok(exit::CLOSED)
    })
}
