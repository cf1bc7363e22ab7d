//! `multipart/form-data` request bodies, parsed as they stream in.
//!
//! RFC 7578 over RFC 2046's framing: an ignored preamble, then parts
//! separated by the delimiter `CRLF--boundary` (the first one may come
//! without its CRLF), each part a head of `Name: value` lines ended by an
//! empty line and then its content, and a close delimiter
//! `CRLF--boundary--` after which the epilogue is ignored.
//!
//! [`MultipartParser`] takes the body in chunks of any size and reports each
//! part as it goes ([`PartEvent`]): a part's content is handed on as slices
//! of the input, never buffered, so an upload of any size needs the same
//! memory. What it keeps: the bytes at the end of a chunk that could be the
//! start of a delimiter (at most the delimiter's length, held as a count of
//! the delimiter's bytes matched so far) and one part head of at most
//! [`MAX_HEAD`] bytes. A body with more than [`MAX_PARTS`] parts or more
//! than [`MAX_PREAMBLE`] bytes of preamble is refused.
//!
//! File names are kept as the bytes the client sent: browsers send raw
//! UTF-8 in `filename="..."` and replace `"`, CR and LF by `%22`, `%0D` and
//! `%0A` (the HTML standard's encoding, which a literal `%22` in a name
//! shares, so it is left as it is); a backslash escapes only `"` and `\`
//! (RFC 9110's quoted-pair), so a name holding a lone backslash keeps it.

use std::fmt;

/// Most bytes of preamble (before the first delimiter) a body may have.
pub const MAX_PREAMBLE: usize = 16 * 1024;

/// Most bytes of one part's head, its ending empty line included (also the
/// most transport padding after a delimiter).
pub const MAX_HEAD: usize = 16 * 1024;

/// Most parts in one body.
pub const MAX_PARTS: usize = 1000;

/// The longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// The boundary parameter of a `multipart/form-data` Content-Type (RFC
/// 7578/2046: quoted or token, 1 to 70 of RFC 2046's `bchars`, not ending in
/// a space), or `None` if the type is not `multipart/form-data` or has no
/// valid boundary.
pub fn form_data_boundary(content_type: &str) -> Option<String> {
    let (kind, params) = parameters(content_type.as_bytes())?;
    if !kind.eq_ignore_ascii_case(b"multipart/form-data") {
        return None;
    }
    let value = param(&params, b"boundary")?;
    let valid = !value.is_empty()
        && value.len() <= MAX_BOUNDARY
        && value.last() != Some(&b' ')
        && value.iter().all(|&b| is_bchar(b));
    if valid {
        String::from_utf8(value.to_vec()).ok()
    } else {
        None
    }
}

/// What one part's head says (RFC 7578 section 4.2 and 4.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHead {
    /// The `name` of its `Content-Disposition` (the form field's name),
    /// invalid UTF-8 replaced by U+FFFD; `None` without one.
    pub name: Option<String>,
    /// The file name: `filename*` (RFC 5987, UTF-8 or ISO-8859-1) when
    /// present and well-formed, else `filename`, as raw bytes (see the
    /// module documentation). `None` for a plain field; `Some` and empty
    /// for a file input left empty (browsers send `filename=""`).
    pub filename: Option<Vec<u8>>,
    /// The part's `Content-Type` value, `None` without one.
    pub content_type: Option<String>,
}

/// What the parser reports, in body order: for each part a `Start`, its
/// content in zero or more `Data` slices (split anywhere, never empty), and
/// an `End`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartEvent<'a> {
    /// A part begins: its head was read.
    Start(PartHead),
    /// The next bytes of the current part's content.
    Data(&'a [u8]),
    /// The current part's content is complete (its delimiter was seen).
    End,
}

/// Why a body is not acceptable `multipart/form-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    /// More than [`MAX_PREAMBLE`] bytes before the first delimiter.
    PreambleTooLong,
    /// A part head (or the padding after a delimiter) over [`MAX_HEAD`] bytes.
    HeadTooLong,
    /// A part head line that is not `Name: value`, or a `Content-Disposition`
    /// that cannot be read (an unterminated quoted string, say).
    BadHead,
    /// A delimiter followed by something other than transport padding and
    /// CRLF, or `--`.
    BadDelimiter,
    /// More than [`MAX_PARTS`] parts.
    TooManyParts,
    /// The body ended before the close delimiter.
    Truncated,
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::PreambleTooLong => {
                write!(f, "more than {MAX_PREAMBLE} bytes before the first multipart boundary")
            }
            MultipartError::HeadTooLong => write!(f, "a multipart part head longer than {MAX_HEAD} bytes"),
            MultipartError::BadHead => f.write_str("a malformed multipart part head"),
            MultipartError::BadDelimiter => {
                f.write_str("a multipart boundary followed by neither CRLF nor \"--\"")
            }
            MultipartError::TooManyParts => write!(f, "more than {MAX_PARTS} parts in a multipart body"),
            MultipartError::Truncated => f.write_str("the multipart body ended before its closing boundary"),
        }
    }
}

impl std::error::Error for MultipartError {}

/// Where the parser is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter: bytes are discarded (and counted).
    Preamble,
    /// Just after a delimiter.
    AfterDelimiter(Line),
    /// Reading a part's head into `head`.
    Head,
    /// A part's content, up to the next delimiter.
    Content,
    /// After the close delimiter: the epilogue, ignored.
    Epilogue,
    /// A malformed body: every later call returns this error.
    Failed(MultipartError),
}

/// The rest of a delimiter's line read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Nothing yet.
    Start,
    /// One `-` of the close delimiter's `--`.
    Dash,
    /// This many spaces or tabs of transport padding.
    Padding(usize),
    /// The CR of the line's end.
    Cr,
}

/// A streaming `multipart/form-data` parser (see the module documentation).
#[derive(Debug, Clone)]
pub struct MultipartParser {
    /// `CRLF--boundary`.
    delimiter: Vec<u8>,
    /// Knuth-Morris-Pratt's table for `delimiter`: `fallback[k]` is the
    /// length of the longest proper prefix of `delimiter[..k]` that is also
    /// its suffix (all zeros for a valid boundary, which holds no CR).
    fallback: Vec<usize>,
    /// How many bytes of `delimiter` the input seen so far ends with: those
    /// bytes are held back (they are `delimiter[..matched]`) until decided.
    matched: usize,
    state: State,
    /// Preamble bytes discarded so far, plus the CRLF `new` pretends to have
    /// seen.
    preamble: usize,
    /// The current part's head as read so far.
    head: Vec<u8>,
    /// Parts begun so far.
    parts: usize,
}

impl MultipartParser {
    /// A parser for a body whose boundary is `boundary` (as
    /// [`form_data_boundary`] returns it; the parser keeps a few words per
    /// byte of it).
    pub fn new(boundary: &str) -> MultipartParser {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let fallback = fallback_table(&delimiter);
        MultipartParser {
            delimiter,
            fallback,
            // The first delimiter may open the body without its CRLF: start
            // as if a CRLF had been seen.
            matched: 2,
            state: State::Preamble,
            preamble: 0,
            head: Vec::new(),
            parts: 0,
        }
    }

    /// Feed the next bytes of the body; events go to `on_event` in order.
    /// Content may be reported in any number of `Data` slices, whatever the
    /// chunks fed. After an error every later call returns the same error.
    pub fn feed(
        &mut self,
        input: &[u8],
        on_event: &mut dyn FnMut(PartEvent<'_>),
    ) -> Result<(), MultipartError> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        let result = self.run(input, on_event);
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    /// The body ended: `Ok` only if the close delimiter was seen.
    pub fn finish(&mut self) -> Result<(), MultipartError> {
        match self.state {
            State::Epilogue => Ok(()),
            State::Failed(e) => Err(e),
            _ => {
                self.state = State::Failed(MultipartError::Truncated);
                Err(MultipartError::Truncated)
            }
        }
    }

    fn run(
        &mut self,
        mut input: &[u8],
        on_event: &mut dyn FnMut(PartEvent<'_>),
    ) -> Result<(), MultipartError> {
        while !input.is_empty() {
            let used = match self.state {
                State::Failed(e) => return Err(e),
                State::Epilogue => input.len(),
                State::Preamble => {
                    let mut discarded = 0usize;
                    let found =
                        scan(&self.delimiter, &self.fallback, &mut self.matched, input, &mut |bytes| {
                            discarded += bytes.len()
                        });
                    // Counted whether or not the delimiter was found, so the
                    // outcome does not depend on how the body was split.
                    // (The count includes the CRLF `new` pretended to see.)
                    self.preamble = self.preamble.saturating_add(discarded);
                    if self.preamble > MAX_PREAMBLE + 2 {
                        return Err(MultipartError::PreambleTooLong);
                    }
                    match found {
                        Some(n) => {
                            self.state = State::AfterDelimiter(Line::Start);
                            n
                        }
                        None => input.len(),
                    }
                }
                State::Content => {
                    let found =
                        scan(&self.delimiter, &self.fallback, &mut self.matched, input, &mut |bytes| {
                            on_event(PartEvent::Data(bytes))
                        });
                    match found {
                        Some(n) => {
                            on_event(PartEvent::End);
                            self.state = State::AfterDelimiter(Line::Start);
                            n
                        }
                        None => input.len(),
                    }
                }
                State::AfterDelimiter(line) => self.delimiter_line(line, input)?,
                State::Head => self.read_head(input, on_event)?,
            };
            input = &input[used..];
        }
        Ok(())
    }

    /// Reads the rest of a delimiter's line from `input`: `--` (the close),
    /// or transport padding and CRLF (a part follows). Returns the bytes used.
    fn delimiter_line(&mut self, mut line: Line, input: &[u8]) -> Result<usize, MultipartError> {
        for (i, &b) in input.iter().enumerate() {
            line = match (line, b) {
                (Line::Start, b'-') => Line::Dash,
                (Line::Dash, b'-') => {
                    self.state = State::Epilogue;
                    return Ok(i + 1);
                }
                (Line::Start, b' ' | b'\t') => Line::Padding(1),
                (Line::Padding(n), b' ' | b'\t') if n < MAX_HEAD => Line::Padding(n + 1),
                (Line::Padding(_), b' ' | b'\t') => return Err(MultipartError::HeadTooLong),
                (Line::Start | Line::Padding(_), b'\r') => Line::Cr,
                (Line::Cr, b'\n') => {
                    self.parts += 1;
                    if self.parts > MAX_PARTS {
                        return Err(MultipartError::TooManyParts);
                    }
                    self.head.clear();
                    self.state = State::Head;
                    return Ok(i + 1);
                }
                _ => return Err(MultipartError::BadDelimiter),
            };
        }
        self.state = State::AfterDelimiter(line);
        Ok(input.len())
    }

    /// Reads a part head from `input` up to its empty line, then reports
    /// it. Returns the bytes used.
    fn read_head(
        &mut self,
        input: &[u8],
        on_event: &mut dyn FnMut(PartEvent<'_>),
    ) -> Result<usize, MultipartError> {
        for (i, &b) in input.iter().enumerate() {
            if self.head.len() >= MAX_HEAD {
                return Err(MultipartError::HeadTooLong);
            }
            self.head.push(b);
            // A head with no fields is the empty line alone.
            if self.head[..] == b"\r\n"[..] || self.head.ends_with(b"\r\n\r\n") {
                let head = parse_head(&self.head)?;
                on_event(PartEvent::Start(head));
                self.state = State::Content;
                return Ok(i + 1);
            }
        }
        Ok(input.len())
    }
}

/// Knuth-Morris-Pratt's failure table of `pattern` (`pattern.len() + 1`
/// entries).
fn fallback_table(pattern: &[u8]) -> Vec<usize> {
    let mut table = vec![0; pattern.len() + 1];
    let mut k = 0;
    for q in 1..pattern.len() {
        while k > 0 && pattern[k] != pattern[q] {
            k = table[k];
        }
        if pattern[k] == pattern[q] {
            k += 1;
        }
        table[q + 1] = k;
    }
    table
}

/// Looks for `delimiter` in the input seen so far, which ends with the
/// `*matched` bytes of it held back and continues with `input`. Bytes found
/// not to start a delimiter go to `content`, in order (slices of `input` or
/// of `delimiter` for bytes held back earlier). Returns how many bytes of
/// `input` end the delimiter if it is complete (then `*matched` is 0), else
/// `None` with all of `input` taken and `*matched` its held-back tail.
fn scan(
    delimiter: &[u8],
    fallback: &[usize],
    matched: &mut usize,
    input: &[u8],
    content: &mut dyn FnMut(&[u8]),
) -> Option<usize> {
    let whole = delimiter.len();
    let first = match delimiter.first() {
        Some(&b) => b,
        None => return None, // `new` always makes one; no delimiter, no match
    };
    let mut i = 0;
    // A match begun in earlier input: one byte at a time (Knuth-Morris-
    // Pratt), until it completes or fails down to nothing.
    while *matched > 0 {
        let b = match input.get(i) {
            Some(&b) => b,
            None => return None,
        };
        while *matched > 0 && delimiter[*matched] != b {
            let keep = fallback[*matched];
            content(&delimiter[..*matched - keep]);
            *matched = keep;
        }
        if delimiter[*matched] == b {
            *matched += 1;
            i += 1;
            if *matched == whole {
                *matched = 0;
                return Some(i);
            }
        } else {
            break; // `b` is content; continue below from it
        }
    }
    // Nothing held back: hand on runs of `input` up to each candidate start.
    let start = i;
    loop {
        let at = match input[i..].iter().position(|&b| b == first) {
            Some(p) => i + p,
            None => {
                if start < input.len() {
                    content(&input[start..]);
                }
                return None;
            }
        };
        let available = whole.min(input.len() - at);
        if input[at..at + available] == delimiter[..available] {
            if at > start {
                content(&input[start..at]);
            }
            if available == whole {
                return Some(at + whole);
            }
            // The input ends with the start of a delimiter: hold it back.
            *matched = available;
            return None;
        }
        i = at + 1;
    }
}

/// Reads a part head: `raw` is its lines, each ended by CRLF, then the
/// empty line's CRLF.
fn parse_head(raw: &[u8]) -> Result<PartHead, MultipartError> {
    let mut rest = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    let mut fields: Vec<(&[u8], Vec<u8>)> = Vec::new();
    while let Some(end) = find(rest, b"\r\n") {
        let line = &rest[..end];
        rest = &rest[end + 2..];
        if line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(MultipartError::BadHead);
        }
        if line.first().map_or(false, |&b| b == b' ' || b == b'\t') {
            // An obsolete line folding: more of the previous value.
            match fields.last_mut() {
                Some((_, value)) => {
                    value.push(b' ');
                    value.extend_from_slice(trim(line));
                }
                None => return Err(MultipartError::BadHead),
            }
            continue;
        }
        let colon = match line.iter().position(|&b| b == b':') {
            Some(c) => c,
            None => return Err(MultipartError::BadHead),
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(MultipartError::BadHead);
        }
        fields.push((name, trim(&line[colon + 1..]).to_vec()));
    }
    if !rest.is_empty() {
        return Err(MultipartError::BadHead);
    }
    let mut head = PartHead::default();
    let mut disposition_seen = false;
    for (name, value) in &fields {
        if name.eq_ignore_ascii_case(b"content-disposition") && !disposition_seen {
            disposition_seen = true;
            let (_, params) = match parameters(value) {
                Some(p) => p,
                None => return Err(MultipartError::BadHead),
            };
            head.name = param(&params, b"name").map(|v| String::from_utf8_lossy(v).into_owned());
            head.filename = param(&params, b"filename*")
                .and_then(ext_value)
                .or_else(|| param(&params, b"filename").map(<[u8]>::to_vec));
        } else if name.eq_ignore_ascii_case(b"content-type")
            && head.content_type.is_none()
            && !value.is_empty()
        {
            head.content_type = Some(String::from_utf8_lossy(value).into_owned());
        }
    }
    Ok(head)
}

/// A parameter's name (ASCII lowercase) and value.
type Param = (Vec<u8>, Vec<u8>);

/// Splits `type; name=value; name="quoted value"` (a Content-Type or
/// Content-Disposition) into its type and parameters; `None` if a quoted
/// string is unterminated, something follows one, or a parameter has no
/// name. An unquoted value runs to the next `;` (lenient: browsers never
/// send one, other clients may with spaces in it); a parameter without `=`
/// has an empty value.
fn parameters(s: &[u8]) -> Option<(&[u8], Vec<Param>)> {
    let type_end = s.iter().position(|&b| b == b';').unwrap_or(s.len());
    let kind = trim(&s[..type_end]);
    let mut params = Vec::new();
    let mut i = type_end;
    loop {
        i = skip_space(s, i);
        if i == s.len() {
            return Some((kind, params));
        }
        if s[i] != b';' {
            return None;
        }
        i = skip_space(s, i + 1);
        if i == s.len() || s[i] == b';' {
            continue; // an empty parameter
        }
        let name_start = i;
        while i < s.len() && !matches!(s[i], b'=' | b';' | b' ' | b'\t') {
            i += 1;
        }
        let name = s[name_start..i].to_ascii_lowercase();
        if name.is_empty() {
            return None;
        }
        i = skip_space(s, i);
        let mut value = Vec::new();
        if i < s.len() && s[i] == b'=' {
            i = skip_space(s, i + 1);
            if i < s.len() && s[i] == b'"' {
                i += 1;
                loop {
                    match s.get(i) {
                        None => return None,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if matches!(s.get(i + 1), Some(b'"' | b'\\')) => {
                            value.push(s[i + 1]);
                            i += 2;
                        }
                        Some(&b) => {
                            value.push(b);
                            i += 1;
                        }
                    }
                }
            } else {
                let value_start = i;
                while i < s.len() && s[i] != b';' {
                    i += 1;
                }
                value = trim(&s[value_start..i]).to_vec();
            }
        }
        params.push((name, value));
    }
}

/// The value of the first parameter called `name` (lowercase).
fn param<'a>(params: &'a [Param], name: &[u8]) -> Option<&'a [u8]> {
    params.iter().find(|(n, _)| n[..] == *name).map(|(_, v)| &v[..])
}

/// An RFC 5987 `ext-value` (`charset'language'percent-encoded`) as bytes:
/// UTF-8's as they are, ISO-8859-1's converted to UTF-8; `None` for another
/// charset or a malformed value.
fn ext_value(value: &[u8]) -> Option<Vec<u8>> {
    let quote = value.iter().position(|&b| b == b'\'')?;
    let charset = &value[..quote];
    let after = &value[quote + 1..];
    let encoded = &after[after.iter().position(|&b| b == b'\'')? + 1..];
    let bytes = percent_decode(encoded)?;
    if charset.eq_ignore_ascii_case(b"utf-8") {
        Some(bytes)
    } else if charset.eq_ignore_ascii_case(b"iso-8859-1") {
        Some(bytes.iter().map(|&b| char::from(b)).collect::<String>().into_bytes())
    } else {
        None
    }
}

/// `%XX` sequences decoded; `None` if a `%` is not followed by two hex
/// digits.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = char::from(*s.get(i + 1)?).to_digit(16)?;
            let lo = char::from(*s.get(i + 2)?).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `s` without leading and trailing spaces and tabs.
fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    &s[start..end]
}

/// The first position from `i` that is not a space or a tab.
fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

/// RFC 9110's `tchar` (header field names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 2046's `bchars` (boundaries).
fn is_bchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed part: its head and its whole content.
    type Part = (PartHead, Vec<u8>);

    /// `body` fed in chunks of `chunk` bytes, then finished; the parts,
    /// checking the events' order and that no `Data` is empty.
    fn parse(boundary: &str, body: &[u8], chunk: usize) -> Result<Vec<Part>, MultipartError> {
        let mut parser = MultipartParser::new(boundary);
        let mut parts: Vec<Part> = Vec::new();
        let mut open = false;
        let mut on_event = |event: PartEvent<'_>| match event {
            PartEvent::Start(head) => {
                assert!(!open, "Start inside a part");
                open = true;
                parts.push((head, Vec::new()));
            }
            PartEvent::Data(bytes) => {
                assert!(open, "Data outside a part");
                assert!(!bytes.is_empty(), "empty Data");
                parts.last_mut().unwrap().1.extend_from_slice(bytes);
            }
            PartEvent::End => {
                assert!(open, "End outside a part");
                open = false;
            }
        };
        for piece in body.chunks(chunk.max(1)) {
            parser.feed(piece, &mut on_event)?;
        }
        parser.finish()?;
        assert!(!open, "finished inside a part");
        Ok(parts)
    }

    /// `parse` at many chunk sizes, checking they all agree; the result.
    fn parse_any_split(boundary: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
        let whole = parse(boundary, body, body.len());
        for chunk in [1, 2, 3, 5, 7, 13, 64] {
            assert_eq!(parse(boundary, body, chunk), whole, "chunks of {chunk}");
        }
        whole
    }

    fn file(name: &str, filename: &[u8], content_type: &str) -> PartHead {
        PartHead {
            name: Some(name.to_string()),
            filename: Some(filename.to_vec()),
            content_type: Some(content_type.to_string()),
        }
    }

    fn field(name: &str) -> PartHead {
        PartHead { name: Some(name.to_string()), filename: None, content_type: None }
    }

    const CHROMIUM: &str = "----WebKitFormBoundaryePkpFF7tjBAqx29L";

    #[test]
    fn chromium_two_files_and_a_text_field() {
        let body = b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"a b.txt\"\r\n\
Content-Type: text/plain\r\n\
\r\n\
hello\r\nworld\r\n\
------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"\xc3\xa9t\xc3\xa9 %22q%22.png\"\r\n\
Content-Type: image/png\r\n\
\r\n\
\x89PNG\r\n\x1a\n\0\0\r\n-\r\n--\r\n----WebKitFormBoundary\r\n\
------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n\
Content-Disposition: form-data; name=\"comment\"\r\n\
\r\n\
two words\r\n\
------WebKitFormBoundaryePkpFF7tjBAqx29L--\r\n";
        let parts = parse_any_split(CHROMIUM, body).unwrap();
        assert_eq!(
            parts,
            vec![
                (file("file", b"a b.txt", "text/plain"), b"hello\r\nworld".to_vec()),
                (
                    file("file", "été %22q%22.png".as_bytes(), "image/png"),
                    b"\x89PNG\r\n\x1a\n\0\0\r\n-\r\n--\r\n----WebKitFormBoundary".to_vec()
                ),
                (field("comment"), b"two words".to_vec()),
            ]
        );
    }

    #[test]
    fn curl_form_file_and_field() {
        // `curl -F file=@a.txt -F name=value`, with curl's boundary shape.
        let boundary = "------------------------d74496d66958873e";
        let body = b"--------------------------d74496d66958873e\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
Content-Type: text/plain\r\n\
\r\n\
line one\n\
\r\n\
--------------------------d74496d66958873e\r\n\
Content-Disposition: form-data; name=\"name\"\r\n\
\r\n\
value\r\n\
--------------------------d74496d66958873e--\r\n";
        assert_eq!(
            form_data_boundary(&format!("multipart/form-data; boundary={boundary}")).as_deref(),
            Some(boundary)
        );
        let parts = parse_any_split(boundary, body).unwrap();
        assert_eq!(
            parts,
            vec![
                (file("file", b"a.txt", "text/plain"), b"line one\n".to_vec()),
                (field("name"), b"value".to_vec()),
            ]
        );
    }

    #[test]
    fn empty_file_and_empty_file_input() {
        let body = b"--b\r\n\
Content-Disposition: form-data; name=\"f\"; filename=\"empty.txt\"\r\n\
Content-Type: text/plain\r\n\
\r\n\
\r\n\
--b\r\n\
Content-Disposition: form-data; name=\"g\"; filename=\"\"\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
\r\n\
--b--";
        let parts = parse_any_split("b", body).unwrap();
        assert_eq!(
            parts,
            vec![
                (file("f", b"empty.txt", "text/plain"), Vec::new()),
                (file("g", b"", "application/octet-stream"), Vec::new()),
            ]
        );
    }

    #[test]
    fn filename_star_wins_over_filename() {
        let body = b"--b\r\n\
content-disposition: form-data; filename=\"fallback.txt\"; name=f; filename*=UTF-8''%E2%82%AC%20rates.txt\r\n\
\r\n\
x\r\n\
--b\r\n\
Content-Disposition: form-data; name=\"g\"; filename*=iso-8859-1'en'caf%E9.txt\r\n\
\r\n\
y\r\n\
--b\r\n\
Content-Disposition: form-data; name=\"h\"; filename*=UTF-8''bad%zz; filename=\"kept.txt\"\r\n\
\r\n\
z\r\n\
--b--\r\n";
        let parts = parse_any_split("b", body).unwrap();
        let names: Vec<_> = parts.iter().map(|(head, _)| head.filename.clone().unwrap()).collect();
        assert_eq!(
            names,
            vec!["€ rates.txt".as_bytes().to_vec(), "café.txt".as_bytes().to_vec(), b"kept.txt".to_vec()]
        );
        assert_eq!(parts[0].0.name.as_deref(), Some("f"));
    }

    #[test]
    fn quoted_pairs_and_lone_backslashes() {
        let body = b"--b\r\n\
Content-Disposition: form-data; name=\"a\\\"b\"; filename=\"c\\\\d\\e;f.txt\"\r\n\
\r\n\
\r\n\
--b--";
        let parts = parse_any_split("b", body).unwrap();
        assert_eq!(parts[0].0.name.as_deref(), Some("a\"b"));
        assert_eq!(parts[0].0.filename.as_deref(), Some(&b"c\\d\\e;f.txt"[..]));
    }

    #[test]
    fn boundary_lookalikes_in_content_are_content() {
        // `--b` without CRLF, CRLF `--` with another boundary, a CR alone,
        // and a delimiter prefix right before the real delimiter.
        let content: &[u8] = b"--boundary\r\n--boundar\r\r\n-\r\n--bound\r\n--boundarx\r\n--bounda";
        let mut body =
            b"--boundary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n".to_vec();
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n--boundary--\r\n");
        let parts = parse_any_split("boundary", &body).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].1, content);
    }

    #[test]
    fn boundary_split_across_feeds() {
        let body = b"--xyz\r\n\r\nab\r\n--xyz\r\n\r\ncd\r\n--xyz--";
        for cut in 0..=body.len() {
            let mut parser = MultipartParser::new("xyz");
            let mut events = Vec::new();
            let mut on_event = |e: PartEvent<'_>| {
                events.push(match e {
                    PartEvent::Start(_) => "start".to_string(),
                    PartEvent::Data(d) => String::from_utf8(d.to_vec()).unwrap(),
                    PartEvent::End => "end".to_string(),
                })
            };
            parser.feed(&body[..cut], &mut on_event).unwrap();
            parser.feed(&body[cut..], &mut on_event).unwrap();
            parser.finish().unwrap();
            let joined = events.join("|");
            // Data may come in pieces; merged, it is exact.
            let merged = joined.replace("start|", "start:").replace("|end", ":end");
            let merged: String = merged.split('|').collect();
            assert_eq!(merged, "start:ab:endstart:cd:end", "cut at {cut}: {joined}");
        }
    }

    #[test]
    fn held_back_bytes_are_released_when_not_a_delimiter() {
        let mut parser = MultipartParser::new("b");
        let mut data = Vec::new();
        parser
            .feed(b"--b\r\n\r\nxy\r\n-", &mut |e| {
                if let PartEvent::Data(d) = e {
                    data.extend_from_slice(d)
                }
            })
            .unwrap();
        assert_eq!(data, b"xy", "the possible delimiter start is held back");
        parser
            .feed(b"-c", &mut |e| {
                if let PartEvent::Data(d) = e {
                    data.extend_from_slice(d)
                }
            })
            .unwrap();
        assert_eq!(data, b"xy\r\n--c");
    }

    #[test]
    fn preamble_epilogue_padding_and_no_fields() {
        let body = b"This is a preamble.\r\n--b  \t\r\n\r\nx\r\n--b--ignored\r\n--b\r\nepilogue";
        let parts = parse_any_split("b", body).unwrap();
        assert_eq!(parts, vec![(PartHead::default(), b"x".to_vec())]);
        // No part at all is a valid body too.
        assert_eq!(parse_any_split("b", b"--b--"), Ok(vec![]));
    }

    #[test]
    fn preamble_too_long() {
        let mut body = vec![b'a'; MAX_PREAMBLE];
        body.extend_from_slice(b"\r\n--b\r\n\r\nx\r\n--b--");
        assert_eq!(parse_any_split("b", &body).unwrap().len(), 1);
        body.insert(0, b'a');
        assert_eq!(parse_any_split("b", &body), Err(MultipartError::PreambleTooLong));
    }

    #[test]
    fn missing_close_is_truncated() {
        for body in [
            &b""[..],
            b"--b",
            b"--b\r\n",
            b"--b\r\nA: b\r\n",
            b"--b\r\n\r\nabc",
            b"--b\r\n\r\nabc\r\n--b",
            b"--b\r\n\r\nabc\r\n--b-",
        ] {
            assert_eq!(parse_any_split("b", body), Err(MultipartError::Truncated), "{body:?}");
        }
    }

    #[test]
    fn head_too_long() {
        let mut body = b"--b\r\nX-Long: ".to_vec();
        body.extend(std::iter::repeat(b'a').take(MAX_HEAD));
        body.extend_from_slice(b"\r\n\r\nx\r\n--b--");
        assert_eq!(parse_any_split("b", &body), Err(MultipartError::HeadTooLong));
        // Just under the limit is fine.
        let mut body = b"--b\r\nX-Long: ".to_vec();
        body.extend(std::iter::repeat(b'a').take(MAX_HEAD - 12));
        body.extend_from_slice(b"\r\n\r\nx\r\n--b--");
        assert_eq!(parse_any_split("b", &body).unwrap().len(), 1);
    }

    #[test]
    fn too_many_parts() {
        let body = |n: usize| {
            let mut body = b"--b".to_vec();
            for _ in 0..n {
                body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b");
            }
            body.extend_from_slice(b"--");
            body
        };
        assert_eq!(parse("b", &body(MAX_PARTS), 1000).unwrap().len(), MAX_PARTS);
        assert_eq!(parse("b", &body(MAX_PARTS + 1), 1000), Err(MultipartError::TooManyParts));
    }

    #[test]
    fn malformed_bodies() {
        let cases: &[(&[u8], MultipartError)] = &[
            (b"--b\r\nno colon\r\n\r\n\r\n--b--", MultipartError::BadHead),
            (b"--b\r\n: empty name\r\n\r\n\r\n--b--", MultipartError::BadHead),
            (b"--b\r\n folded first\r\n\r\n\r\n--b--", MultipartError::BadHead),
            (b"--b\r\nContent-Disposition: form-data; name=\"x\r\n\r\n\r\n--b--", MultipartError::BadHead),
            (b"--b\r\nContent-Disposition: form-data; name=\"x\"y\r\n\r\n\r\n--b--", MultipartError::BadHead),
            (b"--b\r\nA: b\rc\r\n\r\n\r\n--b--", MultipartError::BadHead),
            (b"--bc\r\n\r\n\r\n--b--", MultipartError::BadDelimiter),
            (b"--b\n\r\n\r\n--b--", MultipartError::BadDelimiter),
            (b"--b\r\n\r\nx\r\n--b-x", MultipartError::BadDelimiter),
            (b"--b \r", MultipartError::Truncated),
        ];
        for (body, error) in cases {
            assert_eq!(parse_any_split("b", body), Err(*error), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn errors_are_sticky() {
        let mut parser = MultipartParser::new("b");
        let mut on_event = |_: PartEvent<'_>| panic!("no event expected");
        assert_eq!(parser.feed(b"--bX", &mut on_event), Err(MultipartError::BadDelimiter));
        assert_eq!(parser.feed(b"\r\n\r\n", &mut on_event), Err(MultipartError::BadDelimiter));
        assert_eq!(parser.feed(b"", &mut on_event), Err(MultipartError::BadDelimiter));
        assert_eq!(parser.finish(), Err(MultipartError::BadDelimiter));
    }

    #[test]
    fn folded_and_repeated_fields() {
        let body = b"--b\r\n\
Content-Type: text/plain;\r\n\
\x20charset=utf-8\r\n\
Content-Disposition: form-data; name=\"first\"\r\n\
Content-Disposition: form-data; name=\"second\"\r\n\
X-Other: ignored\r\n\
\r\n\
v\r\n\
--b--";
        let parts = parse_any_split("b", body).unwrap();
        assert_eq!(parts[0].0.name.as_deref(), Some("first"));
        assert_eq!(parts[0].0.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    }

    #[test]
    fn boundaries_of_content_types() {
        let cases: &[(&str, Option<&str>)] = &[
            ("multipart/form-data; boundary=----WebKitFormBoundaryePkpFF7tjBAqx29L", Some(CHROMIUM)),
            ("Multipart/Form-Data;boundary=\"a b:c\"", Some("a b:c")),
            ("multipart/form-data; charset=utf-8; BOUNDARY = abc ; x=y", Some("abc")),
            ("multipart/form-data; boundary=\"\\\"q\"", None), // `"` is not a bchar
            ("multipart/form-data; boundary=\"ends \"", None),
            ("multipart/form-data; boundary=", None),
            ("multipart/form-data; boundary=\"unterminated", None),
            ("multipart/form-data", None),
            ("multipart/mixed; boundary=abc", None),
            ("text/plain; boundary=abc", None),
            ("multipart/form-data; boundary=é", None),
        ];
        for (content_type, boundary) in cases {
            assert_eq!(form_data_boundary(content_type).as_deref(), *boundary, "{content_type}");
        }
        let longest = "x".repeat(MAX_BOUNDARY);
        assert_eq!(
            form_data_boundary(&format!("multipart/form-data; boundary={longest}")),
            Some(longest.clone())
        );
        assert_eq!(form_data_boundary(&format!("multipart/form-data; boundary={longest}x")), None);
    }

    #[test]
    fn a_boundary_that_overlaps_itself_still_matches() {
        // Not a valid boundary (it holds CR LF), but `new` takes any string:
        // the Knuth-Morris-Pratt fallback keeps the search exact anyway.
        // Delimiter `CRLF--a CRLF--b`: the content's `CRLF--a` and the
        // delimiter's first bytes read as a delimiter up to its last byte.
        let boundary = "a\r\n--b";
        let body = b"--a\r\n--b\r\n\r\nx\r\n--a\r\n--a\r\n--b--";
        assert_eq!(parse_any_split(boundary, body), Ok(vec![(PartHead::default(), b"x\r\n--a".to_vec())]));
    }
}
