//! `wxpay close --from FILE`: many closes, streamed from a file, journaled, resumable.
//!
//! A reader thread streams the file (bounded queues: memory does not grow with it), checks
//! each order number with the core and skips duplicates and lines a resumed journal already
//! finished; workers close; the main task journals each result before anything else,
//! prints it, and stops the run cleanly on a signal, a closed output or a journal that
//! cannot be written.

mod input;
pub(crate) mod journal;

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use wxpay_core::{CloseOrder, ConfirmSettings, Confirmed, Error};

pub(crate) use input::{Line, OrderReader};
use journal::{Finished, InputIdentity, Journal, RunIdentity};

use crate::record::{CloseRecord, Summary, Tally, owned};
use crate::{Failure, exit};

/// The most closes per second `--rate` takes, and the fewest.
pub(crate) const RATE_RANGE: (f64, f64) = (0.01, 100_000.0);

/// The close for an order number, checked by the core (`Err`: why the line is refused).
pub(crate) type CloseFor = Arc<dyn Fn(&str) -> Result<CloseOrder, String> + Send + Sync>;

/// Everything a bulk run needs, settled by the command line.
pub(crate) struct Plan {
    pub(crate) file: PathBuf,
    pub(crate) column: Option<String>,
    pub(crate) concurrency: usize,
    pub(crate) rate: Option<f64>,
    pub(crate) journal: PathBuf,
    pub(crate) resume: bool,
    pub(crate) json: bool,
    pub(crate) run: RunIdentity,
    pub(crate) close_for: CloseFor,
    /// The command line that continues this run (`--resume JOURNAL`), for the summary.
    pub(crate) resume_command: String,
    /// Where the closes go, for `--json` records.
    pub(crate) base_url: String,
    /// How each close is confirmed (`never`: the plain close).
    pub(crate) confirm: ConfirmSettings,
}

/// Parses `--rate`: `50` or `50/s`, within [`RATE_RANGE`].
pub(crate) fn parse_rate(rate: &str) -> Result<f64, Failure> {
    let n = rate.trim().strip_suffix("/s").unwrap_or(rate.trim());
    let (min, max) = RATE_RANGE;
    match n.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && (min..=max).contains(&r) => Ok(r),
        _ => Err(Failure::usage(format!(
            "--rate {rate}: give closes per second from {min} to {max}, like 50/s"
        ))),
    }
}

/// What the reader and the workers tell the main task.
enum Event {
    /// A line that is not an order number (or could not be read).
    Invalid { line: u64, why: String },
    /// A line whose order number an earlier line already has.
    Duplicate { line: u64, no: String },
    /// A close's result.
    Done { line: u64, no: String, result: Result<Confirmed, Error> },
    /// The whole file was read: its SHA-256 and how many records it had.
    ReadAll { sha256: String, lines: u64 },
    /// Reading the file failed part way.
    ReadFailed(String),
}

/// One close to make.
struct Job {
    line: u64,
    no: String,
    close: CloseOrder,
}

/// Output that may go away (`| head`): the first failed write says so, and nothing panics.
struct Out {
    json: bool,
    closed: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Out {
    /// Prints a result line on standard output (or above the progress bar, errors only).
    fn result(&mut self, record: &CloseRecord) {
        if self.closed {
            return;
        }
        let text = record.render(self.json);
        match &self.bar {
            Some(bar) => {
                if record.is_error() {
                    bar.println(text);
                }
            }
            None => {
                let mut stdout = std::io::stdout().lock();
                if writeln!(stdout, "{text}").and_then(|()| stdout.flush()).is_err() {
                    self.closed = true;
                }
            }
        }
    }
}

/// Orders in a row whose answers are signed under a key the settings hold none of, after
/// which a run stops starting closes.
const KEY_NOT_HELD_STOP: u32 = 3;

/// A line on standard error, `wxpay: ` first.
fn note(text: &str) {
    note!("wxpay: {}", crate::escape::lines(text));
}

/// Runs the plan. Returns the exit code, by the documented precedence.
pub(crate) async fn run(plan: Plan, client: wxpay_async::Client) -> Result<u8, Failure> {
    let input = InputIdentity::of(&plan.file)?;
    let mut warnings = Vec::new();
    // A resume checks its journal first (another run's is refused as such); a new run opens
    // the input first, so that one that cannot be read (a wrong --column) leaves no journal.
    let (reader, mut journal, finished) = if plan.resume {
        let (journal, finished) =
            Journal::resume(&plan.journal, &plan.run, &input, &mut |w| warnings.push(w))?;
        (OrderReader::open(&plan.file, plan.column.as_deref())?, journal, finished)
    } else {
        let reader = OrderReader::open(&plan.file, plan.column.as_deref())?;
        let journal = Journal::create(&plan.journal, &plan.run, &input, &mut |w| warnings.push(w))?;
        (reader, journal, Finished::default())
    };
    for w in warnings {
        note(&w);
    }
    // The journal accepted, closes are about to go out: where, when that is not WeChat Pay.
    crate::settings::say_destination(client.config());

    let stop = Arc::new(Stop::default());
    let concurrency = plan.concurrency.clamp(1, 1024);
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(2 * concurrency);
    let (events_tx, mut events) = mpsc::channel::<Event>(4 * concurrency + 64);

    let bar = (std::io::stderr().is_terminal() && !plan.json).then(|| {
        let bar = indicatif::ProgressBar::new(input.size);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {percent}% of the file, {msg} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let consumed = reader.consumed();
    let reading = spawn_reader(
        reader,
        plan.close_for.clone(),
        finished,
        jobs_tx,
        events_tx.clone(),
        stop.clone(),
    );
    let rate = plan.rate.map(|r| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / r));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Arc::new(Mutex::new(interval))
    });
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    for _ in 0..concurrency {
        let (jobs, events, client, rate, stop) =
            (jobs_rx.clone(), events_tx.clone(), client.clone(), rate.clone(), stop.clone());
        let confirm = plan.confirm.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = async { jobs.lock().await.recv().await } => next,
                    () = stop.wait() => break,
                };
                let Some(job) = next else { break };
                if let Some(rate) = &rate {
                    let ticked = tokio::select! {
                        _ = async { rate.lock().await.tick().await } => true,
                        () = stop.wait() => false,
                    };
                    if !ticked {
                        break;
                    }
                }
                // Nothing new starts once the run is stopping.
                if stop.is_set() {
                    break;
                }
                let result = client.close_confirmed(job.close, confirm.clone()).await;
                if events.send(Event::Done { line: job.line, no: job.no, result }).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(events_tx);
    drop(jobs_rx);

    let mut signals = Signals::new()?;
    let mut out = Out { json: plan.json, closed: false, bar };
    let mut tally = Tally::new();
    let (mut invalid, mut duplicates) = (0u64, 0u64);
    let mut stopped_because: Option<String> = None;
    let mut journal_failed = false;
    let mut read_all = false;
    let shown = plan.file.display().to_string();
    // Orders in a row whose answers were signed under a key the settings hold none of.
    let mut key_not_held = 0u32;
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = signals.next() => {
                if stopped_because.is_some() {
                    note("second signal: exiting now; the journal holds every result written so far");
                    let _ = journal.sync();
                    std::process::exit(130);
                }
                stop.set();
                note("stopping: no new closes start; waiting for those in flight (a second signal exits at once)");
                stopped_because = Some("interrupted".into());
                continue;
            }
        };
        let Some(event) = event else { break };
        match event {
            Event::Invalid { line, why } => {
                invalid += 1;
                note(&format!("{shown}:{line}: {why}"));
            }
            Event::Duplicate { line, no } => {
                duplicates += 1;
                note(&format!("{shown}:{line}: {no} is listed earlier in the file; closed once"));
            }
            Event::ReadFailed(why) => {
                note(&format!("{shown}: {why}; no further lines read"));
                stopped_because.get_or_insert_with(|| format!("reading {shown} failed"));
            }
            Event::ReadAll { sha256, lines } => {
                read_all = true;
                let trailer = journal::Trailer { input_sha256: sha256, input_lines: lines };
                record_or_stop(
                    &mut journal,
                    &trailer,
                    &mut journal_failed,
                    &stop,
                    &mut stopped_because,
                );
            }
            Event::Done { line, no, result } => {
                // Answers signed under a key the settings lack stay unverifiable for every
                // order after: after a few in a row, no new close starts (each would be
                // sent, and its effect unknown); said once, with what to set.
                let hint = result.as_ref().err().and_then(crate::report::key_not_held);
                key_not_held = if hint.is_some() { key_not_held + 1 } else { 0 };
                if let Some(hint) = hint.filter(|_| key_not_held >= KEY_NOT_HELD_STOP) {
                    if stopped_because.is_none() {
                        stop.set();
                        note(&format!("{hint}; stopping: no new closes start"));
                        stopped_because = Some(
                            "answers are signed under a key these settings hold none of".into(),
                        );
                    }
                }
                let record = CloseRecord::confirmed(&no, Some(line), &result, plan.confirm.policy);
                // The journal first: a result is not known until it is written down.
                record_or_stop(
                    &mut journal,
                    &record,
                    &mut journal_failed,
                    &stop,
                    &mut stopped_because,
                );
                let record = if plan.json { record.sent_to(&plan.base_url) } else { record };
                let key = result.as_ref().map_or("error", |c| c.outcome.as_str());
                *tally.entry(key).or_default() += 1;
                if journal_failed {
                    // Still shown, even where a progress bar hides successes.
                    note(&format!("not journaled: {}", record.render(plan.json)));
                }
                out.result(&record);
                if out.closed && stopped_because.is_none() {
                    stop.set();
                    stopped_because = Some("standard output was closed".into());
                }
                if let Some(bar) = &out.bar {
                    bar.set_position(consumed.load(Ordering::Relaxed));
                    bar.set_message(format!("{} closes", tally.values().sum::<u64>()));
                }
            }
        }
    }
    // What the journal already had for the lines skipped: with this run's results, the
    // whole run's.
    let skipped = reading.join().unwrap_or_default();
    let already: u64 = skipped.values().sum();
    let mut whole = tally.clone();
    for (k, v) in &skipped {
        *whole.entry(k).or_default() += v;
    }
    if let Some(bar) = out.bar.take() {
        bar.finish_and_clear();
    }
    let synced = journal.sync();
    if let Err(e) = &synced {
        if !journal_failed {
            note(&journal.write_failure(e).message);
            journal_failed = true;
        }
    }

    let closes: u64 = tally.values().sum();
    let mut summary: Vec<String> =
        tally.iter().map(|(k, v)| format!("{} {v}", k.replace('_', " "))).collect();
    summary.push(format!("invalid lines {invalid}"));
    summary.push(format!("duplicates {duplicates}"));
    summary.push(format!("skipped (already in the journal) {already}"));
    if plan.resume {
        let whole: Vec<String> =
            whole.iter().map(|(k, v)| format!("{} {v}", k.replace('_', " "))).collect();
        summary.push(format!("whole run: {}", whole.join(", ")));
    }
    note(&format!("{closes} closes: {}; journal {}", summary.join(", "), journal.path().display()));
    let unfinished = !read_all || stopped_because.is_some();
    if unfinished {
        let why = stopped_because.as_deref().unwrap_or("stopped");
        note(&format!(
            "{why}: not every line was processed; to finish the run: {}",
            plan.resume_command
        ));
        if plan.resume_command.contains("[redacted]@") {
            note(
                "put the proxy's user and password back in place of [redacted] (or set WXPAY_PROXY)",
            );
        }
    }
    if plan.json && !out.closed {
        let summary = Summary {
            summary: owned(&tally),
            whole_run: owned(&whole),
            invalid_lines: invalid,
            duplicates,
            skipped: already,
            journal: journal.path().display().to_string(),
            base_url: plan.base_url.clone(),
            complete: !unfinished,
        };
        let _ = writeln!(std::io::stdout(), "{}", crate::escape::json(&summary));
    }
    // The exit code says the worst of the whole run, the journal's part included.
    let count = |k: &str| whole.get(k).copied().unwrap_or(0);
    Ok(if count("error") > 0 || journal_failed || unfinished {
        exit::ERROR
    } else if count("paid") > 0 {
        exit::PAID
    } else if count("not_found") > 0 {
        exit::NOT_FOUND
    } else if invalid > 0 {
        exit::BAD_LINES
    } else {
        exit::CLOSED
    })
}

/// Appends `record` to the journal unless it already failed; the first failure stops the
/// run: no new closes start, and what follows is printed only.
fn record_or_stop(
    journal: &mut Journal,
    record: &impl serde::Serialize,
    failed: &mut bool,
    stop: &Stop,
    stopped_because: &mut Option<String>,
) {
    if *failed {
        return;
    }
    if let Err(e) = journal.append(record) {
        *failed = true;
        stop.set();
        note(&format!(
            "{}; stopped: no new closes start, and results from now on are printed only",
            journal.write_failure(&e).message
        ));
        stopped_because.get_or_insert_with(|| "the journal cannot be written".into());
    }
}

/// The run's stop: set once (a signal, a closed output, a journal that cannot be written),
/// checked by the reader and awaited by the workers, so that one waiting for the rate
/// limiter's next tick (100 s apart at `--rate 0.01`) stops at once.
#[derive(Debug)]
struct Stop(tokio::sync::watch::Sender<bool>);

impl Default for Stop {
    fn default() -> Self {
        Stop(tokio::sync::watch::Sender::new(false))
    }
}

impl Stop {
    fn set(&self) {
        self.0.send_replace(true);
    }

    fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once the stop is set.
    async fn wait(&self) {
        let _ = self.0.subscribe().wait_for(|stopped| *stopped).await;
    }
}

/// Reads the file on a thread of its own, sending each line on as it is read. Returns the
/// outcomes of the lines it skipped because the journal already has them.
fn spawn_reader(
    mut reader: OrderReader,
    close_for: CloseFor,
    finished: Finished,
    jobs: mpsc::Sender<Job>,
    events: mpsc::Sender<Event>,
    stop: Arc<Stop>,
) -> std::thread::JoinHandle<Tally> {
    std::thread::spawn(move || {
        // Order numbers seen, as keyed 64-bit hashes: 8 bytes an order rather than the text
        // (in a hash table: 9 bytes a slot, kept at most 7/8 full, doubled as it grows).
        // Two different numbers share a hash with odds of about n²/2⁶⁵ (3 in 100 million
        // for a million lines); the later one would then be reported as a duplicate, by line.
        let hasher = std::collections::hash_map::RandomState::new();
        let mut seen: HashSet<u64> = HashSet::new();
        let mut skipped = Tally::new();
        let mut lines = 0u64;
        let send = |event| events.blocking_send(event).is_ok();
        while !stop.is_set() {
            let line = match reader.next_line() {
                None => {
                    let sha256 = reader.sha256_hex();
                    let _ = send(Event::ReadAll { sha256, lines });
                    break;
                }
                Some(Err(e)) => {
                    let _ = send(Event::ReadFailed(e.to_string()));
                    break;
                }
                Some(Ok(line)) => line,
            };
            lines += 1;
            let Line { number, order } = line;
            // A line that is not an order number is reported as such, every time: only
            // valid numbers are compared for duplicates.
            let checked = order.and_then(|no| close_for(&no).map(|close| (no, close)));
            let (no, close) = match checked {
                Ok(found) => found,
                Err(why) => {
                    if !send(Event::Invalid { line: number, why }) {
                        break;
                    }
                    continue;
                }
            };
            if !seen.insert(hasher.hash_one(&no)) {
                if !send(Event::Duplicate { line: number, no }) {
                    break;
                }
                continue;
            }
            // Skipped only while the line holds the order number its outcome was for.
            if let Some(outcome) = finished.outcome(number, &no) {
                *skipped.entry(outcome.as_str()).or_default() += 1;
                continue;
            }
            if jobs.blocking_send(Job { line: number, no, close }).is_err() {
                break;
            }
        }
        skipped
    })
}

/// SIGINT and SIGTERM, as one stream.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        let fail =
            |e: std::io::Error| Failure::error(format!("cannot install signal handlers: {e}"));
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).map_err(fail)?,
            terminate: signal(SignalKind::terminate()).map_err(fail)?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
