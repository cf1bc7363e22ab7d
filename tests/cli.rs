//! The command line: CPython's options, messages and exit codes, checked
//! against `python3 -m http.server` where it is the reference.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::*;

fn ours(args: &[&str]) -> std::process::Output {
    Command::new(our_binary()).args(args).stdin(Stdio::null()).output().unwrap()
}

fn theirs(args: &[&str]) -> std::process::Output {
    Command::new("python3").args(["-m", "http.server"]).args(args).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn bad_arguments_exit_2_with_usage_like_argparse() {
    for args in [&["notaport"][..], &["-b"], &["--nope"], &["8000", "9000"], &["-p"]] {
        let (o, t) = (ours(args), theirs(args));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(t.status.code(), Some(2), "{args:?}");
        let (oe, te) = (String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&t.stderr));
        assert!(oe.starts_with("usage: httpserver "), "{oe}");
        // Same error line, program name aside.
        let last = |s: &str| s.lines().last().unwrap_or("").split_once(": error: ").map(|x| x.1.to_string());
        assert_eq!(last(&oe), last(&te), "{args:?}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn our_own_argument_errors_are_one_line_and_exit_2() {
    for (args, msg) in [
        (&["-p", "HTTP/2"][..], "argument -p/--protocol: invalid choice: 'HTTP/2'"),
        (&["-d", "/nonexistent/dir"], "argument -d/--directory: not a directory"),
        (&["70000"], "argument port: invalid int value: '70000'"),
        (&["--cgi-timeout", "soon"], "argument --cgi-timeout: invalid value: 'soon'"),
    ] {
        let o = ours(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("usage: httpserver "), "{err}");
        assert_eq!(err.lines().filter(|l| l.starts_with("httpserver: error: ")).count(), 1, "{err}");
        assert!(err.lines().last().unwrap().contains(msg), "{err}");
    }
}

#[test]
fn help_exits_0_and_lists_the_options() {
    let o = ours(&["-h"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    for opt in ["--cgi", "--bind ADDRESS", "--directory DIRECTORY", "--protocol VERSION", "port"] {
        assert!(out.contains(opt), "{out}");
    }
}

#[test]
fn start_line_and_ctrl_c_like_cpython() {
    let dir = TempDir::new("cli");
    // `Spawned` reads the start line; check it here in full.
    let mut child = Command::new(our_binary())
        .args(["-b", "127.0.0.1", "-d", dir.path().to_str().unwrap(), "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = KillOnDrop(child);
    let (mut line, mut local) = (String::new(), String::new());
    let mut reader = BufReader::new(stdout);
    reader.read_line(&mut line).unwrap();
    reader.read_line(&mut local).unwrap();
    drop(guard);
    let port: u16 = line.split(" port ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(line, format!("Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ...\n"));
    // Then (ours alone) the address to open.
    assert_eq!(local, format!("  Local:   http://127.0.0.1:{port}/\n"));

    // It serves, then SIGINT ends it with CPython's message and status 0.
    let mut server = Spawned::start(dir.path(), &[]);
    let resp = get(server.addr(), "GET / HTTP/1.0\r\n\r\n");
    assert!(resp.starts_with(b"HTTP/1.0 200 OK\r\n"));
    let sent = server.signal(2);
    let (status, _) = server.wait_exit(sent, Duration::from_secs(10));
    assert_eq!(after_addresses(&server.stdout_rest()), "\nKeyboard interrupt received, exiting.\n");
    assert_eq!(status.code(), Some(0));
    // The request's log line was written before the exit (lines are batched).
    let log = server.log().join("\n");
    assert!(log.contains("\"GET / HTTP/1.0\" 200 -"), "{log:?}");
}

/// What the server wrote after its start line, without the address
/// lines (`  Local:` and `  Network:`) that follow it.
fn after_addresses(rest: &str) -> String {
    let mut lines = rest.split_inclusive('\n').peekable();
    while lines.peek().is_some_and(|l| l.starts_with("  Local:") || l.starts_with("  Network:")) {
        lines.next();
    }
    lines.collect()
}

/// Send a signal with the `kill` command (keeps the tests free of libc).
fn send_signal(pid: u32, signal: i32) {
    let ok = Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

#[test]
fn default_bind_is_dual_stack() {
    let dir = TempDir::new("cli-dual");
    // Port 0 on all interfaces: the kernel picks a free one.
    let mut child = Command::new(our_binary())
        .args(["-d", dir.path().to_str().unwrap(), "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port: u16 = line.split(" port ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    if line.starts_with("Serving HTTP on :: port") {
        assert_eq!(line, format!("Serving HTTP on :: port {port} (http://[::]:{port}/) ...\n"));
        let v6 = exchange(
            format!("[::1]:{port}").parse().unwrap(),
            b"GET / HTTP/1.0\r\n\r\n",
            false,
            Duration::from_secs(5),
        );
        assert!(v6.starts_with(b"HTTP/1.0 200 OK"), "IPv6 client");
    } else {
        assert!(line.starts_with("Serving HTTP on 0.0.0.0 port"), "{line}");
    }
    let v4 = get(([127, 0, 0, 1], port).into(), "GET / HTTP/1.0\r\n\r\n");
    assert!(v4.starts_with(b"HTTP/1.0 200 OK"), "IPv4 client");
}

/// A server the test started, killed (by pid) and reaped however the test
/// ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn port_in_use_is_an_error_not_a_hang() {
    let dir = TempDir::new("cli-busy");
    let first = ServerProcess::ours(dir.path(), &[]);
    let port = first.addr.port().to_string();
    let o = Command::new(our_binary())
        .args(["-b", "127.0.0.1", "-d", dir.path().to_str().unwrap(), &port])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Address already in use"));
}

/// Listening sockets on `port` (IPv4 and IPv6 tables), from /proc.
fn listening_sockets(port: u16) -> usize {
    let want = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    // local_address, then state 0A: LISTEN.
                    fields.len() > 3 && format!("{} ", fields[1]).ends_with(&want) && fields[3] == "0A"
                })
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .count()
}

#[test]
fn each_worker_accepts_from_its_own_socket_and_every_connection_is_served() {
    let dir = TempDir::new("cli-reuseport");
    std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
    let server = ServerProcess::ours(dir.path(), &[]);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 64);
    // The workers open theirs as they start, just after the start line.
    let deadline = Instant::now() + Duration::from_secs(5);
    while listening_sockets(server.addr.port()) < workers && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(listening_sockets(server.addr.port()), workers);
    // New connections are spread over the sockets by the kernel: each is
    // answered, whichever worker's queue it lands in.
    for _ in 0..64 {
        let reply = get(server.addr, "GET /a.txt HTTP/1.0\r\n\r\n");
        assert!(reply.starts_with(b"HTTP/1.0 200 OK\r\n"), "{}", String::from_utf8_lossy(&reply));
        assert!(reply.ends_with(b"\r\n\r\nhello"));
    }
}

/// Our server spawned by the test itself, so that the test owns its stdout
/// (what it prints on the way out) and its exit status. Stderr is drained
/// by a thread, so a full pipe never blocks the server's log writes. If a
/// test fails before the server exits, drop kills it by pid and joins the
/// thread.
struct Spawned {
    child: Child,
    port: u16,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
}

impl Spawned {
    /// `httpserver -b 127.0.0.1 -d DIR FLAGS... 0`, once it has announced
    /// its port.
    fn start(dir: &Path, flags: &[&str]) -> Spawned {
        let mut child = Command::new(our_binary())
            .args(["-b", "127.0.0.1", "-d", dir.to_str().unwrap()])
            .args(flags)
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let drain = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut server = Spawned { child, port: 0, stdout: BufReader::new(stdout), stderr: Some(drain) };
        let mut line = String::new();
        server.stdout.read_line(&mut line).unwrap();
        server.port = line
            .split(" port ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port announced: {line:?}"));
        server
    }

    fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// Send `signal`; when it was sent.
    fn signal(&self, signal: i32) -> Instant {
        let sent = Instant::now();
        send_signal(self.child.id(), signal);
        sent
    }

    /// Wait for the exit, failing the test once `limit` has passed since
    /// `sent`; the status and the time from `sent` to the exit.
    fn wait_exit(&mut self, sent: Instant, limit: Duration) -> (ExitStatus, Duration) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            assert!(sent.elapsed() < limit, "server still running {limit:?} after the signal");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What it printed after the start line (call once it has exited).
    fn stdout_rest(&mut self) -> String {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        rest
    }

    /// Its stderr, lines normalised (call once it has exited).
    fn log(&mut self) -> Vec<String> {
        let text = self.stderr.take().unwrap().join().unwrap();
        text.lines().map(normalise_log_line).collect()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(drain) = self.stderr.take() {
            let _ = drain.join();
        }
    }
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// SIGTERM (what systemd, Docker and CI send) stops the server as Ctrl-C
/// does: every log line is written (the last batch is still buffered when
/// the signal comes), then status 0. Only Ctrl-C prints CPython's
/// `Keyboard interrupt received, exiting.`, as CPython does.
#[test]
fn sigterm_stops_like_ctrl_c_but_silently() {
    let dir = TempDir::new("cli-term");
    for name in ["a.txt", "b.txt", "c.txt"] {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    for (signal, farewell) in [(SIGTERM, ""), (SIGINT, "\nKeyboard interrupt received, exiting.\n")] {
        let mut server = Spawned::start(dir.path(), &[]);
        let mut expected = Vec::new();
        for path in ["/a.txt", "/missing-1", "/b.txt", "/missing-2", "/c.txt"] {
            let raw = get(server.addr(), &format!("GET {path} HTTP/1.0\r\n\r\n"));
            let code = if path.starts_with("/missing") { 404 } else { 200 };
            assert_eq!(parse_response(&raw).status(), code, "{}", show(&raw));
            if code == 404 {
                expected.push("127.0.0.1 - - [TIME] code 404, message File not found".to_string());
            }
            expected.push(format!("127.0.0.1 - - [TIME] \"GET {path} HTTP/1.0\" {code} -"));
        }
        let sent = server.signal(signal);
        let (status, took) = server.wait_exit(sent, Duration::from_secs(10));
        eprintln!("signal {signal}: exited in {took:?}");
        assert_eq!(status.code(), Some(0), "signal {signal}");
        assert_eq!(after_addresses(&server.stdout_rest()), farewell, "signal {signal}");
        assert_eq!(server.log(), expected, "signal {signal}");
    }
}

/// 64 MiB whose every 8-byte word is its own index: a lost, repeated or
/// shifted stretch shows.
const BIG: usize = 64 << 20;

fn big_pattern() -> Vec<u8> {
    let mut data = vec![0u8; BIG];
    for (k, word) in data.chunks_exact_mut(8).enumerate() {
        word.copy_from_slice(&(k as u64).to_le_bytes());
    }
    data
}

/// A stop lets accepted responses finish (within the 5 s grace): a
/// download under way when SIGTERM comes arrives whole, then the server
/// exits 0. The client reads 64 KiB, signals, and waits a moment with the
/// socket buffers full, so the stop surely begins mid-response; then it
/// reads at full speed. Both pumps: the event loops, and the
/// thread-per-connection pump of `--cgi` (which serves static files too).
#[test]
fn sigterm_lets_a_download_under_way_finish() {
    let dir = TempDir::new("cli-big");
    let data = big_pattern();
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    for flags in [&[][..], &["--cgi"]] {
        let mut server = Spawned::start(dir.path(), flags);
        let mut s = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /big.bin HTTP/1.0\r\n\r\n").unwrap();
        let mut raw = Vec::with_capacity(BIG + 4096);
        let mut buf = vec![0u8; 65536];
        while raw.len() < 65536 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "{flags:?}: closed after {} bytes", raw.len());
            raw.extend_from_slice(&buf[..n]);
        }
        let sent = server.signal(SIGTERM);
        std::thread::sleep(Duration::from_millis(200));
        assert!(matches!(server.child.try_wait(), Ok(None)), "{flags:?}: exited with a response under way");
        let start = Instant::now();
        raw.extend(read_to_close(&mut s));
        let transfer = start.elapsed();
        let (status, took) = server.wait_exit(sent, Duration::from_secs(10));
        eprintln!("{flags:?}: rest of the body in {transfer:?}; exit {took:?} after the signal");
        let resp = parse_response(&raw);
        assert_eq!(resp.status(), 200, "{flags:?}");
        assert_eq!(resp.header("Content-Length"), Some(BIG.to_string().as_str()), "{flags:?}");
        assert_eq!(resp.body.len(), BIG, "{flags:?}: body cut off");
        assert!(resp.body == data, "{flags:?}: body differs from the file");
        assert_eq!(status.code(), Some(0), "{flags:?}");
        let log = server.log();
        assert!(log.contains(&"127.0.0.1 - - [TIME] \"GET /big.bin HTTP/1.0\" 200 -".to_string()), "{log:?}");
    }
}

/// An idle keep-alive connection (one response sent, nothing more asked)
/// does not hold the stop for the grace period: on SIGTERM it sees EOF
/// and the server exits 0 well before the grace period ends. Both pumps.
#[test]
fn sigterm_does_not_wait_for_idle_keep_alive() {
    let dir = TempDir::new("cli-idle");
    std::fs::write(dir.path().join("a.txt"), b"hello\n").unwrap();
    for flags in [&["-p", "HTTP/1.1"][..], &["-p", "HTTP/1.1", "--cgi"]] {
        let mut server = Spawned::start(dir.path(), flags);
        let mut s = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        // Read exactly one response: the connection stays open.
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while !raw.ends_with(b"\r\n\r\nhello\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "{flags:?}: closed early: {}", show(&raw));
            raw.extend_from_slice(&buf[..n]);
        }
        assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", show(&raw));
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let sent = server.signal(SIGTERM);
        let eof = s.read(&mut buf);
        let closed = sent.elapsed();
        // Under the 5 s grace: a server that waited it out would fail here.
        let (status, took) = server.wait_exit(sent, Duration::from_secs(4));
        eprintln!("{flags:?}: after the signal, idle connection closed in {closed:?}, exit in {took:?}");
        // EOF within the 3 s read timeout, not the timeout's error.
        assert!(matches!(eof, Ok(0)), "{flags:?}: expected EOF, got {eof:?}");
        assert_eq!(status.code(), Some(0), "{flags:?}");
    }
}

/// Log lines come out in the order the requests finished, as CPython's
/// do, although the default mode runs an event loop per core and each
/// batches its lines: 300 sequential requests, each on a new connection,
/// log in exactly that order with none missing. Each is a 404, so the two
/// lines of one request must also stay together. The next connection is
/// opened while a request is being answered, so another worker (the busy
/// one cannot) tends to accept it and the requests spread over the
/// workers; its request is still sent only after the previous response
/// has been read to the end.
#[test]
fn log_lines_come_out_in_request_order_across_workers() {
    let dir = TempDir::new("cli-order");
    let server = ServerProcess::ours(dir.path(), &[]);
    let connect = || {
        let s = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    let mut expected = Vec::new();
    let mut next = connect();
    for i in 1..=300 {
        let path = format!("/seq-{i:04}");
        let mut s = next;
        s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).unwrap();
        next = connect();
        let raw = read_to_close(&mut s);
        assert!(raw.starts_with(b"HTTP/1.0 404 "), "{path}: {}", show(&raw));
        expected.push("127.0.0.1 - - [TIME] code 404, message File not found".to_string());
        expected.push(format!("127.0.0.1 - - [TIME] \"GET {path} HTTP/1.0\" 404 -"));
    }
    // Closed without a request: nothing to log (as CPython).
    drop(next);
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.len() < expected.len() && Instant::now() < deadline {
        log.extend(server.take_log_expecting(expected.len() - log.len()));
    }
    if let Some(i) = (0..expected.len()).find(|&i| log.get(i) != expected.get(i)) {
        let around = |v: &[String]| v[i.saturating_sub(2)..(i + 3).min(v.len())].to_vec();
        panic!(
            "log differs at line {i} of {} ({} logged):\nexpected {:#?}\ngot {:#?}",
            expected.len(),
            log.len(),
            around(&expected),
            around(&log)
        );
    }
    assert_eq!(log.len(), expected.len(), "extra lines: {:?}", &log[expected.len()..]);
}
