//! The preopened directory as the core's `Files`. The preopen itself
//! confines every path (the runtime refuses to leave it), so no link check
//! is needed here.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::wasi::ffi::OsStrExt;
use std::os::wasi::io::AsRawFd;
use std::path::PathBuf;

use httpserver_core::simple::{FileKind, ListingEntry, LocalPath};
use httpserver_core::{Files, Metadata};

#[derive(Debug, Clone)]
pub struct WasiFiles {
    root: PathBuf,
}

impl WasiFiles {
    pub fn new(root: &str) -> io::Result<WasiFiles> {
        let root = PathBuf::from(root);
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::Other, "not a directory"));
        }
        Ok(WasiFiles { root })
    }

    fn full(&self, path: &LocalPath) -> PathBuf {
        let mut p = self.root.clone();
        for seg in path.segments() {
            p.push(OsStr::from_bytes(seg));
        }
        p
    }
}

fn to_metadata(m: &fs::Metadata) -> Metadata {
    let ft = m.file_type();
    let kind = if ft.is_file() {
        FileKind::File
    } else if ft.is_dir() {
        FileKind::Directory
    } else {
        FileKind::Other
    };
    Metadata::new(kind, m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH))
}

/// The open file's device and inode (std keeps `MetadataExt` unstable on
/// WASI at 1.63): part of its entity tag, as natively.
fn identity(file: &File) -> Option<(u64, u64)> {
    // SAFETY: `fd_filestat_get` only reads the descriptor's attributes;
    // the descriptor is open for as long as `file` is borrowed.
    let stat = unsafe { wasi::fd_filestat_get(file.as_raw_fd() as wasi::Fd) }.ok()?;
    Some((stat.dev, stat.ino))
}

impl Files for WasiFiles {
    type File = File;

    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata> {
        Ok(to_metadata(&fs::metadata(self.full(path))?))
    }

    fn read_dir(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.full(path))? {
            let entry = entry?;
            let ft = entry.file_type()?;
            let is_symlink = ft.is_symlink();
            let is_dir = if is_symlink {
                fs::metadata(entry.path()).map(|m| m.is_dir()).unwrap_or(false)
            } else {
                ft.is_dir()
            };
            out.push(ListingEntry::new(entry.file_name().as_bytes().to_vec(), is_dir, is_symlink));
        }
        Ok(out)
    }

    fn open(&mut self, path: &LocalPath) -> io::Result<(File, Metadata)> {
        let full = self.full(path);
        // Only regular files: checked before opening (a FIFO would block).
        if to_metadata(&fs::metadata(&full)?).kind != FileKind::File {
            return Err(io::Error::new(io::ErrorKind::Other, "not a regular file"));
        }
        let file = File::open(full)?;
        let mut meta = to_metadata(&file.metadata()?);
        if let Some((dev, ino)) = identity(&file) {
            meta = meta.with_identity(dev, ino);
        }
        if meta.kind != FileKind::File {
            return Err(io::Error::new(io::ErrorKind::Other, "not a regular file"));
        }
        Ok((file, meta))
    }
}
