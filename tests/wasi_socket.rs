//! The WASI build serving a listening socket preopened by the host
//! (wasmtime 46: `-S preview2=n -S tcplisten=...`), one connection at a
//! time. Run by `make test-wasi-socket`, which installs that wasmtime.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The module on a socket preopened by wasmtime 46, killed on drop.
struct Module {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Module {
    fn start(root: &Path, args: &[&str]) -> Module {
        let wasmtime = std::env::var("WASMTIME46").unwrap_or_else(|_| "wasmtime".into());
        let wasm = repo().join("wasi-shell/target/wasm32-wasi/release/httpserver-wasi.wasm");
        assert!(wasm.exists(), "run make wasi first");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&wasmtime)
            .args(["run", "-S", "preview2=n", "-S", &format!("tcplisten=127.0.0.1:{port}")])
            .arg("--dir")
            .arg(format!("{}::/", root.display()))
            .arg(&wasm)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wasmtime 46");
        let module = Module { child, addr: ([127, 0, 0, 1], port).into() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(module.addr).is_err() {
            assert!(Instant::now() < deadline, "the module never served the socket");
            std::thread::sleep(Duration::from_millis(100));
        }
        module
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn preopened_socket_serves_connections_one_by_one() {
    let root = TempDir::new("wasi-socket");
    std::fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    std::fs::create_dir_all(root.path().join("dir")).unwrap();
    std::fs::write(root.path().join("dir/b.txt"), b"b\n").unwrap();
    let module = Module::start(root.path(), &["-p", "HTTP/1.1"]);
    let addr = module.addr;
    let native = ServerProcess::ours(root.path(), &["-p", "HTTP/1.1"]);
    for req in [
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /dir/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /dir HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let w = exchange(addr, req.as_bytes(), false, Duration::from_secs(10));
        let n = exchange(native.addr, req.as_bytes(), false, Duration::from_secs(10));
        assert_eq!(show(&normalise_response(&w)), show(&normalise_response(&n)), "{req:?}");
    }
}

/// Served one at a time, a slow client would hold everyone up: the head
/// deadline (from accept) cuts it off, through poll_oneoff, and the next
/// client is served.
#[test]
fn slowloris_is_cut_off_at_the_head_deadline() {
    let root = TempDir::new("wasi-socket-slow");
    std::fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    let module = Module::start(root.path(), &["--header-timeout", "1"]);
    let (closed, elapsed) = slowloris(module.addr);
    assert!(closed, "slowloris connection still open after {elapsed:?}");
    let r = parse_response(&get(module.addr, "GET /a.txt HTTP/1.0\r\n\r\n"));
    assert_eq!((r.status(), r.body.as_slice()), (200, &b"hello\n"[..]));
}
