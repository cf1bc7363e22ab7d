//! Pure CGI decisions, as CPython's `CGIHTTPRequestHandler` makes them
//! (`is_cgi`, `run_cgi`'s script lookup and environment), plus RFC 3875
//! parsing of a script's header block. Spawning and piping stay in the
//! shell.

use crate::path::{percent_decode, python_fs_bytes, translate_path, LocalPath};
use crate::pyrepr::py_repr;
use crate::request::{parse_content_length, RequestHead};

/// CPython's default `cgi_directories`.
pub const DEFAULT_CGI_DIRECTORIES: &[&str] = &["/cgi-bin", "/htbin"];

/// `_url_collapse_path`: unquote, resolve `.` and `..`, drop empty
/// segments, keep the query. `None` where CPython raises (more `..` than
/// segments): such a request must not be served at all.
pub fn url_collapse_path(path: &str) -> Option<String> {
    let (path, query) = match path.find('?') {
        Some(i) => (&path[..i], Some(&path[i + 1..])),
        None => (path, None),
    };
    let path = String::from_utf8_lossy(&python_fs_bytes(percent_decode(path))).into_owned();
    let parts: Vec<&str> = path.split('/').collect();
    let mut head: Vec<&str> = Vec::new();
    for part in &parts[..parts.len() - 1] {
        match *part {
            ".." => {
                head.pop()?;
            }
            "" | "." => {}
            p => head.push(p),
        }
    }
    let mut tail = parts[parts.len() - 1].to_string();
    if tail == ".." {
        head.pop()?;
        tail.clear();
    } else if tail == "." {
        tail.clear();
    }
    if let Some(q) = query {
        if !q.is_empty() {
            tail = format!("{tail}?{q}");
        }
    }
    Some(format!("/{}/{}", head.join("/"), tail))
}

/// Whether the request is for a CGI script: CPython's `is_cgi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgiMatch {
    /// Not under a CGI directory: serve statically.
    NotCgi,
    /// Under CGI directory `dir`, with `rest` after it (script, extra
    /// path and query).
    Cgi {
        /// The CGI directory, e.g. `/cgi-bin`.
        dir: String,
        /// Everything after `dir/`.
        rest: String,
    },
    /// The path has more `..` than segments: CPython fails on it; we
    /// answer 400 rather than fall back to serving the file statically.
    Invalid,
}

/// CPython's `is_cgi` for a request target.
pub fn is_cgi(target: &str, cgi_directories: &[String]) -> CgiMatch {
    let collapsed = match url_collapse_path(target) {
        Some(c) => c,
        None => return CgiMatch::Invalid,
    };
    let mut search = 1;
    while let Some(i) = collapsed[search.min(collapsed.len())..].find('/').map(|i| i + search) {
        let head = &collapsed[..i];
        if cgi_directories.iter().any(|d| d == head) {
            return CgiMatch::Cgi { dir: head.to_string(), rest: collapsed[i + 1..].to_string() };
        }
        search = i + 1;
    }
    CgiMatch::NotCgi
}

/// Where `run_cgi` found the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiScript {
    /// `SCRIPT_NAME`, e.g. `/cgi-bin/sub/env.py`.
    pub script_name: String,
    /// The script's name alone (CPython's `argv[0]`).
    pub script: String,
    /// The script file below the root.
    pub script_path: LocalPath,
    /// `PATH_INFO`: the rest after the script, percent-decoded.
    pub path_info: String,
    /// `PATH_TRANSLATED` relative to the root (CPython translates the
    /// decoded `PATH_INFO` again).
    pub path_translated: LocalPath,
    /// `QUERY_STRING`.
    pub query: String,
}

/// `run_cgi`'s lookup: walk down sub-directories of `dir` while they
/// exist (`is_dir` asks the shell), the next component is the script, the
/// rest is `PATH_INFO`.
pub fn locate_script(dir: &str, rest: &str, mut is_dir: impl FnMut(&LocalPath) -> bool) -> CgiScript {
    let path = format!("{dir}/{rest}");
    let (mut dir, mut rest) = (dir.to_string(), rest.to_string());
    let mut i = path[dir.len() + 1..].find('/').map(|i| i + dir.len() + 1);
    while let Some(idx) = i {
        let next_dir = &path[..idx];
        if is_dir(&translate_path(next_dir)) {
            dir = next_dir.to_string();
            rest = path[idx + 1..].to_string();
            i = path.get(dir.len() + 1..).and_then(|s| s.find('/')).map(|i| i + dir.len() + 1);
        } else {
            break;
        }
    }
    let (rest, query) = match rest.find('?') {
        Some(q) => (rest[..q].to_string(), rest[q + 1..].to_string()),
        None => (rest, String::new()),
    };
    let (script, extra) = match rest.find('/') {
        Some(s) => (rest[..s].to_string(), rest[s..].to_string()),
        None => (rest, String::new()),
    };
    let script_name = format!("{dir}/{script}");
    let path_info = String::from_utf8_lossy(&python_fs_bytes(percent_decode(&extra))).into_owned();
    CgiScript {
        script_path: translate_path(&script_name),
        path_translated: translate_path(&path_info),
        script_name,
        script,
        path_info,
        query,
    }
}

/// The errors `run_cgi` answers before starting a script.
pub fn script_not_found(script_name: &str) -> String {
    format!("No such CGI script ({})", py_repr(script_name))
}

/// 403: the script path is not a regular file.
pub fn script_not_plain_file(script_name: &str) -> String {
    format!("CGI script is not a plain file ({})", py_repr(script_name))
}

/// 403: the script is not executable.
pub fn script_not_executable(script_name: &str) -> String {
    format!("CGI script is not executable ({})", py_repr(script_name))
}

/// What the shell knows of the server and the connection.
#[derive(Debug, Clone)]
pub struct CgiServerInfo<'a> {
    /// `SERVER_SOFTWARE`.
    pub software: &'a str,
    /// `SERVER_NAME` (CPython: `socket.getfqdn` of the bound address).
    pub name: &'a str,
    /// `SERVER_PORT`.
    pub port: u16,
    /// `SERVER_PROTOCOL`: the server's protocol version.
    pub protocol: &'a str,
    /// `REMOTE_ADDR`.
    pub remote_addr: &'a str,
    /// Root directory as CPython names it (joined for `PATH_TRANSLATED`).
    pub root: &'a str,
}

/// The CGI/1.1 variables CPython sets (the shell adds its own process
/// environment beneath them, as CPython copies `os.environ`).
/// `body_len` is the length of the body the core decoded.
pub fn cgi_environment(
    head: &RequestHead,
    script: &CgiScript,
    server: &CgiServerInfo<'_>,
    body_len: u64,
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
    set("PATH_TRANSLATED", script.path_translated.display_under(server.root));
    set("SCRIPT_NAME", script.script_name.clone());
    set("QUERY_STRING", script.query.clone());
    set("REMOTE_ADDR", server.remote_addr.to_string());
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
    let length = match declared {
        Some(n) => n.to_string(),
        None if body_len > 0 => body_len.to_string(),
        None => String::new(),
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
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut count = 0usize;
    let mut out = Vec::new();
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        count += 1;
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    if count % 4 == 1 {
        return None;
    }
    Some(out)
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

/// The head a script printed, parsed as RFC 3875 section 6 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    /// The status (from `Status:`, 302 for a bare `Location:`, else 200).
    pub status: u16,
    /// The reason phrase (from `Status:`; CPython's `Script output
    /// follows` for the default 200).
    pub reason: String,
    /// The other header fields, in order.
    pub headers: Vec<(String, String)>,
}

/// Why a script's output is refused (→ 502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgiHeadError {
    /// No blank line within the first `max` bytes.
    TooLong,
    /// A line that is not a header field, or holds control characters.
    Malformed(String),
}

/// Find and parse the header block at the start of a script's output.
/// `Ok(None)`: need more output. `Ok(Some((head, consumed)))`: the body
/// starts at `consumed`. Lines may end in LF or CRLF.
pub fn parse_cgi_head(
    output: &[u8],
    max: usize,
    eof: bool,
) -> Result<Option<(CgiHead, usize)>, CgiHeadError> {
    let mut pos = 0;
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        let nl = match output[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => pos + i,
            None => {
                if output.len() > max {
                    return Err(CgiHeadError::TooLong);
                }
                if eof {
                    return Err(CgiHeadError::Malformed("output ended before the end of its header".into()));
                }
                return Ok(None);
            }
        };
        if nl + 1 > max {
            return Err(CgiHeadError::TooLong);
        }
        let mut line = &output[pos..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        pos = nl + 1;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(CgiHeadError::Malformed(format!("control character in {}", py_repr(&text))));
        }
        let colon = line.iter().position(|&b| b == b':');
        let name = colon.map(|c| &line[..c]).unwrap_or(b"");
        if name.is_empty()
            || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(CgiHeadError::Malformed(format!("not a header field: {}", py_repr(&text))));
        }
        let value = text[colon.unwrap_or(0) + 1..].trim().to_string();
        fields.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    let mut status = None;
    let mut headers = Vec::new();
    for (name, value) in fields {
        if name.eq_ignore_ascii_case("Status") {
            let (code, reason) = value.split_once(' ').unwrap_or((value.as_str(), ""));
            let code: u16 = code
                .parse()
                .ok()
                .filter(|c| (100..1000).contains(c))
                .ok_or_else(|| CgiHeadError::Malformed(format!("bad Status {}", py_repr(&value))))?;
            status = Some((code, reason.trim().to_string()));
        } else {
            headers.push((name, value));
        }
    }
    let has_location = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Location"));
    let (status, reason) = match status {
        Some((code, reason)) => {
            let reason =
                if reason.is_empty() { crate::status::reason_phrase(code).to_string() } else { reason };
            (code, reason)
        }
        None if has_location => (302, "Found".to_string()),
        None => (200, "Script output follows".to_string()),
    };
    Ok(Some((CgiHead { status, reason, headers }, pos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> Vec<String> {
        DEFAULT_CGI_DIRECTORIES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn collapse_like_cpython() {
        // Generated with CPython 3.11.7's http.server._url_collapse_path.
        let cases: &[(&str, Option<&str>)] = &[
            ("/cgi-bin/file1.py", Some("/cgi-bin/file1.py")),
            ("/cgi-bin/file1.py/PATH-INFO", Some("/cgi-bin/file1.py/PATH-INFO")),
            ("/a", Some("//a")),
            ("/a/b/", Some("/a/b/")),
            ("/a/b/c/..", Some("/a/b/")),
            ("/a/b/c/../d", Some("/a/b/d")),
            ("/a/b/c/../d/e/../f", Some("/a/b/d/f")),
            ("/a/b/c/../d/e/../../f", Some("/a/b/f")),
            ("/a/b/c/../d/e/.././././..//f", Some("/a/b/f")),
            ("../a/b/c/../d/e/.././././..//f", None),
            ("/a/b/c/../d/e/../../../f", Some("/a/f")),
            ("/a/b/c/../d/e/../../../../f", Some("//f")),
            ("/a/b/c/../d/e/../../../../../f", None),
            ("/a/b/c/../d/e/../../../../f/..", Some("//")),
            ("/a/b/c/../d/e/../../../../f/../.", Some("//")),
            ("/cgi-bin/file1.py?x=1", Some("/cgi-bin/file1.py?x=1")),
            ("/%63gi-bin/x", Some("/cgi-bin/x")),
            ("/cgi-bin/?", Some("/cgi-bin/")),
            ("/", Some("//")),
        ];
        for (input, want) in cases {
            assert_eq!(url_collapse_path(input).as_deref(), *want, "{input}");
        }
    }

    #[test]
    fn is_cgi_vectors() {
        let cgi = |d: &str, r: &str| CgiMatch::Cgi { dir: d.into(), rest: r.into() };
        assert_eq!(is_cgi("/cgi-bin/env.py", &dirs()), cgi("/cgi-bin", "env.py"));
        assert_eq!(is_cgi("/htbin/a/b?q=1", &dirs()), cgi("/htbin", "a/b?q=1"));
        assert_eq!(is_cgi("/cgi-bin/", &dirs()), cgi("/cgi-bin", ""));
        assert_eq!(is_cgi("/cgi-bin", &dirs()), CgiMatch::NotCgi);
        assert_eq!(is_cgi("/cgi-binx/a", &dirs()), CgiMatch::NotCgi);
        assert_eq!(is_cgi("/x/../cgi-bin/a", &dirs()), cgi("/cgi-bin", "a"));
        assert_eq!(is_cgi("/cgi-bin/../../cgi-bin/a", &dirs()), CgiMatch::Invalid);
    }

    #[test]
    fn locates_script_and_path_info() {
        let s = locate_script("/cgi-bin", "sub/env.py/extra/p%20ath?a=1&b=2", |p| {
            p.segments() == [b"cgi-bin".to_vec(), b"sub".to_vec()]
        });
        assert_eq!(s.script_name, "/cgi-bin/sub/env.py");
        assert_eq!(s.script, "env.py");
        assert_eq!(s.path_info, "/extra/p ath");
        assert_eq!(s.query, "a=1&b=2");
        assert_eq!(s.path_translated.display_under("/srv"), "/srv/extra/p ath");
        let s = locate_script("/cgi-bin", "env.py", |_| false);
        assert_eq!((s.path_info.as_str(), s.path_translated.display_under("/srv").as_str()), ("", "/srv"));
    }

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

    #[test]
    fn script_heads() {
        let (h, n) = parse_cgi_head(b"Content-Type: text/plain\n\nbody", 1024, false).unwrap().unwrap();
        assert_eq!((h.status, h.reason.as_str(), n), (200, "Script output follows", 26));
        let (h, _) = parse_cgi_head(b"Location: /x\r\n\r\n", 1024, false).unwrap().unwrap();
        assert_eq!((h.status, h.reason.as_str()), (302, "Found"));
        let (h, _) = parse_cgi_head(b"Status: 404 Nope\r\nX: y\r\n\r\n", 1024, false).unwrap().unwrap();
        assert_eq!((h.status, h.reason.as_str(), h.headers.len()), (404, "Nope", 1));
        assert_eq!(parse_cgi_head(b"Content-Type: te", 1024, false), Ok(None));
        assert!(parse_cgi_head(b"X: a\rb\n\n", 1024, false).is_err());
        assert!(parse_cgi_head(b"X: a\0b\n\n", 1024, false).is_err());
        assert!(parse_cgi_head(b"just text\n\n", 1024, false).is_err());
        assert!(parse_cgi_head(b"Status: abc\n\n", 1024, false).is_err());
        assert_eq!(parse_cgi_head(&[b'a'; 2000], 1024, false), Err(CgiHeadError::TooLong));
    }
}
