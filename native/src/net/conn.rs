//! One connection as both pumps run it: the engine, the transport, the body
//! writer, and the loop that carries out what the engine asks until it
//! must wait for the socket. Neither pump makes a protocol decision: they
//! only wait (epoll, or poll in a thread) and call [`Conn::drive`] again.

use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use httpserver_core::{Config, Engine, Handler, Input, Now, Output};

use crate::file_cache;
use crate::log;
use crate::net::admission::Permit;
use crate::net::body::{self, BodySource, BodyWriter, Sink};
use crate::net::transport::Transport;

/// What a connection waits for after [`Conn::drive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Input (or the engine's deadline).
    Readable,
    /// Room to write (or the engine's deadline).
    Writable,
    /// Nothing: drop the connection.
    Closed,
    /// More work at once (a body being compressed): drive again after the
    /// other ready connections had their turn.
    Again,
}

/// Longest a closed connection waits for the socket to take what the
/// transport still holds.
const CLOSING_LIMIT: Duration = Duration::from_secs(10);

/// Most body reads (each at most a compression step of the file) per
/// drive before the connection lets others run.
const READS_PER_TURN: u32 = 8;

/// A client connection.
pub struct Conn<T, B> {
    pub transport: T,
    pub client: String,
    engine: Engine<B>,
    body: BodyWriter,
    /// The engine asked for input when this connection last waited.
    awaiting_input: bool,
    /// What [`Conn::read_ahead`] read: whether it drained the socket, or
    /// its error, for the next [`Conn::drive`] to take up.
    read_ahead: Option<io::Result<bool>>,
    /// The engine closed, but the transport still holds bytes (TLS
    /// records, `close_notify`): sent until this deadline, then dropped.
    closing_until: Option<Instant>,
    _permit: Permit,
}

fn now() -> Now {
    Now::new(SystemTime::now(), Instant::now())
}

impl<T: Transport, B: BodySource> Conn<T, B> {
    /// A connection accepted now; its head deadline starts now.
    pub fn new(transport: T, config: Arc<Config>, client: String, permit: Permit) -> Conn<T, B> {
        Conn {
            transport,
            client,
            engine: Engine::new(config, now()),
            body: BodyWriter::default(),
            awaiting_input: false,
            read_ahead: None,
            closing_until: None,
            _permit: permit,
        }
    }

    /// When the connection needs driving even if its socket stays quiet.
    pub fn timeout(&self) -> Option<Instant> {
        self.closing_until.or_else(|| self.engine.timeout())
    }

    /// The server is stopping: finish what is under way, then close.
    pub fn stop(&mut self) -> io::Result<()> {
        Ok(self.engine.handle(Input::Shutdown, now())?)
    }

    /// Do now the read the next [`Conn::drive`] would begin with (when the
    /// engine waits for input), so that a worker reads all its ready
    /// connections before serving any (one look for file changes covers
    /// them all: see `file_cache`).
    pub fn read_ahead(&mut self, read_buf: &mut [u8], short_read_drains: bool) {
        if self.awaiting_input && self.read_ahead.is_none() && self.closing_until.is_none() {
            self.read_ahead = Some(self.read_into_engine(read_buf, short_read_drains, now()));
        }
    }

    /// Carry out what the engine asks until it must wait for the socket.
    /// `read_buf` and `scratch` are the caller's buffers (one per worker);
    /// `short_read_drains`: a read shorter than the buffer means no more
    /// input is waiting (false when the peer may have closed, so that its
    /// EOF is read).
    pub fn drive<H: Handler<Body = B>>(
        &mut self,
        handler: &mut H,
        read_buf: &mut [u8],
        scratch: &mut Vec<u8>,
        short_read_drains: bool,
    ) -> io::Result<Wait> {
        let wait = self.drive_until_wait(handler, read_buf, scratch, short_read_drains);
        if wait.is_err() {
            // The connection is lost: what the engine still owes the log
            // (a reply cut short, in the JSON log) is written now.
            for entry in self.engine.abort() {
                log::entry(&self.client, &entry);
            }
        }
        wait
    }

    fn drive_until_wait<H: Handler<Body = B>>(
        &mut self,
        handler: &mut H,
        read_buf: &mut [u8],
        scratch: &mut Vec<u8>,
        short_read_drains: bool,
    ) -> io::Result<Wait> {
        if let Some(until) = self.closing_until {
            return Ok(match self.transport.flush_pending() {
                Ok(false) if Instant::now() < until => Wait::Writable,
                _ => Wait::Closed,
            });
        }
        // The last read was shorter than the buffer: nothing more is
        // waiting (saves the read that would answer `WouldBlock`). Reset on
        // every wake: whatever woke this connection, read again before
        // believing the socket is empty (edge-triggered epoll reports new
        // input once).
        let mut drained = false;
        let now = now();
        if let Some(read) = self.read_ahead.take() {
            drained = read?;
        } else if self.awaiting_input {
            // Hand the engine what arrived before it judges its deadline:
            // after a busy spell the wait may have been ours, not the
            // client's (a request that came in time is still served).
            drained = self.read_into_engine(read_buf, short_read_drains, now)?;
        }
        let wait = self.carry_out(handler, read_buf, scratch, short_read_drains, drained, now);
        self.awaiting_input = matches!(wait, Ok(Wait::Readable));
        match wait {
            // What the transport still holds (TLS records) goes out before
            // the wait for input: the peer may be waiting for it.
            Ok(Wait::Readable) if !self.transport.flush_pending()? => Ok(Wait::Writable),
            // And before the close: the end of a response may be in it.
            Ok(Wait::Closed) => {
                self.transport.begin_close();
                if self.transport.flush_pending()? {
                    return Ok(Wait::Closed);
                }
                let limit = self.engine.config().timeouts().io().unwrap_or(CLOSING_LIMIT);
                self.closing_until = Some(Instant::now() + limit.min(CLOSING_LIMIT));
                Ok(Wait::Writable)
            }
            other => other,
        }
    }

    /// One read from the socket, handed to the engine. Says whether the
    /// socket is known to be empty now (it would block, or a read shorter
    /// than the buffer drained it where that holds).
    fn read_into_engine(
        &mut self,
        read_buf: &mut [u8],
        short_read_drains: bool,
        now: Now,
    ) -> io::Result<bool> {
        match self.transport.read(read_buf) {
            Ok(0) => {
                self.engine.handle(Input::Eof, now)?;
                Ok(false)
            }
            Ok(n) => {
                file_cache::note_input();
                let drained = short_read_drains && n < read_buf.len() && self.transport.short_read_drains();
                self.engine.handle(Input::Bytes(&read_buf[..n]), now)?;
                Ok(drained)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(true),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn carry_out<H: Handler<Body = B>>(
        &mut self,
        handler: &mut H,
        read_buf: &mut [u8],
        scratch: &mut Vec<u8>,
        short_read_drains: bool,
        mut drained: bool,
        mut now: Now,
    ) -> io::Result<Wait> {
        let mut reads = 0;
        // The clock is read again only after what may take a while (a
        // body's reads and writes); the rest of a turn takes microseconds.
        loop {
            // Asked first: the output borrows the engine.
            let close_follows = self.engine.close_follows();
            match self.engine.poll(handler, now) {
                Output::Log(entry) => log::entry(&self.client, entry),
                Output::Write(bytes) => match write(&mut self.transport, bytes, close_follows) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) if n < bytes.len() => {
                        // A short write: the socket is full; trying again
                        // now would only be told so.
                        self.engine.handle(Input::Written(n), now)?;
                        return Ok(Wait::Writable);
                    }
                    Ok(n) => self.engine.handle(Input::Written(n), now)?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Wait::Writable),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                },
                Output::Body { head, source, offset, len } => {
                    let sink = Sink { transport: &mut self.transport, close_follows };
                    match self.body.send(sink, head, source, offset, len, scratch) {
                        Ok(sent) => {
                            // A stream (a script's output) may have kept
                            // us waiting: report with the time it is now.
                            now = self::now();
                            self.engine.handle(Input::Written(sent.head), now)?;
                            self.engine.handle(Input::BodyCopied(sent.body), now)?;
                            if sent.ended {
                                self.engine.handle(Input::BodyEnded, now)?;
                            }
                            if sent.blocked {
                                return Ok(Wait::Writable);
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Wait::Writable),
                        Err(e) => return Err(e),
                    }
                }
                Output::ReadBody { source, offset, buf } => {
                    if reads == READS_PER_TURN {
                        return Ok(Wait::Again);
                    }
                    reads += 1;
                    let read = body::read_body(source, offset, buf);
                    now = self::now();
                    match read {
                        Ok(0) => self.engine.handle(Input::BodyEnded, now)?,
                        Ok(n) => self.engine.handle(Input::BodyRead(n), now)?,
                        // A compression step with no output yet.
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                Output::Read => {
                    if drained {
                        return Ok(Wait::Readable);
                    }
                    drained = self.read_into_engine(read_buf, short_read_drains, now)?;
                }
                Output::ShutdownWrite => {
                    if self.transport.shutdown_write().is_err() {
                        return Ok(Wait::Closed);
                    }
                }
                Output::Close => return Ok(Wait::Closed),
            }
        }
    }
}

/// A write of the engine's bytes; `close_follows`: they end the
/// connection (see [`Engine::close_follows`]).
fn write<T: Transport>(transport: &mut T, bytes: &[u8], close_follows: bool) -> io::Result<usize> {
    if close_follows {
        transport.write_last(bytes)
    } else {
        transport.write(bytes)
    }
}

/// Log how driving a connection ended, when it was not a plain close: an
/// I/O error other than the client leaving, or a panic (caught).
pub fn log_abnormal_end<T>(client: &str, outcome: &std::thread::Result<io::Result<T>>) {
    match outcome {
        Ok(Err(e)) if !is_disconnect(e) => log::line(client, &format!("connection error: {e}")),
        Err(_) => log::line(client, "internal error while serving; connection dropped"),
        _ => {}
    }
}

/// Whether an I/O error only means the client went away (not worth a log
/// line).
fn is_disconnect(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted)
}
