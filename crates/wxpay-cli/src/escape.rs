//! Text that may hold what the network sent, made safe for a terminal: what the core's one
//! rule ([`wxpay_core::is_hidden`]) calls hidden (control characters, bidirectional marks and
//! overrides, zero-width characters, line separators) never reaches it raw. The core escapes
//! what its errors' `Display` shows; this is the command's own guard for everything it prints
//! and journals, so a forged answer cannot move the cursor, recolour, retitle, reorder or
//! rewrite the lines around it whatever the core says.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown escaped: the core's rule, the only one.
fn is_hidden(c: char) -> bool {
    wxpay_core::is_hidden(c)
}

/// A text from the network as a record holds it: escaped as the core's `Display` shows it
/// (`\u{202e}`), so that a record's value, parsed back and printed, is as safe as the line.
pub(crate) fn network(text: &str) -> String {
    wxpay_core::escape(text)
}

/// `text` for one line of a terminal: every hidden character, line ends included, as
/// `\x1b` (C0 and DEL) or `\u{9b}` (the others).
pub(crate) fn line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// `text` with every control character escaped but `\n`, for messages of several lines.
pub(crate) fn lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_hidden(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !is_hidden(c) || keep(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// A JSON value as one line: serde_json escapes C0 controls in strings, and this escapes
/// every other hidden character it leaves raw (DEL, C1, bidirectional marks: `\u202e`, valid
/// JSON), so `cat journal` is safe.
pub(crate) fn json(value: &impl serde::Serialize) -> String {
    // A record of strings and numbers always serializes.
    let text = serde_json::to_string(value).unwrap_or_default();
    if !text.chars().any(is_hidden) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            // Outside strings JSON has only ASCII structure and no controls: every one is in a string.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Standard error for `-v`'s log lines, with control characters escaped (a log field may hold
/// what the network sent); each event's own line end is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        let mut err = std::io::stderr().lock();
        err.write_all(line(body).as_bytes())?;
        err.write_all(end.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(line("plain 中文 text"), "plain 中文 text");
        assert_eq!(
            line("a\u{1b}[31mred\u{7}\r\nb\u{7f}\u{9b}2J"),
            "a\\x1b[31mred\\x07\\x0d\\x0ab\\x7f\\u{9b}2J"
        );
        assert_eq!(lines("one\ntwo\u{1b}"), "one\ntwo\\x1b");
        assert_eq!(line("a\u{202e}b\u{2066}c"), "a\\u{202e}b\\u{2066}c");
        assert_eq!(network("PARAM\u{202e}\u{1b}"), "PARAM\\u{202e}\\u{1b}");
        let v = serde_json::json!({"error": "x\u{1b}y\u{9b}z\u{7f}\u{202e}"});
        let text = json(&v);
        assert!(!text.chars().any(wxpay_core::is_hidden), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v, "the same JSON");
    }
}
