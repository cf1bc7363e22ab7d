//! `SimpleHTTPRequestHandler`: CPython's static-file decision (`send_head`)
//! over a file system the shell supplies through [`Files`].

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::SystemTime;

use crate::http::ResponseHead;
use crate::serve::{Body, Handler, Reply, Request};
use crate::simple::coding::{accept_encoding, AcceptEncoding, ContentCoding};
use crate::simple::conditional::{entity_tag, evaluate, range_applies, Precondition};
use crate::simple::files::{FileKind, Files, Metadata};
use crate::simple::listing::{list_directory, LISTING_CONTENT_TYPE};
use crate::simple::mime::MimeTypes;
use crate::simple::range::{multipart, parse_range, select_ranges, RangeDecision};
use crate::simple::url::{directory_redirect_location, translate_path, url_path_ends_with_slash, LocalPath};
use crate::time::format_system_time;

/// Files smaller than this are not compressed on the fly: the coding's
/// overhead and the chunked framing eat what would be saved.
const MIN_COMPRESS: u64 = 1024;

/// Whether a type is worth compressing: text and the structured text and
/// code formats browsers fetch (images, audio, video and archives are
/// compressed already).
fn is_compressible(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "application/manifest+json"
                | "image/svg+xml"
                | "application/x-javascript"
        )
}

/// CPython's `index_pages`: what a directory is served as, in order.
const DEFAULT_INDEX_PAGES: &[&str] = &["index.html", "index.htm"];

/// CPython's `SimpleHTTPRequestHandler`: GET and HEAD of files and
/// directory listings below a root; by default with what CPython lacks:
/// entity tags and conditional requests, and Range requests.
#[derive(Debug)]
pub struct SimpleHandler<F> {
    files: F,
    mime: Arc<MimeTypes>,
    index_pages: Option<Arc<[String]>>,
    validators: bool,
    ranges: bool,
    precompressed: bool,
    compress: bool,
    /// Keys for `multipart/byteranges` boundaries, made on first use.
    boundary_keys: Option<RandomState>,
    boundaries: u64,
}

impl<F: Files> SimpleHandler<F> {
    /// A handler over `files`, guessing types with `mime` (shared: the
    /// table is read-only and may be large; it holds `extensions_map`).
    pub fn new(files: F, mime: Arc<MimeTypes>) -> SimpleHandler<F> {
        SimpleHandler {
            files,
            mime,
            index_pages: None,
            validators: true,
            ranges: true,
            precompressed: false,
            compress: false,
            boundary_keys: None,
            boundaries: 0,
        }
    }

    /// Whether files get a strong `ETag` and the preconditions of RFC 9110
    /// section 13 are evaluated (default on). Off, only CPython's
    /// `If-Modified-Since` is read.
    #[must_use]
    pub fn with_validators(mut self, on: bool) -> SimpleHandler<F> {
        self.validators = on;
        self
    }

    /// Whether GET and HEAD of a file honour `Range` (and `If-Range`) and
    /// say `Accept-Ranges: bytes` (default on).
    #[must_use]
    pub fn with_ranges(mut self, on: bool) -> SimpleHandler<F> {
        self.ranges = on;
        self
    }

    /// Whether files of compressible types (text, JSON, JavaScript, XML,
    /// SVG, wasm) of at least 1 KiB are compressed as they are sent, in a
    /// coding the client accepts and [`Files::encodings`] offers (default
    /// off).
    #[must_use]
    pub fn with_compression(mut self, on: bool) -> SimpleHandler<F> {
        self.compress = on;
        self
    }

    /// Whether a file `x` is served from `x.br`, `x.zst` or `x.gz` beside
    /// it when the client accepts that coding (default off).
    #[must_use]
    pub fn with_precompressed(mut self, on: bool) -> SimpleHandler<F> {
        self.precompressed = on;
        self
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
        if !self.precompressed && !self.compress && !path.has_trailing_slash() && !path.segments().is_empty()
        {
            // The common case first: a regular file, opened at once (a
            // lookup fewer than asking what it is, then opening it).
            // Anything else fails to open and takes CPython's way below.
            if let Ok((file, meta)) = self.files.open(&path) {
                let ctype = self.mime.guess_type(path.file_name().unwrap_or(b""));
                return self.file_reply(req, file, &meta, &ctype, &[]);
            }
        }
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
        let modified = match meta {
            Ok(Metadata { kind: FileKind::File, modified, .. }) => modified,
            _ => return Reply::error(404, Some("File not found"), None),
        };
        let ctype = self.mime.guess_type(path.file_name().unwrap_or(b""));
        let compress = self.compress && is_compressible(&ctype) && !self.files.encodings().is_empty();
        if !self.precompressed && !compress {
            return match self.files.open(&path) {
                Ok((file, meta)) => self.file_reply(req, file, &meta, &ctype, &[]),
                Err(_) => Reply::error(404, Some("File not found"), None),
            };
        }
        // The reply depends on Accept-Encoding from here on.
        let mut extra: Vec<(&str, String)> = vec![("Vary", "Accept-Encoding".to_string())];
        let accept = accept_encoding(&req.head.headers, &ContentCoding::ALL);
        if self.precompressed {
            if let Some((coding, file, meta)) = self.open_precompressed(&accept, &path, modified) {
                extra.push(("Content-Encoding", coding.token().to_string()));
                return self.file_reply(req, file, &meta, &ctype, &extra);
            }
        }
        let (file, meta) = match self.files.open(&path) {
            Ok(opened) => opened,
            Err(_) => return Reply::error(404, Some("File not found"), None),
        };
        // On the fly: not for small files, and not when ranges are asked
        // for (they are served from the file itself), unless the client
        // refuses the file as it is.
        let ranged = self.ranges && req.head.headers.contains("Range");
        let worth_it = meta.len >= MIN_COMPRESS && !ranged;
        let on_the_fly = if compress && (worth_it || !accept.identity) {
            let offered = self.files.encodings();
            accept.preferred.iter().copied().find(|c| offered.contains(c))
        } else {
            None
        };
        match on_the_fly {
            Some(coding) => self.compressed_reply(req, file, &meta, &ctype, coding, &extra),
            None if accept.identity => self.file_reply(req, file, &meta, &ctype, &extra),
            None => Reply::error(406, None, None),
        }
    }

    /// The reply for a file compressed as it is sent: a weak tag of its
    /// own (the bytes depend on the compressor), no length and no ranges.
    fn compressed_reply(
        &mut self,
        req: &Request,
        file: F::File,
        meta: &Metadata,
        ctype: &str,
        coding: ContentCoding,
        extra: &[(&str, String)],
    ) -> Reply<F::File> {
        let strong = entity_tag(meta);
        let etag = format!("W/{}-{}\"", &strong[..strong.len() - 1], coding.token());
        let validators = |head: ResponseHead| {
            let mut head = head.header("Last-Modified", &format_system_time(meta.modified));
            if self.validators {
                head = head.header("ETag", &etag);
            }
            for (name, value) in extra {
                head = head.header(name, value);
            }
            head
        };
        let tag = if self.validators { Some(etag.as_str()) } else { None };
        match evaluate(&req.head.headers, tag, meta.modified) {
            Precondition::Proceed => {}
            Precondition::Failed => return Reply::error(412, None, None),
            Precondition::NotModified => return Reply::head_only(validators(ResponseHead::new(304))),
        }
        let head = validators(ResponseHead::new(200).header("Content-type", ctype))
            .header("Content-Encoding", coding.token());
        match self.files.encode(file, coding) {
            Ok(encoded) => Reply::new(head, Body::Chunked(encoded)),
            // The shell could not after all: the file as it is.
            Err(file) => self.file_reply(req, file, meta, ctype, extra),
        }
    }

    /// The reply for an open regular file: preconditions, then the whole
    /// file, its ranges, or 416. `extra` headers go on 200, 206 and 304.
    fn file_reply(
        &mut self,
        req: &Request,
        file: F::File,
        meta: &Metadata,
        ctype: &str,
        extra: &[(&str, String)],
    ) -> Reply<F::File> {
        let headers = &req.head.headers;
        let etag = if self.validators { Some(entity_tag(meta)) } else { None };
        let last_modified = format_system_time(meta.modified);
        let with_validators = |mut head: ResponseHead| {
            head = head.header("Last-Modified", &last_modified);
            if let Some(etag) = &etag {
                head = head.header("ETag", etag);
            }
            head
        };
        match evaluate(headers, etag.as_deref(), meta.modified) {
            Precondition::Proceed => {}
            Precondition::Failed => return Reply::error(412, None, None),
            Precondition::NotModified if !self.validators => {
                // CPython's bare 304.
                return Reply::head_only(ResponseHead::new(304));
            }
            Precondition::NotModified => {
                let mut head = with_validators(ResponseHead::new(304));
                for (name, value) in extra {
                    head = head.header(name, value);
                }
                return Reply::head_only(head);
            }
        }
        let decision = match self.range_request(req, etag.as_deref(), meta) {
            Some(specs) => select_ranges(&specs, meta.len),
            None => RangeDecision::Whole,
        };
        let ranges_on = self.ranges;
        let finish = |head: ResponseHead| {
            let mut head = with_validators(head);
            if ranges_on {
                head = head.header("Accept-Ranges", "bytes");
            }
            for (name, value) in extra {
                head = head.header(name, value);
            }
            head
        };
        match decision {
            RangeDecision::Whole => {
                let head = ResponseHead::new(200)
                    .header("Content-type", ctype)
                    .header("Content-Length", &meta.len.to_string());
                Reply::new(finish(head), Body::Source { source: file, offset: 0, len: meta.len })
            }
            RangeDecision::Unsatisfiable => {
                Reply::error(416, None, None).with_header("Content-Range", &format!("bytes */{}", meta.len))
            }
            RangeDecision::Partial(ranges) if ranges.len() == 1 => {
                let range = ranges[0];
                let head = ResponseHead::new(206)
                    .header("Content-type", ctype)
                    .header("Content-Range", &range.content_range(meta.len))
                    .header("Content-Length", &range.len.to_string());
                Reply::new(finish(head), Body::Source { source: file, offset: range.start, len: range.len })
            }
            RangeDecision::Partial(ranges) => {
                let boundary = self.boundary();
                let layout = multipart(&ranges, meta.len, ctype, &boundary);
                let head = ResponseHead::new(206)
                    .header("Content-type", &layout.content_type)
                    .header("Content-Length", &layout.content_length.to_string());
                let body = Body::Parts { source: file, parts: layout.parts, closing: layout.closing };
                Reply::new(finish(head), body)
            }
        }
    }

    /// The range set asked for, when ranges are on, the request has one
    /// valid `Range` and its `If-Range` (if any) is current.
    fn range_request(
        &self,
        req: &Request,
        etag: Option<&str>,
        meta: &Metadata,
    ) -> Option<Vec<crate::simple::range::RangeSpec>> {
        if !self.ranges {
            return None;
        }
        let headers = &req.head.headers;
        let mut values = headers.get_all("Range");
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let specs = parse_range(value)?;
        // Without validators, If-Range still compares against the tag the
        // file would have.
        let etag = etag.map_or_else(|| entity_tag(meta), str::to_string);
        if range_applies(headers, &etag, meta.modified, req.time) {
            Some(specs)
        } else {
            None
        }
    }

    /// The precompressed sibling of `path` to serve, the first that exists
    /// in the client's order of preference and is not older than the file
    /// (a stale `x.gz` left behind after `x` was edited is passed over).
    fn open_precompressed(
        &mut self,
        accept: &AcceptEncoding,
        path: &LocalPath,
        modified: SystemTime,
    ) -> Option<(ContentCoding, F::File, Metadata)> {
        for coding in &accept.preferred {
            let sibling = match path.with_suffix(coding.suffix()) {
                Some(sibling) => sibling,
                None => continue,
            };
            match self.files.open(&sibling) {
                Ok((file, meta)) if meta.modified >= modified => return Some((*coding, file, meta)),
                _ => {}
            }
        }
        None
    }

    /// A fresh `multipart/byteranges` boundary: 128 bits no one could
    /// have guessed when the file was written (keyed SipHash of a counter,
    /// keyed from the operating system's randomness through std).
    fn boundary(&mut self) -> String {
        self.boundaries += 1;
        let keys = self.boundary_keys.get_or_insert_with(RandomState::new);
        let mut boundary = String::with_capacity(32);
        for half in 0..2u8 {
            let mut hasher = keys.build_hasher();
            hasher.write_u64(self.boundaries);
            hasher.write_u8(half);
            let _ = write!(boundary, "{:016x}", hasher.finish());
        }
        boundary
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

impl<F: Files> Handler for SimpleHandler<F> {
    type Body = F::File;

    fn do_get(&mut self, req: &Request) -> Reply<F::File> {
        self.send_head(req)
    }

    fn do_head(&mut self, req: &Request) -> Reply<F::File> {
        self.send_head(req)
    }
}
