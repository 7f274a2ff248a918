//! Sealing secrets (signing keys, the CA key) before they enter the log.
//!
//! ChaCha20-Poly1305 under the cluster key-encryption key (KEK, 32 bytes). The nonce is
//! passed in (the core has no randomness); the sealed form is `nonce(12) ‖ ciphertext ‖
//! tag(16)`, and the associated data binds it to its purpose (a key's kid, `ca`), so a
//! sealed blob cannot be moved to another slot. See `docs/identity.md` for what this does
//! and does not protect against.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};

/// Length of the KEK.
pub const KEK_LEN: usize = 32;

/// Why a sealed blob could not be opened or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Wrong key, wrong purpose, or the bytes were changed.
    #[error("the sealed secret does not open with this cluster key (wrong key or tampered)")]
    Open,
    /// Shorter than a nonce and a tag.
    #[error("the sealed secret is truncated")]
    Truncated,
    /// The cipher refused (should not happen).
    #[error("sealing failed")]
    Seal,
}

fn key(kek: &[u8; KEK_LEN]) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&CHACHA20_POLY1305, kek)
        .map(LessSafeKey::new)
        .map_err(|_| SealError::Seal)
}

/// Seals `plaintext` for `purpose` with a fresh `nonce` (never reuse one under a KEK).
pub fn seal(
    kek: &[u8; KEK_LEN],
    nonce: [u8; NONCE_LEN],
    purpose: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let mut buf = plaintext.to_vec();
    key(kek)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(purpose.as_bytes()),
            &mut buf,
        )
        .map_err(|_| SealError::Seal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Opens what [`seal`] made for `purpose`.
pub fn open(kek: &[u8; KEK_LEN], purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(SealError::Truncated);
    }
    let (n, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| SealError::Truncated)?;
    let mut buf = body.to_vec();
    let plain = key(kek)?
        .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buf)
        .map_err(|_| SealError::Open)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_tamper() {
        let kek = [7u8; 32];
        let sealed = seal(&kek, [1; 12], "kid-1", b"secret").unwrap();
        assert_eq!(open(&kek, "kid-1", &sealed).unwrap(), b"secret");
        assert_eq!(open(&[8u8; 32], "kid-1", &sealed), Err(SealError::Open));
        assert_eq!(open(&kek, "kid-2", &sealed), Err(SealError::Open));
        let mut t = sealed.clone();
        *t.last_mut().unwrap() ^= 1;
        assert_eq!(open(&kek, "kid-1", &t), Err(SealError::Open));
        assert_eq!(
            open(&kek, "kid-1", &sealed[..20]),
            Err(SealError::Truncated)
        );
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }
}
