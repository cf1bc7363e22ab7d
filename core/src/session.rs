//! What to do with each [`Event`]: the request/response cycle every shell
//! runs, whatever its I/O model. A blocking loop and an event loop both
//! feed events here and carry out what comes back.

use std::time::SystemTime;

use crate::connection::{Connection, Event};
use crate::error::UsageError;
use crate::handler::{dispatch, Body, BodyUse, Handler, Reply, Request};
use crate::log::request_message;
use crate::request::BodyFraming;
use crate::response::{After, BodyPlan};

/// What the shell must do after [`Session::handle_event`].
#[derive(Debug)]
pub enum Outcome<B> {
    /// Nothing beyond writing `out` (if not empty); keep going.
    Continue,
    /// Write `out`, then `len` bytes of `source` (all of it when `None`);
    /// then call [`Connection::body_sent`] and [`Session::finish`].
    SendBody {
        /// The body source.
        source: B,
        /// Its length, if known.
        len: Option<u64>,
    },
    /// Write `out`, then close the connection.
    Close,
}

/// The state of a connection's current exchange between events: the
/// request whose body is being collected for the handler, if any.
#[derive(Debug, Default)]
pub struct Session {
    pending: Option<(Request, u64)>,
}

impl Session {
    /// A session with nothing pending.
    pub fn new() -> Session {
        Session::default()
    }

    /// Handle one event: dispatch requests, answer protocol errors, collect
    /// bodies. Response bytes go to `out`; `log` gets each log message
    /// (without address and time).
    pub fn handle_event<H: Handler>(
        &mut self,
        event: Event,
        conn: &mut Connection,
        handler: &mut H,
        now: SystemTime,
        log: &mut dyn FnMut(&str),
        out: &mut Vec<u8>,
    ) -> Result<Outcome<H::Body>, UsageError> {
        match event {
            Event::RequestHead(head) => {
                if conn.should_continue() {
                    conn.send_continue(out)?;
                }
                match handler.body_use(&head) {
                    BodyUse::Discard => {
                        let req = Request { head, body: Vec::new() };
                        let reply = dispatch(handler, &req);
                        start_reply(conn, &req.head.request_line, reply, now, log, out)
                    }
                    BodyUse::Buffer { limit } => {
                        if let BodyFraming::Length(n) = head.framing {
                            if n > limit {
                                return start_reply(
                                    conn,
                                    &head.request_line,
                                    Reply::error(413, None, None),
                                    now,
                                    log,
                                    out,
                                );
                            }
                        }
                        self.pending = Some((Request { head, body: Vec::new() }, limit));
                        Ok(Outcome::Continue)
                    }
                }
            }
            Event::BodyChunk(chunk) => {
                if let Some((req, limit)) = self.pending.as_mut() {
                    if req.body.len() as u64 + chunk.len() as u64 > *limit {
                        let line = req.head.request_line.clone();
                        self.pending = None;
                        return start_reply(conn, &line, Reply::error(413, None, None), now, log, out);
                    }
                    req.body.extend_from_slice(&chunk);
                }
                Ok(Outcome::Continue)
            }
            Event::EndOfRequest => match self.pending.take() {
                Some((req, _)) => {
                    let reply = dispatch(handler, &req);
                    start_reply(conn, &req.head.request_line, reply, now, log, out)
                }
                None => Ok(Outcome::Continue),
            },
            Event::ProtocolError(err) => {
                self.pending = None;
                let line = conn.request_line().to_string();
                match start_reply(conn, &line, Reply::from_protocol_error(&err), now, log, out) {
                    // A response to this request was already under way:
                    // nothing more can be said on this connection.
                    Err(_) => Ok(Outcome::Close),
                    other => other,
                }
            }
            Event::ConnectionClosed => Ok(Outcome::Close),
        }
    }

    /// End the response after its body was sent; `Close` when the
    /// connection must close.
    pub fn finish<B>(&mut self, conn: &mut Connection) -> Result<Outcome<B>, UsageError> {
        Ok(match conn.finish()? {
            After::KeepAlive => Outcome::Continue,
            After::Close(_) => Outcome::Close,
        })
    }
}

/// Log the reply as CPython does (`send_error`'s line first), write its
/// head, then its body if it is in memory; a body to copy is handed back.
fn start_reply<B>(
    conn: &mut Connection,
    request_line: &str,
    reply: Reply<B>,
    now: SystemTime,
    log: &mut dyn FnMut(&str),
    out: &mut Vec<u8>,
) -> Result<Outcome<B>, UsageError> {
    if let Some(msg) = &reply.error_log {
        log(msg);
    }
    log(&request_message(request_line, reply.head.status));
    let plan = conn.send_head(&reply.head, now, out)?;
    let copy = match (reply.body, plan) {
        (_, BodyPlan::None) | (Body::Empty, _) => None,
        (Body::Bytes(bytes), _) => {
            conn.send_body(&bytes, out)?;
            None
        }
        (Body::Source { source, len }, _) => Some((source, Some(len))),
        (Body::Stream(source), BodyPlan::Length(n)) => Some((source, Some(n))),
        (Body::Stream(source), _) => Some((source, None)),
    };
    match copy {
        Some((source, len)) => Ok(Outcome::SendBody { source, len }),
        None => match conn.finish()? {
            After::KeepAlive => Ok(Outcome::Continue),
            After::Close(_) => Ok(Outcome::Close),
        },
    }
}
