//! Header fields, as a request brings them and a response sends them: one
//! text buffer of `Name: value` lines and the places of the fields in it,
//! so that a head costs two allocations however many fields it has (and
//! none when its buffers are reused), and a response's fields go out as
//! they are kept.

use crate::text::special_bytes;

/// Header fields in arrival (or writing) order; names compared ASCII
/// case-insensitively. A request's values are its bytes decoded as
/// Latin-1, as CPython decodes them; a response's are written as Latin-1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Every field as its line, `Name: value\r\n`, one after the other:
    /// one buffer (kept from request to request on a connection) rather
    /// than two strings a field, and what goes on the wire.
    text: String,
    /// Some character in `text` is not ASCII (so `text` is not its own
    /// Latin-1 encoding).
    non_ascii: bool,
    fields: Vec<FieldSpan>,
    /// One bit for each name present (a hash of it, see [`name_bit`]): a
    /// lookup of a name that is not there, which most are, ends at once.
    names: u64,
}

/// The bit of `names` a name sets: from its length and its first, middle
/// and last letters, case-insensitively, mixed so that the 32 names
/// clients send and servers look up most (`Host`, `Range`,
/// `If-None-Match`, `User-Agent`, `Accept-Encoding`, `Content-Length`...)
/// fall on 32 different bits (the test below holds it to that).
fn name_bit(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let lower = |i: usize| usize::from(bytes.get(i).map_or(0, u8::to_ascii_lowercase));
    let len = bytes.len();
    let mix = len.wrapping_mul(24)
        ^ lower(0).wrapping_mul(9)
        ^ lower(len.wrapping_sub(1)).wrapping_mul(13)
        ^ lower(len / 2).wrapping_mul(5);
    1 << (mix % 64)
}

/// Where one field is in [`Headers::text`]: the name from `start` to
/// `name_end`, then `: `, the value up to `end`, then CR LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldSpan {
    start: usize,
    name_end: usize,
    end: usize,
}

impl Headers {
    /// No fields, with room for `fields` fields of `bytes` bytes in all.
    pub(crate) fn with_capacity(fields: usize, bytes: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes),
            non_ascii: false,
            fields: Vec::with_capacity(fields),
            names: 0,
        }
    }

    /// The first value of `name` (what `email.message.Message.get` gives).
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.names & name_bit(name) == 0 {
            return None;
        }
        self.fields.iter().find(|f| self.name_is(f, name)).map(|f| &self.text[f.name_end + 2..f.end])
    }

    /// Whether the field's name is `name`, ASCII case-insensitively: the
    /// length first, then the bytes as they are (the usual spelling), then
    /// folded.
    fn name_is(&self, f: &FieldSpan, name: &str) -> bool {
        let have = &self.text.as_bytes()[f.start..f.name_end];
        have.len() == name.len() && (have == name.as_bytes() || have.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let fields = if self.names & name_bit(name) == 0 { &[][..] } else { &self.fields[..] };
        fields.iter().filter(move |f| self.name_is(f, name)).map(move |f| &self.text[f.name_end + 2..f.end])
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(move |f| self.field(f))
    }

    fn field(&self, f: &FieldSpan) -> (&str, &str) {
        (&self.text[f.start..f.name_end], &self.text[f.name_end + 2..f.end])
    }

    /// Every field's line, `Name: value\r\n`, as Latin-1 bytes: `None` when
    /// some character is not ASCII (then each field is encoded on its own).
    pub(crate) fn ascii_lines(&self) -> Option<&[u8]> {
        if self.non_ascii {
            None
        } else {
            Some(self.text.as_bytes())
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Add a field.
    pub fn push(&mut self, name: &str, value: &str) {
        self.push_with(name, |text| text.push_str(value));
    }

    /// Add a field whose value `write_value` appends to the buffer.
    /// A CR or LF in the name or value becomes a space, so that no field
    /// can end the head early (response splitting).
    pub(crate) fn push_with(&mut self, name: &str, write_value: impl FnOnce(&mut String)) {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(": ");
        write_value(&mut self.text);
        let end = self.text.len();
        let found = special_bytes(&self.text.as_bytes()[start..end]);
        if found.line_break {
            // Rare: spaces in their place (one byte each, the spans hold).
            let fixed = self.text[start..end].replace(['\r', '\n'], " ");
            self.text.replace_range(start..end, &fixed);
        }
        self.non_ascii |= found.high;
        self.text.push_str("\r\n");
        self.fields.push(FieldSpan { start, name_end, end });
        self.names |= name_bit(name);
    }

    /// [`Headers::push`] for a name and value known to hold no CR or LF (a
    /// request's, checked as it was parsed): not scanned again.
    /// `non_ascii`: the value has characters above U+007F.
    pub(crate) fn push_line_safe(&mut self, name: &str, value: &str, non_ascii: bool) {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(": ");
        self.text.push_str(value);
        let end = self.text.len();
        self.text.push_str("\r\n");
        self.non_ascii |= non_ascii;
        self.fields.push(FieldSpan { start, name_end, end });
        self.names |= name_bit(name);
    }

    /// Bytes the buffers hold without growing.
    pub(crate) fn capacity(&self) -> usize {
        self.text.capacity() + self.fields.capacity() * std::mem::size_of::<FieldSpan>()
    }

    /// No fields, the buffers kept.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.non_ascii = false;
        self.fields.clear();
        self.names = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The common names have a bit each: a lookup of one that is absent
    /// ends at the bitmap.
    #[test]
    fn common_names_do_not_share_bits() {
        let names = [
            "Host",
            "Accept-Encoding",
            "If-None-Match",
            "If-Modified-Since",
            "Range",
            "If-Range",
            "Connection",
            "Content-Length",
            "Content-Type",
            "Last-Modified",
            "ETag",
            "Accept-Ranges",
            "Transfer-Encoding",
            "Expect",
            "Authorization",
            "Cookie",
            "Origin",
            "Cache-Control",
            "User-Agent",
            "Accept",
            "Accept-Language",
            "Referer",
            "If-Match",
            "If-Unmodified-Since",
            "Upgrade",
            "Keep-Alive",
            "Sec-Fetch-Mode",
            "Pragma",
            "Content-Disposition",
            "Location",
            "Server",
            "Date",
        ];
        let mut seen = 0u64;
        for name in names {
            assert_eq!(seen & name_bit(name), 0, "{name} shares a bit");
            seen |= name_bit(name);
            assert_eq!(name_bit(name), name_bit(&name.to_ascii_uppercase()));
        }
    }

    /// Lookups agree with a plain scan for names present, absent, and in
    /// another case, whatever bits the names share.
    #[test]
    fn lookups_agree_with_a_scan() {
        let names = [
            "Host",
            "User-Agent",
            "Accept",
            "Accept-Encoding",
            "Connection",
            "Range",
            "If-Range",
            "Cookie",
            "If-None-Match",
            "If-Modified-Since",
            "X",
            "x-a",
            "Content-Length",
            "Transfer-Encoding",
            "Expect",
        ];
        let mut headers = Headers::default();
        for (i, name) in names.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            headers.push(name, &i.to_string());
        }
        headers.push("HOST", "again");
        for name in names.iter().flat_map(|n| [n.to_string(), n.to_ascii_lowercase(), n.to_ascii_uppercase()])
        {
            let scan: Vec<&str> =
                headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(&name)).map(|(_, v)| v).collect();
            assert_eq!(headers.get_all(&name).collect::<Vec<_>>(), scan, "{name}");
            assert_eq!(headers.get(&name), scan.first().copied(), "{name}");
            assert_eq!(headers.contains(&name), !scan.is_empty(), "{name}");
        }
        assert_eq!(headers.get_all("host").collect::<Vec<_>>(), ["0", "again"]);
        assert!(headers.ascii_lines().unwrap().starts_with(b"Host: 0\r\nAccept: 2\r\n"));
        headers.clear();
        assert_eq!(headers.get("Host"), None);
        assert!(headers.is_empty());
    }

    /// Lines as they go out: CR and LF in a field become spaces; text that
    /// is not ASCII is left for the writer to encode.
    #[test]
    fn lines_cannot_be_split() {
        let mut headers = Headers::default();
        headers.push("X-A", "one\r\nSet-Cookie: evil");
        headers.push("X\nB", "two");
        assert_eq!(headers.ascii_lines(), Some(&b"X-A: one  Set-Cookie: evil\r\nX B: two\r\n"[..]));
        assert_eq!(headers.get("X-A"), Some("one  Set-Cookie: evil"));
        headers.push("X-C", "caf\u{e9}");
        assert_eq!(headers.ascii_lines(), None);
        assert_eq!(headers.get("x-c"), Some("caf\u{e9}"));
    }
}
