//! `cargo xtask image --board B`, `cargo xtask qemu --board B`, `cargo xtask bench boot`: see `image.rs`.
//!
//! `cargo xtask bench log [--output json] [--secs N] [--levels 1,16,256]`
//!
//! Starts a 3-node PiCloud cluster (the release binary) and a 3-node etcd cluster (Debian's
//! `etcd-server`, fsync on as by default), one after the other on loopback, with data
//! directories under one temporary directory on the same disk, and drives each with the same
//! load: 256-byte values, 1, 16 and 256 concurrent clients, a fixed duration per level after
//! a warm-up. etcd is driven through `etcd-client` (gRPC, one channel to the leader); PiCloud
//! through its own client library (one pipelined connection to the leader, one exactly-once
//! session per concurrent client). It also measures the floors: the disk's fdatasync latency
//! (`fio`, same directory) and the loopback TCP round trip (an in-process ping-pong).
//!
//! `cargo xtask bench projection [--output json]`: see `projection.rs`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

const VALUE_LEN: usize = 256;

/// Usage of `cargo xtask bench log`.
const LOG_USAGE: &str = "cargo xtask bench log [--output json] [--secs N] [--warmup N] \
[--levels 1,16,256] [--skip-etcd] [--skip-picloud] [--skip-tls] [--picloud-bin PATH]";

/// The whole usage, for `cargo xtask --help`.
fn usage() -> String {
    format!(
        "PiCloud's developer tasks (not part of the product binary).\n\nUsage:\n  {LOG_USAGE}\n  {}\n  {}\n  {}\n  {}\n\n\
         `cargo xtask <task> --help` prints one task's usage. Environment: PICLOUD_TRACE_WRITES=1 \
         (per-stage write timings, bench log), PICLOUD_BENCH_KEEP=1 (keep the temporary directory).",
        projection::USAGE,
        image::BENCH_USAGE,
        image::IMAGE_USAGE,
        image::QEMU_USAGE,
    )
}

/// The usage of the task named by `argv` (the arguments after the program name), if any.
fn task_usage(argv: &[String]) -> Option<&'static str> {
    match (
        argv.first().map(String::as_str),
        argv.get(1).map(String::as_str),
    ) {
        (Some("bench"), Some("log")) => Some(LOG_USAGE),
        (Some("bench"), Some("projection")) => Some(projection::USAGE),
        (Some("bench"), Some("boot")) => Some(image::BENCH_USAGE),
        (Some("image"), _) => Some(image::IMAGE_USAGE),
        (Some("qemu"), _) => Some(image::QEMU_USAGE),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Args {
    json: bool,
    secs: u64,
    warmup: u64,
    levels: Vec<usize>,
    skip_etcd: bool,
    skip_picloud: bool,
    skip_tls: bool,
    /// A prebuilt `picloud` binary to run instead of building one (A/B runs, and runs
    /// that concurrent builds must not swap the binary under).
    picloud_bin: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut a = std::env::args().skip(1);
    let (Some(cmd), Some(what)) = (a.next(), a.next()) else {
        bail!("usage: {LOG_USAGE}");
    };
    if cmd != "bench" || what != "log" {
        bail!("unknown task `{cmd} {what}`; try `cargo xtask bench log|projection|boot`, `cargo xtask image --board B` or `cargo xtask qemu --board B`");
    }
    let mut args = Args {
        json: false,
        secs: 10,
        warmup: 2,
        levels: vec![1, 16, 256],
        skip_etcd: false,
        skip_picloud: false,
        skip_tls: false,
        picloud_bin: None,
    };
    while let Some(f) = a.next() {
        let mut val = || a.next().ok_or_else(|| anyhow!("{f} needs a value"));
        match f.as_str() {
            "--output" | "-o" => args.json = val()? == "json",
            "--secs" => args.secs = val()?.parse()?,
            "--warmup" => args.warmup = val()?.parse()?,
            "--levels" => {
                args.levels = val()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--skip-etcd" => args.skip_etcd = true,
            "--skip-picloud" => args.skip_picloud = true,
            "--skip-tls" => args.skip_tls = true,
            "--picloud-bin" => args.picloud_bin = Some(PathBuf::from(val()?)),
            other => bail!("unknown flag {other}; usage: {LOG_USAGE}"),
        }
    }
    Ok(args)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Progress goes to stderr so that `--output json` keeps stdout clean.
macro_rules! say {
    ($($t:tt)*) => { eprintln!("bench: {}", format!($($t)*)) };
}

mod image;
mod projection;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Level {
    clients: usize,
    ops: u64,
    secs: f64,
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    /// Mean latency: with `clients` workers back to back, throughput ≈ clients / mean.
    mean_us: f64,
    /// Operations still unanswered when the level ended (a worker stuck on one request
    /// lowers throughput without showing in the percentiles).
    unfinished: u64,
    errors: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Floors {
    fdatasync_p50_us: f64,
    fdatasync_p99_us: f64,
    fdatasync_mean_us: f64,
    loopback_rtt_p50_us: f64,
    loopback_rtt_p99_us: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Comparison {
    clients: usize,
    throughput_ratio: f64,
    p50_ratio: f64,
    p99_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// 1-minute load average before and after the measurements.
    load_average: [f64; 2],
    machine: String,
    value_bytes: usize,
    secs_per_level: u64,
    floors: Floors,
    /// PiCloud with plaintext node-to-node traffic (`--insecure-loopback`).
    picloud: Vec<Level>,
    /// PiCloud with node-to-node mTLS (`--tls-dir`, certificates from `picloud cluster certs`).
    picloud_tls: Vec<Level>,
    etcd: Vec<Level>,
    etcd_version: String,
    /// PiCloud / etcd, per level (throughput: higher is better; latency: lower is better).
    ratios: Vec<Comparison>,
    targets: Vec<Target>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    name: String,
    goal: String,
    measured: String,
    met: bool,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn value(i: u64) -> Vec<u8> {
    let mut v = format!("{i:016x}").into_bytes();
    v.resize(VALUE_LEN, b'v');
    v
}

/// Runs `clients` workers calling `op` for `secs` after `warmup`; latencies in ns.
async fn drive<F, Fut>(clients: usize, warmup: u64, secs: u64, op: F) -> Level
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now() + Duration::from_secs(warmup);
    let end = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            let mut unfinished = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                n += 1;
                let r = op(c, n).await;
                let t1 = Instant::now();
                if t1 > end {
                    unfinished += 1;
                }
                if t0 >= start && t1 <= end {
                    match r {
                        Ok(()) => lat.push((t1 - t0).as_nanos() as u64),
                        Err(_) => errors += 1,
                    }
                }
            }
            (lat, errors, unfinished)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut unfinished = 0;
    for t in tasks {
        if let Ok((l, e, u)) = t.await {
            all.extend(l);
            errors += e;
            unfinished += u;
        }
    }
    all.sort_unstable();
    let ops = all.len() as u64;
    Level {
        clients,
        ops,
        secs: secs as f64,
        ops_per_sec: ops as f64 / secs as f64,
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
        max_us: percentile(&all, 1.0),
        mean_us: if all.is_empty() {
            0.0
        } else {
            all.iter().sum::<u64>() as f64 / all.len() as f64 / 1000.0
        },
        unfinished,
        errors,
    }
}

// ---------------------------------------------------------------------------------------
// Floors

fn fio_floor(dir: &Path) -> Result<(f64, f64, f64)> {
    let out = Command::new("fio")
        .args([
            "--name=sync",
            "--rw=write",
            "--bs=256",
            "--size=8M",
            "--fdatasync=1",
            "--ioengine=sync",
            "--output-format=json",
        ])
        .arg(format!("--directory={}", dir.display()))
        .output()
        .context("run fio (Debian package `fio`)")?;
    if !out.status.success() {
        bail!("fio failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let j: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let sync = &j["jobs"][0]["sync"]["lat_ns"];
    let p = |k: &str| sync["percentile"][k].as_f64().unwrap_or(0.0) / 1000.0;
    Ok((
        p("50.000000"),
        p("99.000000"),
        sync["mean"].as_f64().unwrap_or(0.0) / 1000.0,
    ))
}

/// A 256-byte TCP ping-pong over loopback, blocking sockets, nodelay.
fn loopback_rtt() -> Result<(f64, f64)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let server = std::thread::spawn(move || -> Result<()> {
        let (mut s, _) = l.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; VALUE_LEN];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut buf = [7u8; VALUE_LEN];
    let mut lat = Vec::new();
    for i in 0..22_000 {
        let t0 = Instant::now();
        c.write_all(&buf)?;
        c.read_exact(&mut buf)?;
        if i >= 2_000 {
            lat.push(t0.elapsed().as_nanos() as u64);
        }
    }
    drop(c);
    let _ = server.join();
    lat.sort_unstable();
    Ok((percentile(&lat, 0.5), percentile(&lat, 0.99)))
}

// ---------------------------------------------------------------------------------------
// Processes

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_file(p: &Path) -> Result<std::fs::File> {
    Ok(std::fs::File::create(p)?)
}

// ---------------------------------------------------------------------------------------
// PiCloud

fn build_picloud() -> Result<PathBuf> {
    say!("building the release binary (cargo build --release -p picloud)");
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "picloud"])
        .current_dir(repo_root())
        .status()?;
    if !st.success() {
        bail!("building picloud failed");
    }
    Ok(repo_root().join("target/release/picloud"))
}

/// The 1-minute load average: other work on the machine skews every figure.
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Runs `picloud cluster certs ARGS`.
fn certs(bin: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(bin)
        .args(["cluster", "certs"])
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!(
            "picloud cluster certs {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

async fn bench_picloud(args: &Args, tmp: &Path, bin: &Path, tls: bool) -> Result<Vec<Level>> {
    let (tag, port) = if tls {
        ("picloud-tls", 27200)
    } else {
        ("picloud", 27100)
    };
    let addrs: Vec<String> = (1..=3).map(|i| format!("127.0.0.{i}:{port}")).collect();
    if tls {
        let ca = tmp.join("tls-ca");
        certs(bin, &["ca", "--out", &ca.display().to_string()])?;
        for i in 0..addrs.len() {
            certs(
                bin,
                &[
                    "node",
                    "--ca",
                    &ca.display().to_string(),
                    "--name",
                    &format!("n{i}"),
                    "--addr",
                    &format!("127.0.0.{}", i + 1),
                    "--out",
                    &tmp.join(format!("tls-{i}")).display().to_string(),
                ],
            )?;
        }
    }
    let mut procs = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let data = tmp.join(format!("{tag}-{i}"));
        std::fs::create_dir_all(&data)?;
        let mut cmd = Command::new(bin);
        cmd.arg("node")
            .arg("--data")
            .arg(&data)
            .args(["--listen", a]);
        for p in addrs.iter().filter(|p| *p != a) {
            cmd.args(["--peer", p]);
        }
        if tls {
            cmd.arg("--tls-dir").arg(tmp.join(format!("tls-{i}")));
        } else {
            cmd.arg("--insecure-loopback");
        }
        let child = cmd
            .stdout(log_file(&data.join("stdout.log"))?)
            .stderr(log_file(&data.join("stderr.log"))?)
            .spawn()
            .context("start picloud node")?;
        procs.push(Proc(child));
    }
    // With --tls-dir the client protocol is TLS with a client certificate from the cluster
    // CA too: the driver presents node 0's (its extended key usage includes clientAuth).
    let client_tls = if tls {
        Some(
            picloud::client::client_tls_from_dir(&tmp.join("tls-0"))
                .map_err(|e| anyhow!("client TLS: {e}"))?,
        )
    } else {
        None
    };
    let client = picloud::client::Client::new(vec![addrs[0].clone()]).with_tls(client_tls.clone());
    let mut ready = false;
    for _ in 0..100 {
        if client.hello().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !ready {
        bail!("picloud node did not come up");
    }
    let msg = client.admin(picloud::api::ApiRequest::Init).await?;
    say!("picloud: {}", msg.replace('\n', "; "));
    // Wait for three voters, then find the leader.
    let mut leader_addr = None;
    for _ in 0..100 {
        if let Ok(s) = client.status().await {
            if s.members.iter().filter(|m| m.voter).count() == 3 {
                leader_addr = s
                    .leader
                    .and_then(|l| s.members.iter().find(|m| m.id == l))
                    .map(|m| m.addr.clone());
                if leader_addr.is_some() {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leader = leader_addr.ok_or_else(|| anyhow!("picloud cluster did not form"))?;
    say!("{tag} leader at {leader}");
    let client = Arc::new(
        picloud::client::Client::with_timeout(vec![leader], Duration::from_secs(30))
            .with_tls(client_tls),
    );
    let mut levels = Vec::new();
    for &c in &args.levels {
        let sessions: Arc<Vec<tokio::sync::Mutex<picloud::client::Session>>> = Arc::new(
            (0..c)
                .map(|_| picloud::client::Session::new().map(tokio::sync::Mutex::new))
                .collect::<Result<_, _>>()?,
        );
        let cl = Arc::clone(&client);
        let l = drive(c, args.warmup, args.secs, move |i, n| {
            let cl = Arc::clone(&cl);
            let sessions = Arc::clone(&sessions);
            async move {
                let mut s = sessions[i].lock().await;
                s.append(&cl, vec![value(n)]).await?;
                Ok(())
            }
        })
        .await;
        say!(
            "{tag:<11} {:>3} clients: {:>8.0} ops/s  p50 {:>8.0} µs  p99 {:>8.0} µs  mean {:>8.0} µs  max {:>8.0} µs  ({} errors, {} unfinished at the end)",
            l.clients,
            l.ops_per_sec,
            l.p50_us,
            l.p99_us,
            l.mean_us,
            l.max_us,
            l.errors,
            l.unfinished
        );
        levels.push(l);
    }
    drop(procs);
    if std::env::var("PICLOUD_TRACE_WRITES").is_ok_and(|v| v == "1") {
        // The driver's own side of the client protocol (the `picloud` client library).
        say!("driver ({tag}):\n{}", picloud::client::trace_table());
        // The nodes print their write-path trace tables at shutdown.
        for (i, a) in addrs.iter().enumerate() {
            let log = std::fs::read_to_string(tmp.join(format!("{tag}-{i}/stderr.log")))
                .unwrap_or_default();
            if let Some(at) = log.rfind("write-path trace") {
                say!("node {} ({a}):\n{}", i + 1, &log[at..]);
            }
        }
    }
    Ok(levels)
}

// ---------------------------------------------------------------------------------------
// etcd

fn etcd_version() -> String {
    Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

async fn bench_etcd(args: &Args, tmp: &Path) -> Result<Vec<Level>> {
    let n = 3;
    let peer = |i: usize| format!("http://127.0.0.1:{}", 23801 + i);
    let cl = |i: usize| format!("http://127.0.0.1:{}", 23791 + i);
    let initial = (0..n)
        .map(|i| format!("e{i}={}", peer(i)))
        .collect::<Vec<_>>()
        .join(",");
    let mut procs = Vec::new();
    for i in 0..n {
        let data = tmp.join(format!("etcd-{i}"));
        std::fs::create_dir_all(&data)?;
        let child = Command::new("etcd")
            .args(["--name", &format!("e{i}")])
            .arg("--data-dir")
            .arg(data.join("data"))
            .args(["--listen-client-urls", &cl(i)])
            .args(["--advertise-client-urls", &cl(i)])
            .args(["--listen-peer-urls", &peer(i)])
            .args(["--initial-advertise-peer-urls", &peer(i)])
            .args(["--initial-cluster", &initial])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "picloud-bench"])
            .stdout(Stdio::null())
            .stderr(log_file(&data.join("etcd.log"))?)
            .spawn()
            .context("start etcd (Debian package `etcd-server`)")?;
        procs.push(Proc(child));
    }
    // Find the leader's client URL.
    let mut leader = None;
    for _ in 0..100 {
        for i in 0..n {
            if let Ok(mut c) = etcd_client::Client::connect([cl(i)], None).await {
                if let Ok(s) = c.status().await {
                    if s.header().map(|h| h.member_id()) == Some(s.leader()) && s.leader() != 0 {
                        leader = Some(cl(i));
                    }
                }
            }
        }
        if leader.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let leader = leader.ok_or_else(|| anyhow!("etcd cluster elected no leader"))?;
    say!("etcd leader at {leader}");
    let client = etcd_client::Client::connect([leader], None).await?;
    let mut levels = Vec::new();
    for &c in &args.levels {
        let kv = client.kv_client();
        let l = drive(c, args.warmup, args.secs, move |i, n| {
            let mut kv = kv.clone();
            async move {
                kv.put(format!("k{i}-{n}"), value(n), None).await?;
                Ok(())
            }
        })
        .await;
        say!(
            "etcd    {:>3} clients: {:>8.0} ops/s  p50 {:>8.0} µs  p99 {:>8.0} µs  mean {:>8.0} µs  max {:>8.0} µs  ({} errors, {} unfinished at the end)",
            l.clients,
            l.ops_per_sec,
            l.p50_us,
            l.p99_us,
            l.mean_us,
            l.max_us,
            l.errors,
            l.unfinished
        );
        levels.push(l);
    }
    drop(procs);
    Ok(levels)
}

// ---------------------------------------------------------------------------------------

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or(0, |k| k / 1024 / 1024);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {mem} GiB RAM, Linux {}",
        kernel.trim()
    )
}

/// Errors are printed as one chain of causes (no backtrace) and exit with 1; `--help`
/// prints the usage to stdout and exits with 0.
fn main() -> std::process::ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all
        .first()
        .is_none_or(|a| matches!(a.as_str(), "--help" | "-h" | "help"))
    {
        println!("{}", usage());
        return std::process::ExitCode::SUCCESS;
    }
    if all.iter().any(|a| a == "--help" || a == "-h") {
        match task_usage(&all) {
            Some(u) => println!("usage: {u}"),
            None => println!("{}", usage()),
        }
        return std::process::ExitCode::SUCCESS;
    }
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).take(2).collect();
    if argv.len() == 2 && argv[0] == "bench" && argv[1] == "projection" {
        return projection::main(std::env::args().skip(3).collect());
    }
    if argv.len() == 2 && argv[0] == "bench" && argv[1] == "boot" {
        return image::bench_boot(std::env::args().skip(3).collect());
    }
    if argv.first().map(String::as_str) == Some("image") {
        return image::image(std::env::args().skip(2).collect());
    }
    if argv.first().map(String::as_str) == Some("qemu") {
        return image::qemu(std::env::args().skip(2).collect());
    }
    let args = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tmp = std::env::temp_dir().join(format!("picloud-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let result = rt.block_on(run(&args, &tmp));
    if std::env::var_os("PICLOUD_BENCH_KEEP").is_some() {
        say!("kept {} (PICLOUD_BENCH_KEEP)", tmp.display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

async fn run(args: &Args, tmp: &Path) -> Result<Report> {
    // Build before measuring anything, so that all measurements run back to back.
    let bin = if args.skip_picloud {
        PathBuf::new()
    } else if let Some(b) = &args.picloud_bin {
        say!("using the prebuilt binary {}", b.display());
        b.clone()
    } else {
        build_picloud()?
    };
    let load_before = loadavg();
    say!("floors: fio fdatasync in {}", tmp.display());
    let fio_dir = tmp.join("fio");
    std::fs::create_dir_all(&fio_dir)?;
    let (f50, f99, fmean) = fio_floor(&fio_dir)?;
    let (r50, r99) = loopback_rtt()?;
    let floors = Floors {
        fdatasync_p50_us: f50,
        fdatasync_p99_us: f99,
        fdatasync_mean_us: fmean,
        loopback_rtt_p50_us: r50,
        loopback_rtt_p99_us: r99,
    };
    say!("fdatasync p50 {f50:.0} µs, p99 {f99:.0} µs; loopback rtt p50 {r50:.1} µs");
    let etcd = if args.skip_etcd {
        Vec::new()
    } else {
        bench_etcd(args, tmp).await?
    };
    let picloud = if args.skip_picloud {
        Vec::new()
    } else {
        bench_picloud(args, tmp, &bin, false).await?
    };
    let picloud_tls = if args.skip_picloud || args.skip_tls {
        Vec::new()
    } else {
        bench_picloud(args, tmp, &bin, true).await?
    };
    let load_after = loadavg();
    let ratios: Vec<Comparison> = picloud
        .iter()
        .filter_map(|p| {
            let e = etcd.iter().find(|e| e.clients == p.clients)?;
            Some(Comparison {
                clients: p.clients,
                throughput_ratio: p.ops_per_sec / e.ops_per_sec,
                p50_ratio: p.p50_us / e.p50_us,
                p99_ratio: p.p99_us / e.p99_us,
            })
        })
        .collect();
    let mut targets = Vec::new();
    if let Some(r) = ratios.iter().find(|r| r.clients == 256) {
        targets.push(Target {
            name: "throughput at 256 clients".into(),
            goal: ">= 1.5x etcd".into(),
            measured: format!("{:.2}x", r.throughput_ratio),
            met: r.throughput_ratio >= 1.5,
        });
    }
    if let Some(r) = ratios.iter().find(|r| r.clients == 1) {
        targets.push(Target {
            name: "p99 at 1 client".into(),
            goal: "<= etcd".into(),
            measured: format!("{:.2}x etcd", r.p99_ratio),
            met: r.p99_ratio <= 1.0,
        });
    }
    if let Some(p) = picloud.iter().find(|p| p.clients == 1) {
        let floor = floors.fdatasync_p50_us + floors.loopback_rtt_p50_us;
        targets.push(Target {
            name: "p50 at 1 client".into(),
            goal: format!(
                "<= 1.3 x (fdatasync p50 + loopback rtt p50) = {:.0} µs",
                1.3 * floor
            ),
            measured: format!("{:.0} µs = {:.2} x floor", p.p50_us, p.p50_us / floor),
            met: p.p50_us <= 1.3 * floor,
        });
    }
    Ok(Report {
        load_average: [load_before, load_after],
        machine: machine(),
        value_bytes: VALUE_LEN,
        secs_per_level: args.secs,
        floors,
        picloud,
        picloud_tls,
        etcd,
        etcd_version: etcd_version(),
        ratios,
        targets,
    })
}

fn print_report(r: &Report) {
    println!("machine: {}", r.machine);
    println!("etcd: {}", r.etcd_version);
    println!(
        "load average (1 min) before / after: {:.2} / {:.2}",
        r.load_average[0], r.load_average[1]
    );
    println!(
        "floors: fdatasync p50 {:.0} µs / p99 {:.0} µs (fio, 256 B writes); loopback TCP rtt p50 {:.1} µs / p99 {:.1} µs",
        r.floors.fdatasync_p50_us,
        r.floors.fdatasync_p99_us,
        r.floors.loopback_rtt_p50_us,
        r.floors.loopback_rtt_p99_us
    );
    println!(
        "load: {} B values, {} s per level after warm-up, 3 nodes each, fsync on\n",
        r.value_bytes, r.secs_per_level
    );
    println!(
        "{:>7} | {:>10} {:>9} {:>9} | {:>10} {:>9} {:>9} | {:>7} {:>7} {:>7}",
        "clients",
        "picloud/s",
        "p50 µs",
        "p99 µs",
        "etcd/s",
        "p50 µs",
        "p99 µs",
        "tput x",
        "p50 x",
        "p99 x"
    );
    for p in &r.picloud {
        let e = r.etcd.iter().find(|e| e.clients == p.clients);
        let x = r.ratios.iter().find(|x| x.clients == p.clients);
        let f = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
        println!(
            "{:>7} | {:>10.0} {:>9.0} {:>9.0} | {:>10} {:>9} {:>9} | {:>7} {:>7} {:>7}",
            p.clients,
            p.ops_per_sec,
            p.p50_us,
            p.p99_us,
            f(e.map(|e| e.ops_per_sec), 0),
            f(e.map(|e| e.p50_us), 0),
            f(e.map(|e| e.p99_us), 0),
            f(x.map(|x| x.throughput_ratio), 2),
            f(x.map(|x| x.p50_ratio), 2),
            f(x.map(|x| x.p99_ratio), 2),
        );
    }
    if !r.picloud_tls.is_empty() {
        println!("\nnode-to-node mTLS (same run): PiCloud with --tls-dir vs --insecure-loopback");
        println!(
            "{:>7} | {:>10} {:>9} {:>9} | {:>7} {:>7} {:>7}",
            "clients", "tls/s", "p50 µs", "p99 µs", "tput x", "p50 x", "p99 x"
        );
        for t in &r.picloud_tls {
            if let Some(p) = r.picloud.iter().find(|p| p.clients == t.clients) {
                println!(
                    "{:>7} | {:>10.0} {:>9.0} {:>9.0} | {:>7.2} {:>7.2} {:>7.2}",
                    t.clients,
                    t.ops_per_sec,
                    t.p50_us,
                    t.p99_us,
                    t.ops_per_sec / p.ops_per_sec,
                    t.p50_us / p.p50_us,
                    t.p99_us / p.p99_us
                );
            }
        }
    }
    println!();
    for t in &r.targets {
        println!(
            "{} {}: goal {}, measured {}",
            if t.met { "MET    " } else { "NOT MET" },
            t.name,
            t.goal,
            t.measured
        );
    }
}
