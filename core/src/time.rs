//! Dates: the `Date`/`Last-Modified` format and `If-Modified-Since` parsing.
//!
//! Formatting is done here from whole seconds rather than with `httpdate`,
//! whose `fmt_http_date` panics on times before 1970; a file's mtime can be
//! anything, and CPython formats pre-epoch times without complaint.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Seconds since the Unix epoch, rounded down (as `time.gmtime` does with
/// a float timestamp), for any `SystemTime`, before 1970 included.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs().min(i64::MAX as u64) as i64,
        Err(e) => {
            let d = e.duration();
            let secs = d.as_secs().min(i64::MAX as u64) as i64;
            if d.subsec_nanos() > 0 {
                -secs - 1
            } else {
                -secs
            }
        }
    }
}

/// A broken-down UTC (or local, when the shell passes local fields) time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// Full year, e.g. 2026.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=60.
    pub second: u32,
    /// 0 = Monday .. 6 = Sunday.
    pub weekday: u32,
}

impl CivilTime {
    /// The UTC fields of `secs` seconds since the epoch (proleptic
    /// Gregorian, Howard Hinnant's days-from-civil inverse).
    pub fn from_unix(secs: i64) -> CivilTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        // 1970-01-01 was a Thursday (weekday 3 when Monday is 0).
        let weekday = (days + 3).rem_euclid(7) as u32;
        CivilTime { year, month, day, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60, weekday }
    }

    /// `25/Nov/2026 08:00:00`, the timestamp in CPython's log lines.
    pub fn log_format(&self) -> String {
        format!(
            "{:02}/{}/{:04} {:02}:{:02}:{:02}",
            self.day,
            MONTHS[(self.month as usize + 11) % 12],
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate, what
/// `email.utils.formatdate(usegmt=True)` writes) for seconds since the epoch.
pub fn format_http_date(secs: i64) -> String {
    let mut s = String::with_capacity(29);
    push_http_date(&mut s, secs);
    s
}

/// [`format_http_date`], appended to `s`.
pub fn push_http_date(s: &mut String, secs: i64) {
    // Written by hand: it is in every response head (`Date`, and
    // `Last-Modified` on files), where `format!` showed in profiles.
    let t = CivilTime::from_unix(secs);
    s.push_str(WEEKDAYS[t.weekday as usize]);
    s.push_str(", ");
    push_two_digits(s, t.day);
    s.push(' ');
    s.push_str(MONTHS[(t.month as usize + 11) % 12]);
    s.push(' ');
    if (0..10_000).contains(&t.year) {
        let year = t.year as u32;
        push_two_digits(s, year / 100);
        push_two_digits(s, year % 100);
    } else {
        s.push_str(&format!("{:04}", t.year));
    }
    s.push(' ');
    push_two_digits(s, t.hour);
    s.push(':');
    push_two_digits(s, t.minute);
    s.push(':');
    push_two_digits(s, t.second);
    s.push_str(" GMT");
}

/// [`push_http_date`] through a one-entry memo per thread: a file's
/// `Last-Modified` is mostly the same as the last reply's.
pub(crate) fn push_http_date_memo(s: &mut String, secs: i64) {
    thread_local! {
        static MEMO: DateMemo = const { DateMemo::new() };
    }
    MEMO.with(|memo| memo.with(secs, |date| s.push_str(date)));
}

/// An HTTP date kept as text for the second it names: one per thread for
/// each kind of date a response carries (its `Date`, a file's
/// `Last-Modified`), which change once a second at most.
pub(crate) struct DateMemo(RefCell<(i64, String)>);

impl DateMemo {
    pub(crate) const fn new() -> DateMemo {
        DateMemo(RefCell::new((i64::MIN, String::new())))
    }

    /// `f` of the date of `secs`, formatted only when it differs from the
    /// last one asked for.
    pub(crate) fn with<R>(&self, secs: i64, f: impl FnOnce(&str) -> R) -> R {
        let mut memo = self.0.borrow_mut();
        if memo.0 != secs {
            memo.1.clear();
            push_http_date(&mut memo.1, secs);
            memo.0 = secs;
        }
        f(&memo.1)
    }
}

/// `n` (below 100) as two decimal digits.
fn push_two_digits(s: &mut String, n: u32) {
    s.push(char::from(b'0' + (n / 10 % 10) as u8));
    s.push(char::from(b'0' + (n % 10) as u8));
}

/// [`format_http_date`] of a `SystemTime`.
pub fn format_system_time(t: SystemTime) -> String {
    format_http_date(unix_seconds(t))
}

/// Seconds since the epoch of an HTTP date (IMF-fixdate, RFC 850 or
/// asctime), or `None` when it is not one: CPython ignores an
/// `If-Modified-Since` it cannot parse, and so do we. As CPython's
/// `email.utils` does, UTC may also be written `+0000`, `-0000`, `UTC`,
/// `UT` or `Z`; any other zone is not compared (`None`).
pub fn parse_http_date(value: &str) -> Option<i64> {
    let value = value.trim();
    let mut normalised;
    let mut text = value;
    for zone in [" +0000", " -0000", " UTC", " UT", " Z"] {
        if let Some(stem) = value.strip_suffix(zone) {
            normalised = String::with_capacity(stem.len() + 4);
            normalised.push_str(stem);
            normalised.push_str(" GMT");
            text = &normalised;
            break;
        }
    }
    let t = httpdate::parse_http_date(text).ok()?;
    Some(unix_seconds(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // python3 -c 'import email.utils; print(email.utils.formatdate(-1, usegmt=True))'
        assert_eq!(format_http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(format_http_date(-2208988800), "Mon, 01 Jan 1900 00:00:00 GMT");
        assert_eq!(format_http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(format_http_date(4102444800), "Fri, 01 Jan 2100 00:00:00 GMT");
    }

    #[test]
    fn pre_epoch_system_time_rounds_down() {
        let t = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_seconds(t), -1);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1500)), 1);
        assert_eq!(format_system_time(t), "Wed, 31 Dec 1969 23:59:59 GMT");
    }

    #[test]
    fn matches_httpdate_over_a_range() {
        let mut secs = 0i64;
        while secs < 5_000_000_000 {
            let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
            assert_eq!(format_http_date(secs), httpdate::fmt_http_date(t));
            secs += 86_399 * 37 + 13;
        }
    }

    #[test]
    fn parses_the_three_formats() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784111777));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784111777));
        assert_eq!(parse_http_date("yesterday"), None);
        // UTC spelled as email.utils accepts it; other zones are not compared.
        for zone in ["+0000", "-0000", "UTC", "UT", "Z"] {
            assert_eq!(
                parse_http_date(&format!("Sun, 06 Nov 1994 08:49:37 {zone}")),
                Some(784111777),
                "{zone}"
            );
        }
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 +0100"), None);
    }

    #[test]
    fn log_timestamp() {
        let t = CivilTime::from_unix(1795564800); // 2026-11-25 00:00:00 UTC
        assert_eq!(t.log_format(), "25/Nov/2026 00:00:00");
    }
}
