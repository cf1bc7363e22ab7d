//! Validators and conditional requests (RFC 9110 section 13): a file's
//! entity tag, and the preconditions `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since` and `If-Range` evaluated in the
//! order of section 13.2.2.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::Headers;
use crate::simple::files::Metadata;
use crate::time::{parse_http_date, unix_seconds};

/// The outcome of a request's preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Go on: send the representation (or the ranges asked for).
    Proceed,
    /// 304 Not Modified (a GET or HEAD whose cached copy is current).
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// The strong entity tag of a file: its identity (device and inode, when
/// the shell knows them), size and modification time to the nanosecond.
/// The same for an unchanged file across restarts; different as soon as
/// the file is rewritten, resized, touched or replaced. The identity is
/// hashed (FNV-1a) so that inode numbers are not published.
pub fn entity_tag(meta: &Metadata) -> String {
    EntityTag::of(meta).as_str().to_string()
}

/// [`entity_tag`] held in place (a file reply needs one, and allocates
/// nothing for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityTag {
    /// `"`, three hexadecimal numbers of at most 32, 16 and 16 digits
    /// with `-` between them, `"`.
    bytes: [u8; 68],
    len: usize,
}

impl EntityTag {
    /// The tag of the file `meta` describes (the last one computed on
    /// this thread is kept: a hot file's replies follow one another).
    pub fn of(meta: &Metadata) -> EntityTag {
        thread_local! {
            static LAST: Cell<Option<(Metadata, EntityTag)>> = const { Cell::new(None) };
        }
        match LAST.with(Cell::get) {
            Some((seen, tag)) if seen == *meta => tag,
            _ => {
                let tag = EntityTag::compute(meta);
                LAST.with(|last| last.set(Some((*meta, tag))));
                tag
            }
        }
    }

    fn compute(meta: &Metadata) -> EntityTag {
        let nanos: i128 = match meta.modified.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        let (dev, ino) = meta.identity.unwrap_or((0, 0));
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in dev.to_le_bytes().iter().chain(ino.to_le_bytes().iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // `"{nanos:x}-{len:x}-{hash:x}"`, written by hand; a time before
        // 1970 is its 128-bit two's complement, as `{:x}` of an i128 would
        // write it.
        let mut tag = EntityTag { bytes: [0; 68], len: 0 };
        tag.push(b'"');
        tag.push_hex(nanos as u128);
        tag.push(b'-');
        tag.push_hex(u128::from(meta.len));
        tag.push(b'-');
        tag.push_hex(u128::from(hash));
        tag.push(b'"');
        tag
    }

    /// The tag, quotes included.
    pub fn as_str(&self) -> &str {
        // Quotes, dashes and hexadecimal digits only.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("\"\"")
    }

    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    /// `n` in lower-case hexadecimal, without leading zeros.
    fn push_hex(&mut self, n: u128) {
        let (high, low) = ((n >> 64) as u64, n as u64);
        if high == 0 {
            self.push_hex64(low, ((64 - low.leading_zeros()).max(1) + 3) / 4);
        } else {
            self.push_hex64(high, (64 - high.leading_zeros() + 3) / 4);
            self.push_hex64(low, 16);
        }
    }

    /// The last `digits` hexadecimal digits of `n`.
    fn push_hex64(&mut self, n: u64, digits: u32) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for i in (0..digits).rev() {
            self.push(HEX[((n >> (i * 4)) & 0xf) as usize]);
        }
    }
}

/// Evaluate the preconditions of a GET or HEAD for a representation with
/// strong tag `etag` (`None` when validators are off: only CPython's
/// `If-Modified-Since` is then read) last modified at `modified`.
pub fn evaluate(headers: &Headers, etag: Option<&str>, modified: SystemTime) -> Precondition {
    if let Some(etag) = etag {
        // 1. If-Match: strong comparison; 2. else If-Unmodified-Since.
        if headers.contains("If-Match") {
            if !list_matches(headers, "If-Match", etag, strong_eq) {
                return Precondition::Failed;
            }
        } else if let Some(since) = headers.get("If-Unmodified-Since").and_then(parse_http_date) {
            if unix_seconds(modified) > since {
                return Precondition::Failed;
            }
        }
        // 3. If-None-Match: weak comparison; a match is "not modified".
        if headers.contains("If-None-Match") {
            return if list_matches(headers, "If-None-Match", etag, weak_eq) {
                Precondition::NotModified
            } else {
                Precondition::Proceed
            };
        }
    }
    // 4. If-Modified-Since, exactly as CPython reads it: ignored next to
    // If-None-Match or when it does not parse; to the second.
    if headers.contains("If-None-Match") {
        return Precondition::Proceed;
    }
    match headers.get("If-Modified-Since").and_then(parse_http_date) {
        Some(since) if unix_seconds(modified) <= since => Precondition::NotModified,
        _ => Precondition::Proceed,
    }
}

/// Step 5, `If-Range`: whether a `Range` header applies (no `If-Range`, or its
/// validator is current). An entity tag is compared strongly; a date must
/// equal the `Last-Modified` sent, and count only as a strong validator
/// (RFC 9110 sections 13.1.5 and 8.8.2.2): modified at least a second
/// before `now` (when known), or two writes within that second could
/// share it.
pub fn range_applies(headers: &Headers, etag: &str, modified: SystemTime, now: Option<SystemTime>) -> bool {
    let value = match headers.get("If-Range") {
        None => return true,
        Some(v) => v.trim_matches(|c| c == ' ' || c == '\t'),
    };
    if value.starts_with('"') || value.starts_with("W/") {
        return parse_tag(value).map_or(false, |(tag, rest)| rest.is_empty() && strong_eq(tag, etag));
    }
    let strong = now.map_or(true, |now| unix_seconds(now) > unix_seconds(modified));
    strong && parse_http_date(value) == Some(unix_seconds(modified))
}

/// Whether any tag of every `name` field matches `etag` by `eq`; `*`
/// matches any current representation. A malformed list matches nothing.
fn list_matches(headers: &Headers, name: &str, etag: &str, eq: fn(&str, &str) -> bool) -> bool {
    let mut any = false;
    for value in headers.get_all(name) {
        let mut rest = value.trim_start_matches([' ', '\t', ',']);
        if rest.trim_end_matches([' ', '\t']) == "*" {
            return true;
        }
        while !rest.is_empty() {
            let (tag, after) = match parse_tag(rest) {
                Some(parsed) => parsed,
                None => break,
            };
            any |= eq(tag, etag);
            rest = after.trim_start_matches([' ', '\t', ',']);
        }
    }
    any
}

/// One `entity-tag` (`"opaque"` or `W/"opaque"`) at the start of `s`, and
/// what follows it.
fn parse_tag(s: &str) -> Option<(&str, &str)> {
    let start = if s.starts_with("W/\"") { 2 } else { 0 };
    if !s[start..].starts_with('"') {
        return None;
    }
    let close = s[start + 1..].find('"')? + start + 1;
    let opaque = &s[start + 1..close];
    // etagc = %x21 / %x23-7E / obs-text
    if opaque.bytes().any(|b| b == b'"' || b < 0x21 || b == 0x7f) {
        return None;
    }
    Some((&s[..=close], &s[close + 1..]))
}

/// Strong comparison: both strong and the same opaque tag.
fn strong_eq(a: &str, b: &str) -> bool {
    !a.starts_with("W/") && !b.starts_with("W/") && a == b
}

/// Weak comparison: the opaque tags are the same, weak or not.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simple::files::FileKind;
    use std::time::Duration;

    const TAG: &str = "\"abc-1\"";

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::default();
        for (n, v) in fields {
            h.push(n, v);
        }
        h
    }

    /// Modified at 1994-11-06 08:49:37 GMT (and a half).
    fn mtime() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(784_111_777_500)
    }
    const AT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";

    fn eval(fields: &[(&str, &str)]) -> Precondition {
        evaluate(&headers(fields), Some(TAG), mtime())
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert_eq!(eval(&[("If-None-Match", TAG)]), Precondition::NotModified);
        assert_eq!(eval(&[("If-None-Match", "W/\"abc-1\"")]), Precondition::NotModified);
        assert_eq!(eval(&[("If-None-Match", "\"x\", \"abc-1\"")]), Precondition::NotModified);
        assert_eq!(eval(&[("If-None-Match", "*")]), Precondition::NotModified);
        assert_eq!(eval(&[("If-None-Match", "\"abc-2\"")]), Precondition::Proceed);
        assert_eq!(eval(&[("If-None-Match", "abc-1")]), Precondition::Proceed);
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert_eq!(eval(&[("If-Match", TAG)]), Precondition::Proceed);
        assert_eq!(eval(&[("If-Match", "*")]), Precondition::Proceed);
        assert_eq!(eval(&[("If-Match", "W/\"abc-1\"")]), Precondition::Failed);
        assert_eq!(eval(&[("If-Match", "\"other\"")]), Precondition::Failed);
        assert_eq!(eval(&[("If-Match", "\"other\""), ("If-Match", TAG)]), Precondition::Proceed);
    }

    #[test]
    fn if_unmodified_since() {
        assert_eq!(eval(&[("If-Unmodified-Since", AT)]), Precondition::Proceed);
        assert_eq!(eval(&[("If-Unmodified-Since", BEFORE)]), Precondition::Failed);
        assert_eq!(eval(&[("If-Unmodified-Since", "yesterday")]), Precondition::Proceed);
    }

    #[test]
    fn evaluation_order_of_rfc_9110_13_2_2() {
        // If-Match decides before If-Unmodified-Since is even read.
        assert_eq!(eval(&[("If-Match", TAG), ("If-Unmodified-Since", BEFORE)]), Precondition::Proceed);
        // A failed If-Match wins over a matching If-None-Match.
        assert_eq!(eval(&[("If-Match", "\"x\""), ("If-None-Match", TAG)]), Precondition::Failed);
        // If-None-Match replaces If-Modified-Since entirely.
        assert_eq!(eval(&[("If-None-Match", "\"x\""), ("If-Modified-Since", AT)]), Precondition::Proceed);
        assert_eq!(eval(&[("If-None-Match", TAG), ("If-Modified-Since", BEFORE)]), Precondition::NotModified);
    }

    #[test]
    fn if_modified_since_as_cpython_reads_it() {
        assert_eq!(eval(&[("If-Modified-Since", AT)]), Precondition::NotModified);
        assert_eq!(eval(&[("If-Modified-Since", BEFORE)]), Precondition::Proceed);
        assert_eq!(eval(&[("If-Modified-Since", "garbage")]), Precondition::Proceed);
        // Without validators, only this one is read.
        let h = headers(&[("If-Match", "\"x\""), ("If-Modified-Since", AT)]);
        assert_eq!(evaluate(&h, None, mtime()), Precondition::NotModified);
    }

    #[test]
    fn if_range_with_tags_and_dates() {
        let applies = |v: &str| range_applies(&headers(&[("If-Range", v)]), TAG, mtime(), None);
        assert!(range_applies(&headers(&[]), TAG, mtime(), None));
        assert!(applies(TAG));
        assert!(!applies("W/\"abc-1\""));
        assert!(!applies("\"abc-2\""));
        assert!(applies(AT));
        assert!(!applies(BEFORE));
        assert!(!applies("not a date"));
        // A date is only as good as the second it names: a file modified
        // in the current second has no strong Last-Modified yet.
        let h = headers(&[("If-Range", AT)]);
        assert!(!range_applies(&h, TAG, mtime(), Some(mtime())));
        assert!(range_applies(&h, TAG, mtime(), Some(mtime() + Duration::from_secs(1))));
    }

    #[test]
    fn the_tag_changes_with_every_part_of_the_files_state() {
        let base = Metadata::new(FileKind::File, 100, mtime()).with_identity(1, 2);
        let tag = entity_tag(&base);
        assert!(tag.starts_with('"') && tag.ends_with('"') && !tag.starts_with("W/"));
        assert_eq!(entity_tag(&base.clone()), tag, "stable for an unchanged file");
        let changed = [
            Metadata::new(FileKind::File, 101, mtime()).with_identity(1, 2),
            Metadata::new(FileKind::File, 100, mtime() + Duration::from_nanos(1)).with_identity(1, 2),
            Metadata::new(FileKind::File, 100, mtime()).with_identity(1, 3),
            Metadata::new(FileKind::File, 100, mtime()).with_identity(2, 2),
        ];
        for m in changed {
            assert_ne!(entity_tag(&m), tag, "{m:?}");
        }
        let m = Metadata::new(FileKind::File, 0x1234, UNIX_EPOCH + Duration::from_nanos(0xabc))
            .with_identity(7, 9);
        let hash = entity_tag(&m).rsplit('-').next().unwrap().trim_end_matches('"').to_string();
        assert_eq!(entity_tag(&m), format!("\"abc-1234-{hash}\""));
        let before_1970 = Metadata::new(FileKind::File, 1, UNIX_EPOCH - Duration::from_secs(5));
        assert!(entity_tag(&before_1970).starts_with(&format!("\"{:x}-", -5_000_000_000i128)));
        assert_ne!(entity_tag(&before_1970), entity_tag(&Metadata::new(FileKind::File, 1, UNIX_EPOCH)));
    }
}
