//! The bulk journal: JSON Lines, one record per result, appended as each result is known.
//!
//! The first line is a header that says what run the journal belongs to: the format
//! version, the call and merchant, and the input file's identity (path, size, SHA-256 of its
//! first 64 KiB; when the whole file was read, a trailer adds the SHA-256 of all of it).
//! Records name the input line they came from, so a resumed run skips finished lines by
//! number, which means the same thing only for the same file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Failure;

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

/// Line numbers of the input that already have an outcome: one bit per line.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    bits: Vec<u64>,
    count: u64,
}

impl Finished {
    pub(crate) fn insert(&mut self, line: u64) {
        let (word, bit) = ((line / 64) as usize, line % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) == 0 {
            self.bits[word] |= 1 << bit;
            self.count += 1;
        }
    }

    pub(crate) fn contains(&self, line: u64) -> bool {
        let (word, bit) = ((line / 64) as usize, line % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    pub(crate) fn len(&self) -> u64 {
        self.count
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

impl Journal {
    /// Starts a new journal at `path` for this run, writing its header. Refuses a path that
    /// is the input itself, or a journal that already holds records (resume it instead).
    pub(crate) fn create(
        path: &Path,
        run: &RunIdentity,
        input: &InputIdentity,
    ) -> Result<Journal, Failure> {
        if same_file(path, &input.path) {
            return Err(Failure::usage(format!(
                "the journal {} is the input file: give another --journal",
                path.display()
            )));
        }
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0) {
            return Err(Failure::usage(format!(
                "the journal {} already holds records: continue that run with --resume {0}, or give another --journal",
                path.display()
            )));
        }
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
            Failure::usage(format!("cannot open the journal {}: {e}", path.display()))
        })?;
        let mut journal =
            Journal { file, path: path.to_owned(), last_sync: Instant::now(), unsynced: false };
        journal.append(&header(run, input)).map_err(|e| journal.write_failure(&e))?;
        journal.sync().map_err(|e| journal.write_failure(&e))?;
        Ok(journal)
    }

    /// Opens a journal to continue its run: checks its header against this run, drops a torn
    /// last line, and returns the input lines that already have an outcome.
    pub(crate) fn resume(
        path: &Path,
        run: &RunIdentity,
        input: &InputIdentity,
        warn: &mut dyn FnMut(String),
    ) -> Result<(Journal, Finished), Failure> {
        let shown = path.display();
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
        let cannot = |e: io::Error| Failure::usage(format!("cannot read the journal {shown}: {e}"));
        let mut finished = Finished::default();
        let mut header_seen = None;
        let mut trailer_sha = None;
        let mut good_end = 0u64;
        let mut offset = 0u64;
        let mut number = 0u64;
        {
            let mut reader = BufReader::new(&mut file);
            reader.seek(io::SeekFrom::Start(0)).map_err(cannot)?;
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(cannot)?;
                if n == 0 {
                    break;
                }
                number += 1;
                offset += n as u64;
                if line.last() != Some(&b'\n') {
                    // A record cut off mid-write by a kill: dropped below, and that order is
                    // closed again (closing is idempotent).
                    warn(format!(
                        "{shown}:{number}: a record cut off mid-write (the run was stopped); dropped"
                    ));
                    break;
                }
                good_end = offset;
                let record: Value = match serde_json::from_slice(&line) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => {
                        warn(format!("{shown}:{number}: not a journal record, skipped"));
                        continue;
                    }
                };
                if header_seen.is_none() {
                    if record.get("wxpay_journal").is_none() {
                        return Err(Failure::usage(format!(
                            "{shown} has no journal header on its first line: it is not a journal of this version of wxpay"
                        )));
                    }
                    check_header(&record, run, input).map_err(|why| {
                        Failure::usage(format!("--resume {shown}: {why}; nothing was sent"))
                    })?;
                    header_seen = Some(());
                    continue;
                }
                if let Some(sha) = record.get("input_sha256").and_then(Value::as_str) {
                    trailer_sha = Some(sha.to_owned());
                }
                if record.get("outcome").is_some() {
                    if let Some(line) = record.get("line").and_then(Value::as_u64) {
                        finished.insert(line);
                    }
                }
            }
        }
        if header_seen.is_none() {
            return Err(Failure::usage(format!("{shown} is empty: there is no run to resume")));
        }
        if let Some(recorded) = trailer_sha {
            let now = file_sha256(&input.path).map_err(|e| {
                Failure::usage(format!("cannot read {}: {e}", input.path.display()))
            })?;
            if now != recorded {
                return Err(Failure::usage(format!(
                    "--resume {shown}: the input file changed since that run (its SHA-256 differs); nothing was sent"
                )));
            }
        }
        if good_end < offset {
            file.set_len(good_end).map_err(|e| {
                Failure::error(format!("cannot drop the torn last line of {shown}: {e}"))
            })?;
        }
        let journal =
            Journal { file, path: path.to_owned(), last_sync: Instant::now(), unsynced: false };
        Ok((journal, finished))
    }

    /// The journal's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record in a single write (a killed process leaves whole lines, or a torn
    /// last one that resume drops), and forces it to disk at most a second later.
    pub(crate) fn append(&mut self, record: &Value) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
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

fn header(run: &RunIdentity, input: &InputIdentity) -> Value {
    json!({
        "wxpay_journal": VERSION,
        "call": run.call,
        "merchant": run.merchant,
        "sub_merchant": run.sub_merchant,
        "column": run.column,
        "input": input.path.display().to_string(),
        "input_size": input.size,
        "input_head_sha256": input.head_sha256,
        "started_at": wxpay_core::unix_now(),
    })
}

/// The trailer written once the whole input has been read: its SHA-256 and line count.
pub(crate) fn trailer(sha256: &str, lines: u64) -> Value {
    json!({ "input_sha256": sha256, "input_lines": lines })
}

/// Why a journal's header does not belong to this run.
fn check_header(h: &Value, run: &RunIdentity, input: &InputIdentity) -> Result<(), String> {
    let version = h.get("wxpay_journal").and_then(Value::as_u64);
    if version != Some(VERSION) {
        return Err(format!(
            "the journal's format version is {version:?}, this wxpay reads {VERSION}"
        ));
    }
    let text = |k: &str| h.get(k).and_then(Value::as_str).map(str::to_owned);
    let differs = |what: &str, was: Option<String>, now: Option<String>| {
        format!(
            "that run's {what} was {}, this run's is {} (resume with the same settings)",
            was.as_deref().unwrap_or("none"),
            now.as_deref().unwrap_or("none")
        )
    };
    if text("call").as_deref() != Some(run.call.as_str()) {
        return Err(differs("call", text("call"), Some(run.call.clone())));
    }
    if text("merchant").as_deref() != Some(run.merchant.as_str()) {
        return Err(differs("merchant", text("merchant"), Some(run.merchant.clone())));
    }
    if text("sub_merchant") != run.sub_merchant {
        return Err(differs("sub-merchant", text("sub_merchant"), run.sub_merchant.clone()));
    }
    if text("column") != run.column {
        return Err(differs("--column", text("column"), run.column.clone()));
    }
    let size = h.get("input_size").and_then(Value::as_u64);
    if size != Some(input.size) || text("input_head_sha256").as_deref() != Some(&input.head_sha256)
    {
        return Err(format!(
            "the input file is not the one that run read ({} was {} bytes, is {} now)",
            input.path.display(),
            size.map_or("?".to_owned(), |s| s.to_string()),
            input.size
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_lines_are_bits() {
        let mut f = Finished::default();
        for line in [1, 64, 65, 1_000_000, 64] {
            f.insert(line);
        }
        assert_eq!(f.len(), 4);
        assert!(f.contains(64) && f.contains(1_000_000) && !f.contains(2) && !f.contains(u64::MAX));
        assert!(f.bits.len() * 8 < 130_000, "a million lines take 125 KB");
    }
}
