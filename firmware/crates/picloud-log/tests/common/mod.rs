//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use picloud_log::{io_uring_available, Backend, Log, LogConfig, RecoveryReport};

/// Backends every test runs against.
pub fn backends() -> Vec<Backend> {
    assert!(
        io_uring_available(),
        "io_uring must be available on this machine"
    );
    vec![Backend::Std, Backend::IoUring]
}

/// A fresh directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let base = std::env::var_os("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let p = base.join(format!(
            "picloud-log-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn cfg(backend: Backend, seg: u64) -> LogConfig {
    LogConfig {
        max_segment_size: seg,
        max_record_size: 1024.min(seg - 48),
        backend,
        ..Default::default()
    }
}

/// [`cfg`] with an explicit zero-fill chunk (0: off, the pre-zero-fill behaviour).
pub fn cfg_zero(backend: Backend, seg: u64, zero_fill_chunk: u64) -> LogConfig {
    LogConfig {
        zero_fill_chunk,
        ..cfg(backend, seg)
    }
}

/// Offset just past the last non-zero byte of `bytes` (0 if all zero).
pub fn nonzero_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)
}

pub fn open(dir: &Path, backend: Backend, seg: u64) -> (Log, RecoveryReport) {
    Log::open(dir, cfg(backend, seg)).unwrap()
}

/// Deterministic payload for (index, generation).
pub fn payload(i: u64, g: u64) -> Vec<u8> {
    let len = 16 + ((i * 7 + g * 13) % 120) as usize;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&i.to_le_bytes());
    v.extend_from_slice(&g.to_le_bytes());
    for k in 16..len {
        v.push((i as usize + g as usize * 31 + k) as u8);
    }
    v
}

/// Decodes (index, generation) from a payload and checks its bytes.
pub fn check_payload(p: &[u8]) -> Option<(u64, u64)> {
    let i = u64::from_le_bytes(p.get(0..8)?.try_into().ok()?);
    let g = u64::from_le_bytes(p.get(8..16)?.try_into().ok()?);
    (payload(i, g) == p).then_some((i, g))
}

pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}
