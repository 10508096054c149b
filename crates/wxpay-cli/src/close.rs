//! `wxpay close`: one order, or many from a file with a journal that survives interruption.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use wxpay_core::v2::CloseOrderV2;
use wxpay_core::v3::{CloseCombinedOrder, CloseOrderV3, SubOrder};
use wxpay_core::{CloseOrder, CloseOutcome, Error, ErrorKind, unix_now};
use wxpay_sandbox::merchants::{V2_MERCHANTS, V3_MERCHANTS};
use wxpay_sandbox::{OrderKey, OrderState, SandboxConfig, SandboxThread};

use crate::settings::Settings;
use crate::{Failure, exit, runtime};

pub(crate) const AFTER_HELP: &str = "\
Exit codes:
  0  closed, or already closed: the order can no longer be paid
  1  error: the order's state is unknown (the request may have been sent; closing again is safe)
  2  bad usage, settings or input: nothing was sent
  3  the order was paid: deliver or refund
  4  no such order
  5  (bulk) some input lines were not order numbers; every other line was processed
  6  error, and the order is unchanged: not sent, or refused by WeChat Pay (the message says why)

Settings come from flags, then WXPAY_* environment variables, then the --config TOML file:
  WXPAY_BASE_URL  WXPAY_ENDPOINT  WXPAY_CONFIG
  APIv2: WXPAY_APPID  WXPAY_MCH_ID  WXPAY_API_V2_KEY_FILE  WXPAY_SIGN_TYPE
  APIv3: WXPAY_MCHID  WXPAY_SERIAL_NO  WXPAY_PRIVATE_KEY_FILE
         WXPAY_PUBLIC_KEY_ID  WXPAY_PUBLIC_KEY_FILE  WXPAY_PLATFORM_CERT_FILE
Keys are read from files only, never from the command line.

Bulk: --from FILE takes one order number per line (blank lines and # comments skipped), or
CSV with --column NAME. Each result is appended to the journal (FILE.journal.jsonl unless
--journal says otherwise) as soon as it is known; --resume JOURNAL skips the orders that
already have an outcome there and appends to it.";

/// Which close call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Api {
    /// APIv2 (XML, MD5 or HMAC-SHA256).
    V2,
    /// APIv3 (JSON, RSA).
    V3,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CloseArgs {
    /// The order number (`out_trade_no`; for --combined, the `combine_out_trade_no`).
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    out_trade_no: Option<String>,
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
    /// Close against an embedded sandbox with its test credentials (the order is created first).
    #[arg(long, conflicts_with = "base_url")]
    sandbox: bool,
    /// With --sandbox: the state the order starts in: unpaid, paid, closed or missing.
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
    /// With --from: skip orders with an outcome in this journal, and append to it.
    #[arg(long, value_name = "JOURNAL", requires = "from", conflicts_with = "journal")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

impl CloseArgs {
    fn job(&self, no: &str) -> Result<CloseOrder, Failure> {
        let mut job: CloseOrder = match (self.api, self.combined) {
            (Api::V2, true) => {
                return Err(Failure::usage("--combined is an APIv3 call: add --api v3"));
            }
            (Api::V2, false) => {
                let mut op = CloseOrderV2::new(no);
                if let Some(sub) = &self.sub_mch_id {
                    op = op.for_sub_merchant(sub, self.sub_appid.clone());
                }
                op.into()
            }
            (Api::V3, false) => match &self.sub_mch_id {
                Some(sub) => CloseOrderV3::partner(no, sub).into(),
                None => CloseOrderV3::direct(no).into(),
            },
            (Api::V3, true) => {
                let mut subs = Vec::new();
                for spec in &self.sub_orders {
                    let (mchid, no, sub) = sub_order(spec)?;
                    let order = SubOrder::new(mchid, no);
                    subs.push(match sub {
                        Some(sub) => order.sub_mchid(sub),
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

pub(crate) fn run(mut args: CloseArgs) -> Result<u8, Failure> {
    let _sandbox = if args.sandbox { Some(embedded_sandbox(&mut args)?) } else { None };
    args.settings = std::mem::take(&mut args.settings).resolve()?;
    let config = args.settings.builder()?.build().map_err(|e| Failure::usage(e.to_string()))?;
    let client = wxpay_async::Client::new(config).map_err(|e| Failure::usage(e.to_string()))?;
    let rt = runtime()?;
    match args.from.clone() {
        None => {
            let no = args.out_trade_no.clone().unwrap_or_default();
            let job = args.job(&no)?;
            job.validate(unix_now()).map_err(|e| Failure::usage(e.to_string()))?;
            let result = rt.block_on(client.close(job));
            let record = record(&no, None, &result);
            print_record(&record, args.json);
            Ok(exit_code(&result))
        }
        Some(file) => rt.block_on(bulk(&args, &file, client)),
    }
}

/// Starts the embedded sandbox, points the settings at it with its test credentials, and
/// creates the order(s) in the state asked for.
fn embedded_sandbox(args: &mut CloseArgs) -> Result<SandboxThread, Failure> {
    let state =
        match args.sandbox_state.as_str() {
            "missing" => None,
            s => Some(OrderState::parse(s).ok_or_else(|| {
                Failure::usage("--sandbox-state is unpaid, paid, closed or missing")
            })?),
        };
    let sandbox =
        SandboxThread::start(SandboxConfig { min_close_delay_secs: 0, ..SandboxConfig::default() })
            .map_err(|e| Failure::error(format!("cannot start the sandbox: {e}")))?;
    let dir = std::env::temp_dir().join(format!(
        "wxpay-cli-sandbox-{}-{}",
        std::process::id(),
        sandbox.addr().port()
    ));
    sandbox
        .credentials()
        .write_env(&dir)
        .map_err(|e| Failure::error(format!("cannot write key files: {e}")))?;
    let s = &mut args.settings;
    let sp = args.sub_mch_id.is_some();
    s.base_url = Some(sandbox.base_url().to_owned());
    let (v2, v3) = if sp {
        (&V2_MERCHANTS[1], &V3_MERCHANTS[1])
    } else {
        (&V2_MERCHANTS[0], &V3_MERCHANTS[0])
    };
    s.appid = Some(v2.appid.to_owned());
    s.mch_id = Some(v2.mch_id.to_owned());
    s.api_v2_key_file = Some(dir.join("api_v2_key.txt"));
    s.mchid = Some(v3.mchid.to_owned());
    s.serial_no = Some(wxpay_sandbox::merchants::MERCHANT_SERIAL_NO.to_owned());
    s.private_key_file = Some(dir.join("apiclient_key.pem"));
    s.public_key_id = Some(wxpay_sandbox::merchants::WECHATPAY_PUBLIC_KEY_ID.to_owned());
    s.public_key_file = Some(dir.join("wechatpay_pub.pem"));
    s.config = None;
    let mch = if args.api == Api::V2 { v2.mch_id } else { v3.mchid };
    let key = |no: &str| match &args.sub_mch_id {
        Some(sub) => OrderKey::sub(mch, sub, no),
        None => OrderKey::new(mch, no),
    };
    if let (Some(state), Some(file)) = (state, &args.from) {
        let (orders, _) = read_orders(file, args.column.as_deref())?;
        for (_, no) in orders {
            sandbox.state().put_order(key(&no), state, 0);
        }
    }
    if let (Some(state), Some(no)) = (state, &args.out_trade_no) {
        if args.combined {
            for spec in &args.sub_orders {
                let (mchid, no, sub) = sub_order(spec)?;
                let key = match sub {
                    Some(sub) => OrderKey::sub(mchid, sub, no),
                    None => OrderKey::new(mchid, no),
                };
                sandbox.state().put_order(key, state, 0);
            }
        } else {
            sandbox.state().put_order(key(no), state, 0);
        }
    }
    Ok(sandbox)
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

fn exit_code(result: &Result<CloseOutcome, Error>) -> u8 {
    match result {
        Ok(CloseOutcome::Closed | CloseOutcome::AlreadyClosed) => exit::CLOSED,
        Ok(CloseOutcome::Paid) => exit::PAID,
        Ok(CloseOutcome::NotFound) => exit::NOT_FOUND,
        Err(e) if matches!(e.kind(), ErrorKind::InvalidInput(_)) => exit::USAGE,
        Err(e) if e.order_effect().is_unchanged() => exit::UNCHANGED,
        Err(_) => exit::ERROR,
    }
}

/// An error and its causes, each once: `Display` shows the error, `source()` what lies
/// below (an HTTP client's or a signer's own error).
pub(crate) fn report(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
}

/// A result as a journal / `--json` record.
fn record(no: &str, line: Option<usize>, result: &Result<CloseOutcome, Error>) -> Value {
    let mut v = json!({ "out_trade_no": no, "at": unix_now() });
    if let Some(line) = line {
        v["line"] = json!(line);
    }
    match result {
        Ok(outcome) => v["outcome"] = json!(outcome.as_str()),
        Err(e) => {
            v["error"] = json!(report(e));
            v["effect"] = json!(e.order_effect().as_str());
            v["kind"] = json!(e.kind().name());
            v["attempts"] = json!(e.attempts());
            if let Some(api) = e.api() {
                v["code"] = json!(api.code.as_str());
            }
            if let Some(id) = e.request_id() {
                v["request_id"] = json!(id);
            }
        }
    }
    v
}

fn human(record: &Value) -> String {
    let no = record["out_trade_no"].as_str().unwrap_or_default();
    match record["outcome"].as_str() {
        Some("closed") => format!("{no}: closed, the order can no longer be paid"),
        Some("already_closed") => format!("{no}: already closed, nothing more to do"),
        Some("not_found") => format!("{no}: no such order, nothing to close"),
        Some("paid") => format!("{no}: PAID, it cannot be closed: deliver or refund"),
        _ => {
            let hint = match record["effect"].as_str() {
                Some("unknown") => "; closing again is safe and tells the state",
                _ => "",
            };
            format!("{no}: {}{hint}", record["error"].as_str().unwrap_or_default())
        }
    }
}

fn print_record(record: &Value, json: bool) {
    if json {
        println!("{record}");
    } else {
        println!("{}", human(record));
    }
}

/// `(line number, order number or problem)` pairs.
type Lines = Vec<(usize, String)>;

/// Order numbers from a file: `(line number, order number)` and `(line number, problem)`.
fn read_orders(file: &Path, column: Option<&str>) -> Result<(Lines, Lines), Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    let index = match column {
        None => None,
        Some(name) => {
            let (_, header) =
                lines.next().ok_or_else(|| Failure::usage("the CSV file is empty"))?;
            let i = header
                .split(',')
                .position(|h| h.trim().trim_matches('"') == name)
                .ok_or_else(|| Failure::usage(format!("the CSV header has no column {name:?}")))?;
            Some(i)
        }
    };
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for (n, line) in lines {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let value = match index {
            None => Some(line),
            Some(i) => line.split(',').nth(i).map(|v| v.trim().trim_matches('"')),
        };
        match value {
            Some(v) if !v.is_empty() => good.push((n, v.to_owned())),
            _ => bad.push((n, "no order number in this line".to_owned())),
        }
    }
    Ok((good, bad))
}

/// Orders that already have an outcome in a journal; a torn last line is skipped.
fn finished_in(journal: &Path) -> Result<HashSet<String>, Failure> {
    let text = match std::fs::read_to_string(journal) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(Failure::usage(format!("cannot read {}: {e}", journal.display()))),
    };
    let mut done = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get("outcome").is_some() => {
                if let Some(no) = v["out_trade_no"].as_str() {
                    done.insert(no.to_owned());
                }
            }
            Ok(_) => {}
            Err(_) => {
                eprintln!("wxpay: {}:{}: not a journal record, skipped", journal.display(), i + 1)
            }
        }
    }
    Ok(done)
}

fn parse_rate(rate: &str) -> Result<f64, Failure> {
    let n = rate.strip_suffix("/s").unwrap_or(rate);
    match n.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(Failure::usage(format!(
            "--rate {rate}: give a positive number per second, like 50/s"
        ))),
    }
}

async fn bulk(args: &CloseArgs, file: &Path, client: wxpay_async::Client) -> Result<u8, Failure> {
    let (orders, bad) = read_orders(file, args.column.as_deref())?;
    let now = unix_now();
    let mut invalid = bad;
    let mut jobs = Vec::new();
    let journal_path = match (&args.resume, &args.journal) {
        (Some(p), _) | (None, Some(p)) => p.clone(),
        (None, None) => PathBuf::from(format!("{}.journal.jsonl", file.display())),
    };
    let done = if args.resume.is_some() { finished_in(&journal_path)? } else { HashSet::new() };
    let mut skipped = 0usize;
    let mut seen = HashSet::new();
    for (n, no) in orders {
        if done.contains(&no) {
            skipped += 1;
            continue;
        }
        if !seen.insert(no.clone()) {
            invalid.push((n, format!("{no} is listed twice; closed once")));
            continue;
        }
        let job = args.job(&no)?;
        match job.validate(now) {
            Ok(()) => jobs.push((n, no, job)),
            Err(e) => invalid.push((n, e.to_string())),
        }
    }
    for (n, why) in &invalid {
        eprintln!("wxpay: {}:{n}: {why}", file.display());
    }
    let mut journal =
        std::fs::OpenOptions::new().create(true).append(true).open(&journal_path).map_err(|e| {
            Failure::usage(format!("cannot open the journal {}: {e}", journal_path.display()))
        })?;

    let total = jobs.len();
    let bar = if std::io::stderr().is_terminal() && !args.json {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let rate = match &args.rate {
        Some(r) => {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / parse_rate(r)?));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            Some(Arc::new(tokio::sync::Mutex::new(interval)))
        }
        None => None,
    };
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..args.concurrency.clamp(1, 1024) {
        let (jobs, next, tx, client, rate) =
            (jobs.clone(), next.clone(), tx.clone(), client.clone(), rate.clone());
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((line, no, job)) = jobs.get(i) else { break };
                if let Some(rate) = &rate {
                    rate.lock().await.tick().await;
                }
                let result = client.close(job.clone()).await;
                if tx.send(record(no, Some(*line), &result)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(rec) = rx.recv().await {
        let mut line = rec.to_string();
        line.push('\n');
        // One write per record, straight to the kernel: an interrupted run loses nothing
        // that was answered.
        journal.write_all(line.as_bytes()).and_then(|()| journal.flush()).map_err(|e| {
            Failure::error(format!("cannot write the journal {}: {e}", journal_path.display()))
        })?;
        let key = rec["outcome"].as_str().map_or_else(|| "error".to_owned(), str::to_owned);
        *tally.entry(key).or_default() += 1;
        match &bar {
            Some(bar) => {
                bar.inc(1);
                if rec.get("error").is_some() {
                    bar.println(human(&rec));
                }
            }
            None => print_record(&rec, args.json),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let errors = tally.get("error").copied().unwrap_or(0);
    let mut summary: Vec<String> = tally.iter().map(|(k, v)| format!("{k} {v}")).collect();
    summary.push(format!("invalid lines {}", invalid.len()));
    summary.push(format!("skipped (already in the journal) {skipped}"));
    eprintln!("wxpay: {total} closes: {}; journal {}", summary.join(", "), journal_path.display());
    if args.json {
        println!(
            "{}",
            json!({ "summary": tally, "invalid_lines": invalid.len(), "skipped": skipped, "journal": journal_path.display().to_string() })
        );
    }
    Ok(if errors > 0 {
        exit::ERROR
    } else if !invalid.is_empty() {
        exit::BAD_LINES
    } else {
        exit::CLOSED
    })
}
