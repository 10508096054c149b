//! `wxpay sandbox`: its options, served by [`crate::ops::sandbox::serve`].

use std::path::PathBuf;

use crate::Failure;
use crate::ops::sandbox::ServeOptions;

/// The options of `wxpay sandbox`.
#[derive(clap::Args, Debug)]
pub(crate) struct SandboxArgs {
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Turn off the rule that orders cannot be closed within 5 minutes of creation.
    #[arg(long)]
    no_delay_rule: bool,
    /// Sign APIv3 answers under the platform certificate's serial by default.
    #[arg(long)]
    certificate_mode: bool,
    /// Where to write the test key files (kept); by default a private temporary directory,
    /// removed when the sandbox stops.
    #[arg(long, value_name = "DIR")]
    key_dir: Option<PathBuf>,
    /// Serve HTTPS with a test certificate; the printed settings include its CA
    /// (`WXPAY_TLS_ROOTS_FILE`).
    #[arg(long)]
    tls: bool,
}

pub(crate) fn run(args: SandboxArgs) -> Result<u8, Failure> {
    let SandboxArgs { port, no_delay_rule, certificate_mode, key_dir, tls } = args;
    crate::ops::sandbox::serve(ServeOptions { port, no_delay_rule, certificate_mode, key_dir, tls })
}
