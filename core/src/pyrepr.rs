//! Python's `repr()` of a `str`, as CPython puts it into error messages
//! (`"Bad request version (%r)"`). Request bytes are decoded as Latin-1, so
//! only code points up to U+00FF occur in practice; the rest are handled by
//! Rust's own notion of printable, which agrees for them closely enough.

/// `repr(s)` exactly as Python 3 writes it for Latin-1 text.
pub fn py_repr(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::py_repr;

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
