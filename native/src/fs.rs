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
    /// The path `metadata` last found confined, so that `open` of the same
    /// path (the next call, in `send_head`) need not walk it again.
    checked: Option<LocalPath>,
}

impl NativeFiles {
    pub fn new(root: PathBuf, follow_symlinks: bool) -> io::Result<NativeFiles> {
        let real_root = fs::canonicalize(&root)?;
        Ok(NativeFiles { root, real_root, follow_symlinks, checked: None })
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
    /// Segments are plain names (never `..`), so only a symbolic link can
    /// lead out: each segment is `lstat`ed, and only a path that holds a
    /// link pays for resolving it in full. Returns the final `lstat` when
    /// it already is the answer `stat` would give (no link at the end).
    fn confined(&self, path: &LocalPath) -> io::Result<(PathBuf, Option<fs::Metadata>)> {
        let full = self.full_path(path);
        if self.follow_symlinks || path.segments().is_empty() {
            return Ok((full, None));
        }
        let mut p = self.root.clone();
        let mut last = None;
        for seg in path.segments() {
            p.push(OsStr::from_bytes(seg));
            let m = fs::symlink_metadata(&p)?;
            if m.file_type().is_symlink() {
                let real = fs::canonicalize(&full)?;
                if !real.starts_with(&self.real_root) {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "symbolic link leaves the served directory",
                    ));
                }
                return Ok((full, None));
            }
            last = Some(m);
        }
        Ok((full, last))
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
        self.checked = None;
        let meta = match self.confined(path)? {
            (_, Some(lstat)) => to_metadata(&lstat),
            (full, None) => to_metadata(&fs::metadata(full)?),
        };
        self.checked = Some(path.clone());
        Ok(meta)
    }

    fn read_dir(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        let (full, _) = self.confined(path)?;
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
        let full = match self.checked.take() {
            Some(p) if p == *path => self.full_path(path),
            _ => self.confined(path)?.0,
        };
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
