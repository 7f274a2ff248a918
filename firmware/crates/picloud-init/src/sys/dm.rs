//! The device-mapper ioctl client: create a device, load one target, resume it. The
//! buffers are built by [`crate::verity`].

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

use super::{last_error, SysError, SysResult};
use crate::verity;

fn dm_ioctl(fd: libc::c_int, request: u64, buf: &mut [u8], what: &str) -> SysResult<()> {
    if buf.len() < verity::DM_IOCTL_SIZE {
        return Err(SysError {
            what: what.to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    }
    // SAFETY: `buf` is a writable buffer of `data_size` bytes (written into its header by
    // `verity::dm_header`) holding a `struct dm_ioctl`; the kernel reads and writes within it.
    let r = unsafe { libc::ioctl(fd, request as _, buf.as_mut_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(what.to_owned()))
    }
}

/// Creates read-only device `name` with one target (`target` type, `params`) covering
/// `sectors` sectors, resumes it, and returns its (major, minor).
pub fn create(name: &str, sectors: u64, target: &str, params: &str) -> SysResult<(u32, u32)> {
    let bad = |e: String| SysError {
        what: format!("device-mapper {name}"),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    };
    let ctl = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/mapper/control")
        .map_err(|e| super::io_error("open /dev/mapper/control (is dm-mod loaded?)", e))?;
    let fd = ctl.as_raw_fd();
    let mut create = verity::dm_header(name, 0, 0).map_err(bad)?;
    dm_ioctl(
        fd,
        verity::DM_DEV_CREATE,
        &mut create,
        &format!("DM_DEV_CREATE {name}"),
    )?;
    let mut load = verity::dm_table_load(name, 0, sectors, target, params).map_err(bad)?;
    if let Err(e) = dm_ioctl(
        fd,
        verity::DM_TABLE_LOAD,
        &mut load,
        &format!("DM_TABLE_LOAD {name} ({target} {params})"),
    ) {
        remove(fd, name);
        return Err(e);
    }
    let mut resume = verity::dm_header(name, 0, 0).map_err(bad)?;
    if let Err(e) = dm_ioctl(
        fd,
        verity::DM_DEV_SUSPEND,
        &mut resume,
        &format!("DM_DEV_SUSPEND (resume) {name}"),
    ) {
        remove(fd, name);
        return Err(e);
    }
    verity::dm_dev(&resume)
        .or_else(|| verity::dm_dev(&create))
        .ok_or_else(|| bad("no device number in the answer".into()))
}

/// Loads a new table into existing device `name` and resumes it (the kernel swaps the
/// tables atomically: it suspends the device, switches, resumes).
pub fn reload(name: &str, sectors: u64, target: &str, params: &str) -> SysResult<()> {
    let bad = |e: String| SysError {
        what: format!("device-mapper {name}"),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    };
    let ctl = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/mapper/control")
        .map_err(|e| super::io_error("open /dev/mapper/control", e))?;
    let fd = ctl.as_raw_fd();
    let mut load = verity::dm_table_load(name, 0, sectors, target, params).map_err(bad)?;
    dm_ioctl(
        fd,
        verity::DM_TABLE_LOAD,
        &mut load,
        &format!("DM_TABLE_LOAD {name} ({target} {params})"),
    )?;
    let mut resume = verity::dm_header(name, 0, 0).map_err(bad)?;
    dm_ioctl(
        fd,
        verity::DM_DEV_SUSPEND,
        &mut resume,
        &format!("DM_DEV_SUSPEND (resume) {name}"),
    )
}

fn remove(fd: libc::c_int, name: &str) {
    if let Ok(mut b) = verity::dm_header(name, 0, 0) {
        let _ = dm_ioctl(fd, verity::DM_DEV_REMOVE, &mut b, "DM_DEV_REMOVE");
    }
}
