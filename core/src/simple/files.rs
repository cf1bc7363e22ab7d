//! The file system as CPython's static handler sees it, supplied by the
//! shell: plain-data queries, no paths joined from client text.

use std::io;
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
}

impl ListingEntry {
    /// An entry.
    pub fn new(name: Vec<u8>, is_dir: bool, is_symlink: bool) -> ListingEntry {
        ListingEntry { name, is_dir, is_symlink }
    }
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
}
