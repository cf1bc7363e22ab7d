//! The request head: CPython's request-line rules, and header parsing with
//! the framing checks RFC 9112 requires.

use crate::http::error::{ProtocolError, ProtocolErrorKind};
use crate::http::headers::Headers;
use crate::text::{is_py_space, latin1_string, py_repr, special_bytes};

/// The request's HTTP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Version {
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
}

impl Version {
    /// A two-word request line: HTTP/0.9, no headers, bare body.
    pub const HTTP_09: Version = Version { major: 0, minor: 9 };
    /// HTTP/1.0.
    pub const HTTP_10: Version = Version { major: 1, minor: 0 };
    /// HTTP/1.1.
    pub const HTTP_11: Version = Version { major: 1, minor: 1 };
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyFraming {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestHead {
    /// The method (`command`), case-sensitive, e.g. `GET`.
    pub method: String,
    /// The request target (`path`): query included, a leading `//`
    /// reduced to `/` as CPython does against open redirects.
    pub target: String,
    /// The version; [`Version::HTTP_09`] for a two-word line.
    pub version: Version,
    /// The version word as sent (`request_version`), e.g. `HTTP/1.1`.
    pub version_text: String,
    /// The request line, trailing CR/LF removed, Latin-1 decoded.
    pub request_line: String,
    /// The header fields.
    pub headers: Headers,
    /// How the body is framed.
    pub framing: BodyFraming,
}

impl RequestHead {
    /// A head with nothing in it, to be filled by the parser.
    pub(crate) fn blank() -> RequestHead {
        RequestHead {
            method: String::new(),
            target: String::new(),
            version: Version::HTTP_09,
            version_text: String::new(),
            request_line: String::new(),
            // A small head fits without regrowing (a browser's grows once).
            headers: Headers::with_capacity(8, 256),
            framing: BodyFraming::None,
        }
    }

    /// Whether this is a two-word HTTP/0.9 request.
    pub fn is_http09(&self) -> bool {
        self.version == Version::HTTP_09
    }
}

/// `http.client._MAXHEADERS`: CPython counts the blank line too, so 100
/// header fields are one line too many.
pub(crate) const MAX_HEADER_LINES: usize = 100;

/// What the request line says, before headers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestLine {
    /// Nothing but white space: CPython closes the connection silently.
    Empty,
    /// A valid line.
    Parsed(LineParts),
}

/// Where a valid request line's parts are in its text (byte ranges), so
/// that a parsed line owns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineParts {
    method: (usize, usize),
    /// The target with a leading `//` reduced to `/`: still a part of the
    /// line, from its last leading slash.
    target: (usize, usize),
    /// Empty for HTTP/0.9.
    version_text: (usize, usize),
    version: Version,
    /// Two or three.
    pub(crate) words: usize,
}

impl LineParts {
    /// Whether the method is `HEAD`.
    pub(crate) fn is_head(&self, line: &str) -> bool {
        &line[self.method.0..self.method.1] == "HEAD"
    }
}

/// CPython's `parse_request` for the first line (without its line end).
/// On error, the message is CPython's.
pub(crate) fn parse_request_line(line: &str) -> Result<RequestLine, ProtocolError> {
    // `str.split()`'s words, without collecting them: the first two, the
    // last and how many.
    let mut words = line.split(is_py_space).filter(|w| !w.is_empty());
    let (first, second) = match (words.next(), words.next()) {
        (None, _) => return Ok(RequestLine::Empty),
        (Some(first), second) => (first, second),
    };
    let mut count = 1 + usize::from(second.is_some());
    let mut last = second.unwrap_or(first);
    for word in words {
        count += 1;
        last = word;
    }
    let span = |word: &str| {
        let start = word.as_ptr() as usize - line.as_ptr() as usize;
        (start, start + word.len())
    };
    let mut version = Version::HTTP_09;
    let mut version_text = (0, 0);
    if count >= 3 {
        version = parse_version(last).ok_or_else(|| {
            ProtocolError::new(
                ProtocolErrorKind::BadRequestVersion,
                format!("Bad request version ({})", py_repr(last)),
            )
        })?;
        if version.major >= 2 {
            return Err(ProtocolError::new(
                ProtocolErrorKind::VersionNotSupported,
                format!("Invalid HTTP version ({})", &last[5..]),
            ));
        }
        version_text = span(last);
    }
    let second = match second {
        Some(second) if count <= 3 => second,
        _ => return Err(ProtocolError::bad_request_syntax(line)),
    };
    if count == 2 && first != "GET" {
        return Err(ProtocolError::new(
            ProtocolErrorKind::BadHttp09Method,
            format!("Bad HTTP/0.9 request type ({})", py_repr(first)),
        ));
    }
    let mut target = span(second);
    if second.starts_with("//") {
        target.0 = target.1 - second.trim_start_matches('/').len() - 1;
    }
    Ok(RequestLine::Parsed(LineParts { method: span(first), target, version, version_text, words: count }))
}

/// `HTTP/<digits>.<digits>`, each part 1 to 10 digits (CPython's rules).
fn parse_version(word: &str) -> Option<Version> {
    let rest = word.strip_prefix("HTTP/")?;
    let (major, minor) = rest.split_once('.')?;
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    Some(Version { major: number(major)?, minor: number(minor)? })
}

/// Parse the header block (lines after the request line, through the blank
/// line) and decide the body's framing, filling `head` (whose buffers are
/// reused) from it and from the request line `line`, whose parts are
/// `parts`. Persistence and `Expect` are the connection's decisions
/// (`connection.rs`).
pub(crate) fn parse_header_block(
    block: &[u8],
    lines: usize,
    parts: LineParts,
    line: &str,
    head: &mut RequestHead,
) -> Result<(), ProtocolError> {
    let set = |field: &mut String, (start, end): (usize, usize)| {
        field.clear();
        field.push_str(&line[start..end]);
    };
    set(&mut head.method, parts.method);
    set(&mut head.target, parts.target);
    set(&mut head.version_text, parts.version_text);
    set(&mut head.request_line, (0, line.len()));
    head.version = parts.version;
    head.headers.clear();
    if lines <= FEW_LINES {
        // Most heads: no need to clear room for the most there may be.
        read_fields(block, &mut [httparse::EMPTY_HEADER; FEW_LINES], &mut head.headers)?;
    } else {
        read_fields(block, &mut [httparse::EMPTY_HEADER; MAX_HEADER_LINES], &mut head.headers)?;
    }
    check_host(&head.headers, head.version)?;
    head.framing = body_framing(&head.headers, head.version)?;
    Ok(())
}

/// Header blocks of up to this many lines (the blank one included) are
/// parsed with room for no more fields.
const FEW_LINES: usize = 24;

/// The fields of `block`, which has fewer lines than `slots`, into
/// `headers`.
fn read_fields<'b>(
    block: &'b [u8],
    slots: &mut [httparse::Header<'b>],
    headers: &mut Headers,
) -> Result<(), ProtocolError> {
    if block.is_empty() {
        return Ok(());
    }
    match httparse::parse_headers(block, slots) {
        Ok(httparse::Status::Complete((_, fields))) => {
            for f in fields.iter() {
                // One pass: refused controls, and whether it is ASCII.
                let found = special_bytes(f.value);
                if found.nul || found.line_break {
                    return Err(bad_header(f.name));
                }
                // Space and tab are single bytes in Latin-1 too.
                let value = trim_ascii_blanks(f.value);
                match std::str::from_utf8(value) {
                    Ok(text) if !found.high => headers.push_line_safe(f.name, text, false),
                    _ => {
                        let text: String = value.iter().map(|&b| char::from(b)).collect();
                        headers.push_line_safe(f.name, &text, true);
                    }
                }
            }
            Ok(())
        }
        _ => Err(bad_header_block(block)),
    }
}

/// `bytes` without leading or trailing spaces and tabs.
fn trim_ascii_blanks(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

fn bad_header(name: &str) -> ProtocolError {
    ProtocolError::new(ProtocolErrorKind::BadHeader, format!("Invalid header field ({})", py_repr(name)))
}

/// Name the first line httparse refused, for the error message and log.
fn bad_header_block(block: &[u8]) -> ProtocolError {
    let line = block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| {
            let mut one = l.to_vec();
            one.extend_from_slice(b"\r\n\r\n");
            let mut slots = [httparse::EMPTY_HEADER; 1];
            !l.is_empty() && httparse::parse_headers(&one, &mut slots).is_err()
        })
        .unwrap_or(b"");
    ProtocolError::new(
        ProtocolErrorKind::BadHeader,
        format!("Invalid header line ({})", py_repr(&latin1_string(line))),
    )
}

/// RFC 9112 section 3.2: an HTTP/1.1 request needs exactly one `Host`,
/// and any `Host` must be a valid `uri-host [":" port]`.
fn check_host(headers: &Headers, version: Version) -> Result<(), ProtocolError> {
    let mut hosts = headers.get_all("Host");
    let err = |msg: &str| Err(ProtocolError::new(ProtocolErrorKind::BadHost, msg.to_string()));
    match (hosts.next(), hosts.next()) {
        (None, _) if version >= Version::HTTP_11 => err("Missing Host header"),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => err("Duplicate Host header"),
        (Some(host), None) if valid_host(host) => Ok(()),
        (Some(host), None) => Err(ProtocolError::new(
            ProtocolErrorKind::BadHost,
            format!("Invalid Host header ({})", py_repr(host)),
        )),
    }
}

/// `uri-host [ ":" port ]` (RFC 3986): a bracketed IP literal, or a
/// reg-name / IPv4 address of unreserved, pct-encoded and sub-delim
/// characters; the port is digits. Empty is allowed (RFC 9110 7.2).
pub(crate) fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.find(']') {
            Some(i) => {
                let literal = &rest[..i];
                let ok = !literal.is_empty()
                    && literal.bytes().all(|b| b.is_ascii_alphanumeric() || b":._~!$&'()*+,;=-".contains(&b));
                if !ok {
                    return false;
                }
                match &rest[i + 1..] {
                    "" => return true,
                    p => match p.strip_prefix(':') {
                        Some(port) => ("", port),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match host.rfind(':') {
            Some(i) => (&host[..i], &host[i + 1..]),
            None => (host, ""),
        }
    };
    let name_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b));
    name_ok && port.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 9112 section 6: how long the body is, refusing every ambiguity a
/// proxy in front of us could read differently (request smuggling).
fn body_framing(headers: &Headers, version: Version) -> Result<BodyFraming, ProtocolError> {
    let te: Vec<&str> = headers.get_all("Transfer-Encoding").collect();
    let cl: Vec<&str> = headers.get_all("Content-Length").collect();
    let te_err = |msg: String| Err(ProtocolError::new(ProtocolErrorKind::BadTransferEncoding, msg));
    if !te.is_empty() {
        if version < Version::HTTP_11 {
            return te_err("Transfer-Encoding in an HTTP/1.0 request".to_string());
        }
        if !cl.is_empty() {
            return te_err("Both Content-Length and Transfer-Encoding".to_string());
        }
        return transfer_codings(&te);
    }
    let mut length: Option<u64> = None;
    for value in cl {
        let n = parse_content_length(value).ok_or_else(|| {
            ProtocolError::new(
                ProtocolErrorKind::BadContentLength,
                format!("Invalid Content-Length ({})", py_repr(value)),
            )
        })?;
        if length.map_or(false, |prev| prev != n) {
            return Err(ProtocolError::new(
                ProtocolErrorKind::BadContentLength,
                "Conflicting Content-Length values".to_string(),
            ));
        }
        length = Some(n);
    }
    Ok(match length {
        None | Some(0) => BodyFraming::None,
        Some(n) => BodyFraming::Length(n),
    })
}

/// RFC 9112 sections 6.1 and 6.3 for the codings of every
/// `Transfer-Encoding` field in order: each a token; `chunked` exactly once
/// and last, else the body's length cannot be known (400); another coding
/// before it is well formed but not something this server decodes (501).
/// Anything not understood exactly is refused, so that no proxy in front
/// can frame the body differently.
fn transfer_codings(fields: &[&str]) -> Result<BodyFraming, ProtocolError> {
    let all = fields.join(", ");
    let bad = || {
        ProtocolError::new(
            ProtocolErrorKind::BadTransferEncoding,
            format!("Invalid Transfer-Encoding ({})", py_repr(&all)),
        )
    };
    let mut codings = Vec::new();
    for field in fields {
        for item in field.split(',') {
            let item = item.trim_matches(|c| c == ' ' || c == '\t');
            if item.is_empty() {
                continue; // empty list elements are allowed (RFC 9110 5.6.1)
            }
            if !is_token(item) {
                return Err(bad());
            }
            codings.push(item);
        }
    }
    let chunked: Vec<usize> = codings
        .iter()
        .enumerate()
        .filter(|(_, c)| c.eq_ignore_ascii_case("chunked"))
        .map(|(i, _)| i)
        .collect();
    match chunked.as_slice() {
        [last] if *last + 1 == codings.len() && codings.len() == 1 => Ok(BodyFraming::Chunked),
        [last] if *last + 1 == codings.len() => Err(ProtocolError::new(
            ProtocolErrorKind::UnsupportedTransferEncoding,
            format!("Unsupported Transfer-Encoding ({})", py_repr(&all)),
        )),
        _ => Err(bad()),
    }
}

/// RFC 9110 `token`: one or more `tchar`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// What the `Connection` fields of a message say, as a comma-separated
/// list of case-insensitive tokens in any number of fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConnectionOptions {
    /// `close` is among them.
    pub(crate) close: bool,
    /// `keep-alive` is among them.
    pub(crate) keep_alive: bool,
}

impl ConnectionOptions {
    pub(crate) fn of<'a>(values: impl Iterator<Item = &'a str>) -> ConnectionOptions {
        let mut options = ConnectionOptions::default();
        for value in values {
            for token in value.split(',').map(|t| t.trim_matches(|c| c == ' ' || c == '\t')) {
                if token.eq_ignore_ascii_case("close") {
                    options.close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    options.keep_alive = true;
                }
            }
        }
        options
    }
}

/// `1*DIGIT` below 2^63: no sign, no underscore, no space inside.
pub(crate) fn parse_content_length(value: &str) -> Option<u64> {
    let v = value.trim_matches(|c| c == ' ' || c == '\t');
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: u64 = 0;
    for b in v.bytes() {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if n >= 1 << 63 {
            return None;
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Result<(String, String, Version), String> {
        match parse_request_line(s) {
            Ok(RequestLine::Parsed(p)) => {
                let part = |(start, end): (usize, usize)| s[start..end].to_string();
                Ok((part(p.method), part(p.target), p.version))
            }
            Ok(RequestLine::Empty) => Err("empty".into()),
            Err(e) => Err(format!("{} {}", e.status(), e.message().unwrap_or(""))),
        }
    }

    #[test]
    fn request_line_vectors() {
        let v10 = Version { major: 1, minor: 0 };
        assert_eq!(line("GET / HTTP/1.0"), Ok(("GET".into(), "/".into(), v10)));
        assert_eq!(line("GET  /x   HTTP/1.1 "), Ok(("GET".into(), "/x".into(), Version::HTTP_11)));
        assert_eq!(line("GET /a"), Ok(("GET".into(), "/a".into(), Version::HTTP_09)));
        assert_eq!(line("GET ///evil.com/x HTTP/1.0").unwrap().1, "/evil.com/x");
        assert_eq!(line("GET / HTTP/01.01").unwrap().2, Version { major: 1, minor: 1 });
        assert_eq!(line("   "), Err("empty".into()));
        assert_eq!(line("GET / HTTP/2.0"), Err("505 Invalid HTTP version (2.0)".into()));
        assert_eq!(line("GET / HTTP/1.x"), Err("400 Bad request version ('HTTP/1.x')".into()));
        assert_eq!(line("GET / HTTP/1"), Err("400 Bad request version ('HTTP/1')".into()));
        assert_eq!(line("GET / http/1.0"), Err("400 Bad request version ('http/1.0')".into()));
        assert_eq!(
            line("GET / HTTP/12345678901.0"),
            Err("400 Bad request version ('HTTP/12345678901.0')".into())
        );
        assert_eq!(line("GET a b HTTP/1.0"), Err("400 Bad request syntax ('GET a b HTTP/1.0')".into()));
        assert_eq!(line("GET"), Err("400 Bad request syntax ('GET')".into()));
        assert_eq!(line("POST /a"), Err("400 Bad HTTP/0.9 request type ('POST')".into()));
        // Python's str.split() also splits on \x1c-\x1f, \x85 and \xa0.
        assert_eq!(line("GET\u{a0}/\x1fHTTP/1.0").unwrap().1, "/");
    }

    #[test]
    fn content_length_is_plain_digits() {
        assert_eq!(parse_content_length("0"), Some(0));
        assert_eq!(parse_content_length(" 42 "), Some(42));
        for bad in ["+5", "-1", "1_0", "", "0x10", "1 0", "9223372036854775808", "99999999999999999999"] {
            assert_eq!(parse_content_length(bad), None, "{bad}");
        }
        assert_eq!(parse_content_length("9223372036854775807"), Some(i64::MAX as u64));
    }

    #[test]
    fn host_syntax() {
        for ok in ["", "example.com", "example.com:8000", "127.0.0.1:80", "[::1]", "[::1]:8000", "a_b-c~"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["a b", "a/b", "a:b:c", "[::1", "[::1]x", "host:80a", "a@b"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn transfer_encoding_understood_exactly_or_refused() {
        let framing = |fields: &[&str]| transfer_codings(fields).map_err(|e| e.status());
        assert_eq!(framing(&["chunked"]), Ok(BodyFraming::Chunked));
        assert_eq!(framing(&["Chunked"]), Ok(BodyFraming::Chunked));
        assert_eq!(framing(&["chunked,"]), Ok(BodyFraming::Chunked));
        // Not understood but well formed: 501.
        assert_eq!(framing(&["gzip, chunked"]), Err(501));
        assert_eq!(framing(&["gzip", "chunked"]), Err(501));
        // Length unknowable or junk: 400.
        for bad in [
            &["\u{a0}chunked"][..],
            &["chunked\u{a0}"],
            &["\u{85}chunked"],
            &["chunked, identity"],
            &["gzip"],
            &["chunked", "chunked"],
            &["chunked;x=1"],
            &["\"chunked\""],
            &[""],
        ] {
            assert_eq!(framing(bad), Err(400), "{bad:?}");
        }
    }

    #[test]
    fn connection_options_are_a_token_list() {
        let of = |v: &[&str]| {
            let o = ConnectionOptions::of(v.iter().copied());
            (o.close, o.keep_alive)
        };
        assert_eq!(of(&["close"]), (true, false));
        assert_eq!(of(&["te, Close"]), (true, false));
        assert_eq!(of(&["Keep-Alive"]), (false, true));
        assert_eq!(of(&["upgrade", "keep-alive ,  close"]), (true, true));
        assert_eq!(of(&["closed, x-close"]), (false, false));
    }
}
