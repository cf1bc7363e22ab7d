//! Response heads, how their bodies are framed, and how they are written.

use std::cell::Cell;
use std::time::SystemTime;

use crate::config::Config;
use crate::http::headers::Headers;
use crate::text::special_bytes;
use crate::time::{unix_seconds, DateMemo};

/// A response's status line and header fields, less `Server` and `Date`,
/// which the connection adds (CPython's `send_response`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The reason phrase; `None` for the status table's.
    pub reason: Option<String>,
    /// Header fields in order, as `send_header` would write them.
    pub headers: Headers,
}

impl ResponseHead {
    /// A head with `status` and the table's reason phrase.
    pub fn new(status: u16) -> ResponseHead {
        // The buffers of the head this thread wrote last, else room for a
        // file reply's six or seven fields: no regrowing.
        let headers = SPARE_FIELDS.with(Cell::take).unwrap_or_else(|| Headers::with_capacity(8, 192));
        ResponseHead { status, reason: None, headers }
    }

    /// This head was written out: its buffers serve the next head made on
    /// this thread (a server makes one after another), unless they grew
    /// large.
    pub(crate) fn recycle(self) {
        let mut headers = self.headers;
        if headers.capacity() <= 4096 {
            headers.clear();
            SPARE_FIELDS.with(|spare| spare.set(Some(headers)));
        }
    }

    /// Add a header field (builder style), as `send_header` does.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> ResponseHead {
        self.headers.push(name, value);
        self
    }

    /// Add a header field whose value `write_value` appends to the given
    /// buffer (builder style): no string is made for it on its own.
    #[must_use]
    pub(crate) fn header_with(mut self, name: &str, write_value: impl FnOnce(&mut String)) -> ResponseHead {
        self.headers.push_with(name, write_value);
        self
    }

    /// Set the reason phrase (builder style), as `send_response`'s `message`.
    #[must_use]
    pub fn reason(mut self, reason: &str) -> ResponseHead {
        self.reason = Some(reason.to_string());
        self
    }

    /// The first value of a header, by ASCII case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Every value of a header, by ASCII case-insensitive name.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.get_all(name)
    }

    /// The declared `Content-Length`, if present and valid.
    pub fn content_length(&self) -> Option<u64> {
        self.get("Content-Length").and_then(crate::http::request::parse_content_length)
    }
}

thread_local! {
    /// See [`ResponseHead::recycle`].
    static SPARE_FIELDS: Cell<Option<Headers>> = const { Cell::new(None) };
}

/// What may follow a response head, decided by
/// [`crate::http::Connection::start_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum BodyPlan {
    /// No body at all: HEAD, 1xx, 204, 205, 304. Do not even open the file.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Any number of bytes, ended by closing the connection (no
    /// `Content-Length`, or HTTP/0.9).
    UntilClose,
    /// Any number of bytes in the chunked transfer coding, which the
    /// caller frames (see [`crate::http::Connection::start_chunked_response`]).
    Chunked,
}

/// Why a connection closes after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server speaks HTTP/1.0 (CPython's default), or the client did
    /// not ask to keep the connection.
    NotPersistent,
    /// The request or the response said `Connection: close`.
    ConnectionClose,
    /// The body was framed by closing the connection.
    BodyUntilClose,
    /// The request could not be parsed; the rest of the stream is unframed.
    ProtocolError,
    /// The server is stopping.
    ServerStopping,
}

/// What happens once a response is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum After {
    /// Keep reading: the next request may follow.
    KeepAlive,
    /// Close the connection.
    Close(CloseReason),
}

/// The status line in the server's protocol, then `Server` and `Date`
/// (CPython's `send_response`); the caller adds the other fields.
pub(crate) fn write_status_and_server(
    out: &mut Vec<u8>,
    config: &Config,
    head: &ResponseHead,
    now: SystemTime,
) {
    out.extend_from_slice(config.protocol().as_str().as_bytes());
    out.push(b' ');
    match head.status {
        n @ 100..=999 => out.extend_from_slice(&[
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ]),
        n => out.extend_from_slice(n.to_string().as_bytes()),
    }
    out.push(b' ');
    push_latin1(out, head.reason.as_deref().unwrap_or_else(|| config.reason_phrase(head.status)));
    out.extend_from_slice(b"\r\n");
    write_header(out, "Server", config.version_string());
    out.extend_from_slice(b"Date: ");
    push_http_date(out, now);
    out.extend_from_slice(b"\r\n");
}

/// `now` as an HTTP date, formatted once per second per thread (it is in
/// every response head).
fn push_http_date(out: &mut Vec<u8>, now: SystemTime) {
    thread_local! {
        static NOW: DateMemo = const { DateMemo::new() };
    }
    NOW.with(|memo| memo.with(unix_seconds(now), |date| out.extend_from_slice(date.as_bytes())));
}

/// A whole response head with no connection behind it (a refusal).
pub(crate) fn write_response_head(out: &mut Vec<u8>, config: &Config, head: &ResponseHead, now: SystemTime) {
    write_status_and_server(out, config, head, now);
    write_fields(out, &head.headers);
    out.extend_from_slice(b"\r\n");
}

/// Every field of `headers` as [`write_header`] writes it: at once when
/// they are ASCII.
pub(crate) fn write_fields(out: &mut Vec<u8>, headers: &Headers) {
    match headers.ascii_lines() {
        Some(lines) => out.extend_from_slice(lines),
        None => {
            for (name, value) in headers.iter() {
                write_header(out, name, value);
            }
        }
    }
}

/// Write `Name: value\r\n` as Latin-1 (CPython's `send_header` encoding),
/// with CR and LF in a value replaced by spaces so that no value can end
/// the head early (response splitting).
pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    push_latin1(out, name);
    out.extend_from_slice(b": ");
    push_latin1(out, value);
    out.extend_from_slice(b"\r\n");
}

/// Append text as Latin-1; a char above U+00FF (never in request-derived
/// text) goes out as UTF-8. CR and LF become spaces.
pub(crate) fn push_latin1(out: &mut Vec<u8>, s: &str) {
    // Every header a server writes is plain ASCII without line breaks.
    let bytes = s.as_bytes();
    let found = special_bytes(bytes);
    if !found.line_break && !found.high {
        out.extend_from_slice(bytes);
        return;
    }
    for c in s.chars() {
        match c as u32 {
            0x0d | 0x0a => out.push(b' '),
            n @ 0..=0xff => out.push(n as u8),
            _ => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}
