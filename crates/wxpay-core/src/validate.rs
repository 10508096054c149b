//! Checks on caller input, shared by both API generations.

use crate::error::InvalidInput;

/// An id (app id, merchant id, …): 1 to `max` printable ASCII characters, none of them one
/// that XML or a quoted header value would have to escape (`<`, `>`, `&`, `"`, `'`). No real
/// WeChat Pay id has any; refusing them means ids are always sent exactly as given.
pub(crate) fn id(field: &'static str, value: &str, max: usize) -> Result<(), InvalidInput> {
    if value.is_empty() {
        return Err(InvalidInput::Empty { field });
    }
    let ok = |c: char| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '&' | '"' | '\'');
    if let Some((position, character)) = value.chars().enumerate().find(|(_, c)| !ok(*c)) {
        return Err(InvalidInput::BadCharacter { field, character, position });
    }
    // All ASCII from here: bytes are characters.
    if value.len() > max {
        return Err(InvalidInput::TooLong { field, max, len: value.len() });
    }
    Ok(())
}

/// An optional id, when given: like [`id`].
pub(crate) fn optional_id(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), InvalidInput> {
    value.map_or(Ok(()), |v| id(field, v, max))
}

/// A field limited to `min..=max` characters from ASCII letters, digits and `extra`.
pub(crate) fn charset(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
    extra: &[u8],
) -> Result<(), InvalidInput> {
    if value.is_empty() {
        return Err(InvalidInput::Empty { field });
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || extra.contains(&b);
    if !value.bytes().all(allowed) {
        // Slow path, only to report the first offending character and its position.
        let bad = value.chars().enumerate().find(|(_, c)| !(c.is_ascii() && allowed(*c as u8)));
        if let Some((position, character)) = bad {
            return Err(InvalidInput::BadCharacter { field, character, position });
        }
    }
    // All ASCII from here: bytes are characters.
    let len = value.len();
    if len > max {
        return Err(InvalidInput::TooLong { field, max, len });
    }
    if len < min {
        return Err(InvalidInput::TooShort { field, min, len });
    }
    Ok(())
}

/// A nonce: 1 to 32 ASCII letters and digits.
pub(crate) fn nonce(value: &str) -> Result<(), InvalidInput> {
    charset("nonce_str", value, 1, 32, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_reports_the_first_bad_character_and_lengths() {
        assert_eq!(
            charset("f", "ab#c", 1, 32, b"_"),
            Err(InvalidInput::BadCharacter { field: "f", character: '#', position: 2 })
        );
        assert_eq!(
            charset("f", "订单", 1, 32, b"_"),
            Err(InvalidInput::BadCharacter { field: "f", character: '订', position: 0 })
        );
        assert_eq!(
            charset("f", "abc", 6, 32, b""),
            Err(InvalidInput::TooShort { field: "f", min: 6, len: 3 })
        );
        assert_eq!(
            charset("f", &"a".repeat(33), 1, 32, b""),
            Err(InvalidInput::TooLong { field: "f", max: 32, len: 33 })
        );
        assert_eq!(charset("f", "", 1, 32, b""), Err(InvalidInput::Empty { field: "f" }));
        assert_eq!(charset("f", "a_b", 1, 32, b"_"), Ok(()));
    }

    #[test]
    fn ids_are_printable_ascii_without_xml_or_quote_specials() {
        assert_eq!(id("f", "wx2421b1c4370ec43b", 32), Ok(()));
        assert_eq!(id("f", "a-b_c.d", 32), Ok(()));
        for (bad, c, at) in [
            ("a\nb", '\n', 1),
            ("a b", ' ', 1),
            ("a<b", '<', 1),
            ("&", '&', 0),
            ("x\"", '"', 1),
            ("订", '订', 0),
        ] {
            assert_eq!(
                id("f", bad, 32),
                Err(InvalidInput::BadCharacter { field: "f", character: c, position: at }),
                "{bad:?}"
            );
        }
        assert_eq!(
            id("f", &"a".repeat(33), 32),
            Err(InvalidInput::TooLong { field: "f", max: 32, len: 33 })
        );
        assert_eq!(id("f", "", 32), Err(InvalidInput::Empty { field: "f" }));
    }
}
