//! The drive loop over a blocking stream: read, feed, handle events, write.
//! Opt-in (feature `blocking`); it opens nothing and uses only the stream
//! and the [`Shell`] it is given, so every shell shares one loop.

use std::io::{self, Read, Write};
use std::time::SystemTime;

use crate::connection::{Connection, Event};
use crate::handler::{dispatch, Body, BodyUse, Handler, Reply, Request};
use crate::log::request_message;
use crate::request::BodyFraming;
use crate::response::{After, BodyPlan};

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
    let mut pending: Option<(Request, u64)> = None;
    loop {
        while let Some(event) = conn.next_event() {
            match event {
                Event::RequestHead(head) => {
                    if conn.should_continue() {
                        conn.send_continue(&mut out)?;
                    }
                    match handler.body_use(&head) {
                        BodyUse::Discard => {
                            let req = Request { head, body: Vec::new() };
                            let reply = dispatch(handler, &req);
                            respond(stream, conn, shell, &req.head.request_line, reply, &mut out)?;
                        }
                        BodyUse::Buffer { limit } => {
                            if let BodyFraming::Length(n) = head.framing {
                                if n > limit {
                                    respond(stream, conn, shell, &head.request_line, too_large(), &mut out)?;
                                    continue;
                                }
                            }
                            pending = Some((Request { head, body: Vec::new() }, limit));
                        }
                    }
                }
                Event::BodyChunk(chunk) => {
                    if let Some((req, limit)) = pending.as_mut() {
                        if req.body.len() as u64 + chunk.len() as u64 > *limit {
                            let line = req.head.request_line.clone();
                            pending = None;
                            respond(stream, conn, shell, &line, too_large(), &mut out)?;
                        } else {
                            req.body.extend_from_slice(&chunk);
                        }
                    }
                }
                Event::EndOfRequest => {
                    if let Some((req, _)) = pending.take() {
                        let reply = dispatch(handler, &req);
                        respond(stream, conn, shell, &req.head.request_line, reply, &mut out)?;
                    }
                }
                Event::ProtocolError(err) => {
                    pending = None;
                    if conn.is_closed() {
                        break;
                    }
                    let line = conn.request_line().to_string();
                    match respond(stream, conn, shell, &line, Reply::from_protocol_error(&err), &mut out) {
                        // A response to this request was already under way:
                        // nothing more can be said on this connection.
                        Err(e) if e.kind() == io::ErrorKind::Other => break,
                        other => {
                            other?;
                        }
                    }
                }
                Event::ConnectionClosed => break,
            }
            if conn.is_closed() {
                break;
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

fn too_large<B>() -> Reply<B> {
    Reply::error(413, None, None)
}

/// Log, write the head, then the body as the plan allows, and finish.
fn respond<S, B, Sh>(
    stream: &mut S,
    conn: &mut Connection,
    shell: &mut Sh,
    request_line: &str,
    reply: Reply<B>,
    out: &mut Vec<u8>,
) -> io::Result<After>
where
    S: Read + Write,
    Sh: Shell<S, B>,
{
    if let Some(msg) = &reply.error_log {
        shell.log(msg);
    }
    shell.log(&request_message(request_line, reply.head.status));
    let plan = conn.send_head(&reply.head, shell.now(), out)?;
    match (reply.body, plan) {
        (_, BodyPlan::None) | (Body::Empty, _) => {}
        (Body::Bytes(bytes), _) => conn.send_body(&bytes, out)?,
        (Body::Source { source, len }, _) => {
            let sent = shell.send_source(stream, out, source, Some(len))?;
            conn.body_sent(sent)?;
            if sent < len {
                // The file shrank under us: the framing is broken; close.
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than its length"));
            }
        }
        (Body::Stream(source), plan) => {
            let limit = match plan {
                BodyPlan::Length(n) => Some(n),
                _ => None,
            };
            let sent = shell.send_source(stream, out, source, limit)?;
            conn.body_sent(sent)?;
            if limit.map_or(false, |n| sent < n) {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "body shorter than its length"));
            }
        }
    }
    Ok(conn.finish()?)
}
