//! `image/layout.toml`: the MBR partition layout shared by every board.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// One partition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// MBR number (1-4 primary/extended, 5+ logical).
    pub number: u32,
    /// Role name (`bootsel`, `bootA`, ...).
    pub name: String,
    /// For people.
    pub role: String,
    /// `vfat`, `erofs-verity`, `ext4` or `none`.
    pub fs: String,
    /// Filesystem label.
    #[serde(default)]
    pub label: Option<String>,
    /// MBR type byte in hex (`0c`, `05`, `83`).
    #[serde(rename = "type")]
    pub ptype: String,
    /// Size in MiB (0 for the extended partition: the rest of the disk).
    pub size_mib: u64,
}

/// The layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// MBR disk identifier (`0x50434c44`).
    pub disk_id: String,
    /// Partitions in number order.
    pub partition: Vec<Partition>,
}

impl Layout {
    /// Reads and checks `image/layout.toml`.
    pub fn load(repo: &Path) -> Result<Layout> {
        let file = repo.join("image/layout.toml");
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        let l: Layout =
            toml::from_str(&text).with_context(|| format!("parse {}", file.display()))?;
        let names: Vec<&str> = l.partition.iter().map(|p| p.name.as_str()).collect();
        let want = [
            "bootsel", "bootA", "bootB", "extended", "rootA", "rootB", "data",
        ];
        if names != want {
            bail!(
                "{}: partitions must be {want:?} in order (the boot contract), found {names:?}",
                file.display()
            );
        }
        for (i, p) in l.partition.iter().enumerate() {
            if p.number as usize != i + 1 {
                bail!(
                    "{}: partition {} has number {}",
                    file.display(),
                    p.name,
                    p.number
                );
            }
        }
        if l.disk_id.len() != 10 || !l.disk_id.starts_with("0x") {
            bail!("{}: disk_id must look like 0x50434c44", file.display());
        }
        Ok(l)
    }

    /// The partition with `name`.
    pub fn get(&self, name: &str) -> Result<&Partition> {
        self.partition
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("image/layout.toml has no partition {name}"))
    }

    /// The disk id without `0x`, lowercase (the PARTUUID prefix).
    pub fn disk_id_hex(&self) -> String {
        self.disk_id.trim_start_matches("0x").to_ascii_lowercase()
    }

    /// The sfdisk script for a disk of `total_mib`.
    pub fn sfdisk_script(&self) -> String {
        let mut s = format!("label: dos\nlabel-id: {}\nunit: sectors\n\n", self.disk_id);
        for p in &self.partition {
            let size = if p.size_mib == 0 {
                String::new()
            } else {
                format!("size={}MiB, ", p.size_mib)
            };
            s.push_str(&format!("{size}type={}\n", p.ptype));
        }
        s
    }

    /// Total disk size: partitions + 1 MiB before the first + 1 MiB per logical partition
    /// (EBR gap) + 1 MiB slack.
    pub fn total_mib(&self) -> u64 {
        let parts: u64 = self.partition.iter().map(|p| p.size_mib).sum();
        let logical = self.partition.iter().filter(|p| p.number >= 5).count() as u64;
        1 + parts + logical + 1
    }
}
