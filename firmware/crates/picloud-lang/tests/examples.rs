//! The examples under `examples/` (repo root): every valid directory checks clean, and every
//! `examples/invalid/foo.picloud` renders exactly `foo.expected` (uncoloured, checked alone,
//! with the path `examples/invalid/foo.picloud`). `UPDATE_EXPECT=1` rewrites the `.expected`.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

use picloud_domain::resource::ResourceKind;
use picloud_lang::{check, render_human, render_json, SourceFile};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn picloud_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "picloud"))
        .collect();
    files.sort();
    files
}

#[test]
fn valid_examples_check_clean() {
    let root = repo_root();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("invalid"))
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 2, "expected at least two example products");
    for dir in dirs {
        let files: Vec<SourceFile> = picloud_files(&dir)
            .iter()
            .map(|p| {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                SourceFile::new(rel, fs::read_to_string(p).unwrap())
            })
            .collect();
        assert!(!files.is_empty(), "{} has no .picloud files", dir.display());
        match check(&files) {
            Ok(set) if dir.ends_with("home-hub") => {
                for kind in ResourceKind::ALL {
                    assert!(
                        set.resources.iter().any(|r| r.kind == kind),
                        "home-hub should use every kind; `{kind}` is missing"
                    );
                }
            }
            Ok(set) => assert!(!set.resources.is_empty()),
            Err(d) => panic!(
                "{} should be valid:\n{}",
                dir.display(),
                render_human(&d, &files, false)
            ),
        }
    }
}

#[test]
fn invalid_examples_match_expected() {
    let root = repo_root();
    let dir = root.join("examples/invalid");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    let files = picloud_files(&dir);
    assert!(files.len() >= 12, "expected at least 12 invalid examples");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let src = SourceFile::new(
            format!("examples/invalid/{name}"),
            fs::read_to_string(&path).unwrap(),
        );
        let srcs = [src];
        let diags = match check(&srcs) {
            Ok(_) => {
                failures.push(format!(
                    "{name}: expected diagnostics, but it checked clean"
                ));
                continue;
            }
            Err(d) => d,
        };
        let got = render_human(&diags, &srcs, false);
        // The JSON form must at least be valid JSON with one entry per diagnostic.
        let json: serde_json::Value = serde_json::from_str(&render_json(&diags, &srcs)).unwrap();
        assert_eq!(json.as_array().map(Vec::len), Some(diags.len()));
        let expected_path = path.with_extension("expected");
        if update {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{name}: rendering differs from {}\n--- expected\n{expected}\n--- got\n{got}\n(run with UPDATE_EXPECT=1 to rewrite, then review)",
                expected_path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
