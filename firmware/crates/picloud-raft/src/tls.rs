//! Mutual TLS for the node-to-node transport (rustls, ring provider).
//!
//! A node holds three PEM files (see [`NodeTls::from_dir`]): the cluster CA
//! certificate, its own certificate (issued by that CA, with the node's name
//! and addresses in the subjectAltName, usable for both server and client
//! authentication) and its private key. With them:
//!
//! - as a **server**, a node requires every connecting peer to present a
//!   certificate chaining to the cluster CA (no certificate, another CA, an
//!   expired certificate: the handshake is refused);
//! - as a **client**, a node verifies the peer's certificate against the
//!   cluster CA and the address it dialled (an IP address must be an IP SAN,
//!   a host name a DNS SAN), and presents its own certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::TransportError;

/// The CA certificate file in a TLS directory.
pub const CA_FILE: &str = "ca.pem";
/// The node certificate file (leaf first; intermediates may follow).
pub const CERT_FILE: &str = "node.pem";
/// The node's private key file (PKCS#8, SEC1 or PKCS#1 PEM).
pub const KEY_FILE: &str = "node.key";

/// A node's TLS configurations (server and client side), cheap to clone.
#[derive(Clone)]
pub struct NodeTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls").finish_non_exhaustive()
    }
}

impl PartialEq for NodeTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.server, &other.server) && Arc::ptr_eq(&self.client, &other.client)
    }
}
impl Eq for NodeTls {}

fn setup(what: impl Into<String>, reason: impl std::fmt::Display) -> TransportError {
    TransportError::TlsSetup {
        what: what.into(),
        reason: reason.to_string(),
    }
}

impl NodeTls {
    /// Reads `ca.pem`, `node.pem` and `node.key` from `dir`.
    pub fn from_dir(dir: &Path) -> Result<NodeTls, TransportError> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(|e| setup(p.display().to_string(), e))
        };
        let ca = read(CA_FILE)?;
        let cert = read(CERT_FILE)?;
        let key = read(KEY_FILE)?;
        NodeTls::from_pem(&ca, &cert, &key).map_err(|e| match e {
            TransportError::TlsSetup { what, reason } => TransportError::TlsSetup {
                what: format!("{}: {what}", dir.display()),
                reason,
            },
            other => other,
        })
    }

    /// From PEM text: the CA certificate(s), the node's chain (leaf first) and its key.
    pub fn from_pem(
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<NodeTls, TransportError> {
        let cas = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| setup(CA_FILE, e))?;
        if cas.is_empty() {
            return Err(setup(CA_FILE, "no certificate in the file"));
        }
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| setup(CERT_FILE, e))?;
        if chain.is_empty() {
            return Err(setup(CERT_FILE, "no certificate in the file"));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| setup(KEY_FILE, e))?;
        NodeTls::from_der(cas, chain, key)
    }

    /// From DER: CA certificates, the node's chain (leaf first) and its key.
    pub fn from_der(
        cas: Vec<CertificateDer<'static>>,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<NodeTls, TransportError> {
        let mut roots = RootCertStore::empty();
        for c in cas {
            roots.add(c).map_err(|e| setup(CA_FILE, e))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
                .build()
                .map_err(|e| setup("client verifier", e))?;
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| setup("server config", e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| setup("node certificate and key", e))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| setup("client config", e))?
            .with_root_certificates(Arc::clone(&roots))
            .with_client_auth_cert(chain, key)
            .map_err(|e| setup("node certificate and key", e))?;
        Ok(NodeTls {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// The rustls server configuration (client certificates required).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.server)
    }

    /// The rustls client configuration (presents the node certificate).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.client)
    }
}

/// The name a peer's certificate must carry when dialled at `addr`
/// (`host:port`, `[v6]:port`): an IP address or a DNS name.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, TransportError> {
    let host = match addr.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() => h,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| TransportError::Tls {
        addr: addr.to_string(),
        reason: format!("{host:?} is not a valid server name: {e}"),
        rustls: None,
    })
}

/// Maps an I/O error out of a tokio-rustls handshake to [`TransportError::Tls`],
/// keeping the rustls error when there is one.
pub fn handshake_error(addr: &str, e: std::io::Error) -> TransportError {
    let rustls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    TransportError::Tls {
        addr: addr.to_string(),
        reason: rustls
            .as_ref()
            .map_or_else(|| e.to_string(), |r| r.to_string()),
        rustls,
    }
}
