//! URL path handling: percent-decoding, CPython's `translate_path`, `quote`
//! and the pieces of `urlsplit` the redirect needs. Pure string arithmetic;
//! the result is a list of checked name segments, never a joined client
//! string, so it cannot name anything outside the served root.

use crate::text::{is_py_space, latin1_bytes};

/// A request path translated to local names below the served root: what
/// CPython's `translate_path` computes, kept as name segments. Each
/// segment is non-empty, never `.` or `..`, and never contains `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LocalPath {
    /// The segments joined by `/` (no `/` at either end); empty for the
    /// root. One buffer, which a handler reuses from request to request.
    bytes: Vec<u8>,
    trailing_slash: bool,
}

impl LocalPath {
    /// The root directory itself.
    pub fn root() -> LocalPath {
        LocalPath::default()
    }

    /// A path from plain names (the caller checked each: non-empty, not
    /// `.` or `..`, no `/`).
    pub(crate) fn from_names(segments: Vec<Vec<u8>>) -> LocalPath {
        LocalPath { bytes: segments.join(&b'/'), trailing_slash: false }
    }

    /// The name segments below the root, as file-system bytes, in order.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &[u8]> + Clone + '_ {
        // The root's empty buffer is no segment.
        self.bytes.split(|&b| b == b'/').filter(|s| !s.is_empty())
    }

    /// The segments joined by `/` (empty for the root): a path relative to
    /// the root that names exactly this file.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether this is the root itself (no segments).
    pub fn is_root(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether the request path ended with `/` (Issue17324 in CPython: a
    /// file asked for with a trailing slash is not found).
    pub fn has_trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// The last segment (the file name), if any.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.segments().next_back()
    }

    /// This path with one more name appended (no trailing slash). `name`
    /// must be a plain name; it is not checked again here.
    pub fn join(&self, name: &str) -> LocalPath {
        let mut bytes = Vec::with_capacity(self.bytes.len() + 1 + name.len());
        bytes.extend_from_slice(&self.bytes);
        if !bytes.is_empty() {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(name.as_bytes());
        LocalPath { bytes, trailing_slash: false }
    }

    /// This path with `suffix` added to its last name (`x` to `x.gz`);
    /// `None` for the root. `suffix` must not contain `/`.
    pub fn with_suffix(&self, suffix: &str) -> Option<LocalPath> {
        if self.is_root() {
            return None;
        }
        let mut path = self.clone();
        path.bytes.extend_from_slice(suffix.as_bytes());
        Some(path)
    }

    /// `root/seg1/seg2...` with `/` separators, for display and tests;
    /// non-UTF-8 bytes are replaced.
    pub fn display_under(&self, root: &str) -> String {
        let mut s = root.trim_end_matches('/').to_string();
        if !self.is_root() {
            s.push('/');
            s.push_str(&String::from_utf8_lossy(&self.bytes));
        }
        if self.trailing_slash {
            s.push('/');
        }
        s
    }
}

/// CPython's `translate_path` without the root: drop `?query` and
/// `#fragment`, percent-decode, normalise, and keep only plain names.
pub fn translate_path(url_path: &str) -> LocalPath {
    let mut path = LocalPath::default();
    translate_path_into(url_path, &mut path);
    path
}

/// [`translate_path`] into `path`, whose buffer is reused.
pub(crate) fn translate_path_into(url_path: &str, path: &mut LocalPath) {
    // Up to the first `?` or `#` (both ASCII: a char boundary).
    let end = url_path.bytes().position(|b| b == b'?' || b == b'#').unwrap_or(url_path.len());
    let url_path = &url_path[..end];
    path.trailing_slash = url_path.trim_end_matches(is_py_space).ends_with('/');
    let buf = &mut path.bytes;
    buf.clear();
    percent_decode_into(url_path, buf);
    if std::str::from_utf8(buf).is_err() {
        *buf = python_fs_bytes(std::mem::take(buf));
    }
    // Normalised in place: the names kept are written back over the
    // buffer's front, which never overtakes the reading.
    let (mut read, mut write) = (0, 0);
    let len = buf.len();
    while read <= len {
        let end = buf[read..].iter().position(|&b| b == b'/').map_or(len, |i| read + i);
        match &buf[read..end] {
            b"" | b"." => {}
            // posixpath.normpath: `..` removes the previous name, and can
            // never climb above the root (nor survive: CPython then drops it).
            b".." => write = buf[..write].iter().rposition(|&b| b == b'/').unwrap_or(0),
            _ => {
                if write > 0 {
                    buf[write] = b'/';
                    write += 1;
                }
                buf.copy_within(read..end, write);
                write += end - read;
            }
        }
        read = end + 1;
    }
    buf.truncate(write);
}

/// `urllib.parse.unquote_to_bytes`: `%XX` becomes the byte, anything
/// malformed stays as written. Works on the Latin-1 request text.
pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    percent_decode_into(s, &mut out);
    out
}

/// [`percent_decode`], appended to `out`.
fn percent_decode_into(s: &str, out: &mut Vec<u8>) {
    let owned;
    let raw = if s.is_ascii() {
        s.as_bytes()
    } else {
        owned = latin1_bytes(s);
        &owned
    };
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex_val(raw[i + 1]), hex_val(raw[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What CPython's file-system calls see for percent-decoded bytes:
/// `unquote(errors='surrogatepass')` then `os.fsencode` (surrogateescape).
/// Valid UTF-8 is kept; an encoded surrogate U+DC80..U+DCFF (what a listing
/// link holds for a non-UTF-8 name) becomes its original byte; any other
/// invalid UTF-8 makes CPython fall back to `errors='replace'`, U+FFFD.
pub(crate) fn python_fs_bytes(raw: Vec<u8>) -> Vec<u8> {
    if std::str::from_utf8(&raw).is_ok() {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_slice();
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.extend_from_slice(s.as_bytes());
                return out;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.extend_from_slice(&rest[..good]);
                rest = &rest[good..];
                // An encoded surrogate: ED A0..BF 80..BF.
                if rest.len() >= 3
                    && rest[0] == 0xED
                    && (0xA0..=0xBF).contains(&rest[1])
                    && (0x80..=0xBF).contains(&rest[2])
                {
                    let cp = 0xD000u32 | (u32::from(rest[1] & 0x3F) << 6) | u32::from(rest[2] & 0x3F);
                    if (0xDC80..=0xDCFF).contains(&cp) {
                        out.push((cp - 0xDC00) as u8);
                    } else {
                        // Not representable on a POSIX file system: keep it
                        // as is; no file will match.
                        out.extend_from_slice(&rest[..3]);
                    }
                    rest = &rest[3..];
                } else {
                    return String::from_utf8_lossy(&raw).into_owned().into_bytes();
                }
            }
        }
    }
}

/// `urllib.parse.quote(name, safe='/', errors='surrogatepass')` of a
/// file-system name (bytes): unreserved characters and `/` stay, the rest
/// is `%XX`; a byte that is not valid UTF-8 is quoted as the UTF-8 form of
/// its surrogate escape, as Python does for a non-UTF-8 file name.
#[cfg(test)]
fn quote(name: &[u8]) -> String {
    let mut out = Vec::with_capacity(name.len());
    quote_into(&mut out, name);
    // Only ASCII was written.
    String::from_utf8(out).unwrap_or_default()
}

/// [`quote`], appended to `out`.
pub(crate) fn quote_into(out: &mut Vec<u8>, name: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let push = |out: &mut Vec<u8>, b: u8| {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~' | b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    };
    if name.is_ascii() {
        // Nearly every name: no decoding to do.
        name.iter().for_each(|&b| push(out, b));
        return;
    }
    let mut rest = name;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(_) => {
                rest.iter().for_each(|&b| push(out, b));
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                rest[..good].iter().for_each(|&b| push(out, b));
                let cp = 0xDC00u32 + u32::from(rest[good]);
                for b in [0xE0 | (cp >> 12) as u8, 0x80 | ((cp >> 6) & 0x3F) as u8, 0x80 | (cp & 0x3F) as u8]
                {
                    push(out, b);
                }
                rest = &rest[good + 1..];
            }
        }
    }
}

/// The five parts of `urllib.parse.urlsplit` (CPython 3.11 rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts {
    /// Lower-cased scheme, or empty.
    pub(crate) scheme: String,
    /// Authority after `//`, or empty.
    pub(crate) netloc: String,
    /// The path.
    pub(crate) path: String,
    /// After `?`, without it.
    pub(crate) query: String,
    /// After `#`, without it.
    pub(crate) fragment: String,
}

/// `urllib.parse.urlsplit(url)`.
pub(crate) fn url_split(url: &str) -> UrlParts {
    // 3.11: strip leading C0 controls and spaces; drop tab, CR and LF.
    let url: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest: &str = &url;
    let mut scheme = String::new();
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        if i > 0
            && cand.as_bytes()[0].is_ascii_alphabetic()
            && cand.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            scheme = cand.to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    let mut netloc = String::new();
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = after[..end].to_string();
        rest = &after[end..];
    }
    let (rest, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], rest[i + 1..].to_string()),
        None => (rest, String::new()),
    };
    let (path, query) = match rest.find('?') {
        Some(i) => (rest[..i].to_string(), rest[i + 1..].to_string()),
        None => (rest.to_string(), String::new()),
    };
    UrlParts { scheme, netloc, path, query, fragment }
}

/// `urllib.parse.urlunsplit(parts)`.
pub(crate) fn url_unsplit(p: &UrlParts) -> String {
    const USES_NETLOC: &[&str] = &[
        "", "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file", "mms", "https", "shttp",
        "snews", "prospero", "rtsp", "rtspu", "rsync", "svn", "svn+ssh", "sftp", "nfs", "git", "git+ssh",
        "ws", "wss",
    ];
    let mut url = p.path.clone();
    if !p.netloc.is_empty()
        || (!p.scheme.is_empty() && USES_NETLOC.contains(&p.scheme.as_str()) && !url.starts_with("//"))
    {
        if !url.is_empty() && !url.starts_with('/') {
            url.insert(0, '/');
        }
        url = format!("//{}{}", p.netloc, url);
    }
    if !p.scheme.is_empty() {
        url = format!("{}:{}", p.scheme, url);
    }
    if !p.query.is_empty() {
        url.push('?');
        url.push_str(&p.query);
    }
    if !p.fragment.is_empty() {
        url.push('#');
        url.push_str(&p.fragment);
    }
    url
}

/// The `Location` for the "add a slash" redirect of a directory request:
/// CPython's `urlunsplit` of the target with `/` added to its path, with
/// every `\` written `%5C` so that no `Location` can begin with `/\`, which
/// browsers read as `//` (another host).
pub(crate) fn directory_redirect_location(target: &str) -> String {
    let mut parts = url_split(target);
    parts.path.push('/');
    url_unsplit(&parts).replace('\\', "%5C")
}

/// Whether the path part of `target` ends with `/` (the redirect test).
pub(crate) fn url_path_ends_with_slash(target: &str) -> bool {
    url_split(target).path.ends_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &LocalPath) -> Vec<String> {
        p.segments().map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }

    #[test]
    fn translate_path_vectors() {
        // (request path, segments, trailing slash), checked against CPython's
        // SimpleHTTPRequestHandler.translate_path with directory "/r".
        let cases: &[(&str, &[&str], bool)] = &[
            ("/", &[], true),
            ("/a.txt", &["a.txt"], false),
            ("/a/b/", &["a", "b"], true),
            ("/a/../b", &["b"], false),
            ("/../../etc/passwd", &["etc", "passwd"], false),
            ("/%2e%2e/%2e%2e/etc/passwd", &["etc", "passwd"], false),
            ("/a%2f..%2f..%2fb", &["b"], false),
            ("/a?x=../../y", &["a"], false),
            ("/a#frag/..", &["a"], false),
            ("/./a/./b/.", &["a", "b"], false),
            ("//a//b", &["a", "b"], false),
            ("/a%20b", &["a b"], false),
            ("/..%5c..%5cx", &["..\\..\\x"], false),
            ("/a.txt%2f", &["a.txt"], false),
            ("a/../../b", &["b"], false),
            ("/%C3%A9", &["é"], false),
            ("/sub/..", &[], false),
        ];
        for (input, want, slash) in cases {
            let p = translate_path(input);
            assert_eq!(segs(&p), *want, "{input}");
            assert_eq!(p.has_trailing_slash(), *slash, "{input}");
        }
    }

    #[test]
    fn translate_path_keeps_nul_as_a_name_byte() {
        // CPython raises on the NUL later; the shell's open fails → 404.
        let p = translate_path("/a%00b");
        assert_eq!(p.segments().collect::<Vec<_>>(), [b"a\0b"]);
    }

    #[test]
    fn non_utf8_names_round_trip_through_quote() {
        let name = b"caf\xe9.txt".to_vec();
        let quoted = quote(&name);
        assert_eq!(quoted, "caf%ED%B3%A9.txt");
        let back = translate_path(&format!("/{quoted}"));
        assert_eq!(back.segments().collect::<Vec<_>>(), [&name[..]]);
        // Other invalid UTF-8 falls back to replacement characters.
        assert_eq!(translate_path("/%ff").as_bytes(), "\u{fffd}".as_bytes());
    }

    #[test]
    fn quote_matches_python() {
        assert_eq!(quote(b"we ird&<>.txt"), "we%20ird%26%3C%3E.txt");
        assert_eq!(quote("é~_.-/".as_bytes()), "%C3%A9~_.-/");
    }

    #[test]
    fn percent_decode_leaves_malformed_escapes() {
        assert_eq!(percent_decode("%41%4g%"), b"A%4g%".to_vec());
        assert_eq!(percent_decode("%e9"), vec![0xe9]);
    }

    #[test]
    fn redirect_locations() {
        assert_eq!(directory_redirect_location("/sub"), "/sub/");
        assert_eq!(directory_redirect_location("/sub?x=1"), "/sub/?x=1");
        assert_eq!(directory_redirect_location("/sub?"), "/sub/");
        assert_eq!(directory_redirect_location("/sub#f"), "/sub/#f");
        assert_eq!(directory_redirect_location("/\\evil.com/../sub"), "/%5Cevil.com/../sub/");
        assert_eq!(directory_redirect_location("http://h/sub"), "http://h/sub/");
        assert!(!url_path_ends_with_slash("/sub?x=/"));
        assert!(url_path_ends_with_slash("/sub/?x"));
    }
}
