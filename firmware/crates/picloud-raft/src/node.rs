//! [`RaftNode`]: one PiCloud node's Raft instance, storage and transport.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    CheckIsLeaderError, ClientWriteError, ForwardToLeader, InitializeError, RaftError,
};
use openraft::{ChangeMembers, RaftMetrics, ServerState, SnapshotPolicy};
use picloud_log::{Log, LogConfig};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::error::{ClientError, NodeError};
use crate::log_store::LogStore;
use crate::network::{self, Connector, Handler, NetworkFactory, PeerConn, PeerPool};
use crate::state_machine::{EventStore, SmConfig, StateMachine};
use crate::types::{ClientBatch, ClientRequest, ClientResponse, NodeId, Op, PeerInfo, Raft};
use crate::voters::{learners_by_seniority, plan_voters, MAX_VOTERS};
use crate::wire::{Request, Response};
use crate::RAFT_DIR;

/// Largest total payload of one client request (4 MiB): one Raft entry must
/// fit the log engine's record limit (8 MiB by default) and a wire frame.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Raft node id (stable across restarts).
    pub id: NodeId,
    /// Data directory (`raft/` and `events/` live under it).
    pub data_dir: PathBuf,
    /// Address the Raft listener binds (`host:port`; port 0 picks one).
    pub raft_addr: String,
    /// Address other nodes use to reach this one; default: the bound address.
    pub advertise_addr: Option<String>,
    /// Client/admin API address to advertise; default: the Raft address.
    pub api_addr: Option<String>,
    /// Transport security.
    pub connector: Connector,
    /// openraft settings (timeouts, snapshot policy, ...).
    pub raft: openraft::Config,
    /// Raft log engine settings.
    pub log: LogConfig,
    /// State machine / event store settings.
    pub sm: SmConfig,
    /// How many times a write or read-index request follows a leader hint or
    /// waits for an election before giving up.
    pub forward_retries: u32,
    /// Deadline of one forwarded request.
    pub forward_timeout: Duration,
}

impl NodeConfig {
    /// Defaults suitable for a LAN of Pis: heartbeat 100 ms, election timeout
    /// 500-1000 ms, a snapshot every 10 000 entries keeping 1 000 entries of log.
    pub fn new(id: NodeId, data_dir: impl Into<PathBuf>, raft_addr: impl Into<String>) -> Self {
        let raft = openraft::Config {
            cluster_name: "picloud".into(),
            heartbeat_interval: 100,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            install_snapshot_timeout: 2000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(10_000),
            max_in_snapshot_log_to_keep: 1_000,
            snapshot_max_chunk_size: 4 << 20,
            max_payload_entries: 1024,
            ..Default::default()
        };
        NodeConfig {
            id,
            data_dir: data_dir.into(),
            raft_addr: raft_addr.into(),
            advertise_addr: None,
            api_addr: None,
            connector: Connector::plain_loopback(),
            raft,
            log: LogConfig::default(),
            sm: SmConfig::default(),
            forward_retries: 20,
            forward_timeout: Duration::from_secs(5),
        }
    }
}

/// A summary for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// This node.
    pub id: NodeId,
    /// Leader, follower, learner, candidate or shutdown.
    pub state: ServerState,
    /// Current term.
    pub term: u64,
    /// The known leader.
    pub leader: Option<NodeId>,
    /// Last applied log index.
    pub last_applied: Option<u64>,
    /// Voters of the effective membership.
    pub voters: BTreeSet<NodeId>,
    /// Learners, longest-serving first.
    pub learners: Vec<NodeId>,
    /// Events in the local event store.
    pub event_count: u64,
    /// Running hash of those events.
    pub event_hash: u64,
}

type Reply = oneshot::Sender<Result<ClientResponse, ClientError>>;

/// Most requests in one Raft entry.
pub const MAX_BATCH_REQUESTS: usize = 4096;
/// Most payload bytes in one Raft entry (below the engine's 8 MiB record limit).
pub const MAX_BATCH_BYTES: usize = 6 << 20;
/// Batches submitted to openraft and not yet answered. While all are in
/// flight, new requests queue up and form the next batch, so the batch size
/// adapts to the load (1 request when idle).
pub const MAX_BATCHES_IN_FLIGHT: usize = 2;

fn payload_bytes(req: &ClientRequest) -> usize {
    match &req.op {
        Op::Append { payload } => payload.len(),
        Op::AppendBatch { payloads } | Op::AppendIf { payloads, .. } => {
            payloads.iter().map(Vec::len).sum()
        }
    }
}

/// Waits for the next request, then takes every request already queued behind it, up to
/// [`MAX_BATCH_REQUESTS`] and [`MAX_BATCH_BYTES`]; a request that would overflow the batch is
/// kept in `carry` for the next one. `None` when the queue is closed.
async fn next_batch(
    rx: &mut mpsc::UnboundedReceiver<(ClientRequest, Reply)>,
    carry: &mut Option<(ClientRequest, Reply)>,
) -> Option<(Vec<ClientRequest>, Vec<Reply>)> {
    let first = match carry.take() {
        Some(x) => x,
        None => rx.recv().await?,
    };
    let mut bytes = payload_bytes(&first.0);
    let mut requests = vec![first.0];
    let mut replies = vec![first.1];
    while requests.len() < MAX_BATCH_REQUESTS {
        let Ok((req, tx)) = rx.try_recv() else { break };
        let b = payload_bytes(&req);
        if bytes + b > MAX_BATCH_BYTES {
            *carry = Some((req, tx));
            break;
        }
        bytes += b;
        requests.push(req);
        replies.push(tx);
    }
    Some((requests, replies))
}

/// Groups concurrent client requests into one Raft entry each time openraft
/// can take another (see [`ClientBatch`]).
async fn batcher(raft: Raft, mut rx: mpsc::UnboundedReceiver<(ClientRequest, Reply)>) {
    let permits = Arc::new(Semaphore::new(MAX_BATCHES_IN_FLIGHT));
    let mut carry: Option<(ClientRequest, Reply)> = None;
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let Some((requests, replies)) = next_batch(&mut rx, &mut carry).await else {
            return;
        };
        let raft = raft.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let started = crate::trace::client_write_start();
            match raft.client_write(ClientBatch { requests }).await {
                Ok(resp) => {
                    crate::trace::client_write_done(resp.log_id.index, started);
                    // A missing response drops its sender: the caller sees Unavailable.
                    for (tx, r) in replies.into_iter().zip(resp.data.responses) {
                        let _ = tx.send(Ok(r));
                    }
                }
                Err(e) => {
                    let e = write_err(e);
                    for tx in replies {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

/// Forwards queued writes to one leader address, many per RPC
/// ([`Request::ClientWriteBatch`]), at most [`MAX_BATCHES_IN_FLIGHT`] RPCs at a time.
async fn forward_loop(
    conn: Arc<PeerConn>,
    timeout: Duration,
    mut rx: mpsc::UnboundedReceiver<(ClientRequest, Reply)>,
) {
    let permits = Arc::new(Semaphore::new(MAX_BATCHES_IN_FLIGHT));
    let mut carry: Option<(ClientRequest, Reply)> = None;
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let Some((requests, replies)) = next_batch(&mut rx, &mut carry).await else {
            return;
        };
        let conn = Arc::clone(&conn);
        tokio::spawn(async move {
            let _permit = permit;
            let fail = |reason: String| ClientError::Unavailable { reason };
            match conn
                .call(Request::ClientWriteBatch(requests), timeout)
                .await
            {
                Ok(Response::ClientWriteBatch(results)) => {
                    for (tx, r) in replies.into_iter().zip(results) {
                        let _ = tx.send(r);
                    }
                }
                Ok(other) => {
                    let e = fail(format!("unexpected response {}", kind(&other)));
                    for tx in replies {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
                Err(e) => {
                    let e = fail(e.to_string());
                    for tx in replies {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

/// Logs the Raft events that explain stalls on stderr, one line each
/// (`picloud-raft: node <id>: ...`): term, state and leader changes, snapshots,
/// purges, and AppendEntries RPCs openraft abandoned after `heartbeat_ms`
/// (counted by [`crate::trace::APPEND_ENTRIES_ABANDONED`]; at most one line a
/// second). Wakes on metrics changes, at most every 20 ms.
async fn watch_events(
    id: NodeId,
    heartbeat_ms: u64,
    mut rx: tokio::sync::watch::Receiver<RaftMetrics<NodeId, PeerInfo>>,
) {
    use std::sync::atomic::Ordering;
    let mut seen = (0u64, None, None, None, None);
    let mut abandoned = 0u64;
    let mut abandoned_logged = tokio::time::Instant::now();
    loop {
        let (term, state, leader, snapshot, purged) = {
            let m = rx.borrow_and_update();
            (
                m.current_term,
                m.state,
                m.current_leader,
                m.snapshot.map(|l| l.index),
                m.purged.map(|l| l.index),
            )
        };
        if (term, Some(state), leader) != (seen.0, seen.1, seen.2) {
            eprintln!("picloud-raft: node {id}: term {term}, {state:?}, leader {leader:?}");
        }
        if snapshot != seen.3 {
            if let Some(i) = snapshot {
                eprintln!("picloud-raft: node {id}: snapshot at index {i}");
            }
        }
        if purged != seen.4 {
            if let Some(i) = purged {
                eprintln!("picloud-raft: node {id}: log purged up to index {i}");
            }
        }
        seen = (term, Some(state), leader, snapshot, purged);
        let n = crate::trace::APPEND_ENTRIES_ABANDONED.load(Ordering::Relaxed);
        if n != abandoned && abandoned_logged.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "picloud-raft: node {id}: {n} AppendEntries RPCs abandoned so far (no answer within {heartbeat_ms} ms)"
            );
            abandoned = n;
            abandoned_logged = tokio::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn kind(r: &Response) -> &'static str {
    match r {
        Response::AppendEntries(_) => "AppendEntries",
        Response::Vote(_) => "Vote",
        Response::InstallSnapshot(_) => "InstallSnapshot",
        Response::ClientWrite(_) => "ClientWrite",
        Response::ReadIndex(_) => "ReadIndex",
        Response::ClientWriteBatch(_) => "ClientWriteBatch",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Shared {
    id: NodeId,
    raft: Raft,
    batch_tx: mpsc::UnboundedSender<(ClientRequest, Reply)>,
    /// Per leader address: the queue of writes forwarded there in batches.
    forward_queues: Mutex<HashMap<String, mpsc::UnboundedSender<(ClientRequest, Reply)>>>,
    events: Arc<EventStore>,
    pool: Arc<PeerPool>,
    forward_retries: u32,
    forward_timeout: Duration,
}

/// A running node. Dropping it without [`RaftNode::shutdown`] leaves the
/// openraft tasks running until the runtime stops.
pub struct RaftNode {
    shared: Arc<Shared>,
    info: PeerInfo,
    local_addr: SocketAddr,
    server: JoinHandle<()>,
    batcher: JoinHandle<()>,
    connector: Connector,
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.shared.id)
            .field("addr", &self.local_addr)
            .finish()
    }
}

fn fatal(e: impl std::fmt::Display) -> ClientError {
    ClientError::Fatal {
        reason: e.to_string(),
    }
}

fn not_leader(f: ForwardToLeader<NodeId, PeerInfo>) -> ClientError {
    ClientError::NotLeader {
        leader: f.leader_id.zip(f.leader_node),
    }
}

fn write_err(e: RaftError<NodeId, ClientWriteError<NodeId, PeerInfo>>) -> ClientError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => not_leader(f),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => ClientError::Rejected {
            reason: c.to_string(),
        },
        RaftError::Fatal(f) => fatal(f),
    }
}

impl Shared {
    async fn local_write(&self, req: ClientRequest) -> Result<ClientResponse, ClientError> {
        let bytes: usize = match &req.op {
            Op::Append { payload } => payload.len(),
            Op::AppendBatch { payloads } | Op::AppendIf { payloads, .. } => {
                payloads.iter().map(Vec::len).sum()
            }
        };
        if bytes > MAX_REQUEST_BYTES {
            return Err(ClientError::Rejected {
                reason: format!("request of {bytes} payload bytes exceeds {MAX_REQUEST_BYTES}"),
            });
        }
        let (tx, rx) = oneshot::channel();
        let queued = crate::trace::now();
        self.batch_tx
            .send((req, tx))
            .map_err(|_| fatal("write batcher stopped"))?;
        let r = rx.await.unwrap_or_else(|_| {
            Err(ClientError::Unavailable {
                reason: "write dropped by the batcher".into(),
            })
        });
        crate::trace::record("leader.total", queued);
        r
    }

    /// Forwards a write to the leader at `addr` through that peer's batcher.
    async fn forward_write(
        &self,
        addr: String,
        req: ClientRequest,
    ) -> Result<ClientResponse, ClientError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = lock(&self.forward_queues);
            let sender = q.entry(addr.clone()).or_insert_with(|| {
                let (qtx, qrx) = mpsc::unbounded_channel();
                tokio::spawn(forward_loop(
                    self.pool.get(&addr),
                    self.forward_timeout,
                    qrx,
                ));
                qtx
            });
            if let Err(mpsc::error::SendError((req, tx))) = sender.send((req, tx)) {
                // The loop ended (cannot happen while we hold the sender); start afresh.
                q.remove(&addr);
                drop((req, tx));
                return Err(ClientError::Unavailable {
                    reason: format!("forwarder to {addr} stopped"),
                });
            }
        }
        rx.await.unwrap_or_else(|_| {
            Err(ClientError::Unavailable {
                reason: "forwarded write dropped".into(),
            })
        })
    }

    /// Sends one request to `addr` and maps the transport outcome.
    async fn remote_call<T>(
        &self,
        addr: String,
        req: Request,
        unwrap: impl FnOnce(Response) -> Option<Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        match self.pool.get(&addr).call(req, self.forward_timeout).await {
            Ok(resp) => unwrap(resp).unwrap_or_else(|| {
                Err(ClientError::Unavailable {
                    reason: "unexpected response kind".into(),
                })
            }),
            Err(e) => Err(ClientError::Unavailable {
                reason: e.to_string(),
            }),
        }
    }

    async fn local_read_index(&self) -> Result<Option<u64>, ClientError> {
        match self.raft.ensure_linearizable().await {
            Ok(l) => Ok(l.map(|l| l.index)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(not_leader(f)),
            Err(RaftError::APIError(e)) => Err(ClientError::Unavailable {
                reason: e.to_string(),
            }),
            Err(RaftError::Fatal(f)) => Err(fatal(f)),
        }
    }

    fn known_leader(&self) -> Option<(NodeId, PeerInfo)> {
        let m = self.raft.metrics().borrow().clone();
        let l = m.current_leader?;
        let node = m.membership_config.membership().get_node(&l).cloned()?;
        Some((l, node))
    }

    /// Runs `local` here or `remote` on the leader, following hints.
    #[allow(clippy::needless_lifetimes)] // elision does not reach the closures' return types
    async fn with_leader<'a, T>(
        &'a self,
        mut local: impl FnMut() -> Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send + 'a>>,
        remote: impl Fn(String) -> Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send + 'a>>,
    ) -> Result<T, ClientError> {
        let mut target: Option<(NodeId, PeerInfo)> = None;
        let mut last = ClientError::Unavailable {
            reason: "no attempt".into(),
        };
        for attempt in 0..=self.forward_retries {
            let r = match &target {
                None => local().await,
                Some((_, peer)) => remote(peer.addr.clone()).await,
            };
            match r {
                Ok(v) => return Ok(v),
                Err(ClientError::NotLeader {
                    leader: Some((id, peer)),
                }) => {
                    target = if id == self.id {
                        None
                    } else {
                        Some((id, peer))
                    };
                    last = ClientError::NotLeader {
                        leader: target.clone(),
                    };
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                Err(
                    e @ (ClientError::NotLeader { leader: None } | ClientError::Unavailable { .. }),
                ) => {
                    last = e;
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt.min(10) + 1)))
                        .await;
                    target = self.known_leader().filter(|(id, _)| *id != self.id);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

impl Handler for Shared {
    fn handle(self: Arc<Self>, req: Request) -> Pin<Box<dyn Future<Output = Response> + Send>> {
        Box::pin(async move {
            match req {
                Request::AppendEntries(r) => {
                    let t = if r.entries.is_empty() {
                        None
                    } else {
                        crate::trace::now()
                    };
                    let resp = self.raft.append_entries(r).await;
                    crate::trace::record("follower.append_entries", t);
                    Response::AppendEntries(resp)
                }
                Request::Vote(r) => Response::Vote(self.raft.vote(r).await),
                Request::InstallSnapshot(r) => {
                    Response::InstallSnapshot(self.raft.install_snapshot(r).await)
                }
                // Forwarded requests are executed here only, never forwarded again.
                Request::ClientWrite(r) => Response::ClientWrite(self.local_write(r).await),
                Request::ReadIndex => Response::ReadIndex(self.local_read_index().await),
                Request::ClientWriteBatch(reqs) => {
                    // Queue all into the local batcher first, then collect in order.
                    let pending: Vec<_> = reqs
                        .into_iter()
                        .map(|r| {
                            let me = Arc::clone(&self);
                            tokio::spawn(async move { me.local_write(r).await })
                        })
                        .collect();
                    let mut out = Vec::with_capacity(pending.len());
                    for p in pending {
                        out.push(p.await.unwrap_or_else(|e| Err(fatal(e))));
                    }
                    Response::ClientWriteBatch(out)
                }
            }
        })
    }
}

impl RaftNode {
    /// Opens the Raft log and the event store under `config.data_dir`, binds
    /// the listener and starts openraft.
    pub async fn start(config: NodeConfig) -> Result<RaftNode, NodeError> {
        let raft_config = Arc::new(
            config
                .raft
                .clone()
                .validate()
                .map_err(|e| NodeError::Config(e.to_string()))?,
        );
        let raft_dir = config.data_dir.join(RAFT_DIR);
        let log_cfg = config.log.clone();
        let dir = raft_dir.clone();
        let (log, _report) = tokio::task::spawn_blocking(move || Log::open(&dir, log_cfg))
            .await
            .unwrap_or_else(|e| Err(crate::log_store::join_error(e)))
            .map_err(|source| NodeError::OpenLog {
                dir: raft_dir.display().to_string(),
                source,
            })?;
        let data_dir = config.data_dir.clone();
        let sm_cfg = config.sm.clone();
        let sm = tokio::task::spawn_blocking(move || StateMachine::open(&data_dir, sm_cfg))
            .await
            .map_err(|e| NodeError::Fatal(e.to_string()))??;
        let events = sm.event_store();
        let listener = network::bind(&config.raft_addr, &config.connector).await?;
        let local_addr = listener.local_addr().map_err(|source| {
            NodeError::Transport(crate::TransportError::Bind {
                addr: config.raft_addr.clone(),
                source,
            })
        })?;
        let addr = config
            .advertise_addr
            .clone()
            .unwrap_or_else(|| local_addr.to_string());
        let info = PeerInfo {
            api: config.api_addr.clone().unwrap_or_else(|| addr.clone()),
            addr,
        };
        let pool = Arc::new(PeerPool::new(config.connector.clone()));
        let raft = Raft::new(
            config.id,
            raft_config,
            NetworkFactory::new(config.id, Arc::clone(&pool)),
            LogStore::new(Arc::new(log)),
            sm,
        )
        .await
        .map_err(|e| NodeError::Fatal(e.to_string()))?;
        tokio::spawn(watch_events(
            config.id,
            config.raft.heartbeat_interval,
            raft.metrics(),
        ));
        let (batch_tx, batch_rx) = mpsc::unbounded_channel();
        let batcher = tokio::spawn(batcher(raft.clone(), batch_rx));
        let shared = Arc::new(Shared {
            id: config.id,
            raft,
            batch_tx,
            forward_queues: Mutex::new(HashMap::new()),
            events,
            pool,
            forward_retries: config.forward_retries,
            forward_timeout: config.forward_timeout,
        });
        let server = network::serve(listener, config.connector.clone(), Arc::clone(&shared));
        Ok(RaftNode {
            connector: config.connector.clone(),
            batcher,
            shared,
            info,
            local_addr,
            server,
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// Serves a node-to-node connection accepted on another listener (the
    /// binary's shared one) exactly like one accepted on this node's own:
    /// handshake with the node's connector, then requests until EOF.
    pub async fn serve_connection(&self, tcp: tokio::net::TcpStream) -> Result<(), NodeError> {
        network::serve_accepted(tcp, &self.connector, Arc::clone(&self.shared))
            .await
            .map_err(NodeError::Transport)
    }

    /// Serves a node-to-node stream that is already secured (the binary's shared
    /// listener ran the TLS handshake with [`RaftNode::connector`]'s configuration and
    /// read past nothing): requests until EOF.
    pub async fn serve_stream(&self, stream: network::BoxStream) {
        network::serve_stream(stream, Arc::clone(&self.shared)).await;
    }

    /// How this node secures its connections.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How other nodes reach this one.
    pub fn peer_info(&self) -> PeerInfo {
        self.info.clone()
    }

    /// The openraft handle (metrics, triggers, waits).
    pub fn raft(&self) -> &Raft {
        &self.shared.raft
    }

    /// The local event store (reads without consistency guarantees).
    pub fn event_store(&self) -> &Arc<EventStore> {
        &self.shared.events
    }

    /// Forms a new cluster whose voters are `members` (at most [`MAX_VOTERS`]);
    /// call on exactly one node of a fresh cluster, usually with itself alone.
    pub async fn initialize(&self, members: BTreeMap<NodeId, PeerInfo>) -> Result<(), ClientError> {
        if members.len() > MAX_VOTERS || members.is_empty() {
            return Err(ClientError::Rejected {
                reason: format!(
                    "initial membership needs 1..={MAX_VOTERS} voters, got {}",
                    members.len()
                ),
            });
        }
        match self.shared.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
                Err(ClientError::Rejected {
                    reason: e.to_string(),
                })
            }
            Err(RaftError::APIError(e)) => Err(ClientError::Rejected {
                reason: e.to_string(),
            }),
            Err(RaftError::Fatal(f)) => Err(fatal(f)),
        }
    }

    /// Adds a learner and waits until it has caught up (call on the leader).
    pub async fn add_learner(&self, id: NodeId, info: PeerInfo) -> Result<(), ClientError> {
        self.shared
            .raft
            .add_learner(id, info, true)
            .await
            .map(|_| ())
            .map_err(write_err)
    }

    /// Replaces the voter set (call on the leader). Nodes leaving the voter
    /// set stay as learners. Refuses more than [`MAX_VOTERS`] voters.
    pub async fn change_membership(&self, voters: BTreeSet<NodeId>) -> Result<(), ClientError> {
        if voters.len() > MAX_VOTERS {
            return Err(ClientError::Rejected {
                reason: format!("at most {MAX_VOTERS} voters, got {}", voters.len()),
            });
        }
        self.shared
            .raft
            .change_membership(voters, true)
            .await
            .map(|_| ())
            .map_err(write_err)
    }

    fn membership(&self) -> (BTreeSet<NodeId>, BTreeSet<NodeId>) {
        let m = self
            .shared
            .raft
            .metrics()
            .borrow()
            .membership_config
            .clone();
        let nodes = m.membership().nodes().map(|(id, _)| *id).collect();
        let voters = m.membership().voter_ids().collect();
        (nodes, voters)
    }

    /// Applies the voter policy (call on the leader after membership changes):
    /// promotes the longest-serving learners while there are fewer than
    /// [`MAX_VOTERS`] voters. Returns the new voter set if it changed.
    pub async fn rebalance_voters(&self) -> Result<Option<BTreeSet<NodeId>>, ClientError> {
        let (nodes, voters) = self.membership();
        let joined = self.shared.events.joined();
        match plan_voters(&nodes, &voters, &joined, MAX_VOTERS) {
            None => Ok(None),
            Some(want) => {
                self.shared
                    .raft
                    .change_membership(want.clone(), true)
                    .await
                    .map_err(write_err)?;
                Ok(Some(want))
            }
        }
    }

    /// Removes a node from the cluster (call on the leader). A removed voter
    /// is replaced by the longest-serving learner in the same change.
    pub async fn remove_node(&self, id: NodeId) -> Result<(), ClientError> {
        let (nodes, voters) = self.membership();
        if !nodes.contains(&id) {
            return Ok(());
        }
        if voters.contains(&id) {
            let rest: BTreeSet<NodeId> = voters.iter().copied().filter(|v| *v != id).collect();
            let remaining: BTreeSet<NodeId> = nodes.iter().copied().filter(|v| *v != id).collect();
            let joined = self.shared.events.joined();
            let want = plan_voters(&remaining, &rest, &joined, MAX_VOTERS).unwrap_or(rest);
            if want.is_empty() {
                return Err(ClientError::Rejected {
                    reason: "cannot remove the last voter".into(),
                });
            }
            // retain = false: the removed voter leaves the membership entirely.
            self.shared
                .raft
                .change_membership(want, false)
                .await
                .map_err(write_err)?;
        }
        let (nodes, _) = self.membership();
        if nodes.contains(&id) {
            let gone: BTreeSet<NodeId> = [id].into_iter().collect();
            self.shared
                .raft
                .change_membership(ChangeMembers::RemoveNodes(gone), false)
                .await
                .map_err(write_err)?;
        }
        Ok(())
    }

    /// Commits `request` through the leader, from any node: on a follower it
    /// is forwarded over the transport, following `ForwardToLeader` hints and
    /// waiting out elections, at most `forward_retries` times. On the leader,
    /// concurrent requests are grouped into one Raft entry ([`ClientBatch`]):
    /// at most [`MAX_BATCHES_IN_FLIGHT`] batches are in openraft at a time and
    /// the next one takes everything queued meanwhile.
    pub async fn append(&self, request: ClientRequest) -> Result<ClientResponse, ClientError> {
        let s = &self.shared;
        s.with_leader(
            || Box::pin(s.local_write(request.clone())),
            |addr| Box::pin(s.forward_write(addr, request.clone())),
        )
        .await
    }

    /// Reads up to `limit` events from `from_offset`. With `linearizable`, the
    /// read reflects every write acknowledged before the call started: the
    /// leader confirms its leadership and returns its commit index (read
    /// index, forwarded if this node is not the leader), and this node waits
    /// until it has applied that index before reading its own event store.
    pub async fn read_events(
        &self,
        from_offset: u64,
        limit: usize,
        linearizable: bool,
    ) -> Result<Vec<(u64, Vec<u8>)>, ClientError> {
        let s = &self.shared;
        if linearizable {
            let index = s
                .with_leader(
                    || Box::pin(s.local_read_index()),
                    |addr| {
                        Box::pin(s.remote_call(addr, Request::ReadIndex, |r| match r {
                            Response::ReadIndex(r) => Some(r),
                            _ => None,
                        }))
                    },
                )
                .await?;
            if index.is_some() {
                s.raft
                    .wait(Some(s.forward_timeout))
                    .applied_index_at_least(index, "linearizable read")
                    .await
                    .map_err(|e| ClientError::Unavailable {
                        reason: e.to_string(),
                    })?;
            }
        }
        s.events.read(from_offset, limit).await.map_err(fatal)
    }

    /// openraft metrics.
    pub fn metrics(&self) -> RaftMetrics<NodeId, PeerInfo> {
        self.shared.raft.metrics().borrow().clone()
    }

    /// A status summary.
    pub fn status(&self) -> NodeStatus {
        let m = self.metrics();
        let (nodes, voters) = self.membership();
        let learners = learners_by_seniority(&nodes, &voters, &self.shared.events.joined());
        let (event_count, event_hash) = self.shared.events.count_and_hash();
        NodeStatus {
            id: self.shared.id,
            state: m.state,
            term: m.current_term,
            leader: m.current_leader,
            last_applied: m.last_applied.map(|l| l.index),
            voters,
            learners,
            event_count,
            event_hash,
        }
    }

    /// Stops openraft and the listener and drops outgoing connections. The
    /// data directory can be reopened by a new [`RaftNode::start`].
    pub async fn shutdown(self) -> Result<(), NodeError> {
        crate::trace::report();
        self.server.abort();
        self.batcher.abort();
        let _ = (&mut { self.server }).await;
        let r = self
            .shared
            .raft
            .shutdown()
            .await
            .map_err(|e| NodeError::Fatal(e.to_string()));
        self.shared.pool.clear();
        r
    }
}
