//! The bulk journal: JSON Lines, one record per result, appended as each result is known.
//!
//! The first line is a header that says what run the journal belongs to: the format
//! version, the call and merchant, and the input file's identity (path, size, SHA-256 of its
//! first 64 KiB; when the whole file was read, a trailer adds the SHA-256 of all of it).
//! Records name the input line they came from and its order number: a resumed run skips a
//! line only while it holds the order number its record names (a line whose content changed
//! is closed again), and only for a run of the same call, merchant, column, input and host.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wxpay_core::CloseOutcome;

use crate::Failure;
use crate::record::{CloseRecord, RecordedLine};

/// The journal format version this command writes and reads.
pub(crate) const VERSION: u64 = 1;

/// How often records are forced to the disk (`sync_data`), besides at the end.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What a run is: the call, the merchant, and the input. A journal is resumed only by the
/// same run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunIdentity {
    /// `v2`, `v2_institutional`, `v3_direct` or `v3_partner`.
    pub(crate) call: String,
    /// The merchant (APIv2 `appid/mch_id`, APIv3 `mchid`).
    pub(crate) merchant: String,
    /// The sub-merchant, for institutional and partner closes.
    pub(crate) sub_merchant: Option<String>,
    /// The CSV column, if any.
    pub(crate) column: Option<String>,
    /// Where the closes go: the base URL, or WeChat Pay's endpoint (`mainland`, `hongkong`).
    pub(crate) base_url: String,
    /// `--confirm`: `never`, `doubt` or `always` (a journal without it is `never`'s: the
    /// builds before `--confirm` closed plainly).
    pub(crate) confirm: String,
}

/// The input file's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputIdentity {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) head_sha256: String,
}

impl InputIdentity {
    /// Reads the identity of `path`: its size and the SHA-256 of its first 64 KiB.
    pub(crate) fn of(path: &Path) -> Result<Self, Failure> {
        let cannot = |e: io::Error| Failure::usage(format!("cannot read {}: {e}", path.display()));
        let mut file = File::open(path).map_err(cannot)?;
        let size = file.metadata().map_err(cannot)?.len();
        let mut head = Vec::with_capacity(64 * 1024);
        (&mut file).take(64 * 1024).read_to_end(&mut head).map_err(cannot)?;
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        Ok(InputIdentity { path, size, head_sha256: sha256_hex(&head) })
    }
}

/// The SHA-256 of a whole file, as hex.
pub(crate) fn file_sha256(path: &Path) -> io::Result<String> {
    let mut file = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    loop {
        let chunk = file.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        digest.update(chunk);
        let n = chunk.len();
        file.consume(n);
    }
    Ok(hex(digest.finish().as_ref()))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The input lines that already have an outcome, each with the order number it had then
/// (a keyed 64-bit hash of it) and that outcome: a line is skipped on resume only while it
/// still holds the same order number. 16 bytes per line with an outcome, sorted by line.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    hasher: std::collections::hash_map::RandomState,
    /// `(line, hash of the order number with its low two bits replaced by the outcome)`.
    entries: Vec<(u64, u64)>,
}

/// The outcomes, by the two bits [`Finished`] keeps them in.
const OUTCOMES: [CloseOutcome; 4] =
    [CloseOutcome::Closed, CloseOutcome::AlreadyClosed, CloseOutcome::NotFound, CloseOutcome::Paid];

impl Finished {
    fn tag(&self, no: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(no) & !3
    }

    /// Records that `line` held `no` and ended with `outcome`.
    pub(crate) fn insert(&mut self, line: u64, no: &str, outcome: CloseOutcome) {
        let code = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(0) as u64;
        let entry = (line, self.tag(no) | code);
        self.entries.push(entry);
    }

    /// Sorts the entries by line, for [`outcome`](Self::outcome); call once, after the inserts.
    fn seal(&mut self) {
        self.entries.sort_unstable();
        self.entries.dedup();
        self.entries.shrink_to_fit();
    }

    /// The outcome `line` ended with, when it held `no` then; `None` when it has no outcome,
    /// or held another order number (which is then closed like any other).
    pub(crate) fn outcome(&self, line: u64, no: &str) -> Option<CloseOutcome> {
        let tag = self.tag(no);
        let start = self.entries.partition_point(|(l, _)| *l < line);
        self.entries[start..]
            .iter()
            .take_while(|(l, _)| *l == line)
            .find(|(_, t)| t & !3 == tag)
            .and_then(|(_, t)| OUTCOMES.get((t & 3) as usize).copied())
    }
}

/// An open journal, appending.
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    last_sync: Instant,
    unsynced: bool,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Whether two paths name the same file (device and inode), when both exist.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// What a journal file holds, read through once.
struct Contents {
    /// The first line, if it is a journal header.
    header: Option<Header>,
    /// Whether any line after the header is a close's result (an outcome or an error).
    results: bool,
    /// The lines with an outcome, by line number and order number.
    finished: Finished,
    /// The first record that cannot be part of a journal of this input, and why.
    corrupt: Option<String>,
    /// The last trailer's SHA-256 of the whole input.
    trailer_sha: Option<String>,
    /// Where the last whole line ends, and where the file ends.
    good_end: u64,
    end: u64,
}

/// Reads a journal through. `input_size` bounds the line numbers its records may name.
fn read_contents(
    file: &mut File,
    shown: &str,
    input_size: u64,
    warn: &mut dyn FnMut(String),
) -> Result<Contents, Failure> {
    let cannot = |e: io::Error| Failure::usage(format!("cannot read the journal {shown}: {e}"));
    let mut c = Contents {
        header: None,
        results: false,
        finished: Finished::default(),
        corrupt: None,
        trailer_sha: None,
        good_end: 0,
        end: 0,
    };
    let mut reader = BufReader::new(file);
    reader.seek(io::SeekFrom::Start(0)).map_err(cannot)?;
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(cannot)?;
        if n == 0 {
            break;
        }
        number += 1;
        c.end += n as u64;
        if line.last() != Some(&b'\n') {
            // A record cut off mid-write by a kill: dropped, and that order is closed again
            // (closing is idempotent).
            warn(format!(
                "{shown}:{number}: a record cut off mid-write (the run was stopped); dropped"
            ));
            break;
        }
        c.good_end = c.end;
        if number == 1 {
            let header = serde_json::from_slice::<Header>(&line).map_err(|_| {
                Failure::usage(format!(
                    "{shown} has no journal header this wxpay reads on its first line: it is not a journal, or one an older wxpay wrote (start a new run with another --journal)"
                ))
            })?;
            c.header = Some(header);
            continue;
        }
        let record = match serde_json::from_slice::<Entry>(&line) {
            Ok(Entry::Trailer(trailer)) => {
                c.trailer_sha = Some(trailer.input_sha256);
                continue;
            }
            Ok(Entry::Result(record)) => record,
            Err(_) => {
                warn(format!("{shown}:{number}: not a journal record, skipped"));
                continue;
            }
        };
        c.results = true;
        let Some(outcome) = record.outcome else { continue };
        match finished_line(&record, input_size) {
            Ok(line) => match outcome.known() {
                Some(outcome) => c.finished.insert(line, &record.out_trade_no, outcome),
                None => warn(format!(
                    "{shown}:{number}: an outcome this wxpay does not know; that line is closed again"
                )),
            },
            Err(why) => {
                c.corrupt.get_or_insert(format!("{shown}:{number}: {why}"));
            }
        }
    }
    c.finished.seal();
    Ok(c)
}

/// A record with an outcome: its line (from 1, and no further than a file of `input_size`
/// bytes reaches).
fn finished_line(record: &CloseRecord, input_size: u64) -> Result<u64, String> {
    // Each line takes at least one byte, its line end, but the last.
    let last = input_size.saturating_add(1);
    match &record.line {
        Some(RecordedLine::Line(l)) if (1..=last).contains(l) => Ok(*l),
        other => Err(format!(
            "the record's line {} is not a line of the input (a file of {input_size} bytes has at most {last})",
            match other {
                Some(RecordedLine::Line(l)) => l.to_string(),
                Some(RecordedLine::Other(v)) => v.to_string(),
                None => "(none)".to_owned(),
            }
        )),
    }
}

/// A journal line after the header: the trailer, or a close's result.
#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Trailer(Trailer),
    Result(Box<CloseRecord>),
}

impl Journal {
    /// Starts a new journal at `path` for this run, writing its header. Refuses a path that
    /// is the input itself, a file that is not a journal, or a journal that already holds
    /// results (resume it instead); a journal that holds only a header (its run sent
    /// nothing) is started afresh.
    pub(crate) fn create(
        path: &Path,
        run: &RunIdentity,
        input: &InputIdentity,
        warn: &mut dyn FnMut(String),
    ) -> Result<Journal, Failure> {
        let shown = path.display().to_string();
        if same_file(path, &input.path) {
            return Err(Failure::usage(format!(
                "the journal {shown} is the input file: give another --journal"
            )));
        }
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0) {
            let mut file = File::open(path)
                .map_err(|e| Failure::usage(format!("cannot read the journal {shown}: {e}")))?;
            let contents =
                read_contents(&mut file, &shown, input.size, &mut |_| {}).map_err(|_| {
                    Failure::usage(format!(
                        "{shown} is not a wxpay journal: give another --journal"
                    ))
                })?;
            if contents.header.is_none() || contents.results {
                return Err(Failure::usage(format!(
                    "the journal {shown} already holds records: continue that run with --resume {shown}, or give another --journal"
                )));
            }
            warn(format!("{shown} held only the header of a run that sent nothing: reused"));
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Failure::usage(format!("cannot open the journal {shown}: {e}")))?;
        Journal::start(file, path, run, input)
    }

    /// A journal in `file` (empty), with this run's header.
    fn start(
        file: File,
        path: &Path,
        run: &RunIdentity,
        input: &InputIdentity,
    ) -> Result<Journal, Failure> {
        let mut journal =
            Journal { file, path: path.to_owned(), last_sync: Instant::now(), unsynced: false };
        journal.append(&header(run, input)).map_err(|e| journal.write_failure(&e))?;
        journal.sync().map_err(|e| journal.write_failure(&e))?;
        Ok(journal)
    }

    /// Opens a journal to continue its run: checks its header against this run, drops a torn
    /// last line, and returns the input lines that already have an outcome. A journal whose
    /// run sent nothing (a header only) is started afresh for this run, whatever it was.
    ///
    /// Refused (nothing sent): another run's journal, a changed input, and a corrupt journal
    /// (a record naming a line the input cannot have).
    pub(crate) fn resume(
        path: &Path,
        run: &RunIdentity,
        input: &InputIdentity,
        warn: &mut dyn FnMut(String),
    ) -> Result<(Journal, Finished), Failure> {
        let shown = path.display().to_string();
        if same_file(path, &input.path) {
            return Err(Failure::usage(format!(
                "--resume {shown} is the input file, not a journal"
            )));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| Failure::usage(format!("cannot open the journal {shown}: {e}")))?;
        let contents = read_contents(&mut file, &shown, input.size, warn)?;
        let Some(header) = &contents.header else {
            return Err(Failure::usage(format!("{shown} is empty: there is no run to resume")));
        };
        if let Err(why) = check_header(header, run, input) {
            if contents.results {
                return Err(Failure::usage(format!("--resume {shown}: {why}; nothing was sent")));
            }
            warn(format!(
                "{shown} held only the header of a run that sent nothing: this run starts afresh in it"
            ));
            file.set_len(0).map_err(|e| {
                Failure::error(format!("cannot start the journal {shown} afresh: {e}"))
            })?;
            return Ok((Journal::start(file, path, run, input)?, Finished::default()));
        }
        if let Some(why) = contents.corrupt {
            return Err(Failure::usage(format!(
                "--resume {shown}: the journal is corrupt: {why}; nothing was sent"
            )));
        }
        if let Some(recorded) = contents.trailer_sha {
            let now = file_sha256(&input.path).map_err(|e| {
                Failure::usage(format!("cannot read {}: {e}", input.path.display()))
            })?;
            if now != recorded {
                return Err(Failure::usage(format!(
                    "--resume {shown}: the input file changed since that run (its SHA-256 differs); nothing was sent"
                )));
            }
        }
        if contents.good_end < contents.end {
            file.set_len(contents.good_end).map_err(|e| {
                Failure::error(format!("cannot drop the torn last line of {shown}: {e}"))
            })?;
        }
        let journal =
            Journal { file, path: path.to_owned(), last_sync: Instant::now(), unsynced: false };
        Ok((journal, contents.finished))
    }

    /// The journal's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record in a single write (a killed process leaves whole lines, or a torn
    /// last one that resume drops), and forces it to disk at most a second later.
    pub(crate) fn append(&mut self, record: &impl Serialize) -> io::Result<()> {
        // One line, and no control character raw in it (errors may quote the network).
        let mut line = crate::escape::json(record).into_bytes();
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.unsynced = true;
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Forces what was written to the disk.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// The failure a write error ends the run with.
    pub(crate) fn write_failure(&self, e: &io::Error) -> Failure {
        Failure::error(format!("cannot write the journal {}: {e}", self.path.display()))
    }
}

/// A journal's first line: what run it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    /// The format version ([`VERSION`]).
    wxpay_journal: u64,
    call: String,
    merchant: String,
    sub_merchant: Option<String>,
    column: Option<String>,
    base_url: String,
    input: String,
    input_size: u64,
    input_head_sha256: String,
    #[serde(default)]
    started_at: u64,
    /// `--confirm`; absent in journals of builds before it (which closed plainly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confirm: Option<String>,
}

fn header(run: &RunIdentity, input: &InputIdentity) -> Header {
    Header {
        wxpay_journal: VERSION,
        call: run.call.clone(),
        merchant: run.merchant.clone(),
        sub_merchant: run.sub_merchant.clone(),
        column: run.column.clone(),
        base_url: run.base_url.clone(),
        input: input.path.display().to_string(),
        input_size: input.size,
        input_head_sha256: input.head_sha256.clone(),
        started_at: wxpay_core::unix_now(),
        confirm: Some(run.confirm.clone()),
    }
}

/// The trailer written once the whole input has been read: its SHA-256 and line count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Trailer {
    pub(crate) input_sha256: String,
    pub(crate) input_lines: u64,
}

/// Why a journal's header does not belong to this run.
fn check_header(h: &Header, run: &RunIdentity, input: &InputIdentity) -> Result<(), String> {
    if h.wxpay_journal != VERSION {
        return Err(format!(
            "the journal's format version is {}, this wxpay reads {VERSION}",
            h.wxpay_journal
        ));
    }
    let differs = |what: &str, was: Option<&str>, now: Option<&str>| {
        format!(
            "that run's {what} was {}, this run's is {} (resume with the same settings)",
            was.unwrap_or("none"),
            now.unwrap_or("none")
        )
    };
    if h.call != run.call {
        return Err(differs("call", Some(&h.call), Some(&run.call)));
    }
    if h.merchant != run.merchant {
        return Err(differs("merchant", Some(&h.merchant), Some(&run.merchant)));
    }
    if h.sub_merchant != run.sub_merchant {
        let (was, now) = (h.sub_merchant.as_deref(), run.sub_merchant.as_deref());
        return Err(differs("sub-merchant", was, now));
    }
    if h.column != run.column {
        return Err(differs("--column", h.column.as_deref(), run.column.as_deref()));
    }
    if h.base_url != run.base_url {
        return Err(differs("base URL", Some(&h.base_url), Some(&run.base_url)));
    }
    let confirm = h.confirm.as_deref().unwrap_or("never");
    if confirm != run.confirm {
        return Err(differs("--confirm", Some(confirm), Some(&run.confirm)));
    }
    if h.input_size != input.size {
        return Err(format!(
            "the input file is not the one that run read ({} was {} bytes, is {} now)",
            input.path.display(),
            h.input_size,
            input.size
        ));
    }
    if h.input_head_sha256 != input.head_sha256 {
        return Err(format!(
            "the input file is not the one that run read ({}: its first 64 KiB differ from \
             what that run read; lines past them may change, and are closed again)",
            input.path.display(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_without_a_policy_is_a_plain_run_s() {
        let run = |confirm: &str| RunIdentity {
            call: "v3_direct".into(),
            merchant: "1900000001".into(),
            sub_merchant: None,
            column: None,
            base_url: "mainland".into(),
            confirm: confirm.into(),
        };
        let input = InputIdentity { path: PathBuf::from("/x"), size: 10, head_sha256: "ab".into() };
        let older: Header = serde_json::from_str(
            r#"{"wxpay_journal":1,"call":"v3_direct","merchant":"1900000001","sub_merchant":null,"column":null,"base_url":"mainland","input":"/x","input_size":10,"input_head_sha256":"ab"}"#,
        )
        .unwrap();
        assert_eq!(check_header(&older, &run("never"), &input), Ok(()));
        let why = check_header(&older, &run("doubt"), &input).unwrap_err();
        assert!(why.contains("--confirm was never"), "{why}");
        let now = header(&run("always"), &input);
        assert_eq!(check_header(&now, &run("always"), &input), Ok(()));
        assert!(check_header(&now, &run("doubt"), &input).is_err());
    }

    #[test]
    fn a_line_is_finished_only_with_the_order_number_it_had() {
        let mut f = Finished::default();
        f.insert(7, "order-7", CloseOutcome::Paid);
        f.insert(3, "order-3", CloseOutcome::Closed);
        f.insert(7, "order-7b", CloseOutcome::NotFound);
        f.insert(u64::MAX, "far", CloseOutcome::AlreadyClosed);
        f.seal();
        assert_eq!(f.entries.len(), 4);
        assert_eq!(f.outcome(7, "order-7"), Some(CloseOutcome::Paid));
        assert_eq!(f.outcome(7, "order-7b"), Some(CloseOutcome::NotFound));
        assert_eq!(f.outcome(3, "order-3"), Some(CloseOutcome::Closed));
        assert_eq!(f.outcome(3, "order-7"), None, "another number on that line");
        assert_eq!(f.outcome(4, "order-3"), None);
        assert_eq!(f.outcome(u64::MAX, "far"), Some(CloseOutcome::AlreadyClosed));
        assert!(f.entries.capacity() * 16 <= 64, "16 bytes a line, not a bit per line number");
    }
}
