//! Arbitrary bytes in arbitrary splits: no panic, and the same events
//! whatever the split. The first byte picks the split size.
#![no_main]

use httpserver_core::http::{Connection, Event};
use httpserver_core::{Config, ResponseHead, ServerProtocol};
use libfuzzer_sys::fuzz_target;

fn events(input: &[u8], split: usize, protocol: ServerProtocol) -> Vec<Event> {
    let mut conn = Connection::new(Config::default().with_protocol(protocol).with_max_head(4096));
    let mut out = Vec::new();
    let mut got: Vec<Event> = Vec::new();
    let mut drain = |conn: &mut Connection, got: &mut Vec<Event>| {
        while let Some(ev) = conn.next_event() {
            let respond = matches!(ev, Event::EndOfRequest | Event::ProtocolError(_));
            match (&ev, got.last_mut()) {
                (Event::BodyChunk(more), Some(Event::BodyChunk(prev))) => prev.extend_from_slice(more),
                _ => got.push(ev),
            }
            if respond && conn.can_respond() {
                let head = ResponseHead::new(200).header("Content-Length", "0");
                if conn.start_response(&head, std::time::UNIX_EPOCH, &mut out).is_ok() {
                    let _ = conn.finish_response();
                }
            }
        }
    };
    for piece in input.chunks(split.max(1)) {
        conn.receive(piece);
        drain(&mut conn, &mut got);
    }
    conn.receive_eof();
    drain(&mut conn, &mut got);
    got
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0] % 16) + 1;
    let protocol = if data[0] & 0x80 != 0 { ServerProtocol::Http11 } else { ServerProtocol::Http10 };
    let input = &data[1..];
    let whole = events(input, input.len().max(1), protocol);
    assert_eq!(events(input, split, protocol), whole);
});
