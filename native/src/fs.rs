//! The served directory, as the core's `Files` sees it.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use httpserver_core::{FileKind, Files, ListingEntry, LocalPath, Metadata};

/// Files below `root`. Unless `follow_symlinks`, a path whose real
/// location is outside the root (through a symbolic link) is not found.
#[derive(Debug, Clone)]
pub struct NativeFiles {
    root: PathBuf,
    real_root: PathBuf,
    follow_symlinks: bool,
}

impl NativeFiles {
    pub fn new(root: PathBuf, follow_symlinks: bool) -> io::Result<NativeFiles> {
        let real_root = fs::canonicalize(&root)?;
        Ok(NativeFiles { root, real_root, follow_symlinks })
    }

    /// The local path: the root joined with checked name segments only.
    pub fn full_path(&self, path: &LocalPath) -> PathBuf {
        let mut p = self.root.clone();
        for seg in path.segments() {
            p.push(OsStr::from_bytes(seg));
        }
        p
    }

    /// The path, or `NotFound` if it leaves the root through a link.
    fn confined(&self, path: &LocalPath) -> io::Result<PathBuf> {
        let full = self.full_path(path);
        if !self.follow_symlinks && !path.segments().is_empty() {
            let real = fs::canonicalize(&full)?;
            if !real.starts_with(&self.real_root) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "symbolic link leaves the served directory",
                ));
            }
        }
        Ok(full)
    }
}

fn kind_of(ft: fs::FileType) -> FileKind {
    if ft.is_file() {
        FileKind::File
    } else if ft.is_dir() {
        FileKind::Directory
    } else {
        FileKind::Other
    }
}

fn to_metadata(m: &fs::Metadata) -> Metadata {
    Metadata {
        kind: kind_of(m.file_type()),
        len: m.len(),
        modified: m.modified().unwrap_or(std::time::UNIX_EPOCH),
    }
}

impl Files for NativeFiles {
    type File = File;

    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata> {
        let full = self.confined(path)?;
        Ok(to_metadata(&fs::metadata(full)?))
    }

    fn read_dir(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        let full = self.confined(path)?;
        let mut entries = Vec::new();
        for entry in fs::read_dir(&full)? {
            let entry = entry?;
            let ft = entry.file_type()?;
            let is_symlink = ft.is_symlink();
            let is_dir = if is_symlink { is_dir(&entry.path()) } else { ft.is_dir() };
            entries.push(ListingEntry { name: entry.file_name().as_bytes().to_vec(), is_dir, is_symlink });
        }
        Ok(entries)
    }

    fn open(&mut self, path: &LocalPath) -> io::Result<(File, Metadata)> {
        let full = self.confined(path)?;
        // O_NONBLOCK: should a FIFO appear between stat and open, opening it
        // must not hang the connection; fstat below then refuses it.
        let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(full)?;
        let meta = to_metadata(&file.metadata()?);
        if meta.kind != FileKind::File {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        Ok((file, meta))
    }
}

fn is_dir(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}
