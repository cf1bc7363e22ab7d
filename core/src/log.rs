//! Log lines exactly as CPython's `BaseHTTPRequestHandler` writes them:
//! what to log comes out of the engine as a [`LogEntry`] (its
//! `log_request`, `log_error` and `log_message` calls); a shell is the log
//! sink and writes `ADDR - - [DATE] MESSAGE` with [`format_log_line`], or
//! anything else it likes.
//!
//! A sink that wants more than CPython's line (the body bytes sent and the
//! time a response took, for a JSON access log) asks for a
//! [`LogEntry::Completed`] at the end of every response with
//! [`Config::with_log_completions`](crate::Config::with_log_completions).
//! Without it, the entries are exactly CPython's, in CPython's order.

use std::fmt;
use std::time::Duration;

use crate::text::push_decimal;

/// One thing to log, as CPython's handler would log it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogEntry {
    /// `log_request(code)`: the request line and the status sent.
    Request {
        /// The request line, as received (Latin-1 decoded).
        request_line: String,
        /// The status code.
        status: u16,
    },
    /// `log_error`: what `send_error` logs before its request line
    /// (`code 404, message File not found`).
    Error {
        /// The status code.
        status: u16,
        /// The error message.
        message: String,
    },
    /// `log_message` with something the server noticed itself (a timeout,
    /// a refusal), which CPython, having no limits, never logs.
    Notice(String),
    /// A response is over: what went out and how long it took. Emitted
    /// only with
    /// [`Config::with_log_completions`](crate::Config::with_log_completions),
    /// after the last byte of the response was reported written (or when
    /// the response was cut short), for the same request as the
    /// [`LogEntry::Request`] logged when the response started. CPython has
    /// no such line: a sink writing CPython's format leaves it out.
    #[non_exhaustive]
    Completed {
        /// The request line, as in the [`LogEntry::Request`] entry.
        request_line: String,
        /// The status code sent.
        status: u16,
        /// Response body bytes reported written: what `Content-Length`
        /// counts (the parts and boundaries of a `multipart/byteranges`
        /// body included, the chunk framing of a chunked body not); 0 for
        /// `HEAD`, 304 and other bodiless replies. When the response was
        /// cut short, the bytes known to have gone out (body bytes still
        /// queued in a partly written buffer are not counted).
        body_bytes: u64,
        /// From the request head being complete (taken by the engine; for
        /// a malformed request, from the error being found) to the last
        /// response byte reported written.
        duration: Duration,
        /// Whether the whole response went out (false: cut short by a
        /// time limit, a source that ended early or a handler bug; the
        /// connection then closed).
        complete: bool,
    },
}

impl LogEntry {
    /// The text `log_message` gets: `"GET / HTTP/1.0" 200 -` (CPython never
    /// fills in the size field), `code 404, message File not found`, or the
    /// notice itself. A [`LogEntry::Completed`] entry, which CPython never
    /// logs, reads `"GET / HTTP/1.0" 200 sent 6 bytes in 0.183 ms` (or `...
    /// 200 cut short after 6 bytes, 0.183 ms`): for people, not parsers.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogEntry::Request { request_line, status } => write!(f, "\"{request_line}\" {status} -"),
            LogEntry::Error { status, message } => write!(f, "code {status}, message {message}"),
            LogEntry::Notice(text) => f.write_str(text),
            LogEntry::Completed { request_line, status, body_bytes, duration, complete } => {
                let micros = duration.as_micros();
                let (ms, frac) = (micros / 1000, micros % 1000);
                if *complete {
                    write!(f, "\"{request_line}\" {status} sent {body_bytes} bytes in {ms}.{frac:03} ms")
                } else {
                    write!(
                        f,
                        "\"{request_line}\" {status} cut short after {body_bytes} bytes, {ms}.{frac:03} ms"
                    )
                }
            }
        }
    }
}

/// CPython 3.11.7's `_control_char_table` applied to `message`: C0, DEL
/// and C1 become `\xNN`, a backslash is doubled, everything else is kept.
/// The request bytes reach here decoded as Latin-1, so a byte 0x85 is the
/// character U+0085 and is escaped; a byte 0xE9 stays `é`.
pub fn escape_log_text(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    push_escaped(&mut out, message);
    out
}

/// [`escape_log_text`], appended to `out`.
fn push_escaped(out: &mut String, message: &str) {
    // Printable ASCII without a backslash (nearly every line) is kept as is.
    if message.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\') {
        out.push_str(message);
        return;
    }
    for c in message.chars() {
        let n = c as u32;
        if n < 0x20 || (0x7f..0xa0).contains(&n) {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\x");
            out.push(char::from(HEX[(n >> 4) as usize]));
            out.push(char::from(HEX[(n & 15) as usize]));
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
}

/// One log line, newline included: `127.0.0.1 - - [25/Nov/2026 08:00:00] ...`.
/// `local_time` is what [`crate::time::CivilTime::log_format`] gives for
/// the shell's local time; the core never reads a clock.
pub fn format_log_line(client: &str, local_time: &str, message: &str) -> String {
    let mut out = String::with_capacity(client.len() + local_time.len() + message.len() + 10);
    push_line_start(&mut out, client, local_time);
    push_escaped(&mut out, message);
    out.push('\n');
    out
}

/// The line [`format_log_line`] makes for `entry`'s message, appended to
/// `out`; a request's line is written without building its message first
/// (a log sink's hot path).
pub fn push_log_line(out: &mut String, client: &str, local_time: &str, entry: &LogEntry) {
    push_line_start(out, client, local_time);
    match entry {
        LogEntry::Request { request_line, status } => {
            out.push('"');
            push_escaped(out, request_line);
            out.push_str("\" ");
            push_decimal(out, u64::from(*status));
            out.push_str(" -");
        }
        _ => push_escaped(out, &entry.message()),
    }
    out.push('\n');
}

fn push_line_start(out: &mut String, client: &str, local_time: &str) {
    out.push_str(client);
    out.push_str(" - - [");
    out.push_str(local_time);
    out.push_str("] ");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_cpython_3_11_7() {
        assert_eq!(escape_log_text("GET /\x1b[31m HTTP/1.0"), "GET /\\x1b[31m HTTP/1.0");
        assert_eq!(escape_log_text("a\\b"), "a\\\\b");
        assert_eq!(escape_log_text("\x7f\u{85}\u{9f}\u{a0}é"), "\\x7f\\x85\\x9f\u{a0}é");
        assert_eq!(escape_log_text("line\nbreak\r"), "line\\x0abreak\\x0d");
    }

    #[test]
    fn formats_lines() {
        let entry = LogEntry::Request { request_line: "GET / HTTP/1.1".into(), status: 200 };
        let line = format_log_line("::1", "25/Nov/2026 08:00:00", &entry.message());
        assert_eq!(line, "::1 - - [25/Nov/2026 08:00:00] \"GET / HTTP/1.1\" 200 -\n");
        for entry in [
            entry.clone(),
            LogEntry::Request { request_line: "GET /\x1b\\ HTTP/1.1".into(), status: 7 },
            LogEntry::Request { request_line: "GET /\u{85}é".into(), status: 65535 },
            LogEntry::Notice("a\nb".into()),
        ] {
            let mut pushed = String::from("before\n");
            push_log_line(&mut pushed, "::1", "25/Nov/2026 08:00:00", &entry);
            let line = format_log_line("::1", "25/Nov/2026 08:00:00", &entry.message());
            assert_eq!(pushed, format!("before\n{line}"));
        }
        let empty = LogEntry::Request { request_line: String::new(), status: 414 };
        assert_eq!(empty.message(), "\"\" 414 -");
        let error = LogEntry::Error { status: 404, message: "File not found".into() };
        assert_eq!(error.message(), "code 404, message File not found");
        let done = |complete| LogEntry::Completed {
            request_line: "GET / HTTP/1.1".into(),
            status: 200,
            body_bytes: 1234,
            duration: Duration::from_micros(12_045),
            complete,
        };
        assert_eq!(done(true).message(), "\"GET / HTTP/1.1\" 200 sent 1234 bytes in 12.045 ms");
        assert_eq!(done(false).message(), "\"GET / HTTP/1.1\" 200 cut short after 1234 bytes, 12.045 ms");
    }
}
