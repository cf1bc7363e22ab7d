//! The listening socket and one thread per connection (CPython's
//! `ThreadingHTTPServer`), each driving the core's `serve_stream`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use httpserver_core::blocking::{serve_stream, Shell};
use httpserver_core::{format_log_line, Config, Connection, MimeTypes};

use crate::cgi::CgiConfig;
use crate::fs::NativeFiles;
use crate::handler::{NativeBody, ServerHandler};

/// Files smaller than this go out in the same write as the head.
const SMALL_FILE: u64 = 16 * 1024;
/// Stack for connection threads: the loop needs little; 10,000 idle
/// connections then cost little memory.
const THREAD_STACK: usize = 128 * 1024;
/// How long to keep reading (and discarding) after our last response
/// before closing, so unread request bytes do not turn the close into a
/// reset that destroys the response in flight.
const LINGER: Duration = Duration::from_secs(2);

/// Everything a connection thread shares.
pub struct Server {
    pub config: Config,
    pub files: NativeFiles,
    pub mime: Arc<MimeTypes>,
    pub cgi: Option<Arc<CgiConfig>>,
    pub limits: Limits,
}

/// The system `mime.types` files CPython's `mimetypes` reads, in its order.
const KNOWN_MIME_FILES: &[&str] = &[
    "/etc/mime.types",
    "/etc/httpd/mime.types",
    "/etc/httpd/conf/mime.types",
    "/etc/apache/mime.types",
    "/etc/apache2/mime.types",
    "/usr/local/etc/httpd/conf/mime.types",
    "/usr/local/lib/netscape/mime.types",
    "/usr/local/etc/mime.types",
];

pub fn system_mime_types() -> Arc<MimeTypes> {
    let mut mime = MimeTypes::new();
    for path in KNOWN_MIME_FILES {
        if let Ok(bytes) = std::fs::read(path) {
            mime.add_mime_types_file(&String::from_utf8_lossy(&bytes));
        }
    }
    Arc::new(mime)
}

/// Time limits and caps (CPython has none; defaults in nginx's spirit).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From accept (or the end of the previous response, once bytes of the
    /// next request arrive) to a complete request head.
    pub header_timeout: Duration,
    /// An idle persistent connection between requests.
    pub idle_timeout: Duration,
    /// No progress reading a request body, or writing a response.
    pub io_timeout: Duration,
    /// Most connections open at once; past it, new ones get 503 and close.
    pub max_connections: usize,
}

/// Log one line (CPython's format, control characters escaped); a failure
/// to log never stops serving.
pub fn log_line(client: &str, message: &str) {
    crate::logger::write_line(format_log_line(client, &now_local_text(), message));
}

/// The local time for log lines, formatted once per second per thread.
fn now_local_text() -> String {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let secs = httpserver_core::unix_seconds(SystemTime::now());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, crate::localtime::local_civil(secs).log_format());
        }
        c.1.clone()
    })
}

struct NativeShell<'a> {
    client: &'a str,
}

impl Shell<TcpStream, NativeBody> for NativeShell<'_> {
    fn now(&mut self) -> SystemTime {
        SystemTime::now()
    }

    fn log(&mut self, message: &str) {
        log_line(self.client, message);
    }

    fn send_source(
        &mut self,
        stream: &mut TcpStream,
        head: &mut Vec<u8>,
        body: NativeBody,
        len: Option<u64>,
    ) -> io::Result<u64> {
        match body {
            NativeBody::File(file) => send_file(stream, head, file, len.unwrap_or(u64::MAX)),
            NativeBody::Cgi(run) => run.send(stream, head, len),
        }
    }
}

/// A file body: small ones in the same write as the head, large ones by
/// `sendfile`.
fn send_file(
    stream: &mut TcpStream,
    head: &mut Vec<u8>,
    mut file: std::fs::File,
    len: u64,
) -> io::Result<u64> {
    {
        if len <= SMALL_FILE {
            let start = head.len();
            head.resize(start + len as usize, 0);
            let mut got = 0;
            while got < len as usize {
                match file.read(&mut head[start + got..])? {
                    0 => break,
                    n => got += n,
                }
            }
            head.truncate(start + got);
            stream.write_all(head)?;
            head.clear();
            return Ok(got as u64);
        }
        if !head.is_empty() {
            stream.write_all(head)?;
            head.clear();
        }
        // File → TcpStream: std uses sendfile/splice here (zero-copy).
        io::copy(&mut file.take(len), stream)
    }
}

pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// The threaded server (used with `--cgi`, whose handlers block).
pub fn run(listener: TcpListener, server: Server) -> Result<()> {
    let server = Arc::new(server);
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE/ENFILE and friends: back off instead of spinning.
                log_line("-", &format!("accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        use std::sync::atomic::Ordering;
        if open.fetch_add(1, Ordering::SeqCst) >= server.limits.max_connections {
            open.fetch_sub(1, Ordering::SeqCst);
            crate::event_loop::refuse(stream, &peer.ip().to_string());
            continue;
        }
        let server = Arc::clone(&server);
        let count = Arc::clone(&open);
        let spawned = std::thread::Builder::new().stack_size(THREAD_STACK).spawn(move || {
            serve_connection(stream, peer, &server);
            count.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            log_line(&peer.ip().to_string(), &format!("could not start a thread: {e}"));
        }
    }
}

fn serve_connection(mut stream: TcpStream, peer: SocketAddr, server: &Server) {
    let client = client_address(peer);
    let _ = stream.set_nodelay(true);
    // Blocking sockets: each read or write may wait this long. (The event
    // loop of the static server keeps finer clocks: head from accept, idle,
    // body progress.)
    let _ = stream.set_read_timeout(Some(server.limits.header_timeout.min(server.limits.io_timeout)));
    let _ = stream.set_write_timeout(Some(server.limits.io_timeout));
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<()> {
        let mut conn = Connection::new(server.config.clone());
        let mut handler =
            ServerHandler::new(server.files.clone(), server.mime.clone(), server.cgi.clone(), client.clone());
        let mut shell = NativeShell { client: &client };
        serve_stream(&mut stream, &mut conn, &mut handler, &mut shell)
            .with_context(|| format!("serving {client}"))?;
        Ok(())
    }));
    match outcome {
        Ok(Ok(())) => linger_close(&mut stream),
        Ok(Err(e)) => {
            if !is_disconnect(&e) {
                log_line(&client, &format!("{e:#}"));
            }
        }
        Err(_) => log_line(&client, "internal error while serving; connection dropped"),
    }
}

/// CPython logs the client as `client_address[0]`: an IPv4 client of a
/// dual-stack socket shows as `::ffff:127.0.0.1`, as it does there.
fn client_address(peer: SocketAddr) -> String {
    peer.ip().to_string()
}

fn is_disconnect(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            )
        })
    })
}

/// Half-close, then drain what the client still sends for a moment, so
/// that closing with unread input does not reset the connection and
/// destroy the response still in flight.
fn linger_close(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(LINGER));
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 1 << 20 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
