//! The socket the host preopened, served by a single-threaded event loop
//! (wasm32-wasi has no threads): the listener and every connection's
//! socket non-blocking, one [`Engine`](httpserver_core::Engine) per
//! connection, and one `poll_oneoff` over the listener, each connection's
//! socket (for reading or writing, whichever it waits for) and the
//! earliest engine deadline. A slow client holds up no one: it is cut off
//! at its deadline (head from accept, idle, I/O) as natively.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::wasi::io::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use httpserver_core::serve::refusal;
use httpserver_core::{Config, Handler};

use crate::conn::{is_disconnect, Buffers, Conn, Wait};
use crate::log;
use crate::poll::{self, Interest, Watch};

/// Most connections open at once; more are answered 503 and closed
/// (`--max-connections` is refused with this number; `args::HELP` names
/// it too).
pub const MAX_CONNECTIONS: usize = 256;
/// How long accepting pauses when accept fails (out of descriptors,
/// say), instead of spinning; waiting itself pauses as long on failure.
const BACKOFF: Duration = Duration::from_millis(100);
/// The tag of the listener's readiness (connections are tagged by index).
const LISTENER: u64 = u64::MAX - 1;
/// The peer's address in log lines: WASI preview 1 cannot tell it (std's
/// `accept` on WASI says the same).
const PEER: &str = "0.0.0.0";

/// Serve `listener` (made non-blocking) for good.
pub fn serve<H: Handler<Body = std::fs::File>>(
    listener: &TcpListener,
    config: &Arc<Config>,
    handler: &mut H,
) -> io::Result<()> {
    poll::set_nonblocking(listener)?;
    let fd = listener.as_raw_fd();
    let mut conns: Vec<Conn> = Vec::new();
    let mut bufs = Buffers::new();
    let mut watches: Vec<Watch> = Vec::new();
    let mut ready_tags: Vec<u64> = Vec::new();
    let mut ready: Vec<bool> = Vec::new();
    let mut accept_paused_until: Option<Instant> = None;
    loop {
        // What to wait for: the listener (unless accepting is paused),
        // each connection's socket as it asked, and the earliest deadline.
        watches.clear();
        let mut deadline = accept_paused_until;
        if accept_paused_until.is_none() {
            watches.push(Watch { fd, interest: Interest::Read, tag: LISTENER });
        }
        let mut again = false;
        for (i, conn) in conns.iter().enumerate() {
            let interest = match conn.wait() {
                Wait::Readable => Interest::Read,
                Wait::Writable => Interest::Write,
                // (A closed connection is dropped right after its drive.)
                Wait::Again | Wait::Closed => {
                    again = true;
                    continue;
                }
            };
            watches.push(Watch { fd: conn.fd(), interest, tag: i as u64 });
            deadline = earliest(deadline, conn.timeout());
        }
        let timeout = if again {
            Some(Duration::ZERO)
        } else {
            deadline.map(|d| d.saturating_duration_since(Instant::now()))
        };
        let waited = poll::wait(&watches, timeout, &mut ready_tags);
        ready.clear();
        ready.resize(conns.len(), false);
        let mut listener_ready = false;
        match waited {
            Ok(()) => {
                for &tag in &ready_tags {
                    match tag {
                        LISTENER => listener_ready = true,
                        i if (i as usize) < ready.len() => ready[i as usize] = true,
                        _ => {}
                    }
                }
            }
            Err(e) => {
                // Should not happen; drive everyone (their own reads and
                // writes say what is wrong), after a pause so as not to spin.
                log("-", &format!("waiting for the sockets failed: {e}"));
                let _ = poll::sleep(BACKOFF);
                ready.iter_mut().for_each(|r| *r = true);
                listener_ready = accept_paused_until.is_none();
            }
        }
        // Connections first, so that those that closed free their places
        // for the ones waiting to be accepted.
        let now = Instant::now();
        let mut i = 0;
        conns.retain_mut(|conn| {
            let due = ready[i] || conn.wait() == Wait::Again || conn.timeout().map_or(false, |t| now >= t);
            i += 1;
            !due || keep(conn.drive(handler, &mut bufs), conn)
        });
        if accept_paused_until.map_or(false, |t| now >= t) {
            accept_paused_until = None;
            listener_ready = true;
        }
        if listener_ready {
            // New connections are read at once: the request may be there.
            let old = conns.len();
            accept_all(listener, config, &mut conns, &mut accept_paused_until);
            let mut i = 0;
            conns.retain_mut(|conn| {
                i += 1;
                i <= old || keep(conn.drive(handler, &mut bufs), conn)
            });
        }
    }
}

/// Whether a connection stays after a drive (logging how it ended, when
/// it was not a plain close or the client leaving).
fn keep(outcome: io::Result<Wait>, conn: &Conn) -> bool {
    match outcome {
        Ok(Wait::Closed) => false,
        Ok(_) => true,
        Err(e) => {
            if !is_disconnect(&e) {
                log(conn.client(), &format!("connection error: {e}"));
            }
            false
        }
    }
}

/// Accept every connection waiting, up to the cap; past it, answer 503.
fn accept_all(
    listener: &TcpListener,
    config: &Arc<Config>,
    conns: &mut Vec<Conn>,
    paused_until: &mut Option<Instant>,
) {
    loop {
        match poll::accept(listener) {
            Ok(Some(stream)) if conns.len() < MAX_CONNECTIONS => {
                conns.push(Conn::new(stream, PEER.to_string(), Arc::clone(config)));
            }
            Ok(Some(stream)) => refuse(stream, config),
            Ok(None) => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => {
                log("-", &format!("accept failed: {e}"));
                *paused_until = Some(Instant::now() + BACKOFF);
                return;
            }
        }
    }
}

/// Answer a connection past the cap: the core's 503, best effort without
/// blocking, then close. What the client already sent is read first, so
/// that closing does not reset the connection and lose the reply.
fn refuse(mut stream: TcpStream, config: &Config) {
    let (reply, entry) = refusal(config, SystemTime::now());
    let mut sink = [0u8; 4096];
    // A bounded few reads: a request head and a little more, not a body.
    for _ in 0..4 {
        if !matches!(stream.read(&mut sink), Ok(n) if n == sink.len()) {
            break;
        }
    }
    let _ = stream.write_all(&reply);
    let _ = stream.shutdown(Shutdown::Write);
    log(PEER, &entry.message());
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
