//! Range requests (RFC 9110 sections 14.1 to 14.6): reading a `Range`
//! header, choosing the byte ranges of a representation to send, and the
//! layout of a `multipart/byteranges` body. Pure arithmetic on lengths;
//! every sum is checked, so 20-digit positions cannot overflow.

use std::fmt::Write as _;

use crate::serve::BodyPart;

/// Most range specs read from one `Range` header; a longer set is ignored
/// (the whole representation is sent), so a request cannot make the server
/// build and send thousands of parts.
pub const MAX_RANGE_SPECS: usize = 100;

/// Ranges closer than this are sent as one part: a part header costs about
/// as much, and overlapping ranges must not be sent twice (RFC 9110 section
/// 14.6 allows coalescing "regardless of the order").
const COALESCE_GAP: u64 = 80;

/// One `range-spec` of a `Range: bytes=...` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last` (inclusive; `last` may lie past the end).
    FromTo(u64, u64),
    /// `first-`: from `first` to the end.
    From(u64),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// A satisfiable byte range of a representation: `len` bytes from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// The first byte's position.
    pub start: u64,
    /// How many bytes (at least one).
    pub len: u64,
}

impl ByteRange {
    /// The last byte's position.
    pub fn last(&self) -> u64 {
        self.start + (self.len - 1)
    }

    /// One past the last byte.
    fn end(&self) -> u64 {
        self.start + self.len
    }

    /// `Content-Range: bytes FIRST-LAST/COMPLETE`.
    pub fn content_range(&self, complete: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.last(), complete)
    }
}

/// What to send for a range request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeDecision {
    /// The whole representation with 200 (no usable range, or an empty
    /// representation).
    Whole,
    /// These ranges with 206, in the order to send them.
    Partial(Vec<ByteRange>),
    /// 416 with `Content-Range: bytes */LEN`: no range overlaps the
    /// representation.
    Unsatisfiable,
}

/// Parse a `Range` field value. `None` when it is not a syntactically
/// valid `bytes` range set (or has more than [`MAX_RANGE_SPECS`] specs):
/// such a header is ignored. Positions too large for `u64` saturate, which
/// keeps their meaning (past any end).
pub fn parse_range(value: &str) -> Option<Vec<RangeSpec>> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let eq = value.find('=')?;
    let (unit, set) = (&value[..eq], &value[eq + 1..]);
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // A list: empty elements are allowed and skipped (RFC 9110 5.6.1).
    for element in set.split(',') {
        let element = element.trim_matches(|c| c == ' ' || c == '\t');
        if element.is_empty() {
            continue;
        }
        if specs.len() == MAX_RANGE_SPECS {
            return None;
        }
        specs.push(parse_spec(element)?);
    }
    if specs.is_empty() {
        None
    } else {
        Some(specs)
    }
}

fn parse_spec(spec: &str) -> Option<RangeSpec> {
    let dash = spec.find('-')?;
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(RangeSpec::Suffix(parse_position(last)?)),
        (false, true) => Some(RangeSpec::From(parse_position(first)?)),
        (false, false) => {
            let (first, last) = (parse_position(first)?, parse_position(last)?);
            // "invalid if the last-pos value is present and less than the
            // first-pos" (14.1.1): the whole header is then ignored.
            if last < first {
                None
            } else {
                Some(RangeSpec::FromTo(first, last))
            }
        }
    }
}

/// `1*DIGIT`, saturating at `u64::MAX`.
fn parse_position(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// Decide what to send for `specs` against a representation of `len`
/// bytes: the satisfiable ranges, clipped to the end; overlapping or
/// nearly adjacent ones coalesced (then in ascending order), otherwise in
/// the order asked.
pub fn select_ranges(specs: &[RangeSpec], len: u64) -> RangeDecision {
    if len == 0 {
        // Nothing to slice: the (empty) whole is the only sensible answer.
        return RangeDecision::Whole;
    }
    let mut ranges: Vec<ByteRange> = specs.iter().filter_map(|spec| satisfiable(*spec, len)).collect();
    if ranges.is_empty() {
        return RangeDecision::Unsatisfiable;
    }
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| r.start);
    let needs_coalescing = sorted.windows(2).any(|w| w[1].start <= w[0].end().saturating_add(COALESCE_GAP));
    if needs_coalescing {
        ranges = coalesce(sorted);
    }
    RangeDecision::Partial(ranges)
}

/// The part of `spec` inside `0..len` (`len` > 0), if any.
fn satisfiable(spec: RangeSpec, len: u64) -> Option<ByteRange> {
    let (start, end) = match spec {
        RangeSpec::FromTo(first, last) => (first, last.saturating_add(1).min(len)),
        RangeSpec::From(first) => (first, len),
        RangeSpec::Suffix(0) => return None,
        RangeSpec::Suffix(n) => (len - n.min(len), len),
    };
    if start >= len {
        return None;
    }
    Some(ByteRange { start, len: end - start })
}

/// Merge ranges (sorted by start) that overlap or lie within
/// [`COALESCE_GAP`] of each other.
fn coalesce(sorted: Vec<ByteRange>) -> Vec<ByteRange> {
    let mut merged: Vec<ByteRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(prev) if r.start <= prev.end().saturating_add(COALESCE_GAP) => {
                let end = prev.end().max(r.end());
                prev.len = end - prev.start;
            }
            _ => merged.push(r),
        }
    }
    merged
}

/// A `multipart/byteranges` body laid out over a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// The reply's `Content-Type` (with the boundary).
    pub content_type: String,
    /// The parts, in order.
    pub parts: Vec<BodyPart>,
    /// The closing delimiter, sent after the last part.
    pub closing: Vec<u8>,
    /// The exact body length: every prefix, range and the closing.
    pub content_length: u64,
}

/// Lay out `ranges` of a representation of `complete` bytes, whose own
/// type is `part_type`, as `multipart/byteranges` with `boundary` (which
/// must not occur in the bytes sent: choose it unpredictably, after the
/// file was written).
pub fn multipart(ranges: &[ByteRange], complete: u64, part_type: &str, boundary: &str) -> Multipart {
    let mut parts = Vec::with_capacity(ranges.len());
    let mut total: u64 = 0;
    for (i, r) in ranges.iter().enumerate() {
        let mut prefix = String::new();
        if i > 0 {
            prefix.push_str("\r\n");
        }
        let _ = write!(
            prefix,
            "--{}\r\nContent-Type: {}\r\nContent-Range: {}\r\n\r\n",
            boundary,
            part_type,
            r.content_range(complete)
        );
        total = total.saturating_add(prefix.len() as u64).saturating_add(r.len);
        parts.push(BodyPart { prefix: prefix.into_bytes(), offset: r.start, len: r.len });
    }
    let closing = format!("\r\n--{}--\r\n", boundary).into_bytes();
    total = total.saturating_add(closing.len() as u64);
    Multipart {
        content_type: format!("multipart/byteranges; boundary={}", boundary),
        parts,
        closing,
        content_length: total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, len: u64) -> ByteRange {
        ByteRange { start, len }
    }

    fn decide(header: &str, len: u64) -> Option<RangeDecision> {
        parse_range(header).map(|specs| select_ranges(&specs, len))
    }

    #[test]
    fn rfc_9110_examples_on_a_10000_byte_representation() {
        // RFC 9110 section 14.1.2's examples.
        let cases: &[(&str, &[ByteRange])] = &[
            ("bytes=0-499", &[r(0, 500)]),
            ("bytes=500-999", &[r(500, 500)]),
            ("bytes=-500", &[r(9500, 500)]),
            ("bytes=9500-", &[r(9500, 500)]),
            ("bytes=0-0,-1", &[r(0, 1), r(9999, 1)]),
            // Overlapping and near: coalesced, ascending.
            ("bytes=500-600,601-999", &[r(500, 500)]),
            ("bytes=500-700,601-999", &[r(500, 500)]),
        ];
        for (header, want) in cases {
            assert_eq!(decide(header, 10_000), Some(RangeDecision::Partial(want.to_vec())), "{header}");
        }
    }

    #[test]
    fn syntax_errors_make_the_header_ignored() {
        for bad in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=a-b",
            "bytes=5-3",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=1 -2",
            "bytes =1-2",
            "items=0-1",
            "bytes=0x1-2",
            "bytes=--1",
            "bytes=1-,x",
            "bytes=-1-",
        ] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unit_is_case_insensitive_and_lists_allow_spaces_and_empty_elements() {
        assert_eq!(
            parse_range(" Bytes=0-1 ,\t, -5 "),
            Some(vec![RangeSpec::FromTo(0, 1), RangeSpec::Suffix(5)])
        );
    }

    #[test]
    fn ends_past_the_representation_are_clipped() {
        assert_eq!(decide("bytes=5-100", 10), Some(RangeDecision::Partial(vec![r(5, 5)])));
        assert_eq!(decide("bytes=-100", 10), Some(RangeDecision::Partial(vec![r(0, 10)])));
        assert_eq!(decide("bytes=9-", 10), Some(RangeDecision::Partial(vec![r(9, 1)])));
    }

    #[test]
    fn unsatisfiable_sets() {
        assert_eq!(decide("bytes=10-", 10), Some(RangeDecision::Unsatisfiable));
        assert_eq!(decide("bytes=10-20,30-40", 10), Some(RangeDecision::Unsatisfiable));
        assert_eq!(decide("bytes=-0", 10), Some(RangeDecision::Unsatisfiable));
        // One satisfiable spec is enough.
        assert_eq!(decide("bytes=10-20,-0,3-3", 10), Some(RangeDecision::Partial(vec![r(3, 1)])));
    }

    #[test]
    fn an_empty_representation_is_sent_whole() {
        assert_eq!(decide("bytes=0-0", 0), Some(RangeDecision::Whole));
        assert_eq!(decide("bytes=-5", 0), Some(RangeDecision::Whole));
    }

    #[test]
    fn huge_numbers_saturate_without_overflow() {
        let max = u64::MAX;
        assert_eq!(parse_range("bytes=99999999999999999999-"), Some(vec![RangeSpec::From(max)]));
        assert_eq!(decide("bytes=99999999999999999999-", 10), Some(RangeDecision::Unsatisfiable));
        assert_eq!(decide("bytes=0-99999999999999999999", 10), Some(RangeDecision::Partial(vec![r(0, 10)])));
        assert_eq!(decide("bytes=-99999999999999999999", 10), Some(RangeDecision::Partial(vec![r(0, 10)])));
        let last = format!("bytes={}-{}", max - 1, max);
        assert_eq!(decide(&last, max), Some(RangeDecision::Partial(vec![r(max - 1, 1)])));
        assert_eq!(r(max - 1, 1).content_range(max), format!("bytes {}-{}/{}", max - 1, max - 1, max));
    }

    #[test]
    fn many_overlapping_ranges_are_sent_once() {
        let header = format!("bytes={}", vec!["0-999"; MAX_RANGE_SPECS].join(","));
        assert_eq!(decide(&header, 5000), Some(RangeDecision::Partial(vec![r(0, 1000)])));
        // Small ranges with small gaps become one part.
        let small: Vec<String> =
            (0..MAX_RANGE_SPECS as u64).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
        let header = format!("bytes={}", small.join(","));
        assert_eq!(decide(&header, 5000), Some(RangeDecision::Partial(vec![r(0, 991)])));
    }

    #[test]
    fn too_many_specs_are_ignored() {
        let header = format!("bytes={}", vec!["0-0"; MAX_RANGE_SPECS + 1].join(","));
        assert_eq!(parse_range(&header), None);
    }

    #[test]
    fn distinct_ranges_keep_the_order_asked() {
        assert_eq!(
            decide("bytes=5000-5099,0-99", 10_000),
            Some(RangeDecision::Partial(vec![r(5000, 100), r(0, 100)]))
        );
        // Once anything is coalesced, the parts are ascending.
        assert_eq!(
            decide("bytes=5000-5099,0-99,50-60", 10_000),
            Some(RangeDecision::Partial(vec![r(0, 100), r(5000, 100)]))
        );
    }

    #[test]
    fn multipart_layout_and_exact_length() {
        let m = multipart(&[r(0, 3), r(10, 2)], 20, "text/plain", "XYZ");
        assert_eq!(m.content_type, "multipart/byteranges; boundary=XYZ");
        assert_eq!(
            m.parts[0].prefix,
            b"--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-2/20\r\n\r\n"
        );
        assert_eq!(
            m.parts[1].prefix,
            b"\r\n--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 10-11/20\r\n\r\n"
        );
        assert_eq!((m.parts[1].offset, m.parts[1].len), (10, 2));
        assert_eq!(m.closing, b"\r\n--XYZ--\r\n");
        let source = b"abcdefghijklmnopqrst";
        let mut body = Vec::new();
        for p in &m.parts {
            body.extend_from_slice(&p.prefix);
            body.extend_from_slice(&source[p.offset as usize..(p.offset + p.len) as usize]);
        }
        body.extend_from_slice(&m.closing);
        assert_eq!(body.len() as u64, m.content_length);
        assert!(String::from_utf8(body).unwrap().contains("\r\n\r\nabc\r\n--XYZ\r\n"));
    }
}
