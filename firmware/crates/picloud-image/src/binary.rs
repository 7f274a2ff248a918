//! Building the static `picloud` for a board with a nested cargo.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// How to build.
#[derive(Debug, Clone)]
pub struct BinaryBuild {
    /// Repository root (cargo runs there so `.cargo/config.toml` applies).
    pub repo: PathBuf,
    /// Rust target (`aarch64-unknown-linux-musl`).
    pub target: String,
    /// Cargo profile (`firmware` for images people flash, `firmware-ci` for the boot tests).
    pub profile: String,
    /// A separate target directory: a nested cargo on the caller's own target directory
    /// would wait forever for the build lock the caller holds.
    pub target_dir: PathBuf,
}

impl BinaryBuild {
    /// Where the binary lands.
    pub fn output(&self) -> PathBuf {
        self.target_dir
            .join(&self.target)
            .join(&self.profile)
            .join("picloud")
    }

    /// Runs `cargo build -p picloud --profile <p> --target <t>`; output streams to stderr.
    pub fn run(&self) -> Result<PathBuf> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!(
            "picloud-image: cargo build -p picloud --profile {} --target {} (target dir {})",
            self.profile,
            self.target,
            self.target_dir.display()
        );
        let status = std::process::Command::new(&cargo)
            .args(["build", "--locked", "-p", "picloud", "--profile"])
            .arg(&self.profile)
            .arg("--target")
            .arg(&self.target)
            .current_dir(&self.repo)
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .with_context(|| format!("could not start {cargo}"))?;
        if !status.success() {
            bail!(
                "building picloud for {} failed ({status}); docs/building.md lists the setup \
                 (rustup target add {}, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross for aarch64)",
                self.target,
                self.target
            );
        }
        let out = self.output();
        if !out.is_file() {
            bail!("cargo succeeded but {} is missing", out.display());
        }
        Ok(out)
    }
}

/// Whether `rustup` (if present) has `target` installed; `None` when rustup is absent.
pub fn rust_target_installed(target: &str) -> Option<bool> {
    let out = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == target),
    )
}

/// The workspace version from the root `Cargo.toml`.
pub fn workspace_version(repo: &Path) -> Result<String> {
    let file = repo.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
    let v: toml::Value =
        toml::from_str(&text).with_context(|| format!("parse {}", file.display()))?;
    v.get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .with_context(|| format!("{}: no [workspace.package] version", file.display()))
}
