//! The raw WASI calls of the socket mode: accepting without blocking, and
//! one `poll_oneoff` over the listener, every connection's socket and the
//! earliest deadline. WASI preview 1 has readiness subscriptions
//! (`fd_read`, `fd_write`) and clock subscriptions, which is all an event
//! loop needs; every `unsafe` of the loop is here.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::wasi::io::{AsRawFd, FromRawFd, RawFd};
use std::time::Duration;

/// What a socket is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// One socket to wait for, and the tag its readiness is reported with.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub fd: RawFd,
    pub interest: Interest,
    pub tag: u64,
}

/// The tag of the clock subscription (never reported as ready).
const CLOCK: u64 = u64::MAX;

fn error(e: wasi::Errno) -> io::Error {
    io::Error::from_raw_os_error(i32::from(e.raw()))
}

/// Make the listener non-blocking (a host may hand it over either way).
pub fn set_nonblocking(listener: &TcpListener) -> io::Result<()> {
    let fd = listener.as_raw_fd() as wasi::Fd;
    // SAFETY: fd_fdstat_set_flags takes plain integers and only changes the
    // flags of a descriptor we own (kept open by `listener`).
    unsafe { wasi::fd_fdstat_set_flags(fd, wasi::FDFLAGS_NONBLOCK) }.map_err(error)
}

/// The next connection waiting on `listener`, its socket non-blocking;
/// `None` when there is none.
pub fn accept(listener: &TcpListener) -> io::Result<Option<TcpStream>> {
    let fd = listener.as_raw_fd() as wasi::Fd;
    // SAFETY: sock_accept takes plain integers; `fd` is the listening
    // socket, kept open by `listener`.
    let conn = match unsafe { wasi::sock_accept(fd, wasi::FDFLAGS_NONBLOCK) } {
        Ok(conn) => conn,
        Err(wasi::ERRNO_AGAIN) => return Ok(None),
        Err(e) => return Err(error(e)),
    };
    // SAFETY: the host just opened `conn` for us and nothing else owns it:
    // the stream is its only owner and closes it when dropped.
    let stream = unsafe { TcpStream::from_raw_fd(conn as RawFd) };
    Ok(Some(stream))
}

/// Wait until one of `watches` is ready as asked, or `timeout` passes
/// (`None`: no limit), and put the tags of the ready ones in `ready`. A
/// socket in error counts as ready: its next read or write says what went
/// wrong. Readiness may be reported for sockets that are not ready (the
/// sockets are non-blocking: a read or write then answers `WouldBlock`).
pub fn wait(watches: &[Watch], timeout: Option<Duration>, ready: &mut Vec<u64>) -> io::Result<()> {
    ready.clear();
    let mut subscriptions: Vec<wasi::Subscription> = watches
        .iter()
        .map(|w| {
            let fd = wasi::SubscriptionFdReadwrite { file_descriptor: w.fd as wasi::Fd };
            let (tag, u) = match w.interest {
                Interest::Read => (wasi::EVENTTYPE_FD_READ, wasi::SubscriptionUU { fd_read: fd }),
                Interest::Write => (wasi::EVENTTYPE_FD_WRITE, wasi::SubscriptionUU { fd_write: fd }),
            };
            wasi::Subscription { userdata: w.tag, u: wasi::SubscriptionU { tag: tag.raw(), u } }
        })
        .collect();
    if let Some(timeout) = timeout {
        subscriptions.push(wasi::Subscription {
            userdata: CLOCK,
            u: wasi::SubscriptionU {
                tag: wasi::EVENTTYPE_CLOCK.raw(),
                u: wasi::SubscriptionUU {
                    clock: wasi::SubscriptionClock {
                        id: wasi::CLOCKID_MONOTONIC,
                        timeout: timeout.as_nanos().min(u128::from(u64::MAX)) as u64,
                        precision: 0,
                        flags: 0, // relative
                    },
                },
            },
        });
    }
    if subscriptions.is_empty() {
        return Ok(()); // nothing to wait for (poll_oneoff refuses zero)
    }
    let blank = wasi::Event {
        userdata: CLOCK,
        error: wasi::ERRNO_SUCCESS,
        type_: wasi::EVENTTYPE_CLOCK,
        fd_readwrite: wasi::EventFdReadwrite { nbytes: 0, flags: 0 },
    };
    let mut events = vec![blank; subscriptions.len()];
    // SAFETY: `subscriptions` and `events` hold the same number of valid
    // elements, outlive the call, and are not otherwise borrowed during
    // it; the host writes at most that many events.
    let n = unsafe { wasi::poll_oneoff(subscriptions.as_ptr(), events.as_mut_ptr(), subscriptions.len()) }
        .map_err(error)?;
    ready.extend(events[..n.min(events.len())].iter().map(|e| e.userdata).filter(|&tag| tag != CLOCK));
    Ok(())
}

/// Pause for `d` (a clock-only `poll_oneoff`).
pub fn sleep(d: Duration) -> io::Result<()> {
    wait(&[], Some(d), &mut Vec::new())
}
