//! The served directory, as the core's `Files` sees it, confined by the
//! kernel. Every open goes through `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)` from a descriptor of the root, so no path, link
//! or link swapped in while a request runs can lead outside the root: what
//! is served, listed or executed is what the confined open returned.
//! Symbolic links that stay inside are followed, as before. Where the
//! kernel lacks `openat2` (before Linux 5.6, or a seccomp filter), a
//! segment-by-segment `lstat` walk refuses links out of the root instead;
//! that check cannot be atomic, and the start-up line says so.

use std::cell::RefCell;
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use httpserver_core::simple::coding::ContentCoding;
use httpserver_core::simple::{
    sort_for_listing, FileKind, LinkOutsideRoot, ListingEntry, LocalPath, UploadFile,
};
use httpserver_core::{Files, Metadata};
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};

use crate::compress::{Compressor, ENCODINGS};
use crate::file_cache::{self, Held};
use crate::upload::NativeUpload;

/// A file reply's body: the file, read by offset, or (`--compress`) the
/// file compressed as it is read.
pub enum StaticBody {
    File(File),
    Compressed(Box<Compressor>),
    /// A small file's bytes, from the worker's cache (`file_cache`).
    Cached(Arc<[u8]>),
    /// A larger file the worker's cache keeps open (read by offset only).
    Shared(Arc<File>),
}

impl From<Held> for StaticBody {
    fn from(held: Held) -> StaticBody {
        match held {
            Held::Bytes(bytes) => StaticBody::Cached(bytes),
            Held::Open(file) => StaticBody::Shared(file),
        }
    }
}

/// How paths below the root are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// The kernel keeps every lookup below the root (`openat2`).
    Kernel,
    /// Links out of the root are refused by an `lstat` walk (no `openat2`).
    Walk,
    /// `--follow-symlinks`: links are followed wherever they lead.
    None,
}

#[derive(Debug)]
struct Root {
    /// The directory as given (for paths shown and the fallback walk).
    path: PathBuf,
    /// Its real location, links resolved.
    real: PathBuf,
    /// An `O_PATH` descriptor of it, the base of every lookup.
    dir: OwnedFd,
    confinement: Confinement,
}

/// A directory's entries as [`NativeFiles::listing`] has them.
enum Listing {
    /// Kept by the cache, shared with other requests.
    Shared(Arc<[ListingEntry]>),
    /// Read for this request alone.
    Owned(Vec<ListingEntry>),
}

/// Files below the root.
#[derive(Debug, Clone)]
pub struct NativeFiles {
    root: Arc<Root>,
}

/// A CGI script to execute.
#[derive(Debug)]
pub enum ScriptLocation {
    /// The file, opened confined (`O_PATH`): executed as a descriptor.
    Opened(OwnedFd),
    /// Without `openat2`: the file at this path.
    Path(PathBuf),
}

impl NativeFiles {
    pub fn new(root: PathBuf, follow_symlinks: bool) -> io::Result<NativeFiles> {
        let real = fs::canonicalize(&root)?;
        let dir = rfs::open(&root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let confinement = if follow_symlinks {
            Confinement::None
        } else {
            match rfs::openat2(&dir, ".", OFlags::PATH | OFlags::CLOEXEC, Mode::empty(), beneath()) {
                Ok(_) => Confinement::Kernel,
                Err(_) => Confinement::Walk,
            }
        };
        Ok(NativeFiles { root: Arc::new(Root { path: root, real, dir, confinement }) })
    }

    pub fn confinement(&self) -> Confinement {
        self.root.confinement
    }

    /// The root joined with checked name segments only (for display and
    /// the fallback walk).
    pub fn full_path(&self, path: &LocalPath) -> PathBuf {
        let mut p = self.root.path.clone();
        for seg in path.segments() {
            p.push(OsStr::from_bytes(seg));
        }
        p
    }

    /// Open `path` below the root with `flags`, confined.
    fn open_below(&self, path: &LocalPath, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = relative(path)?;
        let flags = flags | OFlags::CLOEXEC;
        let root = &self.root;
        match root.confinement {
            Confinement::None => Ok(rfs::openat(&root.dir, &rel, flags, Mode::empty())?),
            Confinement::Kernel => match rfs::openat2(&root.dir, &rel, flags, Mode::empty(), beneath()) {
                // An absolute link (or one through `..` the kernel cannot
                // judge) may still end inside the root: find where it
                // ends, then open that, confined again.
                Err(rustix::io::Errno::XDEV) => {
                    let inner = self.inside_root(&self.full_path(path))?;
                    Ok(rfs::openat2(&root.dir, &inner, flags, Mode::empty(), beneath())?)
                }
                other => Ok(other?),
            },
            Confinement::Walk => {
                let full = self.walk_confined(path)?;
                Ok(rfs::open(&full, flags, Mode::empty())?)
            }
        }
    }

    /// The entries of the directory `path`: from the cache when kept,
    /// else read now (and kept, sorted once for every request that lists
    /// them, when they may be).
    fn listing(&mut self, path: &LocalPath) -> io::Result<Listing> {
        if let Some(entries) = file_cache::lookup_listing(path) {
            return Ok(Listing::Shared(entries));
        }
        // Watched before it is read, as a file is (see file_cache).
        let watched = if file_cache::enabled() && !self.is_symlink(path) {
            file_cache::watch(&file_cache::directories_to(&self.root.real, path))
        } else {
            None
        };
        let mut entries = self.list_dir(path)?.1;
        match watched {
            Some(watched) => {
                sort_for_listing(&mut entries);
                let entries: Arc<[ListingEntry]> = entries.into();
                file_cache::insert_listing(watched, path, &entries);
                Ok(Listing::Shared(entries))
            }
            None => Ok(Listing::Owned(entries)),
        }
    }

    /// Whether `path` names a symbolic link itself (the directories on
    /// the way followed).
    fn is_symlink(&self, path: &LocalPath) -> bool {
        relative(path)
            .and_then(|rel| Ok(rfs::statat(&self.root.dir, rel, AtFlags::SYMLINK_NOFOLLOW)?))
            .map_or(true, |st| rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Symlink)
    }

    /// `path`'s real location relative to the real root, or `NotFound`
    /// when it is outside.
    fn inside_root(&self, path: &Path) -> io::Result<PathBuf> {
        let real = fs::canonicalize(path)?;
        match real.strip_prefix(&self.root.real) {
            Ok(rest) if rest.as_os_str().is_empty() => Ok(PathBuf::from(".")),
            Ok(rest) => Ok(rest.to_path_buf()),
            Err(_) => Err(outside()),
        }
    }

    /// Without `openat2`: `lstat` each segment; a path holding a link is
    /// resolved in full and must stay inside the root.
    fn walk_confined(&self, path: &LocalPath) -> io::Result<PathBuf> {
        let full = self.full_path(path);
        let mut p = self.root.path.clone();
        for seg in path.segments() {
            p.push(OsStr::from_bytes(seg));
            if fs::symlink_metadata(&p)?.file_type().is_symlink() {
                self.inside_root(&full)?;
                break;
            }
        }
        Ok(full)
    }

    /// The script at `path`, to execute: the file itself, opened confined
    /// (links inside the root followed) and checked on that descriptor, so
    /// that what runs is exactly what was checked, whatever is renamed or
    /// linked meanwhile. Without `openat2`, its path.
    pub fn script_location(&self, path: &LocalPath) -> io::Result<ScriptLocation> {
        if self.root.confinement != Confinement::Kernel {
            return Ok(ScriptLocation::Path(match self.root.confinement {
                Confinement::Walk => self.walk_confined(path)?,
                _ => self.full_path(path),
            }));
        }
        let fd = self.open_below(path, OFlags::PATH)?;
        let meta = to_metadata(&rfs::fstat(&fd)?);
        if meta.kind != FileKind::File || !meta.executable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "not an executable file"));
        }
        Ok(ScriptLocation::Opened(fd))
    }
}

fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS
}

fn outside() -> io::Error {
    LinkOutsideRoot::error()
}

/// The path's segments joined with `/` (`.` for the root). They are plain
/// names (`translate_path` removed `.`, `..` and empty ones); a NUL byte
/// in one fails here, as it does in CPython.
fn relative(path: &LocalPath) -> io::Result<CString> {
    if path.is_root() {
        return Ok(CString::new(".")?);
    }
    Ok(CString::new(path.as_bytes())?)
}

/// The file's `len` bytes, or `None` if it does not hold exactly that many
/// now (it changed since `fstat`: then it is served the usual way).
fn read_exactly(fd: &OwnedFd, len: u64) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; len as usize + 1];
    let mut got = 0;
    while got < bytes.len() {
        match rustix::io::pread(fd, &mut bytes[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    if got as u64 != len {
        return None;
    }
    bytes.truncate(got);
    Some(bytes)
}

fn to_metadata(st: &rfs::Stat) -> Metadata {
    let kind = match rfs::FileType::from_raw_mode(st.st_mode) {
        rfs::FileType::RegularFile => FileKind::File,
        rfs::FileType::Directory => FileKind::Directory,
        _ => FileKind::Other,
    };
    let secs = st.st_mtime;
    let nanos = Duration::from_nanos(st.st_mtime_nsec);
    let modified = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nanos
    };
    Metadata::new(kind, st.st_size.max(0) as u64, modified)
        .with_executable(st.st_mode & 0o111 != 0)
        .with_identity(st.st_dev, st.st_ino)
}

impl Files for NativeFiles {
    type File = StaticBody;

    /// `stat`, with nothing outside the root ever reported and nothing
    /// opened for reading (a FIFO or a device stays untouched). One
    /// `fstatat` answers for a regular file (which `open` then confirms on
    /// the descriptor it serves from: outside the root it is 404 there,
    /// as a missing file is) and for a missing one; anything else is
    /// looked at through a confined `O_PATH` open, so that a directory
    /// outside the root is never reported as one.
    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata> {
        fault_injection(path);
        if self.root.confinement == Confinement::Kernel {
            match rfs::statat(&self.root.dir, relative(path)?, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::RegularFile => {
                    return Ok(to_metadata(&st))
                }
                // Not even an unconfined lookup finds it: neither can a confined one.
                Err(e @ (rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR)) => return Err(e.into()),
                _ => {}
            }
        }
        let fd = self.open_below(path, OFlags::PATH)?;
        Ok(to_metadata(&rfs::fstat(&fd)?))
    }

    fn read_dir(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        Ok(match self.listing(path)? {
            Listing::Shared(entries) => entries.to_vec(),
            Listing::Owned(entries) => entries,
        })
    }

    fn read_dir_shared(&mut self, path: &LocalPath) -> io::Result<Arc<[ListingEntry]>> {
        Ok(match self.listing(path)? {
            Listing::Shared(entries) => entries,
            Listing::Owned(entries) => entries.into(),
        })
    }

    /// Each entry's size and time follow links that stay below the root;
    /// an entry that cannot be looked at (gone since it was listed, a
    /// dangling link, a link out of the root) is listed without them
    /// rather than failing the listing.
    fn read_dir_detailed(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        let (fd, entries) = self.list_dir(path)?;
        Ok(entries
            .into_iter()
            .map(|e| match self.entry_stat(path, &fd, &e) {
                Ok(st) => {
                    let meta = to_metadata(&st);
                    e.with_details(meta.len, meta.modified)
                }
                Err(_) => e,
            })
            .collect())
    }

    fn open(&mut self, path: &LocalPath) -> io::Result<(StaticBody, Metadata)> {
        if let Some((held, meta)) = file_cache::lookup(path) {
            return Ok((held.into(), meta));
        }
        // The directories on the way are watched before the file is opened
        // and read: a change from then on retires what the cache holds.
        let watched = if file_cache::enabled() {
            file_cache::watch(&file_cache::directories_of(&self.root.real, path))
        } else {
            None
        };
        // O_NONBLOCK: should a FIFO appear since `metadata`, opening it
        // must not hang the connection; fstat below then refuses it.
        let fd = self.open_below(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)?;
        let st = rfs::fstat(&fd)?;
        let meta = to_metadata(&st);
        if meta.kind != FileKind::File {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        // One name only: a write through another link would show in no
        // watched directory; and not reached through a symbolic link as
        // its last step: the file's own directory may be watched by no one
        // (links on the way to it are directories, whose watches follow).
        if let Some(watched) = watched.filter(|_| st.st_nlink == 1 && !self.is_symlink(path)) {
            if meta.len > file_cache::MAX_FILE {
                let file = Arc::new(File::from(fd));
                file_cache::insert(watched, path.clone(), Held::Open(Arc::clone(&file)), meta);
                return Ok((StaticBody::Shared(file), meta));
            }
            if let Some(bytes) = read_exactly(&fd, meta.len) {
                let bytes: Arc<[u8]> = bytes.into();
                file_cache::insert(watched, path.clone(), Held::Bytes(Arc::clone(&bytes)), meta);
                return Ok((StaticBody::Cached(bytes), meta));
            }
        }
        Ok((StaticBody::File(File::from(fd)), meta))
    }

    fn encodings(&self) -> &[ContentCoding] {
        ENCODINGS
    }

    /// The directory is opened confined, like every lookup: an upload
    /// through a link out of the root is refused here.
    fn begin_upload(&mut self, dir: &LocalPath) -> io::Result<Box<dyn UploadFile>> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY;
        let dir = match self.root.confinement {
            // `--follow-symlinks` is for reading: an upload is confined
            // all the same (where the kernel has openat2; else the walk).
            Confinement::None => {
                let rel = relative(dir)?;
                match rfs::openat2(&self.root.dir, &rel, flags | OFlags::CLOEXEC, Mode::empty(), beneath()) {
                    Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
                        rfs::open(&self.walk_confined(dir)?, flags | OFlags::CLOEXEC, Mode::empty())?
                    }
                    Err(rustix::io::Errno::XDEV) => return Err(outside()),
                    other => other?,
                }
            }
            _ => self.open_below(dir, flags)?,
        };
        Ok(Box::new(NativeUpload::begin(dir)?))
    }

    fn encode(&mut self, body: StaticBody, coding: ContentCoding) -> Result<StaticBody, StaticBody> {
        match body {
            StaticBody::File(file) => Compressor::new(file, coding)
                .map(|c| StaticBody::Compressed(Box::new(c)))
                .map_err(StaticBody::File),
            compressed => Err(compressed),
        }
    }
}

/// Bytes of directory entries one `getdents` call may return.
const DIRENTS_BUFFER: usize = 256 * 1024;

/// Listing, shared by `read_dir` and `read_dir_detailed`.
impl NativeFiles {
    /// The entries of the directory `path` (opened confined), with the
    /// directory's descriptor for looking at them further.
    fn list_dir(&self, path: &LocalPath) -> io::Result<(OwnedFd, Vec<ListingEntry>)> {
        let fd = self.open_below(path, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut entries = Vec::new();
        // getdents into one buffer per thread, kept: no allocation per
        // entry beyond the entry's own name, and big enough that a large
        // directory comes in a call or two (each call costs ext4 a walk of
        // its hash tree).
        thread_local! {
            static DIRENTS: RefCell<Vec<MaybeUninit<u8>>> = const { RefCell::new(Vec::new()) };
        }
        DIRENTS.with(|buf| {
            let mut buf = buf.borrow_mut();
            if buf.is_empty() {
                buf.resize(DIRENTS_BUFFER, MaybeUninit::uninit());
            }
            let mut dir = rfs::RawDir::new(&fd, &mut buf[..]);
            Self::read_entries(&fd, &mut dir, &mut entries)
        })?;
        Ok((fd, entries))
    }

    fn read_entries(
        fd: &OwnedFd,
        dir: &mut rfs::RawDir<'_, &OwnedFd>,
        entries: &mut Vec<ListingEntry>,
    ) -> io::Result<()> {
        while let Some(entry) = dir.next() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let (is_dir, is_symlink) = match entry.file_type() {
                rfs::FileType::Directory => (true, false),
                rfs::FileType::Symlink => (follows_to_dir(fd, name), true),
                rfs::FileType::Unknown => {
                    let st = rfs::statat(fd, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)?;
                    match rfs::FileType::from_raw_mode(st.st_mode) {
                        rfs::FileType::Directory => (true, false),
                        rfs::FileType::Symlink => (follows_to_dir(fd, name), true),
                        _ => (false, false),
                    }
                }
                _ => (false, false),
            };
            entries.push(ListingEntry::new(name.to_vec(), is_dir, is_symlink));
        }
        Ok(())
    }

    /// The status of `entry` of the directory `dir` (open as `fd`). A link
    /// is followed only as far as a confined open allows (anywhere with
    /// `--follow-symlinks`): the size and time of a file outside the root
    /// are not for the listing to tell. Anything else is not followed, so
    /// that a link swapped in since the entry was read says nothing either.
    fn entry_stat(&self, dir: &LocalPath, fd: &OwnedFd, entry: &ListingEntry) -> io::Result<rfs::Stat> {
        let name = OsStr::from_bytes(&entry.name);
        if !entry.is_symlink {
            return Ok(rfs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)?);
        }
        let mut full = self.full_path(dir);
        full.push(name);
        match self.root.confinement {
            Confinement::None => Ok(rfs::statat(fd, name, AtFlags::empty())?),
            // No `openat2`: where the link ends is checked, then looked at
            // (not atomic, as every lookup in this mode).
            Confinement::Walk => {
                self.inside_root(&full)?;
                Ok(rfs::statat(fd, name, AtFlags::empty())?)
            }
            // As `open_below` does for a path: confined, and an absolute
            // link that ends inside the root opened where it ends.
            Confinement::Kernel => {
                let mut rel = dir.as_bytes().to_vec();
                if !rel.is_empty() {
                    rel.push(b'/');
                }
                rel.extend_from_slice(&entry.name);
                let flags = OFlags::PATH | OFlags::CLOEXEC;
                let root = &self.root.dir;
                let opened = match rfs::openat2(root, CString::new(rel)?, flags, Mode::empty(), beneath()) {
                    Err(rustix::io::Errno::XDEV) => {
                        rfs::openat2(root, self.inside_root(&full)?, flags, Mode::empty(), beneath())?
                    }
                    other => other?,
                };
                Ok(rfs::fstat(&opened)?)
            }
        }
    }
}

/// Debug builds only: panic while serving the path named by
/// `HTTPSERVER_TEST_PANIC_PATH`, so the tests can check that a panic in
/// one connection is caught and the server goes on. Compiled out of
/// release builds.
fn fault_injection(path: &LocalPath) {
    if cfg!(debug_assertions) {
        if let Ok(target) = std::env::var("HTTPSERVER_TEST_PANIC_PATH") {
            if path.display_under("") == target {
                panic!("injected fault for {target}");
            }
        }
    }
}

/// Whether the link `name` in `dir` leads to a directory (`os.path.isdir`:
/// the listing shows it with `/`).
fn follows_to_dir(dir: &impl AsFd, name: &[u8]) -> bool {
    rfs::statat(dir, OsStr::from_bytes(name), AtFlags::empty())
        .is_ok_and(|st| rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use httpserver_core::simple::translate_path;

    fn tree() -> (PathBuf, PathBuf) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let base = std::env::temp_dir().join(format!("httpserver-fs-{}-{n}", std::process::id()));
        let (root, outside) = (base.join("root"), base.join("outside"));
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("a.txt"), b"hello").unwrap();
        fs::write(outside.join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink("../outside/secret.txt", root.join("rel-out.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("abs-in.txt")).unwrap();
        std::os::unix::fs::symlink("../a.txt", root.join("sub/up.txt")).unwrap();
        (root, base)
    }

    #[test]
    fn links_inside_are_followed_links_outside_are_not() {
        let (root, base) = tree();
        let mut files = NativeFiles::new(root, false).unwrap();
        assert_eq!(files.confinement(), Confinement::Kernel, "this kernel has openat2");
        for inside in ["/a.txt", "/abs-in.txt", "/sub/up.txt"] {
            let (_, meta) = files.open(&translate_path(inside)).unwrap_or_else(|e| panic!("{inside}: {e}"));
            assert_eq!(meta.len, 5, "{inside}");
        }
        for escaping in ["/out/secret.txt", "/rel-out.txt"] {
            assert!(files.open(&translate_path(escaping)).is_err(), "{escaping}");
        }
        // A link out is never reported as what it leads to; a regular file
        // reached through an outside directory may be (one fstatat), and
        // `open` then refuses it, with the 404 of a missing file.
        assert!(files.metadata(&translate_path("/rel-out.txt")).is_err());
        assert!(files.metadata(&translate_path("/out/")).is_err(), "an outside directory is not reported");
        let names: Vec<Vec<u8>> =
            files.read_dir(&translate_path("/")).unwrap().into_iter().map(|e| e.name).collect();
        assert!(names.contains(&b"out".to_vec()) && names.contains(&b"sub".to_vec()));
        assert!(files.read_dir(&translate_path("/out/")).is_err());
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn follow_symlinks_reaches_outside() {
        let (root, base) = tree();
        let mut files = NativeFiles::new(root, true).unwrap();
        let (_, meta) = files.open(&translate_path("/out/secret.txt")).unwrap();
        assert_eq!(meta.len, 6);
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn read_dir_detailed_follows_links_inside_only() {
        let (root, base) = tree();
        std::os::unix::fs::symlink("nowhere.txt", root.join("dangling")).unwrap();
        let modified = fs::metadata(root.join("a.txt")).unwrap().modified().unwrap();
        let detailed = |follow: bool, dir: &str| {
            let mut files = NativeFiles::new(root.clone(), follow).unwrap();
            let entries = files.read_dir_detailed(&translate_path(dir)).unwrap();
            let plain = files.read_dir(&translate_path(dir)).unwrap();
            assert_eq!(entries.len(), plain.len(), "the same entries as read_dir");
            entries
                .into_iter()
                .map(|e| (String::from_utf8(e.name).unwrap(), (e.len, e.modified)))
                .collect::<std::collections::HashMap<_, _>>()
        };

        let confined = detailed(false, "/");
        assert_eq!(confined["a.txt"], (Some(5), Some(modified)));
        // An absolute link and a `..` link, both ending inside: followed.
        assert_eq!(confined["abs-in.txt"], (Some(5), Some(modified)));
        assert_eq!(detailed(false, "/sub/")["up.txt"], (Some(5), Some(modified)));
        assert!(confined["sub"].1.is_some(), "a directory has a time");
        // Links out of the root and dangling ones: listed, nothing told.
        for silent in ["rel-out.txt", "out", "dangling"] {
            assert_eq!(confined[silent], (None, None), "{silent}");
        }

        let followed = detailed(true, "/");
        assert_eq!(followed["rel-out.txt"].0, Some(6), "--follow-symlinks follows out");
        assert_eq!(followed["dangling"], (None, None));
        fs::remove_dir_all(base).unwrap();
    }
}
