//! `--auth` and `--auth-file`: HTTP Basic authentication of every request,
//! over loopback against our binary.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

const CHALLENGE: &str = "Basic realm=\"httpserver\", charset=\"UTF-8\"";
/// `Basic` credentials: bob:secret, bob:wrong, mallory:secret.
const BOB: &str = "Authorization: Basic Ym9iOnNlY3JldA==\r\n";
const BOB_WRONG: &str = "Authorization: Basic Ym9iOndyb25n\r\n";
const MALLORY: &str = "Authorization: Basic bWFsbG9yeTpzZWNyZXQ=\r\n";
/// bcrypt (cost 10) of "secret", made with the bcrypt crate (glibc's crypt
/// agrees).
const BCRYPT_SECRET: &str = "$2b$10$rXd6ILqO44X5HkHfQh6zqOEdK6ejxIneoTlh7AjFNfr4qAUayAMR2";
/// SHA-512 crypt (5000 rounds) of "pw6", made by glibc's crypt (Python's
/// `crypt.crypt("pw6", crypt.mksalt(crypt.METHOD_SHA512))`).
const SHA512_PW6: &str =
    "$6$9oVzEhI8Df9gbXZ4$8EyG3AutdG851FN/5Tv.Da5GmStN2/CZ2rJ3MIIqow9NpSEV1XGRNdQakoA8IvaF4vRLK2xDyoziiTBK8mt68.";
/// `Basic` of carol:pw6.
const CAROL: &str = "Authorization: Basic Y2Fyb2w6cHc2\r\n";

const WARNING: &str = "httpserver: warning: --auth without --tls-cert sends passwords in clear text";

fn site() -> TempDir {
    let dir = TempDir::new("auth");
    std::fs::write(dir.path().join("a.txt"), b"hello\n").unwrap();
    dir
}

/// One request on a fresh connection.
fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Response {
    parse_response(&get(addr, &format!("{method} {path} HTTP/1.0\r\n{extra}\r\n")))
}

/// Reads one response with a `Content-Length` body from a kept-alive
/// connection.
fn read_response(s: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "connection closed mid-head: {}", show(&raw));
        raw.push(byte[0]);
    }
    let head = parse_response(&raw);
    let len: usize = head.header("Content-Length").map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    raw.extend_from_slice(&body);
    parse_response(&raw)
}

#[test]
fn every_request_needs_credentials() {
    let dir = site();
    let server = ServerProcess::ours(dir.path(), &["--auth", "bob:secret"]);
    for method in ["GET", "HEAD", "POST", "OPTIONS", "DELETE"] {
        let r = request(server.addr, method, "/a.txt", "");
        assert_eq!(r.status(), 401, "{method}: {}", r.status_line);
        assert_eq!(r.header("WWW-Authenticate"), Some(CHALLENGE), "{method}");
        assert_eq!(r.header("Connection"), Some("close"));
        if method != "HEAD" {
            assert!(
                String::from_utf8_lossy(&r.body).contains("Error code: 401"),
                "{method}: {}",
                show(&r.body)
            );
        }
    }
    let r = request(server.addr, "GET", "/a.txt", BOB);
    assert_eq!((r.status(), r.body.as_slice()), (200, &b"hello\n"[..]));
    assert_eq!(request(server.addr, "GET", "/", BOB).status(), 200, "the listing too");
    assert_eq!(request(server.addr, "HEAD", "/a.txt", BOB).status(), 200);
    // Without credentials, only the request lines are logged: browsers
    // always ask once without, which is no failure.
    let log = server.take_log();
    assert!(log.iter().any(|l| l == WARNING), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("authentication failed")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("\"GET /a.txt HTTP/1.0\" 401 -")), "{log:?}");
}

/// With `--cors`, a browser's preflight (which never carries credentials)
/// is answered, so that the authenticated request can follow; a plain
/// `OPTIONS`, and the real request without credentials, are still 401.
#[test]
fn cors_preflights_pass_without_credentials() {
    let dir = site();
    let preflight = "Origin: http://app.example\r\nAccess-Control-Request-Method: GET\r\n\
                     Access-Control-Request-Headers: authorization\r\n";
    let server = ServerProcess::ours(dir.path(), &["--auth", "bob:secret", "--cors"]);
    let r = request(server.addr, "OPTIONS", "/a.txt", preflight);
    assert_eq!(r.status(), 204, "{}", r.status_line);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(r.header("Access-Control-Allow-Headers"), Some("authorization"));
    assert_eq!(request(server.addr, "OPTIONS", "/a.txt", "").status(), 401, "not a preflight");
    assert_eq!(request(server.addr, "GET", "/a.txt", "Origin: http://app.example\r\n").status(), 401);
    let r = request(server.addr, "GET", "/a.txt", &format!("Origin: http://app.example\r\n{BOB}"));
    assert_eq!((r.status(), r.header("Access-Control-Allow-Origin")), (200, Some("*")));
    // Without --cors a preflight is a request like any other.
    let closed = ServerProcess::ours(dir.path(), &["--auth", "bob:secret"]);
    assert_eq!(request(closed.addr, "OPTIONS", "/a.txt", preflight).status(), 401);
}

#[test]
fn wrong_password_and_unknown_user_are_refused_and_logged() {
    let dir = site();
    let server = ServerProcess::ours(dir.path(), &["--auth", "bob:secret", "--auth", "alice:other"]);
    for creds in [BOB_WRONG, MALLORY, "Authorization: Basic Ym9i!OnNl\r\n", "Authorization: Bearer x\r\n"] {
        let r = request(server.addr, "GET", "/a.txt", creds);
        assert_eq!(r.status(), 401, "{creds}");
        assert_eq!(r.header("WWW-Authenticate"), Some(CHALLENGE));
        assert!(!String::from_utf8_lossy(&r.body).contains("hello"));
    }
    let log = server.take_log_until("unreadable credentials", Duration::from_secs(5));
    for notice in [
        "authentication failed for user 'bob'",
        "authentication failed for user 'mallory'",
        "authentication failed: unreadable credentials",
    ] {
        assert!(
            log.iter().any(|l| l.starts_with("127.0.0.1 - - [TIME] ") && l.ends_with(notice)),
            "{notice}: {log:?}"
        );
    }
    // Another user's password is not yours.
    let alice_with_bobs = "Authorization: Basic YWxpY2U6c2VjcmV0\r\n";
    assert_eq!(request(server.addr, "GET", "/a.txt", alice_with_bobs).status(), 401);
    assert_eq!(
        request(server.addr, "GET", "/a.txt", "Authorization: Basic YWxpY2U6b3RoZXI=\r\n").status(),
        200
    );
}

#[test]
fn keep_alive_requests_are_each_checked() {
    let dir = site();
    let server = ServerProcess::ours(dir.path(), &["--auth", "bob:secret", "-p", "HTTP/1.1"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = |creds: &str| format!("GET /a.txt HTTP/1.1\r\nHost: x\r\n{creds}\r\n");
    for creds in [BOB, BOB] {
        s.write_all(req(creds).as_bytes()).unwrap();
        let r = read_response(&mut s);
        assert_eq!((r.status(), r.body.as_slice()), (200, &b"hello\n"[..]));
        assert_eq!(r.header("Connection"), None, "kept alive");
    }
    // A wrong one on the same connection is refused: the refusal is
    // CPython's send_error, which closes the connection; the client
    // (a browser asking its user) comes back on a new one.
    s.write_all(req(BOB_WRONG).as_bytes()).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status(), 401);
    assert_eq!(r.header("WWW-Authenticate"), Some(CHALLENGE));
    assert!(read_to_close(&mut s).is_empty(), "closed after the refusal");
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(req(BOB).as_bytes()).unwrap();
    assert_eq!(read_response(&mut s).status(), 200);
    // Pipelined: the refused request in the middle ends the connection,
    // and nothing after it is served.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{}{}{}", req(BOB), req(""), req(BOB)).as_bytes()).unwrap();
    assert_eq!(read_response(&mut s).status(), 200);
    assert_eq!(read_response(&mut s).status(), 401);
    assert!(read_to_close(&mut s).is_empty());
}

#[test]
fn auth_file_with_hashes_and_plain_passwords() {
    let dir = site();
    let users = TempDir::new("auth-users");
    let file = users.path().join("users");
    std::fs::write(
        &file,
        format!("# who may come in\n\nbob:{BCRYPT_SECRET}\r\ncarol:{SHA512_PW6}\n  # plain\ndave:plain pw\n"),
    )
    .unwrap();
    let server = ServerProcess::ours(dir.path(), &["--auth-file", file.to_str().unwrap()]);
    assert_eq!(request(server.addr, "GET", "/a.txt", BOB).status(), 200);
    assert_eq!(request(server.addr, "GET", "/a.txt", BOB_WRONG).status(), 401);
    assert_eq!(request(server.addr, "GET", "/a.txt", CAROL).status(), 200);
    assert_eq!(
        request(server.addr, "GET", "/a.txt", "Authorization: Basic ZGF2ZTpwbGFpbiBwdw==\r\n").status(),
        200
    );
    assert_eq!(
        request(server.addr, "GET", "/a.txt", "Authorization: Basic ZGF2ZTpwbGFpbg==\r\n").status(),
        401
    );
    assert_eq!(request(server.addr, "GET", "/a.txt", MALLORY).status(), 401);
    // --auth adds to the file's users.
    let server =
        ServerProcess::ours(dir.path(), &["--auth-file", file.to_str().unwrap(), "--auth", "erin:e"]);
    assert_eq!(request(server.addr, "GET", "/a.txt", BOB).status(), 200);
    assert_eq!(request(server.addr, "GET", "/a.txt", "Authorization: Basic ZXJpbjpl\r\n").status(), 200);
}

/// Runs the binary to its exit (it must not start serving).
fn refused_start(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(our_binary()).args(args).args(["-b", "127.0.0.1", "0"]).output().unwrap();
    assert!(out.stdout.is_empty(), "it served: {}", show(&out.stdout));
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_auth_file_is_one_error_line_and_exit_1() {
    let dir = TempDir::new("auth-bad");
    let file = dir.path().join("users");
    let name = file.to_str().unwrap();
    for (text, error) in [
        ("bob:x\n\nno colon here\n", format!("httpserver: error: {name}:3: expected user:password\n")),
        (
            "bob:$2b$10$short\n",
            format!(
                "httpserver: error: {name}:1: not a valid bcrypt hash (expected $2b$NN$ and 53 characters)\n"
            ),
        ),
        ("bob:x\nbob:y\n", format!("httpserver: error: {name}:2: user 'bob' given twice\n")),
        ("# nobody\n", format!("httpserver: error: {name}: no users in the file\n")),
    ] {
        std::fs::write(&file, text).unwrap();
        let (code, stderr) = refused_start(&["-d", dir.path().to_str().unwrap(), "--auth-file", name]);
        assert_eq!((code, stderr.as_str()), (Some(1), error.as_str()), "{text:?}");
    }
    let apr1 = "bob:$apr1$hI0fSuN7$2Y9FYC/e6yG9x3tsP4qv./\n";
    std::fs::write(&file, apr1).unwrap();
    let (code, stderr) = refused_start(&["-d", dir.path().to_str().unwrap(), "--auth-file", name]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(&format!("httpserver: error: {name}:1: unsupported password hash '$apr1$'")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let (code, stderr) =
        refused_start(&["-d", dir.path().to_str().unwrap(), "--auth-file", "/nonexistent/users"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("httpserver: error: cannot read --auth-file /nonexistent/users: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn no_warning_without_auth() {
    let dir = site();
    let server = ServerProcess::ours(dir.path(), &[]);
    assert_eq!(request(server.addr, "GET", "/a.txt", "").status(), 200);
    let log = server.take_log();
    assert!(!log.iter().any(|l| l.contains("--auth")), "{log:?}");
}

#[test]
fn guessing_is_throttled_for_the_rest_of_the_minute() {
    let dir = site();
    let server = ServerProcess::ours(dir.path(), &["--auth", "bob:secret"]);
    for i in 0..10 {
        assert_eq!(request(server.addr, "GET", "/a.txt", BOB_WRONG).status(), 401, "try {}", i + 1);
    }
    let started = Instant::now();
    for creds in [BOB_WRONG, BOB, ""] {
        let r = request(server.addr, "GET", "/a.txt", creds);
        assert_eq!(r.status(), 429, "{creds:?}: {}", r.status_line);
        assert_eq!(r.status_line, "HTTP/1.0 429 Too Many Requests");
        let retry: u64 = r.header("Retry-After").expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(retry + started.elapsed().as_secs() >= 50, "the rest of the window: {retry}");
        assert_eq!(r.header("WWW-Authenticate"), None);
    }
}

const ENV_SH: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
                      echo \"REMOTE_USER=$REMOTE_USER\"\necho \"AUTH_TYPE=$AUTH_TYPE\"\n\
                      touch MARK\n";

fn cgi_site() -> TempDir {
    let dir = site();
    let script = dir.path().join("cgi-bin/env.sh");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    let mark = dir.path().join("ran");
    std::fs::write(&script, ENV_SH.replace("MARK", mark.to_str().unwrap())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The script may run as nobody (when the tests run as root): let it
    // leave its mark.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn ran(dir: &Path) -> bool {
    dir.join("ran").exists()
}

#[test]
fn cgi_scripts_see_the_authenticated_user() {
    let dir = cgi_site();
    let server = ServerProcess::ours_in(dir.path(), &["--cgi", "--auth", "bob:secret"]);
    let r = request(server.addr, "GET", "/cgi-bin/env.sh", "");
    assert_eq!(r.status(), 401);
    assert_eq!(r.header("WWW-Authenticate"), Some(CHALLENGE));
    let r = request(server.addr, "GET", "/cgi-bin/env.sh", BOB_WRONG);
    assert_eq!(r.status(), 401);
    assert!(!ran(dir.path()), "no script runs for a refused request");
    let r = request(server.addr, "GET", "/cgi-bin/env.sh", BOB);
    assert_eq!(r.status(), 200, "{}", show(&r.body));
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("REMOTE_USER=bob\n"), "{body}");
    assert!(body.contains("AUTH_TYPE=Basic\n"), "{body}");
    assert!(ran(dir.path()));
    // Files outside cgi-bin are guarded in the CGI server too.
    assert_eq!(request(server.addr, "GET", "/a.txt", "").status(), 401);
    assert_eq!(request(server.addr, "GET", "/a.txt", BOB).status(), 200);
}

#[test]
fn refused_upload_is_not_invited_with_100_continue() {
    let dir = cgi_site();
    let server = ServerProcess::ours_in(dir.path(), &["--cgi", "--auth", "bob:secret", "-p", "HTTP/1.1"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "POST /cgi-bin/env.sh HTTP/1.1\r\nHost: x\r\n{BOB_WRONG}Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status(), 401, "no 100 Continue first: {}", r.status_line);
    assert!(!ran(dir.path()));
    // Allowed, the same request is invited.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "POST /cgi-bin/env.sh HTTP/1.1\r\nHost: x\r\n{BOB}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let (rest, _) = read_until_closed(&mut s);
    let r = parse_response(&rest);
    assert_eq!(r.status(), 200, "{}", show(&rest));
    assert!(String::from_utf8_lossy(&r.body).contains("REMOTE_USER=bob"));
}
