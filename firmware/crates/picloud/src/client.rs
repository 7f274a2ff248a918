//! A pipelined async client for `picloud node` (see [`crate::api`]).
//!
//! - [`Connection`]: one TCP connection to one node; many requests may be in flight.
//! - [`Client`]: a list of node addresses; it keeps one connection and moves to the next
//!   address when a call fails at the transport level.
//! - [`Session`]: exactly-once appends. Each session has a random id and a sequence number;
//!   a failed append is retried with the **same** `(client, seq)` until it succeeds or the
//!   deadline passes, so the cluster applies it at most once. One append in flight per
//!   session (the state machine treats a lower seq than the last applied one as a retry).

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picloud_raft::{ClientError, ClientResponse};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::api::{self, ApiRequest, ApiResponse, Frame, Hello, Status};

/// Transport-level failures of one call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Could not connect.
    #[error("cannot reach {addr}: {reason}")]
    Connect {
        /// Node address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The connection broke before the answer came.
    #[error("connection to {addr} closed")]
    Closed {
        /// Node address.
        addr: String,
    },
    /// No answer within the deadline.
    #[error("no answer from {addr} within {ms} ms")]
    Timeout {
        /// Node address.
        addr: String,
        /// The deadline.
        ms: u64,
    },
    /// The node answered something that does not fit the request.
    #[error("unexpected answer from {addr}")]
    Unexpected {
        /// Node address.
        addr: String,
    },
    /// The request could not be encoded.
    #[error("request: {0}")]
    Encode(String),
}

/// Errors of [`Session::append`] and the other typed calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The cluster refused or failed the request.
    #[error("{0}")]
    Cluster(#[from] ClientError),
    /// The node could not be reached or did not answer.
    #[error("{0}")]
    Call(#[from] CallError),
    /// The deadline passed while retrying: the append may or may not have been applied
    /// (it is applied at most once).
    #[error("gave up after {attempts} attempts: {last}")]
    Indeterminate {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: String,
    },
}

/// An answer and when its frame was decoded (`PICLOUD_TRACE_WRITES=1` only).
type Answer = (ApiResponse, Option<picloud_raft::trace::Instant>);
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>;
/// A frame for the writer task and when it was queued (tracing only).
type Queued = (Vec<u8>, Option<picloud_raft::trace::Instant>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One pipelined connection to one node.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    tx: mpsc::UnboundedSender<Queued>,
    pending: Pending,
    alive: Arc<AtomicBool>,
    next_id: AtomicU64,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The TLS a client presents to nodes started with `--tls-dir`: a certificate from the
/// cluster CA (a client certificate from `picloud cluster certs client`, or a node's own),
/// and the CA as the only trust anchor for the node's certificate.
pub type ClientTls = Arc<rustls::ClientConfig>;

/// Reads the client TLS material in `dir`: `ca.pem`, and `client.pem` + `client.key` (from
/// `picloud cluster certs client`) or else `node.pem` + `node.key` (a node's own directory).
pub fn client_tls_from_dir(dir: &std::path::Path) -> Result<ClientTls, String> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let ca = read("ca.pem")?;
    let (cert, key) = if dir.join("client.pem").exists() {
        (read("client.pem")?, read("client.key")?)
    } else if dir.join("node.pem").exists() {
        (read("node.pem")?, read("node.key")?)
    } else {
        return Err(format!(
            "{}: no client.pem (from `picloud cluster certs client`) or node.pem",
            dir.display()
        ));
    };
    picloud_raft::tls::NodeTls::from_pem(&ca, &cert, &key)
        .map(|t| t.client_config())
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// Either side of a client connection: plain TCP (loopback nodes with
/// `--insecure-loopback`) or TLS.
trait ClientStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> ClientStream for T {}

impl Connection {
    /// Connects to the node at `addr` (`host:port`) in plaintext (nodes started with
    /// `--insecure-loopback`).
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Connection, CallError> {
        Connection::connect_with(addr, timeout, None).await
    }

    /// Connects to the node at `addr`; with `tls`, over TLS presenting its client
    /// certificate and verifying the node's against the CA and `addr`.
    pub async fn connect_with(
        addr: &str,
        timeout: Duration,
        tls: Option<&ClientTls>,
    ) -> Result<Connection, CallError> {
        let connect = async {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let stream: Box<dyn ClientStream> = match tls {
                None => Box::new(tcp),
                Some(cfg) => {
                    let name = picloud_raft::tls::server_name(addr)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                    let s = tokio_rustls::TlsConnector::from(Arc::clone(cfg))
                        .connect(name, tcp)
                        .await
                        .map_err(|e| {
                            std::io::Error::other(format!(
                                "TLS: {}",
                                picloud_raft::tls::handshake_error(addr, e)
                            ))
                        })?;
                    Box::new(s)
                }
            };
            Ok::<_, std::io::Error>(stream)
        };
        let stream = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                return Err(CallError::Connect {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                })
            }
            Err(_) => {
                return Err(CallError::Timeout {
                    addr: addr.to_string(),
                    ms: millis(timeout),
                })
            }
        };
        let (mut r, w) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
        let alive = Arc::new(AtomicBool::new(true));
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let _ = tx.send((api::MAGIC.to_vec(), None));
        let writer_alive = Arc::clone(&alive);
        tokio::spawn(async move {
            let mut w = BufWriter::with_capacity(64 << 10, w);
            let mut queued_at = Vec::new();
            'outer: while let Some((frame, t)) = rx.recv().await {
                if w.write_all(&frame).await.is_err() {
                    break;
                }
                queued_at.extend(t);
                while let Ok((more, t)) = rx.try_recv() {
                    if w.write_all(&more).await.is_err() {
                        break 'outer;
                    }
                    queued_at.extend(t);
                }
                if w.flush().await.is_err() {
                    break;
                }
                for t in queued_at.drain(..) {
                    picloud_raft::trace::record("client.request_queued_to_flushed", Some(t));
                }
            }
            writer_alive.store(false, Ordering::Release);
        });
        let reader_pending = Arc::clone(&pending);
        let reader_alive = Arc::clone(&alive);
        let reader = tokio::spawn(async move {
            while let Ok(Some(Frame::Response { id, body })) = api::read_frame(&mut r).await {
                if let Some(tx) = lock(&reader_pending).remove(&id) {
                    let _ = tx.send((body, picloud_raft::trace::now()));
                }
            }
            reader_alive.store(false, Ordering::Release);
            lock(&reader_pending).clear();
        });
        Ok(Connection {
            addr: addr.to_string(),
            tx,
            pending,
            alive,
            next_id: AtomicU64::new(1),
            reader,
        })
    }

    /// The node's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the connection still works.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Sends one request and waits for its answer.
    pub async fn call(
        &self,
        body: ApiRequest,
        timeout: Duration,
    ) -> Result<ApiResponse, CallError> {
        let closed = || CallError::Closed {
            addr: self.addr.clone(),
        };
        if !self.is_alive() {
            return Err(closed());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = api::encode(&Frame::Request { id, body })
            .map_err(|e| CallError::Encode(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let sent = picloud_raft::trace::now();
        if self.tx.send((frame, sent)).is_err() {
            lock(&self.pending).remove(&id);
            return Err(closed());
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok((r, read_at))) => {
                picloud_raft::trace::record("client.response_read_to_caller", read_at);
                picloud_raft::trace::record("client.call", sent);
                Ok(r)
            }
            Ok(Err(_)) => Err(closed()),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(CallError::Timeout {
                    addr: self.addr.clone(),
                    ms: millis(timeout),
                })
            }
        }
    }
}

/// A client of a cluster: node addresses, one live connection at a time.
#[derive(Debug)]
pub struct Client {
    addrs: Vec<String>,
    state: tokio::sync::Mutex<(usize, Option<Arc<Connection>>)>,
    /// Deadline of one call (connect and answer).
    pub call_timeout: Duration,
    tls: Option<ClientTls>,
}

impl Client {
    /// A client that starts with the first address and moves on when a node fails.
    pub fn new(addrs: Vec<String>) -> Client {
        Client {
            addrs,
            state: tokio::sync::Mutex::new((0, None)),
            call_timeout: Duration::from_secs(5),
            tls: None,
        }
    }

    /// The same client talking TLS with `tls` (`None`: plaintext).
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Client {
        self.tls = tls;
        self
    }

    /// The same, with another call deadline.
    pub fn with_timeout(addrs: Vec<String>, call_timeout: Duration) -> Client {
        Client {
            call_timeout,
            ..Client::new(addrs)
        }
    }

    /// The addresses this client knows.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    async fn connection(&self) -> Result<Arc<Connection>, CallError> {
        let mut st = self.state.lock().await;
        if let Some(c) = &st.1 {
            if c.is_alive() {
                return Ok(Arc::clone(c));
            }
        }
        st.1 = None;
        let Some(addr) = self.addrs.get(st.0 % self.addrs.len().max(1)) else {
            return Err(CallError::Connect {
                addr: String::new(),
                reason: "no node address given".into(),
            });
        };
        let c =
            Arc::new(Connection::connect_with(addr, self.call_timeout, self.tls.as_ref()).await?);
        st.1 = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Moves to the next address (after `failed` misbehaved).
    pub async fn rotate(&self, failed: Option<&str>) {
        let mut st = self.state.lock().await;
        let current = st.1.as_ref().map(|c| c.addr().to_string());
        if failed.is_none() || failed == current.as_deref() || current.is_none() {
            st.0 = st.0.wrapping_add(1);
            st.1 = None;
        }
    }

    /// One call on the current node; a transport failure moves the client to the next node.
    pub async fn call(&self, req: ApiRequest) -> Result<ApiResponse, CallError> {
        let conn = match self.connection().await {
            Ok(c) => c,
            Err(e) => {
                self.rotate(None).await;
                return Err(e);
            }
        };
        let r = conn.call(req, self.call_timeout).await;
        if r.is_err() {
            self.rotate(Some(conn.addr())).await;
        }
        r
    }

    /// [`ApiRequest::Hello`].
    pub async fn hello(&self) -> Result<Hello, RequestError> {
        match self.call(ApiRequest::Hello).await? {
            ApiResponse::Hello(h) => Ok(h),
            _ => Err(self.unexpected()),
        }
    }

    /// [`ApiRequest::Status`].
    pub async fn status(&self) -> Result<Status, RequestError> {
        match self.call(ApiRequest::Status).await? {
            ApiResponse::Status(s) => Ok(s),
            _ => Err(self.unexpected()),
        }
    }

    /// [`ApiRequest::Read`].
    pub async fn read(
        &self,
        from: u64,
        limit: u32,
        linearizable: bool,
    ) -> Result<Vec<(u64, Vec<u8>)>, RequestError> {
        match self
            .call(ApiRequest::Read {
                from,
                limit,
                linearizable,
            })
            .await?
        {
            ApiResponse::Read(r) => Ok(r?),
            _ => Err(self.unexpected()),
        }
    }

    /// An admin request ([`ApiRequest::Init`], `Add`, `Remove`): the node's summary.
    pub async fn admin(&self, req: ApiRequest) -> Result<String, RequestError> {
        match self.call(req).await? {
            ApiResponse::Admin(r) => Ok(r?),
            _ => Err(self.unexpected()),
        }
    }

    fn unexpected(&self) -> RequestError {
        RequestError::Call(CallError::Unexpected {
            addr: self.addrs.join(","),
        })
    }
}

/// An exactly-once append session.
#[derive(Debug, Clone)]
pub struct Session {
    id: u128,
    seq: u64,
    /// How long one append is retried before it is given up as indeterminate.
    pub deadline: Duration,
    /// Pause between retries.
    pub backoff: Duration,
}

impl Session {
    /// A session with a random id (from `/dev/urandom`).
    pub fn new() -> std::io::Result<Session> {
        Ok(Session::with_id(random_u128()?))
    }

    /// A session with the given id (ids must be unique per cluster).
    pub fn with_id(id: u128) -> Session {
        Session {
            id,
            seq: 1,
            deadline: Duration::from_secs(30),
            backoff: Duration::from_millis(50),
        }
    }

    /// The session id.
    pub fn id(&self) -> u128 {
        self.id
    }

    /// Appends `payloads` (one event, or an atomic batch) through any node, retrying with
    /// the same sequence number until it is acknowledged or [`Session::deadline`] passes.
    pub async fn append(
        &mut self,
        client: &Client,
        payloads: Vec<Vec<u8>>,
    ) -> Result<ClientResponse, RequestError> {
        let seq = self.seq;
        self.seq += 1;
        let req = ApiRequest::Append {
            client: self.id,
            seq,
            payloads,
        };
        let give_up = tokio::time::Instant::now() + self.deadline;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let last = match client.call(req.clone()).await {
                Ok(ApiResponse::Append(Ok(r))) => return Ok(r),
                Ok(ApiResponse::Append(Err(e))) if e.is_retryable() => {
                    // The node could not reach a leader: try another node.
                    client.rotate(None).await;
                    e.to_string()
                }
                Ok(ApiResponse::Append(Err(e))) => return Err(e.into()),
                Ok(_) => return Err(client.unexpected()),
                Err(CallError::Encode(e)) => return Err(CallError::Encode(e).into()),
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() + self.backoff >= give_up {
                return Err(RequestError::Indeterminate { attempts, last });
            }
            tokio::time::sleep(self.backoff).await;
        }
    }
}

/// This process's write-path trace table (`PICLOUD_TRACE_WRITES=1`): on a client, the
/// stages `client.request_queued_to_flushed` (the writer task hop and the write),
/// `client.response_read_to_caller` (the reader → caller hop) and `client.call` (request
/// queued → answer in hand), in µs.
pub fn trace_table() -> String {
    picloud_raft::trace::report_table()
}

/// 128 random bits from the kernel.
pub fn random_u128() -> std::io::Result<u128> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u128::from_le_bytes(b))
}
