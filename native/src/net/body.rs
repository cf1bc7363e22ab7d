//! The one place response bodies leave: the engine says "this head, then
//! these bytes of that source"; this writes as much of it as the transport
//! takes without blocking. A small file goes out in the same write as the
//! head (`pread` at the offset); a large one by `sendfile` from the offset
//! when the transport allows it, else by `pread` and `write`; a stream (a
//! CGI script's output) by read and write, keeping what the socket did not
//! take for the next call.

use std::fs::File;
use std::io::{self, ErrorKind, IoSlice};

use crate::cgi::CgiBody;
use crate::fs::StaticBody;
use crate::net::transport::Transport;

/// Bodies up to this size are read into the head's buffer and leave in
/// one write with it.
const SMALL_BODY: u64 = 16 * 1024;
/// Most bytes read from a source per step.
const CHUNK: usize = 64 * 1024;
/// Most bytes per `sendfile` call.
const SENDFILE_MAX: u64 = 1 << 30;

/// A response body the engine describes as a byte range.
pub trait BodySource {
    /// How its bytes are read.
    fn view(&mut self) -> BodyView<'_>;
}

/// How a body source's bytes are read.
pub enum BodyView<'a> {
    /// A file, read by offset (`pread`, `sendfile`).
    File(&'a File),
    /// A stream, read in order; 0 at its end.
    Stream(&'a mut dyn io::Read),
    /// Bytes in memory (a cached small file), read by offset.
    Memory(&'a [u8]),
}

impl BodySource for File {
    fn view(&mut self) -> BodyView<'_> {
        BodyView::File(self)
    }
}

impl BodySource for StaticBody {
    fn view(&mut self) -> BodyView<'_> {
        match self {
            StaticBody::File(f) => BodyView::File(f),
            StaticBody::Compressed(c) => BodyView::Stream(c),
            StaticBody::Cached(bytes) => BodyView::Memory(bytes),
            StaticBody::Shared(file) => BodyView::File(file),
        }
    }
}

impl BodySource for CgiBody {
    fn view(&mut self) -> BodyView<'_> {
        match self {
            CgiBody::Static(body) => body.view(),
            CgiBody::Script(output) => BodyView::Stream(output),
        }
    }
}

/// Read up to `buf.len()` bytes of `source` from `offset` (a stream reads
/// on from where it is): for bodies the engine frames itself. 0 at the end.
pub fn read_body<S: BodySource + ?Sized>(source: &mut S, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let result = match source.view() {
            BodyView::File(file) => rustix::io::pread(file, &mut *buf, offset).map_err(io::Error::from),
            BodyView::Stream(stream) => stream.read(buf),
            BodyView::Memory(bytes) => Ok(copy_at(bytes, offset, buf)),
        };
        match result {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// How much of a head and body went out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub head: usize,
    pub body: u64,
    /// The source has no more bytes (before its length, if it has one).
    pub ended: bool,
    /// The transport took all it could: wait until it is writable before
    /// the next call (which would only find it full).
    pub blocked: bool,
}

impl Sent {
    /// Count `n` written bytes of which the first `head_left` were head.
    fn wrote(&mut self, n: usize, head_left: usize) {
        let head = n.min(head_left);
        self.head += head;
        self.body += (n - head) as u64;
    }

    fn any(&self) -> bool {
        self.head > 0 || self.body > 0 || self.ended
    }
}

/// Where a body goes: the transport, and whether the range ends the
/// connection's last response (the close following at once), so that its
/// final bytes may wait to leave with the close ([`Transport::write_last`];
/// never a stream's, whose next bytes may be long in coming).
pub struct Sink<'t, T: ?Sized> {
    pub transport: &'t mut T,
    pub close_follows: bool,
}

impl<T: Transport + ?Sized> Sink<'_, T> {
    /// [`Sink::write_some`] of `head` then `body`: gathered in one write
    /// where the transport [`gathers`](Transport::gathers).
    fn write_some_of_two(&mut self, head: &[u8], body: &[u8], ends: bool) -> io::Result<usize> {
        let last = ends && self.close_follows;
        let mut n = 0;
        while n < head.len() + body.len() {
            let (h, b) = if n < head.len() { (&head[n..], body) } else { (&[][..], &body[n - head.len()..]) };
            match self.transport.write_gathered(&[IoSlice::new(h), IoSlice::new(b)], last) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock && n > 0 => return Ok(n),
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Write as much of `bytes` as the transport takes now (at least one
    /// byte, or `WouldBlock`); `ends`: they are the last of the range.
    fn write_some(&mut self, bytes: &[u8], ends: bool) -> io::Result<usize> {
        self.write_some_of_two(bytes, &[], ends)
    }
}

/// One connection's body writing state: stream bytes read but not yet
/// written (files need none: they are read again at the next offset).
#[derive(Debug, Default)]
pub struct BodyWriter {
    unsent: Vec<u8>,
}

impl BodyWriter {
    /// Send `head`, then `len` bytes (to the end when `None`) of `source`
    /// from `offset`, as far as the transport takes them now. `scratch` is
    /// a buffer the caller keeps between calls (one per worker). A
    /// `WouldBlock` error means nothing at all went out.
    pub fn send<T: Transport + ?Sized, S: BodySource + ?Sized>(
        &mut self,
        mut sink: Sink<'_, T>,
        head: &[u8],
        source: &mut S,
        offset: u64,
        len: Option<u64>,
        scratch: &mut Vec<u8>,
    ) -> io::Result<Sent> {
        let mut sent = Sent::default();
        let result = match source.view() {
            BodyView::File(file) => send_file(&mut sink, head, file, offset, len, scratch, &mut sent),
            BodyView::Stream(stream) => self.send_stream(&mut sink, head, stream, len, scratch, &mut sent),
            BodyView::Memory(bytes) => send_memory(&mut sink, head, bytes, offset, len, scratch, &mut sent),
        };
        match result {
            Ok(()) => Ok(sent),
            Err(e) if e.kind() == ErrorKind::WouldBlock && sent.any() => Ok(Sent { blocked: true, ..sent }),
            Err(e) => Err(e),
        }
    }

    fn send_stream<T: Transport + ?Sized>(
        &mut self,
        sink: &mut Sink<'_, T>,
        head: &[u8],
        source: &mut dyn io::Read,
        len: Option<u64>,
        scratch: &mut Vec<u8>,
        sent: &mut Sent,
    ) -> io::Result<()> {
        // What is still to be read: the bytes already read and not yet
        // sent count against the length too.
        let mut left = len.map_or(u64::MAX, |l| l.saturating_sub(self.unsent.len() as u64));
        let mut source_ended = false;
        loop {
            if self.unsent.is_empty() && left > 0 {
                scratch.resize(CHUNK.min(left.min(usize::MAX as u64) as usize), 0);
                let n = source.read(scratch)?;
                if n == 0 {
                    source_ended = true;
                } else {
                    self.unsent.extend_from_slice(&scratch[..n]);
                    left -= n as u64;
                }
            }
            let head_left = head.len() - sent.head;
            if head_left == 0 && self.unsent.is_empty() {
                sent.ended = source_ended;
                return Ok(());
            }
            scratch.clear();
            scratch.extend_from_slice(&head[sent.head..]);
            scratch.extend_from_slice(&self.unsent);
            let n = sink.write_some(scratch, false)?;
            sent.wrote(n, head_left);
            self.unsent.drain(..n.saturating_sub(head_left));
            if n < scratch.len() {
                return Err(ErrorKind::WouldBlock.into());
            }
            if source_ended || left == 0 {
                sent.ended = source_ended;
                return Ok(());
            }
        }
    }
}

/// A file range: `sendfile` for a large one when the transport allows it,
/// else `pread` into the head's buffer and one write per chunk.
fn send_file<T: Transport + ?Sized>(
    sink: &mut Sink<'_, T>,
    head: &[u8],
    file: &File,
    offset: u64,
    len: Option<u64>,
    scratch: &mut Vec<u8>,
    sent: &mut Sent,
) -> io::Result<()> {
    let mut left = len.unwrap_or(u64::MAX);
    if left > SMALL_BODY && sink.transport.sendfile_target().is_some() {
        while sent.head < head.len() {
            let n = sink.write_some(&head[sent.head..], false)?;
            sent.head += n;
        }
        if let Some(socket) = sink.transport.sendfile_target() {
            let mut at = offset;
            while left > 0 {
                match rustix::fs::sendfile(socket, file, Some(&mut at), left.min(SENDFILE_MAX) as usize) {
                    Ok(0) => {
                        sent.ended = true; // the file shrank under us
                        return Ok(());
                    }
                    Ok(n) => {
                        sent.body += n as u64;
                        left -= n as u64;
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(());
        }
    }
    let mut at = offset;
    let mut source_ended = false;
    loop {
        let head_left = head.len() - sent.head;
        let want = CHUNK.min(left.min(usize::MAX as u64) as usize);
        let need = head_left + want;
        // Grown (and zeroed) once, then reused as it is: zeroing 64 KiB
        // per chunk showed in profiles of large files over TLS.
        if scratch.len() < need {
            scratch.resize(need, 0);
        }
        scratch[..head_left].copy_from_slice(&head[sent.head..]);
        let mut got = 0;
        while got < want {
            match rustix::io::pread(file, &mut scratch[head_left + got..need], at + got as u64) {
                Ok(0) => {
                    source_ended = true;
                    break;
                }
                Ok(n) => got += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let filled = head_left + got;
        if filled == 0 {
            sent.ended = source_ended;
            return Ok(());
        }
        let n = sink.write_some(&scratch[..filled], want as u64 >= left)?;
        sent.wrote(n, head_left);
        let body = n.saturating_sub(head_left);
        at += body as u64;
        left -= body as u64;
        if n < filled {
            return Err(ErrorKind::WouldBlock.into());
        }
        if source_ended || left == 0 {
            sent.ended = source_ended;
            return Ok(());
        }
    }
}

/// Copy `bytes` from `offset` into `buf`; how many (0 past the end).
fn copy_at(bytes: &[u8], offset: u64, buf: &mut [u8]) -> usize {
    let start = (offset.min(bytes.len() as u64)) as usize;
    let n = buf.len().min(bytes.len() - start);
    buf[..n].copy_from_slice(&bytes[start..start + n]);
    n
}

/// [`send_file`] for bytes in memory: the head and the range leave in one
/// write (gathered, or joined in `scratch` where the transport does not
/// gather: one TLS record), then the rest as the transport takes it.
fn send_memory<T: Transport + ?Sized>(
    sink: &mut Sink<'_, T>,
    head: &[u8],
    bytes: &[u8],
    offset: u64,
    len: Option<u64>,
    scratch: &mut Vec<u8>,
    sent: &mut Sent,
) -> io::Result<()> {
    let start = (offset.min(bytes.len() as u64)) as usize;
    let end = match len {
        Some(len) => start.saturating_add(len.min(usize::MAX as u64) as usize).min(bytes.len()),
        None => bytes.len(),
    };
    let body = &bytes[start..end];
    let short = len.is_some_and(|len| (body.len() as u64) < len);
    let (first, second): (&[u8], &[u8]) = if sink.transport.gathers() {
        (head, body)
    } else {
        scratch.clear();
        scratch.extend_from_slice(head);
        scratch.extend_from_slice(body);
        (scratch, &[])
    };
    let n = sink.write_some_of_two(first, second, true)?;
    sent.wrote(n, head.len());
    if n < first.len() + second.len() {
        return Err(ErrorKind::WouldBlock.into());
    }
    // Fewer bytes than the head promised: the connection must end.
    sent.ended = short || len.is_none();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A transport that takes at most `room` bytes, then would block.
    struct Narrow {
        got: Vec<u8>,
        room: usize,
        /// Takes several buffers in one write (as TCP does).
        gathers: bool,
        /// Where in `got` each `write_last` began.
        last_at: Vec<usize>,
    }

    impl Read for Narrow {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(ErrorKind::WouldBlock.into())
        }
    }

    impl Write for Narrow {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Narrow {
        fn wait_fd(&self) -> std::os::fd::BorrowedFd<'_> {
            unreachable!("not waited on in these tests")
        }
        fn sendfile_target(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
            None
        }
        fn shutdown_write(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn write_last(&mut self, b: &[u8]) -> io::Result<usize> {
            self.last_at.push(self.got.len());
            self.write(b)
        }
        fn gathers(&self) -> bool {
            self.gathers
        }
        fn write_gathered(&mut self, bufs: &[IoSlice<'_>], last: bool) -> io::Result<usize> {
            if last {
                self.last_at.push(self.got.len());
            }
            let joined: Vec<u8> = if self.gathers {
                bufs.iter().flat_map(|b| b.iter().copied()).collect()
            } else {
                bufs.iter().find(|b| !b.is_empty()).map_or(Vec::new(), |b| b.to_vec())
            };
            self.write(&joined)
        }
    }

    fn temp_file(data: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        f
    }

    /// Drive `send` through a transport taking `room` bytes per turn.
    fn send_all(data: &[u8], offset: u64, len: u64, room: usize) -> (Vec<u8>, bool) {
        let mut file = temp_file(data);
        let head = b"HEAD\r\n\r\n".to_vec();
        let (mut head_pos, mut at, mut left) = (0, offset, len);
        let mut t = Narrow { got: Vec::new(), room: 0, gathers: false, last_at: Vec::new() };
        let (mut writer, mut scratch) = (BodyWriter::default(), Vec::new());
        loop {
            t.room = room;
            match writer.send(
                Sink { transport: &mut t, close_follows: false },
                &head[head_pos..],
                &mut file,
                at,
                Some(left),
                &mut scratch,
            ) {
                Ok(sent) => {
                    head_pos += sent.head;
                    at += sent.body;
                    left -= sent.body;
                    if sent.ended || (left == 0 && head_pos == head.len()) {
                        return (t.got, sent.ended);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => assert_eq!(room, 0),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn file_ranges_through_a_narrow_socket() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for room in [1, 7, 4096, usize::MAX] {
            for (offset, len) in [(0u64, 10u64), (5, 20_000), (99_990, 10), (0, 100_000)] {
                if room < 100 && len > 1000 {
                    continue; // a byte at a time re-reads a chunk each time: slow, and no different
                }
                let (got, ended) = send_all(&data, offset, len, room);
                let mut want = b"HEAD\r\n\r\n".to_vec();
                want.extend_from_slice(&data[offset as usize..(offset + len) as usize]);
                assert_eq!(got, want, "room {room}, {offset}+{len}");
                assert!(!ended);
            }
        }
        // A file shorter than its length ends early.
        let (got, ended) = send_all(b"abc", 0, 10, 4);
        assert!(ended);
        assert_eq!(got, b"HEAD\r\n\r\nabc");
    }

    /// Where the writes of `len` bytes of `source` through `write_last`
    /// begin.
    fn held_back(source: &mut dyn BodySource, len: u64, close_follows: bool) -> Vec<usize> {
        let mut t = Narrow { got: Vec::new(), room: usize::MAX, gathers: false, last_at: Vec::new() };
        let (mut writer, mut scratch) = (BodyWriter::default(), Vec::new());
        let sink = Sink { transport: &mut t, close_follows };
        let sent = writer.send(sink, b"H\r\n\r\n", source, 0, Some(len), &mut scratch).unwrap();
        assert_eq!(sent.body, len);
        t.last_at
    }

    #[test]
    fn only_the_bytes_that_end_a_final_response_may_wait_for_the_close() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = temp_file(&data);
        // Head and body in one write.
        assert_eq!(held_back(&mut file, 1000, true), [0]);
        assert_eq!(held_back(&mut StaticBody::Cached(data.clone().into()), 1000, true), [0]);
        // The connection stays open.
        assert_eq!(held_back(&mut file, 1000, false), []);
        // A stream's next bytes may be long in coming.
        assert_eq!(held_back(&mut Stream(std::io::Cursor::new(data.clone())), 1000, true), []);
        // Chunk by chunk: only the last.
        assert_eq!(held_back(&mut file, 3 * CHUNK as u64, true), [5 + 2 * CHUNK]);
    }

    #[test]
    fn memory_bodies_through_a_gathering_socket() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let bytes: std::sync::Arc<[u8]> = data.clone().into();
        let head = b"HEAD\r\n\r\n";
        for room in [1, 3, 9, 4096, usize::MAX] {
            for (offset, len) in [(0u64, 5000u64), (7, 100), (4990, 10), (4990, 20)] {
                let mut t = Narrow { got: Vec::new(), room: 0, gathers: true, last_at: Vec::new() };
                let (mut writer, mut scratch) = (BodyWriter::default(), Vec::new());
                let (mut head_pos, mut at, mut ended) = (0, offset, false);
                let end = (offset + len).min(5000);
                while !ended && (head_pos < head.len() || at < end) {
                    t.room = room;
                    let mut source = StaticBody::Cached(bytes.clone());
                    let sink = Sink { transport: &mut t, close_follows: true };
                    let left = offset + len - at;
                    match writer.send(sink, &head[head_pos..], &mut source, at, Some(left), &mut scratch) {
                        Ok(sent) => {
                            head_pos += sent.head;
                            at += sent.body;
                            ended = sent.ended;
                        }
                        Err(e) => panic!("room {room}: {e}"),
                    }
                }
                let mut want = head.to_vec();
                want.extend_from_slice(&data[offset as usize..end as usize]);
                assert_eq!(t.got, want, "room {room}, {offset}+{len}");
                // Past the end: fewer bytes than the length, so it ends.
                assert_eq!(ended, offset + len > 5000, "room {room}, {offset}+{len}");
                assert!(!t.last_at.is_empty(), "the final bytes may wait for the close");
            }
        }
    }

    /// A script's output, as far as the writer can tell.
    struct Stream(std::io::Cursor<Vec<u8>>);

    impl BodySource for Stream {
        fn view(&mut self) -> BodyView<'_> {
            BodyView::Stream(&mut self.0)
        }
    }

    #[test]
    fn a_stream_longer_than_its_length_stops_at_the_length() {
        // A script saying Content-Length: 50000 and writing 100000 bytes,
        // to a socket that takes 3000 at a time.
        let mut source = Stream(std::io::Cursor::new(vec![b'x'; 100_000]));
        let mut t = Narrow { got: Vec::new(), room: 0, gathers: false, last_at: Vec::new() };
        let (mut writer, mut scratch) = (BodyWriter::default(), Vec::new());
        let mut left = 50_000u64;
        while left > 0 {
            t.room = 3000;
            let sent = writer
                .send(
                    Sink { transport: &mut t, close_follows: false },
                    b"",
                    &mut source,
                    0,
                    Some(left),
                    &mut scratch,
                )
                .unwrap();
            assert!(!sent.ended);
            left -= sent.body;
        }
        assert_eq!(t.got.len(), 50_000);
    }

    #[test]
    fn streams_keep_what_the_socket_did_not_take() {
        let mut source = Stream(std::io::Cursor::new(b"0123456789".repeat(10_000)));
        let mut t = Narrow { got: Vec::new(), room: 0, gathers: false, last_at: Vec::new() };
        let (mut writer, mut scratch) = (BodyWriter::default(), Vec::new());
        let mut head_pos = 0;
        let head = b"H\r\n\r\n";
        loop {
            t.room = 3000;
            let sent = writer
                .send(
                    Sink { transport: &mut t, close_follows: false },
                    &head[head_pos..],
                    &mut source,
                    0,
                    None,
                    &mut scratch,
                )
                .unwrap();
            head_pos += sent.head;
            if sent.ended {
                break;
            }
        }
        let mut want = head.to_vec();
        want.extend_from_slice(&b"0123456789".repeat(10_000));
        assert_eq!(t.got, want);
    }
}
