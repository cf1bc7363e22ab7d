//! `SimpleHTTPRequestHandler`: CPython's static-file decision (`send_head`)
//! over a file system the shell supplies through [`Files`].

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use crate::date::{format_system_time, parse_http_date, unix_seconds};
use crate::handler::{Body, Handler, Reply, Request};
use crate::listing::{list_directory, ListingEntry, LISTING_CONTENT_TYPE};
use crate::mime::MimeTypes;
use crate::path::{directory_redirect_location, translate_path, url_path_ends_with_slash, LocalPath};
use crate::response::ResponseHead;

/// What kind of thing a path names (after following symbolic links).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file: served.
    File,
    /// A directory: index page, listing or redirect.
    Directory,
    /// A FIFO, socket or device: never opened (opening a FIFO blocks).
    Other,
}

/// File metadata as the shell read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// The kind.
    pub kind: FileKind,
    /// Size in bytes.
    pub len: u64,
    /// Last modification time.
    pub modified: SystemTime,
}

/// The file system, as the static handler needs it. Paths are relative to
/// the served root; the shell decides what the root is and may refuse more
/// (e.g. symbolic links that leave the root) by answering `Err`.
pub trait Files {
    /// An open file, handed back untouched in [`Body::Source`].
    type File;
    /// `os.stat` (following symbolic links).
    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata>;
    /// `os.listdir` with each entry's kind.
    fn read_dir(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>>;
    /// Open a regular file for reading and return it with its metadata as
    /// read from the open file (`os.fstat`). Must not block on, or return,
    /// anything but a regular file.
    fn open(&mut self, path: &LocalPath) -> io::Result<(Self::File, Metadata)>;
}

/// CPython's `SimpleHTTPRequestHandler`: GET and HEAD of files and
/// directory listings below a root.
#[derive(Debug)]
pub struct SimpleHandler<F> {
    files: F,
    mime: Arc<MimeTypes>,
}

impl<F: Files> SimpleHandler<F> {
    /// A handler over `files`, guessing types with `mime` (shared: the
    /// table is read-only and may be large).
    pub fn new(files: F, mime: Arc<MimeTypes>) -> SimpleHandler<F> {
        SimpleHandler { files, mime }
    }

    /// The file system.
    pub fn files_mut(&mut self) -> &mut F {
        &mut self.files
    }

    /// CPython's `send_head`: the reply for a GET (HEAD drops its body).
    pub fn send_head(&mut self, req: &Request) -> Reply<F::File> {
        let target = req.head.target.as_str();
        let mut path = translate_path(target);
        let mut meta = self.files.metadata(&path);
        if let Ok(Metadata { kind: FileKind::Directory, .. }) = meta {
            if !url_path_ends_with_slash(target) {
                // Redirect the browser, doing basically what Apache does.
                let head = ResponseHead::new(301)
                    .header("Location", &directory_redirect_location(target))
                    .header("Content-Length", "0");
                return Reply::head_only(head);
            }
            let mut index = None;
            for name in ["index.html", "index.htm"] {
                let candidate = path.join(name);
                if let Ok(m) = self.files.metadata(&candidate) {
                    if m.kind == FileKind::File {
                        index = Some((candidate, m));
                        break;
                    }
                }
            }
            match index {
                Some((p, m)) => {
                    path = p;
                    meta = Ok(m);
                }
                None => return self.list_directory(&path, target),
            }
        }
        // A file asked for with a trailing slash is not found (Issue17324).
        if path.has_trailing_slash() {
            return Reply::error(404, Some("File not found"), None);
        }
        // Only regular files are opened: CPython would block on a FIFO.
        match meta {
            Ok(Metadata { kind: FileKind::File, .. }) => {}
            _ => return Reply::error(404, Some("File not found"), None),
        }
        let (file, meta) = match self.files.open(&path) {
            Ok(opened) => opened,
            Err(_) => return Reply::error(404, Some("File not found"), None),
        };
        if not_modified(req, meta.modified) {
            return Reply::head_only(ResponseHead::new(304));
        }
        let ctype = self.mime.guess_type(path.file_name().unwrap_or(b""));
        let head = ResponseHead::new(200)
            .header("Content-type", &ctype)
            .header("Content-Length", &meta.len.to_string())
            .header("Last-Modified", &format_system_time(meta.modified));
        Reply { head, body: Body::Source { source: file, len: meta.len }, error_log: None }
    }

    fn list_directory(&mut self, path: &LocalPath, target: &str) -> Reply<F::File> {
        match self.files.read_dir(path) {
            Ok(entries) => Reply::bytes(200, LISTING_CONTENT_TYPE, list_directory(target, entries)),
            Err(_) => Reply::error(404, Some("No permission to list directory"), None),
        }
    }
}

/// `If-Modified-Since` (ignored when `If-None-Match` is present, or when it
/// does not parse): not modified when the mtime, to the second, is not
/// after it.
fn not_modified(req: &Request, modified: SystemTime) -> bool {
    let headers = &req.head.headers;
    if headers.contains("If-None-Match") {
        return false;
    }
    match headers.get("If-Modified-Since").and_then(parse_http_date) {
        Some(since) => unix_seconds(modified) <= since,
        None => false,
    }
}

impl<F: Files> Handler for SimpleHandler<F> {
    type Body = F::File;

    fn do_get(&mut self, req: &Request) -> Reply<F::File> {
        self.send_head(req)
    }

    fn do_head(&mut self, req: &Request) -> Reply<F::File> {
        self.send_head(req)
    }
}
