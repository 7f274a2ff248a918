//! [`RaftBackend`]: the HTTP layer's [`Backend`] over a Raft node.
//!
//! - A **tailer** task reads the node's event store in offset order (up to 512 records a
//!   read), decodes each event (`picloud_events::decode_log`) and folds it into the
//!   product state (`picloud_product_core::apply`), and each read's events into the RDF
//!   [`Projection`] in one transaction ([`Projection::apply_batch`]). Records that are not
//!   event envelopes (the hidden `picloud log append` debugging command writes raw bytes)
//!   are skipped, but still counted.
//! - **Commands** are decided on the node that receives them, against its folded state,
//!   and committed with [`Op::AppendIf`] at the folded event count: if another node
//!   committed in between, the state machine refuses the append (deterministically, on
//!   every replica) and the command is decided again against the newer state. Before
//!   deciding, the node takes a linearizable read barrier and waits until its fold has
//!   caught up with it, so a decision never starts from a state older than an
//!   acknowledged write. Commands on one node are serialised by an async mutex.
//! - **Graph snapshots** ([`crate::graph_snapshot`]): given a directory, the backend
//!   watches the Raft metrics and, whenever the node's Raft snapshot advances (and on
//!   [`RaftBackend::close`]), saves the projection's N-Quads with the fold count `F`. At
//!   start it restores the graph from that file, rebuilds the product state by folding
//!   events `0..F` without projecting them, and tails on from `F`. A corrupt file, or one
//!   ahead of the event store, is ignored with a warning and the graph is rebuilt from the
//!   whole event store (see `docs/perf.md` for the rebuild rate).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use picloud_api::{ClusterStatus, NodeStatus};
use picloud_domain::{IriBuilder, Name};
use picloud_events::{decode_log, encode_log, Envelope};
use picloud_http::{
    AdminError, Backend, BackendError, BoxFuture, Clock, ClusterAdmin, EventStream, SubmitOutcome,
};
use picloud_product_core::{apply, decide, Command, ProductState};
use picloud_projection::{GraphReader, Projection};
use picloud_raft::openraft::ServerState;
use picloud_raft::{ClientError, ClientRequest, EventStore, Op, RaftNode};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often a command is decided again after a concurrent commit refused it.
const MAX_DECIDE_ATTEMPTS: u32 = 16;
/// How long `submit` and `wait_projected` wait for the local fold.
const FOLD_WAIT: Duration = Duration::from_secs(10);
/// Events read per event-store read.
const READ_BATCH: usize = 512;
/// How long start-up waits for the event store to reach a graph snapshot's fold count
/// (committed entries re-applied after a restart) before ignoring the snapshot.
const RESTORE_WAIT: Duration = Duration::from_secs(5);

/// Gives the backend access to a node it does not own (`picloud node` keeps the
/// [`RaftNode`] in its own state).
pub trait NodeHandle: Send + Sync + 'static {
    /// The node.
    fn node(&self) -> &RaftNode;

    /// A membership change asked through the HTTPS API (`picloud node` runs its
    /// `cluster init|add|remove` logic here); the summary lines. Default: the node's
    /// membership is not managed through the API (`picloud dev`: a single-node cluster,
    /// initialised at its first start) — 409.
    fn cluster_admin(
        &self,
        change: ClusterAdmin,
    ) -> BoxFuture<'_, Result<Vec<String>, AdminError>> {
        let what = match change {
            ClusterAdmin::Init => "it is already initialised",
            ClusterAdmin::Add(_) | ClusterAdmin::Remove(_) => "its membership is fixed",
        };
        Box::pin(async move {
            Err(AdminError::Conflict(format!(
                "this is a single-node `picloud dev` cluster: {what}"
            )))
        })
    }
}

impl NodeHandle for RaftNode {
    fn node(&self) -> &RaftNode {
        self
    }
}

/// The identity state as last published by the fold (read by every request's token check).
type IamCell = Arc<RwLock<Arc<picloud_iam::IamState>>>;

struct Fold {
    state: ProductState,
    /// The identity slice's state, folded with the product state.
    iam: picloud_iam::IamState,
    /// Where the fold publishes `iam` after a batch that changed it.
    iam_cell: IamCell,
    projection: Projection,
    /// Records folded (= the next offset), updated with the state under the same lock.
    count: u64,
}

/// The [`Backend`] of `picloud dev` and `picloud node --api`.
pub struct RaftBackend {
    handle: RwLock<Option<Arc<dyn NodeHandle>>>,
    events: Arc<EventStore>,
    fold: Arc<Mutex<Fold>>,
    reader: GraphReader,
    /// Events folded so far (= next offset to fold).
    folded: watch::Receiver<u64>,
    iri: IriBuilder,
    clock: Clock,
    submit_lock: tokio::sync::Mutex<()>,
    client: u128,
    seq: AtomicU64,
    ca_fingerprint: Option<String>,
    tailer: Mutex<Option<JoinHandle<()>>>,
    /// Where graph snapshots go (`None`: never taken).
    snapshot_dir: Option<PathBuf>,
    snapshotter: Mutex<Option<JoinHandle<()>>>,
    iam_cell: IamCell,
    /// The PEM of the CA the node's HTTPS certificate chains to (`/ca.pem` before identity
    /// init).
    node_ca_pem: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for RaftBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftBackend")
            .field("domain", self.iri.domain())
            .finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> BackendError {
    BackendError::Internal(e.to_string())
}

fn unavailable(e: &ClientError) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

fn poisoned() -> BackendError {
    BackendError::Internal("the fold lock is poisoned".into())
}

/// The name a node goes by in the API (`node-<id>`).
pub fn node_name(id: u64) -> String {
    format!("node-{id}")
}

impl RaftBackend {
    /// Starts the backend over `handle`'s node: restores the graph snapshot in
    /// `snapshot_dir` if there is a usable one, folds the rest of the event store (or all
    /// of it), then keeps tailing it. With a `snapshot_dir`, a graph snapshot is saved
    /// there with each Raft snapshot and on [`RaftBackend::close`]. Must run inside a
    /// tokio runtime.
    pub async fn start(
        handle: Arc<dyn NodeHandle>,
        iri: IriBuilder,
        clock: Clock,
        ca_fingerprint: Option<String>,
        snapshot_dir: Option<PathBuf>,
    ) -> Result<Arc<RaftBackend>, BackendError> {
        let events = Arc::clone(handle.node().event_store());
        let metrics = handle.node().raft().metrics();
        let restored = match &snapshot_dir {
            Some(dir) => restore(dir, &iri, &events, metrics.clone()).await,
            None => None,
        };
        let fold = match restored {
            Some(f) => f,
            None => Fold {
                state: ProductState::default(),
                iam: picloud_iam::IamState::default(),
                iam_cell: IamCell::default(),
                projection: Projection::new(iri.clone()).map_err(internal)?,
                count: 0,
            },
        };
        let iam_cell = Arc::clone(&fold.iam_cell);
        if let Ok(mut c) = iam_cell.write() {
            *c = Arc::new(fold.iam.clone());
        }
        let reader = fold.projection.reader();
        let start_at = fold.count;
        let fold = Arc::new(Mutex::new(fold));
        let (tx, folded) = watch::channel(start_at);
        // The initial replay happens on the tailer too; `start` waits for it below.
        let target = events.count_and_hash().0;
        let tailer = tokio::spawn(tail(
            Arc::clone(&events),
            Arc::clone(&fold),
            tx,
            metrics.clone(),
            start_at,
        ));
        let snapshotter = snapshot_dir.as_ref().map(|dir| {
            tokio::spawn(snapshot_on_raft_snapshots(
                metrics,
                Arc::clone(&fold),
                dir.clone(),
            ))
        });
        let client = picloud::client::random_u128().map_err(internal)?;
        let backend = Arc::new(RaftBackend {
            iam_cell,
            handle: RwLock::new(Some(handle)),
            events,
            fold,
            reader,
            folded,
            iri,
            clock,
            submit_lock: tokio::sync::Mutex::new(()),
            client,
            seq: AtomicU64::new(0),
            ca_fingerprint,
            tailer: Mutex::new(Some(tailer)),
            snapshot_dir,
            snapshotter: Mutex::new(snapshotter),
            node_ca_pem: std::sync::OnceLock::new(),
        });
        // Replaying a long log can take a while: no deadline here.
        let mut rx = backend.folded.clone();
        while *rx.borrow_and_update() < target {
            if rx.changed().await.is_err() {
                return Err(internal("the projection stopped during the initial replay"));
            }
        }
        Ok(backend)
    }

    /// Stops tailing and lets go of the node (so its owner can shut it down). Open event
    /// streams end; later calls answer `Unavailable`. The first call saves a graph
    /// snapshot (with a snapshot directory; blocking file I/O).
    pub fn close(&self) {
        if let Ok(mut h) = self.handle.write() {
            *h = None;
        }
        if let Ok(mut s) = self.snapshotter.lock() {
            if let Some(s) = s.take() {
                s.abort();
            }
        }
        let stopped = match self.tailer.lock() {
            Ok(mut t) => t.take().map(|t| t.abort()).is_some(),
            Err(_) => false,
        };
        if stopped {
            if let Some(dir) = &self.snapshot_dir {
                // The fold is consistent under its lock even if the tailer is mid-batch.
                match save_snapshot(&self.fold, dir) {
                    Ok(n) => eprintln!("graph snapshot saved at {n} events"),
                    Err(e) => eprintln!("warning: saving the graph snapshot: {e}"),
                }
            }
        }
    }

    fn handle(&self) -> Result<Arc<dyn NodeHandle>, BackendError> {
        self.handle
            .read()
            .map_err(|_| poisoned())?
            .clone()
            .ok_or_else(|| BackendError::Unavailable("this node is shutting down".into()))
    }

    /// Records the PEM of the CA this node's HTTPS certificate chains to, served at
    /// `/ca.pem` until identity records the cluster CA (first contact before `cluster init`).
    pub fn set_node_ca_pem(&self, pem: String) {
        let _ = self.node_ca_pem.set(pem);
    }

    /// Events folded into the state and the graph so far.
    pub fn folded(&self) -> u64 {
        *self.folded.borrow()
    }

    async fn wait_folded(&self, count: u64, limit: Duration) -> bool {
        let mut rx = self.folded.clone();
        let wait = async {
            while *rx.borrow_and_update() < count {
                if rx.changed().await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(limit, wait).await.unwrap_or(false)
    }

    async fn submit_inner(&self, command: Command) -> Result<SubmitOutcome, BackendError> {
        let iri = self.iri.clone();
        let (events, first_offset, ()) = self
            .commit_decided(|fold, now| {
                let events =
                    decide(&fold.state, &command, now, &iri).map_err(BackendError::Rejected)?;
                Ok((events, ()))
            })
            .await?;
        Ok(SubmitOutcome {
            correlation_id: command.correlation_id(),
            events,
            first_offset,
        })
    }

    async fn submit_iam_inner(
        &self,
        command: picloud_iam::Command,
        correlation_id: picloud_events::CorrelationId,
    ) -> Result<picloud_http::IamDecided, BackendError> {
        let iri = self.iri.clone();
        let (_, _, decided) = self
            .commit_decided(|fold, now| {
                let ctx = picloud_iam::Context {
                    iri: &iri,
                    now,
                    correlation_id,
                    source: iri.cluster(),
                };
                Ok(match picloud_iam::decide(&fold.iam, &command, &ctx) {
                    Ok(d) => (d.events.clone(), Ok(d)),
                    Err(r) => (Vec::new(), Err(r)),
                })
            })
            .await?;
        Ok(decided)
    }

    /// Decides with `decide` against the folded state (after a read barrier) and commits
    /// the events with `AppendIf` at the folded count, deciding again when another commit
    /// overtook it. Returns the committed events, the first offset, and what `decide`
    /// returned beside the events.
    async fn commit_decided<T>(
        &self,
        decide: impl Fn(&Fold, picloud_events::Timestamp) -> Result<(Vec<Envelope>, T), BackendError>,
    ) -> Result<(Vec<Envelope>, Option<u64>, T), BackendError> {
        let handle = self.handle()?;
        let node = handle.node();
        let _serial = self.submit_lock.lock().await;
        for _ in 0..MAX_DECIDE_ATTEMPTS {
            // Read barrier: everything acknowledged before now is applied locally ...
            node.read_events(u64::MAX, 0, true)
                .await
                .map_err(|e| unavailable(&e))?;
            // ... and folded.
            let applied = self.events.count_and_hash().0;
            if !self.wait_folded(applied, FOLD_WAIT).await {
                return Err(BackendError::Unavailable(
                    "this node's projection is not catching up with the log".into(),
                ));
            }
            // The adapter reads the clock; the core gets it as an argument.
            let now = (self.clock)().ok_or_else(|| internal("the clock is unreadable"))?;
            let (expected, events, extra) = {
                let fold = self.fold.lock().map_err(|_| poisoned())?;
                let expected = fold.count;
                let (events, extra) = decide(&fold, now)?;
                (expected, events, extra)
            };
            if events.is_empty() {
                return Ok((events, None, extra));
            }
            let payloads = events
                .iter()
                .map(encode_log)
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            let n = payloads.len();
            let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
            let request = ClientRequest {
                client: self.client,
                seq,
                op: Op::AppendIf {
                    expected_offset: expected,
                    payloads,
                },
            };
            let response = match node.append(request).await {
                Ok(r) => r,
                Err(ClientError::Rejected { reason }) => {
                    return Err(BackendError::Unavailable(format!(
                        "the cluster refused the append: {reason}"
                    )))
                }
                Err(e) => return Err(unavailable(&e)),
            };
            if response.refused(expected, n) {
                // Another node committed first: decide again against the newer state.
                continue;
            }
            let last = response.first_offset + u64::try_from(n).unwrap_or(u64::MAX);
            // Best effort: the HTTP layer reports `projected` from `wait_projected`.
            let _ = self.wait_folded(last, FOLD_WAIT).await;
            return Ok((events, Some(response.first_offset), extra));
        }
        Err(BackendError::Unavailable(format!(
            "the log kept moving: {MAX_DECIDE_ATTEMPTS} decisions were overtaken by other commits"
        )))
    }

    fn status_now(&self) -> Result<ClusterStatus, BackendError> {
        let handle = self.handle()?;
        let node = handle.node();
        let m = node.metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let nodes = membership
            .nodes()
            .map(|(id, info)| {
                let name = node_name(*id);
                let iri = Name::parse(&name)
                    .map(|n| self.iri.node(&n).as_str().to_owned())
                    .unwrap_or_default();
                let reachable = *id == m.id
                    || m.replication
                        .as_ref()
                        .map_or(m.current_leader.is_some(), |r| {
                            r.get(id).is_some_and(Option::is_some)
                        });
                NodeStatus {
                    name,
                    iri,
                    role: if voters.contains(id) {
                        "voter".into()
                    } else {
                        "learner".into()
                    },
                    address: Some(info.addr.clone()),
                    leader: m.current_leader == Some(*id),
                    reachable,
                }
            })
            .collect();
        let (products, projected) = {
            let fold = self.fold.lock().map_err(|_| poisoned())?;
            (
                fold.state
                    .products()
                    .map(|(p, _)| p.to_string())
                    .collect::<Vec<_>>(),
                fold.projection.cursor(),
            )
        };
        let count = self.events.count_and_hash().0;
        Ok(ClusterStatus {
            domain: self.iri.domain().as_str().to_owned(),
            iri: self.iri.cluster().as_str().to_owned(),
            this_node: Some(node_name(m.id)),
            leader: m.current_leader.map(node_name),
            nodes,
            products,
            committed_offset: count.checked_sub(1),
            projected_offset: projected,
            ca_fingerprint: self.ca_fingerprint.clone(),
        })
    }
}

impl Drop for RaftBackend {
    fn drop(&mut self) {
        self.close();
    }
}

type Metrics = watch::Receiver<picloud_raft::openraft::RaftMetrics<u64, picloud_raft::PeerInfo>>;

/// Saves the fold as a graph snapshot in `dir`; returns its fold count.
fn save_snapshot(fold: &Mutex<Fold>, dir: &Path) -> Result<u64, String> {
    let (count, nquads) = {
        let f = fold
            .lock()
            .map_err(|_| "the fold lock is poisoned".to_owned())?;
        (f.count, f.projection.snapshot().map_err(|e| e.to_string())?)
    };
    crate::graph_snapshot::write_atomic(dir, &crate::graph_snapshot::encode(count, &nquads))
        .map_err(|e| format!("{}: {e}", dir.join(crate::graph_snapshot::FILE).display()))?;
    Ok(count)
}

/// Saves a graph snapshot whenever the node's Raft snapshot advances.
async fn snapshot_on_raft_snapshots(mut metrics: Metrics, fold: Arc<Mutex<Fold>>, dir: PathBuf) {
    let mut last = metrics.borrow_and_update().snapshot;
    while metrics.changed().await.is_ok() {
        let now = metrics.borrow_and_update().snapshot;
        if now <= last {
            continue;
        }
        last = now;
        let fold = Arc::clone(&fold);
        let dir = dir.clone();
        match tokio::task::spawn_blocking(move || save_snapshot(&fold, &dir)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("warning: saving the graph snapshot: {e}"),
            Err(e) => eprintln!("warning: saving the graph snapshot: {e}"),
        }
    }
}

/// Restores the fold from `dir`'s graph snapshot, or `None` (with a warning when a file
/// was there but is unusable) to rebuild from empty. See [`crate::graph_snapshot`].
async fn restore(
    dir: &Path,
    iri: &IriBuilder,
    events: &EventStore,
    mut metrics: Metrics,
) -> Option<Fold> {
    let path = dir.join(crate::graph_snapshot::FILE);
    let ignore = |why: String| {
        eprintln!(
            "warning: ignoring the graph snapshot {}: {why}; rebuilding the graph from the \
             event store",
            path.display()
        );
    };
    let bytes = match crate::graph_snapshot::read(dir) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            ignore(e.to_string());
            return None;
        }
    };
    let (count, nquads) = match crate::graph_snapshot::decode(&bytes) {
        Ok(x) => x,
        Err(e) => {
            ignore(e);
            return None;
        }
    };
    // After a restart the event store is cut back to the Raft snapshot and committed
    // entries are re-applied: give that a moment before judging.
    let wait = async {
        while !crate::graph_snapshot::usable(count, events.count_and_hash().0) {
            let _ = tokio::time::timeout(Duration::from_millis(100), metrics.changed()).await;
        }
    };
    let _ = tokio::time::timeout(RESTORE_WAIT, wait).await;
    let have = events.count_and_hash().0;
    if !crate::graph_snapshot::usable(count, have) {
        ignore(format!(
            "it folds {count} events but the event store holds {have}"
        ));
        return None;
    }
    let projection = match Projection::from_snapshot(iri.clone(), nquads) {
        Ok(p) => p,
        Err(e) => {
            ignore(e.to_string());
            return None;
        }
    };
    if projection.cursor().is_some_and(|c| c >= count) {
        ignore(format!(
            "its projector cursor {:?} is not below its fold count {count}",
            projection.cursor()
        ));
        return None;
    }
    // The product state: fold 0..count without projecting.
    let mut state = ProductState::default();
    let mut iam = picloud_iam::IamState::default();
    let mut next = 0u64;
    while next < count {
        let limit = usize::try_from(count - next)
            .unwrap_or(READ_BATCH)
            .min(READ_BATCH);
        let batch = match events.read(next, limit).await {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => {
                ignore(format!("the event store ends at offset {next}"));
                return None;
            }
            Err(e) => {
                ignore(format!("reading the event store at offset {next}: {e}"));
                return None;
            }
        };
        for (offset, bytes) in batch {
            if offset != next || offset >= count {
                break;
            }
            if let Ok(envelope) = decode_log(&bytes) {
                apply(&mut state, &envelope);
                picloud_iam::apply(&mut iam, &envelope);
            }
            next = offset + 1;
        }
    }
    eprintln!(
        "graph restored from the snapshot at {count} events ({} to fold)",
        events.count_and_hash().0.saturating_sub(count)
    );
    Some(Fold {
        state,
        iam,
        iam_cell: IamCell::default(),
        projection,
        count,
    })
}

/// The tailer: folds events in offset order from `next`, forever.
async fn tail(
    events: Arc<EventStore>,
    fold: Arc<Mutex<Fold>>,
    folded: watch::Sender<u64>,
    mut metrics: Metrics,
    mut next: u64,
) {
    let mut warned = false;
    loop {
        let batch = match events.read(next, READ_BATCH).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("warning: reading the event store at offset {next}: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if batch.is_empty() {
            // Woken by the next apply (metrics change), or every 100 ms at worst.
            if let Ok(Err(_)) =
                tokio::time::timeout(Duration::from_millis(100), metrics.changed()).await
            {
                // Raft stopped: keep polling slowly until the backend is closed.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            continue;
        }
        {
            let Ok(mut f) = fold.lock() else { return };
            next = f.fold_records(batch, next, &mut warned);
            folded.send_replace(next);
        }
    }
}

impl Fold {
    /// Folds the records of one read of the event store, in offset order from `next` (up
    /// to the first gap), and returns the offset after the last one folded (the new
    /// count). Each event goes into the product and identity states one at a time and,
    /// as one run, into the projection ([`project_run`]); records that are not event
    /// envelopes are counted but skipped (with a note the first time, `warned`). The
    /// identity state is republished if it changed.
    fn fold_records(
        &mut self,
        batch: Vec<(u64, Vec<u8>)>,
        mut next: u64,
        warned: &mut bool,
    ) -> u64 {
        let mut iam_changed = false;
        let mut run = Vec::with_capacity(batch.len());
        for (offset, bytes) in batch {
            if offset != next {
                break;
            }
            match decode_log(&bytes) {
                Ok(envelope) => {
                    apply(&mut self.state, &envelope);
                    if picloud_iam::is_iam_event(&envelope.payload) {
                        picloud_iam::apply(&mut self.iam, &envelope);
                        iam_changed = true;
                    }
                    run.push((offset, envelope));
                }
                Err(e) => {
                    if !*warned {
                        eprintln!(
                            "note: the record at offset {offset} is not an event envelope \
                             ({e}); such records are skipped"
                        );
                        *warned = true;
                    }
                }
            }
            next = offset + 1;
        }
        project_run(&mut self.projection, &run);
        if iam_changed {
            let published = Arc::new(self.iam.clone());
            if let Ok(mut c) = self.iam_cell.write() {
                *c = published;
            }
        }
        self.count = next;
        next
    }
}

/// Projects a run of events (offsets increasing) in one transaction
/// ([`Projection::apply_batch`]). If the projection refuses the run (nothing changed
/// then), it is projected one event at a time, so only the events it refuses are left
/// out, each with a warning, as when events were projected singly.
fn project_run(projection: &mut Projection, run: &[(u64, Envelope)]) {
    if run.is_empty()
        || projection
            .apply_batch(run.iter().map(|(o, e)| (*o, e)))
            .is_ok()
    {
        return;
    }
    for (offset, envelope) in run {
        if let Err(e) = projection.apply(envelope, *offset) {
            eprintln!("warning: projecting the event at offset {offset}: {e}");
        }
    }
}

impl Backend for RaftBackend {
    fn iri(&self) -> IriBuilder {
        self.iri.clone()
    }

    fn graph(&self) -> GraphReader {
        self.reader.clone()
    }

    fn submit(&self, command: Command) -> BoxFuture<'_, Result<SubmitOutcome, BackendError>> {
        Box::pin(self.submit_inner(command))
    }

    fn iam(&self) -> Arc<picloud_iam::IamState> {
        self.iam_cell
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_default()
    }

    fn submit_iam(
        &self,
        command: picloud_iam::Command,
        correlation_id: picloud_events::CorrelationId,
    ) -> BoxFuture<'_, Result<picloud_http::IamDecided, BackendError>> {
        Box::pin(self.submit_iam_inner(command, correlation_id))
    }

    fn subscribe(&self, from_offset: u64) -> EventStream {
        let events = Arc::clone(&self.events);
        let rx = self.folded.clone();
        let buffer: std::collections::VecDeque<(u64, Envelope)> = Default::default();
        Box::pin(futures_util::stream::unfold(
            (from_offset, rx, events, buffer),
            |(mut next, mut rx, events, mut buffer)| async move {
                loop {
                    if let Some(item) = buffer.pop_front() {
                        return Some((Ok(item), (next, rx, events, buffer)));
                    }
                    // Only what has been folded: an event shown here is in the graph.
                    let folded = *rx.borrow_and_update();
                    if next < folded {
                        let limit = usize::try_from(folded - next)
                            .unwrap_or(READ_BATCH)
                            .min(READ_BATCH);
                        match events.read(next, limit).await {
                            Ok(batch) => {
                                for (offset, bytes) in batch {
                                    next = offset + 1;
                                    if let Ok(e) = decode_log(&bytes) {
                                        buffer.push_back((offset, e));
                                    }
                                }
                            }
                            Err(e) => {
                                return Some((
                                    Err(BackendError::Internal(e.to_string())),
                                    (u64::MAX, rx, events, buffer),
                                ))
                            }
                        }
                        continue;
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            },
        ))
    }

    fn cluster_status(&self) -> BoxFuture<'_, Result<ClusterStatus, BackendError>> {
        let result = self.status_now();
        Box::pin(async move { result })
    }

    fn wait_projected(&self, offset: u64) -> BoxFuture<'_, bool> {
        Box::pin(self.wait_folded(offset.saturating_add(1), FOLD_WAIT))
    }

    fn cluster_admin(
        &self,
        change: ClusterAdmin,
    ) -> BoxFuture<'_, Result<picloud_api::ClusterChangeResponse, AdminError>> {
        Box::pin(async move {
            let handle = self
                .handle()
                .map_err(|e| AdminError::Unavailable(e.to_string()))?;
            let summary = handle.cluster_admin(change).await?;
            let s = handle.node().status();
            Ok(picloud_api::ClusterChangeResponse {
                summary,
                voters: s.voters.iter().copied().collect(),
                learners: s.learners.clone(),
            })
        })
    }

    fn node_ca_pem(&self) -> Option<String> {
        self.node_ca_pem.get().cloned()
    }
}

/// Whether `node` is (or becomes within `limit`) part of a cluster with a leader.
pub async fn wait_for_leader(node: &RaftNode, limit: Duration) -> bool {
    let mut rx = node.raft().metrics();
    let wait = async {
        loop {
            {
                let m = rx.borrow_and_update();
                if m.current_leader.is_some() && m.state != ServerState::Shutdown {
                    return true;
                }
            }
            if rx.changed().await.is_err() {
                return false;
            }
        }
    };
    tokio::time::timeout(limit, wait).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use picloud_events::{CorrelationId, Timestamp};

    use super::*;

    /// The resources of `examples/<dir>`, read as `picloud resource apply` reads them.
    fn example(dir: &str) -> Vec<picloud_domain::Resource> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../examples");
        let files = crate::input::read_apply_set(&[root.join(dir)]).unwrap();
        picloud_lang::check(&files).unwrap().resources
    }

    /// The event store's records: two products applied, one deleted, and a raw record
    /// (not an envelope) among them, as `picloud log append` writes.
    fn records() -> Vec<(u64, Vec<u8>)> {
        let iri = IriBuilder::default();
        let mut state = ProductState::default();
        let mut events = Vec::new();
        let commands = [
            Command::ApplySet {
                resources: example("photo-app"),
                idempotency_key: None,
                correlation_id: CorrelationId::from_bytes([1; 16]),
                source: iri.cluster(),
            },
            Command::ApplySet {
                resources: example("home-hub"),
                idempotency_key: None,
                correlation_id: CorrelationId::from_bytes([2; 16]),
                source: iri.cluster(),
            },
            Command::DeleteProduct {
                product: Name::parse("home-hub").unwrap(),
                idempotency_key: None,
                correlation_id: CorrelationId::from_bytes([3; 16]),
                source: iri.cluster(),
            },
        ];
        for (i, c) in commands.iter().enumerate() {
            let now = Timestamp::from_unix_millis(1_795_794_861_000 + 1000 * i as i64).unwrap();
            for e in decide(&state, c, now, &iri).unwrap() {
                apply(&mut state, &e);
                events.push(encode_log(&e).unwrap());
            }
        }
        assert!(events.len() > 10, "{}", events.len());
        events.insert(5, b"not an event envelope".to_vec());
        events
            .into_iter()
            .enumerate()
            .map(|(i, b)| (i as u64, b))
            .collect()
    }

    fn empty_fold() -> Fold {
        let mut projection = Projection::new(IriBuilder::default()).unwrap();
        projection.set_compaction_floor(None);
        Fold {
            state: ProductState::default(),
            iam: picloud_iam::IamState::default(),
            iam_cell: IamCell::default(),
            projection,
            count: 0,
        }
    }

    #[test]
    fn a_tailer_batch_gives_the_graph_of_one_event_at_a_time() {
        let records = records();
        let total = records.len() as u64;

        // The tailer, one read of every record: one projection transaction.
        let mut batched = empty_fold();
        let mut warned = false;
        assert_eq!(batched.fold_records(records.clone(), 0, &mut warned), total);
        assert!(warned, "the raw record is noted");
        assert_eq!(batched.count, total);

        // The tailer reading one record at a time.
        let mut single_reads = empty_fold();
        let mut warned = false;
        let mut next = 0;
        for r in &records {
            next = single_reads.fold_records(vec![r.clone()], next, &mut warned);
        }
        assert_eq!(next, total);

        // Every event applied on its own, as the tailer did before batches.
        let mut state = ProductState::default();
        let mut one_by_one = Projection::new(IriBuilder::default()).unwrap();
        for (offset, bytes) in &records {
            if let Ok(e) = decode_log(bytes) {
                apply(&mut state, &e);
                one_by_one.apply(&e, *offset).unwrap();
            }
        }

        let graph = one_by_one.canonical_nquads().unwrap();
        assert!(graph.contains("photo-app"), "{graph}");
        for fold in [&batched, &single_reads] {
            assert_eq!(fold.projection.canonical_nquads().unwrap(), graph);
            assert_eq!(fold.projection.cursor(), one_by_one.cursor());
            assert_eq!(fold.state, state);
        }
    }

    #[test]
    fn a_read_that_does_not_start_at_the_count_folds_nothing_and_a_gap_stops_the_run() {
        let records = records();
        let mut f = empty_fold();
        let mut warned = false;
        // Starting past the count: nothing.
        assert_eq!(f.fold_records(records[2..].to_vec(), 0, &mut warned), 0);
        assert_eq!(f.projection.cursor(), None);
        // A gap after offset 1: offsets 0 and 1 only.
        let gapped = vec![records[0].clone(), records[1].clone(), records[3].clone()];
        assert_eq!(f.fold_records(gapped, 0, &mut warned), 2);
        assert_eq!(f.projection.cursor(), Some(1));
        assert_eq!(f.count, 2);
    }
}
