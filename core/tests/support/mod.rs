//! The test harness for the core (quinn's `Pair`, ureq-proto's `Scenario`):
//! an in-memory file system and a driver that runs an [`Engine`] over
//! given input bytes, cut at given points, collecting what goes out.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use httpserver_core::simple::coding::ContentCoding;
use httpserver_core::simple::{FileKind, ListingEntry, LocalPath, MimeTypes};
use httpserver_core::{
    Config, Engine, Files, Handler, Input, Metadata, Now, Output, ServerProtocol, SimpleHandler,
};

/// Sun, 06 Nov 1994 08:49:37 GMT.
pub const NOW: u64 = 784_111_777;

pub fn config(protocol: ServerProtocol) -> Config {
    Config::default().with_protocol(protocol)
}

#[derive(Clone)]
pub enum Node {
    File(Vec<u8>, SystemTime),
    Dir,
    Fifo,
}

/// A file system in memory: paths joined with `/`, no leading slash.
#[derive(Clone, Default)]
pub struct MemFiles(pub BTreeMap<String, Node>);

impl MemFiles {
    fn key(path: &LocalPath) -> String {
        String::from_utf8_lossy(path.as_bytes()).into_owned()
    }

    fn node_metadata(node: &Node) -> Metadata {
        match node {
            Node::File(data, t) => Metadata::new(FileKind::File, data.len() as u64, *t),
            Node::Dir => Metadata::new(FileKind::Directory, 0, UNIX_EPOCH),
            Node::Fifo => Metadata::new(FileKind::Other, 0, UNIX_EPOCH),
        }
    }
}

impl Files for MemFiles {
    type File = Vec<u8>;

    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata> {
        if path.is_root() {
            return Ok(Metadata::new(FileKind::Directory, 0, UNIX_EPOCH));
        }
        self.0
            .get(&MemFiles::key(path))
            .map(MemFiles::node_metadata)
            .ok_or_else(|| io::ErrorKind::NotFound.into())
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
                Some(ListingEntry::new(rest.as_bytes().to_vec(), matches!(n, Node::Dir), false))
            })
            .collect())
    }

    fn open(&mut self, path: &LocalPath) -> io::Result<(Vec<u8>, Metadata)> {
        match self.0.get(&MemFiles::key(path)) {
            Some(node @ Node::File(data, _)) => Ok((data.clone(), MemFiles::node_metadata(node))),
            _ => Err(io::ErrorKind::InvalidInput.into()),
        }
    }

    /// A stand-in "gzip" for tests: the bytes reversed, so that a test can
    /// tell the coded stream from the file.
    fn encodings(&self) -> &[ContentCoding] {
        &[ContentCoding::Gzip]
    }

    fn encode(&mut self, mut file: Vec<u8>, _coding: ContentCoding) -> Result<Vec<u8>, Vec<u8>> {
        file.reverse();
        Ok(file)
    }
}

/// The tree most tests serve.
pub fn tree() -> MemFiles {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut m = BTreeMap::new();
    m.insert("a.txt".into(), Node::File(b"hello\n".to_vec(), t));
    m.insert("empty.txt".into(), Node::File(Vec::new(), t));
    let mut big = vec![b'x'; 99_999];
    big.push(b'\n');
    m.insert("big.bin".into(), Node::File(big, t));
    m.insert("sub".into(), Node::Dir);
    m.insert("sub/index.html".into(), Node::File(b"<p>i</p>\n".to_vec(), t));
    m.insert("d".into(), Node::Dir);
    m.insert("d/x.txt".into(), Node::File(b"x".to_vec(), t));
    m.insert("fifo".into(), Node::Fifo);
    MemFiles(m)
}

pub fn simple() -> SimpleHandler<MemFiles> {
    SimpleHandler::new(tree(), Arc::new(MimeTypes::new()))
}

/// Runs an engine as a shell would, in memory: input is fed in pieces
/// (each `Read` gets the next piece), writes take at most `write_limit`
/// bytes at a time, body sources are `Vec<u8>` copied by range.
pub struct Driver<H: Handler<Body = Vec<u8>>> {
    pub engine: Engine<Vec<u8>>,
    pub handler: H,
    pub now: Now,
    pub wire: Vec<u8>,
    pub log: Vec<String>,
    pub write_limit: usize,
    pub shut_down_write: bool,
    pub closed: bool,
}

impl<H: Handler<Body = Vec<u8>>> Driver<H> {
    pub fn new(config: Config, handler: H) -> Driver<H> {
        let now = Now::new(UNIX_EPOCH + Duration::from_secs(NOW), Instant::now());
        Driver {
            engine: Engine::new(Arc::new(config), now),
            handler,
            now,
            wire: Vec::new(),
            log: Vec::new(),
            write_limit: usize::MAX,
            shut_down_write: false,
            closed: false,
        }
    }

    /// Poll and carry out outputs until the engine wants to read (true) or
    /// closes (false).
    pub fn run(&mut self) -> bool {
        for _ in 0..1_000_000 {
            match self.engine.poll(&mut self.handler, self.now) {
                Output::Log(entry) => self.log.push(entry.message()),
                Output::Write(bytes) => {
                    let n = bytes.len().min(self.write_limit);
                    self.wire.extend_from_slice(&bytes[..n]);
                    self.engine.handle(Input::Written(n), self.now).unwrap();
                }
                Output::Body { head, source, offset, len } => {
                    let h = head.len().min(self.write_limit);
                    self.wire.extend_from_slice(&head[..h]);
                    let (mut copied, mut ended) = (0, false);
                    if h == head.len() {
                        let start = (offset as usize).min(source.len());
                        let end = match len {
                            Some(n) => (start + n as usize).min(source.len()),
                            None => source.len(),
                        };
                        let end = end.min(start.saturating_add(self.write_limit.saturating_sub(h).max(1)));
                        self.wire.extend_from_slice(&source[start..end]);
                        copied = (end - start) as u64;
                        ended = end == source.len() && len.map_or(true, |n| copied < n);
                    }
                    self.engine.handle(Input::Written(h), self.now).unwrap();
                    self.engine.handle(Input::BodyCopied(copied), self.now).unwrap();
                    if ended {
                        self.engine.handle(Input::BodyEnded, self.now).unwrap();
                    }
                }
                Output::ReadBody { source, offset, buf } => {
                    let start = (offset as usize).min(source.len());
                    let end = source.len().min(start + buf.len().min(self.write_limit));
                    buf[..end - start].copy_from_slice(&source[start..end]);
                    let input = if end == start { Input::BodyEnded } else { Input::BodyRead(end - start) };
                    self.engine.handle(input, self.now).unwrap();
                }
                Output::Read => return true,
                Output::ShutdownWrite => self.shut_down_write = true,
                Output::Close => {
                    self.closed = true;
                    return false;
                }
            }
        }
        panic!("the engine never asked to read or close");
    }

    /// Feed `input` in pieces of `split` bytes (then EOF when `eof`),
    /// running the engine after each.
    pub fn feed(&mut self, input: &[u8], split: usize, eof: bool) {
        let mut fed = 0;
        while self.run() {
            if fed < input.len() {
                let end = (fed + split.max(1)).min(input.len());
                self.engine.handle(Input::Bytes(&input[fed..end]), self.now).unwrap();
                fed = end;
            } else if eof {
                self.engine.handle(Input::Eof, self.now).unwrap();
            } else {
                return;
            }
        }
    }

    /// Let `secs` seconds pass on the monotonic clock.
    pub fn advance(&mut self, secs: u64) {
        self.now.mono += Duration::from_secs(secs);
        self.now.wall += Duration::from_secs(secs);
    }

    pub fn wire_text(&self) -> String {
        String::from_utf8_lossy(&self.wire).into_owned()
    }
}

/// Serve `input` with the static handler over [`tree`]: wire text and log.
pub fn serve(protocol: ServerProtocol, input: &[u8], split: usize) -> (String, Vec<String>) {
    let mut d = Driver::new(config(protocol), simple());
    d.feed(input, split, true);
    (d.wire_text(), d.log)
}

/// The status codes of every response in `wire`, in order.
pub fn statuses(wire: &str) -> Vec<u16> {
    wire.match_indices("HTTP/1.")
        .filter(|(i, _)| *i == 0 || wire[..*i].ends_with('\n') || wire[..*i].ends_with('>'))
        .filter_map(|(i, _)| wire[i + 9..].get(..3).and_then(|s| s.parse().ok()))
        .collect()
}
