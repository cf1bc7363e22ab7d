//! `httpserver-wasi`: the server on WASI preview 1. Same core, same
//! responses as the native `httpserver`, within what WASI allows:
//!
//! * `--stdio`: one HTTP connection over stdin/stdout (inetd style; behind
//!   `socat TCP-LISTEN:8000,fork EXEC:...` it is a network server);
//! * a listening socket preopened by the host (fd 3, `sock_accept`):
//!   connections served one at a time.
//!
//! Everything WASI cannot do (processes for CGI, threads, binding an
//! address, timers, following links out of the preopen) is refused up
//! front with a one-line message and exit status 2; see README.md.

mod args;
mod files;
mod preopen;

use std::io::{self, Read, Write};
use std::process::exit;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use httpserver_core::blocking::{serve_stream, Shell};
use httpserver_core::{format_log_line, unix_seconds, CivilTime, Config, Connection, MimeTypes, SimpleHandler};

use crate::args::{parse_args, Mode, Outcome};
use crate::files::WasiFiles;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Outcome::Run(a) => a,
        Outcome::Help => {
            println!("{}\n{}", args::USAGE, args::HELP);
            return;
        }
        Outcome::Error(msg) => {
            eprintln!("{}\nhttpserver-wasi: error: {msg}", args::USAGE);
            exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("httpserver-wasi: error: {e:#}");
        exit(1);
    }
}

fn run(args: args::Args) -> Result<()> {
    let socket = preopen::listening_socket();
    // Registers preopened directories that wasi-libc missed (those after
    // the socket's fd), so that std::fs sees them.
    preopen::register_directories();
    let files = WasiFiles::new(&args.directory)
        .with_context(|| format!("cannot serve {:?}: is it preopened (--dir)?", args.directory))?;
    let config = Config { protocol: args.protocol, ..Config::default() };
    let mime = Arc::new(MimeTypes::new());
    match (args.mode, socket) {
        (Mode::Stdio, _) => {
            let mut stream = Stdio { stdin: io::stdin(), stdout: io::stdout() };
            serve(&mut stream, "-", &config, &files, &mime)
        }
        (Mode::Auto, Some(listener)) => {
            let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "the host's socket".into());
            println!("Serving HTTP on {local} (socket preopened by the host) ...");
            let _ = io::stdout().flush();
            loop {
                let (mut stream, peer) = match listener.accept() {
                    Ok(c) => c,
                    Err(e) => {
                        log("-", &format!("accept failed: {e}"));
                        continue;
                    }
                };
                let client = peer.ip().to_string();
                if let Err(e) = serve(&mut stream, &client, &config, &files, &mime) {
                    log(&client, &format!("{e:#}"));
                }
                let _ = stream.shutdown(std::net::Shutdown::Write);
                // Drain what the client still sends, so closing does not
                // reset the response in flight (no timers here: bounded by size).
                let mut sink = [0u8; 4096];
                let mut left = 1 << 20;
                while left > 0 {
                    match stream.read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => left -= n.min(left),
                    }
                }
            }
        }
        (Mode::Auto, None) => {
            eprintln!(
                "httpserver-wasi: error: no listening socket was preopened by the host: WASI preview 1 cannot \
                 bind one. Run with --stdio (one connection over stdin/stdout, e.g. behind socat), or give the \
                 module a socket (wasmtime 46: -S preview2=n -S tcplisten=127.0.0.1:8000)."
            );
            exit(2);
        }
    }
}

fn serve<S: Read + Write>(
    stream: &mut S,
    client: &str,
    config: &Config,
    files: &WasiFiles,
    mime: &Arc<MimeTypes>,
) -> Result<()> {
    let mut conn = Connection::new(config.clone());
    let mut handler = SimpleHandler::new(files.clone(), Arc::clone(mime));
    let mut shell = WasiShell { client };
    serve_stream(stream, &mut conn, &mut handler, &mut shell).context("serving the connection")?;
    Ok(())
}

/// stdin and stdout as one connection.
struct Stdio {
    stdin: io::Stdin,
    stdout: io::Stdout,
}

impl Read for Stdio {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stdin.read(buf)
    }
}

impl Write for Stdio {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stdout.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
}

struct WasiShell<'a> {
    client: &'a str,
}

/// Log lines: CPython's format, in UTC (WASI has no time zone).
fn log(client: &str, message: &str) {
    let now = CivilTime::from_unix(unix_seconds(SystemTime::now())).log_format();
    let _ = io::stderr().write_all(format_log_line(client, &now, message).as_bytes());
}

impl<S: Write> Shell<S, std::fs::File> for WasiShell<'_> {
    fn now(&mut self) -> SystemTime {
        SystemTime::now()
    }

    fn log(&mut self, message: &str) {
        log(self.client, message);
    }

    fn send_source(
        &mut self,
        stream: &mut S,
        head: &mut Vec<u8>,
        file: std::fs::File,
        len: Option<u64>,
    ) -> io::Result<u64> {
        // No sendfile on WASI: copy through a buffer, head and first bytes
        // in one write.
        let mut file = file.take(len.unwrap_or(u64::MAX));
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
            stream.write_all(head)?;
            head.clear();
            sent += n as u64;
        }
        if !head.is_empty() {
            stream.write_all(head)?;
            head.clear();
        }
        stream.flush()?;
        Ok(sent)
    }
}
