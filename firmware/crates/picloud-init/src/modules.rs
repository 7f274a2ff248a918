//! `/etc/picloud/modules`: the ordered list of kernel modules stage 1 loads.

/// One module to load, as listed (a path relative to `/lib/modules/<kver>/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEntry {
    /// The path as written, relative to the kernel's module directory.
    pub path: String,
    /// 1-based line number in the list, for error messages.
    pub line: usize,
    /// Whether the file is compressed (`.xz`, `.zst`, `.gz`): loaded with
    /// `MODULE_INIT_COMPRESSED_FILE` so the kernel decompresses it.
    pub compressed: bool,
}

/// Parses the list: one path per line; blank lines and `#` comments are ignored. Absolute
/// paths and `..` are refused (the list names files inside the module directory).
pub fn parse_module_list(text: &str) -> Result<Vec<ModuleEntry>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('/') || line.split('/').any(|c| c == "..") {
            return Err(format!(
                "/etc/picloud/modules line {}: {line:?} must be a path relative to /lib/modules/<kver>/",
                i + 1
            ));
        }
        let compressed = [".xz", ".zst", ".gz"].iter().any(|s| line.ends_with(s));
        out.push(ModuleEntry {
            path: line.to_owned(),
            line: i + 1,
            compressed,
        });
    }
    Ok(out)
}

/// The module's name as the kernel knows it (`kernel/drivers/virtio/virtio_pci.ko.xz` →
/// `virtio_pci`), for messages.
pub fn module_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list() {
        let l = parse_module_list(
            "# virtio\nkernel/drivers/virtio/virtio_pci.ko.xz\n\n  kernel/fs/erofs/erofs.ko  \nx.ko.zst\n",
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].path, "kernel/drivers/virtio/virtio_pci.ko.xz");
        assert!(l[0].compressed);
        assert_eq!(l[0].line, 2);
        assert!(!l[1].compressed);
        assert_eq!(l[1].line, 4);
        assert!(l[2].compressed);
        assert_eq!(module_name(&l[0].path), "virtio_pci");
    }

    #[test]
    fn refuses_escapes() {
        assert!(parse_module_list("/lib/x.ko")
            .unwrap_err()
            .contains("line 1"));
        assert!(parse_module_list("a\n../x.ko")
            .unwrap_err()
            .contains("line 2"));
    }
}
