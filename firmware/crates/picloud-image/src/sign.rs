//! The verity root-hash signature: ed25519 (ring) over the ASCII lowercase root hash hex,
//! base64 (standard alphabet, padded) on the kernel command line; the 32-byte raw public key
//! goes into the initramfs as `/etc/picloud/verity.pub`.
//!
//! Development builds use `image/keys/verity-dev-INSECURE.seed`, a seed committed to the
//! repository: **anyone can sign with it**. Real builds pass `--signing-key FILE`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ring::signature::{Ed25519KeyPair, KeyPair};

/// Where the insecure development key lives, relative to the repository.
pub const DEV_KEY: &str = "image/keys/verity-dev-INSECURE.seed";

/// A loaded signing key.
#[derive(Debug)]
pub struct SigningKey {
    pair: Ed25519KeyPair,
    /// The file it came from.
    pub path: PathBuf,
    /// True for the committed development key.
    pub insecure_dev_key: bool,
}

impl SigningKey {
    /// Loads a key file: 64 hex digits (a raw 32-byte seed, comments with `#` allowed) or a
    /// PKCS#8 v2 DER document as written by `ring::signature::Ed25519KeyPair::generate_pkcs8`.
    pub fn load(path: &Path, insecure_dev_key: bool) -> Result<SigningKey> {
        let raw =
            std::fs::read(path).with_context(|| format!("read signing key {}", path.display()))?;
        let text: String = String::from_utf8_lossy(&raw)
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let pair = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let seed = unhex(&text)?;
            Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| {
                anyhow::anyhow!("signing key {}: bad ed25519 seed: {e}", path.display())
            })?
        } else {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&raw).map_err(|e| {
                anyhow::anyhow!(
                    "signing key {}: neither 64 hex digits (an ed25519 seed) nor an ed25519 PKCS#8 document: {e}",
                    path.display()
                )
            })?
        };
        Ok(SigningKey {
            pair,
            path: path.to_path_buf(),
            insecure_dev_key,
        })
    }

    /// The committed development key under `repo`.
    pub fn dev(repo: &Path) -> Result<SigningKey> {
        SigningKey::load(&repo.join(DEV_KEY), true)
    }

    /// The 32-byte raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        let pk = self.pair.public_key().as_ref();
        if pk.len() == 32 {
            k.copy_from_slice(pk);
        }
        k
    }

    /// Signs the root hash (lowercase hex ASCII); returns base64 (standard, padded).
    pub fn sign_roothash(&self, roothash_hex: &str) -> String {
        let msg = roothash_hex.to_ascii_lowercase();
        base64(self.pair.sign(msg.as_bytes()).as_ref())
    }
}

/// Verifies `sig_b64` over `roothash_hex` with a raw public key (used by the tests).
pub fn verify_roothash(public_key: &[u8], roothash_hex: &str, sig_b64: &str) -> Result<()> {
    let sig = unbase64(sig_b64)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(roothash_hex.to_ascii_lowercase().as_bytes(), &sig)
        .map_err(|_| anyhow::anyhow!("root hash signature does not verify"))
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("odd number of hex digits");
    }
    (0..s.len() / 2)
        .map(|i| {
            s.get(2 * i..2 * i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .context("not hex")
        })
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64.
pub fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(B64.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard padded base64.
pub fn unbase64(s: &str) -> Result<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(4) {
        bail!("base64 length {} is not a multiple of 4", s.len());
    }
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for &c in chunk {
            let v = match c {
                b'=' => {
                    pad += 1;
                    0
                }
                _ => B64
                    .iter()
                    .position(|&x| x == c)
                    .with_context(|| format!("invalid base64 character {:?}", char::from(c)))?
                    as u32,
            };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(bytes.get(..3 - pad.min(2)).unwrap_or_default());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn base64_round_trip_and_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        for n in 0..70u8 {
            let d: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(unbase64(&base64(&d)).unwrap(), d);
        }
        assert!(unbase64("Zm9").is_err());
        assert!(unbase64("Zm9*").is_err());
    }

    #[test]
    fn dev_key_signs_and_verifies() {
        let k = SigningKey::dev(&crate::repo_root()).unwrap();
        assert!(k.insecure_dev_key);
        let rh = "ab".repeat(32);
        let sig = k.sign_roothash(&rh);
        assert_eq!(unbase64(&sig).unwrap().len(), 64);
        verify_roothash(&k.public_key(), &rh, &sig).unwrap();
        assert!(verify_roothash(&k.public_key(), &"cd".repeat(32), &sig).is_err());
    }

    #[test]
    fn bad_key_file_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("picloud-image-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("k");
        std::fs::write(&f, "not a key").unwrap();
        let e = SigningKey::load(&f, false).unwrap_err().to_string();
        assert!(e.contains("neither 64 hex digits"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
