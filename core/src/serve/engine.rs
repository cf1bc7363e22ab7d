//! The per-connection engine: everything between "bytes arrived" and "these
//! bytes must go out" that is not I/O, in the handle-input / poll-output
//! style of quinn-proto and str0m.
//!
//! The shell tells the engine what happened ([`Input`], always with the
//! time) and asks what to do next ([`Output`]). The engine owns the
//! request/response cycle (dispatch to a [`Handler`], `100 Continue` once
//! the handler accepted the body, body buffering or streaming, error
//! replies, log entries), every time limit (the head deadline from accept,
//! idle and I/O limits), the lingering-close decision, and the response
//! body contract: a body is a byte range of a source the shell copies.
//!
//! **After every [`Engine::handle`], call [`Engine::poll`] and act on its
//! output until it returns [`Output::Read`] (wait for input or for
//! [`Engine::timeout`]), or an output the shell cannot carry out yet
//! (a `Write` or `Body` that would block: wait until writable or
//! [`Engine::timeout`]), or [`Output::Close`].**

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::Config;
use crate::http::{
    write_response_head, After, BodyFraming, BodyPlan, Connection, Event, ReadPhase, RequestHead,
    ResponseHead, UsageError,
};
use crate::log::LogEntry;
use crate::serve::handler::{
    dispatch, Acceptance, Body, BodyPart, BodyUse, ErrorReply, Handler, Reply, Request,
};
use crate::status::status_forbids_body;

/// How long a closing connection keeps reading (and discarding) what the
/// peer still sends, so that unread bytes do not turn the close into a
/// reset that destroys the response in flight.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded while lingering.
const LINGER_BYTES: u64 = 1 << 20;
/// Most bytes of a chunked body read at a time (one chunk).
const CHUNK_READ: usize = 16 * 1024;

/// Both clocks, read once by the shell for each call: the wall clock for
/// `Date`, the monotonic one for time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The wall-clock time.
    pub wall: SystemTime,
    /// The monotonic time.
    pub mono: Instant,
}

impl Now {
    /// Both clocks.
    pub fn new(wall: SystemTime, mono: Instant) -> Now {
        Now { wall, mono }
    }
}

/// What the shell tells the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input<'a> {
    /// Bytes read from the peer.
    Bytes(&'a [u8]),
    /// This many bytes were read into the `buf` of an [`Output::ReadBody`]
    /// (at least one; report [`Input::BodyEnded`] at the source's end).
    BodyRead(usize),
    /// The peer closed its sending side (a read returned 0).
    Eof,
    /// This many bytes of an [`Output::Write`], or of the `head` of an
    /// [`Output::Body`], went out.
    Written(usize),
    /// This many body bytes of an [`Output::Body`] went out (after all of
    /// its `head`).
    BodyCopied(u64),
    /// The source of an [`Output::Body`] has no more bytes: the normal end
    /// of a body of unknown length, or a source shorter than its length
    /// (the connection then closes, its framing broken).
    BodyEnded,
    /// The server is stopping: finish the response in progress (and answer
    /// a request whose head was read), saying `Connection: close`, then
    /// close; close an idle connection at once.
    Shutdown,
}

/// What the shell must do next.
#[derive(Debug)]
#[must_use]
pub enum Output<'a, B> {
    /// Log this (the shell is the log sink: it adds client and time).
    Log(&'a LogEntry),
    /// Write these bytes; report [`Input::Written`].
    Write(&'a [u8]),
    /// Write `head`, then copy `len` bytes (all of it, until it ends, when
    /// `None`) of `source` starting at `offset`: `sendfile`, `pread` and
    /// `write`, or a stream. Report [`Input::Written`] for head bytes, then
    /// [`Input::BodyCopied`]; [`Input::BodyEnded`] when the source ends.
    Body {
        /// Response bytes to send first (may be empty).
        head: &'a [u8],
        /// The body source.
        source: &'a mut B,
        /// Where to start in it.
        offset: u64,
        /// How many bytes; `None`: until it ends.
        len: Option<u64>,
    },
    /// Read up to `buf.len()` bytes of `source` from `offset` into `buf`
    /// (a stream ignores the offset: it is where the stream is); report
    /// [`Input::BodyRead`], or [`Input::BodyEnded`] when it has no more.
    /// Only for bodies the engine frames itself ([`crate::Body::Chunked`]).
    ReadBody {
        /// The body source.
        source: &'a mut B,
        /// How far into it the engine has read.
        offset: u64,
        /// Where to put the bytes.
        buf: &'a mut [u8],
    },
    /// Read from the peer and report [`Input::Bytes`] or [`Input::Eof`];
    /// if nothing comes before [`Engine::timeout`], poll again.
    Read,
    /// Nothing more will be written: shut the write side (half-close),
    /// then keep reading as [`Output::Read`] asks, discarding.
    ShutdownWrite,
    /// Close the connection.
    Close,
}

/// What the connection's clock runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A new connection, or bytes of the next head after an idle spell.
    Head,
    /// An idle persistent connection.
    Idle,
    /// A body coming in, or a response going out.
    Io,
    /// Lingering close.
    Linger,
    /// Nothing (closed).
    Nothing,
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Serving,
    /// Closing gracefully: the write side is to be (or was) shut; input is
    /// read and discarded until EOF, the linger time or `LINGER_BYTES`.
    Draining {
        shut: bool,
        drained: u64,
    },
    Closed,
}

/// A response body being copied by the shell: the current range of the
/// source, and for a body of several ranges, the parts still to come.
#[derive(Debug)]
struct BodyJob<B> {
    source: B,
    offset: u64,
    left: Option<u64>,
    parts: VecDeque<BodyPart>,
    closing: Vec<u8>,
    /// Read by the engine (`Output::ReadBody`) rather than copied by the
    /// shell: a body of unknown length it frames...
    read_by_engine: bool,
    /// ...in the chunked coding (else as it is, ended by the close).
    chunked: bool,
}

impl<B> BodyJob<B> {
    fn range(source: B, offset: u64, left: Option<u64>) -> BodyJob<B> {
        BodyJob {
            source,
            offset,
            left,
            parts: VecDeque::new(),
            closing: Vec::new(),
            read_by_engine: false,
            chunked: false,
        }
    }

    /// The current range is done and nothing follows it.
    fn is_done(&self) -> bool {
        self.left == Some(0) && self.parts.is_empty() && self.closing.is_empty()
    }
}

/// The response under way, for its [`LogEntry::Completed`] (kept only
/// when the config asks for completions).
#[derive(Debug)]
struct InFlight {
    request_line: String,
    status: u16,
    /// When the request head was complete (or the error found).
    started: Instant,
    /// When output bytes were last reported written.
    sent_at: Instant,
    /// Body bytes known to have gone out.
    body_sent: u64,
    /// Body bytes queued in `out` behind bytes not yet written: they count
    /// once `out` is written out.
    body_queued: u64,
}

/// What the current request's body is for.
#[derive(Debug)]
enum RequestBody {
    /// Nothing: discarded (or there is no request).
    Unused,
    /// Collected for the handler.
    Buffering { req: Request, limit: u64 },
    /// Handed to the handler as it arrives.
    Streaming { head: RequestHead, limit: u64, received: u64 },
}

/// The protocol, policy and timers of one client connection, with no I/O.
/// `B` is the body source type of the [`Handler`] passed to
/// [`Engine::poll`] (a file natively).
#[derive(Debug)]
pub struct Engine<B> {
    conn: Connection,
    config: Arc<Config>,
    /// Response bytes not yet written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    body: Option<BodyJob<B>>,
    /// Where a chunked body's next chunk is read (only while one is sent).
    chunk: Vec<u8>,
    logs: VecDeque<LogEntry>,
    /// The front of `logs` was handed out by the last poll.
    log_shown: bool,
    /// The buffer of the last request line logged, for the next.
    spare_line: String,
    request: RequestBody,
    stage: Stage,
    wait: Wait,
    since: Instant,
    /// A response was finished on this connection (idle vs. new).
    served: bool,
    /// A reply was just made: the handler may have taken long to make it
    /// (a CGI script), so the wait for the reply to go out counts from the
    /// next `now` the shell passes (when it acts on the output), not from
    /// the one before the handler ran.
    handler_ran: bool,
    /// When the current request's head was taken (for `Completed`).
    head_at: Option<Instant>,
    /// The response under way (with `Config::log_completions` only).
    in_flight: Option<InFlight>,
}

/// Room made in the output buffer for a response head.
const HEAD_ROOM: usize = 320;

impl<B> Engine<B> {
    /// An engine for a connection accepted at `now`: its head deadline
    /// starts now.
    pub fn new(config: Arc<Config>, now: Now) -> Engine<B> {
        Engine {
            conn: Connection::new(Arc::clone(&config)),
            config,
            out: Vec::new(),
            out_pos: 0,
            body: None,
            chunk: Vec::new(),
            logs: VecDeque::new(),
            log_shown: false,
            spare_line: String::new(),
            request: RequestBody::Unused,
            stage: Stage::Serving,
            wait: Wait::Head,
            since: now.mono,
            served: false,
            handler_ran: false,
            head_at: None,
            in_flight: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the connection closes once the response under way has gone
    /// out and its client sends nothing more (see
    /// [`Connection::close_follows`](crate::http::Connection::close_follows)),
    /// the response's end being what the next [`Output::Write`] or
    /// [`Output::Body`] writes: a shell may then hold the write that
    /// finishes it back to leave with the close. Ask before
    /// [`Engine::poll`]: a `poll` can start that response (this says no
    /// then, a lost chance only), never make it less final.
    pub fn close_follows(&self) -> bool {
        self.conn.close_follows() && self.body.as_ref().map_or(true, |job| !job.read_by_engine)
    }

    /// Whether the connection is over (what [`Output::Close`] says).
    pub fn is_closed(&self) -> bool {
        self.stage == Stage::Closed
    }

    /// The shell lost the connection (an I/O error: the peer reset it
    /// mid-reply, say): it is over. Returns the log entries still owed,
    /// for the shell to write: with completions on, the
    /// [`LogEntry::Completed`] of a reply cut short.
    pub fn abort(&mut self) -> Vec<LogEntry> {
        self.completed(false);
        self.body = None;
        self.stage = Stage::Closed;
        if self.log_shown {
            // Handed out by the last poll: written already.
            self.logs.pop_front();
            self.log_shown = false;
        }
        self.logs.drain(..).collect()
    }

    /// When the engine next needs [`Engine::poll`] even if nothing
    /// happens: the deadline of whatever the connection waits for.
    pub fn timeout(&self) -> Option<Instant> {
        let t = self.config.timeouts();
        let limit = match self.wait {
            Wait::Head => t.head(),
            Wait::Idle => t.idle(),
            Wait::Io => t.io(),
            Wait::Linger => Some(LINGER),
            Wait::Nothing => None,
        };
        limit.map(|d| self.since + d)
    }

    /// Tell the engine what happened.
    pub fn handle(&mut self, input: Input<'_>, now: Now) -> Result<(), UsageError> {
        self.catch_up(now);
        let mut progress = false;
        match input {
            Input::Bytes(bytes) => match self.stage {
                Stage::Serving => {
                    progress = self.conn.read_phase() == ReadPhase::Body && !bytes.is_empty();
                    self.conn.receive(bytes);
                }
                Stage::Draining { shut, drained } => {
                    let drained = drained + bytes.len() as u64;
                    self.stage = if drained > LINGER_BYTES {
                        Stage::Closed
                    } else {
                        Stage::Draining { shut, drained }
                    };
                }
                Stage::Closed => {}
            },
            Input::Eof => match self.stage {
                Stage::Serving => self.conn.receive_eof(),
                Stage::Draining { .. } => self.stage = Stage::Closed,
                Stage::Closed => {}
            },
            Input::Written(n) => {
                if n > self.out.len() - self.out_pos {
                    return Err(UsageError::TooMuchReported);
                }
                self.out_pos += n;
                let drained = self.out_pos == self.out.len();
                if drained {
                    self.out.clear();
                    self.out_pos = 0;
                }
                if let Some(r) = self.in_flight.as_mut().filter(|_| n > 0) {
                    r.sent_at = now.mono;
                    if drained {
                        r.body_sent += std::mem::take(&mut r.body_queued);
                    }
                }
                progress = n > 0;
            }
            Input::BodyCopied(n) => {
                if n == 0 {
                    return Ok(());
                }
                if self.out_pos < self.out.len() {
                    return Err(UsageError::TooMuchReported);
                }
                let job = self.body.as_mut().ok_or(UsageError::NoResponseInProgress)?;
                if job.read_by_engine || job.left.map_or(false, |left| n > left) {
                    return Err(UsageError::TooMuchReported);
                }
                self.conn.record_body_sent(n)?;
                job.offset += n;
                job.left = job.left.map(|left| left - n);
                if job.is_done() {
                    self.body = None;
                }
                if let Some(r) = self.in_flight.as_mut() {
                    r.sent_at = now.mono;
                    r.body_sent += n;
                }
                progress = n > 0;
            }
            Input::BodyRead(n) => {
                let job = self.body.as_mut().ok_or(UsageError::NoResponseInProgress)?;
                if !job.read_by_engine || self.out_pos < self.out.len() || n > self.chunk.len() {
                    return Err(UsageError::TooMuchReported);
                }
                if n > 0 {
                    self.conn.record_body_sent(n as u64)?;
                    job.offset += n as u64;
                    if job.chunked {
                        self.out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    }
                    self.out.extend_from_slice(&self.chunk[..n]);
                    if job.chunked {
                        self.out.extend_from_slice(b"\r\n");
                    }
                    if let Some(r) = self.in_flight.as_mut() {
                        r.body_queued += n as u64;
                    }
                    progress = true;
                }
            }
            Input::BodyEnded if self.body.as_ref().map_or(false, |job| job.read_by_engine) => {
                if self.body.take().map_or(false, |job| job.chunked) {
                    self.out.extend_from_slice(b"0\r\n\r\n");
                }
                self.chunk = Vec::new();
            }
            Input::BodyEnded => {
                if let Some(job) = self.body.take() {
                    if job.left.map_or(false, |left| left > 0) {
                        // The file shrank under us, or a script's output
                        // ended before its Content-Length: the framing is
                        // broken, nothing more can be said.
                        self.logs.push_back(LogEntry::Notice(
                            "response body ended before its length; connection closed".into(),
                        ));
                        self.stage = Stage::Closed;
                        self.completed(false);
                    }
                }
            }
            Input::Shutdown => self.conn.close_after_response(),
        }
        self.tick(now);
        if progress && self.wait == Wait::Io {
            self.since = now.mono;
        }
        Ok(())
    }

    /// What to do next. Carry it out (reporting through
    /// [`Engine::handle`]) and poll again, until `Read`, `Close`, or an
    /// output that must wait for the socket.
    pub fn poll<H: Handler<Body = B>>(&mut self, handler: &mut H, now: Now) -> Output<'_, B> {
        if self.log_shown {
            if let Some(LogEntry::Request { request_line, .. }) = self.logs.pop_front() {
                // Its buffer holds the next request's line.
                self.spare_line = request_line;
            }
            self.log_shown = false;
        }
        self.catch_up(now);
        // What the shell handed in counts before the clock is judged: input
        // that was there in time but read late (a busy server) is served.
        self.advance(handler, now);
        self.tick(now);
        if let Some(deadline) = self.timeout() {
            if now.mono >= deadline && self.stage != Stage::Closed {
                self.expire(handler);
            }
        }
        self.advance(handler, now);
        self.tick(now);
        if let Some(entry) = self.logs.front() {
            self.log_shown = true;
            return Output::Log(entry);
        }
        match self.stage {
            Stage::Closed => Output::Close,
            Stage::Draining { shut: false, drained } => {
                self.stage = Stage::Draining { shut: true, drained };
                Output::ShutdownWrite
            }
            Stage::Draining { shut: true, .. } => Output::Read,
            Stage::Serving => {
                let head = &self.out[self.out_pos..];
                match self.body.as_mut() {
                    Some(job) if job.read_by_engine && !head.is_empty() => Output::Write(head),
                    Some(job) if job.read_by_engine => {
                        Output::ReadBody { source: &mut job.source, offset: job.offset, buf: &mut self.chunk }
                    }
                    Some(job) => {
                        Output::Body { head, source: &mut job.source, offset: job.offset, len: job.left }
                    }
                    None if !head.is_empty() => Output::Write(head),
                    None if self.conn.wants_read() => Output::Read,
                    None => Output::Close,
                }
            }
        }
    }

    /// Run the cycle as far as it goes without the shell: finish a
    /// response whose bytes are all out, take the next event, answer it.
    fn advance<H: Handler<Body = B>>(&mut self, handler: &mut H, now: Now) {
        self.next_part();
        while self.stage == Stage::Serving {
            if self.out_pos < self.out.len() || self.body.is_some() {
                return;
            }
            if self.conn.is_responding() {
                let finished = self.conn.finish_response();
                if finished.is_ok() {
                    self.completed(true);
                }
                match finished {
                    Ok(After::KeepAlive) => self.served = true,
                    Ok(After::Close(_)) => {
                        self.begin_close();
                        return;
                    }
                    Err(e) => {
                        self.handler_bug(e);
                        return;
                    }
                }
                continue;
            }
            match self.conn.next_event() {
                Some(event) => self.on_event(event, handler, now),
                None => {
                    if self.conn.is_closed() {
                        self.begin_close();
                    }
                    return;
                }
            }
        }
    }

    fn on_event<H: Handler<Body = B>>(&mut self, event: Event, handler: &mut H, now: Now) {
        match event {
            Event::RequestHead(head) => self.on_head(head, handler, now),
            Event::BodyChunk(chunk) => self.on_body_chunk(&chunk, handler, now),
            Event::EndOfRequest => match std::mem::replace(&mut self.request, RequestBody::Unused) {
                RequestBody::Buffering { req, .. } => {
                    let req = req.at(now.wall);
                    let reply = dispatch(handler, &req);
                    self.start_reply(&req.head.request_line, reply, now);
                    self.conn.recycle(req.head);
                }
                RequestBody::Streaming { head, .. } => {
                    let req = Request::new(head, Vec::new()).at(now.wall);
                    let reply = dispatch(handler, &req);
                    self.start_reply(&req.head.request_line, reply, now);
                    self.conn.recycle(req.head);
                }
                RequestBody::Unused => {}
            },
            Event::ProtocolError(err) => {
                self.abandon_body(handler);
                // Only a request still waiting gets the error; after a
                // reply was sent, the connection just closes.
                if self.conn.can_respond() {
                    let line = self.conn.request_line().to_string();
                    self.start_reply(&line, Reply::from_protocol_error(&err), now);
                }
            }
            Event::ConnectionClosed => {
                self.abandon_body(handler);
                self.begin_close();
            }
        }
    }

    fn on_head<H: Handler<Body = B>>(&mut self, head: RequestHead, handler: &mut H, now: Now) {
        self.head_at = Some(now.mono);
        let body_use = handler.body_use(&head);
        let limit = match body_use {
            BodyUse::Buffer { limit } | BodyUse::Stream { limit } => Some(limit),
            _ => None,
        };
        if let (Some(limit), BodyFraming::Length(n)) = (limit, head.framing) {
            if n > limit {
                // Refused before any 100 Continue invites the body.
                return self.start_reply(&head.request_line, Reply::error(413, None, None), now);
            }
        }
        if self.conn.expects_continue() {
            if let Acceptance::Refuse(reply) = handler.handle_expect_100(&head) {
                return self.start_reply(&head.request_line, reply, now);
            }
        }
        if let BodyUse::Stream { .. } = body_use {
            if let Acceptance::Refuse(reply) = handler.start_body(&head) {
                return self.start_reply(&head.request_line, reply, now);
            }
        }
        if self.conn.expects_continue() {
            // Cannot fail: a request is waiting and asked for it.
            let _ = self.conn.send_continue(&mut self.out);
        }
        match body_use {
            BodyUse::Buffer { limit } => {
                self.request = RequestBody::Buffering { req: Request::new(head, Vec::new()), limit }
            }
            BodyUse::Stream { limit } => self.request = RequestBody::Streaming { head, limit, received: 0 },
            _ => {
                let req = Request::new(head, Vec::new()).at(now.wall);
                let reply = dispatch(handler, &req);
                self.start_reply(&req.head.request_line, reply, now);
                self.conn.recycle(req.head);
            }
        }
    }

    fn on_body_chunk<H: Handler<Body = B>>(&mut self, chunk: &[u8], handler: &mut H, now: Now) {
        let over_limit = match self.request {
            RequestBody::Buffering { ref mut req, limit } => {
                let over = req.body.len() as u64 + chunk.len() as u64 > limit;
                if !over {
                    req.body.extend_from_slice(chunk);
                }
                over
            }
            RequestBody::Streaming { ref mut received, limit, .. } => {
                *received += chunk.len() as u64;
                let over = *received > limit;
                if !over {
                    handler.receive_body(chunk);
                }
                over
            }
            RequestBody::Unused => false,
        };
        if over_limit {
            self.abandon_body(handler);
            let line = self.conn.request_line().to_string();
            self.start_reply(&line, Reply::error(413, None, None), now);
        }
    }

    /// The current request's body will not be completed.
    fn abandon_body<H: Handler<Body = B>>(&mut self, handler: &mut H) {
        if let RequestBody::Streaming { .. } = std::mem::replace(&mut self.request, RequestBody::Unused) {
            handler.abort_body();
        }
    }

    /// Log a reply as CPython does (`send_error`'s line first), write its
    /// head, then its body if it is in memory; a body to copy becomes the
    /// body job. With `Config::log_completions`, the response is tracked
    /// until its `LogEntry::Completed`.
    fn start_reply(&mut self, request_line: &str, reply: Reply<B>, now: Now) {
        self.handler_ran = true;
        let (mut head, mut body, error, notice) = reply.into_parts();
        if let Some(notice) = notice {
            self.logs.push_back(LogEntry::Notice(notice));
        }
        if let Some(error) = error {
            let (page, entry) = render_error(&self.config, &mut head, &error);
            body = page;
            self.logs.push_back(entry);
        }
        let logged = self.reuse_line(request_line);
        self.logs.push_back(LogEntry::Request { request_line: logged, status: head.status });
        // From the head (or, for a malformed request, from now).
        let head_at = self.head_at.take().unwrap_or(now.mono);
        if self.config.log_completions() {
            self.in_flight = Some(InFlight {
                request_line: request_line.to_string(),
                status: head.status,
                started: head_at,
                sent_at: head_at,
                body_sent: 0,
                body_queued: 0,
            });
        }
        // A connection's first head: room for a typical one at once, not
        // grown step by step (the buffer is kept for the next).
        self.out.reserve(HEAD_ROOM);
        let started = if let Body::Chunked(_) = body {
            self.conn.start_chunked_response(&head, now.wall, &mut self.out)
        } else {
            self.conn.start_response(&head, now.wall, &mut self.out)
        };
        head.recycle();
        let plan = match started {
            Ok(plan) => plan,
            Err(e) => return self.handler_bug(e),
        };
        let result = match (body, plan) {
            (_, BodyPlan::None) | (Body::Empty, _) => Ok(()),
            (Body::Bytes(bytes), _) => {
                self.queued_body(bytes.len());
                self.conn.send_body(&bytes, &mut self.out)
            }
            (Body::Source { source, offset, len }, plan) => {
                let len = match plan {
                    BodyPlan::Length(n) => n.min(len),
                    _ => len,
                };
                if len > 0 {
                    self.body = Some(BodyJob::range(source, offset, Some(len)));
                }
                Ok(())
            }
            (Body::Stream(source) | Body::Chunked(source), BodyPlan::Length(n)) => {
                if n > 0 {
                    self.body = Some(BodyJob::range(source, 0, Some(n)));
                }
                Ok(())
            }
            (Body::Stream(source), _) => {
                self.body = Some(BodyJob::range(source, 0, None));
                Ok(())
            }
            (Body::Chunked(source), plan) => {
                let mut job = BodyJob::range(source, 0, None);
                job.read_by_engine = true;
                job.chunked = plan == BodyPlan::Chunked;
                self.chunk = vec![0; CHUNK_READ];
                self.body = Some(job);
                Ok(())
            }
            (Body::Parts { source, parts, closing }, _) => {
                // An empty current range: the first part starts at once.
                let mut job = BodyJob::range(source, 0, Some(0));
                (job.parts, job.closing) = (parts.into(), closing);
                self.body = Some(job);
                self.next_part();
                Ok(())
            }
        };
        if let Err(e) = result {
            self.handler_bug(e);
        }
    }

    /// When the current range of a body of parts is copied: queue the next
    /// part's prefix and make its range current, or queue the closing
    /// bytes and end the body.
    fn next_part(&mut self) {
        while let Some(job) = self.body.as_mut() {
            if job.left != Some(0) {
                return;
            }
            let result = match job.parts.pop_front() {
                Some(part) => {
                    job.offset = part.offset;
                    job.left = Some(part.len);
                    self.queued_body(part.prefix.len());
                    self.conn.send_body(&part.prefix, &mut self.out)
                }
                None => {
                    let closing = std::mem::take(&mut job.closing);
                    self.body = None;
                    self.queued_body(closing.len());
                    self.conn.send_body(&closing, &mut self.out)
                }
            };
            if let Err(e) = result {
                return self.handler_bug(e);
            }
        }
    }

    /// A handler's reply the connection cannot send as given (a body over
    /// its `Content-Length`, say): a bug, logged; the connection closes.
    fn handler_bug(&mut self, error: UsageError) {
        self.logs.push_back(LogEntry::Notice(format!("internal error: {error}; connection closed")));
        self.body = None;
        self.stage = Stage::Closed;
        self.completed(false);
    }

    /// `line` in the spare buffer, when there is one.
    fn reuse_line(&mut self, line: &str) -> String {
        let mut spare = std::mem::take(&mut self.spare_line);
        spare.clear();
        spare.push_str(line);
        spare
    }

    /// `n` body bytes of the response were put in `out`.
    fn queued_body(&mut self, n: usize) {
        if let Some(r) = self.in_flight.as_mut() {
            r.body_queued += n as u64;
        }
    }

    /// The response under way is over (`whole`: all of it went out): log
    /// its completion, when the config asks for it.
    fn completed(&mut self, whole: bool) {
        if let Some(r) = self.in_flight.take() {
            self.logs.push_back(LogEntry::Completed {
                request_line: r.request_line,
                status: r.status,
                body_bytes: r.body_sent + if whole { r.body_queued } else { 0 },
                duration: r.sent_at.saturating_duration_since(r.started),
                complete: whole,
            });
        }
    }

    /// The deadline passed: close. Only an unfinished head is worth a
    /// log line (a slow or stuck client); idle connections just go.
    fn expire<H: Handler<Body = B>>(&mut self, handler: &mut H) {
        if self.wait == Wait::Head && self.conn.read_phase() == ReadPhase::Head {
            self.logs
                .push_back(LogEntry::Notice("request head not received in time; connection closed".into()));
        }
        self.abandon_body(handler);
        self.body = None;
        self.stage = Stage::Closed;
        self.completed(false);
    }

    /// Close, gracefully when the peer may still be sending.
    fn begin_close(&mut self) {
        self.body = None;
        self.stage = if self.conn.has_unread_input() {
            Stage::Draining { shut: false, drained: 0 }
        } else {
            Stage::Closed
        };
    }

    /// After a reply was made, the wait for it to go out starts now.
    fn catch_up(&mut self, now: Now) {
        if self.handler_ran {
            self.handler_ran = false;
            self.since = now.mono;
        }
    }

    /// Restart the clock when what the connection waits for changes.
    fn tick(&mut self, now: Now) {
        let wait = match self.stage {
            Stage::Closed => Wait::Nothing,
            Stage::Draining { .. } => Wait::Linger,
            Stage::Serving if self.body.is_some() || self.out_pos < self.out.len() => Wait::Io,
            Stage::Serving => match self.conn.read_phase() {
                ReadPhase::Idle if self.served => Wait::Idle,
                ReadPhase::Idle | ReadPhase::Head => Wait::Head,
                ReadPhase::Body => Wait::Io,
                ReadPhase::NotReading => Wait::Nothing,
            },
        };
        if wait != self.wait {
            self.wait = wait;
            self.since = now.mono;
        }
    }
}

/// The whole response for a connection that will not be served (503 past
/// the connection cap), written as every other response is (status line
/// in the server's protocol, `Server`, `Date`, the error page format), and
/// the log entry for it.
pub fn refusal(config: &Config, now: SystemTime) -> (Vec<u8>, LogEntry) {
    let mut head = ResponseHead::new(503);
    let error = ErrorReply { message: Some("Too many connections".to_string()), explain: None };
    let (page, _): (Body<()>, _) = render_error(config, &mut head, &error);
    let mut out = Vec::new();
    write_response_head(&mut out, config, &head, now);
    if let Body::Bytes(page) = page {
        out.extend_from_slice(&page);
    }
    (out, LogEntry::Notice("connection refused: too many connections".into()))
}

/// CPython's `send_error`: the message as reason, `Connection: close`, and
/// the page (unless the status has no body); with the log entry it writes
/// first.
fn render_error<B>(config: &Config, head: &mut ResponseHead, error: &ErrorReply) -> (Body<B>, LogEntry) {
    let code = head.status;
    let (message, explain) = (error.message.as_deref(), error.explain.as_deref());
    let (text, _) = config.error_texts(code, message, explain);
    let entry = LogEntry::Error { status: code, message: text.to_string() };
    head.reason = Some(text.to_string());
    head.headers.push("Connection", "close");
    if status_forbids_body(code) {
        return (Body::Empty, entry);
    }
    let page = config.error_page(code, message, explain);
    head.headers.push("Content-Type", config.error_content_type());
    head.headers.push("Content-Length", &page.len().to_string());
    (Body::Bytes(page), entry)
}
