//! Property tests of the core, for the invariants the fuzz targets also
//! check (the fuzz targets run longer, behind `make fuzz`; these run in
//! `make test`). They live here, as a target of the native package, so
//! that the core's own dependency tree stays httparse, httpdate and
//! mime_guess.

use proptest::prelude::*;

use httpserver_core::fuzzing::{decode, BodyDecoder, BodyStep};
use httpserver_core::http::{Connection, Event};
use httpserver_core::simple::range::{multipart, parse_range, select_ranges, RangeDecision, MAX_RANGE_SPECS};
use httpserver_core::simple::translate_path;
use httpserver_core::{Config, ResponseHead, ServerProtocol};

/// All events for `input` fed in pieces cut at `cuts`, answering each
/// request so the next can be parsed; body chunks merged.
fn events(input: &[u8], cuts: &[usize], protocol: ServerProtocol) -> Vec<Event> {
    let mut conn = Connection::new(Config::default().with_protocol(protocol));
    let mut out = Vec::new();
    let mut got: Vec<Event> = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut fed = 0;
    for p in points {
        if p > fed {
            conn.receive(&input[fed..p]);
            fed = p;
        }
        drain(&mut conn, &mut out, &mut got);
    }
    conn.receive_eof();
    drain(&mut conn, &mut out, &mut got);
    got
}

fn drain(conn: &mut Connection, out: &mut Vec<u8>, got: &mut Vec<Event>) {
    while let Some(ev) = conn.next_event() {
        let respond = matches!(ev, Event::EndOfRequest | Event::ProtocolError(_));
        if let (Event::BodyChunk(more), Some(Event::BodyChunk(prev))) = (&ev, got.last_mut()) {
            prev.extend_from_slice(more);
        } else {
            got.push(ev);
        }
        if respond && conn.can_respond() {
            let head = ResponseHead::new(200).header("Content-Length", "0");
            if conn.start_response(&head, std::time::UNIX_EPOCH, out).is_ok() {
                let _ = conn.finish_response();
            }
        }
    }
}

/// Request-ish bytes: fragments of real requests glued with noise.
fn request_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        Just(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        Just(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".to_vec()),
        Just(
            b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                .to_vec()
        ),
        Just(b"GET /a\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"Content-Length: 2\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec(pieces, 1..6).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn connection_events_do_not_depend_on_the_split(
        input in request_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        http11 in any::<bool>(),
    ) {
        let protocol = if http11 { ServerProtocol::Http11 } else { ServerProtocol::Http10 };
        let whole = events(&input, &[], protocol);
        prop_assert_eq!(events(&input, &cuts, protocol), whole);
    }

    #[test]
    fn translate_path_never_leaves_the_root(path in "[/.%a-z0-9\\\\?#]{0,60}", raw in prop::collection::vec(any::<u8>(), 0..30)) {
        let raw_text: String = raw.iter().map(|&b| b as char).collect();
        for p in [path.as_str(), raw_text.as_str()] {
            let t = translate_path(p);
            for seg in t.segments() {
                prop_assert!(!seg.is_empty());
                prop_assert!(seg != b"." && seg != b"..");
                prop_assert!(!seg.contains(&b'/'));
            }
        }
    }

    /// The in-place normalisation agrees with posixpath's, done with a
    /// stack of names (plain paths: nothing to decode).
    #[test]
    fn translate_path_normalises_as_a_name_stack(path in "[/.ab]{0,40}") {
        let mut stack: Vec<&str> = Vec::new();
        for word in path.split('/') {
            match word {
                "" | "." => {}
                ".." => {
                    stack.pop();
                }
                name => stack.push(name),
            }
        }
        let t = translate_path(&path);
        prop_assert_eq!(t.segments().collect::<Vec<_>>(), stack.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
        let joined = stack.join("/");
        prop_assert_eq!(t.as_bytes(), joined.as_bytes());
    }

    #[test]
    fn chunked_round_trip_in_any_split(
        body in prop::collection::vec(any::<u8>(), 0..300),
        sizes in prop::collection::vec(1usize..50, 1..20),
        split in 1usize..17,
    ) {
        // Encode `body` in chunks of the given sizes.
        let mut wire = Vec::new();
        let mut rest = body.as_slice();
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let decoded = decode(BodyDecoder::ChunkSize, &wire, split);
        prop_assert_eq!(decoded, Ok((body, 0)));
    }

    #[test]
    fn chunked_decoder_never_panics(input in prop::collection::vec(any::<u8>(), 0..200), split in 1usize..9) {
        let mut dec = BodyDecoder::ChunkSize;
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        for _ in 0..1000 {
            match dec.step(&buf) {
                Err(_) | Ok(BodyStep::Done { .. }) => break,
                Ok(BodyStep::NeedData) => {
                    if fed >= input.len() { break; }
                    let end = (fed + split).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
                Ok(BodyStep::Progress { consumed, .. }) => { buf.drain(..consumed); }
            }
        }
    }

    #[test]
    fn ranges_stay_inside_and_no_byte_is_sent_twice(
        header in "[bB]ytes=[0-9,\\- ]{0,60}",
        big in prop::collection::vec((0u64..u64::MAX, 0u64..u64::MAX), 0..4),
        len in 0u64..5000,
    ) {
        // Random range sets, plus a few with huge positions.
        let mut value = header;
        for (a, b) in big {
            value.push_str(&format!(",{}-{}", a.min(b), a.max(b)));
        }
        let Some(specs) = parse_range(&value) else { return Ok(()) };
        prop_assert!(specs.len() <= MAX_RANGE_SPECS);
        match select_ranges(&specs, len) {
            RangeDecision::Whole => prop_assert_eq!(len, 0),
            RangeDecision::Unsatisfiable => {}
            RangeDecision::Partial(ranges) => {
                let mut seen = vec![false; len as usize];
                for r in &ranges {
                    prop_assert!(r.len > 0 && r.start.checked_add(r.len).is_some_and(|end| end <= len), "{:?} of {}", r, len);
                    for i in r.start..r.start + r.len {
                        prop_assert!(!seen[i as usize], "byte {} twice in {:?}", i, ranges);
                        seen[i as usize] = true;
                    }
                }
                let layout = multipart(&ranges, len, "text/plain", "B");
                let sum: u64 = layout.parts.iter().map(|p| p.prefix.len() as u64 + p.len).sum::<u64>() + layout.closing.len() as u64;
                prop_assert_eq!(sum, layout.content_length);
            }
        }
    }
}
