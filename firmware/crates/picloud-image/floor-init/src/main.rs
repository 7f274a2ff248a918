//! Minimal PID 1: mount /proc, print one marker line with the boot slot, then power off (or
//! request a one-shot tryboot when `floor.tryboot=1` and this is not a tryboot already).
//! Nothing else: it is the floor the real init is compared with.

use std::io::Write;

const LINUX_REBOOT_MAGIC1: i32 = 0xfee1deadu32 as i32;
const LINUX_REBOOT_MAGIC2: i32 = 672274793;
const LINUX_REBOOT_CMD_POWER_OFF: i32 = 0x4321fedc;
const LINUX_REBOOT_CMD_RESTART2: i32 = 0xa1b2c3d4u32 as i32;
const SYS_REBOOT: i64 = if cfg!(target_arch = "aarch64") {
    142
} else {
    169
};

extern "C" {
    fn mount(
        src: *const u8,
        target: *const u8,
        fstype: *const u8,
        flags: u64,
        data: *const u8,
    ) -> i32;
    fn syscall(n: i64, ...) -> i64;
    fn sync();
}

fn main() {
    // SAFETY: NUL-terminated static strings; mount(2) only reads them.
    unsafe {
        mount(
            b"proc\0".as_ptr(),
            b"/proc\0".as_ptr(),
            b"proc\0".as_ptr(),
            0,
            std::ptr::null(),
        );
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let key = |k: &str| {
        cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .unwrap_or("-")
            .to_string()
    };
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let uptime = uptime.split_whitespace().next().unwrap_or("?");
    let slot = key("picloud.slot");
    let tryboot = key("picloud.tryboot");
    let want_tryboot = key("floor.tryboot") == "1" && tryboot != "1";
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "PICLOUD-FLOOR-INIT pid={} uptime={uptime} slot={slot} tryboot={tryboot}",
        std::process::id()
    );
    let _ = out.flush();
    // SAFETY: sync(2) and reboot(2) take no pointers except the NUL-terminated argument.
    unsafe {
        sync();
        if want_tryboot {
            syscall(
                SYS_REBOOT,
                LINUX_REBOOT_MAGIC1,
                LINUX_REBOOT_MAGIC2,
                LINUX_REBOOT_CMD_RESTART2,
                b"0 tryboot\0".as_ptr(),
            );
        } else {
            syscall(
                SYS_REBOOT,
                LINUX_REBOOT_MAGIC1,
                LINUX_REBOOT_MAGIC2,
                LINUX_REBOOT_CMD_POWER_OFF,
                0usize,
            );
        }
    }
    loop {
        std::thread::park();
    }
}
