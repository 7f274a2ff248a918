//! The real `picloud` binary, run the way a user runs it, from the repository root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

fn picloud(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_picloud"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("PICLOUD_CLUSTER")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn t10_examples_validate() {
    for dir in ["examples/photo-app", "examples/home-hub"] {
        let out = picloud(&["resource", "validate", dir]);
        assert_eq!(out.status.code(), Some(0), "{dir}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with("ok: "),
            "{}",
            text(&out.stdout)
        );
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
}

#[test]
fn t11_every_invalid_example_fails_with_its_diagnostic() {
    let dir = repo_root().join("examples/invalid");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().is_none_or(|e| e != "picloud") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel = format!("examples/invalid/{name}");
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{rel} has no .expected file beside it"));
        let out = picloud(&["resource", "validate", &rel]);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{rel} should be refused; stderr:\n{stderr}"
        );
        assert!(
            stderr.starts_with(&expected),
            "{rel}: the diagnostic differs.\n--- expected ---\n{expected}\n--- got ---\n{stderr}"
        );
        let summary = stderr[expected.len()..].trim();
        assert!(
            summary.starts_with("error: found ") && summary.ends_with("nothing was applied"),
            "{rel}: summary line: {summary}"
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} invalid examples");
}

#[test]
fn t12_json_diagnostics_for_editors() {
    let out = picloud(&[
        "resource",
        "validate",
        "--format",
        "json",
        "examples/invalid/unknown-field.picloud",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let diags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &diags.as_array().unwrap()[0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["file"], "examples/invalid/unknown-field.picloud");
    assert!(first["line"].as_u64().unwrap() >= 1);
    assert!(first["column"].as_u64().unwrap() >= 1);
    assert!(first["help"].as_str().unwrap().contains("did you mean"));

    let ok = picloud(&[
        "resource",
        "validate",
        "--format",
        "json",
        "examples/photo-app",
    ]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&ok.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn t13_all_errors_of_a_run_are_reported_sorted() {
    // Two broken files in one run: both files' diagnostics appear, first file first.
    let out = picloud(&[
        "resource",
        "validate",
        "examples/invalid/unknown-field.picloud",
        "examples/invalid/bad-unit.picloud",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let a = stderr
        .find("--> examples/invalid/bad-unit.picloud")
        .unwrap();
    let b = stderr
        .find("--> examples/invalid/unknown-field.picloud")
        .unwrap();
    assert!(a < b, "{stderr}");
    assert!(stderr.contains("in 2 files"), "{stderr}");
}

#[test]
fn t20_plan_offline() {
    let out = picloud(&["resource", "plan", "examples/photo-app"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("+ product"), "{stdout}");
    assert!(stdout.contains("https://picloud.local/products/photo-app/containers/api-server"));
    assert!(
        stdout.contains("to create, 0 to change, 0 to delete"),
        "{stdout}"
    );

    let out = picloud(&[
        "resource",
        "plan",
        "-o",
        "json",
        "--domain",
        "lab.example.org",
        "examples/home-hub",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let create = plan["create"].as_array().unwrap();
    let kinds: std::collections::BTreeSet<&str> =
        create.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in [
        "product",
        "container",
        "binary",
        "volume",
        "identity",
        "secret",
        "ingress",
        "config",
        "feature-flag",
        "event-subscription",
        "role",
        "group",
    ] {
        assert!(kinds.contains(kind), "home-hub plan lacks a {kind}");
    }
    assert!(create.iter().all(|e| e["iri"]
        .as_str()
        .unwrap()
        .starts_with("https://lab.example.org/")));
    assert_eq!(plan["change"].as_array().unwrap().len(), 0);
    assert_eq!(plan["delete"].as_array().unwrap().len(), 0);
}

#[test]
fn t21_plan_notes_that_cluster_is_not_used() {
    let out = Command::new(env!("CARGO_BIN_EXE_picloud"))
        .args(["resource", "plan", "examples/photo-app"])
        .current_dir(repo_root())
        .env("PICLOUD_CLUSTER", "https://picloud.local:8443")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("plans are computed offline"));
}

#[test]
fn t30_usage_errors_exit_2() {
    for args in [
        vec!["resource", "validate"],
        vec!["resource", "frobnicate"],
        vec!["--bogus"],
        vec!["resource", "validate", "does/not/exist"],
        vec!["resource", "validate", "docs"],
        vec![
            "resource",
            "plan",
            "--domain",
            "Not_A_Domain",
            "examples/photo-app",
        ],
    ] {
        let out = picloud(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn t31_help_lists_only_working_commands() {
    let out = picloud(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut expected = vec!["resource", "dev", "events", "graph", "node", "cluster"];
    if cfg!(target_os = "linux") {
        expected.push("init");
    }
    expected.extend(["login", "logout", "whoami", "auth", "identity", "help"]);
    assert_eq!(
        commands, expected,
        "--help lists commands that do not work yet:\n{help}"
    );
    let out = picloud(&["resource", "--help"]);
    let help = text(&out.stdout);
    assert!(help.contains("validate") && help.contains("plan"));
}

#[test]
fn t32_no_color_means_no_escapes() {
    let out = Command::new(env!("CARGO_BIN_EXE_picloud"))
        .args([
            "--color",
            "always",
            "resource",
            "validate",
            "examples/invalid/unknown-field.picloud",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains('\x1b'), "--color always colours");
    let out = picloud(&[
        "resource",
        "validate",
        "examples/invalid/unknown-field.picloud",
    ]);
    assert!(!text(&out.stderr).contains('\x1b'), "NO_COLOR is honoured");
}

#[test]
fn t33_not_utf8_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("picloud-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("binary.picloud");
    std::fs::write(&file, [0x70, 0x72, 0xff, 0xfe]).unwrap();
    let out = picloud(&["resource", "validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not UTF-8"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn t34_closed_output_pipe_ends_quietly() {
    // `picloud resource plan … | head -0`: the reader is gone before anything is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_picloud"))
        .args(["resource", "plan", "-o", "json", "examples/home-hub"])
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
