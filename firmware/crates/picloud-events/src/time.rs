//! [`Timestamp`]: unix milliseconds with an RFC 3339 UTC text form, without a time crate.
//!
//! The core never reads a clock: adapters pass `now: Timestamp` in. The JSON form is always
//! `YYYY-MM-DDTHH:MM:SS.mmmZ` (exactly three fraction digits, `Z`), so encoding is canonical
//! and a JSON document round-trips byte for byte. Parsing is more lenient (any number of
//! fraction digits, `z`/`t`, numeric offsets) and normalises to UTC milliseconds.
//! The log form is the plain `i64`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: milliseconds since 1970-01-01T00:00:00Z, within years 0000..=9999.
///
/// The range restriction keeps the RFC 3339 form four-digit-year and makes formatting total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The millisecond value lies outside years 0000..=9999.
    #[error("timestamp {millis} ms is outside years 0000..=9999")]
    OutOfRange {
        /// The refused value.
        millis: i64,
    },
    /// The text is not an RFC 3339 date-time.
    #[error("invalid rfc 3339 timestamp {text:?}: {reason}")]
    Syntax {
        /// The refused text (truncated to 64 characters).
        text: String,
        /// What was wrong.
        reason: &'static str,
    },
}

const MS_PER_SEC: i64 = 1_000;
const MS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    /// 0000-01-01T00:00:00.000Z.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200_000);
    /// 9999-12-31T23:59:59.999Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);
    /// 1970-01-01T00:00:00.000Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from unix milliseconds; refused outside years 0000..=9999.
    pub fn from_unix_millis(millis: i64) -> Result<Self, TimestampError> {
        if (Self::MIN.0..=Self::MAX.0).contains(&millis) {
            Ok(Timestamp(millis))
        } else {
            Err(TimestampError::OutOfRange { millis })
        }
    }

    /// Milliseconds since the unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// This timestamp moved by `millis` (negative moves back), saturating at the range ends.
    #[must_use]
    pub fn saturating_add_millis(self, millis: i64) -> Self {
        Timestamp(
            self.0
                .saturating_add(millis)
                .clamp(Self::MIN.0, Self::MAX.0),
        )
    }

    /// Parses RFC 3339 (`2026-11-27T15:54:21.123Z`, `...+02:00`); sub-millisecond digits are
    /// truncated. Leap seconds (`:60`) are refused.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        parse(text).map_err(|reason| TimestampError::Syntax {
            text: text.chars().take(64).collect(),
            reason,
        })
    }
}

impl fmt::Display for Timestamp {
    /// The canonical form, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MS_PER_DAY);
        let in_day = self.0.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let ms = in_day % MS_PER_SEC;
        let secs = in_day / MS_PER_SEC;
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
        } else {
            let millis = i64::deserialize(deserializer)?;
            Timestamp::from_unix_millis(millis).map_err(serde::de::Error::custom)
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A cursor over ASCII bytes; every accessor is bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn number(&mut self, width: usize, what: &'static str) -> Result<i64, &'static str> {
        let mut value = 0_i64;
        for _ in 0..width {
            match self.peek() {
                Some(b @ b'0'..=b'9') => value = value * 10 + i64::from(b - b'0'),
                _ => return Err(what),
            }
            self.pos += 1;
        }
        Ok(value)
    }

    fn expect(&mut self, accepted: &[u8], what: &'static str) -> Result<u8, &'static str> {
        match self.peek() {
            Some(b) if accepted.contains(&b) => {
                self.pos += 1;
                Ok(b)
            }
            _ => Err(what),
        }
    }
}

fn parse(text: &str) -> Result<Timestamp, &'static str> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let year = c.number(4, "expected a four-digit year")?;
    c.expect(b"-", "expected '-' after the year")?;
    let month = c.number(2, "expected a two-digit month")?;
    c.expect(b"-", "expected '-' after the month")?;
    let day = c.number(2, "expected a two-digit day")?;
    c.expect(b"Tt", "expected 'T' between date and time")?;
    let hour = c.number(2, "expected a two-digit hour")?;
    c.expect(b":", "expected ':' after the hour")?;
    let minute = c.number(2, "expected two-digit minutes")?;
    c.expect(b":", "expected ':' after the minutes")?;
    let second = c.number(2, "expected two-digit seconds")?;
    let mut millis = 0_i64;
    if c.peek() == Some(b'.') {
        c.pos += 1;
        let mut digits = 0;
        while let Some(b @ b'0'..=b'9') = c.peek() {
            if digits < 3 {
                millis = millis * 10 + i64::from(b - b'0');
            }
            digits += 1;
            c.pos += 1;
        }
        if digits == 0 {
            return Err("expected digits after '.'");
        }
        for _ in digits..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match c.expect(b"Zz+-", "expected 'Z' or a numeric offset")? {
        b'Z' | b'z' => 0,
        sign => {
            let oh = c.number(2, "expected a two-digit offset hour")?;
            c.expect(b":", "expected ':' in the offset")?;
            let om = c.number(2, "expected two-digit offset minutes")?;
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            let total = oh * 60 + om;
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
    };
    if c.peek().is_some() {
        return Err("unexpected text after the timestamp");
    }
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range for the month");
    }
    if hour > 23 || minute > 59 {
        return Err("time of day out of range");
    }
    if second > 59 {
        return Err("seconds out of range (leap seconds are not accepted)");
    }
    let local = days_from_civil(year, month, day) * MS_PER_DAY
        + ((hour * 60 + minute) * 60 + second) * MS_PER_SEC
        + millis;
    let utc = local - offset_minutes * 60 * MS_PER_SEC;
    Timestamp::from_unix_millis(utc).map_err(|_| "outside years 0000..=9999 after the offset")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_795_794_861_123, "2026-11-27T15:54:21.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (Timestamp::MIN.0, "0000-01-01T00:00:00.000Z"),
            (Timestamp::MAX.0, "9999-12-31T23:59:59.999Z"),
        ];
        for (millis, text) in cases {
            let ts = Timestamp::from_unix_millis(millis).unwrap();
            assert_eq!(ts.to_string(), text);
            assert_eq!(Timestamp::parse_rfc3339(text).unwrap(), ts, "{text}");
        }
    }

    #[test]
    fn lenient_parsing_normalises() {
        let base = Timestamp::parse_rfc3339("2026-11-27T15:54:21.123Z").unwrap();
        for text in [
            "2026-11-27t15:54:21.123456z",
            "2026-11-27T17:54:21.123+02:00",
            "2026-11-27T10:24:21.123-05:30",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(text).unwrap(), base, "{text}");
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-27T15:54:21Z").unwrap(),
            base.saturating_add_millis(-123)
        );
    }

    #[test]
    fn refusals() {
        for text in [
            "",
            "2026-11-27",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00Zjunk",
            "0000-01-01T00:00:00+01:00",
            "２026-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(text).is_err(), "{text}");
        }
        assert!(Timestamp::from_unix_millis(i64::MAX).is_err());
        assert!(Timestamp::from_unix_millis(Timestamp::MIN.0 - 1).is_err());
    }

    #[test]
    fn serde_forms() {
        let ts = Timestamp::from_unix_millis(1_795_794_861_123).unwrap();
        assert_eq!(
            serde_json::to_string(&ts).unwrap(),
            "\"2026-11-27T15:54:21.123Z\""
        );
        let bytes = postcard::to_stdvec(&ts).unwrap();
        assert_eq!(postcard::from_bytes::<Timestamp>(&bytes).unwrap(), ts);
        let bad = postcard::to_stdvec(&i64::MAX).unwrap();
        assert!(postcard::from_bytes::<Timestamp>(&bad).is_err());
    }

    proptest! {
        #[test]
        fn text_round_trip(millis in Timestamp::MIN.0..=Timestamp::MAX.0) {
            let ts = Timestamp::from_unix_millis(millis).unwrap();
            prop_assert_eq!(Timestamp::parse_rfc3339(&ts.to_string()).unwrap(), ts);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = Timestamp::parse_rfc3339(&text);
        }
    }
}
