//! CPython's `CGIHTTPRequestHandler` decisions, pure: whether a request is
//! for a script (`is_cgi`), which script and which reply when it cannot run
//! (`run_cgi`'s checks), its environment and argv, and RFC 3875 parsing of
//! the header block a script prints. Spawning and piping stay in the shell.

mod env;
mod script_head;

pub use env::{cgi_argv, cgi_environment, CgiServerInfo};
pub use script_head::{parse_cgi_head, CgiHead, CgiHeadError};

use crate::serve::Reply;
use crate::simple::url::{percent_decode, python_fs_bytes};
use crate::simple::{translate_path, FileKind, Files, LocalPath};
use crate::text::py_repr;

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
#[non_exhaustive]
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

/// The reply to a script whose output head is refused
/// ([`parse_cgi_head`]'s error): 502, nothing of its output relayed.
pub fn bad_gateway<B>() -> Reply<B> {
    Reply::error(502, Some("Bad Gateway"), Some("The CGI script sent an invalid header block"))
}

/// Where `run_cgi` found the script.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
fn locate_script(dir: &str, rest: &str, mut is_dir: impl FnMut(&LocalPath) -> bool) -> CgiScript {
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

/// What `CGIHTTPRequestHandler` does with a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum CgiRoute<B> {
    /// Not under a CGI directory: the static handler answers.
    Static,
    /// Run this script.
    Script(CgiScript),
    /// Answer with this instead (`run_cgi`'s 403 and 404, 400 for an
    /// invalid path, 501 for a POST to a static path).
    Refuse(Reply<B>),
}

/// CPython's `do_POST`/`send_head` → `is_cgi` → `run_cgi` checks, in
/// CPython's order, for a request of `method` to `target`, with
/// `directories` as `cgi_directories`; the shell's `files` answers what
/// exists (with its confinement rules).
pub fn route<F: Files, B>(files: &mut F, directories: &[String], method: &str, target: &str) -> CgiRoute<B> {
    let (dir, rest) = match is_cgi(target, directories) {
        CgiMatch::Cgi { dir, rest } => (dir, rest),
        CgiMatch::NotCgi if method == "POST" => {
            return CgiRoute::Refuse(Reply::error(501, Some("Can only POST to CGI scripts"), None))
        }
        CgiMatch::NotCgi => return CgiRoute::Static,
        // CPython fails on it; answering 400 beats serving the file
        // statically, which could reveal a script's source.
        CgiMatch::Invalid => return CgiRoute::Refuse(Reply::error(400, Some("Invalid path"), None)),
    };
    let script =
        locate_script(&dir, &rest, |p| matches!(files.metadata(p), Ok(m) if m.kind == FileKind::Directory));
    match files.metadata(&script.script_path) {
        Err(_) => CgiRoute::Refuse(no_such_script(&script)),
        Ok(m) if m.kind != FileKind::File => {
            CgiRoute::Refuse(script_error(403, "CGI script is not a plain file", &script))
        }
        Ok(m) if !m.executable => {
            CgiRoute::Refuse(script_error(403, "CGI script is not executable", &script))
        }
        Ok(_) => CgiRoute::Script(script),
    }
}

/// `run_cgi`'s 404 for a script that does not exist (or, for a shell, one
/// that vanished after [`route`] found it).
pub fn no_such_script<B>(script: &CgiScript) -> Reply<B> {
    script_error(404, "No such CGI script", script)
}

fn script_error<B>(code: u16, what: &str, script: &CgiScript) -> Reply<B> {
    Reply::error(code, Some(&format!("{what} ({})", py_repr(&script.script_name))), None)
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
        let s =
            locate_script("/cgi-bin", "sub/env.py/extra/p%20ath?a=1&b=2", |p| p.as_bytes() == b"cgi-bin/sub");
        assert_eq!(s.script_name, "/cgi-bin/sub/env.py");
        assert_eq!(s.script, "env.py");
        assert_eq!(s.path_info, "/extra/p ath");
        assert_eq!(s.query, "a=1&b=2");
        assert_eq!(s.path_translated.display_under("/srv"), "/srv/extra/p ath");
        let s = locate_script("/cgi-bin", "env.py", |_| false);
        assert_eq!((s.path_info.as_str(), s.path_translated.display_under("/srv").as_str()), ("", "/srv"));
    }
}
