//! Errors as values: what the peer did wrong (a status to answer with) and
//! what the caller did wrong (a bug).

use std::fmt;

use crate::text::py_repr;

/// What kind of protocol violation the peer committed. Each maps to the
/// status CPython (or, where CPython is silent or lax, RFC 9112) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolErrorKind {
    /// The request line is over 65,536 bytes → 414.
    RequestLineTooLong,
    /// The request line is not two or three words → 400.
    BadRequestSyntax,
    /// The version is not `HTTP/<digits>.<digits>` → 400.
    BadRequestVersion,
    /// The version is 2.0 or later → 505.
    VersionNotSupported,
    /// A two-word (HTTP/0.9) request that is not `GET` → 400.
    BadHttp09Method,
    /// One header line is over 65,536 bytes → 431 `Line too long`.
    HeaderLineTooLong,
    /// 100 or more header fields → 431 `Too many headers`.
    TooManyHeaders,
    /// The whole request head is over the configured cap → 431.
    HeadTooLarge,
    /// A header line that is not `token ":" value` (obs-fold, space before
    /// the colon, control characters) → 400.
    BadHeader,
    /// `Host` missing from an HTTP/1.1 request, repeated, or malformed → 400.
    BadHost,
    /// `Content-Length` that is not plain digits, too large, or given twice
    /// with different values → 400.
    BadContentLength,
    /// `Transfer-Encoding` that is malformed, does not end in `chunked`,
    /// applies `chunked` twice, comes with HTTP/1.0, or comes together with
    /// `Content-Length` → 400 (RFC 9112 section 6.3).
    BadTransferEncoding,
    /// A well-formed `Transfer-Encoding` ending in `chunked` that applies
    /// another coding first (`gzip, chunked`), which this server does not
    /// decode → 501 (RFC 9112 section 6.1).
    UnsupportedTransferEncoding,
    /// A malformed chunk-size line, chunk terminator or trailer → 400.
    BadChunk,
    /// The peer closed the connection in the middle of a request body.
    TruncatedBody,
}

/// The peer sent something this server will not process. Carries the
/// status and the exact `send_error` message CPython would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    kind: ProtocolErrorKind,
    message: String,
    explain: Option<String>,
}

impl ProtocolError {
    pub(crate) fn new(kind: ProtocolErrorKind, message: String) -> ProtocolError {
        ProtocolError { kind, message, explain: None }
    }

    pub(crate) fn with_explain(mut self, explain: &str) -> ProtocolError {
        self.explain = Some(explain.to_string());
        self
    }

    pub(crate) fn bad_request_syntax(line: &str) -> ProtocolError {
        let message = format!("Bad request syntax ({})", py_repr(line));
        ProtocolError::new(ProtocolErrorKind::BadRequestSyntax, message)
    }

    /// What went wrong.
    pub fn kind(&self) -> ProtocolErrorKind {
        self.kind
    }

    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        use ProtocolErrorKind::*;
        match self.kind {
            RequestLineTooLong => 414,
            VersionNotSupported => 505,
            UnsupportedTransferEncoding => 501,
            HeaderLineTooLong | TooManyHeaders | HeadTooLarge => 431,
            BadRequestSyntax | BadRequestVersion | BadHttp09Method | BadHeader | BadHost
            | BadContentLength | BadTransferEncoding | BadChunk | TruncatedBody => 400,
        }
    }

    /// The reason phrase / log message, exactly as CPython's `send_error`
    /// gets it (`None`: the status table's phrase).
    pub fn message(&self) -> Option<&str> {
        if self.message.is_empty() {
            None
        } else {
            Some(&self.message)
        }
    }

    /// The explanation for the error page (`None`: the table's).
    pub fn explain(&self) -> Option<&str> {
        self.explain.as_deref()
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = crate::status::status_text(self.status()).map_or("", |(phrase, _)| phrase);
        let text = self.message().unwrap_or(table);
        write!(f, "{} {}", self.status(), text)
    }
}

impl std::error::Error for ProtocolError {}

/// The caller misused a [`crate::http::Connection`] or an
/// [`crate::Engine`]: a bug in a shell or handler, never the peer's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// A response was started with no request waiting for one.
    NoRequestPending,
    /// The response head was already sent for this request.
    HeadAlreadySent,
    /// Body bytes were sent before the head, or after the response ended.
    NoResponseInProgress,
    /// Body bytes were sent for a response that may not have a body.
    BodyNotAllowed,
    /// More output was reported written or copied than the engine asked for.
    TooMuchReported,
    /// More body bytes than the declared `Content-Length`.
    BodyTooLong {
        /// The declared length.
        declared: u64,
    },
    /// The response was finished before its declared length was sent.
    BodyTooShort {
        /// The declared length.
        declared: u64,
        /// What was sent.
        sent: u64,
    },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NoRequestPending => f.write_str("no request is waiting for a response"),
            UsageError::HeadAlreadySent => f.write_str("the response head was already sent"),
            UsageError::NoResponseInProgress => f.write_str("no response is in progress"),
            UsageError::BodyNotAllowed => f.write_str("this response may not have a body"),
            UsageError::TooMuchReported => f.write_str("more output reported than was asked for"),
            UsageError::BodyTooLong { declared } => {
                write!(f, "body longer than its Content-Length {declared}")
            }
            UsageError::BodyTooShort { declared, sent } => {
                write!(f, "body of {sent} bytes is shorter than its Content-Length {declared}")
            }
        }
    }
}

impl std::error::Error for UsageError {}

impl From<UsageError> for std::io::Error {
    fn from(e: UsageError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::Other, e)
    }
}
