//! The connection state machine: bytes in, events out; response parts in,
//! bytes out.
//!
//! Theory of operation. Each side has its own state and this file owns
//! every transition:
//!
//! * Reading: `Head` (collecting a request head) → `Body` (decoding its
//!   body, if any) → `Done` (waiting for the response to finish) → `Head`
//!   again, or `Closed`.
//! * Writing: `Idle` (no request) → `Waiting` (a request wants a response)
//!   → `Sending` (head written, body under way) → `Idle` or `Closed`.
//!
//! A new head is parsed only while Writing is `Idle`, so pipelined requests
//! wait in the buffer and are answered in order. A response may be sent
//! before its request's body was read (CPython answers a GET at once); the
//! body is then read and discarded before the next head.

use std::time::SystemTime;

use crate::body::{BodyDecoder, BodyStep};
use crate::date::format_system_time;
use crate::error::{ProtocolError, ProtocolErrorKind, UsageError};
use crate::path::latin1_string;
use crate::request::{
    parse_header_block, parse_request_line, BodyFraming, RequestHead, RequestLine, ServerProtocol,
};
use crate::response::{push_latin1, write_header, After, BodyPlan, CloseReason, ResponseHead};
use crate::status::{reason_phrase, status_forbids_body};

/// CPython reads the request line with `readline(65537)` and refuses
/// anything longer than 65,536 bytes (line end included) with 414.
pub const MAX_REQUEST_LINE: usize = 65_536;
/// `http.client._MAXLINE`: a header line over this (line end included) → 431.
pub const MAX_HEADER_LINE: usize = 65_536;
/// `http.client._MAXHEADERS`: CPython counts the blank line too, so 100
/// header fields are one line too many.
pub const MAX_HEADER_LINES: usize = 100;
/// Default cap on a whole request head → 431. Above 128 KiB so that a
/// single 64 KiB line still gets CPython's own `Line too long` first.
pub const DEFAULT_MAX_HEAD: usize = 256 * 1024;

/// Connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The version the server claims and whether it keeps connections.
    pub protocol: ServerProtocol,
    /// The `Server` header value, e.g. `httpserver/0.1.0`.
    pub server_version: String,
    /// Cap on the whole request head in bytes (431 past it).
    pub max_head: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            protocol: ServerProtocol::Http10,
            server_version: concat!("httpserver/", env!("CARGO_PKG_VERSION")).to_string(),
            max_head: DEFAULT_MAX_HEAD,
        }
    }
}

/// What the connection is waiting for from the peer, so that a shell can
/// apply the right time limit (the core keeps no time itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPhase {
    /// Between requests with nothing buffered: an idle persistent
    /// connection (or a new one with nothing sent yet).
    Idle,
    /// Part of a request head has arrived.
    Head,
    /// Inside a request body.
    Body,
    /// Not reading: a response is under way, or the connection is over.
    NotReading,
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request head arrived; respond to it (now, or after its body).
    RequestHead(RequestHead),
    /// Bytes of the current request's body, de-framed.
    BodyChunk(Vec<u8>),
    /// The current request's body is complete (sent for every request,
    /// with or without a body).
    EndOfRequest,
    /// The peer broke the protocol. Answer with the error (if no response
    /// to this request was started yet) and close.
    ProtocolError(ProtocolError),
    /// The connection is over: the peer closed between requests, or sent
    /// an empty request line (CPython closes silently).
    ConnectionClosed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reading {
    /// Collecting a head. `scanned`: bytes of the buffer already searched
    /// for line ends; `line_len`: request line length once known;
    /// `lines`: header lines seen (the blank one included, as CPython).
    Head {
        scanned: usize,
        line_len: Option<usize>,
        lines: usize,
    },
    Body(BodyDecoder),
    Done,
    Closed,
}

/// What the write side knows of the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exchange {
    is_head: bool,
    http09: bool,
    close_after: bool,
    expects_continue: bool,
}

impl Exchange {
    /// What is known of a request that failed before it was understood:
    /// the error reply gets a status line and a body, then the connection
    /// closes.
    fn failed() -> Exchange {
        Exchange { is_head: false, http09: false, close_after: true, expects_continue: false }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Writing {
    Idle,
    Waiting(Exchange),
    Sending { plan: BodyPlan, sent: u64, close: Option<CloseReason> },
    Closed,
}

/// Protocol state for one client connection. Owns no socket, reads no
/// clock: see the crate documentation for the loop that drives it.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    reading: Reading,
    writing: Writing,
    request_line: String,
    closed_reported: bool,
    /// Whether input was left unread when the connection was closed.
    unread_at_close: bool,
}

impl Connection {
    /// A connection at the start of its first request.
    pub fn new(config: Config) -> Connection {
        Connection {
            config,
            buf: Vec::new(),
            start: 0,
            eof: false,
            reading: Reading::Head { scanned: 0, line_len: None, lines: 0 },
            writing: Writing::Idle,
            request_line: String::new(),
            closed_reported: false,
            unread_at_close: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Append bytes read from the peer.
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 4096 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The peer closed its sending side. A head cut short by it is taken
    /// as complete, as CPython's `readline` does.
    pub fn receive_eof(&mut self) {
        if self.eof {
            return;
        }
        self.eof = true;
        if let Reading::Head { .. } = self.reading {
            if self.start < self.buf.len() {
                self.buf.extend_from_slice(b"\r\n\r\n");
            }
        }
    }

    /// Whether reading the socket can make progress now.
    pub fn wants_read(&self) -> bool {
        !self.eof
            && match self.reading {
                Reading::Head { .. } => self.writing == Writing::Idle,
                Reading::Body(_) => true,
                Reading::Done | Reading::Closed => false,
            }
    }

    /// What the connection waits for from the peer.
    pub fn read_phase(&self) -> ReadPhase {
        match self.reading {
            Reading::Head { .. } if self.writing == Writing::Idle => {
                if self.start == self.buf.len() {
                    ReadPhase::Idle
                } else {
                    ReadPhase::Head
                }
            }
            Reading::Body(_) => ReadPhase::Body,
            _ => ReadPhase::NotReading,
        }
    }

    /// Whether the connection is finished for good.
    pub fn is_closed(&self) -> bool {
        self.writing == Writing::Closed
    }

    /// Whether the peer may still be sending when the connection closes:
    /// bytes were buffered but not parsed, or a request body was cut off.
    /// A shell then closes gracefully (half-close and drain), so that the
    /// unread bytes do not make the kernel reset the connection and
    /// destroy the response in flight; otherwise it may simply close.
    pub fn has_unread_input(&self) -> bool {
        self.unread_at_close || self.start < self.buf.len() || matches!(self.reading, Reading::Body(_))
    }

    /// The request line of the request being answered (`""` when there is
    /// none, e.g. for a 414), for the log.
    pub fn request_line(&self) -> &str {
        &self.request_line
    }

    /// Unread bytes in the buffer (pipelined requests, or unparsed input).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next event, or `None` until more bytes arrive or the current
    /// response is finished. Call repeatedly until `None` after each feed.
    pub fn next_event(&mut self) -> Option<Event> {
        match self.reading {
            Reading::Head { .. } if self.writing != Writing::Idle => None,
            Reading::Head { .. } => self.next_head_event(),
            Reading::Body(_) => self.next_body_event(),
            Reading::Done => None,
            Reading::Closed => {
                if self.closed_reported || self.writing != Writing::Closed {
                    None
                } else {
                    self.closed_reported = true;
                    Some(Event::ConnectionClosed)
                }
            }
        }
    }

    fn next_head_event(&mut self) -> Option<Event> {
        if self.start == self.buf.len() {
            if self.eof {
                self.reading = Reading::Closed;
                self.writing = Writing::Closed;
                self.closed_reported = true;
                return Some(Event::ConnectionClosed);
            }
            return None;
        }
        match self.parse_head() {
            HeadOutcome::Incomplete => None,
            HeadOutcome::Empty => {
                self.reading = Reading::Closed;
                self.writing = Writing::Closed;
                self.closed_reported = true;
                Some(Event::ConnectionClosed)
            }
            HeadOutcome::Error(err, exchange) => Some(self.fail(err, exchange)),
            HeadOutcome::Request(head) => {
                self.writing = Writing::Waiting(Exchange {
                    is_head: head.method == "HEAD",
                    http09: head.is_http09(),
                    close_after: head.close_after,
                    expects_continue: head.expects_continue,
                });
                self.reading = Reading::Body(match head.framing {
                    BodyFraming::None => BodyDecoder::Done,
                    BodyFraming::Length(n) => BodyDecoder::Length(n),
                    BodyFraming::Chunked => BodyDecoder::ChunkSize,
                });
                Some(Event::RequestHead(head))
            }
        }
    }

    /// Record a protocol error: nothing more is read; the write side waits
    /// for the error response unless one is already under way.
    fn fail(&mut self, err: ProtocolError, exchange: Exchange) -> Event {
        self.reading = Reading::Closed;
        if self.writing == Writing::Idle {
            self.writing = Writing::Waiting(Exchange { close_after: true, ..exchange });
        }
        Event::ProtocolError(err)
    }

    fn next_body_event(&mut self) -> Option<Event> {
        loop {
            let step = match self.reading {
                Reading::Body(ref mut decoder) => decoder.step(&self.buf[self.start..]),
                _ => return None,
            };
            match step {
                Err(err) => {
                    return Some(self.fail(err, Exchange::failed()));
                }
                Ok(BodyStep::NeedData) => {
                    if self.eof {
                        let err = ProtocolError::new(
                            ProtocolErrorKind::TruncatedBody,
                            "Request body cut short".to_string(),
                        );
                        return Some(self.fail(err, Exchange::failed()));
                    }
                    return None;
                }
                Ok(BodyStep::Progress { consumed, data }) => {
                    let chunk = &self.buf[self.start + data.0..self.start + data.1];
                    let event = if chunk.is_empty() { None } else { Some(Event::BodyChunk(chunk.to_vec())) };
                    self.start += consumed;
                    if event.is_some() {
                        return event;
                    }
                }
                Ok(BodyStep::Done { consumed }) => {
                    self.start += consumed;
                    self.reading = if self.writing == Writing::Idle {
                        Reading::Head { scanned: 0, line_len: None, lines: 0 }
                    } else {
                        Reading::Done
                    };
                    return Some(Event::EndOfRequest);
                }
            }
        }
    }

    /// Scan for the request line and header lines, enforcing CPython's
    /// line and count limits as the bytes arrive (not only once the blank
    /// line is there), then parse.
    fn parse_head(&mut self) -> HeadOutcome {
        let (scanned, line_len, lines) = match self.reading {
            Reading::Head { scanned, line_len, lines } => (scanned, line_len, lines),
            _ => return HeadOutcome::Incomplete,
        };
        let data = &self.buf[self.start..];
        let no_exchange = Exchange::failed();
        let line_len = match line_len {
            Some(n) => n,
            None => match memchr(b'\n', &data[scanned..]) {
                None => {
                    if data.len() > MAX_REQUEST_LINE {
                        self.request_line.clear();
                        return HeadOutcome::Error(too_long_line(), no_exchange);
                    }
                    self.reading = Reading::Head { scanned: data.len(), line_len: None, lines };
                    return HeadOutcome::Incomplete;
                }
                Some(i) => {
                    let n = scanned + i + 1;
                    if n > MAX_REQUEST_LINE {
                        self.request_line.clear();
                        return HeadOutcome::Error(too_long_line(), no_exchange);
                    }
                    n
                }
            },
        };
        let text = latin1_string(&data[..line_len]);
        let line = text.trim_end_matches(['\r', '\n']).to_string();
        self.request_line = line.clone();
        let parsed = match parse_request_line(&line) {
            Ok(RequestLine::Empty) => {
                self.start += line_len;
                return HeadOutcome::Empty;
            }
            Ok(p) => p,
            Err(e) => {
                // CPython answers a bad HTTP/0.9 method without a status
                // line; every other request-line error gets one here.
                let http09 = e.kind() == ProtocolErrorKind::BadHttp09Method;
                return HeadOutcome::Error(e, Exchange { http09, ..no_exchange });
            }
        };
        let (is_head, words) = match &parsed {
            RequestLine::Parsed { method, words, .. } => (method == "HEAD", *words),
            RequestLine::Empty => unreachable!(),
        };
        if words == 2 {
            // HTTP/0.9: no headers. Answer at once (CPython would wait for a
            // blank line that a real 0.9 client never sends).
            self.start += line_len;
            let head = parse_header_block(b"", parsed, line, self.config.protocol);
            return match head {
                Ok(head) => HeadOutcome::Request(head),
                Err(e) => HeadOutcome::Error(e, Exchange { http09: true, ..no_exchange }),
            };
        }
        let failing = Exchange { is_head, ..no_exchange };
        // Header lines.
        let mut pos = scanned.max(line_len);
        let mut lines = lines;
        loop {
            match memchr(b'\n', &data[pos..]) {
                None => {
                    if data.len() - pos > MAX_HEADER_LINE {
                        return HeadOutcome::Error(header_line_too_long(), failing);
                    }
                    if data.len() > self.config.max_head {
                        return HeadOutcome::Error(head_too_large(self.config.max_head), failing);
                    }
                    self.reading = Reading::Head { scanned: pos, line_len: Some(line_len), lines };
                    return HeadOutcome::Incomplete;
                }
                Some(i) => {
                    let this_line = &data[pos..pos + i + 1];
                    if this_line.len() > MAX_HEADER_LINE {
                        return HeadOutcome::Error(header_line_too_long(), failing);
                    }
                    lines += 1;
                    if lines > MAX_HEADER_LINES {
                        let e = ProtocolError::new(
                            ProtocolErrorKind::TooManyHeaders,
                            "Too many headers".to_string(),
                        )
                        .with_explain("got more than 100 headers");
                        return HeadOutcome::Error(e, failing);
                    }
                    pos += i + 1;
                    if pos > self.config.max_head {
                        return HeadOutcome::Error(head_too_large(self.config.max_head), failing);
                    }
                    if this_line == b"\n" || this_line == b"\r\n" {
                        let block = &data[line_len..pos];
                        let result = parse_header_block(block, parsed, line, self.config.protocol);
                        self.start += pos;
                        return match result {
                            Ok(head) => HeadOutcome::Request(head),
                            Err(e) => HeadOutcome::Error(e, failing),
                        };
                    }
                }
            }
        }
    }

    /// Whether to send `100 Continue` now (CPython's default
    /// `handle_expect_100`): the request asked, both sides speak HTTP/1.1.
    pub fn should_continue(&self) -> bool {
        matches!(self.writing, Writing::Waiting(ex) if ex.expects_continue)
    }

    /// Write `HTTP/1.1 100 Continue` and the blank line.
    pub fn send_continue(&mut self, out: &mut Vec<u8>) -> Result<(), UsageError> {
        match self.writing {
            Writing::Waiting(ref mut ex) if ex.expects_continue => {
                ex.expects_continue = false;
                out.extend_from_slice(self.config.protocol.as_str().as_bytes());
                out.extend_from_slice(b" 100 Continue\r\n\r\n");
                Ok(())
            }
            _ => Err(UsageError::NoRequestPending),
        }
    }

    /// Write the status line and headers (`Server` and `Date` first, from
    /// `now`), decide persistence, and say what body may follow.
    pub fn send_head(
        &mut self,
        head: &ResponseHead,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<BodyPlan, UsageError> {
        let ex = match self.writing {
            Writing::Waiting(ex) => ex,
            Writing::Sending { .. } => return Err(UsageError::HeadAlreadySent),
            Writing::Idle | Writing::Closed => return Err(UsageError::NoRequestPending),
        };
        let plan = if ex.is_head || status_forbids_body(head.status) {
            BodyPlan::None
        } else if ex.http09 {
            BodyPlan::UntilClose
        } else {
            match head.content_length() {
                Some(n) => BodyPlan::Length(n),
                None => BodyPlan::UntilClose,
            }
        };
        // CPython: the request's verdict, then any Connection header sent.
        let mut close = if ex.close_after { Some(CloseReason::NotPersistent) } else { None };
        match head.get("Connection").map(|v| v.to_ascii_lowercase()) {
            Some(v) if v == "close" => close = Some(CloseReason::ConnectionClose),
            Some(v) if v == "keep-alive" => close = None,
            _ => {}
        }
        if ex.close_after && ex.http09 {
            close = Some(CloseReason::NotPersistent);
        }
        if plan == BodyPlan::UntilClose && close.is_none() {
            close = Some(CloseReason::BodyUntilClose);
        }
        if !ex.http09 {
            out.extend_from_slice(self.config.protocol.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(head.status.to_string().as_bytes());
            out.push(b' ');
            push_latin1(out, head.reason.as_deref().unwrap_or_else(|| reason_phrase(head.status)));
            out.extend_from_slice(b"\r\n");
            write_header(out, "Server", &self.config.server_version);
            write_header(out, "Date", &format_system_time(now));
            for (name, value) in &head.headers {
                write_header(out, name, value);
            }
            out.extend_from_slice(b"\r\n");
        }
        self.writing = Writing::Sending { plan, sent: 0, close };
        Ok(plan)
    }

    /// Append body bytes to `out` (copied, unframed: responses are never
    /// chunked, as CPython's are not).
    pub fn send_body(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), UsageError> {
        self.body_sent(data.len() as u64)?;
        out.extend_from_slice(data);
        Ok(())
    }

    /// Account for `n` body bytes the shell wrote itself (e.g. `sendfile`).
    pub fn body_sent(&mut self, n: u64) -> Result<(), UsageError> {
        match self.writing {
            Writing::Sending { plan, ref mut sent, .. } => {
                match plan {
                    BodyPlan::None if n > 0 => return Err(UsageError::BodyNotAllowed),
                    BodyPlan::Length(len) if *sent + n > len => {
                        return Err(UsageError::BodyTooLong { declared: len })
                    }
                    _ => {}
                }
                *sent += n;
                Ok(())
            }
            _ => Err(UsageError::NoResponseInProgress),
        }
    }

    /// End the response. Says whether the connection stays open; when it
    /// does, pipelined requests already buffered come out of `next_event`.
    pub fn finish(&mut self) -> Result<After, UsageError> {
        let (plan, sent, close) = match self.writing {
            Writing::Sending { plan, sent, close } => (plan, sent, close),
            _ => return Err(UsageError::NoResponseInProgress),
        };
        if let BodyPlan::Length(len) = plan {
            if sent < len {
                return Err(UsageError::BodyTooShort { declared: len, sent });
            }
        }
        let close = match (close, &self.reading) {
            (Some(reason), _) => Some(reason),
            (None, Reading::Closed) => Some(CloseReason::ProtocolError),
            (None, _) => None,
        };
        if let Some(reason) = close {
            self.unread_at_close = self.start < self.buf.len()
                || matches!(self.reading, Reading::Body(ref d) if *d != BodyDecoder::Done);
            self.writing = Writing::Closed;
            self.reading = Reading::Closed;
            self.closed_reported = true;
            return Ok(After::Close(reason));
        }
        self.writing = Writing::Idle;
        if self.reading == Reading::Done {
            self.reading = Reading::Head { scanned: 0, line_len: None, lines: 0 };
        }
        Ok(After::KeepAlive)
    }
}

enum HeadOutcome {
    Incomplete,
    Empty,
    Request(RequestHead),
    Error(ProtocolError, Exchange),
}

fn too_long_line() -> ProtocolError {
    ProtocolError::new(ProtocolErrorKind::RequestLineTooLong, String::new())
}

fn header_line_too_long() -> ProtocolError {
    ProtocolError::new(ProtocolErrorKind::HeaderLineTooLong, "Line too long".to_string())
        .with_explain("got more than 65536 bytes when reading header line")
}

fn head_too_large(max: usize) -> ProtocolError {
    ProtocolError::new(ProtocolErrorKind::HeadTooLarge, "Request header too large".to_string())
        .with_explain(&format!("the request head is over {max} bytes"))
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}
