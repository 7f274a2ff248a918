//! Quantities with units, as written in `.picloud` files.
//!
//! - [`ByteSize`]: `'100GB'`, `'512MiB'`, `'1.5TB'`. Decimal units (`KB`, `MB`, `GB`, `TB`)
//!   are powers of 1000 and binary units (`KiB`, `MiB`, `GiB`, `TiB`) powers of 1024, as in
//!   IEC 80000-13; `B` is bytes. A unit is required: `'100'` is refused as ambiguous.
//! - [`MilliCpu`]: `'500m'` (millicores) or `'2'` / `'0.5'` (cores), as Kubernetes writes CPU.
//! - [`DurationMs`]: `'250ms'`, `'10s'`, `'5m'`, `'1h'`.
//!
//! Parsing is exact integer arithmetic: `'1.5GB'` is 1 500 000 000 bytes; a value that does
//! not come out whole in the base unit (`'0.5B'`) or overflows is refused.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a quantity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Nothing was written.
    #[error("the value is empty; write a number followed by a unit, such as {example}")]
    Empty {
        /// An example of a valid value.
        example: &'static str,
    },
    /// The number part is malformed.
    #[error("`{text}` does not start with a number; write it like {example}")]
    BadNumber {
        /// The text as written.
        text: String,
        /// An example of a valid value.
        example: &'static str,
    },
    /// No unit after the number.
    #[error("`{text}` has no unit; write it like {example} (units: {units})")]
    MissingUnit {
        /// The text as written.
        text: String,
        /// An example of a valid value.
        example: &'static str,
        /// The accepted units.
        units: &'static str,
    },
    /// A unit we don't know.
    #[error("unknown unit `{unit}` in `{text}` (units: {units})")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The text as written.
        text: String,
        /// The accepted units.
        units: &'static str,
    },
    /// The value is not a whole number of the base unit.
    #[error("`{text}` is not a whole number of {base}")]
    Fractional {
        /// The text as written.
        text: String,
        /// The base unit's name.
        base: &'static str,
    },
    /// Too large.
    #[error("`{text}` is too large")]
    Overflow {
        /// The text as written.
        text: String,
    },
    /// Zero where zero makes no sense.
    #[error("`{text}` must be greater than zero")]
    Zero {
        /// The text as written.
        text: String,
    },
}

/// A decimal number split into integer digits and up to 9 fractional digits, scaled by 10^9.
fn parse_scaled(num: &str) -> Option<u128> {
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 9 || int.len() > 20 || (num.contains('.') && frac.is_empty()) {
        return None;
    }
    let int_v: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut frac_v: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..9 {
        frac_v *= 10;
    }
    int_v.checked_mul(1_000_000_000)?.checked_add(frac_v)
}

/// Splits `'100GB'` into (`"100"`, `"GB"`).
fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (
        text.get(..end).unwrap_or(""),
        text.get(end..).unwrap_or("").trim_start(),
    )
}

fn scaled_times(
    text: &str,
    num: &str,
    multiplier: u128,
    base: &'static str,
) -> Result<u64, UnitError> {
    let scaled = parse_scaled(num).ok_or_else(|| UnitError::Overflow {
        text: text.to_owned(),
    })?;
    let total = scaled
        .checked_mul(multiplier)
        .ok_or_else(|| UnitError::Overflow {
            text: text.to_owned(),
        })?;
    if total % 1_000_000_000 != 0 {
        return Err(UnitError::Fractional {
            text: text.to_owned(),
            base,
        });
    }
    u64::try_from(total / 1_000_000_000).map_err(|_| UnitError::Overflow {
        text: text.to_owned(),
    })
}

fn check_number(text: &str, num: &str, example: &'static str) -> Result<(), UnitError> {
    if text.trim().is_empty() {
        return Err(UnitError::Empty { example });
    }
    if num.is_empty() || parse_scaled(num).is_none() && !num.chars().all(|c| c.is_ascii_digit()) {
        return Err(UnitError::BadNumber {
            text: text.to_owned(),
            example,
        });
    }
    Ok(())
}

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

const BYTE_UNITS: &str = "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB";

impl ByteSize {
    /// Parses `'100GB'`, `'512MiB'`, `'1.5TB'`, `'4096B'`.
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        const EX: &str = "'100GB' or '512MiB'";
        let t = text.trim();
        let (num, unit) = split_number(t);
        check_number(t, num, EX)?;
        let mult: u128 = match unit {
            "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            "" => {
                return Err(UnitError::MissingUnit {
                    text: t.to_owned(),
                    example: EX,
                    units: BYTE_UNITS,
                })
            }
            other => {
                return Err(UnitError::UnknownUnit {
                    unit: other.to_owned(),
                    text: t.to_owned(),
                    units: BYTE_UNITS,
                })
            }
        };
        let bytes = scaled_times(t, num, mult, "bytes")?;
        if bytes == 0 {
            return Err(UnitError::Zero { text: t.to_owned() });
        }
        Ok(Self(bytes))
    }

    /// Bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    /// Shortest exact form: `100GB`, `512MiB`, `1500B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 8] = [
            (1 << 40, "TiB"),
            (1_000_000_000_000, "TB"),
            (1 << 30, "GiB"),
            (1_000_000_000, "GB"),
            (1 << 20, "MiB"),
            (1_000_000, "MB"),
            (1 << 10, "KiB"),
            (1_000, "KB"),
        ];
        for (size, unit) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// CPU in thousandths of a core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MilliCpu(pub u32);

impl MilliCpu {
    /// Parses `'500m'` (millicores), `'2'` or `'0.5'` (cores).
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        const EX: &str = "'500m' or '2'";
        const UNITS: &str = "m (millicores), or none for cores";
        let t = text.trim();
        let (num, unit) = split_number(t);
        check_number(t, num, EX)?;
        let mult = match unit {
            "m" => 1,
            "" => 1000,
            other => {
                return Err(UnitError::UnknownUnit {
                    unit: other.to_owned(),
                    text: t.to_owned(),
                    units: UNITS,
                })
            }
        };
        let milli = scaled_times(t, num, mult, "millicores")?;
        if milli == 0 {
            return Err(UnitError::Zero { text: t.to_owned() });
        }
        u32::try_from(milli)
            .map(Self)
            .map_err(|_| UnitError::Overflow { text: t.to_owned() })
    }

    /// Millicores.
    pub fn millicores(self) -> u32 {
        self.0
    }
}

impl fmt::Display for MilliCpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

/// A duration in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DurationMs(pub u64);

impl DurationMs {
    /// Parses `'250ms'`, `'10s'`, `'1.5s'`, `'5m'`, `'1h'`, `'2d'`.
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        const EX: &str = "'10s' or '500ms'";
        const UNITS: &str = "ms, s, m, h, d";
        let t = text.trim();
        let (num, unit) = split_number(t);
        check_number(t, num, EX)?;
        let mult: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(UnitError::MissingUnit {
                    text: t.to_owned(),
                    example: EX,
                    units: UNITS,
                })
            }
            other => {
                return Err(UnitError::UnknownUnit {
                    unit: other.to_owned(),
                    text: t.to_owned(),
                    units: UNITS,
                })
            }
        };
        Ok(Self(scaled_times(t, num, mult, "milliseconds")?))
    }

    /// Milliseconds.
    pub fn millis(self) -> u64 {
        self.0
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (size, unit) in [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("100GB").unwrap().bytes(), 100_000_000_000);
        assert_eq!(ByteSize::parse("512MiB").unwrap().bytes(), 512 << 20);
        assert_eq!(ByteSize::parse("1.5TB").unwrap().bytes(), 1_500_000_000_000);
        assert_eq!(ByteSize::parse(" 4096B ").unwrap().bytes(), 4096);
        assert!(matches!(
            ByteSize::parse("100"),
            Err(UnitError::MissingUnit { .. })
        ));
        assert!(matches!(
            ByteSize::parse("100Gb"),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(
            ByteSize::parse("GB"),
            Err(UnitError::BadNumber { .. })
        ));
        assert!(matches!(ByteSize::parse(""), Err(UnitError::Empty { .. })));
        assert!(matches!(
            ByteSize::parse("0GB"),
            Err(UnitError::Zero { .. })
        ));
        assert!(matches!(
            ByteSize::parse("0.5B"),
            Err(UnitError::Fractional { .. })
        ));
        assert!(matches!(
            ByteSize::parse("99999999999999TiB"),
            Err(UnitError::Overflow { .. })
        ));
        assert!(ByteSize::parse("1..5GB").is_err());
        assert!(matches!(
            ByteSize::parse("-1GB"),
            Err(UnitError::BadNumber { .. })
        ));
        assert_eq!(ByteSize::parse("100GB").unwrap().to_string(), "100GB");
        assert_eq!(ByteSize::parse("512MiB").unwrap().to_string(), "512MiB");
    }

    #[test]
    fn cpu() {
        assert_eq!(MilliCpu::parse("500m").unwrap().millicores(), 500);
        assert_eq!(MilliCpu::parse("2").unwrap().millicores(), 2000);
        assert_eq!(MilliCpu::parse("0.25").unwrap().millicores(), 250);
        assert!(matches!(
            MilliCpu::parse("0.0005"),
            Err(UnitError::Fractional { .. })
        ));
        assert!(matches!(
            MilliCpu::parse("2cores"),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(MilliCpu::parse("0m"), Err(UnitError::Zero { .. })));
        assert_eq!(MilliCpu(1500).to_string(), "1500m");
        assert_eq!(MilliCpu(2000).to_string(), "2");
    }

    #[test]
    fn durations() {
        assert_eq!(DurationMs::parse("250ms").unwrap().millis(), 250);
        assert_eq!(DurationMs::parse("10s").unwrap().millis(), 10_000);
        assert_eq!(DurationMs::parse("1.5s").unwrap().millis(), 1_500);
        assert_eq!(DurationMs::parse("5m").unwrap().millis(), 300_000);
        assert!(matches!(
            DurationMs::parse("10"),
            Err(UnitError::MissingUnit { .. })
        ));
        assert_eq!(DurationMs(300_000).to_string(), "5m");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = ByteSize::parse(&s);
            let _ = MilliCpu::parse(&s);
            let _ = DurationMs::parse(&s);
        }

        #[test]
        fn size_display_round_trips(b in 1u64..u64::MAX / 2) {
            let shown = ByteSize(b).to_string();
            prop_assert_eq!(ByteSize::parse(&shown).unwrap(), ByteSize(b));
        }
    }
}
