//! The application: everything the pumps share, fixed at start-up, and the
//! handlers each pump runs (CPython's static handler in the event loop;
//! the CGI handler, which falls back to it, in the threaded server).

use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use httpserver_core::simple::{MimeTypes, UploadPolicy};
use httpserver_core::{Config, SimpleHandler};

use crate::auth::{self, Guarded};
use crate::cgi::{CgiConfig, CgiHandler};
use crate::fs::NativeFiles;

/// What every connection shares.
pub struct App {
    pub config: Arc<Config>,
    pub files: NativeFiles,
    pub mime: Arc<MimeTypes>,
    /// Set with `--cgi`.
    pub cgi: Option<Arc<CgiConfig>>,
    /// Most connections open at once; past it, new ones get 503.
    pub max_connections: usize,
    /// `--precompressed`: serve `x.br`/`x.zst`/`x.gz` for `x`.
    pub precompressed: bool,
    /// `--compress`: compress compressible files as they are sent.
    pub compress: bool,
    /// `--tls-cert`: serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// What the static handler does beyond CPython's (issue-12 options).
    pub serving: Serving,
    /// `--auth`/`--auth-file`: the users every request must be one of.
    pub auth: Option<Arc<crate::auth::Users>>,
}

/// The static handler's options beyond CPython's.
#[derive(Debug, Clone)]
pub struct Serving {
    /// `-H NAME VALUE` (and `--cors`'s header), for successful replies.
    pub extra_headers: Arc<[(String, String)]>,
    /// `--cors`: answer OPTIONS preflights.
    pub cors: bool,
    /// `--charset utf-8` (default): text types say so.
    pub charset_utf8: bool,
    pub hide_dotfiles: bool,
    pub rich_listing: bool,
    /// `--spa`: the fallback file's path below the root.
    pub spa: Option<String>,
    /// `-d FILE`: serve this one file (its name in the root, its parent).
    pub single_file: Option<Vec<u8>>,
    /// `--upload`: `Some(overwrite)`.
    pub upload: Option<bool>,
    pub upload_max: u64,
}

impl App {
    /// CPython's `SimpleHTTPRequestHandler` over the served directory.
    pub fn static_handler(&self) -> SimpleHandler<NativeFiles> {
        SimpleHandler::new(self.files.clone(), Arc::clone(&self.mime))
            .with_precompressed(self.precompressed)
            .with_compression(self.compress)
            .with_extra_headers(Arc::clone(&self.serving.extra_headers))
            .with_cors(self.serving.cors)
            .with_utf8_charset(self.serving.charset_utf8)
            .with_hidden_dotfiles(self.serving.hide_dotfiles)
            .with_rich_listing(self.serving.rich_listing)
            .with_spa_fallback(self.serving.spa.as_deref())
            .with_single_file(self.serving.single_file.clone())
            .with_uploads(
                self.serving.upload.map(|overwrite| UploadPolicy { overwrite, max: self.serving.upload_max }),
            )
    }

    /// [`App::static_handler`] for one connection from `ip`, behind the
    /// `--auth` check (open without it). One per connection: an upload or
    /// a login is the state of its own connection.
    pub fn guarded_static_handler(&self, ip: IpAddr) -> Guarded<SimpleHandler<NativeFiles>> {
        auth::guard(self.auth.as_ref(), ip, self.static_handler()).with_open_preflights(self.serving.cors)
    }

    /// `CGIHTTPRequestHandler` for one connection from `client` at `ip`
    /// (`peer`: a duplicate of its socket, to notice it closing while a
    /// script runs), behind the `--auth` check. `None` without `--cgi`.
    pub fn cgi_handler(
        &self,
        client: String,
        ip: IpAddr,
        peer: Option<OwnedFd>,
    ) -> Option<Guarded<CgiHandler>> {
        let config = Arc::clone(self.cgi.as_ref()?);
        // Uploads (`--upload`) never land where scripts run.
        let simple = self.static_handler().with_no_uploads_into(config.directories.as_slice().into());
        let cgi = CgiHandler::new(simple, config, client, peer);
        Some(auth::guard(self.auth.as_ref(), ip, cgi).with_open_preflights(self.serving.cors))
    }
}

/// The system `mime.types` files CPython's `mimetypes` reads, in its order.
const KNOWN_MIME_FILES: &[&str] = &[
    "/etc/mime.types",
    "/etc/httpd/mime.types",
    "/etc/httpd/conf/mime.types",
    "/etc/apache/mime.types",
    "/etc/apache2/mime.types",
    "/usr/local/etc/httpd/conf/mime.types",
    "/usr/local/lib/netscape/mime.types",
    "/usr/local/etc/mime.types",
];

/// Python's table plus the system files, as `mimetypes.init()` builds it.
pub fn system_mime_types() -> Arc<MimeTypes> {
    let mut mime = MimeTypes::new();
    for path in KNOWN_MIME_FILES {
        if let Ok(bytes) = std::fs::read(path) {
            mime.add_mime_types_file(&String::from_utf8_lossy(&bytes));
        }
    }
    Arc::new(mime)
}
