//! TLS as a [`Transport`]: rustls over a non-blocking TCP socket. The
//! engine above sees plaintext, as on plain TCP; the handshake happens
//! inside the first reads and writes, so the engine's head deadline, which
//! counts from accept, also cuts off a client that never finishes it.
//!
//! Records rustls could not hand to the socket yet stay pending here
//! (at most [`BUFFER_LIMIT`] of plaintext and its records): a write takes
//! no more plaintext until they are out, and [`Transport::flush_pending`]
//! tells the pump to wait until the socket is writable before it waits for
//! input.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

use crate::net::transport::Transport;

/// Most plaintext (and its records) rustls holds for the socket.
const BUFFER_LIMIT: usize = 64 * 1024;

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// What a client that speaks plain HTTP to the TLS port is told, as nginx
/// tells it, before the connection closes.
const PLAIN_HTTP_REPLY: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\
Content-Type: text/plain\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS: use an https:// URL.\r\n";

/// One client connection over TLS.
pub struct TlsStream {
    tcp: TcpStream,
    tls: ServerConnection,
    /// The socket's read side has ended.
    eof: bool,
    /// The first byte was looked at (a TLS record, or plain HTTP).
    checked: bool,
    /// A half-close was asked for while records were still pending: done
    /// once they are out.
    shutdown_pending: bool,
}

impl TlsStream {
    /// A server-side TLS connection over an accepted, non-blocking socket.
    pub fn new(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(TlsStream { tcp, tls, eof: false, checked: false, shutdown_pending: false })
    }

    /// Whether the peer opened with a TLS record; a plain HTTP request is
    /// answered with a short 400 in clear text and the connection ends.
    fn check_first_byte(&mut self) -> io::Result<()> {
        let mut first = [0u8; 1];
        match self.tcp.peek(&mut first) {
            Ok(0) => {}
            Ok(_) if first[0] == HANDSHAKE_RECORD => {}
            Ok(_) => {
                // Read what came (so that closing does not reset the
                // connection and lose the reply), answer, half-close.
                let mut sink = [0u8; 16 * 1024];
                let _ = self.tcp.read(&mut sink);
                let _ = self.tcp.write(PLAIN_HTTP_REPLY);
                let _ = self.tcp.shutdown(Shutdown::Write);
                return Err(io::Error::new(ErrorKind::ConnectionAborted, "plain HTTP on the TLS port"));
            }
            Err(e) => return Err(e),
        }
        self.checked = true;
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: an end, as on TCP.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            if !self.checked {
                self.check_first_byte()?;
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let processed = self.tls.process_new_packets();
            // Handshake replies, or the alert for a failure.
            let _ = self.flush_pending();
            if let Err(e) = processed {
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
        }
    }
}

impl Write for TlsStream {
    /// Takes plaintext until all of `buf` is in or the socket is full: a
    /// short write always means the socket is full (the edge-triggered
    /// pump then waits for it to become writable, which it will).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut taken = 0;
        while self.flush_pending()? && taken < buf.len() {
            match self.tls.writer().write(&buf[taken..])? {
                0 => break,
                n => taken += n,
            }
        }
        if taken == 0 && !buf.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.flush_pending()? {
            Ok(())
        } else {
            Err(ErrorKind::WouldBlock.into())
        }
    }
}

impl Drop for TlsStream {
    /// Every close says `close_notify` first (best effort, never waiting):
    /// a body ended by the close is then known to be whole.
    fn drop(&mut self) {
        self.begin_close();
        let _ = self.flush_pending();
    }
}

impl Transport for TlsStream {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.tcp.as_fd()
    }

    fn sendfile_target(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn short_read_drains(&self) -> bool {
        false
    }

    fn begin_close(&mut self) {
        if self.checked {
            self.tls.send_close_notify();
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.tls.send_close_notify();
        self.shutdown_pending = true;
        self.flush_pending().map(drop)
    }

    fn flush_pending(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.shutdown_pending {
            self.shutdown_pending = false;
            self.tcp.shutdown(Shutdown::Write)?;
        }
        Ok(true)
    }
}
