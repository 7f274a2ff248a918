//! Validated scalar values used inside resource specs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::name::Name;

/// Why a value inside a spec is invalid. Each message says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not `MAJOR.MINOR.PATCH[-PRERELEASE]`.
    #[error("`{0}` is not a semantic version; write MAJOR.MINOR.PATCH such as '1.0.0'")]
    SemVer(String),
    /// Not a usable image reference.
    #[error("`{0}` is not an image reference; write it like 'photo-api:1.0.0' or 'registry/name@sha256:…'")]
    ImageRef(String),
    /// Not an environment variable name.
    #[error("`{0}` is not an environment variable name; use letters, digits and '_', not starting with a digit")]
    EnvName(String),
    /// Not a config key.
    #[error(
        "`{0}` is not a config key; use 1 to 128 characters from a-z, A-Z, 0-9, '.', '_' and '-'"
    )]
    ConfigKey(String),
    /// Not a version expression.
    #[error("`{0}` is not a version expression; write '= 2', '>= 2', '< 3' or '1..3' (product major versions)")]
    VersionExpr(String),
    /// Not an event type name.
    #[error("`{0}` is not an event type; write it in UpperCamelCase such as 'UserCreated'")]
    EventType(String),
    /// Not `product@version`.
    #[error("`{0}` is not an event source; write 'product' or 'product@1.0.0'")]
    Source(String),
    /// Not a permission.
    #[error("`{0}` is not a permission; write 'resource:action' such as 'containers/api-server:read' or 'sparql:query'")]
    Permission(String),
    /// Not an absolute path.
    #[error("`{0}` is not an absolute path; it must start with '/' and contain no '..'")]
    Path(String),
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A semantic version (`1.0.0`, `2.1.0-beta.1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SemVer(String);
string_newtype!(SemVer);

impl SemVer {
    /// Parses `MAJOR.MINOR.PATCH` with an optional `-prerelease` and `+build`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let err = || ValueError::SemVer(s.to_owned());
        let core = s.split(['-', '+']).next().unwrap_or("");
        let rest = s.get(core.len()..).unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 {
            return Err(err());
        }
        for p in &parts {
            let numeric = !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
            if !numeric || (p.len() > 1 && p.starts_with('0')) || p.len() > 9 {
                return Err(err());
            }
        }
        let tail_ok = rest.is_empty()
            || (rest.len() > 1
                && rest
                    .chars()
                    .skip(1)
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')));
        if !tail_ok || s.len() > 64 {
            return Err(err());
        }
        Ok(Self(s.to_owned()))
    }

    /// The major version, used by feature-flag expressions.
    pub fn major(&self) -> u32 {
        self.0
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}

/// An OCI image reference (`photo-api:1.0.0`, `registry.picloud.local/photo/api@sha256:…`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ImageRef(String);
string_newtype!(ImageRef);

impl ImageRef {
    /// Accepts a reference of printable ASCII without spaces, up to 255 characters, whose
    /// repository part is lower case (as the OCI distribution spec requires).
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let repo = s.split(['@', ':']).next().unwrap_or("");
        let ok = !s.is_empty()
            && s.len() <= 255
            && s.chars().all(|c| c.is_ascii_graphic())
            && !repo.is_empty()
            && repo
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c))
            && !s.ends_with(':')
            && !s.ends_with('@');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::ImageRef(s.to_owned()))
        }
    }
}

/// An environment variable name (`DB_URL`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EnvName(String);
string_newtype!(EnvName);

impl EnvName {
    /// Letters, digits and `_`, not starting with a digit, at most 128 characters.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::EnvName(s.to_owned()))
        }
    }
}

/// The value of an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EnvValue {
    /// A literal string.
    Literal(String),
    /// `secret('name')`: the value of a secret of the same product.
    Secret(Name),
    /// `config('key')`: the value of a config entry of the same product.
    Config(ConfigKey),
}

/// A secret's plaintext. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(String);

impl SecretValue {
    /// What read paths show instead of a secret's value.
    pub const REDACTED: &'static str = "<redacted>";

    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The plaintext: call only where the value is really needed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// A config key (`max-upload-size`, `db.pool.size`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ConfigKey(String);
string_newtype!(ConfigKey);

impl ConfigKey {
    /// 1 to 128 characters from `a-z A-Z 0-9 . _ -`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::ConfigKey(s.to_owned()))
        }
    }
}

/// A typed config value. Decimals are kept as their exact text so values compare exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConfigValue {
    /// Text.
    String(String),
    /// A whole number.
    Integer(i64),
    /// A decimal number, as written (`0.75`).
    Decimal(String),
    /// A boolean.
    Bool(bool),
}

/// Which product major versions a feature flag applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VersionExpr {
    /// `= N`
    Eq(u32),
    /// `> N`
    Gt(u32),
    /// `>= N`
    Ge(u32),
    /// `< N`
    Lt(u32),
    /// `<= N`
    Le(u32),
    /// `N..M`: from N up to and including M.
    Range(u32, u32),
}

impl VersionExpr {
    /// Parses `= 2`, `>= 2`, `> 1`, `< 3`, `<= 3`, `1..3`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let err = || ValueError::VersionExpr(s.to_owned());
        let t = s.trim();
        let num = |x: &str| -> Result<u32, ValueError> {
            let x = x.trim();
            if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            x.parse().map_err(|_| err())
        };
        if let Some((a, b)) = t.split_once("..") {
            let (a, b) = (num(a)?, num(b)?);
            return if a <= b {
                Ok(Self::Range(a, b))
            } else {
                Err(err())
            };
        }
        if let Some(r) = t.strip_prefix(">=") {
            return Ok(Self::Ge(num(r)?));
        }
        if let Some(r) = t.strip_prefix("<=") {
            return Ok(Self::Le(num(r)?));
        }
        if let Some(r) = t.strip_prefix('>') {
            return Ok(Self::Gt(num(r)?));
        }
        if let Some(r) = t.strip_prefix('<') {
            return Ok(Self::Lt(num(r)?));
        }
        if let Some(r) = t.strip_prefix('=') {
            return Ok(Self::Eq(num(r)?));
        }
        Err(err())
    }

    /// Whether product major version `major` matches.
    pub fn matches(self, major: u32) -> bool {
        match self {
            Self::Eq(n) => major == n,
            Self::Gt(n) => major > n,
            Self::Ge(n) => major >= n,
            Self::Lt(n) => major < n,
            Self::Le(n) => major <= n,
            Self::Range(a, b) => (a..=b).contains(&major),
        }
    }
}

impl fmt::Display for VersionExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eq(n) => write!(f, "= {n}"),
            Self::Gt(n) => write!(f, "> {n}"),
            Self::Ge(n) => write!(f, ">= {n}"),
            Self::Lt(n) => write!(f, "< {n}"),
            Self::Le(n) => write!(f, "<= {n}"),
            Self::Range(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

/// An event type name (`UserCreated`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EventTypeName(String);
string_newtype!(EventTypeName);

impl EventTypeName {
    /// UpperCamelCase ASCII letters and digits, at most 128 characters.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let ok = s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.len() <= 128
            && s.chars().all(|c| c.is_ascii_alphanumeric());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::EventType(s.to_owned()))
        }
    }
}

/// The product an event subscription listens to, optionally pinned to a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSource {
    /// The emitting product.
    pub product: Name,
    /// The version it was written against, if pinned.
    #[serde(default)]
    pub version: Option<SemVer>,
}

impl SubscriptionSource {
    /// Parses `user-service` or `user-service@1.0.0`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let err = || ValueError::Source(s.to_owned());
        let (p, v) = match s.split_once('@') {
            Some((p, v)) => (p, Some(SemVer::parse(v).map_err(|_| err())?)),
            None => (s, None),
        };
        Ok(Self {
            product: Name::parse(p).map_err(|_| err())?,
            version: v,
        })
    }
}

impl fmt::Display for SubscriptionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.product),
            None => write!(f, "{}", self.product),
        }
    }
}

/// A permission string, `<resource-pattern>:<action>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Permission(String);
string_newtype!(Permission);

/// Actions a permission may grant.
pub const PERMISSION_ACTIONS: [&str; 7] =
    ["read", "write", "delete", "execute", "query", "append", "*"];

impl Permission {
    /// `pattern:action`, where action is one of [`PERMISSION_ACTIONS`] and the pattern is a
    /// non-empty path of `a-z0-9-*/` characters.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let err = || ValueError::Permission(s.to_owned());
        let (pattern, action) = s.rsplit_once(':').ok_or_else(err)?;
        let pattern_ok = !pattern.is_empty()
            && pattern.len() <= 200
            && pattern
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-*/".contains(c));
        if pattern_ok && PERMISSION_ACTIONS.contains(&action) {
            Ok(Self(s.to_owned()))
        } else {
            Err(err())
        }
    }
}

/// Checks an absolute path inside a workload (`/data`).
pub fn check_absolute_path(s: &str) -> Result<(), ValueError> {
    let ok = s.starts_with('/')
        && s.len() <= 4096
        && !s.split('/').any(|seg| seg == "..")
        && !s.chars().any(|c| c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ValueError::Path(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        for ok in ["1.0.0", "0.1.12", "2.1.0-beta.1", "1.0.0+build.5"] {
            assert!(SemVer::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["1.0", "1.0.0.0", "01.0.0", "v1.0.0", "1.0.0-", "", "a.b.c"] {
            assert!(SemVer::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(SemVer::parse("12.3.4").unwrap().major(), 12);
    }

    #[test]
    fn version_expr() {
        assert_eq!(VersionExpr::parse(">= 2").unwrap(), VersionExpr::Ge(2));
        assert_eq!(
            VersionExpr::parse("1..3").unwrap(),
            VersionExpr::Range(1, 3)
        );
        assert_eq!(VersionExpr::parse("=1").unwrap(), VersionExpr::Eq(1));
        assert!(VersionExpr::parse("3..1").is_err());
        assert!(VersionExpr::parse("~2").is_err());
        assert!(VersionExpr::Range(1, 3).matches(3));
        assert!(!VersionExpr::Lt(2).matches(2));
    }

    #[test]
    fn others() {
        assert!(ImageRef::parse("photo-api:1.0.0").is_ok());
        assert!(ImageRef::parse("registry.picloud.local/photo/api@sha256:abcd").is_ok());
        assert!(ImageRef::parse("Photo:1").is_err());
        assert!(ImageRef::parse("photo api").is_err());
        assert!(EnvName::parse("DB_URL").is_ok());
        assert!(EnvName::parse("1X").is_err());
        assert!(Permission::parse("containers/api-server:read").is_ok());
        assert!(Permission::parse("sparql:query").is_ok());
        assert!(Permission::parse("sparql:fly").is_err());
        assert!(SubscriptionSource::parse("user-service@1.0.0").is_ok());
        assert!(SubscriptionSource::parse("user-service@1").is_err());
        assert!(check_absolute_path("/data").is_ok());
        assert!(check_absolute_path("data").is_err());
        assert!(check_absolute_path("/data/../etc").is_err());
        assert_eq!(
            format!("{:?}", SecretValue::new("hunter2")),
            "SecretValue(<redacted>)"
        );
    }
}
