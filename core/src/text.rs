//! Text the way CPython sees it: request bytes decoded as Latin-1, Python's
//! notion of white space, and `repr()` as CPython puts it into error
//! messages (`"Bad request version (%r)"`). Request bytes are decoded as
//! Latin-1, so only code points up to U+00FF occur in practice; beyond that
//! Rust's own notion of printable agrees closely enough.

/// Python's `str.isspace` within Latin-1 (what `str.split()`/`rstrip()` use).
pub(crate) fn is_py_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}')
}

/// Decode bytes as Latin-1 (every byte is one char), as CPython decodes
/// the request line and headers.
pub(crate) fn latin1_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    push_latin1_text(&mut out, bytes);
    out
}

/// [`latin1_string`], appended to `out` (no allocation when it has room).
pub(crate) fn push_latin1_text(out: &mut String, bytes: &[u8]) {
    // ASCII (nearly every request) is the same text in UTF-8.
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.is_ascii() => out.push_str(text),
        _ => out.extend(bytes.iter().map(|&b| b as char)),
    }
}

/// Eight bytes at a time: each of a word's bytes, `0x01` (times a byte
/// value, it is that byte eight times), and their top bits.
const ONES: u64 = 0x0101_0101_0101_0101;
const TOPS: u64 = 0x8080_8080_8080_8080;

/// Whether one of the word's eight bytes is zero (exact as a yes or no).
fn has_zero_byte(word: u64) -> bool {
    word.wrapping_sub(ONES) & !word & TOPS != 0
}

fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Where `needle` first is in `haystack`, eight bytes at a step (a head's
/// lines are searched for their ends with it).
pub(crate) fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    let mut at = 0;
    while at + 8 <= haystack.len() && !has_zero_byte(word_at(haystack, at) ^ pattern) {
        at += 8;
    }
    haystack[at..].iter().position(|&b| b == needle).map(|i| at + i)
}

/// What a header field's bytes hold that a writer or a parser must act
/// on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SpecialBytes {
    /// A NUL (refused in a request field).
    pub nul: bool,
    /// A CR or an LF (refused in a request field; a space in a written one).
    pub line_break: bool,
    /// A byte at or above 0x80 (not ASCII).
    pub high: bool,
}

/// [`SpecialBytes`] of `bytes`, eight bytes at a step (every header field
/// read or written is checked).
pub(crate) fn special_bytes(bytes: &[u8]) -> SpecialBytes {
    let mut found = SpecialBytes::default();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let word = word_at(bytes, at);
        found.high |= word & TOPS != 0;
        found.nul |= has_zero_byte(word);
        found.line_break |= has_zero_byte(word ^ (ONES * 0x0d)) | has_zero_byte(word ^ (ONES * 0x0a));
        at += 8;
    }
    for &b in &bytes[at..] {
        found.nul |= b == 0;
        found.line_break |= b == b'\r' || b == b'\n';
        found.high |= b >= 0x80;
    }
    found
}

/// `n` in decimal, appended without the formatting machinery (numbers
/// in every response head and log line).
pub(crate) fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // A char at a time: cheaper than proving the digits UTF-8.
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// The bytes of a Latin-1 decoded string (each char up to U+00FF is one
/// byte; anything larger, which request text never holds, stays UTF-8).
pub(crate) fn latin1_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let n = c as u32;
        if n <= 0xff {
            out.push(n as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// `repr(s)` exactly as Python 3 writes it for Latin-1 text.
pub(crate) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable` for one character: not a control (Cc), not a
/// separator other than the ASCII space (Zs, Zl, Zp), not a format
/// character (Cf) — within Latin-1 that is C0, DEL, C1, U+00A0, U+00AD.
fn is_printable(c: char) -> bool {
    match c as u32 {
        0x20 => true,
        0x00..=0x1f | 0x7f..=0xa0 | 0xad => false,
        0x2028 | 0x2029 | 0x200b..=0x200f | 0x2060..=0x2064 | 0xfeff => false,
        n if n > 0xff => !c.is_control() && !c.is_whitespace(),
        _ => true,
    }
}

/// `html.escape(s, quote=False)` over bytes: `&`, `<`, `>`.
pub(crate) fn html_escape_into(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{find_byte, push_decimal, py_repr, special_bytes, SpecialBytes};

    #[test]
    fn word_scans_agree_with_byte_scans() {
        let mut data: Vec<u8> = (0..=255u8).collect();
        data.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        for start in 0..data.len() {
            for end in start..data.len().min(start + 40) {
                let slice = &data[start..end];
                for needle in [b'\n', b'\r', 0, 0x80, 0xff, b'x'] {
                    assert_eq!(find_byte(needle, slice), slice.iter().position(|&b| b == needle));
                }
                let want = SpecialBytes {
                    nul: slice.contains(&0),
                    line_break: slice.iter().any(|&b| b == b'\r' || b == b'\n'),
                    high: slice.iter().any(|&b| b >= 0x80),
                };
                assert_eq!(special_bytes(slice), want, "{slice:?}");
            }
        }
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 404, 65_535, u64::MAX] {
            let mut s = String::from("n=");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("n={n}"));
        }
    }

    #[test]
    fn repr_matches_python() {
        // Each expectation is what python3 -c 'print(repr(s))' prints.
        assert_eq!(py_repr("HTTP/1.x"), "'HTTP/1.x'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("both ' and \""), "'both \\' and \"'");
        assert_eq!(py_repr("a\\b"), "'a\\\\b'");
        assert_eq!(py_repr("\t\r\n\x00\x7f"), "'\\t\\r\\n\\x00\\x7f'");
        assert_eq!(py_repr("\u{85}\u{a0}\u{ad}\u{e9}"), "'\\x85\\xa0\\xad\u{e9}'");
    }
}

/// The value of a base64 (RFC 4648 section 4) alphabet character.
pub(crate) fn base64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Bytes from base64 values pushed one at a time (the two decoders, strict
/// and CPython's lenient one, differ only in what they skip or refuse).
#[derive(Default)]
pub(crate) struct Base64Bytes {
    bits: u32,
    nbits: u32,
    pub(crate) out: Vec<u8>,
}

impl Base64Bytes {
    /// Take one 6-bit value.
    pub(crate) fn push(&mut self, value: u8) {
        self.bits = (self.bits << 6) | u32::from(value);
        self.nbits += 6;
        if self.nbits >= 8 {
            self.nbits -= 8;
            self.out.push((self.bits >> self.nbits) as u8);
            self.bits &= (1 << self.nbits) - 1;
        }
    }
}
