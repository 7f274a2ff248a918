//! 128-bit identifiers: UUID-formatted text in JSON, 16 raw bytes in the log.
//!
//! The core never draws randomness: callers construct ids from bytes they drew
//! ([`EventId::from_bytes`]), or derive an event's id deterministically from its command's
//! correlation id and its index within the command ([`EventId::derive`]), which keeps
//! `decide` pure and replay-stable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdParseError {
    /// Not `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with hex digits.
    #[error("invalid uuid text {text:?}: expected 8-4-4-4-12 hex digits")]
    Syntax {
        /// The refused text (truncated to 64 characters).
        text: String,
    },
}

fn parse_uuid(text: &str) -> Result<[u8; 16], IdParseError> {
    let err = || IdParseError::Syntax {
        text: text.chars().take(64).collect(),
    };
    if text.len() != 36 {
        return Err(err());
    }
    let mut out = [0_u8; 16];
    let mut nibbles = text
        .bytes()
        .enumerate()
        .filter(|&(i, _)| !matches!(i, 8 | 13 | 18 | 23));
    for (i, b) in text.bytes().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) && b != b'-' {
            return Err(err());
        }
    }
    for slot in &mut out {
        let hi = nibbles
            .next()
            .and_then(|(_, b)| hex_value(b))
            .ok_or_else(err)?;
        let lo = nibbles
            .next()
            .and_then(|(_, b)| hex_value(b))
            .ok_or_else(err)?;
        *slot = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn fmt_uuid(bytes: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            f.write_str("-")?;
        }
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

macro_rules! id128 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; 16]);

        impl $name {
            /// The id with these 16 bytes (drawn by the caller, e.g. a UUID v4).
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The 16 raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_uuid(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                fmt_uuid(&self.0, f)?;
                f.write_str(")")
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_uuid(s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.collect_str(self)
                } else {
                    self.0.serialize(serializer)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; 16]>::deserialize(deserializer).map(Self)
                }
            }
        }
    };
}

id128! {
    /// The unique id of one event.
    EventId
}
id128! {
    /// Links a command with every event it caused, including later status events of
    /// provisioners. One fresh correlation id per command.
    CorrelationId
}
id128! {
    /// The cluster's id, chosen at `cluster init`.
    ClusterId
}
id128! {
    /// A node's stable id, chosen when the node first joins.
    NodeId
}
id128! {
    /// A refresh-token family: every token rotated from one login shares it (reuse of a
    /// rotated token revokes the family).
    TokenFamilyId
}

impl EventId {
    /// The id of the `index`-th event (from 0) produced by the command with `correlation`.
    ///
    /// Deterministic, so `decide` stays pure and re-running it gives the same ids. The mixing
    /// step is a bijection on 128 bits; setting the six UUID version/variant bits leaves 122
    /// well-mixed bits, so collisions are as unlikely as between two random UUID v4s, given
    /// that every command carries a fresh random correlation id. The result is a UUID
    /// version 8 (RFC 9562 "custom").
    pub fn derive(correlation: CorrelationId, index: u32) -> EventId {
        let mut x = u128::from_be_bytes(correlation.0);
        x ^= u128::from(index).wrapping_add(1).wrapping_mul(GOLDEN);
        for _ in 0..3 {
            x = x.wrapping_mul(ODD_MULTIPLIER);
            x ^= x >> 67;
        }
        let mut bytes = x.to_be_bytes();
        if let Some(b) = bytes.get_mut(6) {
            *b = (*b & 0x0f) | 0x80;
        }
        if let Some(b) = bytes.get_mut(8) {
            *b = (*b & 0x3f) | 0x80;
        }
        EventId(bytes)
    }
}

/// 2^128 / phi, rounded to odd.
const GOLDEN: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
/// An odd 128-bit multiplier (PCG's).
const ODD_MULTIPLIER: u128 = 0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn text_form() {
        let id = EventId::from_bytes([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ]);
        assert_eq!(id.to_string(), "01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!("01234567-89AB-CDEF-0123-456789ABCDEF".parse(), Ok(id));
        for bad in [
            "",
            "01234567-89ab-cdef-0123-456789abcdeg",
            "0123456789ab-cdef-0123-456789abcdef-",
            "01234567-89ab-cdef-0123-456789abcdef0",
            "01234567+89ab-cdef-0123-456789abcdef",
        ] {
            assert!(bad.parse::<EventId>().is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"01234567-89ab-cdef-0123-456789abcdef\""
        );
        let log = postcard::to_stdvec(&id).unwrap();
        assert_eq!(log.len(), 16);
        assert_eq!(postcard::from_bytes::<EventId>(&log).unwrap(), id);
    }

    #[test]
    fn derived_ids_are_distinct_and_stable() {
        let mut seen = BTreeSet::new();
        for c in 0..64_u8 {
            let corr = CorrelationId::from_bytes([c; 16]);
            for i in 0..64 {
                assert!(seen.insert(EventId::derive(corr, i)));
            }
        }
        let corr = CorrelationId::from_bytes([7; 16]);
        assert_eq!(EventId::derive(corr, 3), EventId::derive(corr, 3));
        let text = EventId::derive(corr, 0).to_string();
        assert_eq!(text.as_bytes()[14], b'8', "uuid version 8: {text}");
    }
}
