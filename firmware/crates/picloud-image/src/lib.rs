//! Host-side image builder and QEMU runner for the PiCloud firmware (issue 6).
//!
//! * [`board`] / [`recipe`] / [`layout`]: the descriptions under `board/`, `recipes/` and
//!   `image/layout.toml` (TOML, parsed with clear errors naming the file).
//! * [`kernel`]: Debian kernel packages fetched with `apt-get download` through a private apt
//!   configuration (the host's apt state is never touched), checked against the pinned sha256,
//!   cached, unpacked with `dpkg-deb -x`.
//! * [`cpio`]: a reproducible newc writer for the initramfs.
//! * [`build`]: initramfs, erofs root + dm-verity tree (`veritysetup format` on a plain file),
//!   ed25519-signed root hash ([`sign`]), FAT boot slots (`mkfs.vfat --invariant` + `mcopy`),
//!   pre-formatted ext4 data (`mkfs.ext4` with `E2FSPROGS_FAKE_TIME`), MBR with `sfdisk`. No
//!   root, no loop devices; byte-reproducible for a given `SOURCE_DATE_EPOCH`.
//! * [`qemu`]: the QEMU runner and the stand-in for the Pi firmware's `autoboot.txt` +
//!   one-shot tryboot, used by `cargo xtask qemu` and by the boot tests alike.
//! * [`floor`] / [`binary`]: building the floor init and the static `picloud` with a nested cargo.

pub mod binary;
pub mod board;
pub mod build;
pub mod cpio;
pub mod floor;
pub mod kernel;
pub mod layout;
pub mod mbr;
pub mod qemu;
pub mod recipe;
pub mod sign;
pub mod tools;

use std::path::{Path, PathBuf};

/// The repository root, found from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// The default cache directory for downloaded kernel packages: `$PICLOUD_CACHE_DIR`, else
/// `<repo>/target/picloud-cache` (kept between builds, ignored by git).
pub fn default_cache_dir(repo: &Path) -> PathBuf {
    match std::env::var_os("PICLOUD_CACHE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => repo.join("target/picloud-cache"),
    }
}

/// Lowercase hex of a byte slice.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// sha256 of a file as lowercase hex. Uses coreutils' `sha256sum` when present (images are
/// hundreds of MB and the tests run unoptimised), else hashes in process.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    use anyhow::Context;
    use sha2::Digest;
    use std::io::Read;
    if let Some(tool) = tools::find("sha256sum") {
        let out = std::process::Command::new(tool)
            .arg("-b")
            .arg(path)
            .output()
            .with_context(|| format!("sha256sum {}", path.display()))?;
        if out.status.success() {
            if let Some(h) = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
            {
                if h.len() == 64 {
                    return Ok(h.to_string());
                }
            }
        }
    }
    let mut f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex(&h.finalize()))
}
