//! What the host handed over: a listening socket (fd 3 under wasmtime's
//! `-S tcplisten`) and preopened directories.

use std::net::TcpListener;
use std::os::wasi::io::FromRawFd;

extern "C" {
    /// wasi-libc: make a preopened directory visible to path lookups.
    fn __wasilibc_register_preopened_fd(fd: u32, prefix: *const std::os::raw::c_char) -> i32;
}

/// The listening socket at fd 3, if the host preopened one (the event
/// loop makes it non-blocking: `socket.rs`).
pub fn listening_socket() -> Option<TcpListener> {
    // SAFETY: fd_fdstat_get only reads the fd's status.
    let stat = unsafe { wasi::fd_fdstat_get(3) }.ok()?;
    if stat.fs_filetype != wasi::FILETYPE_SOCKET_STREAM {
        return None;
    }
    // SAFETY: fd 3 is a listening socket owned by this process from now on.
    Some(unsafe { TcpListener::from_raw_fd(3) })
}

/// wasi-libc stops scanning preopens at the first fd that is not a
/// directory (the socket at fd 3), so directories after it are invisible
/// to std::fs: find them and register them by hand.
pub fn register_directories() {
    // fd 3 is either the first directory (found by wasi-libc) or the socket.
    for fd in 4..64u32 {
        // SAFETY: fd_prestat_get only reads.
        let prestat = match unsafe { wasi::fd_prestat_get(fd) } {
            Ok(p) => p,
            Err(wasi::ERRNO_BADF) => break,
            Err(_) => continue,
        };
        if prestat.tag != wasi::PREOPENTYPE_DIR.raw() {
            continue;
        }
        // SAFETY: reading the union variant the tag names.
        let len = unsafe { prestat.u.dir.pr_name_len };
        let mut name = vec![0u8; len + 1];
        // SAFETY: `name` has room for `len` bytes.
        if unsafe { wasi::fd_prestat_dir_name(fd, name.as_mut_ptr(), len) }.is_err() {
            continue;
        }
        name.truncate(len);
        while name.last() == Some(&0) {
            name.pop();
        }
        name.push(0);
        // SAFETY: a NUL-terminated prefix for a directory fd we were given.
        unsafe { __wasilibc_register_preopened_fd(fd, name.as_ptr().cast()) };
    }
}
