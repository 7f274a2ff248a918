//! Boot tests on qemu-aarch64 (TCG) with the real `picloud` as PID 1, through the same QEMU
//! runner and A/B stand-in as `cargo xtask qemu`. The image is built once per run (static
//! picloud for aarch64-unknown-linux-musl with the `firmware-ci` profile in a separate target
//! directory); each test boots its own sparse copy of it, one QEMU at a time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod common;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use picloud_image::build::ImageOutput;
use picloud_image::qemu::{BootEnd, Firmware, Running};

use common::{partition_bytes, wait_health};

const BOARD: &str = "qemu-aarch64";
const TARGET: &str = "aarch64-unknown-linux-musl";
/// From power-on to the API answering, under TCG on a busy 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);

/// One QEMU at a time: TCG on 2 cores.
static QEMU: Mutex<()> = Mutex::new(());

fn image() -> &'static ImageOutput {
    static IMG: OnceLock<ImageOutput> = OnceLock::new();
    IMG.get_or_init(|| {
        let bin = common::picloud_bin(TARGET);
        let out = common::repo().join("target/picloud-image-tests/boot-image");
        common::build_image(BOARD, &bin, &out, 1_790_000_000)
    })
}

/// A sparse copy of the image for one test, and a firmware stand-in on it.
fn firmware(name: &str, first_boot_append: &str, append: &str) -> (Firmware, PathBuf, PathBuf) {
    let dir = common::scratch(name);
    let disk = dir.join("disk.img");
    let st = std::process::Command::new("cp")
        .arg("--sparse=always")
        .arg(&image().disk)
        .arg(&disk)
        .status()
        .unwrap();
    assert!(st.success());
    let fw = Firmware::new(common::run_options(
        BOARD,
        &disk,
        dir.join("run"),
        first_boot_append,
        append,
    ))
    .unwrap();
    (fw, disk, dir)
}

/// The cluster CA fingerprint from the init's status screen (`CA sha256 …`), once the node
/// has created the CA on the data partition.
fn ca_fingerprint(r: &Running) -> String {
    loop {
        if let Some(f) = r.console_lines().iter().rev().find_map(|l| {
            let rest = l.split("CA sha256").nth(1)?;
            let v = rest.trim_start_matches([':', ' ']).trim();
            (!v.is_empty() && !v.starts_with("not available")).then(|| v.to_string())
        }) {
            return f;
        }
        assert!(
            r.elapsed() < BOOT_TIMEOUT,
            "no CA fingerprint on the status screen within {BOOT_TIMEOUT:?}; console:\n{}",
            r.console_lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Boots to the API through stage 1 (verity) and PID 1; the node's CA, created on the data
/// partition during the first boot, is the same after a power cut (data persists); the root
/// partition is untouched (read-only root).
#[test]
fn boots_to_the_api_and_keeps_data_across_a_reset() {
    if common::boot_tools_missing(BOARD) {
        return;
    }
    let _q = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let (mut fw, disk, dir) = firmware("boot-api", "", "");
    let root_a = partition_bytes(&disk, 5);

    // Boot 1: slot a, through stage 1 (verity) and stage 2, to the API.
    let mut r = fw.start().unwrap();
    assert_eq!((r.partition, r.tryboot), (2, false));
    r.wait_for("PICLOUD-STAGE1-OK slot=a", BOOT_TIMEOUT)
        .unwrap();
    r.wait_for("PICLOUD-INIT-READY", BOOT_TIMEOUT).unwrap();
    r.wait_for("PICLOUD-NODE-STARTED pid=", BOOT_TIMEOUT)
        .unwrap();
    wait_health(&r, fw.api_port, BOOT_TIMEOUT);
    let ca1 = ca_fingerprint(&r);
    // Let the first boot's writes settle, then cut the power (QMP system_reset).
    std::thread::sleep(Duration::from_secs(3));
    r.host_reset().unwrap();
    let rec = fw.finish(r, Duration::from_secs(30)).unwrap();
    assert_eq!(rec.end, BootEnd::HostReset);

    // Boot 2: the CA written during boot 1 is still on the data partition.
    let r = fw.start().unwrap();
    r.wait_for("PICLOUD-NODE-STARTED pid=", BOOT_TIMEOUT)
        .unwrap();
    wait_health(&r, fw.api_port, BOOT_TIMEOUT);
    let ca2 = ca_fingerprint(&r);
    assert_eq!(
        ca1, ca2,
        "the node's CA changed across the reset: the data partition lost it"
    );
    fw.kill(r).unwrap();
    // The root is read-only: after two boots and a power cut the slot-a root partition is
    // byte-for-byte what the builder wrote (erofs behind dm-verity).
    assert!(
        partition_bytes(&disk, 5) == root_a,
        "the root partition changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `picloud cluster init` from the host's CLI through the forwarded HTTPS API port: trust on
/// first contact by the CA fingerprint the node's console shows, init without a token (the
/// node is uninitialised), a second init refused with 409, and the saved CA verifying the
/// node afterwards.
#[test]
fn host_cli_cluster_init_against_the_booted_node() {
    if common::boot_tools_missing(BOARD) {
        return;
    }
    let host = common::host_picloud();
    let _q = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let (mut fw, _disk, dir) = firmware("boot-cluster-init", "", "");
    let r = fw.start().unwrap();
    r.wait_for("PICLOUD-NODE-STARTED pid=", BOOT_TIMEOUT)
        .unwrap();
    wait_health(&r, fw.api_port, BOOT_TIMEOUT);
    let fingerprint = ca_fingerprint(&r);
    let url = format!("https://127.0.0.1:{}/", fw.api_port);
    let cli = |args: &[&str]| {
        std::process::Command::new(&host)
            .args(args)
            .env("HOME", &dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env_remove("PICLOUD_CLUSTER")
            .env_remove("PICLOUD_CA")
            .env_remove("PICLOUD_TOKEN")
            .env_remove("PICLOUD_CREDENTIAL")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let show = |out: &std::process::Output| {
        format!(
            "exit {:?}\n{}{}\nconsole:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            r.console_lines().join("\n")
        )
    };
    let out = cli(&[
        "cluster",
        "init",
        "--cluster",
        &url,
        "--ca-fingerprint",
        &fingerprint,
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "picloud cluster init: {}", show(&out));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        reply["summary"]
            .to_string()
            .contains("initialised a cluster with node"),
        "{}",
        show(&out)
    );
    assert_eq!(
        reply["voters"].as_array().map(Vec::len),
        Some(1),
        "{}",
        show(&out)
    );
    // The node is initialised now: init is refused (409), through the CA saved above.
    let out = cli(&["cluster", "init", "--cluster", &url]);
    assert_eq!(out.status.code(), Some(1), "second init: {}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already initialised") && err.contains("409"),
        "second init: {}",
        show(&out)
    );
    fw.kill(r).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A blank data partition (p7 zeroed, as after a user re-partitioned or wiped it) is grown and
/// formatted on first boot by the image's Debian mke2fs (`recipes/e2fsprogs-arm64.toml`),
/// then the node comes up on it and the API answers. The same boot checks the status screen's
/// bootstrap row (a fresh node has no cluster identity yet: it says why there is no code).
#[test]
fn blank_data_partition_is_formatted_on_first_boot() {
    if common::boot_tools_missing(BOARD) {
        return;
    }
    let _q = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let (mut fw, disk, dir) = firmware("boot-blank-data", "", "");
    {
        // Zero the start of p7: no ext4 superblock (magic at 1024 + 56) for PID 1 to find.
        use std::io::{Seek, SeekFrom, Write};
        let p7 = picloud_image::mbr::find(&disk, 7).unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
        f.seek(SeekFrom::Start(p7.offset)).unwrap();
        f.write_all(&vec![0u8; 1 << 20]).unwrap();
        f.sync_all().unwrap();
    }
    assert_ne!(
        &partition_bytes(&disk, 7)[1024 + 56..1024 + 58],
        &[0x53, 0xef]
    );
    let r = fw.start().unwrap();
    r.wait_for("formatted: ext4 file system picloud-data", BOOT_TIMEOUT)
        .unwrap();
    r.wait_for("PICLOUD-NODE-STARTED pid=", BOOT_TIMEOUT)
        .unwrap();
    wait_health(&r, fw.api_port, BOOT_TIMEOUT);
    let ca = ca_fingerprint(&r);
    assert!(ca.contains(':'), "{ca}");
    let console = r.console_lines().join("\n");
    assert!(
        console.contains(" bootstrap  none (") && console.contains("issued on this node yet"),
        "no bootstrap row on the status screen:\n{console}"
    );
    assert!(!console.contains("data partition unavailable"), "{console}");
    fw.kill(r).unwrap();
    // p7 now holds an ext4 file system labelled picloud-data.
    let p7 = partition_bytes(&disk, 7);
    let sb = &p7[1024..2048];
    assert_eq!(&sb[56..58], &[0x53, 0xef], "no ext4 magic after the boot");
    assert_eq!(&sb[120..132], b"picloud-data");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A corrupted slot-b root fails dm-verity on its trial boot; the stand-in then boots slot a.
#[test]
fn tampered_root_slot_fails_verity_and_falls_back() {
    if common::boot_tools_missing(BOARD) {
        return;
    }
    let _q = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let (mut fw, disk, dir) = firmware("boot-tamper", "", "");
    // Overwrite the erofs superblock block of rootB (p6): the first read of the root fails.
    {
        use std::io::{Seek, SeekFrom, Write};
        let p6 = picloud_image::mbr::find(&disk, 6).unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
        f.seek(SeekFrom::Start(p6.offset + 1024)).unwrap();
        f.write_all(b"TAMPERED-BY-THE-BOOT-TEST").unwrap();
    }
    // As if the running slot had just installed B and asked for a trial boot.
    fw.set_tryboot();
    let r = fw.start().unwrap();
    assert_eq!((r.partition, r.tryboot), (3, true));
    let (i, line) = r
        .wait_for_any(
            &["PICLOUD-VERITY-FAILED", "PICLOUD-STAGE1-OK"],
            BOOT_TIMEOUT,
        )
        .unwrap();
    assert_eq!(i, 0, "slot b booted despite the corruption: {line}");
    let rec = fw.finish(r, Duration::from_secs(60)).unwrap();
    assert!(
        matches!(rec.end, BootEnd::Reboot | BootEnd::OtherReset),
        "expected a reset after the verity failure, got {:?}",
        rec.end
    );
    assert!(!fw.tryboot_pending());
    // The stand-in falls back to the default slot a, which boots.
    let r = fw.start().unwrap();
    assert_eq!((r.partition, r.tryboot), (2, false));
    r.wait_for("PICLOUD-STAGE1-OK slot=a", BOOT_TIMEOUT)
        .unwrap();
    r.wait_for("PICLOUD-INIT-READY", BOOT_TIMEOUT).unwrap();
    fw.kill(r).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A PID 1 that stops petting the watchdog is reset by the emulated i6300esb.
#[test]
fn hung_pid1_is_reset_by_the_watchdog() {
    if common::boot_tools_missing(BOARD) {
        return;
    }
    let _q = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let (mut fw, _disk, dir) = firmware(
        "boot-watchdog",
        "picloud.watchdog=5 picloud.test.hang=600",
        "",
    );
    let r = fw.start().unwrap();
    r.wait_for("PICLOUD-INIT-READY", BOOT_TIMEOUT).unwrap();
    let ready = r.elapsed();
    let rec = fw.finish(r, Duration::from_secs(120)).unwrap();
    assert_eq!(
        rec.end,
        BootEnd::WatchdogReset,
        "console:\n{}",
        rec.console.join("\n")
    );
    // Reset well before the 600 s hang would have ended.
    assert!(
        rec.duration < ready + Duration::from_secs(60),
        "{:?}",
        rec.duration
    );
    // The next boot (no hang hook) comes up normally.
    let r = fw.start().unwrap();
    r.wait_for("PICLOUD-INIT-READY", BOOT_TIMEOUT).unwrap();
    fw.kill(r).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
