//! Block devices: size, reading sectors, rewriting partition entries, telling the kernel
//! (BLKPG) and growing a mounted ext4 (EXT4_IOC_RESIZE_FS).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{io_error, last_error, SysResult};
use crate::mbr::{GrowPlan, SECTOR};

/// `_IOR(0x12, 114, size_t)`.
const BLKGETSIZE64: u64 = 0x8008_1272;
/// `_IO(0x12, 105)`.
const BLKPG: u64 = 0x1269;
const BLKPG_RESIZE_PARTITION: libc::c_int = 3;
/// `_IOW('f', 16, __u64)`.
const EXT4_IOC_RESIZE_FS: u64 = 0x4008_6610;

/// Size of a block device in bytes.
pub fn size_bytes(file: &File, what: &str) -> SysResult<u64> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 at the pointer.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64 as _, &mut size) };
    if r == 0 {
        Ok(size)
    } else {
        // A regular file (tests): its length.
        file.metadata()
            .map(|m| m.len())
            .map_err(|_| last_error(format!("size of {what}")))
    }
}

/// Reads `len` bytes at `offset`.
pub fn read_at(file: &File, offset: u64, len: usize, what: &str) -> SysResult<Vec<u8>> {
    let mut b = vec![0u8; len];
    file.read_exact_at(&mut b, offset)
        .map_err(|e| io_error(format!("read {what} at byte {offset}"), e))?;
    Ok(b)
}

/// Applies a grow plan's table writes to the disk (or image file) and flushes them.
pub fn write_plan(disk: &File, plan: &GrowPlan, what: &str) -> SysResult<()> {
    for (off, entry) in &plan.writes {
        disk.write_all_at(entry, *off)
            .map_err(|e| io_error(format!("write the partition table of {what}"), e))?;
    }
    disk.sync_all()
        .map_err(|e| io_error(format!("flush {what}"), e))
}

#[repr(C)]
struct BlkpgPartition {
    start: i64,
    length: i64,
    pno: libc::c_int,
    devname: [u8; 64],
    volname: [u8; 64],
}

#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

/// Tells the kernel partition `number` of `disk` now spans `start..start+sectors` (sectors).
pub fn kernel_resize_partition(
    disk: &File,
    number: u32,
    start: u64,
    sectors: u64,
) -> SysResult<()> {
    let mut part = BlkpgPartition {
        start: (start * SECTOR) as i64,
        length: (sectors * SECTOR) as i64,
        pno: number as libc::c_int,
        devname: [0; 64],
        volname: [0; 64],
    };
    let mut arg = BlkpgIoctlArg {
        op: BLKPG_RESIZE_PARTITION,
        flags: 0,
        datalen: std::mem::size_of::<BlkpgPartition>() as libc::c_int,
        data: (&mut part as *mut BlkpgPartition).cast(),
    };
    // SAFETY: `arg` points at `part`, both live across the call and have the kernel's
    // `struct blkpg_ioctl_arg` / `struct blkpg_partition` layout (repr(C)).
    let r = unsafe { libc::ioctl(disk.as_raw_fd(), BLKPG as _, &mut arg) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(format!("BLKPG resize partition {number}")))
    }
}

/// Grows the ext4 file system mounted at `mount_point` to `blocks` blocks, online.
pub fn resize_ext4(mount_point: &Path, blocks: u64) -> SysResult<()> {
    let dir = File::open(mount_point)
        .map_err(|e| io_error(format!("open {}", mount_point.display()), e))?;
    let mut n: u64 = blocks;
    // SAFETY: EXT4_IOC_RESIZE_FS reads one u64 at the pointer.
    let r = unsafe { libc::ioctl(dir.as_raw_fd(), EXT4_IOC_RESIZE_FS as _, &mut n) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(format!(
            "EXT4_IOC_RESIZE_FS {} to {blocks} blocks",
            mount_point.display()
        )))
    }
}

/// Opens a disk read-write.
pub fn open_rw(path: &str) -> SysResult<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_error(format!("open {path}"), e))
}
