//! The projection's memory stays bounded however often one resource is updated.
//!
//! Oxigraph 0.5's in-memory store never frees removed quads (MVCC, `// TODO: garbage
//! collection` in its `storage/memory.rs`): without compaction every update of a resource
//! leaves its old values behind as dead nodes. This test counts the heap bytes the test
//! thread holds (a counting global allocator; this binary has one test, so nothing else
//! allocates meanwhile), updates the same container thousands of times, and checks that
//! the heap stops growing with compaction on — and, as a control, that it does grow with
//! compaction off, so the test can see the leak it guards against.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    unsafe_code,
    reason = "a test: failures are test failures; the counting allocator needs unsafe impl"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicIsize, Ordering};

use picloud_domain::{IriBuilder, Resource, ResourceSpec};
use picloud_events::{CorrelationId, Envelope, Timestamp};
use picloud_product_core::{apply, decide, Command, ProductState};
use picloud_projection::Projection;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

fn size(layout: Layout) -> isize {
    isize::try_from(layout.size()).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so it
// upholds `GlobalAlloc`'s contract exactly as `System` does; the counter is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(size(layout), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(size(layout), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes
        // through `alloc`/`realloc` above).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            isize::try_from(new_size).unwrap_or(isize::MAX) - size(layout),
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn photo_app(path: &str) -> Vec<Resource> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../examples/photo-app");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "picloud"))
        .collect();
    files.sort();
    let files: Vec<_> = files
        .iter()
        .map(|p| {
            picloud_lang::SourceFile::new(
                p.display().to_string(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    let mut rs = picloud_lang::check(&files).unwrap().resources;
    for r in &mut rs {
        if let ResourceSpec::Container(c) = &mut r.spec {
            c.mounts[0].path = path.to_owned();
        }
    }
    rs
}

/// The photo-app declared, then its container updated `updates` times (a new mount path
/// and a new time each: one `ResourceUpdated` per command).
fn log(updates: usize) -> Vec<Envelope> {
    let iri = IriBuilder::default();
    let mut state = ProductState::default();
    let mut events = Vec::new();
    for i in 0..=updates {
        let mut corr = [0u8; 16];
        corr[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let now = Timestamp::from_unix_millis(1_795_794_861_000 + i as i64 * 1_000).unwrap();
        let cmd = Command::ApplySet {
            resources: photo_app(&format!("/data/{i}")),
            idempotency_key: None,
            correlation_id: CorrelationId::from_bytes(corr),
            source: iri.cluster(),
        };
        for e in decide(&state, &cmd, now, &iri).unwrap() {
            apply(&mut state, &e);
            events.push(e);
        }
    }
    events
}

/// Heap growth (bytes) between projecting `warm` events and projecting all of them.
fn growth(events: &[Envelope], warm: usize, floor: Option<usize>) -> (isize, Projection) {
    let mut p = Projection::new(IriBuilder::default()).unwrap();
    p.set_compaction_floor(floor);
    let mut at_warm = 0;
    for (i, e) in events.iter().enumerate() {
        if i == warm {
            at_warm = live_bytes();
        }
        p.apply(e, i as u64).unwrap();
    }
    // A copy still running in the background holds a second store; let it land.
    p.finish_compaction().unwrap();
    (live_bytes() - at_warm, p)
}

#[test]
fn memory_stays_bounded_over_many_updates_of_one_resource() {
    const UPDATES: usize = 4_000;
    const WARM: usize = 1_000;
    const FLOOR: usize = 2_000;
    let events = log(UPDATES);
    let declared = events.len() - UPDATES;

    // Compaction on: after the warm-up the heap does not keep growing.
    let (bounded, p) = growth(&events, WARM, Some(FLOOR));
    let stats = p.stats();
    let live = p.reader().len().unwrap();
    assert_eq!(stats.live_quads, live);
    assert!(stats.compactions >= 2, "{stats:?}");
    assert!(stats.dead_quads < FLOOR.max(live / 8), "{stats:?}");
    // The graph is the same as one projected without compaction.
    let (unbounded, q) = growth(&events, WARM, None);
    assert_eq!(p.canonical_nquads().unwrap(), q.canonical_nquads().unwrap());
    let q_stats = q.stats();
    assert_eq!(q_stats.compactions, 0);
    // Every update removes the old path, generation and update time (and re-links).
    assert!(
        q_stats.dead_quads >= 3 * (events.len() - declared),
        "{q_stats:?}"
    );
    drop(q);
    eprintln!(
        "{UPDATES} updates after {WARM}: heap growth {bounded} B with compaction \
         ({} compactions), {unbounded} B without",
        stats.compactions
    );
    // Without compaction the dead quads pile up: hundreds of bytes per update.
    assert!(
        unbounded > 200 * (UPDATES - WARM) as isize,
        "the control did not grow: {unbounded} B"
    );
    // With it, what is left is at most one compaction period's garbage (≤ FLOOR dead
    // quads, a few hundred bytes each) — far less than the control's growth.
    assert!(
        bounded < 1_000 * FLOOR as isize && bounded * 4 < unbounded,
        "heap grew by {bounded} B with compaction (vs {unbounded} B without)"
    );
}
