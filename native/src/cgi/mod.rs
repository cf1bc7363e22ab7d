//! `CGIHTTPRequestHandler`: the core decides (which script, which reply
//! when it cannot run, its environment, whether its head is valid); this
//! module spawns the script, streams the request body to it and its output
//! back. Static paths go to the same `SimpleHandler` the event loop uses.

mod script;

use std::ffi::OsString;
use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use httpserver_core::cgi::{
    bad_gateway, cgi_environment, is_cgi, no_such_script, route, CgiMatch, CgiRoute, CgiScript, CgiServerInfo,
};
use httpserver_core::http::BodyFraming;
use httpserver_core::{Acceptance, Body, BodyUse, Handler, Reply, Request, RequestHead, SimpleHandler};

use crate::fs::{NativeFiles, StaticBody};
use crate::log;

pub use script::{kill_running_scripts, ScriptOutput};
use script::{Script, ScriptInput};

/// CGI settings, fixed at start-up.
#[derive(Debug)]
pub struct CgiConfig {
    /// URL directories holding scripts (CPython's `cgi_directories`).
    pub directories: Vec<String>,
    /// Largest request body passed to a script (413 past it).
    pub max_body: u64,
    /// How long a script may run before it is killed.
    pub time_limit: Duration,
    /// The `SERVER_*` variables.
    pub server: CgiServerInfo,
    /// When the server runs as root, scripts run as `nobody` (as
    /// CPython's do): its uid and gid, looked up once here.
    pub run_as: Option<(u32, u32)>,
    /// The server's own environment, under the CGI variables (CPython
    /// copies `os.environ`).
    pub base_env: Vec<(OsString, OsString)>,
}

impl CgiConfig {
    /// `nobody`'s ids when running as root; `None` otherwise.
    pub fn nobody_if_root() -> Option<(u32, u32)> {
        if !rustix::process::geteuid().is_root() {
            return None;
        }
        match nix::unistd::User::from_name("nobody") {
            Ok(Some(user)) => Some((user.uid.as_raw(), user.gid.as_raw())),
            _ => Some((65534, 65534)),
        }
    }
}

/// A response body of the CGI server: a static file, or a script's output.
pub enum CgiBody {
    Static(StaticBody),
    Script(ScriptOutput),
}

/// Whether a script started.
enum Started {
    Running(Script),
    /// It could not: the reply to send instead.
    Refused(Box<Reply<CgiBody>>),
}

/// A request body on its way to a script.
enum Pending {
    /// The script runs and reads it from a pipe as it arrives.
    Running(Script),
    /// A chunked body, spooled to an unnamed file so that the script gets
    /// a `CONTENT_LENGTH` (as it would from CPython for a declared one).
    Spooling { script: CgiScript, spool: File, len: u64 },
}

/// The handler of one connection of the CGI server.
pub struct CgiHandler {
    simple: SimpleHandler<NativeFiles>,
    config: Arc<CgiConfig>,
    /// `REMOTE_ADDR`.
    client: String,
    /// A duplicate of the client's socket, to notice it closing while a
    /// script runs.
    peer: Option<Arc<OwnedFd>>,
    pending: Option<Pending>,
    /// Whether the current request's body is the static handler's (an
    /// upload).
    static_body: bool,
}

impl CgiHandler {
    pub fn new(
        simple: SimpleHandler<NativeFiles>,
        config: Arc<CgiConfig>,
        client: String,
        peer: Option<OwnedFd>,
    ) -> CgiHandler {
        CgiHandler { simple, config, client, peer: peer.map(Arc::new), pending: None, static_body: false }
    }

    fn route(&mut self, head: &RequestHead) -> CgiRoute<CgiBody> {
        route(self.simple.files_mut(), &self.config.directories, &head.method, &head.target)
    }

    /// Start `script` for the request `head` with its body from `input`;
    /// on failure, the reply to send instead.
    fn spawn(
        &mut self,
        head: &RequestHead,
        script: &CgiScript,
        input: ScriptInput,
        spooled: Option<u64>,
    ) -> Started {
        // Gone since `route` saw it, or now a link out of the root.
        let location = match self.simple.files_mut().script_location(&script.script_path) {
            Ok(location) => location,
            Err(_) => return Started::Refused(Box::new(no_such_script(script))),
        };
        let env = cgi_environment(head, script, &self.config.server, &self.client, spooled);
        match Script::spawn(&self.config, location, script, env, input, &self.client, self.peer.clone()) {
            Ok(s) => Started::Running(s),
            Err(e) => {
                log::line(&self.client, &format!("CGI script could not be started: {e}"));
                Started::Refused(Box::new(Reply::error(500, Some("CGI script could not be started"), None)))
            }
        }
    }

    /// The body is in: read the script's head and reply with its output.
    fn respond(&mut self, req: &Request) -> Reply<CgiBody> {
        let running = match self.pending.take() {
            Some(Pending::Running(s)) => s,
            Some(Pending::Spooling { script, mut spool, len }) => {
                if spool.rewind().is_err() {
                    return Reply::error(500, Some("CGI script could not be started"), None);
                }
                match self.spawn(&req.head, &script, ScriptInput::File(spool), Some(len)) {
                    Started::Running(s) => s,
                    Started::Refused(reply) => return *reply,
                }
            }
            None => {
                return match self.route(&req.head) {
                    CgiRoute::Static => self.simple.send_head(req).map_body(CgiBody::Static),
                    CgiRoute::Refuse(reply) => reply,
                    // `start_body` runs every script request; not reached.
                    _ => Reply::error(500, Some("CGI script could not be started"), None),
                };
            }
        };
        match running.into_output() {
            Ok((head, output)) => Reply::new(head, Body::Stream(CgiBody::Script(output))),
            Err(why) => {
                log::line(&self.client, &format!("CGI script output refused: {why}"));
                bad_gateway()
            }
        }
    }
}

impl Drop for CgiHandler {
    /// The connection ended while a script was reading its body: the
    /// script is released (stopped if its client has gone), not waited for.
    fn drop(&mut self) {
        if let Some(Pending::Running(script)) = self.pending.take() {
            script.release();
        }
    }
}

impl Handler for CgiHandler {
    type Body = CgiBody;

    /// Scripts get their body streamed; everything else discards it. Only
    /// the methods CPython's handler has run scripts (others get 501).
    fn body_use(&mut self, head: &RequestHead) -> BodyUse {
        let method_runs_scripts = matches!(head.method.as_str(), "GET" | "HEAD" | "POST");
        self.static_body = false;
        match is_cgi(&head.target, &self.config.directories) {
            CgiMatch::Cgi { .. } if method_runs_scripts => BodyUse::Stream { limit: self.config.max_body },
            // Nothing is uploaded into a script directory.
            CgiMatch::Cgi { .. } => BodyUse::Discard,
            _ => {
                // Uploads (`--upload`) elsewhere are the static handler's.
                let body_use = self.simple.body_use(head);
                self.static_body = body_use != BodyUse::Discard;
                body_use
            }
        }
    }

    /// The script's checks (404, 403), then the script starts: it reads
    /// the body as it arrives. A chunked body is spooled first.
    fn start_body(&mut self, head: &RequestHead) -> Acceptance<CgiBody> {
        if self.static_body {
            return match self.simple.start_body(head) {
                Acceptance::Refuse(reply) => Acceptance::Refuse(reply.map_body(CgiBody::Static)),
                _ => Acceptance::Accept,
            };
        }
        let script = match self.route(head) {
            CgiRoute::Script(script) => script,
            CgiRoute::Refuse(reply) => return Acceptance::Refuse(reply),
            _ => return Acceptance::Accept,
        };
        let pending = if head.framing == BodyFraming::Chunked {
            match tempfile::tempfile() {
                Ok(spool) => Pending::Spooling { script, spool, len: 0 },
                Err(e) => {
                    log::line(&self.client, &format!("CGI request body could not be spooled: {e}"));
                    return Acceptance::Refuse(Reply::error(
                        500,
                        Some("CGI script could not be started"),
                        None,
                    ));
                }
            }
        } else {
            match self.spawn(head, &script, ScriptInput::Pipe, None) {
                Started::Running(running) => Pending::Running(running),
                Started::Refused(reply) => return Acceptance::Refuse(*reply),
            }
        };
        self.pending = Some(pending);
        Acceptance::Accept
    }

    fn receive_body(&mut self, chunk: &[u8]) {
        if self.static_body {
            return self.simple.receive_body(chunk);
        }
        match &mut self.pending {
            Some(Pending::Running(script)) => script.write_input(chunk),
            Some(Pending::Spooling { spool, len, .. }) => {
                // A failed write (disk full) shows as a shorter body.
                *len += spool.write_all(chunk).map_or(0, |()| chunk.len() as u64);
            }
            _ => {}
        }
    }

    fn abort_body(&mut self) {
        self.simple.abort_body();
        // Dropping a running script that has not answered kills it.
        if let Some(Pending::Running(script)) = self.pending.take() {
            script.abandon();
        }
    }

    fn do_get(&mut self, req: &Request) -> Reply<CgiBody> {
        self.respond(req)
    }

    fn do_head(&mut self, req: &Request) -> Reply<CgiBody> {
        self.respond(req)
    }

    fn do_post(&mut self, req: &Request) -> Reply<CgiBody> {
        if self.static_body {
            return self.simple.do_post(req).map_body(CgiBody::Static);
        }
        self.respond(req)
    }

    /// `OPTIONS` preflights (with `--cors`) anywhere, `PUT` uploads (with
    /// `--upload`) outside the script directories; CPython's 501 otherwise.
    fn do_other(&mut self, req: &Request) -> Reply<CgiBody> {
        let script_path = matches!(is_cgi(&req.head.target, &self.config.directories), CgiMatch::Cgi { .. });
        if script_path && req.head.method != "OPTIONS" {
            return Reply::unsupported(&req.head);
        }
        self.simple.do_other(req).map_body(CgiBody::Static)
    }
}
