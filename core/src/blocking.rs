//! The drive loop over a blocking stream: read, feed, handle events, write.
//! Opt-in (feature `blocking`); it opens nothing and uses only the stream
//! and the [`Shell`] it is given, so every blocking shell shares one loop.

use std::io::{self, Read, Write};
use std::time::SystemTime;

use crate::connection::Connection;
use crate::handler::Handler;
use crate::session::{Outcome, Session};

/// What the loop needs from the world.
pub trait Shell<S, B> {
    /// The current time, for `Date`.
    fn now(&mut self) -> SystemTime;
    /// Write one log message (the shell adds address and time).
    fn log(&mut self, message: &str);
    /// Send `head` (response bytes not yet written, possibly empty) and then
    /// `len` bytes of `body` (all of it, to its end, when `len` is `None`)
    /// to `stream`; return how many body bytes went out. Sending head and a
    /// small body in one write is the shell's choice; `head` must be empty
    /// when this returns.
    fn send_source(
        &mut self,
        stream: &mut S,
        head: &mut Vec<u8>,
        body: B,
        len: Option<u64>,
    ) -> io::Result<u64>;
}

/// Serve one connection until it closes. Errors are I/O errors (including
/// a handler's [`crate::UsageError`]); protocol errors are answered.
pub fn serve_stream<S, H, Sh>(
    stream: &mut S,
    conn: &mut Connection,
    handler: &mut H,
    shell: &mut Sh,
) -> io::Result<()>
where
    S: Read + Write,
    H: Handler,
    Sh: Shell<S, H::Body>,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut session = Session::new();
    loop {
        while let Some(event) = conn.next_event() {
            let now = shell.now();
            let outcome = session.handle_event(event, conn, handler, now, &mut |m| shell.log(m), &mut out)?;
            let outcome = match outcome {
                Outcome::SendBody { source, len } => {
                    let sent = shell.send_source(stream, &mut out, source, len)?;
                    conn.body_sent(sent)?;
                    if len.map_or(false, |n| sent < n) {
                        // The source ended early: the framing is broken; close.
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "body shorter than its length",
                        ));
                    }
                    session.finish(conn)?
                }
                other => other,
            };
            if let Outcome::Close = outcome {
                stream.write_all(&out)?;
                stream.flush()?;
                return Ok(());
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        if conn.is_closed() || !conn.wants_read() {
            stream.flush()?;
            return Ok(());
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            conn.receive_eof();
        } else {
            conn.receive(&buf[..n]);
        }
    }
}
