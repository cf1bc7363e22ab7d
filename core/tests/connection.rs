//! The state machine driven through its public API: event sequences,
//! exact response bytes, and the same results whatever the read split.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpserver_core::blocking::{serve_stream, Shell};
use httpserver_core::{
    After, BodyPlan, Config, Connection, Event, FileKind, Files, ListingEntry, LocalPath, Metadata,
    MimeTypes, ProtocolErrorKind, ResponseHead, ServerProtocol, SimpleHandler, UsageError,
};

const NOW: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

fn config(protocol: ServerProtocol) -> Config {
    Config { protocol, ..Config::default() }
}

/// Feed `input` in pieces of `split` bytes and collect every event.
fn events(protocol: ServerProtocol, input: &[u8], split: usize) -> Vec<Event> {
    let mut conn = Connection::new(config(protocol));
    let mut out = Vec::new();
    let mut got = Vec::new();
    let mut fed = 0;
    loop {
        while let Some(ev) = conn.next_event() {
            let done = matches!(ev, Event::ConnectionClosed);
            if let Event::EndOfRequest = ev {
                // Answer each request so the next one can be parsed.
                let head = ResponseHead::new(204);
                conn.send_head(&head, UNIX_EPOCH, &mut out).unwrap();
                conn.finish().unwrap();
            }
            if let Event::ProtocolError(_) = ev {
                got.push(ev);
                return got;
            }
            got.push(ev);
            if done {
                return got;
            }
        }
        if fed >= input.len() {
            if !conn.wants_read() {
                return got;
            }
            conn.receive_eof();
            continue;
        }
        let end = (fed + split).min(input.len());
        conn.receive(&input[fed..end]);
        fed = end;
    }
}

fn merge_body(evs: Vec<Event>) -> Vec<Event> {
    // Body chunk boundaries depend on the split; join adjacent chunks.
    let mut out: Vec<Event> = Vec::new();
    for ev in evs {
        if let (Some(Event::BodyChunk(prev)), Event::BodyChunk(more)) = (out.last_mut(), &ev) {
            prev.extend_from_slice(more);
            continue;
        }
        out.push(ev);
    }
    out
}

#[test]
fn same_events_whatever_the_split() {
    let inputs: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;e=1\r\nd\r\n0\r\nT: 1\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a\r\n",
        b"GET /x HTTP/1.1\nHost: x\n\nGET /y HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"\r\n",
    ];
    for input in inputs {
        for protocol in [ServerProtocol::Http10, ServerProtocol::Http11] {
            let whole = merge_body(events(protocol, input, input.len()));
            assert!(!whole.is_empty());
            for split in [1, 2, 3, 5, 8, 13] {
                assert_eq!(
                    merge_body(events(protocol, input, split)),
                    whole,
                    "{:?} split {split}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }
}

#[test]
fn pipelined_requests_with_bodies() {
    let input = b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\n";
    let evs = merge_body(events(ServerProtocol::Http11, input, 1));
    let kinds: Vec<String> = evs
        .iter()
        .map(|e| match e {
            Event::RequestHead(h) => format!("head {} {}", h.method, h.target),
            Event::BodyChunk(b) => format!("body {}", String::from_utf8_lossy(b)),
            Event::EndOfRequest => "end".into(),
            Event::ProtocolError(e) => format!("error {}", e.status()),
            Event::ConnectionClosed => "closed".into(),
        })
        .collect();
    assert_eq!(kinds, ["head POST /p", "body abc", "end", "head GET /n", "end", "closed"]);
}

#[test]
fn framing_errors_are_typed() {
    let cases: &[(&[u8], ProtocolErrorKind, u16)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            ProtocolErrorKind::BadContentLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1_0\r\n\r\n",
            ProtocolErrorKind::BadContentLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            ProtocolErrorKind::BadContentLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n",
            ProtocolErrorKind::BadContentLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
            ProtocolErrorKind::BadChunk,
            400,
        ),
        (b"GET / HTTP/1.1\r\n\r\n", ProtocolErrorKind::BadHost, 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ProtocolErrorKind::BadHost, 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Name: v\r\n\r\n", ProtocolErrorKind::BadHeader, 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", ProtocolErrorKind::BadHeader, 400),
        (b"GET / HTTP/3.0\r\n\r\n", ProtocolErrorKind::VersionNotSupported, 505),
    ];
    for (input, kind, status) in cases {
        let evs = events(ServerProtocol::Http11, input, 1);
        match evs.last() {
            Some(Event::ProtocolError(e)) => {
                assert_eq!((e.kind(), e.status()), (*kind, *status), "{:?}", String::from_utf8_lossy(input))
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }
}

#[test]
fn limits_apply_before_the_head_is_complete() {
    // A request line longer than 65,536 bytes is refused without its end.
    let mut conn = Connection::new(Config::default());
    conn.receive(b"GET /");
    conn.receive(&vec![b'a'; 65_536]);
    match conn.next_event() {
        Some(Event::ProtocolError(e)) => assert_eq!(e.status(), 414),
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.request_line(), "");
    // So is a header line, and the 100th header field.
    let mut conn = Connection::new(Config::default());
    conn.receive(b"GET / HTTP/1.0\r\nX: ");
    conn.receive(&vec![b'a'; 65_536]);
    match conn.next_event() {
        Some(Event::ProtocolError(e)) => {
            assert_eq!((e.status(), e.message()), (431, Some("Line too long")))
        }
        other => panic!("{other:?}"),
    }
    let mut conn = Connection::new(Config::default());
    conn.receive(b"GET / HTTP/1.0\r\n");
    conn.receive("X: a\r\n".repeat(100).as_bytes());
    assert_eq!(conn.next_event(), None, "100 lines so far: within CPython's limit");
    conn.receive(b"\r\n"); // the blank line is the 101st
    match conn.next_event() {
        Some(Event::ProtocolError(e)) => {
            assert_eq!(
                (e.status(), e.message(), e.explain()),
                (431, Some("Too many headers"), Some("got more than 100 headers"))
            )
        }
        other => panic!("{other:?}"),
    }
    // The whole head is capped too.
    let mut conn = Connection::new(Config { max_head: 1000, ..Config::default() });
    conn.receive(b"GET / HTTP/1.0\r\n");
    for _ in 0..30 {
        conn.receive(b"X-Header: 0123456789012345678901234567890123456789\r\n");
    }
    match conn.next_event() {
        Some(Event::ProtocolError(e)) => {
            assert_eq!((e.kind(), e.status()), (ProtocolErrorKind::HeadTooLarge, 431))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn keep_alive_decided_as_cpython() {
    // (server protocol, request, keeps the connection)
    let cases: &[(ServerProtocol, &str, bool)] = &[
        (ServerProtocol::Http10, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false),
        (ServerProtocol::Http10, "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.0\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (ServerProtocol::Http11, "GET /\r\n", false),
    ];
    for (protocol, req, keeps) in cases {
        let mut conn = Connection::new(config(*protocol));
        conn.receive(req.as_bytes());
        let mut out = Vec::new();
        assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
        let head = ResponseHead::new(200).header("Content-Length", "0");
        conn.send_head(&head, UNIX_EPOCH, &mut out).unwrap();
        let after = conn.finish().unwrap();
        assert_eq!(after == After::KeepAlive, *keeps, "{protocol:?} {req:?}");
    }
}

#[test]
fn body_plans_and_usage_errors() {
    let mut conn = Connection::new(config(ServerProtocol::Http11));
    conn.receive(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut out = Vec::new();
    assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
    let head = ResponseHead::new(200).header("Content-Length", "10");
    assert_eq!(conn.send_head(&head, UNIX_EPOCH, &mut out), Ok(BodyPlan::None));
    assert_eq!(conn.send_head(&head, UNIX_EPOCH, &mut out), Err(UsageError::HeadAlreadySent));
    assert_eq!(conn.send_body(b"x", &mut out), Err(UsageError::BodyNotAllowed));
    assert_eq!(conn.finish(), Ok(After::KeepAlive));
    assert_eq!(conn.send_head(&head, UNIX_EPOCH, &mut out), Err(UsageError::NoRequestPending));
    // Every request ends with EndOfRequest, even one without a body.
    assert_eq!(conn.next_event(), Some(Event::EndOfRequest));

    conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
    assert_eq!(conn.send_head(&head, UNIX_EPOCH, &mut out), Ok(BodyPlan::Length(10)));
    assert_eq!(conn.send_body(b"0123456789x", &mut out), Err(UsageError::BodyTooLong { declared: 10 }));
    conn.send_body(b"01234", &mut out).unwrap();
    assert_eq!(conn.finish(), Err(UsageError::BodyTooShort { declared: 10, sent: 5 }));

    // No Content-Length: the body ends with the connection.
    let mut conn = Connection::new(config(ServerProtocol::Http11));
    conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    conn.next_event();
    assert_eq!(conn.send_head(&ResponseHead::new(200), UNIX_EPOCH, &mut out), Ok(BodyPlan::UntilClose));
    assert!(matches!(conn.finish(), Ok(After::Close(_))));

    // 204 and 304 never have a body.
    for status in [204, 304, 100] {
        let mut conn = Connection::new(config(ServerProtocol::Http11));
        conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        conn.next_event();
        assert_eq!(conn.send_head(&ResponseHead::new(status), UNIX_EPOCH, &mut out), Ok(BodyPlan::None));
    }
}

#[test]
fn expect_continue_only_between_http11_peers() {
    let mut conn = Connection::new(config(ServerProtocol::Http11));
    conn.receive(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
    assert!(conn.should_continue());
    let mut out = Vec::new();
    conn.send_continue(&mut out).unwrap();
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(!conn.should_continue());
    assert!(conn.wants_read());

    let mut conn = Connection::new(config(ServerProtocol::Http10));
    conn.receive(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    conn.next_event();
    assert!(!conn.should_continue());
}

// ---- The whole loop over an in-memory file system -----------------------

#[derive(Clone)]
enum Node {
    File(Vec<u8>, SystemTime),
    Dir,
    Fifo,
}

#[derive(Clone, Default)]
struct MemFiles(BTreeMap<String, Node>);

impl MemFiles {
    fn key(path: &LocalPath) -> String {
        path.segments().iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>().join("/")
    }
}

impl Files for MemFiles {
    type File = Vec<u8>;

    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata> {
        match self.0.get(&MemFiles::key(path)) {
            Some(Node::File(data, t)) => {
                Ok(Metadata { kind: FileKind::File, len: data.len() as u64, modified: *t })
            }
            Some(Node::Dir) => Ok(Metadata { kind: FileKind::Directory, len: 0, modified: UNIX_EPOCH }),
            Some(Node::Fifo) => Ok(Metadata { kind: FileKind::Other, len: 0, modified: UNIX_EPOCH }),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn read_dir(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        let prefix = MemFiles::key(path);
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(self
            .0
            .iter()
            .filter_map(|(k, n)| {
                let rest = k.strip_prefix(&prefix)?;
                if rest.is_empty() || rest.contains('/') {
                    return None;
                }
                Some(ListingEntry {
                    name: rest.as_bytes().to_vec(),
                    is_dir: matches!(n, Node::Dir),
                    is_symlink: false,
                })
            })
            .collect())
    }

    fn open(&mut self, path: &LocalPath) -> io::Result<(Vec<u8>, Metadata)> {
        let meta = self.metadata(path)?;
        match self.0.get(&MemFiles::key(path)) {
            Some(Node::File(data, _)) => Ok((data.clone(), meta)),
            _ => Err(io::ErrorKind::InvalidInput.into()),
        }
    }
}

fn tree() -> MemFiles {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut m = BTreeMap::new();
    m.insert("a.txt".into(), Node::File(b"hello\n".to_vec(), t));
    m.insert("sub".into(), Node::Dir);
    m.insert("sub/index.html".into(), Node::File(b"<p>i</p>\n".to_vec(), t));
    m.insert("d".into(), Node::Dir);
    m.insert("d/x.txt".into(), Node::File(b"x".to_vec(), t));
    m.insert("fifo".into(), Node::Fifo);
    MemFiles(m)
}

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
    fn now(&mut self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }
    fn log(&mut self, message: &str) {
        self.0.push(message.to_string());
    }
    fn send_source(
        &mut self,
        s: &mut MemStream,
        head: &mut Vec<u8>,
        body: Vec<u8>,
        len: Option<u64>,
    ) -> io::Result<u64> {
        let len = len.unwrap_or(body.len() as u64);
        s.write_all(head)?;
        head.clear();
        s.write_all(&body[..len as usize])?;
        Ok(len)
    }
}

fn serve(protocol: ServerProtocol, input: &[u8], split: usize) -> (String, Vec<String>) {
    let mut stream = MemStream { input: input.to_vec(), pos: 0, split, output: Vec::new() };
    let mut conn = Connection::new(config(protocol));
    let mut handler = SimpleHandler::new(tree(), std::sync::Arc::new(MimeTypes::new()));
    let mut shell = TestShell(Vec::new());
    serve_stream(&mut stream, &mut conn, &mut handler, &mut shell).unwrap();
    (String::from_utf8_lossy(&stream.output).into_owned(), shell.0)
}

#[test]
fn serves_exact_bytes() {
    let (out, log) = serve(ServerProtocol::Http10, b"GET /a.txt HTTP/1.0\r\n\r\n", 1);
    assert_eq!(
        out,
        "HTTP/1.0 200 OK\r\nServer: httpserver/0.1.0\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Content-type: text/plain\r\nContent-Length: 6\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\nhello\n"
    );
    assert_eq!(log, ["\"GET /a.txt HTTP/1.0\" 200 -"]);

    let (out, log) = serve(ServerProtocol::Http10, b"GET /fifo HTTP/1.0\r\n\r\n", 100);
    assert!(out.starts_with("HTTP/1.0 404 File not found\r\n"), "{out}");
    assert_eq!(log, ["code 404, message File not found", "\"GET /fifo HTTP/1.0\" 404 -"]);

    let (out, _) = serve(ServerProtocol::Http10, b"GET /a.txt\r\n", 1);
    assert_eq!(out, "hello\n", "HTTP/0.9: the bare body");

    let (out, _) = serve(ServerProtocol::Http10, b"GET /sub?q=1 HTTP/1.0\r\n\r\n", 3);
    assert!(out.contains("\r\nLocation: /sub/?q=1\r\nContent-Length: 0\r\n\r\n"), "{out}");
}

#[test]
fn whole_loop_same_bytes_whatever_the_split() {
    let inputs: &[(ServerProtocol, &[u8])] = &[
        (ServerProtocol::Http11, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /d/ HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        (ServerProtocol::Http11, b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"),
        (ServerProtocol::Http11, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /d HTTP/1.1\r\nHost: x\r\n\r\n"),
        (ServerProtocol::Http11, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"),
        (ServerProtocol::Http10, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        (ServerProtocol::Http10, b"GET / HTTP/1.0\r\n\r\n"),
        (ServerProtocol::Http11, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
    ];
    for (protocol, input) in inputs {
        let whole = serve(*protocol, input, input.len());
        for split in [1, 2, 7, 64] {
            assert_eq!(
                serve(*protocol, input, split),
                whole,
                "{:?} split {split}",
                String::from_utf8_lossy(input)
            );
        }
    }
    let (out, _) = serve(inputs[0].0, inputs[0].1, 1);
    // The 404 closes the connection (send_error says Connection: close):
    // the last pipelined request is never answered.
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
    assert_eq!(out.matches("HTTP/1.1 404").count(), 1, "{out}");
    let (out, _) = serve(inputs[2].0, inputs[2].1, 1);
    assert!(out.contains("HTTP/1.1 301"), "chunked body skipped, next request read: {out}");
}
