//! Running the host tools the builder needs, with errors that say which tool and package.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

/// Host tools and the Debian package that provides each.
pub const BUILD_TOOLS: &[(&str, &str)] = &[
    ("apt-get", "apt"),
    ("dpkg-deb", "dpkg"),
    ("mkfs.erofs", "erofs-utils"),
    ("veritysetup", "cryptsetup-bin"),
    ("mkfs.vfat", "dosfstools"),
    ("mcopy", "mtools"),
    ("sfdisk", "fdisk"),
    ("mkfs.ext4", "e2fsprogs"),
    ("gzip", "gzip"),
];

/// Tools the QEMU runner needs besides the board's `qemu-system-*`.
pub const RUN_TOOLS: &[(&str, &str)] = &[("mtype", "mtools"), ("mcopy", "mtools")];

/// Finds `tool` on `PATH` (also `/usr/sbin` and `/sbin`, where Debian puts mkfs.* and sfdisk
/// for root only).
pub fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(extra));
    }
    dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file())
}

/// The tools from `list` that are missing, as "tool (Debian package pkg)" strings.
pub fn missing(list: &[(&str, &str)]) -> Vec<String> {
    list.iter()
        .filter(|(t, _)| find(t).is_none())
        .map(|(t, p)| format!("{t} (Debian package {p})"))
        .collect()
}

/// Fails with one message listing every missing tool.
pub fn require(list: &[(&str, &str)]) -> Result<()> {
    let m = missing(list);
    if !m.is_empty() {
        bail!(
            "missing host tools: {} (see docs/firmware.md, \"Host setup\")",
            m.join(", ")
        );
    }
    Ok(())
}

/// A command for `tool`, resolved through [`find`] so that /usr/sbin works for non-root PATHs.
pub fn cmd(tool: &str) -> Command {
    Command::new(find(tool).unwrap_or_else(|| PathBuf::from(tool)))
}

/// Runs `c`, failing with the command line and its stderr when it does not exit 0.
pub fn run(c: &mut Command) -> Result<Output> {
    let shown = format!("{c:?}");
    let out = c
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}
