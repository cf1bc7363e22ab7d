//! Small files kept in memory by each event-loop worker, and larger ones
//! kept open, never stale; and directory listings (the entries read, not
//! the page), under the same rule.
//!
//! A hit answers from memory (or, for a file over [`MAX_FILE`], from its
//! descriptor, read by offset) without opening, `fstat`ing, reading or
//! closing the file. Before a hit the worker reads its inotify descriptor
//! (one non-blocking `read`) if any request bytes were read since it last
//! did: any change under a directory the cached files were reached through
//! (a file written, truncated, `chmod`ed, created, deleted, renamed or
//! moved in; a directory renamed or removed) empties the whole cache, so a
//! change that completed before the request was read is always seen. (A
//! change the client waited for came before it sent the request, so
//! before the request was read, so before that look.) The worker reads
//! every ready connection's input before serving any, so that one look
//! covers all of it. Directories are watched *before* a
//! file is read into the cache, so a change racing with the read is seen
//! too. Changes are rare next to requests; emptying everything keeps the
//! rule simple enough to trust.
//!
//! What is not cached (served the usual way, as if there were no cache):
//! files with more than one hard link (a write through another name would
//! reach no watched directory), files reached through a symbolic link as
//! the last step (their own directory may be unwatched), listings with a
//! symbolic link among their entries (whether it leads to a directory can
//! change with no event in the listed one) or reached through one as the
//! last step, listings of more than [`MAX_LISTING_ENTRIES`], anything when
//! inotify is unavailable or its watch limit is reached (`ENOSPC`), and
//! everything outside the event loop's workers (the CGI server's threads).
//! Writes through a shared memory mapping raise no inotify event; a server
//! of files edited that way should not be relied on to see them at once.
//!
//! One cache per worker thread (no lock, no sharing): memory is bounded
//! per worker by [`MAX_BYTES`] and [`MAX_ENTRIES`], least recently used
//! first out.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fs::File;
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use foldhash::fast::RandomState;
use httpserver_core::simple::{ListingEntry, LocalPath};
use httpserver_core::Metadata;
use lru::LruCache;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::io::Errno;

/// Largest file kept in memory.
pub const MAX_FILE: u64 = 64 * 1024;
/// Most bytes of files kept per worker.
pub const MAX_BYTES: usize = 32 << 20;
/// Most files kept per worker.
pub const MAX_ENTRIES: usize = 8192;
/// Most files over [`MAX_FILE`] kept open per worker.
const MAX_OPEN: usize = 64;
/// Most directory listings kept per worker.
const MAX_LISTINGS: usize = 16;
/// Most entries of a listing kept.
const MAX_LISTING_ENTRIES: usize = 10_000;
/// Most directories watched per worker (the kernel's own limit, per user,
/// may be lower: then `ENOSPC`, and what needs more watches is not cached).
const MAX_WATCHES: usize = 4096;

/// Every change that can make a cached name give other bytes; not the
/// reads, opens and closes of readers (ours among them).
fn watched_events() -> WatchFlags {
    WatchFlags::MODIFY
        | WatchFlags::ATTRIB
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::ONLYDIR
}

/// What is kept of a file.
#[derive(Clone)]
pub enum Held {
    /// A small file's bytes.
    Bytes(Arc<[u8]>),
    /// A larger file, open: its bytes are read by offset (`pread`,
    /// `sendfile`), never by its position, so replies may share it.
    Open(Arc<File>),
}

struct Entry {
    held: Held,
    meta: Metadata,
}

impl Entry {
    /// Bytes held in memory, and descriptors held open.
    fn weight(&self) -> (usize, usize) {
        match &self.held {
            Held::Bytes(bytes) => (bytes.len(), 0),
            Held::Open(_) => (0, 1),
        }
    }
}

/// One worker's cache.
struct FileCache {
    /// `None` until the first insert, and after a change (a fresh
    /// descriptor drops every watch at once).
    inotify: Option<OwnedFd>,
    watched: HashSet<PathBuf>,
    entries: LruCache<LocalPath, Entry, RandomState>,
    /// A directory's entries, as read (unsorted).
    listings: LruCache<LocalPath, Arc<Vec<ListingEntry>>, RandomState>,
    bytes: usize,
    open: usize,
    max_watches: usize,
    /// inotify cannot be used here (no descriptor): serve uncached.
    unavailable: bool,
}

thread_local! {
    static CACHE: RefCell<Option<FileCache>> = const { RefCell::new(None) };
    /// Request bytes were read on this thread since the last look at the
    /// inotify descriptor.
    static INPUT_SINCE_LOOK: Cell<bool> = const { Cell::new(true) };
}

/// Request bytes were just read on this thread: the next lookup looks for
/// changes first.
pub fn note_input() {
    INPUT_SINCE_LOOK.with(|flag| flag.set(true));
}

/// Keep small files in memory for this thread's requests (an event-loop
/// worker calls it once).
pub fn enable_for_this_thread() {
    CACHE.with(|c| {
        *c.borrow_mut() = Some(FileCache::new(max_watches()));
    });
}

/// The watch budget: [`MAX_WATCHES`], lower in debug builds when
/// `HTTPSERVER_TEST_CACHE_WATCHES` says so (the tests fill it).
fn max_watches() -> usize {
    if cfg!(debug_assertions) {
        if let Some(n) = std::env::var("HTTPSERVER_TEST_CACHE_WATCHES").ok().and_then(|v| v.parse().ok()) {
            return n;
        }
    }
    MAX_WATCHES
}

/// Whether this thread caches (then a miss is worth reading in full).
pub fn enabled() -> bool {
    CACHE.with(|c| c.borrow().as_ref().is_some_and(|cache| !cache.unavailable))
}

/// What is kept of `path` and its metadata, if nothing changed since.
pub fn lookup(path: &LocalPath) -> Option<(Held, Metadata)> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c.as_mut()?;
        if cache.entries.is_empty() {
            return None;
        }
        cache.look_if_input();
        let entry = cache.entries.get(path)?;
        Some((entry.held.clone(), entry.meta))
    })
}

/// The entries of the directory `path`, if kept and nothing changed since.
pub fn lookup_listing(path: &LocalPath) -> Option<Arc<Vec<ListingEntry>>> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c.as_mut()?;
        if cache.listings.is_empty() {
            return None;
        }
        cache.look_if_input();
        cache.listings.get(path).cloned()
    })
}

/// Keep `entries` as what the directory `path` holds, read after
/// [`watch`] succeeded for the directories of [`directories_to`] it
/// (unless it is a listing not to keep: see the module's notes).
pub fn insert_listing(path: &LocalPath, entries: &[ListingEntry]) {
    if entries.len() > MAX_LISTING_ENTRIES || entries.iter().any(|e| e.is_symlink) {
        return;
    }
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().as_mut() {
            // A change since the watch emptied the cache: keep nothing.
            if cache.inotify.is_some() {
                cache.listings.push(path.clone(), Arc::new(entries.to_vec()));
            }
        }
    })
}

/// Read what inotify queued now (any change empties the cache), so that
/// the files it holds open are let go of without waiting for a request.
pub fn look_for_changes() {
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().as_mut() {
            if !cache.entries.is_empty() || !cache.listings.is_empty() {
                cache.notice_changes();
            }
        }
    })
}

/// Watch the directories `path` is reached through (`dirs`: the root and
/// each directory below it on the way), before its bytes are read; false
/// when they cannot all be watched (then do not cache it).
pub fn watch(dirs: &[PathBuf]) -> bool {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some(cache) => cache.watch(dirs),
            None => false,
        }
    })
}

/// Keep `held` as what `path` holds, read or opened after [`watch`]
/// succeeded.
pub fn insert(path: LocalPath, held: Held, meta: Metadata) {
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().as_mut() {
            cache.insert(path, Entry { held, meta });
        }
    })
}

/// The directories a path below `root` is reached through: the root and
/// each directory under it, in order (the file's own name excluded).
pub fn directories_of(root: &Path, path: &LocalPath) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut dirs = Vec::with_capacity(8);
    let mut dir = root.to_path_buf();
    dirs.push(dir.clone());
    let mut segments = path.segments();
    segments.next_back();
    for segment in segments {
        dir.push(std::ffi::OsStr::from_bytes(segment));
        dirs.push(dir.clone());
    }
    dirs
}

/// [`directories_of`] the directory `path`, and the directory itself
/// (whose entries' comings and goings a listing shows).
pub fn directories_to(root: &Path, path: &LocalPath) -> Vec<PathBuf> {
    let mut dirs = directories_of(root, path);
    if let Some(last) = path.segments().next_back() {
        use std::os::unix::ffi::OsStrExt;
        let mut dir = dirs.last().cloned().unwrap_or_else(|| root.to_path_buf());
        dir.push(std::ffi::OsStr::from_bytes(last));
        dirs.push(dir);
    }
    dirs
}

impl FileCache {
    fn new(max_watches: usize) -> FileCache {
        FileCache {
            inotify: None,
            watched: HashSet::new(),
            entries: LruCache::with_hasher(
                NonZeroUsize::new(MAX_ENTRIES).unwrap_or(NonZeroUsize::MIN),
                RandomState::default(),
            ),
            listings: LruCache::with_hasher(
                NonZeroUsize::new(MAX_LISTINGS).unwrap_or(NonZeroUsize::MIN),
                RandomState::default(),
            ),
            bytes: 0,
            open: 0,
            max_watches,
            unavailable: false,
        }
    }

    /// Before a hit: look for changes if request bytes were read since
    /// the last look.
    fn look_if_input(&mut self) {
        if INPUT_SINCE_LOOK.with(|flag| flag.replace(false)) {
            self.notice_changes();
        }
    }

    /// Read what inotify queued; anything at all (or an error) empties
    /// the cache.
    fn notice_changes(&mut self) {
        let Some(fd) = &self.inotify else { return };
        let mut buf = [0u8; 1024];
        match rustix::io::read(fd, &mut buf) {
            Err(Errno::AGAIN) => {}
            // An event, an overflow, or a descriptor that no longer works.
            _ => self.clear(),
        }
    }

    /// Forget every entry and every watch.
    fn clear(&mut self) {
        self.entries.clear();
        self.listings.clear();
        self.bytes = 0;
        self.open = 0;
        self.watched.clear();
        self.inotify = None;
    }

    fn watch(&mut self, dirs: &[PathBuf]) -> bool {
        if self.unavailable {
            return false;
        }
        // Changes may have come since the last look: start from them.
        self.notice_changes();
        if self.inotify.is_none() {
            match inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK) {
                Ok(fd) => self.inotify = Some(fd),
                Err(_) => {
                    self.unavailable = true;
                    return false;
                }
            }
        }
        let Some(fd) = &self.inotify else { return false };
        for dir in dirs {
            if self.watched.contains(dir) {
                continue;
            }
            if self.watched.len() >= self.max_watches {
                return false;
            }
            // ENOSPC: the kernel's watch limit; anything else (a directory
            // gone meanwhile): not cached either way.
            if inotify::add_watch(fd, dir.as_path(), watched_events()).is_err() {
                return false;
            }
            self.watched.insert(dir.clone());
        }
        true
    }

    fn insert(&mut self, path: LocalPath, entry: Entry) {
        let (bytes, open) = entry.weight();
        if self.inotify.is_none() || bytes as u64 > MAX_FILE {
            return;
        }
        self.bytes += bytes;
        self.open += open;
        if let Some((_, old)) = self.entries.push(path, entry) {
            self.forget(&old);
        }
        while self.bytes > MAX_BYTES || self.open > MAX_OPEN {
            match self.entries.pop_lru() {
                Some((_, old)) => self.forget(&old),
                None => break,
            }
        }
    }

    /// Take what an entry held off the totals.
    fn forget(&mut self, entry: &Entry) {
        let (bytes, open) = entry.weight();
        self.bytes -= bytes;
        self.open -= open;
    }
}
