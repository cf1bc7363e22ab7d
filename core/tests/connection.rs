//! The state machine driven through its public API: event sequences,
//! exact response bytes, and the same results whatever the read split.

use std::time::UNIX_EPOCH;

use httpserver_core::http::{After, BodyPlan, CloseReason, Connection, Event, ProtocolErrorKind};
use httpserver_core::{Config, ResponseHead, ServerProtocol, UsageError};

fn config(protocol: ServerProtocol) -> Config {
    Config::default().with_protocol(protocol)
}

/// Feed `input` in pieces of `split` bytes and collect every event.
fn events(protocol: ServerProtocol, input: &[u8], split: usize) -> Vec<Event> {
    let mut conn = Connection::new(config(protocol));
    let mut out = Vec::new();
    let mut got = Vec::new();
    let mut fed = 0;
    loop {
        while let Some(ev) = conn.next_event() {
            let done = matches!(ev, Event::ConnectionClosed);
            if let Event::EndOfRequest = ev {
                // Answer each request so the next one can be parsed.
                let head = ResponseHead::new(204);
                let _ = conn.start_response(&head, UNIX_EPOCH, &mut out).unwrap();
                let _ = conn.finish_response().unwrap();
            }
            if let Event::ProtocolError(_) = ev {
                got.push(ev);
                return got;
            }
            got.push(ev);
            if done {
                return got;
            }
        }
        if fed >= input.len() {
            if !conn.wants_read() {
                return got;
            }
            conn.receive_eof();
            continue;
        }
        let end = (fed + split).min(input.len());
        conn.receive(&input[fed..end]);
        fed = end;
    }
}

fn merge_body(evs: Vec<Event>) -> Vec<Event> {
    // Body chunk boundaries depend on the split; join adjacent chunks.
    let mut out: Vec<Event> = Vec::new();
    for ev in evs {
        if let (Some(Event::BodyChunk(prev)), Event::BodyChunk(more)) = (out.last_mut(), &ev) {
            prev.extend_from_slice(more);
            continue;
        }
        out.push(ev);
    }
    out
}

#[test]
fn same_events_whatever_the_split() {
    let inputs: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;e=1\r\nd\r\n0\r\nT: 1\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a\r\n",
        b"GET /x HTTP/1.1\nHost: x\n\nGET /y HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"\r\n",
    ];
    for input in inputs {
        for protocol in [ServerProtocol::Http10, ServerProtocol::Http11] {
            let whole = merge_body(events(protocol, input, input.len()));
            assert!(!whole.is_empty());
            for split in [1, 2, 3, 5, 8, 13] {
                assert_eq!(
                    merge_body(events(protocol, input, split)),
                    whole,
                    "{:?} split {split}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }
}

#[test]
fn pipelined_requests_with_bodies() {
    let input = b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\n";
    let evs = merge_body(events(ServerProtocol::Http11, input, 1));
    let kinds: Vec<String> = evs
        .iter()
        .map(|e| match e {
            Event::RequestHead(h) => format!("head {} {}", h.method, h.target),
            Event::BodyChunk(b) => format!("body {}", String::from_utf8_lossy(b)),
            Event::EndOfRequest => "end".into(),
            Event::ProtocolError(e) => format!("error {}", e.status()),
            Event::ConnectionClosed => "closed".into(),
            _ => "other".into(),
        })
        .collect();
    assert_eq!(kinds, ["head POST /p", "body abc", "end", "head GET /n", "end", "closed"]);
}

#[test]
fn framing_errors_are_typed() {
    let cases: &[(&[u8], ProtocolErrorKind, u16)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            ProtocolErrorKind::BadContentLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1_0\r\n\r\n",
            ProtocolErrorKind::BadContentLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            ProtocolErrorKind::BadContentLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n",
            ProtocolErrorKind::BadContentLength,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            ProtocolErrorKind::UnsupportedTransferEncoding,
            501,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \xa0chunked\r\n\r\n0\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            ProtocolErrorKind::BadTransferEncoding,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
            ProtocolErrorKind::BadChunk,
            400,
        ),
        (b"GET / HTTP/1.1\r\n\r\n", ProtocolErrorKind::BadHost, 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ProtocolErrorKind::BadHost, 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Name: v\r\n\r\n", ProtocolErrorKind::BadHeader, 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", ProtocolErrorKind::BadHeader, 400),
        (b"GET / HTTP/3.0\r\n\r\n", ProtocolErrorKind::VersionNotSupported, 505),
    ];
    for (input, kind, status) in cases {
        let evs = events(ServerProtocol::Http11, input, 1);
        match evs.last() {
            Some(Event::ProtocolError(e)) => {
                assert_eq!((e.kind(), e.status()), (*kind, *status), "{:?}", String::from_utf8_lossy(input))
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }
}

#[test]
fn limits_apply_before_the_head_is_complete() {
    // A request line longer than 65,536 bytes is refused without its end.
    let mut conn = Connection::new(Config::default());
    conn.receive(b"GET /");
    conn.receive(&vec![b'a'; 65_536]);
    match conn.next_event() {
        Some(Event::ProtocolError(e)) => assert_eq!(e.status(), 414),
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.request_line(), "");
    // So is a header line, and the 100th header field.
    let mut conn = Connection::new(Config::default());
    conn.receive(b"GET / HTTP/1.0\r\nX: ");
    conn.receive(&vec![b'a'; 65_536]);
    match conn.next_event() {
        Some(Event::ProtocolError(e)) => {
            assert_eq!((e.status(), e.message()), (431, Some("Line too long")))
        }
        other => panic!("{other:?}"),
    }
    let mut conn = Connection::new(Config::default());
    conn.receive(b"GET / HTTP/1.0\r\n");
    conn.receive("X: a\r\n".repeat(100).as_bytes());
    assert_eq!(conn.next_event(), None, "100 lines so far: within CPython's limit");
    conn.receive(b"\r\n"); // the blank line is the 101st
    match conn.next_event() {
        Some(Event::ProtocolError(e)) => {
            assert_eq!(
                (e.status(), e.message(), e.explain()),
                (431, Some("Too many headers"), Some("got more than 100 headers"))
            )
        }
        other => panic!("{other:?}"),
    }
    // The whole head is capped too.
    let mut conn = Connection::new(Config::default().with_max_head(1000));
    conn.receive(b"GET / HTTP/1.0\r\n");
    for _ in 0..30 {
        conn.receive(b"X-Header: 0123456789012345678901234567890123456789\r\n");
    }
    match conn.next_event() {
        Some(Event::ProtocolError(e)) => {
            assert_eq!((e.kind(), e.status()), (ProtocolErrorKind::HeadTooLarge, 431))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn keep_alive_decided_as_cpython() {
    // (server protocol, request, keeps the connection)
    let cases: &[(ServerProtocol, &str, bool)] = &[
        (ServerProtocol::Http10, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false),
        (ServerProtocol::Http10, "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.0\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (ServerProtocol::Http11, "GET /\r\n", false),
        // `Connection` is a list of tokens: `close` anywhere closes.
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\nConnection: te, close\r\n\r\n", false),
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close, te\r\n\r\n", false),
        (
            ServerProtocol::Http11,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: te\r\nConnection: close\r\n\r\n",
            false,
        ),
        (ServerProtocol::Http11, "GET / HTTP/1.0\r\nConnection: keep-alive, te\r\n\r\n", true),
        (ServerProtocol::Http11, "GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", true),
    ];
    for (protocol, req, keeps) in cases {
        let mut conn = Connection::new(config(*protocol));
        conn.receive(req.as_bytes());
        let mut out = Vec::new();
        assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
        let head = ResponseHead::new(200).header("Content-Length", "0");
        let _ = conn.start_response(&head, UNIX_EPOCH, &mut out).unwrap();
        let after = conn.finish_response().unwrap();
        assert_eq!(after == After::KeepAlive, *keeps, "{protocol:?} {req:?}");
    }
}

#[test]
fn body_plans_and_usage_errors() {
    let mut conn = Connection::new(config(ServerProtocol::Http11));
    conn.receive(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut out = Vec::new();
    assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
    let head = ResponseHead::new(200).header("Content-Length", "10");
    assert_eq!(conn.start_response(&head, UNIX_EPOCH, &mut out), Ok(BodyPlan::None));
    assert_eq!(conn.start_response(&head, UNIX_EPOCH, &mut out), Err(UsageError::HeadAlreadySent));
    assert_eq!(conn.send_body(b"x", &mut out), Err(UsageError::BodyNotAllowed));
    assert_eq!(conn.finish_response(), Ok(After::KeepAlive));
    assert_eq!(conn.start_response(&head, UNIX_EPOCH, &mut out), Err(UsageError::NoRequestPending));
    // Every request ends with EndOfRequest, even one without a body.
    assert_eq!(conn.next_event(), Some(Event::EndOfRequest));

    conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
    assert_eq!(conn.start_response(&head, UNIX_EPOCH, &mut out), Ok(BodyPlan::Length(10)));
    assert_eq!(conn.send_body(b"0123456789x", &mut out), Err(UsageError::BodyTooLong { declared: 10 }));
    conn.send_body(b"01234", &mut out).unwrap();
    assert_eq!(conn.finish_response(), Err(UsageError::BodyTooShort { declared: 10, sent: 5 }));

    // No Content-Length: the body ends with the connection.
    let mut conn = Connection::new(config(ServerProtocol::Http11));
    conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    conn.next_event();
    assert_eq!(conn.start_response(&ResponseHead::new(200), UNIX_EPOCH, &mut out), Ok(BodyPlan::UntilClose));
    assert!(matches!(conn.finish_response(), Ok(After::Close(_))));

    // 204 and 304 never have a body.
    for status in [204, 304, 100] {
        let mut conn = Connection::new(config(ServerProtocol::Http11));
        conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        conn.next_event();
        assert_eq!(conn.start_response(&ResponseHead::new(status), UNIX_EPOCH, &mut out), Ok(BodyPlan::None));
    }
}

#[test]
fn expect_continue_only_between_http11_peers() {
    let mut conn = Connection::new(config(ServerProtocol::Http11));
    conn.receive(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
    assert!(conn.expects_continue());
    let mut out = Vec::new();
    conn.send_continue(&mut out).unwrap();
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(!conn.expects_continue());
    assert!(conn.wants_read());

    let mut conn = Connection::new(config(ServerProtocol::Http10));
    conn.receive(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    conn.next_event();
    assert!(!conn.expects_continue());
}

/// The head bytes of a 200 with `extra` header lines, for `request`.
fn answer(protocol: ServerProtocol, request: &str, reply: ResponseHead) -> (String, After) {
    let mut conn = Connection::new(config(protocol));
    conn.receive(request.as_bytes());
    assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
    let mut out = Vec::new();
    let _ = conn.start_response(&reply, UNIX_EPOCH, &mut out).unwrap();
    let after = conn.finish_response().unwrap();
    (String::from_utf8(out).unwrap(), after)
}

#[test]
fn persistence_is_announced_where_the_client_could_not_tell() {
    use ServerProtocol::*;
    let len0 = || ResponseHead::new(200).header("Content-Length", "0");
    // (server, request, reply, Connection header added, keeps)
    let cases: Vec<(ServerProtocol, &str, ResponseHead, Option<&str>, bool)> = vec![
        // A kept connection for HTTP/1.0 says so: keep-alive is not its default.
        (Http11, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", len0(), Some("keep-alive"), true),
        // HTTP/1.1 keeps by default: nothing to say.
        (Http11, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", len0(), None, true),
        // Closing on a client that expected to keep it: say close.
        (Http11, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ResponseHead::new(200), Some("close"), false),
        (
            Http11,
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            ResponseHead::new(200),
            Some("close"),
            false,
        ),
        // An HTTP/1.1 client that asked to close, answered in HTTP/1.1:
        // told so all the same (RFC 9112 9.6's SHOULD; the status line
        // alone reads as persistent).
        (Http11, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", len0(), Some("close"), false),
        // An HTTP/1.0 client that cannot persist: it knows.
        (Http11, "GET / HTTP/1.0\r\n\r\n", len0(), None, false),
        // An HTTP/1.0 server never persists: a client that could expect it
        // to is told so (wget would otherwise reuse the connection); a
        // plain HTTP/1.0 client gets CPython's bytes.
        (Http10, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", len0(), Some("close"), false),
        (Http10, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", len0(), Some("close"), false),
        (Http10, "GET / HTTP/1.0\r\n\r\n", len0(), None, false),
        (Http10, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", len0(), None, false),
        // The reply said it already.
        (
            Http11,
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            ResponseHead::new(200).header("Connection", "close"),
            None,
            false,
        ),
    ];
    for (protocol, request, reply, added, keeps) in cases {
        let (head, after) = answer(protocol, request, reply.clone());
        let found: Vec<&str> = head.lines().filter_map(|l| l.strip_prefix("Connection: ")).collect();
        let expected: Vec<&str> = reply.get_all("Connection").chain(added).collect();
        assert_eq!(found, expected, "{protocol:?} {request:?}: {head}");
        assert_eq!(after == After::KeepAlive, keeps, "{protocol:?} {request:?}");
    }
}

#[test]
fn a_stopping_server_says_close_and_closes() {
    let mut conn = Connection::new(config(ServerProtocol::Http11));
    conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
    conn.close_after_response();
    let mut out = Vec::new();
    let head = ResponseHead::new(200).header("Content-Length", "0");
    let _ = conn.start_response(&head, UNIX_EPOCH, &mut out).unwrap();
    assert!(String::from_utf8_lossy(&out).contains("\r\nConnection: close\r\n"));
    assert_eq!(conn.finish_response(), Ok(After::Close(CloseReason::ServerStopping)));
    assert!(conn.has_unread_input(), "the pipelined request is never answered");
    // Idle: closes at once.
    let mut conn = Connection::new(config(ServerProtocol::Http11));
    conn.close_after_response();
    assert!(conn.is_closed());
    assert_eq!(conn.next_event(), Some(Event::ConnectionClosed));
}

#[test]
fn a_bad_body_after_the_reply_closes_without_a_second_reply() {
    for body in [&b"zz\r\n"[..], b"5\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n"] {
        let mut conn = Connection::new(config(ServerProtocol::Http11));
        conn.receive(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(matches!(conn.next_event(), Some(Event::RequestHead(_))));
        // Answered at its head, as CPython answers a GET.
        let mut out = Vec::new();
        let head = ResponseHead::new(200).header("Content-Length", "0");
        let _ = conn.start_response(&head, UNIX_EPOCH, &mut out).unwrap();
        assert_eq!(conn.finish_response(), Ok(After::KeepAlive));
        conn.receive(body);
        conn.receive(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut event = conn.next_event();
        while let Some(Event::BodyChunk(_)) = event {
            event = conn.next_event();
        }
        match event {
            Some(Event::ProtocolError(e)) => assert_eq!(e.status(), 400),
            other => panic!("{other:?}"),
        }
        assert!(!conn.can_respond(), "no second reply on this connection");
        assert!(conn.is_closed() && conn.has_unread_input());
        assert_eq!(conn.start_response(&head, UNIX_EPOCH, &mut out), Err(UsageError::NoRequestPending));
        assert_eq!(conn.next_event(), Some(Event::ConnectionClosed));
        assert_eq!(conn.next_event(), None);
    }
}

/// Whether the response being sent may hold its last bytes for the close:
/// only when the connection closes after it and the client said it sends
/// nothing more, from a request that was understood.
fn close_follows(protocol: ServerProtocol, request: &[u8]) -> bool {
    let mut conn = Connection::new(config(protocol));
    conn.receive(request);
    while let Some(ev) = conn.next_event() {
        if matches!(ev, Event::EndOfRequest | Event::ProtocolError(_)) {
            break;
        }
    }
    let head = ResponseHead::new(200).header("Content-Length", "0");
    let _ = conn.start_response(&head, UNIX_EPOCH, &mut Vec::new()).unwrap();
    conn.close_follows()
}

#[test]
fn close_follows_only_when_the_client_is_done() {
    use ServerProtocol::{Http10, Http11};
    let done: [(ServerProtocol, &[u8]); 4] = [
        (Http10, b"GET / HTTP/1.0\r\n\r\n"),
        (Http11, b"GET / HTTP/1.0\r\n\r\n"),
        (Http11, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        (Http10, b"GET / HTTP/0.9\r\n\r\n"),
    ];
    for (protocol, request) in done {
        assert!(close_follows(protocol, request), "{protocol:?} {}", String::from_utf8_lossy(request));
    }
    let not_done: [(ServerProtocol, &[u8]); 5] = [
        // Stays open.
        (Http11, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        (Http11, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        // Closes, but the client did not say it was done: it may send more.
        (Http10, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        // A request that was not understood: its client may still be sending.
        (Http10, b"GET / HTTP/1.0\r\nBad Header\r\n\r\n"),
        (Http11, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), // no Host
    ];
    for (protocol, request) in not_done {
        assert!(!close_follows(protocol, request), "{protocol:?} {}", String::from_utf8_lossy(request));
    }
}
