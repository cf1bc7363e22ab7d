//! Which connections are served: the cap on open connections (a permit
//! per connection, given back when it is dropped, however it ends), the
//! refusal past it (the core's 503), and the stop signal every pump
//! watches.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use httpserver_core::serve::refusal;
use httpserver_core::Config;
use rustix::event::{eventfd, EventfdFlags};

use crate::log;

/// How long accepting pauses when accept fails (out of descriptors,
/// say), instead of spinning.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The cap on connections open at once, shared by every worker.
#[derive(Debug)]
pub struct Admission {
    open: AtomicUsize,
    max: usize,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit(Arc<Admission>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    pub fn new(max: usize) -> Arc<Admission> {
        Arc::new(Admission { open: AtomicUsize::new(0), max })
    }

    /// A place for one more connection, if there is one.
    pub fn admit(self: &Arc<Self>) -> Option<Permit> {
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.max {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Permit(Arc::clone(self)))
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Answer a connection that will not be served (past the cap, or no
/// thread for it): the core's 503, best effort without blocking, then
/// close. What the client already sent is read first, so that closing
/// does not reset the connection and lose the reply.
pub fn refuse(mut stream: TcpStream, config: &Config, client: &str) {
    let (reply, entry) = refusal(config, SystemTime::now());
    let _ = stream.set_nonblocking(true);
    let mut sink = [0u8; 4096];
    // A bounded few reads: a request head and a little more, not a body.
    for _ in 0..4 {
        if !matches!(stream.read(&mut sink), Ok(n) if n == sink.len()) {
            break;
        }
    }
    let _ = stream.write_all(&reply);
    let _ = stream.shutdown(Shutdown::Write);
    log::line(client, &entry.message());
}

/// The stop signal: set once, seen by every pump, through an eventfd that
/// stays readable (so any number of waiters wake) and a flag.
#[derive(Debug)]
pub struct Stop {
    fd: OwnedFd,
    requested: AtomicBool,
    deadline: Mutex<Option<Instant>>,
}

impl Stop {
    pub fn new() -> std::io::Result<Arc<Stop>> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Arc::new(Stop { fd, requested: AtomicBool::new(false), deadline: Mutex::new(None) }))
    }

    /// Stop accepting; give open connections `grace` to finish.
    pub fn request(&self, grace: Duration) {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + grace);
        self.requested.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// When connections still open are dropped.
    pub fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Readable once a stop is requested.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
