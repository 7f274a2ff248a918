//! Resource names.
//!
//! Every name a user gives (products, containers, volumes, …) ends up in a DNS name
//! (`<name>.<product>.<domain>`) and in an IRI path segment, so names follow the DNS label
//! rules of RFC 1123, restricted to lower case: 1 to 63 characters from `a-z`, `0-9` and `-`,
//! starting with a letter and not ending with `-`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest name accepted: one DNS label.
pub const MAX_NAME_LEN: usize = 63;

/// A validated resource name (a lower-case DNS label).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("a name cannot be empty")]
    Empty,
    /// The name is longer than one DNS label.
    #[error(
        "the name is {len} characters long; names are at most {max} characters (one DNS label)"
    )]
    TooLong {
        /// Length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An upper-case ASCII letter.
    #[error("names are lower case: `{ch}` at position {index} should be `{lower}`")]
    Uppercase {
        /// The offending character.
        ch: char,
        /// Its lower-case form.
        lower: char,
        /// 1-based character position.
        index: usize,
    },
    /// A character outside `a-z`, `0-9`, `-`.
    #[error("`{ch}` at position {index} is not allowed in a name; use a-z, 0-9 and '-'")]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// 1-based character position.
        index: usize,
    },
    /// The first character is not a letter.
    #[error("a name must start with a letter a-z, not `{ch}`")]
    MustStartWithLetter {
        /// The first character.
        ch: char,
    },
    /// The last character is `-`.
    #[error("a name cannot end with '-'")]
    TrailingHyphen,
}

impl Name {
    /// Validates `s` as a name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let mut chars = s.chars();
        let first = chars.next().ok_or(NameError::Empty)?;
        let len = s.chars().count();
        if len > MAX_NAME_LEN {
            return Err(NameError::TooLong {
                len,
                max: MAX_NAME_LEN,
            });
        }
        for (i, ch) in s.chars().enumerate() {
            if ch.is_ascii_uppercase() {
                return Err(NameError::Uppercase {
                    ch,
                    lower: ch.to_ascii_lowercase(),
                    index: i + 1,
                });
            }
            if !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-') {
                return Err(NameError::InvalidChar { ch, index: i + 1 });
            }
        }
        if !first.is_ascii_lowercase() {
            return Err(NameError::MustStartWithLetter { ch: first });
        }
        if s.ends_with('-') {
            return Err(NameError::TrailingHyphen);
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Name::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["a", "photo-app", "api-server", "x1", &"a".repeat(63)] {
            assert_eq!(Name::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_with_reasons() {
        assert_eq!(Name::parse(""), Err(NameError::Empty));
        assert!(matches!(
            Name::parse(&"a".repeat(64)),
            Err(NameError::TooLong { len: 64, .. })
        ));
        assert_eq!(
            Name::parse("Photo"),
            Err(NameError::Uppercase {
                ch: 'P',
                lower: 'p',
                index: 1
            })
        );
        assert_eq!(
            Name::parse("a_b"),
            Err(NameError::InvalidChar { ch: '_', index: 2 })
        );
        assert_eq!(
            Name::parse("1app"),
            Err(NameError::MustStartWithLetter { ch: '1' })
        );
        assert_eq!(
            Name::parse("-app"),
            Err(NameError::MustStartWithLetter { ch: '-' })
        );
        assert_eq!(Name::parse("app-"), Err(NameError::TrailingHyphen));
        assert_eq!(
            Name::parse("café"),
            Err(NameError::InvalidChar { ch: 'é', index: 4 })
        );
    }

    #[test]
    fn serde_validates() {
        let n: Name = serde_json::from_str("\"media-store\"").unwrap();
        assert_eq!(n.as_str(), "media-store");
        assert!(serde_json::from_str::<Name>("\"Media\"").is_err());
    }
}
