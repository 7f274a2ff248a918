//! The patched openraft core (`firmware/third_party/PATCHES.md`): a leader
//! replicates an entry while its own fsync of that entry is still running, and
//! it counts its own copy towards the commit quorum only once that fsync is
//! done.
//!
//! Three in-process `openraft::Raft` instances on the real picloud-log
//! adapter and event-store state machine, connected by an in-process network
//! (direct calls, so the test controls nothing but storage). Each node's log
//! store is wrapped in a *gate*: while a node's gate is held, its appends are
//! readable (replication and apply read them) but not handed to the engine,
//! so their flush callbacks do not fire — exactly the state "written, fsync
//! not finished" that the patch is about. Against unpatched openraft 0.9.25
//! both tests fail: the leader would not send the entry to any follower
//! before its own flush.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers outside #[test] fns

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TempDir;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Config, OptionalSend, ServerState, SnapshotPolicy, Vote};
use picloud_log::{Log, LogConfig};
use picloud_raft::{
    ClientBatch, ClientRequest, Entry, LogId, LogStore, NodeId, Op, PeerInfo, Raft, SmConfig,
    StateMachine, StorageError, TypeConfig,
};

// ---- the gate -------------------------------------------------------------

#[derive(Default)]
struct GateState {
    held: bool,
    /// Appends not yet handed to the engine, in order.
    pending: Vec<(Vec<Entry>, LogFlushed<TypeConfig>)>,
}

#[derive(Clone, Default)]
struct Gate(Arc<Mutex<GateState>>);

impl Gate {
    fn hold(&self) {
        self.0.lock().unwrap().held = true;
    }

    /// Entries appended but held whose index passes `keep`.
    fn held_entries(&self, keep: impl Fn(u64) -> bool) -> Vec<Entry> {
        let s = self.0.lock().unwrap();
        s.pending
            .iter()
            .flat_map(|(es, _)| es.iter())
            .filter(|e| keep(e.log_id.index))
            .cloned()
            .collect()
    }

    fn held_count(&self) -> usize {
        self.0.lock().unwrap().pending.len()
    }
}

/// The picloud-log adapter behind a gate.
#[derive(Clone)]
struct GatedLog {
    inner: LogStore,
    gate: Gate,
}

impl GatedLog {
    /// Hands every held append to the engine, in order, and stops holding.
    async fn release(&mut self) {
        let pending = {
            let mut s = self.gate.0.lock().unwrap();
            s.held = false;
            std::mem::take(&mut s.pending)
        };
        for (entries, cb) in pending {
            self.inner.append(entries, cb).await.unwrap();
        }
    }
}

impl RaftLogReader<TypeConfig> for GatedLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let mut out = self.inner.try_get_log_entries(range.clone()).await?;
        let next = out.last().map_or(0, |e| e.log_id.index + 1);
        out.extend(self.gate.held_entries(|i| i >= next && range.contains(&i)));
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for GatedLog {
    type LogReader = GatedLog;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.inner.get_log_state().await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.inner.save_vote(vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.inner.read_vote().await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.inner.save_committed(committed).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        self.inner.read_committed().await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        {
            let mut s = self.gate.0.lock().unwrap();
            if s.held {
                s.pending.push((entries, callback));
                return Ok(());
            }
        }
        self.inner.append(entries, callback).await
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        assert_eq!(
            self.gate.held_count(),
            0,
            "truncate while an append is held"
        );
        self.inner.truncate(log_id).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.inner.purge(log_id).await
    }
}

// ---- an in-process network ------------------------------------------------

#[derive(Clone, Default)]
struct Router(Arc<Mutex<BTreeMap<NodeId, Raft>>>);

impl Router {
    fn get(&self, id: NodeId) -> Raft {
        self.0.lock().unwrap()[&id].clone()
    }
}

struct Conn {
    router: Router,
    target: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Conn;

    async fn new_client(&mut self, target: NodeId, _node: &PeerInfo) -> Conn {
        Conn {
            router: self.clone(),
            target,
        }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, PeerInfo, RaftError<NodeId, E>>;

impl RaftNetwork<TypeConfig> for Conn {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let raft = self.router.get(self.target);
        raft.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        let raft = self.router.get(self.target);
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        let raft = self.router.get(self.target);
        raft.vote(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

// ---- the cluster ------------------------------------------------------------

struct Node {
    raft: Raft,
    log: GatedLog,
    _dir: TempDir,
}

async fn cluster() -> (Router, BTreeMap<NodeId, Node>) {
    let config = Arc::new(
        Config {
            heartbeat_interval: 50,
            election_timeout_min: 300,
            election_timeout_max: 600,
            snapshot_policy: SnapshotPolicy::Never,
            ..Config::default()
        }
        .validate()
        .unwrap(),
    );
    let router = Router::default();
    let mut nodes = BTreeMap::new();
    for id in 1..=3u64 {
        let dir = TempDir::new("leader-flush");
        let (log, _) = Log::open(dir.path().join("raft"), LogConfig::default()).unwrap();
        let log = GatedLog {
            inner: LogStore::new(Arc::new(log)),
            gate: Gate::default(),
        };
        let sm = StateMachine::open(dir.path(), SmConfig::default()).unwrap();
        let raft = Raft::new(id, config.clone(), router.clone(), log.clone(), sm)
            .await
            .unwrap();
        router.0.lock().unwrap().insert(id, raft.clone());
        nodes.insert(
            id,
            Node {
                raft,
                log,
                _dir: dir,
            },
        );
    }
    let members: BTreeMap<NodeId, PeerInfo> = (1..=3u64)
        .map(|id| (id, PeerInfo::new(format!("in-process:{id}"))))
        .collect();
    nodes[&1].raft.initialize(members).await.unwrap();
    (router, nodes)
}

/// The leader, once its first entry (the blank entry of its term) is applied
/// on it and in every node's engine, so that later checks start from a quiet
/// cluster.
async fn leader(nodes: &BTreeMap<NodeId, Node>) -> NodeId {
    for _ in 0..400 {
        for (id, n) in nodes {
            let m = n.raft.metrics().borrow().clone();
            let settled = m.state == ServerState::Leader
                && m.last_log_index.is_some_and(|i| i >= 1)
                && m.last_applied.map(|l| l.index) == m.last_log_index;
            if !settled {
                continue;
            }
            let mut everywhere = true;
            for other in nodes.values() {
                everywhere &= engine_last(other).await == m.last_log_index;
            }
            if everywhere {
                return *id;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no settled leader");
}

fn batch(tag: &str) -> ClientBatch {
    let mut payload = tag.as_bytes().to_vec();
    payload.resize(256, b'.');
    ClientBatch {
        requests: vec![ClientRequest {
            client: 7,
            seq: 1,
            op: Op::Append { payload },
        }],
    }
}

/// The engine's (flushed-or-written, not gated) last index of a node.
async fn engine_last(n: &Node) -> Option<u64> {
    let mut inner = n.log.inner.clone();
    inner
        .get_log_state()
        .await
        .unwrap()
        .last_log_id
        .map(|l| l.index)
}

/// openraft 0.9's metrics have no committed index; the applied index trails
/// it by at most the apply step, and a client write returns only after apply.
async fn committed(n: &Node) -> Option<u64> {
    n.raft.metrics().borrow().last_applied.map(|l| l.index)
}

async fn wait_until<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, f: F) {
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The leader's fsync and one follower's fsync are held: the entry reaches the
/// other follower (replication did not wait for the leader's fsync), but with
/// one durable copy out of three it must not commit. Once the leader's fsync
/// completes, two copies are durable and it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_counts_itself_only_after_its_flush() {
    let (_router, mut nodes) = cluster().await;
    let l = leader(&nodes).await;
    let ids: Vec<NodeId> = nodes.keys().copied().filter(|i| *i != l).collect();
    let (slow, fast) = (ids[0], ids[1]);
    let before = committed(&nodes[&l]).await;

    nodes[&l].log.gate.hold();
    nodes[&slow].log.gate.hold();
    let raft = nodes[&l].raft.clone();
    let write = tokio::spawn(async move { raft.client_write(batch("held")).await });

    // The fast follower gets the entry into its engine (and answers) while
    // the leader's own append is still held.
    let fast_node = &nodes[&fast];
    wait_until("the fast follower to receive the entry", || async {
        engine_last(fast_node).await > before
    })
    .await;
    assert_eq!(
        nodes[&l].log.gate.held_count(),
        1,
        "the leader's append is still held"
    );

    // One durable copy of three: no commit, however long we wait.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!write.is_finished(), "committed with one durable copy");
    assert_eq!(committed(&nodes[&l]).await, before);

    // The leader's fsync completes: leader + fast follower are a majority.
    nodes.get_mut(&l).unwrap().log.release().await;
    let resp = tokio::time::timeout(Duration::from_secs(10), write)
        .await
        .expect("commit after the leader's flush")
        .unwrap()
        .unwrap();
    assert!(committed(&nodes[&l]).await > before);
    assert_eq!(Some(resp.log_id.index), committed(&nodes[&l]).await);

    nodes.get_mut(&slow).unwrap().log.release().await;
    let slow_node = &nodes[&slow];
    let target = resp.log_id.index;
    wait_until("the slow follower to catch up", || async {
        engine_last(slow_node).await >= Some(target)
    })
    .await;
    for n in nodes.values() {
        n.raft.shutdown().await.unwrap();
    }
}

/// Only the leader's fsync is held: the two followers' durable copies are a
/// majority, so the write commits (and is applied on the leader from the
/// entry it holds in memory) before the leader's own fsync finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_commit_while_the_leader_fsyncs() {
    let (_router, mut nodes) = cluster().await;
    let l = leader(&nodes).await;
    let before = committed(&nodes[&l]).await;

    nodes[&l].log.gate.hold();
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        nodes[&l].raft.client_write(batch("followers")),
    )
    .await
    .expect("two followers' copies commit the write")
    .unwrap();
    assert!(Some(resp.log_id.index) > before);
    assert_eq!(
        nodes[&l].log.gate.held_count(),
        1,
        "leader's append still held"
    );
    assert_eq!(engine_last(&nodes[&l]).await, before);

    nodes.get_mut(&l).unwrap().log.release().await;
    let leader_node = &nodes[&l];
    let target = resp.log_id.index;
    wait_until("the leader's own copy", || async {
        engine_last(leader_node).await >= Some(target)
    })
    .await;
    let followers: BTreeSet<NodeId> = nodes.keys().copied().filter(|i| *i != l).collect();
    for f in followers {
        assert!(engine_last(&nodes[&f]).await >= Some(target));
    }
    for n in nodes.values() {
        n.raft.shutdown().await.unwrap();
    }
}
