//! Stage 1, `/init` in the initramfs: load the board's modules, verify and map the root slot
//! through dm-verity, mount it read-only, switch root and exec `/sbin/init` (stage 2).
//!
//! Any failure prints a clear message (with [`crate::MARKER_VERITY_FAILED`] when the slot
//! could not be verified) and resets with `reboot(RESTART2, "0")`: never a power-off, because
//! the Pi firmware's A/B fallback depends on the reset (a failed trial boot returns to the
//! committed slot).

use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

use crate::cmdline::BootParams;
use crate::sys::{self, RebootKind};
use crate::{disk, modules, verity};

/// Name of the device-mapper device of the root.
pub const DM_NAME: &str = "picloud-root";
const NEWROOT: &str = "/newroot";
const MODULE_LIST: &str = "/etc/picloud/modules";
const PUBLIC_KEY: &str = "/etc/picloud/verity.pub";
/// How long stage 1 waits for the disk to appear.
const DISK_WAIT: Duration = Duration::from_secs(20);

/// Why stage 1 stopped.
#[derive(Debug, thiserror::Error)]
pub enum Stage1Error {
    /// The root slot could not be verified or mounted through dm-verity.
    #[error("{0}")]
    Verity(String),
    /// Anything else (command line, modules, the disk never appeared, switch root).
    #[error("{0}")]
    Boot(String),
}

/// Prints one console line (errors writing to the console are ignored: there is nowhere
/// else to report them).
pub fn say(msg: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "[stage1 {:7.3}] {msg}", sys::uptime());
    let _ = out.flush();
}

fn marker(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs stage 1. Never returns: it execs stage 2 or resets.
pub fn run() -> ! {
    let err = match boot() {
        Ok(never) => match never {},
        Err(e) => e,
    };
    match &err {
        Stage1Error::Verity(reason) => {
            say(&format!("cannot verify the root slot: {reason}"));
            marker(&format!(
                "{} {}",
                crate::MARKER_VERITY_FAILED,
                reason.replace('\n', " ")
            ));
        }
        Stage1Error::Boot(reason) => say(&format!("boot failed: {reason}")),
    }
    reset_forever()
}

/// Syncs and resets (RESTART2 "0"); if the kernel refuses, says so and waits forever
/// (never exits: an exiting PID 1 panics the kernel).
pub fn reset_forever() -> ! {
    say("resetting in 1 s (the firmware falls back to the committed slot)");
    sys::sync();
    sys::sleep(Duration::from_secs(1));
    let e = sys::reboot(RebootKind::Reset);
    say(&format!("reset failed: {e}; halted here"));
    loop {
        sys::sleep(Duration::from_secs(3600));
    }
}

fn boot_err(e: impl std::fmt::Display) -> Stage1Error {
    Stage1Error::Boot(e.to_string())
}

fn mount_early() {
    for (src, dir, fs) in [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
    ] {
        let _ = std::fs::create_dir_all(dir);
        if !sys::is_mount_point(Path::new(dir)) {
            if let Err(e) = sys::mount(src, Path::new(dir), fs, libc::MS_NOSUID, None) {
                say(&e.to_string());
            }
        }
    }
}

fn boot() -> Result<Infallible, Stage1Error> {
    mount_early();
    sys::ensure_console();
    say(&format!(
        "picloud {} stage 1 starting",
        env!("CARGO_PKG_VERSION")
    ));
    let cmdline = std::fs::read_to_string("/proc/cmdline")
        .map_err(|e| boot_err(format!("read /proc/cmdline: {e}")))?;
    let params = BootParams::parse(&cmdline);
    let slot = params.slot.clone().map_err(boot_err)?;
    let root_part = params.root_part.clone().map_err(boot_err)?;
    let data_part = params.data_part.clone().map_err(boot_err)?;
    let vp = params
        .verity
        .clone()
        .map_err(|e| Stage1Error::Verity(e.to_string()))?;
    let sig = params
        .verity_sig
        .clone()
        .map_err(|e| Stage1Error::Verity(e.to_string()))?;

    load_modules();

    let disk = wait_for_disk(data_part)?;
    let root_dev = disk::partition_path(disk, root_part);
    say(&format!("slot {slot}: root {root_dev}"));

    let key = std::fs::read(PUBLIC_KEY)
        .map_err(|e| Stage1Error::Verity(format!("read {PUBLIC_KEY}: {e}")))?;
    verity::check_signature(&key, &vp.root_hash_hex, &sig)
        .map_err(|e| Stage1Error::Verity(e.to_string()))?;
    say(&format!(
        "root hash {}… signature verified",
        vp.root_hash_hex.get(..16).unwrap_or("")
    ));

    let sectors = verity::table_sectors(&vp);
    let checking = verity::table_params(&root_dev, &vp, false);
    let (major, minor) = sys::dm::create(DM_NAME, sectors, "verity", &checking)
        .map_err(|e| Stage1Error::Verity(e.to_string()))?;
    let mapped = format!("/dev/mapper/{DM_NAME}");
    let _ = std::fs::create_dir_all("/dev/mapper");
    if !Path::new(&mapped).exists() {
        sys::mknod_block(Path::new(&mapped), major, minor)
            .map_err(|e| Stage1Error::Verity(e.to_string()))?;
    }
    say(&format!(
        "dm-verity {root_dev} -> {mapped} ({major}:{minor})"
    ));
    scan(&mapped, vp.data_blocks * verity::BLOCK)?;
    let strict = verity::table_params(&root_dev, &vp, true);
    sys::dm::reload(DM_NAME, sectors, "verity", &strict)
        .map_err(|e| Stage1Error::Verity(e.to_string()))?;
    say(&format!(
        "all {} blocks verified; corruption met later resets the machine",
        vp.data_blocks
    ));

    let _ = std::fs::create_dir_all(NEWROOT);
    let newroot = Path::new(NEWROOT);
    let flags = libc::MS_RDONLY | libc::MS_NODEV;
    if let Err(e1) = sys::mount(&mapped, newroot, "erofs", flags, None) {
        sys::mount(&mapped, newroot, "squashfs", flags, None).map_err(|e2| {
            Stage1Error::Verity(format!(
                "the verified root does not mount (corrupt slot?): {e1}; {e2}"
            ))
        })?;
    }
    if !newroot.join("sbin/init").exists() {
        return Err(Stage1Error::Verity(
            "the verified root has no /sbin/init".into(),
        ));
    }
    marker(&format!("{} slot={slot}", crate::MARKER_STAGE1_OK));
    switch_root(newroot)
}

/// Reads the whole verified device once: every block's hash is checked now, so a tampered
/// slot is reported here (with the marker) instead of failing somewhere later. The blocks
/// stay in the page cache for the mount and exec that follow.
fn scan(dev: &str, bytes: u64) -> Result<(), Stage1Error> {
    use std::io::Read;
    let mut f =
        std::fs::File::open(dev).map_err(|e| Stage1Error::Verity(format!("open {dev}: {e}")))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut done: u64 = 0;
    while done < bytes {
        let want = usize::try_from((bytes - done).min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or(&mut []);
        match f.read(chunk) {
            Ok(0) => {
                return Err(Stage1Error::Verity(format!(
                    "{dev} ends after {done} of {bytes} bytes"
                )))
            }
            Ok(n) => done += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Stage1Error::Verity(format!(
                    "data block {} of the root slot is corrupted ({e})",
                    done / verity::BLOCK
                )))
            }
        }
    }
    Ok(())
}

fn load_modules() {
    let text = match std::fs::read_to_string(MODULE_LIST) {
        Ok(t) => t,
        Err(e) => {
            say(&format!(
                "no module list ({MODULE_LIST}: {e}); loading none"
            ));
            return;
        }
    };
    let list = match modules::parse_module_list(&text) {
        Ok(l) => l,
        Err(e) => {
            say(&e);
            return;
        }
    };
    let kver = sys::kernel_release().unwrap_or_default();
    let dir = Path::new("/lib/modules").join(&kver);
    let mut loaded = 0;
    for m in &list {
        let path = dir.join(&m.path);
        let r = std::fs::File::open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))
            .and_then(|f| sys::finit_module(&f, m.compressed).map_err(|e| e.to_string()));
        match r {
            Ok(()) => loaded += 1,
            // Already loaded or built in.
            Err(e) if e.contains("File exists") => {}
            Err(e) => say(&format!(
                "module {} (line {}): {e}",
                modules::module_name(&m.path),
                m.line
            )),
        }
    }
    say(&format!("{loaded} of {} modules loaded", list.len()));
}

fn wait_for_disk(data_part: u32) -> Result<&'static str, Stage1Error> {
    let clock = sys::Clock::start();
    loop {
        if let Some(d) = disk::find_disk(data_part, |p| Path::new(p).exists()) {
            return Ok(d);
        }
        if clock.now() > DISK_WAIT {
            return Err(Stage1Error::Boot(format!(
                "no disk with partition {data_part} appeared within {} s (tried {})",
                DISK_WAIT.as_secs(),
                disk::CANDIDATE_DISKS.join(", ")
            )));
        }
        sys::sleep(Duration::from_millis(20));
    }
}

fn switch_root(newroot: &Path) -> Result<Infallible, Stage1Error> {
    for dir in ["dev", "proc", "sys"] {
        let from = Path::new("/").join(dir);
        let to = newroot.join(dir);
        if sys::is_mount_point(&from) && to.is_dir() {
            if let Err(e) = sys::move_mount(&from, &to) {
                say(&e.to_string());
            }
        }
    }
    std::env::set_current_dir(newroot)
        .map_err(|e| boot_err(format!("chdir {}: {e}", newroot.display())))?;
    sys::move_mount(newroot, Path::new("/")).map_err(boot_err)?;
    sys::chroot(Path::new(".")).map_err(boot_err)?;
    std::env::set_current_dir("/").map_err(|e| boot_err(format!("chdir /: {e}")))?;
    let e = sys::execv("/sbin/init", &["/sbin/init"]);
    Err(Stage1Error::Verity(format!(
        "{e} (the verified root's init does not run)"
    )))
}
