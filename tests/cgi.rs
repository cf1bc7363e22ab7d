//! CGI: `httpserver --cgi` with real Python and sh scripts on loopback,
//! differential against `python3 -m http.server --cgi` where CPython's
//! behaviour is the reference.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

const ENV_PY: &str = r#"#!/usr/bin/env python3
import os, sys
sys.stdout.write("Content-Type: text/plain\r\n\r\n")
for k in sorted(os.environ):
    if k.startswith(("SERVER_", "GATEWAY_", "REQUEST_", "PATH_", "SCRIPT_", "QUERY_", "REMOTE_", "AUTH_",
                     "CONTENT_", "HTTP_")):
        sys.stdout.write("%s=%s\n" % (k, os.environ[k]))
sys.stdout.write("ARGV=%r\n" % (sys.argv[1:],))
"#;

const ECHO_PY: &str = r#"#!/usr/bin/env python3
import os, sys
n = int(os.environ.get("CONTENT_LENGTH") or 0)
data = sys.stdin.buffer.read(n)
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(data))
sys.stdout.buffer.write(data)
"#;

const HELLO_SH: &str =
    "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"hello from sh: $QUERY_STRING\"\n";
const REDIRECT_SH: &str = "#!/bin/sh\nprintf 'Status: 302 Found\\r\\nLocation: /elsewhere\\r\\n\\r\\n'\n";
const NOT_FOUND_SH: &str =
    "#!/bin/sh\nprintf 'Status: 404 Not Here\\r\\nContent-Type: text/plain\\r\\n\\r\\nnope\\n'\n";
const HANG_SH: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nstarted\\n'\nexec sleep 600\n";
const BAD_HEAD_SH: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\rX-Evil: 1\\r\\n\\r\\nbody'\n";
const STDERR_SH: &str = "#!/bin/sh\nprintf 'evil \\033[31m red\\n' >&2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\nexit 3\n";
const WHOAMI_SH: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nid -u\n";
const ARGV_SH: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nfor a in \"$@\"; do printf 'ARG[%s]\\n' \"$a\"; done\nprintf 'QS[%s]\\n' \"$QUERY_STRING\"\n";
/// Reads its whole input, keeping only its size (which it answers): what
/// the server holds of a body is then only what it holds itself.
const SINK_SH: &str =
    "#!/bin/sh\nn=$(wc -c | tr -d ' ')\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$n\"\n";
/// Heads no proxy may relay (the bodies are markers the 502 must not carry).
const TE_AND_CL_SH: &str =
    "#!/bin/sh\nprintf 'Transfer-Encoding: chunked\\r\\nContent-Length: 5\\r\\n\\r\\nSCRIPT-TE-CL'\n";
const STATUS_100_SH: &str = "#!/bin/sh\nprintf 'Status: 100 Continue\\r\\n\\r\\nSCRIPT-100'\n";
const STATUS_103_SH: &str =
    "#!/bin/sh\nprintf 'Status: 103 Early Hints\\r\\nLink: </a.css>; rel=preload\\r\\n\\r\\nSCRIPT-103'\n";

fn script(root: &Path, rel: &str, text: &str, mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn cgi_tree(root: &Path) {
    script(root, "cgi-bin/env.py", ENV_PY, 0o755);
    script(root, "cgi-bin/echo.py", ECHO_PY, 0o755);
    script(root, "cgi-bin/hello.sh", HELLO_SH, 0o755);
    script(root, "cgi-bin/redirect.sh", REDIRECT_SH, 0o755);
    script(root, "cgi-bin/notfound.sh", NOT_FOUND_SH, 0o755);
    script(root, "cgi-bin/hang.sh", HANG_SH, 0o755);
    script(root, "cgi-bin/badhead.sh", BAD_HEAD_SH, 0o755);
    script(root, "cgi-bin/stderr.sh", STDERR_SH, 0o755);
    script(root, "cgi-bin/argv.sh", ARGV_SH, 0o755);
    script(root, "cgi-bin/whoami.sh", WHOAMI_SH, 0o755);
    script(root, "cgi-bin/sink.sh", SINK_SH, 0o755);
    script(root, "cgi-bin/te_cl.sh", TE_AND_CL_SH, 0o755);
    script(root, "cgi-bin/status100.sh", STATUS_100_SH, 0o755);
    script(root, "cgi-bin/status103.sh", STATUS_103_SH, 0o755);
    script(root, "cgi-bin/noexec.py", ENV_PY, 0o644);
    script(root, "cgi-bin/sub/env.py", ENV_PY, 0o755);
    script(root, "htbin/env.py", ENV_PY, 0o755);
    std::fs::create_dir_all(root.join("cgi-bin/adir")).unwrap();
    std::fs::write(root.join("static.txt"), b"static\n").unwrap();
}

struct Pair {
    _root: TempDir,
    theirs: ServerProcess,
    ours: ServerProcess,
}

fn pair(extra: &[&str]) -> Pair {
    let root = TempDir::new("cgi");
    cgi_tree(root.path());
    let mut flags = vec!["--cgi"];
    flags.extend_from_slice(extra);
    let theirs = ServerProcess::cpython_in(root.path(), &["--cgi"]);
    let ours = ServerProcess::ours_in(root.path(), &flags);
    Pair { _root: root, theirs, ours }
}

/// The `KEY=value` lines of env.py's output.
fn env_of(raw: &[u8]) -> BTreeMap<String, String> {
    // CPython writes no blank line of its own, so for both servers the
    // script's header fields end up in the head and its output in the body.
    let body = String::from_utf8_lossy(&parse_response(raw).body).into_owned();
    body.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const CGI_VARS: &[&str] = &[
    "SERVER_SOFTWARE",
    "SERVER_NAME",
    "GATEWAY_INTERFACE",
    "SERVER_PROTOCOL",
    "SERVER_PORT",
    "REQUEST_METHOD",
    "PATH_INFO",
    "PATH_TRANSLATED",
    "SCRIPT_NAME",
    "QUERY_STRING",
    "REMOTE_ADDR",
    "AUTH_TYPE",
    "REMOTE_USER",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "HTTP_REFERER",
    "HTTP_ACCEPT",
    "HTTP_USER_AGENT",
    "HTTP_COOKIE",
    "REMOTE_HOST",
];

#[test]
fn environment_matches_cpython() {
    let p = pair(&[]);
    let requests = [
        "GET /cgi-bin/env.py HTTP/1.0\r\n\r\n",
        "GET /cgi-bin/env.py/extra/p%20ath?a=1&b=two HTTP/1.0\r\nAccept: text/html\r\nAccept: */*\r\nUser-Agent: ua/1\r\nReferer: http://r/\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
        "POST /cgi-bin/env.py?x+y HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\na=b",
        "GET /cgi-bin/sub/env.py/more HTTP/1.0\r\nAuthorization: Bearer abc\r\n\r\n",
        "GET /htbin/env.py HTTP/1.0\r\nProxy: http://evil:8080/\r\n\r\n",
        "GET /cgi-bin/../cgi-bin/env.py HTTP/1.0\r\n\r\n",
    ];
    for req in requests {
        let (o, t) = (env_of(&get(p.ours.addr, req)), env_of(&get(p.theirs.addr, req)));
        for var in CGI_VARS {
            if matches!(*var, "SERVER_SOFTWARE" | "SERVER_PORT") {
                assert!(o.contains_key(*var), "{var} missing for {req:?}");
                continue;
            }
            assert_eq!(o.get(*var), t.get(*var), "{var} for {req:?}");
        }
        assert_eq!(o.get("ARGV"), t.get("ARGV"), "argv for {req:?}");
        assert!(!o.contains_key("HTTP_PROXY"), "httpoxy: {req:?}");
    }
    // The variables CPython defaults to empty are present and empty.
    let o = env_of(&get(p.ours.addr, requests[0]));
    for var in
        ["QUERY_STRING", "REMOTE_HOST", "CONTENT_LENGTH", "HTTP_USER_AGENT", "HTTP_COOKIE", "HTTP_REFERER"]
    {
        assert_eq!(o.get(var).map(String::as_str), Some(""), "{var}");
    }
    assert_eq!(o.get("SERVER_SOFTWARE").map(String::as_str), Some("httpserver/0.1.0"));
}

#[test]
fn error_answers_match_cpython() {
    let p = pair(&[]);
    for req in [
        "GET /cgi-bin/missing.py HTTP/1.0\r\n\r\n",
        "GET /cgi-bin/adir HTTP/1.0\r\n\r\n",
        "GET /cgi-bin/ HTTP/1.0\r\n\r\n",
        "GET /cgi-bin/noexec.py HTTP/1.0\r\n\r\n",
        "POST /static.txt HTTP/1.0\r\nContent-Length: 2\r\n\r\nab",
        "GET /static.txt HTTP/1.0\r\n\r\n",
        "HEAD /cgi-bin/missing.py HTTP/1.0\r\n\r\n",
    ] {
        let (o, t) = (without_validator_headers(&get(p.ours.addr, req)), get(p.theirs.addr, req));
        assert_eq!(show(&normalise_response(&o)), show(&normalise_response(&t)), "{req:?}");
    }
    let r = parse_response(&get(p.ours.addr, "POST /static.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n"));
    assert_eq!(r.status_line, "HTTP/1.0 501 Can only POST to CGI scripts");
}

#[test]
fn post_bodies_reach_the_script_intact() {
    let p = pair(&[]);
    for size in [0usize, 5, 3 << 20] {
        let body: Vec<u8> = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut req =
            format!("POST /cgi-bin/echo.py HTTP/1.0\r\nContent-Length: {size}\r\n\r\n").into_bytes();
        req.extend_from_slice(&body);
        for srv in [&p.ours, &p.theirs] {
            let raw = exchange(srv.addr, &req, false, Duration::from_secs(20));
            assert!(
                !raw.is_empty(),
                "{}: no answer to a {size}-byte POST; log: {:?}",
                srv.name,
                srv.take_log()
            );
            let r = parse_response(&raw);
            // CPython writes no blank line of its own: the script's head
            // continues its head, so both bodies are the script's body.
            assert!(r.body == body, "{}: {size} bytes echoed as {} bytes", srv.name, r.body.len());
        }
    }
    // Chunked bodies are decoded by the core before the script sees them.
    let req = b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let raw = exchange(p.ours.addr, req, false, Duration::from_secs(10));
    assert!(!raw.is_empty(), "no answer to a chunked POST; log: {:?}", p.ours.take_log());
    assert_eq!(parse_response(&raw).body, b"abcde");
}

#[test]
fn sh_scripts_query_and_argv() {
    let p = pair(&[]);
    let r = parse_response(&get(p.ours.addr, "GET /cgi-bin/hello.sh?hi HTTP/1.0\r\n\r\n"));
    assert_eq!(r.status_line, "HTTP/1.0 200 Script output follows");
    assert_eq!(r.body, b"hello from sh: hi\n");
    // argv as CPython builds it, except a query beginning with '-' (an
    // option to the script: CVE-2012-1823), which goes in QUERY_STRING only.
    for (query, args) in [
        ("plain+words", "ARG[plain words]\n"),
        ("a=1", ""),
        ("", "ARG[]\n"),
        ("-s", ""),
        ("+-n", ""),
        ("%3Bls%20%7C%20cat$(id)`id`", "ARG[%3Bls%20%7C%20cat$(id)`id`]\n"),
    ] {
        let r = parse_response(&get(p.ours.addr, &format!("GET /cgi-bin/argv.sh?{query} HTTP/1.0\r\n\r\n")));
        assert_eq!(String::from_utf8_lossy(&r.body), format!("{args}QS[{query}]\n"), "query {query:?}");
        if !query.trim_start_matches('+').starts_with('-') {
            let t = parse_response(&get(
                p.theirs.addr,
                &format!("GET /cgi-bin/argv.sh?{query} HTTP/1.0\r\n\r\n"),
            ));
            assert!(
                String::from_utf8_lossy(&t.body).ends_with(&format!("{args}QS[{query}]\n")),
                "CPython, query {query:?}"
            );
        }
    }
}

#[test]
fn status_and_location_from_the_script() {
    // Deliberate difference: CPython always sends 200 (its docs say CGI
    // scripts cannot redirect); we honour Status: and Location:.
    let p = pair(&[]);
    let r = parse_response(&get(p.ours.addr, "GET /cgi-bin/redirect.sh HTTP/1.0\r\n\r\n"));
    assert_eq!(r.status_line, "HTTP/1.0 302 Found");
    assert_eq!(r.header("Location"), Some("/elsewhere"));
    let t = parse_response(&get(p.theirs.addr, "GET /cgi-bin/redirect.sh HTTP/1.0\r\n\r\n"));
    assert_eq!(t.status(), 200);
    let r = parse_response(&get(p.ours.addr, "GET /cgi-bin/notfound.sh HTTP/1.0\r\n\r\n"));
    assert_eq!(r.status_line, "HTTP/1.0 404 Not Here");
    assert_eq!(r.body, b"nope\n");
}

#[test]
fn bad_script_output_is_502_and_stderr_is_logged_escaped() {
    let p = pair(&[]);
    let r = parse_response(&get(p.ours.addr, "GET /cgi-bin/badhead.sh HTTP/1.0\r\n\r\n"));
    assert_eq!(r.status(), 502);
    assert!(!show(&r.body).contains("X-Evil"));
    let _ = p.ours.take_log();
    let r = parse_response(&get(p.ours.addr, "GET /cgi-bin/stderr.sh HTTP/1.0\r\n\r\n"));
    assert_eq!(r.body, b"ok\n");
    let log = p.ours.take_log_expecting(3).join("\n");
    assert!(log.contains("CGI script stderr: evil \\x1b[31m red"), "{log}");
    assert!(!log.contains('\x1b'));
    assert!(log.contains("CGI script exit code 3"), "{log}");
    let _ = get(p.ours.addr, "GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n");
    assert!(p.ours.take_log_expecting(2).iter().any(|l| l.ends_with("CGI script exited OK")));
}

#[test]
fn body_over_the_cap_is_413_before_the_script_runs() {
    let root = TempDir::new("cgi-cap");
    cgi_tree(root.path());
    let marker = root.path().join("ran");
    script(
        root.path(),
        "cgi-bin/touch.sh",
        &format!("#!/bin/sh\ntouch {}\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n", marker.display()),
        0o755,
    );
    let ours = ServerProcess::ours_in(root.path(), &["--cgi", "--cgi-max-body", "1000"]);
    let mut req = b"POST /cgi-bin/touch.sh HTTP/1.0\r\nContent-Length: 1001\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 1001));
    let r = parse_response(&exchange(ours.addr, &req, false, Duration::from_secs(10)));
    assert_eq!(r.status(), 413);
    assert!(!marker.exists(), "the script must not have run");
}

#[test]
fn hanging_script_is_killed_while_others_are_served() {
    let root = TempDir::new("cgi-hang");
    cgi_tree(root.path());
    let ours = ServerProcess::ours_in(root.path(), &["--cgi", "--cgi-timeout", "1.5"]);
    let addr = ours.addr;
    // Read for longer than the 1.5 s limit: the server closes first.
    let hung = std::thread::spawn(move || {
        exchange_to_close(addr, b"GET /cgi-bin/hang.sh HTTP/1.0\r\n\r\n", false, Duration::from_secs(5))
    });
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile, others are answered.
    let r = parse_response(&get(ours.addr, "GET /static.txt HTTP/1.0\r\n\r\n"));
    assert_eq!(r.body, b"static\n");
    let (out, closed) = hung.join().unwrap();
    assert!(closed, "the hanging script's connection was not closed at its limit: {}", show(&out));
    assert!(show(&out).contains("started"), "{}", show(&out));
    let log = ours.take_log_expecting(4).join("\n");
    assert!(log.contains("CGI script timed out") && log.contains("CGI script exit code -9"), "{log}");
}

#[test]
fn scripts_run_as_nobody_when_the_server_is_root() {
    let p = pair(&[]);
    let me = String::from_utf8(std::process::Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let nobody =
        String::from_utf8(std::process::Command::new("id").args(["-u", "nobody"]).output().unwrap().stdout)
            .unwrap();
    let ours = parse_response(&get(p.ours.addr, "GET /cgi-bin/whoami.sh HTTP/1.0\r\n\r\n"));
    let theirs = parse_response(&get(p.theirs.addr, "GET /cgi-bin/whoami.sh HTTP/1.0\r\n\r\n"));
    let want = if me.trim() == "0" { nobody.trim() } else { me.trim() };
    assert_eq!(String::from_utf8_lossy(&ours.body).trim(), want);
    assert_eq!(String::from_utf8_lossy(&theirs.body).trim(), want, "CPython does the same");
}

/// A directory `nobody` may write to (scripts run as `nobody` when the
/// tests run as root), for the marks scripts leave for the test to see.
fn marks_dir(root: &Path) -> PathBuf {
    let dir = root.join("marks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// The server's resident set size in kB (`VmRSS:` of /proc/PID/status).
fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {status}"))
}

/// Whether `pid` is a process that has not ended (a zombie has ended: it
/// was killed and only waits to be reaped).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// A pid a script wrote to `path`, waiting (up to 5 s) for it to appear.
fn pid_from(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pid) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `sleep` processes a test caused, killed when it ends (passed or not)
/// if they still run: a server that fails to stop them must not leave
/// them behind. Only a process whose command is `sleep` is killed, so a
/// reused pid is left alone; one that has not yet become `sleep` (a
/// script writes `$!` before its child has exec'd) is waited for, briefly.
struct StraySleeps(Vec<u32>);

impl Drop for StraySleeps {
    fn drop(&mut self) {
        for pid in &self.0 {
            let deadline = Instant::now() + Duration::from_secs(1);
            while running(*pid) && Instant::now() < deadline {
                if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0")) {
                    let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Upload bodies are streamed to the script through a pipe, not held by
/// the server: eight concurrent 32 MiB uploads (256 MiB in all) leave the
/// server's memory almost where it was. A chunked body, which has no
/// length to give the script, is spooled to a file and arrives intact,
/// with its `CONTENT_LENGTH`.
#[test]
fn request_bodies_are_streamed_not_buffered() {
    const UPLOADS: usize = 8;
    const SIZE: usize = 32 << 20;
    const CHUNK: usize = 64 << 10;
    let root = TempDir::new("cgi-stream");
    cgi_tree(root.path());
    let ours = ServerProcess::ours_in(root.path(), &["--cgi", "--cgi-max-body", "40000000"]);
    // Warm up: the first request's allocations are not growth.
    let mut warm = format!("POST /cgi-bin/sink.sh HTTP/1.0\r\nContent-Length: {CHUNK}\r\n\r\n").into_bytes();
    warm.extend(std::iter::repeat_n(b'w', CHUNK));
    let r = parse_response(&exchange(ours.addr, &warm, false, Duration::from_secs(10)));
    assert_eq!(r.body, format!("{CHUNK}\n").as_bytes());
    let pid = ours.pid();
    let before = vm_rss_kb(pid);

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(vm_rss_kb(pid));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let start = Instant::now();
    let addr = ours.addr;
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
                let head = format!("POST /cgi-bin/sink.sh HTTP/1.0\r\nContent-Length: {SIZE}\r\n\r\n");
                s.write_all(head.as_bytes()).unwrap();
                let chunk = vec![b'a' + i as u8; CHUNK];
                for _ in 0..SIZE / CHUNK {
                    s.write_all(&chunk).unwrap_or_else(|e| panic!("upload {i}: {e}"));
                }
                read_to_close(&mut s)
            })
        })
        .collect();
    let answers: Vec<Vec<u8>> = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = start.elapsed();
    done.store(true, Ordering::SeqCst);
    let peak = sampler.join().unwrap().max(vm_rss_kb(pid));
    for (i, raw) in answers.iter().enumerate() {
        let r = parse_response(raw);
        assert_eq!(r.status(), 200, "upload {i}: {}", show(raw));
        // All of it reached the script (a server dropping bodies would
        // pass the memory check too).
        assert_eq!(show(&r.body), format!("{SIZE}\n"), "upload {i}");
    }
    eprintln!(
        "{UPLOADS} x {} MiB uploads in {elapsed:?}: VmRSS {before} kB before, {peak} kB at peak",
        SIZE >> 20
    );
    assert!(
        peak.saturating_sub(before) < 64 * 1024,
        "VmRSS grew from {before} kB to {peak} kB: the bodies were buffered"
    );

    // Chunked: spooled, then given to the script whole, with its length.
    let body: Vec<u8> = (0..8usize << 20).map(|i| (i * 31 + i / 4093) as u8).collect();
    let mut req = b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for piece in body.chunks(CHUNK) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let raw = exchange(ours.addr, &req, false, Duration::from_secs(20));
    assert!(!raw.is_empty(), "no answer to a chunked POST; log: {:?}", ours.take_log());
    let r = parse_response(&raw);
    // echo.py reads CONTENT_LENGTH bytes and says how many it read.
    assert_eq!(r.header("Content-Length"), Some("8388608"), "CONTENT_LENGTH of the spooled body");
    assert!(r.body == body, "8 MiB chunked body echoed as {} different bytes", r.body.len());
}

/// A script whose client has gone is killed (with what it started), not
/// left to run: here one that sleeps before writing anything, so the
/// server is waiting for its head when the client closes.
#[test]
fn script_is_stopped_when_its_client_disconnects() {
    let root = TempDir::new("cgi-gone");
    cgi_tree(root.path());
    let marks = marks_dir(root.path());
    let pid_file = marks.join("slow.pid");
    script(
        root.path(),
        "cgi-bin/slow.sh",
        &format!("#!/bin/sh\necho $$ > '{}'\nexec sleep 30\n", pid_file.display()),
        0o755,
    );
    let ours = ServerProcess::ours_in(root.path(), &["--cgi"]);
    let mut s = TcpStream::connect_timeout(&ours.addr, Duration::from_secs(5)).expect("connect");
    s.write_all(b"GET /cgi-bin/slow.sh HTTP/1.0\r\n\r\n").unwrap();
    let pid = pid_from(&pid_file);
    let _strays = StraySleeps(vec![pid]);
    // It keeps running while its client waits: what stops it below is
    // the client's leaving.
    std::thread::sleep(Duration::from_millis(200));
    assert!(running(pid), "the script ended by itself; log: {:?}", ours.take_log());
    drop(s);
    let closed = Instant::now();
    while running(pid) && closed.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopped_in = closed.elapsed();
    assert!(!running(pid), "the script still runs 3 s after its client left; log: {:?}", ours.take_log());
    eprintln!("script stopped {stopped_in:?} after its client closed");
    // The script is reaped (and its end logged) before the refusal of its
    // output is.
    let wanted = ["CGI script exit code -9", "CGI script output refused: the client went away"];
    let mut log = Vec::new();
    while !wanted.iter().all(|w| log.iter().any(|l: &String| l.ends_with(w)))
        && closed.elapsed() < Duration::from_secs(5)
    {
        log.extend(ours.take_log_expecting(1));
    }
    let log = log.join("\n");
    for w in wanted {
        assert!(log.contains(w), "{w:?} missing: {log}");
    }
    assert!(!log.contains("timed out"), "{log}");
}

/// The reply ends when the script exits, even though a process it left
/// in the background still holds its output open (CPython reads to EOF
/// only after the script's exit, so this does not hang there either).
#[test]
fn reply_ends_when_the_script_exits_despite_a_background_child() {
    let root = TempDir::new("cgi-bg");
    cgi_tree(root.path());
    let marks = marks_dir(root.path());
    let pid_file = marks.join("bg.pid");
    script(
        root.path(),
        "cgi-bin/bg.sh",
        &format!(
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nparent done\\n'\nsleep 20 &\necho $! > '{}'\nexit 0\n",
            pid_file.display()
        ),
        0o755,
    );
    let ours = ServerProcess::ours_in(root.path(), &["--cgi"]);
    // Shorter than the background child's 20 s: a reply that waited for
    // it would end in this timeout, not in the server's close.
    let (raw, closed) =
        exchange_to_close(ours.addr, b"GET /cgi-bin/bg.sh HTTP/1.0\r\n\r\n", false, Duration::from_secs(10));
    let child = pid_from(&pid_file);
    let _strays = StraySleeps(vec![child]);
    assert!(closed, "the reply did not end while the background child ran: {}", show(&raw));
    assert!(running(child), "the background child ended before the check");
    let r = parse_response(&raw);
    assert_eq!(r.status(), 200, "{}", show(&raw));
    assert_eq!(r.body, b"parent done\n");
}

/// A head that cannot be relayed as a final response (1xx status; both
/// framings, which would let the script smuggle a second response past a
/// proxy) is answered with 502, and none of the script's output is sent.
#[test]
fn unrelayable_script_heads_are_502() {
    let root = TempDir::new("cgi-unrelayable");
    cgi_tree(root.path());
    let ours = ServerProcess::ours_in(root.path(), &["--cgi"]);
    for (name, marker) in
        [("te_cl.sh", "SCRIPT-TE-CL"), ("status100.sh", "SCRIPT-100"), ("status103.sh", "SCRIPT-103")]
    {
        let raw = get(ours.addr, &format!("GET /cgi-bin/{name} HTTP/1.0\r\n\r\n"));
        let r = parse_response(&raw);
        assert!(r.status_line.starts_with("HTTP/1.0 502 "), "{name}: {}", show(&raw));
        assert!(!show(&raw).contains(marker), "{name}: the script's body was relayed: {}", show(&raw));
        assert_eq!(r.header("Transfer-Encoding"), None, "{name}");
        assert_eq!(r.header("Link"), None, "{name}");
        let log = ours.take_log_expecting(2).join("\n");
        assert!(log.contains("CGI script output refused"), "{name}: {log}");
    }
}

/// A connection that gets no thread (thread creation injected to fail:
/// debug builds honour HTTPSERVER_TEST_THREAD_FAILURES) is refused and
/// gives its place back: with room for 3 connections, 5 failures that
/// leaked their places would refuse every later connection.
#[test]
fn failed_thread_starts_do_not_leak_connection_places() {
    let root = TempDir::new("cgi-threads");
    cgi_tree(root.path());
    // Through env(1), so that only this server sees the variable (set in
    // this process, it would reach servers other tests start meanwhile).
    let binary = our_binary();
    let ours = ServerProcess::start_in(
        "httpserver",
        Path::new("env"),
        &["HTTPSERVER_TEST_THREAD_FAILURES=5", binary.to_str().unwrap()],
        &["--cgi", "--max-connections", "3"],
        Some(root.path()),
    );
    let mut refused = 0;
    for i in 0..5 {
        let raw = get(ours.addr, "GET /static.txt HTTP/1.0\r\n\r\n");
        // The refusal is written without waiting; if the request arrives
        // after it is sent, the close may reset the connection and lose it.
        if !raw.is_empty() {
            let r = parse_response(&raw);
            assert_eq!(r.status_line, "HTTP/1.0 503 Too many connections", "connection {i}: {}", show(&raw));
            refused += 1;
        }
    }
    assert!(refused > 0, "no connection got the 503");
    eprintln!("{refused} of 5 connections without a thread got the 503");
    let log = ours.take_log_expecting(10);
    let failures = log.iter().filter(|l| l.contains("could not start a thread")).count();
    assert_eq!(failures, 5, "{log:#?}");
    for i in 0..10 {
        let r = parse_response(&get(ours.addr, "GET /static.txt HTTP/1.0\r\n\r\n"));
        assert_eq!(r.status(), 200, "request {i} after the failures: {}", r.status_line);
        assert_eq!(r.body, b"static\n");
    }
}

/// With `-p HTTP/1.1`, a script reply without `Content-Length` can only
/// end by closing the connection, so it says `Connection: close` (a
/// client would otherwise wait to reuse it: RFC 9112 9.6); a reply with
/// one keeps the connection for the next request.
#[test]
fn http11_script_reply_without_length_says_connection_close() {
    let root = TempDir::new("cgi-http11");
    cgi_tree(root.path());
    let ours = ServerProcess::ours_in(root.path(), &["--cgi", "-p", "HTTP/1.1"]);
    let (raw, closed) = exchange_to_close(
        ours.addr,
        b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        Duration::from_secs(5),
    );
    let r = parse_response(&raw);
    assert_eq!(r.status(), 200, "{}", show(&raw));
    assert_eq!(r.body, b"hello from sh: \n");
    assert!(r.header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close")), "{}", show(&raw));
    assert!(closed, "the connection was left open after a reply without a length");

    // With a length: the next request, pipelined, is answered on the same
    // connection.
    let raw = exchange(
        ours.addr,
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /cgi-bin/hello.sh?2 HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        Duration::from_secs(5),
    );
    let first = parse_response(&raw);
    assert_eq!(first.status(), 200, "{}", show(&raw));
    assert_eq!(first.header("Content-Length"), Some("5"));
    assert_eq!(first.header("Connection"), None, "{}", show(&raw));
    assert_eq!(&first.body[..5], b"hello");
    let second = parse_response(&first.body[5..]);
    assert_eq!(second.status(), 200, "{}", show(&raw));
    assert_eq!(second.body, b"hello from sh: 2\n");
}

/// HEAD runs the script, as CPython does (it may act on the request), and
/// sends its head without its body.
#[test]
fn head_runs_the_script_and_sends_no_body() {
    let root = TempDir::new("cgi-head");
    cgi_tree(root.path());
    let marker = marks_dir(root.path()).join("head.ran");
    script(
        root.path(),
        "cgi-bin/head.sh",
        &format!(
            "#!/bin/sh\ntouch '{}'\nprintf 'Content-Type: text/plain\\r\\nX-Script: ran\\r\\n\\r\\nbody text\\n'\n",
            marker.display()
        ),
        0o755,
    );
    let ours = ServerProcess::ours_in(root.path(), &["--cgi"]);
    let raw = get(ours.addr, "HEAD /cgi-bin/head.sh HTTP/1.0\r\n\r\n");
    let r = parse_response(&raw);
    assert_eq!(r.status(), 200, "{}", show(&raw));
    assert_eq!(r.header("X-Script"), Some("ran"));
    assert_eq!(r.body, b"", "HEAD got a body");
    assert!(marker.exists(), "the script did not run for HEAD");
    let log = ours.take_log_expecting(2).join("\n");
    assert!(log.contains("CGI script exited OK"), "{log}");
    // CPython runs it too.
    std::fs::remove_file(&marker).unwrap();
    let theirs = ServerProcess::cpython_in(root.path(), &["--cgi"]);
    let _ = get(theirs.addr, "HEAD /cgi-bin/head.sh HTTP/1.0\r\n\r\n");
    assert!(marker.exists(), "CPython did not run the script for HEAD");
}

/// Read from `s` until a whole response head (through its blank line) is
/// in, or the connection ends or stays quiet past the read timeout.
fn read_head(s: &mut TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    head
}

/// A reply that needs nothing more from its script does not wait for the
/// script to exit: a HEAD's head, and a body whose script closed its
/// output, arrive whole (connection closed) while the script still runs,
/// held by a gate only the test opens. The script then finishes on its
/// own and its exit is logged.
#[test]
fn replies_do_not_wait_for_scripts_that_keep_running() {
    let root = TempDir::new("cgi-release");
    cgi_tree(root.path());
    let marks = marks_dir(root.path());
    let gate = marks.join("gate");
    // Bounded: the gate loop gives up after 20 s whatever happens.
    let wait_gate = format!(
        "i=0\nwhile [ ! -e '{}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n",
        gate.display()
    );
    let pid_file = |name: &str| marks.join(format!("{name}.pid"));
    script(
        root.path(),
        "cgi-bin/held.sh",
        &format!(
            "#!/bin/sh\necho $$ > '{}'\nprintf 'Content-Type: text/plain\\r\\nX-Script: held\\r\\n\\r\\nbody\\n'\n{wait_gate}",
            pid_file("held").display()
        ),
        0o755,
    );
    script(
        root.path(),
        "cgi-bin/closes.sh",
        &format!(
            "#!/bin/sh\necho $$ > '{}'\nprintf 'Content-Type: text/plain\\r\\n\\r\\nall of it\\n'\nexec 1>&-\n{wait_gate}",
            pid_file("closes").display()
        ),
        0o755,
    );
    let ours = ServerProcess::ours_in(root.path(), &["--cgi"]);
    for (name, request, body) in [
        ("held", "HEAD /cgi-bin/held.sh HTTP/1.0\r\n\r\n", &b""[..]),
        ("closes", "GET /cgi-bin/closes.sh HTTP/1.0\r\n\r\n", &b"all of it\n"[..]),
    ] {
        let mut s = TcpStream::connect_timeout(&ours.addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut raw = read_head(&mut s);
        raw.extend(read_to_close(&mut s));
        let pid = pid_from(&pid_file(name));
        assert!(running(pid), "{name}: the script ended with its gate shut; log: {:?}", ours.take_log());
        let r = parse_response(&raw);
        assert_eq!(r.status(), 200, "{name}: {}", show(&raw));
        assert_eq!(r.body, body, "{name}: {}", show(&raw));
        if name == "held" {
            assert_eq!(r.header("X-Script"), Some("held"));
        }
    }
    std::fs::write(&gate, b"").unwrap();
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.iter().filter(|l: &&String| l.ends_with("CGI script exited OK")).count() < 2
        && Instant::now() < deadline
    {
        log.extend(ours.take_log_expecting(1));
    }
    assert_eq!(
        log.iter().filter(|l| l.ends_with("CGI script exited OK")).count(),
        2,
        "both scripts' exits are logged: {log:?}"
    );
}

/// Scripts still running when the server stops (here one left to finish
/// after its HEAD reply, and a process it started) are killed: nothing of
/// the server outlives it.
#[test]
fn stopping_the_server_kills_scripts_still_running() {
    let root = TempDir::new("cgi-stop");
    cgi_tree(root.path());
    let marks = marks_dir(root.path());
    let (script_pid, child_pid) = (marks.join("script.pid"), marks.join("child.pid"));
    script(
        root.path(),
        "cgi-bin/lingers.sh",
        &format!(
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nsleep 60 </dev/null >/dev/null 2>&1 &\necho $! > '{}'\necho $$ > '{}'\nexec sleep 60\n",
            child_pid.display(),
            script_pid.display()
        ),
        0o755,
    );
    let mut ours = ServerProcess::ours_in(root.path(), &["--cgi"]);
    let raw = get(ours.addr, "HEAD /cgi-bin/lingers.sh HTTP/1.0\r\n\r\n");
    assert_eq!(parse_response(&raw).status(), 200, "{}", show(&raw));
    let pids = [pid_from(&script_pid), pid_from(&child_pid)];
    let _strays = StraySleeps(pids.to_vec());
    assert!(pids.iter().all(|&p| running(p)), "the script ended on its own; log: {:?}", ours.take_log());

    let ok = std::process::Command::new("kill").args(["-15", &ours.pid().to_string()]).status().unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while ours.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!ours.is_running(), "the server did not stop on SIGTERM");
    while pids.iter().any(|&p| running(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (what, pid) in ["script", "its child"].iter().zip(pids) {
        assert!(!running(pid), "the {what} (pid {pid}) outlived the server");
    }
}

/// Scripts left to finish after their replies are capped (debug builds
/// take the cap from HTTPSERVER_TEST_MAX_RELEASED; here 1): past it, a
/// reply waits for its script, so requests cannot start scripts faster
/// than they end. The second HEAD's head comes only once the gate that
/// holds both scripts opens.
#[test]
fn scripts_left_to_finish_are_capped() {
    let root = TempDir::new("cgi-cap");
    cgi_tree(root.path());
    let marks = marks_dir(root.path());
    let gate = marks.join("gate");
    script(
        root.path(),
        "cgi-bin/held.sh",
        &format!(
            "#!/bin/sh\necho $$ > '{}/held-'\"$QUERY_STRING\"'.pid'\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\ni=0\nwhile [ ! -e '{}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n",
            marks.display(),
            gate.display()
        ),
        0o755,
    );
    let binary = our_binary();
    let ours = ServerProcess::start_in(
        "httpserver",
        Path::new("env"),
        &["HTTPSERVER_TEST_MAX_RELEASED=1", binary.to_str().unwrap()],
        &["--cgi"],
        Some(root.path()),
    );
    let head_of = |query: &str, timeout: Duration| {
        let mut s = TcpStream::connect_timeout(&ours.addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(timeout)).unwrap();
        s.write_all(format!("HEAD /cgi-bin/held.sh?{query} HTTP/1.0\r\n\r\n").as_bytes()).unwrap();
        (read_head(&mut s), s)
    };
    let (first, _) = head_of("1", Duration::from_secs(10));
    assert_eq!(parse_response(&first).status(), 200, "{}", show(&first));
    // The cap is taken: this reply waits for its script, which waits for
    // the gate. Nothing can arrive before the gate opens.
    let (early, mut second) = head_of("2", Duration::from_secs(1));
    let pids = [pid_from(&marks.join("held-1.pid")), pid_from(&marks.join("held-2.pid"))];
    assert!(early.is_empty(), "the second head came past the cap: {}", show(&early));
    assert!(pids.iter().all(|&p| running(p)), "a script ended with its gate shut");
    std::fs::write(&gate, b"").unwrap();
    second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let late = read_head(&mut second);
    assert_eq!(parse_response(&late).status(), 200, "{}", show(&late));
}
