//! `<data>/bootstrap-code` (format: `picloud_init::bootstrap`): the node's current bootstrap
//! code for PID 1's console status screen. Written (mode 0600, temp file + fsync + rename +
//! directory fsync) when this node issues a code — at identity init and through
//! `picloud cluster bootstrap-code` — and replaced by `state=administrator` once a person
//! is an administrator (the code is spent or no longer accepted). The expiry is the one the
//! committed `BootstrapCodeIssued` event carries; until the local state has it, this node's
//! clock plus the bootstrap lifetime stands in.
//!
//! The data directory is registered once per process by [`enable`] (the node's local
//! administration socket does it); [`issued`] does nothing before that.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use picloud_http::identity::digest;
use picloud_http::{Backend, Identity};
use picloud_init::bootstrap::{BootstrapFile, FILE};

static PATH: OnceLock<PathBuf> = OnceLock::new();

/// Registers `data` as the directory of the file and starts the task that marks it once
/// an administrator exists (and corrects the expiry to the committed one).
pub fn enable(data: &Path, backend: Arc<dyn Backend>) {
    if PATH.set(data.join(FILE)).is_err() {
        return;
    }
    tokio::spawn(async move {
        loop {
            if let Some(path) = PATH.get() {
                refresh(path, backend.as_ref());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

/// Records a code this node has just issued (committed).
pub fn issued(backend: &dyn Backend, identity: &Identity, code: &str) {
    let Some(path) = PATH.get() else { return };
    let expires = committed_expiry(backend, code).or_else(|| {
        identity.now().ok().map(|t| {
            t.unix_millis()
                .saturating_add(picloud_iam::decide::BOOTSTRAP_TTL_SECS.saturating_mul(1000))
        })
    });
    let Some(expires_unix_ms) = expires else {
        eprintln!("warning: {}: the clock is unreadable", path.display());
        return;
    };
    let file = BootstrapFile::Issued {
        code: code.to_owned(),
        expires_unix_ms,
    };
    store(path, &file);
}

fn committed_expiry(backend: &dyn Backend, code: &str) -> Option<i64> {
    backend
        .iam()
        .bootstrap
        .get(&digest(code))
        .map(|c| c.expires.unix_millis())
}

/// One check: an administrator exists → `state=administrator`; a recorded code whose
/// committed expiry differs → rewritten with it.
fn refresh(path: &Path, backend: &dyn Backend) {
    let current = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| BootstrapFile::parse(&t).ok());
    let want = if backend.iam().has_admin() {
        Some(BootstrapFile::Administrator)
    } else if let Some(BootstrapFile::Issued {
        code,
        expires_unix_ms,
    }) = &current
    {
        committed_expiry(backend, code)
            .filter(|e| e != expires_unix_ms)
            .map(|e| BootstrapFile::Issued {
                code: code.clone(),
                expires_unix_ms: e,
            })
    } else {
        None
    };
    if let Some(want) = want {
        if current.as_ref() != Some(&want) {
            store(path, &want);
        }
    }
}

fn store(path: &Path, file: &BootstrapFile) {
    if let Err(e) = write_atomic(path, file.encode().as_bytes()) {
        eprintln!("warning: write {}: {e}", path.display());
    }
}

/// Temp file (0600) + fsync + rename + fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_atomically_and_private() {
        let dir =
            std::env::temp_dir().join(format!("picloud-bootstrap-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE);
        let file = BootstrapFile::Issued {
            code: "BCDF-GHJK".into(),
            expires_unix_ms: 1_795_817_700_000,
        };
        write_atomic(&path, file.encode().as_bytes()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(BootstrapFile::parse(&text), Ok(file));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!dir.join("bootstrap-code.tmp").exists());
        write_atomic(&path, BootstrapFile::Administrator.encode().as_bytes()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            BootstrapFile::parse(&text),
            Ok(BootstrapFile::Administrator)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
