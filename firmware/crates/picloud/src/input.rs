//! Reads the `.picloud` files of an apply set from the paths given on the command line.

use std::path::{Path, PathBuf};

use anyhow::Result;
use picloud_lang::SourceFile;

use crate::UsageError;

/// The extension of PiCloud declaration files.
pub const EXTENSION: &str = "picloud";

/// Collects the files named by `paths`: a file is taken as is (whatever its extension); a
/// directory contributes every `*.picloud` file below it, skipping hidden directories, in
/// sorted order so that diagnostics and plans are deterministic.
///
/// Paths are shown as the user wrote them (`examples/photo-app/app.picloud`).
pub fn read_apply_set(paths: &[PathBuf]) -> Result<Vec<SourceFile>> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            UsageError(format!(
                "cannot read `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
        if meta.is_dir() {
            let before = found.len();
            walk(path, &mut found)?;
            if found.len() == before {
                return Err(UsageError(format!(
                    "`{}` holds no .{EXTENSION} files",
                    path.display()
                ))
                .into());
            }
        } else {
            found.push(path.clone());
        }
    }
    found.sort();
    found.dedup();
    let mut files = Vec::with_capacity(found.len());
    for path in found {
        let bytes = std::fs::read(&path).map_err(|e| {
            UsageError(format!(
                "cannot read `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            UsageError(format!(
                "`{}` is not UTF-8 text (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        files.push(SourceFile {
            path: display(&path),
            text,
        });
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        UsageError(format!(
            "cannot list `{}`: {}",
            dir.display(),
            io_reason(&e)
        ))
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            UsageError(format!(
                "cannot list `{}`: {}",
                dir.display(),
                io_reason(&e)
            ))
        })?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let file_type = entry.file_type().map_err(|e| {
            UsageError(format!(
                "cannot stat `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
        if file_type.is_dir() {
            if !hidden {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == EXTENSION) {
            out.push(path);
        }
    }
    Ok(())
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}
