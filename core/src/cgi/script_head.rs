//! A CGI script's own header block (RFC 3875 section 6): the status it
//! asks for and the fields to relay, or why its output is refused (502).

use std::fmt;

use crate::http::{is_token, parse_content_length, ResponseHead};
use crate::text::py_repr;

/// The head a script printed, parsed as RFC 3875 section 6 says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CgiHead {
    /// The status (from `Status:`, 302 for a bare `Location:`, else 200).
    pub status: u16,
    /// The reason phrase (from `Status:`, `Found` for a bare `Location:`,
    /// CPython's `Script output follows` for the default 200); `None`: the
    /// server's phrase for the status.
    pub reason: Option<String>,
    /// The other header fields, in order.
    pub headers: Vec<(String, String)>,
}

impl CgiHead {
    /// The response head to relay: the status, the reason, the fields.
    pub fn into_response_head(self) -> ResponseHead {
        let mut head = ResponseHead::new(self.status);
        head.reason = self.reason;
        for (name, value) in &self.headers {
            head.headers.push(name, value);
        }
        head
    }
}

/// Why a script's output is refused (→ 502).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CgiHeadError {
    /// No blank line within the first `max` bytes.
    TooLong,
    /// A line that is not a header field, or holds control characters.
    Malformed(String),
    /// A head that cannot be relayed as a final response: a 1xx `Status`,
    /// or both `Transfer-Encoding` and `Content-Length` (a proxy in front
    /// could frame the body either way).
    Unrelayable(String),
}

impl fmt::Display for CgiHeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgiHeadError::TooLong => f.write_str("header block too long"),
            CgiHeadError::Malformed(why) | CgiHeadError::Unrelayable(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for CgiHeadError {}

/// Find and parse the header block at the start of a script's output.
/// `Ok(None)`: need more output. `Ok(Some((head, consumed)))`: the body
/// starts at `consumed`. Lines may end in LF or CRLF.
pub fn parse_cgi_head(
    output: &[u8],
    max: usize,
    eof: bool,
) -> Result<Option<(CgiHead, usize)>, CgiHeadError> {
    let mut pos = 0;
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        let nl = match output[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => pos + i,
            None => {
                if output.len() > max {
                    return Err(CgiHeadError::TooLong);
                }
                if eof {
                    return Err(CgiHeadError::Malformed("output ended before the end of its header".into()));
                }
                return Ok(None);
            }
        };
        if nl + 1 > max {
            return Err(CgiHeadError::TooLong);
        }
        let mut line = &output[pos..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        pos = nl + 1;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(CgiHeadError::Malformed(format!("control character in {}", py_repr(&text))));
        }
        let colon = line.iter().position(|&b| b == b':');
        let name = String::from_utf8_lossy(colon.map(|c| &line[..c]).unwrap_or(b""));
        if !is_token(&name) {
            return Err(CgiHeadError::Malformed(format!("not a header field: {}", py_repr(&text))));
        }
        let value = text[colon.unwrap_or(0) + 1..].trim().to_string();
        fields.push((name.into_owned(), value));
    }
    let mut status = None;
    let mut headers = Vec::new();
    for (name, value) in fields {
        if name.eq_ignore_ascii_case("Status") {
            let (code, reason) = value.split_once(' ').unwrap_or((value.as_str(), ""));
            let code: u16 = code
                .parse()
                .ok()
                .filter(|c| (100..1000).contains(c))
                .ok_or_else(|| CgiHeadError::Malformed(format!("bad Status {}", py_repr(&value))))?;
            status = Some((code, reason.trim().to_string()));
        } else {
            headers.push((name, value));
        }
    }
    check_framing(&headers)?;
    let has_location = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Location"));
    let (status, reason) = match status {
        Some((code, _)) if code < 200 => {
            return Err(CgiHeadError::Unrelayable(format!("informational Status {code}")))
        }
        Some((code, reason)) if reason.is_empty() => (code, None),
        Some((code, reason)) => (code, Some(reason)),
        None if has_location => (302, Some("Found".to_string())),
        None => (200, Some("Script output follows".to_string())),
    };
    Ok(Some((CgiHead { status, reason, headers }, pos)))
}

/// The body framing a script declares must be one a client and any proxy
/// read the same way: a valid `Content-Length` (repeated only with the
/// same value), or `Transfer-Encoding`, never both.
fn check_framing(headers: &[(String, String)]) -> Result<(), CgiHeadError> {
    let named = |name: &'static str| headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name));
    let has_te = named("Transfer-Encoding").next().is_some();
    let mut length = None;
    for (_, value) in named("Content-Length") {
        if has_te {
            return Err(CgiHeadError::Unrelayable("both Transfer-Encoding and Content-Length".into()));
        }
        match parse_content_length(value) {
            Some(n) if length.map_or(true, |prev| prev == n) => length = Some(n),
            _ => return Err(CgiHeadError::Unrelayable(format!("invalid Content-Length {}", py_repr(value)))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_heads() {
        let (h, n) = parse_cgi_head(b"Content-Type: text/plain\n\nbody", 1024, false).unwrap().unwrap();
        assert_eq!((h.status, h.reason.as_deref(), n), (200, Some("Script output follows"), 26));
        let (h, _) = parse_cgi_head(b"Location: /x\r\n\r\n", 1024, false).unwrap().unwrap();
        assert_eq!((h.status, h.reason.as_deref()), (302, Some("Found")));
        let (h, _) = parse_cgi_head(b"Status: 404 Nope\r\nX: y\r\n\r\n", 1024, false).unwrap().unwrap();
        assert_eq!((h.status, h.reason.as_deref(), h.headers.len()), (404, Some("Nope"), 1));
        let (h, _) = parse_cgi_head(b"Status: 418\r\n\r\n", 1024, false).unwrap().unwrap();
        assert_eq!((h.status, h.reason), (418, None));
        assert_eq!(parse_cgi_head(b"Content-Type: te", 1024, false), Ok(None));
        assert!(parse_cgi_head(b"X: a\rb\n\n", 1024, false).is_err());
        assert!(parse_cgi_head(b"X: a\0b\n\n", 1024, false).is_err());
        assert!(parse_cgi_head(b"just text\n\n", 1024, false).is_err());
        assert!(parse_cgi_head(b"Status: abc\n\n", 1024, false).is_err());
        assert_eq!(parse_cgi_head(&[b'a'; 2000], 1024, false), Err(CgiHeadError::TooLong));
    }

    #[test]
    fn heads_that_cannot_be_relayed() {
        let refused =
            |head: &[u8]| matches!(parse_cgi_head(head, 1024, false), Err(CgiHeadError::Unrelayable(_)));
        assert!(refused(b"Status: 100 Continue\n\n"));
        assert!(refused(b"Status: 103 Early Hints\n\n"));
        assert!(refused(b"Transfer-Encoding: chunked\nContent-Length: 5\n\n"));
        assert!(refused(b"Content-Length: 5\nTransfer-Encoding: chunked\n\n"));
        assert!(refused(b"Content-Length: 5\nContent-Length: 6\n\n"));
        assert!(refused(b"Content-Length: +5\n\n"));
        assert!(parse_cgi_head(b"Content-Length: 5\nContent-Length: 5\n\n", 1024, false).is_ok());
        assert!(parse_cgi_head(b"Transfer-Encoding: chunked\n\n", 1024, false).is_ok());
        assert!(parse_cgi_head(b"Status: 200 OK\n\n", 1024, false).is_ok());
    }
}
