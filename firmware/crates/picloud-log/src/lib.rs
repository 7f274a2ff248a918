//! PiCloud log storage engine: a segmented, checksummed, group-committed,
//! append-only log of opaque `(index: u64, bytes)` entries, written through
//! io_uring (or `pwrite`) on one dedicated I/O thread, plus the small durable
//! state Raft needs beside it (vote, committed marker, purge marker) and an
//! atomically replaced snapshot. It knows nothing of openraft; the openraft
//! 0.9 `storage-v2` adapters map onto it one to one:
//! `append(entries, callback)` → [`Log::append`], `truncate(log_id)` →
//! [`Log::truncate`], `purge(log_id)` → [`Log::purge`], `save_vote`/`read_vote`,
//! `save_committed`/`read_committed`, log reader → [`Log::read`].
//!
//! # On-disk layout
//!
//! ```text
//! <dir>/meta                      vote, committed, purge marker (two slots)
//! <dir>/snapshot                  current snapshot (replaced by rename)
//! <dir>/snapshot.tmp              snapshot being written (removed at open)
//! <dir>/log/<first-index:020>.seg segments, named by the index of their first record
//! ```
//!
//! All integers are little-endian. CRCs are CRC32C (Castagnoli), computed with
//! the `crc32c` crate (SSE4.2 / ARMv8 CRC instructions when present).
//!
//! **Segment** = 32-byte header, then records back to back, nothing else:
//!
//! ```text
//! header  0..8   magic "PCLOGSEG"
//!         8..12  format version u32 = 1
//!        12..16  flags u32 = 0
//!        16..24  first_index u64 (equals the number in the file name)
//!        24..28  crc32c of bytes 0..24
//!        28..32  reserved, zero
//! record  0..4   len u32          payload length in bytes
//!         4..8   crc u32          crc32c(index as 8 LE bytes ++ payload)
//!         8..16  index u64
//!        16..    payload          `len` bytes
//! ```
//!
//! Records in a segment have consecutive indices starting at `first_index`;
//! segment `k+1` starts at the index after the last record of segment `k`. A
//! payload is at most [`LogConfig::max_record_size`] (default 8 MiB; the
//! decoder rejects any length above 64 MiB without allocating). A new segment
//! is started when the next record would take the current one past
//! [`LogConfig::max_segment_size`] (default 64 MiB, at most 1 GiB) and the
//! current one holds at least one record; a segment never exceeds that size.
//!
//! **Metadata file** `meta`: two fixed 4096-byte slots at offsets 0 and 4096,
//! written alternately (slot = sequence number mod 2), each fdatasynced before
//! the call returns; no rename. A slot is
//!
//! ```text
//!  0..8   magic "PCLOGMET"      8..12  version u32 = 1
//! 12..16  body length u32      16..24  sequence number u64
//! 24..28  crc32c(bytes 8..24 ++ body)   28..32  reserved
//! 32..    body: vote, committed, purged — each a presence byte (0/1);
//!         vote and committed: u32 length + bytes; purged: u64 index + (1, u32
//!         length + marker bytes)
//! ```
//!
//! On open the valid slot with the highest sequence number wins. A torn slot
//! write therefore falls back to the other slot, which holds the previous
//! (acknowledged) state. All-zero slots are empty; one invalid slot beside an
//! empty one is a torn first write (fresh state); two invalid slots are a hard
//! error ([`LogError::MetaCorrupt`]).
//!
//! **Snapshot file**: `"PCLOGSNP"`, version u32 = 1, meta length u32, data
//! length u64, crc32c(bytes 8..24 ++ meta ++ data) u32, 4 reserved bytes, then
//! meta and data. Written as `snapshot.tmp`, fsynced, renamed over `snapshot`,
//! then the directory is fsynced; until the rename is durable the old snapshot
//! is the one found. A leftover `snapshot.tmp` is deleted at open.
//!
//! # Durability contract
//!
//! * [`Log::append`] queues entries and returns; they are readable at once.
//!   Its callback gets `Ok` only after the entries' bytes were written and the
//!   segment fdatasynced (and, if the batch created a segment, the `log/`
//!   directory fsynced). Appends queued by any number of threads are written
//!   by the I/O thread in one contiguous write per segment and made durable
//!   with **one** fdatasync per group commit: while one fdatasync runs, new
//!   appends queue up and form the next group (up to 16 MiB). One 256-byte
//!   append by one client costs one write and one fdatasync (on io_uring a
//!   linked `WRITE` → `FSYNC(DATASYNC)` pair in one submission); no
//!   directory fsync unless a segment was created.
//! * With [`SyncPolicy::OnDemand`] (`LogConfig::sync`) a group commit writes
//!   but does not fdatasync; the callback then means "written", and
//!   [`Log::sync`] (or `close`) makes everything written so far durable. A
//!   segment is still fdatasynced before the next one is created, so unsynced
//!   bytes exist only in the last segment and a crash costs at most a tail that
//!   recovery cuts (rule 3 below). The event store of `picloud-raft` uses it:
//!   its content beyond its snapshot is re-applied from the Raft log.
//! * Callbacks run in append order. If a write or sync fails, every waiter of
//!   that group gets the error and the log is **fenced**: all later writes fail
//!   with [`LogError::Fenced`] (a failed fsync is never retried, since the page
//!   cache state is unknown); reopen to recover.
//! * [`Log::truncate`], [`Log::purge`], [`Log::save_vote`],
//!   [`Log::save_committed`] and [`Log::save_snapshot`] are durable when they
//!   return. Truncate and purge go through the I/O thread's queue, so they are
//!   ordered with the appends queued before them.
//! * Truncate removes whole segments newest first, fsyncs the directory, then
//!   cuts the segment holding the index with `ftruncate` + fsync. Purge first
//!   writes the purge marker `(index, opaque marker)` to `meta`, then removes
//!   whole segments whose records are all at or below it, oldest first, and
//!   fsyncs the directory. A crash in either leaves a valid log.
//!
//! # Recovery rules (on open)
//!
//! 1. Read `meta` (rules above); delete `snapshot.tmp`.
//! 2. List `log/*.seg` with 20-digit names in index order and scan each fully
//!    (header, then every record's length, CRC and index).
//! 3. The **last** segment may have a torn tail: at the first record that is
//!    short (cut off) or fails its CRC / length check, the file is truncated to
//!    the end of the last good record and fsynced; the report gives
//!    `truncated_bytes`, `dropped_records` and `first_dropped_index`. If its
//!    header itself is short or all zero, the file is removed (nothing in it
//!    can have been acknowledged: header and first records are written and
//!    synced together).
//! 4. Anything else is a hard error and nothing is changed: a bad or torn
//!    record or header in any **sealed** (non-last) segment
//!    ([`LogError::Corrupt`]), a record with a valid CRC but the wrong index,
//!    a non-zero header with bad magic/version/CRC, a file name that disagrees
//!    with its header ([`LogError::NameMismatch`]), or a gap between segments
//!    ([`LogError::Discontiguous`]).
//! 5. Segments whose records are all at or below the purge marker are deleted
//!    (an interrupted purge). The log then starts at `max(purged + 1, first
//!    segment's first index)`, or at `purged + 1` if no segment is left. (A
//!    first segment starting after `purged + 1` is accepted: a log may begin
//!    above an old purge marker, so a lost *first* segment is not detectable.)
//!
//! Only bytes that were never covered by a completed fdatasync can be cut in
//! step 3, so acknowledged records are never lost; a sealed segment was fully
//! synced before the next one was created, so damage there is reported, never
//! repaired silently.
//!
//! # Memory bound
//!
//! The engine keeps no entries and no per-entry offsets beyond:
//! per segment ~100 bytes (first/next index, length, path); for the active
//! segment a sparse index of one `u32` offset per [`SPARSE_STRIDE`] (16)
//! records, at most `max_segment_size / (16 × 16 bytes) × 4` bytes (1 MiB
//! for 64 MiB segments of empty payloads, ~60 KiB for 256-byte payloads); the
//! same for at most [`SPARSE_CACHE_SEGMENTS`] (8) sealed segments read
//! recently; plus entries queued and not yet durable (bounded by what clients
//! have in flight; a group commit writes at most 16 MiB at a time). Segment
//! count grows with the log until purged, so a log kept purged behind its
//! snapshots stays bounded. Recovery streams each segment through a 1 MiB
//! buffer.
//!
//! # Concurrency
//!
//! [`Log`] is `Send + Sync`. Reads take a read lock to plan, then `pread`
//! through the page cache outside the lock, checking each record's CRC and
//! index. Callbacks run on the I/O thread: they must not block and must not
//! call `truncate`, `purge` or `close` (those wait for the I/O thread).
//!
//! # Failpoints
//!
//! With the cargo feature `failpoints`, [`FAILPOINTS`] lists crash points at
//! every write, fsync, rename and delete edge, armed by the environment
//! variable [`FAILPOINT_ENV`] (`name@n` crashes at the n-th hit). Without the
//! feature they compile to nothing.

mod error;
mod failpoint;
mod format;
mod io;
mod log;
mod meta;
mod snapshot;

pub use error::{LogError, RecordError, SegmentError};
pub use failpoint::{FAILPOINTS, FAILPOINT_ENV};
pub use format::{
    decode_record, encode_record, record_crc, scan_segment, Record, SegmentHeader, SegmentScan,
    MAX_PAYLOAD_HARD, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION,
};
pub use io::{io_uring_available, Backend};
pub use log::{
    AppendCallback, AppendTicket, Log, LogConfig, RecoveryReport, SyncPolicy,
    DEFAULT_ZERO_FILL_CHUNK, LOG_DIR, MAX_GROUP_BYTES, MAX_SEGMENT_SIZE_LIMIT, META_FILE,
    SPARSE_CACHE_SEGMENTS, SPARSE_STRIDE, ZERO_FILL_CHUNK_ENV, ZERO_FILL_STEP,
};
pub use snapshot::Snapshot;
