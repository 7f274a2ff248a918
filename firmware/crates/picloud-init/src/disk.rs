//! Which disk holds the PiCloud partitions, and the names of its partition devices.

/// Disks tried in order (boot contract): the first whose partition 7 exists is ours.
pub const CANDIDATE_DISKS: [&str; 4] = ["/dev/vda", "/dev/nvme0n1", "/dev/mmcblk0", "/dev/sda"];

/// The device node of partition `n` of `disk`: `vda5`, `sda5`, but `nvme0n1p5`,
/// `mmcblk0p5` (a `p` when the disk name ends in a digit).
pub fn partition_path(disk: &str, n: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

/// The first candidate disk whose partition `data_part` exists, according to `exists`.
pub fn find_disk(data_part: u32, exists: impl Fn(&str) -> bool) -> Option<&'static str> {
    CANDIDATE_DISKS
        .iter()
        .copied()
        .find(|d| exists(&partition_path(d, data_part)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names() {
        assert_eq!(partition_path("/dev/vda", 5), "/dev/vda5");
        assert_eq!(partition_path("/dev/nvme0n1", 5), "/dev/nvme0n1p5");
        assert_eq!(partition_path("/dev/mmcblk0", 7), "/dev/mmcblk0p7");
        assert_eq!(partition_path("/dev/sda", 6), "/dev/sda6");
    }

    #[test]
    fn first_disk_with_partition_7_wins() {
        let have = ["/dev/sda7", "/dev/mmcblk0p7", "/dev/vda1"];
        assert_eq!(find_disk(7, |p| have.contains(&p)), Some("/dev/mmcblk0"));
        assert_eq!(find_disk(7, |_| false), None);
    }
}
