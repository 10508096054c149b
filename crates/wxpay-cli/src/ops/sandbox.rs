//! The sandbox, for the commands that use it: `wxpay sandbox` in the foreground (with the
//! settings to source and an order for each kind of close, so that a newcomer's first close
//! closes something), and the one `wxpay close --sandbox` embeds in place of the settings.
//! The close path itself (`ops::close`, `ops::bulk`) knows no sandbox.

use std::path::PathBuf;

use wxpay_sandbox::merchants::{V2_MERCHANTS, V3_MERCHANTS};
use wxpay_sandbox::{
    CombinedOrder, Merchant, OrderKey, OrderState, Sandbox, SandboxConfig, SandboxThread,
};

use crate::settings::Settings;
use crate::shell::shell_quote;
use crate::{Failure, exit, runtime};

/// How `wxpay sandbox` serves.
#[derive(Debug)]
pub(crate) struct ServeOptions {
    /// The port on 127.0.0.1 (0 picks a free one).
    pub(crate) port: u16,
    /// Without the rule that orders cannot be closed within 5 minutes of creation.
    pub(crate) no_delay_rule: bool,
    /// APIv3 answers signed under the platform certificate's serial by default.
    /// The APIv3 merchants' key mode.
    pub(crate) keys: wxpay_sandbox::KeyMode,
    /// Where to write the test key files (kept); else a private temporary directory.
    pub(crate) key_dir: Option<PathBuf>,
    /// HTTPS with a test certificate.
    pub(crate) tls: bool,
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

/// The combined order the sandbox starts with, and its two sub-orders' merchants: the direct
/// merchant (`WXPAY_MCHID`) and the sub-order merchant (`WXPAY_SANDBOX_V3_SUB_ORDER_MCHID`).
pub(crate) const FIRST_COMBINED: (&str, [(&str, &str); 2]) = (
    "first-combined",
    [
        (V3_MERCHANTS[0].mchid, "first-combined-a"),
        (wxpay_sandbox::merchants::V3_SUB_ORDER_MCHID, "first-combined-b"),
    ],
);

/// What `wxpay sandbox` prints: the settings as `export` lines, then how to use them.
fn banner(base_url: &str, vars: &[(&str, String)]) -> String {
    let mut out =
        format!("# WeChat Pay sandbox at {base_url} (test keys only). Source these lines:\n");
    for (name, value) in vars {
        out.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    let (combined, [(_, a_no), (_, b_no)]) = FIRST_COMBINED;
    out.push_str(&format!(
        "# Unpaid orders to close, one per call:\n\
         #   wxpay close --api v2 first-v2-common\n\
         #   wxpay close --api v2 --appid \"$WXPAY_SANDBOX_V2_SP_APPID\" --mch-id \"$WXPAY_SANDBOX_V2_SP_MCH_ID\" --sub-mch-id \"$WXPAY_SANDBOX_V2_SUB_MCH_ID\" first-v2-institutional\n\
         #   wxpay close --api v3 first-v3-direct\n\
         #   wxpay close --api v3 --mchid \"$WXPAY_SANDBOX_V3_SP_MCHID\" --sub-mch-id \"$WXPAY_SANDBOX_V3_SUB_MCHID\" first-v3-partner\n\
         #   wxpay close --api v3 --combined --combine-appid {COMBINE_APPID} --sub-order \"$WXPAY_MCHID:{a_no}\" --sub-order \"$WXPAY_SANDBOX_V3_SUB_ORDER_MCHID:{b_no}\" {combined}\n\
         # More orders: curl -d '{{\"mchid\":\"1900000001\",\"out_trade_no\":\"my-order-1\"}}' {base_url}/__sandbox/orders\n\
         #   (APIv2 too: \"mchid\" is the mch_id; add \"sub_mchid\", \"state\": \"paid\"|\"closed\", \"count\": n)\n\
         # Stop with Ctrl-C.\n"
    ));
    out
}

pub(crate) fn serve(options: ServeOptions) -> Result<u8, Failure> {
    let ServeOptions { port, no_delay_rule, keys, key_dir, tls } = options;
    let mut config = SandboxConfig { port, tls, keys, ..SandboxConfig::default() };
    if no_delay_rule {
        config.min_close_delay_secs = 0;
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

/// The state `--sandbox-state` names: `None` for `missing` (no order is created).
pub(crate) fn order_state(text: &str) -> Result<Option<OrderState>, Failure> {
    match text {
        "missing" => Ok(None),
        s => OrderState::parse(s)
            .map(Some)
            .ok_or_else(|| Failure::usage(
                "--sandbox-state is unpaid, paid, closed, refunded, revoked, payerror, paying or missing",
            )),
    }
}

/// The sandbox `wxpay close --sandbox` closes against, for as long as it lives (its key
/// files in a private directory, removed with it).
#[derive(Debug)]
pub(crate) struct Embedded {
    sandbox: SandboxThread,
    _keys: tempfile::TempDir,
    /// The merchant the close names, and the sub-merchant.
    mch: &'static str,
    sub: Option<String>,
    /// Orders are named by WeChat Pay's number: each gets one of its own.
    by_transaction_id: bool,
}

/// Starts an embedded sandbox and returns it with its test credentials as the settings (any
/// from the environment or a config file are set aside): the service-provider merchants
/// when `sub` is given.
pub(crate) fn for_close(
    v2: bool,
    sub: Option<&str>,
    by_transaction_id: bool,
) -> Result<(Embedded, Settings), Failure> {
    let sandbox =
        SandboxThread::start(SandboxConfig { min_close_delay_secs: 0, ..SandboxConfig::default() })
            .map_err(|e| Failure::error(format!("cannot start the sandbox: {e}")))?;
    let keys = crate::private_tempdir("wxpay-close-sandbox-")
        .map_err(|e| Failure::error(format!("cannot make a directory for the key files: {e}")))?;
    let dir = keys.path().to_owned();
    sandbox
        .credentials()
        .write_key_files(&dir)
        .map_err(|e| Failure::error(format!("cannot write key files: {e}")))?;
    let (m2, m3) = if sub.is_some() {
        (&V2_MERCHANTS[1], &V3_MERCHANTS[1])
    } else {
        (&V2_MERCHANTS[0], &V3_MERCHANTS[0])
    };
    let mut settings = Settings::default();
    settings.base_url = Some(sandbox.base_url().to_owned());
    settings.appid = Some(m2.appid.to_owned());
    settings.mch_id = Some(m2.mch_id.to_owned());
    settings.api_v2_key_file = Some(dir.join("api_v2_key.txt"));
    settings.mchid = Some(m3.mchid.to_owned());
    settings.serial_no = Some(wxpay_sandbox::merchants::MERCHANT_SERIAL_NO.to_owned());
    settings.private_key_file = Some(dir.join("apiclient_key.pem"));
    settings.public_key_id = Some(wxpay_sandbox::merchants::WECHATPAY_PUBLIC_KEY_ID.to_owned());
    settings.public_key_file = Some(dir.join("wechatpay_pub.pem"));
    let mch = if v2 { m2.mch_id } else { m3.mchid };
    let embedded =
        Embedded { sandbox, _keys: keys, mch, sub: sub.map(str::to_owned), by_transaction_id };
    Ok((embedded, settings))
}

impl Embedded {
    /// Creates the order the command will name `no`, in `state`.
    pub(crate) fn put(&self, no: &str, state: OrderState) {
        let key = |no: &str| match &self.sub {
            Some(sub) => OrderKey::sub(self.mch, sub, no),
            None => OrderKey::new(self.mch, no),
        };
        if self.by_transaction_id {
            let order = key(&format!("sandbox-{no}"));
            self.sandbox.state().put_order(order.clone(), state);
            self.sandbox.state().set_transaction_id(&order, no);
        } else {
            self.sandbox.state().put_order(key(no), state);
        }
    }

    /// Creates the combined order `no` of this merchant, with two sub-orders in `state`:
    /// `{no}-a` its own, `{no}-b` the sub-order merchant's (`WXPAY_SANDBOX_V3_SUB_ORDER_MCHID`).
    pub(crate) fn put_combined(&self, no: &str, state: OrderState) {
        let (a_mch, b_mch) = (V3_MERCHANTS[0].mchid, V3_MERCHANTS[0].combined_with[0]);
        let keys =
            [OrderKey::new(a_mch, format!("{no}-a")), OrderKey::new(b_mch, format!("{no}-b"))];
        for key in &keys {
            self.sandbox.state().put_order(key.clone(), state);
        }
        let combined =
            CombinedOrder { combine_appid: COMBINE_APPID.to_owned(), sub_orders: keys.to_vec() };
        self.sandbox.state().put_combined(a_mch, no, combined);
    }

    /// Creates a combined order's sub-order.
    pub(crate) fn put_sub_order(
        &self,
        mchid: &str,
        no: &str,
        sub: Option<&str>,
        state: OrderState,
    ) {
        let key = match sub {
            Some(sub) => OrderKey::sub(mchid, sub, no),
            None => OrderKey::new(mchid, no),
        };
        self.sandbox.state().put_order(key, state);
    }
}
