//! The file system as CPython's static handler sees it, supplied by the
//! shell: plain-data queries, no paths joined from client text.

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use crate::simple::coding::ContentCoding;
use crate::simple::url::LocalPath;

/// What kind of thing a path names (after following symbolic links).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file: served.
    File,
    /// A directory: index page, listing or redirect.
    Directory,
    /// A FIFO, socket or device: never opened (opening a FIFO blocks).
    Other,
}

/// File metadata as the shell read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// The kind.
    pub kind: FileKind,
    /// Size in bytes.
    pub len: u64,
    /// Last modification time.
    pub modified: SystemTime,
    /// Whether any execute permission bit is set (CPython's CGI handler
    /// runs only executable scripts).
    pub executable: bool,
    /// The file's identity (device, inode), when the file system has one:
    /// part of its entity tag, so that a replaced file gets a new tag.
    pub identity: Option<(u64, u64)>,
}

impl Metadata {
    /// Metadata of a thing of `kind`, `len` bytes, modified at `modified`
    /// (not executable).
    pub fn new(kind: FileKind, len: u64, modified: SystemTime) -> Metadata {
        Metadata { kind, len, modified, executable: false, identity: None }
    }

    /// The same, with its execute permission.
    #[must_use]
    pub fn with_executable(mut self, executable: bool) -> Metadata {
        self.executable = executable;
        self
    }

    /// The same, with its identity (device and inode numbers).
    #[must_use]
    pub fn with_identity(mut self, device: u64, inode: u64) -> Metadata {
        self.identity = Some((device, inode));
        self
    }
}

/// One directory entry as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListingEntry {
    /// The name as the file system gives it (bytes: need not be UTF-8).
    pub name: Vec<u8>,
    /// Whether it is a directory, following symbolic links
    /// (`os.path.isdir`): such names get a `/` in the link and the text.
    pub is_dir: bool,
    /// Whether the entry itself is a symbolic link: its text gets `@`.
    pub is_symlink: bool,
    /// Its size in bytes (following links), when the shell looked
    /// ([`Files::read_dir_detailed`]).
    pub len: Option<u64>,
    /// Its modification time (following links), when the shell looked.
    pub modified: Option<SystemTime>,
}

impl ListingEntry {
    /// An entry.
    pub fn new(name: Vec<u8>, is_dir: bool, is_symlink: bool) -> ListingEntry {
        ListingEntry { name, is_dir, is_symlink, len: None, modified: None }
    }

    /// The same, with its size and modification time.
    #[must_use]
    pub fn with_details(mut self, len: u64, modified: SystemTime) -> ListingEntry {
        self.len = Some(len);
        self.modified = Some(modified);
        self
    }
}

/// What committing an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// A new file was created.
    Created,
    /// An existing file was replaced.
    Replaced,
}

/// An upload on its way: bytes written to a file no one else sees (the
/// shell's temporary file in the target directory) until [`commit`] puts
/// it in place whole. Dropping it without committing leaves nothing
/// behind.
///
/// [`commit`]: UploadFile::commit
pub trait UploadFile: Send {
    /// Append these bytes.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Put the complete file in place as `name` in the directory it was
    /// begun in, atomically: readers see the old file or the whole new
    /// one, never a part. With `replace` false, an existing name fails
    /// with [`io::ErrorKind::AlreadyExists`] and is left untouched.
    fn commit(self: Box<Self>, name: &[u8], replace: bool) -> io::Result<Committed>;
}

/// The file system, as the static handler needs it. Paths are relative to
/// the served root; the shell decides what the root is and may refuse more
/// (e.g. symbolic links that leave the root) by answering `Err`.
pub trait Files {
    /// An open file, handed back untouched in [`crate::Body::Source`].
    type File;
    /// `os.stat` (following symbolic links).
    fn metadata(&mut self, path: &LocalPath) -> io::Result<Metadata>;
    /// `os.listdir` with each entry's kind.
    fn read_dir(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>>;
    /// Open a regular file for reading and return it with its metadata as
    /// read from the open file (`os.fstat`). Must not block on, or return,
    /// anything but a regular file.
    fn open(&mut self, path: &LocalPath) -> io::Result<(Self::File, Metadata)>;

    /// The codings [`Files::encode`] can produce, in the order to prefer
    /// them when the client likes them equally. None by default: no
    /// compression on the fly.
    fn encodings(&self) -> &[ContentCoding] {
        &[]
    }

    /// `file`, as opened by [`Files::open`], turned into a stream of its
    /// bytes in `coding` (one of [`Files::encodings`]), which the engine
    /// reads in order ([`crate::Output::ReadBody`]). `Err` gives the
    /// file back when it cannot.
    fn encode(&mut self, file: Self::File, coding: ContentCoding) -> Result<Self::File, Self::File> {
        let _ = coding;
        Err(file)
    }

    /// [`Files::read_dir`], as entries that are only read, so that a
    /// cache may hand the same ones to every request (sorted once by
    /// [`crate::simple::sort_for_listing`], they list quicker). By
    /// default, read anew each time.
    fn read_dir_shared(&mut self, path: &LocalPath) -> io::Result<Arc<[ListingEntry]>> {
        self.read_dir(path).map(Arc::from)
    }

    /// [`Files::read_dir`] with each entry's size and modification time
    /// ([`ListingEntry::with_details`]), for listings that show them. By
    /// default, without them.
    fn read_dir_detailed(&mut self, path: &LocalPath) -> io::Result<Vec<ListingEntry>> {
        self.read_dir(path)
    }

    /// Begin an upload into the directory `dir` (which must exist, below
    /// the root). By default uploads are unsupported.
    fn begin_upload(&mut self, dir: &LocalPath) -> io::Result<Box<dyn UploadFile>> {
        let _ = dir;
        Err(io::Error::new(io::ErrorKind::Unsupported, "uploads are not supported"))
    }
}

/// The error a shell's [`Files`] gives for a path it refuses because a
/// symbolic link on it leads outside the served directory (inside an
/// [`io::Error`] of kind `NotFound`): the handler answers 404 as for a
/// missing file, and logs why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOutsideRoot;

impl std::fmt::Display for LinkOutsideRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("symbolic link leads outside the served directory")
    }
}

impl std::error::Error for LinkOutsideRoot {}

impl LinkOutsideRoot {
    /// Whether `error` is this refusal.
    pub fn is(error: &io::Error) -> bool {
        error.get_ref().map_or(false, |inner| inner.is::<LinkOutsideRoot>())
    }

    /// This refusal as an [`io::Error`] (kind `NotFound`).
    pub fn error() -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, LinkOutsideRoot)
    }
}
