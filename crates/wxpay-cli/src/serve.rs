//! `wxpay sandbox`: the sandbox in the foreground, with the settings to source and an order
//! for each kind of close, so that a newcomer's first close closes something.

use std::path::PathBuf;

use wxpay_sandbox::{AnswerMode, Merchant, OrderKey, OrderState, Sandbox, SandboxConfig};

use crate::{Failure, exit, runtime};

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

/// The combined order's app id in the sandbox's examples.
pub(crate) const COMBINE_APPID: &str = "wxd678efh567hg6787";

/// The orders the sandbox starts with: one per kind of close, unpaid.
pub(crate) const FIRST_ORDERS: [(Merchant, &str); 4] = [
    (Merchant::V2Common, "first-v2-common"),
    (Merchant::V2Institutional, "first-v2-institutional"),
    (Merchant::V3Direct, "first-v3-direct"),
    (Merchant::V3Partner, "first-v3-partner"),
];

/// The combined order the sandbox starts with, and its two sub-orders' merchants.
pub(crate) const FIRST_COMBINED: (&str, [(&str, &str); 2]) =
    ("first-combined", [("1900000001", "first-combined-a"), ("1900000109", "first-combined-b")]);

/// `text` as one shell word: as it is when that is safe, else in single quotes.
pub(crate) fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if plain { text.to_owned() } else { format!("'{}'", text.replace('\'', "'\\''")) }
}

/// What `wxpay sandbox` prints: the settings as `export` lines, then how to use them.
fn banner(base_url: &str, vars: &[(&str, String)]) -> String {
    let mut out =
        format!("# WeChat Pay sandbox at {base_url} (test keys only). Source these lines:\n");
    for (name, value) in vars {
        out.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    let (combined, [(a_mch, a_no), (b_mch, b_no)]) = FIRST_COMBINED;
    out.push_str(&format!(
        "# Unpaid orders to close, one per call:\n\
         #   wxpay close --api v2 first-v2-common\n\
         #   wxpay close --api v2 --appid \"$WXPAY_SANDBOX_V2_SP_APPID\" --mch-id \"$WXPAY_SANDBOX_V2_SP_MCH_ID\" --sub-mch-id \"$WXPAY_SANDBOX_V2_SUB_MCH_ID\" first-v2-institutional\n\
         #   wxpay close --api v3 first-v3-direct\n\
         #   wxpay close --api v3 --mchid \"$WXPAY_SANDBOX_V3_SP_MCHID\" --sub-mch-id \"$WXPAY_SANDBOX_V3_SUB_MCHID\" first-v3-partner\n\
         #   wxpay close --api v3 --combined --combine-appid {COMBINE_APPID} --sub-order {a_mch}:{a_no} --sub-order {b_mch}:{b_no} {combined}\n\
         # More orders: curl -d '{{\"mchid\":\"1900000001\",\"out_trade_no\":\"my-order-1\"}}' {base_url}/__sandbox/orders\n\
         #   (APIv2 too: \"mchid\" is the mch_id; add \"sub_mchid\", \"state\": \"paid\"|\"closed\", \"count\": n)\n\
         # Stop with Ctrl-C.\n"
    ));
    out
}

pub(crate) fn run(args: SandboxArgs) -> Result<u8, Failure> {
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
            .map_err(|e| Failure::error(format!("cannot start the sandbox: {e}")))?;
        // A private directory of our own (not a predictable path another user could
        // plant a link at), removed when we stop; or the one asked for, kept.
        let temp;
        let dir = match key_dir {
            Some(dir) => dir,
            None => {
                temp = crate::private_tempdir("wxpay-sandbox-").map_err(|e| {
                    Failure::error(format!("cannot make a directory for the key files: {e}"))
                })?;
                temp.path().to_owned()
            }
        };
        let vars = sandbox.credentials().write_key_files(&dir).map_err(|e| {
            Failure::error(format!("cannot write key files to {}: {e}", dir.display()))
        })?;
        for (merchant, no) in FIRST_ORDERS {
            sandbox.put_order(merchant, no, OrderState::Unpaid);
        }
        for (mchid, no) in FIRST_COMBINED.1 {
            sandbox.state().put_order(OrderKey::new(mchid, no), OrderState::Unpaid);
        }
        {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(banner(sandbox.base_url(), &vars).as_bytes());
            let _ = stdout.flush();
        }
        stop.await;
        note!("wxpay: sandbox shutting down");
        sandbox.shutdown().await;
        Ok(exit::CLOSED)
    })
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_words_survive_spaces_and_quotes() {
        assert_eq!(shell_quote("/tmp/keys/a.pem"), "/tmp/keys/a.pem");
        assert_eq!(shell_quote("/tmp/my keys/a.pem"), "'/tmp/my keys/a.pem'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }
}
