//! Nothing lost: normal clients and hostile ones at once, for a bounded
//! time (`SOAK_SECS`, 15 by default; `make soak` runs longer). Every
//! normal request must get exactly the right bytes.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

fn file_body(i: usize) -> Vec<u8> {
    let len = [0usize, 1, 100, 1024, 16 * 1024, 16 * 1024 + 1, 200 * 1024][i % 7];
    (0..len).map(|j| (j * 31 + i) as u8).collect()
}

/// Read one response with a Content-Length body from a keep-alive stream;
/// `buf` carries bytes already read past the previous response.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut tmp = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let r = parse_response(&buf[..head_end]);
    let len: usize = r.header("Content-Length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Ok((r.status(), body))
}

fn normal_client(
    addr: SocketAddr,
    seed: usize,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    bad: Arc<AtomicUsize>,
) {
    let mut i = seed;
    while !stop.load(Ordering::Relaxed) {
        // Alternate: a keep-alive connection with a few pipelined
        // requests, and one request per connection.
        let phase = |what: &'static str| {
            move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"))
        };
        let result = (|| -> std::io::Result<()> {
            let mut s = TcpStream::connect(addr).map_err(phase("connect"))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            let n = 1 + i % 4;
            let mut req = String::new();
            for k in 0..n {
                req.push_str(&format!("GET /f{}.bin HTTP/1.1\r\nHost: x\r\n\r\n", (i + k) % 14));
            }
            s.write_all(req.as_bytes()).map_err(phase("write"))?;
            let mut buf = Vec::new();
            for k in 0..n {
                let (status, body) = read_response(&mut s, &mut buf).map_err(phase("read"))?;
                if status != 200 || body != file_body((i + k) % 14) {
                    return Err(std::io::Error::other(format!("wrong answer for f{}", (i + k) % 14)));
                }
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })();
        if let Err(e) = result {
            eprintln!("normal client: {e}");
            bad.fetch_add(1, Ordering::Relaxed);
        }
        i += 5;
    }
}

fn hostile_client(addr: SocketAddr, kind: usize, stop: Arc<AtomicBool>) {
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let Ok(mut s) = TcpStream::connect(addr) else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut sink = [0u8; 4096];
        match kind {
            0 => {
                // slowloris
                for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-a: b\r\n".iter().take(8) {
                    if s.write_all(&[*b]).is_err() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
            1 => {
                let _ = s.write_all(b"\x00\xff\x16\x03garbage\r\n\r\n");
                let _ = s.read(&mut sink);
            }
            2 => {
                let _ = s.write_all(b"POST /f1.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /f2.bin HTTP/1.1\r\nHost: x\r\n\r\n");
                let _ = s.read(&mut sink);
            }
            3 => {
                let _ = s.write_all(b"GET /f6.bin HTTP/1.1\r\nHost: x\r\n\r\n");
                let _ = s.read(&mut sink); // then vanish mid-body
            }
            _ => {
                let _ = s.write_all(
                    format!("GET /{} HTTP/1.0\r\n\r\n", "a".repeat(70_000 + round % 100)).as_bytes(),
                );
                let _ = s.read(&mut sink);
            }
        }
    }
}

#[test]
fn soak_mixed_clients_nothing_lost() {
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(15).min(3600);
    let root = TempDir::new("soak");
    for i in 0..14 {
        std::fs::write(root.path().join(format!("f{i}.bin")), file_body(i)).unwrap();
    }
    let mut srv = ServerProcess::ours(root.path(), &["-p", "HTTP/1.1", "--header-timeout", "2"]);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for seed in 0..6 {
        let (stop, ok, bad) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&bad));
        let addr = srv.addr;
        threads.push(std::thread::spawn(move || normal_client(addr, seed, stop, ok, bad)));
    }
    for kind in 0..5 {
        for _ in 0..2 {
            let stop = Arc::clone(&stop);
            let addr = srv.addr;
            threads.push(std::thread::spawn(move || hostile_client(addr, kind, stop)));
        }
    }
    // Idle connections held throughout.
    let idle: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(srv.addr).ok()).collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(200));
        assert!(srv.is_running(), "the server died");
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    drop(idle);
    let (ok, bad) = (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed));
    println!("soak: {ok} normal requests answered correctly, {bad} failures, {secs} s");
    assert_eq!(bad, 0, "normal requests failed");
    assert!(ok > 100, "only {ok} normal requests completed");
    assert!(srv.is_running());
}
