//! A custom handler on a real socket, in the spirit of subclassing
//! `BaseHTTPRequestHandler`: GET greets, POST echoes the body, everything
//! else is CPython's 501. One thread per connection, each running
//! `blocking::serve_stream` over the engine.
//!
//! cargo run -p httpserver-core --example echo_server -- 8080
//! curl -d 'hi there' http://127.0.0.1:8080/

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use httpserver_core::blocking::{serve_stream, BodySent, Shell};
use httpserver_core::log::format_log_line;
use httpserver_core::time::{unix_seconds, CivilTime};
use httpserver_core::{BodyUse, Config, Engine, Handler, LogEntry, Now, Reply, Request, RequestHead};

struct Echo;

impl Handler for Echo {
    type Body = Vec<u8>;

    fn body_use(&mut self, _head: &RequestHead) -> BodyUse {
        BodyUse::Buffer { limit: 1 << 20 }
    }

    fn do_get(&mut self, req: &Request) -> Reply<Vec<u8>> {
        Reply::bytes(200, "text/plain; charset=utf-8", format!("Hello, {}\n", req.head.target).into_bytes())
    }

    fn do_head(&mut self, req: &Request) -> Reply<Vec<u8>> {
        self.do_get(req)
    }

    fn do_post(&mut self, req: &Request) -> Reply<Vec<u8>> {
        Reply::bytes(200, "application/octet-stream", req.body.clone())
    }
}

/// Logs to stderr (UTC); bodies are in memory.
struct Stderr(String);

impl Shell<TcpStream, Vec<u8>> for Stderr {
    fn now(&mut self) -> Now {
        Now::new(SystemTime::now(), Instant::now())
    }

    fn log(&mut self, entry: &LogEntry) {
        let t = CivilTime::from_unix(unix_seconds(SystemTime::now()));
        eprint!("{}", format_log_line(&self.0, &t.log_format(), &entry.message()));
    }

    fn set_read_timeout(&mut self, s: &mut TcpStream, timeout: Option<Duration>) -> io::Result<()> {
        s.set_read_timeout(timeout)
    }

    fn send_body(
        &mut self,
        s: &mut TcpStream,
        head: &[u8],
        body: &mut Vec<u8>,
        offset: u64,
        len: Option<u64>,
    ) -> io::Result<BodySent> {
        let start = offset as usize;
        let end = len.map_or(body.len(), |n| start + n as usize).min(body.len());
        s.write_all(&[head, &body[start..end]].concat())?;
        Ok(BodySent::new(head.len(), (end - start) as u64, len.is_none()))
    }

    fn shutdown_write(&mut self, s: &mut TcpStream) -> io::Result<()> {
        s.shutdown(Shutdown::Write)
    }
}

fn main() -> io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8080".into());
    let listener = TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap_or(8080)))?;
    println!("echo server on http://{}/", listener.local_addr()?);
    let config = Arc::new(Config::default());
    for stream in listener.incoming() {
        let mut stream = stream?;
        let config = Arc::clone(&config);
        std::thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
            let mut shell = Stderr(peer);
            let mut engine = Engine::new(config, shell.now());
            let _ = serve_stream(&mut stream, &mut engine, &mut Echo, &mut shell);
        });
    }
    Ok(())
}
