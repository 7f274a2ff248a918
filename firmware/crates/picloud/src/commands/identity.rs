//! Identity at the node: the key-encryption key file, `cluster init` of the identity
//! slice (CA, signing key, bootstrap code, platform clients), and the dev administrator's
//! client credential.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use picloud_domain::Name;
use picloud_events::payload::GrantType;
use picloud_events::ClientId;
use picloud_http::identity::digest;
use picloud_http::{random_correlation_id, Backend, ClusterCa, Identity};
use picloud_iam::decide::NewClient;
use picloud_iam::{Command, Rejection, Role};

use crate::http_client::write_private;

/// The key-encryption key's file name (32 raw bytes, mode 0600).
pub const KEK_FILE: &str = "cluster.kek";
/// The client id of `picloud dev`'s local administrator.
pub const DEV_ADMIN_CLIENT: &str = "picloud-dev-admin";

/// Loads the KEK from `dir`, or creates it there (mode 0600).
pub fn load_or_create_kek(dir: &Path) -> Result<[u8; 32]> {
    let path = dir.join(KEK_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("{} is not a 32-byte key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kek = Identity::generate_kek().map_err(|e| anyhow!("{e}"))?;
            write_private(&path, &kek)?;
            Ok(kek)
        }
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Initialises the identity slice if the log has none yet: returns the bootstrap code
/// when this call did it, `None` when it was already done (by this node or another).
pub async fn ensure_initialised(
    backend: &dyn Backend,
    identity: &Identity,
    ca: &ClusterCa,
    clients: Vec<NewClient>,
) -> Result<Option<String>> {
    if backend.iam().initialised() {
        return Ok(None);
    }
    let (command, code) = identity
        .initialise(ca.cert_der(), ca.key_pem(), clients)
        .map_err(|e| anyhow!("{e}"))?;
    match backend.submit_iam(command, random_correlation_id()).await {
        Ok(Ok(_)) => Ok(Some(code)),
        Ok(Err(Rejection::AlreadyInitialised)) => Ok(None),
        Ok(Err(r)) => Err(anyhow!("identity init refused: {r}")),
        Err(e) => Err(anyhow!("identity init: {e}")),
    }
}

/// The client id of a node's local administrator (`picloud node --admin-credential`).
pub const NODE_ADMIN_CLIENT: &str = "picloud-node-admin";

/// `picloud node --api`: initialises identity once the cluster has a leader (retrying
/// every second), prints the bootstrap code on this node's console, and with
/// `admin_credential` writes the node-local administrator credential there (mode 0600).
pub fn spawn_initialiser(
    backend: Arc<dyn Backend>,
    identity: Arc<Identity>,
    ca: Arc<ClusterCa>,
    portal: String,
    admin_credential: Option<std::path::PathBuf>,
) {
    tokio::spawn(async move {
        loop {
            match ensure_initialised(backend.as_ref(), &identity, &ca, Vec::new()).await {
                Ok(Some(code)) => {
                    print_bootstrap(&code, &portal, &ca);
                    super::local_admin::bootstrap_file::issued(backend.as_ref(), &identity, &code);
                    break;
                }
                Ok(None) => break,
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
        let Some(path) = admin_credential else { return };
        loop {
            match write_admin_credential(backend.as_ref(), &identity, &path).await {
                Ok(()) => {
                    println!(
                        "administrator credential written to {} (mode 0600)",
                        path.display()
                    );
                    return;
                }
                Err(e) => {
                    eprintln!("warning: the administrator credential: {e:#}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

async fn write_admin_credential(
    backend: &dyn Backend,
    identity: &Identity,
    path: &Path,
) -> Result<()> {
    let stored = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<crate::auth::Credential>(&b).ok())
        .map(|c| c.client_secret);
    let secret =
        ensure_admin_client(backend, identity, NODE_ADMIN_CLIENT, "node-admin", stored).await?;
    let cred = crate::auth::Credential {
        client_id: NODE_ADMIN_CLIENT.into(),
        client_secret: secret,
    };
    write_private(path, &serde_json::to_vec_pretty(&cred)?)
}

/// Prints the bootstrap code and the trust path on the console.
pub fn print_bootstrap(code: &str, portal: &str, ca: &ClusterCa) {
    println!("identity initialised: no administrator yet");
    println!("  bootstrap code  {code} (single use, valid 15 minutes)");
    println!("  CA fingerprint  {}", ca.fingerprint());
    println!("  setup portal    {portal}portal/setup (compare the fingerprint first)");
}

/// `picloud dev`: makes sure the local administrator client exists with the secret in
/// `stored` (registering or re-keying it). Returns the secret to store.
pub async fn ensure_dev_admin(
    backend: &dyn Backend,
    identity: &Identity,
    stored: Option<String>,
) -> Result<String> {
    ensure_admin_client(backend, identity, DEV_ADMIN_CLIENT, "dev-admin", stored).await
}

/// Makes sure the administrator client `client` (workload identity `who`, platform role
/// admin) exists with the secret `stored`, registering or re-keying it. Returns the secret.
pub async fn ensure_admin_client(
    backend: &dyn Backend,
    identity: &Identity,
    client: &str,
    who: &str,
    stored: Option<String>,
) -> Result<String> {
    let id = ClientId::new(client).map_err(|e| anyhow!("{e}"))?;
    let current = backend.iam().clients.get(&id).and_then(|c| c.secret_hash);
    if let (Some(s), Some(h)) = (&stored, current) {
        if digest(s) == h {
            return Ok(s.clone());
        }
    }
    let secret = identity.secret().map_err(|e| anyhow!("{e}"))?;
    let name = |s: &str| Name::parse(s).map_err(|e| anyhow!("{e}"));
    let command = Command::RegisterClient(NewClient {
        client_id: id,
        product: None,
        secret_hash: Some(digest(&secret)),
        redirect_uris: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        identity: Some(name(who)?),
        roles: vec![Role {
            product: None,
            role: name("admin")?,
        }],
    });
    match backend.submit_iam(command, random_correlation_id()).await {
        Ok(Ok(_)) => Ok(secret),
        Ok(Err(r)) => Err(anyhow!(
            "registering the dev administrator was refused: {r}"
        )),
        Err(e) => Err(anyhow!("registering the dev administrator: {e}")),
    }
}

/// The HTTPS API's router over `backend` and `identity`, with the node's identity work
/// started beside it: signing-key rotation ([`spawn_rotation`]) and the local
/// administrator socket under `data` for the node `node_id`
/// ([`crate::commands::local_admin::spawn`]).
pub fn api_router(
    data: &Path,
    backend: &Arc<dyn Backend>,
    identity: &Arc<Identity>,
    node_id: u64,
) -> Result<axum::Router> {
    let app = picloud_http::router(picloud_http::AppState::new(
        Arc::clone(backend),
        Arc::clone(identity),
    ));
    spawn_rotation(Arc::clone(backend), Arc::clone(identity));
    crate::commands::local_admin::spawn(
        data,
        Arc::clone(backend),
        Arc::clone(identity),
        Name::parse(&crate::backend::node_name(node_id)).map_err(|e| anyhow!("{e}"))?,
    )?;
    Ok(app)
}

/// Rotates the token-signing key on its schedule (checked hourly; the core rotates only
/// when `rotation_due`, so nodes racing here rotate once).
pub fn spawn_rotation(backend: Arc<dyn Backend>, identity: Arc<Identity>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            let Ok(now) = identity.now() else { continue };
            if !picloud_iam::decide::rotation_due(&backend.iam(), now) {
                continue;
            }
            let Ok(key) = identity.new_key() else {
                continue;
            };
            let command = Command::RotateSigningKey {
                key,
                only_if_due: true,
            };
            match backend.submit_iam(command, random_correlation_id()).await {
                Ok(Ok(d)) if !d.events.is_empty() => println!("token-signing key rotated"),
                Ok(_) => {}
                Err(e) => eprintln!("warning: rotating the token-signing key: {e}"),
            }
        }
    });
}
