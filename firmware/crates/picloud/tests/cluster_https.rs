//! `picloud cluster init|add|remove|status --cluster https://…`: cluster administration
//! through the HTTPS API, with trust on first contact by the CA's fingerprint. The real
//! binary: two `picloud node --api` processes on 127.0.0.1 and 127.0.0.2.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)] // tests wait on real processes with deadlines

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// A `picloud node` process with its own config under `home` (`node-config`).
fn spawn_node(home: &Path, args: &[String]) -> Proc {
    let mut command = Command::new(env!("CARGO_BIN_EXE_picloud"));
    command
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("node-config"))
        .env("NO_COLOR", "1");
    Proc::spawn(command)
}

/// The CLI as a user without any profile runs it (stdin is not a terminal).
fn cli(home: &Path, credential: Option<&Path>, args: &[&str]) -> Output {
    match credential {
        Some(f) => picloud_env(home, args, &[("PICLOUD_CREDENTIAL", f.as_os_str())]),
        None => picloud_env(home, args, &[]),
    }
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn both(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

fn start_node(home: &Path, name: &str, ip: &str, admin: Option<&Path>) -> (Proc, u64, String) {
    let listen = format!("{ip}:{}", free_port(ip));
    let api = format!("{ip}:{}", free_port(ip));
    let args = node_args(&home.join(name), &listen, &api, &home.join("ca"), admin);
    let mut node = spawn_node(home, &args);
    let ready = node.wait_line("ready: listening on", Duration::from_secs(30));
    let id: u64 = ready
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no node id in {ready:?}"));
    node.wait_line("HTTPS API on", Duration::from_secs(30));
    (node, id, listen)
}

fn fingerprint(node: &mut Proc) -> String {
    let line = node.wait_line("CA fingerprint", Duration::from_secs(5));
    line.rsplit("CA fingerprint ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .trim()
        .to_owned()
}

#[test]
fn h01_cluster_admin_over_https_with_first_contact_trust() {
    let home = TempDir::new("cluster-https");
    let h = home.0.as_path();
    let admin = h.join("admin.json");
    let (mut n1, id1, _) = start_node(h, "n1", "127.0.0.1", Some(&admin));
    let fp = fingerprint(&mut n1);
    let api_line = n1.wait_line("HTTPS API on", Duration::from_secs(1));
    let url = api_line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap()
        .to_owned();
    let (_n2, id2, listen2) = start_node(h, "n2", "127.0.0.2", None);

    // First contact without a fingerprint, not on a terminal: a usage error that shows the
    // fingerprint to compare; nothing is trusted or saved.
    let o = cli(h, None, &["cluster", "init", "--cluster", &url]);
    assert_eq!(code(&o), Some(2), "{}", both(&o));
    assert!(both(&o).contains(&fp), "{}", both(&o));
    assert!(!h.join("config/picloud/profile.json").exists());

    // A wrong fingerprint: refused (exit 1), nothing sent, nothing saved.
    let wrong = vec!["00"; 32].join(":");
    let o = cli(
        h,
        None,
        &[
            "cluster",
            "init",
            "--cluster",
            &url,
            "--ca-fingerprint",
            &wrong,
        ],
    );
    assert_eq!(code(&o), Some(1), "{}", both(&o));
    assert!(both(&o).contains("refusing to trust"), "{}", both(&o));
    assert!(!h.join("config/picloud/profile.json").exists());
    let o = cli(
        h,
        None,
        &[
            "cluster",
            "status",
            "--cluster",
            &url,
            "--ca-fingerprint",
            "abc",
        ],
    );
    assert_eq!(code(&o), Some(2), "{}", both(&o));

    // The right fingerprint (lower case, no colons: any spelling of the same digest): the
    // CA is trusted and saved, and init runs without any token.
    let plain = fp.replace(':', "").to_lowercase();
    let o = cli(
        h,
        None,
        &[
            "cluster",
            "init",
            "--cluster",
            &url,
            "--ca-fingerprint",
            &plain,
            "-o",
            "json",
        ],
    );
    assert_eq!(code(&o), Some(0), "{}", both(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let summary = r["summary"].to_string();
    assert!(
        summary.contains(&format!("initialised a cluster with node {id1}")),
        "{r}"
    );
    assert_eq!(r["voters"], serde_json::json!([id1]), "{r}");
    assert!(!text(&o.stdout).to_lowercase().contains("bootstrap"), "{r}");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.join("config/picloud/profile.json")).unwrap())
            .unwrap();
    assert_eq!(profile["cluster"], url.as_str(), "{profile}");
    assert_eq!(profile["caFingerprint"], fp.as_str(), "{profile}");
    let saved = std::fs::read_to_string(profile["caFile"].as_str().unwrap()).unwrap();
    assert_eq!(
        saved,
        std::fs::read_to_string(h.join("ca/ca.pem")).unwrap(),
        "the saved CA is the node's"
    );

    // Initialised: a second init (trusted now through the profile) answers 409, exit 1.
    let o = cli(h, None, &["cluster", "init", "--cluster", &url]);
    assert_eq!(code(&o), Some(1), "{}", both(&o));
    assert!(both(&o).contains("already initialised"), "{}", both(&o));
    assert!(both(&o).contains("409"), "{}", both(&o));

    // Identity initialises once there is a leader; the node writes the admin credential.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !admin.exists() {
        assert!(Instant::now() < deadline, "no administrator credential");
        std::thread::sleep(Duration::from_millis(100));
    }

    // add / remove need the admin role: no token is 401 (exit 1).
    let o = cli(h, None, &["cluster", "add", &listen2, "--cluster", &url]);
    assert_eq!(code(&o), Some(1), "{}", both(&o));
    assert!(both(&o).contains("401"), "{}", both(&o));
    let o = cli(
        h,
        Some(&admin),
        &["cluster", "add", &listen2, "--cluster", &url],
    );
    assert_eq!(code(&o), Some(0), "{}", both(&o));
    assert!(
        text(&o.stdout).contains(&format!("added node {id2}")),
        "{}",
        both(&o)
    );
    let o = cli(
        h,
        Some(&admin),
        &["cluster", "status", "-o", "json", "--cluster", &url],
    );
    assert_eq!(code(&o), Some(0), "{}", both(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["nodes"].as_array().unwrap().len(), 2, "{s}");
    // Bad input: a URL instead of HOST:PORT is a 400 from the API (exit 1).
    let o = cli(
        h,
        Some(&admin),
        &["cluster", "add", "https://x/", "--cluster", &url],
    );
    assert_eq!(code(&o), Some(1), "{}", both(&o));
    let o = cli(
        h,
        Some(&admin),
        &["cluster", "remove", &id2.to_string(), "--cluster", &url],
    );
    assert_eq!(code(&o), Some(0), "{}", both(&o));
    assert!(
        text(&o.stdout).contains(&format!("removed node {id2}")),
        "{}",
        both(&o)
    );
    // Removing a node that is not a member: refused (422, exit 1).
    let o = cli(
        h,
        Some(&admin),
        &["cluster", "remove", &id2.to_string(), "--cluster", &url],
    );
    assert_eq!(code(&o), Some(1), "{}", both(&o));
    assert!(both(&o).contains("not a member"), "{}", both(&o));
}
