//! `BaseHTTPRequestHandler`'s `do_<METHOD>` dispatch as a trait: write a
//! handler as plain functions from a request to a reply, with no socket in
//! sight. The shell (or [`crate::blocking::serve_stream`]) carries it out.
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
//! // Drive it without a socket: feed a request, dispatch, look at the reply.
//! let mut conn = httpserver_core::Connection::new(Default::default());
//! conn.receive(b"PUT /x HTTP/1.0\r\n\r\n");
//! let Some(httpserver_core::Event::RequestHead(head)) = conn.next_event() else { panic!() };
//! let reply = dispatch(&mut Echo, &Request { head, body: Vec::new() });
//! assert_eq!(reply.head.status, 501);
//! assert_eq!(reply.head.reason.as_deref(), Some("Unsupported method ('PUT')"));
//! ```
//!
//! `core/examples/echo_server.rs` serves the same handler on a socket with
//! [`crate::blocking::serve_stream`]:
//! `cargo run -p httpserver-core --example echo_server -- 8080`.

use crate::error::ProtocolError;
use crate::error_page::{error_page, error_texts, ERROR_CONTENT_TYPE};
use crate::log::error_message;
use crate::pyrepr::py_repr;
use crate::request::RequestHead;
use crate::response::ResponseHead;

/// A request with its body (buffered as far as the handler asked).
#[derive(Debug, Clone)]
pub struct Request {
    /// The head.
    pub head: RequestHead,
    /// The body, when the handler asked for it with [`BodyUse::Buffer`].
    pub body: Vec<u8>,
}

/// What a handler wants done with a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// A reply body.
#[derive(Debug)]
pub enum Body<B> {
    /// Nothing.
    Empty,
    /// Bytes in memory (listings, error pages).
    Bytes(Vec<u8>),
    /// A source the shell copies (an open file): the core only needs its
    /// length, never its bytes.
    Source {
        /// The source.
        source: B,
        /// Its length, which the head's `Content-Length` also says.
        len: u64,
    },
    /// A source of unknown length the shell copies until it ends (CGI
    /// output): with no `Content-Length`, the connection closes after it.
    Stream(B),
}

/// What a handler decided; the shell carries it out.
#[derive(Debug)]
pub struct Reply<B> {
    /// Status and headers.
    pub head: ResponseHead,
    /// The body (sent only where the connection allows one).
    pub body: Body<B>,
    /// For an error reply, the message `send_error` logs first
    /// (`code 404, message File not found`).
    pub error_log: Option<String>,
}

impl<B> Reply<B> {
    /// CPython's `send_error(code, message, explain)`: `Connection: close`,
    /// the default error page (no body for 1xx, 204, 205, 304), and a
    /// reason phrase that is the message itself.
    pub fn error(code: u16, message: Option<&str>, explain: Option<&str>) -> Reply<B> {
        let (msg, _) = error_texts(code, message, explain);
        let mut head = ResponseHead::new(code);
        head.reason = Some(msg.to_string());
        head.headers.push(("Connection".to_string(), "close".to_string()));
        let mut body = Body::Empty;
        if !crate::status::status_forbids_body(code) {
            let page = error_page(code, message, explain);
            head.headers.push(("Content-Type".to_string(), ERROR_CONTENT_TYPE.to_string()));
            head.headers.push(("Content-Length".to_string(), page.len().to_string()));
            body = Body::Bytes(page);
        }
        Reply { head, body, error_log: Some(error_message(code, msg)) }
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

    /// 200 with an in-memory body and its `Content-type` (CPython's casing
    /// for successful replies) and `Content-Length`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply<B> {
        let head = ResponseHead::new(status)
            .header("Content-type", content_type)
            .header("Content-Length", &body.len().to_string());
        Reply { head, body: Body::Bytes(body), error_log: None }
    }

    /// A reply with just a head (redirects, 304).
    pub fn head_only(head: ResponseHead) -> Reply<B> {
        Reply { head, body: Body::Empty, error_log: None }
    }

    /// The same reply with its body source converted (e.g. to wrap one
    /// handler's body type in another's).
    pub fn map_body<C>(self, f: impl FnOnce(B) -> C) -> Reply<C> {
        let body = match self.body {
            Body::Empty => Body::Empty,
            Body::Bytes(b) => Body::Bytes(b),
            Body::Source { source, len } => Body::Source { source: f(source), len },
            Body::Stream(source) => Body::Stream(f(source)),
        };
        Reply { head: self.head, body, error_log: self.error_log }
    }
}

/// A request handler: one method per HTTP method, as `do_GET`, `do_HEAD`,
/// `do_POST` in CPython. Each one not implemented answers 501
/// `Unsupported method`, as a missing `do_X` does.
pub trait Handler {
    /// The body source the shell knows how to send (a `std::fs::File`
    /// natively, a `Vec<u8>` in tests).
    type Body;

    /// Whether the handler needs the request body before answering.
    fn body_use(&mut self, _head: &RequestHead) -> BodyUse {
        BodyUse::Discard
    }

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
