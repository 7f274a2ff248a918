//! `cargo xtask image --board B`, `cargo xtask qemu --board B` and `cargo xtask bench boot`:
//! thin command lines over `picloud-image` (the same code the boot tests use).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use picloud_image::board::Board;
use picloud_image::build::{self, ImageOptions};
use picloud_image::qemu::{BootEnd, Firmware, RunOptions};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

struct Flags {
    args: Vec<String>,
}

impl Flags {
    fn take(&mut self, name: &str) -> Result<Option<String>> {
        if let Some(i) = self.args.iter().position(|a| a == name) {
            if i + 1 >= self.args.len() {
                bail!("{name} needs a value");
            }
            let v = self.args.remove(i + 1);
            self.args.remove(i);
            return Ok(Some(v));
        }
        let prefix = format!("{name}=");
        if let Some(i) = self.args.iter().position(|a| a.starts_with(&prefix)) {
            let v = self.args.remove(i);
            return Ok(Some(v[prefix.len()..].to_string()));
        }
        Ok(None)
    }
    fn flag(&mut self, name: &str) -> bool {
        if let Some(i) = self.args.iter().position(|a| a == name) {
            self.args.remove(i);
            return true;
        }
        false
    }
    fn done(&self, usage: &str) -> Result<()> {
        if let Some(a) = self.args.first() {
            bail!("unknown argument {a:?}\nusage: {usage}");
        }
        Ok(())
    }
}

const IMAGE_USAGE: &str =
    "cargo xtask image --board qemu-aarch64|qemu-x86_64|rpi5 [--signing-key FILE] \
[--profile firmware] [--picloud-bin FILE] [--out DIR] [--floor]";

/// Output folder of a board's image.
fn out_dir(repo: &Path, board: &str) -> PathBuf {
    repo.join("target/picloud-image").join(board)
}

fn build_binary(repo: &Path, board: &Board, profile: &str) -> Result<PathBuf> {
    picloud_image::binary::BinaryBuild {
        repo: repo.to_path_buf(),
        target: board.rust_target.clone(),
        profile: profile.to_string(),
        target_dir: repo.join("target"),
    }
    .run()
}

pub fn image(args: Vec<String>) -> Result<()> {
    let mut f = Flags { args };
    let board_name = f
        .take("--board")?
        .with_context(|| format!("--board is required\nusage: {IMAGE_USAGE}"))?;
    let signing_key = f.take("--signing-key")?.map(PathBuf::from);
    let profile = f.take("--profile")?.unwrap_or_else(|| "firmware".into());
    let bin = f.take("--picloud-bin")?.map(PathBuf::from);
    let out = f.take("--out")?.map(PathBuf::from);
    let floor = f.flag("--floor");
    f.done(IMAGE_USAGE)?;
    let repo = repo();
    let board = Board::load(&repo, &board_name)?;
    let bin = match (bin, floor) {
        (Some(b), _) => b,
        (None, true) => picloud_image::floor::build(
            &repo,
            &board.rust_target,
            &repo.join("target/picloud-floor-init"),
        )?,
        (None, false) => build_binary(&repo, &board, &profile)?,
    };
    let out = out.unwrap_or_else(|| {
        let d = out_dir(&repo, &board_name);
        if floor {
            d.join("floor")
        } else {
            d
        }
    });
    let opts = ImageOptions {
        repo: repo.clone(),
        board: board_name.clone(),
        out_dir: out,
        cache_dir: picloud_image::default_cache_dir(&repo),
        picloud_bin: bin,
        signing_key,
        source_date_epoch: build::source_date_epoch(&repo),
        version: picloud_image::binary::workspace_version(&repo)?,
    };
    let o = build::build(&opts)?;
    let m = &o.manifest;
    println!("image    {}", o.disk.display());
    println!("board    {} ({})", m.board, board.description);
    println!(
        "version  {} build {}  SOURCE_DATE_EPOCH={}",
        m.version, m.build_id, m.source_date_epoch
    );
    println!("kernel   {}", m.kernel_release);
    println!(
        "picloud  {} bytes, sha256 {}",
        m.picloud_bytes, m.picloud_sha256
    );
    println!(
        "rootfs   {} bytes erofs; verity root hash {}",
        m.rootfs_bytes, m.verity.roothash
    );
    println!("disk     {} bytes, sha256 {}", m.disk_bytes, m.disk_sha256);
    if m.insecure_dev_key {
        println!(
            "WARNING  signed with the INSECURE development key ({}): for development and CI only; \
             pass --signing-key FILE for images you ship",
            picloud_image::sign::DEV_KEY
        );
    }
    for p in &m.partitions {
        println!(
            "  p{} {:<9} offset {:>10} size {:>10}",
            p.number, p.name, p.offset, p.size
        );
    }
    Ok(())
}

const QEMU_USAGE: &str = "cargo xtask qemu --board qemu-aarch64|qemu-x86_64 [--image FILE] \
[--api-port 8443] [--node-port 7000] [--max-boots 20] [--tryboot] [--append 'k=v ...']";

pub fn qemu(args: Vec<String>) -> Result<()> {
    let mut f = Flags { args };
    let board_name = f
        .take("--board")?
        .with_context(|| format!("--board is required\nusage: {QEMU_USAGE}"))?;
    let image = f.take("--image")?.map(PathBuf::from);
    let api: u16 = f
        .take("--api-port")?
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(8443);
    let node: u16 = f
        .take("--node-port")?
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(7000);
    let max_boots: usize = f
        .take("--max-boots")?
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(20);
    let append = f.take("--append")?.unwrap_or_default();
    let tryboot = f.flag("--tryboot");
    f.done(QEMU_USAGE)?;
    let repo = repo();
    let board = Board::load(&repo, &board_name)?;
    let dir = out_dir(&repo, &board_name);
    let image = image.unwrap_or_else(|| dir.join(format!("picloud-{board_name}.img")));
    let mut fw = Firmware::new(RunOptions {
        board,
        image: image.clone(),
        work_dir: dir.join("run"),
        api_host_port: api,
        node_host_port: node,
        stream_console: true,
        first_boot_append: String::new(),
        append,
    })?;
    if tryboot {
        fw.set_tryboot();
    }
    eprintln!(
        "picloud qemu: {} — API https://127.0.0.1:{}/ , node 127.0.0.1:{} ; console log {} ; Ctrl-C stops",
        image.display(),
        fw.api_port,
        fw.node_port,
        fw.console_log.display()
    );
    let records = fw.run(max_boots, Duration::from_secs(365 * 24 * 3600))?;
    for r in &records {
        eprintln!(
            "boot {}: partition {}{} -> {:?} ({:.1}s)",
            r.number,
            r.partition,
            if r.tryboot { " (tryboot)" } else { "" },
            r.end,
            r.duration.as_secs_f64()
        );
    }
    if records.last().map(|r| &r.end) != Some(&BootEnd::PowerOff) {
        bail!("stopped after {} boots without a power-off", records.len());
    }
    Ok(())
}

pub fn bench_boot(_args: Vec<String>) -> Result<()> {
    bail!("cargo xtask bench boot: not built yet")
}
