//! Validated text tokens: [`IdempotencyKey`], [`ClientId`], [`KeyId`].
//!
//! Each is 1..=128 printable ASCII characters (`0x20..=0x7e`); the same text in JSON and in
//! the log. Decoding re-validates, so an invalid token can never be constructed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a token's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Empty or longer than 128 characters.
    #[error("{what} must be 1 to 128 characters long, got {len}")]
    Length {
        /// Which token.
        what: &'static str,
        /// The refused length in bytes.
        len: usize,
    },
    /// Contains a character outside printable ASCII.
    #[error("{what} may hold only printable ascii, found {found:?} at byte {at}")]
    Character {
        /// Which token.
        what: &'static str,
        /// The refused character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
}

/// The longest accepted token.
pub const TOKEN_MAX_LEN: usize = 128;

fn validate(what: &'static str, text: &str) -> Result<(), TokenError> {
    if text.is_empty() || text.len() > TOKEN_MAX_LEN {
        return Err(TokenError::Length {
            what,
            len: text.len(),
        });
    }
    match text
        .char_indices()
        .find(|&(_, c)| !(' '..='~').contains(&c))
    {
        Some((at, found)) => Err(TokenError::Character { what, found, at }),
        None => Ok(()),
    }
}

macro_rules! token {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `text` (1..=128 printable ASCII characters).
            pub fn new(text: impl Into<String>) -> Result<Self, TokenError> {
                let text = text.into();
                validate($what, &text)?;
                Ok(Self(text))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = TokenError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

token! {
    /// A client-supplied key that makes a command safe to retry: a command whose key was
    /// already applied produces no events.
    IdempotencyKey, "idempotency key"
}
token! {
    /// An OAuth 2.0 / OIDC `client_id`.
    ClientId, "client id"
}
token! {
    /// A JWK `kid` naming one of the cluster's token-signing keys.
    KeyId, "key id"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(IdempotencyKey::new("apply 2026-11-27 #1").is_ok());
        assert!(IdempotencyKey::new("~".repeat(128)).is_ok());
        assert!(matches!(
            IdempotencyKey::new(""),
            Err(TokenError::Length { len: 0, .. })
        ));
        assert!(IdempotencyKey::new("x".repeat(129)).is_err());
        assert_eq!(
            IdempotencyKey::new("ab\tc").unwrap_err().to_string(),
            "idempotency key may hold only printable ascii, found '\\t' at byte 2"
        );
        assert!(ClientId::new("é").is_err());
        let json = serde_json::to_string(&KeyId::new("k1").unwrap()).unwrap();
        assert_eq!(json, "\"k1\"");
        assert!(serde_json::from_str::<KeyId>("\"\"").is_err());
    }
}
