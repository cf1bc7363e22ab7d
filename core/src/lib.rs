//! A sans-IO HTTP/1.x server core with the behaviour of Python's
//! `http.server`.
//!
//! Sans-IO means this crate never touches a socket, a file, a thread, a
//! process or a clock. A shell (the native CLI, the WASI build, a test)
//! owns all of that and drives a [`Connection`]: it feeds the bytes it
//! read, takes [`Event`]s out, asks a [`Handler`] for a [`Reply`], and
//! writes the bytes the connection produces. Everything the core needs to
//! know about the world — file metadata, directory entries, the time — is
//! passed in.
//!
//! The loop, with literal bytes:
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use httpserver_core::{Config, Connection, Event, ResponseHead, After, BodyPlan};
//!
//! let mut conn = Connection::new(Config::default());
//! conn.receive(b"GET /hello HTTP/1.0\r\nHost: example\r\n\r\n");
//! let mut out = Vec::new();
//! while let Some(event) = conn.next_event() {
//!     if let Event::RequestHead(head) = event {
//!         assert_eq!(head.target, "/hello");
//!         let reply = ResponseHead::new(200)
//!             .header("Content-Length", "2");
//!         let now = UNIX_EPOCH + Duration::from_secs(784111777);
//!         assert_eq!(conn.send_head(&reply, now, &mut out).unwrap(), BodyPlan::Length(2));
//!         conn.send_body(b"hi", &mut out).unwrap();
//!         // HTTP/1.0 (CPython's default): the connection closes.
//!         assert!(matches!(conn.finish().unwrap(), After::Close(_)));
//!     }
//! }
//! assert_eq!(
//!     out,
//!     b"HTTP/1.0 200 OK\r\nServer: httpserver/0.1.0\r\n\
//!       Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\n\r\nhi"
//! );
//! ```
//!
//! The pure parts stand alone: [`translate_path`], [`list_directory`],
//! [`error_page`], [`MimeTypes::guess_type`], [`format_log_line`],
//! [`format_http_date`]. [`SimpleHandler`] is CPython's
//! `SimpleHTTPRequestHandler` over a [`Files`] implementation, and
//! [`blocking::serve_stream`] is the whole loop over any `Read + Write`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod body;
mod cgi;
mod connection;
mod date;
mod error;
mod error_page;
mod files;
mod handler;
mod listing;
mod log;
mod mime;
mod path;
mod pyrepr;
mod python_tables;
mod request;
mod response;
mod session;
mod status;

#[cfg(feature = "blocking")]
pub mod blocking;

pub use body::{BodyDecoder, BodyStep, MAX_CHUNK_LINE, MAX_TRAILERS};
pub use cgi::{
    cgi_argv, cgi_environment, is_cgi, locate_script, parse_cgi_head, script_not_executable,
    script_not_found, script_not_plain_file, url_collapse_path, CgiHead, CgiHeadError, CgiMatch, CgiScript,
    CgiServerInfo, DEFAULT_CGI_DIRECTORIES,
};
pub use connection::{
    Config, Connection, Event, ReadPhase, DEFAULT_MAX_HEAD, MAX_HEADER_LINE, MAX_HEADER_LINES,
    MAX_REQUEST_LINE,
};
pub use date::{format_http_date, format_system_time, parse_http_date, unix_seconds, CivilTime};
pub use error::{ProtocolError, ProtocolErrorKind, UsageError};
pub use error_page::{error_page, error_texts, ERROR_CONTENT_TYPE};
pub use files::{FileKind, Files, Metadata, SimpleHandler};
pub use handler::{dispatch, Body, BodyUse, Handler, Reply, Request};
pub use listing::{html_escape, list_directory, ListingEntry, LISTING_CONTENT_TYPE};
pub use log::{error_message, escape_log_text, format_log_line, request_message};
pub use mime::{split_ext, MimeTypes, DEFAULT_TYPE};
pub use path::{
    directory_redirect_location, latin1_bytes, latin1_string, percent_decode, python_fs_bytes, quote,
    translate_path, url_split, url_unsplit, LocalPath, UrlParts,
};
pub use pyrepr::py_repr;
pub use request::{
    parse_content_length, valid_host, BodyFraming, Headers, RequestHead, ServerProtocol, Version,
};
pub use response::{After, BodyPlan, CloseReason, ResponseHead};
pub use session::{Outcome, Session};
pub use status::{reason_phrase, status_forbids_body, status_text};
