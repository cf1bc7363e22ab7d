//! The hooks `http.server`'s documentation offers subclasses, each as
//! typed configuration or a trait method, each shown to take effect.

mod support;

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use httpserver_core::blocking::{serve_stream, BodySent, Shell};
use httpserver_core::cgi::{route, CgiRoute};
use httpserver_core::simple::MimeTypes;
use httpserver_core::{
    Acceptance, Config, Engine, Handler, LogEntry, Now, Reply, Request, RequestHead, ServerProtocol,
    SimpleHandler,
};
use support::*;

fn serve_with(config: Config, request: &str) -> (String, Vec<String>) {
    let mut d = Driver::new(config, simple());
    d.feed(request.as_bytes(), 1000, true);
    (d.wire_text(), d.log)
}

#[test]
fn server_version_and_sys_version() {
    let config = Config::default().with_server_version("SimpleHTTP/0.6").with_sys_version("Python/3.11.7");
    let (out, _) = serve_with(config, "GET /a.txt HTTP/1.0\r\n\r\n");
    assert!(out.contains("\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\n"), "{out}");
}

#[test]
fn protocol_version() {
    let (out, _) = serve_with(
        config(ServerProtocol::Http11),
        "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(statuses(&out), [200, 200], "HTTP/1.1 keeps the connection: {out}");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
    let (out, _) = serve_with(
        config(ServerProtocol::Http10),
        "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(statuses(&out), [200], "HTTP/1.0 closes after one: {out}");
    assert!(out.starts_with("HTTP/1.0 200 OK\r\n"));
}

#[test]
fn error_message_format_and_content_type() {
    let config = Config::default()
        .with_error_message_format("<h1>%(code)d</h1><p>%(message)s: %(explain)s</p>\n")
        .with_error_content_type("text/html; charset=latin-1");
    let (out, _) = serve_with(config, "GET /missing HTTP/1.0\r\n\r\n");
    assert!(out.contains("\r\nContent-Type: text/html; charset=latin-1\r\n"), "{out}");
    assert!(
        out.ends_with("\r\n\r\n<h1>404</h1><p>File not found: Nothing matches the given URI</p>\n"),
        "{out}"
    );
}

#[test]
fn responses_table() {
    let config =
        Config::default().with_response(200, "Fine", "All good").with_response(404, "Nowhere", "Not here");
    let (out, _) = serve_with(config.clone(), "GET /a.txt HTTP/1.0\r\n\r\n");
    assert!(out.starts_with("HTTP/1.0 200 Fine\r\n"), "{out}");
    // send_error's default message and explanation come from it too.
    struct NoMessage;
    impl Handler for NoMessage {
        type Body = Vec<u8>;
        fn do_get(&mut self, _req: &Request) -> Reply<Vec<u8>> {
            Reply::error(404, None, None)
        }
    }
    let mut d = Driver::new(config, NoMessage);
    d.feed(b"GET / HTTP/1.0\r\n\r\n", 1000, true);
    assert!(d.wire_text().starts_with("HTTP/1.0 404 Nowhere\r\n"), "{}", d.wire_text());
    assert!(d.wire_text().contains("<p>Error code explanation: 404 - Not here.</p>"));
}

#[test]
fn handle_expect_100_may_refuse() {
    struct Strict;
    impl Handler for Strict {
        type Body = Vec<u8>;
        fn handle_expect_100(&mut self, _head: &RequestHead) -> Acceptance<Vec<u8>> {
            Acceptance::Refuse(Reply::error(417, None, None))
        }
    }
    let mut d = Driver::new(config(ServerProtocol::Http11), Strict);
    d.feed(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 1000, false);
    assert!(d.wire_text().starts_with("HTTP/1.1 417 Expectation Failed\r\n"), "{}", d.wire_text());
    assert!(!d.wire_text().contains("100 Continue"));
}

#[test]
fn log_request_and_log_error_entries() {
    let mut d = Driver::new(config(ServerProtocol::Http10), simple());
    let mut entries = Vec::new();
    d.engine.handle(httpserver_core::Input::Bytes(b"GET /nope HTTP/1.0\r\n\r\n"), d.now).unwrap();
    loop {
        match d.engine.poll(&mut d.handler, d.now) {
            httpserver_core::Output::Log(entry) => entries.push(entry.clone()),
            httpserver_core::Output::Write(b) => {
                let n = b.len();
                d.engine.handle(httpserver_core::Input::Written(n), d.now).unwrap();
            }
            _ => break,
        }
    }
    assert_eq!(
        entries,
        [
            LogEntry::Error { status: 404, message: "File not found".into() },
            LogEntry::Request { request_line: "GET /nope HTTP/1.0".into(), status: 404 },
        ]
    );
}

#[test]
fn extensions_map() {
    let mime = Arc::new(MimeTypes::new().with_extension(".txt", "text/x-custom"));
    let mut d = Driver::new(config(ServerProtocol::Http10), SimpleHandler::new(tree(), mime));
    d.feed(b"GET /a.txt HTTP/1.0\r\n\r\n", 1000, true);
    assert!(d.wire_text().contains("\r\nContent-type: text/x-custom\r\n"), "{}", d.wire_text());
}

#[test]
fn index_pages() {
    let pages: Arc<[String]> = vec!["x.txt".to_string()].into();
    let handler = SimpleHandler::new(tree(), Arc::new(MimeTypes::new())).with_index_pages(pages);
    let mut d = Driver::new(config(ServerProtocol::Http10), handler);
    d.feed(b"GET /d/ HTTP/1.0\r\n\r\n", 1000, true);
    assert!(d.wire_text().ends_with("\r\n\r\nx"), "d/x.txt served as the index: {}", d.wire_text());
    // The default pages are no longer looked for.
    let handler = SimpleHandler::new(tree(), Arc::new(MimeTypes::new())).with_index_pages(vec![].into());
    let mut d = Driver::new(config(ServerProtocol::Http10), handler);
    d.feed(b"GET /sub/ HTTP/1.0\r\n\r\n", 1000, true);
    assert!(d.wire_text().contains("Directory listing for /sub/"), "{}", d.wire_text());
}

#[test]
fn cgi_directories() {
    let mut files = tree();
    files.0.insert("scripts".into(), Node::Dir);
    let data = b"#!/bin/sh\n".to_vec();
    files.0.insert("scripts/run.sh".into(), Node::File(data, UNIX_EPOCH));
    let dirs = vec!["/scripts".to_string()];
    // MemFiles says nothing is executable: the script is found and refused.
    match route::<_, Vec<u8>>(&mut files, &dirs, "GET", "/scripts/run.sh") {
        CgiRoute::Refuse(reply) => assert_eq!(reply.status(), 403),
        other => panic!("{other:?}"),
    }
    // The default directories no longer count.
    assert!(matches!(route::<_, Vec<u8>>(&mut files, &dirs, "GET", "/cgi-bin/x"), CgiRoute::Static));
    match route::<_, Vec<u8>>(&mut files, &dirs, "POST", "/a.txt") {
        CgiRoute::Refuse(reply) => assert_eq!(reply.status(), 501),
        other => panic!("{other:?}"),
    }
    match route::<_, Vec<u8>>(&mut files, &dirs, "GET", "/scripts/nope.sh") {
        CgiRoute::Refuse(reply) => assert_eq!(reply.status(), 404),
        other => panic!("{other:?}"),
    }
}

// ---- core::blocking drives the same engine over any Read + Write --------

/// A stream that hands out `split` bytes per read, then EOF.
struct MemStream {
    input: Vec<u8>,
    pos: usize,
    split: usize,
    output: Vec<u8>,
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.split.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct TestShell(Vec<String>);

impl Shell<MemStream, Vec<u8>> for TestShell {
    fn now(&mut self) -> Now {
        Now::new(UNIX_EPOCH + Duration::from_secs(NOW), Instant::now())
    }
    fn log(&mut self, entry: &LogEntry) {
        self.0.push(entry.message());
    }
    fn send_body(
        &mut self,
        s: &mut MemStream,
        head: &[u8],
        body: &mut Vec<u8>,
        offset: u64,
        len: Option<u64>,
    ) -> io::Result<BodySent> {
        s.write_all(head)?;
        let start = offset as usize;
        let end = len.map_or(body.len(), |n| start + n as usize).min(body.len());
        s.write_all(&body[start..end])?;
        Ok(BodySent::new(head.len(), (end - start) as u64, len.is_none()))
    }
}

#[test]
fn the_blocking_loop_gives_the_engines_bytes() {
    let input = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    let (want, want_log) = serve(ServerProtocol::Http11, input, input.len());
    for split in [1, 5, 1000] {
        let mut stream = MemStream { input: input.to_vec(), pos: 0, split, output: Vec::new() };
        let mut shell = TestShell(Vec::new());
        let mut engine = Engine::new(Arc::new(config(ServerProtocol::Http11)), shell.now());
        serve_stream(&mut stream, &mut engine, &mut simple(), &mut shell).unwrap();
        assert_eq!(String::from_utf8_lossy(&stream.output), want);
        assert_eq!(shell.0, want_log);
    }
}
