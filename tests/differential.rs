//! Differential suite: the same requests to `python3 -m http.server` and
//! to `httpserver`, serving the same tree, on loopback. Status lines,
//! headers (less `Date` and `Server`), bodies and log lines must agree,
//! or the scenario names a deliberate difference (listed in the README)
//! and checks our side of it.

mod support;

use std::time::Duration;

use support::*;

/// How a scenario is judged.
enum Expect {
    /// Byte-identical (after normalising Date/Server) responses and logs.
    Same,
    /// A deliberate difference: why, and a check of our response given
    /// theirs.
    Differs(&'static str, fn(ours: &[u8], theirs: &[u8])),
}

struct Scenario {
    name: &'static str,
    request: Vec<u8>,
    half_close: bool,
    expect: Expect,
}

fn same(name: &'static str, request: &str) -> Scenario {
    Scenario { name, request: request.as_bytes().to_vec(), half_close: false, expect: Expect::Same }
}

fn differs(name: &'static str, request: &str, why: &'static str, check: fn(&[u8], &[u8])) -> Scenario {
    Scenario {
        name,
        request: request.as_bytes().to_vec(),
        half_close: false,
        expect: Expect::Differs(why, check),
    }
}

fn get10(target: &str) -> String {
    format!("GET {target} HTTP/1.0\r\n\r\n")
}

/// CPython sends these error pages with no status line; we add one.
fn status_line_added(ours: &[u8], theirs: &[u8], status_line: &str) {
    let r = parse_response(ours);
    assert_eq!(r.status_line, status_line);
    assert_eq!(r.body, theirs, "the page itself is CPython's");
    assert_eq!(r.header("Content-Length").unwrap(), theirs.len().to_string());
}

/// Scenarios for both server protocols.
fn common_scenarios() -> Vec<Scenario> {
    let mut v = vec![
        same("listing_root", &get10("/")),
        same("listing_with_query_in_title", &get10("/dir2/?q=%3Cb%3E&x=1")),
        same("listing_sorted_escaped_quoted", &get10("/dir2/")),
        same("listing_empty_dir", &get10("/emptydir/")),
        same("listing_symlinks_marked", &get10("/links/")),
        same("listing_non_utf8_name", &get10("/raw/")),
        same("listing_percent_encoded_dir", &get10("/dir2/Sub%20Dir/")),
        same("file_text", &get10("/a.txt")),
        same("file_empty", &get10("/empty.txt")),
        same("file_query_ignored", &get10("/a.txt?x=1&y=../../etc")),
        same("file_fragment_ignored", &get10("/a.txt#top")),
        same("file_percent_name", &get10("/we%20ird%26%3C%3E.txt")),
        same("file_unicode_name", &get10("/%C3%A9t%C3%A9.txt")),
        same("file_non_utf8_name_via_listing_link", &get10("/raw/caf%ED%B3%A9.txt")),
        same("file_uppercase_ext", &get10("/UPPER.TXT")),
        same("file_no_ext", &get10("/noext")),
        same("file_pre_epoch_mtime", &get10("/old.txt")),
        same("file_via_inside_symlink", &get10("/link.txt")),
        same("file_via_relative_symlink", &get10("/links/inside.txt")),
        same("dir_via_symlink_listing", &get10("/linkdir/")),
        same("head_file", "HEAD /a.txt HTTP/1.0\r\n\r\n"),
        same("head_listing", "HEAD /dir2/ HTTP/1.0\r\n\r\n"),
        same("head_not_found", "HEAD /nope HTTP/1.0\r\n\r\n"),
        same("head_redirect", "HEAD /sub HTTP/1.0\r\n\r\n"),
        same("redirect_dir", &get10("/sub")),
        same("redirect_keeps_query", &get10("/sub?x=1&y=2")),
        same("redirect_empty_query_dropped", &get10("/sub?")),
        same("redirect_double_slash_reduced", &get10("//sub?x")),
        same("redirect_many_slashes", &get10("////sub")),
        same("index_html", &get10("/sub/")),
        same("index_htm", &get10("/htm/")),
        same("index_html_before_htm", &get10("/both/")),
        same("index_named_dir_ignored", &get10("/indexdir/")),
        same("not_found", &get10("/nope")),
        same("not_found_nested", &get10("/nope/deeper/x.txt")),
        same("trailing_slash_on_file", &get10("/a.txt/")),
        same("traversal_dotdot", &get10("/../../../../etc/passwd")),
        same("traversal_encoded", &get10("/%2e%2e/%2e%2e/%2e%2e/etc/passwd")),
        same("traversal_encoded_slash", &get10("/sub%2f..%2f..%2f..%2fetc%2fpasswd")),
        same("traversal_backslash", &get10("/..%5c..%5cetc%5cpasswd")),
        same("dot_segments", &get10("/./sub/./other.txt")),
        same("dotdot_inside_root", &get10("/sub/../a.txt")),
        same("absolute_form_target", &get10("http://example.com/a.txt")),
        same("ims_future_304", "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n"),
        same("ims_exact_mtime_304", "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n"),
        same("ims_past_200", "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n\r\n"),
        same("ims_ignored_with_inm", "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\nIf-None-Match: \"x\"\r\n\r\n"),
        same("ims_numeric_utc_zone_304", "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 +0000\r\n\r\n"),
        same("ims_utc_name_304", "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 UTC\r\n\r\n"),
        same("ims_other_zone_not_compared", "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 +0100\r\n\r\n"),
        same("ims_garbage_ignored", "GET /fixed.txt HTTP/1.0\r\nIf-Modified-Since: not a date\r\n\r\n"),
        same("ims_on_listing_ignored", "GET /dir2/ HTTP/1.0\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n"),
        same("http09_get_file", "GET /a.txt\r\n\r\n"),
        same("http09_get_listing", "GET /dir2/\r\n\r\n"),
        same("http09_not_found", "GET /nope\r\n\r\n"),
        same("http09_bad_method", "POST /a.txt\r\n"),
        same("unsupported_method", "FOO /a.txt HTTP/1.0\r\n\r\n"),
        same("unsupported_lowercase_get", "get /a.txt HTTP/1.0\r\n\r\n"),
        same("unsupported_post_static", "POST /a.txt HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"),
        same("unsupported_put", "PUT /a.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n"),
        same("bad_syntax_four_words", "GET /a b HTTP/1.0\r\n\r\n"),
        same("bad_syntax_quote_in_repr", "GET /a'b c HTTP/1.0\r\n\r\n"),
        same("bad_syntax_control_char_repr", "GET /a\x01b c HTTP/1.0\r\n\r\n"),
        same("request_line_extra_whitespace", "GET   /a.txt \t HTTP/1.0  \r\n\r\n"),
        same("bare_lf_line_ends", "GET /a.txt HTTP/1.0\nUser-Agent: t\n\n"),
        same("version_leading_zeros", "GET /a.txt HTTP/01.00\r\n\r\n"),
        same("empty_request_line_closes", "\r\n"),
        same("header_line_too_long", &format!("GET / HTTP/1.0\r\nX: {}\r\n\r\n", "a".repeat(65_540))),
        same("header_line_at_limit", &format!("GET /a.txt HTTP/1.0\r\nX: {}\r\n\r\n", "a".repeat(65_536 - 5))),
        same("too_many_headers_100", &format!("GET / HTTP/1.0\r\n{}\r\n", "X: a\r\n".repeat(100))),
        same("headers_99_ok", &format!("GET /a.txt HTTP/1.0\r\n{}\r\n", "X: a\r\n".repeat(99))),
        same("uri_too_long_414", &format!("GET /{} HTTP/1.0\r\n\r\n", "a".repeat(65_540))),
        same("log_escapes_control_chars", "GET /a\x1b[31mred HTTP/1.0\r\n\r\n"),
        same("log_escapes_latin1_c1_and_backslash", "GET /a\\b\u{85} HTTP/1.0\r\n\r\n"),
        same("query_raw_bytes_accepted", "GET /a.txt?\u{e9}\u{ff}=1 HTTP/1.0\r\n\r\n"),
        differs(
            "file_reply_has_etag_and_accept_ranges",
            &get10("/fixed.txt"),
            "file replies add a strong ETag and Accept-Ranges: bytes (Range and validators, which CPython lacks); nothing else changes",
            |o, t| {
                let (o, t) = (parse_response(o), parse_response(t));
                assert_eq!((o.status(), t.status()), (200, 200));
                let extra: Vec<&str> = o
                    .headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .filter(|n| !t.headers.iter().any(|(m, _)| m == n))
                    .collect();
                assert_eq!(extra, ["ETag", "Accept-Ranges"]);
                assert!(o.header("ETag").unwrap().starts_with('"'), "a strong tag");
                assert_eq!(o.header("Accept-Ranges"), Some("bytes"));
                assert_eq!(o.body, t.body);
            },
        ),
        differs(
            "range_single_206",
            "GET /fixed.txt HTTP/1.0\r\nRange: bytes=0-4\r\n\r\n",
            "Range requests are honoured (206 with Content-Range); CPython sends the whole file",
            |o, t| {
                let (o, t) = (parse_response(o), parse_response(t));
                assert_eq!((o.status(), t.status()), (206, 200));
                assert_eq!(o.header("Content-Range"), Some("bytes 0-4/12"));
                assert_eq!(o.body, &t.body[..5]);
            },
        ),
        differs(
            "range_unsatisfiable_416",
            "GET /fixed.txt HTTP/1.0\r\nRange: bytes=100-\r\n\r\n",
            "a Range past the end is 416 with Content-Range: bytes */LEN; CPython sends the whole file",
            |o, t| {
                let (o, t) = (parse_response(o), parse_response(t));
                assert_eq!((o.status(), t.status()), (416, 200));
                assert_eq!(o.header("Content-Range"), Some("bytes */12"));
            },
        ),
        differs(
            "if_none_match_304",
            "GET /fixed.txt HTTP/1.0\r\nIf-None-Match: *\r\n\r\n",
            "If-None-Match is evaluated (304 with ETag and Last-Modified); CPython ignores it",
            |o, t| {
                let (o, t) = (parse_response(o), parse_response(t));
                assert_eq!((o.status(), t.status()), (304, 200));
                assert!(o.header("ETag").is_some() && o.header("Last-Modified").is_some());
                assert!(o.body.is_empty());
            },
        ),
        differs(
            "if_match_412",
            "GET /fixed.txt HTTP/1.0\r\nIf-Match: \"other\"\r\n\r\n",
            "If-Match that does not match is 412 (RFC 9110 13.1.1); CPython ignores it",
            |o, t| {
                assert_eq!(parse_response(t).status(), 200);
                assert_eq!(parse_response(o).status_line, "HTTP/1.0 412 Precondition Failed");
            },
        ),
        differs(
            "version_too_new_505",
            "GET /a.txt HTTP/2.0\r\n\r\n",
            "CPython sends this error page without a status line; ours has one",
            |o, t| status_line_added(o, t, "HTTP/1.0 505 Invalid HTTP version (2.0)"),
        ),
        differs(
            "bad_version_400",
            "GET /a.txt HTTP/1.x\r\n\r\n",
            "CPython sends this error page without a status line; ours has one",
            |o, t| status_line_added(o, t, "HTTP/1.0 400 Bad request version ('HTTP/1.x')"),
        ),
        differs(
            "one_word_request_400",
            "GET\r\n\r\n",
            "CPython sends this error page without a status line; ours has one",
            |o, t| status_line_added(o, t, "HTTP/1.0 400 Bad request syntax ('GET')"),
        ),
        differs(
            "nul_in_path_404",
            &get10("/a%00b"),
            "CPython raises on the NUL byte and drops the connection; ours answers 404",
            |o, t| {
                assert!(t.is_empty(), "CPython drops the connection");
                assert_eq!(parse_response(o).status_line, "HTTP/1.0 404 File not found");
            },
        ),
        differs(
            "backslash_location_escaped",
            "GET /\\/../sub HTTP/1.0\r\n\r\n",
            "CPython's Location may begin with /\\ (read as // by browsers: an open redirect); ours writes \\ as %5C",
            |o, t| {
                assert_eq!(parse_response(t).header("Location"), Some("/\\/../sub/"));
                assert_eq!(parse_response(o).header("Location"), Some("/%5C/../sub/"));
            },
        ),
        differs(
            "symlink_escaping_root_refused",
            &get10("/links/escape.txt"),
            "CPython follows links out of the served directory; ours answers 404 (--follow-symlinks restores it)",
            |o, t| {
                assert_eq!(parse_response(t).status(), 200);
                let r = parse_response(o);
                assert_eq!(r.status_line, "HTTP/1.0 404 File not found");
                assert!(!show(o).contains("outside the root"));
            },
        ),
        differs(
            "http11_request_without_host_400",
            "GET /a.txt HTTP/1.1\r\n\r\n",
            "RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400; CPython serves it",
            |o, t| {
                assert_eq!(parse_response(t).status(), 200);
                assert_eq!(parse_response(o).status_line, "HTTP/1.0 400 Missing Host header");
            },
        ),
        differs(
            "duplicate_host_400",
            "GET /a.txt HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            "RFC 9112 3.2: two Host fields are answered 400; CPython serves the request",
            |o, t| {
                assert_eq!(parse_response(t).status(), 200);
                assert_eq!(parse_response(o).status(), 400);
            },
        ),
        differs(
            "content_length_with_sign_400",
            "GET /a.txt HTTP/1.0\r\nContent-Length: +5\r\n\r\nhello",
            "Content-Length must be plain digits (RFC 9110 8.6); CPython's static handler ignores it",
            |o, t| {
                assert_eq!(parse_response(t).status(), 200);
                assert_eq!(parse_response(o).status_line, "HTTP/1.0 400 Invalid Content-Length ('+5')");
            },
        ),
        differs(
            "obs_fold_400",
            "GET /a.txt HTTP/1.0\r\nX-A: 1\r\n  folded\r\n\r\n",
            "RFC 9112 5.2: obs-fold in a request is answered 400; CPython accepts it",
            |o, t| {
                assert_eq!(parse_response(t).status(), 200);
                assert_eq!(parse_response(o).status(), 400);
            },
        ),
        differs(
            "space_before_colon_400",
            "GET /a.txt HTTP/1.0\r\nHost : x\r\n\r\n",
            "RFC 9112 5.1: whitespace between a field name and the colon is answered 400; CPython accepts it",
            |o, t| {
                assert_eq!(parse_response(t).status(), 200);
                assert_eq!(parse_response(o).status(), 400);
            },
        ),
    ];
    for ext in MIME_EXTENSIONS {
        let name: &'static str = Box::leak(format!("mime_{ext}").into_boxed_str());
        v.push(same(name, &get10(&format!("/mime/file.{ext}"))));
    }
    v
}

/// Scenarios that only mean something with `-p HTTP/1.1`.
fn http11_scenarios() -> Vec<Scenario> {
    vec![
        same(
            "keepalive_pipelined_two",
            "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /empty.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ),
        same(
            "keepalive_pipelined_mixed",
            "HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        same("keepalive_listing_then_close", "GET /dir2/ HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        same("keepalive_304_then_close", "GET /fixed.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        same("connection_close_honoured", "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        same("http10_client_closes", "GET /a.txt HTTP/1.0\r\n\r\nGET /a.txt HTTP/1.0\r\n\r\n"),
        differs(
            "http10_client_keepalive",
            "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /empty.txt HTTP/1.0\r\n\r\n",
            "a connection kept open for an HTTP/1.0 client says Connection: keep-alive, which is not that client's default (CPython keeps it silently, and such a client waits for a close)",
            |o, t| {
                let (ours, theirs) = (show(&without_validator_headers(o)), show(t));
                assert_eq!(ours.matches("HTTP/1.1 200 OK").count(), 2, "{ours}");
                assert_eq!(ours.matches("\r\nConnection: keep-alive\r\n").count(), 1, "only the first is kept: {ours}");
                let without = ours.replacen("Connection: keep-alive\r\n", "", 1);
                assert_eq!(show(&normalise_response(without.as_bytes())), show(&normalise_response(theirs.as_bytes())));
            },
        ),
        differs(
            "connection_close_in_a_token_list",
            "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: te, close\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            "Connection is a list of tokens (RFC 9110 7.6.1): close anywhere in it closes after the reply; CPython only recognises a lone close and answers the next request",
            |o, t| {
                assert_eq!(show(t).matches("HTTP/1.1 200 OK").count(), 2, "CPython answers both");
                assert_eq!(show(o).matches("HTTP/1.1 200 OK").count(), 1, "{}", show(o));
            },
        ),
        differs(
            "transfer_encoding_not_exactly_chunked",
            "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \u{a0}chunked\r\n\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            "a Transfer-Encoding that is not exactly chunked (junk around it, other codings) is refused with 400 or 501 and a close, so no proxy in front can frame the body differently; CPython ignores it",
            |o, _t| {
                let r = parse_response(o);
                assert_eq!(r.status(), 400, "{}", show(o));
                assert_eq!(show(o).matches("HTTP/1.1 ").count(), 1, "closed after the 400");
            },
        ),
        same("error_closes_connection", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        same("expect_100_continue", "GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"),
        same("expect_100_from_http10_ignored", "GET /a.txt HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
        same("redirect_keepalive", "GET /sub HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        same("http09_closes_even_on_11", "GET /a.txt\r\n\r\n"),
        differs(
            "get_with_body_keeps_framing",
            "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /empty.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "CPython's static handler never reads a request body, so on a persistent connection the body is parsed as the next request; ours skips it",
            |o, _t| {
                let text = show(o);
                assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
            },
        ),
        differs(
            "chunked_body_keeps_framing",
            "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /empty.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "CPython does not decode request bodies; ours de-frames chunked bodies, so the next request is read correctly",
            |o, _t| {
                let text = show(o);
                assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
            },
        ),
        differs(
            "smuggling_cl_and_te_400",
            "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            "a request with both Content-Length and Transfer-Encoding is refused (RFC 9112 6.1); CPython ignores both",
            |o, _t| {
                let r = parse_response(o);
                assert_eq!(r.status(), 400);
                assert_eq!(show(o).matches("HTTP/1.1 ").count(), 1, "closed after the 400");
            },
        ),
    ]
}

/// Whether a request's client could expect to keep the connection (an
/// HTTP/1.1 request line, or `keep-alive`).
fn could_expect_to_persist(request: &[u8]) -> bool {
    let text = String::from_utf8_lossy(request).to_ascii_lowercase();
    text.contains(" http/1.1\r\n") || text.contains(" http/1.1\n") || text.contains("keep-alive")
}

/// Ours tells such a client `Connection: close`, as the last header of a
/// response after which it closes (RFC 9112 9.6; CPython closes without
/// saying so, and never puts that header last): a deliberate difference,
/// listed in the README and checked in tests/adversarial.rs
/// (`persistence_is_announced`). The rest must match.
fn without_announced_close(ours: &[u8]) -> Vec<u8> {
    let text = ours.to_vec();
    let needle = b"\r\nConnection: close\r\n\r\n";
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(needle) {
            out.extend_from_slice(b"\r\n\r\n");
            i += needle.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

fn run_suite(protocol: &str, scenarios: Vec<Scenario>) -> (usize, Vec<String>) {
    run_suite_with(protocol, scenarios, &[], without_validator_headers)
}

/// [`run_suite`] with extra flags for ours, and the normaliser its
/// responses go through before a `Same` comparison.
fn run_suite_with(
    protocol: &str,
    scenarios: Vec<Scenario>,
    our_flags: &[&str],
    normalise_ours: fn(&[u8]) -> Vec<u8>,
) -> (usize, Vec<String>) {
    let root = TempDir::new("diff-root");
    let outside = TempDir::new("diff-outside");
    fixture_tree(root.path(), outside.path());
    let flags = ["-p", protocol];
    let theirs = ServerProcess::cpython(root.path(), &flags);
    let ours = ServerProcess::ours(root.path(), &[&flags[..], our_flags].concat());
    let _ = (theirs.take_log(), ours.take_log());
    let mut failures = Vec::new();
    let mut count = 0;
    for sc in scenarios {
        count += 1;
        let t = exchange(theirs.addr, &sc.request, sc.half_close, Duration::from_secs(5));
        let o = exchange(ours.addr, &sc.request, sc.half_close, Duration::from_secs(5));
        // Every request is logged, except an empty request line.
        let min = usize::from(!sc.request.iter().all(|b| b.is_ascii_whitespace()));
        let (tlog, olog) = (theirs.take_log_expecting(min), ours.take_log_expecting(min));
        let outcome = std::panic::catch_unwind(|| match sc.expect {
            Expect::Same => {
                // Only the empty request line gets no answer at all.
                assert_eq!(
                    t.is_empty(),
                    sc.name == "empty_request_line_closes",
                    "CPython's answer: {}",
                    show(&t)
                );
                let o = normalise_ours(&o);
                let o = if could_expect_to_persist(&sc.request) { without_announced_close(&o) } else { o };
                assert_eq!(show(&normalise_response(&o)), show(&normalise_response(&t)), "response");
                assert_eq!(olog, tlog, "log lines");
            }
            Expect::Differs(_, check) => check(&o, &t),
        });
        match outcome {
            Ok(()) => match sc.expect {
                Expect::Same => println!("ok    [{protocol}] {}", sc.name),
                Expect::Differs(why, _) => println!("ok    [{protocol}] {} (deliberate: {why})", sc.name),
            },
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("FAIL  [{protocol}] {}: {msg}", sc.name);
                failures.push(format!("[{protocol}] {}", sc.name));
            }
        }
    }
    (count, failures)
}

#[test]
fn differential_http10() {
    let (n, failures) = run_suite("HTTP/1.0", common_scenarios());
    assert!(n >= 40, "only {n} scenarios");
    assert!(failures.is_empty(), "{} of {n} scenarios differ: {failures:?}", failures.len());
}

#[test]
fn differential_http11() {
    let mut scenarios = http11_scenarios();
    // The common set again, as HTTP/1.1 server: responses say HTTP/1.1.
    scenarios.extend(common_scenarios().into_iter().filter(|s| matches!(s.expect, Expect::Same)));
    let (n, failures) = run_suite("HTTP/1.1", scenarios);
    assert!(failures.is_empty(), "{} of {n} scenarios differ: {failures:?}", failures.len());
}

/// `--charset none`: every Content-type is CPython's exactly (only the
/// validators are dropped before comparing, not the charset).
#[test]
fn differential_charset_none_is_cpython_exactly() {
    for protocol in ["HTTP/1.0", "HTTP/1.1"] {
        let mut scenarios: Vec<Scenario> =
            common_scenarios().into_iter().filter(|s| matches!(s.expect, Expect::Same)).collect();
        if protocol == "HTTP/1.1" {
            scenarios.extend(http11_scenarios().into_iter().filter(|s| matches!(s.expect, Expect::Same)));
        }
        let (n, failures) =
            run_suite_with(protocol, scenarios, &["--charset", "none"], without_validator_headers_only);
        assert!(failures.is_empty(), "{} of {n} scenarios differ: {failures:?}", failures.len());
    }
}

/// Every deliberate difference is listed in the README, by scenario name.
#[test]
fn deliberate_differences_are_documented() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    for sc in common_scenarios().into_iter().chain(http11_scenarios()) {
        if let Expect::Differs(why, _) = sc.expect {
            assert!(readme.contains(&format!("`{}`", sc.name)), "README lacks `{}` ({why})", sc.name);
        }
    }
}
