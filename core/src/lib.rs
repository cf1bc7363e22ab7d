//! A sans-IO HTTP/1.x server core with the behaviour of Python's
//! `http.server`.
//!
//! Sans-IO means this crate never touches a socket, a file, a thread, a
//! process or a clock. A shell (the native CLI, the WASI build, a tokio
//! task, a test) owns all of that and drives an [`Engine`] per connection:
//! it tells the engine what happened ([`Input`]) and carries out what the
//! engine asks for ([`Output`]); the engine calls a [`Handler`] for each
//! request. Everything the core needs to know about the world — file
//! metadata, directory entries, the time — is passed in.
//!
//! > **After every [`Engine::handle`], call [`Engine::poll`] and act on
//! > its output, until it returns [`Output::Read`], [`Output::Close`], or
//! > a `Write`/`Body` the socket cannot take yet (then wait for the socket
//! > or for [`Engine::timeout`], whichever comes first).**
//!
//! The whole loop, with literal bytes:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant, UNIX_EPOCH};
//! use httpserver_core::{Config, Engine, Handler, Input, Now, Output, Reply, Request, ServerProtocol};
//!
//! /// `do_GET` answers from memory; every other method is CPython's 501.
//! struct Hello;
//!
//! impl Handler for Hello {
//!     type Body = std::fs::File; // what a file body would be; unused here
//!     fn do_get(&mut self, req: &Request) -> Reply<std::fs::File> {
//!         Reply::bytes(200, "text/plain", format!("hi {}", req.head.target).into_bytes())
//!     }
//! }
//!
//! let config = Arc::new(Config::default().with_protocol(ServerProtocol::Http11));
//! let now = Now::new(UNIX_EPOCH + Duration::from_secs(784_111_777), Instant::now());
//! let mut engine = Engine::new(config, now);
//! // What the socket delivers: two pipelined requests, then the peer closes.
//! let mut incoming: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPUT /b HTTP/1.1\r\nHost: x\r\n\r\n";
//! let (mut wire, mut log) = (Vec::new(), Vec::new());
//! loop {
//!     match engine.poll(&mut Hello, now) {
//!         Output::Log(entry) => log.push(entry.message()),
//!         Output::Write(bytes) => {
//!             wire.extend_from_slice(bytes); // a socket might take fewer
//!             let n = bytes.len();
//!             engine.handle(Input::Written(n), now).unwrap();
//!         }
//!         Output::Body { .. } | Output::ReadBody { .. } => unreachable!("Hello answers from memory"),
//!         Output::Read if incoming.is_empty() => engine.handle(Input::Eof, now).unwrap(),
//!         Output::Read => {
//!             engine.handle(Input::Bytes(incoming), now).unwrap();
//!             incoming = &[];
//!         }
//!         Output::ShutdownWrite => {} // half-close, then keep reading
//!         Output::Close => break,
//!     }
//! }
//! let wire = String::from_utf8(wire).unwrap();
//! assert!(wire.starts_with(
//!     "HTTP/1.1 200 OK\r\nServer: httpserver/0.1.0\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
//!      Content-type: text/plain\r\nContent-Length: 5\r\n\r\nhi /a\
//!      HTTP/1.1 501 Unsupported method ('PUT')\r\n"
//! ));
//! assert_eq!(log, [
//!     "\"GET /a HTTP/1.1\" 200 -",
//!     "code 501, message Unsupported method ('PUT')",
//!     "\"PUT /b HTTP/1.1\" 501 -",
//! ]);
//! ```
//!
//! In scope: HTTP/1.0 and 1.1 framing, CPython's keep-alive rules (and
//! RFC 9112's where CPython is lax), `100 Continue`, time limits,
//! `SimpleHTTPRequestHandler` ([`SimpleHandler`] over a [`Files`] the
//! shell implements) and `CGIHTTPRequestHandler` decisions ([`cgi`]).
//! Out of scope: sockets, TLS, threads, spawning, `no_std`.
//!
//! Modules: [`http`] is the protocol state machine under the engine;
//! [`serve`] the engine and handler contract; [`simple`] and [`cgi`]
//! CPython's two handlers; [`log`] and [`time`] the formats of log lines
//! and dates; [`blocking`] (feature `blocking`) the loop over any
//! `Read + Write`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod python_tables;
mod status;
mod text;

pub mod cgi;
pub mod http;
pub mod log;
pub mod serve;
pub mod simple;
pub mod time;

#[cfg(feature = "blocking")]
pub mod blocking;

#[doc(hidden)]
pub mod fuzzing;

pub use config::{Config, ServerProtocol, Timeouts};
pub use http::{RequestHead, ResponseHead, UsageError};
pub use log::LogEntry;
pub use serve::{dispatch, Acceptance, Body, BodyUse, Engine, Handler, Input, Now, Output, Reply, Request};
pub use simple::{Files, Metadata, SimpleHandler};
