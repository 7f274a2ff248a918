//! Boot test on qemu-x86_64 (q35, TCG) with the real `picloud` as PID 1: the same runner and
//! A/B stand-in as `cargo xtask qemu --board qemu-x86_64`. One boot (x86 TCG is about 2.5x
//! slower than aarch64 here): stage 1 verifies the root, PID 1 starts the node, `/health`
//! answers through the forwarded API port, and the root partition is unchanged afterwards.
//! Builds the static picloud for x86_64-unknown-linux-musl (profile firmware-ci) in
//! target/picloud-image-tests, or boots `PICLOUD_IMAGE_TEST_BIN_X86_64`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod common;

use std::time::Duration;

use picloud_image::qemu::Firmware;

const BOARD: &str = "qemu-x86_64";
const TARGET: &str = "x86_64-unknown-linux-musl";
/// From power-on to the API answering under x86 TCG on a busy 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(360);

#[test]
fn qemu_x86_64_boots_to_the_api_with_a_read_only_root() {
    if common::boot_tools_missing(BOARD) {
        return;
    }
    let dir = common::scratch("boot-x86_64");
    let bin = common::picloud_bin_or(TARGET, "PICLOUD_IMAGE_TEST_BIN_X86_64");
    let img = common::build_image(BOARD, &bin, &dir.join("image"), 1_790_000_000);
    let root_a = common::partition_bytes(&img.disk, 5);
    let mut fw = Firmware::new(common::run_options(
        BOARD,
        &img.disk,
        dir.join("run"),
        "",
        "",
    ))
    .unwrap();
    let r = fw.start().unwrap();
    assert_eq!((r.partition, r.tryboot), (2, false));
    r.wait_for("PICLOUD-STAGE1-OK slot=a", BOOT_TIMEOUT)
        .unwrap();
    r.wait_for("PICLOUD-INIT-READY", BOOT_TIMEOUT).unwrap();
    r.wait_for("PICLOUD-NODE-STARTED pid=", BOOT_TIMEOUT)
        .unwrap();
    common::wait_health(&r, fw.api_port, BOOT_TIMEOUT);
    let console = r.console_lines().join("\n");
    assert!(
        console.contains("watchdog /dev/watchdog0 armed"),
        "no watchdog on q35:\n{console}"
    );
    fw.kill(r).unwrap();
    // Read-only root: the slot-a partition is byte-for-byte what the builder wrote.
    assert!(
        common::partition_bytes(&img.disk, 5) == root_a,
        "the root partition changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
