//! `httpserver-wasi`: the server on WASI preview 1. Same core, same
//! responses as the native `httpserver`, within what WASI allows:
//!
//! * `--stdio`: one HTTP connection over stdin/stdout (inetd style; behind
//!   `socat TCP-LISTEN:8000,fork EXEC:...` it is a network server);
//! * a listening socket preopened by the host (fd 3, `sock_accept`):
//!   connections served concurrently by a single-threaded event loop over
//!   `poll_oneoff`, with the engine's deadlines (`socket.rs`).
//!
//! Everything WASI cannot do (processes for CGI, binding an address,
//! time limits on standard input, following links out of the preopen) is
//! refused up front with a one-line message and exit status 2; see
//! README.md.
#![deny(clippy::undocumented_unsafe_blocks, clippy::multiple_unsafe_ops_per_block)]

mod args;
mod conn;
mod files;
mod poll;
mod preopen;
mod socket;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::process::exit;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use httpserver_core::blocking::{serve_stream, BodySent, Shell};
use httpserver_core::log::format_log_line;
use httpserver_core::simple::MimeTypes;
use httpserver_core::time::{unix_seconds, CivilTime};
use httpserver_core::{Config, Engine, LogEntry, Now, SimpleHandler, Timeouts};

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
    let config = Config::default().with_protocol(args.protocol);
    let mime = Arc::new(MimeTypes::new());
    // Text says it is UTF-8, as the native server's default does.
    let handler = |files, mime| SimpleHandler::new(files, mime).with_utf8_charset(true);
    match (args.mode, socket) {
        (Mode::Stdio, _) => {
            // Reads of standard input block with no time limit: no deadlines.
            let config = Arc::new(config.with_timeouts(Timeouts::none()));
            let mut stream = Stdio { stdin: io::stdin(), stdout: io::stdout() };
            let mut handler = handler(files, mime);
            let mut shell = WasiShell { client: "-".to_string() };
            let mut engine = Engine::new(config, now());
            serve_stream(&mut stream, &mut engine, &mut handler, &mut shell)
                .context("serving the connection")?;
            Ok(())
        }
        (Mode::Auto, Some(listener)) => {
            let defaults = Timeouts::default();
            let timeouts = Timeouts::default()
                .with_head(args.header_timeout.or(defaults.head()))
                .with_idle(args.idle_timeout.or(defaults.idle()))
                .with_io(args.io_timeout.or(defaults.io()));
            let config = Arc::new(config.with_timeouts(timeouts));
            let local =
                listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "the host's socket".into());
            println!("Serving HTTP on {local} (socket preopened by the host) ...");
            let _ = io::stdout().flush();
            let mut handler = handler(files, mime);
            socket::serve(&listener, &config, &mut handler).context("serving the host's socket")
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

struct WasiShell {
    client: String,
}

fn now() -> Now {
    Now::new(SystemTime::now(), Instant::now())
}

/// Log lines: CPython's format, in UTC (WASI has no time zone).
fn log(client: &str, message: &str) {
    let now = CivilTime::from_unix(unix_seconds(SystemTime::now())).log_format();
    let _ = io::stderr().write_all(format_log_line(client, &now, message).as_bytes());
}

/// A file range after the head, through a buffer (no sendfile on WASI):
/// the head and the first bytes in one write.
fn send_file<S: Write>(
    stream: &mut S,
    head: &[u8],
    file: &mut File,
    offset: u64,
    len: Option<u64>,
) -> io::Result<BodySent> {
    file.seek(SeekFrom::Start(offset))?;
    let mut file = file.take(len.unwrap_or(u64::MAX));
    let mut buf = head.to_vec();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    loop {
        let n = file.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        if !buf.is_empty() {
            stream.write_all(&buf)?;
        }
        buf.clear();
        sent += n as u64;
        if n == 0 {
            break;
        }
    }
    stream.flush()?;
    let ended = len.map_or(true, |l| sent < l);
    Ok(BodySent::new(head.len(), sent, ended))
}

impl Shell<Stdio, File> for WasiShell {
    fn now(&mut self) -> Now {
        now()
    }

    fn log(&mut self, entry: &LogEntry) {
        log(&self.client, &entry.message());
    }

    fn send_body(
        &mut self,
        s: &mut Stdio,
        head: &[u8],
        f: &mut File,
        offset: u64,
        len: Option<u64>,
    ) -> io::Result<BodySent> {
        send_file(s, head, f, offset, len)
    }
}
