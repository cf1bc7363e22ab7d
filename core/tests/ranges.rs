//! Range requests, validators and precompressed siblings through the
//! engine, with every read and write split: what goes on the wire.

mod support;

use std::sync::Arc;

use httpserver_core::simple::MimeTypes;
use httpserver_core::{ServerProtocol, SimpleHandler};
use support::*;

/// Serve `request` over [`tree`] (plus `extra` files) with writes cut at
/// `write_limit` bytes; the wire text.
fn get_with(handler: SimpleHandler<MemFiles>, request: &str, write_limit: usize) -> String {
    let mut d = Driver::new(config(ServerProtocol::Http11), handler);
    d.write_limit = write_limit;
    d.feed(request.as_bytes(), 7, true);
    d.wire_text()
}

fn get(request: &str) -> String {
    get_with(simple(), request, usize::MAX)
}

fn header<'a>(wire: &'a str, name: &str) -> Option<&'a str> {
    let head = &wire[..wire.find("\r\n\r\n")?];
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(": ")?;
        if n.eq_ignore_ascii_case(name) {
            Some(v)
        } else {
            None
        }
    })
}

fn body(wire: &str) -> &str {
    &wire[wire.find("\r\n\r\n").unwrap() + 4..]
}

fn etag_of(path: &str) -> String {
    let wire = get(&format!("HEAD /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    header(&wire, "ETag").expect("an ETag").to_string()
}

const CLOSE: &str = "Host: x\r\nConnection: close\r\n";

#[test]
fn a_single_range_is_206_with_its_content_range() {
    for limit in [1, 3, usize::MAX] {
        let wire =
            get_with(simple(), &format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Range: bytes=1-3\r\n\r\n"), limit);
        assert!(wire.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{wire}");
        assert_eq!(header(&wire, "Content-Range"), Some("bytes 1-3/6"));
        assert_eq!(header(&wire, "Content-Length"), Some("3"));
        assert_eq!(header(&wire, "Accept-Ranges"), Some("bytes"));
        assert_eq!(body(&wire), "ell");
    }
    let wire = get(&format!("GET /big.bin HTTP/1.1\r\n{CLOSE}Range: bytes=-2\r\n\r\n"));
    assert_eq!((header(&wire, "Content-Range"), body(&wire)), (Some("bytes 99998-99999/100000"), "x\n"));
}

#[test]
fn head_with_range_gives_the_heads_of_get() {
    let get_wire = get(&format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Range: bytes=0-1,4-5\r\n\r\n"));
    let head_wire = get(&format!("HEAD /a.txt HTTP/1.1\r\n{CLOSE}Range: bytes=0-1,4-5\r\n\r\n"));
    let strip = |w: &str| {
        w[..w.find("\r\n\r\n").unwrap()]
            .split("\r\n")
            .filter(|l| !l.starts_with("Content-type: multipart"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&get_wire), strip(&head_wire));
    assert!(body(&head_wire).is_empty());
}

/// Split a `multipart/byteranges` body into (Content-Range, bytes) parts.
fn parts(wire: &str) -> Vec<(String, String)> {
    let ctype = header(wire, "Content-type").unwrap();
    let boundary = ctype.strip_prefix("multipart/byteranges; boundary=").expect(ctype);
    let body = body(wire);
    assert_eq!(body.len(), header(wire, "Content-Length").unwrap().parse::<usize>().unwrap());
    assert!(body.ends_with(&format!("\r\n--{boundary}--\r\n")), "{body:?}");
    body.split(&format!("--{boundary}"))
        .filter(|p| p.starts_with("\r\nContent-Type"))
        .map(|p| {
            let (head, data) = p.split_once("\r\n\r\n").unwrap();
            let range = head.split("\r\n").find_map(|l| l.strip_prefix("Content-Range: ")).unwrap();
            (range.to_string(), data.strip_suffix("\r\n").unwrap().to_string())
        })
        .collect()
}

#[test]
fn several_ranges_are_multipart_with_an_exact_length() {
    for limit in [1, 5, 64, usize::MAX] {
        let wire = get_with(
            simple(),
            &format!("GET /big.bin HTTP/1.1\r\n{CLOSE}Range: bytes=0-1,500-502,-1\r\n\r\n"),
            limit,
        );
        assert!(wire.starts_with("HTTP/1.1 206 "), "{wire}");
        assert_eq!(
            parts(&wire),
            [
                ("bytes 0-1/100000".to_string(), "xx".to_string()),
                ("bytes 500-502/100000".to_string(), "xxx".to_string()),
                ("bytes 99999-99999/100000".to_string(), "\n".to_string()),
            ]
        );
    }
}

#[test]
fn boundaries_differ_between_replies() {
    let request = format!("GET /big.bin HTTP/1.1\r\n{CLOSE}Range: bytes=0-1,500-502\r\n\r\n");
    let (a, b) = (get(&request), get(&request));
    assert_ne!(header(&a, "Content-type"), header(&b, "Content-type"));
    let boundary = header(&a, "Content-type").unwrap().rsplit('=').next().unwrap();
    assert!(boundary.len() >= 32, "{boundary}");
}

#[test]
fn a_thousand_overlapping_ranges_send_the_bytes_once() {
    let many = vec!["0-999"; 100].join(",");
    let wire = get(&format!("GET /big.bin HTTP/1.1\r\n{CLOSE}Range: bytes={many}\r\n\r\n"));
    assert_eq!(header(&wire, "Content-Range"), Some("bytes 0-999/100000"));
    assert_eq!(body(&wire).len(), 1000);
    // Past the spec cap the header is ignored: the whole file, once.
    let too_many = vec!["0-999"; 1000].join(",");
    let wire = get(&format!("GET /big.bin HTTP/1.1\r\n{CLOSE}Range: bytes={too_many}\r\n\r\n"));
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(body(&wire).len(), 100_000);
}

#[test]
fn unsatisfiable_is_416_with_the_length_and_an_error_page() {
    let mut d = Driver::new(config(ServerProtocol::Http11), simple());
    d.feed(
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=6-\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        1000,
        true,
    );
    let wire = d.wire_text();
    assert!(wire.starts_with("HTTP/1.1 416 Requested Range Not Satisfiable\r\n"), "{wire}");
    assert_eq!(header(&wire, "Content-Range"), Some("bytes */6"));
    assert_eq!(d.log[1], "\"GET /a.txt HTTP/1.1\" 416 -");
    // As every send_error reply in CPython, it closes the connection.
    assert_eq!(header(&wire, "Connection"), Some("close"));
    assert_eq!(statuses(&wire), [416]);
}

#[test]
fn invalid_or_foreign_ranges_are_ignored() {
    for range in ["bytes=3-1", "lines=1-2", "bytes=x", "bytes=0-1, 2"] {
        let wire = get(&format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Range: {range}\r\n\r\n"));
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{range}: {wire}");
        assert_eq!(body(&wire), "hello\n");
    }
    // Two Range fields: ambiguous, ignored.
    let wire = get(&format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Range: bytes=0-0\r\nRange: bytes=1-1\r\n\r\n"));
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
}

#[test]
fn listings_and_errors_are_never_ranged() {
    let wire = get(&format!("GET /d/ HTTP/1.1\r\n{CLOSE}Range: bytes=0-1\r\n\r\n"));
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
    assert_eq!(header(&wire, "Accept-Ranges"), None);
    let wire = get(&format!("GET /nope HTTP/1.1\r\n{CLOSE}Range: bytes=0-1\r\n\r\n"));
    assert!(wire.starts_with("HTTP/1.1 404 "), "{wire}");
}

#[test]
fn if_range_decides_between_206_and_200() {
    let etag = etag_of("a.txt");
    let ranged = |if_range: &str| {
        let wire =
            get(&format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Range: bytes=0-0\r\nIf-Range: {if_range}\r\n\r\n"));
        wire[9..12].to_string()
    };
    assert_eq!(ranged(&etag), "206");
    assert_eq!(ranged("\"stale\""), "200");
    assert_eq!(ranged(&format!("W/{etag}")), "200", "If-Range compares strongly");
    // The tree's files were modified in 2023; the driver's clock says
    // 1994, when no date can be a strong validator of them. At a later
    // time, the exact Last-Modified date selects the range.
    assert_eq!(ranged("Tue, 14 Nov 2023 22:13:20 GMT"), "200");
    let dated = |if_range: &str, now_secs: u64| {
        let mut d = Driver::new(config(ServerProtocol::Http11), simple());
        d.now.wall = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now_secs);
        let req = format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Range: bytes=0-0\r\nIf-Range: {if_range}\r\n\r\n");
        d.feed(req.as_bytes(), 1000, true);
        d.wire_text()[9..12].to_string()
    };
    assert_eq!(dated("Tue, 14 Nov 2023 22:13:20 GMT", 1_800_000_000), "206");
    assert_eq!(dated("Tue, 14 Nov 2023 22:13:19 GMT", 1_800_000_000), "200");
    // Modified within the second the reply is made: not strong yet.
    assert_eq!(dated("Tue, 14 Nov 2023 22:13:20 GMT", 1_700_000_000), "200");
}

#[test]
fn if_none_match_gives_304_with_the_validators() {
    let etag = etag_of("a.txt");
    let wire = get(&format!("GET /a.txt HTTP/1.1\r\n{CLOSE}If-None-Match: \"x\", {etag}\r\n\r\n"));
    assert!(wire.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{wire}");
    assert_eq!(header(&wire, "ETag"), Some(etag.as_str()));
    assert_eq!(header(&wire, "Last-Modified"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
    assert_eq!(body(&wire), "");
    let wire = get(&format!("GET /a.txt HTTP/1.1\r\n{CLOSE}If-None-Match: \"other\"\r\n\r\n"));
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
}

#[test]
fn if_match_and_if_unmodified_since_give_412() {
    let wire = get(&format!("GET /a.txt HTTP/1.1\r\n{CLOSE}If-Match: \"other\"\r\n\r\n"));
    assert!(wire.starts_with("HTTP/1.1 412 Precondition Failed\r\n"), "{wire}");
    let wire = get(&format!(
        "GET /a.txt HTTP/1.1\r\n{CLOSE}If-Unmodified-Since: Mon, 13 Nov 2023 00:00:00 GMT\r\n\r\n"
    ));
    assert!(wire.starts_with("HTTP/1.1 412 "), "{wire}");
    let etag = etag_of("a.txt");
    let wire = get(&format!("GET /a.txt HTTP/1.1\r\n{CLOSE}If-Match: {etag}\r\n\r\n"));
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
}

#[test]
fn switched_off_it_is_cpythons_reply() {
    let plain =
        SimpleHandler::new(tree(), Arc::new(MimeTypes::new())).with_ranges(false).with_validators(false);
    let wire = get_with(
        plain,
        &format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Range: bytes=0-0\r\nIf-Match: \"x\"\r\n\r\n"),
        9,
    );
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
    assert_eq!((header(&wire, "ETag"), header(&wire, "Accept-Ranges")), (None, None));
    let plain = SimpleHandler::new(tree(), Arc::new(MimeTypes::new())).with_validators(false);
    let wire = get_with(
        plain,
        &format!("GET /a.txt HTTP/1.1\r\n{CLOSE}If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n"),
        9,
    );
    let head = &wire[..wire.find("\r\n\r\n").unwrap()];
    // The request asked to close: that is said too (RFC 9112 9.6).
    let ours: Vec<&str> = head.lines().filter(|l| *l != "Connection: close").collect();
    assert_eq!(ours.len(), 3, "CPython's bare 304: {head}");
}

#[test]
fn precompressed_siblings_follow_accept_encoding() {
    let mut files = tree();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    files.0.insert("a.txt.gz".into(), Node::File(b"GZ".to_vec(), t));
    files.0.insert("a.txt.br".into(), Node::File(b"BROTLI".to_vec(), t));
    let handler = || SimpleHandler::new(files.clone(), Arc::new(MimeTypes::new())).with_precompressed(true);
    let ask = |accept: Option<&str>, extra: &str| {
        let field = accept.map(|a| format!("Accept-Encoding: {a}\r\n")).unwrap_or_default();
        get_with(handler(), &format!("GET /a.txt HTTP/1.1\r\n{CLOSE}{field}{extra}\r\n"), usize::MAX)
    };
    let wire = ask(Some("gzip, br"), "");
    assert_eq!((header(&wire, "Content-Encoding"), body(&wire)), (Some("br"), "BROTLI"));
    assert_eq!(header(&wire, "Content-type"), Some("text/plain"));
    assert_eq!(header(&wire, "Vary"), Some("Accept-Encoding"));
    let br_tag = header(&wire, "ETag").unwrap().to_string();
    let wire = ask(Some("gzip;q=1, br;q=0.5"), "");
    assert_eq!((header(&wire, "Content-Encoding"), body(&wire)), (Some("gzip"), "GZ"));
    assert_ne!(header(&wire, "ETag").unwrap(), br_tag, "each coding has its own tag");
    let wire = ask(None, "");
    assert_eq!((header(&wire, "Content-Encoding"), body(&wire)), (None, "hello\n"));
    assert_eq!(header(&wire, "Vary"), Some("Accept-Encoding"));
    let wire = ask(Some("zstd"), "");
    assert_eq!((header(&wire, "Content-Encoding"), body(&wire)), (None, "hello\n"));
    let wire = ask(Some("zstd, identity;q=0"), "");
    assert!(wire.starts_with("HTTP/1.1 406 "), "{wire}");
    // A sibling older than the file is stale: passed over.
    let mut stale = files.clone();
    let older = t - std::time::Duration::from_secs(1);
    stale.0.insert("a.txt.br".into(), Node::File(b"OLD".to_vec(), older));
    let handler = SimpleHandler::new(stale, Arc::new(MimeTypes::new())).with_precompressed(true);
    let wire = get_with(handler, &format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Accept-Encoding: br\r\n\r\n"), 100);
    assert_eq!((header(&wire, "Content-Encoding"), body(&wire)), (None, "hello\n"));
    // Range applies to the encoded bytes.
    let wire = ask(Some("br"), "Range: bytes=1-2\r\n");
    assert_eq!((header(&wire, "Content-Range"), body(&wire)), (Some("bytes 1-2/6"), "RO"));
}

/// Undo the chunked coding: the data, and whether the last chunk came.
fn dechunk(mut body: &str) -> (String, bool) {
    let mut data = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else { return (data, false) };
        let n = usize::from_str_radix(size, 16).expect(size);
        if n == 0 {
            return (data, rest == "\r\n");
        }
        data.push_str(&rest[..n]);
        assert_eq!(&rest[n..n + 2], "\r\n");
        body = &rest[n + 2..];
    }
}

fn compressing() -> SimpleHandler<MemFiles> {
    let mut files = tree();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let text: String = (0..3000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    files.0.insert("page.txt".into(), Node::File(text.into_bytes(), t));
    SimpleHandler::new(files, Arc::new(MimeTypes::new())).with_compression(true)
}

fn page_reversed() -> String {
    (0..3000).rev().map(|i| char::from(b'a' + (i % 26) as u8)).collect()
}

#[test]
fn compression_on_the_fly_is_chunked_on_http11_and_keeps_the_connection() {
    for limit in [1, 100, usize::MAX] {
        let mut d = Driver::new(config(ServerProtocol::Http11), compressing());
        d.write_limit = limit;
        let req = "GET /page.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
        d.feed(
            format!("{req}GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            50,
            true,
        );
        let wire = d.wire_text();
        assert_eq!(header(&wire, "Transfer-Encoding"), Some("chunked"), "{wire}");
        assert_eq!(header(&wire, "Content-Encoding"), Some("gzip"));
        assert_eq!(header(&wire, "Vary"), Some("Accept-Encoding"));
        assert_eq!(header(&wire, "Content-Length"), None);
        assert_eq!(header(&wire, "Accept-Ranges"), None, "no ranges of a coded stream");
        assert!(header(&wire, "ETag").unwrap().starts_with("W/\""), "a weak tag");
        let second = wire.rfind("HTTP/1.1 200 OK").unwrap();
        let (data, complete) = dechunk(body(&wire[..second]));
        assert!(complete, "the last chunk was sent");
        assert_eq!(data, page_reversed());
        assert!(wire[second..].ends_with("hello\n"), "the connection went on");
    }
}

#[test]
fn compression_on_http10_is_ended_by_the_close_and_head_agrees() {
    let mut d = Driver::new(config(ServerProtocol::Http11), compressing());
    d.feed(b"GET /page.txt HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n", 100, true);
    let wire = d.wire_text();
    assert_eq!(header(&wire, "Transfer-Encoding"), None);
    assert_eq!(header(&wire, "Content-Encoding"), Some("gzip"));
    assert_eq!(body(&wire), page_reversed());
    assert!(d.closed);
    let get = get_with(
        compressing(),
        &format!("GET /page.txt HTTP/1.1\r\n{CLOSE}Accept-Encoding: gzip\r\n\r\n"),
        9,
    );
    let head = get_with(
        compressing(),
        &format!("HEAD /page.txt HTTP/1.1\r\n{CLOSE}Accept-Encoding: gzip\r\n\r\n"),
        9,
    );
    assert_eq!(&get[..get.find("\r\n\r\n").unwrap()], &head[..head.len() - 4]);
}

#[test]
fn compression_is_skipped_for_small_files_ranges_and_clients_that_do_not_ask() {
    let wire = get_with(compressing(), &format!("GET /page.txt HTTP/1.1\r\n{CLOSE}\r\n"), 9);
    assert_eq!((header(&wire, "Content-Encoding"), header(&wire, "Content-Length")), (None, Some("3000")));
    assert_eq!(header(&wire, "Vary"), Some("Accept-Encoding"));
    let wire =
        get_with(compressing(), &format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Accept-Encoding: gzip\r\n\r\n"), 9);
    assert_eq!(header(&wire, "Content-Encoding"), None, "6 bytes are not worth it");
    let wire = get_with(
        compressing(),
        &format!("GET /page.txt HTTP/1.1\r\n{CLOSE}Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n\r\n"),
        9,
    );
    assert!(wire.starts_with("HTTP/1.1 206 "), "{wire}");
    assert_eq!((header(&wire, "Content-Encoding"), body(&wire)), (None, "abcdefghij"));
    let wire =
        get_with(compressing(), &format!("GET /big.bin HTTP/1.1\r\n{CLOSE}Accept-Encoding: gzip\r\n\r\n"), 9);
    assert_eq!(header(&wire, "Content-Encoding"), None, "application/octet-stream is not compressed");
}

#[test]
fn a_compressed_reply_revalidates_by_its_weak_tag() {
    let wire = get_with(
        compressing(),
        &format!("HEAD /page.txt HTTP/1.1\r\n{CLOSE}Accept-Encoding: gzip\r\n\r\n"),
        9,
    );
    let tag = header(&wire, "ETag").unwrap().to_string();
    let wire = get_with(
        compressing(),
        &format!("GET /page.txt HTTP/1.1\r\n{CLOSE}Accept-Encoding: gzip\r\nIf-None-Match: {tag}\r\n\r\n"),
        9,
    );
    assert!(wire.starts_with("HTTP/1.1 304 "), "{wire}");
    assert_eq!(header(&wire, "ETag"), Some(tag.as_str()));
    assert_eq!(header(&wire, "Transfer-Encoding"), None);
}

#[test]
fn a_client_refusing_identity_gets_even_a_small_file_compressed() {
    let wire = get_with(
        compressing(),
        &format!("GET /a.txt HTTP/1.1\r\n{CLOSE}Accept-Encoding: gzip, identity;q=0\r\n\r\n"),
        9,
    );
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
    assert_eq!(header(&wire, "Content-Encoding"), Some("gzip"));
    assert_eq!(dechunk(body(&wire)), ("\nolleh".to_string(), true));
}

#[test]
fn head_says_what_the_get_would_about_the_connection() {
    // An HTTP/1.0 client asking to keep the connection: the compressed GET
    // is ended by the close, so its HEAD must not promise keep-alive.
    let req = |method: &str| {
        let mut d = Driver::new(config(ServerProtocol::Http11), compressing());
        let text =
            format!("{method} /page.txt HTTP/1.0\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n");
        d.feed(text.as_bytes(), 1000, true);
        let wire = d.wire_text();
        wire[..wire.find("\r\n\r\n").unwrap()].to_string()
    };
    let (get, head) = (req("GET"), req("HEAD"));
    assert!(get.contains("\r\nConnection: close"), "{get}");
    assert_eq!(get.replace("Date", ""), head.replace("Date", ""));
}
