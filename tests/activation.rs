//! systemd socket activation: started by `systemd-socket-activate` (from
//! Debian's systemd), the server serves the socket it is handed
//! (`LISTEN_FDS`/`LISTEN_PID`) instead of binding one, keeps it from CGI
//! scripts, and refuses what it cannot serve with one clear line. The units
//! in `contrib/` pass `systemd-analyze verify`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const DEPS_HINT: &str = "run tools/test-deps.sh (make test runs it first)";

/// The activator (the server after its exec), killed by pid when the test
/// ends, even by a panic.
struct Activated(Child);

impl Drop for Activated {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Activated {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Activated {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// A port free a moment ago on loopback.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `systemd-socket-activate -l 127.0.0.1:PORT [-l ...] httpserver args...`:
/// the child (whose pid becomes the server's at exec) and the first
/// address. The server starts on the first connection.
fn activate(ports: &[u16], args: &[&str]) -> (Activated, SocketAddr) {
    activate_named(ports, "", args)
}

/// [`activate`], naming the sockets (`LISTEN_FDNAMES`) unless `name` is
/// empty.
fn activate_named(ports: &[u16], name: &str, args: &[&str]) -> (Activated, SocketAddr) {
    let mut cmd = Command::new("systemd-socket-activate");
    if !name.is_empty() {
        cmd.arg(format!("--fdname={name}"));
    }
    for port in ports {
        cmd.args(["-l", &format!("127.0.0.1:{port}")]);
    }
    cmd.arg(our_binary()).args(args);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child =
        Activated(cmd.spawn().unwrap_or_else(|e| panic!("systemd-socket-activate: {e}; {DEPS_HINT}")));
    (child, SocketAddr::from(([127, 0, 0, 1], ports[0])))
}

/// Connect once the activator listens (it binds right after starting).
fn connect(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("nothing listens on {addr}: {e}"),
        }
    }
}

fn request(addr: SocketAddr, req: &str) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Stop by SIGTERM (pid), and wait: the exit status.
fn stop(mut child: Activated) -> std::process::ExitStatus {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_the_socket_it_is_handed() {
    let root = TempDir::new("activation");
    std::fs::write(root.path().join("a.txt"), b"hello from an activated server\n").unwrap();
    let port = free_port();
    // -b and the port are ignored: the passed socket is served.
    let (mut child, addr) = activate(&[port], &["-d", root.path().to_str().unwrap(), "-b", "127.0.0.1", "1"]);
    let reply = request(addr, "GET /a.txt HTTP/1.0\r\n\r\n");
    let r = parse_response(&reply);
    assert_eq!(r.status(), 200, "{}", show(&reply));
    assert_eq!(r.body, b"hello from an activated server\n");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, format!("Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ...\n"));
    // A second connection on the same socket: still served.
    let r = parse_response(&request(addr, "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    assert_eq!(r.status(), 200);
    assert!(stop(child).success(), "SIGTERM is a clean stop");
}

/// Prints which `LISTEN_*` variables and how many sockets it inherited.
const ENV_SCRIPT: &str = r#"#!/usr/bin/env python3
import os
def kind(fd):
    try:
        return os.readlink('/proc/self/fd/' + fd)
    except OSError:
        return ''  # the listing's own descriptor, closed by now
listen = sorted(k for k in os.environ if k.startswith('LISTEN_'))
sockets = [fd for fd in os.listdir('/proc/self/fd') if kind(fd).startswith('socket:')]
print('Content-Type: text/plain')
print()
print('listen', listen)
print('sockets', len(sockets))
"#;

#[test]
fn cgi_scripts_inherit_neither_the_socket_nor_the_variables() {
    let root = TempDir::new("activation-cgi");
    std::fs::create_dir_all(root.path().join("cgi-bin")).unwrap();
    let script = root.path().join("cgi-bin/env.py");
    std::fs::write(&script, ENV_SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (child, addr) =
        activate_named(&[free_port()], "web", &["-d", root.path().to_str().unwrap(), "--cgi"]);
    let reply = request(addr, "GET /cgi-bin/env.py HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("\nlisten []\n"), "{text}");
    // The client's own socket is not passed either: none at all.
    assert!(text.contains("\nsockets 0\n"), "{text}");
    assert!(stop(child).success());
}

#[test]
fn more_than_one_socket_is_refused_with_one_line() {
    let (mut child, addr) = activate(&[free_port(), free_port()], &["-d", "."]);
    // The activator execs the server on the first connection. The server
    // may refuse and exit before the request is written, so the client
    // can see a reset: only the exit and the line matter here.
    let mut s = connect(addr);
    let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let _ = s.read_to_end(&mut Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("httpserver")).collect();
    assert_eq!(ours.len(), 1, "{err}");
    assert!(ours[0].contains("passed 2 sockets") && ours[0].contains("serves one"), "{err}");
}

#[test]
fn contrib_units_pass_systemd_analyze_verify() {
    let dir = TempDir::new("units");
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib");
    let service = std::fs::read_to_string(contrib.join("httpserver.service")).unwrap();
    assert!(service.contains("ExecStart=/usr/local/bin/httpserver "), "{service}");
    for hardening in
        ["DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "BindReadOnlyPaths=/srv/www"]
    {
        assert!(service.contains(hardening), "missing {hardening}");
    }
    // verify checks that ExecStart exists: point it at the binary built here.
    let service = service.replace("/usr/local/bin/httpserver", our_binary().to_str().unwrap());
    std::fs::write(dir.path().join("httpserver.service"), service).unwrap();
    std::fs::copy(contrib.join("httpserver.socket"), dir.path().join("httpserver.socket")).unwrap();
    let out = Command::new("timeout")
        .args(["60", "systemd-analyze", "verify", "./httpserver.socket", "./httpserver.service"])
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze: {e}; {DEPS_HINT}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed: {stderr}");
    // Unknown keys and other mistakes are only warnings: none allowed.
    assert!(stderr.trim().is_empty(), "verify warned: {stderr}");
}
