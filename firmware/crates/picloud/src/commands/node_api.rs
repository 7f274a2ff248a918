//! `picloud node --api ADDR`: the node also serves the HTTPS API, backed by a
//! [`RaftBackend`] over its own Raft node, so every node answers every IRI and SPARQL
//! query from its local projection (after the projection lag) and takes commands (decided
//! locally, committed through the leader with a conditional append).

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use picloud_domain::IriBuilder;
use picloud_http::{serve_tls_until, system_clock, Backend, ClusterCa};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backend::{NodeHandle, RaftBackend};
use crate::commands::dev::cluster_ca;
use crate::UsageError;

/// The running HTTPS API of a node.
pub struct NodeApi {
    backend: Arc<RaftBackend>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for NodeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeApi").finish_non_exhaustive()
    }
}

/// Starts the API on `addr` with the CA under `ca_dir` (created there if missing); graph
/// snapshots go to the node's `data` directory.
pub async fn start(
    handle: Arc<dyn NodeHandle>,
    addr: &str,
    ca_dir: &Path,
    data: &Path,
    admin_credential: Option<&Path>,
) -> Result<NodeApi> {
    std::fs::create_dir_all(ca_dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", ca_dir.display())))?;
    let (ca, _) = cluster_ca(ca_dir)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| UsageError(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    let tls = ca
        .server_tls(&[local.ip().to_string()])
        .map_err(|e| anyhow!("server certificate: {e}"))?;
    let node_id = handle.node().id();
    let backend = RaftBackend::start(
        handle,
        IriBuilder::default(),
        system_clock(),
        Some(ca.fingerprint()),
        Some(data.to_path_buf()),
    )
    .await
    .map_err(|e| anyhow!("start the API backend: {e}"))?;
    backend.set_node_ca_pem(ca.cert_pem().to_owned());
    let kek = crate::commands::identity::load_or_create_kek(ca_dir)?;
    let identity = Arc::new(picloud_http::Identity::new(kek, system_clock()));
    let dyn_backend = Arc::clone(&backend) as Arc<dyn Backend>;
    let app = crate::commands::identity::api_router(data, &dyn_backend, &identity, node_id)?;
    crate::commands::identity::spawn_initialiser(
        dyn_backend,
        identity,
        Arc::new(ClusterCa::from_pem(ca.cert_pem(), ca.key_pem()).map_err(|e| anyhow!("{e}"))?),
        format!("https://{local}/"),
        admin_credential.map(Path::to_path_buf),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_tls_until(listener, app, tls, async move {
        let _ = stopped.await;
    }));
    println!(
        "HTTPS API on https://{local}/ (CA fingerprint {})",
        ca.fingerprint()
    );
    Ok(NodeApi {
        backend,
        stop: Some(stop),
        server,
    })
}

impl NodeApi {
    /// Stops accepting, ends event streams and lets go of the node.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.server).await;
        self.backend.close();
    }
}
