//! Binary payload fields: [`Bytes`] (base64url in JSON) and [`Sha256Digest`] (hex in JSON).
//! Both are raw bytes in the log.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why binary text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BytesError {
    /// Not unpadded base64url.
    #[error("invalid base64url text: {reason}")]
    Base64 {
        /// What was wrong.
        reason: &'static str,
    },
    /// Not 64 hex digits.
    #[error("invalid sha-256 digest text: expected 64 hex digits")]
    Digest,
}

/// Opaque bytes (credential ids, COSE keys, DER certificates, ciphertexts).
///
/// JSON: unpadded base64url (RFC 4648 §5), as WebAuthn and JOSE use. Log: length-prefixed raw bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The raw bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Unpadded base64url text.
    pub fn to_base64url(&self) -> String {
        let mut out = String::with_capacity(self.0.len().div_ceil(3) * 4);
        for chunk in self.0.chunks(3) {
            let n = u32::from_be_bytes([
                0,
                chunk.first().copied().unwrap_or(0),
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ]);
            let symbols = chunk.len() + 1;
            for i in 0..symbols {
                let index = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(base64_symbol(index)));
            }
        }
        out
    }

    /// Parses unpadded base64url; refuses padding, other alphabets and non-canonical tails.
    pub fn from_base64url(text: &str) -> Result<Self, BytesError> {
        let err = |reason| BytesError::Base64 { reason };
        let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
        for chunk in text.as_bytes().chunks(4) {
            let mut n = 0_u32;
            for &c in chunk {
                let v = base64_value(c).ok_or(err("character outside the base64url alphabet"))?;
                n = (n << 6) | v;
            }
            n <<= 6 * (4 - chunk.len() as u32);
            let [_, b0, b1, b2] = n.to_be_bytes();
            match chunk.len() {
                4 => out.extend_from_slice(&[b0, b1, b2]),
                3 if b2 == 0 => out.extend_from_slice(&[b0, b1]),
                2 if b1 == 0 && b2 == 0 => out.push(b0),
                1 => return Err(err("truncated final group")),
                _ => return Err(err("non-zero bits after the final byte")),
            }
        }
        Ok(Bytes(out))
    }
}

fn base64_symbol(index: u32) -> u8 {
    match index {
        0..=25 => b'A' + index as u8,
        26..=51 => b'a' + (index - 26) as u8,
        52..=61 => b'0' + (index - 52) as u8,
        62 => b'-',
        _ => b'_',
    }
}

fn base64_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({})", self.to_base64url())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_base64url())
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Bytes::from_base64url(&text).map_err(serde::de::Error::custom)
        } else {
            deserializer.deserialize_byte_buf(ByteBufVisitor)
        }
    }
}

struct ByteBufVisitor;

impl<'de> serde::de::Visitor<'de> for ByteBufVisitor {
    type Value = Bytes;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes(v))
    }
}

/// A SHA-256 digest (certificate fingerprints, hashes of codes, secrets and tokens).
///
/// The core never hashes: adapters compute digests and put them in events. JSON: 64 lower-case
/// hex digits. Log: 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

impl FromStr for Sha256Digest {
    type Err = BytesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(BytesError::Digest);
        }
        let mut out = [0_u8; 32];
        for (slot, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| BytesError::Digest)?;
            *slot = u8::from_str_radix(text, 16).map_err(|_| BytesError::Digest)?;
        }
        Ok(Sha256Digest(out))
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Sha256Digest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64url_vectors() {
        // RFC 4648 §10, with the url-safe alphabet and no padding.
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (&[0xfb, 0xff, 0xfe], "-__-"),
        ];
        for (raw, text) in cases {
            assert_eq!(Bytes(raw.to_vec()).to_base64url(), text);
            assert_eq!(Bytes::from_base64url(text).unwrap().0, raw);
        }
        for bad in ["Z", "Zg==", "Zh", "Zm9", "+/+/", "Zm9v!"] {
            assert!(Bytes::from_base64url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digest_forms() {
        let d = Sha256Digest([0xab; 32]);
        let text = d.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Sha256Digest>().unwrap(), d);
        assert!("ab".parse::<Sha256Digest>().is_err());
        assert!("zz".repeat(32).parse::<Sha256Digest>().is_err());
        assert_eq!(postcard::to_stdvec(&d).unwrap().len(), 32);
    }

    proptest! {
        #[test]
        fn base64url_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let b = Bytes(raw);
            prop_assert_eq!(Bytes::from_base64url(&b.to_base64url()).unwrap(), b.clone());
            let log = postcard::to_stdvec(&b).unwrap();
            prop_assert_eq!(postcard::from_bytes::<Bytes>(&log).unwrap(), b);
        }

        #[test]
        fn base64url_decode_never_panics(text in "\\PC{0,20}") {
            let _ = Bytes::from_base64url(&text);
        }
    }
}
