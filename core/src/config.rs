//! Server-wide settings every connection shares: what `http.server` lets a
//! subclass set as class attributes (`protocol_version`, `server_version`,
//! `sys_version`, `error_message_format`, `error_content_type`,
//! `responses`), plus the limits and time limits CPython lacks.

use std::time::Duration;

use crate::text::html_escape_into;

/// Cap on a whole request head by default → 431. Above 128 KiB so that a
/// single 64 KiB line still gets CPython's own `Line too long` first.
pub const DEFAULT_MAX_HEAD: usize = 256 * 1024;

/// CPython's `DEFAULT_ERROR_MESSAGE`, with its `%(code)d`, `%(message)s`
/// and `%(explain)s` fields.
pub const DEFAULT_ERROR_MESSAGE: &str = "<!DOCTYPE HTML>
<html lang=\"en\">
    <head>
        <meta charset=\"utf-8\">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %(code)d</p>
        <p>Message: %(message)s.</p>
        <p>Error code explanation: %(code)s - %(explain)s.</p>
    </body>
</html>
";

/// CPython's `DEFAULT_ERROR_CONTENT_TYPE` (note: no space).
pub const DEFAULT_ERROR_CONTENT_TYPE: &str = "text/html;charset=utf-8";

/// The protocol version the server claims (`-p`): what its status lines
/// say and whether it allows persistent connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerProtocol {
    /// CPython's default: every response closes the connection.
    #[default]
    Http10,
    /// Persistent connections, as `--protocol HTTP/1.1`.
    Http11,
}

impl ServerProtocol {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerProtocol::Http10 => "HTTP/1.0",
            ServerProtocol::Http11 => "HTTP/1.1",
        }
    }

    /// Parse a `-p` value; only the two versions this server speaks.
    pub fn parse(s: &str) -> Option<ServerProtocol> {
        match s {
            "HTTP/1.0" => Some(ServerProtocol::Http10),
            "HTTP/1.1" => Some(ServerProtocol::Http11),
            _ => None,
        }
    }
}

/// How long a connection may wait for each thing (nginx's defaults;
/// CPython has no limits). `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    head: Option<Duration>,
    idle: Option<Duration>,
    io: Option<Duration>,
}

impl Default for Timeouts {
    /// 60 s for a head, 75 s idle, 60 s without I/O progress.
    fn default() -> Timeouts {
        Timeouts {
            head: Some(Duration::from_secs(60)),
            idle: Some(Duration::from_secs(75)),
            io: Some(Duration::from_secs(60)),
        }
    }
}

impl Timeouts {
    /// No time limits at all (a shell that cannot wait with a deadline).
    pub fn none() -> Timeouts {
        Timeouts { head: None, idle: None, io: None }
    }

    /// From accept (or from the first byte after an idle spell) to a
    /// complete request head: a slowloris client is cut off when it passes.
    #[must_use]
    pub fn with_head(mut self, limit: Option<Duration>) -> Timeouts {
        self.head = limit;
        self
    }

    /// An idle persistent connection between requests.
    #[must_use]
    pub fn with_idle(mut self, limit: Option<Duration>) -> Timeouts {
        self.idle = limit;
        self
    }

    /// No progress reading a request body or writing a response.
    #[must_use]
    pub fn with_io(mut self, limit: Option<Duration>) -> Timeouts {
        self.io = limit;
        self
    }

    /// The head limit.
    pub fn head(&self) -> Option<Duration> {
        self.head
    }

    /// The idle limit.
    pub fn idle(&self) -> Option<Duration> {
        self.idle
    }

    /// The I/O progress limit.
    pub fn io(&self) -> Option<Duration> {
        self.io
    }
}

/// Settings for every connection of a server. Built with `with_*` methods
/// from [`Config::default`], which is CPython's behaviour with our server
/// token and nginx-like limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    protocol: ServerProtocol,
    server_version: String,
    sys_version: String,
    /// `server_version` and `sys_version` joined, as `version_string()`.
    server_header: String,
    max_head: usize,
    timeouts: Timeouts,
    error_message_format: String,
    error_content_type: String,
    /// Overrides of the status table: (code, phrase, explanation).
    responses: Vec<(u16, String, String)>,
    /// Log a `LogEntry::Completed` at the end of every response.
    log_completions: bool,
}

impl Default for Config {
    fn default() -> Config {
        let server_version = concat!("httpserver/", env!("CARGO_PKG_VERSION")).to_string();
        Config {
            protocol: ServerProtocol::Http10,
            server_header: server_version.clone(),
            server_version,
            sys_version: String::new(),
            max_head: DEFAULT_MAX_HEAD,
            timeouts: Timeouts::default(),
            error_message_format: DEFAULT_ERROR_MESSAGE.to_string(),
            error_content_type: DEFAULT_ERROR_CONTENT_TYPE.to_string(),
            responses: Vec::new(),
            log_completions: false,
        }
    }
}

impl Config {
    /// `protocol_version`: the version in status lines, and whether
    /// connections may persist (only with HTTP/1.1).
    #[must_use]
    pub fn with_protocol(mut self, protocol: ServerProtocol) -> Config {
        self.protocol = protocol;
        self
    }

    /// `server_version`: the product token of the `Server` header
    /// (default `httpserver/<version>`).
    #[must_use]
    pub fn with_server_version(mut self, version: &str) -> Config {
        self.server_version = version.to_string();
        self.server_header = self.join_versions();
        self
    }

    /// `sys_version`: written after `server_version`, separated by a space
    /// (CPython's `Python/3.x`; empty by default, and then left out).
    #[must_use]
    pub fn with_sys_version(mut self, version: &str) -> Config {
        self.sys_version = version.to_string();
        self.server_header = self.join_versions();
        self
    }

    /// Cap on a whole request head in bytes (431 past it).
    #[must_use]
    pub fn with_max_head(mut self, bytes: usize) -> Config {
        self.max_head = bytes;
        self
    }

    /// The time limits the engine enforces.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Config {
        self.timeouts = timeouts;
        self
    }

    /// `error_message_format`: the error page template, with CPython's
    /// `%(code)d`, `%(code)s`, `%(message)s`, `%(explain)s` and `%%`.
    #[must_use]
    pub fn with_error_message_format(mut self, format: &str) -> Config {
        self.error_message_format = format.to_string();
        self
    }

    /// `error_content_type`: the `Content-Type` of error pages.
    #[must_use]
    pub fn with_error_content_type(mut self, content_type: &str) -> Config {
        self.error_content_type = content_type.to_string();
        self
    }

    /// An entry of `responses`: the reason phrase and error-page
    /// explanation for `code`, replacing the table's.
    #[must_use]
    pub fn with_response(mut self, code: u16, phrase: &str, explain: &str) -> Config {
        self.responses.retain(|(c, _, _)| *c != code);
        self.responses.push((code, phrase.to_string(), explain.to_string()));
        self
    }

    /// Whether the engine logs a [`LogEntry::Completed`](crate::LogEntry::Completed)
    /// at the end of every response (body bytes sent, duration), after
    /// CPython's entries (off by default: a shell that prints every entry
    /// then prints exactly CPython's lines).
    #[must_use]
    pub fn with_log_completions(mut self, on: bool) -> Config {
        self.log_completions = on;
        self
    }

    /// Whether responses end with a [`LogEntry::Completed`](crate::LogEntry::Completed).
    pub fn log_completions(&self) -> bool {
        self.log_completions
    }

    /// The protocol version.
    pub fn protocol(&self) -> ServerProtocol {
        self.protocol
    }

    /// The `Server` header value: `version_string()` in CPython.
    pub fn version_string(&self) -> &str {
        &self.server_header
    }

    /// The head cap.
    pub fn max_head(&self) -> usize {
        self.max_head
    }

    /// The time limits.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The error page `Content-Type`.
    pub fn error_content_type(&self) -> &str {
        &self.error_content_type
    }

    /// The phrase and explanation CPython's `responses` gives `code`, after
    /// this configuration's overrides; `None` for a code it does not know.
    pub fn status_text(&self, code: u16) -> Option<(&str, &str)> {
        if let Some((_, phrase, explain)) = self.responses.iter().find(|(c, _, _)| *c == code) {
            return Some((phrase, explain));
        }
        crate::status::status_text(code)
    }

    /// The reason phrase of a status line when the reply gives none: the
    /// table's, or empty for an unknown code (`send_response_only`).
    pub fn reason_phrase(&self, code: u16) -> &str {
        self.status_text(code).map_or("", |(phrase, _)| phrase)
    }

    /// The message and explanation `send_error` settles on: the given ones,
    /// or the table's, or `???` for a code the table lacks.
    pub(crate) fn error_texts<'a>(
        &'a self,
        code: u16,
        message: Option<&'a str>,
        explain: Option<&'a str>,
    ) -> (&'a str, &'a str) {
        let (short, long) = self.status_text(code).unwrap_or(("???", "???"));
        (message.unwrap_or(short), explain.unwrap_or(long))
    }

    /// The body of `send_error(code, message, explain)`: the template with
    /// the HTML-escaped message and explanation filled in.
    pub(crate) fn error_page(&self, code: u16, message: Option<&str>, explain: Option<&str>) -> Vec<u8> {
        let (message, explain) = self.error_texts(code, message, explain);
        fill_error_template(&self.error_message_format, code, &escape_html(message), &escape_html(explain))
            .into_bytes()
    }

    fn join_versions(&self) -> String {
        if self.sys_version.is_empty() {
            self.server_version.clone()
        } else {
            format!("{} {}", self.server_version, self.sys_version)
        }
    }
}

/// Python's `%`-formatting for the four fields CPython passes; any other
/// `%` sequence is left as written.
fn fill_error_template(template: &str, code: u16, message: &str, explain: &str) -> String {
    let mut out = String::with_capacity(template.len() + message.len() + explain.len());
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let fields: [(&str, &str); 5] = [
            ("%(code)d", ""),
            ("%(code)s", ""),
            ("%(message)s", message),
            ("%(explain)s", explain),
            ("%%", "%"),
        ];
        match fields.iter().find(|(key, _)| rest.starts_with(key)) {
            Some((key, value)) => {
                if key.starts_with("%(code)") {
                    out.push_str(&code.to_string());
                } else {
                    out.push_str(value);
                }
                rest = &rest[key.len()..];
            }
            None => {
                out.push('%');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `html.escape(s, quote=False)`.
fn escape_html(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    html_escape_into(&mut out, s.as_bytes());
    // Only ASCII bytes were replaced: still UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_error_page_is_cpythons() {
        let page =
            String::from_utf8(Config::default().error_page(404, Some("File not found"), None)).unwrap();
        let want = "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        <p>Error code: 404</p>\n        <p>Message: File not found.</p>\n        <p>Error code explanation: 404 - Nothing matches the given URI.</p>\n    </body>\n</html>\n";
        assert_eq!(page, want);
        assert_eq!(page.len(), 335); // CPython's Content-Length for this page
    }

    #[test]
    fn error_pages_escape_and_default() {
        let c = Config::default();
        let page = String::from_utf8(c.error_page(400, Some("Bad request syntax ('<x>&')"), None)).unwrap();
        assert!(page.contains("Message: Bad request syntax ('&lt;x&gt;&amp;')."));
        let unknown = String::from_utf8(c.error_page(299, None, None)).unwrap();
        assert!(unknown.contains("Message: ???.") && unknown.contains("299 - ???."));
    }

    #[test]
    fn error_message_format_and_responses_override() {
        let c = Config::default()
            .with_error_message_format("E%(code)d|%(message)s|%(explain)s|100%%|%(other)s")
            .with_response(404, "Gone Fishing", "Try <later>");
        assert_eq!(c.error_page(404, None, None), b"E404|Gone Fishing|Try &lt;later&gt;|100%|%(other)s");
        assert_eq!(c.reason_phrase(404), "Gone Fishing");
        assert_eq!(c.reason_phrase(418), "I'm a Teapot");
        assert_eq!(c.reason_phrase(299), "");
    }

    #[test]
    fn server_header_joins_versions() {
        let c = Config::default().with_server_version("SimpleHTTP/0.6");
        assert_eq!(c.version_string(), "SimpleHTTP/0.6");
        let c = c.with_sys_version("Python/3.11.7");
        assert_eq!(c.version_string(), "SimpleHTTP/0.6 Python/3.11.7");
    }
}
