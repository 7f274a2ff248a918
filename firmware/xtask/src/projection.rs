//! `cargo xtask bench projection [--output json]`: the RDF projection and SPARQL figures of
//! issue 4, in one run against a real `picloud dev` (the release binary):
//!
//! 1. **Projection lag** at a fixed command rate (default 1 000 events/s: 100 applies/s, each
//!    changing 10 config resources = 10 `ResourceUpdated` events). `/api/apply` answers only
//!    after this node's graph has projected the events (`projected: true`), so the commit
//!    acknowledgement already implies visibility. Measured, per command: *apply latency*
//!    (request sent → answer read), and *send → visible* (request sent → the first
//!    `ASK` on `/sparql` for the command's last new value that answers `true`; a probe task
//!    per command sends ASKs back to back from the moment the apply is sent). Server side,
//!    a sampler polls `/api/cluster` (committed vs projected offset) back to back: for each
//!    offset, first sample that shows it committed → first sample that shows it projected.
//! 2. **SPARQL overhead**: the same queries through `POST /sparql` (keep-alive HTTPS,
//!    request sent → whole JSON body read) and on an in-process Oxigraph `Store` loaded with a
//!    dump of the node's graph (`SELECT ?g ?s ?p ?o`), same default graph (the cluster graph).
//! 3. **Graph rebuild**: (a) restart `picloud dev` and time spawn → "ready" (it replays the
//!    whole event store into the state and the graph before serving); (b) in process: N
//!    events decided by `picloud-product-core` from generated products, folded with
//!    `Projection::apply` (and with decode + state apply + projection, as the node's tailer).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use picloud_domain::{IriBuilder, Resource};
use picloud_events::{CorrelationId, Envelope, Timestamp};
use picloud_product_core::{apply as state_apply, decide, Command as PcCommand, ProductState};
use picloud_projection::oxigraph::model::{GraphName, NamedNode, NamedOrBlankNode, Quad, Term};
use picloud_projection::oxigraph::sparql::results::{
    QueryResultsFormat, QueryResultsParser, QueryResultsSerializer, SliceQueryResultsParserOutput,
};
use picloud_projection::oxigraph::sparql::{QueryResults, SparqlEvaluator};
use picloud_projection::oxigraph::store::Store;
use picloud_projection::Projection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{build_picloud, loadavg, machine, percentile, Proc};

const PC: &str = "https://picloud.local/ontology#";
const BASE: &str = "https://picloud.local/products";

#[derive(Debug, Clone)]
struct Args {
    json: bool,
    products: usize,
    configs: usize,
    rate: u64,
    batch: usize,
    secs: u64,
    warmup: u64,
    reps: usize,
    rebuild_events: usize,
}

/// Usage of `cargo xtask bench projection`.
pub(crate) const USAGE: &str = "cargo xtask bench projection [--output json] [--products 200] \
[--configs 16] [--rate 1000] [--batch 10] [--secs 20] [--warmup 3] [--reps 30] \
[--rebuild-events 20000]";

fn parse(argv: Vec<String>) -> Result<Args> {
    let mut a = Args {
        json: false,
        products: 200,
        configs: 16,
        rate: 1000,
        batch: 10,
        secs: 20,
        warmup: 3,
        reps: 30,
        rebuild_events: 20_000,
    };
    let mut it = argv.into_iter();
    while let Some(f) = it.next() {
        let mut val = || it.next().ok_or_else(|| anyhow!("{f} needs a value"));
        match f.as_str() {
            "--output" | "-o" => a.json = val()? == "json",
            "--products" => a.products = val()?.parse()?,
            "--configs" => a.configs = val()?.parse()?,
            "--rate" => a.rate = val()?.parse()?,
            "--batch" => a.batch = val()?.parse()?,
            "--secs" => a.secs = val()?.parse()?,
            "--warmup" => a.warmup = val()?.parse()?,
            "--reps" => a.reps = val()?.parse()?,
            "--rebuild-events" => a.rebuild_events = val()?.parse()?,
            other => bail!("unknown flag {other}; usage: {USAGE}"),
        }
    }
    if a.batch == 0 || a.batch > a.configs {
        bail!("--batch must be between 1 and --configs");
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------
// Generated products

fn pname(p: usize) -> String {
    format!("bp-{p:04}")
}

/// The `.picloud` text of product `p`: a product, an identity, a volume, a secret,
/// `configs` configs (entry `gen` = `gens[i]`), a container using them and an ingress.
fn product_text(p: usize, configs: usize, gens: &[u64]) -> String {
    let n = pname(p);
    let mut t = format!(
        "product '{n}' = {{\n  version: '1.0.{p}'\n  description: 'benchmark product {p}'\n}}\n\
         identity 'worker' = {{\n  product: '{n}'\n  description: 'workload identity'\n}}\n\
         volume 'data' = {{\n  product: '{n}'\n  storageIntent: {{\n    durability: 'full-replication'\n    performance: 'standard'\n  }}\n  size: '10GB'\n}}\n\
         secret 'db' = {{\n  product: '{n}'\n  value: 'postgres://u:p@db/{p}'\n}}\n\
         container 'app' = {{\n  product: '{n}'\n  image: 'app:1.0.{p}'\n  identity: 'worker'\n  mounts: [\n    {{ volume: 'data', path: '/data' }}\n  ]\n  env: {{\n    DB_URL: secret('db')\n    LOG_LEVEL: config('log-level')\n  }}\n  ports: [8080]\n}}\n\
         ingress 'web' = {{\n  product: '{n}'\n  target: 'app'\n  port: 8080\n  path: '/'\n}}\n"
    );
    for (c, g) in gens.iter().enumerate().take(configs) {
        t.push_str(&format!(
            "config 'cfg-{c:02}' = {{\n  product: '{n}'\n  entries: {{\n    'gen': {g}\n    'log-level': 'info'\n    'max-upload-mb': {c}\n    'thumbnails': true\n  }}\n}}\n"
        ));
    }
    t
}

fn product_resources(p: usize, configs: usize, gens: &[u64]) -> Result<Vec<Resource>> {
    let text = product_text(p, configs, gens);
    let set = picloud_lang::check(&[picloud_lang::SourceFile::new("bench.picloud", text)])
        .map_err(|d| anyhow!("generated product does not validate: {d:?}"))?;
    Ok(set.resources)
}

fn apply_body(resources: Vec<Resource>) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&picloud_api::ApplyRequest {
        resources,
        idempotency_key: None,
    })?)
}

// ---------------------------------------------------------------------------------------
// HTTPS client: one keep-alive HTTP/1.1 connection per `Conn`, trusting the dev CA only.

#[derive(Clone)]
struct Client {
    port: u16,
    tls: TlsConnector,
}

struct Conn {
    tx: SendRequest<Full<Bytes>>,
    /// The `Server-Timing: sparql;dur=…` of the last answer (the server's evaluate +
    /// serialise time), in ms.
    server_ms: Option<f64>,
}

impl Client {
    fn new(port: u16, ca_pem: &[u8]) -> Result<Client> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(c.map_err(|e| anyhow!("CA PEM: {e}"))?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            port,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    async fn connect(&self) -> Result<Conn> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("127.0.0.1".to_string())?;
        let tls = self.tls.connect(name, tcp).await?;
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            tx,
            server_ms: None,
        })
    }
}

impl Conn {
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Bytes)> {
        self.tx.ready().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "127.0.0.1")
            .header(hyper::header::ACCEPT, accept);
        let payload = match body {
            Some((ct, b)) => {
                req = req.header(hyper::header::CONTENT_TYPE, ct);
                Bytes::from(b)
            }
            None => Bytes::new(),
        };
        let resp = self.tx.send_request(req.body(Full::new(payload))?).await?;
        let status = resp.status().as_u16();
        self.server_ms = resp
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("dur=")))
            .and_then(|d| d.parse().ok());
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    async fn sparql(&mut self, query: &str) -> Result<Bytes> {
        let (st, body) = self
            .call(
                Method::POST,
                "/sparql",
                "application/sparql-results+json",
                Some(("application/sparql-query", query.as_bytes().to_vec())),
            )
            .await?;
        if st != 200 {
            bail!("/sparql answered {st}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    async fn apply(&mut self, body: Vec<u8>) -> Result<picloud_api::ApplyResponse> {
        let (st, b) = self
            .call(
                Method::POST,
                "/api/apply",
                "application/json",
                Some(("application/json", body)),
            )
            .await?;
        if st != 200 && st != 202 {
            bail!("/api/apply answered {st}: {}", String::from_utf8_lossy(&b));
        }
        Ok(serde_json::from_slice(&b)?)
    }
}

/// Connections reused across tasks.
#[derive(Clone)]
struct Pool {
    client: Client,
    idle: Arc<Mutex<Vec<Conn>>>,
}

impl Pool {
    fn new(client: Client) -> Pool {
        Pool {
            client,
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }
    async fn get(&self) -> Result<Conn> {
        let c = self.idle.lock().map_err(|_| anyhow!("pool"))?.pop();
        match c {
            Some(c) => Ok(c),
            None => self.client.connect().await,
        }
    }
    fn put(&self, c: Conn) {
        if let Ok(mut v) = self.idle.lock() {
            v.push(c);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The dev node

struct Dev {
    proc: Option<Proc>,
    lines: std::sync::mpsc::Receiver<String>,
}

struct Started {
    dev: Dev,
    /// Spawn → "PiCloud dev cluster ready" on stdout.
    ready: Duration,
    events_in_log: Option<u64>,
}

fn start_dev(bin: &Path, home: &Path, port: u16) -> Result<Started> {
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .arg("dev")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(
            home.join(format!("dev-stderr-{}.log", t0.elapsed().as_nanos())),
        )?)
        .spawn()
        .context("start picloud dev")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let dev = Dev {
        proc: Some(Proc(child)),
        lines: rx,
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut ready = None;
    let mut events = None;
    while Instant::now() < deadline {
        let l = dev
            .lines
            .recv_timeout(Duration::from_secs(600))
            .map_err(|_| {
                anyhow!(
                    "picloud dev ended or printed nothing (see {})",
                    home.display()
                )
            })?;
        if l.starts_with("PiCloud dev cluster ready") {
            ready = Some(t0.elapsed());
        }
        if let Some(rest) = l.trim().strip_prefix("events") {
            events = rest.split_whitespace().next().and_then(|v| v.parse().ok());
            break;
        }
    }
    let ready = ready.ok_or_else(|| anyhow!("picloud dev did not become ready"))?;
    Ok(Started {
        dev,
        ready,
        events_in_log: events,
    })
}

impl Dev {
    /// SIGTERM and wait (the `Proc` drop).
    fn stop(&mut self) {
        self.proc.take();
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

// ---------------------------------------------------------------------------------------
// Report

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Dist {
    n: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn dist(mut ns: Vec<u64>) -> Dist {
    ns.sort_unstable();
    Dist {
        n: ns.len(),
        p50_ms: percentile(&ns, 0.5) / 1000.0,
        p99_ms: percentile(&ns, 0.99) / 1000.0,
        max_ms: percentile(&ns, 1.0) / 1000.0,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Lag {
    target_events_per_sec: u64,
    events_per_command: usize,
    commands_per_sec: f64,
    measured_secs: f64,
    commands: usize,
    committed_events: u64,
    achieved_events_per_sec: f64,
    errors: u64,
    /// Answers with `projected: false` (202).
    not_projected_at_ack: u64,
    /// Request sent → apply answer read (the answer comes after projection).
    apply_latency: Dist,
    /// Request sent → first `ASK` for the command's last new value answering true.
    send_to_visible: Dist,
    /// Probes that gave up (10 s) without seeing the value.
    probes_timed_out: u64,
    /// Commands probed (one probe at a time: a command sent while another is probed is not).
    probed_commands: usize,
    /// Events in the log when the lag run started (the projection's cost per event grows
    /// with the log).
    log_events_before: u64,
    asks_sent: u64,
    /// Scheduled send time → actual send (the driver's own delay; large = driver overloaded).
    send_delay: Dist,
    /// Server side, from `/api/cluster` samples: per offset, first sample showing it
    /// committed → first sample showing it projected (0 = same sample).
    server_commit_to_projected: Dist,
    /// Mean time between two `/api/cluster` samples (the resolution of the line above).
    sample_interval_ms: f64,
    samples: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryFigure {
    name: String,
    query: String,
    rows: usize,
    http_median_ms: f64,
    in_process_median_ms: f64,
    in_process_with_json_median_ms: f64,
    /// The server's own evaluate + serialise time (its `Server-Timing` header), median.
    server_median_ms: f64,
    /// http − server: TLS, HTTP, the handler around the query, the client.
    transport_median_ms: f64,
    /// http / in-process (evaluate + iterate).
    ratio: f64,
    /// http / in-process (evaluate + serialise SPARQL JSON).
    ratio_vs_json: f64,
    reps: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Sparql {
    quads: usize,
    resources: usize,
    dump_ms: f64,
    queries: Vec<QueryFigure>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rebuild {
    /// `picloud dev` restarted over the benchmark's log with the graph snapshot its clean
    /// shutdown wrote (restore + state re-fold, no projection replay).
    snapshot_restart_ready_ms: f64,
    snapshot_was_written: bool,
    /// `picloud dev` restarted over the benchmark's log after deleting the graph snapshot:
    /// the whole log is replayed into the state and the graph.
    restart_events: u64,
    restart_ready_ms: f64,
    restart_events_per_sec: f64,
    /// First start, empty data directory (includes creating the CA).
    empty_start_ready_ms: f64,
    /// In process: N events from product-core decide.
    in_process_events: usize,
    projection_apply_ms: f64,
    projection_events_per_sec: f64,
    /// decode_log + product-core apply + Projection::apply, as the node's tailer does.
    tailer_fold_ms: f64,
    tailer_events_per_sec: f64,
    /// Projection::apply_batch, 512 events per batch.
    batch_apply_ms: f64,
    batch_events_per_sec: f64,
    batch_compactions: u64,
    /// Projection::apply per event with compaction off (side by side).
    uncompacted_apply_ms: f64,
    uncompacted_events_per_sec: f64,
    uncompacted_dead_quads: usize,
    graph_quads: usize,
    /// Projection::apply rate over each fifth of the log, in order (a falling rate means
    /// the per-event cost grows with the log).
    projection_events_per_sec_by_fifth: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    name: String,
    goal: String,
    measured: String,
    met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    machine: String,
    nproc: usize,
    load_average: [f64; 2],
    /// The 1-minute load average at the start and end of each phase.
    phase_load: Vec<(String, f64)>,
    products: usize,
    resources_per_product: usize,
    populate_events: u64,
    populate_secs: f64,
    lag: Lag,
    sparql: Sparql,
    rebuild: Rebuild,
    targets: Vec<Target>,
}

// ---------------------------------------------------------------------------------------

pub fn main(argv: Vec<String>) -> Result<()> {
    let args = parse(argv)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tmp = std::env::temp_dir().join(format!("picloud-bench-proj-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let result = rt.block_on(run(&args, &tmp));
    let _ = std::fs::remove_dir_all(&tmp);
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

async fn run(args: &Args, tmp: &Path) -> Result<Report> {
    let bin = build_picloud()?;
    // Generate everything the in-process rebuild needs before measuring anything.
    let load_before = loadavg();
    say!("load average at start: {load_before:.2}");
    let home = tmp.join("home");
    std::fs::create_dir_all(&home)?;
    let port = free_port()?;
    let first = start_dev(&bin, &home, port)?;
    let empty_start = first.ready;
    let mut dev = first.dev;
    say!(
        "picloud dev ready on 127.0.0.1:{port} in {:.0} ms (empty data directory)",
        empty_start.as_secs_f64() * 1e3
    );
    let ca = std::fs::read(home.join("data/picloud/dev/ca.pem")).context("read the dev CA")?;
    let client = Client::new(port, &ca)?;

    // --- populate
    let resources_per_product = 6 + args.configs;
    say!(
        "populating: {} products x {} resources",
        args.products,
        resources_per_product
    );
    let pool = Pool::new(client.clone());
    let t0 = Instant::now();
    let mut populate_events = 0u64;
    {
        let gens = vec![0u64; args.configs];
        let mut bodies = Vec::new();
        for p in 0..args.products {
            bodies.push(apply_body(product_resources(p, args.configs, &gens)?)?);
        }
        // Four concurrent clients.
        let bodies = Arc::new(Mutex::new(bodies));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let bodies = Arc::clone(&bodies);
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = pool.get().await?;
                let mut n = 0u64;
                loop {
                    let b = bodies.lock().map_err(|_| anyhow!("lock"))?.pop();
                    let Some(b) = b else { break };
                    n += c.apply(b).await?.events;
                }
                Ok::<u64, anyhow::Error>(n)
            }));
        }
        for t in tasks {
            populate_events += t.await??;
        }
    }
    let populate_secs = t0.elapsed().as_secs_f64();
    say!(
        "populated: {populate_events} events in {populate_secs:.1} s ({:.0} events/s, 4 clients, not a target figure)",
        populate_events as f64 / populate_secs
    );

    let mut phase_load = vec![("start".to_string(), load_before)];
    phase_load.push(("lag phase start".into(), loadavg()));
    let lag = lag_phase(args, &client).await?;
    phase_load.push(("lag phase end".into(), loadavg()));

    let sparql = sparql_phase(args, &client).await?;
    phase_load.push(("sparql phase end".into(), loadavg()));

    // --- rebuild by restart: (a) as a user restarts it (the graph snapshot written at the
    // clean shutdown is restored, the state re-folded), (b) without the graph snapshot
    // (the whole projection is replayed from the event store).
    say!("stopping picloud dev, starting it again over the same log (graph snapshot kept)");
    dev.stop();
    let snapshot = home.join("data/picloud/dev/node/graph.snapshot");
    let snapshot_written = snapshot.exists();
    let again = start_dev(&bin, &home, port)?;
    let snap_ready = again.ready;
    let mut dev2 = again.dev;
    say!(
        "restarted with {} events in the log, graph snapshot {}: ready in {:.0} ms",
        again.events_in_log.unwrap_or(0),
        if snapshot_written {
            "present"
        } else {
            "absent"
        },
        snap_ready.as_secs_f64() * 1e3
    );
    dev2.stop();
    if snapshot.exists() {
        std::fs::remove_file(&snapshot)?;
    }
    say!("starting it again without the graph snapshot (full replay of the log)");
    let replay = start_dev(&bin, &home, port)?;
    let restart_events = replay.events_in_log.unwrap_or(0);
    let restart_ready = replay.ready;
    let mut dev3 = replay.dev;
    say!(
        "restarted with {restart_events} events in the log, no graph snapshot: ready in {:.0} ms",
        restart_ready.as_secs_f64() * 1e3
    );
    dev3.stop();

    // --- rebuild in process
    let mut rebuild = in_process_rebuild(args, restart_events, restart_ready, empty_start)?;
    rebuild.snapshot_restart_ready_ms = snap_ready.as_secs_f64() * 1e3;
    rebuild.snapshot_was_written = snapshot_written;
    let load_after = loadavg();
    say!("load average at end: {load_after:.2}");
    phase_load.push(("end".into(), load_after));

    let mut targets = vec![
        Target {
            name: "projection lag at 1,000 events/s".into(),
            goal: "p50 and p99 reported (the issue sets no bound)".into(),
            measured: format!(
                "send->visible p50 {:.2} ms, p99 {:.2} ms at {:.0} events/s achieved",
                lag.send_to_visible.p50_ms, lag.send_to_visible.p99_ms, lag.achieved_events_per_sec
            ),
            met: None,
        },
        Target {
            name: "rate held".into(),
            goal: format!("{} events/s committed", args.rate),
            measured: format!("{:.0} events/s", lag.achieved_events_per_sec),
            met: Some(lag.achieved_events_per_sec >= 0.98 * args.rate as f64),
        },
    ];
    for q in &sparql.queries {
        let big = q.in_process_median_ms > 10.0;
        targets.push(Target {
            name: format!("SPARQL overhead, {}", q.name),
            goal: if big {
                "<= 1.2x in-process (query > 10 ms)".into()
            } else {
                "none (query <= 10 ms in process; reported only)".into()
            },
            measured: format!(
                "{:.2}x ({:.2} ms vs {:.2} ms)",
                q.ratio, q.http_median_ms, q.in_process_median_ms
            ),
            met: if big { Some(q.ratio <= 1.2) } else { None },
        });
    }
    targets.push(Target {
        name: "graph rebuild rate".into(),
        goal: "reported (the issue sets no bound)".into(),
        measured: format!(
            "{:.0} events/s Projection::apply ({} events, in process); {:.0} events/s full replay at restart of picloud dev ({} events)",
            rebuild.projection_events_per_sec, rebuild.in_process_events, rebuild.restart_events_per_sec, rebuild.restart_events
        ),
        met: None,
    });
    Ok(Report {
        machine: machine(),
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average: [load_before, load_after],
        phase_load,
        products: args.products,
        resources_per_product,
        populate_events,
        populate_secs,
        lag,
        sparql,
        rebuild,
        targets,
    })
}

// ---------------------------------------------------------------------------------------
// 1. Lag

struct CmdResult {
    send_delay: u64,
    apply_ns: Option<u64>,
    visible_ns: Option<u64>,
    events: u64,
    projected: bool,
    asks: u64,
    probed: bool,
    measured: bool,
}

async fn lag_phase(args: &Args, client: &Client) -> Result<Lag> {
    let cmds_per_sec = args.rate as f64 / args.batch as f64;
    let interval = Duration::from_secs_f64(1.0 / cmds_per_sec);
    let total = ((args.warmup + args.secs) as f64 * cmds_per_sec).round() as usize;
    let warm = (args.warmup as f64 * cmds_per_sec).round() as usize;
    say!(
        "lag: {} commands/s x {} events = {} events/s, {} s warm-up + {} s measured",
        cmds_per_sec,
        args.batch,
        args.rate,
        args.warmup,
        args.secs
    );
    // Pre-generate every command: product k % products, configs 0..batch get gen = k + 1.
    let mut bodies = Vec::with_capacity(total);
    let mut asks = Vec::with_capacity(total);
    for k in 0..total {
        let p = k % args.products;
        let g = (k + 1) as u64;
        let mut gens = vec![0u64; args.configs];
        // Earlier commands on this product set their own gens; only the last one matters for
        // the full set, so keep the previous values for configs this command does not touch.
        for (c, v) in gens.iter_mut().enumerate() {
            if c < args.batch {
                *v = g;
            } else {
                *v = 0;
            }
        }
        bodies.push(apply_body(product_resources(p, args.configs, &gens)?)?);
        asks.push(format!(
            "PREFIX pc: <{PC}> ASK {{ GRAPH ?g {{ <{BASE}/{}/configs/cfg-{:02}/entries/gen> pc:value {g} }} }}",
            pname(p),
            args.batch - 1
        ));
    }
    let first_committed_before = {
        let mut c = client.connect().await?;
        let (_, b) = c
            .call(Method::GET, "/api/cluster", "application/json", None)
            .await?;
        serde_json::from_slice::<picloud_api::ClusterStatus>(&b)?
            .committed_offset
            .map_or(0, |o| o + 1)
    };
    let apply_pool = Pool::new(client.clone());
    let probe_pool = Pool::new(client.clone());
    // Open the connections before the clock starts.
    // Enough apply connections for a deep backlog: opening TLS connections during the run
    // would load the server exactly when it falls behind.
    for _ in 0..64 {
        apply_pool.put(client.connect().await?);
    }
    for _ in 0..2 {
        probe_pool.put(client.connect().await?);
    }
    let probing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The server-side sampler (one sample per ms at most).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        let mut c = client.connect().await?;
        tokio::spawn(async move {
            let mut samples: Vec<(Instant, Option<u64>, Option<u64>)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let Ok((200, b)) = c
                    .call(Method::GET, "/api/cluster", "application/json", None)
                    .await
                else {
                    continue;
                };
                let t = Instant::now();
                if let Ok(s) = serde_json::from_slice::<picloud_api::ClusterStatus>(&b) {
                    samples.push((t, s.committed_offset, s.projected_offset));
                }
            }
            samples
        })
    };
    let start = Instant::now() + Duration::from_millis(200);
    let measure_from = start + interval * warm as u32;
    let mut tasks = Vec::with_capacity(total);
    for (k, (body, ask)) in bodies.into_iter().zip(asks).enumerate() {
        let sched = start + interval * k as u32;
        tokio::time::sleep_until(sched.into()).await;
        let ap = apply_pool.clone();
        let pp = probe_pool.clone();
        let busy = Arc::clone(&probing);
        let measured = sched >= measure_from;
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let send_delay = (sent - sched).as_nanos() as u64;
            // The probe: ASKs back to back until true; one probe at a time (a command sent
            // while another is being probed is not probed), so the ASK load stays one client.
            let probe_this = busy
                .compare_exchange(
                    false,
                    true,
                    std::sync::atomic::Ordering::AcqRel,
                    std::sync::atomic::Ordering::Acquire,
                )
                .is_ok();
            let probe = tokio::spawn(async move {
                if !probe_this {
                    return Ok::<_, anyhow::Error>((None, 0u64, false));
                }
                let done = || busy.store(false, std::sync::atomic::Ordering::Release);
                let mut c = match pp.get().await {
                    Ok(c) => c,
                    Err(e) => {
                        done();
                        return Err(e);
                    }
                };
                let mut n = 0u64;
                let limit = sent + Duration::from_secs(10);
                loop {
                    n += 1;
                    let b = match c.sparql(&ask).await {
                        Ok(b) => b,
                        Err(e) => {
                            done();
                            return Err(e);
                        }
                    };
                    let t = Instant::now();
                    if serde_json::from_slice::<serde_json::Value>(&b)?["boolean"]
                        .as_bool()
                        .unwrap_or(false)
                    {
                        pp.put(c);
                        done();
                        return Ok((Some((t - sent).as_nanos() as u64), n, true));
                    }
                    if t > limit {
                        pp.put(c);
                        done();
                        return Ok((None, n, true));
                    }
                }
            });
            let mut c = ap.get().await?;
            let r = c.apply(body).await;
            let t = Instant::now();
            ap.put(c);
            let (visible, asks, probed) = probe.await??;
            let r = r?;
            Ok::<_, anyhow::Error>(CmdResult {
                send_delay,
                apply_ns: Some((t - sent).as_nanos() as u64),
                visible_ns: visible,
                events: r.events,
                projected: r.projected,
                asks,
                probed,
                measured,
            })
        }));
    }
    let mut results = Vec::new();
    let mut errors = 0u64;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => {
                errors += 1;
                if errors <= 3 {
                    say!("lag: command failed: {e:#}");
                }
            }
            Err(e) => {
                errors += 1;
                say!("lag: task failed: {e}");
            }
        }
    }
    let end = Instant::now();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.await?;
    // Measured window: the scheduled span of the measured commands; achieved rate = events
    // of measured commands / (last answer - first measured send).
    let measured: Vec<&CmdResult> = results.iter().filter(|r| r.measured).collect();
    let window = (end - measure_from).as_secs_f64();
    let committed: u64 = measured.iter().map(|r| r.events).sum();
    // Server side: first sample at which each offset is committed / projected.
    let mut first_committed: Vec<Option<Instant>> = Vec::new();
    let mut first_projected: Vec<Option<Instant>> = Vec::new();
    let mark = |v: &mut Vec<Option<Instant>>, upto: Option<u64>, t: Instant| {
        if let Some(u) = upto {
            let u = u as usize;
            if v.len() <= u {
                v.resize(u + 1, None);
            }
            for slot in v.iter_mut().take(u + 1).rev() {
                if slot.is_some() {
                    break;
                }
                *slot = Some(t);
            }
        }
    };
    let mut sample_gaps = Vec::new();
    let mut prev: Option<Instant> = None;
    for (t, c, p) in &samples {
        mark(&mut first_committed, *c, *t);
        mark(&mut first_projected, *p, *t);
        if *t >= measure_from {
            if let Some(pr) = prev {
                sample_gaps.push((*t - pr).as_secs_f64());
            }
            prev = Some(*t);
        }
    }
    let server: Vec<u64> = first_committed
        .iter()
        .zip(first_projected.iter())
        .filter_map(|(c, p)| match (c, p) {
            (Some(c), Some(p)) if *c >= measure_from => {
                Some(p.saturating_duration_since(*c).as_nanos() as u64)
            }
            _ => None,
        })
        .collect();
    let sample_interval_ms = if sample_gaps.is_empty() {
        0.0
    } else {
        sample_gaps.iter().sum::<f64>() / sample_gaps.len() as f64 * 1e3
    };
    let lag = Lag {
        target_events_per_sec: args.rate,
        events_per_command: args.batch,
        commands_per_sec: cmds_per_sec,
        measured_secs: window,
        commands: measured.len(),
        committed_events: committed,
        achieved_events_per_sec: committed as f64 / window,
        errors,
        not_projected_at_ack: measured.iter().filter(|r| !r.projected).count() as u64,
        apply_latency: dist(measured.iter().filter_map(|r| r.apply_ns).collect()),
        send_to_visible: dist(measured.iter().filter_map(|r| r.visible_ns).collect()),
        probes_timed_out: measured
            .iter()
            .filter(|r| r.probed && r.visible_ns.is_none())
            .count() as u64,
        probed_commands: measured.iter().filter(|r| r.probed).count(),
        log_events_before: first_committed_before,
        asks_sent: measured.iter().map(|r| r.asks).sum(),
        send_delay: dist(measured.iter().map(|r| r.send_delay).collect()),
        server_commit_to_projected: dist(server),
        sample_interval_ms,
        samples: samples.len(),
    };
    say!(
        "lag: {} commands, {:.0} events/s; apply p50 {:.2} ms p99 {:.2} ms; send->visible p50 {:.2} ms p99 {:.2} ms; server commit->projected p50 {:.2} ms p99 {:.2} ms (sampled every {:.2} ms)",
        lag.commands,
        lag.achieved_events_per_sec,
        lag.apply_latency.p50_ms,
        lag.apply_latency.p99_ms,
        lag.send_to_visible.p50_ms,
        lag.send_to_visible.p99_ms,
        lag.server_commit_to_projected.p50_ms,
        lag.server_commit_to_projected.p99_ms,
        lag.sample_interval_ms
    );
    Ok(lag)
}

// ---------------------------------------------------------------------------------------
// 2. SPARQL overhead

fn term_of(t: &Term) -> Result<NamedOrBlankNode> {
    match t {
        Term::NamedNode(n) => Ok(NamedOrBlankNode::NamedNode(n.clone())),
        Term::BlankNode(b) => Ok(NamedOrBlankNode::BlankNode(b.clone())),
        #[allow(unreachable_patterns)]
        _ => bail!("a subject that is not an IRI or blank node"),
    }
}

/// Evaluates `query` in process with the HTTP endpoint's cluster scope (default graph =
/// the cluster graph); returns the row count, and the JSON bytes when `json`.
fn local_query(store: &Store, query: &str, json: bool) -> Result<(usize, usize)> {
    let mut prepared = SparqlEvaluator::new().parse_query(query)?;
    let ds = prepared.dataset_mut();
    if ds.is_default_dataset() {
        let g = picloud_projection::iris::cluster_graph(&IriBuilder::default());
        ds.set_default_graph(vec![GraphName::NamedNode(NamedNode::new(g)?)]);
    }
    match prepared.on_store(store).execute()? {
        QueryResults::Solutions(sol) => {
            if json {
                let ser = QueryResultsSerializer::from_format(QueryResultsFormat::Json);
                let mut w =
                    ser.serialize_solutions_to_writer(Vec::new(), sol.variables().to_vec())?;
                let mut n = 0;
                for s in sol {
                    w.serialize(&s?)?;
                    n += 1;
                }
                let bytes = w.finish()?;
                Ok((n, bytes.len()))
            } else {
                let mut n = 0;
                for s in sol {
                    s?;
                    n += 1;
                }
                Ok((n, 0))
            }
        }
        QueryResults::Boolean(b) => Ok((usize::from(b), 0)),
        QueryResults::Graph(g) => {
            let mut n = 0;
            for t in g {
                t?;
                n += 1;
            }
            Ok((n, 0))
        }
    }
}

fn json_rows(body: &[u8]) -> Result<usize> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    Ok(v["results"]["bindings"].as_array().map_or(0, Vec::len))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn sparql_phase(args: &Args, client: &Client) -> Result<Sparql> {
    let mut c = client.connect().await?;
    say!("sparql: dumping the node's graph (SELECT ?g ?s ?p ?o)");
    let t0 = Instant::now();
    let body = c
        .sparql("SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }")
        .await?;
    let dump_ms = t0.elapsed().as_secs_f64() * 1e3;
    let store = Store::new()?;
    let mut quads = Vec::new();
    match QueryResultsParser::from_format(QueryResultsFormat::Json).for_slice(&body)? {
        SliceQueryResultsParserOutput::Solutions(sols) => {
            for s in sols {
                let s = s?;
                let g = match s.get("g") {
                    Some(Term::NamedNode(n)) => GraphName::NamedNode(n.clone()),
                    _ => bail!("dump: a row without a named graph"),
                };
                let subj = term_of(s.get("s").ok_or_else(|| anyhow!("no ?s"))?)?;
                let pred = match s.get("p") {
                    Some(Term::NamedNode(n)) => n.clone(),
                    _ => bail!("dump: a predicate that is not an IRI"),
                };
                let obj = s.get("o").ok_or_else(|| anyhow!("no ?o"))?.clone();
                quads.push(Quad::new(subj, pred, obj, g));
            }
        }
        SliceQueryResultsParserOutput::Boolean(_) => bail!("dump: a boolean"),
    }
    let n_quads = quads.len();
    store.extend(quads)?;
    let count_q = format!(
        "PREFIX pc: <{PC}> SELECT (COUNT(?r) AS ?n) WHERE {{ GRAPH ?g {{ ?r pc:generation ?gen }} }}"
    );
    let resources = {
        let b = c.sparql(&count_q).await?;
        let v: serde_json::Value = serde_json::from_slice(&b)?;
        v["results"]["bindings"][0]["n"]["value"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    say!("sparql: {n_quads} quads, {resources} resources, dump took {dump_ms:.0} ms");
    let big = format!(
        "PREFIX pc: <{PC}>\n\
         SELECT ?product (COUNT(DISTINCT ?r) AS ?resources) (COUNT(?e) AS ?entries) (SUM(?v) AS ?total)\n\
         WHERE {{\n  ?cluster pc:hasProduct ?product .\n  GRAPH ?g {{\n    ?r pc:product ?product ; pc:status ?status ; pc:generation ?gen .\n    \
         OPTIONAL {{ ?r pc:entries ?e . ?e pc:value ?v . FILTER(isNumeric(?v)) }}\n  }}\n}}\n\
         GROUP BY ?product ORDER BY DESC(?total) ?product"
    );
    let small = format!(
        "PREFIX pc: <{PC}>\nSELECT ?name ?status WHERE {{ GRAPH ?g {{ <{BASE}/{}/containers/app> pc:name ?name ; pc:status ?status }} }}",
        pname(0)
    );
    let mut figures = Vec::new();
    for (name, q) in [
        ("join + aggregate over every resource", big),
        ("one resource", small),
    ] {
        let (rows_local, _) = local_query(&store, &q, false)?;
        let rows_http = json_rows(&c.sparql(&q).await?)?;
        if rows_local != rows_http {
            bail!("sparql: `{name}`: {rows_http} rows over HTTP, {rows_local} in process: the dump differs");
        }
        // Warm-up, then interleaved repetitions.
        for _ in 0..3 {
            c.sparql(&q).await?;
            local_query(&store, &q, false)?;
        }
        let (mut h, mut l, mut lj) = (Vec::new(), Vec::new(), Vec::new());
        let (mut server, mut transport) = (Vec::new(), Vec::new());
        for _ in 0..args.reps {
            let t = Instant::now();
            let b = c.sparql(&q).await?;
            let http = t.elapsed().as_secs_f64() * 1e3;
            h.push(http);
            if let Some(s) = c.server_ms {
                server.push(s);
                transport.push(http - s);
            }
            std::hint::black_box(b);
            let t = Instant::now();
            std::hint::black_box(local_query(&store, &q, false)?);
            l.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(local_query(&store, &q, true)?);
            lj.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (hm, lm, ljm) = (median(h), median(l), median(lj));
        let (sm, tm) = (median(server), median(transport));
        say!(
            "sparql: {name}: {rows_http} rows; http {hm:.3} ms (server {sm:.3} + transport {tm:.3}), in process {lm:.3} ms (+JSON {ljm:.3} ms): {:.2}x",
            hm / lm
        );
        figures.push(QueryFigure {
            name: name.into(),
            query: q,
            rows: rows_http,
            http_median_ms: hm,
            in_process_median_ms: lm,
            in_process_with_json_median_ms: ljm,
            server_median_ms: sm,
            transport_median_ms: tm,
            ratio: hm / lm,
            ratio_vs_json: hm / ljm,
            reps: args.reps,
        });
    }
    Ok(Sparql {
        quads: n_quads,
        resources,
        dump_ms,
        queries: figures,
    })
}

// ---------------------------------------------------------------------------------------
// 3. Rebuild in process

fn in_process_rebuild(
    args: &Args,
    restart_events: u64,
    restart_ready: Duration,
    empty_start: Duration,
) -> Result<Rebuild> {
    let target = args.rebuild_events;
    say!("rebuild: generating {target} events with product-core decide");
    let iri = IriBuilder::default();
    let mut state = ProductState::default();
    let mut events: Vec<Envelope> = Vec::with_capacity(target + 64);
    let mut k = 0u64;
    let mut next_product = 0usize;
    let mut gens_of: Vec<u64> = Vec::new();
    // Same mix as the dev run: declare products, then update `batch` configs per command,
    // one product declared for every 5 updates.
    while events.len() < target {
        k += 1;
        let (p, gens) = if gens_of.is_empty() || k % 6 == 0 {
            let p = next_product;
            next_product += 1;
            gens_of.push(0);
            (p, vec![0u64; args.configs])
        } else {
            let p = (k as usize * 7919) % gens_of.len();
            gens_of[p] = k;
            let gens: Vec<u64> = (0..args.configs)
                .map(|c| if c < args.batch { k } else { 0 })
                .collect();
            (p, gens)
        };
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&k.to_be_bytes());
        id[8] = 0x4b;
        let cmd = PcCommand::ApplySet {
            resources: product_resources(p, args.configs, &gens)?,
            idempotency_key: None,
            correlation_id: CorrelationId::from_bytes(id),
            source: iri.cluster(),
        };
        let now = Timestamp::from_unix_millis(1_795_794_861_000 + k as i64)
            .map_err(|e| anyhow!("{e}"))?;
        let evs = decide(&state, &cmd, now, &iri).map_err(|e| anyhow!("decide: {e:?}"))?;
        for e in &evs {
            state_apply(&mut state, e);
        }
        events.extend(evs);
    }
    let n = events.len();
    let encoded = events
        .iter()
        .map(picloud_events::encode_log)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("encode: {e}"))?;
    say!("rebuild: {n} events ({next_product} products); folding them into an empty projection");
    let mut by_type: std::collections::BTreeMap<&'static str, (u64, f64)> = Default::default();
    let mut fifths = Vec::new();
    let mut last = (0usize, 0.0f64);
    let t = Instant::now();
    let mut proj = Projection::new(iri.clone()).map_err(|e| anyhow!("{e}"))?;
    for (i, e) in events.iter().enumerate() {
        let t1 = Instant::now();
        proj.apply(e, i as u64)
            .map_err(|e| anyhow!("project: {e}"))?;
        if (i + 1) % (n / 5).max(1) == 0 {
            let el = t.elapsed().as_secs_f64();
            fifths.push((i + 1 - last.0) as f64 / (el - last.1));
            last = (i + 1, el);
            say!("rebuild: {} events folded after {:.0} ms", i + 1, el * 1e3);
        }
        let slot = by_type.entry(e.payload.type_name()).or_default();
        slot.0 += 1;
        slot.1 += t1.elapsed().as_secs_f64();
    }
    let proj_s = t.elapsed().as_secs_f64();
    for (ty, (n, secs)) in &by_type {
        say!(
            "rebuild: {ty}: {n} events, {:.0} events/s",
            *n as f64 / secs
        );
    }
    let quads = proj.reader().len().map_err(|e| anyhow!("{e}"))?;
    drop(proj);
    let t = Instant::now();
    let mut proj = Projection::new(iri.clone()).map_err(|e| anyhow!("{e}"))?;
    let mut st = ProductState::default();
    for (i, b) in encoded.iter().enumerate() {
        let e = picloud_events::decode_log(b).map_err(|e| anyhow!("decode: {e}"))?;
        state_apply(&mut st, &e);
        proj.apply(&e, i as u64)
            .map_err(|e| anyhow!("project: {e}"))?;
    }
    let tail_s = t.elapsed().as_secs_f64();
    drop(proj);
    // Batches of 512 (the tailer's read size), one transaction each.
    let t = Instant::now();
    let mut proj = Projection::new(iri.clone()).map_err(|e| anyhow!("{e}"))?;
    for (b, chunk) in events.chunks(512).enumerate() {
        let first = b * 512;
        proj.apply_batch(
            chunk
                .iter()
                .enumerate()
                .map(|(j, e)| ((first + j) as u64, e)),
        )
        .map_err(|e| anyhow!("project: {e}"))?;
    }
    let batch_s = t.elapsed().as_secs_f64();
    let stats = proj.stats();
    drop(proj);
    // Side by side: the same per-event fold with compaction off (dead quads pile up).
    let t = Instant::now();
    let mut proj = Projection::new(iri.clone()).map_err(|e| anyhow!("{e}"))?;
    proj.set_compaction_floor(None);
    for (i, e) in events.iter().enumerate() {
        proj.apply(e, i as u64)
            .map_err(|e| anyhow!("project: {e}"))?;
    }
    let uncompacted_s = t.elapsed().as_secs_f64();
    let uncompacted_dead = proj.stats().dead_quads;
    drop(proj);
    say!(
        "rebuild: Projection::apply with compaction off {:.0} events/s ({:.0} ms, {uncompacted_dead} dead quads left)",
        n as f64 / uncompacted_s,
        uncompacted_s * 1e3
    );
    say!(
        "rebuild: Projection::apply {:.0} events/s ({:.0} ms); decode+state+projection {:.0} events/s ({:.0} ms); apply_batch(512) {:.0} events/s ({:.0} ms, {} compactions); {quads} quads",
        n as f64 / proj_s,
        proj_s * 1e3,
        n as f64 / tail_s,
        tail_s * 1e3,
        n as f64 / batch_s,
        batch_s * 1e3,
        stats.compactions
    );
    Ok(Rebuild {
        restart_events,
        restart_ready_ms: restart_ready.as_secs_f64() * 1e3,
        restart_events_per_sec: restart_events as f64 / restart_ready.as_secs_f64(),
        empty_start_ready_ms: empty_start.as_secs_f64() * 1e3,
        in_process_events: n,
        projection_apply_ms: proj_s * 1e3,
        projection_events_per_sec: n as f64 / proj_s,
        tailer_fold_ms: tail_s * 1e3,
        tailer_events_per_sec: n as f64 / tail_s,
        batch_apply_ms: batch_s * 1e3,
        batch_events_per_sec: n as f64 / batch_s,
        batch_compactions: stats.compactions,
        uncompacted_apply_ms: uncompacted_s * 1e3,
        uncompacted_events_per_sec: n as f64 / uncompacted_s,
        uncompacted_dead_quads: uncompacted_dead,
        graph_quads: quads,
        projection_events_per_sec_by_fifth: fifths,
        snapshot_restart_ready_ms: 0.0,
        snapshot_was_written: false,
    })
}

// ---------------------------------------------------------------------------------------

fn print_report(r: &Report) {
    println!("machine: {} (nproc {})", r.machine, r.nproc);
    println!(
        "load average (1 min) start / end: {:.2} / {:.2}",
        r.load_average[0], r.load_average[1]
    );
    println!(
        "load average by phase: {}",
        r.phase_load
            .iter()
            .map(|(p, l)| format!("{p} {l:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "data: {} products x {} resources, {} events applied in {:.1} s before the lag run\n",
        r.products, r.resources_per_product, r.populate_events, r.populate_secs
    );
    let l = &r.lag;
    println!(
        "projection lag: {:.0} commands/s x {} events (target {} events/s), {:.1} s measured, {} commands, {:.0} events/s committed, {} errors, {} not projected at the answer",
        l.commands_per_sec, l.events_per_command, l.target_events_per_sec, l.measured_secs, l.commands,
        l.achieved_events_per_sec, l.errors, l.not_projected_at_ack
    );
    println!("{:<44} {:>9} {:>9} {:>9}", "", "p50 ms", "p99 ms", "max ms");
    for (n, d) in [
        (
            "apply: sent -> answer (answer = projected)",
            &l.apply_latency,
        ),
        ("sent -> visible (first true ASK)", &l.send_to_visible),
        (
            "server: committed -> projected (sampled)",
            &l.server_commit_to_projected,
        ),
        ("driver: scheduled -> sent", &l.send_delay),
    ] {
        println!(
            "{n:<44} {:>9.2} {:>9.2} {:>9.2}",
            d.p50_ms, d.p99_ms, d.max_ms
        );
    }
    println!(
        "({} events in the log before; {} commands probed, {} ASKs sent, {} probes timed out; /api/cluster sampled every {:.2} ms on average, {} samples)\n",
        l.log_events_before, l.probed_commands, l.asks_sent, l.probes_timed_out, l.sample_interval_ms, l.samples
    );
    println!(
        "SPARQL overhead ({} quads, {} resources; medians of {} runs):",
        r.sparql.quads,
        r.sparql.resources,
        r.sparql.queries.first().map_or(0, |q| q.reps)
    );
    println!(
        "{:<38} {:>6} {:>10} {:>10} {:>10} {:>12} {:>14} {:>7} {:>9}",
        "query",
        "rows",
        "http ms",
        "server",
        "transport",
        "in-proc ms",
        "in-proc+json",
        "ratio",
        "vs+json"
    );
    for q in &r.sparql.queries {
        println!(
            "{:<38} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>12.3} {:>14.3} {:>7.2} {:>9.2}",
            q.name,
            q.rows,
            q.http_median_ms,
            q.server_median_ms,
            q.transport_median_ms,
            q.in_process_median_ms,
            q.in_process_with_json_median_ms,
            q.ratio,
            q.ratio_vs_json
        );
    }
    let b = &r.rebuild;
    println!("\ngraph rebuild:");
    println!(
        "  restart of picloud dev, graph snapshot deleted (full replay): {} events, ready in {:.0} ms = {:.0} events/s (first start, empty: {:.0} ms)",
        b.restart_events, b.restart_ready_ms, b.restart_events_per_sec, b.empty_start_ready_ms
    );
    println!(
        "  restart of picloud dev with its graph snapshot ({}): ready in {:.0} ms",
        if b.snapshot_was_written {
            "written at shutdown"
        } else {
            "none was written"
        },
        b.snapshot_restart_ready_ms
    );
    println!(
        "  in process: {} events, Projection::apply {:.0} ms = {:.0} events/s; decode + state + projection {:.0} ms = {:.0} events/s; Projection::apply_batch (512) {:.0} ms = {:.0} events/s; {} quads",
        b.in_process_events, b.projection_apply_ms, b.projection_events_per_sec, b.tailer_fold_ms, b.tailer_events_per_sec, b.batch_apply_ms, b.batch_events_per_sec, b.graph_quads
    );
    println!(
        "  side by side: Projection::apply with compaction off {:.0} ms = {:.0} events/s ({} dead quads left); apply_batch made {} compactions",
        b.uncompacted_apply_ms, b.uncompacted_events_per_sec, b.uncompacted_dead_quads, b.batch_compactions
    );
    println!(
        "  Projection::apply events/s over each fifth of the log: {}",
        b.projection_events_per_sec_by_fifth
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    for t in &r.targets {
        let m = match t.met {
            Some(true) => "MET    ",
            Some(false) => "NOT MET",
            None => "REPORT ",
        };
        println!("{m} {}: goal {}, measured {}", t.name, t.goal, t.measured);
    }
}
