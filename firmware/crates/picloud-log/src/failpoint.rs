//! Crash failpoints for the crash-consistency tests.
//!
//! With the cargo feature `failpoints`, the environment variable
//! `PICLOUD_LOG_FAILPOINT=<name>[@<n>]` arms exactly one failpoint: its `n`-th
//! hit (default 1) makes [`hit`] return true, and the call site then models the
//! crash (for power loss it may first cut unsynced bytes) and calls
//! [`crash`]. Without the feature [`hit`] is a constant `false` and the call
//! sites compile away.

/// Every failpoint compiled into the engine, in the order data flows.
pub const FAILPOINTS: &[&str] = &[
    "segment.create.after",
    "segment.write.before",
    "segment.write.torn",
    "segment.pad.torn",
    "segment.fdatasync.before",
    "segment.fdatasync.after",
    "segment.dirsync.before",
    "segment.dirsync.after",
    "zerofill.write.torn",
    "zerofill.fdatasync.before",
    "zerofill.fdatasync.after",
    "meta.write.torn",
    "meta.fdatasync.before",
    "meta.fdatasync.after",
    "snapshot.write.torn",
    "snapshot.fsync.before",
    "snapshot.rename.before",
    "snapshot.dirsync.before",
    "snapshot.dirsync.after",
    "truncate.delete",
    "truncate.dirsync.before",
    "truncate.ftruncate.before",
    "truncate.sync.after",
    "purge.meta.after",
    "purge.delete",
    "purge.dirsync.before",
    "recovery.cut.before",
    "recovery.fsync.before",
    "recovery.fsync.after",
];

/// Environment variable that arms a failpoint.
pub const FAILPOINT_ENV: &str = "PICLOUD_LOG_FAILPOINT";

#[cfg(feature = "failpoints")]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);

    fn armed() -> &'static Option<(String, u64)> {
        ARMED.get_or_init(|| {
            let v = std::env::var(super::FAILPOINT_ENV).ok()?;
            match v.split_once('@') {
                Some((name, n)) => Some((name.to_owned(), n.parse().unwrap_or(1))),
                None => Some((v, 1)),
            }
        })
    }

    pub(crate) fn active() -> bool {
        armed().is_some()
    }

    pub(crate) fn hit(name: &str) -> bool {
        match armed() {
            Some((armed_name, n)) if armed_name == name => {
                HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n
            }
            _ => false,
        }
    }
}

#[cfg(not(feature = "failpoints"))]
mod imp {
    #[inline(always)]
    pub(crate) fn active() -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn hit(_name: &str) -> bool {
        false
    }
}

pub(crate) use imp::{active, hit};

/// Ends the process at once, like a crash (no destructors, no flushing).
pub(crate) fn crash() -> ! {
    std::process::abort()
}
