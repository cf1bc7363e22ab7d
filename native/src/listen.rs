//! Where connections come from: the socket a service manager passed
//! (systemd socket activation, the `sd_listen_fds` protocol: `LISTEN_FDS`
//! and `LISTEN_PID`), or one bound here from `-b` and `port`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};

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

fn bind(args: &Args) -> Result<TcpListener> {
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
