//! meta-picloud/ cannot be built here (no BitBake; README says so). This test keeps it in
//! agreement with the workspace: versions, the wic partition layout against
//! image/layout.toml, module names and command lines against board/, and the dev key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use picloud_image::board::Board;
use picloud_image::layout::Layout;

fn read(rel: &str) -> String {
    let p = common::repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// `--name value` from a wks `part` line.
fn opt<'a>(words: &'a [&'a str], name: &str) -> Option<&'a str> {
    let prefix = format!("{name}=");
    words
        .iter()
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .or_else(|| {
            words
                .iter()
                .position(|w| *w == name)
                .and_then(|i| words.get(i + 1).copied())
        })
}

#[test]
fn meta_picloud_agrees_with_the_workspace() {
    let repo = common::repo();
    let version = picloud_image::binary::workspace_version(&repo).unwrap();

    // Versions: the picloud recipe's file name, the workspace, recipes/picloud.toml.
    let bb = format!("meta-picloud/recipes-picloud/picloud/picloud_{version}.bb");
    assert!(
        repo.join(&bb).is_file(),
        "{bb} is missing: rename the recipe when the workspace version changes"
    );
    let recipes: Vec<_> = std::fs::read_dir(repo.join("meta-picloud/recipes-picloud/picloud"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("picloud_") && n.ends_with(".bb"))
        .collect();
    assert_eq!(recipes, vec![format!("picloud_{version}.bb")]);
    let r = picloud_image::recipe::Recipe::load(&repo, "picloud").unwrap();
    assert_eq!(r.version.as_deref(), Some(version.as_str()));
    let bbtext = read(&bb);
    assert!(bbtext.contains("CARGO_SRC_DIR = \"firmware/crates/picloud\""));
    assert!(bbtext.contains("inherit cargo"));

    // layer.conf conventions.
    let conf = read("meta-picloud/conf/layer.conf");
    for k in [
        "BBFILE_COLLECTIONS += \"picloud\"",
        "BBFILE_PATTERN_picloud",
        "BBFILE_PRIORITY_picloud",
        "LAYERSERIES_COMPAT_picloud",
        "LAYERDEPENDS_picloud",
    ] {
        assert!(conf.contains(k), "layer.conf lacks {k}");
    }

    // The wic layout = image/layout.toml (the extended partition is implicit in wic).
    let layout = Layout::load(&repo).unwrap();
    let wks = read("meta-picloud/wic/picloud.wks");
    assert!(wks.lines().any(|l| l.trim() == "bootloader --ptable msdos"));
    let parts: Vec<Vec<&str>> = wks
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("part "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let want: Vec<_> = layout.partition.iter().filter(|p| p.fs != "none").collect();
    assert_eq!(
        parts.len(),
        want.len(),
        "wks has {} part lines, layout {} non-extended partitions",
        parts.len(),
        want.len()
    );
    for (w, l) in parts.iter().zip(&want) {
        assert_eq!(
            opt(w, "--fixed-size"),
            Some(format!("{}M", l.size_mib).as_str()),
            "{}: size",
            l.name
        );
        assert_eq!(
            opt(w, "--system-id"),
            Some(format!("0x{}", l.ptype).as_str()),
            "{}: type",
            l.name
        );
        assert_eq!(opt(w, "--label"), l.label.as_deref(), "{}: label", l.name);
        match l.fs.as_str() {
            "vfat" => assert_eq!(opt(w, "--fstype"), Some("vfat"), "{}", l.name),
            "ext4" => assert_eq!(opt(w, "--fstype"), Some("ext4"), "{}", l.name),
            "erofs-verity" => assert!(
                w.iter().any(|x| x.contains("erofs-lz4hc.verity")),
                "{}",
                l.name
            ),
            other => panic!("unknown fs {other}"),
        }
    }
    // The extended partition sits where wic puts it: after three primaries.
    assert_eq!(layout.get("extended").unwrap().number, 4);

    // autoboot.txt and verity parameters as the builder writes them.
    let image_bb = read("meta-picloud/recipes-core/images/picloud-image.bb");
    let autoboot = picloud_image::build::autoboot_txt(2, 3).replace('\n', "\\n");
    assert!(
        image_bb.contains(&autoboot),
        "picloud-image.bb's autoboot.txt differs from the builder's"
    );
    let class = read("meta-picloud/classes/picloud-verity.bbclass");
    for k in [
        "--hash-offset=",
        "--hash=sha256",
        "--data-block-size=4096",
        "--hash-block-size=4096",
        "picloud.veritysig=",
        "picloud.datapart=7",
    ] {
        assert!(class.contains(k), "picloud-verity.bbclass lacks {k}");
    }

    // Command lines and modules against the boards.
    for (machine, board) in [("raspberrypi5", "rpi5"), ("qemuarm64", "qemu-aarch64")] {
        let b = Board::load(&repo, board).unwrap();
        let line = format!("PICLOUD_CMDLINE:{machine} = \"{}\"", b.cmdline);
        assert!(image_bb.contains(&line), "picloud-image.bb lacks {line}");
        let init_bb = read("meta-picloud/recipes-picloud/picloud/picloud-initramfs.bb");
        let key = format!("PICLOUD_MODULES:{machine} = \"");
        let mods = init_bb
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("no {key}"));
        let board_names: Vec<String> = b
            .modules
            .iter()
            .map(|m| {
                m.rsplit('/')
                    .next()
                    .unwrap()
                    .split(".ko")
                    .next()
                    .unwrap()
                    .replace('_', "-")
            })
            .collect();
        for m in mods.trim_end_matches('"').split_whitespace() {
            assert!(
                board_names.iter().any(|n| n == m),
                "{machine}: module {m} is not in board/{board}/board.toml"
            );
        }
    }
    if let Some(rpi) = image_bb
        .lines()
        .find(|l| l.contains("PICLOUD_SLOT_FILES:raspberrypi5"))
    {
        let b = Board::load(&repo, "rpi5").unwrap();
        assert!(rpi.contains(&b.kernel_name) && image_bb.contains(&b.initramfs_name));
    } else {
        panic!("picloud-image.bb has no PICLOUD_SLOT_FILES:raspberrypi5");
    }

    // The development key is the workspace's, and its public half matches.
    assert_eq!(
        read("meta-picloud/files/verity-dev-INSECURE.seed"),
        read(picloud_image::sign::DEV_KEY)
    );
    let pk = std::fs::read(repo.join("meta-picloud/files/verity-dev-INSECURE.pub")).unwrap();
    assert_eq!(
        pk,
        picloud_image::sign::SigningKey::dev(&repo)
            .unwrap()
            .public_key()
            .to_vec()
    );

    // The README says plainly that the layer is not built.
    assert!(read("meta-picloud/README.md").contains("**This layer has never been built.**"));
}
