//! Debian packages (kernels, and the root filesystem's `debian-packages` recipes):
//! `apt-get download` through a private apt configuration (sources, lists and cache under the
//! cache directory; the host's apt is never touched), checked against the recipe's sha256,
//! cached, and unpacked with `dpkg-deb -x`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::recipe::{DebPackage, DebSource, KernelRecipe};
use crate::tools;

/// An unpacked kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// `uname -r`.
    pub release: String,
    /// The unpacked tree (`usr/lib/modules/<release>/...`).
    pub root: PathBuf,
    /// The kernel image (`vmlinuz`).
    pub image: PathBuf,
    /// `usr/lib/modules/<release>`.
    pub modules_dir: PathBuf,
    /// `usr/lib/modules/<release>/dtb` (may not exist).
    pub dtb_dir: PathBuf,
    /// `name=version sha256` of each package, for the manifest.
    pub packages: Vec<String>,
}

fn deb_file_name(p: &DebPackage, arch: &str) -> String {
    // apt-get download names files <name>_<version with ':' as %3a>_<arch>.deb
    format!("{}_{}_{}.deb", p.name, p.version.replace(':', "%3a"), arch)
}

struct PrivateApt {
    dir: PathBuf,
}

impl PrivateApt {
    fn new(cache: &Path, k: &DebSource) -> Result<PrivateApt> {
        let dir = cache.join("apt").join(format!("{}-{}", k.suite, k.arch));
        for d in ["lists/partial", "cache/archives/partial", "etc"] {
            std::fs::create_dir_all(dir.join(d))
                .with_context(|| format!("create {}", dir.join(d).display()))?;
        }
        let sources = format!(
            "deb [arch={} signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {} {} {}\n",
            k.arch, k.mirror, k.suite, k.component
        );
        std::fs::write(dir.join("etc/sources.list"), sources)
            .with_context(|| format!("write {}", dir.join("etc/sources.list").display()))?;
        Ok(PrivateApt { dir })
    }

    fn opts(&self, arch: &str) -> Vec<String> {
        let d = self.dir.display();
        vec![
            "-q".into(),
            "-o".into(),
            format!("Dir::Etc::SourceList={d}/etc/sources.list"),
            "-o".into(),
            "Dir::Etc::SourceParts=/dev/null".into(),
            "-o".into(),
            format!("Dir::State::Lists={d}/lists"),
            "-o".into(),
            format!("Dir::Cache={d}/cache"),
            "-o".into(),
            "Dir::State::status=/dev/null".into(),
            "-o".into(),
            format!("APT::Architecture={arch}"),
            "-o".into(),
            format!("APT::Architectures::={arch}"),
            "-o".into(),
            "APT::Sandbox::User=root".into(),
            "-o".into(),
            "Debug::NoLocking=1".into(),
        ]
    }

    fn update(&self, arch: &str) -> Result<()> {
        let mut c = tools::cmd("apt-get");
        c.args(self.opts(arch)).arg("update");
        tools::run(&mut c).context("apt-get update (private apt configuration)")?;
        Ok(())
    }

    fn candidate(&self, arch: &str, name: &str) -> Option<String> {
        let out = tools::cmd("apt-cache")
            .args(self.opts(arch))
            .args(["policy", &format!("{name}:{arch}")])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            l.trim()
                .strip_prefix("Candidate:")
                .map(|v| v.trim().to_string())
        })
    }
}

/// Makes sure every package of the kernel recipe `k` is in `cache/debs/`, with the pinned
/// sha256.
pub fn fetch(cache: &Path, k: &KernelRecipe) -> Result<Vec<PathBuf>> {
    fetch_debs(cache, &k.source())
}

/// Makes sure every package of `k` is in `cache/debs/`, with the pinned sha256.
pub fn fetch_debs(cache: &Path, k: &DebSource) -> Result<Vec<PathBuf>> {
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).with_context(|| format!("create {}", debs.display()))?;
    let mut missing = Vec::new();
    let mut files = Vec::new();
    for p in &k.packages {
        let f = debs.join(deb_file_name(p, &k.arch));
        if f.is_file() && crate::sha256_file(&f)? == p.sha256 {
            files.push(f);
        } else {
            let _ = std::fs::remove_file(&f);
            missing.push(p.clone());
            files.push(f);
        }
    }
    if missing.is_empty() {
        return Ok(files);
    }
    tools::require(&[("apt-get", "apt"), ("apt-cache", "apt")])?;
    let apt = PrivateApt::new(cache, k)?;
    eprintln!(
        "picloud-image: fetching {} package(s) of {} from {} {} with apt-get download",
        missing.len(),
        k.name,
        k.mirror,
        k.suite
    );
    apt.update(&k.arch)?;
    for p in &missing {
        let spec = format!("{}:{}={}", p.name, k.arch, p.version);
        let out = tools::cmd("apt-get")
            .args(apt.opts(&k.arch))
            .args(["download", &spec])
            .current_dir(&debs)
            .output()
            .with_context(|| format!("could not start apt-get download {spec}"))?;
        if !out.status.success() {
            let cand = apt
                .candidate(&k.arch, &p.name)
                .filter(|c| c != "(none)")
                .map(|c| format!("the mirror offers version {c}"))
                .unwrap_or_else(|| "the mirror no longer has this package at all".into());
            bail!(
                "Debian package {} version {} ({}) cannot be downloaded from {} {}: {}; \
                 update recipes/{}.toml (versions and sha256 from `apt-cache show`) and re-run \
                 the boot tests.\napt-get said: {}",
                p.name,
                p.version,
                k.arch,
                k.mirror,
                k.suite,
                cand,
                k.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let f = debs.join(deb_file_name(p, &k.arch));
        if !f.is_file() {
            bail!(
                "apt-get download {spec} succeeded but {} is not there",
                f.display()
            );
        }
        let got = crate::sha256_file(&f)?;
        if got != p.sha256 {
            let _ = std::fs::remove_file(&f);
            bail!(
                "Debian package {} {}: sha256 {got} does not match the pinned {} in recipes/{}.toml",
                p.name,
                p.version,
                p.sha256,
                k.name
            );
        }
    }
    Ok(files)
}

/// Fetches (if needed) and unpacks every package of `k` into one tree,
/// `cache/<folder>/<recipe name>/` (re-unpacked only when the pinned packages change).
/// Returns the tree and `name=version sha256` of each package.
pub fn unpack(cache: &Path, k: &DebSource, folder: &str) -> Result<(PathBuf, Vec<String>)> {
    let files = fetch_debs(cache, k)?;
    let stamp_text: String = k
        .packages
        .iter()
        .map(|p| format!("{}={} {}\n", p.name, p.version, p.sha256))
        .collect();
    let root = cache.join(folder).join(&k.name);
    let stamp = root.join(".picloud-unpacked");
    let fresh = std::fs::read_to_string(&stamp).ok().as_deref() == Some(stamp_text.as_str());
    if !fresh {
        tools::require(&[("dpkg-deb", "dpkg")])?;
        let tmp = cache.join(folder).join(format!("{}.tmp", k.name));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        for f in &files {
            tools::run(tools::cmd("dpkg-deb").arg("-x").arg(f).arg(&tmp))
                .with_context(|| format!("unpack {}", f.display()))?;
        }
        std::fs::write(tmp.join(".picloud-unpacked"), &stamp_text)?;
        let _ = std::fs::remove_dir_all(&root);
        std::fs::rename(&tmp, &root)
            .with_context(|| format!("rename {} -> {}", tmp.display(), root.display()))?;
    }
    Ok((root, stamp_text.lines().map(str::to_string).collect()))
}

/// Fetches (if needed) and unpacks the kernel of `k` under `cache/kernels/`.
pub fn prepare(cache: &Path, k: &KernelRecipe) -> Result<Kernel> {
    let (root, packages) = unpack(cache, &k.source(), "kernels")?;
    let modules_dir = root.join("usr/lib/modules").join(&k.kernel_release);
    let image = modules_dir.join("vmlinuz");
    if !image.is_file() {
        bail!(
            "recipe {}: {} is missing after unpacking (kernel_release wrong?)",
            k.name,
            image.display()
        );
    }
    Ok(Kernel {
        release: k.kernel_release.clone(),
        dtb_dir: modules_dir.join("dtb"),
        modules_dir,
        image,
        root,
        packages,
    })
}
