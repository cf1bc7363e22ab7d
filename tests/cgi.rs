//! CGI: `httpserver --cgi` with real Python and sh scripts on loopback,
//! differential against `python3 -m http.server --cgi` where CPython's
//! behaviour is the reference.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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
    let mut flags = vec!["--cgi", "-b", "127.0.0.1"];
    flags.extend_from_slice(extra);
    let theirs = ServerProcess::cpython_in(root.path(), &["--cgi"]);
    let ours = ServerProcess::ours_in(root.path(), &flags[..1]);
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
        let (o, t) = (get(p.ours.addr, req), get(p.theirs.addr, req));
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
    let start = Instant::now();
    let addr = ours.addr;
    let hung = std::thread::spawn(move || get(addr, "GET /cgi-bin/hang.sh HTTP/1.0\r\n\r\n"));
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile, others are answered.
    let r = parse_response(&get(ours.addr, "GET /static.txt HTTP/1.0\r\n\r\n"));
    assert_eq!(r.body, b"static\n");
    let out = hung.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(30), "killed at its limit, not left hanging");
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
