//! Uploads (`--upload`): `PUT /dir/name` stores the body as `name`, and a
//! `multipart/form-data` `POST` to a directory stores each file of the form
//! there. The decisions are here (which names, which status); the bytes go
//! to the shell's [`UploadFile`]s, which stay invisible until committed
//! whole, so an upload that fails for any reason leaves nothing behind.

use std::io;

use crate::http::{RequestHead, ResponseHead};
use crate::serve::{Body, Reply};
use crate::simple::files::{Committed, FileKind, Files, UploadFile};
use crate::simple::multipart::{form_data_boundary, MultipartError, MultipartParser, PartEvent};
use crate::simple::url::{percent_decode, LocalPath};

/// Most files one form may carry (each holds a temporary file open until
/// the form is complete).
const MAX_FORM_FILES: usize = 100;

/// What uploads may do (`--upload`, `--upload-overwrite`, `--upload-max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Whether an upload may replace an existing file (else 409).
    pub overwrite: bool,
    /// Most body bytes accepted (413 past it).
    pub max: u64,
}

/// Why an upload was refused or failed: each maps to one reply.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// A name with `/`, `\`, `..`, NUL or a control character: 400.
    BadName,
    /// A name beginning with `.` while dotfiles are hidden: 403.
    Hidden,
    /// A page of another site posting here: 403.
    CrossOrigin,
    /// A directory no upload may go to (CGI scripts'): 403.
    Forbidden(&'static str),
    /// The file exists and may not be replaced, or the target is a
    /// directory, or the parent directory is missing: 409.
    Conflict(&'static str),
    /// POST to a directory that does not exist: 404.
    NoDirectory,
    /// POST to something that is not a directory: 405.
    NotADirectory,
    /// POST of something other than a form: 415.
    NotAForm,
    /// A malformed form: 400.
    BadForm(MultipartError),
    /// The file system said no.
    Io(io::Error),
}

impl UploadError {
    /// The reply for this failure.
    pub(crate) fn reply<B>(&self) -> Reply<B> {
        match self {
            UploadError::BadName => Reply::error(400, Some("Bad file name"), None),
            UploadError::Hidden => Reply::error(403, Some("Hidden name"), None),
            UploadError::CrossOrigin => Reply::error(403, Some("Cross-origin upload refused"), None),
            UploadError::Forbidden(why) => Reply::error(403, Some(why), None),
            UploadError::Conflict(why) => Reply::error(409, Some(why), None),
            UploadError::NoDirectory => Reply::error(404, Some("No such directory"), None),
            UploadError::NotADirectory => Reply::error(405, Some("Can only POST to a directory"), None)
                .with_header("Allow", "GET, HEAD, PUT"),
            UploadError::NotAForm => Reply::error(415, Some("Expected multipart/form-data"), None),
            UploadError::BadForm(e) => Reply::error(400, Some(&format!("Bad form: {e}")), None),
            UploadError::Io(e) => io_reply(e),
        }
    }
}

/// The reply for a file-system failure during an upload.
fn io_reply<B>(e: &io::Error) -> Reply<B> {
    // ENOSPC, EDQUOT, EISDIR: std has no stable kinds for them before 1.83.
    match e.raw_os_error() {
        Some(28) | Some(122) => return Reply::error(507, Some("Insufficient storage"), None),
        Some(21) => return Reply::error(409, Some("A directory has that name"), None),
        _ => {}
    }
    match e.kind() {
        io::ErrorKind::AlreadyExists => Reply::error(409, Some("File exists"), None),
        io::ErrorKind::PermissionDenied => Reply::error(403, Some("Permission denied"), None),
        io::ErrorKind::NotFound => Reply::error(409, Some("Parent directory does not exist"), None),
        _ => Reply::error(500, Some("Upload failed"), None),
    }
}

/// Whether `name` may be created: not empty, `.` or `..`, and free of
/// `/`, `\`, NUL and control characters.
pub(crate) fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name.iter().any(|&b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f)
}

/// The request path's segments exactly as sent (percent-decoded, not
/// normalised): an upload names its target literally, so `..` or an
/// encoded `/` is refused rather than resolved somewhere else.
fn literal_segments(target: &str) -> Result<Vec<Vec<u8>>, UploadError> {
    let path = target.split('?').next().unwrap_or("");
    let path = path.split('#').next().unwrap_or("");
    let mut segments = Vec::new();
    // Split before decoding: an encoded `/` (%2F) inside a name is refused.
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let segment = percent_decode(raw);
        if !valid_name(&segment) {
            return Err(UploadError::BadName);
        }
        segments.push(segment);
    }
    Ok(segments)
}

/// Whether a page from another origin sent this (its `Origin` names a
/// host other than the one it asked): browsers send `Origin` with every
/// cross-site form post, so without this check any web page could write
/// files here.
pub(crate) fn is_cross_origin(head: &RequestHead) -> bool {
    let origin = match head.headers.get("Origin") {
        Some(origin) => origin.trim(),
        None => return false,
    };
    let host = head.headers.get("Host").unwrap_or("").trim();
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    !authority.eq_ignore_ascii_case(host)
}

/// A `PUT` or `POST` upload under way.
pub(crate) enum Upload {
    /// `PUT`: one file.
    Put(PutUpload),
    /// `POST` of a form: each file part.
    Form(Box<FormUpload>),
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Upload::Put(put) => write!(f, "Upload::Put({}, {} bytes)", put.url_path, put.bytes),
            Upload::Form(form) => write!(f, "Upload::Form({}, {} files)", form.url_path, form.complete.len()),
        }
    }
}

pub(crate) struct PutUpload {
    /// The URL path, for `Location` and the log.
    url_path: String,
    name: Vec<u8>,
    file: Option<Box<dyn UploadFile>>,
    bytes: u64,
    failed: Option<io::Error>,
}

pub(crate) struct FormUpload {
    /// The directory's URL path (a 303 goes back to it).
    url_path: String,
    dir: LocalPath,
    parser: MultipartParser,
    /// The file part being received.
    current: Option<PendingFile>,
    /// Complete file parts, committed together once the form is complete.
    complete: Vec<PendingFile>,
    failed: Option<UploadError>,
}

struct PendingFile {
    name: Vec<u8>,
    file: Box<dyn UploadFile>,
    bytes: u64,
}

impl Upload {
    /// Check a `PUT` or `POST` and get ready for its body, or the reply
    /// refusing it.
    /// `excluded`: URL paths of directories no upload may go to, nor to
    /// any directory below them or that is one of them under another name.
    pub(crate) fn start<F: Files>(
        head: &RequestHead,
        files: &mut F,
        policy: UploadPolicy,
        hide_dotfiles: bool,
        cors: bool,
        excluded: &[String],
    ) -> Result<Upload, UploadError> {
        // A form POST needs no preflight, so `--cors` cannot vouch for it:
        // a page elsewhere may never post files here. A cross-origin PUT
        // comes only after a preflight that `--cors` answered.
        if is_cross_origin(head) && (head.method == "POST" || !cors) {
            return Err(UploadError::CrossOrigin);
        }
        // Clients never send a fragment; one here would be read one way
        // by this check and another by whatever else parses the target.
        if head.target.contains('#') {
            return Err(UploadError::BadName);
        }
        let segments = literal_segments(&head.target)?;
        if hide_dotfiles && segments.iter().any(|s| s.first() == Some(&b'.')) {
            return Err(UploadError::Hidden);
        }
        let url_path = head.target.split(['?', '#']).next().unwrap_or("/").to_string();
        if head.method == "PUT" {
            let trailing = url_path.ends_with('/');
            let (name, parents) = match segments.split_last() {
                Some((name, parents)) if !trailing => (name.clone(), parents),
                _ => return Err(UploadError::Conflict("Cannot PUT a directory")),
            };
            let dir = LocalPath::from_names(parents.to_vec());
            let dir_meta = match files.metadata(&dir) {
                Ok(m) if m.kind == FileKind::Directory => m,
                _ => return Err(UploadError::Conflict("Parent directory does not exist")),
            };
            if is_excluded(files, parents, dir_meta.identity, excluded) {
                return Err(UploadError::Forbidden("No uploads into a script directory"));
            }
            match files.metadata(&LocalPath::from_names(segments.clone())) {
                Ok(m) if m.kind == FileKind::Directory => {
                    return Err(UploadError::Conflict("A directory has that name"))
                }
                Ok(_) if !policy.overwrite => return Err(UploadError::Conflict("File exists")),
                _ => {}
            }
            let file = files.begin_upload(&dir).map_err(UploadError::Io)?;
            return Ok(Upload::Put(PutUpload { url_path, name, file: Some(file), bytes: 0, failed: None }));
        }
        let dir = LocalPath::from_names(segments.clone());
        let dir_meta = match files.metadata(&dir) {
            Ok(m) if m.kind == FileKind::Directory => m,
            Ok(_) => return Err(UploadError::NotADirectory),
            Err(_) => return Err(UploadError::NoDirectory),
        };
        if is_excluded(files, &segments, dir_meta.identity, excluded) {
            return Err(UploadError::Forbidden("No uploads into a script directory"));
        }
        let boundary = head.headers.get("Content-Type").and_then(form_data_boundary);
        let boundary = boundary.ok_or(UploadError::NotAForm)?;
        Ok(Upload::Form(Box::new(FormUpload {
            url_path: dir_url(&segments),
            dir,
            parser: MultipartParser::new(&boundary),
            current: None,
            complete: Vec::new(),
            failed: None,
        })))
    }

    /// The next body bytes. A failure is kept for the reply; later bytes
    /// are read and dropped (the engine reads the body to its end).
    pub(crate) fn receive<F: Files>(
        &mut self,
        chunk: &[u8],
        files: &mut F,
        policy: UploadPolicy,
        hide_dotfiles: bool,
    ) {
        match self {
            Upload::Put(put) => {
                if put.failed.is_some() {
                    return;
                }
                if let Some(file) = put.file.as_mut() {
                    match file.write(chunk) {
                        Ok(()) => put.bytes += chunk.len() as u64,
                        Err(e) => {
                            put.failed = Some(e);
                            put.file = None;
                        }
                    }
                }
            }
            Upload::Form(form) => form.receive(chunk, files, policy, hide_dotfiles),
        }
    }

    /// The body is complete: put the files in place, and the reply.
    pub(crate) fn finish<F: Files, B>(
        self,
        head: &RequestHead,
        files: &mut F,
        policy: UploadPolicy,
    ) -> Reply<B> {
        match self {
            Upload::Put(put) => put.finish(policy),
            Upload::Form(form) => form.finish(head, files, policy),
        }
    }
}

/// `/a/b/` for segments `a`, `b` (the URL of a directory, percent-encoded
/// again where needed so that it is a valid path).
fn dir_url(segments: &[Vec<u8>]) -> String {
    let mut url = String::from("/");
    for segment in segments {
        let mut quoted = Vec::new();
        crate::simple::url::quote_into(&mut quoted, segment);
        url.push_str(&String::from_utf8_lossy(&quoted));
        url.push('/');
    }
    url
}

impl PutUpload {
    fn finish<B>(self, policy: UploadPolicy) -> Reply<B> {
        if let Some(e) = &self.failed {
            return io_reply(e);
        }
        let file = match self.file {
            Some(file) => file,
            None => return Reply::error(500, Some("Upload failed"), None),
        };
        match file.commit(&self.name, policy.overwrite) {
            Ok(Committed::Created) => {
                let body = format!("Created {}\n", self.url_path).into_bytes();
                let head = ResponseHead::new(201)
                    .header("Location", &self.url_path)
                    .header("Content-type", "text/plain; charset=utf-8")
                    .header("Content-Length", &body.len().to_string());
                Reply::new(head, Body::Bytes(body))
                    .with_notice(format!("uploaded {} ({} bytes)", self.url_path, self.bytes))
            }
            Ok(Committed::Replaced) => Reply::head_only(ResponseHead::new(204))
                .with_notice(format!("uploaded {} ({} bytes, replacing it)", self.url_path, self.bytes)),
            Err(e) => io_reply(&e),
        }
    }
}

impl FormUpload {
    fn receive<F: Files>(&mut self, chunk: &[u8], files: &mut F, policy: UploadPolicy, hide_dotfiles: bool) {
        if self.failed.is_some() {
            return;
        }
        let FormUpload { parser, current, complete, failed, dir, .. } = self;
        let mut on_event = |event: PartEvent<'_>| {
            if failed.is_some() {
                return;
            }
            match event {
                PartEvent::Start(part) => {
                    // Fields without a file name (and empty file inputs,
                    // which browsers send with `filename=""`) store nothing.
                    let name = match part.filename {
                        Some(name) if !name.is_empty() => name,
                        _ => return,
                    };
                    let refused = if !valid_name(&name) {
                        Some(UploadError::BadName)
                    } else if hide_dotfiles && name.first() == Some(&b'.') {
                        Some(UploadError::Hidden)
                    } else if complete.len() >= MAX_FORM_FILES {
                        Some(UploadError::BadForm(MultipartError::TooManyParts))
                    } else if complete.iter().any(|f| f.name == name) {
                        Some(UploadError::Conflict("The form names a file twice"))
                    } else if kind_of(files, dir, &name) == Some(FileKind::Directory) {
                        Some(UploadError::Conflict("A directory has that name"))
                    } else if !policy.overwrite && kind_of(files, dir, &name).is_some() {
                        Some(UploadError::Conflict("File exists"))
                    } else {
                        None
                    };
                    if let Some(e) = refused {
                        *failed = Some(e);
                        return;
                    }
                    match files.begin_upload(dir) {
                        Ok(file) => *current = Some(PendingFile { name, file, bytes: 0 }),
                        Err(e) => *failed = Some(UploadError::Io(e)),
                    }
                }
                PartEvent::Data(bytes) => {
                    if let Some(part) = current.as_mut() {
                        match part.file.write(bytes) {
                            Ok(()) => part.bytes += bytes.len() as u64,
                            Err(e) => *failed = Some(UploadError::Io(e)),
                        }
                    }
                }
                PartEvent::End => {
                    if let Some(part) = current.take() {
                        complete.push(part);
                    }
                }
            }
        };
        if let Err(e) = parser.feed(chunk, &mut on_event) {
            if self.failed.is_none() {
                self.failed = Some(UploadError::BadForm(e));
            }
        }
        if self.failed.is_some() {
            // Temporary files go now, not when the body ends.
            self.current = None;
            self.complete.clear();
        }
    }

    fn finish<F: Files, B>(mut self, head: &RequestHead, files: &mut F, policy: UploadPolicy) -> Reply<B> {
        let _ = files;
        if self.failed.is_none() {
            if let Err(e) = self.parser.finish() {
                self.failed = Some(UploadError::BadForm(e));
            }
        }
        if let Some(e) = &self.failed {
            return e.reply();
        }
        let mut stored = Vec::new();
        let mut total = 0;
        for part in self.complete {
            match part.file.commit(&part.name, policy.overwrite) {
                Ok(_) => {
                    total += part.bytes;
                    stored.push(String::from_utf8_lossy(&part.name).into_owned());
                }
                Err(e) => {
                    let reply: Reply<B> = io_reply(&e);
                    return reply.with_notice(format!(
                        "upload to {} stopped after {} file(s): {e}",
                        self.url_path,
                        stored.len()
                    ));
                }
            }
        }
        let notice = format!("uploaded {} file(s) to {} ({total} bytes)", stored.len(), self.url_path);
        let browser = head.headers.get_all("Accept").any(|a| a.contains("text/html"));
        if browser {
            // Back to the listing, which now shows the files.
            let head =
                ResponseHead::new(303).header("Location", &self.url_path).header("Content-Length", "0");
            return Reply::head_only(head).with_notice(notice);
        }
        let mut body = stored.join("\n").into_bytes();
        if !body.is_empty() {
            body.push(b'\n');
        }
        let head = ResponseHead::new(201)
            .header("Content-type", "text/plain; charset=utf-8")
            .header("Content-Length", &body.len().to_string());
        Reply::new(head, Body::Bytes(body)).with_notice(notice)
    }
}

/// What `name` in `dir` is, if anything.
fn kind_of<F: Files>(files: &mut F, dir: &LocalPath, name: &[u8]) -> Option<FileKind> {
    let mut segments: Vec<Vec<u8>> = dir.segments().map(<[u8]>::to_vec).collect();
    segments.push(name.to_vec());
    files.metadata(&LocalPath::from_names(segments)).ok().map(|m| m.kind)
}

/// Whether the directory at `segments` (with this identity) is, or is
/// below, one of the `excluded` URL directories; a link inside the root
/// that names one of them under another name is caught by its identity.
fn is_excluded<F: Files>(
    files: &mut F,
    segments: &[Vec<u8>],
    identity: Option<(u64, u64)>,
    excluded: &[String],
) -> bool {
    for url in excluded {
        let excluded_segments = match literal_segments(url) {
            Ok(s) => s,
            Err(_) => continue,
        };
        if segments.starts_with(&excluded_segments) {
            return true;
        }
        let same = files.metadata(&LocalPath::from_names(excluded_segments)).ok().and_then(|m| m.identity);
        if identity.is_some() && same == identity {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in [&b"a.txt"[..], b".env", b"caf\xc3\xa9", b"a b", b"...", b"a..b"] {
            assert!(valid_name(good), "{good:?}");
        }
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\\b", b"a\0b", b"a\nb", b"\x7f", b"\x1b[31m"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn literal_paths_refuse_what_translate_path_would_resolve() {
        assert_eq!(literal_segments("/a/b.txt?x").unwrap(), vec![b"a".to_vec(), b"b.txt".to_vec()]);
        assert_eq!(literal_segments("//a//b").unwrap(), vec![b"a".to_vec(), b"b".to_vec()]);
        for bad in ["/../x", "/a/%2e%2e/x", "/a%2fb", "/a%5cb", "/a%00", "/a%0ab", "/./x", "/x/.."] {
            assert!(matches!(literal_segments(bad), Err(UploadError::BadName)), "{bad}");
        }
    }

    #[test]
    fn dir_urls_are_quoted() {
        assert_eq!(dir_url(&[]), "/");
        assert_eq!(dir_url(&[b"a b".to_vec(), b"c".to_vec()]), "/a%20b/c/");
    }
}
