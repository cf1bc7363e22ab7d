//! HTTP/1.x as `http.server` speaks it, without I/O: a [`Connection`]
//! turns received bytes into [`Event`]s and response parts into bytes.
//! CPython's request-line rules, RFC 9112's framing rules where CPython is
//! lax, and persistence decided and announced in one place.

pub(crate) mod body;
mod connection;
mod error;
mod head;
mod headers;
mod request;
mod response;

pub use connection::{Connection, Event, ReadPhase};
pub use error::{ProtocolError, ProtocolErrorKind, UsageError};
pub use head::{MAX_HEADER_LINE, MAX_REQUEST_LINE};
pub use headers::Headers;
pub use request::{BodyFraming, RequestHead, Version};
pub use response::{After, BodyPlan, CloseReason, ResponseHead};

pub(crate) use request::{is_token, parse_content_length};
pub(crate) use response::write_response_head;
