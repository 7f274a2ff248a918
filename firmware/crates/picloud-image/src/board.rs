//! `board/<name>/board.toml`: what a board boots (kernel recipe, modules, DTBs, console,
//! QEMU machine).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Initramfs compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain newc cpio.
    None,
    /// `gzip -n -9`.
    Gzip,
}

/// The `[qemu]` table of a board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuBoard {
    /// `qemu-system-aarch64` or `qemu-system-x86_64`.
    pub binary: String,
    /// Machine, CPU, memory arguments.
    pub args: Vec<String>,
    /// Block device model for the disk (`virtio-blk-pci`).
    pub disk_device: String,
    /// Network device model (`virtio-net-pci`).
    pub net_device: String,
    /// Watchdog device model (`i6300esb`).
    pub watchdog_device: String,
    /// Guest HTTPS API port (forwarded to the host).
    pub api_port: u16,
    /// Guest node (Raft) port (forwarded to the host).
    pub node_port: u16,
}

/// A board description.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Folder name under `board/`.
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// Rust target the static `picloud` is built for.
    pub rust_target: String,
    /// `recipes/<kernel_recipe>.toml`.
    pub kernel_recipe: String,
    /// Recipes installed into the root filesystem.
    pub root_recipes: Vec<String>,
    /// Kernel file name in the boot partitions.
    pub kernel_name: String,
    /// Initramfs file name in the boot partitions.
    pub initramfs_name: String,
    /// Initramfs compression.
    pub initramfs_compression: Compression,
    /// Console device (for people; `cmdline` carries the `console=` itself).
    pub console: String,
    /// Kernel command line before the `picloud.*` keys.
    pub cmdline: String,
    /// `config.txt` template in the board folder; absent: a generated one.
    #[serde(default)]
    pub config_txt: Option<String>,
    /// DTBs relative to the kernel package's `dtb/` folder, copied to the boot partition root.
    #[serde(default)]
    pub dtbs: Vec<String>,
    /// Ordered module paths relative to `/lib/modules/<kernel_release>/`.
    pub modules: Vec<String>,
    /// QEMU machine; absent for real hardware.
    #[serde(default)]
    pub qemu: Option<QemuBoard>,
    /// The folder the board was read from.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// The boards shipped under `board/`.
pub const BOARDS: &[&str] = &["qemu-aarch64", "qemu-x86_64", "rpi5"];

impl Board {
    /// Reads `board/<name>/board.toml` under `repo`.
    pub fn load(repo: &Path, name: &str) -> Result<Board> {
        if name.is_empty() || name.contains('/') || name.contains("..") {
            bail!("invalid board name {name:?}");
        }
        let dir = repo.join("board").join(name);
        let file = dir.join("board.toml");
        if !file.is_file() {
            bail!(
                "unknown board {name:?}: {} does not exist (boards: {})",
                file.display(),
                BOARDS.join(", ")
            );
        }
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        let mut b: Board =
            toml::from_str(&text).with_context(|| format!("parse {}", file.display()))?;
        if b.name != name {
            bail!(
                "{}: name = {:?} but the folder is {name:?}",
                file.display(),
                b.name
            );
        }
        if b.modules
            .iter()
            .any(|m| m.starts_with('/') || m.contains(".."))
        {
            bail!(
                "{}: module paths must be relative to /lib/modules/<kver>/",
                file.display()
            );
        }
        b.dir = dir;
        Ok(b)
    }

    /// The `[qemu]` table, or an error saying the board is not a QEMU board.
    pub fn qemu(&self) -> Result<&QemuBoard> {
        self.qemu.as_ref().with_context(|| {
            format!(
                "board {} is real hardware (no [qemu] table in {}/board.toml); use qemu-aarch64 or qemu-x86_64",
                self.name,
                self.dir.display()
            )
        })
    }
}
