//! A reproducible newc ("070701") cpio writer for the initramfs: entries sorted by path,
//! parents before children, uid/gid 0, one fixed mtime, sequential inode numbers.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory with its permission bits.
    Dir(u32),
    /// A regular file: permission bits and contents.
    File(u32, Vec<u8>),
    /// A character device: permission bits, major, minor.
    CharDev(u32, u32, u32),
}

/// An archive being assembled. Paths are relative, without a leading `/`.
#[derive(Debug, Default, Clone)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Archive {
        Archive::default()
    }

    fn add_parents(&mut self, path: &str) {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for p in parts.iter().take(parts.len().saturating_sub(1)) {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(p);
            self.entries.entry(acc.clone()).or_insert(Entry::Dir(0o755));
        }
    }

    fn check(path: &str) -> Result<()> {
        if path.is_empty()
            || path.starts_with('/')
            || path.ends_with('/')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            bail!("cpio: invalid path {path:?}");
        }
        Ok(())
    }

    /// Adds a directory (and its parents).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        Self::check(path)?;
        self.add_parents(path);
        self.entries.insert(path.to_string(), Entry::Dir(mode));
        Ok(())
    }

    /// Adds a regular file (and its parents).
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<()> {
        Self::check(path)?;
        self.add_parents(path);
        self.entries
            .insert(path.to_string(), Entry::File(mode, data));
        Ok(())
    }

    /// Adds a character device node (and its parents).
    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<()> {
        Self::check(path)?;
        self.add_parents(path);
        self.entries
            .insert(path.to_string(), Entry::CharDev(mode, major, minor));
        Ok(())
    }

    /// The paths, in archive order.
    pub fn paths(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// Serialises the archive with every mtime set to `mtime`.
    pub fn to_bytes(&self, mtime: u64) -> Vec<u8> {
        let mut out = Vec::new();
        // BTreeMap order puts "a" before "a/b" and "a-b" before "a/b"; parents always sort
        // before their children because a prefix sorts first.
        for (ino, (path, e)) in (1u32..).zip(self.entries.iter()) {
            let (mode, data, nlink, rmaj, rmin): (u32, &[u8], u32, u32, u32) = match e {
                Entry::Dir(m) => (0o040000 | (m & 0o7777), &[], 2, 0, 0),
                Entry::File(m, d) => (0o100000 | (m & 0o7777), d.as_slice(), 1, 0, 0),
                Entry::CharDev(m, ma, mi) => (0o020000 | (m & 0o7777), &[], 1, *ma, *mi),
            };
            write_header(
                &mut out,
                ino,
                mode,
                nlink,
                mtime,
                data.len(),
                rmaj,
                rmin,
                path,
            );
            out.extend_from_slice(data);
            pad4(&mut out);
        }
        write_header(&mut out, 0, 0, 1, 0, 0, 0, 0, "TRAILER!!!");
        // Pad the archive to 512 bytes like GNU cpio does.
        while !out.len().is_multiple_of(512) {
            out.push(0);
        }
        out
    }
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[allow(clippy::too_many_arguments)]
fn write_header(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u64,
    size: usize,
    rdevmajor: u32,
    rdevminor: u32,
    name: &str,
) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        mtime as u32,
        size as u32,
        0, // devmajor
        0, // devminor
        rdevmajor,
        rdevminor,
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn parents_first_and_trailer() {
        let mut a = Archive::new();
        a.file("etc/picloud/initramfs", 0o644, vec![]).unwrap();
        a.file("init", 0o755, b"x".to_vec()).unwrap();
        a.char_dev("dev/console", 0o600, 5, 1).unwrap();
        assert_eq!(
            a.paths(),
            vec![
                "dev",
                "dev/console",
                "etc",
                "etc/picloud",
                "etc/picloud/initramfs",
                "init"
            ]
        );
        let b = a.to_bytes(1_700_000_000);
        assert!(b.starts_with(b"070701"));
        assert_eq!(b.len() % 512, 0);
        let s = String::from_utf8_lossy(&b);
        assert!(s.contains("TRAILER!!!"));
        // Same input, same bytes.
        assert_eq!(b, a.to_bytes(1_700_000_000));
        assert_ne!(b, a.to_bytes(1));
    }

    #[test]
    fn rejects_bad_paths() {
        let mut a = Archive::new();
        assert!(a.file("/abs", 0o644, vec![]).is_err());
        assert!(a.file("a/../b", 0o644, vec![]).is_err());
        assert!(a.dir("", 0o755).is_err());
    }

    /// The archive is readable by GNU cpio when it is installed.
    #[test]
    fn gnu_cpio_lists_it() {
        let Some(cpio) = crate::tools::find("cpio") else {
            eprintln!("skipped: cpio (Debian package cpio) is not installed");
            return;
        };
        let mut a = Archive::new();
        a.file("etc/picloud/verity.pub", 0o644, vec![7; 32])
            .unwrap();
        a.file("init", 0o755, b"#!".to_vec()).unwrap();
        let bytes = a.to_bytes(0);
        let mut child = std::process::Command::new(cpio)
            .args(["-t", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let list = String::from_utf8(out.stdout).unwrap();
        assert_eq!(list, "etc\netc/picloud\netc/picloud/verity.pub\ninit\n");
    }
}
