//! The WASI build under a real WASI runtime (the wasmtime wheel from
//! PyPI): same responses as the native server for the same requests and
//! tree, the socat recipe with a real TCP client, and the refusals.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The module, built (or brought up to date) by `wasi-shell/build.sh`.
fn wasm() -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let ok =
            Command::new(repo().join("wasi-shell/build.sh")).status().expect("running wasi-shell/build.sh");
        assert!(ok.success(), "wasi-shell/build.sh failed");
    });
    repo().join("wasi-shell/target/wasm32-wasi/release/httpserver-wasi.wasm")
}

fn runner() -> PathBuf {
    repo().join("wasi-shell/run.py")
}

/// One connection over stdin/stdout: `input` in, everything out.
fn wasi_stdio(root: &Path, args: &[&str], input: &[u8]) -> (Vec<u8>, String, Option<i32>) {
    let mut child = Command::new("python3")
        .arg(runner())
        .arg("--dir")
        .arg(format!("{}::/", root.display()))
        .arg(wasm())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code())
}

fn tree(root: &Path) {
    std::fs::write(root.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(root.join("page.html"), b"<p>page</p>\n").unwrap();
    std::fs::write(root.join("data.json"), b"{}\n").unwrap();
    std::fs::write(root.join("style.css"), b"p{}\n").unwrap();
    std::fs::write(root.join("we ird&.txt"), b"weird\n").unwrap();
    std::fs::write(root.join("big.bin"), vec![7u8; 300_000]).unwrap();
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/index.html"), b"<h1>index</h1>\n").unwrap();
    std::fs::create_dir_all(root.join("dir/inner")).unwrap();
    std::fs::write(root.join("dir/z.txt"), b"z\n").unwrap();
    std::fs::write(root.join("dir/B.txt"), b"B\n").unwrap();
}

#[test]
fn stdio_answers_as_the_native_server_does() {
    let root = TempDir::new("wasi-diff");
    tree(root.path());
    let requests: &[(&str, &str)] = &[
        ("HTTP/1.0", "GET /a.txt HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET / HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /dir/ HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /dir HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /sub/ HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "HEAD /page.html HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /data.json HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /style.css HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /we%20ird%26.txt HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /big.bin HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /nope HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /a.txt/ HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /../../etc/passwd HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0", "GET /a.txt HTTP/2.0\r\n\r\n"),
        ("HTTP/1.0", "POST /a.txt HTTP/1.0\r\nContent-Length: 2\r\n\r\nab"),
        ("HTTP/1.0", "GET /a.txt\r\n"),
        ("HTTP/1.0", "GET /a.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n"),
        ("HTTP/1.1", "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /sub HTTP/1.1\r\nHost: x\r\n\r\nGET /data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ("HTTP/1.1", "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ("HTTP/1.1", "GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"),
        ("HTTP/1.1", "GET /a.txt HTTP/1.1\r\n\r\n"),
    ];
    let native10 = ServerProcess::ours(root.path(), &["-p", "HTTP/1.0"]);
    let native11 = ServerProcess::ours(root.path(), &["-p", "HTTP/1.1"]);
    for (protocol, req) in requests {
        let native = if *protocol == "HTTP/1.0" { &native10 } else { &native11 };
        let n = exchange(native.addr, req.as_bytes(), true, Duration::from_secs(5));
        let (w, log, code) = wasi_stdio(root.path(), &["--stdio", "-p", protocol], req.as_bytes());
        assert_eq!(code, Some(0), "{req:?}: {log}");
        assert!(!n.is_empty(), "{req:?}");
        // The runtime reports its own device numbers: entity tags are
        // consistent within one server, not across the two.
        let (w, n) = (without_etag_values(&w), without_etag_values(&n));
        assert_eq!(show(&normalise_response(&w)), show(&normalise_response(&n)), "{protocol} {req:?}");
        assert!(log.contains(" - - ["), "the WASI build logs in CPython's format: {log}");
    }
}

#[test]
fn default_directory_is_the_preopen() {
    let root = TempDir::new("wasi-default");
    tree(root.path());
    let (w, _, code) = wasi_stdio(root.path(), &["--stdio"], b"GET /a.txt HTTP/1.0\r\n\r\n");
    assert_eq!(code, Some(0));
    assert!(w.ends_with(b"\r\n\r\nhello\n"), "{}", show(&w));
}

#[test]
fn unsupported_flags_exit_2_naming_the_wasi_limit() {
    let root = TempDir::new("wasi-flags");
    for args in [
        &["--cgi"][..],
        &["-b", "127.0.0.1"],
        &["--bind", "::"],
        &["8000"],
        &["--follow-symlinks"],
        // Time limits hold on a socket the host preopened (poll_oneoff);
        // reads of standard input have none.
        &["--stdio", "--header-timeout", "5"],
        &["--idle-timeout", "5", "--stdio"],
        &["--stdio", "--io-timeout=5"],
        &["--max-connections", "10"],
        &["--cgi-timeout", "5"],
        &["--cgi-max-body", "5"],
    ] {
        let (out, err, code) = wasi_stdio(root.path(), args, b"");
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(out.is_empty());
        let last = err.lines().last().unwrap_or("");
        assert!(last.contains("not available on WASI"), "{args:?}: {err}");
        assert!(last.starts_with("httpserver-wasi: error: argument "), "{args:?}: {err}");
    }
    // No socket from the host and no --stdio: say which to do.
    let (_, err, code) = wasi_stdio(root.path(), &[], b"");
    assert_eq!(code, Some(2));
    assert!(err.contains("--stdio") && err.contains("tcplisten"), "{err}");
    // A bad protocol, as natively.
    let (_, err, code) = wasi_stdio(root.path(), &["--stdio", "-p", "HTTP/2"], b"");
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn socat_recipe_is_a_network_server() {
    let root = TempDir::new("wasi-socat");
    tree(root.path());
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let exec = format!(
        "EXEC:python3 {} --root {} {} --stdio -p HTTP/1.1",
        runner().display(),
        root.path().display(),
        wasm().display()
    );
    let mut socat = Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg(exec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (make wasi-deps installs it)");
    let addr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "socat never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..2 {
        let out = exchange(
            addr,
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /dir/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
            Duration::from_secs(20),
        );
        let text = show(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("hello\n") && text.contains("Directory listing for /dir/"), "{text}");
    }
    let _ = socat.kill();
    let _ = socat.wait();
}

/// `ETag: "..."` with the tag replaced by `<tag>`.
fn without_etag_values(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut rest = &*text;
    while let Some(i) = rest.find("\r\nETag: \"") {
        out.push_str(&rest[..i]);
        out.push_str("\r\nETag: <tag>");
        let after = &rest[i + 9..];
        rest = &after[after[1..].find('"').map_or(after.len(), |j| j + 2)..];
    }
    out.push_str(rest);
    out.into_bytes()
}
