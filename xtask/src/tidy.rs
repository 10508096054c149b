//! Repository checks that run as ordinary tests (`cargo test --workspace`, or
//! `cargo test -p xtask`), as rust-analyzer's `xtask/src/tidy.rs` does.
//!
//! **No import circles**: no module of a crate under `crates/` may import a module that imports
//! it back. Every `crates/*/src/**/*.rs` is read; the module edges are the paths that start
//! with `crate::`, `super::` or `self::` anywhere in the code, and `use` paths that start with
//! a child module's name. A name the target module only re-exports (`pub use m::Name`) counts
//! as an edge to the module it comes from, so `use crate::Name` in a module that the crate
//! root re-exports from is not a circle with the root. Comments and string literals are
//! skipped. Every pair found is printed; a pair in a crate of [`STRICT`] fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The crates held to the rule: a circle in one of these fails the test. The others' circles
/// are printed (`cargo test -p xtask -- --nocapture`) until their owners remove them.
const STRICT: &[&str] =
    &["wxpay-core", "wxpay-blocking", "wxpay-async", "wxpay-sandbox", "wxpay-cli"];

/// A module path inside its crate: empty for the crate root.
type ModPath = Vec<String>;

fn show(m: &[String]) -> String {
    if m.is_empty() { "crate".to_owned() } else { m.join("::") }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// The tokens of Rust source that matter here, with their line numbers: identifiers, `::` and
/// punctuation. Comments, strings, characters and numbers are dropped.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b = src.as_bytes();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    // Skips to just past the closing `"`, honouring escapes; counts lines.
    let skip_string = |mut i: usize, line: &mut usize| {
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' {
                i += 1;
            }
            if i < b.len() && b[i] == b'\n' {
                *line += 1;
            }
            i += 1;
        }
        i + 1
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            b'"' => i = skip_string(i + 1, &mut line),
            b'\'' => {
                // A character literal ('a', '\n', '\u{1b}', '订') or a lifetime ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    let width = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                    if b.get(i + 1 + width) == Some(&b'\'') {
                        i += 2 + width;
                    } else {
                        i += 1;
                    }
                }
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &src[start..i];
                // Raw strings r"…", r#"…"#, byte strings b"…", br#"…"#.
                let raw = matches!(word, "r" | "br") && matches!(b.get(i), Some(b'"' | b'#'));
                if raw {
                    let hashes = b[i..].iter().take_while(|&&h| h == b'#').count();
                    if b.get(i + hashes) == Some(&b'"') {
                        let close: Vec<u8> = std::iter::once(b'"')
                            .chain(std::iter::repeat_n(b'#', hashes))
                            .collect();
                        i += hashes + 1;
                        while i < b.len() && !b[i..].starts_with(&close) {
                            if b[i] == b'\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                        i += close.len();
                        continue;
                    }
                }
                if word == "b" && b.get(i) == Some(&b'"') {
                    i = skip_string(i + 1, &mut line);
                    continue;
                }
                if word == "b" && b.get(i) == Some(&b'\'') {
                    continue; // the literal is skipped as a character next
                }
                out.push((Tok::Ident(word.to_owned()), line));
            }
            _ if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            b':' if b.get(i + 1) == Some(&b':') => {
                out.push((Tok::Path, line));
                i += 2;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            _ => {
                out.push((Tok::Punct(char::from(c)), line));
                i += 1;
            }
        }
    }
    out
}

/// A path as written in one module, and where.
#[derive(Debug)]
struct Written {
    /// The module it is written in (inline modules included).
    module: ModPath,
    segments: Vec<String>,
    line: usize,
    /// `pub use …`: the name it is re-exported under, when it is one.
    reexport_as: Option<String>,
    /// A `use` path (which may start with a child module's name) rather than a path in code.
    in_use: bool,
}

/// Reads the paths of one file (module `module`).
fn written_paths(src: &str, module: &ModPath, out: &mut Vec<Written>) {
    let toks = tokens(src);
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let is = |i: usize, t: &Tok| toks.get(i).map(|(k, _)| k) == Some(t);
    // Inline modules: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let current = || {
            let mut m = module.clone();
            m.extend(inline.iter().map(|(n, _)| n.clone()));
            m
        };
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(w) if w == "mod" && is(i + 2, &Tok::Punct('{')) => {
                if let Some(name) = ident(i + 1) {
                    inline.push((name.to_owned(), depth + 1));
                }
            }
            Tok::Ident(w) if w == "use" && !is(i.wrapping_sub(1), &Tok::Path) => {
                let public = matches!(ident(i.wrapping_sub(1)), Some("pub"))
                    || is(i.wrapping_sub(1), &Tok::Punct(')'));
                let mut trees = Vec::new();
                let end = use_tree(&toks, i + 1, Vec::new(), &mut trees);
                let here = current();
                for (segments, alias) in trees {
                    let reexport_as = if public { alias } else { None };
                    out.push(Written {
                        module: here.clone(),
                        segments,
                        line: toks[i].1,
                        reexport_as,
                        in_use: true,
                    });
                }
                i = end.max(i + 1);
                continue;
            }
            Tok::Ident(w)
                if matches!(w.as_str(), "crate" | "super" | "self")
                    && is(i + 1, &Tok::Path)
                    && !is(i.wrapping_sub(1), &Tok::Punct('$'))
                    && !is(i.wrapping_sub(1), &Tok::Path) =>
            {
                let mut segments = vec![w.clone()];
                let mut j = i + 1;
                while is(j, &Tok::Path) {
                    match ident(j + 1) {
                        Some(s) => segments.push(s.to_owned()),
                        None => break,
                    }
                    j += 2;
                }
                out.push(Written {
                    module: current(),
                    segments,
                    line: toks[i].1,
                    reexport_as: None,
                    in_use: false,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Expands a `use` tree from token `i` into its paths, each with the name it brings in (none
/// for a glob). Returns the index after the tree.
fn use_tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) -> usize {
    loop {
        match toks.get(i).map(|(t, _)| t) {
            Some(Tok::Path) => i += 1,
            Some(Tok::Punct('*')) => {
                prefix.push("*".to_owned());
                out.push((prefix, None));
                return i + 1;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    match toks.get(i).map(|(t, _)| t) {
                        None => return i,
                        Some(Tok::Punct('}')) => return i + 1,
                        Some(Tok::Punct(',')) => i += 1,
                        Some(_) => {
                            let next = use_tree(toks, i, prefix.clone(), out);
                            if next == i {
                                return i + 1;
                            }
                            i = next;
                        }
                    }
                }
            }
            Some(Tok::Ident(name)) => {
                prefix.push(name.clone());
                i += 1;
                if let Some(Tok::Path) = toks.get(i).map(|(t, _)| t) {
                    i += 1;
                    continue;
                }
                let mut alias = name.clone();
                if let (Some((Tok::Ident(kw), _)), Some((Tok::Ident(a), _))) =
                    (toks.get(i), toks.get(i + 1))
                {
                    if kw == "as" {
                        alias.clone_from(a);
                        i += 2;
                    }
                }
                if alias == "self" {
                    alias = prefix.iter().rev().nth(1).cloned().unwrap_or_default();
                }
                out.push((prefix, Some(alias)));
                return i;
            }
            _ => return i,
        }
    }
}

/// One crate's sources: module path → (file, text).
#[derive(Debug)]
struct Crate {
    name: String,
    modules: BTreeMap<ModPath, (PathBuf, String)>,
}

/// The module a file under `src` holds: `lib.rs`/`main.rs` the root, `a/mod.rs` and `a.rs` `a`.
fn module_of(relative: &Path) -> ModPath {
    let mut parts: Vec<String> =
        relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if !matches!(stem, "mod" | "lib" | "main") || !parts.is_empty() && stem != "mod" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

fn read_crate(name: &str, src: &Path) -> Crate {
    let mut modules = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            // `src/bin/*.rs` are crates of their own; none in this workspace has one.
            if path.is_dir() && !(dir == src && path.ends_with("bin")) {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let relative = path.strip_prefix(src).unwrap_or(&path).to_path_buf();
                modules.insert(module_of(&relative), (relative, text));
            }
        }
    }
    Crate { name: name.to_owned(), modules }
}

/// The workspace's crates under `crates/`.
fn workspace_crates(root: &Path) -> Vec<Crate> {
    let mut crates = Vec::new();
    let Ok(entries) = std::fs::read_dir(root.join("crates")) else { return crates };
    for entry in entries.flatten() {
        let src = entry.path().join("src");
        if src.is_dir() {
            crates.push(read_crate(&entry.file_name().to_string_lossy(), &src));
        }
    }
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    crates
}

/// An import from one module to another, where it is written.
#[derive(Debug, Clone)]
struct Edge {
    file: PathBuf,
    line: usize,
    path: String,
}

/// Every module edge of a crate: (from, to) → the first place it is written.
fn edges(krate: &Crate) -> BTreeMap<(ModPath, ModPath), Edge> {
    let mut written = Vec::new();
    let mut files = Vec::new();
    for (module, (file, text)) in &krate.modules {
        let start = written.len();
        written_paths(text, module, &mut written);
        files.extend(std::iter::repeat_n(file.clone(), written.len() - start));
    }
    let mut known: BTreeSet<ModPath> = krate.modules.keys().cloned().collect();
    known.extend(written.iter().map(|w| w.module.clone()));

    // Where a path leads: the deepest module it names, following one module's re-exports.
    let resolve = |w: &Written, reexports: &BTreeMap<(ModPath, String), ModPath>| {
        let first = w.segments.first()?;
        let (mut at, rest) = match first.as_str() {
            "crate" => (Vec::new(), &w.segments[1..]),
            "self" => (w.module.clone(), &w.segments[1..]),
            "super" => {
                let mut at = w.module.clone();
                let supers = w.segments.iter().take_while(|s| *s == "super").count();
                for _ in 0..supers {
                    at.pop()?;
                }
                (at, &w.segments[supers..])
            }
            child if w.in_use => {
                let mut at = w.module.clone();
                at.push(child.to_owned());
                if !known.contains(&at) {
                    return None;
                }
                (at, &w.segments[1..])
            }
            _ => return None,
        };
        for segment in rest {
            if segment == "self" {
                continue;
            }
            let mut next = at.clone();
            next.push(segment.clone());
            if known.contains(&next) {
                at = next;
            } else {
                if let Some(from) = reexports.get(&(at.clone(), segment.clone())) {
                    at = from.clone();
                }
                break;
            }
        }
        Some(at)
    };
    let mut reexports = BTreeMap::new();
    for w in &written {
        if let (Some(name), Some(to)) = (&w.reexport_as, resolve(w, &BTreeMap::new())) {
            if to != w.module {
                reexports.insert((w.module.clone(), name.clone()), to);
            }
        }
    }
    let mut edges = BTreeMap::new();
    for (w, file) in written.iter().zip(files) {
        let Some(to) = resolve(w, &reexports) else { continue };
        if to != w.module {
            edges.entry((w.module.clone(), to)).or_insert(Edge {
                file,
                line: w.line,
                path: match w.segments.split_last() {
                    Some((last, init)) if last == "self" && !init.is_empty() => init.join("::"),
                    _ => w.segments.join("::"),
                },
            });
        }
    }
    edges
}

/// Each pair of modules that import each other, described.
fn circles(krate: &Crate) -> Vec<String> {
    let edges = edges(krate);
    let mut found = Vec::new();
    for ((a, b), there) in &edges {
        if a < b {
            if let Some(back) = edges.get(&(b.clone(), a.clone())) {
                found.push(format!(
                    "{}: {} ↔ {} ({}:{} `{}`; {}:{} `{}`)",
                    krate.name,
                    show(a),
                    show(b),
                    there.file.display(),
                    there.line,
                    there.path,
                    back.file.display(),
                    back.line,
                    back.path,
                ));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
    let crates = workspace_crates(root);
    for strict in STRICT {
        assert!(crates.iter().any(|c| c.name == *strict), "STRICT names no crate: {strict}");
    }
    let (mut report, mut failures) = (String::new(), Vec::new());
    for krate in &crates {
        for circle in circles(krate) {
            let _ = writeln!(report, "{circle}");
            if STRICT.contains(&krate.name.as_str()) {
                failures.push(circle);
            }
        }
    }
    if !report.is_empty() {
        eprintln!("import circles (checked strictly: {}):\n{report}", STRICT.join(", "));
    }
    assert!(
        failures.is_empty(),
        "import circles in strictly checked crates:\n{}",
        failures.join("\n")
    );
}

#[cfg(test)]
fn fixture(files: &[(&str, &str)]) -> Crate {
    let modules = files
        .iter()
        .map(|(path, text)| (module_of(Path::new(path)), (PathBuf::from(path), (*text).to_owned())))
        .collect();
    Crate { name: "fixture".to_owned(), modules }
}

#[test]
fn circles_are_found_through_every_kind_of_path() {
    let krate = fixture(&[
        ("lib.rs", "mod a; mod b; mod c; mod d; pub use c::Thing;\n"),
        ("a.rs", "use crate::{b::{self, B}, x as y};\n"),
        ("b.rs", "fn f() { let _ = crate::a::A; }\n"),
        // `crate::Thing` is `c`'s, re-exported by the root: c ↔ d, not d ↔ root.
        ("c.rs", "pub struct Thing; use super::d::D;\n"),
        ("d.rs", "use crate::Thing;\n"),
        ("e/mod.rs", "mod f; use f::F;\n"),
        ("e/f.rs", "use super::E;\n"),
    ]);
    let found = circles(&krate);
    let pairs: Vec<&str> = found.iter().map(|c| c.split(" (").next().unwrap_or_default()).collect();
    assert_eq!(pairs, ["fixture: a ↔ b", "fixture: c ↔ d", "fixture: e ↔ e::f"], "{found:#?}");
    assert!(found[0].contains("a.rs:1 `crate::b`"), "{}", found[0]);
}

#[test]
fn what_only_looks_like_an_import_is_not_one() {
    let krate = fixture(&[
        ("lib.rs", "mod a; mod b; pub use a::A;\n"),
        // Comments, strings, raw strings, `$crate`, and a test module's `super::*` (the
        // module itself, not its parent).
        (
            "a.rs",
            "// use crate::b;\n/* crate::b::X */ const S: &str = \"crate::b::X\";\n\
             const R: &str = r#\"use crate::b;\"#; const C: char = '\"';\n\
             macro_rules! m { () => { $crate::b::X } }\n\
             pub struct A; #[cfg(test)] mod tests { use super::*; }\n",
        ),
        ("b.rs", "use crate::a::A; use std::fmt;\n"),
    ]);
    assert_eq!(circles(&krate), Vec::<String>::new());
    let edges = edges(&krate);
    let to = |a: &[&str], b: &[&str]| {
        let m = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<ModPath>();
        edges.contains_key(&(m(a), m(b)))
    };
    assert!(to(&["b"], &["a"]) && to(&[], &["a"]) && to(&["a", "tests"], &["a"]));
    assert!(!to(&["a"], &["b"]) && !to(&["a"], &[]));
}
