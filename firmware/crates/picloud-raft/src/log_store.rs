//! [`RaftLogStorage`] and [`RaftLogReader`] over a [`picloud_log::Log`].
//!
//! Mapping:
//! - entry `i` is record `i`, payload = postcard of the openraft [`Entry`];
//! - `append` queues the records and hands openraft's [`LogFlushed`] to the
//!   engine's durable-completion callback (called after the group commit's
//!   `fdatasync`; no extra sync here); an append that overlaps the tail
//!   overwrites it (truncate first; openraft itself always truncates first),
//!   and entries at or below the purge point are dropped (a snapshot covers them);
//! - `truncate(log_id)` = `Log::truncate(log_id.index)`, `purge(log_id)` =
//!   `Log::purge(log_id.index, postcard(log_id))`; the purge marker is the
//!   last purged log id reported by `get_log_state`;
//! - vote and committed log id are postcard bytes in the engine's metadata
//!   file; the vote is saved durably before returning, the committed id is
//!   written in the background, coalesced (see `CommittedWriter`).
//!
//! The engine's calls other than `append` block (file I/O, fsync), so they run
//! on tokio's blocking pool.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, LogState, OptionalSend, RaftLogReader, StorageIOError, Vote};
use picloud_log::{Log, LogError};

use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

/// The Raft log: openraft's log storage on a picloud-log engine. Cheap to clone
/// (clones share the engine); a clone is also the log reader.
#[derive(Debug, Clone)]
pub struct LogStore {
    log: Arc<Log>,
    committed: Arc<CommittedWriter>,
    /// Last purged index, cached: the engine's `purged()` takes the metadata
    /// lock, which a background `save_committed` holds across its fsync, and
    /// `append` must not wait for that.
    purged: Arc<std::sync::Mutex<Option<u64>>>,
}

/// Writes the committed log id in the background, coalesced and at most once
/// per [`COMMITTED_WRITE_INTERVAL`]: openraft calls
/// `save_committed` on every commit advance, and a metadata fsync per commit
/// would double the fsyncs on the write path. The committed id is optional
/// (openraft re-learns it from the leader); a stale one after a crash only
/// means fewer entries are re-applied at start. The latest value given is
/// what `read_committed` returns.
#[derive(Debug, Default)]
struct CommittedWriter {
    latest: std::sync::Mutex<Option<Option<Vec<u8>>>>,
    queued: std::sync::Mutex<Option<Option<Vec<u8>>>>,
    busy: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Minimum time between two background writes of the committed log id.
pub const COMMITTED_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

impl CommittedWriter {
    fn save(self: &Arc<Self>, log: &Arc<Log>, value: Option<Vec<u8>>) {
        use std::sync::atomic::Ordering;
        *lock(&self.latest) = Some(value.clone());
        *lock(&self.queued) = Some(value);
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        let log = Arc::clone(log);
        tokio::spawn(async move {
            loop {
                let next = lock(&me.queued).take();
                match next {
                    Some(v) => {
                        let log = Arc::clone(&log);
                        // Best effort: a failed write leaves an older committed id.
                        let _ =
                            tokio::task::spawn_blocking(move || log.save_committed(v.as_deref()))
                                .await;
                        tokio::time::sleep(COMMITTED_WRITE_INTERVAL).await;
                    }
                    None => {
                        me.busy.store(false, Ordering::Release);
                        if lock(&me.queued).is_none() || me.busy.swap(true, Ordering::AcqRel) {
                            return;
                        }
                    }
                }
            }
        });
    }
}

impl LogStore {
    /// Wraps an opened engine.
    pub fn new(log: Arc<Log>) -> Self {
        let purged = log.purged().map(|(i, _)| i);
        LogStore {
            log,
            committed: Arc::new(CommittedWriter::default()),
            purged: Arc::new(std::sync::Mutex::new(purged)),
        }
    }

    /// Writes the latest committed log id given to `save_committed` durably
    /// now (e.g. before a planned shutdown).
    pub async fn flush_committed(&self) -> Result<(), StorageError> {
        let latest = lock(&self.committed.latest).clone();
        if let Some(v) = latest {
            self.blocking(move |l| l.save_committed(v.as_deref()))
                .await
                .map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
        }
        Ok(())
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Log> {
        &self.log
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, LogError>
    where
        T: Send + 'static,
        F: FnOnce(&Log) -> Result<T, LogError> + Send + 'static,
    {
        let log = Arc::clone(&self.log);
        tokio::task::spawn_blocking(move || f(&log))
            .await
            .unwrap_or_else(|e| Err(join_error(e)))
    }

    async fn read_entries(&self, lo: u64, hi_excl: u64) -> Result<Vec<Entry>, StorageError> {
        if hi_excl <= lo {
            return Ok(Vec::new());
        }
        let recs = self
            .blocking(move |l| l.read(lo..hi_excl))
            .await
            .map_err(|e| StorageIOError::read_logs(AnyError::new(&e)))?;
        let mut out = Vec::with_capacity(recs.len());
        for (i, bytes) in &recs {
            let e = postcard::from_bytes::<Entry>(bytes)
                .map_err(|e| StorageIOError::read_log_at_index(*i, AnyError::new(&e)))?;
            out.push(e);
        }
        Ok(out)
    }
}

pub(crate) fn join_error(e: tokio::task::JoinError) -> LogError {
    LogError::Io {
        op: "join blocking task",
        path: std::path::PathBuf::new(),
        source: Arc::new(io::Error::other(e.to_string())),
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    use std::ops::Bound;
    let lo = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let hi = match range.end_bound() {
        Bound::Included(&i) => i.saturating_add(1),
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    (lo, hi)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (lo, hi) = bounds(&range);
        self.read_entries(lo, hi).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = match self.log.purged() {
            Some((_, marker)) => Some(
                postcard::from_bytes::<LogId>(&marker)
                    .map_err(|e| StorageIOError::read_logs(AnyError::new(&e)))?,
            ),
            None => None,
        };
        let last_log_id = match self.log.last_index() {
            Some(last) => {
                let entries = self.read_entries(last, last.saturating_add(1)).await?;
                match entries.last() {
                    Some(e) => Some(e.log_id),
                    None => last_purged_log_id,
                }
            }
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let bytes = postcard::to_allocvec(vote)
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        self.blocking(move |l| l.save_vote(&bytes))
            .await
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        match self.log.read_vote() {
            None => Ok(None),
            Some(b) => postcard::from_bytes(&b)
                .map(Some)
                .map_err(|e| StorageIOError::read_vote(AnyError::new(&e)).into()),
        }
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let bytes = match committed {
            Some(c) => Some(
                postcard::to_allocvec(&c).map_err(|e| StorageIOError::write(AnyError::new(&e)))?,
            ),
            None => None,
        };
        self.committed.save(&self.log, bytes);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let latest = lock(&self.committed.latest).clone();
        match latest.unwrap_or_else(|| self.log.read_committed()) {
            None => Ok(None),
            Some(b) => postcard::from_bytes(&b)
                .map(Some)
                .map_err(|e| StorageIOError::read(AnyError::new(&e)).into()),
        }
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
        let mut records = Vec::new();
        for entry in entries {
            let bytes = postcard::to_allocvec(&entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
            records.push((entry.log_id.index, bytes));
        }
        // Entries at or below the purge point are covered by a snapshot; the
        // engine refuses them and nobody reads them, so they are dropped.
        // (openraft itself never appends there; its test suite does.)
        let purged = *lock(&self.purged);
        if let Some(purged) = purged {
            records.retain(|(i, _)| *i > purged);
        }
        let Some(first) = records.first().map(|(i, _)| *i) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        // openraft truncates conflicting entries before appending; an append
        // that still overlaps the tail overwrites it (truncate, then append).
        if self.log.last_index().is_some_and(|last| first <= last) {
            self.blocking(move |l| l.truncate(first))
                .await
                .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        }
        let last = records.last().map_or(first, |(i, _)| *i);
        let traced = crate::trace::appended(first, last);
        self.log
            .append(
                records,
                Box::new(move |r: Result<(), LogError>| {
                    crate::trace::flushed(first, last, traced);
                    callback.log_io_completed(r.map_err(io::Error::other));
                }),
            )
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let from = log_id.index;
        self.blocking(move |l| l.truncate(from))
            .await
            .map_err(|e| StorageIOError::write_log_entry(log_id, AnyError::new(&e)).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let marker = postcard::to_allocvec(&log_id)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        let upto = log_id.index;
        self.blocking(move |l| l.purge(upto, marker))
            .await
            .map_err(|e| StorageIOError::write_log_entry(log_id, AnyError::new(&e)))?;
        let mut p = lock(&self.purged);
        *p = (*p).max(Some(upto));
        Ok(())
    }
}
