//! Issue 12's options, black-box: extra headers (`-H`), `--cors`,
//! `--charset`, `--hide-dotfiles` (and the start-up warning without it),
//! `--rich-listing`, `?format=json`, `--spa`, `-d FILE`, `-q`, the start-up
//! URL lines, port 0, and the notice for a refused symbolic link.
//! `python3 -m http.server` is the reference where the behaviour is
//! CPython's.
//!
//! Servers here are spawned by [`Server`], which keeps reading their
//! stdout (the start-up lines come after the line the port is read from)
//! and stderr, and kills them by pid when dropped.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use support::*;

// ---------------------------------------------------------------------
// Harness

type Lines = Arc<Mutex<Vec<String>>>;

/// Read `pipe` line by line into a shared list, on a thread that ends at
/// EOF.
fn collect_lines(pipe: impl Read + Send + 'static) -> (Lines, JoinHandle<()>) {
    let lines: Lines = Arc::default();
    let sink = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
            let text = String::from_utf8_lossy(&line).trim_end_matches('\n').to_string();
            sink.lock().unwrap().push(text);
            line.clear();
        }
    });
    (lines, reader)
}

/// `lines` once at least `min` are in (up to 3 s) and none has come for
/// 200 ms: output comes in batches, a little late.
fn settled(lines: &Lines, min: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while lines.lock().unwrap().len() < min && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut last = usize::MAX;
    loop {
        let n = lines.lock().unwrap().len();
        if n == last || Instant::now() > deadline {
            return lines.lock().unwrap().clone();
        }
        last = n;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Our server, spawned by the test: stdout and stderr collected whole.
struct Server {
    child: Child,
    port: u16,
    stdout: Lines,
    stderr: Lines,
}

impl Server {
    /// `httpserver ARGS...` (in `cwd` if given), once it has printed its
    /// `Serving HTTP on ... port N` line.
    fn spawn(args: &[&str], cwd: Option<&Path>) -> Server {
        let mut cmd = Command::new(our_binary());
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().expect("starting httpserver");
        let (stdout, _) = collect_lines(child.stdout.take().unwrap());
        let (stderr, _) = collect_lines(child.stderr.take().unwrap());
        let mut server = Server { child, port: 0, stdout, stderr };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let first = server.stdout.lock().unwrap().first().cloned();
            if let Some(line) = first {
                server.port = line
                    .split(" port ")
                    .nth(1)
                    .and_then(|s| s.split(' ').next())
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| panic!("no port announced: {line:?}"));
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "httpserver {args:?} exited ({status}) before serving: {:?}",
                    server.stderr.lock().unwrap()
                );
            }
            assert!(Instant::now() < deadline, "httpserver {args:?} announced nothing in 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `httpserver -b 127.0.0.1 -d DIR FLAGS... 0`.
    fn on(dir: &Path, flags: &[&str]) -> Server {
        let mut args = vec!["-b", "127.0.0.1", "-d", dir.to_str().unwrap()];
        args.extend_from_slice(flags);
        args.push("0");
        Server::spawn(&args, None)
    }

    fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// One raw request on a new connection, read to the close.
    fn raw(&self, request: &str) -> Vec<u8> {
        get(self.addr(), request)
    }

    fn req(&self, request: &str) -> Response {
        parse_response(&self.raw(request))
    }

    /// `GET target HTTP/1.0`.
    fn get(&self, target: &str) -> Response {
        self.req(&format!("GET {target} HTTP/1.0\r\n\r\n"))
    }

    /// Everything printed on stdout so far, once it has settled.
    fn stdout_lines(&self, min: usize) -> Vec<String> {
        settled(&self.stdout, min)
    }

    /// The log (stderr) so far, timestamps normalised, once it has settled
    /// with at least `min` lines.
    fn log(&self, min: usize) -> Vec<String> {
        settled(&self.stderr, min).iter().map(|l| normalise_log_line(l)).collect()
    }

    /// The log once a line contains `needle` (up to 3 s) and it has
    /// settled.
    fn log_with(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(3);
        while !self.stderr.lock().unwrap().iter().any(|l| l.contains(needle)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.log(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run our binary expecting it to exit at once (a usage error): its exit
/// code (`None`: still running after 5 s, then killed), stdout and stderr.
/// The arguments start with `-b 127.0.0.1 -d DIR 0`, so a server that
/// wrongly starts binds no fixed port.
fn run_to_exit(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(our_binary())
        .args(["-b", "127.0.0.1", "-d", dir.to_str().unwrap(), "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, out_reader) = collect_lines(child.stdout.take().unwrap());
    let (err, err_reader) = collect_lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = (out_reader.join(), err_reader.join());
    let text = |l: &Lines| l.lock().unwrap().iter().map(|l| format!("{l}\n")).collect::<String>();
    (code, text(&out), text(&err))
}

/// Exit status 2, the usage, then one `httpserver: error: ` line, the last,
/// which is `message` (or contains it, unless `exact`); nothing on stdout.
fn assert_usage_error(dir: &Path, args: &[&str], message: &str, exact: bool) {
    let (code, out, err) = run_to_exit(dir, args);
    assert_eq!(code, Some(2), "{args:?}: stderr {err:?}");
    assert!(err.starts_with("usage: httpserver "), "{args:?}: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("httpserver: error: ")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: {err}");
    let last = err.lines().last().unwrap();
    let said = last.strip_prefix("httpserver: error: ").unwrap_or_else(|| panic!("{args:?}: {err}"));
    if exact {
        assert_eq!(said, message, "{args:?}");
    } else {
        assert!(said.contains(message), "{args:?}: {said:?} lacks {message:?}");
    }
    assert!(out.is_empty(), "{args:?}: stdout {out:?}");
}

fn write_file(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn set_mtime(path: &Path, unix_secs: u64) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(unix_secs)).unwrap();
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Every header of `r` named like one of `names`, in order.
fn headers_named<'a>(r: &'a Response, names: &[&str]) -> Vec<(&'a str, &'a str)> {
    r.headers
        .iter()
        .filter(|(n, _)| names.iter().any(|m| n.eq_ignore_ascii_case(m)))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// The 404 every missing path gets (CPython's page).
fn assert_not_found(r: &Response, what: &str) {
    assert_eq!(r.status_line, "HTTP/1.0 404 File not found", "{what}: {r:?}");
    assert!(text(r).contains("<p>Message: File not found.</p>"), "{what}: {}", text(r));
}

// ---------------------------------------------------------------------
// -H/--header

const NONE: [(&str, &str); 0] = [];
const EXTRA: [(&str, &str); 3] = [("X-A", "1"), ("X-B", "two words"), ("X-A", "3")];
const EXTRA_FLAGS: [&str; 9] = ["-H", "X-A", "1", "--header", "X-B", "two words", "-H", "X-A", "3"];

fn header_site() -> TempDir {
    let root = TempDir::new("feat-headers");
    write_file(root.path(), "a.txt", b"hello\n");
    write_file(root.path(), "sub/b.txt", b"b\n");
    write_file(root.path(), "withindex/index.html", b"<p>index</p>\n");
    set_mtime(&root.path().join("a.txt"), 1_700_000_000);
    root
}

/// The extra headers, in the order given, repeated names kept, on every
/// successful file and listing reply: 200 (GET and HEAD), 206, 304, index
/// pages, HTML and JSON listings.
#[test]
fn extra_headers_on_successful_file_and_listing_replies() {
    let root = header_site();
    let srv = Server::on(root.path(), &EXTRA_FLAGS);
    let etag = srv.get("/a.txt").header("ETag").map(str::to_string);
    let mut cases = vec![
        ("GET file".to_string(), "GET /a.txt HTTP/1.0\r\n\r\n".to_string(), 200),
        ("HEAD file".into(), "HEAD /a.txt HTTP/1.0\r\n\r\n".into(), 200),
        ("range".into(), "GET /a.txt HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n".into(), 206),
        (
            "If-Modified-Since".into(),
            "GET /a.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n".into(),
            304,
        ),
        ("listing".into(), "GET /sub/ HTTP/1.0\r\n\r\n".into(), 200),
        ("HEAD listing".into(), "HEAD /sub/ HTTP/1.0\r\n\r\n".into(), 200),
        ("root listing".into(), "GET / HTTP/1.0\r\n\r\n".into(), 200),
        ("JSON listing".into(), "GET /sub/?format=json HTTP/1.0\r\n\r\n".into(), 200),
        ("index page".into(), "GET /withindex/ HTTP/1.0\r\n\r\n".into(), 200),
    ];
    if let Some(tag) = etag {
        cases.push((
            "If-None-Match".into(),
            format!("GET /a.txt HTTP/1.0\r\nIf-None-Match: {tag}\r\n\r\n"),
            304,
        ));
    }
    for (what, request, status) in cases {
        let r = srv.req(&request);
        assert_eq!(r.status(), status, "{what}: {r:?}");
        assert_eq!(headers_named(&r, &["X-A", "X-B"]), EXTRA, "{what}: {r:?}");
    }
    // The 206's own headers are still there.
    let r = srv.req("GET /a.txt HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n");
    assert_eq!((r.header("Content-Range"), r.body.as_slice()), (Some("bytes 0-1/6"), &b"he"[..]));
}

/// Not on errors (404, 403, 412, 416, 501) nor on the 301 of a directory
/// without its slash.
#[test]
fn extra_headers_not_on_errors_or_the_directory_redirect() {
    let root = header_site();
    let srv = Server::on(root.path(), &EXTRA_FLAGS);
    for (request, status) in [
        ("GET /nope HTTP/1.0\r\n\r\n", 404),
        ("HEAD /nope HTTP/1.0\r\n\r\n", 404),
        ("GET /sub HTTP/1.0\r\n\r\n", 301),
        ("FOO /a.txt HTTP/1.0\r\n\r\n", 501),
        ("POST /a.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 501),
        ("OPTIONS /a.txt HTTP/1.0\r\n\r\n", 501),
        ("GET /a.txt HTTP/1.0\r\nRange: bytes=100-\r\n\r\n", 416),
        ("GET /a.txt HTTP/1.0\r\nIf-Match: \"other\"\r\n\r\n", 412),
    ] {
        let r = srv.req(request);
        assert_eq!(r.status(), status, "{request:?}: {r:?}");
        assert_eq!(headers_named(&r, &["X-A", "X-B"]), NONE, "{request:?}: {r:?}");
    }
}

/// 403 comes from the CGI side (a script that is not executable); script
/// output does not get the headers either, static files under --cgi do.
#[test]
fn extra_headers_not_on_403_nor_cgi_output() {
    use std::os::unix::fs::PermissionsExt;
    let root = header_site();
    write_file(
        root.path(),
        "cgi-bin/noexec.sh",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nx'\n",
    );
    write_file(
        root.path(),
        "cgi-bin/ok.sh",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nran\\n'\n",
    );
    fs::set_permissions(root.path().join("cgi-bin/ok.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(root.path().join("cgi-bin/noexec.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    let mut args = vec!["--cgi", "-b", "127.0.0.1"];
    args.extend_from_slice(&EXTRA_FLAGS);
    args.push("0");
    let srv = Server::spawn(&args, Some(root.path()));
    let r = srv.get("/cgi-bin/noexec.sh");
    assert_eq!(r.status(), 403, "{r:?}");
    assert_eq!(headers_named(&r, &["X-A", "X-B"]), NONE, "{r:?}");
    let r = srv.get("/cgi-bin/ok.sh");
    assert_eq!((r.status(), text(&r).as_str()), (200, "ran\n"), "{r:?}");
    assert_eq!(headers_named(&r, &["X-A", "X-B"]), NONE, "CGI output: {r:?}");
    let r = srv.get("/a.txt");
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(headers_named(&r, &["X-A", "X-B"]), EXTRA, "static file under --cgi: {r:?}");
}

#[test]
fn bad_header_options_are_usage_errors() {
    let dir = TempDir::new("feat-header-args");
    let exact = |args: &[&str], message: &str| assert_usage_error(dir.path(), args, message, true);
    exact(&["-H", "X"], "argument -H/--header: expected 2 arguments");
    exact(&["--header", "X"], "argument -H/--header: expected 2 arguments");
    exact(&["-H"], "argument -H/--header: expected 2 arguments");
    exact(&["-H", "X", "--cors"], "argument -H/--header: expected 2 arguments");
    exact(&["-H", "X Y", "v"], "argument -H/--header: invalid header name: 'X Y'");
    exact(&["-H", "X:Y", "v"], "argument -H/--header: invalid header name: 'X:Y'");
    exact(&["-H", "", "v"], "argument -H/--header: invalid header name: ''");
    exact(&["-H", "X-A", "a\r\nX-Evil: 1"], "argument -H/--header: invalid header value for 'X-A'");
    exact(&["-H", "X-A", "a\nb"], "argument -H/--header: invalid header value for 'X-A'");
    exact(&["-H", "X-A", "a\rb"], "argument -H/--header: invalid header value for 'X-A'");
}

// ---------------------------------------------------------------------
// --cors

#[test]
fn cors_allows_any_origin_on_successful_replies_only() {
    let root = header_site();
    let srv = Server::on(root.path(), &["--cors"]);
    for (request, status) in [
        ("GET /a.txt HTTP/1.0\r\nOrigin: http://elsewhere.example\r\n\r\n", 200),
        ("HEAD /a.txt HTTP/1.0\r\n\r\n", 200),
        ("GET /a.txt HTTP/1.0\r\nRange: bytes=1-2\r\n\r\n", 206),
        ("GET /a.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n", 304),
        ("GET /sub/ HTTP/1.0\r\n\r\n", 200),
        ("GET /sub/?format=json HTTP/1.0\r\n\r\n", 200),
    ] {
        let r = srv.req(request);
        assert_eq!(r.status(), status, "{request:?}: {r:?}");
        let acao = headers_named(&r, &["Access-Control-Allow-Origin"]);
        assert_eq!(acao, [("Access-Control-Allow-Origin", "*")], "{request:?}: {r:?}");
    }
    for (request, status) in [
        ("GET /nope HTTP/1.0\r\n\r\n", 404),
        ("GET /sub HTTP/1.0\r\n\r\n", 301),
        ("FOO / HTTP/1.0\r\n\r\n", 501),
    ] {
        let r = srv.req(request);
        assert_eq!(r.status(), status, "{request:?}: {r:?}");
        assert_eq!(r.header("Access-Control-Allow-Origin"), None, "{request:?}: {r:?}");
    }
}

/// A preflight: 204 with the CORS answer, on any path (existing or not).
#[test]
fn cors_answers_preflight_options() {
    let root = header_site();
    let srv = Server::on(root.path(), &["--cors"]);
    for path in ["/x", "/a.txt", "/sub/"] {
        let raw = srv.raw(&format!(
            "OPTIONS {path} HTTP/1.0\r\nOrigin: http://elsewhere.example\r\n\
             Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-a, range\r\n\r\n"
        ));
        let r = parse_response(&raw);
        assert_eq!(r.status_line, "HTTP/1.0 204 No Content", "{path}: {}", show(&raw));
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"), "{path}");
        assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET, HEAD, OPTIONS"), "{path}");
        assert_eq!(r.header("Access-Control-Allow-Headers"), Some("x-a, range"), "{path}");
        assert_eq!(r.header("Access-Control-Max-Age"), Some("86400"), "{path}");
        assert_eq!(r.header("Content-Length"), Some("0"), "{path}");
        assert!(r.body.is_empty(), "{path}: a 204 has no body: {}", show(&raw));
    }
    // No Access-Control-Request-Headers: no Allow-Headers.
    let r = srv
        .req("OPTIONS /x HTTP/1.0\r\nOrigin: http://e.example\r\nAccess-Control-Request-Method: GET\r\n\r\n");
    assert_eq!(r.status(), 204, "{r:?}");
    assert_eq!(r.header("Access-Control-Allow-Headers"), None, "{r:?}");
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET, HEAD, OPTIONS"));
    // The log line is CPython's shape.
    let log = srv.log_with("\"OPTIONS /x HTTP/1.0\" 204");
    assert!(log.contains(&"127.0.0.1 - - [TIME] \"OPTIONS /x HTTP/1.0\" 204 -".to_string()), "{log:?}");
}

/// On a persistent connection the 204 is framed right: the next request is
/// answered on the same connection.
#[test]
fn cors_preflight_keeps_the_connection() {
    let root = header_site();
    let srv = Server::on(root.path(), &["--cors", "-p", "HTTP/1.1"]);
    let raw = srv.raw(
        "OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: http://e.example\r\nAccess-Control-Request-Method: GET\r\n\r\n\
         GET /a.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let text = show(&raw);
    assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 1, "{text}");
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");
}

/// With --upload the preflight also allows PUT and POST.
#[test]
fn cors_preflight_with_upload_allows_put_and_post() {
    let root = header_site();
    let srv = Server::on(root.path(), &["--cors", "--upload"]);
    let r = srv.req(
        "OPTIONS /sub/ HTTP/1.0\r\nOrigin: http://e.example\r\nAccess-Control-Request-Method: PUT\r\n\r\n",
    );
    assert_eq!(r.status(), 204, "{r:?}");
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET, HEAD, OPTIONS, PUT, POST"), "{r:?}");
}

/// Without --cors, OPTIONS is CPython's 501, byte for byte, log included.
#[test]
fn options_without_cors_is_cpythons_501() {
    let root = header_site();
    let ours = Server::on(root.path(), &[]);
    let theirs = ServerProcess::cpython(root.path(), &[]);
    let _ = theirs.take_log();
    let request = "OPTIONS /x HTTP/1.0\r\nOrigin: http://e.example\r\nAccess-Control-Request-Method: GET\r\n\
                   Access-Control-Request-Headers: x-a, range\r\n\r\n";
    let (o, t) = (ours.raw(request), get(theirs.addr, request));
    assert!(t.starts_with(b"HTTP/1.0 501 "), "{}", show(&t));
    assert_eq!(show(&normalise_response(&o)), show(&normalise_response(&t)));
    assert_eq!(ours.log(2), theirs.take_log_expecting(2));
}

// ---------------------------------------------------------------------
// --charset

const CHARSET_FILES: [&str; 12] =
    ["txt", "html", "css", "js", "json", "svg", "xml", "webmanifest", "rdf", "csv", "png", "bin"];

/// Default: text, JavaScript, JSON, XML (and `+json`, `+xml`) and SVG
/// files say `; charset=utf-8` after CPython's type; others are
/// CPython's. `--charset none`: CPython's exactly. Listing and error pages
/// are CPython's in both.
#[test]
fn charset_appended_to_text_types_unless_none() {
    let root = TempDir::new("feat-charset");
    for ext in CHARSET_FILES {
        write_file(root.path(), &format!("f.{ext}"), ext.as_bytes());
    }
    let theirs = ServerProcess::cpython(root.path(), &[]);
    let utf8 = Server::on(root.path(), &[]);
    let explicit = Server::on(root.path(), &["--charset", "utf-8"]);
    let none = Server::on(root.path(), &["--charset", "none"]);
    for ext in CHARSET_FILES {
        let path = format!("/f.{ext}");
        let t = parse_response(&get(theirs.addr, &format!("GET {path} HTTP/1.0\r\n\r\n")));
        let cpython = t.header("Content-type").unwrap().to_string();
        assert!(!cpython.contains(';'), "{path}: {cpython}");
        let text_like = !matches!(ext, "png" | "bin");
        assert_eq!(gets_charset(&cpython), text_like, "{path} is {cpython} in CPython");
        let expected = if text_like { format!("{cpython}; charset=utf-8") } else { cpython.clone() };
        for (srv, want, what) in
            [(&utf8, &expected, "default"), (&explicit, &expected, "utf-8"), (&none, &cpython, "none")]
        {
            for method in ["GET", "HEAD"] {
                let r = srv.req(&format!("{method} {path} HTTP/1.0\r\n\r\n"));
                assert_eq!(r.status(), 200, "{what} {method} {path}");
                assert_eq!(r.header("Content-type"), Some(want.as_str()), "{what} {method} {path}: {r:?}");
            }
        }
    }
    // A ranged reply of a text file says it too.
    let r = utf8.req("GET /f.txt HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n");
    assert_eq!((r.status(), r.header("Content-type")), (206, Some("text/plain; charset=utf-8")), "{r:?}");
    // Listings and error pages: CPython's header in every mode.
    for target in ["/", "/nope"] {
        let t = parse_response(&get(theirs.addr, &format!("GET {target} HTTP/1.0\r\n\r\n")));
        let field = if target == "/" { "Content-type" } else { "Content-Type" };
        let want = t.header(field).unwrap().to_string();
        for srv in [&utf8, &none] {
            let r = srv.get(target);
            assert_eq!(headers_named(&r, &["Content-type"]), [(field, want.as_str())], "{target}: {r:?}");
        }
    }
}

#[test]
fn charset_bad_choice_is_a_usage_error() {
    let dir = TempDir::new("feat-charset-arg");
    assert_usage_error(
        dir.path(),
        &["--charset", "latin-1"],
        "argument --charset: invalid choice: 'latin-1' (choose from 'utf-8', 'none')",
        true,
    );
}

// ---------------------------------------------------------------------
// Dotfiles

fn dotfile_site() -> TempDir {
    let root = TempDir::new("feat-dot");
    write_file(root.path(), ".env", b"SECRET=1\n");
    write_file(root.path(), ".git/config", b"[core]\n");
    write_file(root.path(), ".ssh/id_ed25519", b"key\n");
    write_file(root.path(), "sub/.hidden", b"hidden\n");
    write_file(root.path(), "sub/shown.txt", b"shown\n");
    write_file(root.path(), "a.txt", b"hello\n");
    root
}

const DOT_WARNINGS: [&str; 3] = [
    "httpserver: warning: serving .env (a dotfile); --hide-dotfiles hides it",
    "httpserver: warning: serving .git (a dotfile); --hide-dotfiles hides it",
    "httpserver: warning: serving .ssh (a dotfile); --hide-dotfiles hides it",
];

fn warnings(log: &[String]) -> Vec<String> {
    let mut w: Vec<String> = log.iter().filter(|l| l.contains("warning")).cloned().collect();
    w.sort();
    w
}

/// Without --hide-dotfiles dot names are served and listed as CPython
/// does, and start-up warns once for each of .git, .env, .ssh present.
#[test]
fn dotfiles_served_by_default_with_a_start_up_warning_each() {
    let root = dotfile_site();
    let srv = Server::on(root.path(), &[]);
    assert_eq!(warnings(&srv.log(3)), DOT_WARNINGS, "one line per name");
    for (path, body) in [("/.env", "SECRET=1\n"), ("/.git/config", "[core]\n"), ("/sub/.hidden", "hidden\n")]
    {
        let r = srv.get(path);
        assert_eq!((r.status(), text(&r).as_str()), (200, body), "{path}");
    }
    let listing = text(&srv.get("/"));
    for entry in ["<a href=\".env\">.env</a>", "<a href=\".git/\">.git/</a>", "<a href=\".ssh/\">.ssh/</a>"] {
        assert!(listing.contains(entry), "{entry}: {listing}");
    }
    assert!(text(&srv.get("/sub/")).contains("<a href=\".hidden\">.hidden</a>"));
    // Only .env present: only its warning. A dotfile in a subdirectory,
    // or another dot name, is no reason to warn.
    let only_env = TempDir::new("feat-dot-env");
    write_file(only_env.path(), ".env", b"x\n");
    write_file(only_env.path(), ".other", b"x\n");
    write_file(only_env.path(), "sub/.git/config", b"x\n");
    let srv = Server::on(only_env.path(), &[]);
    assert_eq!(warnings(&srv.log(1)), DOT_WARNINGS[..1]);
    // None present: no warning.
    let clean = TempDir::new("feat-dot-none");
    write_file(clean.path(), "a.txt", b"x\n");
    let srv = Server::on(clean.path(), &[]);
    assert_eq!(srv.log(0), Vec::<String>::new());
}

/// --hide-dotfiles: a path with any segment starting with `.` is the 404
/// of a missing file; listings (HTML, rich, JSON) leave them out; no
/// start-up warning.
#[test]
fn hide_dotfiles_answers_404_and_lists_none() {
    let root = dotfile_site();
    let srv = Server::on(root.path(), &["--hide-dotfiles"]);
    let missing = srv.get("/nope");
    assert_not_found(&missing, "/nope");
    for path in [
        "/.env",
        "/.git",
        "/.git/",
        "/.git/config",
        "/.ssh/id_ed25519",
        "/sub/.hidden",
        "/sub/.hidden/",
        "/%2eenv",
        "/%2Egit/config",
        "/sub/%2ehidden",
        "/sub/../.env",
        "/.env?x=1",
        "//.env",
    ] {
        let r = srv.get(path);
        assert_not_found(&r, path);
        assert_eq!(r.body, missing.body, "{path}: not told apart from a missing file");
        let head = srv.req(&format!("HEAD {path} HTTP/1.0\r\n\r\n"));
        assert_eq!(head.status(), 404, "HEAD {path}");
    }
    for (path, body) in [("/a.txt", "hello\n"), ("/sub/shown.txt", "shown\n")] {
        let r = srv.get(path);
        assert_eq!((r.status(), text(&r).as_str()), (200, body), "{path}");
    }
    for target in ["/", "/sub/"] {
        let page = text(&srv.get(target));
        assert!(page.contains("<ul>"), "{target}: {page}");
        assert!(!page.contains("href=\"."), "{target}: {page}");
        let names = json_names(&srv.get(&format!("{target}?format=json")));
        assert!(names.iter().all(|n| !n.starts_with('.')), "{target}: {names:?}");
        assert!(!names.is_empty(), "{target}");
    }
    assert_eq!(warnings(&srv.log(0)), Vec::<String>::new(), "no warning with --hide-dotfiles");
    let rich = Server::on(root.path(), &["--hide-dotfiles", "--rich-listing"]);
    for target in ["/", "/sub/"] {
        let page = text(&rich.get(target));
        assert!(page.contains("shown.txt") || page.contains("a.txt"), "{target}: {page}");
        for name in [".env", ".git", ".ssh", ".hidden"] {
            assert!(!page.contains(name), "{target} lists {name}: {page}");
        }
    }
}

// ---------------------------------------------------------------------
// Listings: rich and JSON

/// A directory for listing tests: files of known sizes and times, two
/// directories, a link, hostile and non-UTF-8 names; `sorted/` holds
/// only the entries the sort tests order.
fn listing_site() -> TempDir {
    use std::os::unix::ffi::OsStrExt;
    let root = TempDir::new("feat-list");
    let p = root.path();
    write_file(p, "small.txt", b"hello");
    write_file(p, "mid.dat", &[b'm'; 1300]);
    write_file(p, "big.bin", &[b'b'; 2000]);
    write_file(p, "adir/inner.txt", b"inner\n");
    fs::create_dir_all(p.join("zdir")).unwrap();
    write_file(p, "<b>&x'.txt", b"hostile\n");
    write_file(p, "q\"b\\s.txt", b"quote\n");
    std::os::unix::fs::symlink("small.txt", p.join("link.txt")).unwrap();
    fs::write(p.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), b"latin-1\n").unwrap();
    set_mtime(&p.join("small.txt"), 1_700_000_000);
    set_mtime(&p.join("mid.dat"), 1_700_000_060);
    set_mtime(&p.join("big.bin"), 1_600_000_000);
    for (name, size, mtime) in
        [("small.txt", 5, 1_700_000_000), ("mid.dat", 1300, 1_700_000_060), ("big.bin", 2000, 1_600_000_000)]
    {
        write_file(p, &format!("sorted/{name}"), &vec![b'x'; size]);
        set_mtime(&p.join("sorted").join(name), mtime);
    }
    fs::create_dir_all(p.join("sorted/adir")).unwrap();
    fs::create_dir_all(p.join("sorted/zdir")).unwrap();
    root
}

/// One entry of a JSON listing, as Python's `json` module read it.
#[derive(Debug, PartialEq)]
struct Entry {
    name: String,
    kind: String,
    size: String,
    modified: String,
    symlink: String,
    keys: String,
}

/// Parse a JSON listing with Python's `json` (so the body must be valid
/// JSON: a list of objects).
fn json_entries(r: &Response) -> Vec<Entry> {
    const SCRIPT: &str = r#"
import json, sys
d = json.load(sys.stdin)
assert isinstance(d, list), type(d)
for e in d:
    assert isinstance(e, dict), e
    assert isinstance(e.get("name"), str), e
    print("\t".join([e["name"], str(e.get("type")), str(e.get("size")), str(e.get("modified")),
                     str(e.get("symlink")), ",".join(sorted(e))]))
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not a JSON listing: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        text(r)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "{l:?}");
            Entry {
                name: f[0].into(),
                kind: f[1].into(),
                size: f[2].into(),
                modified: f[3].into(),
                symlink: f[4].into(),
                keys: f[5].into(),
            }
        })
        .collect()
}

fn json_names(r: &Response) -> Vec<String> {
    assert_eq!(r.status(), 200, "{r:?}");
    json_entries(r).into_iter().map(|e| e.name).collect()
}

/// The names CPython's page lists, in its order (display text unescaped,
/// the `/` or `@` it appends removed).
fn default_page_names(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("<li><a href=\""))
        .map(|l| {
            let shown = l.split_once("\">").unwrap().1.strip_suffix("</a></li>").unwrap();
            let shown = shown.strip_suffix(['/', '@']).unwrap_or(shown);
            shown
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#x27;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

/// The hrefs of CPython's page, in its order.
fn default_page_hrefs(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("<li><a href=\""))
        .map(|l| l.split_once('"').unwrap().0.to_string())
        .collect()
}

/// Every `href="..."` value of a page, in order.
fn hrefs(page: &str) -> Vec<String> {
    page.split("href=\"").skip(1).map(|s| s.split_once('"').unwrap().0.to_string()).collect()
}

/// Entry hrefs of a rich page: not the sort links, not the parent.
fn entry_hrefs(page: &str) -> Vec<String> {
    hrefs(page).into_iter().filter(|h| !h.starts_with('?') && h != "../").collect()
}

/// Whether the page links to `?sort=COLUMN&order=ORDER` (the `&` raw or
/// as `&amp;`).
fn has_sort_link(page: &str, column: &str, order: &str) -> bool {
    hrefs(page).iter().any(|h| h.replace("&amp;", "&") == format!("?sort={column}&order={order}"))
}

#[test]
fn json_listing_is_valid_json_with_types_sizes_and_times() {
    let root = listing_site();
    for flags in [&[][..], &["--rich-listing"]] {
        let srv = Server::on(root.path(), flags);
        let r = srv.get("/?format=json");
        assert_eq!(r.status(), 200, "{flags:?}: {r:?}");
        assert_eq!(r.header("Content-type"), Some("application/json; charset=utf-8"), "{flags:?}");
        assert_eq!(r.header("Content-Length"), Some(r.body.len().to_string().as_str()), "{flags:?}");
        let entries = json_entries(&r);
        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("{flags:?}: no {name:?} in {entries:#?}"))
        };
        let file = |name: &str, size: &str, modified: &str| Entry {
            name: name.into(),
            kind: "file".into(),
            size: size.into(),
            modified: modified.into(),
            symlink: "None".into(),
            keys: "modified,name,size,type".into(),
        };
        assert_eq!(*find("small.txt"), file("small.txt", "5", "2023-11-14T22:13:20Z"), "{flags:?}");
        assert_eq!(*find("mid.dat"), file("mid.dat", "1300", "2023-11-14T22:14:20Z"), "{flags:?}");
        assert_eq!(*find("big.bin"), file("big.bin", "2000", "2020-09-13T12:26:40Z"), "{flags:?}");
        for name in ["adir", "zdir"] {
            let e = find(name);
            assert_eq!((e.kind.as_str(), e.size.as_str()), ("directory", "None"), "{flags:?}: {e:?}");
            assert!(!e.keys.contains("size") && e.keys.contains("modified"), "{flags:?}: {e:?}");
            assert!(e.modified.ends_with('Z') && e.modified.len() == 20, "{flags:?}: {e:?}");
        }
        let link = find("link.txt");
        assert_eq!((link.kind.as_str(), link.symlink.as_str()), ("file", "True"), "{flags:?}: {link:?}");
        // Hostile names are JSON-escaped and come back whole; a name that
        // is not UTF-8 is decoded lossily.
        find("<b>&x'.txt");
        find("q\"b\\s.txt");
        find("caf\u{fffd}.txt");
        assert_eq!(entries.len(), 10, "{flags:?}: {entries:#?}");
        // HEAD: same head, no body.
        let raw = srv.raw("HEAD /?format=json HTTP/1.0\r\n\r\n");
        let h = parse_response(&raw);
        assert_eq!(h.status(), 200, "{flags:?}");
        assert_eq!(h.header("Content-type"), Some("application/json; charset=utf-8"));
        assert_eq!(h.header("Content-Length"), r.header("Content-Length"));
        assert!(h.body.is_empty(), "{flags:?}: {}", show(&raw));
        // `format=json` on a file is the file; a directory without its
        // slash is redirected as usual, query kept.
        let f = srv.get("/small.txt?format=json");
        assert_eq!((f.status(), f.body.as_slice()), (200, &b"hello"[..]), "{flags:?}");
        let d = srv.get("/adir?format=json");
        assert_eq!((d.status(), d.header("Location")), (301, Some("/adir/?format=json")), "{flags:?}");
    }
    // The charset rule applies: none leaves application/json bare.
    let srv = Server::on(root.path(), &["--charset", "none"]);
    assert_eq!(srv.get("/?format=json").header("Content-type"), Some("application/json"));
}

/// In the default mode the JSON listing is in the order of CPython's page
/// (the same server's HTML listing).
#[test]
fn json_listing_sorted_as_the_html_page() {
    let root = listing_site();
    let srv = Server::on(root.path(), &[]);
    let html = default_page_names(&text(&srv.get("/")));
    assert_eq!(html.len(), 10, "{html:?}");
    assert_eq!(json_names(&srv.get("/?format=json")), html);
    let html = default_page_names(&text(&srv.get("/sorted/")));
    assert_eq!(json_names(&srv.get("/sorted/?format=json")), html);
}

/// The default page stays CPython's byte for byte when the query asks for
/// a sort (only --rich-listing sorts), and `format` other than json is the
/// page.
#[test]
fn default_listing_ignores_sort_and_other_formats() {
    let root = listing_site();
    let srv = Server::on(root.path(), &[]);
    let theirs = ServerProcess::cpython(root.path(), &[]);
    for target in ["/sorted/?sort=size&order=desc", "/sorted/?format=xml"] {
        let o = srv.raw(&format!("GET {target} HTTP/1.0\r\n\r\n"));
        let t = get(theirs.addr, &format!("GET {target} HTTP/1.0\r\n\r\n"));
        assert_eq!(show(&normalise_response(&o)), show(&normalise_response(&t)), "{target}");
    }
}

#[test]
fn rich_listing_has_a_table_with_sizes_times_and_colour_scheme() {
    let root = listing_site();
    let srv = Server::on(root.path(), &["--rich-listing"]);
    let r = srv.get("/");
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(r.header("Content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("Content-Length"), Some(r.body.len().to_string().as_str()));
    let page = text(&r);
    for needle in [
        "<table",
        "<meta name=\"color-scheme\" content=\"light dark\">",
        ":root{color-scheme:light dark}",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "Name",
        "Size",
        "Modified",
        "1.3 KiB",
        "title=\"1300",
        "title=\"2000",
        "2023-11-14 22:13",
        "2023-11-14 22:14",
        "2020-09-13 12:26",
    ] {
        assert!(page.contains(needle), "{needle:?} missing: {page}");
    }
    assert!(!page.to_ascii_lowercase().contains("<script"), "no JavaScript: {page}");
    for column in ["name", "size", "modified"] {
        assert!(hrefs(&page).iter().any(|h| h.starts_with(&format!("?sort={column}&"))), "{column}: {page}");
    }
    // No parent row at the root; one in a subdirectory.
    assert!(!hrefs(&page).contains(&"../".to_string()), "{page}");
    let sub = text(&srv.get("/adir/"));
    assert!(hrefs(&sub).contains(&"../".to_string()), "{sub}");
    assert!(entry_hrefs(&sub) == ["inner.txt"], "{sub}");
    // Hostile names escaped; hrefs quoted as CPython's page quotes them.
    assert!(page.contains("&lt;b&gt;&amp;x"), "{page}");
    assert!(!page.contains("<b>&"), "{page}");
    let theirs = ServerProcess::cpython(root.path(), &[]);
    let cpython = String::from_utf8_lossy(&parse_response(&get(theirs.addr, "GET / HTTP/1.0\r\n\r\n")).body)
        .into_owned();
    let (mut ours, mut want) = (entry_hrefs(&page), default_page_hrefs(&cpython));
    ours.sort();
    want.sort();
    assert_eq!(ours, want, "the same links as CPython's page");
    // A hostile query is not reflected raw.
    let r = srv.get("/?sort=%22%3E%3Cscript%3Ealert(1)%3C/script%3E&order=%3Cscript%3E");
    assert!(!text(&r).to_ascii_lowercase().contains("<script"), "{}", text(&r));
}

/// Positions of `names` (entry hrefs) in `page`, which must list each once.
fn order_of(page: &str, names: &[&str]) -> Vec<String> {
    let mut found: Vec<(usize, String)> = names
        .iter()
        .map(|n| {
            let needle = format!("href=\"{n}\"");
            assert_eq!(page.matches(&needle).count(), 1, "{needle}: {page}");
            (page.find(&needle).unwrap(), n.to_string())
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

#[test]
fn rich_listing_sorts_directories_first() {
    let root = listing_site();
    let srv = Server::on(root.path(), &["--rich-listing"]);
    let names = ["adir/", "zdir/", "big.bin", "mid.dat", "small.txt"];
    let page = |q: &str| {
        let r = srv.get(&format!("/sorted/{q}"));
        assert_eq!(r.status(), 200, "{q}: {r:?}");
        text(&r)
    };
    // Default: by name, ascending, directories first; the name column's
    // link flips to descending.
    let p = page("");
    assert_eq!(order_of(&p, &names), ["adir/", "zdir/", "big.bin", "mid.dat", "small.txt"]);
    assert!(has_sort_link(&p, "name", "desc") && !has_sort_link(&p, "name", "asc"), "{p}");
    assert!(hrefs(&p).contains(&"../".to_string()), "parent link in a subdirectory: {p}");
    let p = page("?sort=name&order=desc");
    assert_eq!(order_of(&p, &names), ["zdir/", "adir/", "small.txt", "mid.dat", "big.bin"]);
    assert!(has_sort_link(&p, "name", "asc"), "{p}");
    let p = page("?sort=size&order=desc");
    let got = order_of(&p, &names);
    assert_eq!(got[2..], ["big.bin", "mid.dat", "small.txt"], "{got:?}");
    assert!(got[..2].iter().all(|n| n.ends_with('/')), "directories first: {got:?}");
    assert!(has_sort_link(&p, "size", "asc") && !has_sort_link(&p, "size", "desc"), "{p}");
    let p = page("?sort=size&order=asc");
    assert_eq!(order_of(&p, &names)[2..], ["small.txt", "mid.dat", "big.bin"]);
    assert!(has_sort_link(&p, "size", "desc"), "{p}");
    let p = page("?sort=modified&order=asc");
    assert_eq!(order_of(&p, &names)[2..], ["big.bin", "small.txt", "mid.dat"]);
    let p = page("?sort=modified&order=desc");
    assert_eq!(order_of(&p, &names)[2..], ["mid.dat", "small.txt", "big.bin"]);
    // JSON sorts by the same key as the page, but is for scripts: no
    // directories-first grouping, the same whatever the listing mode.
    for q in ["", "?sort=size&order=desc", "?sort=modified&order=asc", "?sort=name&order=desc"] {
        let files: Vec<String> = order_of(&page(q), &names)
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .map(|n| n.to_string())
            .collect();
        let sep = if q.is_empty() { "?" } else { "&" };
        let json = json_names(&srv.get(&format!("/sorted/{q}{sep}format=json")));
        let json_files: Vec<String> = json.iter().filter(|n| !n.ends_with("dir")).cloned().collect();
        assert_eq!(json_files, files, "{q}");
        assert_eq!(json.len(), names.len(), "{q}: {json:?}");
    }
}

// ---------------------------------------------------------------------
// --spa

fn spa_site() -> TempDir {
    let root = TempDir::new("feat-spa");
    write_file(root.path(), "index.html", b"<h1>app</h1>\n");
    write_file(root.path(), "a.txt", b"hello\n");
    write_file(root.path(), "sub/x.txt", b"x\n");
    root
}

#[test]
fn spa_answers_missing_paths_with_the_file() {
    let root = spa_site();
    let srv = Server::on(root.path(), &["--spa", "index.html", "-H", "X-A", "1"]);
    let index = srv.get("/index.html");
    for path in ["/app/route", "/nope", "/sub/missing", "/app/route?x=1", "/deep/a/b/c.js"] {
        let r = srv.get(path);
        assert_eq!(r.status_line, "HTTP/1.0 200 OK", "{path}: {r:?}");
        assert_eq!(r.body, b"<h1>app</h1>\n", "{path}");
        assert_eq!(r.header("Content-type"), Some("text/html; charset=utf-8"), "{path}: its own type");
        assert_eq!(r.header("Last-Modified"), index.header("Last-Modified"), "{path}: its own validators");
        assert_eq!(r.header("X-A"), Some("1"), "{path}: extra headers on the fallback");
        let h = srv.req(&format!("HEAD {path} HTTP/1.0\r\n\r\n"));
        assert_eq!((h.status(), h.header("Content-Length")), (200, Some("13")), "HEAD {path}");
        assert!(h.body.is_empty(), "HEAD {path}");
    }
    // Existing files and directories as usual.
    assert_eq!(text(&srv.get("/a.txt")), "hello\n");
    let listing = srv.get("/sub/");
    assert!(text(&listing).contains("Directory listing for /sub/"), "{listing:?}");
    let redirect = srv.get("/sub");
    assert_eq!((redirect.status(), redirect.header("Location")), (301, Some("/sub/")));
    // Other methods are not rescued.
    assert_eq!(srv.req("POST /app/route HTTP/1.0\r\nContent-Length: 0\r\n\r\n").status(), 501);
    // Logged as the 200 it is, no 404 error line.
    let log = srv.log_with("\"GET /deep/a/b/c.js HTTP/1.0\" 200");
    assert!(log.contains(&"127.0.0.1 - - [TIME] \"GET /app/route HTTP/1.0\" 200 -".to_string()), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("code 404")), "{log:?}");
}

#[test]
fn spa_file_must_be_a_regular_file_in_the_directory() {
    let root = spa_site();
    let outside = TempDir::new("feat-spa-outside");
    write_file(outside.path(), "app.html", b"outside\n");
    let escape = format!("../{}/app.html", outside.path().file_name().unwrap().to_str().unwrap());
    assert!(root.path().join(&escape).is_file(), "the test's own path");
    for spa in ["missing.html", "sub", "sub/", "", escape.as_str()] {
        assert_usage_error(root.path(), &["--spa", spa], "--spa", false);
    }
    // A file in a subdirectory is fine.
    let srv = Server::on(root.path(), &["--spa", "sub/x.txt"]);
    assert_eq!(text(&srv.get("/missing")), "x\n");
}

// ---------------------------------------------------------------------
// -d FILE

#[test]
fn directory_option_naming_a_file_serves_only_that_file() {
    let root = TempDir::new("feat-single");
    write_file(root.path(), "some/file.txt", b"single\n");
    write_file(root.path(), "some/other.txt", b"other\n");
    write_file(root.path(), "some/sub/deeper.txt", b"deeper\n");
    write_file(root.path(), "some/index.html", b"index\n");
    let srv = Server::spawn(&["-b", "127.0.0.1", "-d", "some/file.txt", "0"], Some(root.path()));
    let port = srv.port;
    assert_eq!(
        srv.stdout_lines(1)[0],
        format!("Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ..."),
        "start line unchanged"
    );
    for path in ["/", "/file.txt", "/file.txt?x=1"] {
        let r = srv.get(path);
        assert_eq!(r.status(), 200, "{path}: {r:?}");
        assert_eq!(r.body, b"single\n", "{path}");
        assert_eq!(r.header("Content-type"), Some("text/plain; charset=utf-8"), "{path}");
        assert_eq!(srv.req(&format!("HEAD {path} HTTP/1.0\r\n\r\n")).status(), 200, "HEAD {path}");
    }
    for path in [
        "/other",
        "/other.txt",
        "/index.html",
        "/sub",
        "/sub/",
        "/sub/deeper.txt",
        "/file.txt/",
        "/some/file.txt",
    ] {
        assert_not_found(&srv.get(path), path);
    }
}

// ---------------------------------------------------------------------
// -q/--quiet

#[test]
fn quiet_logs_errors_but_no_request_lines() {
    let root = TempDir::new("feat-quiet");
    write_file(root.path(), "a.txt", b"hello\n");
    // Without -q, the same requests log three lines.
    let loud = Server::on(root.path(), &[]);
    assert_eq!(loud.get("/a.txt").status(), 200);
    assert_eq!(loud.get("/nope").status(), 404);
    assert_eq!(
        loud.log(3),
        [
            "127.0.0.1 - - [TIME] \"GET /a.txt HTTP/1.0\" 200 -",
            "127.0.0.1 - - [TIME] code 404, message File not found",
            "127.0.0.1 - - [TIME] \"GET /nope HTTP/1.0\" 404 -",
        ]
    );
    for flag in ["-q", "--quiet"] {
        let srv = Server::on(root.path(), &[flag]);
        assert_eq!(srv.get("/a.txt").status(), 200);
        assert_eq!(srv.get("/").status(), 200);
        assert_eq!(srv.get("/nope").status(), 404);
        assert_eq!(
            srv.log_with("code 404"),
            ["127.0.0.1 - - [TIME] code 404, message File not found"],
            "{flag}"
        );
    }
}

// ---------------------------------------------------------------------
// Start-up lines, port 0

#[test]
fn start_up_on_loopback_prints_its_local_url() {
    let dir = TempDir::new("feat-start-lo");
    let srv = Server::on(dir.path(), &[]);
    let port = srv.port;
    assert_ne!(port, 0, "port 0 asks for a free port; the lines show it");
    assert_eq!(srv.get("/").status(), 200, "it serves on the printed port");
    assert_eq!(
        srv.stdout_lines(2),
        [
            format!("Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ..."),
            format!("  Local:   http://127.0.0.1:{port}/"),
        ]
    );
}

/// A non-loopback address of this machine (the source address of the
/// default route; no packet is sent), if there is one.
fn non_loopback_v4() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    match ip {
        IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() && !v4.is_link_local() => Some(ip),
        _ => None,
    }
}

/// The `  Network: ` lines after the `  Local:   ` ones: URLs of this
/// port, no loopback or link-local address, IPv4 before IPv6.
fn check_network_lines(lines: &[String], port: u16, ipv6_too: bool) {
    let mut seen_v6 = false;
    for line in lines {
        let url = line.strip_prefix("  Network: http://").unwrap_or_else(|| panic!("{line:?} in {lines:?}"));
        let host = url.strip_suffix(&format!(":{port}/")).unwrap_or_else(|| panic!("{line:?}"));
        let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().unwrap();
        assert!(!ip.is_loopback() && !ip.is_unspecified(), "{line:?}");
        match ip {
            IpAddr::V4(v4) => {
                assert!(!seen_v6, "IPv4 before IPv6: {lines:?}");
                assert!(!v4.is_link_local(), "{line:?}");
                assert!(!host.starts_with('['), "{line:?}");
            }
            IpAddr::V6(v6) => {
                seen_v6 = true;
                assert!(ipv6_too, "IPv6 address for an IPv4 socket: {line:?}");
                assert!(host.starts_with('[') && host.ends_with(']'), "{line:?}");
                assert_ne!(v6.segments()[0] & 0xffc0, 0xfe80, "link-local skipped: {line:?}");
            }
        }
    }
    if let Some(ip) = non_loopback_v4() {
        let want = format!("  Network: http://{ip}:{port}/");
        assert!(lines.contains(&want), "{want:?} missing from {lines:?}");
    }
}

/// The default bind (all interfaces, dual stack) prints CPython's line,
/// then the loopback URLs, then the network ones.
#[test]
fn start_up_on_all_interfaces_prints_local_and_network_urls() {
    let dir = TempDir::new("feat-start-all");
    let srv = Server::spawn(&["-d", dir.path().to_str().unwrap(), "0"], None);
    let port = srv.port;
    assert_ne!(port, 0);
    assert_eq!(srv.get("/").status(), 200, "IPv4 loopback client");
    let lines = srv.stdout_lines(2);
    if lines[0].starts_with("Serving HTTP on :: ") {
        assert_eq!(lines[0], format!("Serving HTTP on :: port {port} (http://[::]:{port}/) ..."));
        assert_eq!(lines[1], format!("  Local:   http://127.0.0.1:{port}/"), "{lines:?}");
        assert_eq!(lines.get(2), Some(&format!("  Local:   http://[::1]:{port}/")), "{lines:?}");
        check_network_lines(&lines[3..], port, true);
    } else {
        // No IPv6 here: CPython falls back to 0.0.0.0 too.
        assert_eq!(lines[0], format!("Serving HTTP on 0.0.0.0 port {port} (http://0.0.0.0:{port}/) ..."));
        assert_eq!(lines[1], format!("  Local:   http://127.0.0.1:{port}/"), "{lines:?}");
        check_network_lines(&lines[2..], port, false);
    }
}

#[test]
fn start_up_on_ipv4_any_prints_no_ipv6_urls() {
    let dir = TempDir::new("feat-start-any4");
    let srv = Server::spawn(&["-b", "0.0.0.0", "-d", dir.path().to_str().unwrap(), "0"], None);
    let port = srv.port;
    assert_eq!(srv.get("/").status(), 200);
    let lines = srv.stdout_lines(2);
    assert_eq!(lines[0], format!("Serving HTTP on 0.0.0.0 port {port} (http://0.0.0.0:{port}/) ..."));
    assert_eq!(lines[1], format!("  Local:   http://127.0.0.1:{port}/"), "{lines:?}");
    check_network_lines(&lines[2..], port, false);
}

/// Bound to one address that is not loopback: CPython's line alone.
#[test]
fn start_up_on_one_address_prints_only_cpythons_line() {
    let Some(ip) = non_loopback_v4() else {
        eprintln!("no non-loopback IPv4 address here: skipped");
        return;
    };
    let dir = TempDir::new("feat-start-one");
    let ip = ip.to_string();
    let srv = Server::spawn(&["-b", &ip, "-d", dir.path().to_str().unwrap(), "0"], None);
    let port = srv.port;
    let r = parse_response(&get(format!("{ip}:{port}").parse().unwrap(), "GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(r.status(), 200);
    assert_eq!(srv.stdout_lines(1), [format!("Serving HTTP on {ip} port {port} (http://{ip}:{port}/) ...")]);
}

// ---------------------------------------------------------------------
// Refused symbolic links

fn link_site() -> (TempDir, TempDir) {
    let root = TempDir::new("feat-link");
    let outside = TempDir::new("feat-link-outside");
    write_file(outside.path(), "secret.txt", b"outside\n");
    write_file(root.path(), "a.txt", b"hello\n");
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("link")).unwrap();
    fs::create_dir_all(root.path().join("links")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("links/escape.txt"))
        .unwrap();
    std::os::unix::fs::symlink("../a.txt", root.path().join("links/inside.txt")).unwrap();
    (root, outside)
}

const NOTICE: &str =
    "symbolic link leads outside the served directory (refused; --follow-symlinks serves it)";

/// Whether `line` is the notice for `path`: the spec writes the path in
/// double quotes; Python's `%r` (single quotes) is accepted too.
fn is_notice(line: &str, path: &str) -> bool {
    line.contains(&format!("\"{path}\": {NOTICE}")) || line.contains(&format!("'{path}': {NOTICE}"))
}

#[test]
fn refused_symlink_is_a_404_with_a_log_notice() {
    let (root, _outside) = link_site();
    let srv = Server::on(root.path(), &[]);
    assert_not_found(&srv.get("/link"), "/link");
    let log = srv.log_with(NOTICE);
    let notices: Vec<&String> = log.iter().filter(|l| l.contains("symbolic link")).collect();
    assert_eq!(notices.len(), 1, "{log:?}");
    assert!(is_notice(notices[0], "/link"), "{log:?}");
    assert!(log.contains(&"127.0.0.1 - - [TIME] code 404, message File not found".to_string()), "{log:?}");
    assert!(log.contains(&"127.0.0.1 - - [TIME] \"GET /link HTTP/1.0\" 404 -".to_string()), "{log:?}");
    // Nested: the request's path is named.
    assert_not_found(&srv.get("/links/escape.txt"), "/links/escape.txt");
    let log = srv.log_with("\"GET /links/escape.txt HTTP/1.0\" 404");
    assert!(log.iter().any(|l| is_notice(l, "/links/escape.txt")), "{log:?}");
    // A missing file, or a link that stays inside, is no such notice.
    assert_eq!(srv.get("/links/inside.txt").status(), 200);
    assert_eq!(srv.get("/nope").status(), 404);
    let log = srv.log_with("\"GET /nope HTTP/1.0\" 404");
    assert_eq!(log.iter().filter(|l| l.contains("symbolic link")).count(), 2, "{log:?}");
}

#[test]
fn refused_symlink_notice_survives_quiet_and_follow_symlinks_serves() {
    let (root, _outside) = link_site();
    let quiet = Server::on(root.path(), &["-q"]);
    assert_not_found(&quiet.get("/link"), "/link");
    let log = quiet.log_with(NOTICE);
    assert!(log.iter().any(|l| is_notice(l, "/link")), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("\"GET /link")), "-q: no request line: {log:?}");
    let follow = Server::on(root.path(), &["--follow-symlinks"]);
    let r = follow.get("/link");
    assert_eq!((r.status(), text(&r).as_str()), (200, "outside\n"));
    let log = follow.log(1);
    assert!(!log.iter().any(|l| l.contains("symbolic link")), "{log:?}");
}

// ---------------------------------------------------------------------
// The differential suite's normaliser for the charset

/// `without_added_charset` removes exactly `; charset=utf-8` from the
/// Content-type of file replies (heads with Last-Modified) of text-like
/// types, and nothing from listings, error pages, other types or bodies.
#[test]
fn charset_normaliser_removes_exactly_the_added_charset() {
    let file = |ty: &str| {
        format!("HTTP/1.1 200 OK\r\nContent-type: {ty}\r\nContent-Length: 2\r\nLast-Modified: x\r\n\r\nab")
    };
    for ty in
        ["text/plain", "text/javascript", "application/json", "application/manifest+json", "image/svg+xml"]
    {
        let ours = file(&format!("{ty}; charset=utf-8"));
        assert_eq!(show(&without_added_charset(ours.as_bytes())), file(ty), "{ty}");
    }
    for unchanged in [
        file("image/png; charset=utf-8"),
        file("text/plain; charset=latin-1"),
        file("text/plain; charset=utf-8; charset=utf-8"),
        file("text/plain"),
        "HTTP/1.0 200 OK\r\nContent-type: text/html; charset=utf-8\r\nContent-Length: 2\r\n\r\nab".to_string(),
        "HTTP/1.0 404 File not found\r\nContent-Type: text/html;charset=utf-8\r\n\r\nx".to_string(),
        "HTTP/1.0 206 Partial Content\r\nLast-Modified: x\r\nContent-type: multipart/byteranges; boundary=B\r\n\r\n\
         --B\r\nContent-type: text/plain; charset=utf-8\r\n\r\nab"
            .to_string(),
    ] {
        assert_eq!(show(&without_added_charset(unchanged.as_bytes())), unchanged);
    }
    // Pipelined: each head judged on its own.
    let listing = "HTTP/1.1 200 OK\r\nContent-type: text/html; charset=utf-8\r\nContent-Length: 2\r\n\r\nab";
    let ours = format!("{listing}{}", file("text/css; charset=utf-8"));
    assert_eq!(show(&without_added_charset(ours.as_bytes())), format!("{listing}{}", file("text/css")));
    let ours = format!("{}{listing}", file("text/css; charset=utf-8"));
    assert_eq!(show(&without_added_charset(ours.as_bytes())), format!("{}{listing}", file("text/css")));
    // The validators go too in the default normaliser, not in the `_only` one.
    let ours = "HTTP/1.0 200 OK\r\nContent-type: text/plain; charset=utf-8\r\nETag: \"1\"\r\nAccept-Ranges: bytes\r\nLast-Modified: x\r\n\r\n";
    assert_eq!(
        show(&without_validator_headers(ours.as_bytes())),
        "HTTP/1.0 200 OK\r\nContent-type: text/plain\r\nLast-Modified: x\r\n\r\n"
    );
    assert_eq!(
        show(&without_validator_headers_only(ours.as_bytes())),
        "HTTP/1.0 200 OK\r\nContent-type: text/plain; charset=utf-8\r\nLast-Modified: x\r\n\r\n"
    );
}
