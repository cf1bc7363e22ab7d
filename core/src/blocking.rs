//! The drive loop over a blocking stream: poll the [`Engine`], carry out
//! what it says, report back. Opt-in (feature `blocking`); it opens
//! nothing and uses only the stream and the [`Shell`] it is given, so
//! every blocking shell (the WASI build, the examples) shares one loop.

use std::io::{self, Read, Write};
use std::time::Duration;

use crate::log::LogEntry;
use crate::serve::{Engine, Handler, Input, Now, Output};

/// How much of an [`Output::Body`] went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodySent {
    /// Bytes of the head.
    pub head: usize,
    /// Bytes of the body.
    pub body: u64,
    /// Whether the source ended (before its length, if it has one).
    pub ended: bool,
}

impl BodySent {
    /// The counts.
    pub fn new(head: usize, body: u64, ended: bool) -> BodySent {
        BodySent { head, body, ended }
    }
}

/// What the loop needs from the world.
pub trait Shell<S, B> {
    /// Both clocks, now.
    fn now(&mut self) -> Now;

    /// Write one log entry (the shell adds address and time).
    fn log(&mut self, entry: &LogEntry);

    /// Limit the next read to `timeout` (`None`: no limit). A stream that
    /// cannot wait with a limit (stdio) leaves this as is; the engine's
    /// deadlines then apply only when something arrives.
    fn set_read_timeout(&mut self, _stream: &mut S, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// Send `head`, then `len` bytes of `source` from `offset` (to its end
    /// when `None`); say how much went out. Sending head and a small body
    /// in one write is the shell's choice.
    fn send_body(
        &mut self,
        stream: &mut S,
        head: &[u8],
        source: &mut B,
        offset: u64,
        len: Option<u64>,
    ) -> io::Result<BodySent>;

    /// Read up to `buf.len()` bytes of `source` from `offset` (a stream
    /// reads on from where it is); 0 at its end. Only needed for sources
    /// the engine frames ([`crate::Body::Chunked`]); the default says
    /// `ErrorKind::Unsupported`.
    fn read_body(&mut self, _source: &mut B, _offset: u64, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Shut the write side of `stream` (half-close), before lingering.
    /// The default answers `ErrorKind::Unsupported`, for streams that
    /// cannot (stdio): the connection then ends without lingering.
    fn shutdown_write(&mut self, _stream: &mut S) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Serve one connection until the engine closes it. Errors are I/O errors
/// (and an engine's [`UsageError`](crate::UsageError), a bug); protocol errors are answered.
pub fn serve_stream<S, H, Sh>(
    stream: &mut S,
    engine: &mut Engine<H::Body>,
    handler: &mut H,
    shell: &mut Sh,
) -> io::Result<()>
where
    S: Read + Write,
    H: Handler,
    Sh: Shell<S, H::Body>,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let now = shell.now();
        match engine.poll(handler, now) {
            Output::Log(entry) => shell.log(entry),
            Output::Write(bytes) => {
                let n = stream.write(bytes)?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                engine.handle(Input::Written(n), shell.now())?;
            }
            Output::Body { head, source, offset, len } => {
                let sent = shell.send_body(stream, head, source, offset, len)?;
                let now = shell.now();
                engine.handle(Input::Written(sent.head), now)?;
                engine.handle(Input::BodyCopied(sent.body), now)?;
                if sent.ended {
                    engine.handle(Input::BodyEnded, now)?;
                }
            }
            Output::ReadBody { source, offset, buf } => {
                let n = shell.read_body(source, offset, buf)?;
                let input = if n == 0 { Input::BodyEnded } else { Input::BodyRead(n) };
                engine.handle(input, shell.now())?;
            }
            Output::Read => {
                stream.flush()?;
                let timeout = engine.timeout().map(|t| t.saturating_duration_since(now.mono));
                if timeout == Some(Duration::ZERO) {
                    continue; // the next poll closes it
                }
                shell.set_read_timeout(stream, timeout)?;
                match stream.read(&mut buf) {
                    Ok(0) => engine.handle(Input::Eof, shell.now())?,
                    Ok(n) => engine.handle(Input::Bytes(&buf[..n]), shell.now())?,
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Output::ShutdownWrite => {
                stream.flush()?;
                match shell.shutdown_write(stream) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::Unsupported => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            Output::Close => return stream.flush(),
        }
    }
}
