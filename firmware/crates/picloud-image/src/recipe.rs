//! `recipes/<name>.toml`: where each component comes from, its pinned version and checksum,
//! and what it installs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// One pinned Debian package of a kernel recipe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebPackage {
    /// Package name without architecture.
    pub name: String,
    /// Exact Debian version.
    pub version: String,
    /// sha256 of the `.deb`.
    pub sha256: String,
}

/// One file a `debian-packages` recipe installs into the root filesystem.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInstall {
    /// Path inside the unpacked packages (a regular file, not a symlink).
    pub from: String,
    /// Path in the root filesystem (relative, no `..`).
    pub to: String,
}

/// Where a set of pinned Debian packages comes from (kernel and `debian-packages` recipes).
#[derive(Debug, Clone)]
pub struct DebSource {
    /// Recipe name.
    pub name: String,
    /// Mirror URL.
    pub mirror: String,
    /// Suite.
    pub suite: String,
    /// Component.
    pub component: String,
    /// Debian architecture.
    pub arch: String,
    /// Pinned packages.
    pub packages: Vec<DebPackage>,
}

/// A `debian-packages` recipe's fields, all present.
#[derive(Debug, Clone)]
pub struct PackagesRecipe {
    /// The packages.
    pub source: DebSource,
    /// The files it installs.
    pub files: Vec<FileInstall>,
}

/// Recipe kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Debian kernel packages (apt-get download).
    DebianKernel,
    /// Built from this workspace.
    Workspace,
    /// Pinned Debian packages (apt-get download) from which `[[file]]`s go into the root.
    DebianPackages,
}

/// A recipe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// File stem.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Where it comes from (for people).
    pub source: String,
    /// What it installs where (for people).
    pub installs: Vec<String>,
    /// Workspace recipes: the version, which must equal the workspace's.
    #[serde(default)]
    pub version: Option<String>,
    /// Kernel recipes: the Debian mirror.
    #[serde(default)]
    pub mirror: Option<String>,
    /// Kernel recipes: the suite (`trixie-backports`).
    #[serde(default)]
    pub suite: Option<String>,
    /// Kernel recipes: the component (`main`).
    #[serde(default)]
    pub component: Option<String>,
    /// Kernel recipes: the Debian architecture.
    #[serde(default)]
    pub arch: Option<String>,
    /// Kernel recipes: `uname -r` of the kernel (the `/lib/modules/` folder name).
    #[serde(default)]
    pub kernel_release: Option<String>,
    /// Kernel and debian-packages recipes: the pinned packages.
    #[serde(default)]
    pub package: Vec<DebPackage>,
    /// Debian-packages recipes: the files installed into the root filesystem.
    #[serde(default)]
    pub file: Vec<FileInstall>,
}

/// A kernel recipe's fields, all present.
#[derive(Debug, Clone)]
pub struct KernelRecipe {
    /// Recipe name.
    pub name: String,
    /// Mirror URL.
    pub mirror: String,
    /// Suite.
    pub suite: String,
    /// Component.
    pub component: String,
    /// Debian architecture.
    pub arch: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// Pinned packages.
    pub packages: Vec<DebPackage>,
}

impl KernelRecipe {
    /// Where its packages come from.
    pub fn source(&self) -> DebSource {
        DebSource {
            name: self.name.clone(),
            mirror: self.mirror.clone(),
            suite: self.suite.clone(),
            component: self.component.clone(),
            arch: self.arch.clone(),
            packages: self.packages.clone(),
        }
    }
}

fn safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && p.is_relative()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

impl Recipe {
    /// Reads `recipes/<name>.toml`.
    pub fn load(repo: &Path, name: &str) -> Result<Recipe> {
        if name.is_empty() || name.contains('/') || name.contains("..") {
            bail!("invalid recipe name {name:?}");
        }
        let file = repo.join("recipes").join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("read recipe {}", file.display()))?;
        let r: Recipe =
            toml::from_str(&text).with_context(|| format!("parse {}", file.display()))?;
        if r.name != name {
            bail!("{}: name = {:?}, expected {name:?}", file.display(), r.name);
        }
        for p in &r.package {
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "{}: package {}: sha256 must be 64 hex digits",
                    file.display(),
                    p.name
                );
            }
        }
        Ok(r)
    }

    /// The `debian-packages` fields, or an error naming the missing or invalid one.
    pub fn packages(&self) -> Result<PackagesRecipe> {
        if self.kind != Kind::DebianPackages {
            bail!("recipe {} is not a debian-packages recipe", self.name);
        }
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .with_context(|| format!("recipe {}: missing `{what}`", self.name))
        };
        if self.package.is_empty() {
            bail!("recipe {}: no [[package]]", self.name);
        }
        if self.file.is_empty() {
            bail!("recipe {}: no [[file]] to install", self.name);
        }
        for f in &self.file {
            if !safe_relative(&f.from) || !safe_relative(&f.to) {
                bail!(
                    "recipe {}: [[file]] {:?} -> {:?}: both must be relative paths without `..`",
                    self.name,
                    f.from,
                    f.to
                );
            }
        }
        Ok(PackagesRecipe {
            source: DebSource {
                name: self.name.clone(),
                mirror: need(&self.mirror, "mirror")?,
                suite: need(&self.suite, "suite")?,
                component: need(&self.component, "component")?,
                arch: need(&self.arch, "arch")?,
                packages: self.package.clone(),
            },
            files: self.file.clone(),
        })
    }

    /// The kernel fields, or an error naming the missing one.
    pub fn kernel(&self) -> Result<KernelRecipe> {
        if self.kind != Kind::DebianKernel {
            bail!("recipe {} is not a debian-kernel recipe", self.name);
        }
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .with_context(|| format!("recipe {}: missing `{what}`", self.name))
        };
        if self.package.is_empty() {
            bail!("recipe {}: no [[package]]", self.name);
        }
        Ok(KernelRecipe {
            name: self.name.clone(),
            mirror: need(&self.mirror, "mirror")?,
            suite: need(&self.suite, "suite")?,
            component: need(&self.component, "component")?,
            arch: need(&self.arch, "arch")?,
            kernel_release: need(&self.kernel_release, "kernel_release")?,
            packages: self.package.clone(),
        })
    }
}
