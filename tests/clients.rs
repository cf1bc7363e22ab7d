//! Range requests, entity tags and `--precompressed` as real clients use
//! them: curl (`-r`, `-C -`, `--compressed`, `-I`), wget (`-c`), aria2c
//! (parallel segments) and Python's urllib (`If-None-Match`), each run
//! against the built binary on loopback with a bounded `timeout`.
//!
//! What each client downloads is compared byte for byte with the file
//! served (random bytes from a fixed-seed generator), and the server's log
//! says whether a range was really served (206) rather than the whole file
//! again. The clients come from `tools/test-deps.sh` (`make test` runs it);
//! only the Brotli case is skipped when this curl cannot decode Brotli.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Longest any one client may run before `timeout` stops it.
const CLIENT_SECONDS: &str = "60";

/// Run `program args` under `timeout` (loopback only: no proxy taken from
/// the environment). Panics when it cannot be run or runs out of time.
fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new("timeout")
        .args(["-k", "5", CLIENT_SECONDS, program])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running timeout {program}: {e}"));
    match out.status.code() {
        Some(124) | Some(137) => panic!("{program} {args:?} still running after {CLIENT_SECONDS} s"),
        Some(126) | Some(127) => panic!(
            "{program} could not be run (run tools/test-deps.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        _ => out,
    }
}

/// [`run`], which must exit 0.
fn run_ok(program: &str, args: &[&str]) -> Output {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// curl without a `.curlrc`, silent but for errors; must exit 0.
fn curl(args: &[&str]) -> Output {
    let mut all = vec!["-q", "-sS", "--noproxy", "*"];
    all.extend_from_slice(args);
    run_ok("curl", &all)
}

fn url(server: &ServerProcess, path: &str) -> String {
    format!("http://{}{}", server.addr, path)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// The served file of the range tests: an odd size of a few hundred KiB.
const RANDOM_LEN: usize = 300_007;

/// A root holding `random.bin`; the file's bytes.
fn random_root() -> (TempDir, Vec<u8>) {
    let root = TempDir::new("clients-root");
    let data = random_bytes(0x5eed, RANDOM_LEN);
    fs::write(root.path().join("random.bin"), &data).unwrap();
    (root, data)
}

/// A response head as curl dumps it (`-D` or `-I`).
fn head_of(dump: &[u8]) -> Response {
    let r = parse_response(dump);
    assert!(r.body.is_empty(), "more than one response head: {}", show(dump));
    r
}

/// The head's header lines but `Date`, in order.
fn without_date(r: &Response) -> Vec<(String, String)> {
    r.headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("Date")).cloned().collect()
}

/// `GET` with `curl args`: the head (`-D`) and the body (`-o`).
fn curl_get(server: &ServerProcess, path: &str, args: &[&str]) -> (Response, Vec<u8>) {
    let out = TempDir::new("clients-out");
    let (head, body) = (out.path().join("head"), out.path().join("body"));
    let target = url(server, path);
    let mut all = vec!["-D", path_str(&head), "-o", path_str(&body)];
    all.extend_from_slice(args);
    all.push(&target);
    curl(&all);
    let head = head_of(&fs::read(&head).unwrap());
    // curl creates no output file for an empty body.
    let body = fs::read(&body).unwrap_or_default();
    (head, body)
}

/// Log lines until `done` holds of them (or 5 s pass): the server writes
/// its log in batches, a little after the replies.
fn log_until(server: &ServerProcess, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut lines = Vec::new();
    loop {
        lines.extend(server.take_log_expecting(1));
        if done(&lines) || Instant::now() > deadline {
            return lines;
        }
    }
}

/// The log lines of requests for `path`, and their status codes.
fn requests_for(lines: &[String], method_path: &str) -> Vec<u16> {
    let needle = format!("\"{method_path} HTTP/");
    lines
        .iter()
        .filter(|l| l.contains(&needle))
        .map(|l| {
            let status = l.rsplit('"').next().unwrap_or("").split_whitespace().next().unwrap_or("");
            status.parse().unwrap_or_else(|_| panic!("no status in log line {l:?}"))
        })
        .collect()
}

/// `bytes FIRST-LAST/COMPLETE`.
fn content_range(value: &str) -> (u64, u64, u64) {
    let parse = || -> Option<(u64, u64, u64)> {
        let rest = value.strip_prefix("bytes ")?;
        let (span, complete) = rest.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        Some((first.parse().ok()?, last.parse().ok()?, complete.parse().ok()?))
    };
    parse().unwrap_or_else(|| panic!("bad Content-Range {value:?}"))
}

/// One part of a `multipart/byteranges` body.
#[derive(Debug)]
struct Part {
    content_type: String,
    /// (first, last, complete) from its `Content-Range`.
    range: (u64, u64, u64),
    bytes: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Split a `multipart/byteranges` body (RFC 9110 section 14.6, RFC 2046
/// section 5.1.1) into its parts: each part's length is read from its
/// `Content-Range`, and the bytes after it must be the next delimiter.
fn parse_byteranges(content_type: &str, body: &[u8]) -> Vec<Part> {
    let (media, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    assert!(media.trim().eq_ignore_ascii_case("multipart/byteranges"), "Content-type {content_type:?}");
    let boundary = params
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim_matches('"'))
        .unwrap_or_else(|| panic!("no boundary in {content_type:?}"));
    assert!(
        !boundary.is_empty() && boundary.len() <= 70,
        "boundary {boundary:?} (RFC 2046: 1 to 70 characters)"
    );
    let delimiter = format!("--{boundary}");
    let mut pos =
        find(body, delimiter.as_bytes()).unwrap_or_else(|| panic!("no delimiter in {}", show(body)));
    assert!(pos == 0 || body[..pos].ends_with(b"\r\n"), "preamble not ended by CRLF: {}", show(&body[..pos]));
    let mut parts = Vec::new();
    loop {
        pos += delimiter.len();
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            assert!(
                rest[2..].is_empty() || rest[2..].starts_with(b"\r\n"),
                "close delimiter followed by {}",
                show(&rest[2..])
            );
            return parts;
        }
        assert!(rest.starts_with(b"\r\n"), "delimiter of part {} not followed by CRLF", parts.len());
        pos += 2;
        let head_len = find(&body[pos..], b"\r\n\r\n")
            .unwrap_or_else(|| panic!("part {} has no end of head", parts.len()));
        let head = String::from_utf8_lossy(&body[pos..pos + head_len]).into_owned();
        let field = |name: &str| {
            head.split("\r\n")
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let part_type = field("Content-Type")
            .unwrap_or_else(|| panic!("part {} has no Content-Type: {head:?}", parts.len()));
        let range = content_range(
            &field("Content-Range")
                .unwrap_or_else(|| panic!("part {} has no Content-Range: {head:?}", parts.len())),
        );
        assert!(range.0 <= range.1 && range.1 < range.2, "part {} range {range:?}", parts.len());
        let start = pos + head_len + 4;
        let end = start + (range.1 - range.0 + 1) as usize;
        assert!(
            end <= body.len(),
            "part {} ({range:?}) runs past the body ({} bytes)",
            parts.len(),
            body.len()
        );
        parts.push(Part { content_type: part_type, range, bytes: body[start..end].to_vec() });
        assert!(
            body[end..].starts_with(format!("\r\n{delimiter}").as_bytes()),
            "part {} ({range:?}) not followed by a delimiter: {}",
            parts.len() - 1,
            show(&body[end..end + 80.min(body.len() - end)])
        );
        pos = end + 2;
    }
}

#[test]
fn curl_single_range_gets_exactly_those_bytes() {
    let (root, data) = random_root();
    let server = ServerProcess::ours(root.path(), &[]);
    let (head, body) = curl_get(&server, "/random.bin", &["-r", "100-199"]);
    assert_eq!(head.status(), 206, "{head:?}");
    assert_eq!(
        head.header("Content-Range"),
        Some(format!("bytes 100-199/{RANDOM_LEN}").as_str()),
        "{head:?}"
    );
    assert_eq!(head.header("Content-Length"), Some("100"), "{head:?}");
    assert_eq!(head.header("Content-type"), Some("application/octet-stream"), "{head:?}");
    assert_same_bytes("curl -r 100-199", &body, &data[100..200]);
}

#[test]
fn curl_suffix_range_gets_the_last_bytes() {
    let (root, data) = random_root();
    let server = ServerProcess::ours(root.path(), &[]);
    let (head, body) = curl_get(&server, "/random.bin", &["-r", "-500"]);
    assert_eq!(head.status(), 206, "{head:?}");
    let want = format!("bytes {}-{}/{RANDOM_LEN}", RANDOM_LEN - 500, RANDOM_LEN - 1);
    assert_eq!(head.header("Content-Range"), Some(want.as_str()), "{head:?}");
    assert_eq!(head.header("Content-Length"), Some("500"), "{head:?}");
    assert_same_bytes("curl -r -500", &body, &data[RANDOM_LEN - 500..]);
}

#[test]
fn curl_multi_range_is_multipart_byteranges_with_the_right_bytes() {
    let (root, data) = random_root();
    let server = ServerProcess::ours(root.path(), &[]);
    let (head, body) = curl_get(&server, "/random.bin", &["-r", "0-99,1000-1099,5000-"]);
    assert_eq!(head.status(), 206, "{head:?}");
    assert_eq!(head.header("Content-Length"), Some(body.len().to_string().as_str()), "{head:?}");
    assert_eq!(
        head.header("Content-Range"),
        None,
        "a multipart reply has Content-Range in its parts: {head:?}"
    );
    let parts = parse_byteranges(head.header("Content-type").expect("Content-type"), &body);
    let last = RANDOM_LEN as u64 - 1;
    // Far apart: nothing to coalesce, so in the order asked (14.6).
    let want = [(0, 99), (1000, 1099), (5000, last)];
    let got: Vec<(u64, u64)> = parts.iter().map(|p| (p.range.0, p.range.1)).collect();
    assert_eq!(got, want, "parts' Content-Range");
    for p in &parts {
        assert_eq!(p.range.2, RANDOM_LEN as u64, "{:?}", p.range);
        assert_eq!(p.content_type, "application/octet-stream", "part {:?}", p.range);
        let (first, last) = (p.range.0 as usize, p.range.1 as usize);
        assert_same_bytes(&format!("part {first}-{last}"), &p.bytes, &data[first..=last]);
    }
    // curl stops at Content-Length; read to close to see that nothing
    // follows it either.
    let raw = exchange(
        server.addr,
        b"GET /random.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99,1000-1099,5000-\r\nConnection: close\r\n\r\n",
        false,
        Duration::from_secs(10),
    );
    let r = parse_response(&raw);
    assert_eq!(r.status(), 206, "{}", show(&raw));
    assert_eq!(r.header("Content-Length"), Some(r.body.len().to_string().as_str()), "raw multipart reply");
    assert_eq!(parse_byteranges(r.header("Content-type").unwrap(), &r.body).len(), 3);
}

/// `client flags... OUT URL` (`curl -C - -o`, `wget -c -O`) where OUT
/// already holds the first half of the file: the result is the whole
/// file, from one request the server answered with 206.
fn resume_with(client: &str, flags: &[&str]) {
    let (root, data) = random_root();
    let server = ServerProcess::ours(root.path(), &[]);
    let out = TempDir::new("clients-out");
    let partial = out.path().join("random.bin");
    fs::write(&partial, &data[..RANDOM_LEN / 2]).unwrap();
    let target = url(&server, "/random.bin");
    let mut args = flags.to_vec();
    args.extend([path_str(&partial), &target]);
    run_ok(client, &args);
    assert_same_bytes(&format!("{client} {args:?}"), &fs::read(&partial).unwrap(), &data);
    let lines = log_until(&server, |l| !requests_for(l, "GET /random.bin").is_empty());
    assert_eq!(
        requests_for(&lines, "GET /random.bin"),
        [206],
        "{client} resumed with one range request: {lines:#?}"
    );
}

#[test]
fn curl_resumes_a_half_download_with_a_206() {
    resume_with("curl", &["-q", "--noproxy", "*", "-sS", "-C", "-", "-o"]);
}

#[test]
fn wget_continues_a_half_download_with_a_206() {
    resume_with("wget", &["--no-config", "--no-proxy", "-q", "-c", "-O"]);
}

#[test]
fn aria2c_parallel_ranges_reassemble_a_64_mib_file() {
    const LEN: usize = 64 << 20;
    let root = TempDir::new("clients-root");
    let data = random_bytes(0xa51a, LEN);
    fs::write(root.path().join("big.bin"), &data).unwrap();
    let server = ServerProcess::ours(root.path(), &[]);
    let out = TempDir::new("clients-out");
    let target = url(&server, "/big.bin");
    run_ok(
        "aria2c",
        &[
            "--no-conf=true",
            "-x4",
            "-s4",
            "--min-split-size=1M",
            // A failed connection fails the download rather than being
            // retried into a good file.
            "--max-tries=1",
            "--allow-overwrite=true",
            "--auto-file-renaming=false",
            "--file-allocation=none",
            "-q",
            "-d",
            path_str(out.path()),
            "-o",
            "big.bin",
            &target,
        ],
    );
    assert_same_bytes("aria2c download", &fs::read(out.path().join("big.bin")).unwrap(), &data);
    let lines =
        log_until(&server, |l| requests_for(l, "GET /big.bin").iter().filter(|s| **s == 206).count() > 1);
    // And any request logged a little later.
    let lines = [lines, server.take_log()].concat();
    let statuses = requests_for(&lines, "GET /big.bin");
    eprintln!("aria2c requests: {statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 206).count() > 1, "no parallel ranges: {lines:#?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 206), "{lines:#?}");
}

/// Fetch argv[1] with urllib, with `If-None-Match: argv[2]` unless empty:
/// the status (an HTTPError's code for 304), the ETag, the body in hex.
const URLLIB_FETCH: &str = r#"
import sys, urllib.request, urllib.error
url, tag = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url)
if tag:
    req.add_header("If-None-Match", tag)
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        code, headers, body = r.status, r.headers, r.read()
except urllib.error.HTTPError as e:
    code, headers, body = e.code, e.headers, e.read()
print(code)
print(headers.get("ETag") or "")
print(body.hex())
"#;

/// (status, ETag, body) of a urllib fetch.
fn urllib_fetch(url: &str, if_none_match: &str) -> (u16, String, Vec<u8>) {
    let out = run_ok("python3", &["-c", URLLIB_FETCH, url, if_none_match]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "urllib script printed {text:?}");
    let hex = lines[2];
    let body = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    (lines[0].parse().unwrap(), lines[1].to_string(), body)
}

#[test]
fn python_urllib_revalidates_with_if_none_match() {
    let root = TempDir::new("clients-root");
    let file = root.path().join("doc.txt");
    let first = b"first version\n".repeat(20);
    fs::write(&file, &first).unwrap();
    let server = ServerProcess::ours(root.path(), &[]);
    let target = url(&server, "/doc.txt");

    let (status, etag, body) = urllib_fetch(&target, "");
    assert_eq!(status, 200);
    assert_eq!(body, first);
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "a strong entity tag: {etag:?}");

    let (status, tag_304, body) = urllib_fetch(&target, &etag);
    assert_eq!(status, 304, "If-None-Match with the current tag");
    assert!(body.is_empty(), "a 304 has no body: {body:?}");
    assert_eq!(tag_304, etag, "the 304 carries the tag a 200 would");

    // Rewritten in place (same inode) with other content of another length.
    let second = b"second version, longer\n".repeat(20);
    fs::write(&file, &second).unwrap();
    let (status, new_etag, body) = urllib_fetch(&target, &etag);
    assert_eq!(status, 200, "If-None-Match with the old tag after a rewrite");
    assert_eq!(body, second);
    assert!(!new_etag.is_empty(), "the 200 has an ETag");
    assert_ne!(new_etag, etag, "the rewritten file has a new tag");

    let (status, _, _) = urllib_fetch(&target, &new_etag);
    assert_eq!(status, 304, "If-None-Match with the new tag");
}

#[test]
fn head_and_get_agree_on_a_range_request() {
    let (root, _data) = random_root();
    let server = ServerProcess::ours(root.path(), &[]);
    let target = url(&server, "/random.bin");
    let head = head_of(&curl(&["-I", "-r", "0-9", &target]).stdout);
    let get = head_of(&curl(&["-D", "-", "-r", "0-9", "-o", "/dev/null", &target]).stdout);
    assert_eq!(head.status_line, get.status_line);
    assert_eq!(head.status(), 206, "{head:?}");
    assert_eq!(head.header("Content-Range"), Some(format!("bytes 0-9/{RANDOM_LEN}").as_str()));
    assert_eq!(without_date(&head), without_date(&get));
}

/// What `page.html` holds: compressible HTML of a few KiB.
fn page() -> Vec<u8> {
    let mut page = b"<!DOCTYPE html>\n<html><head><title>precompressed</title></head><body>\n".to_vec();
    for i in 0..200 {
        page.extend_from_slice(format!("<p>line {i} of the page, said many times over</p>\n").as_bytes());
    }
    page.extend_from_slice(b"</body></html>\n");
    page
}

/// A Brotli stream of `data` (under 64 KiB) as one uncompressed meta-block
/// (RFC 7932 section 9.2): what `brotli` would make at no compression, so
/// the test needs no Brotli encoder.
fn brotli_stored(data: &[u8]) -> Vec<u8> {
    assert!(!data.is_empty() && data.len() <= 1 << 16);
    // WBITS 16 (one 0 bit), ISLAST 0, MNIBBLES 4 (00), MLEN-1 in 16 bits,
    // ISUNCOMPRESSED 1, then zero bits to the byte boundary.
    let header = ((data.len() as u32 - 1) << 4) | (1 << 20);
    let mut out = header.to_le_bytes()[..3].to_vec();
    out.extend_from_slice(data);
    // ISLAST 1, ISLASTEMPTY 1.
    out.push(0b11);
    out
}

/// Whether this curl decodes Brotli (`curl -V` lists it).
fn curl_has_brotli() -> bool {
    let version = String::from_utf8(curl(&["-V"]).stdout).unwrap();
    version.lines().any(|l| l.starts_with("Features:") && l.split_whitespace().any(|f| f == "brotli"))
}

/// A `--precompressed` server on a root with `page.html`, `page.html.gz`
/// (made by gzip) and, if asked, `page.html.br`: (root, server, page, gz).
fn precompressed_site(with_br: bool) -> (TempDir, ServerProcess, Vec<u8>, Vec<u8>) {
    let root = TempDir::new("clients-root");
    let html = root.path().join("page.html");
    fs::write(&html, page()).unwrap();
    run_ok("gzip", &["-k", "-n", "-9", path_str(&html)]);
    let gz = fs::read(root.path().join("page.html.gz")).unwrap();
    assert_eq!(&gz[..2], b"\x1f\x8b");
    if with_br {
        fs::write(root.path().join("page.html.br"), brotli_stored(&page())).unwrap();
    }
    let server = ServerProcess::ours(root.path(), &["--precompressed"]);
    (root, server, page(), gz)
}

#[test]
fn precompressed_gzip_is_decoded_by_curl_compressed() {
    let (_root, server, page, _gz) = precompressed_site(false);
    let (head, body) = curl_get(&server, "/page.html", &["--compressed"]);
    assert_eq!(head.status(), 200, "{head:?}");
    assert_eq!(head.header("Content-Encoding"), Some("gzip"), "{head:?}");
    assert_same_bytes("curl --compressed, decoded", &body, &page);
}

#[test]
fn precompressed_gzip_is_sent_as_is_to_a_client_asking_for_gzip() {
    let (_root, server, page, gz) = precompressed_site(false);
    let (head, body) = curl_get(&server, "/page.html", &["-H", "Accept-Encoding: gzip"]);
    assert_eq!(head.status(), 200, "{head:?}");
    assert_same_bytes("raw body for Accept-Encoding: gzip", &body, &gz);
    assert_eq!(head.header("Content-Encoding"), Some("gzip"), "{head:?}");
    assert_eq!(head.header("Vary"), Some("Accept-Encoding"), "{head:?}");
    assert_eq!(
        head.header("Content-type"),
        Some("text/html; charset=utf-8"),
        "the type of page.html, not of a .gz: {head:?}"
    );
    assert_eq!(head.header("Content-Length"), Some(gz.len().to_string().as_str()), "{head:?}");
    // Another representation, so another strong tag (RFC 9110 8.8.3).
    let (plain, plain_body) = curl_get(&server, "/page.html", &[]);
    assert_eq!(plain_body, page);
    assert!(head.header("ETag").is_some() && plain.header("ETag").is_some(), "{head:?} {plain:?}");
    assert_ne!(head.header("ETag"), plain.header("ETag"), "gzip and identity share a strong ETag");
}

#[test]
fn precompressed_without_accept_encoding_is_the_plain_file() {
    let (_root, server, page, _gz) = precompressed_site(false);
    // curl sends no Accept-Encoding unless told to.
    let (head, body) = curl_get(&server, "/page.html", &[]);
    assert_eq!(head.status(), 200, "{head:?}");
    assert_same_bytes("body without Accept-Encoding", &body, &page);
    assert_eq!(head.header("Content-Encoding"), None, "{head:?}");
    assert_eq!(head.header("Content-type"), Some("text/html; charset=utf-8"), "{head:?}");
    assert_eq!(head.header("Vary"), Some("Accept-Encoding"), "the choice still depended on it: {head:?}");
}

#[test]
fn precompressed_head_and_get_agree() {
    let (_root, server, _page, _gz) = precompressed_site(false);
    let target = url(&server, "/page.html");
    for extra in [&[][..], &["-H", "Accept-Encoding: gzip"], &["--compressed"]] {
        let mut head_args = vec!["-I"];
        head_args.extend_from_slice(extra);
        head_args.push(&target);
        let mut get_args = vec!["-D", "-", "-o", "/dev/null"];
        get_args.extend_from_slice(extra);
        get_args.push(&target);
        let head = head_of(&curl(&head_args).stdout);
        let get = head_of(&curl(&get_args).stdout);
        assert_eq!(head.status_line, get.status_line, "{extra:?}");
        assert_eq!(without_date(&head), without_date(&get), "{extra:?}");
    }
}

#[test]
fn precompressed_brotli_is_preferred_by_curl_compressed() {
    if !curl_has_brotli() {
        eprintln!("skipped: this curl does not decode Brotli");
        return;
    }
    let (_root, server, page, gz) = precompressed_site(true);
    // curl --compressed offers "deflate, gzip, br, zstd": equal weights,
    // the server's order (br first).
    let (head, body) = curl_get(&server, "/page.html", &["--compressed"]);
    assert_eq!(head.status(), 200, "{head:?}");
    assert_eq!(head.header("Content-Encoding"), Some("br"), "{head:?}");
    assert_eq!(head.header("Content-Length"), Some(brotli_stored(&page).len().to_string().as_str()));
    assert_same_bytes("curl --compressed, Brotli decoded", &body, &page);
    // Weights beat the server's order.
    let (head, body) = curl_get(&server, "/page.html", &["-H", "Accept-Encoding: br;q=0.5, gzip"]);
    assert_eq!(head.header("Content-Encoding"), Some("gzip"), "{head:?}");
    assert_same_bytes("Accept-Encoding: br;q=0.5, gzip", &body, &gz);
}

#[test]
fn range_on_a_listing_or_a_404_is_not_ranged() {
    let root = TempDir::new("clients-root");
    fs::create_dir_all(root.path().join("dir")).unwrap();
    fs::write(root.path().join("dir/some file.txt"), b"listed\n").unwrap();
    fs::create_dir_all(root.path().join("site")).unwrap();
    fs::write(root.path().join("site/index.html"), b"<h1>an index page is a file</h1>\n").unwrap();
    let server = ServerProcess::ours(root.path(), &[]);

    let (head, body) = curl_get(&server, "/dir/", &["-r", "0-9"]);
    assert_eq!(head.status(), 200, "{head:?}");
    assert_eq!(head.header("Content-Range"), None, "{head:?}");
    assert_eq!(head.header("Content-Length"), Some(body.len().to_string().as_str()), "{head:?}");
    assert!(String::from_utf8_lossy(&body).contains("some%20file.txt"), "the whole listing: {}", show(&body));

    let (head, _) = curl_get(&server, "/missing.bin", &["-r", "0-9"]);
    assert_eq!(head.status(), 404, "{head:?}");
    assert_eq!(head.header("Content-Range"), None, "{head:?}");

    // A directory served by its index page is a file: ranged.
    let (head, body) = curl_get(&server, "/site/", &["-r", "0-9"]);
    assert_eq!(head.status(), 206, "{head:?}");
    assert_eq!(body, b"<h1>an ind");
}

/// A text file of about 1 MiB (many chunks once compressed) and a root
/// serving it with `--compress` in `protocol`.
fn compress_site(protocol: &str) -> (TempDir, ServerProcess, Vec<u8>) {
    let root = TempDir::new("clients-compress");
    let text: Vec<u8> = (0..40_000u32)
        .flat_map(|i| {
            format!("{{\"id\": {i}, \"name\": \"item {}\"}},\n", i.wrapping_mul(2_654_435_761) % 9973)
                .into_bytes()
        })
        .collect();
    fs::write(root.path().join("data.json"), &text).unwrap();
    let server = ServerProcess::ours(root.path(), &["--compress", "-p", protocol]);
    (root, server, text)
}

#[test]
fn compress_gzip_and_brotli_decode_to_the_file_with_curl() {
    for protocol in ["HTTP/1.1", "HTTP/1.0"] {
        let (_root, server, text) = compress_site(protocol);
        let mut codings = vec!["gzip"];
        if curl_has_brotli() {
            codings.push("br");
        }
        for coding in codings {
            let (head, body) = curl_get(
                &server,
                "/data.json",
                &["--compressed", "-H", &format!("Accept-Encoding: {coding}")],
            );
            assert_eq!(head.status(), 200, "{head:?}");
            assert_eq!(head.header("Content-Encoding"), Some(coding), "{protocol}: {head:?}");
            assert_eq!(head.header("Vary"), Some("Accept-Encoding"), "{head:?}");
            assert_eq!(head.header("Content-Length"), None, "{head:?}");
            let chunked = head.header("Transfer-Encoding") == Some("chunked");
            assert_eq!(chunked, protocol == "HTTP/1.1", "chunked only where both speak HTTP/1.1: {head:?}");
            assert!(head.header("ETag").is_some_and(|t| t.starts_with("W/\"")), "a weak tag: {head:?}");
            assert_same_bytes(&format!("{protocol} {coding}, decoded by curl"), &body, &text);
        }
        // No Accept-Encoding: the file itself, with its length.
        let (head, body) = curl_get(&server, "/data.json", &[]);
        assert_eq!((head.header("Content-Encoding"), head.header("Vary")), (None, Some("Accept-Encoding")));
        assert_eq!(head.header("Content-Length"), Some(text.len().to_string().as_str()), "{head:?}");
        assert_same_bytes("identity", &body, &text);
    }
}

/// Two gzip requests on one HTTP/1.1 connection with `http.client`, each
/// body decoded with Python's gzip module; prints both lengths and whether
/// both decoded to the file, and the Transfer-Encoding of the first.
const KEEPALIVE_GZIP: &str = r#"
import gzip, http.client, sys
host, port, path, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], open(sys.argv[4], "rb").read()
c = http.client.HTTPConnection(host, port, timeout=30)
ok = []
for _ in range(2):
    c.request("GET", path, headers={"Accept-Encoding": "gzip"})
    r = c.getresponse()
    te = r.getheader("Transfer-Encoding")
    ok.append(gzip.decompress(r.read()) == want)
    sock_alive = c.sock is not None
print(te, ok, sock_alive)
"#;

#[test]
fn compress_keeps_the_connection_for_python_http_client() {
    let (root, server, _text) = compress_site("HTTP/1.1");
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let file = root.path().join("data.json");
    let out = run_ok("python3", &["-c", KEEPALIVE_GZIP, &host, &port, "/data.json", path_str(&file)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "chunked [True, True] True");
    let log = log_until(&server, |l| requests_for(l, "GET /data.json").len() >= 2);
    assert_eq!(requests_for(&log, "GET /data.json"), [200, 200], "{log:?}");
}

#[test]
fn compress_head_and_get_agree() {
    let (_root, server, _text) = compress_site("HTTP/1.1");
    let ae = ["-H", "Accept-Encoding: gzip"];
    let out = curl(&[&["-I"][..], &ae[..], &[url(&server, "/data.json").as_str()][..]].concat());
    let head = head_of(&out.stdout);
    let (get, _) = curl_get(&server, "/data.json", &ae);
    assert_eq!(without_date(&head), without_date(&get));
    assert_eq!(head.header("Content-Encoding"), Some("gzip"), "{head:?}");
}
