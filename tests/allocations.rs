//! The hot path allocates nothing: once a keep-alive connection has served
//! its first requests, further GETs of a file (parsing the head, resolving
//! the path, the validators, the response head, the log line) make no heap
//! allocation at all. Counted per thread by a counting global allocator
//! around the core's engine and static handler, driven as the native shell
//! drives them, over a file system that hands out shared bytes as the
//! native small-file cache does.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use httpserver_core::log::push_log_line;
use httpserver_core::simple::{FileKind, ListingEntry, LocalPath, MimeTypes};
use httpserver_core::{Config, Engine, Files, Input, Metadata, Now, Output, ServerProtocol, SimpleHandler};

/// One file, `index.html`, whose bytes are shared (a clone allocates
/// nothing), as the native cache's entries are.
struct OneFile {
    body: Arc<[u8]>,
    meta: Metadata,
}

impl Files for OneFile {
    type File = Arc<[u8]>;

    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata> {
        match path.as_bytes() {
            b"" => Ok(Metadata::new(FileKind::Directory, 0, UNIX_EPOCH)),
            b"index.html" => Ok(self.meta),
            _ => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn read_dir(&mut self, _path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        Ok(vec![ListingEntry::new(b"index.html".to_vec(), false, false)])
    }

    fn open(&mut self, path: &LocalPath) -> io::Result<(Arc<[u8]>, Metadata)> {
        match path.as_bytes() {
            b"index.html" => Ok((Arc::clone(&self.body), self.meta)),
            _ => Err(io::ErrorKind::NotFound.into()),
        }
    }
}

/// A shell in memory: every output carried out at once, the bytes sent
/// counted and kept for one check, the log lines written into one buffer.
struct Shell {
    engine: Engine<Arc<[u8]>>,
    handler: SimpleHandler<OneFile>,
    now: Now,
    sent: Vec<u8>,
    log: String,
}

impl Shell {
    fn new() -> Shell {
        let modified = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body: Arc<[u8]> = vec![b'x'; 1024].into();
        let meta = Metadata::new(FileKind::File, 1024, modified).with_identity(2049, 77);
        let files = OneFile { body, meta };
        // As the command line sets it up by default.
        let handler = SimpleHandler::new(files, Arc::new(MimeTypes::new())).with_utf8_charset(true);
        let config = Config::default().with_protocol(ServerProtocol::Http11);
        let now = Now::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000), Instant::now());
        Shell {
            engine: Engine::new(Arc::new(config), now),
            handler,
            now,
            sent: Vec::with_capacity(1 << 18),
            log: String::with_capacity(1 << 16),
        }
    }

    /// Send one request and carry out outputs until the engine wants to
    /// read again (or closes, after an error page).
    fn request(&mut self, request: &[u8]) {
        self.engine.handle(Input::Bytes(request), self.now).unwrap();
        loop {
            match self.engine.poll(&mut self.handler, self.now) {
                Output::Log(entry) => {
                    push_log_line(&mut self.log, "127.0.0.1", "01/Dec/2026 12:00:00", entry)
                }
                Output::Write(bytes) => {
                    let n = bytes.len();
                    self.sent.extend_from_slice(bytes);
                    self.engine.handle(Input::Written(n), self.now).unwrap();
                }
                Output::Body { head, source, offset, len } => {
                    let n = head.len();
                    self.sent.extend_from_slice(head);
                    let start = offset as usize;
                    let end = len.map_or(source.len(), |len| start + len as usize);
                    self.sent.extend_from_slice(&source[start..end]);
                    self.engine.handle(Input::Written(n), self.now).unwrap();
                    self.engine.handle(Input::BodyCopied((end - start) as u64), self.now).unwrap();
                }
                Output::Read | Output::Close => return,
                other => panic!("unexpected output {other:?}"),
            }
        }
    }
}

const GET: &[u8] = b"GET /index.html?v=3 HTTP/1.1\r\nHost: localhost:8000\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\
Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-GB,en;q=0.9\r\n\
Connection: keep-alive\r\n\r\n";

/// The same with the tag the first reply gave: a 304.
fn revalidation(etag: &str) -> Vec<u8> {
    let mut request = GET[..GET.len() - 2].to_vec();
    request.extend_from_slice(format!("If-None-Match: {etag}\r\n\r\n").as_bytes());
    request
}

fn etag_of(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    let line = text.lines().find(|l| l.starts_with("ETag: ")).expect("an ETag");
    line["ETag: ".len()..].to_string()
}

#[test]
fn keep_alive_file_requests_allocate_nothing() {
    let mut shell = Shell::new();
    // The first requests size the connection's buffers.
    shell.request(GET);
    let etag = etag_of(&shell.sent);
    let check = revalidation(&etag);
    shell.request(&check);
    shell.request(GET);
    shell.sent.clear();
    shell.log.clear();

    let counted = allocation_counter::measure(|| {
        for _ in 0..50 {
            shell.request(GET);
            shell.request(&check);
        }
    });

    // What went out is what it should be: 50 times a 200 with the file,
    // 50 times a 304, and a log line for each.
    let text = String::from_utf8_lossy(&shell.sent);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 50, "{text}");
    assert_eq!(text.matches("HTTP/1.1 304 Not Modified\r\n").count(), 50);
    assert_eq!(text.matches(&"x".repeat(1024)).count(), 50);
    assert!(text.contains("Content-type: text/html; charset=utf-8\r\n"), "{text}");
    assert!(text.contains(&format!("ETag: {etag}\r\n")));
    assert_eq!(shell.log.matches("\"GET /index.html?v=3 HTTP/1.1\" 200 -\n").count(), 50);
    assert_eq!(shell.log.matches("\"GET /index.html?v=3 HTTP/1.1\" 304 -\n").count(), 50);

    assert_eq!(counted.count_total, 0, "allocations in 100 requests: {counted:?}");
}

/// The counter counts: a request that takes a cold path (a 404 page) is
/// seen allocating, so the zero above means something.
#[test]
fn the_counter_sees_allocations() {
    let mut shell = Shell::new();
    shell.request(GET);
    let counted = allocation_counter::measure(|| {
        shell.request(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    });
    assert!(counted.count_total > 0);
    let text = String::from_utf8_lossy(&shell.sent);
    assert!(text.contains("HTTP/1.1 404 File not found\r\n"), "{text}");
}
