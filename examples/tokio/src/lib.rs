//! `python -m http.server` on tokio, from the sans-IO core: each accepted
//! connection is a task that drives an [`Engine`] — read when it asks to
//! read (until its deadline), write what it asks to write, copy file
//! ranges it names — with CPython's static handler over `std::fs`.
//!
//! The whole shell is [`serve_connection`]: the same handle/poll loop the
//! native server runs over epoll, here with `.await`. Files are read with
//! blocking `std::fs` calls, which is fine for a local disk; a server for
//! slow storage would move them to `spawn_blocking`.

use std::fs::{self, File};
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use httpserver_core::log::format_log_line;
use httpserver_core::simple::{FileKind, ListingEntry, LocalPath, MimeTypes};
use httpserver_core::time::{unix_seconds, CivilTime};
use httpserver_core::{Config, Engine, Files, Input, Metadata, Now, Output, SimpleHandler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The served directory over `std::fs` (no link confinement: an example).
#[derive(Clone)]
pub struct StdFiles {
    root: PathBuf,
}

impl StdFiles {
    pub fn new(root: PathBuf) -> StdFiles {
        StdFiles { root }
    }

    fn full(&self, path: &LocalPath) -> PathBuf {
        let mut p = self.root.clone();
        for seg in path.segments() {
            p.push(std::ffi::OsStr::from_bytes(seg));
        }
        p
    }
}

fn metadata_of(m: &fs::Metadata) -> Metadata {
    let kind = if m.is_file() {
        FileKind::File
    } else if m.is_dir() {
        FileKind::Directory
    } else {
        FileKind::Other
    };
    Metadata::new(kind, m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH))
        .with_identity(std::os::unix::fs::MetadataExt::dev(m), std::os::unix::fs::MetadataExt::ino(m))
}

impl Files for StdFiles {
    type File = File;

    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata> {
        Ok(metadata_of(&fs::metadata(self.full(path))?))
    }

    fn read_dir(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(self.full(path))? {
            let entry = entry?;
            let is_symlink = entry.file_type()?.is_symlink();
            let is_dir = fs::metadata(entry.path()).map(|m| m.is_dir()).unwrap_or(false);
            entries.push(ListingEntry::new(entry.file_name().as_bytes().to_vec(), is_dir, is_symlink));
        }
        Ok(entries)
    }

    fn open(&mut self, path: &LocalPath) -> io::Result<(File, Metadata)> {
        let full = self.full(path);
        if !fs::metadata(&full)?.is_file() {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let file = File::open(full)?;
        let meta = metadata_of(&file.metadata()?);
        Ok((file, meta))
    }
}

fn now() -> Now {
    Now::new(SystemTime::now(), Instant::now())
}

fn log(client: &str, message: &str) {
    let time = CivilTime::from_unix(unix_seconds(SystemTime::now())).log_format();
    eprint!("{}", format_log_line(client, &time, message));
}

/// Serve one connection until the engine closes it.
pub async fn serve_connection(
    mut stream: TcpStream,
    client: String,
    config: Arc<Config>,
    mut handler: SimpleHandler<StdFiles>,
) -> io::Result<()> {
    let mut engine: Engine<File> = Engine::new(config, now());
    let mut buf = vec![0u8; 16 * 1024];
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let now = now();
        match engine.poll(&mut handler, now) {
            Output::Log(entry) => log(&client, &entry.message()),
            Output::Write(bytes) => {
                let n = stream.write(bytes).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                engine.handle(Input::Written(n), now)?;
            }
            Output::Body { head, source, offset, len } => {
                // The head, then the range in chunks (pread at the offset).
                stream.write_all(head).await?;
                let head_len = head.len();
                let want = len.unwrap_or(u64::MAX).min(chunk.len() as u64) as usize;
                let n = source.read_at(&mut chunk[..want], offset)?;
                stream.write_all(&chunk[..n]).await?;
                engine.handle(Input::Written(head_len), now)?;
                engine.handle(Input::BodyCopied(n as u64), now)?;
                if n == 0 {
                    engine.handle(Input::BodyEnded, now)?;
                }
            }
            Output::ReadBody { source, offset, buf } => {
                // Only for bodies the engine frames (compression on the
                // fly, which StdFiles does not offer): pread at the offset.
                let n = source.read_at(buf, offset)?;
                let input = if n == 0 { Input::BodyEnded } else { Input::BodyRead(n) };
                engine.handle(input, self::now())?;
            }
            Output::Read => {
                let read = stream.read(&mut buf);
                let outcome = match engine.timeout() {
                    Some(deadline) => match tokio::time::timeout_at(deadline.into(), read).await {
                        Ok(outcome) => outcome,
                        Err(_) => continue, // the next poll sees the deadline passed
                    },
                    None => read.await,
                };
                match outcome? {
                    0 => engine.handle(Input::Eof, self::now())?,
                    n => engine.handle(Input::Bytes(&buf[..n]), self::now())?,
                }
            }
            Output::ShutdownWrite => stream.shutdown().await?,
            Output::Close => return Ok(()),
        }
    }
}

/// Accept connections on `listener` forever, serving `root`.
pub async fn serve(listener: TcpListener, root: PathBuf, config: Arc<Config>) -> io::Result<()> {
    let mime = Arc::new(MimeTypes::new());
    loop {
        let (stream, peer): (TcpStream, SocketAddr) = listener.accept().await?;
        let handler = SimpleHandler::new(StdFiles::new(root.clone()), Arc::clone(&mime));
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            let client = peer.ip().to_string();
            if let Err(e) = serve_connection(stream, client.clone(), config, handler).await {
                log(&client, &format!("connection error: {e}"));
            }
        });
    }
}
