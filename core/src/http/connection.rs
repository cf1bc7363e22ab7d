//! The connection state machine: bytes in, events out; response parts in,
//! bytes out.
//!
//! Rule (h11's): every change of `Reading`, `Writing` and persistence
//! happens in this file. The head reader (`head.rs`), the body decoder
//! (`body.rs`) and the response writer (`response.rs`) report what they
//! saw; only this file decides what it means.
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
//! body is then read and discarded before the next head, and if that body
//! turns out malformed the connection closes without a second reply.

use std::sync::Arc;
use std::time::SystemTime;

use crate::config::{Config, ServerProtocol};
use crate::http::body::{BodyDecoder, BodyStep};
use crate::http::error::{ProtocolError, ProtocolErrorKind, UsageError};
use crate::http::head::{FailedHead, HeadOutcome, HeadReader};
use crate::http::request::{BodyFraming, ConnectionOptions, RequestHead, Version};
use crate::http::response::{
    write_fields, write_header, write_status_and_server, After, BodyPlan, CloseReason, ResponseHead,
};
use crate::status::status_forbids_body;

/// What the connection is waiting for from the peer, so that a driver can
/// apply the right time limit (the connection keeps no time itself).
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
#[non_exhaustive]
pub enum Event {
    /// A request head arrived; respond to it (now, or after its body).
    RequestHead(RequestHead),
    /// Bytes of the current request's body, de-framed.
    BodyChunk(Vec<u8>),
    /// The current request's body is complete (sent for every request,
    /// with or without a body).
    EndOfRequest,
    /// The peer broke the protocol. Answer with the error when
    /// [`Connection::can_respond`]; otherwise a reply to the request was
    /// already sent and the connection is closed without another (a proxy
    /// in front would give a second reply to the wrong client).
    ProtocolError(ProtocolError),
    /// The connection is over: the peer closed between requests, or sent
    /// an empty request line (CPython closes silently).
    ConnectionClosed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reading {
    Head(HeadReader),
    Body(BodyDecoder),
    Done,
    Closed,
}

/// How the response is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// HTTP/0.9: the bare body, no status line or headers.
    Http09,
    /// A HEAD request: the head only.
    HeadOnly,
    /// Status line, headers, body.
    Full,
}

/// What the client said about keeping the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientWants {
    /// It asked to close, or cannot persist (HTTP/0.9, HTTP/1.0 without
    /// `keep-alive`).
    Close,
    /// HTTP/1.1 or later without `close`: persistence is its default.
    KeepAlive11,
    /// HTTP/1.0 that sent `Connection: keep-alive`.
    KeepAlive10,
}

/// What the write side knows of the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answering {
    form: Form,
    client: ClientWants,
    expects_continue: bool,
    /// HTTP/1.1 on both sides: a body may be chunked, and persistence is
    /// both sides' default.
    both_http11: bool,
    /// A well-formed request whose client will send nothing after it: it
    /// asked to close, or cannot persist.
    client_done: bool,
}

impl Answering {
    /// A request that failed before it was understood: the error reply
    /// gets a status line (unless it was HTTP/0.9), then the connection
    /// closes.
    fn failed(failed: FailedHead) -> Answering {
        let form = if failed.http09 {
            Form::Http09
        } else if failed.is_head {
            Form::HeadOnly
        } else {
            Form::Full
        };
        Answering {
            form,
            client: ClientWants::Close,
            expects_continue: false,
            both_http11: false,
            client_done: false,
        }
    }

    fn of(head: &RequestHead, protocol: ServerProtocol) -> Answering {
        let options = ConnectionOptions::of(head.headers.get_all("Connection"));
        let client = if head.is_http09() || options.close {
            ClientWants::Close
        } else if head.version >= Version::HTTP_11 {
            ClientWants::KeepAlive11
        } else if options.keep_alive {
            ClientWants::KeepAlive10
        } else {
            ClientWants::Close
        };
        // CPython's handle_expect_100 condition, string comparison included.
        let expects_continue =
            head.headers.get("Expect").map_or(false, |v| v.eq_ignore_ascii_case("100-continue"))
                && protocol == ServerProtocol::Http11
                && head.version_text.as_str() >= "HTTP/1.1";
        let form = if head.is_http09() {
            Form::Http09
        } else if head.method == "HEAD" {
            Form::HeadOnly
        } else {
            Form::Full
        };
        let both_http11 =
            protocol == ServerProtocol::Http11 && head.version >= Version::HTTP_11 && form != Form::Http09;
        Answering { form, client, expects_continue, both_http11, client_done: client == ClientWants::Close }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Writing {
    Idle,
    Waiting(Answering),
    /// `client_done`: the connection closes after this response and the
    /// client sends nothing more (see [`Connection::close_follows`]).
    Sending {
        plan: BodyPlan,
        sent: u64,
        close: Option<CloseReason>,
        client_done: bool,
    },
    Closed,
}

/// Protocol state for one client connection. Owns no socket and reads no
/// clock. Its methods come in four families:
///
/// - input from the peer: [`receive`](Self::receive),
///   [`receive_eof`](Self::receive_eof);
/// - [`next_event`](Self::next_event): drain it after every input until it
///   returns `None`;
/// - the response, written into a caller's buffer:
///   [`send_continue`](Self::send_continue),
///   [`start_response`](Self::start_response), [`send_body`](Self::send_body)
///   or [`record_body_sent`](Self::record_body_sent), then
///   [`finish_response`](Self::finish_response);
/// - getters: [`wants_read`](Self::wants_read),
///   [`can_respond`](Self::can_respond), [`is_closed`](Self::is_closed),
///   [`has_unread_input`](Self::has_unread_input), ...
///
/// [`crate::Engine`] drives one with timers, bodies and a handler; use a
/// `Connection` directly for a protocol-level tool of your own.
#[derive(Debug)]
pub struct Connection {
    config: Arc<Config>,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    reading: Reading,
    writing: Writing,
    request_line: String,
    /// A head handed back with [`Connection::recycle`]: the next request's
    /// is parsed into its buffers.
    spare_head: Option<RequestHead>,
    closed_reported: bool,
    /// Close after the response in progress (the server is stopping).
    stopping: bool,
    /// Whether input was left unread when the connection was closed.
    unread_at_close: bool,
}

impl Connection {
    /// A connection at the start of its first request.
    pub fn new(config: impl Into<Arc<Config>>) -> Connection {
        Connection {
            config: config.into(),
            buf: Vec::new(),
            start: 0,
            eof: false,
            reading: Reading::Head(HeadReader::default()),
            writing: Writing::Idle,
            request_line: String::new(),
            spare_head: None,
            closed_reported: false,
            stopping: false,
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
        if let Reading::Head(_) = self.reading {
            if self.start < self.buf.len() {
                self.buf.extend_from_slice(b"\r\n\r\n");
            }
        }
    }

    /// Whether reading the socket can make progress now.
    pub fn wants_read(&self) -> bool {
        !self.eof
            && match self.reading {
                Reading::Head(_) => self.writing == Writing::Idle,
                Reading::Body(_) => true,
                Reading::Done | Reading::Closed => false,
            }
    }

    /// What the connection waits for from the peer.
    pub fn read_phase(&self) -> ReadPhase {
        match self.reading {
            Reading::Head(_) if self.writing == Writing::Idle => {
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

    /// Whether a request is waiting for its response.
    pub fn can_respond(&self) -> bool {
        matches!(self.writing, Writing::Waiting(_))
    }

    /// Whether a response was started and is not finished yet.
    pub fn is_responding(&self) -> bool {
        matches!(self.writing, Writing::Sending { .. })
    }

    /// Whether the response being sent is the connection's last and its
    /// client said it would send nothing after the request (HTTP/1.0
    /// without `keep-alive`, HTTP/0.9, `Connection: close`): the close then
    /// follows the response's last byte at once, and a driver may hold that
    /// byte back to leave with it (TCP: `MSG_MORE`, then the close sends
    /// data and FIN in one packet). Never for a request that failed, whose
    /// client may still be sending.
    pub fn close_follows(&self) -> bool {
        matches!(self.writing, Writing::Sending { client_done: true, .. })
    }

    /// Whether the connection is finished for good.
    pub fn is_closed(&self) -> bool {
        self.writing == Writing::Closed
    }

    /// Whether the peer may still be sending when the connection closes:
    /// bytes were buffered but not parsed, or a request body was cut off.
    /// A driver then closes gracefully (half-close and drain), so that the
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

    /// Whether the request waiting for a response asked for `100 Continue`
    /// and should get it (CPython's condition: `Expect: 100-continue`, both
    /// sides HTTP/1.1) before its body is read.
    pub fn expects_continue(&self) -> bool {
        matches!(self.writing, Writing::Waiting(a) if a.expects_continue)
    }

    /// The server is stopping: the response in progress (or the one the
    /// waiting request gets) is the last, and says so; an idle connection
    /// closes at once.
    pub fn close_after_response(&mut self) {
        self.stopping = true;
        if self.writing == Writing::Idle && !matches!(self.reading, Reading::Body(_)) {
            self.close_now(false);
        }
    }

    /// Hand back the head of a request that was answered: the next head is
    /// parsed into its buffers, so that a connection's requests need no
    /// new allocations once the first has sized them. Optional.
    pub fn recycle(&mut self, head: RequestHead) {
        self.spare_head = Some(head);
    }

    /// The next event, or `None` until more bytes arrive or the current
    /// response is finished. Call repeatedly until `None` after each input.
    pub fn next_event(&mut self) -> Option<Event> {
        match self.reading {
            Reading::Head(_) if self.writing != Writing::Idle => None,
            Reading::Head(_) => self.next_head_event(),
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
                self.close_now(false);
                self.closed_reported = true;
                return Some(Event::ConnectionClosed);
            }
            return None;
        }
        let max_head = self.config.max_head();
        let outcome = match self.reading {
            Reading::Head(ref mut reader) => {
                reader.read(&self.buf[self.start..], max_head, &mut self.request_line, &mut self.spare_head)
            }
            _ => return None,
        };
        match outcome {
            HeadOutcome::Incomplete => None,
            HeadOutcome::Empty { consumed } => {
                self.start += consumed;
                self.close_now(false);
                self.closed_reported = true;
                Some(Event::ConnectionClosed)
            }
            HeadOutcome::Error { error, failed } => {
                self.reading = Reading::Closed;
                self.writing = Writing::Waiting(Answering::failed(failed));
                Some(Event::ProtocolError(error))
            }
            HeadOutcome::Request { head, consumed } => {
                self.start += consumed;
                self.writing = Writing::Waiting(Answering::of(&head, self.config.protocol()));
                self.reading = Reading::Body(match head.framing {
                    BodyFraming::None => BodyDecoder::Done,
                    BodyFraming::Length(n) => BodyDecoder::Length(n),
                    BodyFraming::Chunked => BodyDecoder::ChunkSize,
                });
                Some(Event::RequestHead(head))
            }
        }
    }

    /// A request body broke the protocol. If its request is still waiting
    /// for a response, the response is the error; if a response was already
    /// finished, nothing more may be said: close. (One in progress ends,
    /// then the connection closes.)
    fn body_failed(&mut self, error: ProtocolError) -> Event {
        self.reading = Reading::Closed;
        match self.writing {
            Writing::Waiting(ref mut a) => {
                *a = Answering {
                    client: ClientWants::Close,
                    expects_continue: false,
                    client_done: false,
                    ..*a
                };
            }
            Writing::Idle => self.close_now(true),
            Writing::Sending { .. } | Writing::Closed => {}
        }
        Event::ProtocolError(error)
    }

    fn next_body_event(&mut self) -> Option<Event> {
        loop {
            let step = match self.reading {
                Reading::Body(ref mut decoder) => decoder.step(&self.buf[self.start..]),
                _ => return None,
            };
            match step {
                Err(err) => return Some(self.body_failed(err)),
                Ok(BodyStep::NeedData) => {
                    if self.eof {
                        let err = ProtocolError::new(
                            ProtocolErrorKind::TruncatedBody,
                            "Request body cut short".to_string(),
                        );
                        return Some(self.body_failed(err));
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
                    self.reading = match self.writing {
                        Writing::Idle if self.stopping => {
                            self.close_now(false);
                            Reading::Closed
                        }
                        Writing::Idle => Reading::Head(HeadReader::default()),
                        _ => Reading::Done,
                    };
                    return Some(Event::EndOfRequest);
                }
            }
        }
    }

    /// Write `HTTP/1.1 100 Continue` and the blank line.
    pub fn send_continue(&mut self, out: &mut Vec<u8>) -> Result<(), UsageError> {
        match self.writing {
            Writing::Waiting(ref mut a) if a.expects_continue => {
                a.expects_continue = false;
                out.extend_from_slice(self.config.protocol().as_str().as_bytes());
                out.extend_from_slice(b" 100 Continue\r\n\r\n");
                Ok(())
            }
            _ => Err(UsageError::NoRequestPending),
        }
    }

    /// Write the status line and headers (`Server` and `Date` first, from
    /// `now`, as CPython's `send_response`), decide persistence and say it
    /// where the client could not tell otherwise, and say what body may
    /// follow.
    pub fn start_response(
        &mut self,
        head: &ResponseHead,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<BodyPlan, UsageError> {
        self.start(head, false, now, out)
    }

    /// [`Connection::start_response`] for a body of unknown length (no
    /// `Content-Length` in `head`) that the caller will frame in the
    /// chunked coding when this says [`BodyPlan::Chunked`]: it does, adding
    /// `Transfer-Encoding: chunked`, when client and server both speak
    /// HTTP/1.1; otherwise the body is framed by the close, as usual.
    pub fn start_chunked_response(
        &mut self,
        head: &ResponseHead,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<BodyPlan, UsageError> {
        self.start(head, true, now, out)
    }

    fn start(
        &mut self,
        head: &ResponseHead,
        chunked: bool,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<BodyPlan, UsageError> {
        let answering = match self.writing {
            Writing::Waiting(a) => a,
            Writing::Sending { .. } => return Err(UsageError::HeadAlreadySent),
            Writing::Idle | Writing::Closed => return Err(UsageError::NoRequestPending),
        };
        let length = head.content_length();
        let chunked = chunked && answering.both_http11 && length.is_none();
        // The body a GET would get; a HEAD decides persistence from it too,
        // so that its head says what the GET's would (RFC 9110 9.3.2).
        let get_plan = if status_forbids_body(head.status) {
            BodyPlan::None
        } else if answering.form == Form::Http09 {
            BodyPlan::UntilClose
        } else if chunked {
            BodyPlan::Chunked
        } else {
            match length {
                Some(n) => BodyPlan::Length(n),
                None => BodyPlan::UntilClose,
            }
        };
        let plan = if answering.form == Form::HeadOnly { BodyPlan::None } else { get_plan };
        let (close, announce) = self.persistence(answering, head, get_plan);
        if answering.form != Form::Http09 {
            write_status_and_server(out, &self.config, head, now);
            if close.is_some() && head.headers.contains("Connection") {
                for (name, value) in head.headers.iter() {
                    // A handler's `keep-alive` on a connection that closes
                    // anyway would mislead the client.
                    if name.eq_ignore_ascii_case("Connection")
                        && ConnectionOptions::of(std::iter::once(value)).keep_alive
                    {
                        continue;
                    }
                    write_header(out, name, value);
                }
            } else {
                write_fields(out, &head.headers);
            }
            // A HEAD says what the GET would.
            if chunked && !status_forbids_body(head.status) {
                write_header(out, "Transfer-Encoding", "chunked");
            }
            if let Some(value) = announce {
                write_header(out, "Connection", value);
            }
            out.extend_from_slice(b"\r\n");
        }
        let client_done = close.is_some() && answering.client_done;
        self.writing = Writing::Sending { plan, sent: 0, close, client_done };
        Ok(plan)
    }

    /// Whether the connection closes after this response, and the
    /// `Connection` field to add so that the client knows. CPython decides
    /// from the request and then from any `Connection` header the reply
    /// sets; on top of that a body framed by the close, a stopping server
    /// or a broken request stream close it. RFC 9112 section 9.6: a client
    /// that could expect the connection to stay open (HTTP/1.1, or
    /// HTTP/1.0 that asked with `keep-alive`) is told `close`, in either
    /// server mode, and so is an HTTP/1.1 one that asked to close when the
    /// server speaks HTTP/1.1; an HTTP/1.0 client whose connection stays open is
    /// told `keep-alive`, since that is not its default. (CPython does
    /// neither.)
    fn persistence(
        &self,
        answering: Answering,
        head: &ResponseHead,
        plan: BodyPlan,
    ) -> (Option<CloseReason>, Option<&'static str>) {
        let server_persists = self.config.protocol() == ServerProtocol::Http11;
        let mut close = match answering.client {
            ClientWants::KeepAlive11 | ClientWants::KeepAlive10 if server_persists => None,
            _ => Some(CloseReason::NotPersistent),
        };
        let reply = ConnectionOptions::of(head.get_all("Connection"));
        if reply.close {
            close = Some(CloseReason::ConnectionClose);
        } else if reply.keep_alive {
            close = None; // CPython's send_header honours it
        }
        if answering.form == Form::Http09 {
            close = Some(CloseReason::NotPersistent);
        }
        if close.is_none() {
            if plan == BodyPlan::UntilClose {
                close = Some(CloseReason::BodyUntilClose);
            } else if self.stopping {
                close = Some(CloseReason::ServerStopping);
            } else if self.reading == Reading::Closed {
                close = Some(CloseReason::ProtocolError);
            }
        }
        // Whatever the server's version: an HTTP/1.1 client reading an
        // HTTP/1.0 status line may still try to reuse the connection
        // (wget and wrk do), and RFC 9112 9.6 has a server that does not
        // persist say `close`; and where both sides speak HTTP/1.1, an
        // HTTP/1.1 client that asked to close is told so too (9.6's
        // SHOULD: without it the response reads as persistent, and wrk,
        // for one, writes its next request into the closed socket).
        let client_may_persist = answering.client != ClientWants::Close;
        let say_close = client_may_persist || answering.both_http11;
        let announce = match close {
            Some(_) if say_close && !reply.close && answering.form != Form::Http09 => Some("close"),
            None if answering.client == ClientWants::KeepAlive10 && !reply.keep_alive => Some("keep-alive"),
            _ => None,
        };
        (close, announce)
    }

    /// Append body bytes to `out` (copied as they are: a chunked body's
    /// framing is the caller's).
    pub fn send_body(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), UsageError> {
        self.record_body_sent(data.len() as u64)?;
        out.extend_from_slice(data);
        Ok(())
    }

    /// Account for `n` body bytes the caller wrote itself (e.g. `sendfile`).
    pub fn record_body_sent(&mut self, n: u64) -> Result<(), UsageError> {
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
    pub fn finish_response(&mut self) -> Result<After, UsageError> {
        let (plan, sent, close) = match self.writing {
            Writing::Sending { plan, sent, close, .. } => (plan, sent, close),
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
            (None, _) if self.stopping => Some(CloseReason::ServerStopping),
            (None, _) => None,
        };
        if let Some(reason) = close {
            let unread = self.start < self.buf.len()
                || matches!(self.reading, Reading::Body(ref d) if *d != BodyDecoder::Done);
            self.close_now(unread);
            self.closed_reported = true;
            return Ok(After::Close(reason));
        }
        self.writing = Writing::Idle;
        if self.reading == Reading::Done {
            self.reading = Reading::Head(HeadReader::default());
        }
        Ok(After::KeepAlive)
    }

    fn close_now(&mut self, unread: bool) {
        self.unread_at_close |= unread;
        self.writing = Writing::Closed;
        self.reading = Reading::Closed;
    }
}
