//! A small HTTPS client for the CLI: hyper's HTTP/1.1 client connection over tokio-rustls,
//! trusting only the cluster CA, on a current-thread runtime. One connection per request.
//!
//! Where it connects: `--cluster` / `PICLOUD_CLUSTER`, else the client profile written by
//! `picloud dev` (`$XDG_CONFIG_HOME/picloud/profile.json`, or `~/.config/picloud/…`).
//! Which CA it trusts: `--ca FILE` / `PICLOUD_CA`, else the profile's `ca.pem`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use picloud_api::ErrorBody;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::UsageError;

/// File name of the client profile in the config directory.
pub const PROFILE_FILE: &str = "profile.json";
/// File name of the cluster CA certificate in the config directory.
pub const CA_FILE: &str = "ca.pem";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client profile (`profile.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The cluster's base URL (`https://127.0.0.1:8443/`).
    pub cluster: String,
    /// The CA certificate file (PEM).
    pub ca_file: PathBuf,
    /// The CA's SHA-256 fingerprint, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_fingerprint: Option<String>,
}

fn env_dir(var: &str, home_rel: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() && Path::new(&v).is_absolute() => Some(PathBuf::from(v)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(home_rel)),
    }
}

/// `$XDG_CONFIG_HOME/picloud`, or `~/.config/picloud`.
pub fn config_dir() -> Option<PathBuf> {
    env_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("picloud"))
}

/// `$XDG_DATA_HOME/picloud`, or `~/.local/share/picloud`.
pub fn data_dir() -> Option<PathBuf> {
    env_dir("XDG_DATA_HOME", ".local/share").map(|d| d.join("picloud"))
}

/// Reads the profile, if there is one.
pub fn load_profile() -> Result<Option<Profile>> {
    let Some(dir) = config_dir() else {
        return Ok(None);
    };
    let path = dir.join(PROFILE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a PiCloud client profile", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Writes `bytes` to `path` with mode 0600 (atomically: a temporary file renamed).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Whether the cluster the CLI would talk to is an HTTPS URL (given explicitly, or from
/// the profile when none is given).
pub fn is_https(cluster: Option<&str>) -> bool {
    match cluster {
        Some(c) => c.starts_with("https://"),
        None => load_profile().ok().flatten().is_some(),
    }
}

/// A cluster endpoint to talk HTTPS to.
#[derive(Clone)]
pub struct Target {
    host: String,
    port: u16,
    base_path: String,
    tls: TlsConnector,
    server_name: ServerName<'static>,
    url: String,
    /// The bearer token, fetched once per command (see `crate::auth`).
    bearer: Arc<tokio::sync::OnceCell<Option<String>>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("url", &self.url).finish()
    }
}

/// A response whose body has been read.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The JSON body, or the server's error message.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        if !self.status.is_success() {
            bail!("{}", self.error_message());
        }
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "the cluster answered something unexpected: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The server's error message (from an [`ErrorBody`]), or the status.
    pub fn error_message(&self) -> String {
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(e)
                if self.status == StatusCode::UNAUTHORIZED
                    && !e.message.contains("picloud login") =>
            {
                format!(
                    "{} ({}); log in with `picloud login` (or set PICLOUD_TOKEN)",
                    e.message, self.status
                )
            }
            Ok(e) => format!("{} ({})", e.message, self.status),
            Err(_) => format!(
                "the cluster answered {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body).trim()
            ),
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `id:` (the log offset).
    pub id: Option<String>,
    /// `data:` lines joined by `\n`.
    pub data: String,
}

impl Target {
    /// The target named by `cluster` (or the profile) trusting `ca` (or the profile's CA).
    pub fn resolve(cluster: Option<&str>, ca: Option<&Path>) -> Result<Target> {
        let profile = load_profile()?;
        let url = match (cluster, &profile) {
            (Some(c), _) => c.to_owned(),
            (None, Some(p)) => p.cluster.clone(),
            (None, None) => {
                return Err(UsageError(
                    "no cluster to talk to: start one with `picloud dev` (it writes a client \
                     profile), or pass --cluster https://HOST:PORT/ and --ca FILE"
                        .into(),
                )
                .into())
            }
        };
        let saved = saved_ca_path(&url).filter(|p| p.is_file());
        let ca_file = match (ca, &profile, saved) {
            (Some(f), _, _) => f.to_path_buf(),
            (None, Some(p), _) if same_cluster(&p.cluster, &url) => p.ca_file.clone(),
            // Trusted at first contact (`picloud cluster … --ca-fingerprint`).
            (None, _, Some(saved)) => saved,
            (None, Some(p), None) => p.ca_file.clone(),
            (None, None, None) => {
                return Err(UsageError(format!(
                    "no CA to trust for {url}: pass --ca FILE (or set PICLOUD_CA), or trust the \
                     node's CA by its fingerprint with `picloud cluster status --cluster {url} \
                     --ca-fingerprint SHA256`"
                ))
                .into())
            }
        };
        let pem = std::fs::read(&ca_file)
            .map_err(|e| UsageError(format!("cannot read the CA {}: {e}", ca_file.display())))?;
        Self::new(&url, &pem)
    }

    /// The target at `url` (`https://HOST:PORT/[base]`) trusting the CA in `ca_pem`.
    pub fn new(url: &str, ca_pem: &[u8]) -> Result<Target> {
        let mut roots = rustls::RootCertStore::empty();
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| anyhow!("the CA file is not PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| anyhow!("the CA certificate is not usable: {e}"))?;
            n += 1;
        }
        if n == 0 {
            bail!("the CA file holds no certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::with_config(url, config)
    }

    /// **First contact only**: the target at `url` without verifying its certificate, for
    /// fetching the public `/ca.pem` whose fingerprint the user then compares. Nothing but
    /// `/ca.pem` may be asked through it.
    pub fn unverified_for_ca(url: &str) -> Result<Target> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("TLS setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_no_client_auth();
        Self::with_config(url, config)
    }

    fn with_config(url: &str, config: rustls::ClientConfig) -> Result<Target> {
        let rest = url.strip_prefix("https://").ok_or_else(|| {
            UsageError(format!(
                "--cluster {url}: this command talks HTTPS; give the URL as https://HOST:PORT/"
            ))
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']').to_owned(),
                p.parse::<u16>()
                    .map_err(|_| UsageError(format!("--cluster {url}: bad port `{p}`")))?,
            ),
            _ => (authority.to_owned(), 443),
        };
        if host.is_empty() {
            return Err(UsageError(format!("--cluster {url}: no host")).into());
        }
        let server_name = ServerName::try_from(host.clone())
            .map_err(|e| UsageError(format!("--cluster {url}: {e}")))?;
        Ok(Target {
            base_path: path.trim_end_matches('/').to_owned(),
            host,
            port,
            tls: TlsConnector::from(Arc::new(config)),
            server_name,
            url: url.to_owned(),
            bearer: Arc::default(),
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bearer token every authenticated request sends (see `crate::auth`).
    pub async fn bearer(&self) -> Result<Option<String>> {
        self.bearer
            .get_or_try_init(|| async {
                Ok::<_, anyhow::Error>(crate::auth::bearer(self).await?.map(|(t, _)| t))
            })
            .await
            .cloned()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<hyper::Response<Incoming>> {
        let token = self.bearer().await?;
        self.send_with(method, path, accept, body, token.as_deref())
            .await
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
        token: Option<&str>,
    ) -> Result<hyper::Response<Incoming>> {
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| anyhow!("cannot reach the cluster at {}: timed out", self.url))?
        .with_context(|| format!("cannot reach the cluster at {}", self.url))?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS with {} failed (is --ca the cluster's CA?)", self.url))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let authority = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_path))
            .header(hyper::header::HOST, authority)
            .header(hyper::header::ACCEPT, accept)
            .header(
                hyper::header::USER_AGENT,
                concat!("picloud/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let payload = match body {
            Some((ct, bytes)) => {
                req = req.header(hyper::header::CONTENT_TYPE, ct);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload)).context("build the request")?;
        sender
            .send_request(req)
            .await
            .with_context(|| format!("request to {} failed", self.url))
    }

    /// A request without a bearer token (the OAuth endpoints), whole body read.
    pub async fn call_unauthenticated(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Reply> {
        read_reply(self.send_with(method, path, accept, body, None).await?).await
    }

    /// A request whose whole body is read.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Reply> {
        read_reply(self.send(method, path, accept, body).await?).await
    }

    /// `GET path` as JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, "application/json", None)
            .await?
            .json()
    }

    /// `POST path` with a JSON body; the raw reply.
    pub async fn post_json<B: Serialize>(&self, path: &str, body: &B) -> Result<Reply> {
        let bytes = serde_json::to_vec(body)?;
        self.call(
            Method::POST,
            path,
            "application/json",
            Some(("application/json", bytes)),
        )
        .await
    }

    /// Reads the server-sent events of `path`, calling `on_event` for each until it
    /// returns `false` or the stream ends.
    pub async fn sse(
        &self,
        path: &str,
        mut on_event: impl FnMut(SseEvent) -> Result<bool>,
    ) -> Result<()> {
        let resp = self
            .send(Method::GET, path, "text/event-stream", None)
            .await?;
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .context("read the response")?
                .to_bytes();
            bail!(
                "{}",
                Reply {
                    status,
                    body: bytes
                }
                .error_message()
            );
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut current = SseEvent::default();
        let mut has_data = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.context("the event stream broke")?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if has_data && !on_event(std::mem::take(&mut current))? {
                        return Ok(());
                    }
                    current = SseEvent::default();
                    has_data = false;
                    continue;
                }
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = match line.split_once(':') {
                    Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                    None => (line, ""),
                };
                match field {
                    "id" => current.id = Some(value.to_owned()),
                    "data" => {
                        if has_data {
                            current.data.push('\n');
                        }
                        current.data.push_str(value);
                        has_data = true;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// A response with its whole body read.
async fn read_reply(resp: hyper::Response<Incoming>) -> Result<Reply> {
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .context("read the response")?
        .to_bytes();
    Ok(Reply { status, body })
}

/// Accepts any server certificate: used only to fetch `/ca.pem` at first contact, whose
/// content is then checked against the fingerprint the user gives (signatures are still
/// verified, so the handshake itself is sound).
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

/// rustls's handshake-signature check for one TLS version.
type VerifySignature = fn(
    &[u8],
    &CertificateDer<'_>,
    &rustls::DigitallySignedStruct,
    &rustls::crypto::WebPkiSupportedAlgorithms,
)
    -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error>;

impl AnyServer {
    /// Checks a handshake signature with `check` and the provider's algorithms: the
    /// server's certificate is accepted unverified, its signatures never are.
    fn verify(
        &self,
        check: VerifySignature,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        check(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
}

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.verify(rustls::crypto::verify_tls12_signature, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.verify(rustls::crypto::verify_tls13_signature, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `https://HOST:PORT/...` → `HOST:PORT` (lower case; port 443 when absent).
fn authority(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let auth = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    if auth.is_empty() {
        return None;
    }
    let has_port = match auth.rsplit_once(':') {
        Some((h, p)) => !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with('['),
        None => false,
    };
    Some(if has_port && !auth.ends_with(']') {
        auth
    } else {
        format!("{auth}:443")
    })
}

/// Whether two cluster URLs name the same HTTPS endpoint (host and port).
pub fn same_cluster(a: &str, b: &str) -> bool {
    matches!((authority(a), authority(b)), (Some(x), Some(y)) if x == y)
}

/// Where the CA trusted at first contact with `url` is saved:
/// `<config>/cas/<host>_<port>.pem`.
pub fn saved_ca_path(url: &str) -> Option<PathBuf> {
    let auth = authority(url)?;
    let file: String = auth
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    config_dir().map(|d| d.join("cas").join(format!("{file}.pem")))
}

/// Percent-encodes a query-string value.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A current-thread runtime for one CLI command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")
}
