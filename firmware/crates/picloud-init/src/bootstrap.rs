//! `<node data>/bootstrap-code`: the node's current bootstrap code for the console status
//! screen. The node (`picloud node --api`) writes it (mode 0600, temp file + fsync + rename)
//! whenever it issues a code — at identity init and on `picloud cluster bootstrap-code` —
//! and replaces it with `state=administrator` once a person has enrolled as administrator
//! (the code is then spent, or no longer accepted). PID 1 reads it and shows the code with
//! its expiry, or why there is none. Pure: parsing, encoding and the screen text, with `now`
//! passed in.
//!
//! Format (`key=value` lines, `#` comments):
//! ```text
//! state=issued
//! code=ABCD-EFGH
//! expires_unix_ms=1795819200000
//! ```
//! or `state=administrator`.

/// The file name in the node's data directory.
pub const FILE: &str = "bootstrap-code";

/// What the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapFile {
    /// A code was issued on this node.
    Issued {
        /// The code, as a person types it.
        code: String,
        /// When it stops being accepted (unix milliseconds, the node's clock).
        expires_unix_ms: i64,
    },
    /// A person is an administrator: the bootstrap path is closed.
    Administrator,
}

impl BootstrapFile {
    /// The file's text.
    pub fn encode(&self) -> String {
        let head = "# written by `picloud node`; shown on PID 1's console status screen\n";
        match self {
            BootstrapFile::Issued {
                code,
                expires_unix_ms,
            } => format!("{head}state=issued\ncode={code}\nexpires_unix_ms={expires_unix_ms}\n"),
            BootstrapFile::Administrator => format!("{head}state=administrator\n"),
        }
    }

    /// Parses the file's text; an error says what is wrong.
    pub fn parse(text: &str) -> Result<BootstrapFile, String> {
        let kv = crate::release::parse_release(text);
        match kv.get("state").map(String::as_str) {
            Some("administrator") => Ok(BootstrapFile::Administrator),
            Some("issued") => {
                let code = kv
                    .get("code")
                    .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_graphic()))
                    .ok_or("state=issued without a printable code=")?;
                let expires_unix_ms = kv
                    .get("expires_unix_ms")
                    .and_then(|v| v.parse::<i64>().ok())
                    .ok_or("state=issued without a numeric expires_unix_ms=")?;
                Ok(BootstrapFile::Issued {
                    code: code.clone(),
                    expires_unix_ms,
                })
            }
            Some(other) => Err(format!("unknown state={other}")),
            None => Err("no state= line".into()),
        }
    }
}

/// The command a console operator runs for a new code.
pub const NEW_CODE_COMMAND: &str = "picloud cluster bootstrap-code --data /data/picloud";

/// The status screen's bootstrap row: `Ok(code and expiry)`, or `Err(why there is none)`.
/// `file` is the file's content (`Ok(None)` when it does not exist, `Err` when it cannot be
/// read); `now_unix_ms` is the wall clock (the node's expiry uses the same clock).
pub fn screen_text(file: Result<Option<&str>, String>, now_unix_ms: i64) -> Result<String, String> {
    let text = match file {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(
                "not issued on this node yet: the node issues one when it initialises the cluster's identity"
                    .into(),
            )
        }
        Err(e) => return Err(e),
    };
    match BootstrapFile::parse(text) {
        Err(e) => Err(format!("{FILE} is unreadable: {e}")),
        Ok(BootstrapFile::Administrator) => Err(
            "not needed: an administrator has enrolled; sign in with a passkey (lost access: `picloud cluster recover`)"
                .into(),
        ),
        Ok(BootstrapFile::Issued {
            code,
            expires_unix_ms,
        }) => {
            let at = utc_hm(expires_unix_ms);
            if now_unix_ms < expires_unix_ms {
                let left_min = (expires_unix_ms - now_unix_ms + 59_999) / 60_000;
                Ok(format!(
                    "{code} (single use; expires {at}, in {left_min} min)"
                ))
            } else {
                Err(format!(
                    "used or expired (the last one expired {at}): run `{NEW_CODE_COMMAND}` for a new one"
                ))
            }
        }
    }
}

/// `YYYY-MM-DD HH:MM UTC` of unix milliseconds.
pub fn utc_hm(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-27 22:15:00 UTC
    const EXP: i64 = 1_795_817_700_000;

    #[test]
    fn dates() {
        assert_eq!(utc_hm(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_hm(EXP), "2026-11-27 22:15 UTC");
        assert_eq!(utc_hm(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_hm(-60_000), "1969-12-31 23:59 UTC");
    }

    #[test]
    fn round_trips() {
        for f in [
            BootstrapFile::Issued {
                code: "ABCD-EFGH".into(),
                expires_unix_ms: EXP,
            },
            BootstrapFile::Administrator,
        ] {
            assert_eq!(BootstrapFile::parse(&f.encode()), Ok(f));
        }
        assert!(BootstrapFile::parse("state=issued\ncode=A B\nexpires_unix_ms=1\n").is_err());
        assert!(BootstrapFile::parse("state=issued\ncode=AB\n").is_err());
        assert!(
            BootstrapFile::parse("state=weird\n").is_err_and(|e| e.contains("unknown state=weird"))
        );
        assert!(BootstrapFile::parse("").is_err());
    }

    #[test]
    fn screen_shows_code_expiry_or_why_not() {
        let issued = BootstrapFile::Issued {
            code: "ABCD-EFGH".into(),
            expires_unix_ms: EXP,
        }
        .encode();
        assert_eq!(
            screen_text(Ok(Some(&issued)), EXP - 14 * 60_000 - 1),
            Ok("ABCD-EFGH (single use; expires 2026-11-27 22:15 UTC, in 15 min)".into())
        );
        assert_eq!(
            screen_text(Ok(Some(&issued)), EXP - 1),
            Ok("ABCD-EFGH (single use; expires 2026-11-27 22:15 UTC, in 1 min)".into())
        );
        let expired = screen_text(Ok(Some(&issued)), EXP).unwrap_err();
        assert!(expired.starts_with("used or expired (the last one expired 2026-11-27 22:15 UTC)"));
        assert!(expired.contains("picloud cluster bootstrap-code --data /data/picloud"));
        assert!(!expired.contains("ABCD"), "an expired code is not shown");
        let admin = BootstrapFile::Administrator.encode();
        assert!(screen_text(Ok(Some(&admin)), EXP)
            .is_err_and(|e| e.contains("an administrator has enrolled")));
        assert!(
            screen_text(Ok(None), EXP).is_err_and(|e| e.contains("not issued on this node yet"))
        );
        assert!(screen_text(Ok(Some("garbage")), EXP)
            .is_err_and(|e| e.contains("bootstrap-code is unreadable")));
        assert_eq!(
            screen_text(Err("no data partition".into()), EXP),
            Err("no data partition".into())
        );
    }
}
