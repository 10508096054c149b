//! `wxpay close`: one order, or many from a file with a journal that survives interruption.

use std::path::PathBuf;

use wxpay_core::v2::CloseOrderV2;
use wxpay_core::v3::{CloseCombinedOrder, CloseGlobalOrder, CloseOrderV3, SubOrder};
use wxpay_core::{CallKind, CloseOrder, ConfirmPolicy, ConfirmSettings, unix_now};

use crate::ops::bulk::journal::RunIdentity;
use crate::ops::bulk::{Line, OrderReader, Plan};
use crate::ops::close::invalid;
use crate::ops::sandbox::Embedded;
use crate::settings::{self, Purpose, Settings};
use crate::{Failure, ops, runtime};

pub(crate) const SHORT_HELP: &str = "\
Exit codes: 0 closed or already closed, 1 error (state unknown; with --confirm: not proven by
the deadline), 2 usage (nothing sent), 3 paid, 4 not found, 5 bulk: bad input lines,
6 error (order unchanged). --confirm doubt (default) queries doubtful closes. More: --help";

pub(crate) const AFTER_HELP: &str = "\
Exit codes:
  0  closed, or already closed: the order can no longer be paid
  1  error: the order's state is unknown (the request may have been sent; closing again is safe);
     with --confirm doubt|always: no end state was proven by --confirm-deadline
  2  bad usage, settings or input: nothing was sent
  3  the order was paid: deliver or refund
  4  no such order
  5  (bulk) some input lines were not order numbers; every other line was processed
  6  error, and the order is unchanged: not sent, or refused by WeChat Pay (the message says why)

Confirmed close (--confirm, default doubt): a close answer names no order, so a lost,
replayed or unverifiable answer proves nothing about this one. Where the close alone does
not prove the end state, wxpay queries the order (a signed answer that names it) and acts on
it: CLOSED or REVOKED is closed, SUCCESS or REFUND is paid (the line gives transaction_id
and the paid time), not found is not found, NOTPAY or PAYERROR closes again (3 closes at
most), USERPAYING waits 5 s and asks again; until --confirm-deadline (30 s). Result lines
and --json records say what proved it: proof `close` (the close's verified answer) or
`query`. Policies: never (the plain close, no query), doubt (query unless the close's answer
is a verified APIv3 204, which a replay can reuse for 5 minutes at most: every APIv2 answer,
already closed, not found and paid are queried, so a replayed answer cannot make goods go
out, and so is every unknown effect), always (query after every close sent). The cost: one query per doubtful close. A close that changed nothing (not sent,
refused) is reported as it is, without a query.

A bulk run (--from) exits with the worst that happened, in this order: 1 if any order's state
is unknown (with --confirm doubt|always: unproven at its deadline), any error occurred, the journal could not be written or the run stopped before
the end (a signal, a closed output); else 3 if any order was paid; else 4 if any was not
found; else 5 if input lines were rejected; else 0. Duplicate lines are reported and counted
apart, and do not change the exit code.

Settings, by precedence: flags; then the TOML file given as --config; then the WXPAY_*
environment variables (a file named by WXPAY_CONFIG only fills what they leave unset).
An explicit --config sets aside the environment's settings of every group it holds any of:
where to send (base_url, backup_url, endpoint), the APIv2 credentials, the APIv3
credentials; a file with credentials and no base_url sends to WeChat Pay, not to the
environment's WXPAY_BASE_URL. A file that moves the destination (names one, or sends to
WeChat Pay instead of the environment's) takes no credentials from the environment at all. A close sent anywhere but WeChat Pay's own hosts says so on
standard error (note: sending to …, which is not WeChat Pay); --json records carry base_url.
  WXPAY_BASE_URL  WXPAY_ENDPOINT  WXPAY_CONFIG
  APIv2: WXPAY_APPID  WXPAY_MCH_ID  WXPAY_API_V2_KEY_FILE  WXPAY_SIGN_TYPE
  APIv3: WXPAY_MCHID  WXPAY_SERIAL_NO  WXPAY_PRIVATE_KEY_FILE
         WXPAY_PUBLIC_KEY_ID  WXPAY_PUBLIC_KEY_FILE  WXPAY_PLATFORM_CERT_FILE
         WXPAY_PLATFORM_CERT_DIR  WXPAY_API_V3_KEY_FILE (certificates downloaded and rotated)
  WXPAY_BACKUP_URL  WXPAY_PROXY  WXPAY_TLS_ROOTS_FILE
Keys are read from files only, never from the command line.

Bulk: --from FILE takes one order number per line (blank lines and # comments skipped), or
CSV with --column NAME (quoted fields, a byte-order mark, CRLF/LF/CR line ends all read).
The file is streamed: memory grows only with the distinct order numbers (10 to 28 bytes each). Each result is appended to the journal
(FILE.journal.jsonl unless --journal says otherwise) as soon as it is known; a new run
refuses a journal that already holds results (one holding only a header is reused).
--resume JOURNAL continues that run: it checks that the call, merchant, column, base URL,
--confirm policy and input file are the same (a journal without a policy is a plain run's:
--confirm never), skips a line only if the journal has an outcome for the order
number the line holds now, and closes the rest (changed lines and errors included) again.
Its exit code and summary cover the whole journal, the earlier part included. Ctrl-C or SIGTERM
stops starting closes, waits for those in flight, and prints the command that resumes;
a second signal exits at once.";

/// Which close call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Api {
    /// APIv2 (XML, MD5 or HMAC-SHA256).
    V2,
    /// APIv3 (JSON, RSA).
    V3,
}

impl Api {
    /// The client setup a call of this generation needs; `global`: a cross-border call,
    /// whose merchant's certificates are on the cross-border list.
    pub(crate) fn purpose(self, global: bool) -> Purpose {
        match (self, global) {
            (Api::V2, _) => Purpose::V2,
            (Api::V3, false) => Purpose::V3,
            (Api::V3, true) => Purpose::V3Global,
        }
    }
}

impl From<Api> for settings::Api {
    fn from(api: Api) -> Self {
        match api {
            Api::V2 => settings::Api::V2,
            Api::V3 => settings::Api::V3,
        }
    }
}

/// Which order number a cross-border close names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum IdKind {
    /// The merchant's order number (`out_trade_no`).
    OutTradeNo,
    /// WeChat Pay's order number (`transaction_id`).
    TransactionId,
}

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct CloseArgs {
    /// The order number (`out_trade_no`; for --combined, the `combine_out_trade_no`).
    #[arg(required_unless_present_any = ["from", "transaction_id"], conflicts_with_all = ["from", "transaction_id"])]
    out_trade_no: Option<String>,
    /// APIv3 cross-border close (global endpoints, at the Hong Kong host unless
    /// --base-url): by the order number, or by --transaction-id; --sub-mch-id for an
    /// institution closing for its sub-merchant.
    #[arg(long, conflicts_with = "combined")]
    global: bool,
    /// With --global: close by WeChat Pay's order number (`transaction_id`, digits) instead
    /// of the merchant's.
    #[arg(long, value_name = "ID", requires = "global", conflicts_with = "from")]
    transaction_id: Option<String>,
    /// With --global --from: what the file's numbers are: `out-trade-no` (the merchant's,
    /// the default) or `transaction-id` (WeChat Pay's).
    #[arg(long, value_enum, value_name = "KIND", requires_all = ["global", "from"])]
    ids: Option<IdKind>,
    /// Which API generation.
    #[arg(long, value_enum, default_value = "v3")]
    api: Api,
    /// The sub-merchant: APIv2 institutional mode, or the APIv3 service-provider close.
    #[arg(long, value_name = "ID")]
    sub_mch_id: Option<String>,
    /// APIv2 institutional mode: the sub-merchant's app id.
    #[arg(long, value_name = "APPID", requires = "sub_mch_id")]
    sub_appid: Option<String>,
    /// APIv3: close a combined order (give --combine-appid and each --sub-order).
    #[arg(long, requires = "combine_appid", conflicts_with = "from")]
    combined: bool,
    /// APIv3 combined close: the combining app id.
    #[arg(long, value_name = "APPID")]
    combine_appid: Option<String>,
    /// APIv3 combined close: a sub-order as `MCHID:OUT_TRADE_NO[:SUB_MCHID]` (repeat for each).
    #[arg(long = "sub-order", value_name = "SPEC")]
    sub_orders: Vec<String>,
    /// When the order was created (Unix seconds): a close within 5 minutes is refused here.
    #[arg(long, value_name = "UNIX")]
    created_at: Option<u64>,
    /// Close against an embedded sandbox with its test credentials (the order is created
    /// first); settings from the environment or a config file are set aside.
    #[arg(long)]
    sandbox: bool,
    /// With --sandbox: the state the order starts in: unpaid, paid, closed, refunded, revoked,
    /// payerror, paying or missing.
    #[arg(long, default_value = "unpaid", value_name = "STATE")]
    sandbox_state: String,
    /// One JSON object per result on standard output.
    #[arg(long)]
    json: bool,
    /// Close every order listed in FILE.
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// With --from: the file is CSV and the order numbers are in this column.
    #[arg(long, value_name = "NAME", requires = "from")]
    column: Option<String>,
    /// With --from: closes in flight at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    concurrency: usize,
    /// With --from: at most this many closes started per second (`50` or `50/s`).
    #[arg(long, value_name = "N/s")]
    rate: Option<String>,
    /// With --from: the journal to append results to.
    #[arg(long, value_name = "FILE", requires = "from")]
    journal: Option<PathBuf>,
    /// When to prove the close's result with a query answer that names the order: `never`
    /// (the plain close), `doubt` (unless the close's answer is a verified APIv3 204),
    /// `always` (after every close sent).
    #[arg(long, value_name = "POLICY", default_value = "doubt", value_parser = parse_policy)]
    confirm: ConfirmPolicy,
    /// With --confirm doubt|always: no new close or query starts after this many seconds; an
    /// order still unproven then is an error, its state unknown (exit 1).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    confirm_deadline: u64,
    /// With --from: skip orders with an outcome in this journal, and append to it.
    #[arg(long, value_name = "JOURNAL", requires = "from", conflicts_with = "journal")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) settings: Settings,
}

/// `--confirm`: the core's policy names.
fn parse_policy(text: &str) -> Result<ConfirmPolicy, String> {
    ConfirmPolicy::parse(text).ok_or_else(|| "use never, doubt or always".to_owned())
}

impl CloseArgs {
    /// How a close is confirmed.
    fn confirm_settings(&self) -> ConfirmSettings {
        ConfirmSettings::default()
            .with_policy(self.confirm)
            .with_deadline(std::time::Duration::from_secs(self.confirm_deadline))
    }

    /// Whether the numbers given are WeChat Pay's (`--transaction-id`, `--ids transaction-id`).
    fn by_transaction_id(&self) -> bool {
        self.transaction_id.is_some() || self.ids == Some(IdKind::TransactionId)
    }

    /// The order number given on the command line, of either kind.
    fn number(&self) -> Option<&str> {
        self.out_trade_no.as_deref().or(self.transaction_id.as_deref())
    }

    fn job(&self, no: &str) -> Result<CloseOrder, Failure> {
        if self.global {
            if self.api == Api::V2 {
                return Err(Failure::usage("--global is an APIv3 call: add --api v3"));
            }
            let op = if self.by_transaction_id() {
                CloseGlobalOrder::by_transaction_id(no)
            } else {
                CloseGlobalOrder::by_out_trade_no(no)
            };
            let op = match &self.sub_mch_id {
                Some(sub) => op.for_sub_merchant(sub),
                None => op,
            };
            let job: CloseOrder = op.into();
            return Ok(match self.created_at {
                Some(t) => job.created_at(t),
                None => job,
            });
        }
        let mut job: CloseOrder = match (self.api, self.combined) {
            (Api::V2, true) => {
                return Err(Failure::usage("--combined is an APIv3 call: add --api v3"));
            }
            (Api::V2, false) => {
                let mut op = CloseOrderV2::new(no);
                if let Some(sub) = &self.sub_mch_id {
                    op = op.for_sub_merchant(sub);
                    if let Some(app) = &self.sub_appid {
                        op = op.with_sub_appid(app);
                    }
                }
                op.into()
            }
            (Api::V3, false) => match &self.sub_mch_id {
                Some(sub) => CloseOrderV3::new(no).for_sub_merchant(sub).into(),
                None => CloseOrderV3::new(no).into(),
            },
            (Api::V3, true) => {
                let mut subs = Vec::new();
                for spec in &self.sub_orders {
                    let (mchid, no, sub) = sub_order(spec)?;
                    let order = SubOrder::new(mchid, no);
                    subs.push(match sub {
                        Some(sub) => order.for_sub_merchant(sub),
                        None => order,
                    });
                }
                let appid = self.combine_appid.clone().unwrap_or_default();
                CloseCombinedOrder::new(appid, no, subs).into()
            }
        };
        if let Some(t) = self.created_at {
            job = job.created_at(t);
        }
        Ok(job)
    }
}

/// Settings of one API generation, given as flags to a close of the other (which would
/// ignore them), and what that close reads instead.
const OTHER_GENERATION: [(Api, &str, &str); 14] = [
    (Api::V2, "mch_id", "APIv3 reads `mchid`: use --mchid"),
    (Api::V2, "appid", "an APIv3 close names no app id"),
    (Api::V2, "api_v2_key_file", "APIv3 signs with --private-key-file"),
    (Api::V2, "sign_type", "APIv3 signs with RSA (--private-key-file)"),
    (Api::V2, "sub_appid", "an APIv3 partner close takes --sub-mch-id only"),
    (Api::V3, "mchid", "APIv2 reads `mch_id`: use --mch-id"),
    (Api::V3, "serial_no", "APIv2 signs with --api-v2-key-file"),
    (Api::V3, "private_key_file", "APIv2 signs with --api-v2-key-file"),
    (Api::V3, "public_key_id", "APIv2 answers are checked with the API v2 key"),
    (Api::V3, "public_key_file", "APIv2 answers are checked with the API v2 key"),
    (Api::V3, "platform_cert_file", "APIv2 answers are checked with the API v2 key"),
    (Api::V3, "platform_cert_dir", "APIv2 answers are checked with the API v2 key"),
    (Api::V3, "api_v3_key_file", "APIv2 signs with --api-v2-key-file"),
    (Api::V3, "combine_appid", "combined orders are an APIv3 close"),
];

/// Refuses a flag of the other API generation, which this close would silently ignore (and
/// close under the environment's merchant instead).
pub(crate) fn same_generation(api: Api, origin: &crate::settings::Origin) -> Result<(), Failure> {
    let (this, other) = match api {
        Api::V2 => ("APIv2", "APIv3"),
        Api::V3 => ("APIv3", "APIv2"),
    };
    for (generation, name, instead) in OTHER_GENERATION {
        if generation != api && origin.flag(name) {
            return Err(Failure::usage(format!(
                "--{} is an {other} setting, and this is an {this} close (--api {}): {instead}; nothing was sent",
                name.replace('_', "-"),
                this.trim_start_matches("API").to_ascii_lowercase(),
            )));
        }
    }
    Ok(())
}

pub(crate) fn run(mut args: CloseArgs) -> Result<u8, Failure> {
    if args.sandbox && args.settings.origin.flag("base_url") {
        return Err(Failure::usage("--sandbox runs its own WeChat Pay: leave out --base-url"));
    }
    same_generation(args.api, &args.settings.origin)?;
    let _sandbox = if args.sandbox { Some(embed(&mut args)?) } else { None };
    args.settings = std::mem::take(&mut args.settings).resolve()?;
    settings::require(&args.settings, args.api.into())?;
    let purpose = args.api.purpose(args.global);
    // One order is checked before anything else (a file's lines are checked as they are read).
    let one = match args.from.clone() {
        None => {
            let no = args.number().unwrap_or_default().to_owned();
            let job = args.job(&no)?;
            job.validate(unix_now()).map_err(|e| Failure::usage(invalid(&e)))?;
            Ok((no, job))
        }
        Some(file) => Err(file),
    };
    let (client, kept) = ops::close::connect(&args.settings, purpose)?;
    let base_url = client.config().endpoint().primary().as_str().to_owned();
    let rt = runtime()?;
    let code = match one {
        Ok((no, job)) => {
            settings::say_destination(client.config());
            let settings = args.confirm_settings();
            let (record, code) = rt.block_on(ops::close::close_one(&client, &no, job, settings));
            let record = if args.json { record.sent_to(&base_url) } else { record };
            say!("{}", record.render(args.json));
            code
        }
        Err(file) => {
            let plan = args.plan(file, base_url)?;
            rt.block_on(ops::bulk::run(plan, client.clone()))?
        }
    };
    if let Some(kept) = &kept {
        kept.write_back(client.session());
    }
    Ok(code)
}

/// `--sandbox`: an embedded sandbox whose test credentials replace the settings, with the
/// orders this command names created in it first, in the `--sandbox-state` asked for.
fn embed(args: &mut CloseArgs) -> Result<Embedded, Failure> {
    let state = ops::sandbox::order_state(&args.sandbox_state)?;
    let (sandbox, settings) = ops::sandbox::for_close(
        args.api == Api::V2,
        args.sub_mch_id.as_deref(),
        args.by_transaction_id(),
    )?;
    args.settings = settings;
    let Some(state) = state else { return Ok(sandbox) };
    if let Some(file) = &args.from {
        let mut reader = OrderReader::open(file, args.column.as_deref())?;
        while let Some(line) = reader.next_line() {
            if let Ok(Line { order: Ok(no), .. }) = line {
                sandbox.put(&no, state);
            }
        }
    }
    if let Some(no) = args.number() {
        if args.combined {
            for spec in &args.sub_orders {
                let (mchid, no, sub) = sub_order(spec)?;
                sandbox.put_sub_order(mchid, no, sub, state);
            }
        } else {
            sandbox.put(no, state);
        }
    }
    Ok(sandbox)
}

impl CloseArgs {
    /// The bulk run these arguments describe.
    fn plan(&self, file: PathBuf, base_url: String) -> Result<Plan, Failure> {
        let rate = self.rate.as_deref().map(ops::bulk::parse_rate).transpose()?;
        let journal = match (&self.resume, &self.journal) {
            (Some(p), _) | (None, Some(p)) => p.clone(),
            (None, None) => PathBuf::from(format!("{}.journal.jsonl", file.display())),
        };
        let s = &self.settings;
        // The call by its stable name (`CallKind`); institutional mode shows in the
        // identity's sub-merchant.
        let (call, merchant) = match (self.api, self.sub_mch_id.is_some(), self.global) {
            (Api::V2, _, _) => (CallKind::V2Close, settings::v2_merchant(s)),
            (Api::V3, false, false) => (CallKind::V3Direct, s.mchid.clone().unwrap_or_default()),
            (Api::V3, true, false) => (CallKind::V3Partner, s.mchid.clone().unwrap_or_default()),
            (Api::V3, _, true) => {
                let call = if self.by_transaction_id() {
                    CallKind::V3GlobalById
                } else {
                    CallKind::V3Global
                };
                (call, s.mchid.clone().unwrap_or_default())
            }
        };
        let run = RunIdentity {
            call: call.as_str().to_owned(),
            merchant,
            sub_merchant: self.sub_mch_id.clone(),
            column: self.column.clone(),
            base_url: s.destination(),
            confirm: self.confirm.as_str().to_owned(),
        };
        // Each line's close, checked by the core now (bad lines are reported by number).
        self.job("probe-0001")?;
        let args = self.clone();
        let close_for = move |no: &str| {
            let close = args.job(no).map_err(|f| f.message)?;
            close.validate(unix_now()).map(|()| close).map_err(|e| invalid(&e))
        };
        Ok(Plan {
            file,
            column: self.column.clone(),
            concurrency: self.concurrency,
            rate,
            journal: journal.clone(),
            resume: self.resume.is_some(),
            json: self.json,
            run,
            close_for: std::sync::Arc::new(close_for),
            confirm: self.confirm_settings(),
            resume_command: resume_command(&journal),
            base_url,
        })
    }
}

/// A URL with its userinfo (a proxy's user and password) replaced by `[redacted]`:
/// everything between `://` and the last `@`, as the core redacts a proxy in `Debug` (a
/// password may hold a raw `/` or `@`).
pub(crate) fn redact_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => format!("{scheme}://[redacted]@{}", &rest[at + 1..]),
            None => url.to_owned(),
        },
        None if url.contains('@') => "[redacted]".to_owned(),
        None => url.to_owned(),
    }
}

/// This command line with `--resume JOURNAL` in place of any `--journal` or `--resume`, and
/// a proxy's credentials redacted (the hint says to put them back).
fn resume_command(journal: &std::path::Path) -> String {
    let mut args: Vec<String> = Vec::new();
    let mut skip_next = false;
    let mut proxy_next = false;
    for arg in std::env::args().skip(1) {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if std::mem::take(&mut proxy_next) {
            args.push(redact_userinfo(&arg));
            continue;
        }
        if arg == "--journal" || arg == "--resume" {
            skip_next = true;
            continue;
        }
        if arg.starts_with("--journal=") || arg.starts_with("--resume=") {
            continue;
        }
        if arg == "--proxy" {
            proxy_next = true;
        }
        if let Some(url) = arg.strip_prefix("--proxy=") {
            args.push(format!("--proxy={}", redact_userinfo(url)));
            continue;
        }
        args.push(arg);
    }
    args.push("--resume".into());
    args.push(journal.display().to_string());
    let quoted: Vec<String> = args.iter().map(|a| crate::shell::shell_quote(a)).collect();
    format!("wxpay {}", quoted.join(" "))
}

/// A `--sub-order` spec: `MCHID:OUT_TRADE_NO[:SUB_MCHID]`.
fn sub_order(spec: &str) -> Result<(&str, &str, Option<&str>), Failure> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [mchid, no] => Ok((mchid, no, None)),
        [mchid, no, sub] => Ok((mchid, no, Some(sub))),
        _ => Err(Failure::usage(format!("--sub-order {spec}: use MCHID:OUT_TRADE_NO[:SUB_MCHID]"))),
    }
}
