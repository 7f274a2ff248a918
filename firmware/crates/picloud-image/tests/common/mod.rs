//! Shared helpers of picloud-image's integration tests: tool checks that skip with a reason
//! (or fail when `PICLOUD_IMAGE_TESTS=require`, as CI sets it), nested builds of the floor init
//! and the static picloud, and image builds.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use picloud_image::board::Board;
use picloud_image::build::{self, ImageOptions, ImageOutput};
use picloud_image::qemu::{RunOptions, Running};

/// The repository root.
pub fn repo() -> PathBuf {
    picloud_image::repo_root().canonicalize().unwrap()
}

/// Skips the test (returns `true`) when something is missing, saying what; in CI
/// (`PICLOUD_IMAGE_TESTS=require`) a missing tool fails the test instead.
pub fn skip_unless(reasons: Vec<String>) -> bool {
    if reasons.is_empty() {
        return false;
    }
    let msg = format!("missing: {}", reasons.join("; "));
    if std::env::var("PICLOUD_IMAGE_TESTS").as_deref() == Ok("require") {
        panic!("{msg} (PICLOUD_IMAGE_TESTS=require: CI must install these; see .ci/run)");
    }
    eprintln!("SKIPPED: {msg}. Install them (docs/firmware.md, \"Host setup\") to run this test.");
    true
}

/// What the image builder needs, plus the Rust target for `board`.
pub fn missing_for_build(target: &str) -> Vec<String> {
    let mut m = picloud_image::tools::missing(picloud_image::tools::BUILD_TOOLS);
    if picloud_image::binary::rust_target_installed(target) == Some(false) {
        m.push(format!("Rust target {target} (rustup target add {target})"));
    }
    m
}

/// What booting `board` needs on top of building it.
pub fn missing_for_boot(board: &str) -> Vec<String> {
    let b = Board::load(&repo(), board).unwrap();
    let mut m = missing_for_build(&b.rust_target);
    m.extend(picloud_image::tools::missing(
        picloud_image::tools::RUN_TOOLS,
    ));
    let q = b.qemu().unwrap();
    if picloud_image::tools::find(&q.binary).is_none() {
        m.push(format!(
            "{} (Debian package qemu-system-arm/x86 from bookworm-backports)",
            q.binary
        ));
    }
    m
}

/// Scratch folder under target/ (kept small: removed by the tests that use it).
pub fn scratch(name: &str) -> PathBuf {
    let d = repo()
        .join("target/picloud-image-tests/scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One nested cargo at a time per test binary (they share target/picloud-image-tests).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The floor init for `target`, built once per test binary.
pub fn floor_bin(target: &str) -> PathBuf {
    static CELL: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let cell = CELL.get_or_init(|| Mutex::new(Vec::new()));
    let mut g = cell.lock().unwrap();
    if let Some((_, p)) = g.iter().find(|(t, _)| t == target) {
        return p.clone();
    }
    let _b = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let p = picloud_image::floor::build(
        &repo(),
        target,
        &repo().join("target/picloud-image-tests/floor"),
    )
    .unwrap();
    g.push((target.to_string(), p.clone()));
    p
}

/// The static picloud for `target` (profile firmware-ci, separate target dir), or the binary
/// named by `PICLOUD_IMAGE_TEST_BIN` (a prebuilt one for that target).
pub fn picloud_bin(target: &str) -> PathBuf {
    picloud_bin_or(target, "PICLOUD_IMAGE_TEST_BIN")
}

/// The static picloud for `target` (profile firmware-ci, separate target dir), or the binary
/// named by the environment variable `var` (a prebuilt one for that target).
pub fn picloud_bin_or(target: &str, var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        eprintln!("using {var}={}", Path::new(&p).display());
        return PathBuf::from(p);
    }
    let _b = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    picloud_image::binary::BinaryBuild {
        repo: repo(),
        target: target.to_string(),
        profile: "firmware-ci".into(),
        target_dir: repo().join("target/picloud-image-tests"),
    }
    .run()
    .unwrap()
}

/// The host `picloud` (for `picloud cluster init`), same profile and target dir, or
/// `PICLOUD_IMAGE_TEST_HOST_BIN`.
pub fn host_picloud() -> PathBuf {
    if let Some(p) = std::env::var_os("PICLOUD_IMAGE_TEST_HOST_BIN") {
        return PathBuf::from(p);
    }
    let _b = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo().join("target/picloud-image-tests");
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--locked",
                "-p",
                "picloud",
                "--profile",
                "firmware-ci",
            ])
            .current_dir(repo())
            .env("CARGO_TARGET_DIR", &dir)
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .unwrap();
    assert!(status.success(), "building the host picloud failed");
    dir.join("firmware-ci/picloud")
}

/// Builds `board` with `bin` into `out` (fixed SOURCE_DATE_EPOCH unless given).
pub fn build_image(board: &str, bin: &Path, out: &Path, epoch: u64) -> ImageOutput {
    let repo = repo();
    build::build(&ImageOptions {
        repo: repo.clone(),
        board: board.into(),
        out_dir: out.to_path_buf(),
        cache_dir: picloud_image::default_cache_dir(&repo),
        picloud_bin: bin.to_path_buf(),
        signing_key: None,
        source_date_epoch: epoch,
        version: picloud_image::binary::workspace_version(&repo).unwrap(),
    })
    .unwrap()
}

/// Reads a file out of partition `part` of `image` with mtools.
pub fn read_from_partition(image: &Path, part: u32, name: &str) -> Vec<u8> {
    let p = picloud_image::mbr::find(image, part).unwrap();
    let out = std::process::Command::new(picloud_image::tools::find("mtype").unwrap())
        .arg("-i")
        .arg(format!("{}@@{}", image.display(), p.offset))
        .arg(format!("::{name}"))
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mtype {name} from p{part}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Lists the files of partition `part`.
pub fn list_partition(image: &Path, part: u32) -> Vec<String> {
    let p = picloud_image::mbr::find(image, part).unwrap();
    let out = std::process::Command::new(
        picloud_image::tools::find("mdir").unwrap_or_else(|| "mdir".into()),
    )
    .args(["-b", "-i"])
    .arg(format!("{}@@{}", image.display(), p.offset))
    .arg("::/")
    .env("MTOOLS_SKIP_CHECK", "1")
    .output()
    .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("::/").to_string())
        .collect()
}

/// Whether a boot test must skip: QEMU and the tools for `board`, and curl (see
/// [`skip_unless`]).
pub fn boot_tools_missing(board: &str) -> bool {
    let mut m = missing_for_boot(board);
    if picloud_image::tools::find("curl").is_none() {
        m.push("curl (Debian package curl)".into());
    }
    skip_unless(m)
}

/// The QEMU runner's options for booting `image` on `board`, working in `work_dir`, with
/// ports picked by the runner and the console streamed when `PICLOUD_BOOT_CONSOLE` is set.
pub fn run_options(
    board: &str,
    image: &Path,
    work_dir: PathBuf,
    first_boot_append: &str,
    append: &str,
) -> RunOptions {
    RunOptions {
        board: Board::load(&repo(), board).unwrap(),
        image: image.to_path_buf(),
        work_dir,
        api_host_port: 0,
        node_host_port: 0,
        stream_console: std::env::var_os("PICLOUD_BOOT_CONSOLE").is_some(),
        first_boot_append: first_boot_append.into(),
        append: append.into(),
    }
}

/// The bytes of partition `n` of `disk`.
pub fn partition_bytes(disk: &Path, n: u32) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let p = picloud_image::mbr::find(disk, n).unwrap();
    let mut f = std::fs::File::open(disk).unwrap();
    f.seek(SeekFrom::Start(p.offset)).unwrap();
    let mut buf = vec![0u8; p.size as usize];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// `curl -sS -k --max-time 5 <args>`: stdout if it succeeded.
pub fn curl(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-k", "--max-time", "5"])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// Polls `GET /health` through the forwarded `api_port` until it answers 200 (`ok`);
/// panics with the console once the boot has taken `limit`.
pub fn wait_health(r: &Running, api_port: u16, limit: Duration) {
    let url = format!("https://127.0.0.1:{api_port}/health");
    loop {
        if let Some(body) = curl(&["-f", &url]) {
            assert!(body.contains("ok"), "{body}");
            return;
        }
        assert!(
            r.elapsed() < limit,
            "/health did not answer within {limit:?}; console:\n{}",
            r.console_lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
