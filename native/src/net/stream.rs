//! The client stream the pumps hold: plain TCP, or TLS when the server
//! was started with a certificate. One type, so the pumps need no
//! generics over the transport.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use rustls::ServerConfig;

use crate::net::tls::TlsStream;
use crate::net::transport::Transport;

/// An accepted connection as the pumps serve it: over TLS with `tls`.
pub fn client_stream(tcp: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<ClientStream> {
    Ok(match tls {
        Some(config) => ClientStream::Tls(Box::new(TlsStream::new(tcp, Arc::clone(config))?)),
        None => ClientStream::Tcp(tcp),
    })
}

/// A client's stream as the pumps hold it: plain, or TLS when the server
/// was started with a certificate.
pub enum ClientStream {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.read(buf),
            ClientStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.write(buf),
            ClientStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.flush(),
            ClientStream::Tls(s) => s.flush(),
        }
    }
}

impl Transport for ClientStream {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        match self {
            ClientStream::Tcp(s) => s.wait_fd(),
            ClientStream::Tls(s) => s.wait_fd(),
        }
    }

    fn sendfile_target(&self) -> Option<BorrowedFd<'_>> {
        match self {
            ClientStream::Tcp(s) => s.sendfile_target(),
            ClientStream::Tls(s) => s.sendfile_target(),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.shutdown_write(),
            ClientStream::Tls(s) => s.shutdown_write(),
        }
    }

    fn gathers(&self) -> bool {
        match self {
            ClientStream::Tcp(s) => s.gathers(),
            ClientStream::Tls(s) => s.gathers(),
        }
    }

    fn write_gathered(&mut self, bufs: &[IoSlice<'_>], last: bool) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.write_gathered(bufs, last),
            ClientStream::Tls(s) => s.write_gathered(bufs, last),
        }
    }

    fn write_last(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.write_last(buf),
            ClientStream::Tls(s) => s.write_last(buf),
        }
    }

    fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            ClientStream::Tcp(s) => s.flush_pending(),
            ClientStream::Tls(s) => s.flush_pending(),
        }
    }

    fn begin_close(&mut self) {
        match self {
            ClientStream::Tcp(s) => s.begin_close(),
            ClientStream::Tls(s) => s.begin_close(),
        }
    }

    fn short_read_drains(&self) -> bool {
        match self {
            ClientStream::Tcp(s) => s.short_read_drains(),
            ClientStream::Tls(s) => s.short_read_drains(),
        }
    }
}
