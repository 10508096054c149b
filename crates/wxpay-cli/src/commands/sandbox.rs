//! `wxpay sandbox`: its options, served by [`crate::ops::sandbox::serve`].

use std::path::PathBuf;

use crate::Failure;
use crate::commands::close::Api;
use crate::ops::sandbox::ServeOptions;

/// The options of `wxpay sandbox`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct SandboxArgs {
    /// Talk to a running sandbox instead of starting one.
    #[command(subcommand)]
    action: Option<Control>,
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

/// What to ask a running sandbox (its control API, `/__sandbox/`), at `--url` or
/// `WXPAY_BASE_URL` (which `wxpay sandbox` exports).
#[derive(clap::Subcommand, Debug)]
pub(crate) enum Control {
    /// Orders: make one, or show one as of now.
    #[command(subcommand)]
    Order(OrderAction),
    /// Misbehave: a fault by name (`wxpay sandbox list` names them), or `--clear` them all.
    Fault {
        /// The fault's name.
        #[arg(required_unless_present = "clear")]
        name: Option<String>,
        /// Only on this route (`v2`, `v3_direct`, … `v3_query`, …).
        #[arg(long)]
        endpoint: Option<String>,
        /// Only for this order number.
        #[arg(long)]
        order: Option<String>,
        /// For this many requests (every one when left out).
        #[arg(long)]
        times: Option<u64>,
        /// `delay`'s wait.
        #[arg(long)]
        delay_ms: Option<u64>,
        /// `relabel_status`'s status.
        #[arg(long)]
        status: Option<u64>,
        /// Clear every fault.
        #[arg(long, conflicts_with = "name")]
        clear: bool,
        #[command(flatten)]
        at: At,
    },
    /// Rotate the platform certificates one step: `add`, `switch` or `retire`.
    Rotate {
        /// The step.
        step: String,
        #[command(flatten)]
        at: At,
    },
    /// What the control API takes: routes, faults, order states, key modes.
    List {
        #[command(flatten)]
        at: At,
    },
}

/// Order actions.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum OrderAction {
    /// Make an order, unpaid unless --state says otherwise, created an hour ago (another age:
    /// `age_secs` through the control API, `POST /__sandbox/orders`).
    Add {
        /// Its number.
        out_trade_no: String,
        #[command(flatten)]
        owner: Owner,
        /// `unpaid`, `paid`, `closed`, `refunded`, `revoked`, `payerror` or `paying`.
        #[arg(long)]
        state: Option<String>,
        /// WeChat Pay's number for it.
        #[arg(long)]
        transaction_id: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// Show an order as of now.
    Show {
        /// Its number.
        out_trade_no: String,
        #[command(flatten)]
        owner: Owner,
        #[command(flatten)]
        at: At,
    },
}

/// Whose order.
#[derive(clap::Args, Debug)]
pub(crate) struct Owner {
    /// Which API generation's merchant, as `wxpay close --api`: `v3` (`WXPAY_MCHID`) or
    /// `v2` (`WXPAY_MCH_ID`).
    #[arg(long, value_enum, default_value = "v3")]
    api: Api,
    /// The merchant (APIv3 `mchid`, APIv2 `mch_id`); by default `WXPAY_MCHID`, or with
    /// `--api v2` `WXPAY_MCH_ID`.
    #[arg(long, visible_alias = "mch-id", value_name = "ID")]
    mchid: Option<String>,
    /// The sub-merchant, for a service provider's order.
    #[arg(long, visible_alias = "sub-mch-id", value_name = "ID")]
    sub_mchid: Option<String>,
}

impl Owner {
    /// The merchant, from `--mchid` or the generation's variable.
    fn mchid(&self) -> Result<String, Failure> {
        let var = match self.api {
            Api::V2 => "WXPAY_MCH_ID",
            Api::V3 => "WXPAY_MCHID",
        };
        match &self.mchid {
            Some(id) => Ok(id.clone()),
            None => std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Failure::usage(format!("whose order? give --mchid or set {var}"))),
        }
    }

    /// Refuses an order number the clients would refuse to close, in their words.
    fn check(&self, out_trade_no: &str) -> Result<(), Failure> {
        let checked = match self.api {
            Api::V2 => wxpay_core::v2::CloseOrderV2::new(out_trade_no).validate(0),
            Api::V3 => wxpay_core::v3::CloseOrderV3::new(out_trade_no).validate(0),
        };
        checked.map_err(|e| Failure::usage(crate::ops::close::invalid(&e)))
    }

    /// Says whose order it is (on stderr: stdout is the sandbox's answer).
    fn say_whose(&self, out_trade_no: &str, mchid: &str) {
        let generation = match self.api {
            Api::V2 => "APIv2",
            Api::V3 => "APIv3",
        };
        let sub = match &self.sub_mchid {
            Some(sub) => format!(", sub-merchant {}", crate::escape::line(sub)),
            None => String::new(),
        };
        note!(
            "order {} of {generation} merchant {}{sub}",
            crate::escape::line(out_trade_no),
            crate::escape::line(mchid)
        );
    }
}

/// Where the sandbox is.
#[derive(clap::Args, Debug)]
pub(crate) struct At {
    /// The sandbox's base URL; `WXPAY_BASE_URL` by default.
    #[arg(long = "url", env = "WXPAY_BASE_URL")]
    url: String,
}

pub(crate) fn run(args: SandboxArgs) -> Result<u8, Failure> {
    if let Some(control) = args.action {
        return control_request(control);
    }
    let SandboxArgs { port, no_delay_rule, keys, certificate_mode, key_dir, tls, .. } = args;
    let keys = if certificate_mode { "certificates" } else { keys.as_str() };
    let keys = wxpay_sandbox::KeyMode::parse(keys)
        .ok_or_else(|| Failure::usage(format!("unknown key mode {keys:?}")))?;
    crate::ops::sandbox::serve(ServeOptions { port, no_delay_rule, keys, key_dir, tls })
}

/// Sends one control request and prints the sandbox's JSON answer: exit 0 when it took it,
/// 2 when it refused (its answer lists what it accepts), 1 when it could not be reached.
fn control_request(control: Control) -> Result<u8, Failure> {
    use serde_json::{Map, Value, json};
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    let (method, url, path, body) = match control {
        Control::Order(OrderAction::Add { out_trade_no, owner, state, transaction_id, at }) => {
            owner.check(&out_trade_no)?;
            let mchid = owner.mchid()?;
            owner.say_whose(&out_trade_no, &mchid);
            let mut m = Map::new();
            put(&mut m, "mchid", Some(json!(mchid)));
            put(&mut m, "sub_mchid", owner.sub_mchid.map(Value::from));
            put(&mut m, "out_trade_no", Some(json!(out_trade_no)));
            put(&mut m, "state", state.map(Value::from));
            put(&mut m, "transaction_id", transaction_id.map(Value::from));
            ("POST", at.url, "orders".to_owned(), Some(Value::Object(m)))
        }
        Control::Order(OrderAction::Show { out_trade_no, owner, at }) => {
            let mchid = owner.mchid()?;
            owner.say_whose(&out_trade_no, &mchid);
            let mut path = format!("orders?mchid={mchid}&out_trade_no={out_trade_no}");
            if let Some(sub) = owner.sub_mchid {
                path.push_str(&format!("&sub_mchid={sub}"));
            }
            ("GET", at.url, path, None)
        }
        Control::Fault { clear: true, at, .. } => ("DELETE", at.url, "faults".to_owned(), None),
        Control::Fault { name, endpoint, order, times, delay_ms, status, at, .. } => {
            let mut m = Map::new();
            put(&mut m, "fault", name.map(Value::from));
            put(&mut m, "endpoint", endpoint.map(Value::from));
            put(&mut m, "out_trade_no", order.map(Value::from));
            put(&mut m, "times", times.map(Value::from));
            put(&mut m, "delay_ms", delay_ms.map(Value::from));
            put(&mut m, "status", status.map(Value::from));
            ("POST", at.url, "faults".to_owned(), Some(Value::Object(m)))
        }
        Control::Rotate { step, at } => {
            ("POST", at.url, "certificates/rotate".to_owned(), Some(json!({ "step": step })))
        }
        Control::List { at } => ("GET", at.url, String::new(), None),
    };
    let url = format!("{}/__sandbox/{path}", url.trim_end_matches('/'));
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let answer = match body {
        Some(body) => agent.post(&url).content_type("application/json").send(body.to_string()),
        None if method == "DELETE" => agent.delete(&url).call(),
        None => agent.get(&url).call(),
    };
    let mut answer = answer
        .map_err(|e| Failure::error(format!("the sandbox at {url} could not be reached: {e}")))?;
    let status = answer.status().as_u16();
    let text = answer.body_mut().read_to_string().unwrap_or_default();
    say!("{}", crate::escape::line(text.trim_end()));
    Ok(if (200..300).contains(&status) { 0 } else { 2 })
}
