//! The directory listing page of CPython's `list_directory`.

use crate::simple::files::ListingEntry;
use crate::simple::url::{percent_decode, python_fs_bytes, quote_into};
use crate::text::html_escape_into;

/// The `Content-Type` of a listing (note the space, unlike error pages).
pub(crate) const LISTING_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The HTML body CPython's `list_directory` produces for `target` (the
/// request path, query included, as CPython titles it) and `entries`, in
/// any order: they are listed here by lower-cased name (the slice is only
/// read, so a cache may share it between requests).
pub fn list_directory(target: &str, entries: &[ListingEntry]) -> Vec<u8> {
    let order = order_by_name(entries);
    let mut title = b"Directory listing for ".to_vec();
    html_escape_into(&mut title, &python_fs_bytes(percent_decode(target)));

    let mut out = Vec::with_capacity(
        256 + title.len() * 2 + entries.iter().map(|e| 32 + e.name.len() * 4).sum::<usize>(),
    );
    out.extend_from_slice(b"<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</title>\n</head>\n<body>\n<h1>");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</h1>\n<hr>\n<ul>\n");
    for e in order.iter().map(|&i| &entries[i]) {
        out.extend_from_slice(b"<li>");
        push_entry_link(&mut out, e);
        out.extend_from_slice(b"</li>\n");
    }
    out.extend_from_slice(b"</ul>\n<hr>\n</body>\n</html>\n");
    out
}

/// An entry's `<a href="...">name</a>` as CPython writes it: the name
/// percent-quoted in the link and HTML-escaped in the text, a directory
/// linked with `/`, shown with `/` (or `@` when it is a symbolic link).
pub(super) fn push_entry_link(out: &mut Vec<u8>, e: &ListingEntry) {
    out.extend_from_slice(b"<a href=\"");
    quote_into(out, &e.name);
    if e.is_dir {
        out.push(b'/');
    }
    out.extend_from_slice(b"\">");
    html_escape_into(out, &e.name);
    // A link to a directory shows `@` but links with `/`.
    if e.is_symlink {
        out.push(b'@');
    } else if e.is_dir {
        out.push(b'/');
    }
    out.extend_from_slice(b"</a>");
}

/// The indices of `entries` in the order of Python's stable
/// `list.sort(key=lambda a: a.lower())`: the keys written one after the
/// other into one buffer (not a string each: a listing has thousands).
fn order_by_name(entries: &[ListingEntry]) -> Vec<usize> {
    let mut keys = String::with_capacity(entries.iter().map(|e| e.name.len()).sum());
    let mut order: Vec<SortSlot> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let start = keys.len();
        push_sort_key(&mut keys, &e.name);
        let key = &keys.as_bytes()[start..];
        order.push(SortSlot { head: key_head(key), start, end: keys.len(), index: i });
    }
    // UTF-8 bytes compare in code-point order; the index keeps it stable.
    let bytes = keys.as_bytes();
    let rest = |s: &SortSlot| &bytes[(s.start + 16).min(s.end)..s.end];
    order.sort_unstable_by(|a, b| {
        a.head.cmp(&b.head).then_with(|| rest(a).cmp(rest(b))).then(a.index.cmp(&b.index))
    });
    order.iter().map(|s| s.index).collect()
}

/// Put `entries` in the order [`list_directory`] lists them. Listing
/// entries already in that order is quicker (the sort then only checks
/// it), so a shell that keeps listings for many requests may sort them
/// once, before it keeps them.
pub fn sort_for_listing(entries: &mut Vec<ListingEntry>) {
    let order = order_by_name(entries);
    let mut taken: Vec<Option<ListingEntry>> = entries.drain(..).map(Some).collect();
    entries.extend(order.iter().filter_map(|&i| taken[i].take()));
}

/// An entry's place in [`order_by_name`]: its key's first 16 bytes as two
/// numbers (most comparisons end there), where the key is in the buffer,
/// and the entry's index.
struct SortSlot {
    head: (u64, u64),
    start: usize,
    end: usize,
    index: usize,
}

/// The first 16 bytes of a key, big-endian, zero-padded: they order as the
/// bytes do (a name has no NUL, so padding sorts a shorter key first).
fn key_head(key: &[u8]) -> (u64, u64) {
    let mut head = [0u8; 16];
    let n = key.len().min(16);
    head[..n].copy_from_slice(&key[..n]);
    let (a, b) = head.split_at(8);
    (
        u64::from_be_bytes(a.try_into().unwrap_or_default()),
        u64::from_be_bytes(b.try_into().unwrap_or_default()),
    )
}

/// The key of `list.sort(key=lambda a: a.lower())` for a name decoded as
/// Python decodes file names (UTF-8, undecodable bytes as U+DC80..U+DCFF).
/// UTF-8 strings compare in code-point order, as Python's strings do.
pub(super) fn sort_key(name: &[u8]) -> String {
    let mut key = String::with_capacity(name.len());
    push_sort_key(&mut key, name);
    key
}

/// [`sort_key`], appended to `key`.
fn push_sort_key(key: &mut String, name: &[u8]) {
    if let Ok(ascii) = std::str::from_utf8(name) {
        if ascii.is_ascii() {
            let start = key.len();
            key.push_str(ascii);
            key[start..].make_ascii_lowercase();
            return;
        }
    }
    let mut rest = name;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                key.extend(s.chars().flat_map(char::to_lowercase));
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                let s = std::str::from_utf8(&rest[..good]).unwrap_or("");
                key.extend(s.chars().flat_map(char::to_lowercase));
                // A lone surrogate is not a `char`; the private-use plane
                // just above sorts the same way relative to these names.
                key.push(char::from_u32(0xF0000 + u32::from(rest[good])).unwrap_or('\u{fffd}'));
                rest = &rest[good + 1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, is_dir: bool, is_symlink: bool) -> ListingEntry {
        ListingEntry::new(name.as_bytes().to_vec(), is_dir, is_symlink)
    }

    /// The buffer and the 16-byte heads order names as Python's
    /// `sorted(names, key=str.lower)` does: by whole key, stably.
    #[test]
    fn sorted_as_python_sorts() {
        let mut names: Vec<Vec<u8>> = [
            "b",
            "A",
            "a",
            "B",
            "entry-0010.txt",
            "entry-0002.txt",
            "Entry-0002.txt",
            "a-very-long-common-prefix-2",
            "a-very-long-common-prefix-10",
            "a-very-long-common-prefix-",
            "a-very-long-common-prefiX-2",
            "a-very-long-common-prefix",
            "ÄÖ",
            "äa",
            "z",
            "é",
            "E",
            "",
            "0123456789abcdef",
            "0123456789abcdeF",
            "0123456789abcde",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        names.push(b"bad\xffname".to_vec());
        names.push(b"BAD\xfe".to_vec());
        let entries: Vec<ListingEntry> =
            names.iter().map(|n| ListingEntry::new(n.clone(), false, false)).collect();
        let mut want = names.clone();
        want.sort_by_key(|n| sort_key(n)); // stable, key by key
        let got: Vec<Vec<u8>> =
            order_by_name(&entries).into_iter().map(|i| entries[i].name.clone()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn sorted_for_listing_lists_the_same() {
        let entries = vec![entry("b", false, false), entry("A", true, false), entry("a", false, false)];
        let mut sorted = entries.clone();
        sort_for_listing(&mut sorted);
        let names: Vec<&[u8]> = sorted.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, [&b"A"[..], b"a", b"b"]);
        assert_eq!(list_directory("/", &sorted), list_directory("/", &entries));
    }

    #[test]
    fn matches_cpython_listing() {
        // Captured from python3 -m http.server for the same tree.
        let body = list_directory(
            "/",
            &[
                entry("sub", true, false),
                entry("we ird&<>.txt", false, false),
                entry("a.txt", false, false),
                entry("link", false, true),
                entry("dir2", true, false),
            ],
        );
        let want = "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>Directory listing for /</title>\n</head>\n<body>\n<h1>Directory listing for /</h1>\n\
<hr>\n<ul>\n<li><a href=\"a.txt\">a.txt</a></li>\n<li><a href=\"dir2/\">dir2/</a></li>\n\
<li><a href=\"link\">link@</a></li>\n<li><a href=\"sub/\">sub/</a></li>\n\
<li><a href=\"we%20ird%26%3C%3E.txt\">we ird&amp;&lt;&gt;.txt</a></li>\n</ul>\n<hr>\n</body>\n</html>\n";
        assert_eq!(String::from_utf8(body).unwrap(), want);
    }

    #[test]
    fn sorts_case_insensitively_and_marks_links_to_dirs() {
        let body = list_directory(
            "/d/?q=<x>",
            &[entry("b", false, false), entry("A", false, false), entry("Ld", true, true)],
        );
        let s = String::from_utf8(body).unwrap();
        assert!(s.contains("<title>Directory listing for /d/?q=&lt;x&gt;</title>"));
        let a = s.find(">A<").unwrap();
        let b = s.find(">b<").unwrap();
        assert!(a < b);
        assert!(s.contains("<li><a href=\"Ld/\">Ld@</a></li>"));
    }

    #[test]
    fn non_utf8_names_keep_their_bytes() {
        let body = list_directory("/", &[ListingEntry::new(b"\xe9".to_vec(), false, false)]);
        let needle: &[u8] = b"<li><a href=\"%ED%B3%A9\">\xe9</a></li>";
        assert!(body.windows(needle.len()).any(|w| w == needle));
    }
}
