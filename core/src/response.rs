//! Response heads and how their bodies are framed.

/// A response's status line and header fields, less `Server` and `Date`,
/// which the connection adds (CPython's `send_response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The reason phrase; `None` for the status table's.
    pub reason: Option<String>,
    /// Header fields in order, as `send_header` would write them.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// A head with `status` and the table's reason phrase.
    pub fn new(status: u16) -> ResponseHead {
        ResponseHead { status, reason: None, headers: Vec::new() }
    }

    /// Add a header field (builder style).
    pub fn header(mut self, name: &str, value: &str) -> ResponseHead {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The first value of a header, by ASCII case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The declared `Content-Length`, if present and valid.
    pub fn content_length(&self) -> Option<u64> {
        self.get("Content-Length").and_then(crate::request::parse_content_length)
    }
}

/// What the shell may send as the body of a response, decided by
/// [`crate::Connection::send_head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// No body at all: HEAD, 1xx, 204, 205, 304. Do not even open the file.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Any number of bytes, ended by closing the connection (no
    /// `Content-Length`, or HTTP/0.9).
    UntilClose,
}

/// Why a connection closes after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// What the shell does once a response is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Keep reading: the next request may follow.
    KeepAlive,
    /// Close the connection.
    Close(CloseReason),
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
    if s.is_ascii() && !s.bytes().any(|b| b == b'\r' || b == b'\n') {
        out.extend_from_slice(s.as_bytes());
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
