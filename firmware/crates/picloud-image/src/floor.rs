//! The floor init: a minimal static program (no dependencies) that runs as `/init` in the
//! initramfs, prints one line and powers off. Booting it with the same kernel gives the floor
//! for the boot benchmark, and it exercises the QEMU A/B stand-in without the real init:
//! with `floor.tryboot=1` on the command line and `picloud.tryboot=0` it asks for a tryboot
//! (`reboot(RESTART2, "0 tryboot")`) instead of powering off.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The marker the floor init prints.
pub const MARKER: &str = "PICLOUD-FLOOR-INIT";

/// The floor init's source folder.
pub fn source_dir(repo: &Path) -> PathBuf {
    repo.join("firmware/crates/picloud-image/floor-init")
}

/// Builds the floor init for `target` into `target_dir` (release, no dependencies, seconds).
pub fn build(repo: &Path, target: &str, target_dir: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = source_dir(repo).join("Cargo.toml");
    let status = std::process::Command::new(&cargo)
        .args(["build", "--release", "--manifest-path"])
        .arg(&manifest)
        .arg("--target")
        .arg(target)
        .current_dir(repo)
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .with_context(|| format!("could not start {cargo}"))?;
    if !status.success() {
        bail!(
            "building the floor init for {target} failed ({status}); is the target installed \
             (rustup target add {target})?"
        );
    }
    let out = target_dir.join(target).join("release/picloud-floor-init");
    if !out.is_file() {
        bail!("{} missing after the build", out.display());
    }
    Ok(out)
}
