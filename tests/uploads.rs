//! `--upload`: PUT and multipart POST uploads, driven as real clients do
//! (curl `-T` and `-F`, Python `requests`) and as hostile or broken ones
//! do (raw sockets): what is stored, what is refused, and what is left
//! behind when an upload does not finish.
//!
//! The guarantees checked here, from the behaviour spec:
//! - an upload is stored whole or not at all: a client that goes away, a
//!   server stopped mid-upload, a cap exceeded leave neither the file nor
//!   a temporary file (directories are listed dotfiles included);
//! - memory stays flat however big the upload (1 GiB in, RSS growth under
//!   16 MiB), with Content-Length and with chunked bodies;
//! - concurrent uploads do not mix: distinct names all arrive intact; one
//!   name raced by many clients ends as exactly one client's bytes;
//! - no name, path, multipart filename or symbolic link makes the server
//!   write outside the served directory;
//! - the statuses of the spec (201, 204, 303, 400, 403, 404, 405, 409,
//!   413, 415, and CPython's 501 without `--upload`).
//!
//! Clients come from `tools/test-deps.sh` (curl, python3-requests); each
//! runs under `timeout`, sockets have read and write timeouts, servers are
//! killed by pid when their test ends.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

// ---------------------------------------------------------------------------
// Clients

/// Longest an ordinary client run may take before `timeout` stops it.
const CLIENT_SECONDS: &str = "60";
/// Longest a 1 GiB upload may take (seconds on loopback; the margin is for
/// a loaded CI machine and the debug build).
const BIG_CLIENT_SECONDS: &str = "240";
/// Read timeout of raw-socket exchanges.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Run `program args` under `timeout` with no proxy from the environment.
/// Panics when it cannot be run or runs out of time.
fn run_for(seconds: &str, program: &str, args: &[&str]) -> Output {
    let out = Command::new("timeout")
        .args(["-k", "5", seconds, program])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env("NO_PROXY", "*")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running timeout {program}: {e}"));
    match out.status.code() {
        Some(124) | Some(137) => panic!("{program} {args:?} still running after {seconds} s"),
        Some(126) | Some(127) => panic!(
            "{program} could not be run (run tools/test-deps.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        _ => out,
    }
}

/// [`run_for`], which must exit 0.
fn run_ok_for(seconds: &str, program: &str, args: &[&str]) -> Output {
    let out = run_for(seconds, program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run_ok(program: &str, args: &[&str]) -> Output {
    run_ok_for(CLIENT_SECONDS, program, args)
}

/// curl (no `.curlrc`, no proxy, silent but for errors) with `args`, the
/// response head dumped (`-D`) and the body saved (`-o`): must exit 0.
fn curl_for(seconds: &str, args: &[&str]) -> (Response, Vec<u8>) {
    let out = TempDir::new("uploads-curl");
    let (head, body) = (out.path().join("head"), out.path().join("body"));
    let mut all = vec!["-q", "-sS", "--noproxy", "*", "-D", path_str(&head), "-o", path_str(&body)];
    all.extend_from_slice(args);
    run_ok_for(seconds, "curl", &all);
    let dump = fs::read(&head).unwrap();
    // With `Expect: 100-continue` curl dumps the interim `100` head too.
    let last = match find_last(&dump, b"\r\n\r\nHTTP/") {
        Some(at) => &dump[at + 4..],
        None => &dump[..],
    };
    let head = parse_response(last);
    assert!(head.body.is_empty(), "more than one final response head: {}", show(&dump));
    (head, fs::read(&body).unwrap_or_default())
}

fn curl(args: &[&str]) -> (Response, Vec<u8>) {
    curl_for(CLIENT_SECONDS, args)
}

fn url(server: &ServerProcess, path: &str) -> String {
    format!("http://{}{}", server.addr, path)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The file's bytes, or a panic naming it.
fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `%XX` decoded (for comparing `Location` values, which may be quoted).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// Raw requests

/// A request head for `addr`: `METHOD target HTTP/1.1`, `Host`, the
/// `extra` fields, `Connection: close` (so the server closes after its
/// reply and a read to close is one response).
fn head(method: &str, target: &str, addr: SocketAddr, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut h = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in extra {
        h.push_str(&format!("{name}: {value}\r\n"));
    }
    h.push_str("Connection: close\r\n\r\n");
    h.into_bytes()
}

/// Send `request` whole (a write refused by a server that answered early
/// is ignored) and read the one response to the close.
fn send(addr: SocketAddr, request: &[u8]) -> Response {
    let raw = exchange(addr, request, false, IO_TIMEOUT);
    parse_response(&raw)
}

/// `PUT target` with `body` (Content-Length framing) and `extra` fields.
fn put_with(addr: SocketAddr, target: &str, body: &[u8], extra: &[(&str, &str)]) -> Response {
    let len = body.len().to_string();
    let mut fields = vec![("Content-Length", len.as_str())];
    fields.extend_from_slice(extra);
    let mut req = head("PUT", target, addr, &fields);
    req.extend_from_slice(body);
    send(addr, &req)
}

fn put(addr: SocketAddr, target: &str, body: &[u8]) -> Response {
    put_with(addr, target, body, &[])
}

/// `body` as chunks of `chunk` bytes, with the last chunk and no trailer.
fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / chunk * 8 + 16);
    for piece in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// One part of a `multipart/form-data` body. `filename` is put between
/// the quotes as it is (bytes, so that hostile ones can be sent).
struct Part<'a> {
    name: &'a str,
    filename: Option<&'a [u8]>,
    data: &'a [u8],
}

fn file_part<'a>(filename: &'a str, data: &'a [u8]) -> Part<'a> {
    Part { name: "file", filename: Some(filename.as_bytes()), data }
}

const BOUNDARY: &str = "----httpserver-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body with [`BOUNDARY`], closed properly.
fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut body = multipart_open(parts);
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// [`multipart`] without the close delimiter: every part ends with its
/// CRLF, and the body stops there.
fn multipart_open(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{}\"", part.name).as_bytes());
        if let Some(filename) = part.filename {
            body.extend_from_slice(b"; filename=\"");
            body.extend_from_slice(filename);
            body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream");
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(part.data);
        body.extend_from_slice(b"\r\n");
    }
    body
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// `POST target` of a multipart `body` with `extra` fields.
fn post_body(addr: SocketAddr, target: &str, body: &[u8], extra: &[(&str, &str)]) -> Response {
    let (len, ctype) = (body.len().to_string(), multipart_type());
    let mut fields = vec![("Content-Type", ctype.as_str()), ("Content-Length", len.as_str())];
    fields.extend_from_slice(extra);
    let mut req = head("POST", target, addr, &fields);
    req.extend_from_slice(body);
    send(addr, &req)
}

fn post(addr: SocketAddr, target: &str, parts: &[Part], extra: &[(&str, &str)]) -> Response {
    post_body(addr, target, &multipart(parts), extra)
}

/// A connection for a hand-driven exchange, with bounded reads and writes.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Read one response head (to its blank line) from `s`; panics on EOF.
fn read_head(s: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            other => panic!("no complete response head ({other:?}) after {}", show(&raw)),
        }
    }
    parse_response(&raw)
}

fn assert_status(what: &str, r: &Response, want: u16) {
    assert_eq!(r.status(), want, "{what}: {} {:?} {}", r.status_line, r.headers, show(&r.body));
}

fn assert_status_in(what: &str, r: &Response, want: &[u16]) {
    assert!(want.contains(&r.status()), "{what}: {} (want one of {want:?}) {}", r.status_line, show(&r.body));
}

// ---------------------------------------------------------------------------
// Directories

/// The names in `dir`, dotfiles included, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| String::from_utf8_lossy(e.unwrap().file_name().as_bytes()).into_owned())
        .collect();
    names.sort();
    names
}

/// Wait (up to 5 s) for `dir` to hold exactly `want`, then check that it
/// still does a moment later (a late commit of an abandoned upload would
/// show then): an unfinished upload leaves no file and no temporary file.
fn assert_settles_to(what: &str, dir: &Path, want: &[&str]) {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    let deadline = Instant::now() + Duration::from_secs(5);
    while entries(dir) != want && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(300));
    assert_eq!(entries(dir), want, "{what}: left in {}", dir.display());
}

/// Every entry under `dir` (not following links), by relative path: a
/// file's bytes, a link's target (`-> target`), `<dir>` for a directory.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel =
                String::from_utf8_lossy(path.strip_prefix(base).unwrap().as_os_str().as_bytes()).into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(rel, [b"-> ", target.as_os_str().as_bytes()].concat());
            } else if meta.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                walk(base, &path, out);
            } else {
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A sibling pair: `base/root` (served) and `base/outside` (never served),
/// removed with `base`.
struct Tree {
    base: TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn tree(tag: &str) -> Tree {
    let base = TempDir::new(tag);
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    Tree { base, root, outside }
}

/// Log lines until one contains `needle` (5 s at most), joined.
fn log_with(server: &ServerProcess, needle: &str) -> String {
    server.take_log_until(needle, Duration::from_secs(5)).join("\n")
}

// ---------------------------------------------------------------------------
// PUT

/// `curl -T`: 201 with `Location`, the file stored byte for byte, the
/// request line and the `uploaded ... (N bytes)` notice logged. A second
/// PUT of the same name is refused (409) and leaves the first.
#[test]
fn curl_put_creates_the_file() {
    let root = TempDir::new("uploads-put-root");
    fs::create_dir(root.path().join("sub")).unwrap();
    let src = TempDir::new("uploads-put-src");
    let data = random_bytes(0x0b0e, 300_007);
    let file = src.path().join("data.bin");
    fs::write(&file, &data).unwrap();
    let server = ServerProcess::ours(root.path(), &["--upload"]);

    let (head, _) = curl(&["-T", path_str(&file), &url(&server, "/sub/put.bin")]);
    assert_status("curl -T", &head, 201);
    assert_eq!(head.header("Location"), Some("/sub/put.bin"));
    assert_same_bytes("stored file", &read(&root.path().join("sub/put.bin")), &data);
    assert_eq!(entries(&root.path().join("sub")), ["put.bin"], "only the file, no temporary");
    let log = log_with(&server, "uploaded /sub/put.bin");
    assert!(log.contains("\"PUT /sub/put.bin HTTP/1.1\" 201"), "{log}");
    assert!(log.contains(&format!("uploaded /sub/put.bin ({} bytes)", data.len())), "{log}");

    let (again, _) = curl(&["-T", path_str(&src.path().join("data.bin")), &url(&server, "/sub/put.bin")]);
    assert_status("second curl -T", &again, 409);
    assert_same_bytes("file after the refused PUT", &read(&root.path().join("sub/put.bin")), &data);
}

/// Names that need quoting: stored decoded, `Location` the same path.
/// An empty body makes an empty file. A chunked body is stored decoded.
#[test]
fn put_quoted_names_empty_and_chunked_bodies() {
    let root = TempDir::new("uploads-names");
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let addr = server.addr;

    let r = put(addr, "/a%20b%20%C3%A9t%C3%A9.txt", b"spaced\n");
    assert_status("quoted name", &r, 201);
    let location = r.header("Location").expect("Location");
    assert_eq!(percent_decode(location), "/a b \u{e9}t\u{e9}.txt".as_bytes(), "Location {location:?}");
    assert_eq!(read(&root.path().join("a b \u{e9}t\u{e9}.txt")), b"spaced\n");

    assert_status("empty body", &put(addr, "/empty.txt", b""), 201);
    assert_eq!(read(&root.path().join("empty.txt")), b"");

    let data = random_bytes(7, 100_003);
    let mut req = head("PUT", "/chunked.bin", addr, &[("Transfer-Encoding", "chunked")]);
    req.extend_from_slice(&chunked(&data, 4099));
    assert_status("chunked PUT", &send(addr, &req), 201);
    assert_same_bytes("chunked upload", &read(&root.path().join("chunked.bin")), &data);

    let mut want = vec!["a b \u{e9}t\u{e9}.txt", "chunked.bin", "empty.txt"];
    want.sort();
    assert_eq!(entries(root.path()), want);
}

/// Replacing a file: refused without `--upload-overwrite` (409, file
/// unchanged), done with it (204, no body, the new bytes). A name that is
/// a directory, a directory URL, a missing parent: 409 either way.
#[test]
fn overwrite_needs_the_flag_and_directories_conflict() {
    for overwrite in [false, true] {
        let root = TempDir::new("uploads-overwrite");
        fs::write(root.path().join("old.txt"), b"old contents\n").unwrap();
        fs::create_dir(root.path().join("sub")).unwrap();
        let flags: &[&str] = if overwrite { &["--upload", "--upload-overwrite"] } else { &["--upload"] };
        let server = ServerProcess::ours(root.path(), flags);
        let addr = server.addr;

        let r = put(addr, "/old.txt", b"new contents\n");
        if overwrite {
            assert_status("overwrite allowed", &r, 204);
            assert!(r.body.is_empty(), "a 204 has no body: {}", show(&r.body));
            assert_eq!(read(&root.path().join("old.txt")), b"new contents\n");
        } else {
            assert_status("overwrite refused", &r, 409);
            assert_eq!(read(&root.path().join("old.txt")), b"old contents\n");
        }
        for target in ["/sub", "/sub/", "/missing/new.txt", "/sub/missing/new.txt"] {
            let r = put(addr, target, b"x");
            assert_status(&format!("PUT {target} (overwrite {overwrite})"), &r, 409);
        }
        assert!(root.path().join("sub").is_dir());
        assert!(entries(&root.path().join("sub")).is_empty(), "{:?}", entries(&root.path().join("sub")));
        assert_eq!(entries(root.path()), ["old.txt", "sub"]);
    }
}

// ---------------------------------------------------------------------------
// Multipart POST

/// `curl -F file=@a -F file=@b URL/dir/`: 201, `text/plain`, the stored
/// names one per line; with a browser's `Accept` 303 to the directory. A
/// form field without a filename is not stored.
#[test]
fn curl_multipart_post_stores_each_file() {
    let root = TempDir::new("uploads-post-root");
    fs::create_dir(root.path().join("dir")).unwrap();
    let src = TempDir::new("uploads-post-src");
    let (a, b) = (random_bytes(1, 70_001), b"second file\n".to_vec());
    fs::write(src.path().join("a.bin"), &a).unwrap();
    fs::write(src.path().join("b.txt"), &b).unwrap();
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let form_a = format!("file=@{}", path_str(&src.path().join("a.bin")));
    let form_b = format!("file=@{}", path_str(&src.path().join("b.txt")));

    let (head, body) = curl(&["-F", &form_a, "-F", &form_b, "-F", "note=not a file", &url(&server, "/dir/")]);
    assert_status("curl -F", &head, 201);
    let ctype = head.header("Content-Type").unwrap_or("");
    assert!(ctype.starts_with("text/plain"), "Content-Type {ctype:?}");
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.lines().collect::<Vec<_>>(), ["a.bin", "b.txt"], "reply body {text:?}");
    assert_same_bytes("a.bin", &read(&root.path().join("dir/a.bin")), &a);
    assert_eq!(read(&root.path().join("dir/b.txt")), b);
    assert_eq!(entries(&root.path().join("dir")), ["a.bin", "b.txt"]);
    // The spec words the notice for one file; a form may get one notice
    // for all its files: the request line, and a notice naming the directory.
    let log = log_with(&server, "uploaded ");
    assert!(log.contains("\"POST /dir/ HTTP/1.1\" 201"), "{log}");
    assert!(log.lines().any(|l| l.contains("uploaded ") && l.contains("/dir/")), "{log}");

    // A browser's form: 303 back to the listing.
    fs::rename(src.path().join("a.bin"), src.path().join("c.bin")).unwrap();
    let form_c = format!("file=@{}", path_str(&src.path().join("c.bin")));
    let accept = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let (head, _) = curl(&["-H", accept, "-F", &form_c, &url(&server, "/dir/")]);
    assert_status("browser form", &head, 303);
    assert_eq!(head.header("Location"), Some("/dir/"));
    assert_same_bytes("c.bin", &read(&root.path().join("dir/c.bin")), &a);
    assert_eq!(entries(&root.path().join("dir")), ["a.bin", "b.txt", "c.bin"]);
}

/// The POST statuses of the spec: a missing directory 404, a file 405, a
/// body that is not multipart 415, a multipart body cut before its close
/// delimiter 400; none stores anything. The root takes POSTs too.
#[test]
fn multipart_post_refusals() {
    let root = TempDir::new("uploads-post-refusals");
    fs::create_dir(root.path().join("dir")).unwrap();
    fs::write(root.path().join("file.txt"), b"a file\n").unwrap();
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let addr = server.addr;
    let parts = [file_part("x.txt", b"x\n")];

    assert_status("POST to a missing directory", &post(addr, "/nodir/", &parts, &[]), 404);
    assert_status("POST to a file", &post(addr, "/file.txt", &parts, &[]), 405);

    let form = b"file=x.txt";
    let len = form.len().to_string();
    let mut req = head(
        "POST",
        "/dir/",
        addr,
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", &len)],
    );
    req.extend_from_slice(form);
    assert_status("POST without multipart", &send(addr, &req), 415);

    // Cut after a whole part, and cut inside a part's data.
    let open = multipart_open(&[file_part("x.txt", b"x\n"), file_part("y.txt", b"y\n")]);
    assert_status("no close delimiter", &post_body(addr, "/dir/", &open, &[]), 400);
    let cut = &open[..open.len() - 3];
    assert_status("cut inside a part", &post_body(addr, "/dir/", cut, &[]), 400);

    assert!(entries(&root.path().join("dir")).is_empty(), "{:?}", entries(&root.path().join("dir")));
    assert_eq!(entries(root.path()), ["dir", "file.txt"]);

    let r = post(addr, "/", &parts, &[]);
    assert_status("POST to the root", &r, 201);
    assert_eq!(String::from_utf8_lossy(&r.body).lines().collect::<Vec<_>>(), ["x.txt"]);
    assert_eq!(read(&root.path().join("x.txt")), b"x\n");
}

/// A file input left empty (browsers send the part with `filename=""`
/// and no content) stores nothing and fails nothing: the form's other
/// files are stored, and a form of that part alone stores nothing. (The
/// spec's "empty name: 400" is read as about names given, as the
/// implementation does: a browser sends this for every form submitted
/// without a file chosen.)
#[test]
fn empty_file_input_is_skipped() {
    let root = TempDir::new("uploads-empty-input");
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let empty = Part { name: "file", filename: Some(b""), data: b"" };
    let r = post(server.addr, "/", &[file_part("good.txt", b"good\n"), empty], &[]);
    assert_status("a file and an empty input", &r, 201);
    assert_eq!(String::from_utf8_lossy(&r.body).lines().collect::<Vec<_>>(), ["good.txt"]);
    let empty = Part { name: "file", filename: Some(b""), data: b"" };
    // The spec does not say whether a form that stores nothing is a 201
    // (with no names) or a 400; it must store nothing.
    let r = post(server.addr, "/", &[empty], &[]);
    assert_status_in("an empty input alone", &r, &[201, 400]);
    if r.status() == 201 {
        assert!(String::from_utf8_lossy(&r.body).trim().is_empty(), "{}", show(&r.body));
    }
    assert_eq!(entries(root.path()), ["good.txt"]);
    assert_eq!(read(&root.path().join("good.txt")), b"good\n");
}

/// The listing carries the upload form (before the closing `<hr>`) when
/// uploads are on, in both listing kinds; never when they are off.
#[test]
fn listing_shows_the_form_only_with_upload() {
    const FORM: &str = "<form method=\"post\" enctype=\"multipart/form-data\"><input type=\"file\" name=\"file\" multiple> <button type=\"submit\">Upload</button></form>";
    let root = TempDir::new("uploads-form");
    fs::write(root.path().join("a.txt"), b"a\n").unwrap();
    fs::create_dir(root.path().join("dir")).unwrap();
    for (flags, form) in [
        (&["--upload"][..], true),
        (&["--upload", "--rich-listing"][..], true),
        (&[][..], false),
        (&["--rich-listing"][..], false),
    ] {
        let server = ServerProcess::ours(root.path(), flags);
        for path in ["/", "/dir/"] {
            let r = parse_response(&get(server.addr, &format!("GET {path} HTTP/1.0\r\n\r\n")));
            assert_status(&format!("{flags:?} GET {path}"), &r, 200);
            let page = String::from_utf8_lossy(&r.body).into_owned();
            if form {
                let at = page.find(FORM).unwrap_or_else(|| panic!("{flags:?} {path}: no form in {page}"));
                let hr = page.rfind("<hr>").unwrap_or_else(|| panic!("{flags:?} {path}: no <hr> in {page}"));
                assert!(at < hr, "{flags:?} {path}: the form comes after the closing <hr>: {page}");
                assert_eq!(page.matches("<form").count(), 1, "{flags:?} {path}: {page}");
            } else {
                assert!(!page.contains("<form"), "{flags:?} {path}: a form without --upload: {page}");
                assert!(!page.contains("multipart/form-data"), "{flags:?} {path}: {page}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Python requests

const REQUESTS_SCRIPT: &str = r#"
import sys, requests
base, path = sys.argv[1], sys.argv[2]
s = requests.Session()
s.trust_env = False  # no proxy, no .netrc
def show(name, r):
    print(name, r.status_code, r.headers.get("Location", "-"), ",".join(r.text.splitlines()) or "-", sep="\t")
with open(path, "rb") as f:
    show("put", s.put(base + "/dir/put.bin", data=f, timeout=30))
def gen():
    for i in range(50):
        yield bytes([i]) * 1000
show("put-chunked", s.put(base + "/dir/gen.bin", data=gen(), timeout=30))
with open(path, "rb") as f:
    files = [("file", ("one.bin", f)), ("file", ("two.txt", b"two\n")), ("note", (None, "a field"))]
    show("post", s.post(base + "/dir/", files=files, timeout=30))
files = [("file", ("three.txt", b"three\n"))]
show("post-html", s.post(base + "/dir/", files=files, headers={"Accept": "text/html"}, allow_redirects=False, timeout=30))
with open(path, "rb") as f:
    show("put-again", s.put(base + "/dir/put.bin", data=f, timeout=30))
"#;

/// Python `requests` over one keep-alive session: PUT of a file (with
/// Content-Length), PUT of a generator (chunked), a multipart POST with a
/// form field, a browser-like POST (303), a PUT of an existing name (409).
#[test]
fn python_requests_put_and_post() {
    let root = TempDir::new("uploads-requests-root");
    fs::create_dir(root.path().join("dir")).unwrap();
    let src = TempDir::new("uploads-requests-src");
    let data = random_bytes(0xfeed, 200_003);
    let file = src.path().join("data.bin");
    fs::write(&file, &data).unwrap();
    let server = ServerProcess::ours(root.path(), &["--upload"]);

    let out = run_ok("python3", &["-c", REQUESTS_SCRIPT, &url(&server, ""), path_str(&file)]);
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: BTreeMap<&str, Vec<&str>> = text
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap(), f.collect())
        })
        .collect();
    assert_eq!(rows["put"], ["201", "/dir/put.bin", rows["put"][2]], "{text}");
    assert_eq!(rows["put-chunked"][..2], ["201", "/dir/gen.bin"], "{text}");
    assert_eq!(rows["post"][0], "201", "{text}");
    assert_eq!(rows["post"][2], "one.bin,two.txt", "{text}");
    assert_eq!(rows["post-html"][..2], ["303", "/dir/"], "{text}");
    assert_eq!(rows["put-again"][0], "409", "{text}");

    let dir = root.path().join("dir");
    assert_same_bytes("put.bin", &read(&dir.join("put.bin")), &data);
    let gen: Vec<u8> = (0..50u8).flat_map(|i| [i; 1000]).collect();
    assert_same_bytes("gen.bin", &read(&dir.join("gen.bin")), &gen);
    assert_same_bytes("one.bin", &read(&dir.join("one.bin")), &data);
    assert_eq!(read(&dir.join("two.txt")), b"two\n");
    assert_eq!(read(&dir.join("three.txt")), b"three\n");
    assert_eq!(entries(&dir), ["gen.bin", "one.bin", "put.bin", "three.txt", "two.txt"]);
}

// ---------------------------------------------------------------------------
// 1 GiB, memory flat

const GIB: u64 = 1 << 30;
/// Most the server's resident set may grow during a 1 GiB upload.
const RSS_GROWTH_LIMIT_KIB: u64 = 16 * 1024;

/// `VmRSS` of `pid`, in KiB.
fn vm_rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// Samples a process's `VmRSS` every few milliseconds until finished.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<(u64, usize)>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let (mut max, mut samples) = (0, 0);
            while !flag.load(Ordering::SeqCst) {
                max = max.max(vm_rss_kib(pid));
                samples += 1;
                thread::sleep(Duration::from_millis(5));
            }
            (max, samples)
        });
        RssSampler { stop, thread }
    }

    /// (largest VmRSS seen in KiB, samples taken).
    fn finish(self) -> (u64, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// The server's VmRSS after a warm-up upload (so buffers made once are
/// counted in the baseline, not as growth).
fn warmed_baseline(server: &ServerProcess) -> u64 {
    let warm = random_bytes(3, 4 << 20);
    assert_status("warm-up PUT", &put(server.addr, "/warm.bin", &warm), 201);
    thread::sleep(Duration::from_millis(100));
    vm_rss_kib(server.pid())
}

fn assert_flat(what: &str, baseline: u64, (max, samples): (u64, usize)) {
    eprintln!("{what}: VmRSS {baseline} KiB before, {max} KiB at most during ({samples} samples)");
    assert!(samples >= 10, "{what}: only {samples} RSS samples: the upload was not observed");
    assert!(
        max.saturating_sub(baseline) < RSS_GROWTH_LIMIT_KIB,
        "{what}: the server's RSS grew by {} KiB (from {baseline} to {max})",
        max - baseline
    );
}

/// `curl -T` of a 1 GiB file (sparse, with random blocks at a few offsets
/// so that misplaced bytes show): Content-Length framing, at the default
/// cap (exactly 1 GiB is allowed). The server's RSS stays flat; the stored
/// file is byte for byte the source (`cmp`).
#[test]
fn gigabyte_put_with_content_length_keeps_memory_flat() {
    let root = TempDir::new("uploads-gib-cl");
    let src = TempDir::new("uploads-gib-cl-src");
    let source = src.path().join("big.bin");
    {
        let mut f = fs::File::create(&source).unwrap();
        f.set_len(GIB).unwrap();
        for (k, offset) in [0, (1 << 20) - 3, 300_000_007, GIB / 2 + 1, GIB - 65_536].into_iter().enumerate()
        {
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&random_bytes(k as u64 + 100, 65_536)).unwrap();
        }
    }
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let baseline = warmed_baseline(&server);
    let sampler = RssSampler::start(server.pid());
    let started = Instant::now();
    let (head, _) = curl_for(BIG_CLIENT_SECONDS, &["-T", path_str(&source), &url(&server, "/big.bin")]);
    let took = started.elapsed();
    let rss = sampler.finish();
    eprintln!("1 GiB PUT (Content-Length) in {took:?}");
    assert_status("1 GiB curl -T", &head, 201);
    assert_flat("1 GiB PUT (Content-Length)", baseline, rss);
    let stored = root.path().join("big.bin");
    assert_eq!(fs::metadata(&stored).unwrap().len(), GIB, "stored size");
    let cmp = run_for(CLIENT_SECONDS, "cmp", &[path_str(&source), path_str(&stored)]);
    assert!(cmp.status.success(), "stored file differs: {}", String::from_utf8_lossy(&cmp.stdout));
    assert_eq!(entries(root.path()), ["big.bin", "warm.bin"]);
    let log = log_with(&server, "uploaded /big.bin");
    assert!(log.contains(&format!("uploaded /big.bin ({GIB} bytes)")), "{log}");
}

const GENERATOR_SCRIPT: &str = r#"
import sys, hashlib, random, requests
url, total = sys.argv[1], int(sys.argv[2])
block = bytearray(random.Random(12).randbytes(1 << 20))
digest = hashlib.sha256()
def body():
    sent, i = 0, 0
    while sent < total:
        n = min(len(block), total - sent)
        block[0:8] = i.to_bytes(8, "little")  # every MiB differs
        chunk = bytes(block[:n])
        digest.update(chunk)
        yield chunk
        sent, i = sent + n, i + 1
s = requests.Session()
s.trust_env = False
r = s.put(url, data=body(), timeout=120)
print(r.status_code, digest.hexdigest(), sep="\t")
"#;

const FILE_DIGEST_SCRIPT: &str = r#"
import sys, hashlib
with open(sys.argv[1], "rb") as f:
    print(hashlib.file_digest(f, "sha256").hexdigest())
"#;

/// Python `requests` streaming 1 GiB from a generator (chunked framing,
/// every MiB different): the server's RSS stays flat, the stored file has
/// the size and SHA-256 of what was sent.
#[test]
fn gigabyte_chunked_put_from_a_generator_keeps_memory_flat() {
    let root = TempDir::new("uploads-gib-chunked");
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let baseline = warmed_baseline(&server);
    let sampler = RssSampler::start(server.pid());
    let started = Instant::now();
    let out = run_ok_for(
        BIG_CLIENT_SECONDS,
        "python3",
        &["-c", GENERATOR_SCRIPT, &url(&server, "/stream.bin"), &GIB.to_string()],
    );
    let took = started.elapsed();
    let rss = sampler.finish();
    eprintln!("1 GiB PUT (chunked) in {took:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, sent_digest) =
        text.trim().split_once('\t').unwrap_or_else(|| panic!("script said {text:?}"));
    assert_eq!(status, "201", "{text}");
    assert_flat("1 GiB PUT (chunked)", baseline, rss);
    let stored = root.path().join("stream.bin");
    assert_eq!(fs::metadata(&stored).unwrap().len(), GIB, "stored size");
    let digest = run_ok("python3", &["-c", FILE_DIGEST_SCRIPT, path_str(&stored)]);
    assert_eq!(String::from_utf8(digest.stdout).unwrap().trim(), sent_digest, "SHA-256 of the stored file");
    assert_eq!(entries(root.path()), ["stream.bin", "warm.bin"]);
}

// ---------------------------------------------------------------------------
// Unfinished uploads

const HALF: usize = 5 << 20;
const DECLARED: usize = 10 << 20;

/// How an abandoned upload is framed.
#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    Chunked,
    /// A multipart POST whose first part (`first.txt`) is whole and whose
    /// second (`second.bin`) is cut: neither may be kept.
    Multipart,
}

const FRAMINGS: [Framing; 3] = [Framing::ContentLength, Framing::Chunked, Framing::Multipart];

/// Open a connection and send half of a 10 MiB upload of `/half.bin` (or
/// of the multipart pair to `/`); return the connection, still open.
fn start_half_upload(addr: SocketAddr, framing: Framing) -> TcpStream {
    let mut s = connect(addr);
    let data = random_bytes(0xab, HALF);
    let declared = DECLARED.to_string();
    match framing {
        Framing::ContentLength => {
            s.write_all(&head("PUT", "/half.bin", addr, &[("Content-Length", &declared)])).unwrap();
            s.write_all(&data).unwrap();
        }
        Framing::Chunked => {
            s.write_all(&head("PUT", "/half.bin", addr, &[("Transfer-Encoding", "chunked")])).unwrap();
            let mut framed = chunked(&data, 65_536);
            framed.truncate(framed.len() - 5); // no last chunk
            framed.extend_from_slice(b"1000\r\nonly part of a chunk");
            s.write_all(&framed).unwrap();
        }
        Framing::Multipart => {
            let ctype = multipart_type();
            let fields = [("Content-Type", ctype.as_str()), ("Content-Length", declared.as_str())];
            s.write_all(&head("POST", "/", addr, &fields)).unwrap();
            let mut body = multipart_open(&[file_part("first.txt", b"a whole part\n")]);
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"second.bin\"\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(&data);
            s.write_all(&body).unwrap();
        }
    }
    s
}

/// A client that goes away halfway (Content-Length, chunked, multipart):
/// while the upload runs the name does not exist yet; after it, neither
/// the file nor a temporary file is left, and the name is free (a new PUT
/// gets 201).
#[test]
fn client_abort_halfway_leaves_nothing() {
    let root = TempDir::new("uploads-abort");
    fs::write(root.path().join("keep.txt"), b"keep\n").unwrap();
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    for framing in FRAMINGS {
        let s = start_half_upload(server.addr, framing);
        thread::sleep(Duration::from_millis(200));
        for name in ["half.bin", "first.txt", "second.bin"] {
            assert!(!root.path().join(name).exists(), "{framing:?}: {name} visible before the upload ended");
        }
        drop(s);
        assert_settles_to(&format!("{framing:?} abort"), root.path(), &["keep.txt"]);
    }
    assert_status("PUT after the aborts", &put(server.addr, "/half.bin", b"whole\n"), 201);
    assert_eq!(read(&root.path().join("half.bin")), b"whole\n");
    let r = post(server.addr, "/", &[file_part("first.txt", b"1\n"), file_part("second.bin", b"2\n")], &[]);
    assert_status("POST after the aborts", &r, 201);
    assert_eq!(entries(root.path()), ["first.txt", "half.bin", "keep.txt", "second.bin"]);
}

/// SIGTERM while uploads are half sent (the clients stay connected, idle):
/// the server stops, and leaves neither file nor temporary file.
#[test]
fn server_stopped_mid_upload_leaves_nothing() {
    for framing in FRAMINGS {
        let root = TempDir::new("uploads-stop");
        fs::write(root.path().join("keep.txt"), b"keep\n").unwrap();
        let mut server = ServerProcess::ours(root.path(), &["--upload"]);
        let s = start_half_upload(server.addr, framing);
        thread::sleep(Duration::from_millis(200));
        let ok = Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.is_running() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!server.is_running(), "{framing:?}: still running 20 s after SIGTERM");
        drop(s);
        assert_eq!(entries(root.path()), ["keep.txt"], "{framing:?}: left after the stop");
    }
}

// ---------------------------------------------------------------------------
// Concurrency

/// `PUT target` of `data` on a fresh connection: the head and the first
/// half of the body, then a wait at `halfway` (for every other client to
/// be halfway too), then the rest; the response. So the uploads are all
/// in progress at once, interleaved on the server however it spreads
/// connections over its workers.
fn put_in_halves(addr: SocketAddr, target: &str, data: &[u8], halfway: &Barrier) -> Response {
    let mut s = connect(addr);
    let len = data.len().to_string();
    s.write_all(&head("PUT", target, addr, &[("Content-Length", &len)])).unwrap();
    let (first, rest) = data.split_at(data.len() / 2);
    // A server that answers (409) before reading the body may stop reading:
    // the writes may fail, the reply is what counts.
    let _ = s.write_all(first);
    halfway.wait();
    let _ = s.write_all(rest);
    parse_response(&read_to_close(&mut s))
}

/// 50 uploads of distinct names at once (all halfway before any ends),
/// each its own random bytes and size: all 201, all intact, nothing else
/// left.
#[test]
fn fifty_concurrent_uploads_arrive_intact() {
    const N: usize = 50;
    let root = TempDir::new("uploads-fifty");
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let addr = server.addr;
    let halfway = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let halfway = Arc::clone(&halfway);
            thread::spawn(move || {
                let data = random_bytes(1000 + i as u64, 32_768 + i * 4099);
                let r = put_in_halves(addr, &format!("/f{i:02}.bin"), &data, &halfway);
                (r.status(), r.status_line)
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let (status, line) = t.join().unwrap();
        assert_eq!(status, 201, "upload {i}: {line}");
    }
    for i in 0..N {
        let want = random_bytes(1000 + i as u64, 32_768 + i * 4099);
        assert_same_bytes(&format!("f{i:02}.bin"), &read(&root.path().join(format!("f{i:02}.bin"))), &want);
    }
    let want: Vec<String> = (0..N).map(|i| format!("f{i:02}.bin")).collect();
    assert_eq!(entries(root.path()), want);
}

/// What a reader of the raced file saw.
#[derive(Debug, Default)]
struct Reads {
    /// Reads that found the file.
    seen: usize,
    /// Sizes of the reads that were no client's whole bytes.
    torn: Vec<usize>,
}

impl Reads {
    fn assert_whole(&self) {
        assert!(
            self.torn.is_empty(),
            "{} of {} reads of the raced file saw bytes that are no client's whole upload (sizes {:?})",
            self.torn.len(),
            self.seen,
            &self.torn[..self.torn.len().min(10)]
        );
    }
}

/// `clients` PUTs of `/same.bin`, each its own bytes: every client sends
/// its head and half its body, all wait, then all finish at once (so any
/// existence check made early passes for all, and only the commit can
/// decide). Meanwhile a reader reads the file over and over: every read
/// must be one client's whole bytes (no torn or partial file is ever
/// visible). The statuses, the contents, and what the reader saw.
fn same_name_race(addr: SocketAddr, root: &Path, clients: usize) -> (Vec<u16>, Vec<Vec<u8>>, Reads) {
    let contents: Vec<Vec<u8>> =
        (0..clients).map(|i| random_bytes(500 + i as u64, 200_000 + i * 1009)).collect();
    let halfway = Arc::new(Barrier::new(clients));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, done, contents) = (root.join("same.bin"), Arc::clone(&done), contents.clone());
        thread::spawn(move || {
            let mut reads = Reads::default();
            while !done.load(Ordering::SeqCst) {
                if let Ok(bytes) = fs::read(&path) {
                    reads.seen += 1;
                    if !contents.contains(&bytes) {
                        reads.torn.push(bytes.len());
                    }
                }
            }
            reads
        })
    };
    let threads: Vec<_> = contents
        .iter()
        .cloned()
        .map(|data| {
            let halfway = Arc::clone(&halfway);
            thread::spawn(move || put_in_halves(addr, "/same.bin", &data, &halfway).status())
        })
        .collect();
    let statuses = threads.into_iter().map(|t| t.join().unwrap()).collect();
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().unwrap();
    (statuses, contents, seen)
}

/// 20 PUTs of one name at once without `--upload-overwrite`: exactly one
/// 201, the others 409, and the file is the 201 client's bytes.
#[test]
fn same_name_race_without_overwrite_has_one_winner() {
    let root = TempDir::new("uploads-race");
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let (statuses, contents, reads) = same_name_race(server.addr, root.path(), 20);
    reads.assert_whole();
    let winners: Vec<usize> = (0..statuses.len()).filter(|&i| statuses[i] == 201).collect();
    assert_eq!(winners.len(), 1, "statuses {statuses:?}");
    assert!(statuses.iter().all(|&s| s == 201 || s == 409), "statuses {statuses:?}");
    assert_same_bytes("the file", &read(&root.path().join("same.bin")), &contents[winners[0]]);
    assert_eq!(entries(root.path()), ["same.bin"]);
}

/// 20 PUTs of one name at once with `--upload-overwrite`: each 201 or 204
/// (the first commit 201), and the file ends as exactly one client's bytes.
#[test]
fn same_name_race_with_overwrite_ends_as_one_clients_bytes() {
    let root = TempDir::new("uploads-race-overwrite");
    let server = ServerProcess::ours(root.path(), &["--upload", "--upload-overwrite"]);
    let (statuses, contents, reads) = same_name_race(server.addr, root.path(), 20);
    eprintln!("statuses {statuses:?}; the reader saw the file {} times", reads.seen);
    reads.assert_whole();
    assert!(statuses.iter().all(|&s| s == 201 || s == 204), "statuses {statuses:?}");
    assert!(statuses.contains(&201), "nobody created the file: {statuses:?}");
    let file = read(&root.path().join("same.bin"));
    let matching = contents.iter().filter(|c| **c == file).count();
    assert_eq!(matching, 1, "the file ({} bytes) is not exactly one client's bytes", file.len());
    assert_eq!(entries(root.path()), ["same.bin"]);
}

// ---------------------------------------------------------------------------
// Hostile names

/// Request targets that must never store anything: `..` however spelled,
/// backslashes, NUL, CR, LF and other control characters, an absolute
/// path smuggled in one segment. Statuses allowed for each.
fn hostile_targets(outside: &Path) -> Vec<(String, &'static [u16])> {
    const REFUSED: &[u16] = &[400, 403, 404];
    let mut absolute = String::from("/");
    for b in outside.join("abs.txt").as_os_str().as_bytes() {
        match b {
            b'/' => absolute.push_str("%2F"),
            b'%' => absolute.push_str("%25"),
            _ => absolute.push(*b as char),
        }
    }
    let mut targets: Vec<(String, &'static [u16])> = [
        "/..%2fescape.txt",
        "/..%2Fescape.txt",
        "/%2e%2e/escape.txt",
        "/%2e%2e%2fescape.txt",
        "/../escape.txt",
        "/sub/../../escape.txt",
        "/sub/..%2f..%2fescape.txt",
        "/sub/%2e%2e/%2e%2e/escape.txt",
        "/..",
        "/%2e%2e",
        "/sub/.",
        "/sub/%2e",
        "/a%5cb.txt",
        "/..%5cescape.txt",
        "/%5c..%5c..%5cescape.txt",
        "/a%00b.txt",
        "/a.txt%00",
        "/a%0ab.txt",
        "/a%0db.txt",
        "/a%09b.txt",
        "/a%01b.txt",
        "/a%1fb.txt",
        "/a%7fb.txt",
        "/%0a",
    ]
    .iter()
    .map(|t| (t.to_string(), REFUSED))
    .collect();
    // Decoded before splitting, this is a path below the root whose parent
    // is missing (409); split first, one segment holding `/` (400).
    targets.push((absolute, &[400, 403, 404, 409]));
    targets
}

/// Multipart filenames that must be refused (400): the whole POST fails,
/// so the good part sent before the hostile one is not kept either. A
/// backslash is sent doubled so that it stays a backslash whether or not
/// the parser takes `\` as a quoted-pair escape.
const HOSTILE_FILENAMES: &[&[u8]] = &[
    b"../x",
    b"../../escape.txt",
    b"a/b",
    b"/abs.txt",
    b"..",
    b".",
    b"\\\\x",
    b"..\\\\escape.txt",
    b"a\x01b",
    b"a\x7fb",
    b"a\tb",
];

/// Hostile PUT targets and multipart filenames, with and without
/// `--upload-overwrite`: each refused, nothing created anywhere (the whole
/// tree holding the root and its sibling is unchanged).
#[test]
fn hostile_names_are_refused_and_write_nothing() {
    for flags in [&["--upload"][..], &["--upload", "--upload-overwrite"][..]] {
        let t = tree("uploads-hostile");
        fs::create_dir(t.root.join("sub")).unwrap();
        fs::write(t.root.join("a.txt"), b"a\n").unwrap();
        fs::write(t.outside.join("secret.txt"), b"secret\n").unwrap();
        let server = ServerProcess::ours(&t.root, flags);
        let addr = server.addr;
        let before = snapshot(t.base.path());

        for (target, allowed) in hostile_targets(&t.outside) {
            let r = put(addr, &target, b"hostile\n");
            assert_status_in(&format!("{flags:?} PUT {target}"), &r, allowed);
            assert_eq!(snapshot(t.base.path()), before, "{flags:?} PUT {target} changed the tree");
        }
        for filename in HOSTILE_FILENAMES {
            let parts = [
                file_part("good.txt", b"good\n"),
                Part { name: "file", filename: Some(filename), data: b"bad\n" },
            ];
            for dir in ["/", "/sub/"] {
                let r = post(addr, dir, &parts, &[]);
                let what = format!("{flags:?} POST {dir} filename {:?}", String::from_utf8_lossy(filename));
                assert_status(&what, &r, 400);
                assert_eq!(snapshot(t.base.path()), before, "{what} changed the tree");
            }
        }
        assert!(server.take_log().iter().all(|l| !l.contains("uploaded ")), "an upload was logged");
    }
}

/// Symbolic links in the root leading outside: a directory link (PUT
/// through it, POST to it), a link to a file outside (PUT over it), a
/// dangling link to a name outside (PUT to it). Refused, or (with
/// `--upload-overwrite`, over a link) the link replaced inside the root:
/// never a byte written outside.
#[test]
fn uploads_through_links_out_of_the_root_write_nothing_outside() {
    for overwrite in [false, true] {
        let t = tree("uploads-links");
        fs::write(t.outside.join("secret.txt"), b"secret\n").unwrap();
        std::os::unix::fs::symlink(&t.outside, t.root.join("out")).unwrap();
        std::os::unix::fs::symlink("../outside/secret.txt", t.root.join("secret-link")).unwrap();
        std::os::unix::fs::symlink("../outside/new.txt", t.root.join("dangling")).unwrap();
        let flags: &[&str] = if overwrite { &["--upload", "--upload-overwrite"] } else { &["--upload"] };
        let server = ServerProcess::ours(&t.root, flags);
        let addr = server.addr;
        let outside_before = snapshot(&t.outside);
        let check = |what: &str| {
            assert_eq!(snapshot(&t.outside), outside_before, "{flags:?} {what}: written outside the root");
            assert_eq!(
                entries(t.base.path()),
                ["outside", "root"],
                "{flags:?} {what}: written beside the root"
            );
        };

        let r = put(addr, "/out/escape.txt", b"through a link\n");
        assert_status_in(&format!("{flags:?} PUT through a directory link"), &r, &[400, 403, 404, 409]);
        check("PUT /out/escape.txt");
        let r = post(addr, "/out/", &[file_part("escape.txt", b"x\n")], &[]);
        assert_status_in(&format!("{flags:?} POST to a directory link"), &r, &[403, 404]);
        check("POST /out/");

        let over: &[u16] = if overwrite { &[204, 403, 404, 409] } else { &[403, 404, 409] };
        let r = put(addr, "/secret-link", b"replaced\n");
        assert_status_in(&format!("{flags:?} PUT over a link to a file outside"), &r, over);
        check("PUT /secret-link");
        let r = put(addr, "/dangling", b"dangling\n");
        let dangling: &[u16] = if overwrite { &[201, 204, 403, 404, 409] } else { &[403, 404, 409] };
        assert_status_in(&format!("{flags:?} PUT to a dangling link"), &r, dangling);
        check("PUT /dangling");
        let r = post(addr, "/", &[file_part("dangling", b"dangling\n")], &[]);
        assert_status_in(&format!("{flags:?} POST over a dangling link"), &r, dangling);
        check("POST / dangling");
        assert!(!t.outside.join("new.txt").exists());
        assert_eq!(read(&t.outside.join("secret.txt")), b"secret\n");
    }
}

// ---------------------------------------------------------------------------
// The cap

/// `--upload-max 1000`: a declared length over the cap is refused with
/// 413 before any body is sent (and, where the server speaks HTTP/1.1, no
/// `100 Continue` for `Expect`); exactly the cap is accepted (with its
/// 100 under HTTP/1.1); a chunked body past the cap is refused and leaves
/// nothing; so is a multipart POST over it. Both `--protocol`s: under
/// HTTP/1.0 (the default, as CPython) no 100 is ever sent.
#[test]
fn upload_max_caps_declared_and_chunked_bodies() {
    for protocol in ["HTTP/1.0", "HTTP/1.1"] {
        let root = TempDir::new("uploads-cap");
        let server = ServerProcess::ours(root.path(), &["--upload", "--upload-max", "1000", "-p", protocol]);
        let addr = server.addr;

        // Over the cap, with and without Expect: the 413 comes with no body
        // sent, and it is the first thing the server says.
        for expect in [true, false] {
            let mut s = connect(addr);
            let mut fields = vec![("Content-Length", "2000")];
            if expect {
                fields.push(("Expect", "100-continue"));
            }
            s.write_all(&head("PUT", "/over.bin", addr, &fields)).unwrap();
            let r = read_head(&mut s);
            assert_status(&format!("{protocol}: declared 2000 (Expect {expect})"), &r, 413);
        }
        assert_status(&format!("{protocol}: declared 1001"), &put(addr, "/over.bin", &[b'x'; 1001]), 413);

        // At the cap: stored (Expect gets its 100 first under HTTP/1.1).
        let data = random_bytes(9, 1000);
        let mut s = connect(addr);
        s.write_all(&head(
            "PUT",
            "/cap.bin",
            addr,
            &[("Content-Length", "1000"), ("Expect", "100-continue")],
        ))
        .unwrap();
        if protocol == "HTTP/1.1" {
            let interim = read_head(&mut s);
            assert_status("Expect at the cap", &interim, 100);
        }
        s.write_all(&data).unwrap();
        let r = parse_response(&read_to_close(&mut s));
        assert_status(&format!("{protocol}: PUT at the cap"), &r, 201);
        assert_eq!(read(&root.path().join("cap.bin")), data);

        // Chunked: under the cap stored, past it refused.
        let mut req = head("PUT", "/small-chunked.bin", addr, &[("Transfer-Encoding", "chunked")]);
        req.extend_from_slice(&chunked(&data[..900], 250));
        assert_status(&format!("{protocol}: chunked 900"), &send(addr, &req), 201);
        assert_eq!(read(&root.path().join("small-chunked.bin")), &data[..900]);
        let mut req = head("PUT", "/big-chunked.bin", addr, &[("Transfer-Encoding", "chunked")]);
        req.extend_from_slice(&chunked(&random_bytes(10, 2000), 250));
        assert_status(&format!("{protocol}: chunked 2000"), &send(addr, &req), 413);

        let r = post(addr, "/", &[file_part("big-post.bin", &random_bytes(11, 1900))], &[]);
        assert_status(&format!("{protocol}: multipart over the cap"), &r, 413);

        assert_settles_to(protocol, root.path(), &["cap.bin", "small-chunked.bin"]);
        let log = server.take_log();
        assert!(
            !log.iter().any(|l| l.contains("uploaded /over.bin") || l.contains("uploaded /big")),
            "{log:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Other flags and guards

/// `--hide-dotfiles`: an upload to a dot name (PUT, or a multipart
/// filename) is 403 and creates nothing; an ordinary name works.
#[test]
fn hidden_dotfiles_cannot_be_uploaded() {
    let root = TempDir::new("uploads-dotfiles");
    fs::create_dir(root.path().join(".git")).unwrap();
    let server = ServerProcess::ours(root.path(), &["--upload", "--hide-dotfiles"]);
    let addr = server.addr;
    assert_status("PUT /.env", &put(addr, "/.env", b"SECRET=1\n"), 403);
    assert_status("PUT /.htaccess", &put(addr, "/.htaccess", b"x\n"), 403);
    assert_status_in("PUT /.git/config", &put(addr, "/.git/config", b"x\n"), &[403, 404]);
    let r = post(addr, "/", &[file_part("ok.txt", b"ok\n"), file_part(".env", b"SECRET=1\n")], &[]);
    assert_status("POST a .env part", &r, 403);
    assert_eq!(entries(root.path()), [".git"]);
    assert!(entries(&root.path().join(".git")).is_empty());

    assert_status("PUT /normal.txt", &put(addr, "/normal.txt", b"normal\n"), 201);
    assert_eq!(read(&root.path().join("normal.txt")), b"normal\n");
}

/// Without `--upload` PUT and POST stay CPython's 501, and store nothing.
#[test]
fn without_upload_put_and_post_are_cpythons_501() {
    let root = TempDir::new("uploads-off");
    fs::create_dir(root.path().join("dir")).unwrap();
    let server = ServerProcess::ours(root.path(), &[]);
    let r = put(server.addr, "/new.txt", b"x\n");
    assert_eq!(r.status_line, "HTTP/1.0 501 Unsupported method ('PUT')");
    let r = post(server.addr, "/dir/", &[file_part("new.txt", b"x\n")], &[]);
    assert_eq!(r.status_line, "HTTP/1.0 501 Unsupported method ('POST')");
    assert_eq!(entries(root.path()), ["dir"]);
    assert!(entries(&root.path().join("dir")).is_empty());
}

/// An `Origin` whose host:port is not the `Host` (a page elsewhere posting
/// a form, or a script PUTting): 403, nothing stored. The same origin, or
/// no `Origin` at all (curl, scripts), is served.
#[test]
fn cross_origin_uploads_are_forbidden() {
    let root = TempDir::new("uploads-origin");
    let server = ServerProcess::ours(root.path(), &["--upload"]);
    let addr = server.addr;
    let other_port = format!("http://127.0.0.1:{}", if addr.port() == 1 { 2 } else { 1 });
    for origin in ["http://evil.example", "http://evil.example:80", other_port.as_str()] {
        let r = post(addr, "/", &[file_part("csrf.txt", b"x\n")], &[("Origin", origin)]);
        assert_status(&format!("POST with Origin {origin}"), &r, 403);
        let r = put_with(addr, "/csrf.txt", b"x\n", &[("Origin", origin)]);
        assert_status(&format!("PUT with Origin {origin}"), &r, 403);
    }
    assert!(entries(root.path()).is_empty(), "{:?}", entries(root.path()));

    let same = format!("http://{addr}");
    let r = post(addr, "/", &[file_part("same.txt", b"same\n")], &[("Origin", &same)]);
    assert_status("POST with the same origin", &r, 201);
    let r = put_with(addr, "/same-put.txt", b"same\n", &[("Origin", &same)]);
    assert_status("PUT with the same origin", &r, 201);
    assert_eq!(entries(root.path()), ["same-put.txt", "same.txt"]);
}

// ---------------------------------------------------------------------------
// Found in review: where uploads must not go

/// With `--cors`, a cross-origin PUT (which a browser sends only after a
/// preflight the server answered) is allowed, but a form POST, which
/// needs no preflight, is still refused: any page could send one.
#[test]
fn cors_allows_cross_origin_put_but_never_a_form_post() {
    let root = TempDir::new("uploads-cors");
    let server = ServerProcess::ours(root.path(), &["--upload", "--cors"]);
    let addr = server.addr;
    let origin = [("Origin", "http://app.example")];
    let r = post(addr, "/", &[file_part("csrf.txt", b"x\n")], &origin);
    assert_status("cross-origin POST with --cors", &r, 403);
    let r = put_with(addr, "/cors.txt", b"cors\n", &origin);
    assert_status("cross-origin PUT with --cors", &r, 201);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(entries(root.path()), ["cors.txt"]);
}

/// `--cgi --upload`: nothing lands in a script directory, however the
/// target spells it (no trailing slash, a query, a fragment, a nested
/// directory, a link inside the root naming it).
#[test]
fn no_upload_reaches_a_cgi_directory() {
    let root = TempDir::new("uploads-cgi");
    let cgi_bin = root.path().join("cgi-bin");
    fs::create_dir_all(cgi_bin.join("sub")).unwrap();
    std::os::unix::fs::symlink("cgi-bin", root.path().join("scripts")).unwrap();
    let before = snapshot(root.path());
    let server = ServerProcess::ours(root.path(), &["--cgi", "--upload", "--upload-overwrite"]);
    let addr = server.addr;
    let part = [file_part("evil.py", b"#!/bin/sh\necho pwned\n")];
    for target in ["/cgi-bin", "/cgi-bin/", "/cgi-bin?x/", "/cgi-bin/sub/", "/scripts/", "/htbin/../cgi-bin"]
    {
        let r = post(addr, target, &part, &[]);
        assert_status_in(&format!("POST {target}"), &r, &[400, 403, 404, 501]);
    }
    for target in [
        "/cgi-bin/evil.py",
        "/cgi-bin/sub/evil.py",
        "/scripts/evil.py",
        "/cgi-bin/evil.py#/../..",
        "/x#/../cgi-bin/evil.py",
    ] {
        let r = put(addr, target, b"#!/bin/sh\necho pwned\n");
        assert_status_in(&format!("PUT {target}"), &r, &[400, 403, 404, 501]);
    }
    assert_eq!(snapshot(root.path()), before, "nothing created");
    // Elsewhere, uploads work under --cgi.
    assert_status("PUT elsewhere", &put(addr, "/ok.txt", b"ok\n"), 201);
}

/// `-d FILE` serves one file: uploads beside it are refused at start-up.
#[test]
fn upload_with_a_single_file_is_a_usage_error() {
    let root = TempDir::new("uploads-single");
    let file = root.path().join("only.txt");
    fs::write(&file, b"only\n").unwrap();
    let out =
        run_for("10", path_str(&our_binary()), &["-d", path_str(&file), "--upload", "-b", "127.0.0.1", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--upload: not allowed when -d names a file"), "{err}");
}

/// A form whose later part names an existing directory is refused whole
/// (409), even with --upload-overwrite: its first part is not kept.
#[test]
fn form_naming_a_directory_keeps_none_of_its_files() {
    let root = TempDir::new("uploads-form-dir");
    fs::create_dir(root.path().join("dirname")).unwrap();
    let server = ServerProcess::ours(root.path(), &["--upload", "--upload-overwrite"]);
    let parts = [file_part("fresh.txt", b"fresh\n"), file_part("dirname", b"x\n")];
    let r = post(server.addr, "/", &parts, &[]);
    assert_status("form naming a directory", &r, 409);
    assert_settles_to("after the refused form", root.path(), &["dirname"]);
}

/// `--follow-symlinks` is for reading: an upload through a link out of
/// the directory is still refused, and nothing is written outside.
#[test]
fn follow_symlinks_does_not_let_uploads_out() {
    let t = tree("uploads-follow");
    std::os::unix::fs::symlink(&t.outside, t.root.join("outlink")).unwrap();
    let server = ServerProcess::ours(&t.root, &["--upload", "--follow-symlinks"]);
    let r = put(server.addr, "/outlink/x.txt", b"escaped\n");
    assert!(r.status() >= 400, "PUT through a link out: {}", r.status_line);
    let r = post(server.addr, "/outlink/", &[file_part("y.txt", b"escaped\n")], &[]);
    assert!(r.status() >= 400, "POST through a link out: {}", r.status_line);
    assert!(entries(&t.outside).is_empty(), "written outside: {:?}", entries(&t.outside));
    drop(t.base);
}
