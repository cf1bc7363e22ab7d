//! `Config::with_log_completions`: a `LogEntry::Completed` at the end of
//! every response (body bytes sent, duration), after CPython's entries,
//! which stay exactly as they are; nothing of it by default.

mod support;

use std::time::Duration;

use httpserver_core::{
    Body, Config, Handler, Input, LogEntry, Output, Reply, Request, ResponseHead, ServerProtocol, Timeouts,
};
use support::*;

fn with_completions(protocol: ServerProtocol) -> Config {
    config(protocol).with_log_completions(true)
}

/// The human text of a `Completed` entry (what `message()` gives).
fn is_completion(line: &str) -> bool {
    line.contains(" sent ") || line.contains(" cut short after ")
}

#[test]
fn off_by_default_and_cpythons_entries_stay_as_they_are() {
    let input: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
        HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n\
        GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n\
        GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9,50000-50009\r\n\r\n\
        GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /nope HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let (wire, plain) = serve(ServerProtocol::Http11, input, input.len());
    assert!(!plain.iter().any(|l| is_completion(l)), "{plain:?}");
    let multipart = wire.split("multipart/byteranges").nth(1).unwrap();
    let multipart_len: u64 =
        multipart.split("Content-Length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
    let expected = [
        "\"GET /a.txt HTTP/1.1\" 200 sent 6 bytes in 0.000 ms".to_string(),
        "\"HEAD /a.txt HTTP/1.1\" 200 sent 0 bytes in 0.000 ms".to_string(),
        "\"GET /a.txt HTTP/1.1\" 304 sent 0 bytes in 0.000 ms".to_string(),
        "\"GET /a.txt HTTP/1.1\" 206 sent 3 bytes in 0.000 ms".to_string(),
        format!("\"GET /big.bin HTTP/1.1\" 206 sent {multipart_len} bytes in 0.000 ms"),
        "\"GET /big.bin HTTP/1.1\" 200 sent 100000 bytes in 0.000 ms".to_string(),
        "\"GET /sub/ HTTP/1.1\" 200 sent 9 bytes in 0.000 ms".to_string(),
        // The error page (send_error closes: the last request goes unanswered).
        "\"GET /nope HTTP/1.1\" 404 sent 335 bytes in 0.000 ms".to_string(),
    ];
    for split in [1, 7, input.len()] {
        for write_limit in [1, 5, 1000, usize::MAX] {
            let mut d = Driver::new(with_completions(ServerProtocol::Http11), simple());
            d.write_limit = write_limit;
            d.feed(input, split, true);
            // The same responses (the multipart boundary differs each time).
            assert_eq!((d.wire.len(), statuses(&d.wire_text())), (wire.len(), statuses(&wire)));
            let (done, cpython): (Vec<String>, Vec<String>) =
                d.log.iter().cloned().partition(|l| is_completion(l));
            assert_eq!(cpython, plain, "CPython's entries, split {split}, writes of {write_limit}");
            assert_eq!(done, expected, "split {split}, writes of {write_limit}");
            // Each completion comes after its request's entries, before the next request's.
            let requests: Vec<usize> =
                d.log.iter().enumerate().filter(|(_, l)| l.ends_with(" -")).map(|(i, _)| i).collect();
            let ends: Vec<usize> =
                d.log.iter().enumerate().filter(|(_, l)| is_completion(l)).map(|(i, _)| i).collect();
            assert_eq!(requests.len(), ends.len());
            for (k, (r, e)) in requests.iter().zip(&ends).enumerate() {
                assert!(r < e && requests.get(k + 1).map_or(true, |next| e < next), "{:?}", d.log);
            }
        }
    }
}

#[test]
fn http_0_9_malformed_requests_and_chunked_bodies() {
    let mut d = Driver::new(with_completions(ServerProtocol::Http10), simple());
    d.feed(b"GET /a.txt\r\n", 1000, true);
    assert_eq!(d.log, ["\"GET /a.txt\" 200 -", "\"GET /a.txt\" 200 sent 6 bytes in 0.000 ms"]);

    let mut d = Driver::new(with_completions(ServerProtocol::Http10), simple());
    d.feed(b"GARBAGE\r\n\r\n", 1000, true);
    let page = d.wire_text().split("\r\n\r\n").nth(1).unwrap().len();
    assert_eq!(
        d.log,
        [
            "code 400, message Bad request syntax ('GARBAGE')".to_string(),
            "\"GARBAGE\" 400 -".to_string(),
            format!("\"GARBAGE\" 400 sent {page} bytes in 0.000 ms"),
        ]
    );

    // A body the engine frames: the payload counts, not the chunk framing.
    struct Chunky;
    impl Handler for Chunky {
        type Body = Vec<u8>;
        fn do_get(&mut self, _req: &Request) -> Reply<Vec<u8>> {
            Reply::new(ResponseHead::new(200), Body::Chunked(vec![b'z'; 40_000]))
        }
    }
    for (protocol, request) in [
        (ServerProtocol::Http11, &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]),
        (ServerProtocol::Http10, b"GET / HTTP/1.0\r\n\r\n"),
    ] {
        for write_limit in [7, usize::MAX] {
            let mut d = Driver::new(with_completions(protocol), Chunky);
            d.write_limit = write_limit;
            d.feed(request, 1000, true);
            assert_eq!(
                d.wire_text().contains("Transfer-Encoding: chunked"),
                protocol == ServerProtocol::Http11
            );
            let line = request.split(|&b| b == b'\r').next().unwrap();
            let line = String::from_utf8_lossy(line);
            assert_eq!(d.log.last().unwrap(), &format!("\"{line}\" 200 sent 40000 bytes in 0.000 ms"));
        }
    }
}

#[test]
fn the_duration_runs_from_the_head_to_the_last_byte_written() {
    let mut d = Driver::new(with_completions(ServerProtocol::Http11), simple());
    let ms = Duration::from_millis;
    let start = d.now.mono;
    d.engine.handle(Input::Bytes(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"), d.now).unwrap();
    // The head is taken (and the handler dispatched) at this poll.
    d.now.mono = start + ms(2);
    assert!(matches!(d.engine.poll(&mut d.handler, d.now), Output::Log(LogEntry::Request { .. })));
    let mut sent = 0;
    for step in [5, 10] {
        d.now.mono += ms(step);
        match d.engine.poll(&mut d.handler, d.now) {
            Output::Body { head, .. } => {
                let n = head.len();
                d.engine.handle(Input::Written(n), d.now).unwrap();
                d.engine.handle(Input::BodyCopied(50_000), d.now).unwrap();
                sent += 50_000;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, 100_000);
    // Polled late: the time the last byte was reported written counts.
    d.now.mono += ms(100);
    match d.engine.poll(&mut d.handler, d.now) {
        Output::Log(LogEntry::Completed { request_line, status, body_bytes, duration, complete, .. }) => {
            assert_eq!(
                (request_line.as_str(), *status, *body_bytes, *duration, *complete),
                ("GET /big.bin HTTP/1.1", 200, 100_000, ms(15), true)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(d.engine.poll(&mut d.handler, d.now), Output::Read));
}

fn timeouts() -> Config {
    with_completions(ServerProtocol::Http11)
        .with_timeouts(Timeouts::default().with_io(Some(Duration::from_secs(20))))
}

#[test]
fn responses_cut_short_are_logged_with_what_went_out() {
    // A source shorter than its Content-Length.
    struct Short;
    impl Handler for Short {
        type Body = Vec<u8>;
        fn do_get(&mut self, _req: &Request) -> Reply<Vec<u8>> {
            let head = ResponseHead::new(200).header("Content-Length", "10");
            Reply::new(head, Body::Source { source: b"abc".to_vec(), offset: 0, len: 10 })
        }
    }
    let mut d = Driver::new(with_completions(ServerProtocol::Http11), Short);
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1000, false);
    assert!(d.closed);
    assert_eq!(
        d.log,
        [
            "\"GET / HTTP/1.1\" 200 -",
            "response body ended before its length; connection closed",
            "\"GET / HTTP/1.1\" 200 cut short after 3 bytes, 0.000 ms",
        ]
    );

    // A client that stops reading: the I/O limit ends the response.
    let mut d = Driver::new(timeouts(), simple());
    d.engine.handle(Input::Bytes(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"), d.now).unwrap();
    assert!(matches!(d.engine.poll(&mut d.handler, d.now), Output::Log(_)));
    match d.engine.poll(&mut d.handler, d.now) {
        Output::Body { head, .. } => {
            let n = head.len();
            d.engine.handle(Input::Written(n), d.now).unwrap();
            d.engine.handle(Input::BodyCopied(1000), d.now).unwrap();
        }
        other => panic!("{other:?}"),
    }
    d.advance(3);
    assert!(matches!(d.engine.poll(&mut d.handler, d.now), Output::Body { .. }));
    d.advance(21);
    assert!(!d.run());
    assert_eq!(d.log, ["\"GET /big.bin HTTP/1.1\" 200 cut short after 1000 bytes, 0.000 ms"]);

    // In-memory body bytes count once the buffer holding them is written:
    // cut short mid-buffer, they are not claimed.
    let mut d = Driver::new(timeouts(), simple());
    d.engine.handle(Input::Bytes(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"), d.now).unwrap();
    let mut logged = 0;
    loop {
        match d.engine.poll(&mut d.handler, d.now) {
            Output::Log(_) => logged += 1,
            Output::Write(bytes) => {
                let n = bytes.len();
                assert!(n > 400, "head and page together");
                d.engine.handle(Input::Written(n - 1), d.now).unwrap();
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(logged, 2);
    d.advance(21);
    assert!(!d.run());
    assert_eq!(d.log, ["\"GET /nope HTTP/1.1\" 404 cut short after 0 bytes, 0.000 ms"]);
}
