//! Growing the data partition to the end of the disk: the MBR / EBR arithmetic, and the
//! ext4 superblock fields PID 1 needs. Pure: sectors come in as bytes, the plan goes out as
//! byte writes that the adapter applies with `pwrite` before telling the kernel (BLKPG).

/// Bytes per sector in MBR arithmetic.
pub const SECTOR: u64 = 512;

/// One partition as the MBR/EBR chain describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Linux partition number (1–4 primary, 5… logical in chain order).
    pub number: u32,
    /// MBR type byte.
    pub kind: u8,
    /// Absolute first sector.
    pub start: u64,
    /// Length in sectors.
    pub sectors: u64,
    /// Byte offset of this partition's 16-byte table entry on the disk.
    pub entry_offset: u64,
}

/// What to change so that a partition ends at the end of the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowPlan {
    /// The partition number.
    pub number: u32,
    /// Its first sector (unchanged).
    pub start: u64,
    /// Its length before, in sectors.
    pub old_sectors: u64,
    /// Its length after, in sectors.
    pub new_sectors: u64,
    /// `(byte offset on the disk, 16-byte entry)` writes.
    pub writes: Vec<(u64, [u8; 16])>,
}

/// The partition table could not be read or the partition cannot grow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MbrError {
    /// A sector had no 0x55AA signature.
    #[error("sector {0} is not an MBR/EBR (no 55 AA signature)")]
    NoSignature(u64),
    /// The sector could not be read.
    #[error("cannot read sector {0}")]
    Unreadable(u64),
    /// The EBR chain is longer than any sane table (a loop).
    #[error("the extended partition's EBR chain does not end")]
    EbrLoop,
    /// The partition is not in the table.
    #[error("partition {0} is not in the partition table")]
    NotFound(u32),
    /// Another partition lies after it: growing would overwrite it.
    #[error("partition {0} is not the last partition on the disk (partition {1} follows it)")]
    NotLast(u32, u32),
}

const EXTENDED: [u8; 3] = [0x05, 0x0f, 0x85];
const MAX_LOGICAL: usize = 60;

fn le32(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(|a: [u8; 4]| u64::from(u32::from_le_bytes(a)))
        .unwrap_or(0)
}

fn entry(sector: &[u8], i: usize) -> [u8; 16] {
    let at = 446 + 16 * i;
    sector
        .get(at..at + 16)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 16])
}

fn check_sig(lba: u64, sector: &[u8]) -> Result<(), MbrError> {
    if sector.get(510..512) == Some(&[0x55, 0xaa][..]) {
        Ok(())
    } else {
        Err(MbrError::NoSignature(lba))
    }
}

/// Reads the table: primaries from sector 0, logicals by walking the EBR chain.
/// `read(lba)` returns a 512-byte sector.
pub fn read_table(
    read: &mut dyn FnMut(u64) -> Option<Vec<u8>>,
) -> Result<(Vec<Partition>, Option<Partition>), MbrError> {
    let mbr = read(0).ok_or(MbrError::Unreadable(0))?;
    check_sig(0, &mbr)?;
    let mut parts = Vec::new();
    let mut extended = None;
    for i in 0..4 {
        let e = entry(&mbr, i);
        let kind = e[4];
        if kind == 0 {
            continue;
        }
        let p = Partition {
            number: i as u32 + 1,
            kind,
            start: le32(&e, 8),
            sectors: le32(&e, 12),
            entry_offset: 446 + 16 * i as u64,
        };
        if EXTENDED.contains(&kind) {
            extended = Some(p);
        }
        parts.push(p);
    }
    if let Some(ext) = extended {
        let mut ebr_lba = ext.start;
        let mut number = 5;
        for _ in 0..MAX_LOGICAL {
            let ebr = read(ebr_lba).ok_or(MbrError::Unreadable(ebr_lba))?;
            check_sig(ebr_lba, &ebr)?;
            let l = entry(&ebr, 0);
            if l[4] != 0 {
                parts.push(Partition {
                    number,
                    kind: l[4],
                    start: ebr_lba + le32(&l, 8),
                    sectors: le32(&l, 12),
                    entry_offset: ebr_lba * SECTOR + 446,
                });
                number += 1;
            }
            let link = entry(&ebr, 1);
            if link[4] == 0 || le32(&link, 8) == 0 {
                return Ok((parts, extended));
            }
            ebr_lba = ext.start + le32(&link, 8);
        }
        return Err(MbrError::EbrLoop);
    }
    Ok((parts, extended))
}

fn with_size(mut e: [u8; 16], sectors: u64) -> [u8; 16] {
    let s = u32::try_from(sectors).unwrap_or(u32::MAX);
    e[12..16].copy_from_slice(&s.to_le_bytes());
    // CHS of the last sector: past CHS range, the conventional "max" value.
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e
}

/// Plans growing partition `number` to the end of a disk of `disk_sectors` sectors (and the
/// extended partition around it when it is a logical one). `Ok(None)` when it already ends
/// there (or MBR's 32-bit sector counts cannot express more).
pub fn plan_grow(
    disk_sectors: u64,
    number: u32,
    read: &mut dyn FnMut(u64) -> Option<Vec<u8>>,
) -> Result<Option<GrowPlan>, MbrError> {
    let (parts, extended) = read_table(read)?;
    let target = *parts
        .iter()
        .find(|p| p.number == number)
        .ok_or(MbrError::NotFound(number))?;
    for p in &parts {
        let contains_target = EXTENDED.contains(&p.kind);
        if p.number != number && !contains_target && p.start > target.start {
            return Err(MbrError::NotLast(number, p.number));
        }
    }
    let end_limit = disk_sectors.min(target.start + u64::from(u32::MAX));
    if target.start + target.sectors >= end_limit {
        return Ok(None);
    }
    let new_sectors = end_limit - target.start;
    let mut writes = Vec::new();
    let mut sector_of = |off: u64| read(off / SECTOR);
    let mut entry_at = |off: u64| -> Result<[u8; 16], MbrError> {
        let lba = off / SECTOR;
        let s = sector_of(off).ok_or(MbrError::Unreadable(lba))?;
        let at = (off % SECTOR) as usize;
        s.get(at..at + 16)
            .and_then(|x| x.try_into().ok())
            .ok_or(MbrError::Unreadable(lba))
    };
    let old = entry_at(target.entry_offset)?;
    writes.push((target.entry_offset, with_size(old, new_sectors)));
    if number >= 5 {
        if let Some(ext) = extended {
            let ext_sectors = end_limit.saturating_sub(ext.start);
            if ext_sectors > ext.sectors {
                let e = entry_at(ext.entry_offset)?;
                writes.push((ext.entry_offset, with_size(e, ext_sectors)));
            }
            // The previous EBR's link entry spans this partition's EBR to its end.
            let this_ebr = target.entry_offset / SECTOR;
            if this_ebr != ext.start {
                if let Some(prev) = parts
                    .iter()
                    .filter(|p| p.number >= 5 && p.number + 1 == number)
                    .map(|p| p.entry_offset + 16)
                    .next()
                {
                    let link = entry_at(prev)?;
                    let span = end_limit - this_ebr;
                    writes.push((prev, with_size(link, span)));
                }
            }
        }
    }
    Ok(Some(GrowPlan {
        number,
        start: target.start,
        old_sectors: target.sectors,
        new_sectors,
        writes,
    }))
}

/// The fields of an ext4 superblock (the 1024 bytes at byte offset 1024 of the partition)
/// that PID 1 uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext4Super {
    /// Block size in bytes.
    pub block_size: u64,
    /// Blocks in the file system.
    pub blocks: u64,
    /// The volume label.
    pub label: String,
}

/// Parses an ext2/3/4 superblock; `None` when the magic is absent (a blank or foreign
/// partition).
pub fn ext4_superblock(sb: &[u8]) -> Option<Ext4Super> {
    if sb.get(0x38..0x3a)? != [0x53, 0xef] {
        return None;
    }
    let log = le32(sb, 0x18);
    if log > 6 {
        return None;
    }
    let incompat = le32(sb, 0x60);
    let hi = if incompat & 0x80 != 0 {
        le32(sb, 0x150)
    } else {
        0
    };
    let label_bytes = sb.get(0x78..0x88)?;
    let end = label_bytes.iter().position(|&b| b == 0).unwrap_or(16);
    Some(Ext4Super {
        block_size: 1024 << log,
        blocks: le32(sb, 0x04) | hi << 32,
        label: String::from_utf8_lossy(label_bytes.get(..end).unwrap_or(&[])).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_entry(sec: &mut [u8], i: usize, kind: u8, start: u32, size: u32) {
        let at = 446 + 16 * i;
        sec[at + 4] = kind;
        sec[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        sec[at + 12..at + 16].copy_from_slice(&size.to_le_bytes());
    }

    fn sig(sec: &mut [u8]) {
        sec[510] = 0x55;
        sec[511] = 0xaa;
    }

    /// The contract layout: p1–p3 FAT, p4 extended holding p5, p6, p7.
    fn disk() -> std::collections::BTreeMap<u64, Vec<u8>> {
        let mut m = std::collections::BTreeMap::new();
        let mut mbr = vec![0u8; 512];
        put_entry(&mut mbr, 0, 0x0c, 2048, 2048);
        put_entry(&mut mbr, 1, 0x0c, 4096, 2048);
        put_entry(&mut mbr, 2, 0x0c, 6144, 2048);
        put_entry(&mut mbr, 3, 0x05, 8192, 10240); // to sector 18432
        sig(&mut mbr);
        m.insert(0, mbr);
        // EBR5 at 8192: p5 at +2048 (10240..12288), link to EBR6 at ext+4096 (12288)
        let mut e5 = vec![0u8; 512];
        put_entry(&mut e5, 0, 0x83, 2048, 2048);
        put_entry(&mut e5, 1, 0x05, 4096, 4096);
        sig(&mut e5);
        m.insert(8192, e5);
        let mut e6 = vec![0u8; 512];
        put_entry(&mut e6, 0, 0x83, 2048, 2048); // 14336..16384
        put_entry(&mut e6, 1, 0x05, 8192, 2048); // EBR7 at 16384
        sig(&mut e6);
        m.insert(12288, e6);
        let mut e7 = vec![0u8; 512];
        put_entry(&mut e7, 0, 0x83, 1024, 1024); // 17408..18432
        sig(&mut e7);
        m.insert(16384, e7);
        m
    }

    fn reader(
        m: &std::collections::BTreeMap<u64, Vec<u8>>,
    ) -> impl FnMut(u64) -> Option<Vec<u8>> + '_ {
        move |lba| Some(m.get(&lba).cloned().unwrap_or_else(|| vec![0; 512]))
    }

    #[test]
    fn reads_primary_and_logical_partitions() {
        let m = disk();
        let (parts, ext) = read_table(&mut reader(&m)).unwrap();
        let nums: Vec<(u32, u64, u64)> = parts
            .iter()
            .map(|p| (p.number, p.start, p.sectors))
            .collect();
        assert_eq!(
            nums,
            vec![
                (1, 2048, 2048),
                (2, 4096, 2048),
                (3, 6144, 2048),
                (4, 8192, 10240),
                (5, 10240, 2048),
                (6, 14336, 2048),
                (7, 17408, 1024)
            ]
        );
        assert_eq!(ext.unwrap().number, 4);
    }

    #[test]
    fn plans_growth_of_the_last_logical_partition() {
        let mut m = disk();
        let plan = plan_grow(40960, 7, &mut reader(&m)).unwrap().unwrap();
        assert_eq!(plan.start, 17408);
        assert_eq!(plan.old_sectors, 1024);
        assert_eq!(plan.new_sectors, 40960 - 17408);
        assert_eq!(plan.writes.len(), 3, "p7 entry, p4 entry, EBR6 link");
        for (off, e) in &plan.writes {
            let sec = m.get_mut(&(off / 512)).unwrap();
            let at = (off % 512) as usize;
            sec[at..at + 16].copy_from_slice(e);
        }
        let (parts, _) = read_table(&mut reader(&m)).unwrap();
        let p7 = parts.iter().find(|p| p.number == 7).unwrap();
        assert_eq!(p7.start + p7.sectors, 40960);
        let p4 = parts.iter().find(|p| p.number == 4).unwrap();
        assert_eq!(p4.start + p4.sectors, 40960);
        // Idempotent: a second plan has nothing to do.
        assert_eq!(plan_grow(40960, 7, &mut reader(&m)).unwrap(), None);
        // Other partitions untouched.
        assert_eq!(parts.iter().find(|p| p.number == 6).unwrap().sectors, 2048);
    }

    #[test]
    fn refuses_when_not_last_or_missing() {
        let m = disk();
        assert_eq!(
            plan_grow(40960, 5, &mut reader(&m)),
            Err(MbrError::NotLast(5, 6))
        );
        assert_eq!(
            plan_grow(40960, 9, &mut reader(&m)),
            Err(MbrError::NotFound(9))
        );
        let mut blank = |_: u64| Some(vec![0u8; 512]);
        assert_eq!(read_table(&mut blank), Err(MbrError::NoSignature(0)));
        let mut none = |_: u64| None;
        assert_eq!(read_table(&mut none), Err(MbrError::Unreadable(0)));
    }

    #[test]
    fn ebr_loop_is_an_error() {
        let mut m = disk();
        // EBR6 links back to itself.
        let e6 = m.get_mut(&12288).unwrap();
        e6[446 + 16 + 8..446 + 16 + 12].copy_from_slice(&4096u32.to_le_bytes());
        assert_eq!(read_table(&mut reader(&m)), Err(MbrError::EbrLoop));
    }

    #[test]
    fn ext4_superblock_fields() {
        let mut sb = vec![0u8; 1024];
        assert_eq!(ext4_superblock(&sb), None);
        sb[0x38] = 0x53;
        sb[0x39] = 0xef;
        sb[0x18] = 2; // 4096
        sb[4..8].copy_from_slice(&16384u32.to_le_bytes());
        sb[0x78..0x78 + 12].copy_from_slice(b"picloud-data");
        let s = ext4_superblock(&sb).unwrap();
        assert_eq!(s.block_size, 4096);
        assert_eq!(s.blocks, 16384);
        assert_eq!(s.label, "picloud-data");
        sb[0x60] = 0x80;
        sb[0x150] = 1;
        assert_eq!(ext4_superblock(&sb).unwrap().blocks, 16384 + (1 << 32));
    }
}
