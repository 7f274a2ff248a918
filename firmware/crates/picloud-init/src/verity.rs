//! dm-verity for the root slot: the signature check on the root hash, the verity table, and
//! the device-mapper ioctl buffers (`struct dm_ioctl` + `struct dm_target_spec`), built here
//! as plain bytes so they are tested without a kernel.

use crate::cmdline::VerityParams;
use ring::signature::{UnparsedPublicKey, ED25519};

/// Data and hash block size of the contract (`veritysetup format` defaults).
pub const BLOCK: u64 = 4096;

/// Why the root hash is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key file is not 32 raw bytes.
    #[error("the verity public key is {0} bytes, expected 32 (raw ed25519)")]
    BadKey(usize),
    /// The signature does not verify.
    #[error("the root hash signature does not verify against the built-in key")]
    Mismatch,
}

/// Checks `picloud.veritysig` over the ASCII lowercase root hash hex.
pub fn check_signature(
    public_key: &[u8],
    root_hash_hex: &str,
    signature: &[u8],
) -> Result<(), SignatureError> {
    if public_key.len() != 32 {
        return Err(SignatureError::BadKey(public_key.len()));
    }
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(root_hash_hex.as_bytes(), signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// The verity target parameters for `dev` (a block device path such as `/dev/vda5`).
///
/// `<version> <data dev> <hash dev> <data bs> <hash bs> <data blocks> <hash start block>
/// <alg> <digest> <salt> [opt args]`. The hash start skips the superblock that
/// `veritysetup format --hash-offset` writes at `hash_offset`.
///
/// Stage 1 first loads the table without options (a corrupted block is an EIO it can report)
/// and reads the whole slot once; then it swaps in the table with `restart_on_corruption`
/// (`restart = true`), so corruption met later resets the machine (a tried slot falls back)
/// instead of handing EIO to whichever program happened to read it.
pub fn table_params(dev: &str, v: &VerityParams, restart: bool) -> String {
    let salt = if v.salt.is_empty() {
        "-".to_owned()
    } else {
        crate::encoding::hex_encode(&v.salt)
    };
    format!(
        "1 {dev} {dev} {BLOCK} {BLOCK} {} {} sha256 {} {salt}{}",
        v.data_blocks,
        v.hash_offset / BLOCK + 1,
        crate::encoding::hex_encode(&v.root_hash),
        if restart {
            " 1 restart_on_corruption"
        } else {
            ""
        },
    )
}

/// Length of the verity target in 512-byte sectors.
pub fn table_sectors(v: &VerityParams) -> u64 {
    v.data_blocks.saturating_mul(BLOCK / 512)
}

/// `sizeof(struct dm_ioctl)`.
pub const DM_IOCTL_SIZE: usize = 312;
const DM_TARGET_SPEC_SIZE: usize = 40;
/// `DM_READONLY_FLAG`.
pub const DM_READONLY_FLAG: u32 = 1;
/// `_IOWR(0xfd, 3, struct dm_ioctl)`.
pub const DM_DEV_CREATE: u64 = ioctl_iowr(3);
/// `_IOWR(0xfd, 6, struct dm_ioctl)`: without `DM_SUSPEND_FLAG` it resumes.
pub const DM_DEV_SUSPEND: u64 = ioctl_iowr(6);
/// `_IOWR(0xfd, 9, struct dm_ioctl)`.
pub const DM_TABLE_LOAD: u64 = ioctl_iowr(9);
/// `_IOWR(0xfd, 4, struct dm_ioctl)`.
pub const DM_DEV_REMOVE: u64 = ioctl_iowr(4);

const fn ioctl_iowr(nr: u64) -> u64 {
    (3 << 30) | ((DM_IOCTL_SIZE as u64) << 16) | (0xfd << 8) | nr
}

/// A `struct dm_ioctl` header for device `name` (interface version 4.0.0), `extra` bytes of
/// payload after it. Names longer than 127 bytes are an error.
pub fn dm_header(name: &str, flags: u32, extra: usize) -> Result<Vec<u8>, String> {
    if name.len() >= 128 || name.is_empty() {
        return Err(format!("device-mapper name {name:?} must be 1..127 bytes"));
    }
    let total = DM_IOCTL_SIZE + extra;
    let mut b = vec![0u8; total];
    put_u32(&mut b, 0, 4);
    put_u32(&mut b, 4, 0);
    put_u32(&mut b, 8, 0);
    put_u32(&mut b, 12, total as u32);
    put_u32(&mut b, 16, DM_IOCTL_SIZE as u32);
    put_u32(&mut b, 28, flags);
    if let Some(dst) = b.get_mut(48..48 + name.len()) {
        dst.copy_from_slice(name.as_bytes());
    }
    Ok(b)
}

/// A `DM_TABLE_LOAD` buffer with one target.
pub fn dm_table_load(
    name: &str,
    start: u64,
    sectors: u64,
    target: &str,
    params: &str,
) -> Result<Vec<u8>, String> {
    if target.len() >= 16 {
        return Err(format!("target type {target:?} is too long"));
    }
    // The parameter string is NUL-terminated and the spec padded to 8 bytes.
    let spec_len = (DM_TARGET_SPEC_SIZE + params.len() + 1).div_ceil(8) * 8;
    let mut b = dm_header(name, DM_READONLY_FLAG, spec_len)?;
    put_u32(&mut b, 20, 1); // target_count
    let s = DM_IOCTL_SIZE;
    put_u64(&mut b, s, start);
    put_u64(&mut b, s + 8, sectors);
    put_u32(&mut b, s + 16, 0); // status
    put_u32(&mut b, s + 20, spec_len as u32); // next
    if let Some(dst) = b.get_mut(s + 24..s + 24 + target.len()) {
        dst.copy_from_slice(target.as_bytes());
    }
    let p = s + DM_TARGET_SPEC_SIZE;
    if let Some(dst) = b.get_mut(p..p + params.len()) {
        dst.copy_from_slice(params.as_bytes());
    }
    Ok(b)
}

/// The `dev` field of a returned `struct dm_ioctl` as (major, minor).
pub fn dm_dev(buf: &[u8]) -> Option<(u32, u32)> {
    let dev = u64::from_ne_bytes(buf.get(40..48)?.try_into().ok()?);
    // huge_encode_dev: minor low 8 bits | major << 8 | minor high bits << 12 (12-bit major).
    let major = ((dev >> 8) & 0xfff) as u32;
    let minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32;
    Some((major, minor))
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    if let Some(dst) = b.get_mut(at..at + 4) {
        dst.copy_from_slice(&v.to_ne_bytes());
    }
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    if let Some(dst) = b.get_mut(at..at + 8) {
        dst.copy_from_slice(&v.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn params() -> VerityParams {
        VerityParams {
            root_hash: vec![0xab; 32],
            root_hash_hex: "ab".repeat(32),
            salt: vec![1, 2],
            data_blocks: 45,
            hash_offset: 45 * 4096,
        }
    }

    #[test]
    fn table_matches_what_booted_in_the_probe() {
        let t = table_params("/dev/vda5", &params(), true);
        assert_eq!(
            t,
            format!(
                "1 /dev/vda5 /dev/vda5 4096 4096 45 46 sha256 {} 0102 1 restart_on_corruption",
                "ab".repeat(32)
            )
        );
        assert_eq!(table_sectors(&params()), 360);
        let mut p = params();
        p.salt.clear();
        assert!(table_params("/dev/x", &p, true).contains(" - 1 restart"));
        assert!(table_params("/dev/x", &p, false).ends_with(" -"));
    }

    #[test]
    fn signature_checks() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let hash = "ab".repeat(32);
        let sig = kp.sign(hash.as_bytes());
        let pk = kp.public_key().as_ref();
        assert_eq!(check_signature(pk, &hash, sig.as_ref()), Ok(()));
        assert_eq!(
            check_signature(pk, &"ac".repeat(32), sig.as_ref()),
            Err(SignatureError::Mismatch)
        );
        let mut bad = sig.as_ref().to_vec();
        bad[3] ^= 1;
        assert_eq!(
            check_signature(pk, &hash, &bad),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check_signature(&pk[..31], &hash, sig.as_ref()),
            Err(SignatureError::BadKey(31))
        );
    }

    #[test]
    fn ioctl_numbers_match_linux() {
        // From <linux/dm-ioctl.h> on x86_64/aarch64: DM_DEV_CREATE = 0xc138fd03.
        assert_eq!(DM_DEV_CREATE, 0xc138_fd03);
        assert_eq!(DM_DEV_SUSPEND, 0xc138_fd06);
        assert_eq!(DM_TABLE_LOAD, 0xc138_fd09);
    }

    #[test]
    fn table_load_layout() {
        let b = dm_table_load("picloud-root", 0, 360, "verity", "abc").unwrap();
        assert_eq!(b.len(), 312 + 48);
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), 4);
        assert_eq!(u32::from_ne_bytes(b[12..16].try_into().unwrap()), 360);
        assert_eq!(u32::from_ne_bytes(b[16..20].try_into().unwrap()), 312);
        assert_eq!(u32::from_ne_bytes(b[20..24].try_into().unwrap()), 1);
        assert_eq!(&b[48..60], b"picloud-root");
        assert_eq!(b[60], 0);
        assert_eq!(u64::from_ne_bytes(b[320..328].try_into().unwrap()), 360);
        assert_eq!(&b[336..342], b"verity");
        assert_eq!(&b[352..355], b"abc");
        assert_eq!(b[355], 0);
        assert!(dm_header(&"x".repeat(128), 0, 0).is_err());
        assert!(dm_table_load("n", 0, 1, "a-very-long-target", "").is_err());
    }

    #[test]
    fn decodes_huge_encoded_dev() {
        let mut b = vec![0u8; 312];
        // major 254, minor 0x123 → (0x23) | (254 << 8) | (0x100 << 12)
        let dev: u64 = 0x23 | (254 << 8) | (0x100 << 12);
        b[40..48].copy_from_slice(&dev.to_ne_bytes());
        assert_eq!(dm_dev(&b), Some((254, 0x123)));
    }
}
