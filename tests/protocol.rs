//! Behaviour of ours alone (where CPython hangs, or has no equivalent):
//! FIFOs, streaming large files in flat memory, concurrency, disconnects,
//! pipelining depth.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::*;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn fifo_is_404_without_blocking() {
    let dir = TempDir::new("fifo");
    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
    let srv = ServerProcess::ours(dir.path(), &[]);
    // A server blocked opening the FIFO would leave this read to time out.
    let r = parse_response(&get(srv.addr, "GET /pipe HTTP/1.0\r\n\r\n"));
    assert_eq!(r.status_line, "HTTP/1.0 404 File not found");
    // The listing still shows it; the server still serves.
    let listing = get(srv.addr, "GET / HTTP/1.0\r\n\r\n");
    assert!(show(&listing).contains("<a href=\"pipe\">pipe</a>"));
    assert_eq!(parse_response(&get(srv.addr, "GET /a.txt HTTP/1.0\r\n\r\n")).body, b"a");
}

#[test]
fn large_file_streams_intact_in_flat_memory() {
    let dir = TempDir::new("large");
    let size: usize = 96 << 20;
    let mut data = Vec::with_capacity(size);
    let mut x: u32 = 1;
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    let srv = ServerProcess::ours(dir.path(), &[]);
    let before = rss_kib(srv.pid());
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.0\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got = Vec::with_capacity(size + 512);
    let mut buf = vec![0u8; 1 << 16];
    let mut peak = before;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() % (8 << 20) < n {
            peak = peak.max(rss_kib(srv.pid()));
        }
    }
    let r = parse_response(&got);
    assert_eq!(r.header("Content-Length"), Some(size.to_string().as_str()));
    assert!(r.body == data, "body differs");
    assert!(peak < before + 8 * 1024, "RSS grew from {before} KiB to {peak} KiB");
}

#[test]
fn idle_connections_do_not_block_others() {
    let dir = TempDir::new("concurrent");
    std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
    let srv = ServerProcess::ours(dir.path(), &["-p", "HTTP/1.1"]);
    // Browsers pre-open sockets and send nothing; others must still be served.
    let idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(srv.addr).unwrap()).collect();
    let mut half = TcpStream::connect(srv.addr).unwrap();
    half.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n").unwrap(); // head never finished
    let r = parse_response(&get(srv.addr, "GET /a.txt HTTP/1.0\r\n\r\n"));
    assert_eq!(r.status(), 200);
    drop(idle);
}

#[test]
fn deep_pipelining_answers_every_request_in_order() {
    let dir = TempDir::new("pipeline");
    for i in 0..20 {
        std::fs::write(dir.path().join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let srv = ServerProcess::ours(dir.path(), &["-p", "HTTP/1.1"]);
    let mut req = String::new();
    for round in 0..10 {
        for i in 0..20 {
            req.push_str(&format!("GET /f{i}.txt?r={round} HTTP/1.1\r\nHost: x\r\n\r\n"));
        }
    }
    req.push_str("GET /f0.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let out = show_all(&get(srv.addr, &req));
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 201);
    let bodies: Vec<&str> = out.match_indices("file ").map(|(i, _)| &out[i..i + 7]).collect();
    for (n, b) in bodies.iter().take(200).enumerate() {
        assert_eq!(b.trim(), format!("file {}", n % 20).trim(), "response {n} out of order");
    }
}

fn show_all(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn client_that_vanishes_mid_response_costs_nothing() {
    let dir = TempDir::new("vanish");
    std::fs::write(dir.path().join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
    let mut srv = ServerProcess::ours(dir.path(), &[]);
    for _ in 0..20 {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(b"GET /big.bin HTTP/1.0\r\n\r\n").unwrap();
        let mut first = [0u8; 1024];
        let _ = s.read(&mut first);
        drop(s); // gone mid-body
    }
    assert!(srv.is_running());
    assert_eq!(parse_response(&get(srv.addr, "GET /a.txt HTTP/1.0\r\n\r\n")).body, b"a");
}

#[test]
fn expect_continue_then_answer() {
    let dir = TempDir::new("expect");
    let srv = ServerProcess::ours(dir.path(), &["-p", "HTTP/1.1"]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n").unwrap();
    // As CPython: 100 Continue as soon as the head is read, then the
    // answer (501 here: the static server has no POST), without waiting.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !show(&got).contains("</html>") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", show(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = show(&got);
    assert!(
        text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 501 Unsupported method ('POST')\r\n"),
        "{text}"
    );
}

#[test]
fn head_cut_short_by_eof_is_answered_as_cpython_does() {
    let dir = TempDir::new("eof");
    std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
    let srv = ServerProcess::ours(dir.path(), &[]);
    let out = exchange(srv.addr, b"GET /a.txt HTTP/1.0\r\nUser-Agent: t\r\n", true, Duration::from_secs(5));
    assert_eq!(parse_response(&out).body, b"a");
}

#[test]
fn unread_request_body_does_not_destroy_the_response() {
    // HTTP/1.0: answered at the head, connection closed with 1 MiB of the
    // body still unread; a lingering close keeps the reset from eating
    // the response.
    let dir = TempDir::new("linger");
    std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
    let srv = ServerProcess::ours(dir.path(), &[]);
    let mut req = b"GET /a.txt HTTP/1.0\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 1 << 20));
    let out = exchange(srv.addr, &req, false, Duration::from_secs(10));
    assert_eq!(parse_response(&out).body, b"a");
}
