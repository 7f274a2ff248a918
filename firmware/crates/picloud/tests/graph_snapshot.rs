//! Graph snapshots in `picloud dev`: taken with each Raft snapshot (`--snapshot-every 1`,
//! a hidden flag) and on SIGTERM, restored at start (the graph equals what it was), and
//! ignored — the graph rebuilt from the event store — when the file is corrupt or ahead
//! of the event store. The real binary, temporary XDG directories, curl.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns
#![allow(clippy::disallowed_methods)] // tests wait on real processes with deadlines

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// `picloud dev` in the background; its stdout and stderr lines arrive on a channel.
/// SIGKILL on drop (no shutdown snapshot).
struct Dev {
    proc: Proc,
}

impl Dev {
    fn start(home: &Path, listen: &str) -> Dev {
        let mut command = picloud_command(home);
        command.args(["dev", "--listen", listen, "--snapshot-every", "1"]);
        let mut proc = Proc::spawn(command);
        proc.wait_for("Stop with Ctrl-C", Duration::from_secs(60));
        // The administrator's token for `curl` (picloud dev wrote the credential).
        let token = ok(&picloud(home, &["auth", "token"]), "auth token");
        *TOKEN.lock().unwrap() = token.trim().to_owned();
        Dev { proc }
    }

    fn log(&mut self) -> String {
        self.proc.log()
    }

    /// SIGTERM; waits for the exit and the output's end; returns the exit code.
    fn stop(&mut self) -> Option<i32> {
        let code = self.proc.terminate_within(Duration::from_secs(20));
        // The reader threads end with the pipes.
        self.proc.drain_until_closed(Duration::from_secs(2));
        code
    }

    /// SIGKILL: no shutdown snapshot.
    fn kill(&mut self) {
        self.proc.kill();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

/// Events in the log after photo-app is applied to a new dev cluster: 2 cluster events
/// (ClusterInitialized, NodeJoined), 8 of identity init and the dev administrator, 9 of
/// photo-app.
const PHOTO_APP_END: u64 = 2 + 8 + 9;

/// The access token of the running `picloud dev` (set by `Dev::start`).
static TOKEN: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn curl(ca: &Path, accept: &str, url: &str, query: Option<&str>) -> (String, String) {
    let token = TOKEN.lock().unwrap().clone();
    let auth = format!("Authorization: Bearer {token}");
    let accept = format!("Accept: {accept}");
    let mut args = vec!["-H", &auth, "-H", &accept];
    let query = query.map(|q| format!("query={q}"));
    if let Some(q) = &query {
        args.extend(["-G", "--data-urlencode", q]);
    }
    curl_with(ca, &args, url)
}

/// Every quad of every named graph, as sorted N-Triples-with-graph lines (canonical:
/// the projection has no blank nodes).
fn whole_graph(ca: &Path, url: &str) -> String {
    let (body, code) = curl(
        ca,
        "application/sparql-results+json",
        &format!("{url}sparql"),
        Some("SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"),
    );
    assert_eq!(code, "200", "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut rows: Vec<String> = json
        .pointer("/results/bindings")
        .and_then(serde_json::Value::as_array)
        .unwrap()
        .iter()
        .map(|b| b.to_string())
        .collect();
    rows.sort();
    assert!(rows.len() > 10, "{rows:?}");
    rows.join("\n")
}

/// `(folded, file bytes)` of the graph snapshot, if any.
fn snapshot_file(node: &Path) -> Option<(u64, Vec<u8>)> {
    let bytes = std::fs::read(node.join("graph.snapshot")).ok()?;
    let head = text(bytes.get(..200).unwrap_or(&bytes));
    let folded = head
        .lines()
        .find_map(|l| l.strip_prefix("folded "))
        .and_then(|n| n.parse().ok())
        .expect("a `folded` line");
    Some((folded, bytes))
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn graph_snapshot_taken_restored_and_ignored_when_unusable() {
    let home = TempDir::new("graph-snapshot");
    let listen = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let url = format!("https://{listen}/");
    let data = home.0.join("data/picloud/dev");
    let node = data.join("node");
    let ca = data.join("ca.pem");

    // 1. Apply; a Raft snapshot (every entry) brings a graph snapshot while running.
    let mut dev = Dev::start(&home.0, &listen);
    let out = ok(
        &picloud(&home.0, &["resource", "apply", "examples/photo-app"]),
        "apply photo-app",
    );
    assert!(out.contains("committed 9 events"), "{out}");
    let g1 = whole_graph(&ca, &url);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if snapshot_file(&node).is_some_and(|(f, _)| f > 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no graph snapshot with events while running: {:?}\n{}",
            snapshot_file(&node).map(|s| s.0),
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (running_f, _) = snapshot_file(&node).unwrap();
    // 2 cluster events (ClusterInitialized, NodeJoined) + 8 of identity init and the dev
    // administrator + 9 of photo-app.
    assert!(running_f <= PHOTO_APP_END, "{running_f}");

    // 2. SIGKILL (no shutdown snapshot): the start restores the Raft-time snapshot and
    //    folds the rest; same graph.
    dev.kill();
    let mut dev = Dev::start(&home.0, &listen);
    let log = dev.log();
    assert!(
        log.contains(&format!(
            "graph restored from the snapshot at {running_f} events"
        )),
        "{log}"
    );
    assert_eq!(whole_graph(&ca, &url), g1);

    // 3. SIGTERM saves a snapshot at the fold count; the next start restores it with
    //    nothing left to fold, and the graph answers at once, unchanged.
    assert_eq!(dev.stop(), Some(0), "{}", dev.log());
    assert!(
        dev.log()
            .contains(&format!("graph snapshot saved at {PHOTO_APP_END} events")),
        "{}",
        dev.log()
    );
    assert_eq!(snapshot_file(&node).unwrap().0, PHOTO_APP_END);
    assert!(!node.join("graph.snapshot.tmp").exists());
    let backup = home.0.join("node-at-9");
    copy_dir(&node, &backup);
    let mut dev = Dev::start(&home.0, &listen);
    let log = dev.log();
    assert!(
        log.contains(&format!(
            "graph restored from the snapshot at {PHOTO_APP_END} events (0 to fold)"
        )),
        "{log}"
    );
    let (body, code) = curl(
        &ca,
        "text/turtle",
        &format!("{url}products/photo-app"),
        None,
    );
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("a pc:Product"), "{body}");
    assert_eq!(whole_graph(&ca, &url), g1);

    // 4. Apply more; the state was rebuilt too (re-applying photo-app is a no-op).
    let out = ok(
        &picloud(&home.0, &["resource", "apply", "examples/photo-app"]),
        "re-apply photo-app",
    );
    assert!(out.contains("no changes"), "{out}");
    ok(
        &picloud(&home.0, &["resource", "apply", "examples/home-hub"]),
        "apply home-hub",
    );
    let g2 = whole_graph(&ca, &url);
    assert_ne!(g1, g2);
    assert_eq!(dev.stop(), Some(0), "{}", dev.log());
    let (f2, mut bytes) = snapshot_file(&node).unwrap();
    assert!(f2 > PHOTO_APP_END, "{f2}");

    // 5. A corrupt snapshot is ignored with a warning; the rebuild gives the same graph.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(node.join("graph.snapshot"), &bytes).unwrap();
    let mut dev = Dev::start(&home.0, &listen);
    let log = dev.log();
    assert!(
        log.contains("warning: ignoring the graph snapshot") && log.contains("checksum mismatch"),
        "{log}"
    );
    assert!(!log.contains("graph restored"), "{log}");
    assert_eq!(whole_graph(&ca, &url), g2);
    assert_eq!(dev.stop(), Some(0), "{}", dev.log());
    let good = snapshot_file(&node).unwrap();
    assert_eq!(good.0, f2);

    // 6. A snapshot ahead of the event store (the log from step 3, the snapshot from
    //    step 5) is ignored: the graph is the log's, never ahead of it.
    std::fs::remove_dir_all(&node).unwrap();
    std::fs::rename(&backup, &node).unwrap();
    std::fs::write(node.join("graph.snapshot"), &good.1).unwrap();
    let mut dev = Dev::start(&home.0, &listen);
    let log = dev.log();
    assert!(
        log.contains(&format!(
            "it folds {f2} events but the event store holds {PHOTO_APP_END}"
        )),
        "{log}"
    );
    assert_eq!(whole_graph(&ca, &url), g1);
    assert_eq!(dev.stop(), Some(0), "{}", dev.log());
    assert_eq!(snapshot_file(&node).unwrap().0, PHOTO_APP_END);
}
