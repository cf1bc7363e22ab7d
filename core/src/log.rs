//! Log lines exactly as CPython's `BaseHTTPRequestHandler.log_message`
//! writes them: `ADDR - - [DATE] MESSAGE`, with control characters escaped.

/// CPython 3.11.7's `_control_char_table` applied to `message`: C0, DEL
/// and C1 become `\xNN`, a backslash is doubled, everything else is kept.
/// The request bytes reach here decoded as Latin-1, so a byte 0x85 is the
/// character U+0085 and is escaped; a byte 0xE9 stays `é`.
pub fn escape_log_text(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        let n = c as u32;
        if n < 0x20 || (0x7f..0xa0).contains(&n) {
            out.push_str(&format!("\\x{n:02x}"));
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// One log line, newline included: `127.0.0.1 - - [25/Nov/2026 08:00:00] ...`.
/// `local_time` is what [`crate::CivilTime::log_format`] gives for the
/// shell's local time; the core never reads a clock.
pub fn format_log_line(client: &str, local_time: &str, message: &str) -> String {
    format!("{} - - [{}] {}\n", client, local_time, escape_log_text(message))
}

/// The message of `log_request`: `"REQUEST LINE" CODE -` (CPython never
/// fills in the size field).
pub fn request_message(request_line: &str, code: u16) -> String {
    format!("\"{request_line}\" {code} -")
}

/// The message of `send_error`'s `log_error`: `code 404, message File not found`.
pub fn error_message(code: u16, message: &str) -> String {
    format!("code {code}, message {message}")
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
        let line = format_log_line("::1", "25/Nov/2026 08:00:00", &request_message("GET / HTTP/1.1", 200));
        assert_eq!(line, "::1 - - [25/Nov/2026 08:00:00] \"GET / HTTP/1.1\" 200 -\n");
        assert_eq!(request_message("", 414), "\"\" 414 -");
        assert_eq!(error_message(404, "File not found"), "code 404, message File not found");
    }
}
