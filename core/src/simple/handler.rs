//! `SimpleHTTPRequestHandler`: CPython's static-file decision (`send_head`)
//! over a file system the shell supplies through [`Files`].

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::SystemTime;

use crate::http::{RequestHead, ResponseHead};
use crate::serve::{Acceptance, Body, BodyUse, Handler, Reply, Request};
use crate::simple::coding::{accept_encoding, AcceptEncoding, ContentCoding};
use crate::simple::conditional::{entity_tag, evaluate, range_applies, EntityTag, Precondition};
use crate::simple::files::{FileKind, Files, LinkOutsideRoot, Metadata};
use crate::simple::listing::{list_directory, LISTING_CONTENT_TYPE};
use crate::simple::listing_rich::{listing_html, listing_json, parse_listing_query, ListingPage};
use crate::simple::mime::MimeTypes;
use crate::simple::range::{multipart, parse_range, select_ranges, RangeDecision};
use crate::simple::upload::{Upload, UploadPolicy};
use crate::simple::url::{
    directory_redirect_location, translate_path, translate_path_into, url_path_ends_with_slash, LocalPath,
};
use crate::text::push_decimal;
use crate::time::{format_system_time, push_http_date_memo, unix_seconds};

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
    /// Headers for successful file and listing replies (`--header`).
    extra_headers: Arc<[(String, String)]>,
    cors: bool,
    charset_utf8: bool,
    hide_dotfiles: bool,
    rich_listing: bool,
    spa: Option<LocalPath>,
    /// The buffer of the last request's path, for the next.
    spare_path: LocalPath,
    single_file: Option<Vec<u8>>,
    uploads: Option<UploadPolicy>,
    /// URL directories no upload may go to (CGI script directories).
    no_upload_dirs: Arc<[String]>,
    /// The upload whose body is arriving.
    upload: Option<Upload>,
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
            extra_headers: Arc::from(Vec::new()),
            cors: false,
            charset_utf8: false,
            hide_dotfiles: false,
            rich_listing: false,
            spa: None,
            spare_path: LocalPath::default(),
            single_file: None,
            uploads: None,
            no_upload_dirs: Arc::from(Vec::new()),
            upload: None,
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

    /// Headers added to successful file and listing replies (200, and the
    /// 206 and 304 of files), in order, as CPython 3.15's `--header`; not
    /// to errors or redirects.
    #[must_use]
    pub fn with_extra_headers(mut self, headers: Arc<[(String, String)]>) -> SimpleHandler<F> {
        self.extra_headers = headers;
        self
    }

    /// Whether `OPTIONS` preflights are answered for any origin (the
    /// `Access-Control-Allow-Origin` header itself is one of
    /// [`SimpleHandler::with_extra_headers`]). Off: CPython's 501.
    #[must_use]
    pub fn with_cors(mut self, on: bool) -> SimpleHandler<F> {
        self.cors = on;
        self
    }

    /// Whether text, JavaScript, JSON and XML files say `charset=utf-8`
    /// (default off: CPython's types).
    #[must_use]
    pub fn with_utf8_charset(mut self, on: bool) -> SimpleHandler<F> {
        self.charset_utf8 = on;
        self
    }

    /// Whether names beginning with `.` are hidden: 404, and left out of
    /// listings (default off, as CPython).
    #[must_use]
    pub fn with_hidden_dotfiles(mut self, on: bool) -> SimpleHandler<F> {
        self.hide_dotfiles = on;
        self
    }

    /// Whether listings show sizes and times, sortable (default off:
    /// CPython's page).
    #[must_use]
    pub fn with_rich_listing(mut self, on: bool) -> SimpleHandler<F> {
        self.rich_listing = on;
        self
    }

    /// A file (relative to the root, as a URL path) served with 200 for
    /// any path that does not exist, as single-page applications need.
    #[must_use]
    pub fn with_spa_fallback(mut self, file: Option<&str>) -> SimpleHandler<F> {
        self.spa = file.map(translate_path);
        self
    }

    /// Serve only this file of the root: at `/` and under its own name;
    /// everything else is 404.
    #[must_use]
    pub fn with_single_file(mut self, name: Option<Vec<u8>>) -> SimpleHandler<F> {
        self.single_file = name;
        self
    }

    /// Accept uploads (`PUT` of a file, `POST` of a form to a directory)
    /// under `policy`; `None` (default): CPython's 501.
    #[must_use]
    pub fn with_uploads(mut self, policy: Option<UploadPolicy>) -> SimpleHandler<F> {
        self.uploads = policy;
        self
    }

    /// URL directories (`/cgi-bin`) that no upload may go to, nor below
    /// them, nor into them under another name.
    #[must_use]
    pub fn with_no_uploads_into(mut self, dirs: Arc<[String]>) -> SimpleHandler<F> {
        self.no_upload_dirs = dirs;
        self
    }

    /// The upload policy, if uploads are on.
    pub fn uploads(&self) -> Option<UploadPolicy> {
        self.uploads
    }

    /// The file system.
    pub fn files_mut(&mut self) -> &mut F {
        &mut self.files
    }

    /// CPython's `send_head`: the reply for a GET (HEAD drops its body).
    pub fn send_head(&mut self, req: &Request) -> Reply<F::File> {
        let reply = self.resolve(req);
        let succeeded = matches!(reply.status(), 200 | 206 | 304) && !reply.is_error();
        if !succeeded || self.extra_headers.is_empty() {
            return reply;
        }
        let mut reply = reply;
        for (name, value) in self.extra_headers.iter() {
            reply = reply.with_header(name, value);
        }
        reply
    }

    /// The `Content-Type` of a file named `name`.
    fn content_type(&self, name: &[u8]) -> ContentType {
        let ctype = self.mime.guess_type(name);
        ContentType::new(ctype, self.charset_utf8 && is_text(ctype))
    }

    /// A path that names nothing servable: the single-page app's file when
    /// there is one, else 404.
    fn not_found(&mut self, req: &Request) -> Reply<F::File> {
        if let Some(spa) = self.spa.clone() {
            if let Ok((file, meta)) = self.files.open(&spa) {
                let ctype = self.content_type(spa.file_name().unwrap_or(b""));
                return self.file_reply(req, file, &meta, ctype.as_str(), &[]);
            }
        }
        Reply::error(404, Some("File not found"), None)
    }

    /// The path a request names, after `--single-file` and dotfile rules,
    /// into `path`; false when it names nothing servable.
    fn request_path(&self, target: &str, path: &mut LocalPath) -> bool {
        translate_path_into(target, path);
        if let Some(name) = &self.single_file {
            if path.is_root() {
                *path = LocalPath::from_names(vec![name.clone()]);
                return true;
            }
            return path.as_bytes() == name.as_slice() && !path.has_trailing_slash();
        }
        !(self.hide_dotfiles && path.segments().any(|s| s.first() == Some(&b'.')))
    }

    fn resolve(&mut self, req: &Request) -> Reply<F::File> {
        // The path's buffer is the last request's.
        let mut path = std::mem::take(&mut self.spare_path);
        let reply = self.resolve_path(req, &mut path);
        self.spare_path = path;
        reply
    }

    fn resolve_path(&mut self, req: &Request, path: &mut LocalPath) -> Reply<F::File> {
        let target = req.head.target.as_str();
        if !self.request_path(target, path) {
            // Hidden names do not fall back to the app: they are not there.
            return Reply::error(404, Some("File not found"), None);
        }
        if !self.precompressed && !self.compress && !path.has_trailing_slash() && !path.is_root() {
            // The common case first: a regular file, opened at once (a
            // lookup fewer than asking what it is, then opening it).
            // Anything else fails to open and takes CPython's way below.
            if let Ok((file, meta)) = self.files.open(path) {
                let ctype = self.content_type(path.file_name().unwrap_or(b""));
                return self.file_reply(req, file, &meta, ctype.as_str(), &[]);
            }
        }
        let mut meta = self.files.metadata(path);
        if let Err(e) = &meta {
            if LinkOutsideRoot::is(e) {
                let notice =
                    format!("{}: {e} (refused; --follow-symlinks serves it)", crate::text::py_repr(target));
                return Reply::error(404, Some("File not found"), None).with_notice(notice);
            }
        }
        if let Ok(Metadata { kind: FileKind::Directory, .. }) = meta {
            if !url_path_ends_with_slash(target) {
                // Redirect the browser, doing basically what Apache does.
                let head = ResponseHead::new(301)
                    .header("Location", &directory_redirect_location(target))
                    .header("Content-Length", "0");
                return Reply::head_only(head);
            }
            match self.index_page(path) {
                Some((p, m)) => {
                    *path = p;
                    meta = Ok(m);
                }
                None => return self.list_directory(path, target),
            }
        }
        // A file asked for with a trailing slash is not found (Issue17324).
        if path.has_trailing_slash() {
            return self.not_found(req);
        }
        // Only regular files are opened: CPython would block on a FIFO.
        let modified = match meta {
            Ok(Metadata { kind: FileKind::File, modified, .. }) => modified,
            Ok(_) => return Reply::error(404, Some("File not found"), None),
            Err(_) => return self.not_found(req),
        };
        let ctype = self.content_type(path.file_name().unwrap_or(b""));
        let ctype = ctype.as_str();
        let compress = self.compress && is_compressible(ctype) && !self.files.encodings().is_empty();
        if !self.precompressed && !compress {
            return match self.files.open(path) {
                Ok((file, meta)) => self.file_reply(req, file, &meta, ctype, &[]),
                Err(_) => self.not_found(req),
            };
        }
        // The reply depends on Accept-Encoding from here on.
        let mut extra: Vec<(&str, String)> = vec![("Vary", "Accept-Encoding".to_string())];
        let accept = accept_encoding(&req.head.headers, &ContentCoding::ALL);
        if self.precompressed {
            if let Some((coding, file, meta)) = self.open_precompressed(&accept, path, modified) {
                extra.push(("Content-Encoding", coding.token().to_string()));
                return self.file_reply(req, file, &meta, ctype, &extra);
            }
        }
        let (file, meta) = match self.files.open(path) {
            Ok(opened) => opened,
            Err(_) => return self.not_found(req),
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
            Some(coding) => self.compressed_reply(req, file, &meta, ctype, coding, &extra),
            None if accept.identity => self.file_reply(req, file, &meta, ctype, &extra),
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
        let tag = if self.validators { Some(EntityTag::of(meta)) } else { None };
        let etag = tag.as_ref().map(EntityTag::as_str);
        let modified = unix_seconds(meta.modified);
        let with_validators = |mut head: ResponseHead| {
            head = head.header_with("Last-Modified", |v| push_http_date_memo(v, modified));
            if let Some(etag) = etag {
                head = head.header("ETag", etag);
            }
            head
        };
        match evaluate(headers, etag, meta.modified) {
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
        let decision = match self.range_request(req, etag, meta) {
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
                    .header_with("Content-Length", |v| push_decimal(v, meta.len));
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
        let own;
        let etag = match etag {
            Some(etag) => etag,
            None => {
                own = EntityTag::of(meta);
                own.as_str()
            }
        };
        if range_applies(headers, etag, meta.modified, req.time) {
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
        let query = parse_listing_query(target.split_once('?').map_or("", |(_, q)| q));
        let detailed = self.rich_listing || query.json;
        let refused = || Reply::error(404, Some("No permission to list directory"), None);
        if !detailed && !self.hide_dotfiles && self.uploads.is_none() {
            // CPython's page from entries only read: shared ones will do.
            return match self.files.read_dir_shared(path) {
                Ok(entries) => Reply::bytes(200, LISTING_CONTENT_TYPE, list_directory(target, &entries)),
                Err(_) => refused(),
            };
        }
        let entries = if detailed { self.files.read_dir_detailed(path) } else { self.files.read_dir(path) };
        let mut entries = match entries {
            Ok(entries) => entries,
            Err(_) => return refused(),
        };
        if self.hide_dotfiles {
            entries.retain(|e| e.name.first() != Some(&b'.'));
        }
        if query.json {
            let ctype =
                if self.charset_utf8 { "application/json; charset=utf-8" } else { "application/json" };
            return Reply::bytes(200, ctype, listing_json(entries, &query));
        }
        let page = ListingPage { rich: self.rich_listing, upload_form: self.uploads.is_some() };
        Reply::bytes(200, LISTING_CONTENT_TYPE, listing_html(target, entries, &page, &query))
    }

    /// An `OPTIONS` preflight, with `--cors`: any origin may use the
    /// methods this server answers, with the headers it asked for.
    fn preflight(&self, req: &Request) -> Reply<F::File> {
        let methods =
            if self.uploads.is_some() { "GET, HEAD, OPTIONS, PUT, POST" } else { "GET, HEAD, OPTIONS" };
        let mut head = ResponseHead::new(204)
            .header("Access-Control-Allow-Origin", "*")
            .header("Access-Control-Allow-Methods", methods);
        if let Some(asked) = req.head.headers.get("Access-Control-Request-Headers") {
            // Echoed only when it is a plain list of names: nothing that
            // could split or end the head.
            let plain = asked.bytes().all(|b| b.is_ascii_alphanumeric() || b" ,-_".contains(&b));
            if plain && !asked.trim().is_empty() {
                head = head.header("Access-Control-Allow-Headers", asked.trim());
            }
        }
        Reply::head_only(head.header("Access-Control-Max-Age", "86400").header("Content-Length", "0"))
    }

    /// An upload's body is complete: its reply.
    fn finish_upload(&mut self, req: &Request) -> Reply<F::File> {
        match (self.upload.take(), self.uploads) {
            (Some(upload), Some(policy)) => {
                let reply = upload.finish(&req.head, &mut self.files, policy);
                let succeeded = reply.status() < 300 && !reply.is_error();
                if succeeded && self.cors {
                    return reply.with_header("Access-Control-Allow-Origin", "*");
                }
                reply
            }
            // `start_body` refused it, or no uploads: not reached.
            _ => Reply::unsupported(&req.head),
        }
    }

    fn is_upload(&self, head: &RequestHead) -> bool {
        self.uploads.is_some() && (head.method == "PUT" || head.method == "POST")
    }
}

/// Whether a type is text a browser should read as UTF-8: `text/*`,
/// JavaScript, JSON and XML (without a charset already).
fn is_text(content_type: &str) -> bool {
    if content_type.contains(';') {
        return false;
    }
    let bytes = content_type.as_bytes();
    let starts = |prefix: &str| {
        bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    let ends = |suffix: &str| {
        bytes.len() >= suffix.len()
            && bytes[bytes.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    starts("text/")
        || ends("+json")
        || ends("+xml")
        || ["application/javascript", "application/json", "application/xml", "application/x-javascript"]
            .iter()
            .any(|t| content_type.eq_ignore_ascii_case(t))
}

/// A file's `Content-Type`: the guessed type, and `; charset=utf-8` when
/// the handler adds it. Held in place when short (nearly always), so that
/// a file reply allocates nothing for it.
#[derive(Debug, Clone)]
enum ContentType {
    Inline { bytes: [u8; 96], len: usize },
    Long(String),
}

impl ContentType {
    const CHARSET: &'static str = "; charset=utf-8";

    fn new(essence: &str, utf8: bool) -> ContentType {
        let suffix = if utf8 { ContentType::CHARSET } else { "" };
        let len = essence.len() + suffix.len();
        if len > 96 {
            return ContentType::Long(format!("{essence}{suffix}"));
        }
        let mut bytes = [0; 96];
        bytes[..essence.len()].copy_from_slice(essence.as_bytes());
        bytes[essence.len()..len].copy_from_slice(suffix.as_bytes());
        ContentType::Inline { bytes, len }
    }

    fn as_str(&self) -> &str {
        match self {
            // Whole UTF-8 strings, copied in.
            ContentType::Inline { bytes, len } => std::str::from_utf8(&bytes[..*len]).unwrap_or(""),
            ContentType::Long(text) => text,
        }
    }
}

impl<F: Files> Handler for SimpleHandler<F> {
    type Body = F::File;

    fn body_use(&mut self, head: &RequestHead) -> BodyUse {
        match self.uploads {
            Some(policy) if self.is_upload(head) => BodyUse::Stream { limit: policy.max },
            _ => BodyUse::Discard,
        }
    }

    fn start_body(&mut self, head: &RequestHead) -> Acceptance<F::File> {
        let policy = match self.uploads {
            Some(policy) if self.is_upload(head) => policy,
            _ => return Acceptance::Accept,
        };
        match Upload::start(
            head,
            &mut self.files,
            policy,
            self.hide_dotfiles,
            self.cors,
            &self.no_upload_dirs,
        ) {
            Ok(upload) => {
                self.upload = Some(upload);
                Acceptance::Accept
            }
            Err(e) => Acceptance::Refuse(e.reply()),
        }
    }

    fn receive_body(&mut self, chunk: &[u8]) {
        if let (Some(upload), Some(policy)) = (self.upload.as_mut(), self.uploads) {
            upload.receive(chunk, &mut self.files, policy, self.hide_dotfiles);
        }
    }

    fn abort_body(&mut self) {
        // Its temporary files go with it.
        self.upload = None;
    }

    fn do_post(&mut self, req: &Request) -> Reply<F::File> {
        if self.uploads.is_some() {
            return self.finish_upload(req);
        }
        Reply::unsupported(&req.head)
    }

    fn do_other(&mut self, req: &Request) -> Reply<F::File> {
        match req.head.method.as_str() {
            "PUT" if self.uploads.is_some() => self.finish_upload(req),
            "OPTIONS" if self.cors => self.preflight(req),
            _ => Reply::unsupported(&req.head),
        }
    }

    fn do_get(&mut self, req: &Request) -> Reply<F::File> {
        self.send_head(req)
    }

    fn do_head(&mut self, req: &Request) -> Reply<F::File> {
        self.send_head(req)
    }
}
