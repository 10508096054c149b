//! `cargo xtask doc-examples`: every Rust example a published crate shows compiles in a
//! crate that depends on that crate alone, as a user's would.
//!
//! `cargo test --doc` cannot see this: a doctest links every dependency and dev-dependency of
//! its crate, so an example on `wxpay-blocking`'s pages that names `wxpay_core` (or starts a
//! `wxpay_sandbox` in a hidden line) passes there and fails in a program that depends on
//! `wxpay-blocking` only.
//!
//! For each published library crate, the examples are read from its own source's doc comments
//! (`///`, `//!`, and files named by `#[doc = include_str!(…)]`), its `README.md`, and the
//! workspace README's Rust blocks that name that crate and no other published one. A block is
//! Rust as rustdoc decides it (no info string, or only rustdoc's own attributes); `ignore`,
//! `compile_fail` and non-Rust blocks are skipped, `no_run` and `should_panic` ones are built.
//! Hidden `# ` lines are kept (rustdoc compiles them too), `##` is unescaped, and code without
//! a `fn main` is wrapped in one the way rustdoc does (returning a `Result` when it ends with
//! `(())`). Each example becomes `examples/<n>.rs` of `target/doc-examples/<crate>/`, whose
//! `Cargo.toml` depends on nothing but that crate, by path; `cargo check --examples --offline`
//! (with `--build`: `cargo build`) runs on it with the workspace's `Cargo.lock`, and every
//! error is reported at the line of the doc comment it comes from.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// One line of an example: its text and where it was written (file, 1-based line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) text: String,
    pub(crate) at: Option<(PathBuf, usize)>,
}

/// One Rust example as a user's program: the lines of `examples/<n>.rs`.
#[derive(Debug)]
pub(crate) struct Example {
    /// Where its fence opens.
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) program: Vec<Line>,
}

/// Whether rustdoc builds a block with this fence info string: not for another language,
/// `ignore` or `compile_fail`.
pub(crate) fn is_built(info: &str) -> bool {
    let mut rust_tag = false;
    let mut other = false;
    let mut skip = false;
    for token in info.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
        match token {
            "rust" => rust_tag = true,
            "no_run" | "should_panic" | "test_harness" | "standalone_crate" => rust_tag = true,
            t if t.starts_with("edition") => rust_tag = true,
            "ignore" | "compile_fail" => skip = true,
            t if t.starts_with("ignore-") => skip = true,
            t if t.starts_with('E') && t[1..].chars().all(|c| c.is_ascii_digit()) => {}
            _ => other = true,
        }
    }
    (!other || rust_tag) && !skip
}

/// The doc text of a Rust source: each run of `///` or `//!` lines (their common indent
/// removed, as rustdoc does), and the files its `doc = include_str!("…")` attributes name.
pub(crate) fn doc_blocks(file: &Path, src: &str) -> Vec<Vec<Line>> {
    let mut blocks: Vec<Vec<Line>> = Vec::new();
    let mut current: Vec<(String, usize)> = Vec::new();
    let mut kind = "";
    let flush = |current: &mut Vec<(String, usize)>, blocks: &mut Vec<Vec<Line>>| {
        if current.is_empty() {
            return;
        }
        let indent = current
            .iter()
            .filter(|(t, _)| !t.trim().is_empty())
            .map(|(t, _)| t.len() - t.trim_start().len())
            .min()
            .unwrap_or(0);
        blocks.push(
            current
                .drain(..)
                .map(|(t, n)| Line {
                    text: t.get(indent..).unwrap_or("").to_string(),
                    at: Some((file.to_path_buf(), n)),
                })
                .collect(),
        );
    };
    for (i, raw) in src.lines().enumerate() {
        let trimmed = raw.trim_start();
        let this = if trimmed.starts_with("///") && !trimmed.starts_with("////") {
            "///"
        } else if trimmed.starts_with("//!") {
            "//!"
        } else {
            ""
        };
        if this != kind {
            flush(&mut current, &mut blocks);
            kind = this;
        }
        if this.is_empty() {
            if let Some(path) = included_doc(trimmed) {
                let path = file.parent().unwrap_or(Path::new("")).join(path);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    blocks.push(markdown_lines(&path, &text));
                }
            }
        } else {
            current.push((trimmed[3..].to_string(), i + 1));
        }
    }
    flush(&mut current, &mut blocks);
    blocks
}

/// `#[doc = include_str!("x")]` or `#![doc = include_str!("x")]` on one line: `x`.
fn included_doc(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("#![").or_else(|| line.strip_prefix("#["))?;
    let rest = rest.trim_start().strip_prefix("doc")?.trim_start().strip_prefix('=')?;
    let rest = rest.trim_start().strip_prefix("include_str!(\"")?;
    rest.split_once('"').map(|(path, _)| path)
}

/// A Markdown file's lines.
pub(crate) fn markdown_lines(file: &Path, text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .map(|(i, t)| Line { text: t.to_string(), at: Some((file.to_path_buf(), i + 1)) })
        .collect()
}

/// The fenced code blocks of Markdown text that rustdoc would test: (info, opening line,
/// code lines).
pub(crate) fn rust_blocks(doc: &[Line]) -> Vec<(usize, Vec<Line>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < doc.len() {
        let text = &doc[i].text;
        let indent = text.len() - text.trim_start().len();
        let t = text.trim_start();
        let fence_char = t.chars().next().filter(|c| *c == '`' || *c == '~');
        let Some(c) = fence_char else {
            i += 1;
            continue;
        };
        let width = t.chars().take_while(|x| *x == c).count();
        if width < 3 {
            i += 1;
            continue;
        }
        let info = t[width..].trim();
        let open = i;
        let mut code = Vec::new();
        i += 1;
        while i < doc.len() {
            let l = doc[i].text.trim_start();
            let w = l.chars().take_while(|x| *x == c).count();
            if w >= width && l[w..].trim().is_empty() {
                break;
            }
            let strip = doc[i].text.len() - l.len();
            code.push(Line {
                text: doc[i].text[strip.min(indent)..].to_string(),
                at: doc[i].at.clone(),
            });
            i += 1;
        }
        i += 1;
        if is_built(info) {
            out.push((open, code));
        }
    }
    out
}

/// An example's code as the program rustdoc compiles: hidden lines shown, `##` unescaped,
/// crate attributes first, and a `fn main` around it unless it has one.
pub(crate) fn program(code: &[Line]) -> Vec<Line> {
    let code: Vec<Line> = code
        .iter()
        .map(|l| {
            let trimmed = l.text.trim();
            let text = if trimmed.starts_with("##") {
                l.text.replacen("##", "#", 1)
            } else if let Some(hidden) = trimmed.strip_prefix("# ") {
                hidden.to_string()
            } else if trimmed == "#" {
                String::new()
            } else {
                l.text.clone()
            };
            Line { text, at: l.at.clone() }
        })
        .collect();
    let mut out = vec![Line { text: "#![allow(unused)]".into(), at: None }];
    // Crate attributes stay at the top, as rustdoc moves them.
    let first_other = code
        .iter()
        .position(|l| !l.text.trim().is_empty() && !l.text.trim_start().starts_with("#!["))
        .unwrap_or(code.len());
    out.extend(code[..first_other].iter().cloned());
    let body = &code[first_other..];
    if has_main(body) {
        out.extend(body.iter().cloned());
        return out;
    }
    let returns_result = body.iter().rev().find(|l| !l.text.trim().is_empty()).is_some_and(|l| {
        let t = l.text.trim_end();
        t.ends_with("(())") || t.ends_with("(());")
    });
    if returns_result {
        out.push(Line {
            text:
                "fn main() { fn _inner() -> ::core::result::Result<(), impl ::core::fmt::Debug> {"
                    .into(),
            at: None,
        });
        out.extend(body.iter().cloned());
        out.push(Line { text: "} _inner().unwrap() }".into(), at: None });
    } else {
        out.push(Line { text: "fn main() {".into(), at: None });
        out.extend(body.iter().cloned());
        out.push(Line { text: "}".into(), at: None });
    }
    out
}

/// Whether code defines `fn main` at its top level (rustdoc parses; a line that starts
/// an item `fn main(` is what it finds in practice).
fn has_main(code: &[Line]) -> bool {
    code.iter().any(|l| {
        let t = l.text.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t.strip_prefix("async ").unwrap_or(t);
        t.starts_with("fn main(") || t.starts_with("fn main (")
    })
}

/// Every example of the crate in `dir` (named `name`, `lib_name` in code), with the
/// workspace README's blocks that name it alone.
pub(crate) fn examples(root: &Path, dir: &Path, lib_name: &str, others: &[String]) -> Vec<Example> {
    let mut blocks: Vec<Vec<Line>> = Vec::new();
    let mut sources = Vec::new();
    rust_files(&dir.join("src"), &mut sources);
    sources.sort();
    for file in &sources {
        if let Ok(src) = std::fs::read_to_string(file) {
            let rel = file.strip_prefix(root).unwrap_or(file);
            blocks.extend(doc_blocks(rel, &src).into_iter().map(|b| relative(root, b)));
        }
    }
    let readme = dir.join("README.md");
    if let Ok(text) = std::fs::read_to_string(&readme) {
        blocks.push(markdown_lines(readme.strip_prefix(root).unwrap_or(&readme), &text));
    }
    let mut out = Vec::new();
    for block in &blocks {
        for (open, code) in rust_blocks(block) {
            push(&mut out, &block[open], &code);
        }
    }
    // The workspace README: a block naming this crate and no other published one.
    let top = root.join("README.md");
    if let Ok(text) = std::fs::read_to_string(&top) {
        let lines = markdown_lines(Path::new("README.md"), &text);
        for (open, code) in rust_blocks(&lines) {
            let names = |n: &str| code.iter().any(|l| l.text.contains(n));
            if names(lib_name) && !others.iter().any(|o| names(o)) {
                push(&mut out, &lines[open], &code);
            }
        }
    }
    out
}

fn push(out: &mut Vec<Example>, fence: &Line, code: &[Line]) {
    let (file, line) = fence.at.clone().unwrap_or_default();
    out.push(Example { file, line, program: program(code) });
}

/// Paths of included files relative to the workspace root.
fn relative(root: &Path, block: Vec<Line>) -> Vec<Line> {
    block
        .into_iter()
        .map(|mut l| {
            if let Some((f, _)) = &mut l.at {
                if let Ok(r) = f.strip_prefix(root) {
                    *f = r.to_path_buf();
                }
            }
            l
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The workspace's published library crates: (package name, directory).
fn published_libraries(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(root.join("crates")).map_err(|e| e.to_string())?;
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let publish_false = manifest.lines().any(|l| l.replace(' ', "") == "publish=false");
        if publish_false || !dir.join("src/lib.rs").exists() {
            continue;
        }
        let name = manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = \"")?.strip_suffix('"').map(str::to_string))
            .ok_or_else(|| format!("{}: no package name", dir.display()))?;
        out.push((name, dir));
    }
    out.sort();
    Ok(out)
}

/// A published crate's re-exports of another's items that are not `#[doc(no_inline)]`:
/// rustdoc would copy those items' docs, and their examples naming the other crate, onto
/// this crate's pages. (`file:line: use`)
pub(crate) fn inlined_reexports(file: &Path, src: &str, others: &[String]) -> Vec<String> {
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(path) = t.strip_prefix("pub use ") else { continue };
        let path = path.trim_start_matches("::");
        if !others
            .iter()
            .any(|o| path.starts_with(&format!("{o}::")) || path.starts_with(&format!("{o};")))
        {
            continue;
        }
        let attrs = lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("#[") || l.starts_with("///"));
        if !attrs.clone().any(|l| l.replace(' ', "") == "#[doc(no_inline)]") {
            out.push(format!("{}:{}: `{}` is not #[doc(no_inline)]", file.display(), i + 1, t));
        }
    }
    out
}

/// Examples rendered under `target/doc/<lib>/` (a `cargo doc` before) that name another
/// published crate: `(page, crate named)`. Comments are left out, and paths through this
/// crate (`wxpay_sandbox::wxpay_core::…`) are its own.
pub(crate) fn rendered_foreign(html: &str, lib: &str, others: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let open = "<pre class=\"rust rust-example-rendered\"><code>";
    for chunk in html.split(open).skip(1) {
        let code = chunk.split("</code></pre>").next().unwrap_or_default();
        let mut text = String::new();
        let mut in_tag = false;
        for c in code.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for other in others {
                let named = code.match_indices(&format!("{other}::")).any(|(at, _)| {
                    let before = &code[..at];
                    !before.ends_with("::")
                        && !before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if named && !out.contains(other) {
                    out.push(other.clone());
                }
            }
        }
    }
    let _ = lib;
    out
}

fn rendered(root: &Path, lib: &str, others: &[String], failures: &mut Vec<String>) -> usize {
    let mut pages = Vec::new();
    html_files(&root.join("target/doc").join(lib), &mut pages);
    for page in &pages {
        let Ok(html) = std::fs::read_to_string(page) else { continue };
        for other in rendered_foreign(&html, lib, others) {
            failures.push(format!("{}: an example names {other}", page.display()));
        }
    }
    pages.len()
}

fn html_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            html_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
}

/// `cargo xtask doc-examples [--build] [--rendered] [CRATE…]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let build = args.iter().any(|a| a == "--build");
    let with_rendered = args.iter().any(|a| a == "--rendered");
    let only: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let root = crate::root();
    let crates = published_libraries(&root)?;
    let lib_names: Vec<String> = crates.iter().map(|(n, _)| n.replace('-', "_")).collect();
    let out_dir = root.join("target/doc-examples");
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    for (name, dir) in &crates {
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let lib = name.replace('-', "_");
        let others: Vec<String> = lib_names.iter().filter(|n| **n != lib).cloned().collect();
        let mut sources = Vec::new();
        rust_files(&dir.join("src"), &mut sources);
        for file in &sources {
            let src = std::fs::read_to_string(file).unwrap_or_default();
            failures.extend(inlined_reexports(
                file.strip_prefix(&root).unwrap_or(file),
                &src,
                &others,
            ));
        }
        if with_rendered {
            let pages = rendered(&root, &lib, &others, &mut failures);
            if pages == 0 {
                failures.push(format!("--rendered: no target/doc/{lib}/ (run cargo doc first)"));
            }
            println!("doc-examples {name}: {pages} rendered pages read");
        }
        let examples = examples(&root, dir, &lib, &others);
        let krate = out_dir.join(name);
        write_crate(&root, &krate, name, dir, &examples)?;
        let t = std::time::Instant::now();
        let errors = check(&root, &krate, build, &examples)?;
        println!(
            "doc-examples {name}: {} examples, {} failing ({:.1} s)",
            examples.len(),
            errors.len(),
            t.elapsed().as_secs_f64()
        );
        failures.extend(errors);
    }
    println!("doc-examples: {:.1} s", started.elapsed().as_secs_f64());
    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!("{f}");
        }
        Err(format!(
            "{} problem(s): examples that do not compile with their crate alone (generated crates under {}), or another crate's docs copied onto a crate's pages",
            failures.len(),
            out_dir.display()
        ))
    }
}

/// `target/doc-examples/<crate>/`: a package that depends on the crate alone, one example
/// file per doc example, the workspace's lock file.
fn write_crate(
    root: &Path,
    krate: &Path,
    name: &str,
    dir: &Path,
    examples: &[Example],
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", krate.display());
    let _ = std::fs::remove_dir_all(krate.join("examples"));
    std::fs::create_dir_all(krate.join("examples")).map_err(io)?;
    std::fs::create_dir_all(krate.join("src")).map_err(io)?;
    let manifest = format!(
        "# Generated by `cargo xtask doc-examples`: the examples of {name}'s pages, as a\n\
         # program that depends on {name} alone would build them.\n\
         [package]\nname = \"doc-examples-{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
         publish = false\n\n[dependencies]\n{name} = {{ path = {:?} }}\n\n[workspace]\n",
        dir.display().to_string()
    );
    std::fs::write(krate.join("Cargo.toml"), manifest).map_err(io)?;
    std::fs::write(krate.join("src/lib.rs"), "").map_err(io)?;
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).map_err(io)?;
    for (n, example) in examples.iter().enumerate() {
        let mut text = String::new();
        for line in &example.program {
            let _ = writeln!(text, "{}", line.text);
        }
        std::fs::write(krate.join(format!("examples/{}.rs", example_name(n))), text).map_err(io)?;
    }
    Ok(())
}

fn example_name(n: usize) -> String {
    format!("ex{n:03}")
}

/// Builds the generated crate; each error message at the doc line it comes from.
fn check(
    root: &Path,
    krate: &Path,
    build: bool,
    examples: &[Example],
) -> Result<Vec<String>, String> {
    let mut cmd = crate::cargo();
    cmd.arg(if build { "build" } else { "check" })
        .args(["--examples", "--keep-going", "--offline", "--quiet", "--message-format=json"])
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"))
        // Shared by the generated crates, apart from the workspace's (other features).
        .env("CARGO_TARGET_DIR", root.join("target/doc-examples/target"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let output = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let by_name: BTreeMap<String, &Example> =
        examples.iter().enumerate().map(|(n, e)| (example_name(n), e)).collect();
    let mut errors = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-message" || msg["message"]["level"] != "error" {
            continue;
        }
        let target = msg["target"]["name"].as_str().unwrap_or_default();
        let Some(example) = by_name.get(target) else {
            errors.push(msg["message"]["rendered"].as_str().unwrap_or_default().to_string());
            continue;
        };
        let span = msg["message"]["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["is_primary"] == true).or(s.first()));
        let generated = span.and_then(|s| s["line_start"].as_u64()).unwrap_or(0) as usize;
        let at = generated
            .checked_sub(1)
            .and_then(|i| example.program.get(i))
            .and_then(|l| l.at.clone())
            .unwrap_or_else(|| (example.file.clone(), example.line));
        errors.push(format!(
            "{}:{}: in the example at line {} ({target}.rs): {}",
            at.0.display(),
            at.1,
            example.line,
            msg["message"]["rendered"].as_str().unwrap_or_default().trim_end()
        ));
    }
    if errors.is_empty() && !output.status.success() {
        errors.push(format!("{cmd:?} failed: {}", output.status));
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn blocks_are_rust_as_rustdoc_decides() {
        for info in
            ["", "rust", "no_run", "rust,no_run", "should_panic", "edition2021", "rust E0277"]
        {
            assert!(is_built(info), "{info:?} is built");
        }
        for info in
            ["text", "sh", "toml", "ignore", "rust,ignore", "compile_fail", "ignore-windows"]
        {
            assert!(!is_built(info), "{info:?} is not built");
        }
    }

    #[test]
    fn doc_comments_give_their_examples_with_hidden_lines_and_a_main() {
        let src = "\
//! Crate.
//!
//! ```
//! use a::B;
//! # let hidden = 1;
//! ## not hidden
//! B::new()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! ```text
//! not code
//! ```
/// Item.
///
/// ```rust,no_run
/// fn main() {}
/// ```
/// ```ignore
/// nope
/// ```
fn f() {}
";
        let blocks = doc_blocks(Path::new("src/lib.rs"), src);
        let found: Vec<_> = blocks.iter().flat_map(|b| rust_blocks(b)).collect();
        assert_eq!(found.len(), 2);
        let first = program(&found[0].1);
        assert_eq!(
            texts(&first),
            [
                "#![allow(unused)]",
                "fn main() { fn _inner() -> ::core::result::Result<(), impl ::core::fmt::Debug> {",
                "use a::B;",
                "let hidden = 1;",
                "# not hidden",
                "B::new()?;",
                "Ok::<(), Box<dyn std::error::Error>>(())",
                "} _inner().unwrap() }",
            ]
        );
        // Lines point back at the doc comment.
        assert_eq!(first[2].at, Some((PathBuf::from("src/lib.rs"), 4)));
        let second = program(&found[1].1);
        assert_eq!(texts(&second), ["#![allow(unused)]", "fn main() {}"]);
        assert_eq!(second[1].at, Some((PathBuf::from("src/lib.rs"), 16)));
    }

    #[test]
    fn code_without_a_result_is_wrapped_plainly_and_indented_fences_are_read() {
        let doc = markdown_lines(Path::new("README.md"), "  ```\n  let x = 1;\n  ```\n");
        let found = rust_blocks(&doc);
        assert_eq!(
            texts(&program(&found[0].1)),
            ["#![allow(unused)]", "fn main() {", "let x = 1;", "}"]
        );
    }

    #[test]
    fn foreign_reexports_must_not_be_inlined() {
        let others = ["wxpay_core".to_string()];
        let src = "pub use wxpay_core::*;\n/// Doc.\n#[doc(no_inline)]\npub use wxpay_core;\npub use crate::x::Y;\n";
        let found = inlined_reexports(Path::new("src/lib.rs"), src, &others);
        assert_eq!(found, ["src/lib.rs:1: `pub use wxpay_core::*;` is not #[doc(no_inline)]"]);
    }

    #[test]
    fn rendered_examples_naming_another_crate_are_found() {
        let others = ["wxpay_core".to_string()];
        let page = |code: &str| {
            format!("<pre class=\"rust rust-example-rendered\"><code>{code}</code></pre>")
        };
        let bad = page("<span class=\"kw\">use</span> wxpay_core::ClientConfig;");
        assert_eq!(rendered_foreign(&bad, "wxpay_blocking", &others), ["wxpay_core"]);
        let fine = page(
            "use wxpay_sandbox::wxpay_core::X; // wxpay_core::Y in a comment\nmy_wxpay_core::Z;",
        );
        assert!(rendered_foreign(&fine, "wxpay_sandbox", &others).is_empty());
    }

    #[test]
    fn included_docs_are_found() {
        assert_eq!(included_doc("#![doc = include_str!(\"../README.md\")]"), Some("../README.md"));
        assert_eq!(included_doc("#[doc = include_str!(\"x.md\")]"), Some("x.md"));
        assert_eq!(included_doc("#[doc(hidden)]"), None);
    }
}
