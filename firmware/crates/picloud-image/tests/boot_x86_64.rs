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

use std::path::{Path, PathBuf};
use std::time::Duration;

use picloud_image::board::Board;
use picloud_image::qemu::{Firmware, RunOptions};

const BOARD: &str = "qemu-x86_64";
const TARGET: &str = "x86_64-unknown-linux-musl";
/// From power-on to the API answering under x86 TCG on a busy 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(360);

fn picloud_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PICLOUD_IMAGE_TEST_BIN_X86_64") {
        return PathBuf::from(p);
    }
    picloud_image::binary::BinaryBuild {
        repo: common::repo(),
        target: TARGET.to_string(),
        profile: "firmware-ci".into(),
        target_dir: common::repo().join("target/picloud-image-tests"),
    }
    .run()
    .unwrap()
}

fn partition_bytes(disk: &Path, n: u32) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let p = picloud_image::mbr::find(disk, n).unwrap();
    let mut f = std::fs::File::open(disk).unwrap();
    f.seek(SeekFrom::Start(p.offset)).unwrap();
    let mut buf = vec![0u8; p.size as usize];
    f.read_exact(&mut buf).unwrap();
    buf
}

fn health(port: u16) -> Option<String> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-k", "-f", "--max-time", "5"])
        .arg(format!("https://127.0.0.1:{port}/health"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

#[test]
fn qemu_x86_64_boots_to_the_api_with_a_read_only_root() {
    let mut m = common::missing_for_boot(BOARD);
    if picloud_image::tools::find("curl").is_none() {
        m.push("curl (Debian package curl)".into());
    }
    if common::skip_unless(m) {
        return;
    }
    let dir = common::scratch("boot-x86_64");
    let img = common::build_image(BOARD, &picloud_bin(), &dir.join("image"), 1_790_000_000);
    let root_a = partition_bytes(&img.disk, 5);
    let mut fw = Firmware::new(RunOptions {
        board: Board::load(&common::repo(), BOARD).unwrap(),
        image: img.disk.clone(),
        work_dir: dir.join("run"),
        api_host_port: 0,
        node_host_port: 0,
        stream_console: std::env::var_os("PICLOUD_BOOT_CONSOLE").is_some(),
        first_boot_append: String::new(),
        append: String::new(),
    })
    .unwrap();
    let r = fw.start().unwrap();
    assert_eq!((r.partition, r.tryboot), (2, false));
    r.wait_for("PICLOUD-STAGE1-OK slot=a", BOOT_TIMEOUT)
        .unwrap();
    r.wait_for("PICLOUD-INIT-READY", BOOT_TIMEOUT).unwrap();
    r.wait_for("PICLOUD-NODE-STARTED pid=", BOOT_TIMEOUT)
        .unwrap();
    loop {
        if let Some(body) = health(fw.api_port) {
            assert!(body.contains("ok"), "{body}");
            break;
        }
        assert!(
            r.elapsed() < BOOT_TIMEOUT,
            "/health did not answer within {BOOT_TIMEOUT:?}; console:\n{}",
            r.console_lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let console = r.console_lines().join("\n");
    assert!(
        console.contains("watchdog /dev/watchdog0 armed"),
        "no watchdog on q35:\n{console}"
    );
    fw.kill(r).unwrap();
    // Read-only root: the slot-a partition is byte-for-byte what the builder wrote.
    assert!(
        partition_bytes(&img.disk, 5) == root_a,
        "the root partition changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
