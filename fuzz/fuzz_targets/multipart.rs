//! The streaming multipart/form-data parser: no panic, and the same events
//! (contents merged) and the same outcome whatever the split.
#![no_main]

use httpserver_core::simple::multipart::{MultipartError, MultipartParser, PartEvent, PartHead};
use libfuzzer_sys::fuzz_target;

/// What the parser reported, with adjacent `Data` merged.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Start(PartHead),
    Data(Vec<u8>),
    End,
}

/// The events and the outcome for `body` fed `split` bytes at a time.
fn parse(boundary: &str, body: &[u8], split: usize) -> (Vec<Event>, Result<(), MultipartError>) {
    let mut parser = MultipartParser::new(boundary);
    let mut got: Vec<Event> = Vec::new();
    for piece in body.chunks(split) {
        let result = parser.feed(piece, &mut |event| match event {
            PartEvent::Start(head) => got.push(Event::Start(head)),
            PartEvent::Data(bytes) => {
                assert!(!bytes.is_empty(), "an empty Data event");
                match got.last_mut() {
                    Some(Event::Data(prev)) => prev.extend_from_slice(bytes),
                    _ => got.push(Event::Data(bytes.to_vec())),
                }
            }
            PartEvent::End => got.push(Event::End),
        });
        if result.is_err() {
            return (got, result);
        }
    }
    let result = parser.finish();
    (got, result)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    // Short boundaries, so that random input finds delimiters often.
    let boundary = ["b", "--", "ab-"][usize::from(data[0] >> 6) % 3];
    let split = usize::from(data[0] % 8) + 1;
    let input = &data[1..];
    assert_eq!(parse(boundary, input, split), parse(boundary, input, input.len().max(1)));
});
