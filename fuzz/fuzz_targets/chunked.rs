//! The chunked decoder: no panic, and the same body (or the same error)
//! whatever the split.
#![no_main]

use httpserver_core::{BodyDecoder, BodyStep};
use libfuzzer_sys::fuzz_target;

fn decode(input: &[u8], split: usize) -> Result<(Vec<u8>, usize), u16> {
    let mut dec = BodyDecoder::ChunkSize;
    let mut buf: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        match dec.step(&buf).map_err(|e| e.status())? {
            BodyStep::NeedData => {
                if fed >= input.len() {
                    return Err(0);
                }
                let end = (fed + split).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            BodyStep::Progress { consumed, data } => {
                body.extend_from_slice(&buf[data.0..data.1]);
                buf.drain(..consumed);
            }
            BodyStep::Done { consumed } => {
                buf.drain(..consumed);
                return Ok((body, buf.len() + input.len() - fed));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0] % 8) + 1;
    let input = &data[1..];
    assert_eq!(decode(input, split), decode(input, input.len().max(1)));
});
