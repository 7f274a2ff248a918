//! `picloud node`: one cluster node — the Raft node (picloud-raft) plus the client protocol
//! ([`picloud::api`]) on the same listener.
//!
//! The node binds `--listen` itself. A connection whose first byte is the client magic is
//! served here; any other connection is node-to-node traffic and is handed to the Raft
//! transport (`RaftNode::serve_connection`), which also keeps its own listener, bound on the
//! same IP at an ephemeral port, unused by peers. Peers reach the node at `--advertise` (default: the bound address).
//!
//! Node-to-node traffic is mutual TLS with `--tls-dir` (the handshake runs here, with the
//! Raft transport's server configuration), or plaintext with `--insecure-loopback` when
//! every address is loopback; the node refuses to start otherwise. With `--tls-dir` the client
//! protocol is TLS too, with the same acceptor (a client certificate from the cluster CA is
//! required): after the handshake the first decrypted byte tells the client magic from a Raft
//! frame. Plaintext client connections are served only with `--insecure-loopback`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use picloud::api::{self, ApiRequest, ApiResponse, Frame, Hello, Member, Status};
use picloud::client::{Client, RequestError};
use picloud_http::{AdminError, ClusterAdmin};
use picloud_raft::openraft::ServerState;
use picloud_raft::tls::NodeTls;
use picloud_raft::{
    ClientError, ClientRequest, Connector, NodeConfig, NodeId, Op, PeerInfo, RaftNode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cli::NodeArgs;
use crate::{Outcome, UsageError};

/// File under the data directory holding the node id.
const NODE_ID_FILE: &str = "node-id";

/// Runs the node until SIGTERM or SIGINT.
pub fn run(args: &NodeArgs) -> Result<Outcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(serve(args))
}

struct NodeState {
    id: NodeId,
    advertise: String,
    peers: Vec<String>,
    node: RaftNode,
    /// `--tls-dir`: the listener requires TLS with a client certificate from the cluster CA
    /// for the client protocol too, and this node's own calls to other nodes (admin
    /// forwarding, `hello`) present its certificate.
    tls: Option<NodeTls>,
}

impl NodeState {
    /// A client of other nodes' client protocol, with this node's certificate under TLS.
    fn client(&self, addrs: Vec<String>, timeout: Duration) -> Client {
        Client::with_timeout(addrs, timeout).with_tls(self.tls.as_ref().map(NodeTls::client_config))
    }
}

fn node_id(data: &Path) -> Result<NodeId> {
    let file = data.join(NODE_ID_FILE);
    match std::fs::read_to_string(&file) {
        Ok(s) => s
            .trim()
            .parse::<NodeId>()
            .with_context(|| format!("{} does not hold a node id", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Ids stay below 2^53 so that JSON readers keep them exact.
            let id = (picloud::client::random_u128()? as u64 & ((1u64 << 53) - 1)).max(1);
            let tmp = data.join(format!("{NODE_ID_FILE}.tmp"));
            {
                let mut f = std::fs::File::create(&tmp)
                    .with_context(|| format!("create {}", tmp.display()))?;
                std::io::Write::write_all(&mut f, format!("{id}\n").as_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &file)?;
            std::fs::File::open(data)?.sync_all()?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("read {}", file.display())),
    }
}

impl crate::backend::NodeHandle for NodeState {
    fn node(&self) -> &RaftNode {
        &self.node
    }

    fn cluster_admin(
        &self,
        change: ClusterAdmin,
    ) -> picloud_http::BoxFuture<'_, Result<Vec<String>, AdminError>> {
        Box::pin(async move {
            let r = match change {
                ClusterAdmin::Init => {
                    if let Some(why) = initialised(self) {
                        return Err(AdminError::Conflict(why));
                    }
                    init(self).await.map_err(|e| match e {
                        // Lost a race with another `init`: openraft refuses the second one.
                        ClientError::Rejected { reason } => AdminError::Conflict(format!(
                            "node {} is already initialised: {reason}",
                            self.id
                        )),
                        other => admin_error(other),
                    })
                }
                ClusterAdmin::Add(addr) => {
                    let req = ApiRequest::Add { addr: addr.clone() };
                    on_leader(self, req, || add(self, addr))
                        .await
                        .map_err(admin_error)
                }
                ClusterAdmin::Remove(id) => {
                    let req = ApiRequest::Remove { id };
                    on_leader(self, req, || remove(self, id))
                        .await
                        .map_err(admin_error)
                }
            }?;
            Ok(r.lines().map(str::to_owned).collect())
        })
    }
}

fn admin_error(e: ClientError) -> AdminError {
    match e {
        ClientError::Rejected { reason } => AdminError::Refused(reason),
        other => AdminError::Unavailable(other.to_string()),
    }
}

/// Why `init` is refused on this node (`None`: it has never been part of a cluster).
fn initialised(state: &NodeState) -> Option<String> {
    let m = state.node.metrics();
    let members = m.membership_config.membership().nodes().count();
    if members > 0 || m.last_log_index.is_some() || m.current_term > 0 {
        Some(format!(
            "node {} is already initialised (a member of a cluster{}): `cluster init` works \
             only on a fresh node",
            state.id,
            m.current_leader
                .map(|l| format!(" led by node {l}"))
                .unwrap_or_default()
        ))
    } else {
        None
    }
}

/// Whether `addr` (`host:port`) names a loopback address (`localhost` included).
fn is_loopback_addr(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Node-to-node security from the flags: mTLS with `--tls-dir`; plaintext only with
/// `--insecure-loopback` and only when every address is loopback; nothing else.
fn transport_security(
    args: &NodeArgs,
    local: &std::net::SocketAddr,
    advertise: &str,
) -> Result<Connector> {
    if let Some(dir) = &args.tls_dir {
        return NodeTls::from_dir(dir)
            .map(Connector::Tls)
            .map_err(|e| UsageError(format!("--tls-dir {}: {e}", dir.display())).into());
    }
    if !args.insecure_loopback {
        return Err(UsageError(
            "node-to-node traffic needs mutual TLS: pass --tls-dir DIR (ca.pem, node.pem, node.key; \
             see `picloud cluster certs`), or --insecure-loopback for plaintext when every address \
             is loopback"
                .into(),
        )
        .into());
    }
    let mut off: Vec<String> = Vec::new();
    if !local.ip().is_loopback() {
        off.push(format!("--listen {local}"));
    }
    if !is_loopback_addr(advertise) {
        off.push(format!("--advertise {advertise}"));
    }
    for p in &args.peer {
        if !is_loopback_addr(p) {
            off.push(format!("--peer {p}"));
        }
    }
    if !off.is_empty() {
        return Err(UsageError(format!(
            "--insecure-loopback refused: {} not loopback; plaintext node-to-node traffic is \
             allowed only on loopback, use --tls-dir DIR (mutual TLS) instead",
            off.join(", ") + if off.len() == 1 { " is" } else { " are" }
        ))
        .into());
    }
    Ok(Connector::plain_loopback())
}

async fn serve(args: &NodeArgs) -> Result<Outcome> {
    let data: PathBuf = args.data.clone();
    std::fs::create_dir_all(&data)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", data.display())))?;
    let id = node_id(&data)?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| UsageError(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener.local_addr()?;
    let advertise = args.advertise.clone().unwrap_or_else(|| local.to_string());
    let connector = transport_security(args, &local, &advertise)?;
    let tls = match &connector {
        Connector::Tls(t) => Some(t.clone()),
        _ => None,
    };
    let mut config = NodeConfig::new(id, &data, format!("{}:0", local.ip()));
    config.connector = connector;
    config.advertise_addr = Some(advertise.clone());
    config.api_addr = Some(advertise.clone());
    let node = RaftNode::start(config)
        .await
        .map_err(|e| anyhow!("start node {id}: {e}"))?;
    let raft_addr = node.local_addr();
    let state = Arc::new(NodeState {
        id,
        advertise: advertise.clone(),
        peers: args.peer.clone(),
        node,
        tls,
    });
    let api = match &args.api {
        Some(addr) => {
            let ca_dir = args.ca_dir.clone().unwrap_or_else(|| data.clone());
            let handle: Arc<dyn crate::backend::NodeHandle> = Arc::clone(&state) as _;
            Some(
                super::node_api::start(
                    handle,
                    addr,
                    &ca_dir,
                    &data,
                    args.admin_credential.as_deref(),
                )
                .await?,
            )
        }
        None => None,
    };
    println!("node {id} ready: listening on {local}, advertised as {advertise}");
    let _ = std::io::Write::flush(&mut std::io::stdout());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let state = Arc::clone(&state);
                conns.spawn(async move { connection(tcp, raft_addr, state).await });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(listener);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    if let Some(api) = api {
        api.stop().await;
    }
    match Arc::try_unwrap(state) {
        Ok(s) => s.node.shutdown().await.map_err(|e| anyhow!("{e}"))?,
        Err(s) => {
            picloud_raft::trace::report();
            s.node.raft().shutdown().await.map_err(|e| anyhow!("{e}"))?
        }
    }
    eprintln!("node {id} stopped");
    Ok(Outcome::Success)
}

/// How long a connection may take to send its first bytes (and, under TLS, to finish the
/// handshake).
const FIRST_BYTES: Duration = Duration::from_secs(10);

async fn connection(tcp: TcpStream, raft_addr: std::net::SocketAddr, state: Arc<NodeState>) {
    picloud_raft::network::low_latency(&tcp);
    let _ = raft_addr;
    let mut first = [0u8; 1];
    let is_client = match tokio::time::timeout(FIRST_BYTES, tcp.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == api::MAGIC[0],
        _ => return,
    };
    let Some(tls) = &state.tls else {
        // `--insecure-loopback`: plaintext, dispatched by the first byte.
        if is_client {
            serve_client(tcp, state).await;
        } else if let Err(e) = state.node.serve_connection(tcp).await {
            eprintln!("picloud-raft: refused a connection: {e}");
        }
        return;
    };
    let peer = tcp
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    if is_client {
        // A plaintext client on a TLS node: refused, whatever it asks.
        eprintln!(
            "picloud: refused a connection from {peer}: plaintext client protocol; this node \
             requires TLS with a client certificate from the cluster CA"
        );
        return;
    }
    // One TLS acceptor for both protocols (the same as Raft's: a client certificate
    // chaining to the cluster CA is required), then dispatch by the first decrypted byte:
    // the client magic, or a Raft frame (whose length's first byte is at most 0x02).
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
    let mut stream = match tokio::time::timeout(FIRST_BYTES, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            eprintln!(
                "picloud-raft: refused a connection: {}",
                picloud_raft::tls::handshake_error(&peer, e)
            );
            return;
        }
        Err(_) => return,
    };
    let mut byte = [0u8; 1];
    match tokio::time::timeout(FIRST_BYTES, stream.read_exact(&mut byte)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    let stream = Rewind {
        first: Some(byte[0]),
        inner: stream,
    };
    if byte[0] == api::MAGIC[0] {
        serve_client(stream, state).await;
    } else {
        state.node.serve_stream(Box::new(stream)).await;
    }
}

/// A stream that yields one byte already read from `inner` before `inner`'s own bytes.
struct Rewind<S> {
    first: Option<u8>,
    inner: S,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if buf.remaining() > 0 {
            if let Some(b) = self.first.take() {
                buf.put_slice(&[b]);
                return std::task::Poll::Ready(Ok(()));
            }
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

async fn serve_client<S>(stream: S, state: Arc<NodeState>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut r, w) = tokio::io::split(stream);
    let mut magic = [0u8; 4];
    if r.read_exact(&mut magic).await.is_err() || magic != api::MAGIC {
        return;
    }
    // Frames with when they were queued (`PICLOUD_TRACE_WRITES=1` only): the writer
    // records `api.response_queued_to_flushed`.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Vec<u8>, Option<picloud_raft::trace::Instant>)>();
    let writer = tokio::spawn(async move {
        let mut w = BufWriter::with_capacity(64 << 10, w);
        let mut queued_at = Vec::new();
        'outer: while let Some((f, t)) = rx.recv().await {
            if w.write_all(&f).await.is_err() {
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
                picloud_raft::trace::record("api.response_queued_to_flushed", Some(t));
            }
        }
    });
    let mut tasks = JoinSet::new();
    // `read_frame` is not cancel-safe: racing it in a `select!` (as this loop once did,
    // against `tasks.join_next()`) drops the bytes of a partly read frame whenever a
    // request finishes at that moment, and the next "length" is read from the middle of a
    // frame. The node then waits for a bogus body that swallows later requests, whose
    // clients stall until their call deadline (the 256-client collapse of docs/perf.md).
    // So frames are read in plain sequence and finished tasks are reaped between frames.
    while let Ok(Some(Frame::Request { id, body })) = api::read_frame(&mut r).await {
        let read_at = picloud_raft::trace::now();
        while tasks.try_join_next().is_some() {}
        let state = Arc::clone(&state);
        let tx = tx.clone();
        tasks.spawn(async move {
            picloud_raft::trace::record("api.request_read_to_handler", read_at);
            let body = handle(&state, body).await;
            if let Ok(f) = api::encode(&Frame::Response { id, body }) {
                let _ = tx.send((f, picloud_raft::trace::now()));
            }
        });
    }
    drop(tx);
    tasks.abort_all();
    writer.abort();
}

async fn handle(state: &NodeState, req: ApiRequest) -> ApiResponse {
    match req {
        ApiRequest::Hello => ApiResponse::Hello(Hello {
            id: state.id,
            addr: state.advertise.clone(),
        }),
        ApiRequest::Append {
            client,
            seq,
            mut payloads,
        } => {
            let op = if payloads.len() == 1 {
                Op::Append {
                    payload: payloads.pop().unwrap_or_default(),
                }
            } else {
                Op::AppendBatch { payloads }
            };
            let t = picloud_raft::trace::now();
            let r = state.node.append(ClientRequest { client, seq, op }).await;
            picloud_raft::trace::record("node.handle_append", t);
            ApiResponse::Append(r)
        }
        ApiRequest::Read {
            from,
            limit,
            linearizable,
        } => ApiResponse::Read(
            state
                .node
                .read_events(from, limit.min(api::MAX_READ) as usize, linearizable)
                .await,
        ),
        ApiRequest::Status => ApiResponse::Status(status(state)),
        ApiRequest::Init => ApiResponse::Admin(init(state).await),
        ApiRequest::Add { addr } => {
            let req = ApiRequest::Add { addr: addr.clone() };
            ApiResponse::Admin(on_leader(state, req, || add(state, addr)).await)
        }
        ApiRequest::Remove { id } => {
            let req = ApiRequest::Remove { id };
            ApiResponse::Admin(on_leader(state, req, || remove(state, id)).await)
        }
    }
}

fn status(state: &NodeState) -> Status {
    let m = state.node.metrics();
    let s = state.node.status();
    let membership = m.membership_config.membership();
    let addr_of = |id: &NodeId| {
        membership
            .get_node(id)
            .map(|p| p.api.clone())
            .unwrap_or_default()
    };
    let members = s
        .voters
        .iter()
        .map(|id| Member {
            id: *id,
            addr: addr_of(id),
            voter: true,
        })
        .chain(s.learners.iter().map(|id| Member {
            id: *id,
            addr: addr_of(id),
            voter: false,
        }))
        .collect();
    Status {
        id: state.id,
        addr: state.advertise.clone(),
        state: format!("{:?}", s.state),
        term: s.term,
        leader: s.leader,
        last_log_index: m.last_log_index,
        applied: s.last_applied,
        members,
        events: s.event_count,
        event_hash: s.event_hash,
    }
}

fn rejected(reason: impl std::fmt::Display) -> ClientError {
    ClientError::Rejected {
        reason: reason.to_string(),
    }
}

fn unavailable(reason: impl std::fmt::Display) -> ClientError {
    ClientError::Unavailable {
        reason: reason.to_string(),
    }
}

/// Runs an admin change here if this node leads, else forwards `req` to the leader.
async fn on_leader<F, Fut>(
    state: &NodeState,
    req: ApiRequest,
    local: F,
) -> Result<String, ClientError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, ClientError>>,
{
    let m = state.node.metrics();
    match m.current_leader {
        Some(l) if l == state.id => local().await,
        Some(l) => {
            let Some(peer) = m.membership_config.membership().get_node(&l).cloned() else {
                return Err(unavailable(format!("leader {l} has no known address")));
            };
            let client = state.client(vec![peer.api], Duration::from_secs(60));
            client.admin(req).await.map_err(|e| match e {
                RequestError::Cluster(c) => c,
                other => unavailable(other),
            })
        }
        None => Err(unavailable("no leader known; is the cluster initialised?")),
    }
}

async fn hello(state: &NodeState, addr: &str) -> Result<Hello, ClientError> {
    state
        .client(vec![addr.to_string()], Duration::from_secs(3))
        .hello()
        .await
        .map_err(|e| unavailable(format!("{addr}: {e}")))
}

async fn init(state: &NodeState) -> Result<String, ClientError> {
    let me = PeerInfo::new(state.advertise.clone());
    state
        .node
        .initialize(BTreeMap::from([(state.id, me)]))
        .await?;
    let mut lines = vec![format!("initialised a cluster with node {}", state.id)];
    let mut leading = false;
    for _ in 0..100 {
        if state.node.metrics().state == ServerState::Leader {
            leading = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !leading {
        return Err(unavailable("the new cluster elected no leader within 5 s"));
    }
    for peer in &state.peers {
        match admit(state, peer).await {
            Ok(line) => lines.push(line),
            Err(e) => lines.push(format!("peer {peer} not admitted: {e}")),
        }
    }
    lines.push(voters_line(state));
    Ok(lines.join("\n"))
}

async fn admit(state: &NodeState, addr: &str) -> Result<String, ClientError> {
    let h = hello(state, addr).await?;
    if h.id == state.id {
        return Ok(format!("{addr} is node {} itself", h.id));
    }
    tokio::time::timeout(
        Duration::from_secs(30),
        state.node.add_learner(h.id, PeerInfo::new(h.addr.clone())),
    )
    .await
    .map_err(|_| unavailable(format!("node {} did not catch up within 30 s", h.id)))??;
    state.node.rebalance_voters().await?;
    Ok(format!("added node {} at {}", h.id, h.addr))
}

fn voters_line(state: &NodeState) -> String {
    let s = state.node.status();
    let ids = |v: &mut dyn Iterator<Item = &NodeId>| {
        v.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    };
    format!(
        "voters: {}; learners: {}",
        ids(&mut s.voters.iter()),
        if s.learners.is_empty() {
            "none".to_string()
        } else {
            ids(&mut s.learners.iter())
        }
    )
}

async fn add(state: &NodeState, addr: String) -> Result<String, ClientError> {
    let line = admit(state, &addr).await?;
    Ok(format!("{line}\n{}", voters_line(state)))
}

async fn remove(state: &NodeState, id: NodeId) -> Result<String, ClientError> {
    let s = state.node.status();
    if !s.voters.contains(&id) && !s.learners.contains(&id) {
        return Err(rejected(format!("node {id} is not a member")));
    }
    state.node.remove_node(id).await?;
    Ok(format!("removed node {id}\n{}", voters_line(state)))
}
