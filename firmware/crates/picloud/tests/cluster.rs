//! Multi-process cluster tests: the real `picloud` binary, three nodes on 127.0.0.1/.2/.3.
//!
//! - `c01`: the cluster commands end to end (init, status, add, remove, log append/read).
//! - `c02`: the fault run. A write load from several client sessions while a nemesis kills
//!   (`kill -9`) and restarts random nodes and isolates random nodes behind fault-injecting
//!   proxies ([`proxy`]); after healing, [`history::check`] verifies the history.
//!   `PICLOUD_FAULTS` (default 30) and `PICLOUD_SEED` (default: from the clock, printed)
//!   configure it; `PICLOUD_BIN` runs another build of the binary.
//! - `history::tests`: the checker rejects hand-made bad histories.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // test harness: panics are failures; it measures real time

#[path = "cluster/history.rs"]
mod history;
#[path = "cluster/proxy.rs"]
mod proxy;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use picloud::client::{Client, ClientTls, RequestError, Session};

/// The binary under test (`PICLOUD_BIN` overrides it, for long runs from a copy).
fn bin() -> PathBuf {
    std::env::var_os("PICLOUD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_picloud")))
}

/// splitmix64: small, seeded, good enough to pick faults.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "picloud-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Free-looking ports below the ephemeral range, so a restarted node finds its port free.
fn port_base(seed: u64) -> u16 {
    10_000 + ((seed ^ u64::from(std::process::id())) % 2_000) as u16 * 10
}

/// One node process.
struct Node {
    listen: String,
    advertise: String,
    peers: Vec<String>,
    data: PathBuf,
    child: Option<Child>,
    id: u64,
    /// `--tls-dir` (mTLS); `None` runs with `--insecure-loopback`.
    tls: Option<PathBuf>,
}

impl Node {
    fn new(dir: &Path, i: usize, listen: String, advertise: String, peers: Vec<String>) -> Node {
        Node {
            listen,
            advertise,
            peers,
            data: dir.join(format!("n{i}")),
            child: None,
            id: 0,
            tls: None,
        }
    }

    fn start(&mut self) -> u32 {
        std::fs::create_dir_all(&self.data).unwrap();
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("stderr.log"))
            .unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["node", "--data"]).arg(&self.data).args([
            "--listen",
            &self.listen,
            "--advertise",
            &self.advertise,
        ]);
        for p in &self.peers {
            cmd.args(["--peer", p]);
        }
        match &self.tls {
            Some(d) => cmd.arg("--tls-dir").arg(d),
            None => cmd.arg("--insecure-loopback"),
        };
        let mut child = cmd
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("node at {} printed no ready line", self.listen));
        assert!(line.contains(" ready: "), "{line}");
        self.id = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let pid = child.id();
        self.child = Some(child);
        pid
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        sigterm(c.id());
        for _ in 0..100 {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        c.wait().ok()
    }
}

fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn cli(cluster: &str, args: &[&str]) -> Output {
    cli_tls(cluster, None, args)
}

/// The CLI presenting the client certificate in `tls` (`--tls-dir`) when given.
fn cli_tls(cluster: &str, tls: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .env("PICLOUD_CLUSTER", cluster)
        .env_remove("PICLOUD_TLS_DIR")
        .env("NO_COLOR", "1");
    if let Some(d) = tls {
        c.env("PICLOUD_TLS_DIR", d);
    }
    c.output().unwrap()
}

/// A client certificate from the CA in `dir/ca`, issued with `picloud cluster certs client`.
fn issue_client_cert(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("client-{name}"));
    certs(&[
        "client",
        "--ca",
        dir.join("ca").to_str().unwrap(),
        "--name",
        name,
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `picloud cluster certs …`, asserting success.
fn certs(args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(["cluster", "certs"])
        .args(args)
        .env_remove("PICLOUD_CLUSTER")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// A cluster CA in `dir/ca` and, for each `(name, ip)`, node material in `dir/tls-<name>`,
/// issued by the CLI as an operator would.
fn issue_certs(dir: &Path, nodes: &[(&str, &str)]) -> Vec<PathBuf> {
    let ca = dir.join("ca");
    certs(&["ca", "--out", ca.to_str().unwrap()]);
    nodes
        .iter()
        .map(|(name, ip)| {
            let out = dir.join(format!("tls-{name}"));
            certs(&[
                "node",
                "--ca",
                ca.to_str().unwrap(),
                "--name",
                name,
                "--addr",
                ip,
                "--out",
                out.to_str().unwrap(),
            ]);
            out
        })
        .collect()
}

fn status_json(cluster: &str) -> serde_json::Value {
    status_json_tls(cluster, None)
}

fn status_json_tls(cluster: &str, tls: Option<&Path>) -> serde_json::Value {
    let out = cli_tls(cluster, tls, &["cluster", "status", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

fn voters(s: &serde_json::Value) -> Vec<u64> {
    s["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "voter")
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

/// `picloud node` refuses plaintext unless asked for it on loopback only, and
/// `cluster certs` writes its keys 0600 and never overwrites; a node from another CA
/// cannot join an mTLS cluster (the accepting node logs the refusal).
#[test]
fn c03_transport_security_flags_and_certs() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("c03");
    let node = |args: &[&str]| {
        Command::new(bin())
            .args(["node", "--data"])
            .arg(dir.0.join("refused"))
            .args(args)
            .output()
            .unwrap()
    };
    // No flag at all: refused, naming both ways out.
    let out = node(&["--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let e = text(&out.stderr);
    assert!(
        e.contains("--tls-dir") && e.contains("--insecure-loopback"),
        "{e}"
    );
    // Plaintext with a non-loopback address anywhere: refused, naming it.
    for (args, what) in [
        (
            vec!["--listen", "0.0.0.0:0", "--insecure-loopback"],
            "--listen 0.0.0.0",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--insecure-loopback",
                "--peer",
                "192.168.7.9:7000",
            ],
            "--peer 192.168.7.9:7000",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--insecure-loopback",
                "--advertise",
                "10.1.2.3:7000",
            ],
            "--advertise 10.1.2.3:7000",
        ),
    ] {
        let out = node(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let e = text(&out.stderr);
        assert!(e.contains("refused") && e.contains(what), "{args:?}: {e}");
    }
    // A missing TLS directory is a clear error naming the file.
    let out = node(&["--listen", "127.0.0.1:0", "--tls-dir", "/nonexistent-tls"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ca.pem"),
        "{}",
        text(&out.stderr)
    );

    // Certificates: keys 0600, no overwrite.
    let tls = issue_certs(&dir.0, &[("a", "127.0.0.1"), ("b", "127.0.0.2")]);
    for f in [dir.0.join("ca/ca.key"), tls[0].join("node.key")] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    for f in ["ca.pem", "node.pem", "node.key"] {
        assert!(tls[1].join(f).exists(), "{f}");
    }
    let again = Command::new(bin())
        .args(["cluster", "certs", "ca", "--out"])
        .arg(dir.0.join("ca"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("refusing to overwrite"));

    // A node whose certificate comes from another CA cannot join.
    let other = dir.0.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let stranger = issue_certs(&other, &[("c", "127.0.0.3")]);
    // The stranger trusts the cluster's CA (so it accepts the cluster node's certificate
    // and the refusal, if any, is the cluster node's), but its own certificate comes from
    // the other CA.
    std::fs::copy(dir.0.join("ca/ca.pem"), stranger[0].join("ca.pem")).unwrap();
    // The operator's client certificate (cluster CA), and, to talk to the stranger (which
    // requires client certificates from the cluster CA but serves one from the other CA),
    // the same certificate trusting the other CA.
    let me = issue_client_cert(&dir.0, "operator");
    let to_stranger = dir.0.join("to-stranger");
    std::fs::create_dir_all(&to_stranger).unwrap();
    std::fs::copy(other.join("ca/ca.pem"), to_stranger.join("ca.pem")).unwrap();
    for f in ["client.pem", "client.key"] {
        std::fs::copy(me.join(f), to_stranger.join(f)).unwrap();
    }
    let base = port_base(3) + 7;
    let addrs: Vec<String> = (1..=3).map(|i| format!("127.0.0.{i}:{base}")).collect();
    let mut a = Node::new(&dir.0, 0, addrs[0].clone(), addrs[0].clone(), vec![]);
    a.tls = Some(tls[0].clone());
    let mut b = Node::new(&dir.0, 1, addrs[1].clone(), addrs[1].clone(), vec![]);
    b.tls = Some(tls[1].clone());
    let mut c = Node::new(&dir.0, 2, addrs[2].clone(), addrs[2].clone(), vec![]);
    c.tls = Some(stranger[0].clone());
    a.start();
    b.start();
    c.start();
    // The client protocol on a TLS node: refused in plaintext, and with a client
    // certificate from another CA; served with one from the cluster CA.
    let out = cli(&addrs[0], &["cluster", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = cli_tls(&addrs[0], Some(&stranger[0]), &["cluster", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(me.join("client.pem").exists() && me.join("client.key").exists());
    let out = cli_tls(&addrs[0], Some(&me), &["cluster", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // `add` sends `hello` node to node with node a's own certificate.
    let out = cli_tls(&addrs[0], Some(&me), &["cluster", "add", &addrs[1]]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The stranger forms its own cluster and tries to replicate to node a: a's
    // server refuses the stranger's client certificate.
    let out = cli_tls(&addrs[2], Some(&to_stranger), &["cluster", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut add = Command::new(bin())
        .args(["cluster", "add", &addrs[0]])
        .env("PICLOUD_CLUSTER", &addrs[2])
        .env("PICLOUD_TLS_DIR", &to_stranger)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = std::fs::read_to_string(a.data.join("stderr.log")).unwrap_or_default();
        if log.contains("refused a connection") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = add.kill();
    let _ = add.wait();
    // Both CAs carry the same subject name, so webpki finds the name and rejects the
    // signature (BadSignature); with distinct names it is UnknownIssuer.
    assert!(
        log.contains("refused a connection")
            && log.contains("invalid peer certificate")
            && (log.contains("BadSignature") || log.contains("UnknownIssuer")),
        "node a did not refuse a peer from another CA: {log}"
    );
    // The cluster of a and b is unaffected.
    let out = cli_tls(&addrs[0], Some(&me), &["log", "append", "after-refusal"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cli(&addrs[0], &["log", "append", "plaintext"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // Admin forwarding between nodes presents the forwarding node's certificate: `remove`
    // sent to b runs on the leader.
    let out = cli_tls(
        &addrs[1],
        Some(&me),
        &["cluster", "remove", &b.id.to_string()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("removed node {}", b.id)),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn c01_cluster_commands_end_to_end() {
    let dir = TempDir::new("c01");
    let base = port_base(1) + 5;
    let addrs: Vec<String> = (1..=4).map(|i| format!("127.0.0.{i}:{base}")).collect();
    let mut nodes: Vec<Node> = (0..4)
        .map(|i| {
            let peers = addrs[..3]
                .iter()
                .filter(|a| **a != addrs[i])
                .cloned()
                .collect();
            Node::new(&dir.0, i, addrs[i].clone(), addrs[i].clone(), peers)
        })
        .collect();
    for n in &mut nodes {
        n.start();
    }
    let a0 = addrs[0].as_str();

    // Usage errors: no cluster, a URL instead of an address.
    let out = Command::new(bin())
        .args(["cluster", "status"])
        .env_remove("PICLOUD_CLUSTER")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        cli("https://x", &["cluster", "status"]).status.code(),
        Some(2)
    );
    // Unreachable: exit 1.
    assert_eq!(
        cli("127.0.0.1:1", &["cluster", "status"]).status.code(),
        Some(1)
    );

    let out = cli(a0, &["cluster", "status"]);
    assert!(
        text(&out.stdout).contains("not in a cluster yet"),
        "{}",
        text(&out.stdout)
    );

    let out = cli(a0, &["cluster", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = status_json(a0);
    assert_eq!(voters(&s).len(), 3, "{s}");
    assert_eq!(s["leader"].as_u64(), Some(nodes[0].id));
    // A second init is refused.
    assert_eq!(cli(a0, &["cluster", "init"]).status.code(), Some(1));

    // Writes through any node, reads from any node.
    let out = cli(&addrs[1], &["log", "append", "one", "two"]);
    assert_eq!(text(&out.stdout), "0\n1\n", "{}", text(&out.stderr));
    let out = cli(&addrs[2], &["log", "append", "three"]);
    assert_eq!(text(&out.stdout), "2\n", "{}", text(&out.stderr));
    let out = cli(&addrs[2], &["log", "read", "--linearizable"]);
    assert_eq!(text(&out.stdout), "0\tone\n1\ttwo\n2\tthree\n");
    let out = cli(&addrs[1], &["log", "read", "--from", "1", "-o", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j[1]["value"], "three");

    // Add a fourth node through a follower (forwarded to the leader): a voter (cap is 5).
    let out = cli(&addrs[2], &["cluster", "add", &addrs[3]]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    wait_for("4 voters", 20, || voters(&status_json(a0)).len() == 4);
    wait_for("node 4 caught up", 20, || {
        text(&cli(&addrs[3], &["log", "read"]).stdout)
            .lines()
            .count()
            == 3
    });

    // Remove a follower voter; then the status no longer lists it.
    let gone = nodes[1].id;
    let out = cli(&addrs[3], &["cluster", "remove", &gone.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = status_json(a0);
    assert!(!voters(&s).contains(&gone) && voters(&s).len() == 3, "{s}");
    // Removing an unknown node is refused.
    assert_eq!(
        cli(a0, &["cluster", "remove", "12345"]).status.code(),
        Some(1)
    );

    // The text status names roles and the leader.
    let out = text(&cli(&addrs[3], &["cluster", "status"]).stdout);
    assert!(out.contains("leader") && out.contains("voter"), "{out}");

    // SIGTERM: clean shutdown, exit 0.
    for n in &mut nodes {
        let st = n.terminate().unwrap();
        assert!(st.success(), "{st:?}");
    }
}

/// One client's record of one append.
async fn client_load(
    c: usize,
    addrs: Vec<String>,
    stop: Arc<AtomicBool>,
    start: Instant,
    ops: Arc<Mutex<Vec<history::Op>>>,
    tls: Option<ClientTls>,
) {
    let mut addrs = addrs;
    let k = c % addrs.len();
    addrs.rotate_left(k);
    let client = Client::with_timeout(addrs, Duration::from_secs(2)).with_tls(tls);
    let mut session = Session::with_id(0x00C0_FFEE_0000 + c as u128);
    session.deadline = Duration::from_secs(8);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let value = format!("c{c}-{n:07}").into_bytes();
        let invoke = start.elapsed().as_nanos() as u64;
        let r = session.append(&client, vec![value.clone()]).await;
        let at = start.elapsed().as_nanos() as u64;
        let ack = match r {
            Ok(resp) => {
                assert!(!resp.duplicate || resp.count == 1, "{resp:?}");
                Some(history::Ack {
                    at,
                    offset: resp.first_offset,
                })
            }
            Err(RequestError::Indeterminate { .. }) => None,
            Err(e) => panic!("client {c}: append refused: {e}"),
        };
        ops.lock().unwrap().push(history::Op { value, invoke, ack });
    }
}

async fn read_all(addr: &str, tls: Option<ClientTls>) -> Vec<Vec<u8>> {
    let client =
        Client::with_timeout(vec![addr.to_string()], Duration::from_secs(10)).with_tls(tls);
    let mut out = Vec::new();
    loop {
        let batch = client.read(out.len() as u64, 10_000, false).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        for (off, v) in batch {
            assert_eq!(off, out.len() as u64);
            out.push(v);
        }
    }
}

#[test]
fn c02_faults_with_history_check() {
    let faults = env_u64("PICLOUD_FAULTS").unwrap_or(30);
    let seed = env_u64("PICLOUD_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let clients = env_u64("PICLOUD_CLIENTS").unwrap_or(4) as usize;
    eprintln!(
        "c02: seed {seed} (PICLOUD_SEED), {faults} faults (PICLOUD_FAULTS), {clients} clients"
    );
    let mut rng = Rng(seed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = TempDir::new("c02");
    let net = proxy::Net::new(3);

    // Node i listens on 127.0.0.(i+1):base and advertises its proxy at :base+1.
    let mut base = port_base(seed);
    let listeners = loop {
        let bound: Vec<_> = (0..3)
            .map(|i| {
                rt.block_on(tokio::net::TcpListener::bind(format!(
                    "127.0.0.{}:{}",
                    i + 1,
                    base + 1
                )))
            })
            .collect();
        if bound.iter().all(|b| b.is_ok()) {
            break bound.into_iter().map(|b| b.unwrap()).collect::<Vec<_>>();
        }
        base += 10;
    };
    let listen: Vec<String> = (0..3)
        .map(|i| format!("127.0.0.{}:{base}", i + 1))
        .collect();
    let proxied: Vec<String> = (0..3)
        .map(|i| format!("127.0.0.{}:{}", i + 1, base + 1))
        .collect();
    for (i, l) in listeners.into_iter().enumerate() {
        let _g = rt.enter();
        proxy::spawn(
            Arc::clone(&net),
            i,
            l,
            listen[i].parse::<SocketAddr>().unwrap(),
        );
    }
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| {
            let peers = proxied
                .iter()
                .filter(|a| **a != proxied[i])
                .cloned()
                .collect();
            Node::new(&dir.0, i, listen[i].clone(), proxied[i].clone(), peers)
        })
        .collect();
    // Node-to-node traffic over mTLS, with certificates issued by `picloud cluster certs`
    // (the proxies forward the TLS bytes; peers dial the proxies' 127.0.0.x addresses).
    let tls = issue_certs(
        &dir.0,
        &[
            ("n1", "127.0.0.1"),
            ("n2", "127.0.0.2"),
            ("n3", "127.0.0.3"),
        ],
    );
    for (n, t) in nodes.iter_mut().zip(tls) {
        n.tls = Some(t);
    }
    // Clients present a certificate from the same CA (the client protocol is TLS too).
    let client_dir = issue_client_cert(&dir.0, "c02");
    let ctls = Some(picloud::client::client_tls_from_dir(&client_dir).unwrap());
    for (i, n) in nodes.iter_mut().enumerate() {
        let pid = n.start();
        net.pids.lock().unwrap()[i] = Some(pid);
    }
    let out = cli_tls(&listen[0], Some(&client_dir), &["cluster", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    wait_for("3 voters", 20, || {
        voters(&status_json_tls(&listen[0], Some(&client_dir))).len() == 3
    });

    // The load: clients talk to the nodes directly (not through the proxies).
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(Mutex::new(Vec::new()));
    let load: Vec<_> = (0..clients)
        .map(|c| {
            rt.spawn(client_load(
                c,
                listen.clone(),
                Arc::clone(&stop),
                start,
                Arc::clone(&ops),
                ctls.clone(),
            ))
        })
        .collect();

    let leader_index = |nodes: &[Node]| -> Option<usize> {
        for addr in &listen {
            let c = Client::with_timeout(vec![addr.clone()], Duration::from_millis(500))
                .with_tls(ctls.clone());
            if let Ok(s) = rt.block_on(c.status()) {
                if let Some(l) = s.leader {
                    return nodes.iter().position(|n| n.id == l);
                }
            }
        }
        None
    };
    let (mut kills, mut partitions, mut leader_faults) = (0, 0, 0);
    std::thread::sleep(Duration::from_millis(500));
    for f in 0..faults {
        let leader = leader_index(&nodes);
        let target = match leader {
            Some(l) if rng.below(3) == 0 => {
                leader_faults += 1;
                l
            }
            _ => rng.below(3) as usize,
        };
        let acked_before = ops
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.ack.is_some())
            .count();
        if rng.below(2) == 0 {
            kills += 1;
            eprintln!("c02: fault {f}: kill -9 node {target} (leader {leader:?})");
            net.pids.lock().unwrap()[target] = None;
            nodes[target].kill9();
            std::thread::sleep(rng.ms(100, 1500));
            let pid = nodes[target].start();
            net.pids.lock().unwrap()[target] = Some(pid);
        } else {
            partitions += 1;
            eprintln!("c02: fault {f}: isolate node {target} (leader {leader:?})");
            net.isolate(target);
            std::thread::sleep(rng.ms(300, 2500));
            net.heal();
        }
        std::thread::sleep(rng.ms(200, 1200));
        let acked_now = ops
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.ack.is_some())
            .count();
        eprintln!("c02:   acked {acked_before} -> {acked_now}");
    }
    net.heal();
    // Let the load run on a healed cluster, then stop it.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for h in load {
        rt.block_on(h).unwrap();
    }

    // Converge: every node applied the same events.
    let mut views = Vec::new();
    wait_for("all nodes to converge", 60, || {
        views = listen
            .iter()
            .map(|a| {
                let c = Client::with_timeout(vec![a.clone()], Duration::from_secs(2))
                    .with_tls(ctls.clone());
                rt.block_on(c.status())
                    .ok()
                    .map(|s| (s.events, s.event_hash, s.applied))
            })
            .collect();
        views.iter().all(|v| v.is_some() && *v == views[0])
    });
    // A linearizable read through a follower sees the leader's log.
    let lin = rt
        .block_on(
            Client::new(vec![listen[1].clone()])
                .with_tls(ctls.clone())
                .read(0, 1, true),
        )
        .unwrap();
    assert!(!lin.is_empty());
    let logs: Vec<Vec<Vec<u8>>> = listen
        .iter()
        .map(|a| rt.block_on(read_all(a, ctls.clone())))
        .collect();
    let ops = ops.lock().unwrap().clone();
    let elapsed = start.elapsed();
    let result = history::check(&ops, &logs);
    let mut acks: Vec<u64> = ops.iter().filter_map(|o| o.ack.map(|a| a.at)).collect();
    acks.sort_unstable();
    let stall = acks.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0) as f64 / 1e9;
    eprintln!(
        "c02: seed {seed}: {faults} faults ({kills} kill -9, {partitions} partitions, {leader_faults} aimed at the leader) in {:.1} s; {:?}",
        elapsed.as_secs_f64(),
        result.as_ref().map_err(|v| v.len())
    );
    match result {
        Ok(s) => {
            assert!(s.acked > 0, "no append was acknowledged");
            println!("c02 figures: seed={seed} faults={faults} kills={kills} partitions={partitions} invoked={} acked={} unacked_present={} unacked_absent={} log_len={} secs={:.1} longest_stall_secs={stall:.2}",
                s.invoked, s.acked, s.unacked_present, s.unacked_absent, s.log_len, elapsed.as_secs_f64());
        }
        Err(v) => panic!(
            "history check failed (seed {seed}): {} violations, first: {:?}",
            v.len(),
            &v[..v.len().min(10)]
        ),
    }
    for n in &mut nodes {
        let st = n.terminate().unwrap();
        assert!(st.success(), "{st:?}");
    }
}
