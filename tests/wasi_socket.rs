//! The WASI build serving a listening socket preopened by the host
//! (wasmtime 46: `-S preview2=n -S tcplisten=...`): several connections at
//! once, with the engine's deadlines, from one `poll_oneoff` event loop.
//! Run by `make test-wasi-socket`, which installs that wasmtime.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// What the module's connection cap is (`wasi-shell/src/socket.rs`).
const MAX_CONNECTIONS: usize = 256;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The module on a socket preopened by wasmtime 46, killed (by pid) on
/// drop; its log (stderr) collected line by line.
struct Module {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Module {
    fn start(root: &Path, args: &[&str]) -> Module {
        let wasmtime = std::env::var("WASMTIME46").unwrap_or_else(|_| "wasmtime".into());
        let wasm = repo().join("wasi-shell/target/wasm32-wasi/release/httpserver-wasi.wasm");
        assert!(wasm.exists(), "run make wasi first");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(&wasmtime)
            .args(["run", "-S", "preview2=n", "-S", &format!("tcplisten=127.0.0.1:{port}")])
            .arg("--dir")
            .arg(format!("{}::/", root.display()))
            .arg(&wasm)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wasmtime 46");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                match line {
                    Ok(l) => sink.lock().unwrap().push(l),
                    Err(_) => break,
                }
            }
        });
        // Started once it says so on stdout (the host binds the socket
        // before the module runs, so a connection alone proves nothing).
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        let module = Module { child, addr: ([127, 0, 0, 1], port).into(), log };
        let first = rx.recv_timeout(Duration::from_secs(30)).expect("the module never started");
        assert!(first.starts_with("Serving HTTP on "), "{first:?}; log: {:?}", module.log.lock().unwrap());
        module
    }

    /// The log so far, until a line contains `needle` (or `timeout`
    /// passes).
    fn log_until(&self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.log.lock().unwrap().clone();
            if lines.iter().any(|l| l.contains(needle)) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// One response on a persistent connection: its head, then as many body
/// bytes as its `Content-Length` says.
fn read_response(s: &mut TcpStream) -> Response {
    try_read_response(s).unwrap_or_else(|e| panic!("{e}"))
}

fn try_read_response(s: &mut TcpStream) -> Result<Response, String> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            other => return Err(format!("response head cut short ({other:?}): {}", show(&raw))),
        }
    }
    let mut r = parse_response(&raw);
    let len = r.header("Content-Length").and_then(|v| v.parse().ok()).ok_or("no Content-Length")?;
    r.body = vec![0u8; len];
    s.read_exact(&mut r.body).map_err(|e| format!("body cut short: {e}"))?;
    Ok(r)
}

/// Distinct contents for each file, so that bytes from the wrong file or
/// offset show.
fn content(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Whether the server has closed `s` (EOF or reset), reading what is left.
fn closed_by_server(s: &mut TcpStream, timeout: Duration) -> bool {
    s.set_read_timeout(Some(timeout)).unwrap();
    read_until_closed(s).1
}

#[test]
fn preopened_socket_serves_as_the_native_server_does() {
    let root = TempDir::new("wasi-socket");
    std::fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    std::fs::create_dir_all(root.path().join("dir")).unwrap();
    std::fs::write(root.path().join("dir/b.txt"), b"b\n").unwrap();
    let module = Module::start(root.path(), &["-p", "HTTP/1.1"]);
    let native = ServerProcess::ours(root.path(), &["-p", "HTTP/1.1"]);
    for req in [
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /dir/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /dir HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /a.txt HTTP/1.0\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\nConnection: close\r\n\r\n",
    ] {
        let w = exchange(module.addr, req.as_bytes(), false, Duration::from_secs(10));
        let n = exchange(native.addr, req.as_bytes(), false, Duration::from_secs(10));
        assert_eq!(show(&normalise_response(&w)), show(&normalise_response(&n)), "{req:?}");
    }
    let log = module.log_until("\"GET /nope HTTP/1.1\" 404", Duration::from_secs(5));
    let line =
        log.iter().find(|l| l.contains("\"GET /a.txt HTTP/1.1\" 200")).expect("a log line per request");
    assert!(line.starts_with("0.0.0.0 - - ["), "CPython's format: {line}");
}

/// A client that connects and sends half a request head (or nothing)
/// holds up no one: another is served in full while it is still open, and
/// it is cut off at the head deadline (counted from accept).
#[test]
fn a_stalled_client_holds_up_no_one_and_is_cut_off_at_the_head_deadline() {
    let root = TempDir::new("wasi-socket-stall");
    std::fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    let module = Module::start(root.path(), &["-p", "HTTP/1.1", "--header-timeout", "2"]);
    let mut half = connect(module.addr);
    half.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut silent = connect(module.addr);

    // Served in full (two requests on one connection), while both stalled
    // clients are still open.
    let mut s = connect(module.addr);
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_response(&mut s);
    assert_eq!((r.status(), r.body.as_slice()), (200, &b"hello\n"[..]));
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let r = read_response(&mut s);
    assert_eq!((r.status(), r.body.as_slice()), (200, &b"hello\n"[..]));
    assert!(closed_by_server(&mut s, Duration::from_secs(10)), "Connection: close is honoured");
    for stalled in [&mut half, &mut silent] {
        stalled.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let n = stalled.read(&mut buf);
        assert!(
            matches!(&n, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a stalled client was answered or closed before the other was served: {n:?}"
        );
        stalled.set_nonblocking(false).unwrap();
    }

    // Then both are cut off (EOF, no response), and the log says why for
    // the one that had started its head.
    for stalled in [&mut half, &mut silent] {
        stalled.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let (got, closed) = read_until_closed(stalled);
        assert!(closed, "a stalled client is still open");
        assert!(got.is_empty(), "{}", show(&got));
    }
    let log = module.log_until("request head not received in time", Duration::from_secs(10));
    assert!(
        log.iter().any(|l| l.starts_with("0.0.0.0 - - [")
            && l.ends_with("request head not received in time; connection closed")),
        "{log:#?}"
    );

    // The slowloris of the native tests too, and the server still serves.
    let (closed, elapsed) = slowloris(module.addr);
    assert!(closed, "slowloris connection still open after {elapsed:?}");
    let r = parse_response(&get(module.addr, "GET /a.txt HTTP/1.0\r\n\r\n"));
    assert_eq!((r.status(), r.body.as_slice()), (200, &b"hello\n"[..]));
}

/// Several keep-alive clients in lock step (none sends its next request
/// before all had their previous answer, which a server taking one
/// connection at a time could never do), and one that stops reading a
/// large body midway: everyone gets the right bytes.
#[test]
fn concurrent_keep_alive_clients_get_the_right_bytes() {
    const CLIENTS: usize = 6;
    const ROUNDS: usize = 4;
    let root = TempDir::new("wasi-socket-concurrent");
    let sizes = [0usize, 1, 5_000, 70_000, 300_000];
    for (i, size) in sizes.iter().enumerate() {
        std::fs::write(root.path().join(format!("f{i}.bin")), content(i as u32 + 1, *size)).unwrap();
    }
    let big = content(99, 16 << 20);
    std::fs::write(root.path().join("big.bin"), &big).unwrap();
    let module = Module::start(root.path(), &["-p", "HTTP/1.1"]);

    // The slow reader: asks for 16 MiB (more than the socket buffers hold) and reads a little of it for now;
    // the server waits for its socket to drain, serving the others.
    let mut slow = connect(module.addr);
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 1024];
    slow.read_exact(&mut first).unwrap();

    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let barrier = Arc::clone(&barrier);
            let addr = module.addr;
            std::thread::spawn(move || -> Result<(), String> {
                let mut s = connect(addr);
                // A failed round still meets the others at the barrier, so
                // that no thread waits there for good.
                let mut failure = None;
                for round in 0..ROUNDS {
                    if failure.is_none() {
                        let i = (c + round) % sizes.len();
                        let req = format!("GET /f{i}.bin HTTP/1.1\r\nHost: x\r\n\r\n");
                        failure = match s.write_all(req.as_bytes()).map_err(|e| e.to_string()).and_then(|()| try_read_response(&mut s)) {
                            Ok(r) if r.status() == 200 && r.body == content(i as u32 + 1, sizes[i]) => None,
                            Ok(r) => Some(format!("client {c} round {round}: {} or wrong bytes", r.status_line)),
                            Err(e) => Some(format!("client {c} round {round}: {e}")),
                        };
                    }
                    barrier.wait();
                }
                if let Some(f) = failure {
                    return Err(f);
                }
                // Two pipelined, the second closing.
                s.write_all(b"GET /f2.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /f3.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .map_err(|e| e.to_string())?;
                let r = try_read_response(&mut s)?;
                if r.status() != 200 || r.body != content(3, sizes[2]) {
                    return Err(format!("client {c}: pipelined 1: {}", r.status_line));
                }
                let r = try_read_response(&mut s)?;
                if r.status() != 200 || r.body != content(4, sizes[3]) {
                    return Err(format!("client {c}: pipelined 2: {}", r.status_line));
                }
                if !closed_by_server(&mut s, Duration::from_secs(10)) {
                    return Err(format!("client {c}: not closed after Connection: close"));
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }

    // The slow reader gets its whole body, then another on the same
    // connection.
    let mut rest = Vec::new();
    rest.extend_from_slice(&first);
    let head_end = rest.windows(4).position(|w| w == b"\r\n\r\n").expect("head in the first KiB") + 4;
    let r = parse_response(&rest[..head_end]);
    assert_eq!(r.status(), 200);
    let len: usize = r.header("Content-Length").unwrap().parse().unwrap();
    assert_eq!(len, big.len());
    let mut body = rest.split_off(head_end);
    let have = body.len();
    body.resize(len, 0);
    slow.read_exact(&mut body[have..]).unwrap();
    assert!(body == big, "the large body's bytes");
    slow.write_all(b"GET /f1.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let r = read_response(&mut slow);
    assert!(r.status() == 200 && r.body == content(2, sizes[1]));
}

/// Past the cap, a connection is answered 503 (the core's refusal) and
/// closed; once connections close, new ones are served again.
#[test]
fn past_the_connection_cap_a_client_gets_503() {
    let root = TempDir::new("wasi-socket-cap");
    std::fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    let module = Module::start(root.path(), &["-p", "HTTP/1.1"]);
    // These take every place: each is answered once (so it was accepted:
    // none is left in the listen queue to overtake) and stays open.
    let held: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|i| {
            let mut s = connect(module.addr);
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let r = read_response(&mut s);
            assert_eq!((r.status(), r.body.as_slice()), (200, &b"hello\n"[..]), "connection {i}");
            s
        })
        .collect();
    let reply = get(module.addr, "GET /a.txt HTTP/1.0\r\n\r\n");
    let r = parse_response(&reply);
    assert_eq!((r.status(), r.header("Connection")), (503, Some("close")), "{}", show(&reply));
    let log = module.log_until("connection refused: too many connections", Duration::from_secs(10));
    assert!(log.iter().any(|l| l.ends_with("connection refused: too many connections")), "{log:#?}");
    drop(held);
    // Their EOFs free the places (in a moment: retried, a bounded number
    // of times).
    let mut status = 0;
    for _ in 0..100 {
        status = parse_response(&get(module.addr, "GET /a.txt HTTP/1.0\r\n\r\n")).status();
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, 200);
}
