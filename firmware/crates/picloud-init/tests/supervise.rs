//! The supervisor restarting a real child with exponential backoff, and the reaper
//! collecting orphans (this test process makes itself a child subreaper, which is what PID 1
//! is by nature). The tests share one process-wide reaper, so they run one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use picloud_init::stage2::{ChildEvent, Supervised};
use picloud_init::supervise::{Backoff, ExitStatus};
use picloud_init::sys;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn crashing_child_is_restarted_with_growing_delays() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let policy = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        stable_after: Duration::from_secs(10),
    };
    let mut child = Supervised::new("/bin/sh", vec!["-c".into(), "exit 3".into()], policy);
    let t0 = Instant::now();
    let mut starts: Vec<Duration> = Vec::new();
    let mut exits = Vec::new();
    while t0.elapsed() < Duration::from_millis(2300) {
        let now = t0.elapsed();
        let reaped = sys::reap_all();
        for ev in child.tick(now, &reaped) {
            match ev {
                ChildEvent::Started(pid) => {
                    assert!(pid > 0);
                    starts.push(now);
                }
                ChildEvent::Exited(_, status, delay) => exits.push((status, delay)),
                ChildEvent::StartFailed(e, _) => panic!("{e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(starts.len() >= 5, "{starts:?}");
    assert!(
        exits.iter().all(|(s, _)| *s == ExitStatus::Exited(3)),
        "{exits:?}"
    );
    let delays: Vec<u128> = exits.iter().map(|(_, d)| d.as_millis()).collect();
    assert_eq!(&delays[..4], &[100, 200, 400, 400], "{delays:?}");
    // The gaps between starts honour the delays (each gap = run time + delay).
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, want) in gaps.iter().zip([100u64, 200, 400, 400]) {
        assert!(*gap >= Duration::from_millis(want), "{gaps:?}");
    }
    assert!(gaps[2] > gaps[0] * 2, "the delay grows: {gaps:?}");
    // No restart after stop.
    let pid = child.sup.stop();
    if let Some(pid) = pid {
        let _ = sys::kill(pid, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(300));
    let reaped = sys::reap_all();
    assert!(child.tick(t0.elapsed(), &reaped).is_empty());
}

#[test]
fn children_start_with_an_empty_signal_mask() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // PID 1 blocks the signals it waits for; a supervised child must not inherit that, or it
    // would ignore the SIGTERM of an orderly shutdown. The mask is per thread, so this runs
    // in its own thread.
    std::thread::spawn(|| {
        sys::block_signals(&sys::handled_signals()).unwrap();
        let mut child = Supervised::new(
            "/bin/sh",
            vec![
                "-c".into(),
                "grep SigBlk /proc/self/status > \"$0\"".into(),
                std::env::temp_dir()
                    .join(format!("pcinit-mask-{}", std::process::id()))
                    .display()
                    .to_string(),
            ],
            Backoff::default(),
        );
        let ev = child.tick(Duration::ZERO, &[]);
        let Some(ChildEvent::Started(pid)) = ev.first() else {
            panic!("{ev:?}")
        };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if sys::reap_all().iter().any(|r| r.pid == *pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .join()
    .unwrap();
    let file = std::env::temp_dir().join(format!("pcinit-mask-{}", std::process::id()));
    let line = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(line.trim(), "SigBlk:\t0000000000000000", "{line}");
}

#[test]
fn reaper_collects_orphaned_grandchildren() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    sys::set_child_subreaper().unwrap();
    // The shell exits at once; its two background subshells are orphaned, reparented to
    // us, and exit later (one with status 7).
    let child = std::process::Command::new("/bin/sh")
        .args(["-c", "(sleep 0.2; exit 7) & (sleep 0.3) & exit 0"])
        .spawn()
        .unwrap();
    let shell = child.id() as i32;
    drop(child);
    let t0 = Instant::now();
    let mut reaped = Vec::new();
    while t0.elapsed() < Duration::from_secs(5) && reaped.len() < 3 {
        reaped.extend(sys::reap_all());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(reaped.len(), 3, "{reaped:?}");
    assert!(reaped
        .iter()
        .any(|r| r.pid == shell && r.status == ExitStatus::Exited(0)));
    assert!(reaped
        .iter()
        .any(|r| r.pid != shell && r.status == ExitStatus::Exited(7)));
    // Nothing is left as a zombie: every reaped pid is gone from /proc.
    for r in &reaped {
        assert!(
            !std::path::Path::new(&format!("/proc/{}", r.pid)).exists(),
            "pid {} still exists",
            r.pid
        );
    }
    assert!(sys::reap_all().is_empty());
}
