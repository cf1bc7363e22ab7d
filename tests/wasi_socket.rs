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

#[test]
fn preopened_socket_serves_connections_one_by_one() {
    let wasmtime = std::env::var("WASMTIME46").unwrap_or_else(|_| "wasmtime".into());
    let wasm = repo().join("wasi-shell/target/wasm32-wasi/release/httpserver-wasi.wasm");
    assert!(wasm.exists(), "run make wasi first");
    let root = TempDir::new("wasi-socket");
    std::fs::write(root.path().join("a.txt"), b"hello\n").unwrap();
    std::fs::create_dir_all(root.path().join("dir")).unwrap();
    std::fs::write(root.path().join("dir/b.txt"), b"b\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(&wasmtime)
        .args(["run", "-S", "preview2=n", "-S", &format!("tcplisten=127.0.0.1:{port}")])
        .arg("--dir")
        .arg(format!("{}::/", root.path().display()))
        .arg(&wasm)
        .args(["-p", "HTTP/1.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wasmtime 46");
    let addr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the module never served the socket");
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let _ = child.kill();
    let _ = child.wait();
}
