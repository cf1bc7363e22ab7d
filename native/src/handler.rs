//! The handler the native server runs: CPython's `SimpleHTTPRequestHandler`,
//! or `CGIHTTPRequestHandler` with `--cgi`.

use std::fs::File;
use std::sync::Arc;

use httpserver_core::{
    is_cgi, BodyUse, CgiMatch, Handler, MimeTypes, Reply, Request, RequestHead, SimpleHandler,
};

use crate::cgi::{run_cgi, CgiConfig, CgiRun};
use crate::fs::NativeFiles;

/// What a native reply's body is.
pub enum NativeBody {
    File(File),
    Cgi(CgiRun),
}

pub struct ServerHandler {
    simple: SimpleHandler<NativeFiles>,
    cgi: Option<Arc<CgiConfig>>,
    client: String,
}

impl ServerHandler {
    pub fn new(
        files: NativeFiles,
        mime: Arc<MimeTypes>,
        cgi: Option<Arc<CgiConfig>>,
        client: String,
    ) -> ServerHandler {
        ServerHandler { simple: SimpleHandler::new(files, mime), cgi, client }
    }

    fn cgi_match(&self, target: &str) -> Option<CgiMatch> {
        self.cgi.as_ref().map(|c| is_cgi(target, &c.directories))
    }

    /// CGIHTTPRequestHandler's `send_head`: a script, or the static file.
    fn send_head(&mut self, req: &Request) -> Reply<NativeBody> {
        fault_injection(&req.head.target);
        match (self.cgi_match(&req.head.target), self.cgi.clone()) {
            (Some(CgiMatch::Cgi { dir, rest }), Some(cfg)) => self.run(req, &cfg, &dir, &rest),
            (Some(CgiMatch::Invalid), _) => invalid_path(),
            _ => self.simple.send_head(req).map_body(NativeBody::File),
        }
    }

    fn run(&mut self, req: &Request, cfg: &CgiConfig, dir: &str, rest: &str) -> Reply<NativeBody> {
        run_cgi(self.simple.files_mut(), cfg, &self.client, req, dir, rest).map_body(NativeBody::Cgi)
    }
}

/// More `..` than segments in a CGI-style path: CPython fails on it; we
/// refuse it rather than serve the file statically (which could reveal a
/// script's source).
fn invalid_path() -> Reply<NativeBody> {
    Reply::error(400, Some("Invalid path"), None)
}

impl Handler for ServerHandler {
    type Body = NativeBody;

    fn body_use(&mut self, head: &RequestHead) -> BodyUse {
        match (self.cgi_match(&head.target), &self.cgi) {
            (Some(CgiMatch::Cgi { .. }), Some(cfg)) => BodyUse::Buffer { limit: cfg.max_body },
            _ => BodyUse::Discard,
        }
    }

    fn do_get(&mut self, req: &Request) -> Reply<NativeBody> {
        self.send_head(req)
    }

    fn do_head(&mut self, req: &Request) -> Reply<NativeBody> {
        self.send_head(req)
    }

    fn do_post(&mut self, req: &Request) -> Reply<NativeBody> {
        match (self.cgi_match(&req.head.target), self.cgi.clone()) {
            (None, _) => Reply::unsupported(&req.head),
            (Some(CgiMatch::Cgi { dir, rest }), Some(cfg)) => self.run(req, &cfg, &dir, &rest),
            (Some(CgiMatch::Invalid), _) => invalid_path(),
            _ => Reply::error(501, Some("Can only POST to CGI scripts"), None),
        }
    }
}

/// Debug builds only: panic while serving the path named by
/// `HTTPSERVER_TEST_PANIC_PATH`, so the tests can check that a panic in one
/// connection is caught and the server goes on. Compiled out of release.
fn fault_injection(target: &str) {
    if cfg!(debug_assertions) && std::env::var("HTTPSERVER_TEST_PANIC_PATH").is_ok_and(|p| p == target) {
        panic!("injected fault for {target}");
    }
}
