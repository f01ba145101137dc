//! The layers of `src/` look only down (docs/ARCHITECTURE.md, "Layers"): this test reads the
//! source and fails when
//! - a domain module (`gateway`, `store`, `doc`, `sign`, `seal`, `policy`, `audit`, `pki`) uses an
//!   adapter or the composition root (`api`, `relay`, `app`, `cli`, `bench`, `demo`) or the HTTP
//!   stack (axum, hyper, tower);
//! - a module other than `app` and the entry points (`cli`, `bench`, `demo`) starts the
//!   adapters: `api` and `relay` never use each other;
//! - two top-level modules use each other;
//! - a source file is over 1,000 lines before its unit tests.
//!
//! Unit tests (`#[cfg(test)]` items and the files they include) are left out: a test may build
//! what it needs from anywhere.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const DOMAIN: [&str; 8] = [
    "gateway", "store", "doc", "sign", "seal", "policy", "audit", "pki",
];
const ABOVE_THE_DOMAIN: [&str; 6] = ["api", "relay", "app", "cli", "bench", "demo"];
const HTTP_STACK: [&str; 4] = ["axum::", "hyper::", "hyper_util::", "tower"];
const MAX_LINES: usize = 1000;

/// Every `.rs` file under `src/` with its top-level module (`gateway` for
/// `src/gateway/receive.rs`, `tls` for `src/tls/mod.rs`; `main` and `lib` are the roots).
fn sources() -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            (first.trim_end_matches(".rs").to_owned(), p)
        })
        .collect()
}

/// The source with comments, string and char literals blanked (so that neither a path in a
/// doc comment nor a brace in a string counts), same length and lines.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if rest.starts_with(b"r#") || rest.starts_with(b"r\"") {
            // Raw string: r#*"…"#*
            let hashes = rest[1..].iter().take_while(|c| **c == b'#').count();
            if rest.get(1 + hashes) != Some(&b'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let start = i + 2 + hashes;
            let end = b[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| start + p + close.len());
            out.extend(b[i..end].iter().map(|c| blank(*c)));
            i = end;
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    out.push(b' ');
                    i += 1;
                }
                out.push(blank(b[i]));
                i += 1;
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{7f}') — not a lifetime ('a).
            let lit = if rest.get(1) == Some(&b'\\') {
                rest.iter().skip(2).position(|c| *c == b'\'').map(|p| p + 3)
            } else if rest.get(2) == Some(&b'\'') {
                Some(3)
            } else {
                std::str::from_utf8(&rest[1..rest.len().min(6)])
                    .ok()
                    .or_else(|| std::str::from_utf8(&rest[1..rest.len().min(5)]).ok())
                    .and_then(|s| s.chars().next())
                    .filter(|c| rest.get(1 + c.len_utf8()) == Some(&b'\''))
                    .map(|c| c.len_utf8() + 2)
            };
            match lit {
                Some(n) => {
                    out.extend(std::iter::repeat_n(b' ', n));
                    i += n;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The code with every `#[cfg(test)]` item blanked, and the names of test-only module files
/// (`#[cfg(test)] mod tests;`).
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut out = code.to_owned();
    let mut test_files = Vec::new();
    let mut from = 0;
    while let Some(p) = out[from..].find("#[cfg(test)]") {
        let start = from + p;
        let bytes = out.as_bytes();
        let mut i = start + "#[cfg(test)]".len();
        // The item ends at its first `;` outside braces, or at the brace that closes its body.
        let mut depth = 0usize;
        let mut end = bytes.len();
        while i < bytes.len() {
            match bytes[i] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let item = out[start..end].to_owned();
        if let Some(name) = item
            .split_whitespace()
            .skip_while(|w| *w != "mod")
            .nth(1)
            .filter(|_| item.trim_end().ends_with(';'))
        {
            test_files.push(name.trim_end_matches(';').to_owned());
        }
        let blanked: String = item
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(start..end, &blanked);
        from = start + blanked.len();
    }
    (out, test_files)
}

/// The top-level modules a piece of code names (`crate::x`, `lienthong::x`, `crate::{x, y}`).
fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for prefix in ["crate::", "lienthong::"] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for part in inner.split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

struct Module {
    /// What it uses, with the first file that does, for the message.
    uses: BTreeMap<String, String>,
    http: Vec<String>,
}

/// Every top-level module's uses, outside unit tests; and every file's line count before them.
fn read_tree() -> (BTreeMap<String, Module>, Vec<(String, usize)>) {
    let files = sources();
    let mut test_only: BTreeSet<PathBuf> = BTreeSet::new();
    let mut parsed = Vec::new();
    for (top, path) in &files {
        let src = std::fs::read_to_string(path).unwrap();
        let (code, test_mods) = without_tests(&code_only(&src));
        let dir = if path.file_name().is_some_and(|n| n == "mod.rs") {
            path.parent().unwrap().to_path_buf()
        } else {
            path.with_extension("")
        };
        for m in test_mods {
            test_only.insert(dir.join(format!("{m}.rs")));
            test_only.insert(dir.join(&m).join("mod.rs"));
            test_only.insert(path.parent().unwrap().join(format!("{m}.rs")));
        }
        let before_tests = src
            .lines()
            .position(|l| l.trim() == "#[cfg(test)]")
            .unwrap_or(src.lines().count());
        parsed.push((top.clone(), path.clone(), code, before_tests));
    }
    let mut modules: BTreeMap<String, Module> = BTreeMap::new();
    let mut sizes = Vec::new();
    for (top, path, code, before_tests) in parsed {
        let shown = path.display().to_string();
        sizes.push((shown.clone(), before_tests));
        if test_only.contains(&path) || top == "lib" || top == "main" {
            continue;
        }
        let m = modules.entry(top.clone()).or_insert(Module {
            uses: BTreeMap::new(),
            http: Vec::new(),
        });
        for u in uses(&code) {
            if u != top {
                m.uses.entry(u).or_insert_with(|| shown.clone());
            }
        }
        for h in HTTP_STACK {
            if code.contains(h) {
                m.http.push(format!("{shown} uses {h}"));
            }
        }
    }
    (modules, sizes)
}

#[test]
fn the_domain_uses_no_adapter_and_no_http_stack() {
    let (modules, _) = read_tree();
    let mut wrong = Vec::new();
    for d in DOMAIN {
        let m = modules
            .get(d)
            .unwrap_or_else(|| panic!("no module {d} in src/"));
        for a in ABOVE_THE_DOMAIN {
            if let Some(file) = m.uses.get(a) {
                wrong.push(format!("{file}: the domain module {d} uses crate::{a}"));
            }
        }
        wrong.extend(m.http.iter().cloned());
    }
    assert!(
        wrong.is_empty(),
        "layers must look down:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_adapters_do_not_start_each_other() {
    let (modules, _) = read_tree();
    let mut wrong = Vec::new();
    for (a, b) in [
        ("api", "relay"),
        ("relay", "api"),
        ("api", "app"),
        ("relay", "app"),
    ] {
        if let Some(file) = modules[a].uses.get(b) {
            wrong.push(format!("{file}: {a} uses crate::{b}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "only app wires the adapters:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_top_level_modules_use_each_other() {
    let (modules, _) = read_tree();
    let mut circles = Vec::new();
    for (a, m) in &modules {
        for (b, file) in &m.uses {
            if a < b {
                if let Some(back) = modules.get(b).and_then(|n| n.uses.get(a)) {
                    circles.push(format!("{a} ↔ {b} ({file}; {back})"));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules in a circle:\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_source_file_is_over_a_thousand_lines_before_its_tests() {
    let (_, sizes) = read_tree();
    let over: Vec<String> = sizes
        .iter()
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{f}: {n} lines"))
        .collect();
    assert!(over.is_empty(), "split by concern:\n{}", over.join("\n"));
}

/// The reader itself: a use in a comment, a string or a unit test does not count; one in code
/// does, grouped or not — so the tests above can fail.
#[test]
fn the_reader_sees_code_and_skips_comments_strings_and_tests() {
    let src = r##"
        // crate::api in a comment
        /* crate::relay in a block */
        let s = "crate::cli in a string {";
        let r = r#"crate::bench"#;
        let c = '{';
        fn f<'a>(x: &'a str) -> &'a str { x }
        use crate::{doc, sign::verify};
        use crate::store::Store;
        #[cfg(test)]
        fn helper() { crate::app::start(); }
        #[cfg(test)]
        mod tests { use crate::demo; fn g() { let _ = "}"; } }
        #[cfg(test)]
        mod more;
    "##;
    let (code, test_mods) = without_tests(&code_only(src));
    let found = uses(&code);
    let want: BTreeSet<String> = ["doc", "sign", "store"].map(String::from).into();
    assert_eq!(found, want);
    assert_eq!(test_mods, ["more"]);
    assert_eq!(code.lines().count(), src.lines().count());
}
