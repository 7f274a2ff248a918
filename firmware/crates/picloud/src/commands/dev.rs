//! `picloud dev`: a complete single-node cluster on a workstation.
//!
//! One [`RaftNode`] (its Raft listener on a free loopback port; a cluster of one needs no
//! peer traffic), the [`RaftBackend`] (product slice + projection over the node's event
//! store) and the HTTPS API. Under the data directory:
//!
//! ```text
//! <data>/lock          flock'ed while running; holds the pid of the holder
//! <data>/ca.pem        the cluster CA certificate (created at first start)
//! <data>/ca-key.pem    its private key (mode 0600)
//! <data>/cluster.kek   the key-encryption key sealing the signing keys and the CA key
//!                      in the log (mode 0600; see docs/identity.md)
//! <data>/node/         the Raft log and the event store (picloud-raft), and
//!                      graph.snapshot (the projection, see `graph_snapshot`)
//! ```
//!
//! The client profile (`$XDG_CONFIG_HOME/picloud/profile.json` + `ca.pem`, mode 0600) lets
//! the CLI find the cluster without flags, and `credentials.json` (mode 0600) makes the
//! local user the cluster's administrator (a client-credentials client, as k3s writes its
//! kubeconfig).
//!
//! At start, once the node leads, `picloud dev` commits `ClusterInitialized` and
//! `NodeJoined` for its node if the log does not record them yet (a new data directory, or
//! one written before they were recorded), so the cluster root (`GET /`) lists the node
//! like a multi-node cluster's. The cluster id is derived from the CA certificate (stable
//! for a data directory), the node id from the cluster id and the node number.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use picloud_domain::{IriBuilder, Name};
use picloud_events::payload::{ClusterInitializedV1, NodeJoinedV1, NodeRole};
use picloud_events::{
    encode_log, ClusterId, Envelope, EventId, EventPayload, NodeId, Sha256Digest,
};
use picloud_http::{random_correlation_id, serve_tls_until, system_clock, Backend, ClusterCa};
use picloud_projection::oxigraph::sparql::QueryResults;
use picloud_projection::GraphScope;
use picloud_raft::{ClientRequest, NodeConfig, Op, RaftNode};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::backend::{node_name, wait_for_leader, NodeHandle, RaftBackend};
use crate::cli_ext::DevArgs;
use crate::http_client::{config_dir, data_dir, write_private, Profile, CA_FILE, PROFILE_FILE};
use crate::{Outcome, UsageError};

const LOCK_FILE: &str = "lock";
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";
const NODE_DIR: &str = "node";
/// The dev cluster's only node.
const NODE_ID: u64 = 1;

/// Runs `picloud dev` until Ctrl-C or SIGTERM.
pub fn run(args: &DevArgs) -> Result<Outcome> {
    let data = match &args.data {
        Some(d) => d.clone(),
        None => data_dir()
            .map(|d| d.join("dev"))
            .ok_or_else(|| UsageError("no home directory: pass --data DIR".into()))?,
    };
    std::fs::create_dir_all(&data)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", data.display())))?;
    // Held until the process exits.
    let _lock = DevLock::acquire(&data)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(serve(args, &data))
}

/// An exclusive `flock` on `<data>/lock`, released when the process ends.
struct DevLock {
    _file: File,
}

impl DevLock {
    fn acquire(data: &Path) -> Result<DevLock> {
        let path = data.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        // `File::try_lock` is flock(LOCK_EX | LOCK_NB) on Unix (std since 1.89; the
        // pinned toolchain is newer than the declared MSRV).
        #[allow(clippy::incompatible_msrv)]
        let locked = file.try_lock();
        match locked {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    format!("process {holder}")
                };
                return Err(UsageError(format!(
                    "{} is in use: {who} is running `picloud dev` on it (stop it first, or pass \
                     another --data DIR)",
                    data.display()
                ))
                .into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("lock {}", path.display()))
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(DevLock { _file: file })
    }
}

/// Loads the CA from `data` (`ca.pem`, `ca-key.pem`), or creates and saves it there.
pub(crate) fn cluster_ca(data: &Path) -> Result<(ClusterCa, bool)> {
    let cert = data.join(CA_CERT);
    let key = data.join(CA_KEY);
    if cert.exists() && key.exists() {
        let c =
            std::fs::read_to_string(&cert).with_context(|| format!("read {}", cert.display()))?;
        let k = std::fs::read_to_string(&key).with_context(|| format!("read {}", key.display()))?;
        let ca = ClusterCa::from_pem(&c, &k).map_err(|e| anyhow!("the saved cluster CA: {e}"))?;
        return Ok((ca, false));
    }
    let ca = ClusterCa::generate().map_err(|e| anyhow!("create the cluster CA: {e}"))?;
    write_private(&key, ca.key_pem().as_bytes())?;
    write_private(&cert, ca.cert_pem().as_bytes())?;
    Ok((ca, true))
}

/// The URL clients use: a wildcard listen address is reached over loopback.
fn url_of(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("https://{addr}/")
}

/// Writes the client profile; returns its path.
fn write_profile(url: &str, ca: &ClusterCa) -> Result<Option<PathBuf>> {
    let Some(dir) = config_dir() else {
        return Ok(None);
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("create {}", dir.display()))?;
    }
    let ca_file = dir.join(CA_FILE);
    write_private(&ca_file, ca.cert_pem().as_bytes())?;
    let profile = Profile {
        cluster: url.to_owned(),
        ca_file,
        ca_fingerprint: Some(ca.fingerprint()),
    };
    let path = dir.join(PROFILE_FILE);
    write_private(&path, &serde_json::to_vec_pretty(&profile)?)?;
    Ok(Some(path))
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// The first 16 bytes of SHA-256 over `parts`.
fn id_bytes(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let digest: [u8; 32] = h.finalize().into();
    let mut out = [0u8; 16];
    out.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
    out
}

/// Commits `ClusterInitialized` and `NodeJoined` for the dev node, each only if the graph
/// (folded from the whole log by now) does not show it yet. Returns how many events it
/// committed. Runs before the API serves, so nothing else is appending.
async fn record_cluster(node: &RaftNode, backend: &RaftBackend, ca: &ClusterCa) -> Result<u64> {
    let iri = backend.iri();
    let me = Name::parse(&node_name(NODE_ID)).map_err(|e| anyhow!("node name: {e}"))?;
    let reader = backend.graph();
    let ask = |query: String| -> Result<bool> {
        match reader
            .query(&query, &GraphScope::Cluster)
            .map_err(|e| anyhow!("graph query: {e}"))?
        {
            QueryResults::Boolean(b) => Ok(b),
            _ => Err(anyhow!("graph query: not an ASK")),
        }
    };
    let ns = iri.ontology_namespace();
    let cluster = iri.cluster();
    let initialized = ask(format!(
        "PREFIX pc: <{ns}> ASK {{ <{cluster}> pc:clusterId ?id }}"
    ))?;
    let joined = ask(format!(
        "PREFIX pc: <{ns}> ASK {{ <{cluster}> pc:hasNode <{}> }}",
        iri.node(&me)
    ))?;
    let ca_digest: [u8; 32] = Sha256::digest(ca.cert_der().as_ref()).into();
    let cluster_id = id_bytes(&[b"picloud dev cluster", &ca_digest]);
    let mut payloads = Vec::new();
    if !initialized {
        payloads.push(EventPayload::ClusterInitializedV1(ClusterInitializedV1 {
            cluster_id: ClusterId::from_bytes(cluster_id),
            domain: iri.domain().clone(),
            ca_fingerprint: Sha256Digest(ca_digest),
        }));
    }
    if !joined {
        payloads.push(EventPayload::NodeJoinedV1(NodeJoinedV1 {
            node: me,
            node_id: NodeId::from_bytes(id_bytes(&[
                b"picloud dev node",
                &cluster_id,
                &NODE_ID.to_be_bytes(),
            ])),
            address: node.peer_info().addr,
            role: NodeRole::Voter,
        }));
    }
    if payloads.is_empty() {
        return Ok(0);
    }
    let correlation = random_correlation_id();
    let now = system_clock()().ok_or_else(|| anyhow!("the clock is unreadable"))?;
    let mut encoded = Vec::new();
    for (i, payload) in payloads.into_iter().enumerate() {
        let event = Envelope::new(
            &iri,
            EventId::derive(correlation, u32::try_from(i).unwrap_or(u32::MAX)),
            now,
            cluster.clone(),
            correlation,
            payload,
        )
        .map_err(|e| anyhow!("build the event: {e}"))?;
        encoded.push(encode_log(&event).map_err(|e| anyhow!("encode the event: {e}"))?);
    }
    let n = encoded.len();
    let expected = node.event_store().count_and_hash().0;
    let response = node
        .append(ClientRequest {
            client: u128::from_be_bytes(*random_correlation_id().as_bytes()),
            seq: 1,
            op: Op::AppendIf {
                expected_offset: expected,
                payloads: encoded,
            },
        })
        .await
        .map_err(|e| anyhow!("append: {e}"))?;
    if response.refused(expected, n) {
        return Err(anyhow!(
            "the log moved while the cluster's events were recorded; start again"
        ));
    }
    let count = u64::try_from(n).unwrap_or(u64::MAX);
    let last = response.first_offset + count - 1;
    if !backend.wait_projected(last).await {
        return Err(anyhow!(
            "the graph did not catch up with the cluster's events"
        ));
    }
    Ok(count)
}

async fn serve(args: &DevArgs, data: &Path) -> Result<Outcome> {
    let (ca, created) = cluster_ca(data)?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| UsageError(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener.local_addr()?;
    let tls = ca
        .server_tls(&[local.ip().to_string()])
        .map_err(|e| anyhow!("server certificate: {e}"))?;

    let mut config = NodeConfig::new(NODE_ID, data.join(NODE_DIR), "127.0.0.1:0");
    config.api_addr = Some(local.to_string());
    if let Some(n) = args.snapshot_every {
        config.raft.snapshot_policy = picloud_raft::openraft::SnapshotPolicy::LogsSinceLast(n);
    }
    let node = RaftNode::start(config)
        .await
        .map_err(|e| anyhow!("start the node: {e}"))?;
    let initialized = node
        .raft()
        .is_initialized()
        .await
        .map_err(|e| anyhow!("read the node's state: {e}"))?;
    if !initialized {
        let members = BTreeMap::from([(NODE_ID, node.peer_info())]);
        match node.initialize(members).await {
            // Refused: it already holds a log (initialised by an earlier run).
            Ok(()) | Err(picloud_raft::ClientError::Rejected { .. }) => {}
            Err(e) => return Err(anyhow!("form the single-node cluster: {e}")),
        }
    }
    if !wait_for_leader(&node, Duration::from_secs(15)).await {
        return Err(anyhow!("the single-node cluster elected no leader in 15 s"));
    }
    let node = Arc::new(node);
    let handle: Arc<dyn NodeHandle> = Arc::clone(&node) as Arc<dyn NodeHandle>;
    let backend = RaftBackend::start(
        handle,
        IriBuilder::default(),
        system_clock(),
        Some(ca.fingerprint()),
        Some(data.join(NODE_DIR)),
    )
    .await
    .map_err(|e| anyhow!("start the API backend: {e}"))?;
    let recorded = record_cluster(&node, &backend, &ca)
        .await
        .context("record the cluster and its node in the log")?;
    let kek = crate::commands::identity::load_or_create_kek(data)?;
    let identity = Arc::new(picloud_http::Identity::new(kek, system_clock()));
    let dyn_backend = Arc::clone(&backend) as Arc<dyn picloud_http::Backend>;
    let bootstrap = crate::commands::identity::ensure_initialised(
        dyn_backend.as_ref(),
        &identity,
        &ca,
        Vec::new(),
    )
    .await?;
    let app = crate::commands::identity::api_router(data, &dyn_backend, &identity, NODE_ID)?;

    let url = url_of(local);
    let profile = if args.no_profile {
        None
    } else {
        let stored = crate::auth::load_credentials(&url)?.map(|c| c.client_secret);
        let secret =
            crate::commands::identity::ensure_dev_admin(dyn_backend.as_ref(), &identity, stored)
                .await?;
        crate::auth::save_credentials(&url, crate::commands::identity::DEV_ADMIN_CLIENT, &secret)?;
        write_profile(&url, &ca)?
    };
    println!(
        "PiCloud dev cluster ready: one node, data in {}",
        data.display()
    );
    println!("  URL             {url}");
    println!("  CA fingerprint  {}", ca.fingerprint());
    println!(
        "  CA certificate  {}{}",
        data.join(CA_CERT).display(),
        if created { " (new)" } else { "" }
    );
    println!(
        "  events          {} in the log{}",
        backend.folded(),
        if recorded > 0 {
            " (ClusterInitialized / NodeJoined recorded now)"
        } else {
            ""
        }
    );
    match &bootstrap {
        Some(code) => println!(
            "  bootstrap code  {code} (single use, 15 minutes: enrol the first passkey at {url}portal/setup)"
        ),
        None => println!("  identity        initialised (OIDC discovery at {url}.well-known/openid-configuration)"),
    }
    match &profile {
        Some(p) => println!(
            "  client profile  {} (the CLI uses it without flags; you are its administrator \
             through credentials.json)",
            p.display()
        ),
        None => {
            println!("  client profile  not written: pass --cluster {url} --ca <CA certificate>")
        }
    }
    println!();
    println!("In another terminal:");
    println!("  picloud resource apply examples/photo-app");
    println!("  picloud events stream");
    println!("  picloud graph query --product photo-app 'SELECT ?s ?type WHERE {{ ?s a ?type }}'");
    println!(
        "  curl --cacert {} -H 'Accept: text/turtle' {url}products/photo-app",
        data.join(CA_CERT).display()
    );
    println!("Stop with Ctrl-C; the state is kept for the next start.");
    let _ = std::io::stdout().flush();

    let served = serve_tls_until(listener, app, tls, shutdown_signal()).await;
    eprintln!("stopping …");
    backend.close();
    drop(backend);
    let stopped = match Arc::try_unwrap(node) {
        Ok(n) => n.shutdown().await,
        Err(n) => n
            .raft()
            .shutdown()
            .await
            .map_err(|e| picloud_raft::NodeError::Fatal(e.to_string())),
    };
    served.context("the HTTPS server failed")?;
    stopped.map_err(|e| anyhow!("stop the node: {e}"))?;
    eprintln!("stopped; the state is in {}", data.display());
    Ok(Outcome::Success)
}
