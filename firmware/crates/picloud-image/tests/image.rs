//! Image builder tests: byte-reproducible with SOURCE_DATE_EPOCH, the layout and contents the
//! boot contract fixes, the rpi5 image's boot files, and a clear error when the mirror no
//! longer has a pinned kernel package.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use picloud_image::{mbr, sign};

const EPOCH: u64 = 1_790_000_000;

#[test]
fn qemu_aarch64_image_is_reproducible_and_follows_the_contract() {
    if common::skip_unless(common::missing_for_build("aarch64-unknown-linux-musl")) {
        return;
    }
    let bin = common::floor_bin("aarch64-unknown-linux-musl");
    let dir = common::scratch("repro");
    let a = common::build_image("qemu-aarch64", &bin, &dir.join("a"), EPOCH);
    let b = common::build_image("qemu-aarch64", &bin, &dir.join("b"), EPOCH);
    assert_eq!(
        a.manifest.disk_sha256, b.manifest.disk_sha256,
        "two builds with the same SOURCE_DATE_EPOCH differ"
    );
    assert_eq!(
        picloud_image::sha256_file(&a.disk).unwrap(),
        picloud_image::sha256_file(&b.disk).unwrap()
    );
    // The epoch is really used.
    std::fs::remove_dir_all(dir.join("b")).unwrap();
    let c = common::build_image("qemu-aarch64", &bin, &dir.join("c"), EPOCH + 1);
    assert_ne!(a.manifest.disk_sha256, c.manifest.disk_sha256);
    std::fs::remove_dir_all(dir.join("c")).unwrap();

    // The root carries Debian's mke2fs (recipes/e2fsprogs-arm64.toml) for a blank p7.
    for p in ["e2fsprogs=1.47.0-2+b2 ", "libc6=", "libext2fs2="] {
        assert!(
            a.manifest.root_packages.iter().any(|x| x.starts_with(p)),
            "{p} not in the root: {:?}",
            a.manifest.root_packages
        );
    }

    // MBR: p1-p3 FAT32 (0x0c), p4 extended, p5-p7 Linux, sizes from image/layout.toml.
    let parts = mbr::read(&a.disk).unwrap();
    let numbers: Vec<(u32, u8)> = parts.iter().map(|p| (p.number, p.ptype)).collect();
    assert_eq!(
        numbers,
        vec![
            (1, 0x0c),
            (2, 0x0c),
            (3, 0x0c),
            (4, 0x05),
            (5, 0x83),
            (6, 0x83),
            (7, 0x83)
        ]
    );
    let layout = picloud_image::layout::Layout::load(&common::repo()).unwrap();
    for p in &parts {
        let l = &layout.partition[p.number as usize - 1];
        if l.size_mib > 0 {
            assert_eq!(p.size, l.size_mib << 20, "p{}", p.number);
        }
    }
    // autoboot.txt with tryboot_a_b=1, A default, B on tryboot.
    let autoboot =
        String::from_utf8(common::read_from_partition(&a.disk, 1, "autoboot.txt")).unwrap();
    assert_eq!(
        autoboot,
        "[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n"
    );
    // Each boot slot: kernel, initramfs, cmdline.txt, config.txt; the command line names its
    // slot and root partition, and carries the verity parameters and a valid signature.
    for (part, slot, root) in [(2, "a", 5), (3, "b", 6)] {
        let files = common::list_partition(&a.disk, part);
        for f in ["vmlinuz", "initramfs", "cmdline.txt", "config.txt"] {
            assert!(
                files.iter().any(|x| x.eq_ignore_ascii_case(f)),
                "p{part} lacks {f}: {files:?}"
            );
        }
        let cl =
            String::from_utf8(common::read_from_partition(&a.disk, part, "cmdline.txt")).unwrap();
        assert!(cl.contains(&format!("picloud.slot={slot} ")), "{cl}");
        assert!(cl.contains(&format!("picloud.rootpart={root} ")), "{cl}");
        assert!(cl.contains("picloud.datapart=7"), "{cl}");
        let v = &a.manifest.verity;
        assert!(cl.contains(&format!(
            "picloud.verity={},{},{},{}",
            v.roothash, v.salt, v.data_blocks, v.hash_offset
        )));
        let sig = cl
            .split_whitespace()
            .find_map(|w| w.strip_prefix("picloud.veritysig="))
            .unwrap();
        let pk: Vec<u8> = (0..32)
            .map(|i| {
                u8::from_str_radix(&a.manifest.verity_public_key[2 * i..2 * i + 2], 16).unwrap()
            })
            .collect();
        sign::verify_roothash(&pk, &v.roothash, sig).unwrap();
    }
    // The root slot verifies with veritysetup (userspace, no device mapper) and both slots are
    // byte-identical.
    let v = &a.manifest.verity;
    assert_eq!(v.hash_offset % 4096, 0);
    let p5 = mbr::find(&a.disk, 5).unwrap();
    let p6 = mbr::find(&a.disk, 6).unwrap();
    let slot_len = v.hash_offset + 4096 * 2;
    let read = |off: u64| {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&a.disk).unwrap();
        f.seek(SeekFrom::Start(off)).unwrap();
        let mut buf = vec![0u8; (p5.size) as usize];
        f.read_exact(&mut buf).unwrap();
        buf
    };
    let s5 = read(p5.offset);
    assert_eq!(s5, read(p6.offset));
    let slot_file = dir.join("slot.img");
    std::fs::write(&slot_file, &s5).unwrap();
    let out = std::process::Command::new(picloud_image::tools::find("veritysetup").unwrap())
        .arg("verify")
        .arg(&slot_file)
        .arg(&slot_file)
        .arg(&v.roothash)
        .arg(format!("--hash-offset={}", v.hash_offset))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "veritysetup verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(slot_len < p5.size);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rpi5_image_has_the_pi_boot_files() {
    if common::skip_unless(common::missing_for_build("aarch64-unknown-linux-musl")) {
        return;
    }
    let bin = common::floor_bin("aarch64-unknown-linux-musl");
    let dir = common::scratch("rpi5");
    let img = common::build_image("rpi5", &bin, &dir, EPOCH);
    let autoboot =
        String::from_utf8(common::read_from_partition(&img.disk, 1, "autoboot.txt")).unwrap();
    assert!(autoboot.contains("tryboot_a_b=1"));
    for part in [2, 3] {
        let files = common::list_partition(&img.disk, part);
        for f in [
            "config.txt",
            "cmdline.txt",
            "kernel_2712.img",
            "initramfs_2712",
            "bcm2712-rpi-5-b.dtb",
            "bcm2712-d-rpi-5-b.dtb",
        ] {
            assert!(files.iter().any(|x| x == f), "p{part} lacks {f}: {files:?}");
        }
        let config =
            String::from_utf8(common::read_from_partition(&img.disk, part, "config.txt")).unwrap();
        assert!(config.contains("kernel=kernel_2712.img"));
        assert!(config.contains("initramfs initramfs_2712 followkernel"));
        // The kernel is an arm64 Image ("ARMd" magic at byte 56), which the Pi firmware boots.
        let k = common::read_from_partition(&img.disk, part, "kernel_2712.img");
        assert_eq!(&k[56..60], b"ARM\x64");
        // The initramfs is gzip.
        let i = common::read_from_partition(&img.disk, part, "initramfs_2712");
        assert_eq!(&i[..2], &[0x1f, 0x8b]);
        // cmdline.txt is one line (the Pi firmware reads only the first).
        let cl =
            String::from_utf8(common::read_from_partition(&img.disk, part, "cmdline.txt")).unwrap();
        assert_eq!(cl.trim_end().lines().count(), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_kernel_version_the_mirror_lacks_is_a_clear_error() {
    let missing = picloud_image::tools::missing(&[("apt-get", "apt"), ("apt-cache", "apt")]);
    if common::skip_unless(missing) {
        return;
    }
    let repo = common::repo();
    let mut k = picloud_image::recipe::Recipe::load(&repo, "linux-7.3.4-arm64")
        .unwrap()
        .kernel()
        .unwrap();
    k.name = "test-missing".into();
    k.packages.truncate(1);
    k.packages[0].version = "0.0.1-does-not-exist".into();
    k.packages[0].sha256 = "0".repeat(64);
    let dir = common::scratch("missing-kernel");
    let err = picloud_image::kernel::fetch(&dir, &k)
        .unwrap_err()
        .to_string();
    if err.contains("apt-get update") {
        // No network: say so rather than pretend.
        if common::skip_unless(vec![format!("network access to {} ({err})", k.mirror)]) {
            return;
        }
    }
    assert!(err.contains("linux-binary-7.3.4+deb13-arm64"), "{err}");
    assert!(err.contains("0.0.1-does-not-exist"), "{err}");
    assert!(err.contains("recipes/test-missing.toml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
