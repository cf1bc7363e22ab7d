//! Waiting on descriptors with a deadline: the one `poll(2)` every
//! blocking wait of the threaded server and of CGI scripts goes through.

use std::io;
use std::time::Instant;

use rustix::event::{poll, PollFd, Timespec};

/// Wait until one of `fds` is ready or `deadline` passes (`None`: no
/// limit); how many are ready (0: the deadline passed).
pub fn poll_until(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up, so the deadline has passed when poll returns 0.
                let left = left + std::time::Duration::from_micros(999);
                Some(Timespec::try_from(left).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 }))
            }
            None => None,
        };
        match poll(fds, timeout.as_ref()) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
