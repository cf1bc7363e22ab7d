//! The command line: CPython's options, messages and exit codes, checked
//! against `python3 -m http.server` where it is the reference.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

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
    let mut child = Command::new(our_binary())
        .args(["-b", "127.0.0.1", "-d", dir.path().to_str().unwrap(), "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line.split(" port ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(line, format!("Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ...\n"));
    // It serves, then SIGINT ends it with CPython's message and status 0.
    let resp = get(([127, 0, 0, 1], port).into(), "GET / HTTP/1.0\r\n\r\n");
    assert!(resp.starts_with(b"HTTP/1.0 200 OK\r\n"));
    send_signal(child.id(), 2);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "\nKeyboard interrupt received, exiting.\n");
    assert_eq!(status.code(), Some(0));
    // The request's log line was written before the exit (lines are batched).
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("\"GET / HTTP/1.0\" 200 -"), "{err:?}");
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
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
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
    let _ = child.kill();
    let _ = child.wait();
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
