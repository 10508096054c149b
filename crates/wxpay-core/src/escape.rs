//! Text from the network, shown safely: what an answer says is printed, never obeyed.
//!
//! An unverified answer's text (an APIv2 `return_msg`, the first bytes of an APIv3 body
//! that is not JSON) is whatever anyone in the path wrote. Shown raw on a terminal, escape
//! sequences in it could clear the screen and paint a false "closed". Every such text
//! reaches `Display` through [`Escaped`].

use std::fmt::{self, Write as _};

/// Shows a text with its control characters escaped (`\u{1b}`), C0, DEL and C1 alike, and
/// the Unicode marks that reorder text on screen (bidirectional overrides and isolates).
/// Everything else, Chinese text included, is shown as it is.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

/// Whether `c` is shown escaped: control characters (C0, DEL, C1), and the invisible
/// format characters that move or hide text on screen (bidirectional marks, overrides and
/// isolates, zero-width characters, line and paragraph separators, the byte-order mark).
#[must_use]
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
        )
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_hidden) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(f, "\\u{{{:x}}}", u32::from(c))?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// `text` with its control characters escaped, as [`Escaped`] shows it.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = write!(out, "{}", Escaped(text));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(escape("\u{1b}[2J\u{1b}[32mclosed"), "\\u{1b}[2J\\u{1b}[32mclosed");
        assert_eq!(escape("a\rb\nc\u{7f}d\u{9b}e"), "a\\u{d}b\\u{a}c\\u{7f}d\\u{9b}e");
        assert_eq!(escape("abc\u{202e}cba"), "abc\\u{202e}cba");
        for hidden in ['\u{61c}', '\u{200b}', '\u{2028}', '\u{2029}', '\u{2066}', '\u{feff}'] {
            assert!(is_hidden(hidden), "{hidden:?}");
            assert!(!escape(&format!("a{hidden}b")).contains(hidden));
        }
        assert_eq!(escape("订单已关闭 ok"), "订单已关闭 ok");
        assert_eq!(escape(""), "");
    }
}
