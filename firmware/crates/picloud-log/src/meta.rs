//! The metadata file: Raft vote, committed index and the purge marker, in two
//! fixed slots written alternately (see the crate docs).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::failpoint;

/// Bytes per slot.
pub(crate) const SLOT_LEN: usize = 4096;
const SLOT_HEADER_LEN: usize = 32;
/// Largest encoded body a slot holds.
pub(crate) const MAX_BODY: usize = SLOT_LEN - SLOT_HEADER_LEN;
const META_MAGIC: [u8; 8] = *b"PCLOGMET";
const META_VERSION: u32 = 1;

/// What the metadata file holds; all values are opaque to the engine except
/// the purged index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MetaState {
    pub vote: Option<Vec<u8>>,
    pub committed: Option<Vec<u8>>,
    pub purged: Option<(u64, Vec<u8>)>,
}

fn put_opt(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn opt(&mut self) -> Option<Option<Vec<u8>>> {
        match self.u8()? {
            0 => Some(None),
            1 => {
                let n = usize::try_from(self.u32()?).ok()?;
                Some(Some(self.take(n)?.to_vec()))
            }
            _ => None,
        }
    }
}

impl MetaState {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_opt(&mut out, self.vote.as_deref());
        put_opt(&mut out, self.committed.as_deref());
        match &self.purged {
            None => out.push(0),
            Some((index, marker)) => {
                out.push(1);
                out.extend_from_slice(&index.to_le_bytes());
                put_opt(&mut out, Some(marker));
            }
        }
        out
    }

    fn decode(body: &[u8]) -> Option<Self> {
        let mut c = Cursor(body);
        let vote = c.opt()?;
        let committed = c.opt()?;
        let purged = match c.u8()? {
            0 => None,
            1 => {
                let index = c.u64()?;
                Some((index, c.opt()??))
            }
            _ => return None,
        };
        c.0.is_empty().then_some(MetaState {
            vote,
            committed,
            purged,
        })
    }
}

enum Slot {
    Empty,
    Valid(u64, MetaState),
    Invalid(&'static str),
}

fn encode_slot(seq: u64, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(SLOT_HEADER_LEN + body.len());
    s.extend_from_slice(&META_MAGIC);
    s.extend_from_slice(&META_VERSION.to_le_bytes());
    s.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    s.extend_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(s.get(8..24).unwrap_or(&[])), body);
    s.extend_from_slice(&crc.to_le_bytes());
    s.extend_from_slice(&[0u8; 4]);
    s.extend_from_slice(body);
    s
}

fn decode_slot(b: &[u8]) -> Slot {
    if b.iter().all(|x| *x == 0) {
        return Slot::Empty;
    }
    let mut c = Cursor(b);
    if c.take(8) != Some(&META_MAGIC[..]) {
        return Slot::Invalid("bad magic");
    }
    if c.u32() != Some(META_VERSION) {
        return Slot::Invalid("bad version");
    }
    let Some(len) = c.u32().and_then(|l| usize::try_from(l).ok()) else {
        return Slot::Invalid("short");
    };
    let Some(seq) = c.u64() else {
        return Slot::Invalid("short");
    };
    let Some(stored) = c.u32() else {
        return Slot::Invalid("short");
    };
    let (Some(_), Some(body)) = (c.take(4), c.take(len)) else {
        return Slot::Invalid("body length out of range");
    };
    let crc = crc32c::crc32c_append(crc32c::crc32c(b.get(8..24).unwrap_or(&[])), body);
    if crc != stored {
        return Slot::Invalid("checksum mismatch");
    }
    match MetaState::decode(body) {
        Some(state) => Slot::Valid(seq, state),
        None => Slot::Invalid("undecodable body"),
    }
}

/// The open metadata file.
#[derive(Debug)]
pub(crate) struct MetaFile {
    file: File,
    path: PathBuf,
    seq: u64,
    state: MetaState,
}

impl MetaFile {
    /// Opens (creating if missing) and picks the valid slot with the highest
    /// sequence number. `created` tells the caller to fsync the directory.
    pub(crate) fn open(path: &Path) -> Result<(Self, bool), LogError> {
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| LogError::io("open", path, e))?;
        let mut buf = vec![0u8; 2 * SLOT_LEN];
        let mut got = 0;
        while got < buf.len() {
            let Some(rest) = buf.get_mut(got..) else {
                break;
            };
            match file.read_at(rest, got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LogError::io("read", path, e)),
            }
        }
        let a = decode_slot(buf.get(..SLOT_LEN).unwrap_or(&[]));
        let b = decode_slot(buf.get(SLOT_LEN..).unwrap_or(&[]));
        let (seq, state) = match (a, b) {
            (Slot::Valid(sa, a), Slot::Valid(sb, b)) => {
                if sa >= sb {
                    (sa, a)
                } else {
                    (sb, b)
                }
            }
            (Slot::Valid(s, st), _) | (_, Slot::Valid(s, st)) => (s, st),
            (Slot::Empty, Slot::Empty)
            | (Slot::Invalid(_), Slot::Empty)
            | (Slot::Empty, Slot::Invalid(_)) => {
                // Fresh file, or the very first write was torn (never acknowledged).
                (0, MetaState::default())
            }
            (Slot::Invalid(ra), Slot::Invalid(rb)) => {
                return Err(LogError::MetaCorrupt {
                    path: path.to_owned(),
                    reason: format!("slot 0: {ra}; slot 1: {rb}"),
                })
            }
        };
        Ok((
            MetaFile {
                file,
                path: path.to_owned(),
                seq,
                state,
            },
            created,
        ))
    }

    pub(crate) fn state(&self) -> &MetaState {
        &self.state
    }

    /// Durably replaces the state: writes the slot not holding the current
    /// state, then fdatasyncs. The in-memory state changes only on success.
    pub(crate) fn update(&mut self, f: impl FnOnce(&mut MetaState)) -> Result<(), LogError> {
        let mut next = self.state.clone();
        f(&mut next);
        let body = next.encode();
        if body.len() > MAX_BODY {
            return Err(LogError::MetaTooLarge {
                len: body.len() as u64,
                max: MAX_BODY as u64,
            });
        }
        let seq = self.seq + 1;
        let slot = encode_slot(seq, &body);
        let offset = (seq % 2) * SLOT_LEN as u64;
        if failpoint::hit("meta.write.torn") {
            let half = slot.get(..slot.len() / 2).unwrap_or(&[]);
            let _ = self.file.write_all_at(half, offset);
            failpoint::crash();
        }
        self.file
            .write_all_at(&slot, offset)
            .map_err(|e| LogError::io("write", &self.path, e))?;
        if failpoint::hit("meta.fdatasync.before") {
            // Power loss: only part of the unsynced slot reached the disk.
            let zeros = vec![0u8; slot.len() / 2];
            let _ = self
                .file
                .write_all_at(&zeros, offset + (slot.len() - zeros.len()) as u64);
            failpoint::crash();
        }
        self.file
            .sync_data()
            .map_err(|e| LogError::io("fdatasync", &self.path, e))?;
        if failpoint::hit("meta.fdatasync.after") {
            failpoint::crash();
        }
        self.seq = seq;
        self.state = next;
        Ok(())
    }
}
