//! `--log-format json`: one JSON object per line on stderr, a request's
//! when its response is over (with the body bytes sent and the duration),
//! errors and notices too; every line checked with Python's json module.
//! The default format is CPython's, unchanged (the differential suite
//! compares it with CPython's own).

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// `python3 -m json.tool` accepts `line` (bounded by `timeout`).
fn json_tool_accepts(line: &str) -> bool {
    python(&["-m", "json.tool"], line).0
}

/// `line` parsed by Python's json module, as a JSON object: each field
/// with its value as `json.dumps` writes it (ASCII only: `"GET /\u00e9"`,
/// `200`, `null`, `true`). Panics unless the line is one object, in UTF-8.
fn fields(line: &str) -> BTreeMap<String, String> {
    const SCRIPT: &str = "import json, sys\n\
        o = json.loads(sys.stdin.buffer.read().decode('utf-8', 'strict'))\n\
        assert isinstance(o, dict), o\n\
        for k, v in o.items():\n    print(k + '\\t' + json.dumps(v))\n";
    let (ok, out) = python(&["-c", SCRIPT], line);
    assert!(ok, "not a JSON object: {line:?}");
    out.lines().map(|l| l.split_once('\t').unwrap()).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Run `timeout 10 python3 ARGS` with `input` on stdin: success, stdout.
fn python(args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new("timeout")
        .args(["10", "python3"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("timeout python3");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Nothing raw that a terminal would act on: no C0 control, DEL or C1
/// control, and no byte that was not UTF-8 (the sink's lossy decoding
/// would have made it U+FFFD).
fn assert_clean(line: &str) {
    assert!(
        !line.chars().any(|c| c < ' ' || ('\x7f'..='\u{9f}').contains(&c) || c == '\u{fffd}'),
        "{line:?}"
    );
}

/// The common fields of a request's object; its `duration_ms` a number.
fn assert_request(f: &BTreeMap<String, String>, request: &str, status: u16, bytes: usize) {
    assert_eq!(f["kind"], "\"request\"", "{f:?}");
    assert_eq!(f["client"], "\"127.0.0.1\"", "{f:?}");
    assert_eq!(f["request"], request, "{f:?}");
    assert_eq!(f["status"], status.to_string(), "{f:?}");
    assert_eq!(f["bytes"], bytes.to_string(), "{f:?}");
    assert_eq!(f["complete"], "true", "{f:?}");
    let ms: f64 = f["duration_ms"].parse().unwrap_or_else(|_| panic!("{f:?}"));
    assert!((0.0..10_000.0).contains(&ms), "{f:?}");
    let time = f["time"].trim_matches('"');
    // 2026-12-01T18:41:40.123Z
    assert_eq!(time.len(), 24, "{time}");
    assert!(time.ends_with('Z') && &time[10..11] == "T" && &time[19..20] == ".", "{time}");
}

/// A request on its own connection, read to the close (after which its
/// log line is out: the record is made before the connection closes).
fn ask(addr: std::net::SocketAddr, request: &[u8]) -> Response {
    parse_response(&exchange(addr, request, false, Duration::from_secs(5)))
}

/// `n` log lines, each one JSON object, parsed.
fn take(server: &ServerProcess, n: usize) -> Vec<BTreeMap<String, String>> {
    let lines = server.take_log_expecting(n);
    assert_eq!(lines.len(), n, "{lines:#?}");
    for line in &lines {
        assert_clean(line);
        assert!(json_tool_accepts(line), "json.tool refuses {line:?}");
    }
    lines.iter().map(|l| fields(l)).collect()
}

fn tree(root: &Path) {
    std::fs::write(root.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(root.join("big.bin"), vec![b'x'; 300_000]).unwrap();
}

#[test]
fn json_lines_carry_status_bytes_and_duration() {
    let root = TempDir::new("logs-json");
    tree(root.path());
    let server = ServerProcess::ours(root.path(), &["-p", "HTTP/1.1", "--log-format", "json"]);
    let addr = server.addr;

    let r = ask(addr, b"GET /a.txt HTTP/1.0\r\n\r\n");
    assert_eq!((r.status(), r.body.as_slice()), (200, &b"hello\n"[..]));
    let got = take(&server, 1);
    assert_request(&got[0], "\"GET /a.txt HTTP/1.0\"", 200, 6);
    assert_eq!((got[0]["method"].as_str(), got[0]["path"].as_str()), ("\"GET\"", "\"/a.txt\""));
    let last_modified = r.header("Last-Modified").unwrap().to_string();

    // HEAD and 304: no body bytes.
    let r = ask(addr, b"HEAD /a.txt HTTP/1.0\r\n\r\n");
    assert_eq!((r.status(), r.body.len()), (200, 0));
    assert_request(&take(&server, 1)[0], "\"HEAD /a.txt HTTP/1.0\"", 200, 0);
    let request = format!("GET /a.txt HTTP/1.0\r\nIf-Modified-Since: {last_modified}\r\n\r\n");
    let r = ask(addr, request.as_bytes());
    assert_eq!((r.status(), r.body.len()), (304, 0));
    assert_request(&take(&server, 1)[0], "\"GET /a.txt HTTP/1.0\"", 304, 0);

    // A 404: send_error's line as an error object, then the request, with
    // the error page's length.
    let r = ask(addr, b"GET /nope HTTP/1.0\r\n\r\n");
    assert_eq!(r.status(), 404);
    assert_eq!(r.header("Content-Length"), Some(r.body.len().to_string().as_str()));
    let got = take(&server, 2);
    assert_eq!(got[0]["kind"], "\"error\"", "{got:?}");
    assert_eq!((got[0]["status"].as_str(), got[0]["message"].as_str()), ("404", "\"File not found\""));
    assert_eq!(got[0]["client"], "\"127.0.0.1\"");
    assert_request(&got[1], "\"GET /nope HTTP/1.0\"", 404, r.body.len());

    // A range of the big file: the bytes of the range.
    let r = ask(addr, b"GET /big.bin HTTP/1.0\r\nRange: bytes=100-1099\r\n\r\n");
    assert_eq!((r.status(), r.body.len()), (206, 1000));
    assert_request(&take(&server, 1)[0], "\"GET /big.bin HTTP/1.0\"", 206, 1000);

    // Keep-alive: two requests on one connection, one object each, in order.
    let r = exchange(
        addr,
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        false,
        Duration::from_secs(5),
    );
    let first = parse_response(&r);
    assert_eq!(first.status(), 200);
    assert!(r.ends_with(&[b'x'; 1000]), "the whole big file came");
    let got = take(&server, 2);
    assert_request(&got[0], "\"GET /a.txt HTTP/1.1\"", 200, 6);
    assert_request(&got[1], "\"GET /big.bin HTTP/1.1\"", 200, 300_000);
}

#[test]
fn control_characters_and_latin_1_are_escaped() {
    let root = TempDir::new("logs-escape");
    tree(root.path());
    let server = ServerProcess::ours(root.path(), &["--log-format=json"]);
    // ESC [31m (a terminal's red), a Latin-1 é, a C1 control (0x9b, CSI),
    // a quote and a backslash: the request line as received.
    let r = ask(server.addr, b"GET /a\x1b[31m\xe9\x9b\"\\ HTTP/1.0\r\n\r\n");
    assert_eq!(r.status(), 404);
    let lines = server.take_log_expecting(2);
    for line in &lines {
        assert_clean(line);
        assert!(json_tool_accepts(line), "{line:?}");
    }
    // As written: é as UTF-8; ESC, U+009B, the quote and backslash escaped.
    assert!(
        lines[1].contains("\"request\":\"GET /a\\u001b[31m\u{e9}\\u009b\\\"\\\\ HTTP/1.0\""),
        "{lines:?}"
    );
    // As Python reads it back: the Latin-1 decoded request line.
    let f = fields(&lines[1]);
    assert_request(&f, "\"GET /a\\u001b[31m\\u00e9\\u009b\\\"\\\\ HTTP/1.0\"", 404, r.body.len());
    assert_eq!(f["path"], "\"/a\\u001b[31m\\u00e9\\u009b\\\"\\\\\"");

    // A malformed request: no method or path; a bare control character.
    let r = ask(server.addr, b"\x07\r\n\r\n");
    assert_eq!(r.status(), 400);
    let got = take(&server, 2);
    assert_eq!(got[0]["kind"], "\"error\"");
    assert_request(&got[1], "\"\\u0007\"", 400, r.body.len());
    assert_eq!((got[1]["method"].as_str(), got[1]["path"].as_str()), ("null", "null"));
}

#[test]
fn notices_and_cgi_stderr_are_objects() {
    let root = TempDir::new("logs-cgi");
    let script = root.path().join("cgi-bin/stderr.sh");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'evil \\033[31m red\\n' >&2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server =
        ServerProcess::ours_in(root.path(), &["--cgi", "--log-format", "json", "--header-timeout", "0.5"]);

    let r = ask(server.addr, b"GET /cgi-bin/stderr.sh HTTP/1.0\r\n\r\n");
    assert_eq!((r.status(), r.body.as_slice()), (200, &b"ok\n"[..]));
    // The script's stderr is drained on its own thread: its line may come
    // before or after the exit's.
    let mut lines = server.take_log_until("exited OK", Duration::from_secs(5));
    if !lines.iter().any(|l| l.contains("evil")) {
        lines.extend(server.take_log_until("evil", Duration::from_secs(5)));
    }
    let mut notices = Vec::new();
    for line in &lines {
        assert_clean(line);
        assert!(json_tool_accepts(line), "{line:?}");
        let f = fields(line);
        match f["kind"].as_str() {
            "\"request\"" => assert_request(&f, "\"GET /cgi-bin/stderr.sh HTTP/1.0\"", 200, 3),
            "\"notice\"" => {
                assert_eq!(f["client"], "\"127.0.0.1\"");
                notices.push(f["message"].clone());
            }
            other => panic!("{other}: {line}"),
        }
    }
    assert!(notices.contains(&"\"CGI script stderr: evil \\u001b[31m red\"".to_string()), "{lines:#?}");
    assert!(notices.contains(&"\"CGI script exited OK\"".to_string()), "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("\"kind\":\"request\"")).count(), 1, "{lines:#?}");

    // A head that never completes: the engine's notice.
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n").unwrap();
    let lines = server.take_log_until("not received in time", Duration::from_secs(5));
    let f = fields(lines.last().unwrap());
    assert_eq!(f["kind"], "\"notice\"");
    assert_eq!(f["message"], "\"request head not received in time; connection closed\"");
}

#[test]
fn the_default_format_is_cpythons() {
    let root = TempDir::new("logs-default");
    tree(root.path());
    for flags in [&[][..], &["--log-format", "cpython"]] {
        let server = ServerProcess::ours(root.path(), flags);
        let _ = ask(server.addr, b"GET /a.txt HTTP/1.0\r\n\r\n");
        let _ = ask(server.addr, b"GET /nope HTTP/1.0\r\n\r\n");
        assert_eq!(
            server.take_log_expecting(3),
            [
                "127.0.0.1 - - [TIME] \"GET /a.txt HTTP/1.0\" 200 -",
                "127.0.0.1 - - [TIME] code 404, message File not found",
                "127.0.0.1 - - [TIME] \"GET /nope HTTP/1.0\" 404 -",
            ],
            "{flags:?}"
        );
    }
}

#[test]
fn a_bad_choice_is_a_usage_error() {
    for (args, message) in [
        (
            &["--log-format", "xml"][..],
            "argument --log-format: invalid choice: 'xml' (choose from 'cpython', 'json')",
        ),
        (&["--log-format"], "argument --log-format: expected one argument"),
    ] {
        let out = Command::new(our_binary()).args(args).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("usage: httpserver "), "{err}");
        assert!(err.ends_with(&format!("httpserver: error: {message}\n")), "{err}");
    }
}

#[test]
fn a_reply_cut_short_by_the_client_is_still_logged() {
    let root = TempDir::new("logs-abort");
    std::fs::write(root.path().join("huge.bin"), vec![b'x'; 64 << 20]).unwrap();
    let server = ServerProcess::ours(root.path(), &["--log-format", "json"]);
    {
        // Read a little of 64 MiB, then reset the connection (SO_LINGER 0
        // is not needed: closing with unread data resets it).
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        std::io::Write::write_all(&mut s, b"GET /huge.bin HTTP/1.0\r\n\r\n").unwrap();
        let mut some = [0u8; 1000];
        std::io::Read::read_exact(&mut s, &mut some).unwrap();
    }
    let lines = server.take_log_until("huge.bin", std::time::Duration::from_secs(20));
    let line =
        lines.iter().find(|l| l.contains("huge.bin")).unwrap_or_else(|| panic!("no record: {lines:#?}"));
    assert!(json_tool_accepts(line), "{line}");
    let f = fields(line);
    assert_eq!(f["kind"], "\"request\"", "{line}");
    assert_eq!(f["complete"], "false", "{line}");
    let bytes: u64 = f["bytes"].parse().unwrap();
    assert!(bytes < 64 << 20, "{line}");
}
