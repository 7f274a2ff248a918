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
//!
//! **Tail cache.** The entries most recently appended (at most
//! [`TAIL_CACHE_ENTRIES`] and [`TAIL_CACHE_BYTES`] of encoded size) are also kept
//! decoded in memory, so that replication, which reads an entry right after the
//! leader appended it, gets it without a trip through the blocking pool or a
//! postcard decode. A read is served from the cache only when the cache covers
//! the whole requested range; anything else goes to the engine. The cache holds
//! exactly the engine's entries for its indices: `truncate` and `purge` drop
//! from the cache before they change the engine, and `append` adds to the cache
//! only after the engine accepted the entries, under the cache lock.

use std::collections::VecDeque;
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
    /// The most recent entries, decoded (see the module docs).
    tail: Arc<std::sync::Mutex<TailCache>>,
}

/// Most entries kept in the tail cache.
pub const TAIL_CACHE_ENTRIES: usize = 1024;
/// Most encoded bytes of the entries kept in the tail cache.
pub const TAIL_CACHE_BYTES: usize = 16 << 20;

/// The last entries of the log with consecutive indices, decoded, bounded by
/// [`TAIL_CACHE_ENTRIES`] and [`TAIL_CACHE_BYTES`] (oldest evicted first).
#[derive(Debug, Default)]
struct TailCache {
    /// `(entry, encoded size)`, indices consecutive, oldest first.
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl TailCache {
    fn first(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index)
    }

    /// One past the last cached index.
    fn next(&self) -> Option<u64> {
        self.entries
            .back()
            .map(|(e, _)| e.log_id.index.saturating_add(1))
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Adds entries the engine just accepted (consecutive indices). If they do
    /// not continue the cached ones, the cache restarts with them.
    fn push(&mut self, new: Vec<(Entry, usize)>) {
        let Some(first) = new.first().map(|(e, _)| e.log_id.index) else {
            return;
        };
        if self.next().is_some_and(|n| n != first) {
            self.clear();
        }
        for (e, size) in new {
            self.bytes = self.bytes.saturating_add(size);
            self.entries.push_back((e, size));
        }
        while self.entries.len() > TAIL_CACHE_ENTRIES || self.bytes > TAIL_CACHE_BYTES {
            let Some((_, size)) = self.entries.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(size);
        }
    }

    /// Drops the entries at and after `from`.
    fn truncate(&mut self, from: u64) {
        while self.next().is_some_and(|n| n > from) {
            let Some((_, size)) = self.entries.pop_back() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(size);
        }
    }

    /// Drops the entries at and before `upto`.
    fn purge(&mut self, upto: u64) {
        while self.first().is_some_and(|f| f <= upto) {
            let Some((_, size)) = self.entries.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(size);
        }
    }

    /// The entries `lo..hi` if the cache holds every one of them.
    fn get(&self, lo: u64, hi: u64) -> Option<Vec<Entry>> {
        let (first, next) = (self.first()?, self.next()?);
        if lo < first || hi > next || lo >= hi {
            return None;
        }
        let from = usize::try_from(lo - first).ok()?;
        let to = usize::try_from(hi - first).ok()?;
        Some(
            self.entries
                .range(from..to)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }
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
            tail: Arc::new(std::sync::Mutex::new(TailCache::default())),
        }
    }

    /// Whether every entry of `lo..hi` is in the tail cache (reads of it then
    /// neither block nor decode).
    pub fn cached(&self, lo: u64, hi: u64) -> bool {
        lock(&self.tail).get(lo, hi).is_some()
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
        if let Some(entries) = lock(&self.tail).get(lo, hi_excl) {
            return Ok(entries);
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

impl LogStore {
    /// `RaftLogStorage::append` with a plain callback: queues `entries` in the
    /// engine (and the tail cache) and returns; `done` runs once they are
    /// durable (or failed).
    async fn append_entries(
        &self,
        entries: Vec<Entry>,
        done: Box<dyn FnOnce(Result<(), io::Error>) + Send>,
    ) -> Result<(), StorageError> {
        let mut records = Vec::new();
        let mut decoded = Vec::new();
        for entry in entries {
            let bytes = postcard::to_allocvec(&entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
            records.push((entry.log_id.index, bytes));
            decoded.push(entry);
        }
        // Entries at or below the purge point are covered by a snapshot; the
        // engine refuses them and nobody reads them, so they are dropped.
        // (openraft itself never appends there; its test suite does.)
        let purged = *lock(&self.purged);
        if let Some(purged) = purged {
            records.retain(|(i, _)| *i > purged);
            decoded.retain(|e| e.log_id.index > purged);
        }
        let Some(first) = records.first().map(|(i, _)| *i) else {
            done(Ok(()));
            return Ok(());
        };
        // openraft truncates conflicting entries before appending; an append
        // that still overlaps the tail overwrites it (truncate, then append).
        if self.log.last_index().is_some_and(|last| first <= last) {
            lock(&self.tail).truncate(first);
            self.blocking(move |l| l.truncate(first))
                .await
                .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        }
        let last = records.last().map_or(first, |(i, _)| *i);
        let sizes: Vec<usize> = records.iter().map(|(_, b)| b.len()).collect();
        let traced = crate::trace::appended(first, last);
        // The cache lock is held across the engine's (non-blocking) append, so
        // a reader sees the entries in both or in neither.
        let mut tail = lock(&self.tail);
        self.log
            .append(
                records,
                Box::new(move |r: Result<(), LogError>| {
                    crate::trace::flushed(first, last, traced);
                    done(r.map_err(io::Error::other));
                }),
            )
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        tail.push(decoded.into_iter().zip(sizes).collect());
        Ok(())
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
        self.append_entries(
            entries.into_iter().collect(),
            Box::new(move |r| callback.log_io_completed(r)),
        )
        .await
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let from = log_id.index;
        lock(&self.tail).truncate(from);
        self.blocking(move |l| l.truncate(from))
            .await
            .map_err(|e| StorageIOError::write_log_entry(log_id, AnyError::new(&e)).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let marker = postcard::to_allocvec(&log_id)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        let upto = log_id.index;
        lock(&self.tail).purge(upto);
        self.blocking(move |l| l.purge(upto, marker))
            .await
            .map_err(|e| StorageIOError::write_log_entry(log_id, AnyError::new(&e)))?;
        let mut p = lock(&self.purged);
        *p = (*p).max(Some(upto));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::types::{ClientBatch, ClientRequest, Op};
    use openraft::{CommittedLeaderId, EntryPayload};
    use std::time::Duration;

    fn entry(index: u64, tag: u8) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(ClientBatch {
                requests: vec![ClientRequest {
                    client: 1,
                    seq: index,
                    op: Op::Append {
                        payload: vec![tag; 256],
                    },
                }],
            }),
        }
    }

    fn sized(es: Vec<Entry>) -> Vec<(Entry, usize)> {
        es.into_iter().map(|e| (e, 300)).collect()
    }

    fn indices(es: &[Entry]) -> Vec<u64> {
        es.iter().map(|e| e.log_id.index).collect()
    }

    #[test]
    fn tail_cache_tracks_append_truncate_purge() {
        let mut c = TailCache::default();
        assert!(c.get(1, 2).is_none());
        c.push(sized((1..=5).map(|i| entry(i, 0)).collect()));
        assert_eq!(indices(&c.get(1, 6).unwrap()), vec![1, 2, 3, 4, 5]);
        assert_eq!(indices(&c.get(3, 5).unwrap()), vec![3, 4]);
        // Only ranges the cache covers whole are served.
        assert!(c.get(0, 3).is_none());
        assert!(c.get(4, 7).is_none());
        assert!(c.get(3, 3).is_none());
        // Truncate drops the tail; the overwriting entries come back in.
        c.truncate(4);
        assert!(c.get(4, 5).is_none());
        c.push(sized(vec![entry(4, 9)]));
        match &c.get(4, 5).unwrap()[0].payload {
            EntryPayload::Normal(b) => match &b.requests[0].op {
                Op::Append { payload } => assert_eq!(payload[0], 9),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        // Purge drops the head.
        c.purge(2);
        assert!(c.get(2, 3).is_none());
        assert_eq!(indices(&c.get(3, 5).unwrap()), vec![3, 4]);
        // Entries that do not continue the cached ones restart the cache.
        c.push(sized(vec![entry(10, 0)]));
        assert!(c.get(3, 4).is_none());
        assert_eq!(indices(&c.get(10, 11).unwrap()), vec![10]);
        c.truncate(0);
        assert!(c.entries.is_empty());
        assert_eq!(c.bytes, 0);
    }

    #[test]
    fn tail_cache_is_bounded() {
        let mut c = TailCache::default();
        let n = TAIL_CACHE_ENTRIES as u64 + 10;
        c.push(sized((1..=n).map(|i| entry(i, 0)).collect()));
        assert_eq!(c.entries.len(), TAIL_CACHE_ENTRIES);
        assert_eq!(c.first(), Some(11));
        assert_eq!(c.next(), Some(n + 1));
        let mut c = TailCache::default();
        c.push(vec![
            (entry(1, 0), TAIL_CACHE_BYTES / 2),
            (entry(2, 0), TAIL_CACHE_BYTES / 2),
            (entry(3, 0), TAIL_CACHE_BYTES / 2),
        ]);
        assert_eq!(c.first(), Some(2));
        assert!(c.bytes <= TAIL_CACHE_BYTES);
    }

    /// Replication reads an entry right after the leader appended it: the read
    /// must not need tokio's blocking pool (here its only thread is kept busy)
    /// nor wait for the engine's flush. Older entries still come from the engine.
    #[test]
    fn just_appended_entries_are_read_without_the_blocking_pool() {
        let dir = std::env::temp_dir().join(format!("picloud-raft-tail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (log, _) = Log::open(&dir, picloud_log::LogConfig::default()).unwrap();
        let store = LogStore::new(Arc::new(log));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        rt.block_on(async {
            let (flushed_tx, flushed_rx) = std::sync::mpsc::channel();
            let tx = flushed_tx.clone();
            store
                .append_entries(
                    (1..=3).map(|i| entry(i, 1)).collect(),
                    Box::new(move |r| tx.send(r.is_ok()).unwrap()),
                )
                .await
                .unwrap();
            assert!(flushed_rx.recv_timeout(Duration::from_secs(10)).unwrap());
            // Occupy the only blocking thread until released.
            let (release, wait) = std::sync::mpsc::channel::<()>();
            let busy = tokio::task::spawn_blocking(move || wait.recv().ok());
            tokio::time::sleep(Duration::from_millis(20)).await;
            store
                .append_entries(
                    vec![entry(4, 2)],
                    Box::new(move |r| flushed_tx.send(r.is_ok()).unwrap()),
                )
                .await
                .unwrap();
            assert!(store.cached(4, 5));
            let mut reader = store.clone();
            let got =
                tokio::time::timeout(Duration::from_secs(5), reader.try_get_log_entries(2..5))
                    .await
                    .expect("served from memory while the blocking pool is busy")
                    .unwrap();
            assert_eq!(indices(&got), vec![2, 3, 4]);
            assert_eq!(got[2], entry(4, 2));
            // A truncated tail is gone from the cache too.
            lock(&store.tail).truncate(4);
            assert!(!store.cached(4, 5));
            release.send(()).unwrap();
            busy.await.unwrap();
            assert!(flushed_rx.recv_timeout(Duration::from_secs(10)).unwrap());
            // Ranges the cache does not cover go to the engine.
            lock(&store.tail).clear();
            let got = reader.try_get_log_entries(1..5).await.unwrap();
            assert_eq!(indices(&got), vec![1, 2, 3, 4]);
            assert_eq!(got[3], entry(4, 2));
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
