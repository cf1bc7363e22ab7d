//! `Content-Type` guessing as CPython 3.11's `SimpleHTTPRequestHandler.guess_type`.
//!
//! Order, as CPython: the handler's own `extensions_map` overrides (`.gz`,
//! `.Z`, `.bz2`, `.xz`); then `mimetypes.guess_type`: suffix aliases
//! (`.tgz` → `.tar.gz`), a compression suffix peeled off (`.gz`, `.br`, ...),
//! and the type table — the system `mime.types` files the shell read, over
//! Python's built-in table. Where the shell supplied no system file (WASI,
//! tests), `mime_guess` answers for extensions Python's table lacks.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::python_tables::{ENCODINGS, SUFFIXES, TYPES};

/// `SimpleHTTPRequestHandler.extensions_map` in CPython 3.11.
const HANDLER_OVERRIDES: &[(&str, &str)] = &[
    (".gz", "application/gzip"),
    (".Z", "application/octet-stream"),
    (".bz2", "application/x-bzip2"),
    (".xz", "application/x-xz"),
];

/// Python's `str.lower()`, with a cheap path for the ASCII names almost
/// every extension is.
fn lowercase(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Cow::Borrowed(s)
    } else if s.is_ascii() {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// FNV-1a, for the type table's short keys (a lookup per file reply,
/// where SipHash showed in profiles). Its keys come from the system's
/// `mime.types`, not from clients, so there is no flooding to resist.
#[derive(Debug, Clone, Copy)]
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The default when nothing matches.
const DEFAULT_TYPE: &str = "application/octet-stream";

/// The type table `guess_type` consults.
#[derive(Debug, Clone)]
pub struct MimeTypes {
    /// The handler's `extensions_map`: CPython's four entries, plus the
    /// server's own (checked as written, then lower-cased, before anything
    /// else).
    extensions: Vec<(String, String)>,
    /// Extensions from system `mime.types` files (lookups are lower-cased,
    /// keys kept as written, as Python's `add_type` does).
    system: HashMap<String, String, BuildHasherDefault<Fnv1a>>,
    system_loaded: bool,
}

impl Default for MimeTypes {
    fn default() -> MimeTypes {
        MimeTypes {
            extensions: HANDLER_OVERRIDES.iter().map(|(e, t)| (e.to_string(), t.to_string())).collect(),
            system: HashMap::default(),
            system_loaded: false,
        }
    }
}

impl MimeTypes {
    /// Python's built-in table and the handler's `extensions_map` only.
    pub fn new() -> MimeTypes {
        MimeTypes::default()
    }

    /// An entry of the handler's `extensions_map` (`".md"`,
    /// `"text/markdown"`): it wins over every table, as a subclass's
    /// `extensions_map` does in CPython.
    #[must_use]
    pub fn with_extension(mut self, extension: &str, mime_type: &str) -> MimeTypes {
        self.extensions.retain(|(e, _)| e != extension);
        self.extensions.push((extension.to_string(), mime_type.to_string()));
        self
    }

    /// Add the entries of one `mime.types` file (its text; the shell reads
    /// it). Later files override earlier ones, as in `mimetypes.init`.
    pub fn add_mime_types_file(&mut self, contents: &str) {
        self.system_loaded = true;
        for line in contents.lines() {
            let mut words = line.split_whitespace().take_while(|w| !w.starts_with('#'));
            if let Some(mime) = words.next() {
                for suffix in words {
                    self.system.insert(format!(".{suffix}"), mime.to_string());
                }
            }
        }
    }

    /// The `Content-Type` CPython would send for a file with this name.
    pub fn guess_type(&self, file_name: &[u8]) -> &str {
        // Nearly always UTF-8 (checked quicker than the lossy decoding).
        let name = match std::str::from_utf8(file_name) {
            Ok(name) => Cow::Borrowed(name),
            Err(_) => String::from_utf8_lossy(file_name),
        };
        let (base, ext) = split_ext(&name);
        if let Some((_, t)) = self.extensions.iter().find(|(e, _)| e == ext) {
            return t;
        }
        let lower = lowercase(ext);
        if let Some((_, t)) = self.extensions.iter().find(|(e, _)| *e == lower) {
            return t;
        }
        self.mimetypes_guess(base, ext).unwrap_or(DEFAULT_TYPE)
    }

    /// `mimetypes.guess_type(path)[0]` (strict), for the path split as
    /// [`split_ext`] splits it.
    fn mimetypes_guess(&self, base: &str, ext: &str) -> Option<&str> {
        // Borrowed from the name until an alias makes a new one (rare).
        let (mut base, mut ext) = (Cow::Borrowed(base), Cow::Borrowed(ext));
        // Suffix aliases are looked up lower-cased; `.tgz` → `.tar.gz`.
        while let Some(&(_, alias)) = {
            let lower = lowercase(&ext);
            SUFFIXES.iter().find(|(e, _)| *e == lower)
        } {
            let joined = format!("{base}{alias}");
            let (b, e) = split_ext(&joined);
            let (b, e) = (b.to_string(), e.to_string());
            base = Cow::Owned(b);
            ext = Cow::Owned(e);
        }
        // The encodings map is case-sensitive (`.Z` but not `.z`).
        if ENCODINGS.iter().any(|(e, _)| *e == ext) {
            ext = Cow::Owned(split_ext(&base).1.to_string());
        }
        let ext = lowercase(&ext);
        if let Some(t) = self.system.get(ext.as_ref()) {
            return Some(t);
        }
        if let Ok(i) = TYPES.binary_search_by_key(&ext.as_ref(), |&(e, _)| e) {
            return Some(TYPES[i].1);
        }
        if self.system_loaded || ext.len() < 2 {
            return None;
        }
        mime_guess::from_ext(&ext[1..]).first_raw()
    }
}

/// `posixpath.splitext`: the extension is from the last `.` of the last
/// component, unless that component is only dots up to it (`.bashrc`).
pub(crate) fn split_ext(path: &str) -> (&str, &str) {
    // One pass from the end: the last `.` of the last component (both
    // separators ASCII, so the slices fall on char boundaries).
    let bytes = path.as_bytes();
    let (mut dot, mut sep) = (None, 0);
    for (i, &b) in bytes.iter().enumerate().rev() {
        if b == b'/' {
            sep = i + 1;
            break;
        }
        if b == b'.' && dot.is_none() {
            dot = Some(i);
        }
    }
    if let Some(dot) = dot {
        if dot > sep && bytes[sep..dot].iter().any(|&b| b != b'.') {
            return (&path[..dot], &path[dot..]);
        }
    }
    (path, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated from CPython by `core/tools/gen_tables.py`: the handler's
    /// guess with only Python's built-in table.
    const CASES: &str = include_str!("../../tests/data/mime_cases.txt");

    #[test]
    fn matches_cpython_builtin_table() {
        let mut db = MimeTypes::new();
        db.add_mime_types_file(""); // a (empty) system table: no mime_guess fallback
        let mut n = 0;
        for line in CASES.lines() {
            let (name, want) = line.split_once('\t').unwrap();
            assert_eq!(db.guess_type(name.as_bytes()), want, "{name}");
            n += 1;
        }
        assert!(n > 90);
    }

    #[test]
    fn system_files_override_and_extend() {
        let mut db = MimeTypes::new();
        db.add_mime_types_file("# comment\ntext/x-rust rs  # trailing\napplication/x-test js\n\n");
        assert_eq!(db.guess_type(b"main.rs"), "text/x-rust");
        assert_eq!(db.guess_type(b"app.js"), "application/x-test");
        assert_eq!(db.guess_type(b"a.gz"), "application/gzip");
    }

    #[test]
    fn mime_guess_fills_in_without_a_system_table() {
        let db = MimeTypes::new();
        assert_eq!(db.guess_type(b"font.woff2"), "font/woff2");
        assert_eq!(db.guess_type(b"x.tgz"), "application/x-tar");
        assert_eq!(db.guess_type(b"noext"), DEFAULT_TYPE);
    }

    #[test]
    fn extensions_map_overrides_win() {
        let db = MimeTypes::new().with_extension(".md", "text/markdown").with_extension(".gz", "x/custom");
        assert_eq!(db.guess_type(b"README.md"), "text/markdown");
        assert_eq!(db.guess_type(b"README.MD"), "text/markdown", "looked up lower-cased too");
        assert_eq!(db.guess_type(b"a.tar.gz"), "x/custom");
        assert_eq!(db.guess_type(b"a.bz2"), "application/x-bzip2", "CPython's own entries stay");
    }

    #[test]
    fn split_ext_like_posixpath() {
        assert_eq!(split_ext("a.tar.gz"), ("a.tar", ".gz"));
        assert_eq!(split_ext(".bashrc"), (".bashrc", ""));
        assert_eq!(split_ext("..x"), ("..x", ""));
        assert_eq!(split_ext("d.d/file"), ("d.d/file", ""));
        assert_eq!(split_ext("a..b"), ("a.", ".b"));
    }
}
