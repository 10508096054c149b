//! The flat `<xml>…</xml>` documents of APIv2.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;

/// The fields of an APIv2 XML document, in document order.
///
/// Values are decoded: CDATA unwrapped, the five XML entities and character references
/// resolved. Unknown fields are kept (and signed over) like known ones. The document must be
/// flat: an element inside a field, or text between fields, is refused, since no APIv2
/// answer has either and each could hide a repeated field from the signature check. Names
/// and values borrow from the document where they can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V2Fields<'a> {
    fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> V2Fields<'a> {
    /// The value of `name`, if present.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| same_name(n, name)).map(|(_, v)| v.as_ref())
    }

    /// The value of `name` when present and non-empty.
    #[must_use]
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// All fields, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.fields.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// Parses a document.
    ///
    /// # Errors
    /// A reason in words when the bytes are not one well-formed XML element with flat
    /// children (an element nested in a field, or text between fields), when a field
    /// appears twice (ambiguous, so refused), or when a DOCTYPE is present (never needed,
    /// and a classic attack vector).
    pub fn parse(body: &'a [u8]) -> Result<V2Fields<'a>, String> {
        match parse_flat(body) {
            Some(fields) => Ok(fields),
            None => Self::parse_xml(body),
        }
    }

    /// The fast path's reading (when it takes the document) beside the general parser's,
    /// for the fuzz target that holds them equal. Not part of the API.
    #[doc(hidden)]
    pub fn parse_both_ways(body: &'a [u8]) -> (Option<V2Fields<'a>>, Result<V2Fields<'a>, String>) {
        (parse_flat(body), Self::parse_xml(body))
    }

    /// The general parser (quick-xml), for every document the flat fast path declines.
    fn parse_xml(body: &'a [u8]) -> Result<V2Fields<'a>, String> {
        let mut reader = Reader::from_reader(body);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = true;

        let mut fields: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(12);
        let mut depth = 0usize;
        let mut root_seen = false;
        let mut current: Option<(Cow<'a, str>, Cow<'a, str>)> = None;

        loop {
            let event = reader.read_event().map_err(|e| {
                format!("not well-formed XML at byte {}: {e}", reader.error_position())
            })?;
            match event {
                Event::Start(start) => {
                    depth += 1;
                    match depth {
                        1 if root_seen => return Err("more than one root element".into()),
                        1 => root_seen = true,
                        2 => {
                            current = Some((
                                borrowed_name(body, start.name().as_ref())?,
                                Cow::Borrowed(""),
                            ))
                        }
                        // A nested element: no APIv2 answer has one, and it could carry a
                        // repeated field past the signature check.
                        _ => {
                            let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                            return Err(format!("element `{name}` nested inside a field"));
                        }
                    }
                }
                Event::End(_) => {
                    if depth == 2 {
                        if let Some((name, value)) = current.take() {
                            if fields.iter().any(|(n, _)| *n == name) {
                                return Err(format!("field `{name}` appears twice"));
                            }
                            fields.push((name, value));
                        }
                    }
                    depth = depth.saturating_sub(1);
                }
                Event::Text(text) => {
                    let decoded = text.decode().map_err(|e| format!("bad text: {e}"))?;
                    match (depth, current.as_mut()) {
                        (2, Some((_, value))) => append(value, decoded),
                        _ if decoded.trim().is_empty() => {}
                        (0, _) => return Err("text outside the root element".into()),
                        _ => return Err("text between fields".into()),
                    }
                }
                Event::CData(data) => {
                    let decoded = data.decode().map_err(|e| format!("bad CDATA: {e}"))?;
                    match (depth, current.as_mut()) {
                        (2, Some((_, value))) => append(value, decoded),
                        (0, _) => return Err("CDATA outside the root element".into()),
                        _ => return Err("CDATA between fields".into()),
                    }
                }
                Event::GeneralRef(reference) => {
                    let resolved = if reference.is_char_ref() {
                        reference
                            .resolve_char_ref()
                            .map_err(|e| format!("bad character reference: {e}"))?
                    } else {
                        None
                    };
                    let piece: Cow<'a, str> = match resolved {
                        Some(c) => Cow::Owned(c.to_string()),
                        None => {
                            let name =
                                reference.decode().map_err(|e| format!("bad entity: {e}"))?;
                            Cow::Borrowed(
                                resolve_predefined_entity(&name)
                                    .ok_or_else(|| format!("unknown entity `&{name};`"))?,
                            )
                        }
                    };
                    match (depth, current.as_mut()) {
                        (2, Some((_, value))) => append(value, piece),
                        (0, _) => return Err("entity outside the root element".into()),
                        _ => return Err("text between fields".into()),
                    }
                }
                Event::DocType(_) => return Err("DOCTYPE is not allowed".into()),
                Event::Empty(_) => {} // expanded into Start/End by the config above
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => break,
            }
        }
        if !root_seen {
            return Err("no root element".into());
        }
        if depth != 0 {
            return Err("document ends inside an element".into());
        }
        Ok(V2Fields { fields })
    }
}

/// The fast path for the documents WeChat Pay actually sends: `<root>` holding flat
/// `<name>value</name>` children, each value plain text without `&` or a single CDATA
/// section, separated by XML white space. Anything else (declarations, comments, entities,
/// attributes, nesting, duplicates, malformed input) returns `None` and goes to the general
/// parser, which is the reference: a property test checks the two agree.
fn parse_flat(body: &[u8]) -> Option<V2Fields<'_>> {
    let text = std::str::from_utf8(body).ok()?;
    let b = text.as_bytes();
    let (root, mut i) = open_tag(text, skip_ws(b, 0))?;
    let mut fields: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(12);
    loop {
        i = skip_ws(b, i);
        if b.get(i + 1) == Some(&b'/') {
            let (name, end) = close_tag(text, i)?;
            return (name == root && skip_ws(b, end) == b.len()).then_some(V2Fields { fields });
        }
        let (name, start) = open_tag(text, i)?;
        let (value, end) = if b[start..].starts_with(b"<![CDATA[") {
            let from = start + 9;
            let len = cdata_end(&b[from..])?;
            (&text[from..from + len], from + len + 3)
        } else {
            let len = memchr::memchr2(b'<', b'&', &b[start..])?;
            (&text[start..start + len], start + len)
        };
        i = closing_tag_of(b, end, name)?;
        if fields.iter().any(|(n, _)| same_name(n, name)) {
            return None;
        }
        fields.push((Cow::Borrowed(name), Cow::Borrowed(value)));
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// `<name>` at `i`: the name and the index after `>`.
fn open_tag(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'<') {
        return None;
    }
    let (name, end) = tag_name(text, i + 1)?;
    (b.get(end) == Some(&b'>')).then_some((name, end + 1))
}

/// `</name>` at `i`: the name and the index after `>`.
fn close_tag(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i..i + 2) != Some(b"</") {
        return None;
    }
    let (name, end) = tag_name(text, i + 2)?;
    (b.get(end) == Some(&b'>')).then_some((name, end + 1))
}

/// `</name>` at `i` for the given name: the index after `>`.
fn closing_tag_of(b: &[u8], i: usize, name: &str) -> Option<usize> {
    let n = name.len();
    let tag = b.get(i..i + n + 3)?;
    (tag[..2] == *b"</" && tag[2..2 + n] == *name.as_bytes() && tag[2 + n] == b'>')
        .then_some(i + n + 3)
}

/// A name of ASCII letters, digits and `_`, not starting with a digit.
fn tag_name(text: &str, start: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let len = b.get(start..)?.iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))?;
    if len == 0 || b[start].is_ascii_digit() {
        return None;
    }
    Some((&text[start..start + len], start + len))
}

/// Where `]]>` starts in `b`.
fn cdata_end(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + memchr::memchr(b']', &b[from..])?;
        if b.get(i + 1..i + 3) == Some(b"]>") {
            return Some(i);
        }
        from = i + 1;
    }
}

/// Name equality, cheap for the common case of names that differ early.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// Appends a piece of a value, borrowing while the value is a single piece.
fn append<'a>(value: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if value.is_empty() {
        *value = piece;
    } else {
        value.to_mut().push_str(&piece);
    }
}

/// The element name as a slice of the document itself (the reader borrows from it), so
/// that it costs no allocation; a copy in the unexpected case that it is not.
fn borrowed_name<'a>(body: &'a [u8], name: &[u8]) -> Result<Cow<'a, str>, String> {
    const NOT_UTF8: &str = "field name is not UTF-8";
    let offset = (name.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
    match body.get(offset..offset.wrapping_add(name.len())) {
        Some(same) if same == name => {
            std::str::from_utf8(same).map(Cow::Borrowed).map_err(|_| NOT_UTF8.to_string())
        }
        _ => std::str::from_utf8(name)
            .map(|n| Cow::Owned(n.to_owned()))
            .map_err(|_| NOT_UTF8.to_string()),
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for V2Fields<'a> {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        V2Fields {
            fields: iter.into_iter().map(|(n, v)| (Cow::Borrowed(n), Cow::Borrowed(v))).collect(),
        }
    }
}

/// Writes `<xml>` with one child per field (in the order given) and the sign last.
/// Names are ours.
///
/// Every value must already be validated free of `<`, `>` and `&` (ids, order numbers, nonces,
/// sign types and hex signatures are), so none is escaped: the bytes signed are the bytes sent.
pub(crate) fn write_validated_document(fields: &[(&str, &str)], sign: &str, out: &mut Vec<u8>) {
    debug_assert!(
        fields
            .iter()
            .chain([&("sign", sign)])
            .all(|(_, v)| !v.bytes().any(|b| matches!(b, b'<' | b'>' | b'&'))),
        "write_validated_document takes validated values only"
    );
    out.extend_from_slice(b"<xml>");
    for &(name, value) in fields {
        match tags(name) {
            Some((open, close)) => {
                out.extend_from_slice(open.as_bytes());
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(close.as_bytes());
            }
            None => {
                out.push(b'<');
                out.extend_from_slice(name.as_bytes());
                out.push(b'>');
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(b"</");
                out.extend_from_slice(name.as_bytes());
                out.push(b'>');
            }
        }
    }
    out.extend_from_slice(b"<sign>");
    out.extend_from_slice(sign.as_bytes());
    out.extend_from_slice(b"</sign></xml>");
}

/// An APIv2 document: `<xml>` with one child per field, in the order given, values escaped.
/// (For answers and tools; requests are written by the close operation itself.)
pub fn xml_document<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"<xml>");
    for (name, value) in fields {
        out.push(b'<');
        out.extend_from_slice(name.as_bytes());
        out.push(b'>');
        escape_into(value, &mut out);
        out.extend_from_slice(b"</");
        out.extend_from_slice(name.as_bytes());
        out.push(b'>');
    }
    out.extend_from_slice(b"</xml>");
    out
}

/// The opening and closing tags of the fields wxpay sends, written in one piece each.
fn tags(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "appid" => ("<appid>", "</appid>"),
        "mch_id" => ("<mch_id>", "</mch_id>"),
        "nonce_str" => ("<nonce_str>", "</nonce_str>"),
        "out_trade_no" => ("<out_trade_no>", "</out_trade_no>"),
        "sign_type" => ("<sign_type>", "</sign_type>"),
        "sub_appid" => ("<sub_appid>", "</sub_appid>"),
        "sub_mch_id" => ("<sub_mch_id>", "</sub_mch_id>"),
        _ => return None,
    })
}

/// Escapes `value` for element content into `out`: `<`, `&` and `>` (the last so that `]]>`
/// cannot appear). Quotes need no escaping outside attributes.
fn escape_into(value: &str, out: &mut Vec<u8>) {
    // Short values (ids, nonces, codes) are scanned faster by a plain loop than by memchr's set-up.
    if value.len() <= 64 && !value.bytes().any(|b| matches!(b, b'<' | b'>' | b'&')) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    let mut rest = value.as_bytes();
    while let Some(i) = memchr::memchr3(b'<', b'>', b'&', rest) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(match rest[i] {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            _ => b"&amp;",
        });
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    #[test]
    fn the_usual_answer_takes_the_fast_path_and_borrows() {
        let doc = b"<xml><return_code><![CDATA[SUCCESS]]></return_code>\n<mch_id>10000100</mch_id><e></e></xml>";
        let fast = parse_flat(doc).expect("fast path");
        assert!(
            fast.fields.iter().all(|(n, v)| matches!((n, v), (Cow::Borrowed(_), Cow::Borrowed(_))))
        );
        assert_eq!(Some(fast), V2Fields::parse_xml(doc).ok());
        // And what it declines still parses, through the general parser.
        for doc in [
            &b"<?xml version=\"1.0\"?><xml><a>1</a></xml>"[..],
            b"<xml><a>&amp;</a></xml>",
            b"<xml><a x=\"1\">1</a></xml>",
        ] {
            assert!(parse_flat(doc).is_none());
            assert!(V2Fields::parse(doc).is_ok());
        }
    }

    fn flat_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("<xml>".to_string()),
            Just("</xml>".to_string()),
            Just("<a>".to_string()),
            Just("</a>".to_string()),
            Just("<b_1>".to_string()),
            Just("</b_1>".to_string()),
            Just("<![CDATA[".to_string()),
            Just("]]>".to_string()),
            Just("&amp;".to_string()),
            Just("\r\n ".to_string()),
            Just("<a/>".to_string()),
            Just("<1>".to_string()),
            "[a-z0-9 <>/!\\[\\]&;]{0,6}",
            "\\PC{0,4}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// Whatever the fast path accepts, the general parser reads the same way.
        #[test]
        fn fast_path_agrees_with_the_general_parser(pieces in prop::collection::vec(flat_piece(), 0..24)) {
            let doc = pieces.concat();
            if let Some(fast) = parse_flat(doc.as_bytes()) {
                prop_assert_eq!(Ok(fast), V2Fields::parse_xml(doc.as_bytes()));
            }
        }

        /// Well-formed flat documents (the fast path's whole domain) agree too.
        #[test]
        fn flat_documents_agree(values in prop::collection::vec(("[a-z_]{1,6}", "[^<&]{0,10}", any::<bool>()), 0..8)) {
            let mut doc = String::from("<xml>");
            for (name, value, cdata) in &values {
                let value = value.replace("]]>", "");
                if *cdata {
                    doc.push_str(&format!("<{name}><![CDATA[{value}]]></{name}>"));
                } else {
                    doc.push_str(&format!("<{name}>{value}</{name}>"));
                }
            }
            doc.push_str("</xml>");
            let slow = V2Fields::parse_xml(doc.as_bytes());
            match parse_flat(doc.as_bytes()) {
                Some(fast) => prop_assert_eq!(Ok(fast), slow),
                // The only flat documents it declines are those with a repeated field,
                // which the general parser refuses too.
                None => {
                    let mut names: Vec<_> = values.iter().map(|(n, _, _)| n).collect();
                    names.sort();
                    names.dedup();
                    prop_assert!(names.len() < values.len(), "declined {:?}", doc);
                    prop_assert!(slow.is_err());
                }
            }
        }
    }

    #[test]
    fn cdata_plain_and_entities_all_decode() {
        let doc = b"<?xml version=\"1.0\"?>\n<xml>\n  <a><![CDATA[x<y]]></a>\n  <b>p&amp;q&lt;&gt;&quot;&apos;&#65;&#x42;</b>\n  <c/>\n  <d>  spaced  </d>\n</xml>\n";
        let f = V2Fields::parse(doc).unwrap();
        assert_eq!(f.get("a"), Some("x<y"));
        assert_eq!(f.get("b"), Some("p&q<>\"'AB"));
        assert_eq!(f.get("c"), Some(""));
        assert_eq!(f.get("d"), Some("  spaced  "));
        assert_eq!(f.get("e"), None);
    }

    #[test]
    fn mixed_cdata_and_text_concatenate() {
        let f = V2Fields::parse(b"<xml><a>1<![CDATA[2]]>3</a></xml>").unwrap();
        assert_eq!(f.get("a"), Some("123"));
    }

    #[test]
    fn unknown_flat_fields_are_kept() {
        let f = V2Fields::parse(b"<xml><x>1</x><a>2</a></xml>").unwrap();
        assert_eq!(f.get("x"), Some("1"));
        assert_eq!(f.get("a"), Some("2"));
    }

    #[test]
    fn refuses_what_it_cannot_read_unambiguously() {
        for (doc, why) in [
            (&b"<xml><a>1</a><a>2</a></xml>"[..], "twice"),
            // A field repeated inside another one, and text or CDATA between fields.
            (b"<xml><sign>A</sign><x><sign>B</sign></x></xml>", "nested inside a field"),
            (b"<xml><a>1<a>2</a></a></xml>", "nested inside a field"),
            (b"<xml><x><y>1</y></x><a>2</a></xml>", "nested inside a field"),
            (b"<xml><a>1</a>stray<b>2</b></xml>", "between fields"),
            (b"<xml><a>1</a><![CDATA[stray]]><b>2</b></xml>", "between fields"),
            (b"<xml><a>1</a>&amp;<b>2</b></xml>", "between fields"),
            (b"<!DOCTYPE x [<!ENTITY e \"v\">]><xml><a>&e;</a></xml>", "DOCTYPE"),
            (b"<xml><a>&e;</a></xml>", "unknown entity"),
            (b"<xml><a>1</b></xml>", "well-formed"),
            (b"<xml><a>1</a>", "ends inside"),
            (b"", "no root"),
            (b"<xml/><xml/>", "more than one root"),
            (b"junk", "outside the root"),
        ] {
            let err = V2Fields::parse(doc).unwrap_err();
            assert!(err.contains(why), "{err:?} should mention {why:?}");
        }
    }

    #[test]
    fn written_values_are_escaped_and_read_back() {
        let out = xml_document([("a", "x<&>\"'y"), ("b", "]]>"), ("sign", "S")]);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(text, "<xml><a>x&lt;&amp;&gt;\"'y</a><b>]]&gt;</b><sign>S</sign></xml>");
        let f = V2Fields::parse(&out).unwrap();
        assert_eq!(f.get("a"), Some("x<&>\"'y"));
        assert_eq!(f.get("b"), Some("]]>"));
    }
}
