//! [`Backend`]: what the HTTP layer needs from the cluster, and [`MemoryBackend`], a
//! complete single-process implementation (product slice + projection + an in-memory log).

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::Stream;
use picloud_api::{ClusterStatus, NodeStatus};
use picloud_domain::{IriBuilder, Name};
use picloud_events::{CorrelationId, Envelope, EventId, EventPayload, Timestamp};
use picloud_product_core::{apply, decide, Command, ProductState, Rejection};
use picloud_projection::{GraphReader, Projection};
use tokio::sync::watch;

use crate::graph;

/// What an identity command came to: its decision (events committed, then a grant or a
/// refusal), or the identity core's rejection (nothing committed).
pub type IamDecided = Result<picloud_iam::Decision, picloud_iam::Rejection>;

/// A boxed, sendable future (the [`Backend`] trait is object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The committed events from an offset on: first the backlog, then live, in log order,
/// each with its log offset. It ends only if the backend shuts down (or on an error item).
pub type EventStream = Pin<Box<dyn Stream<Item = Result<(u64, Envelope), BackendError>> + Send>>;

/// A source of time for command decisions (adapters read the clock; tests pass a fake).
pub type Clock = Arc<dyn Fn() -> Option<Timestamp> + Send + Sync>;

/// Durable storage for [`MemoryBackend`]: called with the first offset and the events of
/// each command (and platform event) *before* they take effect; an `Err` refuses the
/// command and nothing changes. `picloud dev` can append them to a file or `picloud-log`
/// and give them back to [`MemoryBackend::replay`] at the next start.
pub type Journal = Arc<dyn Fn(u64, &[Envelope]) -> Result<(), String> + Send + Sync>;

/// A source of fresh correlation ids, one per command.
pub type IdSource = Arc<dyn Fn() -> CorrelationId + Send + Sync>;

/// What a committed command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// The command's correlation id.
    pub correlation_id: CorrelationId,
    /// The committed events, in log order (empty when nothing changed).
    pub events: Vec<Envelope>,
    /// The log offset of the first event, when there is one.
    pub first_offset: Option<u64>,
}

impl SubmitOutcome {
    /// The offset of the last committed event.
    pub fn last_offset(&self) -> Option<u64> {
        let n = u64::try_from(self.events.len()).ok()?;
        self.first_offset.and_then(|f| (n > 0).then(|| f + n - 1))
    }
}

/// Why a backend call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The product slice refused the command; nothing was committed.
    #[error("{0}")]
    Rejected(Rejection),
    /// The cluster cannot take commands now (no leader, no quorum, shutting down).
    #[error("the cluster is unavailable: {0}")]
    Unavailable(String),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The cluster as the HTTP layer sees it. The binary implements it over the Raft cluster;
/// [`MemoryBackend`] implements it in one process.
pub trait Backend: Send + Sync + 'static {
    /// The IRI builder of the cluster's domain.
    fn iri(&self) -> IriBuilder;

    /// A read handle on this node's graph.
    fn graph(&self) -> GraphReader;

    /// Decides and commits a command (through the leader); returns the committed events.
    /// A rejection commits nothing.
    fn submit(&self, command: Command) -> BoxFuture<'_, Result<SubmitOutcome, BackendError>>;

    /// Committed events from `from_offset` on (backlog, then live).
    fn subscribe(&self, from_offset: u64) -> EventStream;

    /// The cluster's members, leader and offsets.
    fn cluster_status(&self) -> BoxFuture<'_, Result<ClusterStatus, BackendError>>;

    /// Waits (bounded by the backend) until this node's graph has projected `offset`;
    /// `true` when it has.
    fn wait_projected(&self, offset: u64) -> BoxFuture<'_, bool>;

    /// The identity state folded from this node's log (as of its last folded event).
    fn iam(&self) -> Arc<picloud_iam::IamState>;

    /// Decides an identity command against the folded identity state and commits its
    /// events exactly like [`Backend::submit`] (through the leader, decided again if
    /// another commit overtook it). The events are folded on this node before it returns.
    fn submit_iam(
        &self,
        command: picloud_iam::Command,
        correlation_id: CorrelationId,
    ) -> BoxFuture<'_, Result<IamDecided, BackendError>>;

    /// A cluster-membership change (`POST /api/cluster/init|add|remove`). The default
    /// answers [`AdminError::Conflict`]: a backend without membership (the in-memory one)
    /// is a cluster that is already initialised and cannot grow.
    fn cluster_admin(
        &self,
        change: ClusterAdmin,
    ) -> BoxFuture<'_, Result<picloud_api::ClusterChangeResponse, AdminError>> {
        let _ = change;
        Box::pin(async {
            Err(AdminError::Conflict(
                "this cluster is already initialised and its membership is fixed".into(),
            ))
        })
    }

    /// The PEM certificate of the CA this node's HTTPS certificate chains to, served at
    /// `/ca.pem` until identity has recorded the cluster CA in the log (so a client can
    /// trust a node before `cluster init`). Default: none.
    fn node_ca_pem(&self) -> Option<String> {
        None
    }
}

/// A cluster-membership change asked through the HTTPS API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterAdmin {
    /// Form a cluster on this node (only while it is uninitialised) and admit its peers.
    Init,
    /// Admit the node whose node-protocol listener is at this address.
    Add(String),
    /// Remove this node id.
    Remove(u64),
}

/// Why a membership change failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The node is in the wrong state for it (already initialised): 409.
    #[error("{0}")]
    Conflict(String),
    /// The cluster refused it (not a member, the last voter, a bad address): 422.
    #[error("{0}")]
    Refused(String),
    /// No leader, unreachable node, timeout: 503.
    #[error("{0}")]
    Unavailable(String),
}

/// A correlation id from the process's hash keys and a counter: unique per process run
/// with overwhelming probability (not a secret). Adapters may pass their own [`IdSource`].
pub fn random_correlation_id() -> CorrelationId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let word = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(salt);
        h.finish()
    };
    let mut bytes = [0u8; 16];
    let (a, b) = bytes.split_at_mut(8);
    a.copy_from_slice(&word(1).to_be_bytes());
    b.copy_from_slice(&word(2).to_be_bytes());
    CorrelationId::from_bytes(bytes)
}

/// The system clock, for adapters (`picloud dev`).
pub fn system_clock() -> Clock {
    Arc::new(|| {
        // The HTTP adapter decides commands with the wall clock; cores get it as an argument.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        let millis = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        Timestamp::from_unix_millis(i64::try_from(millis).ok()?).ok()
    })
}

struct Inner {
    state: ProductState,
    iam: picloud_iam::IamState,
    projection: Projection,
    log: Vec<Envelope>,
}

/// A complete single-process backend: commands are decided by the product slice against
/// its state, appended to an in-memory log, folded into the state and projected into the
/// real [`Projection`] before `submit` returns (so the graph never lags). Nothing is
/// persisted. Used by the tests and by `picloud dev` until the Raft backend exists.
pub struct MemoryBackend {
    inner: Arc<Mutex<Inner>>,
    reader: GraphReader,
    iri: IriBuilder,
    clock: Clock,
    length: watch::Sender<u64>,
    node: Option<Name>,
    ca_fingerprint: Option<String>,
    journal: Option<Journal>,
    iam: Arc<std::sync::RwLock<Arc<picloud_iam::IamState>>>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("domain", self.iri.domain())
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn poisoned() -> BackendError {
    BackendError::Internal("the in-memory log lock is poisoned".into())
}

impl MemoryBackend {
    /// An empty cluster of `iri`'s domain deciding commands at `clock`'s time.
    pub fn new(iri: IriBuilder, clock: Clock) -> Result<Self, BackendError> {
        let projection =
            Projection::new(iri.clone()).map_err(|e| BackendError::Internal(e.to_string()))?;
        let reader = projection.reader();
        let (length, _) = watch::channel(0);
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                state: ProductState::default(),
                iam: picloud_iam::IamState::default(),
                projection,
                log: Vec::new(),
            })),
            reader,
            iri,
            clock,
            length,
            node: None,
            ca_fingerprint: None,
            journal: None,
            iam: Arc::default(),
        })
    }

    fn publish_iam(&self, inner: &Inner) {
        if let Ok(mut cell) = self.iam.write() {
            *cell = Arc::new(inner.iam.clone());
        }
    }

    /// Names the (single) node, for the cluster status.
    pub fn with_node(mut self, node: Name) -> Self {
        self.node = Some(node);
        self
    }

    /// The CA fingerprint to report in the cluster status.
    pub fn with_ca_fingerprint(mut self, fingerprint: String) -> Self {
        self.ca_fingerprint = Some(fingerprint);
        self
    }

    /// Journals every committed event (see [`Journal`]).
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Folds already-committed events (a journal read back at start) into the log, the
    /// state and the graph, without deciding or journaling them again. Their offsets
    /// continue the log.
    pub fn replay(&self, events: impl IntoIterator<Item = Envelope>) -> Result<(), BackendError> {
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        for e in events {
            Self::append(&mut inner, e)?;
        }
        self.publish_iam(&inner);
        let len = inner.log.len();
        drop(inner);
        self.length
            .send_replace(u64::try_from(len).unwrap_or(u64::MAX));
        Ok(())
    }

    fn journal(&self, inner: &Inner, events: &[Envelope]) -> Result<(), BackendError> {
        match &self.journal {
            Some(j) if !events.is_empty() => {
                let first = u64::try_from(inner.log.len()).unwrap_or(u64::MAX);
                j(first, events).map_err(|e| {
                    BackendError::Unavailable(format!("the journal refused the events: {e}"))
                })
            }
            _ => Ok(()),
        }
    }

    /// Commits an event of another slice (cluster, node, IAM, a provisioner's status)
    /// with source = the cluster IRI; returns its offset. (The cluster slice does not
    /// exist yet; `picloud dev` can record `ClusterInitialized` / `NodeJoined` with it.)
    pub fn commit_platform(
        &self,
        correlation_id: CorrelationId,
        payload: EventPayload,
    ) -> Result<u64, BackendError> {
        let now = (self.clock)().ok_or_else(|| BackendError::Internal("no clock".into()))?;
        let event = Envelope::new(
            &self.iri,
            EventId::derive(correlation_id, 0),
            now,
            self.iri.cluster(),
            correlation_id,
            payload,
        )
        .map_err(|e| BackendError::Internal(e.to_string()))?;
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        self.journal(&inner, std::slice::from_ref(&event))?;
        let offset = Self::append(&mut inner, event)?;
        self.publish_iam(&inner);
        let len = inner.log.len();
        drop(inner);
        self.length
            .send_replace(u64::try_from(len).unwrap_or(u64::MAX));
        Ok(offset)
    }

    fn append(inner: &mut Inner, event: Envelope) -> Result<u64, BackendError> {
        let offset = u64::try_from(inner.log.len())
            .map_err(|_| BackendError::Internal("log too long".into()))?;
        inner
            .projection
            .apply(&event, offset)
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        apply(&mut inner.state, &event);
        picloud_iam::apply(&mut inner.iam, &event);
        inner.log.push(event);
        Ok(offset)
    }

    /// Every committed event, in order (offset = index).
    pub fn events(&self) -> Result<Vec<Envelope>, BackendError> {
        Ok(self.inner.lock().map_err(|_| poisoned())?.log.clone())
    }

    fn submit_now(&self, command: &Command) -> Result<SubmitOutcome, BackendError> {
        let now = (self.clock)().ok_or_else(|| BackendError::Internal("no clock".into()))?;
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        let events =
            decide(&inner.state, command, now, &self.iri).map_err(BackendError::Rejected)?;
        self.journal(&inner, &events)?;
        let mut first = None;
        for e in &events {
            let offset = Self::append(&mut inner, e.clone())?;
            first.get_or_insert(offset);
        }
        // A product declared or deleted changes its client in the identity state.
        if events.iter().any(|e| picloud_iam::is_iam_event(&e.payload)) {
            self.publish_iam(&inner);
        }
        let len = inner.log.len();
        drop(inner);
        self.length
            .send_replace(u64::try_from(len).unwrap_or(u64::MAX));
        Ok(SubmitOutcome {
            correlation_id: command.correlation_id(),
            events,
            first_offset: first,
        })
    }

    fn submit_iam_now(
        &self,
        command: &picloud_iam::Command,
        correlation_id: CorrelationId,
    ) -> Result<IamDecided, BackendError> {
        let now = (self.clock)().ok_or_else(|| BackendError::Internal("no clock".into()))?;
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        let ctx = picloud_iam::Context {
            iri: &self.iri,
            now,
            correlation_id,
            source: self.iri.cluster(),
        };
        let decision = match picloud_iam::decide(&inner.iam, command, &ctx) {
            Ok(d) => d,
            Err(r) => return Ok(Err(r)),
        };
        self.journal(&inner, &decision.events)?;
        for e in &decision.events {
            Self::append(&mut inner, e.clone())?;
        }
        self.publish_iam(&inner);
        let len = inner.log.len();
        drop(inner);
        self.length
            .send_replace(u64::try_from(len).unwrap_or(u64::MAX));
        Ok(Ok(decision))
    }
}

impl Backend for MemoryBackend {
    fn iri(&self) -> IriBuilder {
        self.iri.clone()
    }

    fn graph(&self) -> GraphReader {
        self.reader.clone()
    }

    fn submit(&self, command: Command) -> BoxFuture<'_, Result<SubmitOutcome, BackendError>> {
        let result = self.submit_now(&command);
        Box::pin(async move { result })
    }

    fn subscribe(&self, from_offset: u64) -> EventStream {
        let inner = Arc::clone(&self.inner);
        let rx = self.length.subscribe();
        Box::pin(futures_util::stream::unfold(
            (from_offset, rx, inner, false),
            |(next, mut rx, inner, failed)| async move {
                if failed {
                    return None;
                }
                loop {
                    let got = {
                        let Ok(guard) = inner.lock() else {
                            return Some((Err(poisoned()), (next, rx, inner, true)));
                        };
                        usize::try_from(next)
                            .ok()
                            .and_then(|i| guard.log.get(i).cloned())
                    };
                    if let Some(e) = got {
                        return Some((Ok((next, e)), (next + 1, rx, inner, false)));
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            },
        ))
    }

    fn cluster_status(&self) -> BoxFuture<'_, Result<ClusterStatus, BackendError>> {
        let result = (|| {
            let (committed, projected) = {
                let inner = self.inner.lock().map_err(|_| poisoned())?;
                let len = u64::try_from(inner.log.len()).unwrap_or(u64::MAX);
                (len.checked_sub(1), inner.projection.cursor())
            };
            let products = graph::product_names(&self.reader, &self.iri)
                .map_err(|e| BackendError::Internal(e.body.message))?;
            let nodes = self
                .node
                .iter()
                .map(|n| NodeStatus {
                    name: n.to_string(),
                    iri: self.iri.node(n).as_str().to_owned(),
                    role: "voter".into(),
                    address: None,
                    leader: true,
                    reachable: true,
                })
                .collect();
            Ok(ClusterStatus {
                domain: self.iri.domain().as_str().to_owned(),
                iri: self.iri.cluster().as_str().to_owned(),
                this_node: self.node.as_ref().map(ToString::to_string),
                leader: self.node.as_ref().map(ToString::to_string),
                nodes,
                products,
                committed_offset: committed,
                projected_offset: projected,
                ca_fingerprint: self.ca_fingerprint.clone(),
            })
        })();
        Box::pin(async move { result })
    }

    fn wait_projected(&self, offset: u64) -> BoxFuture<'_, bool> {
        // Projection happens inside `submit`: the graph never lags here.
        let done = self
            .inner
            .lock()
            .map(|i| i.projection.cursor().is_some_and(|c| c >= offset))
            .unwrap_or(false);
        Box::pin(async move { done })
    }

    fn iam(&self) -> Arc<picloud_iam::IamState> {
        self.iam.read().map(|c| Arc::clone(&c)).unwrap_or_default()
    }

    fn submit_iam(
        &self,
        command: picloud_iam::Command,
        correlation_id: CorrelationId,
    ) -> BoxFuture<'_, Result<IamDecided, BackendError>> {
        let result = self.submit_iam_now(&command, correlation_id);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picloud_domain::resource::{ProductSpec, SemVer};
    use picloud_domain::{Resource, ResourceSpec};

    fn clock() -> Clock {
        Arc::new(|| Timestamp::from_unix_millis(1_795_794_861_000).ok())
    }

    fn product(name: &str) -> Command {
        let n = Name::parse(name).unwrap();
        Command::ApplySet {
            resources: vec![Resource::new(
                n.clone(),
                n,
                ResourceSpec::Product(ProductSpec {
                    version: SemVer::parse("1.0.0").unwrap(),
                    description: None,
                }),
            )],
            idempotency_key: None,
            correlation_id: random_correlation_id(),
            source: IriBuilder::default().cluster(),
        }
    }

    #[test]
    fn journaled_events_replay_into_the_same_graph() {
        let saved: Arc<Mutex<Vec<(u64, Envelope)>>> = Arc::default();
        let sink = Arc::clone(&saved);
        let journal: Journal = Arc::new(move |first, events| {
            let mut s = sink.lock().map_err(|e| e.to_string())?;
            for (i, e) in events.iter().enumerate() {
                s.push((first + i as u64, e.clone()));
            }
            Ok(())
        });
        let a = MemoryBackend::new(IriBuilder::default(), clock())
            .unwrap()
            .with_journal(journal);
        let out = a.submit_now(&product("photo-app")).unwrap();
        assert_eq!(out.first_offset, Some(0));
        a.submit_now(&product("home-hub")).unwrap();
        let saved = saved.lock().unwrap().clone();
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[1].0, 1);

        let b = MemoryBackend::new(IriBuilder::default(), clock()).unwrap();
        b.replay(saved.into_iter().map(|(_, e)| e)).unwrap();
        assert_eq!(
            a.graph().canonical_nquads().unwrap(),
            b.graph().canonical_nquads().unwrap()
        );
        // The replayed state decides like the original: nothing new to commit.
        assert!(b
            .submit_now(&product("photo-app"))
            .unwrap()
            .events
            .is_empty());
    }

    #[test]
    fn a_failing_journal_refuses_the_command() {
        let journal: Journal = Arc::new(|_, _| Err("disk full".into()));
        let a = MemoryBackend::new(IriBuilder::default(), clock())
            .unwrap()
            .with_journal(journal);
        let err = a.submit_now(&product("photo-app")).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(a.events().unwrap().is_empty());
        assert!(a.graph().is_empty().unwrap());
    }
}
