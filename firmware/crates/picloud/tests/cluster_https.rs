//! `picloud cluster init|add|remove|status --cluster https://…`: cluster administration
//! through the HTTPS API, with trust on first contact by the CA's fingerprint. The real
//! binary: two `picloud node --api` processes on 127.0.0.1 and 127.0.0.2.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)] // tests wait on real processes with deadlines

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// A node process whose stdout/stderr lines arrive on a channel; SIGTERM on drop.
struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Node {
    fn spawn(home: &Path, args: &[String]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_picloud"))
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("node-config"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Node {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line containing `needle`.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(e) => panic!(
                    "no line with `{needle}` within {limit:?} ({e:?}); got:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CLI as a user without any profile runs it (stdin is not a terminal).
fn cli(home: &Path, credential: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_picloud"));
    c.args(args)
        .env_remove("PICLOUD_CLUSTER")
        .env_remove("PICLOUD_CA")
        .env_remove("PICLOUD_TOKEN")
        .env_remove("PICLOUD_CREDENTIAL")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    if let Some(f) = credential {
        c.env("PICLOUD_CREDENTIAL", f);
    }
    c.output().unwrap()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn both(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

fn start_node(home: &Path, name: &str, ip: &str, admin: Option<&Path>) -> (Node, u64, String) {
    let listen = format!("{ip}:{}", free_port(ip));
    let api = format!("{ip}:{}", free_port(ip));
    let mut args: Vec<String> = [
        "node",
        "--data",
        &home.join(name).display().to_string(),
        "--listen",
        &listen,
        "--api",
        &api,
        "--ca-dir",
        &home.join("ca").display().to_string(),
        "--insecure-loopback",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(a) = admin {
        args.push("--admin-credential".into());
        args.push(a.display().to_string());
    }
    let mut node = Node::spawn(home, &args);
    let ready = node.wait_for("ready: listening on", Duration::from_secs(30));
    let id: u64 = ready
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no node id in {ready:?}"));
    node.wait_for("HTTPS API on", Duration::from_secs(30));
    (node, id, listen)
}

fn fingerprint(node: &mut Node) -> String {
    let line = node.wait_for("CA fingerprint", Duration::from_secs(5));
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
    let api_line = n1.wait_for("HTTPS API on", Duration::from_secs(1));
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
