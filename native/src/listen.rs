//! Where connections come from: the socket a service manager passed
//! (systemd socket activation, the `sd_listen_fds` protocol: `LISTEN_FDS`
//! and `LISTEN_PID`), or one bound here from `-b` and `port`; and the
//! sockets of the same address that let each worker have its own accept
//! queue ([`sibling`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};

use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};

use anyhow::{bail, Context, Result};

use crate::cli::Args;

/// The variables of the protocol, removed once read so that CGI scripts
/// (and anything else started later) do not see them (listenfd removes
/// the first two itself).
const PROTOCOL_VARIABLES: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// The listening socket and whether it was passed in (already listening,
/// with the backlog its unit asked for) rather than bound here.
pub struct Listener {
    pub socket: TcpListener,
    pub activated: bool,
}

/// The passed socket if there is one for this process, else a bound one.
/// Must run before any thread starts: it changes the environment.
pub fn listener(args: &Args) -> Result<Listener> {
    match activated()? {
        Some(socket) => Ok(Listener { socket, activated: true }),
        None => Ok(Listener { socket: bind(args)?, activated: false }),
    }
}

/// The one TCP socket a service manager passed to this process.
fn activated() -> Result<Option<TcpListener>> {
    let mut passed = listenfd::ListenFd::from_env();
    let count = passed.len();
    for name in PROTOCOL_VARIABLES {
        std::env::remove_var(name);
    }
    if count == 0 {
        return Ok(None);
    }
    if count > 1 {
        bail!(
            "the service manager passed {count} sockets (LISTEN_FDS); httpserver serves one \
             (a single ListenStream= on [::]:PORT serves IPv4 and IPv6 clients both)"
        );
    }
    let socket = passed
        .take_tcp_listener(0)
        .context("the socket passed by the service manager (LISTEN_FDS) is not a TCP listening socket")?
        .context("no socket passed")?;
    // listenfd has marked it close-on-exec (it came without, to survive
    // the exec into us): CGI scripts do not inherit it.
    Ok(Some(socket))
}

/// The socket for `-b` and `port`, in a `SO_REUSEPORT` group that
/// [`sibling`] can join. The address is first bound as usual, so that one
/// that is in use is refused as always (a second server on the same port
/// fails rather than quietly sharing its connections), then at once
/// rebound with `SO_REUSEPORT`; should that fail, the plain socket serves.
fn bind(args: &Args) -> Result<TcpListener> {
    let plain = bind_plain(args)?;
    let addr = plain.local_addr()?;
    let v6only = if addr.is_ipv6() { Some(sockopt::ipv6_v6only(&plain)?) } else { None };
    drop(plain);
    match reuseport_socket(addr, v6only) {
        Ok(socket) => Ok(socket),
        Err(_) => bind_plain(args),
    }
}

/// A worker's own listening socket for `main`'s address, when `main` is in
/// a `SO_REUSEPORT` group (one bound here, or a passed one whose unit set
/// `ReusePort=`): the kernel then spreads new connections over the
/// group's accept queues, so that workers neither contend for one queue
/// nor wake for connections another takes. `None`: share `main`.
pub fn sibling(main: &TcpListener) -> Option<TcpListener> {
    if !sockopt::socket_reuseport(main).unwrap_or(false) {
        return None;
    }
    let addr = main.local_addr().ok()?;
    let v6only = if addr.is_ipv6() { Some(sockopt::ipv6_v6only(main).ok()?) } else { None };
    let socket = reuseport_socket(addr, v6only).ok()?;
    rustix::net::listen(&socket, BACKLOG).ok()?;
    Some(socket)
}

/// The listen backlog: bursts of new connections (a benchmark, a page with
/// many assets, a flood past the cap) should queue rather than be dropped.
/// The kernel caps it at somaxconn.
pub const BACKLOG: i32 = 4096;

/// A TCP socket bound to `addr` with `SO_REUSEADDR` (as std binds) and
/// `SO_REUSEPORT`, not yet listening.
fn reuseport_socket(addr: SocketAddr, v6only: Option<bool>) -> io::Result<TcpListener> {
    let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let socket = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sockopt::set_socket_reuseaddr(&socket, true)?;
    sockopt::set_socket_reuseport(&socket, true)?;
    if let Some(v6only) = v6only {
        sockopt::set_ipv6_v6only(&socket, v6only)?;
    }
    rustix::net::bind(&socket, &addr)?;
    Ok(TcpListener::from(socket))
}

fn bind_plain(args: &Args) -> Result<TcpListener> {
    Ok(match &args.bind {
        Some(host) => {
            let addr = (host.as_str(), args.port)
                .to_socket_addrs()
                .with_context(|| format!("cannot resolve bind address {host:?}"))?
                .next()
                .with_context(|| format!("no address for {host:?}"))?;
            TcpListener::bind(addr).with_context(|| format!("cannot bind to {addr}"))?
        }
        // All interfaces, dual-stack as CPython: `::` (IPv4 clients arrive
        // as ::ffff:a.b.c.d), falling back to 0.0.0.0 without IPv6.
        None => match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), args.port)) {
            Ok(l) => l,
            Err(_) => TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), args.port))
                .with_context(|| format!("cannot bind to port {}", args.port))?,
        },
    })
}
