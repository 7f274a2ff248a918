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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use picloud_domain::IriBuilder;
use picloud_http::{router, serve_tls_until, system_clock, AppState, ClusterCa};
use picloud_raft::{NodeConfig, RaftNode};
use tokio::net::TcpListener;

use crate::backend::{wait_for_leader, NodeHandle, RaftBackend};
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
    let app = router(AppState::new(
        Arc::clone(&dyn_backend),
        Arc::clone(&identity),
    ));
    crate::commands::identity::spawn_rotation(Arc::clone(&dyn_backend), Arc::clone(&identity));
    crate::commands::local_admin::spawn(
        data,
        Arc::clone(&dyn_backend),
        Arc::clone(&identity),
        picloud_domain::Name::parse(&crate::backend::node_name(NODE_ID))
            .map_err(|e| anyhow!("{e}"))?,
    )?;

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
    println!("  events          {} in the log", backend.folded());
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
