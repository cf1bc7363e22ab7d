//! Reading a request head out of the input buffer: CPython's line and
//! count limits enforced as the bytes arrive (not only once the blank line
//! is there), with a remembered scan offset so that each byte is looked at
//! once however the head is split (the retry loop httparse's docs warn
//! about). This file reports what it saw; `connection.rs` decides what it
//! means.

use crate::http::error::{ProtocolError, ProtocolErrorKind};
use crate::http::request::{
    parse_header_block, parse_request_line, LineParts, RequestHead, RequestLine, MAX_HEADER_LINES,
};
use crate::text::{find_byte, push_latin1_text};

/// CPython reads the request line with `readline(65537)` and refuses
/// anything longer than 65,536 bytes (line end included) with 414.
pub const MAX_REQUEST_LINE: usize = 65_536;
/// `http.client._MAXLINE`: a header line over this (line end included) → 431.
pub const MAX_HEADER_LINE: usize = 65_536;

/// Progress through one head: bytes already searched for line ends, where
/// the unfinished line begins, the request line once parsed (with its
/// length and text), header lines seen (the blank one included, as
/// CPython counts). Nothing is searched or parsed twice however the head
/// is split.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HeadReader {
    scanned: usize,
    line_start: usize,
    request: Option<ParsedLine>,
    lines: usize,
}

/// A request line that parsed (its text is the caller's `request_line`),
/// waiting for its header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParsedLine {
    parts: LineParts,
    len: usize,
    is_head: bool,
}

/// What is known of a request whose head failed, for its error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FailedHead {
    /// A two-word line: CPython answers without a status line.
    pub(crate) http09: bool,
    /// The method was HEAD: the error page is not sent.
    pub(crate) is_head: bool,
}

/// The outcome of one [`HeadReader::read`].
#[derive(Debug)]
pub(crate) enum HeadOutcome {
    /// Need more bytes.
    Incomplete,
    /// A blank request line (`consumed` bytes): CPython closes silently.
    Empty { consumed: usize },
    /// A complete head of `consumed` bytes.
    Request { head: RequestHead, consumed: usize },
    /// The head is refused.
    Error { error: ProtocolError, failed: FailedHead },
}

impl HeadReader {
    /// Look at `data` (the unparsed input, from the head's first byte).
    /// `request_line` receives the request line as soon as it is known,
    /// for the log line of whatever reply follows, and must keep it until
    /// the head is complete. A complete head is `spare` refilled, when
    /// there is one (its buffers are reused).
    pub(crate) fn read(
        &mut self,
        data: &[u8],
        max_head: usize,
        request_line: &mut String,
        spare: &mut Option<RequestHead>,
    ) -> HeadOutcome {
        if self.request.is_none() {
            let line_len = match memchr(b'\n', &data[self.scanned..]) {
                None => {
                    if data.len() > MAX_REQUEST_LINE {
                        request_line.clear();
                        return error(too_long_line(), FailedHead::default());
                    }
                    self.scanned = data.len();
                    return HeadOutcome::Incomplete;
                }
                Some(i) => self.scanned + i + 1,
            };
            if line_len > MAX_REQUEST_LINE {
                request_line.clear();
                return error(too_long_line(), FailedHead::default());
            }
            request_line.clear();
            push_latin1_text(request_line, &data[..line_len]);
            let kept = request_line.trim_end_matches(['\r', '\n']).len();
            request_line.truncate(kept);
            let parts = match parse_request_line(request_line) {
                Ok(RequestLine::Empty) => return HeadOutcome::Empty { consumed: line_len },
                Ok(RequestLine::Parsed(parts)) => parts,
                Err(e) => {
                    // CPython answers a bad HTTP/0.9 method without a status
                    // line; every other request-line error gets one here.
                    let http09 = e.kind() == ProtocolErrorKind::BadHttp09Method;
                    return error(e, FailedHead { http09, is_head: false });
                }
            };
            if parts.words == 2 {
                // HTTP/0.9: no headers. Answer at once (CPython would wait for a
                // blank line that a real 0.9 client never sends).
                let mut head = spare.take().unwrap_or_else(RequestHead::blank);
                return match parse_header_block(b"", 0, parts, request_line, &mut head) {
                    Ok(()) => HeadOutcome::Request { head, consumed: line_len },
                    Err(e) => error(e, FailedHead { http09: true, is_head: false }),
                };
            }
            let is_head = parts.is_head(request_line);
            self.request = Some(ParsedLine { parts, len: line_len, is_head });
            self.line_start = line_len;
            self.scanned = line_len;
        }
        let (line_len, is_head) = match &self.request {
            Some(p) => (p.len, p.is_head),
            None => return HeadOutcome::Incomplete,
        };
        let failed = FailedHead { http09: false, is_head };
        loop {
            match memchr(b'\n', &data[self.scanned..]) {
                None => {
                    if data.len() - self.line_start > MAX_HEADER_LINE {
                        return error(header_line_too_long(), failed);
                    }
                    if data.len() > max_head {
                        return error(head_too_large(max_head), failed);
                    }
                    self.scanned = data.len();
                    return HeadOutcome::Incomplete;
                }
                Some(i) => {
                    let end = self.scanned + i + 1;
                    let this_line = &data[self.line_start..end];
                    if this_line.len() > MAX_HEADER_LINE {
                        return error(header_line_too_long(), failed);
                    }
                    self.lines += 1;
                    if self.lines > MAX_HEADER_LINES {
                        let e =
                            ProtocolError::new(ProtocolErrorKind::TooManyHeaders, "Too many headers".into())
                                .with_explain(&format!("got more than {MAX_HEADER_LINES} headers"));
                        return error(e, failed);
                    }
                    if end > max_head {
                        return error(head_too_large(max_head), failed);
                    }
                    let blank = this_line == b"\n" || this_line == b"\r\n";
                    self.line_start = end;
                    self.scanned = end;
                    if blank {
                        let parsed = match self.request.take() {
                            Some(p) => p,
                            None => return HeadOutcome::Incomplete,
                        };
                        let mut head = spare.take().unwrap_or_else(RequestHead::blank);
                        let block = &data[line_len..end];
                        return match parse_header_block(
                            block,
                            self.lines,
                            parsed.parts,
                            request_line,
                            &mut head,
                        ) {
                            Ok(()) => HeadOutcome::Request { head, consumed: end },
                            Err(e) => {
                                *spare = Some(head);
                                error(e, failed)
                            }
                        };
                    }
                }
            }
        }
    }
}

fn error(error: ProtocolError, failed: FailedHead) -> HeadOutcome {
    HeadOutcome::Error { error, failed }
}

fn too_long_line() -> ProtocolError {
    ProtocolError::new(ProtocolErrorKind::RequestLineTooLong, String::new())
}

fn header_line_too_long() -> ProtocolError {
    ProtocolError::new(ProtocolErrorKind::HeaderLineTooLong, "Line too long".to_string())
        .with_explain(&format!("got more than {MAX_HEADER_LINE} bytes when reading header line"))
}

fn head_too_large(max: usize) -> ProtocolError {
    ProtocolError::new(ProtocolErrorKind::HeadTooLarge, "Request header too large".to_string())
        .with_explain(&format!("the request head is over {max} bytes"))
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    find_byte(needle, haystack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_in_pieces(input: &[u8], split: usize) -> (String, Option<usize>) {
        let mut reader = HeadReader::default();
        let mut line = String::new();
        let mut end = 0;
        loop {
            end = (end + split).min(input.len());
            match reader.read(&input[..end], 1 << 20, &mut line, &mut None) {
                HeadOutcome::Incomplete if end < input.len() => continue,
                HeadOutcome::Incomplete => return ("incomplete".into(), None),
                HeadOutcome::Empty { consumed } => return ("empty".into(), Some(consumed)),
                HeadOutcome::Request { head, consumed } => return (head.target, Some(consumed)),
                HeadOutcome::Error { error, .. } => return (error.status().to_string(), None),
            }
        }
    }

    /// Near-limit lines fed a byte at a time: each byte is searched once
    /// (neither the request line nor an unfinished header line is read
    /// again), and the limits still count whole lines.
    #[test]
    fn long_lines_arrive_a_byte_at_a_time() {
        let target = format!("/{}", "a".repeat(60_000));
        let value = "v".repeat(60_000);
        let ok = format!("GET {target} HTTP/1.0\r\nX: {value}\r\n\r\n");
        assert_eq!(read_in_pieces(ok.as_bytes(), 1), (target, Some(ok.len())));
        let over = format!("GET / HTTP/1.0\r\nX: {}\r\n\r\n", "v".repeat(MAX_HEADER_LINE));
        assert_eq!(read_in_pieces(over.as_bytes(), 1).0, "431");
    }

    #[test]
    fn same_outcome_whatever_the_split() {
        let cases: &[(&[u8], &str, Option<usize>)] = &[
            (b"GET /a HTTP/1.0\r\nX: 1\r\n\r\nrest", "/a", Some(25)),
            (b"GET /b HTTP/1.1\nHost: x\n\n", "/b", Some(25)),
            (b"GET /c\r\nmore", "/c", Some(8)),
            (b" \r\n", "empty", Some(3)),
            (b"GET / HTTP/1.0\r\nX", "incomplete", None),
            (b"GET / HTTP/9.0\r\n\r\n", "505", None),
        ];
        for (input, want, consumed) in cases {
            for split in [1, 2, 5, 100] {
                assert_eq!(
                    read_in_pieces(input, split),
                    (want.to_string(), *consumed),
                    "{input:?} / {split}"
                );
            }
        }
    }
}
