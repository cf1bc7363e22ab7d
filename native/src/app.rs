//! The application: everything the pumps share, fixed at start-up, and the
//! handlers each pump runs (CPython's static handler in the event loop;
//! the CGI handler, which falls back to it, in the threaded server).

use std::os::fd::OwnedFd;
use std::sync::Arc;

use httpserver_core::simple::MimeTypes;
use httpserver_core::{Config, SimpleHandler};

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
}

impl App {
    /// CPython's `SimpleHTTPRequestHandler` over the served directory.
    pub fn static_handler(&self) -> SimpleHandler<NativeFiles> {
        SimpleHandler::new(self.files.clone(), Arc::clone(&self.mime))
            .with_precompressed(self.precompressed)
            .with_compression(self.compress)
    }

    /// `CGIHTTPRequestHandler` for one connection from `client` (`peer`:
    /// a duplicate of its socket, to notice it closing while a script runs).
    /// `None` without `--cgi`.
    pub fn cgi_handler(&self, client: String, peer: Option<OwnedFd>) -> Option<CgiHandler> {
        let config = Arc::clone(self.cgi.as_ref()?);
        Some(CgiHandler::new(self.static_handler(), config, client, peer))
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
