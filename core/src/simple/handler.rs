//! `SimpleHTTPRequestHandler`: CPython's static-file decision (`send_head`)
//! over a file system the shell supplies through [`Files`].

use std::sync::Arc;
use std::time::SystemTime;

use crate::http::ResponseHead;
use crate::serve::{Body, Handler, Reply, Request};
use crate::simple::files::{FileKind, Files, Metadata};
use crate::simple::listing::{list_directory, LISTING_CONTENT_TYPE};
use crate::simple::mime::MimeTypes;
use crate::simple::url::{directory_redirect_location, translate_path, url_path_ends_with_slash, LocalPath};
use crate::time::{format_system_time, parse_http_date, unix_seconds};

/// CPython's `index_pages`: what a directory is served as, in order.
const DEFAULT_INDEX_PAGES: &[&str] = &["index.html", "index.htm"];

/// CPython's `SimpleHTTPRequestHandler`: GET and HEAD of files and
/// directory listings below a root.
#[derive(Debug)]
pub struct SimpleHandler<F> {
    files: F,
    mime: Arc<MimeTypes>,
    index_pages: Option<Arc<[String]>>,
}

impl<F: Files> SimpleHandler<F> {
    /// A handler over `files`, guessing types with `mime` (shared: the
    /// table is read-only and may be large; it holds `extensions_map`).
    pub fn new(files: F, mime: Arc<MimeTypes>) -> SimpleHandler<F> {
        SimpleHandler { files, mime, index_pages: None }
    }

    /// `index_pages`: the file names a directory is served as, in order,
    /// before a listing is made (default `index.html`, `index.htm`).
    #[must_use]
    pub fn with_index_pages(mut self, pages: Arc<[String]>) -> SimpleHandler<F> {
        self.index_pages = Some(pages);
        self
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
            match self.index_page(&path) {
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
        Reply::new(head, Body::Source { source: file, offset: 0, len: meta.len })
    }

    /// The first index page that is a regular file.
    fn index_page(&mut self, dir: &LocalPath) -> Option<(LocalPath, Metadata)> {
        let custom = self.index_pages.clone();
        let names: Vec<&str> = match &custom {
            Some(pages) => pages.iter().map(String::as_str).collect(),
            None => DEFAULT_INDEX_PAGES.to_vec(),
        };
        for name in names {
            let candidate = dir.join(name);
            if let Ok(m) = self.files.metadata(&candidate) {
                if m.kind == FileKind::File {
                    return Some((candidate, m));
                }
            }
        }
        None
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
