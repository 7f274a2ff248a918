//! Node-to-node transport over tokio TCP (see [`crate::wire`] for the frames).
//!
//! - One connection per peer address, shared by Raft replication and client
//!   forwarding ([`PeerPool`]). Each connection has a writer task (coalesces
//!   queued frames into one flush), a reader task, and a map of pending
//!   request ids to oneshot senders, so requests are pipelined.
//! - A broken connection fails its pending requests; the next request
//!   reconnects, with exponential backoff (50 ms doubling up to 2 s) after
//!   failed attempts.
//! - Every call has a deadline (openraft's `RPCOption::hard_ttl` for Raft RPCs).
//! - [`Connector`] sets security at connection time: [`Connector::Tls`] is
//!   mutual TLS with the cluster CA ([`crate::tls`]): the accepting side
//!   requires a client certificate chaining to the CA, the dialling side
//!   verifies the peer's certificate against the CA and the dialled address.
//!   [`Connector::Plain`] is refused unless the address is loopback or
//!   `allow_non_loopback` is set (tests and trusted labs only).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::RPCTypes;
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadHalf, WriteHalf,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::TransportError;
use crate::types::{NodeId, PeerInfo, TypeConfig};
use crate::wire::{
    decode_body, encode_frame, frame_len, Request, Response, RpcMessage, FRAME_HEADER,
};

/// A byte stream the transport can run over (TCP today, TLS over TCP later).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A boxed transport stream.
pub type BoxStream = Box<dyn Stream>;

/// How connections are secured. Set once per node, applied at connect/accept time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Connector {
    /// Plain TCP.
    Plain {
        /// Allow plaintext on non-loopback addresses (tests only).
        allow_non_loopback: bool,
    },
    /// Mutual TLS with the cluster CA, on any address.
    Tls(crate::tls::NodeTls),
}

impl Connector {
    /// Plain TCP, loopback only.
    pub fn plain_loopback() -> Self {
        Connector::Plain {
            allow_non_loopback: false,
        }
    }

    fn check(&self, addr: &SocketAddr) -> Result<(), TransportError> {
        match self {
            Connector::Tls(_) => Ok(()),
            Connector::Plain { allow_non_loopback } => {
                if *allow_non_loopback || addr.ip().is_loopback() {
                    Ok(())
                } else {
                    Err(TransportError::PlaintextRefused {
                        addr: addr.to_string(),
                    })
                }
            }
        }
    }

    /// Checks that this connector may listen on `addr`.
    pub fn check_listen(&self, addr: &SocketAddr) -> Result<(), TransportError> {
        self.check(addr)
    }

    /// Connects to `addr` (host:port) within `timeout`.
    pub async fn connect(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> Result<BoxStream, TransportError> {
        let connect = async {
            let tcp = self.dial(addr).await?;
            match self {
                Connector::Plain { .. } => Ok::<BoxStream, TransportError>(Box::new(tcp)),
                Connector::Tls(tls) => {
                    let name = crate::tls::server_name(addr)?;
                    let tls = tokio_rustls::TlsConnector::from(tls.client_config())
                        .connect(name, tcp)
                        .await
                        .map_err(|e| crate::tls::handshake_error(addr, e))?;
                    Ok(Box::new(tls) as BoxStream)
                }
            }
        };
        match tokio::time::timeout(timeout, connect).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout {
                addr: addr.to_string(),
                ms: millis(timeout),
            }),
        }
    }

    /// The TCP part of [`Connector::connect`]: connects, checks the peer address
    /// against the connector, and sets `TCP_NODELAY` (every frame is one small
    /// write followed by a wait for the answer: Nagle's algorithm would hold it
    /// back until the previous segment is acknowledged).
    async fn dial(&self, addr: &str) -> Result<TcpStream, TransportError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| TransportError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let peer = tcp.peer_addr().map_err(|source| TransportError::Connect {
            addr: addr.to_string(),
            source,
        })?;
        self.check(&peer)?;
        low_latency(&tcp);
        Ok(tcp)
    }

    /// Wraps an accepted connection; with [`Connector::Tls`], runs the
    /// handshake, which fails unless the peer presents a valid certificate
    /// issued by the cluster CA (bounded by [`ACCEPT_TIMEOUT`]).
    pub async fn accept(&self, tcp: TcpStream) -> Result<BoxStream, TransportError> {
        low_latency(&tcp);
        match self {
            Connector::Plain { .. } => Ok(Box::new(tcp)),
            Connector::Tls(tls) => {
                let peer = tcp
                    .peer_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string());
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
                match tokio::time::timeout(ACCEPT_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => Ok(Box::new(s)),
                    Ok(Err(e)) => Err(crate::tls::handshake_error(&peer, e)),
                    Err(_) => Err(TransportError::Timeout {
                        addr: peer,
                        ms: millis(ACCEPT_TIMEOUT),
                    }),
                }
            }
        }
    }
}

/// Sets `TCP_NODELAY` on a connection (both ends of every node-to-node and
/// client connection; see [`Connector::connect`]). A socket that refuses it
/// still works, only slower, so a failure is ignored.
pub fn low_latency(tcp: &TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// Longest TLS handshake an accepting node waits for.
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<RpcMessage>, String> {
    let mut h = [0u8; FRAME_HEADER];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let len = frame_len(h).map_err(|e| e.to_string())?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    decode_body(&body).map(Some).map_err(|e| e.to_string())
}

/// A frame queued for a writer task, with when it was queued (tracing only).
type Queued = (Vec<u8>, Option<crate::trace::Instant>);

/// Writes frames from `rx`, coalescing whatever is queued into one flush.
/// With tracing on, records `stage` (frame queued → flushed to the socket).
async fn writer_loop(
    mut w: BufWriter<WriteHalf<BoxStream>>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    stage: &'static str,
) {
    let mut queued_at = Vec::new();
    while let Some((frame, t)) = rx.recv().await {
        if w.write_all(&frame).await.is_err() {
            return;
        }
        queued_at.extend(t);
        while let Ok((more, t)) = rx.try_recv() {
            if w.write_all(&more).await.is_err() {
                return;
            }
            queued_at.extend(t);
        }
        if w.flush().await.is_err() {
            return;
        }
        for t in queued_at.drain(..) {
            crate::trace::record(stage, Some(t));
        }
    }
    let _ = w.shutdown().await;
}

/// A response and when its frame was decoded (tracing only).
type Answer = (Response, Option<crate::trace::Instant>);
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Live {
    tx: mpsc::UnboundedSender<Queued>,
    pending: Pending,
    alive: Arc<AtomicBool>,
    reader: JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[derive(Default)]
struct ConnState {
    live: Option<Arc<Live>>,
    retry_at: Option<tokio::time::Instant>,
    failures: u32,
}

/// A pipelined client connection to one peer address.
pub struct PeerConn {
    addr: String,
    connector: Connector,
    state: tokio::sync::Mutex<ConnState>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for PeerConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConn")
            .field("addr", &self.addr)
            .finish()
    }
}

impl PeerConn {
    fn new(addr: String, connector: Connector) -> Self {
        PeerConn {
            addr,
            connector,
            state: tokio::sync::Mutex::new(ConnState::default()),
            next_id: AtomicU64::new(1),
        }
    }

    async fn live(&self, timeout: Duration) -> Result<Arc<Live>, TransportError> {
        let mut st = self.state.lock().await;
        if let Some(l) = &st.live {
            if l.alive.load(Ordering::Acquire) {
                return Ok(Arc::clone(l));
            }
        }
        st.live = None;
        if let Some(at) = st.retry_at {
            if tokio::time::Instant::now() < at {
                return Err(TransportError::Backoff {
                    addr: self.addr.clone(),
                });
            }
        }
        match self.connector.connect(&self.addr, timeout).await {
            Ok(stream) => {
                st.failures = 0;
                st.retry_at = None;
                let (r, w) = tokio::io::split(stream);
                let (tx, rx) = mpsc::unbounded_channel();
                let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
                let alive = Arc::new(AtomicBool::new(true));
                tokio::spawn(writer_loop(
                    BufWriter::with_capacity(64 << 10, w),
                    rx,
                    "net.request_queued_to_flushed",
                ));
                let reader =
                    tokio::spawn(client_reader(r, Arc::clone(&pending), Arc::clone(&alive)));
                let live = Arc::new(Live {
                    tx,
                    pending,
                    alive,
                    reader,
                });
                st.live = Some(Arc::clone(&live));
                Ok(live)
            }
            Err(e) => {
                st.failures = st.failures.saturating_add(1);
                let backoff =
                    Duration::from_millis(50u64 << st.failures.min(6)).min(Duration::from_secs(2));
                st.retry_at = Some(tokio::time::Instant::now() + backoff);
                Err(e)
            }
        }
    }

    /// Sends `req` and waits for its response, at most `timeout` (connect included).
    pub async fn call(&self, req: Request, timeout: Duration) -> Result<Response, TransportError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let live = self.live(timeout).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode_frame(&RpcMessage::Request { id, body: req }).map_err(|source| {
            TransportError::Frame {
                addr: self.addr.clone(),
                source,
            }
        })?;
        let (tx, rx) = oneshot::channel();
        lock(&live.pending).insert(id, tx);
        if live.tx.send((frame, crate::trace::now())).is_err() {
            lock(&live.pending).remove(&id);
            live.alive.store(false, Ordering::Release);
            return Err(TransportError::Closed {
                addr: self.addr.clone(),
            });
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok((resp, read_at))) => {
                crate::trace::record("net.response_read_to_caller", read_at);
                Ok(resp)
            }
            Ok(Err(_)) => Err(TransportError::Closed {
                addr: self.addr.clone(),
            }),
            Err(_) => {
                lock(&live.pending).remove(&id);
                Err(TransportError::Timeout {
                    addr: self.addr.clone(),
                    ms: millis(timeout),
                })
            }
        }
    }
}

async fn client_reader(mut r: ReadHalf<BoxStream>, pending: Pending, alive: Arc<AtomicBool>) {
    // Ends on EOF, an error, or a request (peers never send requests here).
    while let Ok(Some(RpcMessage::Response { id, body })) = read_frame(&mut r).await {
        if let Some(tx) = lock(&pending).remove(&id) {
            let _ = tx.send((body, crate::trace::now()));
        }
    }
    alive.store(false, Ordering::Release);
    lock(&pending).clear();
}

/// Connections to peers, one per address, shared by all users on a node.
#[derive(Debug)]
pub struct PeerPool {
    connector: Connector,
    conns: Mutex<HashMap<String, Arc<PeerConn>>>,
}

impl PeerPool {
    /// An empty pool.
    pub fn new(connector: Connector) -> Self {
        PeerPool {
            connector,
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// The connection to `addr` (created lazily).
    pub fn get(&self, addr: &str) -> Arc<PeerConn> {
        let mut m = lock(&self.conns);
        Arc::clone(
            m.entry(addr.to_string()).or_insert_with(|| {
                Arc::new(PeerConn::new(addr.to_string(), self.connector.clone()))
            }),
        )
    }

    /// Drops every connection.
    pub fn clear(&self) {
        lock(&self.conns).clear();
    }
}

/// openraft's network factory over the pool.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    id: NodeId,
    pool: Arc<PeerPool>,
}

impl NetworkFactory {
    /// A factory for node `id`.
    pub fn new(id: NodeId, pool: Arc<PeerPool>) -> Self {
        NetworkFactory { id, pool }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &PeerInfo) -> PeerNetwork {
        PeerNetwork {
            id: self.id,
            target,
            conn: self.pool.get(&node.addr),
        }
    }
}

/// openraft's client to one peer.
#[derive(Debug)]
pub struct PeerNetwork {
    id: NodeId,
    target: NodeId,
    conn: Arc<PeerConn>,
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, PeerInfo, RaftError<NodeId, E>>;

impl PeerNetwork {
    fn map_err<E: std::error::Error>(
        &self,
        e: TransportError,
        action: RPCTypes,
        ttl: Duration,
    ) -> RPCError<NodeId, PeerInfo, E> {
        match e {
            TransportError::Timeout { .. } => RPCError::Timeout(Timeout {
                action,
                id: self.id,
                target: self.target,
                timeout: ttl,
            }),
            TransportError::Frame { .. } | TransportError::Unexpected { .. } => {
                RPCError::Network(NetworkError::new(&e))
            }
            _ => RPCError::Unreachable(Unreachable::new(&e)),
        }
    }

    fn unexpected<E: std::error::Error>(&self, r: &Response) -> RPCError<NodeId, PeerInfo, E> {
        let e = TransportError::Unexpected {
            addr: self.conn.addr.clone(),
            what: format!("{r:?}").chars().take(80).collect(),
        };
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let ttl = option.hard_ttl();
        let n = rpc.entries.len() as u64;
        let traced = match rpc.entries.last() {
            Some(e) => crate::trace::rpc_send(e.log_id.index),
            None => None,
        };
        let guard = crate::trace::RpcGuard::new();
        let answer = self.conn.call(Request::AppendEntries(rpc), ttl).await;
        guard.done();
        match answer {
            Ok(Response::AppendEntries(Ok(r))) => {
                crate::trace::record("repl.rpc", traced);
                Ok(r)
            }
            Ok(Response::AppendEntries(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(other) => Err(self.unexpected(&other)),
            // Over MAX_FRAME: ask openraft to send fewer entries per request.
            Err(TransportError::Frame {
                source: crate::FrameError::TooLarge { .. },
                ..
            }) if n > 1 => Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint((n / 2).max(1)),
            )),
            Err(e) => Err(self.map_err(e, RPCTypes::AppendEntries, ttl)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        let ttl = option.hard_ttl();
        match self.conn.call(Request::InstallSnapshot(rpc), ttl).await {
            Ok(Response::InstallSnapshot(Ok(r))) => Ok(r),
            Ok(Response::InstallSnapshot(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(other) => Err(self.unexpected(&other)),
            Err(e) => Err(self.map_err(e, RPCTypes::InstallSnapshot, ttl)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        let ttl = option.hard_ttl();
        match self.conn.call(Request::Vote(rpc), ttl).await {
            Ok(Response::Vote(Ok(r))) => Ok(r),
            Ok(Response::Vote(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(other) => Err(self.unexpected(&other)),
            Err(e) => Err(self.map_err(e, RPCTypes::Vote, ttl)),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

/// Handles requests arriving at the listener.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(self: Arc<Self>, req: Request) -> Pin<Box<dyn Future<Output = Response> + Send>>;
}

/// Binds the Raft listener, checking the connector allows the address.
pub async fn bind(addr: &str, connector: &Connector) -> Result<TcpListener, TransportError> {
    let l = TcpListener::bind(addr)
        .await
        .map_err(|source| TransportError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = l.local_addr().map_err(|source| TransportError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    connector.check_listen(&local)?;
    Ok(l)
}

/// Serves connections until the returned task is aborted (which also aborts
/// every connection and in-flight request task).
pub fn serve<H: Handler>(
    listener: TcpListener,
    connector: Connector,
    handler: Arc<H>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, _peer)) = accepted else { continue };
                    let connector = connector.clone();
                    let handler = Arc::clone(&handler);
                    conns.spawn(async move {
                        match connector.accept(tcp).await {
                            Ok(stream) => serve_conn(stream, handler).await,
                            // A refused peer is worth a line: a misissued or expired
                            // certificate otherwise looks like a silent partition.
                            Err(e) => eprintln!("picloud-raft: refused a connection: {e}"),
                        }
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

/// Serves one connection accepted elsewhere (e.g. on a listener shared with
/// another protocol): the connector's handshake, then requests until EOF.
/// Returns the handshake's refusal, if any.
pub async fn serve_accepted<H: Handler>(
    tcp: TcpStream,
    connector: &Connector,
    handler: Arc<H>,
) -> Result<(), TransportError> {
    let stream = connector.accept(tcp).await?;
    serve_conn(stream, handler).await;
    Ok(())
}

/// Serves one connection whose security was set up elsewhere (the binary's shared
/// listener runs the TLS handshake itself, then dispatches by the first bytes it reads):
/// requests until EOF.
pub async fn serve_stream<H: Handler>(stream: BoxStream, handler: Arc<H>) {
    serve_conn(stream, handler).await;
}

async fn serve_conn<H: Handler>(stream: BoxStream, handler: Arc<H>) {
    let (mut r, w) = tokio::io::split(stream);
    let (tx, rx) = mpsc::unbounded_channel::<Queued>();
    let writer = tokio::spawn(writer_loop(
        BufWriter::with_capacity(64 << 10, w),
        rx,
        "net.response_queued_to_flushed",
    ));
    let mut tasks = JoinSet::new();
    // `read_frame` is not cancel-safe (a partly read frame would be lost), so
    // it is never raced in a `select!`: finished tasks are reaped between frames.
    while let Ok(Some(RpcMessage::Request { id, body })) = read_frame(&mut r).await {
        let read_at = crate::trace::now();
        while tasks.try_join_next().is_some() {}
        let handler = Arc::clone(&handler);
        let tx = tx.clone();
        tasks.spawn(async move {
            crate::trace::record("net.request_read_to_handler", read_at);
            let resp = handler.handle(body).await;
            if let Ok(f) = encode_frame(&RpcMessage::Response { id, body: resp }) {
                let _ = tx.send((f, crate::trace::now()));
            }
        });
    }
    drop(tx);
    tasks.abort_all();
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plaintext_is_loopback_only_unless_allowed() {
        let plain = Connector::plain_loopback();
        assert!(plain
            .check_listen(&"127.0.0.1:7000".parse().unwrap())
            .is_ok());
        assert!(plain.check_listen(&"[::1]:7000".parse().unwrap()).is_ok());
        assert!(matches!(
            plain.check_listen(&"192.168.1.20:7000".parse().unwrap()),
            Err(TransportError::PlaintextRefused { .. })
        ));
        assert!(matches!(
            bind("0.0.0.0:0", &plain).await,
            Err(TransportError::PlaintextRefused { .. })
        ));
        let lab = Connector::Plain {
            allow_non_loopback: true,
        };
        assert!(lab
            .check_listen(&"192.168.1.20:7000".parse().unwrap())
            .is_ok());
    }

    #[tokio::test]
    async fn both_ends_set_nodelay() {
        let connector = Connector::plain_loopback();
        let listener = bind("127.0.0.1:0", &connector).await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let dialled = connector.dial(&addr).await.unwrap();
        assert!(dialled.nodelay().unwrap(), "dialling side");
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap());
        low_latency(&accepted);
        assert!(accepted.nodelay().unwrap(), "accepting side");
        // The full paths still work (plaintext and refused non-loopback).
        assert!(connector
            .connect(&addr, Duration::from_secs(5))
            .await
            .is_ok());
    }

    struct Echo;
    impl Handler for Echo {
        fn handle(self: Arc<Self>, req: Request) -> Pin<Box<dyn Future<Output = Response> + Send>> {
            Box::pin(async move {
                match req {
                    Request::ClientWrite(r) => {
                        // Later requests answer sooner: responses come back out of order.
                        let delay = 50u64.saturating_sub(r.seq % 10 * 5);
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        Response::ClientWrite(Ok(crate::ClientResponse {
                            first_offset: r.seq,
                            count: 1,
                            duplicate: false,
                        }))
                    }
                    _ => Response::ReadIndex(Ok(None)),
                }
            })
        }
    }

    #[tokio::test]
    async fn pipelined_calls_match_responses_and_reconnect() {
        let connector = Connector::plain_loopback();
        let listener = bind("127.0.0.1:0", &connector).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = serve(listener, connector.clone(), Arc::new(Echo));
        let pool = PeerPool::new(connector.clone());
        let conn = pool.get(&addr.to_string());
        // Many concurrent calls with frames large enough to arrive in pieces:
        // the server must never lose a partly read frame.
        let calls = (0..200u64).map(|seq| {
            let conn = Arc::clone(&conn);
            async move {
                let req = crate::ClientRequest {
                    client: 1,
                    seq,
                    op: crate::Op::Append {
                        payload: vec![seq as u8; 32_768],
                    },
                };
                match conn
                    .call(Request::ClientWrite(req), Duration::from_secs(10))
                    .await
                    .unwrap()
                {
                    Response::ClientWrite(Ok(r)) => assert_eq!(r.first_offset, seq),
                    other => panic!("{other:?}"),
                }
            }
        });
        let mut set = JoinSet::new();
        for c in calls {
            set.spawn(c);
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        // The server goes away: calls fail, then succeed again once it is back.
        server.abort();
        let _ = server.await;
        let r = conn
            .call(Request::ReadIndex, Duration::from_millis(300))
            .await;
        assert!(r.is_err());
        let listener = loop {
            if let Ok(l) = bind(&addr.to_string(), &connector).await {
                break l;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _server = serve(listener, connector, Arc::new(Echo));
        let mut ok = false;
        for _ in 0..50 {
            if conn
                .call(Request::ReadIndex, Duration::from_millis(300))
                .await
                .is_ok()
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "reconnected after backoff");
    }
}
