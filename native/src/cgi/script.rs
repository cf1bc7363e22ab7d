//! One CGI script run: started from the file the core's checks found
//! (executed as a descriptor opened confined, so nothing renamed or linked
//! in meanwhile can run instead, inside the root or out of it), fed its
//! request body as it arrives, its output streamed back. It is stopped at
//! its time limit or when its client goes away, and its reply ends when it
//! exits, even if a child of its own keeps its output open. A reply that
//! needs nothing more from it (a HEAD) does not wait for it: it finishes
//! on a thread of its own; a server stop kills what still runs.
//!
//! Every wait here is one `poll` over the script's pipes, its pidfd (ready
//! when it exits), the client's socket and the deadline; the script is
//! never reaped before it is killed, so no signal can reach a reused pid.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use httpserver_core::cgi::{cgi_argv, parse_cgi_head, CgiScript};
use httpserver_core::ResponseHead;
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal};

use crate::cgi::CgiConfig;
use crate::fs::ScriptLocation;
use crate::log;
use crate::wait::poll_until;

/// Most bytes of script output read while looking for its header block.
const MAX_SCRIPT_HEAD: usize = 64 * 1024;
/// Most output kept while the request body is still being written: a
/// script that answers before reading its input is not deadlocked against
/// us, up to this much.
const MAX_EARLY_OUTPUT: usize = 1 << 20;

/// Scripts started and not yet reaped, by pid (each is also its process
/// group's id): what a server stop kills. A pid leaves this list before it
/// is reaped, so every pid in it is still one of ours.
static LIVE: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// Scripts released by their replies and still finishing on threads of
/// their own, and how many may be (each holds a few descriptors and a
/// process; past this, a reply waits for its script as CPython's do).
static RELEASED: AtomicUsize = AtomicUsize::new(0);
const MAX_RELEASED: usize = 64;

/// `MAX_RELEASED`; debug builds take `HTTPSERVER_TEST_MAX_RELEASED`
/// instead, so the tests can reach the cap with a few scripts.
fn max_released() -> usize {
    if cfg!(debug_assertions) {
        if let Some(n) = std::env::var("HTTPSERVER_TEST_MAX_RELEASED").ok().and_then(|v| v.parse().ok()) {
            return n;
        }
    }
    MAX_RELEASED
}

/// Set (under the `LIVE` lock) once the server is exiting: a script
/// started after that is killed at once.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Kill every script still running, and what each started: the server is
/// exiting, and nothing of it should outlive it. Waits briefly for the
/// threads finishing released scripts to log their ends.
pub fn kill_running_scripts() {
    {
        let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        EXITING.store(true, Ordering::SeqCst);
        for &pid in live.iter() {
            kill_group(pid);
        }
    }
    let deadline = Instant::now() + std::time::Duration::from_millis(200);
    while RELEASED.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// SIGKILL to a script and its process group. Only for a pid not yet
/// reaped (so still the script's).
fn kill_group(pid: Pid) {
    let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    let _ = rustix::process::kill_process(pid, Signal::KILL);
}

/// Whether the child `pid` has exited, without reaping it (so its pid
/// stays ours).
fn exited_unreaped(pid: Pid) -> bool {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    matches!(waitid(WaitId::Pid(pid), options), Ok(Some(_)))
}

/// One count in `RELEASED`, given back when dropped (however the thread
/// holding it ends).
struct ReleasedSlot;

impl ReleasedSlot {
    /// A slot, if fewer than the cap are taken.
    fn take() -> Option<ReleasedSlot> {
        if RELEASED.fetch_add(1, Ordering::SeqCst) >= max_released() {
            RELEASED.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(ReleasedSlot)
    }
}

impl Drop for ReleasedSlot {
    fn drop(&mut self) {
        RELEASED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where a script's standard input comes from.
pub enum ScriptInput {
    /// A pipe the request body is written to as it arrives.
    Pipe,
    /// A file holding the whole body (a spooled chunked body).
    File(File),
}

/// Why a script was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    TimedOut,
    ClientGone,
    /// Its output cannot be relayed (a bad head, a failed read).
    Refused,
}

/// What one wait saw.
#[derive(Debug, Default)]
struct Ready {
    input: bool,
    output: bool,
    exited: bool,
    client_gone: bool,
    timed_out: bool,
}

/// A running script.
pub struct Script {
    child: Child,
    /// Readable once the script has exited.
    pidfd: Option<OwnedFd>,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Output read so far and not yet handed on.
    output: Vec<u8>,
    output_ended: bool,
    deadline: Instant,
    client: String,
    peer: Option<Arc<OwnedFd>>,
    stopped: Option<Stopped>,
    reaped: bool,
}

impl Script {
    /// Start the script: `argv` and the environment as CPython gives them.
    pub fn spawn(
        config: &CgiConfig,
        location: ScriptLocation,
        script: &CgiScript,
        cgi_env: Vec<(String, String)>,
        input: ScriptInput,
        client: &str,
        peer: Option<Arc<OwnedFd>>,
    ) -> io::Result<Script> {
        let argv = cgi_argv(&script.script, &script.query);
        let mut env: Vec<(OsString, OsString)> = config
            .base_env
            .iter()
            .filter(|(k, _)| !cgi_env.iter().any(|(c, _)| OsStr::new(c) == k))
            .cloned()
            .collect();
        env.extend(cgi_env.into_iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));

        let mut cmd = match &location {
            ScriptLocation::Path(path) => Command::new(path),
            // Never executed: the pre-exec hook below replaces the process.
            ScriptLocation::Opened(_) => Command::new(&argv[0]),
        };
        cmd.arg0(&argv[0]).args(&argv[1..]).env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(match input {
            ScriptInput::Pipe => Stdio::piped(),
            ScriptInput::File(f) => Stdio::from(f),
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own process group: a stop reaches whatever it started.
        cmd.process_group(0);
        if let Some((uid, gid)) = config.run_as {
            cmd.uid(uid).gid(gid);
        }
        let exec = match location {
            ScriptLocation::Opened(file) => Some(ExecFile::new(file, &argv, &env)?),
            ScriptLocation::Path(_) => None,
        };
        let mut hook = PreExec { exec };
        // SAFETY: the hook runs in the child between fork and exec, and
        // only makes system calls (no allocation, no lock): see `PreExec`.
        unsafe { cmd.pre_exec(move || hook.run()) };
        let mut child = cmd.spawn()?;
        let pid = Pid::from_child(&child);
        let mut pipes = || -> io::Result<(Option<ChildStdin>, ChildStdout)> {
            let stdin = child.stdin.take();
            if let Some(stdin) = &stdin {
                rustix::io::ioctl_fionbio(stdin, true)?;
            }
            let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout pipe"))?;
            rustix::io::ioctl_fionbio(&stdout, true)?;
            Ok((stdin, stdout))
        };
        let listed = pipes().and_then(|pipes| {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            if EXITING.load(Ordering::SeqCst) {
                return Err(io::Error::other("the server is exiting"));
            }
            live.push(pid);
            Ok(pipes)
        });
        let (stdin, stdout) = match listed {
            Ok(pipes) => pipes,
            Err(e) => {
                // Not reaped yet: the group id is still this script's.
                kill_group(pid);
                let _ = child.wait();
                return Err(e);
            }
        };
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok();
        if let Some(stderr) = child.stderr.take() {
            let client = client.to_string();
            let _ =
                std::thread::Builder::new().stack_size(64 * 1024).spawn(move || log_stderr(stderr, &client));
        }
        Ok(Script {
            child,
            pidfd,
            stdin,
            stdout,
            output: Vec::new(),
            output_ended: false,
            deadline: Instant::now() + config.time_limit,
            client: client.to_string(),
            peer,
            stopped: None,
            reaped: false,
        })
    }

    /// Wait for the script: its input writable (`want_input`), its output
    /// readable (`want_output`), its exit, its client leaving, its time.
    fn wait(&mut self, want_input: bool, want_output: bool) -> io::Result<Ready> {
        let gone = PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR;
        let mut fds = Vec::with_capacity(4);
        let mut slots = [None; 4];
        if let (true, Some(stdin)) = (want_input, &self.stdin) {
            slots[0] = Some(fds.len());
            fds.push(PollFd::new(stdin, PollFlags::OUT));
        }
        if want_output && !self.output_ended {
            slots[1] = Some(fds.len());
            fds.push(PollFd::new(&self.stdout, PollFlags::IN));
        }
        if let Some(pidfd) = &self.pidfd {
            slots[2] = Some(fds.len());
            fds.push(PollFd::new(pidfd, PollFlags::IN));
        }
        if let Some(peer) = &self.peer {
            slots[3] = Some(fds.len());
            fds.push(PollFd::new(peer.as_ref(), PollFlags::RDHUP));
        }
        let n = poll_until(&mut fds, Some(self.deadline))?;
        let seen =
            |slot: Option<usize>, flags: PollFlags| slot.is_some_and(|i| fds[i].revents().intersects(flags));
        Ok(Ready {
            input: seen(slots[0], PollFlags::OUT | PollFlags::ERR | PollFlags::HUP),
            output: seen(slots[1], PollFlags::IN | PollFlags::HUP | PollFlags::ERR),
            exited: seen(slots[2], PollFlags::IN),
            client_gone: seen(slots[3], gone),
            timed_out: n == 0,
        })
    }

    /// Stop the script (and what it started) for `why`.
    fn stop(&mut self, why: Stopped) {
        if self.stopped.is_none() && !self.reaped {
            self.stopped = Some(why);
            // Not reaped yet: the group id still belongs to this script.
            kill_group(Pid::from_child(&self.child));
        }
    }

    /// Whether the wait says the script must stop; stops it if so.
    fn must_stop(&mut self, ready: &Ready) -> bool {
        if ready.client_gone {
            self.stop(Stopped::ClientGone);
        } else if ready.timed_out {
            self.stop(Stopped::TimedOut);
        }
        self.stopped.is_some()
    }

    /// Read what the script has written so far into `output`.
    fn read_available(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stdout.read(&mut buf) {
                Ok(0) => {
                    self.output_ended = true;
                    return Ok(());
                }
                Ok(n) => self.output.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next bytes of the request body. Output the script writes
    /// meanwhile is kept (up to `MAX_EARLY_OUTPUT`); if the script stops
    /// reading, exits or is stopped, the rest of the body is dropped.
    pub fn write_input(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && self.stdin.is_some() {
            let ready = match self.wait(true, self.output.len() < MAX_EARLY_OUTPUT) {
                Ok(r) => r,
                Err(_) => break,
            };
            if self.must_stop(&ready) || ready.exited {
                break;
            }
            if ready.output && self.read_available().is_err() {
                self.output_ended = true;
            }
            if ready.input {
                match self.stdin.as_mut().map(|s| s.write(chunk)) {
                    Some(Ok(n)) => chunk = &chunk[n..],
                    Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    // It stopped reading (EPIPE): the rest is not for it.
                    _ => break,
                }
            }
        }
        if !chunk.is_empty() {
            self.stdin = None;
        }
    }

    /// The body is complete: close the script's input, read its header
    /// block, and hand back the head to relay and the rest of its output;
    /// or why the output cannot be relayed (the script is then stopped).
    pub fn into_output(mut self) -> Result<(ResponseHead, ScriptOutput), String> {
        self.stdin = None;
        match self.read_head() {
            Ok(head) => Ok((head, ScriptOutput { script: Some(self) })),
            Err(why) => {
                // Not relayed: nothing more is wanted from it.
                self.stop(Stopped::Refused);
                Err(why)
            }
        }
    }

    /// Read output until the script's header block is complete.
    fn read_head(&mut self) -> Result<ResponseHead, String> {
        loop {
            match parse_cgi_head(&self.output, MAX_SCRIPT_HEAD, self.output_ended) {
                Ok(Some((head, consumed))) => {
                    self.output.drain(..consumed);
                    return Ok(head.into_response_head());
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            let ready = self.wait(false, true).map_err(|e| e.to_string())?;
            if self.must_stop(&ready) {
                return Err(match self.stopped {
                    Some(Stopped::TimedOut) => "the script timed out before its header block".into(),
                    _ => "the client went away".into(),
                });
            }
            if ready.output || ready.exited {
                self.read_available().map_err(|e| e.to_string())?;
                if ready.exited && !ready.output {
                    // It exited; whatever still holds its output (a child
                    // of its own) does not extend the reply.
                    self.output_ended = true;
                }
            }
        }
    }

    /// The request was abandoned before the script answered: stop it.
    pub fn abandon(mut self) {
        self.stop(Stopped::ClientGone);
    }

    /// Wait for the script to end (draining its output, until its
    /// deadline), reap it, and log how it ended as CPython 3.11 does.
    fn reap(&mut self) {
        if self.reaped {
            return;
        }
        self.stdin = None;
        if self.stopped.is_none() {
            self.wait_for_exit();
        }
        let pid = Pid::from_child(&self.child);
        {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = live.iter().position(|&p| p == pid) {
                live.swap_remove(i);
            }
        }
        let status = self.child.wait();
        self.reaped = true;
        if self.stopped == Some(Stopped::TimedOut) {
            log::line(&self.client, "CGI script timed out and was killed");
        }
        match status {
            Ok(status) => {
                let code = status.code().unwrap_or_else(|| -status.signal().unwrap_or(0));
                if code == 0 {
                    log::line(&self.client, "CGI script exited OK");
                } else {
                    log::line(&self.client, &format!("CGI script exit code {code}"));
                }
            }
            Err(e) => log::line(&self.client, &format!("CGI script wait failed: {e}")),
        }
    }

    /// Until the script exits or its time is up (then it is stopped),
    /// discarding what it still writes.
    fn wait_for_exit(&mut self) {
        loop {
            let ready = match self.wait(false, true) {
                Ok(ready) => ready,
                Err(_) => return self.stop(Stopped::TimedOut),
            };
            if self.must_stop(&ready) || ready.exited {
                return;
            }
            if ready.output {
                self.output.clear();
                if self.read_available().is_err() {
                    self.output_ended = true;
                }
            }
            if self.output_ended && self.pidfd.is_none() {
                // No pidfd (an old kernel, or no descriptor to spare): poll
                // for the exit instead, without reaping.
                while !exited_unreaped(Pid::from_child(&self.child)) {
                    if Instant::now() >= self.deadline {
                        return self.stop(Stopped::TimedOut);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                return;
            }
        }
    }

    /// The reply no longer needs the script. One whose client has gone is
    /// stopped; one still running is left to finish (its output drained,
    /// then reaped and logged) on a thread of its own, so that neither the
    /// reply's end nor the connection waits for it.
    pub fn release(mut self) {
        if self.reaped {
            return;
        }
        if self.stopped.is_none() && self.client_gone_now() {
            self.stop(Stopped::ClientGone);
        }
        self.peer = None;
        self.stdin = None;
        if self.stopped.is_some() || self.has_exited() {
            // Reaped at once, as it is dropped here.
            return;
        }
        let slot = match ReleasedSlot::take() {
            Some(slot) => slot,
            // Enough are finishing unwatched: this one holds its
            // connection until it ends (as every script did before), so
            // that requests cannot start scripts faster than they end.
            None => return,
        };
        let finish = move || {
            drop(self);
            drop(slot);
        };
        // Should no thread start, the closure is dropped and with it the
        // script (reaped here) and the slot.
        let _ = std::thread::Builder::new().name("cgi-reaper".into()).stack_size(128 * 1024).spawn(finish);
    }

    /// Whether the script has exited (checked without waiting or reaping).
    fn has_exited(&self) -> bool {
        exited_unreaped(Pid::from_child(&self.child))
    }

    /// Whether the client's connection has closed (checked without waiting).
    fn client_gone_now(&self) -> bool {
        let peer = match &self.peer {
            Some(peer) => peer,
            None => return false,
        };
        let mut fds = [PollFd::new(peer.as_ref(), PollFlags::RDHUP)];
        let gone = PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR;
        matches!(rustix::event::poll(&mut fds, Some(&Default::default())), Ok(n) if n > 0)
            && fds[0].revents().intersects(gone)
    }
}

impl Drop for Script {
    /// A script whose client has gone is stopped; one whose reply ended
    /// (or was a HEAD) runs to its end, as CPython lets it, and is reaped.
    /// This waits: `release` hands a running script to a thread first.
    fn drop(&mut self) {
        if !self.reaped {
            if self.stopped.is_none() && self.client_gone_now() {
                self.stop(Stopped::ClientGone);
            }
            self.peer = None;
            self.reap();
        }
    }
}

/// A script's output after its header block: the response body.
pub struct ScriptOutput {
    /// `None` once released.
    script: Option<Script>,
}

impl Drop for ScriptOutput {
    /// The reply is over (or had no body): the script is released, not
    /// waited for.
    fn drop(&mut self) {
        if let Some(script) = self.script.take() {
            script.release();
        }
    }
}

impl Read for ScriptOutput {
    /// The next bytes of the body; 0 at its end (EOF, or the script has
    /// exited and nothing more is waiting). An error when the script was
    /// stopped (time limit, client gone).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = match &mut self.script {
            Some(s) => s,
            None => return Ok(0),
        };
        loop {
            if !s.output.is_empty() {
                let n = buf.len().min(s.output.len());
                buf[..n].copy_from_slice(&s.output[..n]);
                s.output.drain(..n);
                return Ok(n);
            }
            if s.output_ended {
                return Ok(0);
            }
            let ready = s.wait(false, true)?;
            if s.must_stop(&ready) {
                return Err(match s.stopped {
                    Some(Stopped::TimedOut) => {
                        io::Error::new(io::ErrorKind::TimedOut, "CGI script killed at its time limit")
                    }
                    _ => io::Error::new(io::ErrorKind::ConnectionAborted, "client gone; CGI script stopped"),
                });
            }
            if ready.output || ready.exited {
                s.read_available()?;
                if ready.exited && s.output.is_empty() {
                    s.output_ended = true;
                }
            }
        }
    }
}

/// The pre-exec hook of a script's child process (after fork, before
/// exec: only system calls, nothing that allocates or locks).
struct PreExec {
    exec: Option<ExecFile>,
}

impl PreExec {
    fn run(&mut self) -> io::Result<()> {
        // The server blocks SIGINT and SIGTERM in every thread to take them
        // itself; std keeps the mask across exec, so clear it.
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&nix::sys::signal::SigSet::empty()),
            None,
        )?;
        match &self.exec {
            Some(exec) => Err(exec.run()),
            None => Ok(()),
        }
    }
}

/// `execveat(file, "", argv, envp, AT_EMPTY_PATH)` (`fexecve`), prepared
/// before the fork: the strings and the pointer arrays to them are built
/// here, since the child may not allocate.
struct ExecFile {
    file: OwnedFd,
    _strings: Vec<CString>,
    /// Addresses of the argv strings, then 0.
    argv: Vec<usize>,
    /// Addresses of the `KEY=value` strings, then 0.
    envp: Vec<usize>,
}

impl ExecFile {
    fn new(file: OwnedFd, argv: &[String], env: &[(OsString, OsString)]) -> io::Result<ExecFile> {
        let mut strings = Vec::new();
        for arg in argv {
            strings.push(CString::new(arg.as_bytes())?);
        }
        let argc = strings.len();
        for (k, v) in env {
            let mut pair = k.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(v.as_bytes());
            // A value with a NUL cannot be passed; CPython would fail too.
            if let Ok(pair) = CString::new(pair) {
                strings.push(pair);
            }
        }
        // The CStrings' bytes live on the heap: moving the vector below
        // does not move them, so these addresses stay valid.
        let addr = |s: &CString| s.as_ptr() as usize;
        let mut argv: Vec<usize> = strings[..argc].iter().map(addr).collect();
        argv.push(0);
        let mut envp: Vec<usize> = strings[argc..].iter().map(addr).collect();
        envp.push(0);
        Ok(ExecFile { file, _strings: strings, argv, envp })
    }

    /// Replace the process with the script; returns only on failure.
    fn run(&self) -> io::Error {
        // An interpreter (`#!`) reads the script as `/dev/fd/N`, the same
        // open file: the descriptor must survive the exec.
        if let Err(e) = rustix::io::fcntl_setfd(&self.file, rustix::io::FdFlags::empty()) {
            return e.into();
        }
        // SAFETY: the path is a static empty C string, and `argv` and
        // `envp` are null-terminated arrays of pointers to NUL-terminated
        // strings owned by `self`, alive for the call; execveat only reads
        // them. No safe wrapper takes prepared arrays (and the child may
        // not allocate new ones).
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                self.file.as_fd().as_raw_fd(),
                c"".as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
        }
        io::Error::last_os_error()
    }
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
                log::line(client, &format!("CGI script stderr: {text}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The exit is seen (twice: nothing was consumed) and the child is
    /// still there to reap, with its status; a running child is not seen
    /// as exited.
    #[test]
    fn an_exit_is_seen_without_reaping() {
        let mut running = Command::new("sleep").arg("30").spawn().unwrap();
        let mut done = Command::new("true").spawn().unwrap();
        let pid = Pid::from_child(&done);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !exited_unreaped(pid) {
            assert!(Instant::now() < deadline, "the exit was never seen");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(exited_unreaped(pid));
        assert!(!exited_unreaped(Pid::from_child(&running)));
        let _ = running.kill();
        let _ = running.wait();
        assert!(done.wait().unwrap().success());
    }
}
