//! The A/B stand-in itself, with the floor init (no real PiCloud needed): a tryboot request
//! boots the other slot exactly once, as the Pi firmware does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use picloud_image::board::Board;
use picloud_image::qemu::{BootEnd, Firmware, RunOptions};

#[test]
fn standin_honours_the_one_shot_tryboot() {
    if common::skip_unless(common::missing_for_boot("qemu-aarch64")) {
        return;
    }
    let bin = common::floor_bin("aarch64-unknown-linux-musl");
    let dir = common::scratch("standin");
    let img = common::build_image("qemu-aarch64", &bin, &dir.join("img"), 1_790_000_000);
    let mut fw = Firmware::new(RunOptions {
        board: Board::load(&common::repo(), "qemu-aarch64").unwrap(),
        image: img.disk.clone(),
        work_dir: dir.join("run"),
        api_host_port: 0,
        node_host_port: 0,
        stream_console: false,
        first_boot_append: String::new(),
        // The floor init asks for a tryboot when it is not in one.
        append: "floor.tryboot=1".into(),
    })
    .unwrap();
    let recs = fw.run(3, Duration::from_secs(120)).unwrap();
    let summary: Vec<(u32, bool, BootEnd)> = recs
        .iter()
        .map(|r| (r.partition, r.tryboot, r.end.clone()))
        .collect();
    // Boot 1: default partition 2 (slot a) asks for a tryboot; boot 2: partition 3 (slot b)
    // as a tryboot, powers off (the floor init only asks outside a tryboot).
    assert_eq!(
        summary,
        vec![
            (2, false, BootEnd::TrybootRequested),
            (3, true, BootEnd::PowerOff)
        ],
        "console:\n{}",
        recs.iter()
            .flat_map(|r| r.console.clone())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(recs[0]
        .console
        .iter()
        .any(|l| l.contains("PICLOUD-FLOOR-INIT pid=1") && l.contains("slot=a tryboot=0")));
    assert!(recs[1]
        .console
        .iter()
        .any(|l| l.contains("slot=b tryboot=1")));
    // The flag was one-shot: the next boot is the default slot again (and asks again).
    let r = fw.start().unwrap();
    assert_eq!((r.partition, r.tryboot), (2, false));
    let rec = fw.finish(r, Duration::from_secs(120)).unwrap();
    assert_eq!(rec.end, BootEnd::TrybootRequested);
    let _ = std::fs::remove_dir_all(&dir);
}
