//! The environment and argv CPython's `run_cgi` gives a script.

use crate::cgi::CgiScript;
use crate::http::{parse_content_length, RequestHead};
use crate::text::{base64_value, Base64Bytes};

/// What the shell knows of the server, for the `SERVER_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CgiServerInfo {
    /// `SERVER_SOFTWARE`.
    pub software: String,
    /// `SERVER_NAME` (CPython: `socket.getfqdn` of the bound address).
    pub name: String,
    /// `SERVER_PORT`.
    pub port: u16,
    /// `SERVER_PROTOCOL`: the server's protocol version.
    pub protocol: String,
    /// Root directory as CPython names it (joined for `PATH_TRANSLATED`).
    pub root: String,
    /// Served over TLS: scripts get `HTTPS=on` (as Apache's and nginx's
    /// CGI/FastCGI setups say it).
    pub https: bool,
}

impl CgiServerInfo {
    /// The server's side of the environment.
    pub fn new(software: &str, name: &str, port: u16, protocol: &str, root: &str) -> CgiServerInfo {
        CgiServerInfo {
            software: software.to_string(),
            name: name.to_string(),
            port,
            protocol: protocol.to_string(),
            root: root.to_string(),
            https: false,
        }
    }

    /// The same, served over TLS or not.
    #[must_use]
    pub fn with_https(mut self, https: bool) -> CgiServerInfo {
        self.https = https;
        self
    }
}

/// The CGI/1.1 variables CPython sets (the shell adds its own process
/// environment beneath them, as CPython copies `os.environ`).
/// `body_len` is the length of the body the script gets on its standard
/// input when the request did not declare one (a chunked body, spooled).
pub fn cgi_environment(
    head: &RequestHead,
    script: &CgiScript,
    server: &CgiServerInfo,
    remote_addr: &str,
    body_len: Option<u64>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    set("SERVER_SOFTWARE", server.software.to_string());
    set("SERVER_NAME", server.name.to_string());
    set("GATEWAY_INTERFACE", "CGI/1.1".to_string());
    set("SERVER_PROTOCOL", server.protocol.to_string());
    set("SERVER_PORT", server.port.to_string());
    set("REQUEST_METHOD", head.method.clone());
    set("PATH_INFO", script.path_info.clone());
    set("PATH_TRANSLATED", script.path_translated.display_under(&server.root));
    set("SCRIPT_NAME", script.script_name.clone());
    set("QUERY_STRING", script.query.clone());
    set("REMOTE_ADDR", remote_addr.to_string());
    if server.https {
        set("HTTPS", "on".to_string());
    }
    set("REMOTE_HOST", String::new());
    if let Some(auth) = head.headers.get("Authorization") {
        let words: Vec<&str> = auth.split_whitespace().collect();
        if words.len() == 2 {
            set("AUTH_TYPE", words[0].to_string());
            if words[0].eq_ignore_ascii_case("basic") {
                if let Some(user) = basic_auth_user(words[1]) {
                    set("REMOTE_USER", user);
                }
            }
        }
    }
    set("CONTENT_TYPE", head.headers.get("Content-Type").unwrap_or("text/plain").to_string());
    // The canonical decimal of the length the core accepted (never the
    // client's spelling); empty when there is no body, as CPython defaults.
    let declared = head.headers.get("Content-Length").and_then(parse_content_length);
    let length = match declared.or(body_len) {
        Some(n) if n > 0 || declared.is_some() => n.to_string(),
        _ => String::new(),
    };
    set("CONTENT_LENGTH", length);
    set("HTTP_REFERER", head.headers.get("Referer").unwrap_or("").to_string());
    set("HTTP_ACCEPT", head.headers.get_all("Accept").collect::<Vec<_>>().join(","));
    set("HTTP_USER_AGENT", head.headers.get("User-Agent").unwrap_or("").to_string());
    let cookies: Vec<&str> = head.headers.get_all("Cookie").filter(|c| !c.is_empty()).collect();
    set("HTTP_COOKIE", cookies.join(", "));
    env
}

/// The user name of `Basic` credentials, as CPython decodes them
/// (lenient base64, ASCII, exactly one `:`); `None` when CPython would
/// set nothing, or when the name holds control characters.
fn basic_auth_user(token: &str) -> Option<String> {
    let decoded = lenient_base64(token)?;
    let text = String::from_utf8(decoded).ok().filter(|t| t.is_ascii())?;
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 2 || parts[0].chars().any(|c| c.is_control()) {
        return None;
    }
    Some(parts[0].to_string())
}

/// `base64.decodebytes` (non-strict `a2b_base64`): characters outside the
/// alphabet are skipped, decoding stops at padding.
fn lenient_base64(s: &str) -> Option<Vec<u8>> {
    let mut decoded = Base64Bytes::default();
    let mut count = 0usize;
    for b in s.bytes() {
        if b == b'=' {
            break;
        }
        if let Some(v) = base64_value(b) {
            count += 1;
            decoded.push(v);
        }
    }
    if count % 4 == 1 {
        return None;
    }
    Some(decoded.out)
}

/// CPython's argv for a script: `[script]`, plus the query with `+` as
/// space when it holds no `=`. Never an argument that begins with `-`
/// (a script could read it as an option, CVE-2012-1823): such a query
/// reaches the script through `QUERY_STRING` only.
pub fn cgi_argv(script: &str, query: &str) -> Vec<String> {
    let mut argv = vec![script.to_string()];
    let decoded = query.replace('+', " ");
    if !decoded.contains('=') && !decoded.trim_start().starts_with('-') {
        argv.push(decoded);
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_never_takes_an_option_like_query() {
        assert_eq!(cgi_argv("s.py", "a+b"), ["s.py", "a b"]);
        assert_eq!(cgi_argv("s.py", ""), ["s.py", ""]);
        assert_eq!(cgi_argv("s.py", "x=1"), ["s.py"]);
        assert_eq!(cgi_argv("s.py", "-s"), ["s.py"]);
        assert_eq!(cgi_argv("s.py", "+-n"), ["s.py"]);
    }

    #[test]
    fn basic_auth() {
        assert_eq!(basic_auth_user("dXNlcjpwYXNz").as_deref(), Some("user")); // user:pass
        assert_eq!(basic_auth_user("dXNlcjpwYTpzcw==").as_deref(), None); // user:pa:ss
        assert_eq!(basic_auth_user("dXNl\ncjpwYXNz").as_deref(), Some("user")); // junk skipped
        assert_eq!(basic_auth_user("dXMKZXI6cA==").as_deref(), None); // "us\ner:p": control char
    }
}
