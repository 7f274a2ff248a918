//! Reading an MBR partition table (primary entries and the EBR chain) from a disk image file,
//! so the QEMU stand-in and the tests can address partitions without sfdisk or loop devices.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// A partition found in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// MBR number (1-4 primary, 5+ logical).
    pub number: u32,
    /// Type byte.
    pub ptype: u8,
    /// Byte offset from the start of the disk.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

fn entry(sector: &[u8], i: usize) -> Option<(u8, u64, u64)> {
    let e = sector.get(446 + 16 * i..446 + 16 * (i + 1))?;
    let ptype = *e.get(4)?;
    let start = u32::from_le_bytes(e.get(8..12)?.try_into().ok()?) as u64;
    let count = u32::from_le_bytes(e.get(12..16)?.try_into().ok()?) as u64;
    Some((ptype, start, count))
}

fn read_sector(f: &mut File, lba: u64, path: &Path) -> Result<[u8; 512]> {
    let mut s = [0u8; 512];
    f.seek(SeekFrom::Start(lba * 512))
        .and_then(|_| f.read_exact(&mut s))
        .with_context(|| format!("{}: read sector {lba}", path.display()))?;
    if s[510] != 0x55 || s[511] != 0xaa {
        bail!(
            "{}: sector {lba} has no MBR/EBR signature (not a PiCloud disk image?)",
            path.display()
        );
    }
    Ok(s)
}

/// Every partition of the disk image at `path`, primary then logical, in number order.
pub fn read(path: &Path) -> Result<Vec<Part>> {
    let mut f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mbr = read_sector(&mut f, 0, path)?;
    let mut parts = Vec::new();
    let mut extended = None;
    for i in 0..4 {
        let Some((ptype, start, count)) = entry(&mbr, i) else {
            continue;
        };
        if ptype == 0 {
            continue;
        }
        parts.push(Part {
            number: i as u32 + 1,
            ptype,
            offset: start * 512,
            size: count * 512,
        });
        if matches!(ptype, 0x05 | 0x0f | 0x85) {
            extended = Some(start);
        }
    }
    if let Some(ext) = extended {
        let mut ebr = ext;
        let mut number = 5;
        for _ in 0..64 {
            let s = read_sector(&mut f, ebr, path)?;
            let Some((ptype, start, count)) = entry(&s, 0) else {
                break;
            };
            if ptype != 0 {
                parts.push(Part {
                    number,
                    ptype,
                    offset: (ebr + start) * 512,
                    size: count * 512,
                });
                number += 1;
            }
            match entry(&s, 1) {
                Some((t, next, _)) if t != 0 && next != 0 => ebr = ext + next,
                _ => break,
            }
        }
    }
    Ok(parts)
}

/// Partition `number` of the image, or an error naming the image.
pub fn find(path: &Path, number: u32) -> Result<Part> {
    read(path)?
        .into_iter()
        .find(|p| p.number == number)
        .with_context(|| format!("{}: no partition {number}", path.display()))
}
