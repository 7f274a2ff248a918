//! Mutated example files never make `check` or the renderers panic.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::Path;

use picloud_lang::{check, render_human, render_json, SourceFile};
use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../examples");
    let mut out = Vec::new();
    for dir in ["photo-app", "home-hub", "invalid"] {
        for e in fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "picloud") {
                out.push(fs::read_to_string(p).unwrap());
            }
        }
    }
    out.sort();
    out
}

const JUNK: &[&str] = &[
    "'",
    "'''",
    "\"",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ":",
    ",",
    "=",
    "/*",
    "*/",
    "//",
    "\\",
    "\\u{",
    "\n",
    "\t",
    "\r",
    "-",
    ".",
    "0",
    "é",
    "日本",
    "😀",
    "\u{0}",
    "secret(",
    "product 'p' = {",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Truncate(usize),
    Splice(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..20usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0..JUNK.len()).prop_map(|(a, j)| Edit::Insert(a, j)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(a, b, c)| Edit::Splice(a, b, c)),
    ]
}

fn apply(text: &mut Vec<u8>, other: &[u8], e: &Edit) {
    let len = text.len().max(1);
    match *e {
        Edit::Delete(a, n) => {
            let a = a % len;
            let b = (a + n).min(text.len());
            if a < b {
                text.drain(a..b);
            }
        }
        Edit::Insert(a, j) => {
            let a = a % (text.len() + 1);
            let junk = JUNK[j].as_bytes();
            text.splice(a..a, junk.iter().copied());
        }
        Edit::Truncate(a) => text.truncate(a % len),
        Edit::Splice(a, b, c) => {
            let a = a % (text.len() + 1);
            let olen = other.len().max(1);
            let (b, c) = (b % olen, c % olen);
            let (b, c) = (b.min(c), b.max(c).min(other.len()));
            text.splice(a..a, other[b..c].iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn mutated_examples_never_panic(
        picks in proptest::collection::vec(any::<usize>(), 1..4),
        edits in proptest::collection::vec(edit(), 0..12),
    ) {
        let corpus = corpus();
        let mut files = Vec::new();
        for (i, pick) in picks.iter().enumerate() {
            let mut bytes = corpus[pick % corpus.len()].clone().into_bytes();
            let other = corpus[(pick / 7) % corpus.len()].as_bytes().to_vec();
            for e in edits.iter().skip(i) .step_by(picks.len()) {
                apply(&mut bytes, &other, e);
            }
            files.push(SourceFile::new(format!("f{i}.picloud"), String::from_utf8_lossy(&bytes).into_owned()));
        }
        match check(&files) {
            Ok(set) => prop_assert!(set.resources.iter().all(|r| !r.name.as_str().is_empty())),
            Err(diags) => {
                prop_assert!(!diags.is_empty());
                let _ = render_human(&diags, &files, false);
                let _ = render_human(&diags, &files, true);
                let json = render_json(&diags, &files);
                prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
            }
        }
    }
}

/// Inputs that once misbehaved (from fuzzing and proptest), kept as regressions.
#[test]
fn regressions() {
    let cases: &[&str] = &[
        "",
        "'",
        "'''",
        "/*",
        "a",
        "a 'b' = {",
        "a 'b' = { c: [[[[",
        "a 'b' = { c: d(",
        "}}}]]])))",
        "-",
        "\\u{",
        "a 'b' = { c: '\\u{110000}' }",
        "a 'b' = { 'c': x y z }",
    ];
    for c in cases {
        let files = [SourceFile::new("r", *c)];
        if let Err(d) = check(&files) {
            let _ = render_human(&d, &files, true);
            let _ = render_json(&d, &files);
        }
    }
    // Tens of thousands of errors on one long line: capped, so rendering stays linear.
    let many = format!("p 'x' = {{ {} }}", "a: ] ".repeat(20_000));
    let files = [SourceFile::new("many", many)];
    let d = check(&files).unwrap_err();
    assert_eq!(d.len(), picloud_lang::MAX_DIAGNOSTICS);
    assert!(d
        .last()
        .unwrap()
        .notes
        .iter()
        .any(|n| n.contains("more not shown")));
    let _ = render_human(&d, &files, false);
    let deep = "p 'x' = { a: ".to_owned() + &"[".repeat(100_000);
    let files = [SourceFile::new("deep", deep)];
    assert!(check(&files).is_err());
}
