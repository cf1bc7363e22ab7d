//! Listings beyond CPython's page: the query that picks a listing's form
//! and order (`?format=json`, `?sort=`, `&order=`), the rich HTML table
//! (`--rich-listing`), the JSON listing, and the upload form (`--upload`).
//! CPython's own page stays in `listing.rs`, untouched: without options the
//! HTML is its bytes exactly.

use std::cmp::Ordering;
use std::time::SystemTime;

use crate::simple::files::ListingEntry;
use crate::simple::listing::{list_directory, push_entry_link, sort_key};
use crate::simple::url::{percent_decode, python_fs_bytes, translate_path};
use crate::text::html_escape_into;
use crate::time::{unix_seconds, CivilTime};

/// The column a listing is sorted by (`?sort=name|size|modified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By name, case-insensitively, as CPython sorts (the default).
    #[default]
    Name,
    /// By size in bytes; directories and unknown sizes count as smallest.
    Size,
    /// By modification time; unknown times count as oldest.
    Modified,
}

impl SortKey {
    /// The word the query uses for it.
    fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Modified => "modified",
        }
    }
}

/// The direction of a listing's order (`&order=asc|desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Ascending (the default).
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl SortOrder {
    /// The word the query uses for it.
    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }

    /// The other direction.
    fn flipped(self) -> SortOrder {
        match self {
            SortOrder::Asc => SortOrder::Desc,
            SortOrder::Desc => SortOrder::Asc,
        }
    }
}

/// What the query string asks of a listing: `?format=json`,
/// `?sort=name|size|modified`, `&order=asc|desc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListingQuery {
    /// `format=json`: the JSON listing rather than an HTML page.
    pub json: bool,
    /// The column to sort by.
    pub sort: SortKey,
    /// The direction.
    pub order: SortOrder,
}

/// The listing options in `query` (the request target's text after `?`; a
/// leading `?` is ignored). Keys and values are percent-decoded; a key
/// given twice counts the last time; unknown keys are ignored and unknown
/// values give the defaults (HTML, by name, ascending), so that no query
/// makes a listing fail.
pub fn parse_listing_query(query: &str) -> ListingQuery {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut parsed = ListingQuery::default();
    for pair in query.split('&') {
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), Vec::new()),
        };
        match key.as_slice() {
            b"format" => parsed.json = value == b"json",
            b"sort" => {
                parsed.sort = match value.as_slice() {
                    b"size" => SortKey::Size,
                    b"modified" => SortKey::Modified,
                    _ => SortKey::Name,
                }
            }
            b"order" => parsed.order = if value == b"desc" { SortOrder::Desc } else { SortOrder::Asc },
            _ => {}
        }
    }
    parsed
}

/// How a listing page looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListingPage {
    /// `--rich-listing`: a sortable table of names, sizes and times.
    pub rich: bool,
    /// `--upload`: a form to upload files into the directory.
    pub upload_form: bool,
}

/// The upload form, as both pages show it (before the closing `<hr>`).
const UPLOAD_FORM: &[u8] = b"<form method=\"post\" enctype=\"multipart/form-data\">\
<input type=\"file\" name=\"file\" multiple> <button type=\"submit\">Upload</button></form>\n";

/// The end of CPython's page, before which the upload form goes.
const DEFAULT_PAGE_END: &[u8] = b"<hr>\n</body>\n</html>\n";

/// The rich page's style: readable in light and dark mode and on phones.
const RICH_STYLE: &str = ":root{color-scheme:light dark}\
body{font-family:system-ui,sans-serif;max-width:60em;margin:1em auto;padding:0 1em}\
table{border-collapse:collapse;width:100%}\
th,td{padding:.3em .6em;text-align:left;vertical-align:top}\
th{border-bottom:1px solid}\
th.size,td.size{text-align:right}\
td.size,td.time{white-space:nowrap}\
td.name{word-break:break-all}\
tbody tr:nth-child(even){background:rgba(128,128,128,.12)}\
a{text-decoration:none}a:hover{text-decoration:underline}";

/// The HTML listing of `entries` for `target` (the request target, query
/// included, which the page is titled with as CPython titles it). Not
/// rich: CPython's page exactly (`query` ignored, as CPython does), plus
/// the upload form when asked. Rich: a table sorted per `query`,
/// directories first.
pub fn listing_html(
    target: &str,
    entries: Vec<ListingEntry>,
    page: &ListingPage,
    query: &ListingQuery,
) -> Vec<u8> {
    if page.rich {
        return rich_page(target, entries, page, query);
    }
    let mut out = list_directory(target, &entries);
    if page.upload_form && out.ends_with(DEFAULT_PAGE_END) {
        out.truncate(out.len() - DEFAULT_PAGE_END.len());
        out.extend_from_slice(UPLOAD_FORM);
        out.extend_from_slice(DEFAULT_PAGE_END);
    }
    out
}

fn rich_page(target: &str, entries: Vec<ListingEntry>, page: &ListingPage, query: &ListingQuery) -> Vec<u8> {
    let entries = sorted(entries, query, true);
    // Titled as CPython's page is: the decoded target, escaped.
    let mut title = b"Directory listing for ".to_vec();
    html_escape_into(&mut title, &python_fs_bytes(percent_decode(target)));

    let mut out = Vec::with_capacity(
        1024 + title.len() * 2 + entries.iter().map(|e| 160 + e.name.len() * 4).sum::<usize>(),
    );
    out.extend_from_slice(
        b"<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"color-scheme\" content=\"light dark\">\n<title>",
    );
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</title>\n<style>");
    out.extend_from_slice(RICH_STYLE.as_bytes());
    out.extend_from_slice(b"</style>\n</head>\n<body>\n<h1>");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</h1>\n<hr>\n<table>\n<thead>\n<tr>");
    for (key, label, class) in [
        (SortKey::Name, "Name", ""),
        (SortKey::Size, "Size", " class=\"size\""),
        (SortKey::Modified, "Modified", ""),
    ] {
        header_cell(&mut out, key, label, class, query);
    }
    out.extend_from_slice(b"</tr>\n</thead>\n<tbody>\n");
    // Below the root there is somewhere to go up to.
    if !translate_path(target).is_root() {
        out.extend_from_slice(
            b"<tr><td class=\"name\"><a href=\"../\">../</a></td><td class=\"size\"></td><td class=\"time\"></td></tr>\n",
        );
    }
    for e in &entries {
        out.extend_from_slice(b"<tr><td class=\"name\">");
        push_entry_link(&mut out, e);
        out.extend_from_slice(b"</td><td class=\"size\"");
        match shown_len(e) {
            Some(len) => {
                let unit = if len == 1 { "byte" } else { "bytes" };
                out.extend_from_slice(format!(" title=\"{len} {unit}\">{}", human_size(len)).as_bytes());
            }
            None => out.extend_from_slice(b">-"),
        }
        out.extend_from_slice(b"</td><td class=\"time\">");
        if let Some(t) = e.modified {
            let t = CivilTime::from_unix(unix_seconds(t));
            out.extend_from_slice(
                format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year, t.month, t.day, t.hour, t.minute).as_bytes(),
            );
        }
        out.extend_from_slice(b"</td></tr>\n");
    }
    out.extend_from_slice(b"</tbody>\n</table>\n");
    if page.upload_form {
        out.extend_from_slice(UPLOAD_FORM);
    }
    out.extend_from_slice(DEFAULT_PAGE_END);
    out
}

/// A column heading: a link sorting by it (the current column's link flips
/// the order) and, on the current column, an arrow showing the order.
fn header_cell(out: &mut Vec<u8>, key: SortKey, label: &str, class: &str, query: &ListingQuery) {
    let current = query.sort == key;
    let order = if current { query.order.flipped() } else { SortOrder::Asc };
    out.extend_from_slice(b"<th");
    out.extend_from_slice(class.as_bytes());
    if current {
        out.extend_from_slice(match query.order {
            SortOrder::Asc => b" aria-sort=\"ascending\"".as_slice(),
            SortOrder::Desc => b" aria-sort=\"descending\"".as_slice(),
        });
    }
    out.extend_from_slice(
        format!("><a href=\"?sort={}&amp;order={}\">{label}</a>", key.as_str(), order.as_str()).as_bytes(),
    );
    if current {
        // ▲ / ▼, written as references so the page's bytes stay ASCII.
        out.extend_from_slice(match query.order {
            SortOrder::Asc => b" &#9650;".as_slice(),
            SortOrder::Desc => b" &#9660;".as_slice(),
        });
    }
    out.extend_from_slice(b"</th>");
}

/// The size a listing shows: a directory's says nothing useful.
fn shown_len(e: &ListingEntry) -> Option<u64> {
    if e.is_dir {
        None
    } else {
        e.len
    }
}

/// `len` bytes for people: `512 B`, `1.2 KiB`, `3.0 GiB` (binary units,
/// one decimal, rounded to nearest).
fn human_size(len: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if len < 1024 {
        return format!("{len} B");
    }
    let mut unit = 1;
    loop {
        let divisor = 1u128 << (10 * unit);
        // Tenths of the unit, rounded; integers, so no float surprises.
        let tenths = (u128::from(len) * 10 + divisor / 2) / divisor;
        // `1023.96 KiB` would show as `1024.0 KiB`: use the next unit.
        if tenths < 10 * 1024 || unit == UNITS.len() - 1 {
            return format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit]);
        }
        unit += 1;
    }
}

/// `entries` in the order `query` asks for, directories before files when
/// `dirs_first`. Ties (and the name order itself) follow CPython's
/// case-insensitive name order, then the bytes, so the order never depends
/// on the order the directory was read in.
fn sorted(entries: Vec<ListingEntry>, query: &ListingQuery, dirs_first: bool) -> Vec<ListingEntry> {
    let mut keyed: Vec<(String, ListingEntry)> =
        entries.into_iter().map(|e| (sort_key(&e.name), e)).collect();
    keyed.sort_by(|(ka, a), (kb, b)| {
        let group = if dirs_first { b.is_dir.cmp(&a.is_dir) } else { Ordering::Equal };
        let by_name = ka.cmp(kb).then_with(|| a.name.cmp(&b.name));
        let by_key = match query.sort {
            SortKey::Name => by_name,
            SortKey::Size => shown_len(a).cmp(&shown_len(b)),
            SortKey::Modified => a.modified.cmp(&b.modified),
        };
        let by_key = match query.order {
            SortOrder::Asc => by_key,
            SortOrder::Desc => by_key.reverse(),
        };
        // Equal sizes or times read best in name order, whatever the direction.
        group.then(by_key).then(by_name)
    });
    keyed.into_iter().map(|(_, e)| e).collect()
}

/// The JSON listing: an array of
/// `{"name":"a.txt","type":"file","size":5,"modified":"2026-12-01T20:00:00Z"}`
/// objects (`type` is `file` or `directory`; `"symlink":true` for a
/// link; `size` left out for directories and `size`/`modified` when
/// unknown), sorted by the query's key (CPython's name order by default),
/// ties by name. Names are UTF-8, undecodable bytes as U+FFFD.
pub fn listing_json(entries: Vec<ListingEntry>, query: &ListingQuery) -> Vec<u8> {
    let entries = sorted(entries, query, false);
    let mut out = String::with_capacity(2 + entries.iter().map(|e| 80 + e.name.len() * 2).sum::<usize>());
    out.push('[');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_string_into(&mut out, &String::from_utf8_lossy(&e.name));
        out.push_str(if e.is_dir { ",\"type\":\"directory\"" } else { ",\"type\":\"file\"" });
        if e.is_symlink {
            out.push_str(",\"symlink\":true");
        }
        if let Some(len) = shown_len(e) {
            out.push_str(&format!(",\"size\":{len}"));
        }
        if let Some(t) = e.modified {
            out.push_str(",\"modified\":\"");
            out.push_str(&rfc3339(t));
            out.push('"');
        }
        out.push('}');
    }
    out.push(']');
    out.into_bytes()
}

/// `2026-12-01T20:00:00Z`, whole seconds, UTC.
fn rfc3339(t: SystemTime) -> String {
    let t = CivilTime::from_unix(unix_seconds(t));
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

/// `s` as a JSON string literal. Beyond what JSON requires (`"`, `\`,
/// controls), `<`, `>`, `&` and U+2028/2029 are escaped too, so a hostile
/// name stays inert should the text ever be sniffed as HTML or pasted into
/// a script.
fn json_string_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{0}'..='\u{1f}' | '\u{7f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn file(name: &str, len: u64, secs: u64) -> ListingEntry {
        ListingEntry::new(name.as_bytes().to_vec(), false, false)
            .with_details(len, UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn dir(name: &str, secs: u64) -> ListingEntry {
        ListingEntry::new(name.as_bytes().to_vec(), true, false)
            .with_details(4096, UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn sample() -> Vec<ListingEntry> {
        vec![
            file("b.txt", 10, 300),
            dir("Zdir", 100),
            file("A.txt", 3000, 200),
            dir("adir", 400),
            file("c.txt", 10, 100),
        ]
    }

    fn query(sort: SortKey, order: SortOrder) -> ListingQuery {
        ListingQuery { json: false, sort, order }
    }

    fn rich(target: &str, entries: Vec<ListingEntry>, q: &ListingQuery) -> String {
        let page = ListingPage { rich: true, upload_form: false };
        String::from_utf8(listing_html(target, entries, &page, q)).unwrap()
    }

    /// The names of the table's rows, in order.
    fn row_names(html: &str) -> Vec<String> {
        html.split("<td class=\"name\"><a href=\"")
            .skip(1)
            .map(|row| {
                let text = &row[row.find('>').unwrap() + 1..];
                text[..text.find("</a>").unwrap()].to_string()
            })
            .collect()
    }

    #[test]
    fn parses_the_query() {
        assert_eq!(parse_listing_query(""), ListingQuery::default());
        assert_eq!(
            parse_listing_query("format=json&sort=size&order=desc"),
            ListingQuery { json: true, sort: SortKey::Size, order: SortOrder::Desc }
        );
        assert_eq!(
            parse_listing_query("?sort=modified&x=1&order=asc"),
            ListingQuery { json: false, sort: SortKey::Modified, order: SortOrder::Asc }
        );
        // Percent-encoded words count; unknown values are the defaults;
        // the last of a repeated key wins.
        assert_eq!(parse_listing_query("sort=%73ize&format=%6Ason").sort, SortKey::Size);
        assert!(parse_listing_query("format=%6Ason").json);
        assert_eq!(parse_listing_query("sort=owner&order=sideways&format=xml"), ListingQuery::default());
        assert_eq!(parse_listing_query("sort=size&sort=name"), ListingQuery::default());
        assert!(!parse_listing_query("format").json);
    }

    #[test]
    fn rich_page_sorts_directories_first_by_each_key() {
        let q = ListingQuery::default();
        assert_eq!(row_names(&rich("/", sample(), &q)), ["adir/", "Zdir/", "A.txt", "b.txt", "c.txt"]);
        let q = query(SortKey::Name, SortOrder::Desc);
        assert_eq!(row_names(&rich("/", sample(), &q)), ["Zdir/", "adir/", "c.txt", "b.txt", "A.txt"]);
        // Equal sizes tie by name in both directions; directories have no size.
        let q = query(SortKey::Size, SortOrder::Asc);
        assert_eq!(row_names(&rich("/", sample(), &q)), ["adir/", "Zdir/", "b.txt", "c.txt", "A.txt"]);
        let q = query(SortKey::Size, SortOrder::Desc);
        assert_eq!(row_names(&rich("/", sample(), &q)), ["adir/", "Zdir/", "A.txt", "b.txt", "c.txt"]);
        let q = query(SortKey::Modified, SortOrder::Asc);
        assert_eq!(row_names(&rich("/", sample(), &q)), ["Zdir/", "adir/", "c.txt", "A.txt", "b.txt"]);
        let q = query(SortKey::Modified, SortOrder::Desc);
        assert_eq!(row_names(&rich("/", sample(), &q)), ["adir/", "Zdir/", "b.txt", "A.txt", "c.txt"]);
    }

    #[test]
    fn header_links_flip_the_current_column_and_show_an_arrow() {
        let html = rich("/", sample(), &ListingQuery::default());
        assert!(html.contains(
            "<th aria-sort=\"ascending\"><a href=\"?sort=name&amp;order=desc\">Name</a> &#9650;</th>"
        ));
        assert!(html.contains("<th class=\"size\"><a href=\"?sort=size&amp;order=asc\">Size</a></th>"));
        assert!(html.contains("<th><a href=\"?sort=modified&amp;order=asc\">Modified</a></th>"));

        let html = rich("/d/?sort=size&order=desc", sample(), &query(SortKey::Size, SortOrder::Desc));
        assert!(html.contains(
            "<th class=\"size\" aria-sort=\"descending\"><a href=\"?sort=size&amp;order=asc\">Size</a> &#9660;</th>"
        ));
        assert!(html.contains("<th><a href=\"?sort=name&amp;order=asc\">Name</a></th>"));
        assert_eq!(html.matches("&#96").count(), 1, "one arrow");
    }

    #[test]
    fn parent_row_except_at_the_root() {
        let up = "<a href=\"../\">../</a>";
        assert!(!rich("/", sample(), &ListingQuery::default()).contains(up));
        assert!(!rich("/?sort=size", sample(), &ListingQuery::default()).contains(up));
        assert!(!rich("/sub/../", sample(), &ListingQuery::default()).contains(up));
        let html = rich("/sub/", sample(), &ListingQuery::default());
        assert!(html.contains(up));
        assert_eq!(row_names(&html)[0], "../", "first row");
    }

    #[test]
    fn rich_page_shows_sizes_times_and_its_head() {
        let html = rich(
            "/",
            vec![
                file("a.txt", 5, 1_796_155_200), // 2026-12-01 20:00:00 UTC
                file("one", 1, 0),
                file("big", 1234, 0),
                dir("sub", 0),
                ListingEntry::new(b"gone".to_vec(), false, true),
            ],
            &ListingQuery::default(),
        );
        assert!(html.contains(
            "<a href=\"a.txt\">a.txt</a></td><td class=\"size\" title=\"5 bytes\">5 B</td>\
<td class=\"time\">2026-12-01 20:00</td>"
        ));
        assert!(html.contains("title=\"1 byte\">1 B<"));
        assert!(html.contains("title=\"1234 bytes\">1.2 KiB<"));
        assert!(html.contains(
            "<a href=\"sub/\">sub/</a></td><td class=\"size\">-</td><td class=\"time\">1970-01-01 00:00</td>"
        ));
        assert!(
            html.contains("<a href=\"gone\">gone@</a></td><td class=\"size\">-</td><td class=\"time\"></td>")
        );
        assert!(html.contains("<meta name=\"color-scheme\" content=\"light dark\">"));
        assert!(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
        assert!(html.contains("<style>:root{color-scheme:light dark}"));
        assert!(html.contains("<title>Directory listing for /</title>"));
        assert!(html.ends_with("</tbody>\n</table>\n<hr>\n</body>\n</html>\n"));
        assert!(!html.contains("<script") && !html.contains("<form"));
        assert!(!html.contains("http:") && !html.contains("src="), "no external resources");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1229), "1.2 KiB");
        assert_eq!(human_size(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024 + 512 * 1024 * 1024), "5.5 GiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn hostile_names_are_escaped_in_html() {
        let hostile = vec![
            ListingEntry::new(b"<script>alert(1)</script>".to_vec(), false, false),
            ListingEntry::new(b"q\"uo'te&amp".to_vec(), true, false),
            ListingEntry::new(b"\xe9\xff".to_vec(), false, false),
        ];
        let html = listing_html(
            "/x/%3Cscript%3E/?\"<b>",
            hostile,
            &ListingPage { rich: true, upload_form: true },
            &ListingQuery::default(),
        );
        let text = String::from_utf8_lossy(&html);
        assert!(text.contains(
            "<a href=\"%3Cscript%3Ealert%281%29%3C/script%3E\">&lt;script&gt;alert(1)&lt;/script&gt;</a>"
        ));
        assert!(text.contains("<a href=\"q%22uo%27te%26amp/\">q\"uo'te&amp;amp/</a>"));
        assert!(text.contains("<title>Directory listing for /x/&lt;script&gt;/?\"&lt;b&gt;</title>"));
        assert!(!text.contains("<script>") && !text.contains("<b>"));
        // Non-UTF-8 bytes: quoted as CPython quotes them, shown as bytes.
        let needle: &[u8] = b"<a href=\"%ED%B3%A9%ED%B3%BF\">\xe9\xff</a>";
        assert!(html.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn default_page_is_cpythons_and_gets_the_form_only_when_asked() {
        let entries =
            || vec![file("a.txt", 5, 0), dir("sub", 0), ListingEntry::new(b"l".to_vec(), false, true)];
        let plain = ListingPage::default();
        // Any query: CPython ignores it.
        let q = query(SortKey::Size, SortOrder::Desc);
        assert_eq!(
            listing_html("/d/?sort=size", entries(), &plain, &q),
            list_directory("/d/?sort=size", &entries())
        );

        let with_form = ListingPage { rich: false, upload_form: true };
        let html = String::from_utf8(listing_html("/d/", entries(), &with_form, &q)).unwrap();
        let cpython = String::from_utf8(list_directory("/d/", &entries())).unwrap();
        let form = std::str::from_utf8(UPLOAD_FORM).unwrap();
        assert_eq!(html, cpython.replace("</ul>\n<hr>\n", &format!("</ul>\n{form}<hr>\n")));
        assert!(html.contains(
            "</ul>\n<form method=\"post\" enctype=\"multipart/form-data\"><input type=\"file\" name=\"file\" \
multiple> <button type=\"submit\">Upload</button></form>\n<hr>\n</body>\n</html>\n"
        ));

        let rich_form = rich("/d/", entries(), &ListingQuery::default());
        assert!(!rich_form.contains("<form"));
        let page = ListingPage { rich: true, upload_form: true };
        let rich_form =
            String::from_utf8(listing_html("/d/", entries(), &page, &ListingQuery::default())).unwrap();
        assert!(rich_form.ends_with(&format!("</table>\n{form}<hr>\n</body>\n</html>\n")));
    }

    /// A minimal reader of what `listing_json` writes: objects of string,
    /// number and `true` values, in an array. Panics on anything else, so
    /// malformed output fails the test.
    fn parse_json(text: &str) -> Vec<Vec<(String, String)>> {
        fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
            assert_eq!(chars.next(), Some('"'));
            let mut s = String::new();
            loop {
                match chars.next().expect("unterminated string") {
                    '"' => return s,
                    '\\' => match chars.next().unwrap() {
                        '"' => s.push('"'),
                        '\\' => s.push('\\'),
                        'u' => {
                            let hex: String = (0..4).map(|_| chars.next().unwrap()).collect();
                            s.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                        }
                        other => panic!("unexpected escape {other}"),
                    },
                    c => {
                        assert!(u32::from(c) >= 0x20, "raw control character in a string");
                        s.push(c);
                    }
                }
            }
        }
        let mut chars = text.chars().peekable();
        let mut objects = Vec::new();
        assert_eq!(chars.next(), Some('['));
        if chars.peek() == Some(&']') {
            chars.next();
        }
        while chars.peek().is_some() {
            assert_eq!(chars.next(), Some('{'));
            let mut fields = Vec::new();
            loop {
                let key = string(&mut chars);
                assert_eq!(chars.next(), Some(':'));
                let value = if chars.peek() == Some(&'"') {
                    string(&mut chars)
                } else {
                    let mut v = String::new();
                    while chars.peek().map_or(false, |c| c.is_ascii_alphanumeric()) {
                        v.push(chars.next().unwrap());
                    }
                    assert!(v == "true" || v.parse::<u64>().is_ok(), "bad value {v}");
                    v
                };
                fields.push((key, value));
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("unexpected {other:?}"),
                }
            }
            objects.push(fields);
            match chars.next() {
                Some(',') => continue,
                Some(']') => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(chars.next(), None, "text after the array");
        objects
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn json_listing_shape() {
        let entries = vec![
            file("a.txt", 5, 1_796_155_200),
            dir("sub", 1_796_155_200),
            ListingEntry::new(b"l".to_vec(), false, true).with_details(7, UNIX_EPOCH),
            ListingEntry::new(b"dangling".to_vec(), false, true),
        ];
        let text = String::from_utf8(listing_json(entries, &ListingQuery::default())).unwrap();
        assert_eq!(
            text,
            "[{\"name\":\"a.txt\",\"type\":\"file\",\"size\":5,\"modified\":\"2026-12-01T20:00:00Z\"},\
{\"name\":\"dangling\",\"type\":\"file\",\"symlink\":true},\
{\"name\":\"l\",\"type\":\"file\",\"symlink\":true,\"size\":7,\"modified\":\"1970-01-01T00:00:00Z\"},\
{\"name\":\"sub\",\"type\":\"directory\",\"modified\":\"2026-12-01T20:00:00Z\"}]"
        );
        assert_eq!(parse_json(&text).len(), 4);
        assert_eq!(listing_json(Vec::new(), &ListingQuery::default()), b"[]");
        assert!(parse_json("[]").is_empty());
    }

    #[test]
    fn json_listing_sorts_by_the_query_without_grouping_directories() {
        let names = |q: &ListingQuery| -> Vec<String> {
            parse_json(std::str::from_utf8(&listing_json(sample(), q)).unwrap())
                .into_iter()
                .map(|f| f[0].1.clone())
                .collect()
        };
        assert_eq!(names(&ListingQuery::default()), ["A.txt", "adir", "b.txt", "c.txt", "Zdir"]);
        assert_eq!(
            names(&query(SortKey::Name, SortOrder::Desc)),
            ["Zdir", "c.txt", "b.txt", "adir", "A.txt"]
        );
        assert_eq!(
            names(&query(SortKey::Size, SortOrder::Desc)),
            ["A.txt", "b.txt", "c.txt", "adir", "Zdir"]
        );
        assert_eq!(
            names(&query(SortKey::Modified, SortOrder::Asc)),
            ["c.txt", "Zdir", "A.txt", "b.txt", "adir"]
        );
    }

    #[test]
    fn hostile_names_are_escaped_in_json() {
        let entries = vec![
            ListingEntry::new(b"<script>\"q\"&\\".to_vec(), false, false),
            ListingEntry::new(b"ctl\x01\n\x7f\t".to_vec(), false, false),
            ListingEntry::new(b"bad\xe9\xff.txt".to_vec(), false, false),
            ListingEntry::new("line\u{2028}sep \u{e9}".as_bytes().to_vec(), false, false),
        ];
        let bytes = listing_json(entries, &ListingQuery::default());
        let text = String::from_utf8(bytes).expect("the JSON is UTF-8");
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        assert!(text.contains(r#""\u003cscript\u003e\"q\"\u0026\\""#));
        assert!(text.contains(r#""ctl\u0001\u000a\u007f\u0009""#));
        let names: Vec<String> = parse_json(&text).into_iter().map(|f| f[0].1.clone()).collect();
        assert_eq!(
            names,
            ["<script>\"q\"&\\", "bad\u{fffd}\u{fffd}.txt", "ctl\u{1}\n\u{7f}\t", "line\u{2028}sep \u{e9}",]
        );
        let expected = fields(&[("name", "bad\u{fffd}\u{fffd}.txt"), ("type", "file")]);
        assert_eq!(parse_json(&text)[1], expected);
    }
}
