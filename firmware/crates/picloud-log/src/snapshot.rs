//! The snapshot file, replaced atomically (temp file, fsync, rename, fsync dir).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use crate::error::LogError;
use crate::failpoint;
use crate::io::sync_dir;

pub(crate) const SNAPSHOT_FILE: &str = "snapshot";
pub(crate) const SNAPSHOT_TEMP: &str = "snapshot.tmp";
const SNAP_MAGIC: [u8; 8] = *b"PCLOGSNP";
const SNAP_VERSION: u32 = 1;
const SNAP_HEADER_LEN: usize = 32;

/// A snapshot as stored: opaque metadata and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Snapshot metadata (for Raft: last included log id, membership, id).
    pub meta: Vec<u8>,
    /// The state machine image.
    pub data: Vec<u8>,
}

fn header(meta: &[u8], data: &[u8]) -> [u8; SNAP_HEADER_LEN] {
    let mut h = [0u8; SNAP_HEADER_LEN];
    h[0..8].copy_from_slice(&SNAP_MAGIC);
    h[8..12].copy_from_slice(&SNAP_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&u32::try_from(meta.len()).unwrap_or(u32::MAX).to_le_bytes());
    h[16..24].copy_from_slice(&(data.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&h[8..24]), meta), data);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Writes `dir/snapshot` atomically. The previous snapshot stays readable
/// until the rename; after return the new one is durable.
pub(crate) fn save(dir: &Path, meta: &[u8], data: &[u8]) -> Result<(), LogError> {
    if u32::try_from(meta.len()).is_err() {
        return Err(LogError::SnapshotCorrupt {
            path: dir.join(SNAPSHOT_FILE),
            reason: format!("metadata of {} bytes is too large", meta.len()),
        });
    }
    let tmp = dir.join(SNAPSHOT_TEMP);
    let fin = dir.join(SNAPSHOT_FILE);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| LogError::io("create", &tmp, e))?;
    let h = header(meta, data);
    if failpoint::hit("snapshot.write.torn") {
        let _ = f.write_all(&h);
        let _ = f.write_all(meta);
        let _ = f.write_all(data.get(..data.len() / 2).unwrap_or(&[]));
        failpoint::crash();
    }
    f.write_all(&h)
        .and_then(|()| f.write_all(meta))
        .and_then(|()| f.write_all(data))
        .map_err(|e| LogError::io("write", &tmp, e))?;
    if failpoint::hit("snapshot.fsync.before") {
        // Power loss: only part of the unsynced temp file survives.
        let len = (SNAP_HEADER_LEN + meta.len() + data.len()) as u64;
        let _ = f.set_len(len / 2);
        failpoint::crash();
    }
    f.sync_all().map_err(|e| LogError::io("fsync", &tmp, e))?;
    drop(f);
    if failpoint::hit("snapshot.rename.before") {
        failpoint::crash();
    }
    fs::rename(&tmp, &fin).map_err(|e| LogError::io("rename", &fin, e))?;
    if failpoint::hit("snapshot.dirsync.before") {
        failpoint::crash();
    }
    sync_dir(dir)?;
    if failpoint::hit("snapshot.dirsync.after") {
        failpoint::crash();
    }
    Ok(())
}

/// Reads and verifies `dir/snapshot`; `None` if there is none.
pub(crate) fn load(dir: &Path) -> Result<Option<Snapshot>, LogError> {
    let path = dir.join(SNAPSHOT_FILE);
    let mut f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("open", &path, e)),
    };
    let corrupt = |reason: String| LogError::SnapshotCorrupt {
        path: path.clone(),
        reason,
    };
    let mut h = [0u8; SNAP_HEADER_LEN];
    f.read_exact(&mut h)
        .map_err(|e| corrupt(format!("header: {e}")))?;
    if h.get(0..8) != Some(&SNAP_MAGIC[..]) {
        return Err(corrupt("bad magic".into()));
    }
    let u32_at = |at: usize| {
        h.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
    };
    if u32_at(8) != SNAP_VERSION {
        return Err(corrupt(format!("unsupported version {}", u32_at(8))));
    }
    let meta_len = u64::from(u32_at(12));
    let data_len = h
        .get(16..24)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    let file_len = f
        .metadata()
        .map_err(|e| LogError::io("stat", &path, e))?
        .len();
    if Some(file_len) != (SNAP_HEADER_LEN as u64 + meta_len).checked_add(data_len) {
        return Err(corrupt(format!(
            "length {file_len} does not match header ({meta_len} + {data_len})"
        )));
    }
    let mut meta = vec![0u8; usize::try_from(meta_len).unwrap_or(0)];
    let mut data = vec![0u8; usize::try_from(data_len).unwrap_or(0)];
    f.read_exact(&mut meta)
        .and_then(|()| f.read_exact(&mut data))
        .map_err(|e| LogError::io("read", &path, e))?;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c_append(crc32c::crc32c(h.get(8..24).unwrap_or(&[])), &meta),
        &data,
    );
    if crc != u32_at(24) {
        return Err(corrupt("checksum mismatch".into()));
    }
    Ok(Some(Snapshot { meta, data }))
}
