//! Running CGI scripts: CPython's `run_cgi`, with the script's own header
//! block parsed (RFC 3875), streamed output, a time limit and captured
//! stderr. The decisions (which script, which environment, which argv, is
//! the header block valid) are the core's; this file only spawns and pipes.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use httpserver_core::{
    cgi_argv, cgi_environment, locate_script, parse_cgi_head, script_not_executable, script_not_found,
    script_not_plain_file, Body, CgiHeadError, CgiServerInfo, FileKind, Files, Reply, Request, ResponseHead,
};

use crate::fs::NativeFiles;
use crate::server::log_line;

/// Most bytes of script output read while looking for its header block.
const MAX_SCRIPT_HEAD: usize = 64 * 1024;

/// CGI settings.
#[derive(Debug, Clone)]
pub struct CgiConfig {
    /// URL directories holding scripts (CPython's `cgi_directories`).
    pub directories: Vec<String>,
    /// Largest request body passed to a script (413 past it).
    pub max_body: u64,
    /// How long a script may run before it is killed.
    pub time_limit: Duration,
    /// `SERVER_NAME`.
    pub server_name: String,
    /// `SERVER_PORT`.
    pub server_port: u16,
    /// `SERVER_SOFTWARE`.
    pub software: String,
    /// `SERVER_PROTOCOL`.
    pub protocol: String,
    /// The served directory as given (CPython joins `PATH_TRANSLATED` to it).
    pub root_display: String,
}

/// A running script whose output is the response body.
pub struct CgiRun {
    child: Child,
    stdout: ChildStdout,
    /// Body bytes read along with the header block.
    leftover: Vec<u8>,
    timed_out: Arc<AtomicBool>,
    /// Dropping it tells the watchdog the script is done.
    _done: mpsc::Sender<()>,
    client: String,
    reaped: bool,
}

impl CgiRun {
    /// Copy the script's output (at most `limit` bytes) to the client,
    /// after `head`; then reap the script and log how it ended.
    pub fn send(mut self, stream: &mut TcpStream, head: &mut Vec<u8>, limit: Option<u64>) -> io::Result<u64> {
        let max = limit.unwrap_or(u64::MAX);
        let first = (self.leftover.len() as u64).min(max) as usize;
        head.extend_from_slice(&self.leftover[..first]);
        stream.write_all(head)?;
        head.clear();
        let mut sent = first as u64;
        let mut buf = vec![0u8; 64 * 1024];
        while sent < max {
            let want = ((max - sent) as usize).min(buf.len());
            let n = match self.stdout.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            stream.write_all(&buf[..n])?;
            sent += n as u64;
        }
        self.reap();
        if self.timed_out.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "CGI script killed at its time limit"));
        }
        Ok(sent)
    }

    /// Wait for the script (draining what it still writes) and log its end
    /// as CPython 3.11 does.
    fn reap(&mut self) {
        if self.reaped {
            return;
        }
        self.reaped = true;
        let _ = io::copy(&mut self.stdout, &mut io::sink());
        match self.child.wait() {
            Ok(status) => {
                let code = status.code().unwrap_or_else(|| -status.signal().unwrap_or(0));
                if self.timed_out.load(Ordering::SeqCst) {
                    log_line(&self.client, "CGI script timed out and was killed");
                }
                if code == 0 {
                    log_line(&self.client, "CGI script exited OK");
                } else {
                    log_line(&self.client, &format!("CGI script exit code {code}"));
                }
            }
            Err(e) => log_line(&self.client, &format!("CGI script wait failed: {e}")),
        }
    }
}

impl Drop for CgiRun {
    fn drop(&mut self) {
        // HEAD, or an error before the body: the script still runs to its end
        // (or its time limit), as CPython runs it.
        self.reap();
    }
}

/// `run_cgi` for a request under CGI directory `dir`.
pub fn run_cgi(
    files: &mut NativeFiles,
    cfg: &CgiConfig,
    client: &str,
    req: &Request,
    dir: &str,
    rest: &str,
) -> Reply<CgiRun> {
    let script =
        locate_script(dir, rest, |p| matches!(files.metadata(p), Ok(m) if m.kind == FileKind::Directory));
    let meta = match files.metadata(&script.script_path) {
        Ok(m) => m,
        Err(_) => return Reply::error(404, Some(&script_not_found(&script.script_name)), None),
    };
    if meta.kind != FileKind::File {
        return Reply::error(403, Some(&script_not_plain_file(&script.script_name)), None);
    }
    let path: PathBuf = files.full_path(&script.script_path);
    let executable = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if !executable {
        return Reply::error(403, Some(&script_not_executable(&script.script_name)), None);
    }
    let info = CgiServerInfo {
        software: &cfg.software,
        name: &cfg.server_name,
        port: cfg.server_port,
        protocol: &cfg.protocol,
        remote_addr: client,
        root: &cfg.root_display,
    };
    let argv = cgi_argv(&script.script, &script.query);
    let mut cmd = Command::new(&path);
    cmd.arg0(&argv[0]).args(&argv[1..]);
    // CPython copies the server's environment, then sets the CGI variables.
    cmd.envs(cgi_environment(&req.head, &script, &info, req.body.len() as u64));
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some((uid, gid)) = nobody_ids() {
        cmd.uid(uid).gid(gid);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            log_line(client, &format!("CGI script could not be started: {e}"));
            return Reply::error(500, Some("CGI script could not be started"), None);
        }
    };
    // Body in and stderr out on their own threads, so neither a large body
    // nor a chatty stderr can deadlock against the output we read here.
    if let Some(mut stdin) = child.stdin.take() {
        let body = req.body.clone();
        let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            let _ = stdin.write_all(&body);
        });
    }
    if let Some(stderr) = child.stderr.take() {
        let client = client.to_string();
        let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || log_stderr(stderr, &client));
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let (done, watch) = mpsc::channel::<()>();
    {
        let timed_out = Arc::clone(&timed_out);
        let pid = child.id() as libc::pid_t;
        let limit = cfg.time_limit;
        let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(limit) {
                timed_out.store(true, Ordering::SeqCst);
                // SAFETY: kill(2) on the pid of a child not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        });
    }
    let stdout = child.stdout.take().expect("piped stdout");
    let mut run = CgiRun {
        child,
        stdout,
        leftover: Vec::new(),
        timed_out,
        _done: done,
        client: client.to_string(),
        reaped: false,
    };
    // Read until the script's header block is complete.
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let parsed = loop {
        let n = match run.stdout.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        out.extend_from_slice(&buf[..n]);
        match parse_cgi_head(&out, MAX_SCRIPT_HEAD, n == 0) {
            Ok(Some(parsed)) => break Ok(parsed),
            Ok(None) => continue,
            Err(e) => break Err(e),
        }
    };
    let (cgi_head, consumed) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let why = match e {
                CgiHeadError::TooLong => "header block too long".to_string(),
                CgiHeadError::Malformed(m) => m,
            };
            log_line(client, &format!("CGI script output refused: {why}"));
            // SAFETY: kill(2) on our own unreaped child.
            unsafe { libc::kill(run.child.id() as libc::pid_t, libc::SIGKILL) };
            return Reply::error(
                502,
                Some("Bad Gateway"),
                Some("The CGI script sent an invalid header block"),
            );
        }
    };
    run.leftover = out.split_off(consumed);
    let mut head = ResponseHead::new(cgi_head.status);
    head.reason = Some(cgi_head.reason);
    head.headers = cgi_head.headers;
    let body = match head.content_length() {
        Some(len) => Body::Source { source: run, len },
        None => Body::Stream(run),
    };
    Reply { head, body, error_log: None }
}

/// Each line the script writes to stderr becomes a log line (escaped like
/// every other), never raw bytes on the terminal.
fn log_stderr(stderr: std::process::ChildStderr, client: &str) {
    let mut reader = io::BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match io::BufRead::read_until(&mut reader, b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                log_line(client, &format!("CGI script stderr: {text}"));
            }
        }
    }
}

/// When the server runs as root, scripts run as `nobody` (as CPython).
fn nobody_ids() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("nobody").ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Some((65534, 65534));
    }
    // SAFETY: non-null result of getpwnam.
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid)) }
}

/// CPython's `SERVER_NAME`: `socket.getfqdn` of the bound address.
pub fn server_fqdn(ip: std::net::IpAddr) -> String {
    let host = if ip.is_unspecified() { hostname() } else { ip.to_string() };
    reverse_name(&host).unwrap_or(host)
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Resolve `host` and look its first address up in reverse.
fn reverse_name(host: &str) -> Option<String> {
    use std::net::ToSocketAddrs;
    let addr = (host, 0).to_socket_addrs().ok()?.next()?;
    let (storage, len) = match addr {
        std::net::SocketAddr::V4(a) => {
            // SAFETY: zeroed sockaddr_in is valid; fields set below.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: sockaddr_storage is larger than sockaddr_in.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    &sin as *const _ as *const u8,
                    &mut ss as *mut _ as *mut u8,
                    std::mem::size_of_val(&sin),
                )
            };
            (ss, std::mem::size_of::<libc::sockaddr_in>())
        }
        std::net::SocketAddr::V6(a) => {
            // SAFETY: zeroed sockaddr_in6 is valid; fields set below.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.ip().octets();
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    &sin6 as *const _ as *const u8,
                    &mut ss as *mut _ as *mut u8,
                    std::mem::size_of_val(&sin6),
                )
            };
            (ss, std::mem::size_of::<libc::sockaddr_in6>())
        }
    };
    let mut name = [0u8; 1025];
    // SAFETY: pointers and lengths describe valid buffers.
    let rc = unsafe {
        libc::getnameinfo(
            &storage as *const _ as *const libc::sockaddr,
            len as libc::socklen_t,
            name.as_mut_ptr().cast(),
            name.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}
