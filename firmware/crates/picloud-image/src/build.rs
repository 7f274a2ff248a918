//! Assembling a board's disk image: initramfs, erofs root + dm-verity, signed root hash, FAT
//! boot slots, ext4 data, MBR. Plain files only (no root, no loop devices), reproducible for a
//! given `SOURCE_DATE_EPOCH`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::Digest;

use crate::board::{Board, Compression};
use crate::cpio::Archive;
use crate::layout::Layout;
use crate::recipe::{Kind, Recipe};
use crate::sign::SigningKey;
use crate::{kernel, mbr, tools};

/// What to build.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Repository root (board/, recipes/, image/).
    pub repo: PathBuf,
    /// Board name.
    pub board: String,
    /// Output folder (the disk image and manifest.json go here).
    pub out_dir: PathBuf,
    /// Kernel package cache.
    pub cache_dir: PathBuf,
    /// The static binary installed as `/init`, `/sbin/init` and `/usr/bin/picloud`.
    pub picloud_bin: PathBuf,
    /// Signing key file; `None`: the insecure development key.
    pub signing_key: Option<PathBuf>,
    /// Every timestamp in the image.
    pub source_date_epoch: u64,
    /// Release version written to `/etc/picloud/release`.
    pub version: String,
}

/// dm-verity parameters of the root slots.
#[derive(Debug, Clone, Serialize)]
pub struct Verity {
    /// Root hash, lowercase hex.
    pub roothash: String,
    /// Salt, lowercase hex.
    pub salt: String,
    /// Data blocks (4096 bytes each).
    pub data_blocks: u64,
    /// Byte offset of the verity superblock + hash tree inside the slot partition.
    pub hash_offset: u64,
    /// base64 ed25519 signature over `roothash`.
    pub signature: String,
}

/// One partition in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestPartition {
    /// MBR number.
    pub number: u32,
    /// Role.
    pub name: String,
    /// Byte offset.
    pub offset: u64,
    /// Byte size.
    pub size: u64,
}

/// `manifest.json` next to the image.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Board.
    pub board: String,
    /// Release version.
    pub version: String,
    /// Build id (hash of the inputs).
    pub build_id: String,
    /// SOURCE_DATE_EPOCH used.
    pub source_date_epoch: u64,
    /// Kernel release.
    pub kernel_release: String,
    /// Kernel packages (`name=version sha256`).
    pub kernel_packages: Vec<String>,
    /// Debian packages whose files are in the root filesystem (`name=version sha256`).
    pub root_packages: Vec<String>,
    /// sha256 of the installed picloud binary.
    pub picloud_sha256: String,
    /// Bytes of the installed picloud binary.
    pub picloud_bytes: u64,
    /// Initramfs bytes (as stored in the boot slot).
    pub initramfs_bytes: u64,
    /// Root filesystem (erofs) bytes.
    pub rootfs_bytes: u64,
    /// dm-verity parameters.
    pub verity: Verity,
    /// Public key (hex) that is in the initramfs.
    pub verity_public_key: String,
    /// True when signed with the committed development key.
    pub insecure_dev_key: bool,
    /// Kernel command line of slot A.
    pub cmdline_a: String,
    /// Kernel command line of slot B.
    pub cmdline_b: String,
    /// Partitions.
    pub partitions: Vec<ManifestPartition>,
    /// The disk image file name.
    pub disk: String,
    /// Disk image bytes.
    pub disk_bytes: u64,
    /// sha256 of the disk image.
    pub disk_sha256: String,
}

/// A finished image.
#[derive(Debug, Clone)]
pub struct ImageOutput {
    /// The disk image.
    pub disk: PathBuf,
    /// Its manifest (also written as `manifest.json`).
    pub manifest: Manifest,
}

/// `SOURCE_DATE_EPOCH` from the environment, else the last commit's time, else 0.
pub fn source_date_epoch(repo: &Path) -> u64 {
    if let Some(v) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return v;
    }
    std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(repo)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// `autoboot.txt` for the bootsel partition: slot A by default, slot B on tryboot.
pub fn autoboot_txt(default_part: u32, tryboot_part: u32) -> String {
    format!("[all]\ntryboot_a_b=1\nboot_partition={default_part}\n[tryboot]\nboot_partition={tryboot_part}\n")
}

fn set_mtime(path: &Path, epoch: u64) -> Result<()> {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    f.set_modified(t)
        .with_context(|| format!("set mtime of {}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("create {}", p.display()))?;
    }
    std::fs::write(path, data).with_context(|| format!("write {}", path.display()))?;
    set_mode(path, mode)
}

/// Sets every mtime under `dir` (depth first, so directories keep theirs).
fn normalize_tree(dir: &Path, epoch: u64) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let p = e?.path();
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            normalize_tree(&p, epoch)?;
            set_mode(&p, 0o755)?;
        }
        if !meta.file_type().is_symlink() {
            set_mtime(&p, epoch)?;
        }
    }
    set_mtime(dir, epoch)
}

fn uuid_from(seed: &str) -> String {
    let h = sha2::Sha256::digest(seed.as_bytes());
    let x = crate::hex(&h);
    format!(
        "{}-{}-4{}-8{}-{}",
        &x[0..8],
        &x[8..12],
        &x[13..16],
        &x[17..20],
        &x[20..32]
    )
}

fn mib(n: u64) -> u64 {
    n * 1024 * 1024
}

/// Copies the `[[file]]`s of a `debian-packages` recipe from its unpacked tree into the root
/// (mode 0755 when the source is executable, else 0644).
fn install_files(pr: &crate::recipe::PackagesRecipe, tree: &Path, rootfs: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for f in &pr.files {
        let src = tree.join(&f.from);
        let meta = std::fs::symlink_metadata(&src).with_context(|| {
            format!(
                "recipes/{}.toml: [[file]] from = {:?} is not in its packages",
                pr.source.name, f.from
            )
        })?;
        if !meta.file_type().is_file() {
            bail!(
                "recipes/{}.toml: [[file]] from = {:?} is not a regular file (name the file a symlink points to)",
                pr.source.name,
                f.from
            );
        }
        let dst = rootfs.join(&f.to);
        if dst.exists() {
            bail!(
                "recipes/{}.toml: [[file]] to = {:?} is already installed by another recipe",
                pr.source.name,
                f.to
            );
        }
        let data = std::fs::read(&src).with_context(|| format!("read {}", src.display()))?;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        write_file(&dst, &data, mode)?;
    }
    Ok(())
}

/// Builds the image described by `opts`.
pub fn build(opts: &ImageOptions) -> Result<ImageOutput> {
    let board = Board::load(&opts.repo, &opts.board)?;
    let layout = Layout::load(&opts.repo)?;
    let krecipe = Recipe::load(&opts.repo, &board.kernel_recipe)?.kernel()?;
    let mut package_recipes = Vec::new();
    for r in &board.root_recipes {
        let rec = Recipe::load(&opts.repo, r)?;
        if rec.kind == Kind::DebianPackages {
            package_recipes.push(rec.packages()?);
            continue;
        }
        if rec.kind != Kind::Workspace || rec.name != "picloud" {
            bail!(
                "board {}: root recipe {r} is of a kind the builder cannot install into the root (the workspace's picloud, debian-packages)",
                board.name
            );
        }
        if rec.version.as_deref() != Some(opts.version.as_str()) {
            bail!(
                "recipes/{r}.toml: version {:?} differs from the workspace version {}",
                rec.version,
                opts.version
            );
        }
    }
    tools::require(tools::BUILD_TOOLS)?;
    if !opts.picloud_bin.is_file() {
        bail!(
            "picloud binary {} does not exist",
            opts.picloud_bin.display()
        );
    }
    let key = match &opts.signing_key {
        Some(p) => SigningKey::load(p, false)?,
        None => SigningKey::dev(&opts.repo)?,
    };
    let epoch = opts.source_date_epoch;
    let k = kernel::prepare(&opts.cache_dir, &krecipe)?;
    let mut root_packages = Vec::new();
    let mut unpacked = Vec::new();
    for pr in &package_recipes {
        let (tree, pkgs) = kernel::unpack(&opts.cache_dir, &pr.source, "packages")?;
        root_packages.extend(pkgs);
        unpacked.push((pr, tree));
    }

    let work = opts.out_dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;

    let bin = std::fs::read(&opts.picloud_bin)
        .with_context(|| format!("read {}", opts.picloud_bin.display()))?;
    let picloud_sha256 = crate::hex(&sha2::Sha256::digest(&bin));
    let build_id = {
        let mut h = sha2::Sha256::new();
        h.update(picloud_sha256.as_bytes());
        for p in k.packages.iter().chain(&root_packages) {
            h.update(p.as_bytes());
        }
        h.update(board.name.as_bytes());
        h.update(epoch.to_le_bytes());
        crate::hex(&h.finalize())
            .chars()
            .take(16)
            .collect::<String>()
    };

    // ---- root filesystem ------------------------------------------------------------------
    let rootfs = work.join("rootfs");
    write_file(&rootfs.join("sbin/init"), &bin, 0o755)?;
    std::fs::create_dir_all(rootfs.join("usr/bin"))?;
    std::fs::hard_link(rootfs.join("sbin/init"), rootfs.join("usr/bin/picloud"))
        .context("hard link /usr/bin/picloud")?;
    let release = format!(
        "version={}\nboard={}\nbuild_id={}\nkernel={}\n",
        opts.version, board.name, build_id, k.release
    );
    write_file(
        &rootfs.join("etc/picloud/release"),
        release.as_bytes(),
        0o644,
    )?;
    for d in ["proc", "sys", "dev", "run", "tmp", "data"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    for (pr, tree) in &unpacked {
        install_files(pr, tree, &rootfs)?;
    }
    normalize_tree(&rootfs, epoch)?;
    let erofs = work.join("root.erofs");
    tools::run(
        tools::cmd("mkfs.erofs")
            .arg("-zlz4hc")
            .arg(format!("-T{epoch}"))
            .arg("--all-root")
            .arg(format!("-U{}", uuid_from(&format!("{build_id}-erofs"))))
            .arg(&erofs)
            .arg(&rootfs)
            .env("SOURCE_DATE_EPOCH", epoch.to_string()),
    )
    .context("mkfs.erofs (Debian package erofs-utils)")?;
    let rootfs_bytes = std::fs::metadata(&erofs)?.len();
    if !rootfs_bytes.is_multiple_of(4096) {
        let f = OpenOptions::new().write(true).open(&erofs)?;
        f.set_len(rootfs_bytes.div_ceil(4096) * 4096)?;
    }
    let data_blocks = std::fs::metadata(&erofs)?.len() / 4096;
    let hash_offset = data_blocks * 4096;
    let salt = crate::sha256_file(&erofs)?;
    let slot = work.join("root.slot");
    std::fs::copy(&erofs, &slot)?;
    let out = tools::run(
        tools::cmd("veritysetup")
            .arg("format")
            .arg(&slot)
            .arg(&slot)
            .arg(format!("--hash-offset={hash_offset}"))
            .arg(format!("--data-blocks={data_blocks}"))
            .args([
                "--hash=sha256",
                "--data-block-size=4096",
                "--hash-block-size=4096",
            ])
            .arg(format!("--salt={salt}"))
            .arg(format!(
                "--uuid={}",
                uuid_from(&format!("{build_id}-verity"))
            )),
    )
    .context("veritysetup format (Debian package cryptsetup-bin)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let roothash = text
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:").map(|v| v.trim().to_string()))
        .with_context(|| format!("veritysetup printed no root hash:\n{text}"))?;
    let root_part = layout.get("rootA")?;
    let slot_bytes = std::fs::metadata(&slot)?.len();
    if slot_bytes > mib(root_part.size_mib) {
        bail!(
            "root slot image is {slot_bytes} bytes, more than the {} MiB partition (image/layout.toml)",
            root_part.size_mib
        );
    }
    let signature = key.sign_roothash(&roothash);
    let verity = Verity {
        roothash: roothash.clone(),
        salt: salt.clone(),
        data_blocks,
        hash_offset,
        signature: signature.clone(),
    };
    let cmdline = |slot: char, rootpart: u32| {
        format!(
            "{} picloud.slot={slot} picloud.rootpart={rootpart} picloud.verity={roothash},{salt},{data_blocks},{hash_offset} picloud.veritysig={signature} picloud.datapart=7",
            board.cmdline.trim()
        )
    };
    let cmdline_a = cmdline('a', 5);
    let cmdline_b = cmdline('b', 6);

    // ---- initramfs ------------------------------------------------------------------------
    let mut a = Archive::new();
    a.file("init", 0o755, bin.clone())?;
    a.file("etc/picloud/initramfs", 0o644, Vec::new())?;
    a.file("etc/picloud/verity.pub", 0o644, key.public_key().to_vec())?;
    let mut list = String::new();
    for m in &board.modules {
        let src = k.modules_dir.join(m);
        let data = std::fs::read(&src).with_context(|| {
            format!(
                "board {}: module {m} is not in kernel {} ({})",
                board.name,
                k.release,
                src.display()
            )
        })?;
        a.file(&format!("lib/modules/{}/{m}", k.release), 0o644, data)?;
        list.push_str(m);
        list.push('\n');
    }
    a.file("etc/picloud/modules", 0o644, list.into_bytes())?;
    a.char_dev("dev/console", 0o600, 5, 1)?;
    for d in ["proc", "sys", "run", "tmp"] {
        a.dir(d, 0o755)?;
    }
    let mut initramfs = a.to_bytes(epoch);
    if board.initramfs_compression == Compression::Gzip {
        initramfs = gzip(&initramfs)?;
    }
    let initramfs_bytes = initramfs.len() as u64;

    // ---- boot slots -----------------------------------------------------------------------
    let config_txt = match &board.config_txt {
        Some(f) => std::fs::read(board.dir.join(f))
            .with_context(|| format!("read {}", board.dir.join(f).display()))?,
        None => format!(
            "# PiCloud boot slot for board {} (not read by QEMU: the A/B stand-in boots\n# {} and {} with cmdline.txt directly).\n",
            board.name, board.kernel_name, board.initramfs_name
        )
        .into_bytes(),
    };
    let kernel_bytes =
        std::fs::read(&k.image).with_context(|| format!("read {}", k.image.display()))?;
    let mut dtbs = Vec::new();
    for d in &board.dtbs {
        let src = k.dtb_dir.join(d);
        let data = std::fs::read(&src).with_context(|| {
            format!(
                "board {}: DTB {d} is not in kernel {}",
                board.name, k.release
            )
        })?;
        let name = Path::new(d)
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("bad DTB path {d}"))?
            .to_string();
        dtbs.push((name, data));
    }
    let mut parts: Vec<(u32, PathBuf)> = Vec::new();
    for (num, name, cl) in [(2u32, "bootA", &cmdline_a), (3, "bootB", &cmdline_b)] {
        let stage = work.join(name);
        write_file(&stage.join(&board.kernel_name), &kernel_bytes, 0o644)?;
        write_file(&stage.join(&board.initramfs_name), &initramfs, 0o644)?;
        write_file(
            &stage.join("cmdline.txt"),
            format!("{cl}\n").as_bytes(),
            0o644,
        )?;
        write_file(&stage.join("config.txt"), &config_txt, 0o644)?;
        for (n, d) in &dtbs {
            write_file(&stage.join(n), d, 0o644)?;
        }
        let p = layout.get(name)?;
        let img = work.join(format!("{name}.vfat"));
        vfat(&img, &stage, p, num, epoch)?;
        parts.push((num, img));
    }
    let bootsel = work.join("bootsel");
    write_file(
        &bootsel.join("autoboot.txt"),
        autoboot_txt(2, 3).as_bytes(),
        0o644,
    )?;
    let img = work.join("bootsel.vfat");
    vfat(&img, &bootsel, layout.get("bootsel")?, 1, epoch)?;
    parts.push((1, img));
    parts.push((5, slot.clone()));
    parts.push((6, slot.clone()));

    // ---- data -----------------------------------------------------------------------------
    let data = work.join("data.ext4");
    let dp = layout.get("data")?;
    File::create(&data)?.set_len(mib(dp.size_mib))?;
    let duuid = uuid_from(&format!("{}-data", layout.disk_id));
    tools::run(
        tools::cmd("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096", "-L"])
            .arg(dp.label.as_deref().unwrap_or("picloud-data"))
            .arg("-U")
            .arg(&duuid)
            .arg("-E")
            .arg(format!("root_owner=0:0,hash_seed={duuid}"))
            .arg(&data)
            .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
            .env("MKE2FS_DEVICE_SECTSIZE", "512"),
    )
    .context("mkfs.ext4 (Debian package e2fsprogs)")?;
    parts.push((7, data));

    // ---- disk -----------------------------------------------------------------------------
    std::fs::create_dir_all(&opts.out_dir)?;
    let disk = opts.out_dir.join(format!("picloud-{}.img", board.name));
    let _ = std::fs::remove_file(&disk);
    File::create(&disk)?.set_len(mib(layout.total_mib()))?;
    let mut child = tools::cmd("sfdisk")
        .args([
            "--no-reread",
            "--no-tell-kernel",
            "-q",
            "-w",
            "never",
            "-W",
            "never",
        ])
        .arg(&disk)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start sfdisk (Debian package fdisk)")?;
    child
        .stdin
        .take()
        .context("sfdisk stdin")?
        .write_all(layout.sfdisk_script().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "sfdisk failed on {}: {}",
            disk.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let table = mbr::read(&disk)?;
    let mut mparts = Vec::new();
    for lp in &layout.partition {
        let t = table
            .iter()
            .find(|t| t.number == lp.number)
            .with_context(|| format!("sfdisk did not create partition {}", lp.number))?;
        if lp.size_mib != 0 && t.size != mib(lp.size_mib) {
            bail!(
                "partition {} is {} bytes, layout says {} MiB",
                lp.number,
                t.size,
                lp.size_mib
            );
        }
        mparts.push(ManifestPartition {
            number: lp.number,
            name: lp.name.clone(),
            offset: t.offset,
            size: t.size,
        });
    }
    for (num, img) in &parts {
        let t = table
            .iter()
            .find(|t| t.number == *num)
            .with_context(|| format!("no partition {num}"))?;
        write_at(&disk, t.offset, t.size, img)?;
    }
    let disk_sha256 = crate::sha256_file(&disk)?;
    let manifest = Manifest {
        board: board.name.clone(),
        version: opts.version.clone(),
        build_id,
        source_date_epoch: epoch,
        kernel_release: k.release.clone(),
        kernel_packages: k.packages.clone(),
        root_packages,
        picloud_sha256,
        picloud_bytes: bin.len() as u64,
        initramfs_bytes,
        rootfs_bytes,
        verity,
        verity_public_key: crate::hex(&key.public_key()),
        insecure_dev_key: key.insecure_dev_key,
        cmdline_a,
        cmdline_b,
        partitions: mparts,
        disk: disk
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string(),
        disk_bytes: std::fs::metadata(&disk)?.len(),
        disk_sha256,
    };
    std::fs::write(
        opts.out_dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(ImageOutput { disk, manifest })
}

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut child = tools::cmd("gzip")
        .args(["-n", "-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("start gzip")?;
    let mut stdin = child.stdin.take().context("gzip stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("gzip writer thread"))??;
    if !out.status.success() {
        bail!("gzip failed");
    }
    Ok(out.stdout)
}

fn vfat(
    img: &Path,
    stage: &Path,
    p: &crate::layout::Partition,
    num: u32,
    epoch: u64,
) -> Result<()> {
    normalize_tree(stage, epoch)?;
    let _ = std::fs::remove_file(img);
    tools::run(
        tools::cmd("mkfs.vfat")
            .args(["--invariant", "-F", "32", "-i"])
            .arg(format!("5043{num:04x}"))
            .arg("-n")
            .arg(p.label.as_deref().unwrap_or("PICLOUD"))
            .arg("-C")
            .arg(img)
            .arg((p.size_mib * 1024).to_string()),
    )
    .context("mkfs.vfat (Debian package dosfstools)")?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(stage)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for f in names {
        tools::run(
            tools::cmd("mcopy")
                .arg("-i")
                .arg(img)
                .args(["-m", "-o"])
                .arg(&f)
                .arg("::/")
                .env("MTOOLS_SKIP_CHECK", "1")
                .env("TZ", "UTC"),
        )
        .context("mcopy (Debian package mtools)")?;
    }
    Ok(())
}

/// Copies `src` into `disk` at `offset`, leaving holes where `src` has zero blocks.
pub fn write_at(disk: &Path, offset: u64, limit: u64, src: &Path) -> Result<()> {
    let len = std::fs::metadata(src)?.len();
    if len > limit {
        bail!(
            "{} ({len} bytes) does not fit its {limit}-byte partition",
            src.display()
        );
    }
    let mut r = File::open(src).with_context(|| format!("open {}", src.display()))?;
    let mut w = OpenOptions::new()
        .write(true)
        .open(disk)
        .with_context(|| format!("open {}", disk.display()))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        if chunk.iter().any(|&b| b != 0) {
            w.seek(SeekFrom::Start(offset + pos))?;
            w.write_all(chunk)?;
        }
        pos += n as u64;
    }
    w.flush()?;
    Ok(())
}
