//! The static-file server's I/O: one epoll loop per core, each accepting
//! from the shared listening socket and driving its connections' sans-IO
//! `Connection`s. An idle or slow connection costs a little memory and no
//! thread, so thousands can wait without starving anyone; file bodies go
//! out with `sendfile`.
//!
//! The loop only moves bytes and keeps time: every protocol decision is the
//! core's (`Connection`, `Session`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use httpserver_core::{error_page, Connection, Outcome, ReadPhase, Session, ERROR_CONTENT_TYPE};

use crate::handler::{NativeBody, ServerHandler};
use crate::server::{log_line, Server};

/// Files up to this size are read into the response buffer and leave in
/// the same write as the head.
const SMALL_FILE: u64 = 16 * 1024;
/// After the last response, keep reading (and discarding) this long, so
/// unread request bytes do not turn the close into a reset that destroys
/// the response in flight.
const LINGER: Duration = Duration::from_secs(2);
/// The listening socket's token.
const LISTENER: u64 = u64::MAX;
/// How long accepting pauses when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Start one event loop per core and run until the process exits.
pub fn run(listener: TcpListener, server: Server) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    // Accepted sockets inherit TCP_NODELAY from the listener (Linux): one
    // setsockopt here instead of one per connection.
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid int option on our listening socket.
    unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let server = Arc::new(server);
    let open = Arc::new(AtomicUsize::new(0));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 64);
    let listener = Arc::new(listener);
    let mut handles = Vec::new();
    for i in 0..workers {
        let (server, listener, open) = (Arc::clone(&server), Arc::clone(&listener), Arc::clone(&open));
        handles.push(std::thread::Builder::new().name(format!("worker-{i}")).spawn(
            move || match Worker::new(&listener, server, open) {
                Ok(mut w) => w.run(&listener),
                Err(e) => log_line("-", &format!("worker could not start: {e}")),
            },
        )?);
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// What a connection is doing.
enum State {
    /// Reading requests and writing responses.
    Active,
    /// Our side is shut; draining the peer until it closes or time is up.
    Lingering,
}

struct Conn {
    stream: TcpStream,
    client: String,
    proto: Connection,
    session: Session,
    /// Response bytes not yet written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// A file body being sent with sendfile: file, offset, bytes left.
    file: Option<(File, i64, u64)>,
    /// Bytes of the current body still to account for once sent.
    body_len: Option<u64>,
    /// Close once everything queued is written.
    close_after_write: bool,
    state: State,
    /// When the current wait started (for timeouts), and for what.
    since: Instant,
    phase: Wait,
    /// Whether the socket is registered for writability.
    writing: bool,
    /// Whether a request was answered on it (idle vs. new).
    served: bool,
}

/// What a connection's clock is running for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A new connection, or an idle one with part of a head: the head timeout.
    Head,
    /// An idle persistent connection.
    Idle,
    /// A body coming in, or a response going out: the I/O timeout.
    Io,
    /// Lingering close.
    Linger,
}

struct Worker {
    epoll: RawFd,
    server: Arc<Server>,
    open: Arc<AtomicUsize>,
    handler: ServerHandler,
    conns: HashMap<u64, Conn>,
    next_token: u64,
    read_buf: Vec<u8>,
    accept_paused_until: Option<Instant>,
    last_sweep: Instant,
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl Worker {
    fn new(listener: &TcpListener, server: Arc<Server>, open: Arc<AtomicUsize>) -> io::Result<Worker> {
        // SAFETY: plain syscall; the fd is owned by this worker.
        let epoll = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        let handler = ServerHandler::new(server.files.clone(), Arc::clone(&server.mime), None, String::new());
        let w = Worker {
            epoll,
            server,
            open,
            handler,
            conns: HashMap::new(),
            next_token: 0,
            read_buf: vec![0u8; 64 * 1024],
            accept_paused_until: None,
            last_sweep: Instant::now(),
        };
        w.watch_listener(listener)?;
        Ok(w)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the call's duration.
        cvt(unsafe { libc::epoll_ctl(self.epoll, op, fd, &mut ev) }).map(|_| ())
    }

    fn watch_listener(&self, listener: &TcpListener) -> io::Result<()> {
        // EPOLLEXCLUSIVE: one worker wakes per new connection.
        let events = (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32;
        self.ctl(libc::EPOLL_CTL_ADD, listener.as_raw_fd(), events, LISTENER)
    }

    fn run(&mut self, listener: &TcpListener) {
        crate::logger::enable_batching();
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut timeout_ms = 250;
        loop {
            // SAFETY: `events` is writable for its length.
            let n =
                unsafe { libc::epoll_wait(self.epoll, events.as_mut_ptr(), events.len() as i32, timeout_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    log_line("-", &format!("epoll_wait failed: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for ev in &events[..n as usize] {
                let token = ev.u64;
                if token == LISTENER {
                    self.accept_all(listener);
                } else {
                    // Without RDHUP the peer has not closed: a short read
                    // means the socket is drained (no extra read to EAGAIN).
                    let peer_closed =
                        ev.events & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
                    self.ready(token, !peer_closed);
                }
            }
            if let Some(until) = self.accept_paused_until {
                if Instant::now() >= until {
                    self.accept_paused_until = None;
                    let _ = self.watch_listener(listener);
                }
            }
            if self.last_sweep.elapsed() >= Duration::from_millis(500) {
                self.sweep();
            }
            timeout_ms = match crate::logger::flush_if_due() {
                Some(due) => due.as_millis().clamp(1, 250) as i32,
                None => 250,
            };
        }
    }

    fn accept_all(&mut self, listener: &TcpListener) {
        loop {
            match accept_nonblocking(listener) {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: stop watching the listener for a
                    // moment instead of spinning on it; connections already
                    // open keep being served and free descriptors.
                    log_line("-", &format!("accept failed: {e}; pausing accepts"));
                    let _ = self.ctl(libc::EPOLL_CTL_DEL, listener.as_raw_fd(), 0, LISTENER);
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        let limits = self.server.limits;
        if self.open.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            self.open.fetch_sub(1, Ordering::SeqCst);
            refuse(stream, &peer.ip().to_string());
            return;
        }
        let token = self.next_token;
        self.next_token += 1;
        let conn = Conn {
            client: peer.ip().to_string(),
            proto: Connection::new(self.server.config.clone()),
            session: Session::new(),
            out: Vec::new(),
            out_pos: 0,
            file: None,
            body_len: None,
            close_after_write: false,
            state: State::Active,
            since: Instant::now(),
            phase: Wait::Head,
            writing: false,
            served: false,
            stream,
        };
        // Edge-triggered: we always read and write until WouldBlock.
        let events = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if self.ctl(libc::EPOLL_CTL_ADD, conn.stream.as_raw_fd(), events, token).is_err() {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        self.conns.insert(token, conn);
        // The request may already be there.
        self.ready(token, false);
    }

    /// Drive a connection the kernel reported ready. `short_read_drains`:
    /// a read shorter than the buffer may be taken to mean no more input
    /// is waiting (false when the peer may have closed, so EOF is seen).
    fn ready(&mut self, token: u64, short_read_drains: bool) {
        let Some(mut conn) = self.conns.remove(&token) else { return };
        let handler = &mut self.handler;
        let buf = &mut self.read_buf;
        let result = catch_unwind(AssertUnwindSafe(|| drive(&mut conn, handler, buf, short_read_drains)));
        let keep = match result {
            Ok(Ok(keep)) => keep,
            Ok(Err(e)) => {
                if !matches!(
                    e.kind(),
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) {
                    log_line(&conn.client, &format!("connection error: {e}"));
                }
                false
            }
            Err(_) => {
                log_line(&conn.client, "internal error while serving; connection dropped");
                false
            }
        };
        if keep {
            // Register for writability only while output is waiting.
            let want_write = conn.out_pos < conn.out.len() || conn.file.is_some();
            if want_write != conn.writing {
                conn.writing = want_write;
                let mut events = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
                if want_write {
                    events |= libc::EPOLLOUT as u32;
                }
                let _ = self.ctl(libc::EPOLL_CTL_MOD, conn.stream.as_raw_fd(), events, token);
            }
            self.conns.insert(token, conn);
        } else {
            self.open.fetch_sub(1, Ordering::SeqCst);
            // Dropping the stream closes it (and removes it from epoll).
        }
    }

    /// Close connections whose wait has run past its limit.
    fn sweep(&mut self) {
        self.last_sweep = Instant::now();
        let limits = self.server.limits;
        let expired: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                let limit = match c.phase {
                    Wait::Head => limits.header_timeout,
                    Wait::Idle => limits.idle_timeout,
                    Wait::Io => limits.io_timeout,
                    Wait::Linger => LINGER,
                };
                c.since.elapsed() > limit
            })
            .map(|(t, _)| *t)
            .collect();
        for token in expired {
            if let Some(conn) = self.conns.remove(&token) {
                if conn.phase == Wait::Head && conn.proto.read_phase() == ReadPhase::Head {
                    log_line(&conn.client, "request head not received in time; connection closed");
                }
                self.open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // SAFETY: closing our own epoll fd.
        unsafe { libc::close(self.epoll) };
    }
}

/// `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: a non-blocking socket
/// in one system call (std's accept would need a second to set the flag).
fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    // SAFETY: zeroed sockaddr_storage is valid; accept4 fills at most `len` bytes.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: pointers to our own storage and length.
    let fd = cvt(unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept4 returned a new socket we now own.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let peer = match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin = unsafe { *(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            SocketAddr::from((ip, u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6 = unsafe { *(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            SocketAddr::from((ip, u16::from_be(sin6.sin6_port)))
        }
        _ => stream.peer_addr()?,
    };
    Ok((stream, peer))
}

/// Past the connection cap: a 503 in CPython's error format, then close.
pub fn refuse(mut stream: TcpStream, client: &str) {
    let page = error_page(503, Some("Too many connections"), None);
    let head = format!(
        "HTTP/1.0 503 Too many connections\r\nConnection: close\r\nContent-Type: {ERROR_CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n",
        page.len()
    );
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&page);
    let _ = stream.shutdown(Shutdown::Write);
    log_line(client, "connection refused: too many connections");
}

/// Move the connection as far as it can go without blocking. `Ok(false)`:
/// drop it.
fn drive(
    conn: &mut Conn,
    handler: &mut ServerHandler,
    buf: &mut [u8],
    short_read_drains: bool,
) -> io::Result<bool> {
    if let State::Lingering = conn.state {
        return linger(conn, buf);
    }
    let mut drained = false;
    loop {
        // 1. Write what is queued.
        if !flush(conn)? {
            if conn.phase != Wait::Io {
                conn.phase = Wait::Io;
                conn.since = Instant::now();
            }
            return Ok(true);
        }
        if let Some(len) = conn.body_len.take() {
            conn.proto.body_sent(len).map_err(io::Error::from)?;
            if let Outcome::Close =
                conn.session.finish::<NativeBody>(&mut conn.proto).map_err(io::Error::from)?
            {
                conn.close_after_write = true;
            }
            continue;
        }
        if conn.close_after_write {
            return start_linger(conn, buf);
        }
        // 2. Handle every event the bytes so far produce.
        let mut handled = false;
        while let Some(event) = conn.proto.next_event() {
            handled = true;
            let client = &conn.client;
            let mut log = |m: &str| log_line(client, m);
            let outcome = conn
                .session
                .handle_event(event, &mut conn.proto, handler, SystemTime::now(), &mut log, &mut conn.out)
                .map_err(io::Error::from)?;
            match outcome {
                Outcome::Continue => {}
                Outcome::Close => {
                    conn.close_after_write = true;
                    break;
                }
                Outcome::SendBody { source, len } => {
                    queue_body(conn, source, len)?;
                    break;
                }
            }
        }
        if handled {
            conn.served = true;
            continue;
        }
        // 3. Read more, if the protocol wants it.
        if conn.proto.is_closed() {
            return start_linger(conn, buf);
        }
        if !conn.proto.wants_read() {
            return Ok(false);
        }
        if drained {
            update_clock(conn);
            return Ok(true);
        }
        match conn.stream.read(buf) {
            Ok(0) => conn.proto.receive_eof(),
            Ok(n) => {
                drained = short_read_drains && n < buf.len();
                conn.proto.receive(&buf[..n]);
                if conn.phase == Wait::Io {
                    conn.since = Instant::now(); // a body making progress
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                update_clock(conn);
                return Ok(true);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Start the clock for what the connection now waits for; a clock keeps
/// running while the wait stays the same. So the head clock runs from
/// accept (or from the first byte after an idle spell), however slowly the
/// head trickles in; the body clock restarts on every read that progresses.
fn update_clock(conn: &mut Conn) {
    let wait = match conn.proto.read_phase() {
        ReadPhase::Idle if conn.served => Wait::Idle,
        ReadPhase::Idle | ReadPhase::Head => Wait::Head,
        ReadPhase::Body | ReadPhase::NotReading => Wait::Io,
    };
    if wait != conn.phase {
        conn.phase = wait;
        conn.since = Instant::now();
    }
}

/// Queue a body to copy: small files into the buffer, large ones for
/// sendfile.
fn queue_body(conn: &mut Conn, source: NativeBody, len: Option<u64>) -> io::Result<()> {
    let NativeBody::File(mut file) = source else {
        // CGI runs in the threaded server, never here.
        return Err(io::Error::other("CGI body in the event loop"));
    };
    let len = len.unwrap_or(0);
    if len <= SMALL_FILE {
        let start = conn.out.len();
        conn.out.resize(start + len as usize, 0);
        file.read_exact(&mut conn.out[start..])?;
    } else {
        conn.file = Some((file, 0, len));
    }
    conn.body_len = Some(len);
    Ok(())
}

/// Write queued bytes, then the file. `Ok(true)` when all is out.
fn flush(conn: &mut Conn) -> io::Result<bool> {
    while conn.out_pos < conn.out.len() {
        match conn.stream.write(&conn.out[conn.out_pos..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                conn.out_pos += n;
                conn.since = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    conn.out.clear();
    conn.out_pos = 0;
    while let Some((file, offset, left)) = conn.file.as_mut() {
        if *left == 0 {
            conn.file = None;
            break;
        }
        let chunk = (*left).min(1 << 30) as usize;
        // SAFETY: both fds are open; `offset` is ours.
        let n = unsafe { libc::sendfile(conn.stream.as_raw_fd(), file.as_raw_fd(), offset, chunk) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                ErrorKind::WouldBlock => return Ok(false),
                ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        if n == 0 {
            // The file shrank under us: the framing is broken.
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "file shorter than its length"));
        }
        *left -= n as u64;
        conn.since = Instant::now();
    }
    Ok(true)
}

fn start_linger(conn: &mut Conn, buf: &mut [u8]) -> io::Result<bool> {
    // Nothing left unread: a plain close loses nothing (and saves a round
    // trip per connection, as nginx's lingering_close heuristic does).
    if !conn.proto.has_unread_input() {
        return Ok(false);
    }
    if conn.stream.shutdown(Shutdown::Write).is_err() {
        return Ok(false);
    }
    conn.state = State::Lingering;
    conn.phase = Wait::Linger;
    conn.since = Instant::now();
    linger(conn, buf)
}

/// Drain the peer after our side is shut; drop once it closes.
fn linger(conn: &mut Conn, buf: &mut [u8]) -> io::Result<bool> {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Ok(false),
        }
    }
}
