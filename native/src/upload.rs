//! Upload files: the bytes of an upload go to a file with no name
//! (`O_TMPFILE`) in the target directory, linked into place only when the
//! core commits it whole. A client that stops, a full disk, a cap
//! exceeded, even the server killed, leave nothing behind: an unnamed file
//! vanishes with its descriptor. Where the file system has no `O_TMPFILE`,
//! a hidden temporary name is used and removed on any failure.

use std::collections::hash_map::RandomState;
use std::ffi::OsStr;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};

use httpserver_core::simple::{Committed, UploadFile};
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;

/// Prefix of the temporary names (hidden, and recognisably ours).
const TEMP_PREFIX: &str = ".httpserver-upload-";

/// An upload being written.
pub struct NativeUpload {
    /// The directory it goes to.
    dir: OwnedFd,
    file: File,
    /// The temporary name, when the file system had no `O_TMPFILE`.
    temp_name: Option<String>,
}

impl NativeUpload {
    /// Begin an upload into `dir` (an open directory below the root).
    pub fn begin(dir: OwnedFd) -> io::Result<NativeUpload> {
        let flags = OFlags::WRONLY | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o644);
        match rfs::openat(&dir, ".", flags | OFlags::TMPFILE, mode) {
            Ok(fd) => return Ok(NativeUpload { dir, file: File::from(fd), temp_name: None }),
            // No O_TMPFILE on this file system (or kernel): a named one.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
        for _ in 0..16 {
            let name = temp_name();
            match rfs::openat(&dir, name.as_str(), flags | OFlags::CREATE | OFlags::EXCL, mode) {
                Ok(fd) => return Ok(NativeUpload { dir, file: File::from(fd), temp_name: Some(name) }),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"))
    }

    /// Give the unnamed file the name `to` (fails if it exists).
    fn link_unnamed(&self, to: &OsStr) -> io::Result<()> {
        // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link
        // to the descriptor is what open(2) documents for everyone else.
        match rfs::linkat(&self.file, "", &self.dir, to, AtFlags::EMPTY_PATH) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT | Errno::PERM | Errno::ACCESS) => {
                let fd = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&self.file));
                Ok(rfs::linkat(CWD, fd.as_str(), &self.dir, to, AtFlags::SYMLINK_FOLLOW)?)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl UploadFile for NativeUpload {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    fn commit(mut self: Box<Self>, name: &[u8], replace: bool) -> io::Result<Committed> {
        let name = OsStr::from_bytes(name);
        let existed = rfs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok();
        match self.temp_name.take() {
            Some(temp) => {
                let flags = if replace { RenameFlags::empty() } else { RenameFlags::NOREPLACE };
                let renamed = rfs::renameat_with(&self.dir, temp.as_str(), &self.dir, name, flags);
                if let Err(e) = renamed {
                    // Drop removes it.
                    self.temp_name = Some(temp);
                    return Err(e.into());
                }
            }
            None if !replace => self.link_unnamed(name)?,
            None => {
                // Named under a temporary name, then renamed over the old
                // file in one step: readers see the old or the new, whole.
                let mut linked = None;
                for _ in 0..16 {
                    let temp = temp_name();
                    match self.link_unnamed(OsStr::new(&temp)) {
                        Ok(()) => {
                            linked = Some(temp);
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(e),
                    }
                }
                let temp =
                    linked.ok_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "no free name"))?;
                if let Err(e) = rfs::renameat(&self.dir, temp.as_str(), &self.dir, name) {
                    let _ = rfs::unlinkat(&self.dir, temp.as_str(), AtFlags::empty());
                    return Err(e.into());
                }
            }
        }
        Ok(if existed && replace { Committed::Replaced } else { Committed::Created })
    }
}

impl Drop for NativeUpload {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp_name {
            let _ = rfs::unlinkat(self.dir.as_fd(), temp.as_str(), AtFlags::empty());
        }
    }
}

/// A temporary name no other upload is using.
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{TEMP_PREFIX}{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (std::path::PathBuf, OwnedFd) {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("httpserver-upload-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let fd =
            rfs::open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        (path, fd)
    }

    fn names(path: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn nothing_shows_until_committed_and_nothing_stays_if_dropped() {
        let (path, fd) = dir();
        let mut upload = Box::new(NativeUpload::begin(fd.try_clone().unwrap()).unwrap());
        upload.write(b"hello ").unwrap();
        upload.write(b"world").unwrap();
        assert!(names(&path).is_empty(), "an unnamed file");
        assert_eq!(upload.commit(b"a.txt", false).unwrap(), Committed::Created);
        assert_eq!(std::fs::read(path.join("a.txt")).unwrap(), b"hello world");

        let mut dropped = Box::new(NativeUpload::begin(fd.try_clone().unwrap()).unwrap());
        dropped.write(b"partial").unwrap();
        drop(dropped);
        assert_eq!(names(&path), ["a.txt"]);

        let mut again = Box::new(NativeUpload::begin(fd.try_clone().unwrap()).unwrap());
        again.write(b"other").unwrap();
        let err = again.commit(b"a.txt", false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(path.join("a.txt")).unwrap(), b"hello world", "left untouched");

        let mut replacing = Box::new(NativeUpload::begin(fd).unwrap());
        replacing.write(b"new").unwrap();
        assert_eq!(replacing.commit(b"a.txt", true).unwrap(), Committed::Replaced);
        assert_eq!(std::fs::read(path.join("a.txt")).unwrap(), b"new");
        assert_eq!(names(&path), ["a.txt"], "no temporary name left");
        std::fs::remove_dir_all(path).unwrap();
    }
}
