//! One connection of the socket mode: its engine, its non-blocking
//! socket, and the loop that carries out what the engine asks until it
//! must wait for the socket (native/src/net/conn.rs's `Conn::drive`, over
//! WASI). No protocol decision is made here: the event loop only waits
//! and calls [`Conn::drive`] again.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpStream};
use std::os::wasi::io::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use httpserver_core::{Config, Engine, Handler, Input, Output};

use crate::{log, now};

/// What a connection waits for after [`Conn::drive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Input (or the engine's deadline).
    Readable,
    /// Room to write (or the engine's deadline).
    Writable,
    /// Nothing: drop the connection.
    Closed,
    /// More work at once (a large body): drive again after the other
    /// connections had their turn.
    Again,
}

/// Most body bytes read from a file per step.
const CHUNK: usize = 64 * 1024;
/// Most body steps per drive (1 MiB) before the connection lets others
/// run: a fast client fetching a large file does not hold up the rest.
const STEPS_PER_TURN: u32 = 16;

/// The buffers every connection uses in turn (one set for the loop).
pub struct Buffers {
    read: Vec<u8>,
    scratch: Vec<u8>,
}

impl Buffers {
    pub fn new() -> Buffers {
        Buffers { read: vec![0u8; 16 * 1024], scratch: Vec::new() }
    }
}

/// A client connection.
pub struct Conn {
    stream: TcpStream,
    client: String,
    engine: Engine<File>,
    /// What it waits for since the last drive.
    wait: Wait,
}

impl Conn {
    /// A connection accepted now; its head deadline starts now.
    pub fn new(stream: TcpStream, client: String, config: Arc<Config>) -> Conn {
        Conn { stream, client, engine: Engine::new(config, now()), wait: Wait::Again }
    }

    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    pub fn client(&self) -> &str {
        &self.client
    }

    /// What it waits for (`Again` until first driven).
    pub fn wait(&self) -> Wait {
        self.wait
    }

    /// When the connection needs driving even if its socket stays quiet.
    pub fn timeout(&self) -> Option<Instant> {
        self.engine.timeout()
    }

    /// Carry out what the engine asks until it must wait for the socket.
    pub fn drive<H: Handler<Body = File>>(
        &mut self,
        handler: &mut H,
        bufs: &mut Buffers,
    ) -> io::Result<Wait> {
        // The last read was shorter than the buffer: nothing more is
        // waiting (saves a read that would answer `WouldBlock`; the wait
        // is level-triggered, so more input or an EOF wakes us again).
        let mut drained = false;
        if self.wait == Wait::Readable {
            // Hand the engine what arrived before it judges its deadline:
            // after a busy spell the wait may have been ours, not the
            // client's (a request that came in time is still served).
            match self.stream.read(&mut bufs.read) {
                Ok(0) => self.engine.handle(Input::Eof, now())?,
                Ok(n) => {
                    drained = n < bufs.read.len();
                    self.engine.handle(Input::Bytes(&bufs.read[..n]), now())?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => drained = true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let wait = self.carry_out(handler, bufs, drained);
        self.wait = match wait {
            Ok(w) => w,
            Err(_) => Wait::Closed,
        };
        wait
    }

    fn carry_out<H: Handler<Body = File>>(
        &mut self,
        handler: &mut H,
        bufs: &mut Buffers,
        mut drained: bool,
    ) -> io::Result<Wait> {
        let mut steps = 0;
        loop {
            let now = now();
            match self.engine.poll(handler, now) {
                Output::Log(entry) => log(&self.client, &entry.message()),
                Output::Write(bytes) => match self.stream.write(bytes) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) if n < bytes.len() => {
                        // A short write: the socket is full.
                        self.engine.handle(Input::Written(n), now)?;
                        return Ok(Wait::Writable);
                    }
                    Ok(n) => self.engine.handle(Input::Written(n), now)?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Wait::Writable),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                },
                Output::Body { head, source, offset, len } => {
                    if steps == STEPS_PER_TURN {
                        return Ok(Wait::Again);
                    }
                    steps += 1;
                    match send_body(&mut self.stream, head, source, offset, len, &mut bufs.scratch) {
                        Ok(sent) => {
                            let now = crate::now();
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
                    // Only for bodies the engine frames (compressed ones,
                    // which this build does not make); read at the offset.
                    if steps == STEPS_PER_TURN {
                        return Ok(Wait::Again);
                    }
                    steps += 1;
                    let n = read_at(source, offset, buf)?;
                    let input = if n == 0 { Input::BodyEnded } else { Input::BodyRead(n) };
                    self.engine.handle(input, crate::now())?;
                }
                Output::Read => {
                    if drained {
                        return Ok(Wait::Readable);
                    }
                    match self.stream.read(&mut bufs.read) {
                        Ok(0) => self.engine.handle(Input::Eof, now)?,
                        Ok(n) => {
                            drained = n < bufs.read.len();
                            self.engine.handle(Input::Bytes(&bufs.read[..n]), now)?;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Wait::Readable),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Output::ShutdownWrite => {
                    if self.stream.shutdown(Shutdown::Write).is_err() {
                        return Ok(Wait::Closed);
                    }
                }
                Output::Close => return Ok(Wait::Closed),
            }
        }
    }
}

/// How much of a head and body went out.
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    head: usize,
    body: u64,
    /// The file has no more bytes (before the range's end, if it has one).
    ended: bool,
    /// The socket took less than it was given: wait until writable.
    blocked: bool,
}

/// `head`, then the next chunk of `file`'s range from `offset` (to its
/// end when `len` is `None`), in one write, as far as the socket takes it
/// now (no sendfile on WASI: read into the head's buffer). What the
/// socket did not take is read again from the new offset next time. A
/// `WouldBlock` error means nothing at all went out.
fn send_body(
    stream: &mut TcpStream,
    head: &[u8],
    file: &mut File,
    offset: u64,
    len: Option<u64>,
    scratch: &mut Vec<u8>,
) -> io::Result<Sent> {
    let want = len.map_or(CHUNK, |l| l.min(CHUNK as u64) as usize);
    scratch.clear();
    scratch.extend_from_slice(head);
    scratch.resize(head.len() + want, 0);
    let got = read_at(file, offset, &mut scratch[head.len()..])?;
    let ended = got < want;
    scratch.truncate(head.len() + got);
    let mut sent = Sent::default();
    if scratch.is_empty() {
        sent.ended = ended;
        return Ok(sent);
    }
    let n = write_some(stream, scratch)?;
    sent.head = n.min(head.len());
    sent.body = (n - sent.head) as u64;
    sent.blocked = n < scratch.len();
    sent.ended = ended && !sent.blocked;
    Ok(sent)
}

/// Fill `buf` from `file` at `offset` as far as the file goes (std keeps
/// positional reads unstable on WASI at 1.63: seek, then read).
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Write as much of `bytes` as the socket takes now (at least one byte,
/// or `WouldBlock`).
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < bytes.len() {
        match stream.write(&bytes[n..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock && n > 0 => return Ok(n),
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether an I/O error only means the client went away (not worth a log
/// line).
pub fn is_disconnect(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted)
}
