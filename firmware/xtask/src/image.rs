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

pub(crate) const IMAGE_USAGE: &str =
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

pub(crate) const QEMU_USAGE: &str =
    "cargo xtask qemu --board qemu-aarch64|qemu-x86_64 [--image FILE] \
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

pub(crate) const BENCH_USAGE: &str =
    "cargo xtask bench boot [--runs 5] [--profile firmware] [--picloud-bin FILE] [--output json]";

#[allow(clippy::disallowed_methods)] // benchmark: wall clock
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn health_ok(port: u16) -> bool {
    std::process::Command::new("curl")
        .args(["-sSfk", "--max-time", "1"])
        .arg(format!("https://127.0.0.1:{port}/health"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn zstd_size(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("zstd")
        .args(["-19", "-T0", "-q", "-c"])
        .arg(path)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len() as u64)
}

fn sparse_copy(from: &Path, to: &Path) -> Result<()> {
    let st = std::process::Command::new("cp")
        .arg("--sparse=always")
        .arg(from)
        .arg(to)
        .status()?;
    if !st.success() {
        bail!("cp {} {}", from.display(), to.display());
    }
    Ok(())
}

/// `cargo xtask bench boot`: QEMU aarch64 (TCG) power-on -> PID 1 -> API answering, median of
/// N fresh boots, beside the floor init booted with the same kernel; image and binary sizes;
/// idle RSS of PID 1 + the node when the init reports it.
pub fn bench_boot(args: Vec<String>) -> Result<()> {
    let mut f = Flags { args };
    let runs: usize = f
        .take("--runs")?
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(5);
    let profile = f.take("--profile")?.unwrap_or_else(|| "firmware".into());
    let json = f.take("--output")?.as_deref() == Some("json");
    let prebuilt = f.take("--picloud-bin")?.map(PathBuf::from);
    f.done(BENCH_USAGE)?;
    let repo = repo();
    let board_name = "qemu-aarch64";
    let board = Board::load(&repo, board_name)?;
    let base = out_dir(&repo, board_name).join("bench");
    let version = picloud_image::binary::workspace_version(&repo)?;
    let epoch = build::source_date_epoch(&repo);
    let mk = |bin: PathBuf, out: PathBuf| {
        build::build(&ImageOptions {
            repo: repo.clone(),
            board: board_name.into(),
            out_dir: out,
            cache_dir: picloud_image::default_cache_dir(&repo),
            picloud_bin: bin,
            signing_key: None,
            source_date_epoch: epoch,
            version: version.clone(),
        })
    };
    let floor_bin = picloud_image::floor::build(
        &repo,
        &board.rust_target,
        &repo.join("target/picloud-floor-init"),
    )?;
    let floor = mk(floor_bin, base.join("floor"))?;
    let (bin, profile) = match prebuilt {
        Some(b) => (b, "prebuilt (--picloud-bin)".to_string()),
        None => (build_binary(&repo, &board, &profile)?, profile),
    };
    let real = mk(bin.clone(), base.join("picloud"))?;

    let fw_for = |img: &Path, run: &str| -> Result<Firmware> {
        let dir = base.join(run);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let disk = dir.join("disk.img");
        sparse_copy(img, &disk)?;
        Firmware::new(RunOptions {
            board: board.clone(),
            image: disk,
            work_dir: dir.join("run"),
            api_host_port: 0,
            node_host_port: 0,
            stream_console: false,
            first_boot_append: String::new(),
            append: "picloud.test.mem=2".into(),
        })
    };
    // Floor: QEMU start -> the floor init's line (PID 1 running), and -> QEMU exit.
    let mut floor_marker = Vec::new();
    for i in 0..runs {
        let mut fw = fw_for(&floor.disk, &format!("floor-{i}"))?;
        let r = fw.start()?;
        r.wait_for(picloud_image::floor::MARKER, Duration::from_secs(120))?;
        let t = r.time_of(picloud_image::floor::MARKER).unwrap_or_default();
        let rec = fw.finish(r, Duration::from_secs(60))?;
        eprintln!(
            "floor run {}: PID 1 line at {:.2}s, QEMU exit {:.2}s",
            i + 1,
            t.as_secs_f64(),
            rec.duration.as_secs_f64()
        );
        floor_marker.push(t.as_secs_f64());
    }
    // PiCloud: each run boots a fresh copy (first boot: data partition grown, CA created).
    let mut stage1 = Vec::new();
    let mut ready = Vec::new();
    let mut api = Vec::new();
    let mut mem = Vec::new();
    for i in 0..runs {
        let mut fw = fw_for(&real.disk, &format!("picloud-{i}"))?;
        let port = fw.api_port;
        let r = fw.start()?;
        r.wait_for("PICLOUD-INIT-READY", Duration::from_secs(300))?;
        let t_api = loop {
            if health_ok(port) {
                break r.elapsed();
            }
            if r.elapsed() > Duration::from_secs(300) {
                bail!("run {}: /health did not answer within 300 s", i + 1);
            }
            sleep_ms(100);
        };
        let t1 = r
            .time_of("PICLOUD-STAGE1-OK")
            .unwrap_or_default()
            .as_secs_f64();
        let t2 = r
            .time_of("PICLOUD-INIT-READY")
            .unwrap_or_default()
            .as_secs_f64();
        // Idle memory: 10 s after the API answered, the init's PICLOUD-MEM line (if any).
        sleep_ms(10_000);
        let m = r
            .console_lines()
            .iter()
            .rev()
            .find(|l| l.contains("PICLOUD-MEM"))
            .cloned();
        fw.kill(r)?;
        eprintln!(
            "picloud run {}: stage 1 ok {t1:.2}s, PID 1 ready {t2:.2}s, API answering {:.2}s{}",
            i + 1,
            t_api.as_secs_f64(),
            m.as_deref().map(|l| format!(", {l}")).unwrap_or_default()
        );
        stage1.push(t1);
        ready.push(t2);
        api.push(t_api.as_secs_f64());
        if let Some(l) = m {
            let kb = |k: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if let (Some(a), Some(b)) = (kb("pid1_rss_kb="), kb("node_rss_kb=")) {
                mem.push((a, b));
            }
        }
    }
    let _ = std::fs::remove_dir_all(base.join("floor").join("work"));
    let floor_med = median(&mut floor_marker);
    let api_med = median(&mut api);
    let report = serde_json::json!({
        "board": board_name,
        "runs": runs,
        "profile": profile,
        "floor_pid1_s": floor_med,
        "stage1_ok_s": median(&mut stage1),
        "init_ready_s": median(&mut ready),
        "api_answering_s": api_med,
        "ratio_api_to_floor": api_med / floor_med,
        "picloud_binary_bytes": std::fs::metadata(&bin)?.len(),
        "disk_bytes": real.manifest.disk_bytes,
        "disk_zstd19_bytes": zstd_size(&real.disk),
        "initramfs_bytes": real.manifest.initramfs_bytes,
        "rootfs_erofs_bytes": real.manifest.rootfs_bytes,
        "idle_rss_kb": mem.last().map(|(a, b)| serde_json::json!({"pid1": a, "node": b, "total": a + b})),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("boot, qemu-aarch64 TCG (cortex-a72, 1 vCPU), median of {runs} fresh boots:");
        println!("  floor init (same kernel), QEMU start -> PID 1 line : {floor_med:.2} s");
        println!(
            "  picloud: stage 1 verified root                      : {:.2} s",
            report["stage1_ok_s"].as_f64().unwrap_or(f64::NAN)
        );
        println!(
            "  picloud: PID 1 ready (PICLOUD-INIT-READY)           : {:.2} s",
            report["init_ready_s"].as_f64().unwrap_or(f64::NAN)
        );
        println!("  picloud: API answering (/health through hostfwd)    : {api_med:.2} s  = {:.2}x the floor (target <= 2x)", api_med / floor_med);
        println!("sizes: picloud ({profile}) {} bytes; disk {} bytes sparse, {} bytes zstd -19; initramfs {}; root erofs {}",
            report["picloud_binary_bytes"], report["disk_bytes"], report["disk_zstd19_bytes"], report["initramfs_bytes"], report["rootfs_erofs_bytes"]);
        match mem.last() {
            Some((a, b)) => println!("idle RSS 10 s after the API answered: PID 1 {a} kB + node {b} kB = {} kB (target <= 65536 kB)", a + b),
            None => println!("idle RSS: not measured (the init printed no PICLOUD-MEM line; see docs/firmware.md)"),
        }
    }
    Ok(())
}
