//! `/etc/picloud/release`: `key=value` lines written by the image builder
//! (`version`, `board`, `build_id`, …).

use std::collections::BTreeMap;

/// Parses `key=value` lines; blank lines, `#` comments and lines without `=` are skipped.
/// Values may be double-quoted.
pub fn parse_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

/// The status screen's build line: `build <id>, board <board>` from what is present.
pub fn build_line(release: &BTreeMap<String, String>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(v) = release.get("version") {
        parts.push(format!("image {v}"));
    }
    if let Some(b) = release.get("build_id").or_else(|| release.get("build")) {
        parts.push(format!("build {b}"));
    }
    if let Some(b) = release.get("board") {
        parts.push(format!("board {b}"));
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release() {
        let r = parse_release("# c\nversion=0.1.0\nboard = \"qemu-aarch64\"\nbuild_id=abc\njunk\n");
        assert_eq!(r.get("version").unwrap(), "0.1.0");
        assert_eq!(r.get("board").unwrap(), "qemu-aarch64");
        assert_eq!(
            build_line(&r).unwrap(),
            "image 0.1.0, build abc, board qemu-aarch64"
        );
        assert_eq!(build_line(&parse_release("")), None);
    }
}
