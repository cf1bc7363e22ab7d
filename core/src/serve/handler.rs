//! `BaseHTTPRequestHandler`'s side of a request as a trait: which body it
//! wants, `handle_expect_100`, and the `do_<METHOD>` dispatch, written as
//! plain functions from a request to a [`Reply`] with no socket in sight.
//! The [`crate::Engine`] calls it; a shell carries out what it decides.
//!
//! ```
//! use httpserver_core::{dispatch, BodyUse, Handler, Reply, Request, RequestHead};
//!
//! /// Greets on GET, echoes POST bodies; every other method gets CPython's 501.
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type Body = ();
//!     fn body_use(&mut self, _head: &RequestHead) -> BodyUse {
//!         BodyUse::Buffer { limit: 1 << 20 }
//!     }
//!     fn do_get(&mut self, req: &Request) -> Reply<()> {
//!         let text = format!("Hello, {}\n", req.head.target);
//!         Reply::bytes(200, "text/plain; charset=utf-8", text.into_bytes())
//!     }
//!     fn do_post(&mut self, req: &Request) -> Reply<()> {
//!         Reply::bytes(200, "application/octet-stream", req.body.clone())
//!     }
//! }
//!
//! // A request head comes from a connection; dispatch picks `do_PUT`,
//! // which Echo lacks.
//! let mut conn = httpserver_core::http::Connection::new(httpserver_core::Config::default());
//! conn.receive(b"PUT /x HTTP/1.0\r\n\r\n");
//! if let Some(httpserver_core::http::Event::RequestHead(head)) = conn.next_event() {
//!     let reply = dispatch(&mut Echo, &Request::new(head, Vec::new()));
//!     assert_eq!(reply.status(), 501);
//! } else {
//!     panic!("no request head");
//! }
//! ```

use std::time::SystemTime;

use crate::http::{ProtocolError, RequestHead, ResponseHead};
use crate::text::py_repr;

/// A request with its body (buffered, when the handler asked for it).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request {
    /// The head.
    pub head: RequestHead,
    /// The body, when the handler asked for it with [`BodyUse::Buffer`];
    /// empty otherwise.
    pub body: Vec<u8>,
    /// The wall-clock time the engine handed it to the handler (`None`
    /// for a request made by hand): what a reply's `Date` will say.
    pub time: Option<SystemTime>,
}

impl Request {
    /// A request from its parts.
    pub fn new(head: RequestHead, body: Vec<u8>) -> Request {
        Request { head, body, time: None }
    }

    /// The same request, handled at `time`.
    #[must_use]
    pub fn at(mut self, time: SystemTime) -> Request {
        self.time = Some(time);
        self
    }
}

/// What a handler wants done with a request body, decided from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyUse {
    /// Answer at once; the body is read and thrown away (CPython's static
    /// handler never reads it).
    Discard,
    /// Collect the body, up to `limit` bytes (413 past it), and answer
    /// once it is complete.
    Buffer {
        /// Most bytes accepted.
        limit: u64,
    },
    /// Hand the body to [`Handler::receive_body`] as it arrives (after
    /// [`Handler::start_body`] accepted it), up to `limit` bytes (413 past
    /// it), and answer once it is complete. Nothing is buffered.
    Stream {
        /// Most bytes accepted.
        limit: u64,
    },
}

/// A handler's answer to "will you take this request's body?":
/// `handle_expect_100`'s, and a streaming handler's when the body starts.
// A refusal is a whole reply, returned once per request that has a body:
// boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum Acceptance<B> {
    /// Take it (for `Expect: 100-continue`, `100 Continue` is sent).
    Accept,
    /// Answer with this instead (for instance 417 Expectation Failed, or a
    /// CGI script's 404); the body is not used.
    Refuse(Reply<B>),
}

/// A reply body.
#[derive(Debug)]
#[non_exhaustive]
pub enum Body<B> {
    /// Nothing.
    Empty,
    /// Bytes in memory (listings, small generated pages).
    Bytes(Vec<u8>),
    /// A byte range of a source the shell copies (an open file): the core
    /// only needs its position and length, never its bytes.
    Source {
        /// The source.
        source: B,
        /// Where the range starts.
        offset: u64,
        /// Its length, which the head's `Content-Length` also says.
        len: u64,
    },
    /// A source of unknown length the shell copies until it ends (a CGI
    /// script's output). With no `Content-Length` in the head, the
    /// connection closes after it.
    Stream(B),
    /// A source of unknown length (a file compressed as it is sent), in
    /// the chunked coding where client and server speak HTTP/1.1 (the
    /// connection then stays open), else ended by the close. The engine
    /// reads it through [`crate::Output::ReadBody`] to frame it.
    Chunked(B),
    /// Several byte ranges of one source, each after bytes in memory, then
    /// closing bytes (a `multipart/byteranges` body). The head's
    /// `Content-Length` is the sum of all of it.
    Parts {
        /// The source.
        source: B,
        /// The ranges with what precedes each, in order.
        parts: Vec<BodyPart>,
        /// Bytes after the last range.
        closing: Vec<u8>,
    },
}

/// One part of a body made of byte ranges of a source with bytes between
/// them: `prefix` (in memory) goes out, then `len` bytes of the source from
/// `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPart {
    /// Bytes sent before the range (a multipart delimiter and part head).
    pub prefix: Vec<u8>,
    /// Where the range starts in the source.
    pub offset: u64,
    /// How many bytes of the source.
    pub len: u64,
}

/// What a handler decided: a response, or CPython's `send_error`, whose
/// page the engine renders with the server's `error_message_format`.
#[derive(Debug)]
pub struct Reply<B> {
    head: ResponseHead,
    body: Body<B>,
    error: Option<ErrorReply>,
    notice: Option<String>,
}

/// The arguments of `send_error(code, message, explain)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorReply {
    pub(crate) message: Option<String>,
    pub(crate) explain: Option<String>,
}

impl<B> Reply<B> {
    /// A response with this head and body.
    pub fn new(head: ResponseHead, body: Body<B>) -> Reply<B> {
        Reply { head, body, error: None, notice: None }
    }

    /// CPython's `send_error(code, message, explain)`: `Connection: close`,
    /// the error page (none for 1xx, 204, 205, 304), and a reason phrase
    /// that is the message itself; the log gets `code N, message M` first.
    pub fn error(code: u16, message: Option<&str>, explain: Option<&str>) -> Reply<B> {
        Reply {
            head: ResponseHead::new(code),
            body: Body::Empty,
            error: Some(ErrorReply {
                message: message.map(str::to_string),
                explain: explain.map(str::to_string),
            }),
            notice: None,
        }
    }

    /// The reply to a request the peer got wrong.
    pub fn from_protocol_error(err: &ProtocolError) -> Reply<B> {
        Reply::error(err.status(), err.message(), err.explain())
    }

    /// 501 `Unsupported method ('X')`: a method with no `do_` handler.
    pub fn unsupported(head: &RequestHead) -> Reply<B> {
        let message = format!("Unsupported method ({})", py_repr(&head.method));
        Reply::error(501, Some(&message), None)
    }

    /// An in-memory body with its `Content-type` (CPython's casing for
    /// successful replies) and `Content-Length`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply<B> {
        let head = ResponseHead::new(status)
            .header("Content-type", content_type)
            .header("Content-Length", &body.len().to_string());
        Reply::new(head, Body::Bytes(body))
    }

    /// The same reply with one more header field (for an error reply, it
    /// comes before the page's own headers), e.g. `Content-Range` on 416.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Reply<B> {
        self.head.headers.push(name, value);
        self
    }

    /// The same reply, with a line for the log before it (why a request
    /// was refused: a failed login, a link out of the directory).
    #[must_use]
    pub fn with_notice(mut self, notice: impl Into<String>) -> Reply<B> {
        self.notice = Some(notice.into());
        self
    }

    /// The log line [`Reply::with_notice`] gave it.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// A reply with just a head (redirects, 304).
    pub fn head_only(head: ResponseHead) -> Reply<B> {
        Reply::new(head, Body::Empty)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The head as the handler built it (for an error reply, the engine
    /// adds the page's headers when it sends it).
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// The body.
    pub fn body(&self) -> &Body<B> {
        &self.body
    }

    /// Whether this is a `send_error` reply.
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }

    /// The same reply with its body source converted (e.g. to wrap one
    /// handler's body type in another's).
    pub fn map_body<C>(self, f: impl FnOnce(B) -> C) -> Reply<C> {
        let body = match self.body {
            Body::Empty => Body::Empty,
            Body::Bytes(b) => Body::Bytes(b),
            Body::Source { source, offset, len } => Body::Source { source: f(source), offset, len },
            Body::Stream(source) => Body::Stream(f(source)),
            Body::Chunked(source) => Body::Chunked(f(source)),
            Body::Parts { source, parts, closing } => Body::Parts { source: f(source), parts, closing },
        };
        Reply { head: self.head, body, error: self.error, notice: self.notice }
    }

    pub(crate) fn into_parts(self) -> (ResponseHead, Body<B>, Option<ErrorReply>, Option<String>) {
        (self.head, self.body, self.error, self.notice)
    }
}

/// A request handler: one method per HTTP method, as `do_GET`, `do_HEAD`,
/// `do_POST` in CPython, plus the hooks CPython calls before them. Each
/// `do_` method not implemented answers 501 `Unsupported method`, as a
/// missing `do_X` does.
pub trait Handler {
    /// The body source the shell knows how to send (a `std::fs::File`
    /// natively, a `Vec<u8>` in tests).
    type Body;

    /// Whether the handler needs the request body before answering.
    fn body_use(&mut self, _head: &RequestHead) -> BodyUse {
        BodyUse::Discard
    }

    /// CPython's `handle_expect_100`: called for a request that asked for
    /// `100 Continue`, after the body passed [`Handler::body_use`]'s limit.
    fn handle_expect_100(&mut self, _head: &RequestHead) -> Acceptance<Self::Body> {
        Acceptance::Accept
    }

    /// For [`BodyUse::Stream`]: get ready for the body (e.g. start a CGI
    /// script), or refuse with the reply to send at once.
    fn start_body(&mut self, _head: &RequestHead) -> Acceptance<Self::Body> {
        Acceptance::Accept
    }

    /// For [`BodyUse::Stream`]: the next bytes of the body.
    fn receive_body(&mut self, _chunk: &[u8]) {}

    /// For [`BodyUse::Stream`]: the body will not be completed (refused
    /// as too large, malformed, or the connection ended); drop what
    /// [`Handler::start_body`] started.
    fn abort_body(&mut self) {}

    /// `do_GET`.
    fn do_get(&mut self, req: &Request) -> Reply<Self::Body> {
        Reply::unsupported(&req.head)
    }

    /// `do_HEAD`. The connection drops the body of whatever is returned.
    fn do_head(&mut self, req: &Request) -> Reply<Self::Body> {
        Reply::unsupported(&req.head)
    }

    /// `do_POST`.
    fn do_post(&mut self, req: &Request) -> Reply<Self::Body> {
        Reply::unsupported(&req.head)
    }

    /// Any other method (`do_PUT`, `do_SPAM`, ...): `req.head.method` says which.
    fn do_other(&mut self, req: &Request) -> Reply<Self::Body> {
        Reply::unsupported(&req.head)
    }
}

/// Call the handler method for `req`'s method (case-sensitive, as CPython).
pub fn dispatch<H: Handler + ?Sized>(handler: &mut H, req: &Request) -> Reply<H::Body> {
    match req.head.method.as_str() {
        "GET" => handler.do_get(req),
        "HEAD" => handler.do_head(req),
        "POST" => handler.do_post(req),
        _ => handler.do_other(req),
    }
}
