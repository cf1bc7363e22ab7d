//! What a connection's bytes travel over: plain TCP here, TLS in
//! `net::tls`; everything above (the body writer, both pumps) works on
//! either.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::net::{SendAncillaryBuffer, SendFlags};

/// A connection's byte stream, non-blocking: reads and writes may answer
/// `WouldBlock`; [`Transport::wait_fd`] says when to try again.
pub trait Transport: Read + Write {
    /// The socket to wait on for readiness.
    fn wait_fd(&self) -> BorrowedFd<'_>;

    /// The socket file bytes may be copied to directly (`sendfile`), when
    /// nothing has to be done to them on the way (plain TCP; not TLS).
    fn sendfile_target(&self) -> Option<BorrowedFd<'_>>;

    /// Shut the write side (half-close) before a lingering close.
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// [`Write::write`] for the bytes that end the connection's last
    /// response, the close following at once: a transport may hold them
    /// back to leave with it.
    fn write_last(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write(buf)
    }

    /// Whether [`Transport::write_gathered`] sends several buffers in one
    /// call (else it takes only the first that is not empty: a caller
    /// does better joining them itself).
    fn gathers(&self) -> bool {
        false
    }

    /// Write from `bufs` in order, as one write where the transport
    /// [`gathers`](Transport::gathers); `last` as for
    /// [`Transport::write_last`].
    fn write_gathered(&mut self, bufs: &[IoSlice<'_>], last: bool) -> io::Result<usize> {
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
        if last {
            self.write_last(first)
        } else {
            self.write(first)
        }
    }

    /// Whether a read shorter than the buffer means the socket has no
    /// more input now (true of TCP; not of TLS, whose reads give one record
    /// at a time whatever is waiting behind it).
    fn short_read_drains(&self) -> bool {
        true
    }

    /// The connection is about to close: queue whatever says so (TLS's
    /// `close_notify`), for [`Transport::flush_pending`] to send.
    fn begin_close(&mut self) {}

    /// Send what the transport itself still holds (TLS records the socket
    /// did not take): `Ok(true)` when nothing is left, `Ok(false)` when it
    /// must wait until the socket is writable. Plain TCP holds nothing.
    fn flush_pending(&mut self) -> io::Result<bool> {
        Ok(true)
    }
}

impl Transport for TcpStream {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }

    fn sendfile_target(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    /// `MSG_MORE`: the kernel keeps the tail for the close, whose FIN then
    /// rides on it (one packet fewer per connection, as nginx's
    /// `tcp_nopush` gets with TCP_CORK, without a setsockopt).
    fn write_last(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::net::send(&*self, buf, SendFlags::MORE | SendFlags::NOSIGNAL)?)
    }

    fn gathers(&self) -> bool {
        true
    }

    fn write_gathered(&mut self, bufs: &[IoSlice<'_>], last: bool) -> io::Result<usize> {
        let flags = if last { SendFlags::MORE | SendFlags::NOSIGNAL } else { SendFlags::NOSIGNAL };
        Ok(rustix::net::sendmsg(&*self, bufs, &mut SendAncillaryBuffer::default(), flags)?)
    }
}
