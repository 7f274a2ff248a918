//! The kernel command line keys of the boot contract (`docs/firmware.md`, "Boot contract").
//!
//! ```text
//! picloud.slot=a|b  picloud.rootpart=5|6  picloud.datapart=7
//! picloud.verity=<roothash hex>,<salt hex>,<data_blocks>,<hash_offset_bytes>
//! picloud.veritysig=<base64 ed25519 signature over the ASCII lowercase root hash hex>
//! picloud.console=<text>   (optional)
//! ```
//!
//! Unknown keys are ignored. Stage 1 needs every key but `console`; stage 2 needs only the
//! slot and the data partition, so a missing verity key there is not an error.

use crate::encoding::{base64_decode, hex_decode};

/// Which root slot the firmware booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Slot A: boot partition p2, root p5.
    A,
    /// Slot B: boot partition p3, root p6.
    B,
}

impl Slot {
    /// `a` or `b`, as on the command line and in the console markers.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The dm-verity geometry of the root slot (sha256, 4096-byte data and hash blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityParams {
    /// The root hash, 32 bytes.
    pub root_hash: Vec<u8>,
    /// The root hash as it appeared (lowercase hex): the signed message.
    pub root_hash_hex: String,
    /// The salt (any length, may be empty).
    pub salt: Vec<u8>,
    /// Number of 4096-byte data blocks (the erofs image).
    pub data_blocks: u64,
    /// Byte offset of the hash area (verity superblock first) in the partition; 4096-aligned.
    pub hash_offset: u64,
}

/// A command line key that is missing or does not parse: says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    /// A required key is absent.
    #[error("the kernel command line has no {0}=")]
    Missing(&'static str),
    /// A key is present but its value is wrong.
    #[error("{key}={value:?} on the kernel command line: {why}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Everything the boot contract puts on the command line. Each field is `Err` when the key
/// is missing or invalid, so each stage asks only for what it needs.
#[derive(Debug, Clone)]
pub struct BootParams {
    /// `picloud.slot`.
    pub slot: Result<Slot, CmdlineError>,
    /// `picloud.rootpart`.
    pub root_part: Result<u32, CmdlineError>,
    /// `picloud.datapart` (default 7 when absent).
    pub data_part: Result<u32, CmdlineError>,
    /// `picloud.verity`.
    pub verity: Result<VerityParams, CmdlineError>,
    /// `picloud.veritysig`, decoded (64 bytes).
    pub verity_sig: Result<Vec<u8>, CmdlineError>,
    /// `picloud.console`: free text shown on the status screen.
    pub console_text: Option<String>,
    /// `picloud.listen`: the node's `--listen` (default [`DEFAULT_NODE_LISTEN`]).
    pub node_listen: String,
    /// `picloud.api`: the node's `--api` (default [`DEFAULT_NODE_API`]).
    pub node_api: String,
    /// `picloud.tryboot=0|1`: the QEMU A/B stand-in's report of a trial boot (a Pi reports
    /// it in the device tree instead).
    pub tryboot: Option<bool>,
    /// `picloud.test.hang=<secs>`: boot-test hook; PID 1 stops petting the watchdog and
    /// hangs this long after `PICLOUD-INIT-READY`.
    pub test_hang: Option<u64>,
    /// `picloud.watchdog=<secs>`: the watchdog timeout PID 1 asks for (default 15 s).
    pub watchdog_secs: Option<u64>,
    /// `picloud.test.mem=<secs>`: measurement hook; PID 1 prints a `PICLOUD-MEM` line with
    /// its own and the node's resident memory this often.
    pub test_mem_secs: Option<u64>,
}

/// The node's peer/client listener: loopback only until mTLS exists (the node refuses others).
pub const DEFAULT_NODE_LISTEN: &str = "127.0.0.1:7070";
/// The node's HTTPS API, on every address.
pub const DEFAULT_NODE_API: &str = "0.0.0.0:8443";

fn find<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    // The last occurrence wins, as with the kernel's own parameters.
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .next_back()
}

fn invalid(key: &'static str, value: &str, why: impl Into<String>) -> CmdlineError {
    CmdlineError::Invalid {
        key,
        value: value.to_owned(),
        why: why.into(),
    }
}

impl BootParams {
    /// Parses `/proc/cmdline`. Never fails as a whole: each key carries its own result.
    pub fn parse(cmdline: &str) -> BootParams {
        const SLOT: &str = "picloud.slot";
        const ROOT: &str = "picloud.rootpart";
        const DATA: &str = "picloud.datapart";
        const VERITY: &str = "picloud.verity";
        const SIG: &str = "picloud.veritysig";
        let slot = match find(cmdline, SLOT) {
            None => Err(CmdlineError::Missing(SLOT)),
            Some("a") | Some("A") => Ok(Slot::A),
            Some("b") | Some("B") => Ok(Slot::B),
            Some(v) => Err(invalid(SLOT, v, "expected a or b")),
        };
        let part = |key: &'static str| -> Result<u32, CmdlineError> {
            let v = find(cmdline, key).ok_or(CmdlineError::Missing(key))?;
            match v.parse::<u32>() {
                Ok(n) if (1..=64).contains(&n) => Ok(n),
                _ => Err(invalid(key, v, "expected a partition number 1..64")),
            }
        };
        let root_part = part(ROOT);
        let data_part = match find(cmdline, DATA) {
            None => Ok(7),
            Some(_) => part(DATA),
        };
        let verity = match find(cmdline, VERITY) {
            None => Err(CmdlineError::Missing(VERITY)),
            Some(v) => parse_verity(v).map_err(|why| invalid(VERITY, v, why)),
        };
        let verity_sig = match find(cmdline, SIG) {
            None => Err(CmdlineError::Missing(SIG)),
            Some(v) => match base64_decode(v) {
                Ok(b) if b.len() == 64 => Ok(b),
                Ok(b) => Err(invalid(
                    SIG,
                    v,
                    format!("an ed25519 signature is 64 bytes, this is {}", b.len()),
                )),
                Err(e) => Err(invalid(SIG, v, e)),
            },
        };
        BootParams {
            slot,
            root_part,
            data_part,
            verity,
            verity_sig,
            console_text: find(cmdline, "picloud.console").map(str::to_owned),
            node_listen: find(cmdline, "picloud.listen")
                .unwrap_or(DEFAULT_NODE_LISTEN)
                .to_owned(),
            node_api: find(cmdline, "picloud.api")
                .unwrap_or(DEFAULT_NODE_API)
                .to_owned(),
            tryboot: match find(cmdline, "picloud.tryboot") {
                Some("1") => Some(true),
                Some("0") => Some(false),
                _ => None,
            },
            test_hang: find(cmdline, "picloud.test.hang").and_then(|v| v.parse().ok()),
            test_mem_secs: find(cmdline, "picloud.test.mem")
                .and_then(|v| v.parse().ok())
                .filter(|s| *s > 0),
            watchdog_secs: find(cmdline, "picloud.watchdog")
                .and_then(|v| v.parse().ok())
                .filter(|s| (1..=3600).contains(s)),
        }
    }
}

fn parse_verity(v: &str) -> Result<VerityParams, String> {
    let parts: Vec<&str> = v.split(',').collect();
    let [hash, salt, blocks, offset] = parts.as_slice() else {
        return Err(format!(
            "expected 4 comma-separated fields <roothash>,<salt>,<data_blocks>,<hash_offset>, got {}",
            parts.len()
        ));
    };
    if hash.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("the root hash must be lowercase hex".into());
    }
    let root_hash = hex_decode(hash).map_err(|e| format!("root hash: {e}"))?;
    if root_hash.len() != 32 {
        return Err(format!(
            "root hash: a sha256 hash is 32 bytes, this is {}",
            root_hash.len()
        ));
    }
    let salt_bytes = if *salt == "-" {
        Vec::new()
    } else {
        hex_decode(salt).map_err(|e| format!("salt: {e}"))?
    };
    let data_blocks: u64 = blocks
        .parse()
        .map_err(|_| format!("data_blocks {blocks:?} is not a number"))?;
    if data_blocks == 0 {
        return Err("data_blocks is 0".into());
    }
    let hash_offset: u64 = offset
        .parse()
        .map_err(|_| format!("hash_offset {offset:?} is not a number"))?;
    if !hash_offset.is_multiple_of(4096) {
        return Err(format!(
            "hash_offset {hash_offset} is not a multiple of 4096"
        ));
    }
    if hash_offset < data_blocks.saturating_mul(4096) {
        return Err(format!(
            "hash_offset {hash_offset} lies inside the {data_blocks} data blocks"
        ));
    }
    Ok(VerityParams {
        root_hash,
        root_hash_hex: (*hash).to_owned(),
        salt: salt_bytes,
        data_blocks,
        hash_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "1512c00cd639aa0b8f0c2e1a6b1f6c0e9d4f1a2b3c4d5e6f708192a3b4c5d6e7";

    fn sig_b64() -> String {
        crate::encoding::base64_encode(&[7u8; 64])
    }

    #[test]
    fn parses_the_contract_keys() {
        let line = format!(
            "console=ttyAMA0 panic=-1 picloud.slot=b picloud.rootpart=6 picloud.datapart=7 \
             picloud.verity={HASH},00ff,45,188416 picloud.veritysig={} picloud.console=hello quiet",
            sig_b64()
        );
        let p = BootParams::parse(&line);
        assert_eq!(p.slot, Ok(Slot::B));
        assert_eq!(p.root_part, Ok(6));
        assert_eq!(p.data_part, Ok(7));
        let v = p.verity.unwrap();
        assert_eq!(v.root_hash.len(), 32);
        assert_eq!(v.root_hash_hex, HASH);
        assert_eq!(v.salt, vec![0, 255]);
        assert_eq!(v.data_blocks, 45);
        assert_eq!(v.hash_offset, 188416);
        assert_eq!(p.verity_sig.unwrap(), vec![7u8; 64]);
        assert_eq!(p.console_text.as_deref(), Some("hello"));
        assert_eq!(p.node_listen, DEFAULT_NODE_LISTEN);
        assert_eq!(p.node_api, DEFAULT_NODE_API);
    }

    #[test]
    fn missing_and_invalid_keys_say_which() {
        let p = BootParams::parse("console=ttyS0 picloud.slot=c picloud.rootpart=x");
        assert_eq!(
            p.slot.unwrap_err().to_string(),
            "picloud.slot=\"c\" on the kernel command line: expected a or b"
        );
        assert!(p
            .root_part
            .unwrap_err()
            .to_string()
            .contains("partition number"));
        assert_eq!(p.data_part, Ok(7), "datapart defaults to 7");
        assert_eq!(
            p.verity.unwrap_err(),
            CmdlineError::Missing("picloud.verity")
        );
        assert_eq!(
            p.verity_sig.unwrap_err().to_string(),
            "the kernel command line has no picloud.veritysig="
        );
    }

    #[test]
    fn verity_field_errors() {
        for (value, needle) in [
            (format!("{HASH},00,45"), "4 comma-separated"),
            (format!("{},00,45,188416", HASH.to_uppercase()), "lowercase"),
            ("abcd,00,45,188416".to_owned(), "32 bytes"),
            (format!("{HASH},0g,45,188416"), "salt"),
            (format!("{HASH},00,x,188416"), "data_blocks"),
            (format!("{HASH},00,45,100"), "multiple of 4096"),
            (format!("{HASH},00,45,4096"), "inside"),
            (format!("{HASH},00,0,4096"), "is 0"),
        ] {
            let p = BootParams::parse(&format!("picloud.verity={value}"));
            let e = p.verity.unwrap_err().to_string();
            assert!(e.contains(needle), "{value}: {e}");
        }
        let p = BootParams::parse(&format!("picloud.verity={HASH},-,1,4096"));
        assert!(p.verity.unwrap().salt.is_empty());
    }

    #[test]
    fn signature_must_be_64_bytes_of_base64() {
        let p = BootParams::parse("picloud.veritysig=AAAA");
        assert!(p.verity_sig.unwrap_err().to_string().contains("64 bytes"));
        let p = BootParams::parse("picloud.veritysig=@@@@");
        assert!(p.verity_sig.is_err());
    }

    #[test]
    fn last_occurrence_wins_and_unknown_keys_are_ignored() {
        let p = BootParams::parse("picloud.slot=a picloud.frobnicate=1 picloud.slot=b");
        assert_eq!(p.slot, Ok(Slot::B));
        let p = BootParams::parse("picloud.listen=127.0.0.1:9 picloud.api=0.0.0.0:443");
        assert_eq!(p.node_listen, "127.0.0.1:9");
        assert_eq!(p.node_api, "0.0.0.0:443");
        assert_eq!(p.tryboot, None);
        assert_eq!(p.test_hang, None);
        let p = BootParams::parse("picloud.tryboot=1 picloud.test.hang=30");
        assert_eq!(p.tryboot, Some(true));
        assert_eq!(p.test_hang, Some(30));
        assert_eq!(
            BootParams::parse("picloud.watchdog=5").watchdog_secs,
            Some(5)
        );
        assert_eq!(BootParams::parse("picloud.watchdog=0").watchdog_secs, None);
        assert_eq!(
            BootParams::parse("picloud.test.mem=2").test_mem_secs,
            Some(2)
        );
    }
}
