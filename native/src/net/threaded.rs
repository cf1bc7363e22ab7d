//! The CGI server's pump: a thread per connection (CPython's
//! `ThreadingHTTPServer`), because a CGI handler blocks on its script. Each
//! thread runs the same [`Conn::drive`] as the event loop, over a
//! non-blocking socket, and waits with `poll` for the socket, the engine's
//! deadline or the stop signal.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use crate::app::App;
use crate::log;
use crate::net::admission::{refuse, Admission, Permit, Stop, ACCEPT_BACKOFF};
use crate::net::conn::{log_abnormal_end, Conn, Wait};
use crate::net::stream::client_stream;
use crate::net::transport::Transport;
use crate::wait::poll_until;

/// Stack for connection threads: the loop needs little; thousands of idle
/// connections then cost little memory.
const THREAD_STACK: usize = 256 * 1024;

/// Accept until a stop is requested, then wait (within the grace period)
/// for the connections still open to finish.
pub fn run(listener: TcpListener, app: Arc<App>, stop: Arc<Stop>) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    rustix::net::sockopt::set_tcp_nodelay(&listener, true)?;
    let admission = Admission::new(app.max_connections);
    while !stop.is_requested() {
        let mut fds =
            [PollFd::new(&listener, PollFlags::IN), PollFd::from_borrowed_fd(stop.fd(), PollFlags::IN)];
        poll_until(&mut fds, None)?;
        // Until the backlog is empty, or a stop comes in the meantime.
        while !stop.is_requested() {
            match listener.accept() {
                Ok((stream, peer)) => start(stream, peer, &app, &admission, &stop),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE/ENFILE and friends: back off instead of spinning.
                    log::line("-", &format!("accept failed: {e}; pausing accepts"));
                    std::thread::sleep(ACCEPT_BACKOFF);
                    break;
                }
            }
        }
    }
    let deadline = stop.deadline().unwrap_or_else(Instant::now);
    while admission.open() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Admit a connection and start its thread; refuse it when past the cap
/// or when no thread can be started (its place is freed either way, so
/// later connections are served once threads are available again).
fn start(stream: TcpStream, peer: SocketAddr, app: &Arc<App>, admission: &Arc<Admission>, stop: &Arc<Stop>) {
    let client = peer.ip().to_string();
    let permit = match admission.admit() {
        Some(p) => p,
        None => return refuse(stream, &app.config, &client),
    };
    // A second handle, to answer should the thread not start (the first
    // is gone with the closure then).
    let spare = stream.try_clone();
    let (thread_app, thread_stop, who) = (Arc::clone(app), Arc::clone(stop), client.clone());
    let ip = peer.ip();
    if let Err(e) = spawn_thread(move || serve(stream, who, ip, &thread_app, &thread_stop, permit)) {
        log::line(&client, &format!("could not start a thread: {e}"));
        if let Ok(spare) = spare {
            refuse(spare, &app.config, &client);
        }
    }
}

/// `thread::Builder::spawn` with a small stack. Debug builds fail the
/// first `HTTPSERVER_TEST_THREAD_FAILURES` calls, so the tests can check
/// that the server recovers; compiled out of release builds.
fn spawn_thread(f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    if cfg!(debug_assertions) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static FAILED: AtomicUsize = AtomicUsize::new(0);
        let limit =
            std::env::var("HTTPSERVER_TEST_THREAD_FAILURES").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        if FAILED.fetch_add(1, Ordering::SeqCst) < limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "Resource temporarily unavailable (injected)",
            ));
        }
    }
    std::thread::Builder::new().stack_size(THREAD_STACK).spawn(f).map(drop)
}

/// One connection, until it closes; a panic in it is caught and logged.
fn serve(stream: TcpStream, client: String, ip: IpAddr, app: &App, stop: &Stop, permit: Permit) {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<()> {
        stream.set_nonblocking(true)?;
        let peer = stream.as_fd().try_clone_to_owned().ok();
        let mut handler = app
            .cgi_handler(client.clone(), ip, peer)
            .ok_or_else(|| std::io::Error::other("no CGI settings"))?;
        let stream = client_stream(stream, app.tls.as_ref())?;
        let mut conn = Conn::new(stream, Arc::clone(&app.config), client.clone(), permit);
        let (mut read_buf, mut scratch) = (vec![0u8; 16 * 1024], Vec::new());
        let mut stopped = false;
        loop {
            let interest = match conn.drive(&mut handler, &mut read_buf, &mut scratch, true)? {
                Wait::Closed => return Ok(()),
                Wait::Again => continue,
                Wait::Readable => PollFlags::IN,
                Wait::Writable => PollFlags::OUT,
            };
            let mut fds = vec![PollFd::from_borrowed_fd(conn.transport.wait_fd(), interest)];
            if !stopped {
                fds.push(PollFd::from_borrowed_fd(stop.fd(), PollFlags::IN));
            }
            poll_until(&mut fds, conn.timeout())?;
            if !stopped && fds.get(1).is_some_and(|f| !f.revents().is_empty()) {
                drop(fds);
                stopped = true;
                conn.stop()?;
            }
        }
    }));
    log_abnormal_end(&client, &outcome);
}
