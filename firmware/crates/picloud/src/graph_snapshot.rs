//! The **graph snapshot** file: the RDF projection saved with the number of events it
//! folds, so a restart restores the graph instead of projecting the whole log again.
//!
//! ```text
//! <node data dir>/graph.snapshot   replaced by write graph.snapshot.tmp → fsync → rename
//!                                  → fsync(dir)
//!
//! picloud-graph-snapshot 1\n
//! folded <F>\n                     events 0..F are folded into the state and the graph
//! sha256 <64 hex digits>\n         of F (8 bytes, little-endian) ‖ the N-Quads below
//! \n
//! <canonical N-Quads>              `Projection::snapshot()` at F (holds its cursor)
//! ```
//!
//! **Restore rule** (`RaftBackend::start`): the file is used only if it parses, its hash
//! matches, the N-Quads load, the projection cursor is below `F`, and the event store holds
//! at least `F` events; otherwise it is ignored with a warning and the graph is rebuilt from
//! empty, so a graph is never ahead of the log. The product state is not saved: it is
//! rebuilt by folding events `0..F` without projecting them (cheap), then tailing continues
//! at `F`.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The file's name under the node's data directory.
pub const FILE: &str = "graph.snapshot";
const TMP: &str = "graph.snapshot.tmp";
const MAGIC: &str = "picloud-graph-snapshot 1";

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of `folded` (little-endian) ‖ `nquads`: a flipped digit of F is caught too.
fn digest(folded: u64, nquads: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(folded.to_le_bytes());
    h.update(nquads);
    hex(&h.finalize())
}

/// The file's bytes for `folded` events and the projection's N-Quads.
pub fn encode(folded: u64, nquads: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{MAGIC}\nfolded {folded}\nsha256 {}\n\n",
        digest(folded, nquads)
    )
    .into_bytes();
    out.extend_from_slice(nquads);
    out
}

/// Parses a file: `(F, N-Quads)`, or why it is unusable.
pub fn decode(bytes: &[u8]) -> Result<(u64, &[u8]), String> {
    let mut rest = bytes;
    let mut line = || -> Result<&str, String> {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("truncated header")?;
        let (l, tail) = rest.split_at(end);
        let l = std::str::from_utf8(l).map_err(|_| "header is not text")?;
        rest = tail.get(1..).unwrap_or_default();
        Ok(l)
    };
    if line()? != MAGIC {
        return Err("not a graph snapshot (bad magic)".into());
    }
    let folded: u64 = line()?
        .strip_prefix("folded ")
        .and_then(|n| n.parse().ok())
        .ok_or("bad `folded` line")?;
    let hash = line()?
        .strip_prefix("sha256 ")
        .ok_or("bad `sha256` line")?
        .to_owned();
    if !line()?.is_empty() {
        return Err("bad header end".into());
    }
    if digest(folded, rest) != hash {
        return Err("checksum mismatch".into());
    }
    Ok((folded, rest))
}

/// Whether a snapshot of `folded` events may be used with an event store of
/// `event_count` events: never a graph ahead of the log.
pub fn usable(folded: u64, event_count: u64) -> bool {
    folded <= event_count
}

/// Writes `bytes` as `<dir>/graph.snapshot` atomically (tmp, fsync, rename, fsync dir).
/// Writers are serialised (the Raft-snapshot task and the shutdown save share the tmp
/// file).
pub fn write_atomic(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = WRITING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = dir.join(TMP);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Reads `<dir>/graph.snapshot`: `Ok(None)` when there is none.
pub fn read(dir: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(dir.join(FILE)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let nq = b"<a:s> <a:p> <a:o> <a:g> .\n";
        let file = encode(42, nq);
        assert_eq!(decode(&file).unwrap(), (42, &nq[..]));
        // Any flipped byte (header or body) is refused.
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "byte {i} flipped was accepted");
        }
        // Truncation too.
        for n in 0..file.len() {
            assert!(decode(&file[..n]).is_err(), "truncated to {n} was accepted");
        }
        assert!(decode(b"").is_err());
    }

    #[test]
    fn restore_rule_never_ahead_of_the_log() {
        assert!(usable(0, 0));
        assert!(usable(9, 9));
        assert!(usable(9, 20));
        assert!(!usable(10, 9));
        assert!(!usable(1, 0));
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = std::env::temp_dir().join(format!("picloud-gs-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(read(&dir).unwrap().is_none());
        write_atomic(&dir, &encode(1, b"x")).unwrap();
        write_atomic(&dir, &encode(2, b"y")).unwrap();
        let b = read(&dir).unwrap().unwrap();
        assert_eq!(decode(&b).unwrap(), (2, &b"y"[..]));
        assert!(!dir.join(TMP).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
