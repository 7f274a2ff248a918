//! `PICLOUD_LOG_ZERO_FILL_CHUNK` overrides `LogConfig::zero_fill_chunk` at
//! open; a bad value fails open with a clear error. (Its own test binary: the
//! variable is process-wide.)

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use common::*;
use picloud_log::{Backend, Log, LogError, ZERO_FILL_CHUNK_ENV};

#[test]
fn env_overrides_the_chunk_and_rejects_bad_values() {
    let d = TempDir::new("zf-env");
    std::env::set_var(ZERO_FILL_CHUNK_ENV, "4 MiB");
    match Log::open(d.path(), cfg(Backend::Std, 1 << 20)) {
        Err(LogError::Config { reason }) => {
            assert!(reason.contains(ZERO_FILL_CHUNK_ENV), "{reason}")
        }
        other => panic!("bad value accepted: {other:?}"),
    }
    std::env::set_var(ZERO_FILL_CHUNK_ENV, "0");
    {
        let (log, _) = Log::open(d.path(), cfg(Backend::Std, 1 << 20)).unwrap();
        log.append_wait(vec![(1, vec![1; 100])]).unwrap();
    }
    let seg = segment_files(d.path()).pop().unwrap();
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        32 + 16 + 100,
        "zero fill off"
    );
    std::env::set_var(ZERO_FILL_CHUNK_ENV, "8192");
    {
        let (log, _) = Log::open(d.path(), cfg(Backend::Std, 1 << 20)).unwrap();
        log.append_wait(vec![(2, vec![2; 100])]).unwrap();
    }
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        2 * (32 + 16 + 100) - 32 + 8192,
        "records, then one 8 KiB chunk"
    );
    std::env::remove_var(ZERO_FILL_CHUNK_ENV);
}
