//! Growing the data partition against tables written by `sfdisk` (the image builder's tool):
//! the EBR walk and the rewrite on a plain image file, and, with root and a loop device, the
//! whole online path (MBR rewrite, BLKPG, EXT4_IOC_RESIZE_FS on the mounted file system).
//! Missing tools or privileges skip with a message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use picloud_init::mbr;

const LAYOUT: &str = "label: dos\nunit: sectors\n\
1 : start=2048, size=4096, type=c\n\
2 : start=6144, size=4096, type=c\n\
3 : start=10240, size=4096, type=c\n\
4 : start=14336, type=5\n\
5 : start=16384, size=8192, type=83\n\
6 : start=26624, size=8192, type=83\n\
7 : start=36864, type=83\n";

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn image(dir: &Path, mib: u64) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let img = dir.join("disk.img");
    File::create(&img).unwrap().set_len(mib << 20).unwrap();
    let mut sf = Command::new("sfdisk")
        .args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(&img)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    sf.stdin
        .take()
        .unwrap()
        .write_all(LAYOUT.as_bytes())
        .unwrap();
    assert!(sf.wait().unwrap().success());
    img
}

/// `(start, size)` of each partition as sfdisk reports it.
fn sfdisk_parts(img: &Path) -> Vec<(String, u64, u64)> {
    let json = run("sfdisk", &["-J", img.to_str().unwrap()]);
    // Tiny extraction, no JSON dependency: `"node":"…", "start":N, "size":M`.
    json.split("\"node\"")
        .skip(1)
        .map(|chunk| {
            let num = |key: &str| -> u64 {
                let at = chunk.find(key).unwrap() + key.len();
                chunk[at..]
                    .trim_start_matches([':', ' ', '"'])
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap()
            };
            let node: String = chunk
                .trim_start_matches([':', ' ', '"'])
                .chars()
                .take_while(|c| *c != '"')
                .collect();
            (node, num("\"start\""), num("\"size\""))
        })
        .collect()
}

#[test]
fn reads_and_grows_an_sfdisk_table_in_an_image_file() {
    if !have("sfdisk") {
        eprintln!("SKIPPED: sfdisk is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pcinit-grow-file-{}", std::process::id()));
    let img = image(&dir, 64);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    let mut read = |lba: u64| picloud_init::sys::block::read_at(&f, lba * 512, 512, "img").ok();
    let (parts, _) = mbr::read_table(&mut read).unwrap();
    let ours: Vec<(u64, u64)> = parts.iter().map(|p| (p.start, p.sectors)).collect();
    let theirs: Vec<(u64, u64)> = sfdisk_parts(&img).iter().map(|p| (p.1, p.2)).collect();
    assert_eq!(ours, theirs, "our EBR walk agrees with sfdisk");
    assert_eq!(parts[6].number, 7);

    // "Flash" onto a disk twice as large, then grow.
    f.set_len(128 << 20).unwrap();
    let plan = mbr::plan_grow(128 << 11, 7, &mut read).unwrap().unwrap();
    picloud_init::sys::block::write_plan(&f, &plan, "img").unwrap();
    let after = sfdisk_parts(&img);
    let p7 = after.last().unwrap();
    assert_eq!(
        p7.1 + p7.2,
        128 << 11,
        "p7 ends at the end of the disk: {after:?}"
    );
    let p4 = &after[3];
    assert_eq!(
        p4.1 + p4.2,
        128 << 11,
        "the extended partition too: {after:?}"
    );
    assert_eq!(&after[..3], &sfdisk_parts(&img)[..3]);
    // sfdisk's own consistency check is happy.
    let verify = Command::new("sfdisk").arg("-V").arg(&img).output().unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let mut read = |lba: u64| picloud_init::sys::block::read_at(&f, lba * 512, 512, "img").ok();
    assert_eq!(
        mbr::plan_grow(128 << 11, 7, &mut read).unwrap(),
        None,
        "idempotent"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

struct LoopDisk {
    dev: String,
    mnt: PathBuf,
    dir: PathBuf,
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).output();
        let _ = Command::new("losetup").args(["-d", &self.dev]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn grows_a_mounted_ext4_data_partition_online() {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let uid = unsafe { libc::geteuid() };
    if uid != 0 || !have("sfdisk") || !have("losetup") || !Path::new("/usr/sbin/mkfs.ext4").exists()
    {
        eprintln!("SKIPPED: needs root, sfdisk, losetup and mkfs.ext4");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pcinit-grow-loop-{}", std::process::id()));
    let img = image(&dir, 64);
    let dev = run("losetup", &["-f", "-P", "--show", img.to_str().unwrap()])
        .trim()
        .to_owned();
    let disk = LoopDisk {
        dev: dev.clone(),
        mnt: dir.join("mnt"),
        dir: dir.clone(),
    };
    let part = format!("{dev}p7");
    // Some kernels leave loop partition scanning off (max_part=0): add them with BLKPG.
    std::thread::sleep(Duration::from_millis(100));
    if !Path::new(&part).exists() {
        let _ = Command::new("partx").args(["-a", &dev]).output();
    }
    for _ in 0..100 {
        if Path::new(&part).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !Path::new(&part).exists() {
        eprintln!("SKIPPED: {part} did not appear (no partition scanning on loop devices here)");
        return;
    }
    run(
        "/usr/sbin/mkfs.ext4",
        &["-q", "-F", "-L", "picloud-data", &part],
    );
    std::fs::create_dir_all(&disk.mnt).unwrap();
    run("mount", &[&part, disk.mnt.to_str().unwrap()]);
    std::fs::write(disk.mnt.join("before"), b"kept").unwrap();
    let before = statvfs_blocks(&disk.mnt);

    File::options()
        .write(true)
        .open(&img)
        .unwrap()
        .set_len(128 << 20)
        .unwrap();
    run("losetup", &["-c", &dev]);

    let grown = picloud_init::stage2::grow_data(&dev, &part, 7, &disk.mnt);
    // EXT4_IOC_RESIZE_FS needs CAP_SYS_RESOURCE, which some sandboxes drop even for root
    // (PID 1 on the appliance has it). Then only the partition half is checked.
    let can_resize = has_cap(24);
    match (&grown, can_resize) {
        (Ok(()), _) => {}
        (Err(e), false) if e.contains("EXT4_IOC_RESIZE_FS") => {
            eprintln!("SKIPPED (file system half): no CAP_SYS_RESOURCE here: {e}");
        }
        (Err(e), _) => panic!("{e}"),
    }
    let after = statvfs_blocks(&disk.mnt);
    if can_resize {
        assert!(
            after > before * 2,
            "file system grew online: {before} -> {after} bytes"
        );
    }
    let parts = sfdisk_parts(&img);
    let p7 = parts.last().unwrap();
    assert_eq!(p7.1 + p7.2, 128 << 11);
    let f = File::open(&part).unwrap();
    assert_eq!(
        picloud_init::sys::block::size_bytes(&f, &part).unwrap(),
        p7.2 * 512,
        "the kernel sees the new partition size (BLKPG)"
    );
    assert_eq!(std::fs::read(disk.mnt.join("before")).unwrap(), b"kept");
    // A second boot finds nothing to do.
    if can_resize {
        picloud_init::stage2::grow_data(&dev, &part, 7, &disk.mnt).unwrap();
        assert_eq!(statvfs_blocks(&disk.mnt), after);
    }
    drop(disk);
}

/// Whether capability `bit` is in this process's effective set.
fn has_cap(bit: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << bit) != 0)
}

fn statvfs_blocks(p: &Path) -> u64 {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: valid path; statvfs fills the struct.
    #[allow(unsafe_code)]
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        assert_eq!(libc::statvfs(c.as_ptr(), &mut s), 0);
        s.f_blocks * s.f_frsize
    }
}
