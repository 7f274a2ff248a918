//! `/dev/watchdog0`: open, set the timeout, pet. Never closed (closing without the magic
//! character keeps it armed on `nowayout` drivers and disarms it on others; PID 1 never exits,
//! so it simply keeps the fd).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::{io_error, last_error, SysResult};

/// `_IOWR('W', 6, int)`.
const WDIOC_SETTIMEOUT: u64 = 0xc004_5706;
/// `_IOR('W', 7, int)`.
const WDIOC_GETTIMEOUT: u64 = 0x8004_5707;
/// `_IOR('W', 5, int)`.
const WDIOC_KEEPALIVE: u64 = 0x8004_5705;

/// An open, armed watchdog.
#[derive(Debug)]
pub struct Watchdog {
    file: File,
    timeout: Duration,
}

impl Watchdog {
    /// Opens `path` (arming the watchdog) and asks for `timeout`; the driver may round it.
    pub fn open(path: &str, timeout: Duration) -> SysResult<Watchdog> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io_error(format!("open {path}"), e))?;
        let fd = file.as_raw_fd();
        let mut secs: libc::c_int = timeout.as_secs().clamp(1, 3600) as libc::c_int;
        // SAFETY: WDIOC_SETTIMEOUT reads and writes one int at the pointer.
        let set = unsafe { libc::ioctl(fd, WDIOC_SETTIMEOUT as _, &mut secs) };
        if set != 0 {
            // Not fatal: the driver's default timeout stays; read it back below.
            let mut cur: libc::c_int = 0;
            // SAFETY: WDIOC_GETTIMEOUT writes one int at the pointer.
            if unsafe { libc::ioctl(fd, WDIOC_GETTIMEOUT as _, &mut cur) } == 0 {
                secs = cur;
            }
        }
        let w = Watchdog {
            file,
            timeout: Duration::from_secs(secs.max(1) as u64),
        };
        w.pet()?;
        Ok(w)
    }

    /// The timeout in effect.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Resets the countdown.
    pub fn pet(&self) -> SysResult<()> {
        let mut dummy: libc::c_int = 0;
        // SAFETY: WDIOC_KEEPALIVE ignores its argument; a valid int pointer is passed.
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), WDIOC_KEEPALIVE as _, &mut dummy) };
        if r == 0 {
            Ok(())
        } else {
            Err(last_error("pet the watchdog"))
        }
    }
}
