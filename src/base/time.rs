//! Timestamps: the strict RFC 3339 profile of FORMAT §5.5.
//!
//! A [`Timestamp`] keeps the string exactly as the signer wrote it (that is
//! what is signed and what the timeline shows) together with the instant it
//! denotes, which is what replay compares.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a string is not a timestamp in the FORMAT §5.5 profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {found:?}: {reason} (expected RFC 3339 like 2017-06-14T09:30:00+08:00)")]
pub struct TimeError {
    found: String,
    reason: &'static str,
}

/// A time a signer claims: the exact string and the instant it denotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    text: String,
    /// Seconds since 1970-01-01T00:00:00Z and the nanoseconds within them.
    instant: (i64, u32),
}

/// How far ahead of the local clock a writer accepts a claimed time
/// without `--allow-future` (README, "Time"): clocks of machines that
/// keep time differ by seconds, a typo in the date by years.
pub const FUTURE_ALLOWANCE_SECS: i64 = 15 * 60;

impl Timestamp {
    /// Parses the strict profile of FORMAT §5.5.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let err = |reason| TimeError {
            found: s.chars().take(64).collect(),
            reason,
        };
        let b = s.as_bytes();
        if b.len() < 20 || b.len() > 35 {
            return Err(err("wrong length"));
        }
        let digits = |range: std::ops::Range<usize>| -> Result<i64, TimeError> {
            let part = &b[range];
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
            } else {
                Err(err("expected a digit"))
            }
        };
        let year = digits(0..4)?;
        let month = digits(5..7)?;
        let day = digits(8..10)?;
        let hour = digits(11..13)?;
        let minute = digits(14..16)?;
        let second = digits(17..19)?;
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(err("expected YYYY-MM-DDTHH:MM:SS"));
        }
        if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(err("no such date"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err("no such time of day"));
        }
        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return Err(err("fraction of a second must have 1 to 9 digits"));
            }
            let frac = &rest[1..1 + n];
            let value = frac.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
            nanos = value * 10u32.pow(9 - n as u32);
            rest = &rest[1 + n..];
        }
        let offset_seconds = match rest {
            [b'Z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hm = [*h1, *h2, *m1, *m2];
                if !hm.iter().all(u8::is_ascii_digit) {
                    return Err(err("expected a digit in the offset"));
                }
                let oh = i64::from((hm[0] - b'0') * 10 + (hm[1] - b'0'));
                let om = i64::from((hm[2] - b'0') * 10 + (hm[3] - b'0'));
                if oh > 23 || om > 59 {
                    return Err(err("offset out of range"));
                }
                let o = oh * 3600 + om * 60;
                if *sign == b'-' {
                    -o
                } else {
                    o
                }
            }
            _ => return Err(err("expected Z or an offset like +08:00 after the seconds")),
        };
        let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(Timestamp {
            text: s.to_owned(),
            instant: (local - offset_seconds, nanos),
        })
    }

    /// The current time, in UTC, to the second. (Writers refuse a claimed
    /// time more than [`FUTURE_ALLOWANCE_SECS`] ahead of it.)
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp::from_unix(secs).unwrap_or_else(|| Timestamp {
            text: "1970-01-01T00:00:00Z".into(),
            instant: (0, 0),
        })
    }

    /// POSIX seconds as a UTC timestamp, if in years 1 to 9999.
    pub fn from_unix(secs: i64) -> Option<Self> {
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        let text = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        );
        // A clock before year 1 or after 9999 is not worth a panic.
        Timestamp::parse(&text).ok()
    }

    /// The string exactly as signed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Seconds since the Unix epoch and nanoseconds: what replay compares.
    pub fn instant(&self) -> (i64, u32) {
        self.instant
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

serde_via_str!(Timestamp, |t: &Timestamp| t.text.clone(), Timestamp::parse);

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

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_compare_as_instants() {
        let a = Timestamp::parse("2017-06-14T09:00:00+08:00").unwrap();
        let b = Timestamp::parse("2017-06-14T01:00:00Z").unwrap();
        assert_eq!(a.instant(), b.instant());
        assert_eq!(b.instant().0, 1_497_402_000);
        let c = Timestamp::parse("2017-06-13T21:00:00-04:00").unwrap();
        assert_eq!(c.instant(), b.instant());
    }

    #[test]
    fn fractions() {
        let a = Timestamp::parse("2017-06-14T01:00:00.5Z").unwrap();
        assert_eq!(a.instant(), (1_497_402_000, 500_000_000));
        let b = Timestamp::parse("2017-06-14T01:00:00.000000001Z").unwrap();
        assert_eq!(b.instant().1, 1);
    }

    #[test]
    fn rejects_outside_the_profile() {
        for s in [
            "",
            "2017-06-14",
            "2017-06-14t01:00:00Z",
            "2017-06-14T01:00:00z",
            "2017-06-14 01:00:00Z",
            "2017-06-14T01:00:00",
            "2017-06-14T01:00:60Z",
            "2017-06-14T24:00:00Z",
            "2017-02-29T00:00:00Z",
            "2017-13-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2017-06-14T01:00:00.Z",
            "2017-06-14T01:00:00.1234567890Z",
            "2017-06-14T01:00:00+0800",
            "2017-06-14T01:00:00+24:00",
            "2017-06-14T01:00:00+08:60",
            "2017-06-14T01:00:00Z ",
            "+017-06-14T01:00:00Z",
            "2017-06-14T01:00:00-00:0a",
            "２017-06-14T01:00:00Z",
        ] {
            assert!(Timestamp::parse(s).is_err(), "accepted {s:?}");
        }
        assert!(Timestamp::parse("2016-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn now_round_trips() {
        let n = Timestamp::now();
        assert_eq!(Timestamp::parse(n.as_str()).unwrap(), n);
        assert!(n.instant().0 > 1_700_000_000);
    }

    #[test]
    fn civil_round_trip() {
        for days in [-719_162i64, -1, 0, 1, 17_331, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
