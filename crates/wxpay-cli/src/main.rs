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

mod commands;
mod escape;
mod ops;
mod record;
mod report;
mod settings;
mod shell;

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
    /// `wxpay query`: the order is not paid and can still be paid (`NOTPAY`, `USERPAYING`,
    /// `PAYERROR`): close it to end it.
    pub(crate) const PAYABLE: u8 = 7;
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
    /// Show what the client does on the way (retries, fail-over, with their reasons):
    /// `-v` for retries, `-vv` for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the embedded sandbox and close orders in every state through every call and
    /// both clients; print a table; exit 0 only if every row is as expected.
    Demo,
    /// Close one order, or many from a file.
    #[command(after_help = commands::close::SHORT_HELP, after_long_help = commands::close::AFTER_HELP)]
    Close(Box<commands::close::CloseArgs>),
    /// Ask WeChat Pay for one order's state (a signed answer that names the order).
    #[command(after_help = commands::query::SHORT_HELP, after_long_help = commands::query::AFTER_HELP)]
    Query(Box<commands::query::QueryArgs>),
    /// Run the sandbox (a local WeChat Pay for close order) in the foreground until Ctrl-C,
    /// printing `export WXPAY_*=…` lines for its test credentials and an unpaid order for
    /// each kind of close.
    Sandbox(commands::sandbox::SandboxArgs),
    /// Download WeChat Pay's platform certificates (decrypted with the APIv3 key, checked,
    /// the answer verified), write one PEM file per serial, and print serials and validity.
    Certificates(Box<commands::certificates::CertificatesArgs>),
    /// Check the merchant's settings against WeChat Pay with calls that change nothing: the
    /// private key, the key mode, the APIv3 key, the API v2 key, the clock.
    Check(Box<commands::check::CheckArgs>),
    /// Show how a request is signed: string-to-sign, signature, and what is sent.
    #[command(subcommand)]
    Sign(commands::sign::SignCommand),
    /// Check an APIv3 answer's signature, and say why it fails.
    #[command(subcommand)]
    Verify(commands::sign::VerifyCommand),
}

/// The commands that read settings (`WXPAY_*` variables among them): a misspelt or empty
/// variable is refused before any of them runs, and instead of clap's own usage error.
const READS_SETTINGS: [&str; 6] = ["close", "query", "certificates", "check", "sign", "verify"];

/// Says `failure` on standard error; its exit code.
fn fail(failure: Failure) -> ExitCode {
    note!("wxpay: {}", escape::lines(&failure.message));
    ExitCode::from(failure.code)
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
    let vars = || settings::Settings::check_vars(std::env::vars_os()).map_err(Failure::from);
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => {
            // A usage error of a command that reads settings (`--key-file` missing, say) may
            // come of a misspelt or empty WXPAY_* variable: that is said instead, as it is
            // when the command line parses.
            let help = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayVersion
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            let command =
                std::env::args_os().skip(1).find(|a| !a.as_encoded_bytes().starts_with(b"-"));
            let reads_settings = command
                .and_then(|c| c.into_string().ok())
                .is_some_and(|c| READS_SETTINGS.contains(&c.as_str()));
            if !help && reads_settings {
                if let Err(failure) = vars() {
                    return fail(failure);
                }
            }
            e.exit()
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if cli.verbose > 0 {
        let level = if cli.verbose == 1 { tracing::Level::INFO } else { tracing::Level::DEBUG };
        tracing_subscriber::fmt()
            .with_writer(|| escape::LogWriter)
            .with_max_level(level)
            .with_target(false)
            .init();
    }
    // Which settings were given as flags and which came from the environment: an explicit
    // --config beats the environment, and only a --base-url flag conflicts with --sandbox.
    let origin = |command: &str| {
        let mut origin = settings::Origin::default();
        if let Some(m) = matches.subcommand_matches(command) {
            for id in m.ids() {
                match m.value_source(id.as_str()) {
                    Some(ValueSource::CommandLine) => {
                        origin.set(id.as_str(), settings::Source::Flag)
                    }
                    Some(ValueSource::EnvVariable) => {
                        origin.set(id.as_str(), settings::Source::Env)
                    }
                    _ => {}
                }
            }
        }
        origin
    };
    // A misspelt or empty WXPAY_* variable is refused before any command reads settings.
    let checked = match matches.subcommand_name() {
        Some(command) if READS_SETTINGS.contains(&command) => vars(),
        _ => Ok(()),
    };
    let result = checked.and_then(|()| match cli.command {
        Command::Demo => commands::demo::run(),
        Command::Close(mut args) => {
            args.settings.origin = origin("close");
            commands::close::run(*args)
        }
        Command::Query(mut args) => {
            args.settings.origin = origin("query");
            commands::query::run(*args)
        }
        Command::Sandbox(args) => commands::sandbox::run(args),
        Command::Certificates(mut args) => {
            args.settings.origin = origin("certificates");
            commands::certificates::run(*args)
        }
        Command::Check(mut args) => {
            args.settings.origin = origin("check");
            commands::check::run(*args)
        }
        Command::Sign(cmd) => commands::sign::sign(cmd),
        Command::Verify(cmd) => commands::sign::verify(cmd),
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => fail(failure),
    }
}

/// A new directory only this user can enter (mode 0700), removed when dropped: for key files.
fn private_tempdir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the runtime: {e}")))
}
