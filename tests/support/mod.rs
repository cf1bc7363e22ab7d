//! Shared helpers for the black-box suites: a fixture tree, server
//! processes on loopback (killed by pid when dropped), a raw-bytes client
//! and response normalisation.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Our binary, built by cargo for this test target.
pub fn our_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_httpserver"))
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "httpserver-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn set_mtime(path: &Path, t: SystemTime) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t).unwrap();
}

/// Extensions of the `mime/file.EXT` fixtures (one differential scenario each).
pub const MIME_EXTENSIONS: &[&str] = &[
    "json",
    "js",
    "mjs",
    "css",
    "png",
    "svg",
    "svgz",
    "gz",
    "tgz",
    "tar.gz",
    "Z",
    "bz2",
    "xz",
    "py",
    "md",
    "wasm",
    "rs",
    "xyzunknown",
    "csv",
    "webp",
    "woff2",
    "txt.br",
    "pdf",
    "zip",
    "jpg",
    "ico",
    "c",
    "sh",
];

/// The tree both servers serve in the differential suite. `outside` is a
/// sibling directory a symbolic link escapes to.
pub fn fixture_tree(root: &Path, outside: &Path) {
    write(root, "a.txt", b"hello\n");
    write(root, "empty.txt", b"");
    write(root, "UPPER.TXT", b"upper\n");
    write(root, "noext", b"no extension\n");
    write(root, "we ird&<>.txt", b"weird\n");
    write(root, "\u{e9}t\u{e9}.txt", "unicode \u{e9}\n".as_bytes());
    write(root, "sub/index.html", b"<h1>index.html</h1>\n");
    write(root, "sub/other.txt", b"other\n");
    write(root, "htm/index.htm", b"<h1>index.htm</h1>\n");
    write(root, "both/index.html", b"html wins\n");
    write(root, "both/index.htm", b"htm loses\n");
    write(root, "dir2/B.txt", b"B\n");
    write(root, "dir2/a.txt", b"a\n");
    write(root, "dir2/c d.txt", b"c d\n");
    write(root, "dir2/&amp;.txt", b"amp\n");
    fs::create_dir_all(root.join("dir2/Sub Dir")).unwrap();
    fs::create_dir_all(root.join("emptydir")).unwrap();
    fs::create_dir_all(root.join("indexdir/index.html")).unwrap(); // a directory named index.html
    write(root, "indexdir/file.txt", b"f\n");
    for ext in MIME_EXTENSIONS {
        write(root, &format!("mime/file.{ext}"), ext.as_bytes());
    }
    write(root, "old.txt", b"from the sixties\n");
    set_mtime(&root.join("old.txt"), SystemTime::UNIX_EPOCH - Duration::from_secs(300_000_000));
    write(root, "fixed.txt", b"fixed mtime\n");
    set_mtime(&root.join("fixed.txt"), SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    // Links: inside the root, to a directory, and escaping it.
    write(outside, "secret.txt", b"outside the root\n");
    std::os::unix::fs::symlink("a.txt", root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("dir2", root.join("linkdir")).unwrap();
    fs::create_dir_all(root.join("links")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("links/escape.txt")).unwrap();
    std::os::unix::fs::symlink("../a.txt", root.join("links/inside.txt")).unwrap();
    // A name that is not UTF-8.
    let raw = root.join("raw").join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    fs::create_dir_all(root.join("raw")).unwrap();
    fs::write(raw, b"latin-1 name\n").unwrap();
    write(root, "raw/plain.txt", b"plain\n");
}

/// A server process on 127.0.0.1, killed by pid on drop; its stderr is
/// collected line by line.
pub struct ServerProcess {
    pub name: &'static str,
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Start `program args... 0` (port chosen by the kernel) and wait for
    /// its `Serving HTTP on ... port N` line.
    pub fn start(name: &'static str, program: &Path, pre_args: &[&str], args: &[&str]) -> ServerProcess {
        ServerProcess::start_in(name, program, pre_args, args, None)
    }

    /// [`ServerProcess::start`] with a working directory.
    pub fn start_in(
        name: &'static str,
        program: &Path,
        pre_args: &[&str],
        args: &[&str],
        cwd: Option<&Path>,
    ) -> ServerProcess {
        let mut cmd = Command::new(program);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        cmd.args(pre_args).args(args).args(["-b", "127.0.0.1", "0"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        let port: u16 = first
            .split(" port ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{name} did not announce a port: {first:?}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
                sink.lock().unwrap().push(String::from_utf8_lossy(&line).trim_end_matches('\n').to_string());
                line.clear();
            }
        });
        ServerProcess { name, child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log }
    }

    /// Our server on `dir` with extra flags.
    pub fn ours(dir: &Path, flags: &[&str]) -> ServerProcess {
        let mut args: Vec<&str> = vec!["-d", dir.to_str().unwrap()];
        args.extend_from_slice(flags);
        ServerProcess::start("httpserver", &our_binary(), &[], &args)
    }

    /// Our server serving its working directory `dir` (as CPython's CGI
    /// tests run it), with extra flags.
    pub fn ours_in(dir: &Path, flags: &[&str]) -> ServerProcess {
        ServerProcess::start_in("httpserver", &our_binary(), &[], flags, Some(dir))
    }

    /// `python3 -u -m http.server` serving its working directory `dir`.
    pub fn cpython_in(dir: &Path, flags: &[&str]) -> ServerProcess {
        ServerProcess::start_in(
            "python3 -m http.server",
            Path::new("python3"),
            &["-u", "-m", "http.server"],
            flags,
            Some(dir),
        )
    }

    /// `python3 -u -m http.server` on `dir` with extra flags.
    pub fn cpython(dir: &Path, flags: &[&str]) -> ServerProcess {
        let mut args: Vec<&str> = vec!["-d", dir.to_str().unwrap()];
        args.extend_from_slice(flags);
        ServerProcess::start(
            "python3 -m http.server",
            Path::new("python3"),
            &["-u", "-m", "http.server"],
            &args,
        )
    }

    /// Log lines so far, with timestamps normalised; waits until the log
    /// has been quiet for a moment so lines of the last request are in.
    pub fn take_log(&self) -> Vec<String> {
        self.take_log_expecting(0)
    }

    /// [`ServerProcess::take_log`], first waiting (up to 2 s) for at least
    /// `min` lines: the server writes its log in batches, up to ~50 ms late.
    pub fn take_log_expecting(&self, min: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.log.lock().unwrap().len() < min && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut last = usize::MAX;
        loop {
            std::thread::sleep(Duration::from_millis(30));
            let n = self.log.lock().unwrap().len();
            if n == last || Instant::now() > deadline {
                break;
            }
            last = n;
        }
        let lines: Vec<String> = self.log.lock().unwrap().drain(..).collect();
        lines.into_iter().map(|l| normalise_log_line(&l)).collect()
    }

    /// Every log line until one contains `needle` (or `timeout` passes):
    /// for lines written by another thread at no fixed point.
    pub fn take_log_until(&self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        while Instant::now() < deadline {
            lines.extend(self.log.lock().unwrap().drain(..).map(|l| normalise_log_line(&l)));
            if lines.iter().any(|l| l.contains(needle)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        lines
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `[25/Nov/2026 08:00:00]` → `[TIME]`.
pub fn normalise_log_line(line: &str) -> String {
    match (line.find(" - - ["), line.find("] ")) {
        (Some(a), Some(b)) if b > a => format!("{} - - [TIME]{}", &line[..a], &line[b + 1..]),
        _ => line.to_string(),
    }
}

/// Send `request`, half-close if asked, and read until the server closes
/// (or `timeout` passes with nothing more).
pub fn exchange(addr: SocketAddr, request: &[u8], half_close: bool, timeout: Duration) -> Vec<u8> {
    exchange_to_close(addr, request, half_close, timeout).0
}

/// [`exchange`], also saying whether the server closed the connection
/// (EOF or reset) rather than going quiet past `timeout`.
pub fn exchange_to_close(
    addr: SocketAddr,
    request: &[u8],
    half_close: bool,
    timeout: Duration,
) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(request);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    read_until_closed(&mut s)
}

/// Read until the server closes (EOF or reset: `true`) or the read
/// timeout passes with nothing more (`false`).
pub fn read_until_closed(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                let quiet = matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
                return (out, !quiet);
            }
        }
    }
}

/// Read until EOF, a reset, or the read timeout.
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    read_until_closed(s).0
}

/// A slowloris client: one byte of an endless head every 200 ms, for 12 s
/// at most. Each read is "recent", but the head as a whole is late, so
/// only a deadline counted from accept closes it. Whether the server
/// closed the connection, and after how long.
pub fn slowloris(addr: SocketAddr) -> (bool, Duration) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let start = Instant::now();
    let head = b"GET /a.txt HTTP/1.0\r\nX-Slow: 1234567890123456789012345678901234567890\r\n";
    for b in head.iter().cycle().take(60) {
        if s.write_all(&[*b]).is_err() {
            return (true, start.elapsed());
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => return (true, start.elapsed()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (true, start.elapsed()),
            _ => {}
        }
    }
    (false, start.elapsed())
}

/// One request on a fresh connection, read to close.
pub fn get(addr: SocketAddr, request: &str) -> Vec<u8> {
    exchange(addr, request.as_bytes(), false, Duration::from_secs(5))
}

/// Replace the values of `Date:` and `Server:` header lines.
pub fn normalise_response(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        let mut replaced = false;
        for name in [&b"\r\nDate: "[..], &b"\r\nServer: "[..]] {
            if rest.starts_with(name) {
                let end = rest[2..].windows(2).position(|w| w == b"\r\n").map_or(rest.len(), |p| p + 2);
                out.extend_from_slice(&name[..name.len() - 1]);
                out.extend_from_slice(b" <normalised>");
                i += end;
                replaced = true;
                break;
            }
        }
        if !replaced {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// Ours adds `ETag` and `Accept-Ranges: bytes` to file replies, and a 304
/// carries the `Last-Modified` (and `ETag`) the 200 would (RFC 9110
/// 15.4.5): the deliberate differences on requests that are neither ranged
/// nor conditional beyond CPython's `If-Modified-Since`, listed in the
/// README. By default (`--charset utf-8`) file replies of text types also
/// say `; charset=utf-8` ([`without_added_charset`]). Dropped here so that
/// the rest must match byte for byte.
pub fn without_validator_headers(ours: &[u8]) -> Vec<u8> {
    without_validator_headers_only(&without_added_charset(ours))
}

/// Whether `--charset utf-8` (the default) appends `; charset=utf-8` to a
/// file of this media type: text/*, JavaScript, JSON, XML, `+json`,
/// `+xml` and SVG.
pub fn gets_charset(media_type: &str) -> bool {
    let t = media_type.trim().to_ascii_lowercase();
    t.starts_with("text/")
        || matches!(
            t.as_str(),
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        )
        || (t.starts_with("application/") && (t.ends_with("+json") || t.ends_with("+xml")))
}

/// The `; charset=utf-8` ours appends to the Content-type of a file reply
/// (a head with `Last-Modified`) whose type [`gets_charset`], removed; the
/// only difference `--charset utf-8` makes. Listings and error pages are
/// left alone: they say utf-8 in CPython too, so there it must match.
pub fn without_added_charset(ours: &[u8]) -> Vec<u8> {
    const FIELD: &[u8] = b"\r\nContent-type: ";
    const SUFFIX: &[u8] = b"; charset=utf-8";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut out: Vec<u8> = Vec::with_capacity(ours.len());
    let mut head_start = 0;
    let mut i = 0;
    while i < ours.len() {
        let rest = &ours[i..];
        if rest.starts_with(b"HTTP/1.") {
            head_start = i;
        }
        if rest.starts_with(FIELD) {
            let line_end = find(&rest[2..], b"\r\n").map_or(rest.len(), |p| p + 2);
            let value = &rest[FIELD.len()..line_end];
            let head = &ours[head_start..];
            let head = &head[..find(head, b"\r\n\r\n").map_or(head.len(), |p| p + 2)];
            // A field of this head (not of a part inside a body), and a file's.
            let in_head = i < head_start + head.len();
            let file_reply = in_head && find(head, b"\r\nLast-Modified: ").is_some();
            if file_reply && value.ends_with(SUFFIX) {
                let media = &value[..value.len() - SUFFIX.len()];
                if !media.contains(&b';') && gets_charset(&String::from_utf8_lossy(media)) {
                    out.extend_from_slice(&rest[..FIELD.len() + media.len()]);
                    i += line_end;
                    continue;
                }
            }
        }
        out.push(ours[i]);
        i += 1;
    }
    out
}

/// [`without_validator_headers`] less the charset: for `--charset none`,
/// whose Content-type values must be CPython's exactly.
pub fn without_validator_headers_only(ours: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(ours.len());
    let mut i = 0;
    let mut in_304 = false;
    while i < ours.len() {
        let rest = &ours[i..];
        if rest.starts_with(b"HTTP/1.") && rest.len() > 12 {
            in_304 = &rest[9..12] == b"304";
        }
        let drop = rest.starts_with(b"\r\nETag: \"")
            || rest.starts_with(b"\r\nAccept-Ranges: bytes\r\n")
            || (in_304 && rest.starts_with(b"\r\nLast-Modified: "));
        if drop {
            let end = rest[2..].windows(2).position(|w| w == b"\r\n").map_or(rest.len(), |p| p + 2);
            i += end;
        } else {
            out.push(ours[i]);
            i += 1;
        }
    }
    out
}

/// A parsed single response.
#[derive(Debug)]
pub struct Response {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parse one response (head + rest of the bytes as body).
pub fn parse_response(raw: &[u8]) -> Response {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| {
        panic!("no response head in {:?}", String::from_utf8_lossy(&raw[..raw.len().min(300)]))
    });
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("").to_string();
    let headers =
        lines.filter_map(|l| l.split_once(": ").map(|(n, v)| (n.to_string(), v.to_string()))).collect();
    Response { status_line, headers, body: raw[end + 4..].to_vec() }
}

pub fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() > 600 {
        format!("{}...[{} bytes]", &s[..600], bytes.len())
    } else {
        s.into_owned()
    }
}

/// `len` bytes of splitmix64 from `seed`: incompressible, and the same on
/// every run.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Equal bytes, or a panic that says where they first differ (not the
/// bytes themselves: they may be megabytes).
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: {} bytes, expected {}; first difference at offset {first}", got.len(), want.len());
    }
}
