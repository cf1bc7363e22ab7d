//! A connection on the socket the host preopened, with read deadlines.
//! WASI preview 1 has no socket timeouts, but `poll_oneoff` waits on a
//! read subscription and a clock at once: the engine's deadlines (head
//! from accept, idle, I/O) hold here as they do natively.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::wasi::io::AsRawFd;
use std::time::Duration;

pub struct Socket {
    stream: TcpStream,
    timeout: Option<Duration>,
}

impl Socket {
    pub fn new(stream: TcpStream) -> Socket {
        Socket { stream, timeout: None }
    }

    /// Limit the next read to `timeout` (`None`: no limit).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }

    /// Whether the socket became readable within `timeout`.
    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let fd = self.stream.as_raw_fd() as wasi::Fd;
        let read = wasi::Subscription {
            userdata: 0,
            u: wasi::SubscriptionU {
                tag: wasi::EVENTTYPE_FD_READ.raw(),
                u: wasi::SubscriptionUU { fd_read: wasi::SubscriptionFdReadwrite { file_descriptor: fd } },
            },
        };
        let clock = wasi::Subscription {
            userdata: 1,
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
        };
        let subscriptions = [read, clock];
        let idle = wasi::Event {
            userdata: u64::MAX,
            error: wasi::ERRNO_SUCCESS,
            type_: wasi::EVENTTYPE_CLOCK,
            fd_readwrite: wasi::EventFdReadwrite { nbytes: 0, flags: 0 },
        };
        let mut events = [idle, idle];
        // SAFETY: both pointers are to arrays of two valid elements, which
        // outlive the call; the host writes at most two events.
        let n = unsafe { wasi::poll_oneoff(subscriptions.as_ptr(), events.as_mut_ptr(), 2) }
            .map_err(|e| io::Error::from_raw_os_error(i32::from(e.raw())))?;
        Ok(events[..n].iter().any(|e| e.userdata == 0))
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(timeout) = self.timeout {
            if !self.wait_readable(timeout)? {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
        self.stream.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
