//! The engine driven in memory: exact bytes and log lines, the same
//! results whatever the read and write splits, timers with a clock passed
//! in, and the defects hostile clients look for.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpserver_core::serve::refusal;
use httpserver_core::{
    Acceptance, Body, BodyUse, Config, Handler, Input, Output, Reply, Request, RequestHead, ResponseHead,
    ServerProtocol, Timeouts,
};
use support::*;

#[test]
fn serves_exact_bytes() {
    let (out, log) = serve(ServerProtocol::Http10, b"GET /a.txt HTTP/1.0\r\n\r\n", 1);
    assert_eq!(
        out,
        "HTTP/1.0 200 OK\r\nServer: httpserver/0.1.0\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Content-type: text/plain\r\nContent-Length: 6\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n\
         ETag: \"17979cfe362a0000-6-88201fb960ff6465\"\r\nAccept-Ranges: bytes\r\n\r\nhello\n"
    );
    assert_eq!(log, ["\"GET /a.txt HTTP/1.0\" 200 -"]);

    let (out, log) = serve(ServerProtocol::Http10, b"GET /fifo HTTP/1.0\r\n\r\n", 100);
    assert!(out.starts_with("HTTP/1.0 404 File not found\r\n"), "{out}");
    assert!(out.contains(
        "\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: 335\r\n"
    ));
    assert_eq!(log, ["code 404, message File not found", "\"GET /fifo HTTP/1.0\" 404 -"]);

    let (out, _) = serve(ServerProtocol::Http10, b"GET /a.txt\r\n", 1);
    assert_eq!(out, "hello\n", "HTTP/0.9: the bare body");

    let (out, _) = serve(ServerProtocol::Http10, b"GET /sub?q=1 HTTP/1.0\r\n\r\n", 3);
    assert!(out.contains("\r\nLocation: /sub/?q=1\r\nContent-Length: 0\r\n\r\n"), "{out}");
}

#[test]
fn same_bytes_whatever_the_read_and_write_splits() {
    let inputs: &[(ServerProtocol, &[u8])] = &[
        (ServerProtocol::Http11, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /d/ HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        (ServerProtocol::Http11, b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"),
        (ServerProtocol::Http11, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /d HTTP/1.1\r\nHost: x\r\n\r\n"),
        (ServerProtocol::Http11, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"),
        (ServerProtocol::Http10, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        (ServerProtocol::Http10, b"GET / HTTP/1.0\r\n\r\n"),
        (ServerProtocol::Http11, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
    ];
    for (protocol, input) in inputs {
        let whole = serve(*protocol, input, input.len());
        for split in [1, 2, 7, 64] {
            for write_limit in [1, 3, 1000, usize::MAX] {
                let mut d = Driver::new(config(*protocol), simple());
                d.write_limit = write_limit;
                d.feed(input, split, true);
                assert_eq!(
                    (d.wire_text(), d.log),
                    whole,
                    "{:?} split {split} writes of {write_limit}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }
    let (out, _) = serve(inputs[0].0, inputs[0].1, 1);
    // The 404 closes the connection (send_error says Connection: close):
    // the last pipelined request is never answered.
    assert_eq!(statuses(&out), [200, 200, 200, 200, 404], "{out}");
    let (out, _) = serve(inputs[2].0, inputs[2].1, 1);
    assert_eq!(statuses(&out), [200, 301], "chunked body skipped, next request read: {out}");
}

/// A handler that collects or streams bodies and echoes them.
#[derive(Default)]
struct Echo {
    body_use: Option<BodyUse>,
    refuse_expectation: bool,
    refuse_start: bool,
    streamed: Vec<u8>,
    started: usize,
    aborted: usize,
}

impl Handler for Echo {
    type Body = Vec<u8>;
    fn body_use(&mut self, head: &RequestHead) -> BodyUse {
        match self.body_use {
            Some(body_use) if head.method == "POST" => body_use,
            _ => BodyUse::Discard,
        }
    }
    fn handle_expect_100(&mut self, _head: &RequestHead) -> Acceptance<Vec<u8>> {
        if self.refuse_expectation {
            Acceptance::Refuse(Reply::error(417, None, None))
        } else {
            Acceptance::Accept
        }
    }
    fn start_body(&mut self, _head: &RequestHead) -> Acceptance<Vec<u8>> {
        self.started += 1;
        if self.refuse_start {
            return Acceptance::Refuse(Reply::error(404, Some("No such CGI script ('/x')"), None));
        }
        Acceptance::Accept
    }
    fn receive_body(&mut self, chunk: &[u8]) {
        self.streamed.extend_from_slice(chunk);
    }
    fn abort_body(&mut self) {
        self.aborted += 1;
    }
    fn do_post(&mut self, req: &Request) -> Reply<Vec<u8>> {
        let body = if req.body.is_empty() { self.streamed.clone() } else { req.body.clone() };
        Reply::bytes(200, "application/octet-stream", body)
    }
}

/// A POST head that asks for `100 Continue`, with `extra` header lines.
fn post(extra: &str) -> String {
    format!("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n{extra}\r\n")
}

#[test]
fn continue_only_after_the_handler_accepted_the_body() {
    let cl = |n: usize| format!("Content-Length: {n}\r\n");
    // Over the limit: 413 at once, no 100 Continue inviting the body.
    let mut d = Driver::new(
        config(ServerProtocol::Http11),
        Echo { body_use: Some(BodyUse::Buffer { limit: 10 }), ..Echo::default() },
    );
    d.feed(post(&cl(100)).as_bytes(), 1000, false);
    assert!(d.wire_text().starts_with("HTTP/1.1 413 "), "{}", d.wire_text());
    assert!(!d.wire_text().contains("100 Continue"));
    // Within it: 100 Continue, then the echo once the body is in.
    let mut d = Driver::new(
        config(ServerProtocol::Http11),
        Echo { body_use: Some(BodyUse::Buffer { limit: 10 }), ..Echo::default() },
    );
    d.feed(post(&cl(5)).as_bytes(), 1000, false);
    assert_eq!(d.wire_text(), "HTTP/1.1 100 Continue\r\n\r\n");
    d.feed(b"hello", 1000, false);
    assert!(d.wire_text().ends_with("\r\n\r\nhello"), "{}", d.wire_text());
    // handle_expect_100 refuses: 417, no 100.
    let mut d = Driver::new(
        config(ServerProtocol::Http11),
        Echo { body_use: Some(BodyUse::Buffer { limit: 10 }), refuse_expectation: true, ..Echo::default() },
    );
    d.feed(post(&cl(5)).as_bytes(), 1000, false);
    assert_eq!(statuses(&d.wire_text()), [417]);
    // A streaming handler that cannot take the body (no such script).
    let mut d = Driver::new(
        config(ServerProtocol::Http11),
        Echo { body_use: Some(BodyUse::Stream { limit: 10 }), refuse_start: true, ..Echo::default() },
    );
    d.feed(post(&cl(5)).as_bytes(), 1000, false);
    assert_eq!(statuses(&d.wire_text()), [404]);
    assert!(!d.wire_text().contains("100 Continue"));
}

#[test]
fn streamed_bodies_reach_the_handler_and_are_capped() {
    let body = "5\r\nhello\r\n7\r\n world\n\r\n0\r\n\r\n";
    let request =
        format!("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}GET /n HTTP/1.1\r\nHost: x\r\n\r\n");
    for split in [1, 5, 1000] {
        let mut d = Driver::new(
            config(ServerProtocol::Http11),
            Echo { body_use: Some(BodyUse::Stream { limit: 100 }), ..Echo::default() },
        );
        d.feed(request.as_bytes(), split, true);
        assert_eq!(d.handler.streamed, b"hello world\n");
        assert_eq!((d.handler.started, d.handler.aborted), (1, 0));
        assert!(d.wire_text().contains("\r\n\r\nhello world\n"), "{}", d.wire_text());
        assert_eq!(statuses(&d.wire_text()), [200, 501]);
    }
    // Past the limit mid-body: 413, the handler told to drop what it started.
    let mut d = Driver::new(
        config(ServerProtocol::Http11),
        Echo { body_use: Some(BodyUse::Stream { limit: 8 }), ..Echo::default() },
    );
    d.feed(request.as_bytes(), 3, false);
    assert_eq!(statuses(&d.wire_text()), [413]);
    assert_eq!(d.handler.aborted, 1);
    assert!(d.handler.streamed.len() <= 8);
    // The connection ending mid-body aborts too.
    let mut d = Driver::new(
        config(ServerProtocol::Http11),
        Echo { body_use: Some(BodyUse::Stream { limit: 100 }), ..Echo::default() },
    );
    d.feed(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 1000, true);
    assert_eq!(d.handler.aborted, 1);
}

#[test]
fn a_bad_body_after_the_reply_gets_no_second_reply() {
    for body in [
        "ffffffffffffffffff\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
    ] {
        for protocol in [ServerProtocol::Http10, ServerProtocol::Http11] {
            let request = format!(
                "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
            );
            let mut d = Driver::new(config(protocol), simple());
            d.feed(request.as_bytes(), 1000, false);
            assert_eq!(statuses(&d.wire_text()), [200], "{protocol:?} {body:?}: {}", d.wire_text());
            assert!(d.closed || d.shut_down_write, "{protocol:?} {body:?}: the connection ends");
        }
    }
}

#[test]
fn unsent_output_is_bounded_per_connection() {
    // A client pipelines requests for a large body and reads nothing:
    // the engine offers one response at a time and stops reading.
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50);
    let mut d = Driver::new(config(ServerProtocol::Http11), simple());
    d.engine.handle(Input::Bytes(&request), d.now).unwrap();
    let mut offered = 0;
    for _ in 0..10 {
        match d.engine.poll(&mut d.handler, d.now) {
            Output::Log(_) => continue,
            Output::Write(bytes) => {
                offered = bytes.len();
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // The socket never takes anything: polling again offers the same bytes,
    // never a second response, never a read.
    for _ in 0..20 {
        match d.engine.poll(&mut d.handler, d.now) {
            Output::Write(bytes) => assert_eq!(bytes.len(), offered),
            other => panic!("{other:?}"),
        }
    }
    assert!(offered < 2000, "one listing, not fifty: {offered}");
}

#[test]
fn byte_ranges_of_a_source() {
    struct Range;
    impl Handler for Range {
        type Body = Vec<u8>;
        fn do_get(&mut self, _req: &Request) -> Reply<Vec<u8>> {
            let head = ResponseHead::new(206).header("Content-Length", "4");
            Reply::new(head, Body::Source { source: b"0123456789".to_vec(), offset: 3, len: 4 })
        }
    }
    for limit in [1, 2, usize::MAX] {
        let mut d = Driver::new(config(ServerProtocol::Http11), Range);
        d.write_limit = limit;
        d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1000, true);
        assert!(d.wire_text().ends_with("\r\n\r\n3456"), "{limit}: {}", d.wire_text());
    }
}

#[test]
fn empty_files_finish_at_once() {
    let mut d = Driver::new(config(ServerProtocol::Http11), simple());
    d.feed(b"GET /empty.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 1000, false);
    assert_eq!(statuses(&d.wire_text()), [200, 200], "{}", d.wire_text());
    assert!(d.wire_text().contains("Content-Length: 0\r\n"));
}

#[test]
fn a_source_that_ends_early_closes() {
    struct Short;
    impl Handler for Short {
        type Body = Vec<u8>;
        fn do_get(&mut self, _req: &Request) -> Reply<Vec<u8>> {
            let head = ResponseHead::new(200).header("Content-Length", "10");
            Reply::new(head, Body::Source { source: b"abc".to_vec(), offset: 0, len: 10 })
        }
    }
    let mut d = Driver::new(config(ServerProtocol::Http11), Short);
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 1000, false);
    assert!(d.closed);
    assert_eq!(statuses(&d.wire_text()), [200]);
    assert!(d.log.iter().any(|l| l.contains("ended before its length")), "{:?}", d.log);
}

fn timeouts() -> Config {
    config(ServerProtocol::Http11).with_timeouts(
        Timeouts::default()
            .with_head(Some(Duration::from_secs(10)))
            .with_idle(Some(Duration::from_secs(30)))
            .with_io(Some(Duration::from_secs(20))),
    )
}

#[test]
fn the_head_deadline_counts_from_accept() {
    let mut d = Driver::new(timeouts(), simple());
    let start = d.now.mono;
    assert_eq!(d.engine.timeout(), Some(start + Duration::from_secs(10)));
    // A byte every second: each one is recent, the head as a whole is late.
    for b in b"GET /a.txt HTTP/1.1\r\nX-Slow: 12345".iter() {
        d.advance(1);
        d.engine.handle(Input::Bytes(&[*b]), d.now).unwrap();
        if !d.run() {
            break;
        }
    }
    assert!(d.closed, "still open after {:?}", d.now.mono - start);
    assert!(d.now.mono - start <= Duration::from_secs(11));
    assert_eq!(d.log, ["request head not received in time; connection closed"]);
    assert!(d.wire.is_empty());
}

#[test]
fn a_head_the_shell_reads_late_is_still_served() {
    // The server was busy past the deadline; the request had arrived in
    // time and is handed in only now: it is answered, not cut off.
    let mut d = Driver::new(timeouts(), simple());
    d.advance(12);
    d.engine
        .handle(Input::Bytes(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), d.now)
        .unwrap();
    assert!(!d.run());
    assert_eq!(statuses(&d.wire_text()), [200]);
    // An unfinished head handed in late is still late.
    let mut d = Driver::new(timeouts(), simple());
    d.advance(12);
    d.engine.handle(Input::Bytes(b"GET /a.txt HTTP/1.1\r\nHo"), d.now).unwrap();
    assert!(!d.run());
    assert_eq!(d.log, ["request head not received in time; connection closed"]);
}

#[test]
fn idle_and_io_limits() {
    // Idle after a response: the idle limit, restarted by the next byte
    // as a head limit.
    let mut d = Driver::new(timeouts(), simple());
    d.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 1000, false);
    assert_eq!(d.engine.timeout(), Some(d.now.mono + Duration::from_secs(30)));
    d.advance(29);
    d.engine.handle(Input::Bytes(b"G"), d.now).unwrap();
    assert!(d.run());
    assert_eq!(d.engine.timeout(), Some(d.now.mono + Duration::from_secs(10)));
    d.advance(11);
    assert!(!d.run(), "a head begun after an idle spell still has its own limit");
    assert!(d.log.last().unwrap().contains("request head not received in time"));

    // A body making progress keeps the I/O clock fresh; a stalled one ends.
    let mut d =
        Driver::new(timeouts(), Echo { body_use: Some(BodyUse::Buffer { limit: 100 }), ..Echo::default() });
    d.feed(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab", 1000, false);
    for _ in 0..3 {
        d.advance(15);
        d.engine.handle(Input::Bytes(b"c"), d.now).unwrap();
        assert!(d.run());
    }
    d.advance(21);
    assert!(!d.run());
    assert!(d.wire.is_empty());

    // An idle connection just goes, without a log line.
    let mut d = Driver::new(timeouts(), simple());
    d.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 1000, false);
    let lines = d.log.len();
    d.advance(31);
    assert!(!d.run());
    assert_eq!(d.log.len(), lines);
}

#[test]
fn time_the_handler_takes_is_not_held_against_the_client() {
    // A handler that blocks (a CGI script working for 30 s) with a 20 s
    // I/O limit: the reply still goes out; the limit counts from when the
    // handler returned.
    let mut d = Driver::new(timeouts(), simple());
    d.engine.handle(Input::Bytes(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"), d.now).unwrap();
    // The poll that dispatches (and hands out the log entry).
    assert!(matches!(d.engine.poll(&mut d.handler, d.now), Output::Log(_)));
    d.advance(30);
    match d.engine.poll(&mut d.handler, d.now) {
        Output::Body { .. } | Output::Write(_) => {}
        other => panic!("the reply was dropped: {other:?}"),
    }
    // And a client that then stalls for longer than the limit is cut off.
    d.advance(21);
    assert!(matches!(d.engine.poll(&mut d.handler, d.now), Output::Close));
}

#[test]
fn lingering_close_is_bounded() {
    // An error with the client still sending: shut the write side, drain.
    let mut d = Driver::new(timeouts(), simple());
    d.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nX: \x01\r\n\r\nabc", 1000, false);
    assert!(d.shut_down_write && !d.closed);
    assert_eq!(statuses(&d.wire_text()), [400]);
    for _ in 0..20 {
        d.engine.handle(Input::Bytes(&[b'x'; 100_000]), d.now).unwrap();
        if !d.run() {
            break;
        }
    }
    assert!(d.closed, "at most 1 MiB is drained");
    // ...or for two seconds.
    let mut d = Driver::new(timeouts(), simple());
    d.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nX: \x01\r\n\r\nabc", 1000, false);
    d.advance(3);
    assert!(!d.run());
    // Nothing unread: a plain close.
    let mut d = Driver::new(timeouts(), simple());
    d.feed(b"GET /a.txt HTTP/1.0\r\n\r\n", 1000, false);
    assert!(d.closed && !d.shut_down_write);
}

#[test]
fn shutdown_finishes_the_response_then_closes() {
    // Idle: closes at once.
    let mut d = Driver::new(config(ServerProtocol::Http11), simple());
    d.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 1000, false);
    d.engine.handle(Input::Shutdown, d.now).unwrap();
    assert!(!d.run());
    // Mid-response: the response completes, says close, and is the last.
    let mut d = Driver::new(config(ServerProtocol::Http11), simple());
    d.write_limit = 10;
    d.engine
        .handle(
            Input::Bytes(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
            d.now,
        )
        .unwrap();
    // Take a few outputs, then stop.
    for _ in 0..3 {
        let _ = d.engine.poll(&mut d.handler, d.now);
    }
    d.engine.handle(Input::Shutdown, d.now).unwrap();
    d.write_limit = usize::MAX;
    d.feed(b"", 1, false);
    assert!(d.closed || d.shut_down_write);
    assert_eq!(statuses(&d.wire_text()), [200]);
    assert!(d.wire_text().ends_with(&format!("\r\n\r\n{}\n", "x".repeat(99_999))), "the whole body went out");
    // A request read but not yet answered (its body still coming) is
    // answered, and told the connection closes.
    let mut d = Driver::new(
        config(ServerProtocol::Http11),
        Echo { body_use: Some(BodyUse::Buffer { limit: 100 }), ..Echo::default() },
    );
    d.feed(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", 1000, false);
    d.engine.handle(Input::Shutdown, d.now).unwrap();
    d.feed(b"cde", 1000, false);
    assert!(d.closed);
    assert!(d.wire_text().contains("\r\nConnection: close\r\n\r\nabcde"), "{}", d.wire_text());
}

#[test]
fn refusal_is_a_proper_response() {
    let when = UNIX_EPOCH + Duration::from_secs(NOW);
    let (bytes, log) = refusal(&Config::default().with_server_version("srv/1"), when);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with(
        "HTTP/1.0 503 Too many connections\r\nServer: srv/1\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: "
    ));
    assert!(text.contains("<p>Error code: 503</p>"));
    assert_eq!(log.message(), "connection refused: too many connections");
    let (bytes, _) = refusal(&config(ServerProtocol::Http11), SystemTime::UNIX_EPOCH);
    assert!(bytes.starts_with(b"HTTP/1.1 503 "));
}

#[test]
fn handler_bugs_close_the_connection_with_a_log_line() {
    struct Liar;
    impl Handler for Liar {
        type Body = Vec<u8>;
        fn do_get(&mut self, _req: &Request) -> Reply<Vec<u8>> {
            // Says 2 bytes, gives 5.
            Reply::new(ResponseHead::new(200).header("Content-Length", "2"), Body::Bytes(b"hello".to_vec()))
        }
    }
    let mut d = Driver::new(config(ServerProtocol::Http11), Liar);
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1000, false);
    assert!(d.closed);
    assert!(d.log.iter().any(|l| l.starts_with("internal error")), "{:?}", d.log);
}
