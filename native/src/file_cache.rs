//! Small files kept in memory, and larger ones kept open, never stale;
//! and directory listings (the entries read, not the page), under the same
//! rule. One cache, shared by every event-loop worker, with no lock on the
//! hit path.
//!
//! A hit answers from memory (or, for a file over [`MAX_FILE`], from its
//! descriptor, read by offset) without opening, `fstat`ing, reading or
//! closing the file.
//!
//! What is kept belongs to an *epoch*: one inotify descriptor, watching
//! every directory the epoch's files and listings were reached through,
//! and what was read while those watches stood. Directories are watched
//! *before* a file is read into the epoch, so a change racing with the
//! read is seen too. Before a hit, a worker asks the current epoch's
//! descriptor how many event bytes are queued (`FIONREAD`, which consumes
//! nothing), unless it already asked that same epoch with no request
//! bytes read on its thread since: any queued event (a file written, truncated, `chmod`ed, created,
//! deleted, renamed or moved in; a directory renamed or removed) retires
//! the epoch, and a fresh, empty one takes its place. So a change that
//! completed before the request was read is always seen. (A change the
//! client waited for came before it sent the request, so before the
//! request was read, so before that look.) Because the look consumes
//! nothing, no worker can take an event away from another one still
//! looking: every worker that looks at an epoch after an event sees it.
//! The worker reads every ready connection's input before serving any, so
//! that one look covers all of it. Changes are rare next to requests;
//! retiring everything keeps the rule simple enough to trust.
//!
//! The hit path takes no lock: the current epoch is an `ArcSwap` load, its
//! maps are lock-free (`papaya`), and "recently used" is one atomic flag
//! per entry. A miss (which reads the disk anyway) takes the epoch's
//! bookkeeping mutex to watch and to insert: the watched directories, the
//! totals, and the eviction order (second chance: an entry used since the
//! hand last passed it is kept for one more round). The worker that
//! retires an epoch may be the one to free it, on that request.
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
//! Memory is bounded for the whole process by [`MAX_BYTES`],
//! [`MAX_ENTRIES`] and the open-file and listing caps; what an eviction
//! removes is freed (or closed) once no hit in progress still reads it.

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use foldhash::fast::RandomState;
use httpserver_core::simple::{ListingEntry, LocalPath};
use httpserver_core::Metadata;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// Largest file kept in memory.
pub const MAX_FILE: u64 = 64 * 1024;
/// Most bytes of files kept.
pub const MAX_BYTES: usize = 64 << 20;
/// Most files kept.
pub const MAX_ENTRIES: usize = 16_384;
/// Most files over [`MAX_FILE`] kept open.
const MAX_OPEN: usize = 128;
/// Most directory listings kept.
const MAX_LISTINGS: usize = 32;
/// Most entries of a listing kept.
const MAX_LISTING_ENTRIES: usize = 10_000;
/// Most directories watched (the kernel's own limit, per user, may be
/// lower: then `ENOSPC`, and what needs more watches is not cached).
const MAX_WATCHES: usize = 8192;

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

impl Held {
    fn weight(&self) -> Weight {
        match self {
            Held::Bytes(bytes) => Weight { bytes: bytes.len(), open: 0 },
            Held::Open(_) => Weight { bytes: 0, open: 1 },
        }
    }
}

/// One kept value and whether a hit used it since the eviction hand last
/// passed it.
struct Kept<T> {
    value: T,
    used: AtomicBool,
}

impl<T> Kept<T> {
    fn new(value: T) -> Kept<T> {
        Kept { value, used: AtomicBool::new(false) }
    }

    /// The value, marked used (a store only when the flag changes, so a
    /// hot entry's cache line stays shared between workers).
    fn use_it(&self) -> &T {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
        &self.value
    }
}

type Map<T> = papaya::HashMap<LocalPath, Kept<T>, RandomState>;

/// What was kept while one set of watches stood: retired, never emptied
/// in place, when any of them reports a change.
struct Epoch {
    /// Which epoch this is (never reused, unlike an address).
    id: u64,
    /// `None` when inotify could not be had: nothing is kept, and the
    /// next miss tries again with a fresh epoch.
    inotify: Option<OwnedFd>,
    files: Map<(Held, Metadata)>,
    /// A directory's entries, as read (unsorted).
    listings: Map<Arc<[ListingEntry]>>,
    /// Whether anything was ever kept (so that a lookup in an empty epoch
    /// skips the look).
    holding: AtomicBool,
    books: Mutex<Books>,
}

/// An epoch's bookkeeping, changed by watches and inserts (after misses).
#[derive(Default)]
struct Books {
    watched: HashSet<PathBuf>,
    /// Files in the eviction hand's order.
    files: VecDeque<LocalPath>,
    listings: VecDeque<LocalPath>,
    /// What the kept files weigh.
    weight: Weight,
}

/// Bytes held in memory, and descriptors held open.
#[derive(Clone, Copy, Default)]
struct Weight {
    bytes: usize,
    open: usize,
}

/// The process's cache: the current epoch.
struct Cache {
    current: ArcSwap<Epoch>,
    max_watches: usize,
}

/// The directories of one insert watched in one epoch: what is read
/// after them goes into that epoch (if it was retired since, into one no
/// lookup loads again).
pub struct Watched(Arc<Epoch>);

static CACHE: OnceLock<Cache> = OnceLock::new();

/// The next epoch's id (0 is "none").
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread serves from the cache (an event-loop worker).
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    /// The epoch this thread last looked at with no request bytes read
    /// since (0: look before the next hit, whatever the epoch).
    static LOOKED_AT: Cell<u64> = const { Cell::new(0) };
}

/// Request bytes were just read on this thread: the next lookup looks for
/// changes first.
pub fn note_input() {
    LOOKED_AT.with(|looked| looked.set(0));
}

/// Serve this thread's requests from the shared cache (an event-loop
/// worker calls it once).
pub fn enable_for_this_thread() {
    CACHE.get_or_init(|| Cache { current: ArcSwap::from_pointee(Epoch::new()), max_watches: max_watches() });
    ENABLED.with(|e| e.set(true));
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

/// The cache, on a thread that serves from it.
fn cache() -> Option<&'static Cache> {
    if ENABLED.with(Cell::get) {
        CACHE.get()
    } else {
        None
    }
}

/// Whether this thread caches (then a miss is worth reading in full).
pub fn enabled() -> bool {
    cache().is_some()
}

/// What is kept of `path` and its metadata, if nothing changed since.
pub fn lookup(path: &LocalPath) -> Option<(Held, Metadata)> {
    let cache = cache()?;
    let epoch = cache.current.load();
    if !epoch.holding.load(Ordering::Relaxed) || !cache.look_if_input(&epoch) {
        return None;
    }
    let files = epoch.files.pin();
    let (held, meta) = files.get(path)?.use_it();
    Some((held.clone(), *meta))
}

/// The entries of the directory `path`, if kept and nothing changed since.
pub fn lookup_listing(path: &LocalPath) -> Option<Arc<[ListingEntry]>> {
    let cache = cache()?;
    let epoch = cache.current.load();
    if !epoch.holding.load(Ordering::Relaxed) || !cache.look_if_input(&epoch) {
        return None;
    }
    let listings = epoch.listings.pin();
    listings.get(path).map(|kept| Arc::clone(kept.use_it()))
}

/// Ask inotify now whether anything changed (a change retires the epoch),
/// so that the files it holds open are let go of without waiting for a
/// request.
pub fn look_for_changes() {
    if let Some(cache) = cache() {
        let epoch = cache.current.load();
        if epoch.holding.load(Ordering::Relaxed) {
            cache.look(&epoch);
        }
    }
}

/// Watch the directories `path` is reached through (`dirs`: the root and
/// each directory below it on the way), before its bytes are read; `None`
/// when they cannot all be watched (then do not cache it).
pub fn watch(dirs: &[PathBuf]) -> Option<Watched> {
    let cache = cache()?;
    let mut epoch = cache.current.load_full();
    // Changes may have come since the last look: start from them (in a
    // fresh epoch, if they retired this one or it has no descriptor).
    if !cache.look(&epoch) {
        epoch = cache.current.load_full();
    }
    let fd = epoch.inotify.as_ref()?;
    let mut books = epoch.books.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for dir in dirs {
        if books.watched.contains(dir) {
            continue;
        }
        if books.watched.len() >= cache.max_watches {
            return None;
        }
        // ENOSPC: the kernel's watch limit; anything else (a directory
        // gone meanwhile): not cached either way.
        inotify::add_watch(fd, dir.as_path(), watched_events()).ok()?;
        books.watched.insert(dir.clone());
    }
    drop(books);
    Some(Watched(epoch))
}

/// Keep `held` as what `path` holds, read or opened after `watched`.
pub fn insert(watched: Watched, path: LocalPath, held: Held, meta: Metadata) {
    let weight = held.weight();
    if weight.bytes as u64 > MAX_FILE {
        return;
    }
    let epoch = watched.0;
    let mut books = epoch.books.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let books = &mut *books;
    let files = epoch.files.pin();
    match files.insert(path.clone(), Kept::new((held, meta))) {
        Some(old) => books.weight.take(old.value.0.weight()),
        None => books.files.push_back(path),
    }
    books.weight.add(weight);
    evict(
        &mut books.files,
        &files,
        &mut books.weight,
        |(held, _)| held.weight(),
        |n, w| n > MAX_ENTRIES || w.bytes > MAX_BYTES || w.open > MAX_OPEN,
    );
    epoch.holding.store(true, Ordering::Relaxed);
}

/// Keep `entries` as what the directory `path` holds, read after
/// `watched` (unless it is a listing not to keep: see the module's notes).
pub fn insert_listing(watched: Watched, path: &LocalPath, entries: &Arc<[ListingEntry]>) {
    if entries.len() > MAX_LISTING_ENTRIES || entries.iter().any(|e| e.is_symlink) {
        return;
    }
    let epoch = watched.0;
    let mut books = epoch.books.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let listings = epoch.listings.pin();
    if listings.insert(path.clone(), Kept::new(Arc::clone(entries))).is_none() {
        books.listings.push_back(path.clone());
    }
    let books = &mut *books;
    evict(
        &mut books.listings,
        &listings,
        &mut Weight::default(),
        |_| Weight::default(),
        |n, _| n > MAX_LISTINGS,
    );
    epoch.holding.store(true, Ordering::Relaxed);
}

/// Evict in `order` (second chance: an entry used since the hand last
/// passed it goes to the back, unused) while `over(entries kept, weight)`;
/// `weigh` says what an evicted value took off `weight`.
fn evict<T, G: papaya::Guard>(
    order: &mut VecDeque<LocalPath>,
    map: &papaya::HashMapRef<'_, LocalPath, Kept<T>, RandomState, G>,
    weight: &mut Weight,
    weigh: impl Fn(&T) -> Weight,
    over: impl Fn(usize, &Weight) -> bool,
) {
    // Two rounds at most: the first clears every flag (hits on other
    // threads may set some again meanwhile).
    let mut steps = 2 * order.len() + 1;
    while steps > 0 && over(order.len(), weight) {
        steps -= 1;
        let Some(path) = order.pop_front() else { break };
        match map.get(&path) {
            Some(kept) if kept.used.swap(false, Ordering::Relaxed) => order.push_back(path),
            Some(_) => {
                if let Some(old) = map.remove(&path) {
                    weight.take(weigh(&old.value));
                }
            }
            None => {}
        }
    }
}

impl Weight {
    fn add(&mut self, w: Weight) {
        self.bytes += w.bytes;
        self.open += w.open;
    }

    fn take(&mut self, w: Weight) {
        self.bytes -= w.bytes;
        self.open -= w.open;
    }
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

impl Cache {
    /// Before a hit: look for changes unless this thread looked at this
    /// very epoch with no request bytes read since. False when `epoch` is
    /// retired.
    fn look_if_input(&self, epoch: &Arc<Epoch>) -> bool {
        if LOOKED_AT.with(Cell::get) != epoch.id {
            if !self.look(epoch) {
                return false;
            }
            LOOKED_AT.with(|looked| looked.set(epoch.id));
        }
        true
    }

    /// Whether nothing changed since `epoch` began: no event queued on its
    /// descriptor (asked without reading, so the event stays for every
    /// other worker to see). On a change, a descriptor that does not
    /// answer, or none at all, a fresh epoch replaces it (if no other
    /// worker did first) and this returns false.
    fn look(&self, epoch: &Arc<Epoch>) -> bool {
        if let Some(fd) = &epoch.inotify {
            if rustix::io::ioctl_fionread(fd) == Ok(0) {
                return true;
            }
        }
        let current = self.current.load();
        if Arc::ptr_eq(&current, epoch) {
            self.current.compare_and_swap(&*current, Arc::new(Epoch::new()));
        }
        false
    }
}

/// A map whose removed values are freed as soon as no hit still reads
/// them (papaya's default batches them per thread: open files evicted
/// would stay open past the caps).
fn new_map<T>() -> Map<T> {
    papaya::HashMap::builder()
        .hasher(RandomState::default())
        .collector(seize::Collector::new().batch_size(1))
        .build()
}

impl Epoch {
    /// An empty epoch with a fresh descriptor (no watches yet).
    fn new() -> Epoch {
        Epoch {
            id: NEXT_EPOCH.fetch_add(1, Ordering::Relaxed),
            inotify: inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok(),
            files: new_map(),
            listings: new_map(),
            holding: AtomicBool::new(false),
            books: Mutex::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use httpserver_core::simple::{translate_path, FileKind};
    use std::time::UNIX_EPOCH;

    /// On a thread of its own (the cache is enabled per thread): `f()`.
    fn on_worker<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                enable_for_this_thread();
                note_input();
                f()
            })
            .join()
            .unwrap()
        })
    }

    fn kept_bytes(path: &LocalPath) -> Option<Vec<u8>> {
        match lookup(path)? {
            (Held::Bytes(bytes), _) => Some(bytes.to_vec()),
            (Held::Open(_), _) => None,
        }
    }

    // The process has one cache: this is the only test that enables it.
    #[test]
    fn one_workers_insert_is_every_workers_hit_until_any_change() {
        let dir = std::env::temp_dir().join(format!("httpserver-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), b"one").unwrap();
        let path = translate_path("/a.txt");
        let meta = Metadata::new(FileKind::File, 3, UNIX_EPOCH);
        let keep = || {
            let watched = watch(&directories_of(&dir, &path)).expect("inotify works here");
            insert(watched, path.clone(), Held::Bytes(Arc::from(&b"one"[..])), meta);
        };

        // Kept by one worker thread, hit by others that never read it.
        on_worker(keep);
        assert_eq!(on_worker(|| kept_bytes(&path)), Some(b"one".to_vec()));
        assert_eq!(on_worker(|| kept_bytes(&path)), Some(b"one".to_vec()));
        // Threads that are not workers do not use it.
        assert!(lookup(&path).is_none());

        // A change: the first worker to look retires the epoch; the next
        // one, which could not have read the event itself, misses too.
        std::fs::write(dir.join("b.txt"), b"new").unwrap();
        assert_eq!(on_worker(|| kept_bytes(&path)), None);
        assert_eq!(on_worker(|| kept_bytes(&path)), None);

        // The look does not consume the event: two workers asking the same
        // epoch both see the change (the case a consuming read got wrong,
        // if the one that read it had not yet emptied the cache).
        on_worker(keep);
        let epoch = CACHE.get().unwrap().current.load_full();
        std::fs::write(dir.join("c.txt"), b"new").unwrap();
        let cache = CACHE.get().unwrap();
        assert!(!cache.look(&epoch), "the first look sees the change");
        assert!(!cache.look(&epoch), "and so does the second");
        assert!(!Arc::ptr_eq(&cache.current.load_full(), &epoch), "retired");
        assert_eq!(on_worker(|| kept_bytes(&path)), None);

        // Kept again after the change, in the fresh epoch.
        on_worker(keep);
        assert_eq!(on_worker(|| kept_bytes(&path)), Some(b"one".to_vec()));

        // An epoch that got no descriptor (inotify_init failed, say at its
        // instance limit) is replaced at the next miss, not kept for good.
        cache.current.store(Arc::new(Epoch { inotify: None, ..Epoch::new() }));
        assert_eq!(on_worker(|| kept_bytes(&path)), None);
        on_worker(keep);
        assert_eq!(on_worker(|| kept_bytes(&path)), Some(b"one".to_vec()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
