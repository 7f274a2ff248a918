//! A server on a background runtime, and a curl wrapper.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;

use picloud_domain::{IriBuilder, Name, Resource};
use picloud_events::payload::GrantType;
use picloud_events::{ClientId, Timestamp};
use picloud_http::{
    router, serve_tls_until, AppState, Backend, Clock, ClusterCa, Identity, MemoryBackend,
};
use picloud_iam::decide::NewClient;
use picloud_iam::{Grant, Role};

/// The cluster key-encryption key of the test cluster.
pub const KEK: [u8; 32] = [7u8; 32];

/// The test clock starts here (ms since the epoch).
pub const T0: i64 = 1_795_794_861_000;

pub const PC: &str = "https://picloud.local/ontology#";
pub const CONTAINER: &str = "https://picloud.local/products/photo-app/containers/api-server";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// The resources of `examples/<dir>`, through the language's `check`.
pub fn example(dir: &str) -> Vec<Resource> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "picloud"))
        .collect();
    paths.sort();
    let files: Vec<picloud_lang::SourceFile> = paths
        .iter()
        .map(|p| {
            picloud_lang::SourceFile::new(
                p.display().to_string(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    picloud_lang::check(&files).unwrap().resources
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "picloud-http-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Server {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub ca_file: PathBuf,
    pub ca: ClusterCa,
    pub backend: Arc<MemoryBackend>,
    pub identity: Arc<Identity>,
    /// The clock every component reads (ms); tests move it.
    pub clock_ms: Arc<AtomicI64>,
    /// An access token of the `test-admin` client (platform admin).
    pub admin_token: String,
    /// The bootstrap code of the test cluster.
    #[allow(dead_code, reason = "used by the portal tests")]
    pub bootstrap_code: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    n: AtomicU32,
}

pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(ClusterCa::generate().unwrap())
    }

    pub fn start_with(ca: ClusterCa) -> Server {
        let dir = temp_dir();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        let clock_ms = Arc::new(AtomicI64::new(T0));
        let c = Arc::clone(&clock_ms);
        let clock: Clock =
            Arc::new(move || Timestamp::from_unix_millis(c.load(Ordering::SeqCst)).ok());
        let backend = Arc::new(
            MemoryBackend::new(IriBuilder::default(), clock.clone())
                .unwrap()
                .with_node(Name::parse("dev").unwrap())
                .with_ca_fingerprint(ca.fingerprint()),
        );
        let identity = Arc::new(Identity::new(KEK, clock));
        let bootstrap_code = init_identity(&backend, &identity, &ca);
        let admin_token = token_for(&backend, &identity, "test-admin");
        Self::serve(
            ca,
            dir,
            backend,
            identity,
            clock_ms,
            admin_token,
            bootstrap_code,
        )
    }

    /// Another node of the same cluster: a fresh `AppState` (nothing in memory) over the
    /// same log (backend) and clock, with the cluster key `kek` (the cluster's is [`KEK`]).
    /// Dropping a server and calling this is also what a restarted node looks like.
    #[allow(dead_code, reason = "used by the passkey tests")]
    pub fn peer(&self, kek: [u8; 32]) -> Server {
        let dir = temp_dir();
        let ca = ClusterCa::from_pem(self.ca.cert_pem(), self.ca.key_pem()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
        let c = Arc::clone(&self.clock_ms);
        let clock: Clock =
            Arc::new(move || Timestamp::from_unix_millis(c.load(Ordering::SeqCst)).ok());
        let identity = Arc::new(Identity::new(kek, clock));
        Self::serve(
            ca,
            dir,
            Arc::clone(&self.backend),
            identity,
            Arc::clone(&self.clock_ms),
            self.admin_token.clone(),
            self.bootstrap_code.clone(),
        )
    }

    fn serve(
        ca: ClusterCa,
        dir: PathBuf,
        backend: Arc<MemoryBackend>,
        identity: Arc<Identity>,
        clock_ms: Arc<AtomicI64>,
        admin_token: String,
        bootstrap_code: String,
    ) -> Server {
        let ca_file = dir.join("ca.pem");
        let tls = ca.server_tls(&[]).unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(backend.clone(), Arc::clone(&identity));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                serve_tls_until(listener, router(state), tls, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Server {
            addr,
            dir,
            ca_file,
            ca,
            backend,
            identity,
            clock_ms,
            admin_token,
            bootstrap_code,
            stop: Some(stop),
            thread: Some(thread),
            n: AtomicU32::new(0),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    fn file(&self, stem: &str) -> PathBuf {
        self.dir
            .join(format!("{stem}-{}", self.n.fetch_add(1, Ordering::Relaxed)))
    }

    /// Runs `curl` as the test administrator (see [`Server::curl_as`]).
    pub fn curl(&self, path: &str, args: &[&str]) -> Reply {
        let token = self.admin_token.clone();
        self.curl_as(Some(&token), path, args)
    }

    /// An access token for the client `client` (registered by [`init_identity`]).
    pub fn token(&self, client: &str) -> String {
        token_for(&self.backend, &self.identity, client)
    }

    /// Runs `curl -sS --cacert <ca> [-H 'Authorization: Bearer <token>'] <args…> <url>`
    /// and returns status, headers, body.
    pub fn curl_as(&self, token: Option<&str>, path: &str, args: &[&str]) -> Reply {
        let auth = token.map(|t| format!("Authorization: Bearer {t}"));
        let headers_file = self.file("headers");
        let body_file = self.file("body");
        let out = Command::new("curl")
            .arg("-sS")
            .arg("--cacert")
            .arg(&self.ca_file)
            .arg("-D")
            .arg(&headers_file)
            .arg("-o")
            .arg(&body_file)
            .arg("-w")
            .arg("%{http_code}")
            .args(auth.iter().flat_map(|a| ["-H", a.as_str()]))
            .args(args)
            .arg(self.url(path))
            .output()
            .expect("curl runs");
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let raw = std::fs::read_to_string(&headers_file).unwrap();
        let headers = raw
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let body = std::fs::read_to_string(&body_file).unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str, accept: &str) -> Reply {
        self.curl(path, &["-H", &format!("Accept: {accept}")])
    }

    pub fn post(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let f = self.file("req");
        std::fs::write(&f, body).unwrap();
        self.curl(
            path,
            &[
                "-X",
                "POST",
                "-H",
                &format!("Content-Type: {content_type}"),
                "--data-binary",
                &format!("@{}", f.display()),
            ],
        )
    }

    pub fn apply(&self, resources: &[Resource], key: Option<&str>) -> Reply {
        let mut req = serde_json::json!({ "resources": resources });
        if let Some(k) = key {
            req["idempotencyKey"] = serde_json::Value::String(k.to_owned());
        }
        self.post("/api/apply", "application/json", &req.to_string())
    }

    pub fn apply_photo_app(&self) -> serde_json::Value {
        let r = self.apply(&example("photo-app"), None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    pub fn ca_path(&self) -> &Path {
        &self.ca_file
    }
}

fn client(id: &str, product: Option<&str>, role: Role, secret: &str) -> NewClient {
    NewClient {
        client_id: ClientId::new(id).unwrap(),
        product: product.map(|p| Name::parse(p).unwrap()),
        secret_hash: Some(picloud_http::identity::digest(secret)),
        redirect_uris: vec!["https://app.example/cb".into()],
        grant_types: vec![
            GrantType::ClientCredentials,
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
        ],
        identity: Some(Name::parse(id).unwrap()),
        roles: vec![role],
    }
}

fn role(product: Option<&str>, role: &str) -> Role {
    Role {
        product: product.map(|p| Name::parse(p).unwrap()),
        role: Name::parse(role).unwrap(),
    }
}

/// The secret of every test client is `<client>-secret`.
pub fn secret(client: &str) -> String {
    format!("{client}-secret")
}

/// `cluster init` for the test cluster: the CA, a signing key, the CLI and portal
/// clients, and four clients: `test-admin` (admin), `test-reader` (reader), `photo-app`
/// (role `app` in photo-app), `other-app` (role `app` in other-app). Returns the
/// bootstrap code.
fn init_identity(backend: &MemoryBackend, identity: &Identity, ca: &ClusterCa) -> String {
    let clients = vec![
        client(
            "test-admin",
            None,
            role(None, "admin"),
            &secret("test-admin"),
        ),
        client(
            "test-reader",
            None,
            role(None, "reader"),
            &secret("test-reader"),
        ),
        client(
            "photo-app",
            Some("photo-app"),
            role(Some("photo-app"), "app"),
            &secret("photo-app"),
        ),
        client(
            "other-app",
            Some("other-app"),
            role(Some("other-app"), "app"),
            &secret("other-app"),
        ),
    ];
    let (command, code) = identity
        .initialise(ca.cert_der(), ca.key_pem(), clients)
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let decided = rt
        .block_on(backend.submit_iam(command, picloud_http::random_correlation_id()))
        .unwrap()
        .unwrap();
    assert!(decided.refusal.is_none());
    code
}

/// An access token for the workload identity of `client`, minted directly.
pub fn token_for(backend: &MemoryBackend, identity: &Identity, client: &str) -> String {
    let grant = Grant {
        identity: Name::parse(client).unwrap(),
        client_id: ClientId::new(client).unwrap(),
        scope: String::new(),
        nonce: None,
        refresh: false,
    };
    identity
        .mint(backend, &grant, None, false)
        .unwrap()
        .access_token
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `POST path` with a form body, as the client `auth` (`(id, secret)`, HTTP Basic) or
/// without client authentication.
pub fn form(s: &Server, path: &str, auth: Option<(&str, &str)>, body: &str) -> Reply {
    let mut args = vec![
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "--data",
        body,
    ];
    let user;
    if let Some((id, pw)) = auth {
        user = format!("{id}:{pw}");
        args.extend(["-u", user.as_str()]);
    }
    s.curl_as(None, path, &args)
}

/// `POST path` with a JSON body, with a bearer `token` or none.
pub fn post_json(s: &Server, token: Option<&str>, path: &str, body: &str) -> Reply {
    s.curl_as(
        token,
        path,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            body,
        ],
    )
}
