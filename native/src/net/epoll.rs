//! The static server's pump: one edge-triggered epoll loop per core, each
//! accepting from its own listening socket of the address (or all from
//! the one, where it cannot be shared out). An idle or slow connection
//! costs a little memory and no thread, so thousands can wait without
//! starving anyone. The loop only waits and calls [`Conn::drive`]; the
//! engine decides everything else (timers included: a periodic sweep
//! drives connections whose deadline passed).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use httpserver_core::SimpleHandler;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::event::Timespec;
use rustix::net::SocketFlags;

use crate::app::App;
use crate::auth::Guarded;
use crate::file_cache;
use crate::fs::{NativeFiles, StaticBody};
use crate::listen;
use crate::log;
use crate::net::admission::{refuse, Admission, Stop, ACCEPT_BACKOFF};
use crate::net::conn::{log_abnormal_end, Conn, Wait};
use crate::net::stream::{client_stream, ClientStream};
use crate::net::transport::Transport;

/// The listening socket's token.
const LISTENER: u64 = u64::MAX;
/// The stop signal's token.
const STOP: u64 = u64::MAX - 1;
/// How often deadlines are checked.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// Run one event loop per core until a stop has let every connection
/// finish (or its grace period ran out).
pub fn run(listener: TcpListener, app: Arc<App>, stop: Arc<Stop>) -> anyhow::Result<()> {
    prepare(&listener)?;
    let admission = Admission::new(app.max_connections);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 64);
    let listener = Arc::new(listener);
    let mut handles = Vec::new();
    for i in 0..workers {
        // Each worker its own accept queue where the socket allows it
        // (measured: about 9% more connections a second with one request
        // each, on two cores); else all share the one.
        let own = if i == 0 { None } else { listen::sibling(&listener) };
        let listener = match own {
            Some(own) => {
                prepare(&own)?;
                Arc::new(own)
            }
            None => Arc::clone(&listener),
        };
        let (app, admission, stop) = (Arc::clone(&app), Arc::clone(&admission), Arc::clone(&stop));
        handles.push(std::thread::Builder::new().name(format!("worker-{i}")).spawn(
            move || match Worker::new(&listener, app, admission, stop) {
                Ok(mut w) => w.run(&listener),
                Err(e) => log::line("-", &format!("worker could not start: {e}")),
            },
        )?);
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// A listening socket as the workers use it: non-blocking, and passing
/// TCP_NODELAY on to the sockets it accepts (Linux), one setsockopt here
/// instead of one per connection.
fn prepare(listener: &TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    Ok(rustix::net::sockopt::set_tcp_nodelay(listener, true)?)
}

/// A connection, whether and how it is registered with epoll, and its
/// handler.
struct Slot {
    conn: Conn<ClientStream, StaticBody>,
    /// Added to the epoll set (only once it first has to wait).
    registered: bool,
    want_write: bool,
    /// The connection's own handler: an upload or a login under way is
    /// the state of one connection.
    handler: Guarded<SimpleHandler<NativeFiles>>,
}

struct Worker {
    epoll: std::os::fd::OwnedFd,
    app: Arc<App>,
    admission: Arc<Admission>,
    stop: Arc<Stop>,
    /// By token (our own counter: no untrusted keys, so a quick hasher).
    conns: HashMap<u64, Slot, foldhash::fast::RandomState>,
    /// Connections to drive again once this round's events are handled.
    again: Vec<u64>,
    next_token: u64,
    read_buf: Vec<u8>,
    scratch: Vec<u8>,
    accept_paused_until: Option<Instant>,
    last_sweep: Instant,
    stopping: bool,
}

/// Without RDHUP the peer has not closed: a short read means the socket
/// is drained (no extra read to EAGAIN).
fn short_read_drains(flags: EventFlags) -> bool {
    !flags.intersects(EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR)
}

fn read_flags(want_write: bool) -> EventFlags {
    let flags = EventFlags::IN | EventFlags::RDHUP | EventFlags::ET;
    if want_write {
        flags | EventFlags::OUT
    } else {
        flags
    }
}

impl Worker {
    fn new(
        listener: &TcpListener,
        app: Arc<App>,
        admission: Arc<Admission>,
        stop: Arc<Stop>,
    ) -> std::io::Result<Worker> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        // EPOLLEXCLUSIVE: one worker wakes per new connection.
        epoll::add(&epoll, listener, EventData::new_u64(LISTENER), EventFlags::IN | EventFlags::EXCLUSIVE)?;
        epoll::add(&epoll, stop.fd(), EventData::new_u64(STOP), EventFlags::IN)?;
        Ok(Worker {
            epoll,
            app,
            admission,
            stop,
            conns: HashMap::default(),
            again: Vec::new(),
            next_token: 0,
            read_buf: vec![0u8; 64 * 1024],
            scratch: Vec::new(),
            accept_paused_until: None,
            last_sweep: Instant::now(),
            stopping: false,
        })
    }

    fn run(&mut self, listener: &TcpListener) {
        log::enable_batching();
        // Small files from memory, never stale (inotify). Not with
        // --compress, whose encoder reads the file itself.
        if !self.app.compress {
            file_cache::enable_for_this_thread();
        }
        let mut events = Vec::with_capacity(256);
        loop {
            let wait = match log::flush_if_due() {
                Some(due) => due.min(SWEEP_EVERY),
                None => SWEEP_EVERY,
            };
            let wait = if self.again.is_empty() { wait } else { Duration::ZERO };
            let timeout = Timespec::try_from(wait).unwrap_or_default();
            events.clear();
            match epoll::wait(&self.epoll, rustix::buffer::spare_capacity(&mut events), Some(&timeout)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    log::line("-", &format!("epoll_wait failed: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
            // Every ready connection's input first, then the serving: the
            // small-file cache then looks for file changes once for all
            // of it rather than once a request.
            for ev in events.iter().copied() {
                let (data, flags) = (ev.data, ev.flags);
                if let Some(slot) = self.conns.get_mut(&data.u64()) {
                    slot.conn.read_ahead(&mut self.read_buf, short_read_drains(flags));
                }
            }
            for ev in events.iter().copied() {
                let (data, flags) = (ev.data, ev.flags);
                match data.u64() {
                    LISTENER => self.accept_all(listener),
                    STOP => self.begin_stop(listener),
                    token => self.ready(token, short_read_drains(flags)),
                }
            }
            for token in std::mem::take(&mut self.again) {
                self.ready(token, false);
            }
            if let Some(until) = self.accept_paused_until {
                if Instant::now() >= until && !self.stopping {
                    self.accept_paused_until = None;
                    let _ = epoll::add(
                        &self.epoll,
                        listener,
                        EventData::new_u64(LISTENER),
                        EventFlags::IN | EventFlags::EXCLUSIVE,
                    );
                }
            }
            if self.last_sweep.elapsed() >= SWEEP_EVERY {
                self.sweep();
            }
            if self.stopping {
                let past_grace = self.stop.deadline().is_some_and(|d| Instant::now() >= d);
                if self.conns.is_empty() || past_grace {
                    log::flush();
                    return;
                }
            }
        }
    }

    /// Stop accepting; tell every connection to finish and close.
    fn begin_stop(&mut self, listener: &TcpListener) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        let _ = epoll::delete(&self.epoll, listener);
        let _ = epoll::delete(&self.epoll, self.stop.fd());
        let tokens: Vec<u64> = self.conns.keys().copied().collect();
        for token in tokens {
            if let Some(slot) = self.conns.get_mut(&token) {
                let _ = slot.conn.stop();
            }
            self.ready(token, false);
        }
    }

    fn accept_all(&mut self, listener: &TcpListener) {
        while !self.stopping {
            match rustix::net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok((fd, addr)) => {
                    let stream = TcpStream::from(fd);
                    let peer = addr.and_then(|a| SocketAddr::try_from(a).ok());
                    let peer = match peer.map_or_else(|| stream.peer_addr(), Ok) {
                        Ok(p) => p,
                        Err(_) => continue,
                    };
                    self.admit(stream, peer);
                }
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR | rustix::io::Errno::CONNABORTED) => continue,
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: stop watching the listener for a
                    // moment instead of spinning on it; connections already
                    // open keep being served and free descriptors.
                    log::line("-", &format!("accept failed: {}; pausing accepts", std::io::Error::from(e)));
                    let _ = epoll::delete(&self.epoll, listener);
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        // CPython logs `client_address[0]`: an IPv4 client of a dual-stack
        // socket shows as `::ffff:127.0.0.1`, as it does there.
        let client = address_text(peer.ip());
        let permit = match self.admission.admit() {
            Some(p) => p,
            None => return refuse(stream, &self.app.config, &client),
        };
        let token = self.next_token;
        self.next_token += 1;
        let Ok(stream) = client_stream(stream, self.app.tls.as_ref()) else { return };
        let conn = Conn::new(stream, Arc::clone(&self.app.config), client, permit);
        let handler = self.app.guarded_static_handler(peer.ip());
        self.conns.insert(token, Slot { conn, registered: false, want_write: false, handler });
        // The request is usually there already: a connection answered and
        // closed at once never needs registering with epoll.
        self.ready(token, false);
    }

    /// Drive a connection the kernel reported ready (or whose deadline
    /// passed).
    fn ready(&mut self, token: u64, short_read_drains: bool) {
        let Some(slot) = self.conns.get_mut(&token) else { return };
        let (read_buf, scratch) = (&mut self.read_buf, &mut self.scratch);
        let result = catch_unwind(AssertUnwindSafe(|| {
            slot.conn.drive(&mut slot.handler, read_buf, scratch, short_read_drains)
        }));
        let want_write = match result {
            Ok(Ok(Wait::Readable)) => Some(false),
            Ok(Ok(Wait::Writable)) => Some(true),
            Ok(Ok(Wait::Closed)) => None,
            Ok(Ok(Wait::Again)) => {
                self.again.push(token);
                Some(slot.want_write)
            }
            ref failed => {
                log_abnormal_end(&slot.conn.client, failed);
                None
            }
        };
        let Some(want_write) = want_write else {
            self.conns.remove(&token);
            return;
        };
        let fd = slot.conn.transport.wait_fd();
        if !slot.registered {
            // Registering reports readiness that is already there (edge-
            // triggered too), so nothing that came since the read is missed.
            if epoll::add(&self.epoll, fd, EventData::new_u64(token), read_flags(want_write)).is_err() {
                self.conns.remove(&token);
                return;
            }
            slot.registered = true;
            slot.want_write = want_write;
        } else if want_write != slot.want_write {
            slot.want_write = want_write;
            let _ = epoll::modify(&self.epoll, fd, EventData::new_u64(token), read_flags(want_write));
        }
    }

    /// Drive connections whose deadline passed: the engine closes them
    /// (and logs a head that never completed).
    fn sweep(&mut self) {
        self.last_sweep = Instant::now();
        // A deleted or replaced file the cache holds open is let go of
        // within a sweep, not only at the next request.
        file_cache::look_for_changes();
        let now = Instant::now();
        let due: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, s)| s.conn.timeout().is_some_and(|t| t <= now))
            .map(|(t, _)| *t)
            .collect();
        for token in due {
            self.ready(token, false);
        }
    }
}

/// An address as `Display` writes it; IPv4 by hand (one per connection,
/// and the formatting machinery showed in profiles).
fn address_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                if octet >= 100 {
                    text.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    text.push(char::from(b'0' + octet / 10 % 10));
                }
                text.push(char::from(b'0' + octet % 10));
            }
            text
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_display_writes_them() {
        for ip in
            ["0.0.0.0", "127.0.0.1", "10.20.255.9", "192.168.100.200", "::1", "::ffff:127.0.0.1", "fe80::1"]
        {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(address_text(ip), ip.to_string());
        }
    }
}
