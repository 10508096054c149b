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
    /// The APIv3 merchants' key mode, as WeChat Pay runs them: `public-key` (answers signed
    /// with the WeChat Pay public key; no certificate list), `certificates` (answers signed
    /// with the platform certificate; no public key exported), or `both` (the move: the
    /// request's `Wechatpay-Serial` decides).
    #[arg(long, value_name = "MODE", default_value = "both", value_parser = ["public-key", "certificates", "both"])]
    keys: String,
    /// The same as `--keys certificates`.
    #[arg(long, conflicts_with = "keys")]
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
    let SandboxArgs { port, no_delay_rule, keys, certificate_mode, key_dir, tls } = args;
    let keys = if certificate_mode { "certificates" } else { keys.as_str() };
    let keys = wxpay_sandbox::KeyMode::parse(keys)
        .ok_or_else(|| Failure::usage(format!("unknown key mode {keys:?}")))?;
    crate::ops::sandbox::serve(ServeOptions { port, no_delay_rule, keys, key_dir, tls })
}
