//! A custom handler on a real socket, in the spirit of subclassing
//! `BaseHTTPRequestHandler`: GET greets, POST echoes the body, everything
//! else is CPython's 501. One thread per connection.
//!
//! cargo run -p httpserver-core --example echo_server -- 8080
//! curl -d 'hi there' http://127.0.0.1:8080/

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::SystemTime;

use httpserver_core::blocking::{serve_stream, Shell};
use httpserver_core::{BodyUse, Config, Connection, Handler, Reply, Request, RequestHead};

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

struct Stderr(String);

impl Shell<TcpStream, Vec<u8>> for Stderr {
    fn now(&mut self) -> SystemTime {
        SystemTime::now()
    }
    fn log(&mut self, message: &str) {
        let t = httpserver_core::CivilTime::from_unix(httpserver_core::unix_seconds(SystemTime::now()));
        eprint!("{}", httpserver_core::format_log_line(&self.0, &t.log_format(), message));
    }
    fn send_source(
        &mut self,
        s: &mut TcpStream,
        head: &mut Vec<u8>,
        body: Vec<u8>,
        len: Option<u64>,
    ) -> io::Result<u64> {
        let len = len.unwrap_or(body.len() as u64);
        head.extend_from_slice(&body[..len as usize]);
        s.write_all(head)?;
        head.clear();
        Ok(len)
    }
}

fn main() -> io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8080".into());
    let listener = TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap_or(8080)))?;
    println!("echo server on http://{}/", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut stream = stream?;
        std::thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
            let mut conn = Connection::new(Config::default());
            let _ = serve_stream(&mut stream, &mut conn, &mut Echo, &mut Stderr(peer));
            let mut rest = [0u8; 1];
            let _ = stream.read(&mut rest);
        });
    }
    Ok(())
}
