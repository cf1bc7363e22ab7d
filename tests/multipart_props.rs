//! Property tests of the core's streaming `multipart/form-data` parser
//! (`core/src/simple/multipart.rs`), for the invariants its fuzz target
//! also checks: a body encoded as a browser would comes back part for part
//! whatever the chunks it arrives in, even when the contents look like
//! pieces of a delimiter; and on any bytes, the events and the outcome do
//! not depend on the split.

use proptest::prelude::*;

use httpserver_core::simple::multipart::{MultipartError, MultipartParser, PartEvent, PartHead};

/// RFC 2046's `bchars` but the space (kept out only so that a boundary
/// cannot end in one).
const BCHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?";

/// What the parser reported, with adjacent `Data` merged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Start(PartHead),
    Data(Vec<u8>),
    End,
}

/// The events and the outcome (of the first failing `feed`, else of
/// `finish`) for `body` fed in pieces cut at `cuts`.
fn events(boundary: &str, body: &[u8], cuts: &[usize]) -> (Vec<Event>, Result<(), MultipartError>) {
    let mut parser = MultipartParser::new(boundary);
    let mut got: Vec<Event> = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.push(body.len());
    points.sort_unstable();
    let mut fed = 0;
    for p in points {
        let result = parser.feed(&body[fed..p], &mut |event| match event {
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
        fed = p;
    }
    let result = parser.finish();
    (got, result)
}

/// A boundary of 1 to 70 `bchars`.
fn boundary() -> impl Strategy<Value = String> {
    prop::collection::vec(0..BCHARS.len(), 1..=70)
        .prop_map(|picks| picks.into_iter().map(|i| char::from(BCHARS[i])).collect())
}

/// Bytes that are mostly pieces of `CRLF--boundary`: a part's content, a
/// preamble, an epilogue.
fn lookalike_bytes(boundary: String) -> impl Strategy<Value = Vec<u8>> {
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let whole = delimiter.len();
    let pieces = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r\n-".to_vec()),
        Just(format!("--{boundary}").into_bytes()),
        Just(format!("--{boundary}--").into_bytes()),
        (1..whole).prop_map(move |n| delimiter[..n].to_vec()),
    ];
    prop::collection::vec(pieces, 0..8).prop_map(|v| v.concat())
}

/// One part to encode: field name, file name, content type, content.
type Part = (String, Option<Vec<u8>>, Option<String>, Vec<u8>);

fn part(boundary: String) -> impl Strategy<Value = Part> {
    // File names as browsers send them: any bytes but `"`, `\`, CR and
    // LF (raw UTF-8 included).
    let filename = prop::collection::vec(any::<u8>(), 0..20).prop_map(|b| {
        b.into_iter().filter(|c| !matches!(c, b'"' | b'\\' | b'\r' | b'\n')).collect::<Vec<u8>>()
    });
    (
        "[a-z][a-z0-9_]{0,8}",
        prop::option::of(filename),
        prop::option::of(prop_oneof![
            Just("text/plain".to_string()),
            Just("application/octet-stream".to_string())
        ]),
        lookalike_bytes(boundary),
    )
}

/// A body to encode: boundary, preamble, parts, epilogue.
type Form = (String, Option<Vec<u8>>, Vec<Part>, Option<Vec<u8>>);

/// A body of parts, with an optional preamble and epilogue.
fn form() -> impl Strategy<Value = Form> {
    boundary().prop_flat_map(|b| {
        (
            Just(b.clone()),
            prop::option::of(lookalike_bytes(b.clone())),
            prop::collection::vec(part(b.clone()), 0..5),
            prop::option::of(lookalike_bytes(b)),
        )
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The body a browser would send, and the events it must give.
fn encode(
    boundary: &str,
    preamble: &Option<Vec<u8>>,
    parts: &[Part],
    epilogue: &Option<Vec<u8>>,
) -> (Vec<u8>, Vec<Event>) {
    let mut body = Vec::new();
    let mut expected = Vec::new();
    if let Some(p) = preamble {
        body.extend_from_slice(p);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}").as_bytes());
    for (name, filename, content_type, content) in parts {
        body.extend_from_slice(format!("\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(f) = filename {
            body.extend_from_slice(b"; filename=\"");
            body.extend_from_slice(f);
            body.extend_from_slice(b"\"");
        }
        body.extend_from_slice(b"\r\n");
        if let Some(t) = content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}").as_bytes());
        expected.push(Event::Start(PartHead {
            name: Some(name.clone()),
            filename: filename.clone(),
            content_type: content_type.clone(),
        }));
        if !content.is_empty() {
            expected.push(Event::Data(content.clone()));
        }
        expected.push(Event::End);
    }
    body.extend_from_slice(b"--");
    if let Some(e) = epilogue {
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(e);
    }
    (body, expected)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn parts_come_back_whatever_the_split(
        (boundary, preamble, parts, epilogue) in form(),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        // A sender picks a boundary its contents do not hold (the preamble
        // is checked as if a CRLF came before it, as the parser reads it).
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        let preamble_holds_one = match &preamble {
            Some(p) => contains(&[b"\r\n", &p[..]].concat(), &delimiter),
            None => false,
        };
        prop_assume!(!preamble_holds_one);
        prop_assume!(parts.iter().all(|p| !contains(&p.3, &delimiter)));
        let (body, expected) = encode(&boundary, &preamble, &parts, &epilogue);
        prop_assert_eq!(events(&boundary, &body, &cuts), (expected.clone(), Ok(())));
        // One byte at a time too.
        let every: Vec<usize> = (0..body.len()).collect();
        prop_assert_eq!(events(&boundary, &body, &every), (expected, Ok(())));
    }

    #[test]
    fn any_bytes_give_the_same_events_whatever_the_split(
        (boundary, body) in boundary().prop_flat_map(|b| (Just(b.clone()), lookalike_bytes(b))),
        prefix in prop::sample::select(vec![&b""[..], b"--", b"\r\n--", b"x\r\n--"]),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        // Often a real first delimiter and head, so the rest is read as a
        // part's content and delimiter lines, not only as preamble.
        let mut input = prefix.to_vec();
        if !prefix.is_empty() {
            input.extend_from_slice(boundary.as_bytes());
            input.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n");
        }
        input.extend_from_slice(&body);
        let whole = events(&boundary, &input, &[]);
        prop_assert_eq!(events(&boundary, &input, &cuts), whole.clone());
        let every: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(events(&boundary, &input, &every), whole);
    }
}
