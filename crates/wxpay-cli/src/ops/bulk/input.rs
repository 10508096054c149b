//! Order numbers from a merchant's file, streamed: a plain list (one per line) or CSV with a
//! named column, read by the `csv` crate (quoted fields, embedded commas, quotes and line
//! breaks), with a UTF-8 byte-order mark dropped and `\n`, `\r\n` and `\r` line ends alike.
//! Lines are numbered as a text editor numbers them.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Failure;

/// The longest record read: an order number is 32 characters, and a spreadsheet row with
/// notes a few hundred. Anything longer is not such a file (an unclosed quote, `/dev/zero`).
pub(crate) const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// One record of the input: its line number, and its order number or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// The line the record starts on (1-based).
    pub(crate) number: u64,
    /// The order number, trimmed of spaces, or why there is none on this line.
    pub(crate) order: Result<String, String>,
}

/// Reads order numbers from a file, one record at a time.
pub(crate) struct OrderReader {
    csv: csv::Reader<Normalizing<BufReader<File>>>,
    record: csv::ByteRecord,
    column: Option<usize>,
    /// Raw bytes read so far, for progress.
    consumed: Arc<AtomicU64>,
}

impl OrderReader {
    /// Opens `path`; with `column`, the first record is the CSV header that names it.
    pub(crate) fn open(path: &Path, column: Option<&str>) -> Result<Self, Failure> {
        let cannot = |e: io::Error| Failure::usage(format!("cannot read {}: {e}", path.display()));
        let file = File::open(path).map_err(cannot)?;
        if file.metadata().map_err(cannot)?.is_dir() {
            return Err(Failure::usage(format!("{} is a directory", path.display())));
        }
        let consumed = Arc::new(AtomicU64::new(0));
        let source = Normalizing {
            inner: BufReader::with_capacity(64 * 1024, file),
            at_start: true,
            after_cr: false,
            emitted: 0,
            record_start: 0,
            ends_with_newline: true,
            consumed: consumed.clone(),
            digest: ring::digest::Context::new(&ring::digest::SHA256),
        };
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(source);
        let mut reader =
            OrderReader { csv, record: csv::ByteRecord::new(), column: None, consumed };
        if let Some(name) = column {
            let header = loop {
                match reader.csv.read_byte_record(&mut reader.record) {
                    Ok(true) if reader.record.iter().all(|f| trim(f).is_empty()) => continue,
                    Ok(true) => break reader.record.clone(),
                    Ok(false) => {
                        return Err(Failure::usage(format!(
                            "{} is empty: no CSV header",
                            path.display()
                        )));
                    }
                    Err(e) => return Err(Failure::usage(format!("{}: {e}", path.display()))),
                }
            };
            let found = header.iter().position(|h| trim(h) == name.as_bytes());
            reader.column = Some(found.ok_or_else(|| {
                let names: Vec<String> =
                    header.iter().map(|h| String::from_utf8_lossy(trim(h)).into_owned()).collect();
                Failure::usage(format!(
                    "{}: the CSV header has no column {name:?} (it has {})",
                    path.display(),
                    names.join(", ")
                ))
            })?);
        }
        Ok(reader)
    }

    /// The SHA-256 of every byte of the file, once [`next_line`](Self::next_line) has
    /// returned `None`.
    pub(crate) fn sha256_hex(&self) -> String {
        let digest = self.csv.get_ref().digest.clone().finish();
        super::journal::hex(digest.as_ref())
    }

    /// Raw bytes of the file read so far.
    pub(crate) fn consumed(&self) -> Arc<AtomicU64> {
        self.consumed.clone()
    }

    /// The next record that is not blank, or `None` at the end.
    ///
    /// # Errors
    /// An IO error reading the file.
    pub(crate) fn next_line(&mut self) -> Option<io::Result<Line>> {
        loop {
            let record = &mut self.record;
            match self.csv.read_byte_record(record) {
                Ok(false) => return None,
                Err(e) => return Some(Err(into_io(e))),
                Ok(true) => {}
            }
            // The csv crate numbers a record from where the previous one ended; the line it
            // starts on is the line after it ends, less its terminator, less the line
            // breaks inside its quoted fields.
            let position = self.csv.position().clone();
            self.csv.get_mut().record_start = position.byte();
            let inside: u64 = record.iter().map(|f| bytecount(f, b'\n')).sum();
            let source = self.csv.get_ref();
            let unterminated = position.byte() == source.emitted && !source.ends_with_newline;
            let terminated = u64::from(!unterminated);
            let number = position.line().saturating_sub(terminated).saturating_sub(inside).max(1);
            if record.iter().all(|f| trim(f).is_empty()) {
                continue;
            }
            // A plain list's comment, indented (the CSV reader skips only a `#` at the very
            // start of a line). No order number holds a `#`. In a CSV file a first field that
            // starts with `#` may be data, so it is left to the column's check.
            if self.column.is_none() && record.get(0).is_some_and(|f| trim(f).starts_with(b"#")) {
                continue;
            }
            let field = match self.column {
                None if record.len() > 1 => {
                    return Some(Ok(Line {
                        number,
                        order: Err("more than one field: use --column NAME for CSV".into()),
                    }));
                }
                None => record.get(0),
                Some(i) => record.get(i),
            };
            let order = match field.map(trim) {
                None | Some(b"") => Err("no order number in this line".to_owned()),
                Some(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => Ok(text.to_owned()),
                    Err(_) => Err("not UTF-8 text".to_owned()),
                },
            };
            return Some(Ok(Line { number, order }));
        }
    }
}

fn into_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => io::Error::other(format!("{other:?}")),
    }
}

fn bytecount(bytes: &[u8], byte: u8) -> u64 {
    bytes.iter().filter(|b| **b == byte).count() as u64
}

/// A field without surrounding ASCII white space.
fn trim(field: &[u8]) -> &[u8] {
    field.trim_ascii()
}

/// The file as the CSV reader sees it: a leading UTF-8 byte-order mark dropped, and every
/// line end (`\r\n`, `\r`, `\n`) turned into `\n`, so that lines are counted as an editor
/// counts them. Counts the raw bytes read.
struct Normalizing<R> {
    inner: R,
    at_start: bool,
    after_cr: bool,
    /// Bytes handed to the CSV reader so far.
    emitted: u64,
    /// Where the record being read starts (bytes handed over), to cap its length.
    record_start: u64,
    /// Whether the last byte handed over was a line end (true before the first).
    ends_with_newline: bool,
    consumed: Arc<AtomicU64>,
    /// The SHA-256 of the raw bytes, for the journal's record of the input.
    digest: ring::digest::Context,
}

impl<R: io::BufRead> Read for Normalizing<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let input = self.inner.fill_buf()?;
            if input.is_empty() {
                return Ok(0);
            }
            let mut skip = 0;
            if self.at_start {
                // The first read of a file gives the whole buffer (64 KiB), BOM included.
                if input.starts_with(b"\xEF\xBB\xBF") {
                    skip = 3;
                }
                self.at_start = false;
            }
            if self.emitted.saturating_sub(self.record_start) > MAX_RECORD_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a record longer than {} KiB (an unclosed quote, or not a list of order numbers)",
                        MAX_RECORD_BYTES / 1024
                    ),
                ));
            }
            let take = (input.len() - skip).min(out.len());
            let mut n = 0;
            for &b in &input[skip..skip + take] {
                match b {
                    b'\r' => {
                        out[n] = b'\n';
                        n += 1;
                        self.after_cr = true;
                    }
                    b'\n' if self.after_cr => self.after_cr = false,
                    _ => {
                        out[n] = b;
                        n += 1;
                        self.after_cr = false;
                    }
                }
            }
            if n > 0 {
                self.ends_with_newline = out[n - 1] == b'\n';
            }
            self.emitted += n as u64;
            self.digest.update(&input[..skip + take]);
            self.inner.consume(skip + take);
            self.consumed.fetch_add((skip + take) as u64, Ordering::Relaxed);
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = (u64, Result<String, String>);

    fn read_all(bytes: &[u8], column: Option<&str>) -> Result<Vec<Read>, String> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        let mut reader = OrderReader::open(file.path(), column).map_err(|f| f.message)?;
        let mut out = Vec::new();
        while let Some(line) = reader.next_line() {
            let line = line.unwrap();
            out.push((line.number, line.order));
        }
        Ok(out)
    }

    fn ok(n: u64, s: &str) -> Read {
        (n, Ok(s.to_owned()))
    }

    #[test]
    fn plain_lists_in_every_line_ending_with_comments_blanks_and_a_bom() {
        let lf = read_all(b"\xEF\xBB\xBFfirst01\n# note\n\n  second2  \nthird03", None).unwrap();
        let indented =
            read_all(b"first01\n   # note, with a comma\n\t# tab\n\n  second2  \nthird03", None)
                .unwrap();
        assert_eq!(indented, [ok(1, "first01"), ok(5, "second2"), ok(6, "third03")]);
        assert_eq!(lf, [ok(1, "first01"), ok(4, "second2"), ok(5, "third03")]);
        let crlf =
            read_all(b"\xEF\xBB\xBFfirst01\r\n# note\r\n\r\n  second2  \r\nthird03\r\n", None)
                .unwrap();
        assert_eq!(crlf, lf);
        let cr = read_all(b"first01\r# note\r\r  second2  \rthird03\r", None).unwrap();
        assert_eq!(cr, lf);
    }

    #[test]
    fn csv_with_quoted_commas_quotes_line_breaks_and_a_bom() {
        let text = "\u{FEFF}id,\"note\",out_trade_no\r\n\
                    1,\"see also, OTHER000001\",MINE000001\r\n\
                    2,\"he said \"\"hi\"\"\",MINE000002\r\n\
                    3,\"two\r\nlines, really\",MINE000003\r\n\
                    \r\n\
                    4,plain,\"MINE000004\"\r\n";
        let got = read_all(text.as_bytes(), Some("out_trade_no")).unwrap();
        assert_eq!(
            got,
            [ok(2, "MINE000001"), ok(3, "MINE000002"), ok(4, "MINE000003"), ok(7, "MINE000004")]
        );
        let err = read_all(b"id,no\n1,2\n", Some("out_trade_no")).unwrap_err();
        assert!(err.contains("no column \"out_trade_no\"") && err.contains("id, no"), "{err}");
        let err = read_all(b"", Some("out_trade_no")).unwrap_err();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn bad_bytes_and_missing_fields_are_reported_by_line_and_the_rest_read() {
        let got = read_all(b"good0001\nbad\xFF\xFE01\ngood0002\n", None).unwrap();
        assert_eq!(got, [ok(1, "good0001"), (2, Err("not UTF-8 text".into())), ok(3, "good0002")]);
        let got = read_all(b"a,no\n1,ok000001\n2\n3,\n", Some("no")).unwrap();
        assert_eq!(
            got,
            [
                ok(2, "ok000001"),
                (3, Err("no order number in this line".into())),
                (4, Err("no order number in this line".into()))
            ]
        );
        let got = read_all(b"a,b\n", None).unwrap();
        assert!(got[0].1.as_ref().unwrap_err().contains("--column"), "{got:?}");
    }

    #[test]
    fn an_endless_record_is_an_error_not_a_memory_leak() {
        let mut reader = OrderReader::open(Path::new("/dev/zero"), None).unwrap();
        let err = reader.next_line().unwrap().unwrap_err();
        assert!(err.to_string().contains("longer than 1024 KiB"), "{err}");
        let mut text = b"ok000001\n\"unclosed,".to_vec();
        text.extend(std::iter::repeat_n(b"more lines\n".as_slice(), 200_000).flatten());
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, &text).unwrap();
        let mut reader = OrderReader::open(file.path(), None).unwrap();
        assert_eq!(reader.next_line().unwrap().unwrap().order.unwrap(), "ok000001");
        assert!(reader.next_line().unwrap().is_err());
    }

    #[test]
    fn line_ends_split_across_reads_count_once() {
        // A \r\n that straddles the reader's buffer boundary.
        let mut text = vec![b'x'; 64 * 1024 - 1];
        text.extend_from_slice(b"\r\nsecond\r\n");
        let got = read_all(&text, None).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], ok(2, "second"));
    }
}
