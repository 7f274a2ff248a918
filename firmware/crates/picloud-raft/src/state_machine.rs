//! The replicated state machine: the permanent **event store** plus the
//! exactly-once session table.
//!
//! # Event store
//!
//! Committed events live in a second [`picloud_log::Log`] under
//! `<data>/events/`, where record index = event offset (0, 1, 2, ...). The Raft
//! log is only the replication buffer and is purged after snapshots; the event
//! store is never purged. `apply()` appends all events of one apply batch with
//! one engine append and does **not** fsync them (the event store's engine
//! runs with [`SyncPolicy::OnDemand`]): an applied entry is already durable in
//! the Raft log on a majority, and the event store's durability is
//! re-established on restart by the rule below. Only a snapshot syncs it (one
//! fdatasync of everything written so far, before the snapshot file is
//! saved), so a write costs one fsync per node (the Raft log's), not two.
//!
//! # Snapshots
//!
//! The state ([`SmData`]: last applied log id, last membership, session table,
//! event count, running hash, learner join order) is small. `build_snapshot`
//! waits until every event it counts is durable in the event store, then saves
//! `postcard(SnapshotMeta)` + `postcard(SmData)` as the event store's snapshot
//! file (atomic replace) and returns only the meta (its data is empty: openraft
//! keeps nothing but the meta of a built snapshot). The snapshot *sent to a
//! follower* is `postcard(SnapshotImage { state, events: all events
//! 0..event_count })`, assembled by `get_current_snapshot` from that file and
//! the event store, in memory. That costs O(all events) each time openraft
//! asks for it (once at start, and per follower that needs a snapshot).
//! Incremental snapshots (send only the events the follower lacks, stream
//! from the files) are future work.
//!
//! # Restart rule
//!
//! On open: let `E` = `event_count` of the saved snapshot (0 if none). Events
//! `0..E` are durable (they were synced before the snapshot was saved). The
//! event store is **truncated to `E`** (anything beyond came from entries after
//! the snapshot's `last_applied`); the in-memory state is the snapshot's.
//! openraft then re-applies every committed entry after `last_applied`, which
//! appends the same events again at the same offsets (apply is deterministic).
//! Fewer than `E` events in the store is corruption and fails the open.
//!
//! # Installing a snapshot
//!
//! The events are written into `<data>/events.new/` (durably, plus the snapshot
//! file), the current store is closed, `events` is renamed to `events.old`,
//! `events.new` to `events`, `events.old` is deleted and the data directory is
//! fsynced. On open, a leftover `events.new` is complete only if `events` is
//! missing (the first rename happened), in which case it is renamed into place;
//! otherwise leftovers are deleted.
//!
//! # Exactly-once
//!
//! The session table maps `client -> (last seq, its response, index of the
//! entry that applied it)`. A request whose seq is `<=` the client's last
//! applied seq appends nothing and returns the recorded response of the last
//! request with `duplicate: true`. Bound: one row per client; a client whose
//! last request was applied more than [`SmConfig::session_window`] log indices
//! ago is evicted (deterministically, by log index, the same on every node).
//! A retry after eviction would append again: clients must give up retrying
//! well within that window.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, StorageIOError,
};
use picloud_log::{Log, LogConfig, LogError, SyncPolicy};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::StoreError;
use crate::types::{
    BatchResponse, ClientRequest, ClientResponse, Entry, LogId, NodeId, Op, SnapshotMeta,
    StorageError, StoredMembership, TypeConfig,
};

/// Directory of the event store under the data directory.
pub const EVENTS_DIR: &str = "events";
const EVENTS_NEW: &str = "events.new";
const EVENTS_OLD: &str = "events.old";
const IMAGE_FORMAT: u8 = 1;

/// State machine tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmConfig {
    /// Sessions idle for more than this many log indices are evicted.
    pub session_window: u64,
    /// Engine configuration of the event store. Default: the engine's
    /// defaults with [`SyncPolicy::OnDemand`] (see the module docs: apply
    /// never fsyncs; a snapshot syncs what it counts first).
    pub log: LogConfig,
}

impl Default for SmConfig {
    fn default() -> Self {
        SmConfig {
            session_window: 1_000_000,
            log: LogConfig {
                sync: SyncPolicy::OnDemand,
                ..LogConfig::default()
            },
        }
    }
}

/// One client's exactly-once record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Last applied seq.
    pub seq: u64,
    /// Its response.
    pub response: ClientResponse,
    /// Log index of the entry that applied it (drives eviction).
    pub index: u64,
}

/// The state machine's state (everything except the events themselves).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmData {
    /// Last applied log id.
    pub last_applied: Option<LogId>,
    /// Last applied membership.
    pub last_membership: StoredMembership,
    /// Exactly-once sessions.
    pub sessions: BTreeMap<u128, Session>,
    /// Events in the event store (= next offset).
    pub event_count: u64,
    /// Running FNV-1a 64 over every event as `len (u64 le) || bytes`.
    pub hash: u64,
    /// Node id -> log index of the membership entry that first contained it
    /// (the "longest-serving" order for voter promotion). Nodes that leave the
    /// membership are forgotten.
    pub joined: BTreeMap<NodeId, u64>,
}

/// What a follower receives when a snapshot is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotImage {
    /// Format byte (1).
    pub format: u8,
    /// The state.
    pub state: SmData,
    /// Every event, offsets `0..state.event_count`.
    pub events: Vec<Vec<u8>>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Extends the running event hash by one event.
pub fn hash_event(mut h: u64, payload: &[u8]) -> u64 {
    if h == 0 {
        h = FNV_OFFSET;
    }
    for b in (payload.len() as u64)
        .to_le_bytes()
        .iter()
        .chain(payload.iter())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The event store, shared between the state machine and readers.
#[derive(Debug)]
pub struct EventStore {
    data_dir: PathBuf,
    config: LogConfig,
    log: RwLock<Arc<Log>>,
    /// Events known durable.
    durable: Arc<watch::Sender<u64>>,
    /// First failure reported by an engine callback (the engine is then fenced).
    failed: Arc<Mutex<Option<LogError>>>,
    /// What readers may see: (applied event count, running hash).
    visible: watch::Sender<(u64, u64)>,
    /// Serialises snapshot saves and installs.
    snap_lock: tokio::sync::Mutex<()>,
    /// Copy of [`SmData::joined`] for the voter policy.
    joined: Mutex<BTreeMap<NodeId, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(crate::log_store::join_error(e)))
}

impl EventStore {
    fn current(&self) -> Arc<Log> {
        Arc::clone(&self.log.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Node id -> log index at which it joined the membership (applied state).
    pub fn joined(&self) -> BTreeMap<NodeId, u64> {
        lock(&self.joined).clone()
    }

    /// Number of applied events and their running hash.
    pub fn count_and_hash(&self) -> (u64, u64) {
        *self.visible.borrow()
    }

    /// Reads up to `limit` applied events starting at `from`, as `(offset, bytes)`.
    pub async fn read(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let (count, _) = self.count_and_hash();
        let to = count.min(from.saturating_add(limit as u64));
        if to <= from {
            return Ok(Vec::new());
        }
        let log = self.current();
        blocking(move || log.read(from..to))
            .await
            .map_err(|source| StoreError::Events { op: "read", source })
    }

    fn check_failed(&self) -> Result<(), LogError> {
        match lock(&self.failed).as_ref() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn append(&self, events: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        self.check_failed()?;
        let Some(upto) = events.last().map(|(i, _)| i + 1) else {
            return Ok(());
        };
        let durable = Arc::clone(&self.durable);
        let failed = Arc::clone(&self.failed);
        let traced = crate::trace::now();
        // With SyncPolicy::OnDemand the callback means "written", not durable:
        // `wait_durable` syncs explicitly.
        let synced = self.config.sync == SyncPolicy::EveryGroup;
        self.current().append(
            events,
            Box::new(move |r| match r {
                Ok(()) => {
                    crate::trace::record("events.written", traced);
                    if synced {
                        durable.send_modify(|d| *d = (*d).max(upto));
                    }
                }
                Err(e) => {
                    lock(&failed).get_or_insert(e);
                }
            }),
        )
    }

    /// Makes the first `count` events durable: one fdatasync of the event
    /// store (everything appended so far), unless they are known durable.
    async fn wait_durable(&self, count: u64) -> Result<(), LogError> {
        let mut rx = self.durable.subscribe();
        loop {
            self.check_failed()?;
            if *rx.borrow_and_update() >= count {
                return Ok(());
            }
            let log = self.current();
            let appended = log.last_index().map_or(0, |l| l + 1);
            blocking(move || log.sync()).await?;
            self.durable.send_modify(|d| *d = (*d).max(appended));
            if appended < count {
                // Not appended yet (cannot happen for a snapshot of applied state).
                let _ =
                    tokio::time::timeout(std::time::Duration::from_millis(50), rx.changed()).await;
            }
        }
    }
}

/// The openraft state machine over the event store.
#[derive(Debug)]
pub struct StateMachine {
    store: Arc<EventStore>,
    data: SmData,
    /// (session last index, client) for deterministic eviction.
    by_index: BTreeSet<(u64, u128)>,
    window: u64,
}

fn sm_err(op: &'static str, source: LogError) -> StorageError {
    StorageIOError::write_state_machine(AnyError::new(&StoreError::Events { op, source })).into()
}

fn remove_dir_if_exists(p: &Path) -> Result<(), LogError> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::Io {
            op: "remove_dir_all",
            path: p.to_path_buf(),
            source: Arc::new(e),
        }),
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), LogError> {
    std::fs::rename(from, to).map_err(|e| LogError::Io {
        op: "rename",
        path: from.to_path_buf(),
        source: Arc::new(e),
    })
}

fn sync_dir(p: &Path) -> Result<(), LogError> {
    std::fs::File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(|e| LogError::Io {
            op: "fsync dir",
            path: p.to_path_buf(),
            source: Arc::new(e),
        })
}

fn decode_saved(snap: &picloud_log::Snapshot) -> Result<(SnapshotMeta, SmData), StoreError> {
    let meta = postcard::from_bytes(&snap.meta).map_err(|e| StoreError::Decode {
        what: "snapshot meta",
        reason: e.to_string(),
    })?;
    let data = postcard::from_bytes(&snap.data).map_err(|e| StoreError::Decode {
        what: "snapshot state",
        reason: e.to_string(),
    })?;
    Ok((meta, data))
}

impl StateMachine {
    /// Opens (or creates) the event store under `data_dir` and restores the
    /// state from its snapshot, applying the restart rule (module docs).
    pub fn open(data_dir: &Path, config: SmConfig) -> Result<StateMachine, StoreError> {
        let events = data_dir.join(EVENTS_DIR);
        let new = data_dir.join(EVENTS_NEW);
        let old = data_dir.join(EVENTS_OLD);
        let fs = |op, source| StoreError::Events { op, source };
        std::fs::create_dir_all(data_dir).map_err(|e| {
            fs(
                "create data dir",
                LogError::Io {
                    op: "mkdir",
                    path: data_dir.to_path_buf(),
                    source: Arc::new(e),
                },
            )
        })?;
        if !events.exists() && new.exists() {
            rename(&new, &events).map_err(|e| fs("finish snapshot install", e))?;
        }
        remove_dir_if_exists(&new).map_err(|e| fs("remove events.new", e))?;
        remove_dir_if_exists(&old).map_err(|e| fs("remove events.old", e))?;
        let (log, _report) = Log::open(&events, config.log.clone()).map_err(|e| fs("open", e))?;
        let mut data = SmData::default();
        if let Some(snap) = log.load_snapshot().map_err(|e| fs("load snapshot", e))? {
            data = decode_saved(&snap)?.1;
        }
        let have = log.last_index().map_or(0, |l| l + 1);
        if have < data.event_count {
            return Err(StoreError::Corrupt {
                reason: format!(
                    "event store holds {have} events, its snapshot counts {}",
                    data.event_count
                ),
            });
        }
        if have > data.event_count {
            log.truncate(data.event_count)
                .map_err(|e| fs("truncate to snapshot", e))?;
        }
        let (durable, _) = watch::channel(data.event_count);
        let (visible, _) = watch::channel((data.event_count, data.hash));
        let store = Arc::new(EventStore {
            data_dir: data_dir.to_path_buf(),
            config: config.log,
            log: RwLock::new(Arc::new(log)),
            durable: Arc::new(durable),
            failed: Arc::new(Mutex::new(None)),
            visible,
            snap_lock: tokio::sync::Mutex::new(()),
            joined: Mutex::new(BTreeMap::new()),
        });
        let mut sm = StateMachine {
            store,
            data: SmData::default(),
            by_index: BTreeSet::new(),
            window: config.session_window,
        };
        sm.set_data(data);
        Ok(sm)
    }

    /// The shared event store (for reads).
    pub fn event_store(&self) -> Arc<EventStore> {
        Arc::clone(&self.store)
    }

    /// The current state.
    pub fn data(&self) -> &SmData {
        &self.data
    }

    fn set_data(&mut self, data: SmData) {
        self.by_index = data.sessions.iter().map(|(c, s)| (s.index, *c)).collect();
        self.store
            .visible
            .send_replace((data.event_count, data.hash));
        *lock(&self.store.joined) = data.joined.clone();
        self.data = data;
    }

    fn evict(&mut self, now: u64) {
        while let Some(&(idx, client)) = self.by_index.first() {
            if idx.saturating_add(self.window) >= now {
                break;
            }
            self.by_index.pop_first();
            self.data.sessions.remove(&client);
        }
    }

    /// Applies one entry to the in-memory state, collecting new events.
    fn apply_one(&mut self, entry: Entry, out: &mut Vec<(u64, Vec<u8>)>) -> BatchResponse {
        let index = entry.log_id.index;
        self.data.last_applied = Some(entry.log_id);
        let resp = match entry.payload {
            EntryPayload::Blank => BatchResponse::default(),
            EntryPayload::Membership(m) => {
                let members: BTreeSet<NodeId> = m.nodes().map(|(id, _)| *id).collect();
                self.data.joined.retain(|id, _| members.contains(id));
                for id in members {
                    self.data.joined.entry(id).or_insert(index);
                }
                self.data.last_membership = StoredMembership::new(Some(entry.log_id), m);
                *lock(&self.store.joined) = self.data.joined.clone();
                BatchResponse::default()
            }
            EntryPayload::Normal(batch) => BatchResponse {
                responses: batch
                    .requests
                    .into_iter()
                    .map(|req| self.apply_request(req, index, out))
                    .collect(),
            },
        };
        self.evict(index);
        resp
    }

    /// Applies one client request of the entry at `index` (exactly-once rule).
    fn apply_request(
        &mut self,
        req: ClientRequest,
        index: u64,
        out: &mut Vec<(u64, Vec<u8>)>,
    ) -> ClientResponse {
        if let Some(s) = self.data.sessions.get(&req.client) {
            if req.seq <= s.seq {
                return ClientResponse {
                    duplicate: true,
                    ..s.response
                };
            }
        }
        let payloads = match req.op {
            Op::Append { payload } => vec![payload],
            Op::AppendBatch { payloads } => payloads,
            // The condition is checked here, at apply time, against the
            // replicated event count: every node refuses or appends alike.
            Op::AppendIf {
                expected_offset,
                payloads,
            } if expected_offset == self.data.event_count => payloads,
            Op::AppendIf { .. } => Vec::new(),
        };
        let first = self.data.event_count;
        let count = u32::try_from(payloads.len()).unwrap_or(u32::MAX);
        for p in payloads {
            self.data.hash = hash_event(self.data.hash, &p);
            out.push((self.data.event_count, p));
            self.data.event_count += 1;
        }
        let response = ClientResponse {
            first_offset: first,
            count,
            duplicate: false,
        };
        if let Some(old) = self.data.sessions.insert(
            req.client,
            Session {
                seq: req.seq,
                response,
                index,
            },
        ) {
            self.by_index.remove(&(old.index, req.client));
        }
        self.by_index.insert((index, req.client));
        response
    }

    async fn saved(&self) -> Result<Option<(SnapshotMeta, SmData)>, StorageError> {
        let log = self.store.current();
        let snap = blocking(move || log.load_snapshot())
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
        match snap {
            None => Ok(None),
            Some(s) => decode_saved(&s)
                .map(Some)
                .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)).into()),
        }
    }
}

/// Assembles the transferable image: the state plus events `0..event_count`.
async fn build_image(store: &EventStore, state: SmData) -> Result<Vec<u8>, StorageError> {
    let log = store.current();
    let n = state.event_count;
    let recs = if n == 0 {
        Vec::new()
    } else {
        blocking(move || log.read(0..n))
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?
    };
    if recs.len() as u64 != n {
        return Err(StorageIOError::read_snapshot(
            None,
            AnyError::new(&StoreError::Corrupt {
                reason: format!("snapshot needs {n} events, store returned {}", recs.len()),
            }),
        )
        .into());
    }
    let image = SnapshotImage {
        format: IMAGE_FORMAT,
        state,
        events: recs.into_iter().map(|(_, p)| p).collect(),
    };
    postcard::to_allocvec(&image)
        .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)).into())
}

/// Builds snapshots from a copy of the state taken when it was created.
#[derive(Debug)]
pub struct SnapshotBuilder {
    store: Arc<EventStore>,
    data: SmData,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = self.data.clone();
        let last = data.last_applied;
        let snapshot_id = match last {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, data.event_count),
            None => format!("none-{}", data.event_count),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: data.last_membership.clone(),
            snapshot_id,
        };
        let werr = |e: &dyn std::error::Error| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(meta.signature()),
                AnyError::error(e.to_string()),
            ))
        };
        self.store
            .wait_durable(data.event_count)
            .await
            .map_err(|e| werr(&e))?;
        {
            let _g = self.store.snap_lock.lock().await;
            let log = self.store.current();
            let prev = blocking({
                let log = Arc::clone(&log);
                move || log.load_snapshot()
            })
            .await
            .map_err(|e| werr(&e))?;
            let newer = match prev.as_ref().map(decode_saved) {
                Some(Ok((_, d))) => d.last_applied > last,
                _ => false,
            };
            if !newer {
                let m = postcard::to_allocvec(&meta).map_err(|e| werr(&e))?;
                let d = postcard::to_allocvec(&data).map_err(|e| werr(&e))?;
                blocking(move || log.save_snapshot(&m, &d))
                    .await
                    .map_err(|e| werr(&e))?;
            }
        }
        // openraft keeps only the meta of a built snapshot; the transferable
        // image is assembled by `get_current_snapshot` when a follower needs it,
        // so building stays O(state), not O(events).
        drop(data);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.data.last_applied, self.data.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let mut responses = Vec::new();
        let traced = crate::trace::now();
        let mut range: Option<(u64, u64)> = None;
        for entry in entries {
            let i = entry.log_id.index;
            range = Some(range.map_or((i, i), |(a, _)| (a, i)));
            responses.push(self.apply_one(entry, &mut out));
        }
        if !out.is_empty() {
            self.store.append(out).map_err(|e| sm_err("append", e))?;
        }
        self.store
            .visible
            .send_replace((self.data.event_count, self.data.hash));
        if let (Some(t), Some((a, b))) = (traced, range) {
            crate::trace::applied(a, b, t);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            store: Arc::clone(&self.store),
            data: self.data.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let sig = meta.signature();
        let err = |e: &dyn std::error::Error| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(sig.clone()),
                AnyError::error(e.to_string()),
            ))
        };
        let image: SnapshotImage = postcard::from_bytes(snapshot.get_ref()).map_err(|e| err(&e))?;
        let mut hash = 0;
        for e in &image.events {
            hash = hash_event(hash, e);
        }
        if image.format != IMAGE_FORMAT
            || image.events.len() as u64 != image.state.event_count
            || hash != image.state.hash
        {
            return Err(err(&StoreError::Corrupt {
                reason: "snapshot image is inconsistent (format, event count or hash)".into(),
            }));
        }
        let store = Arc::clone(&self.store);
        let _g = store.snap_lock.lock().await;
        let dir = self.store.data_dir.clone();
        let config = self.store.config.clone();
        let m = postcard::to_allocvec(meta).map_err(|e| err(&e))?;
        let d = postcard::to_allocvec(&image.state).map_err(|e| err(&e))?;
        let events = image.events;
        blocking(move || {
            let new = dir.join(EVENTS_NEW);
            remove_dir_if_exists(&new)?;
            let (log, _) = Log::open(&new, config.clone())?;
            let recs: Vec<(u64, Vec<u8>)> = events
                .into_iter()
                .enumerate()
                .map(|(i, p)| (i as u64, p))
                .collect();
            if !recs.is_empty() {
                log.append_wait(recs)?;
            }
            log.sync()?;
            log.save_snapshot(&m, &d)?;
            log.close()?;
            drop(log);
            sync_dir(&dir)?;
            Ok(())
        })
        .await
        .map_err(|e| err(&e))?;
        // Swap the directories and reopen.
        let old = self.store.current();
        let dir = self.store.data_dir.clone();
        let config = self.store.config.clone();
        let reopened = blocking(move || {
            old.close()?;
            let events = dir.join(EVENTS_DIR);
            let old_dir = dir.join(EVENTS_OLD);
            rename(&events, &old_dir)?;
            rename(&dir.join(EVENTS_NEW), &events)?;
            sync_dir(&dir)?;
            remove_dir_if_exists(&old_dir)?;
            let (log, _) = Log::open(&events, config)?;
            Ok(log)
        })
        .await
        .map_err(|e| err(&e))?;
        *self.store.log.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(reopened);
        *lock(&self.store.failed) = None;
        self.store.durable.send_replace(image.state.event_count);
        let mut state = image.state;
        // The snapshot's own meta is authoritative for these two.
        state.last_applied = meta.last_log_id;
        state.last_membership = meta.last_membership.clone();
        self.set_data(state);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some((meta, data)) = self.saved().await? else {
            return Ok(None);
        };
        let bytes = build_image(&self.store, data).await?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
