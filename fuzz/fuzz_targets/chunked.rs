//! The chunked decoder: no panic, and the same body (or the same error)
//! whatever the split.
#![no_main]

use httpserver_core::fuzzing::{decode, BodyDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0] % 8) + 1;
    let input = &data[1..];
    assert_eq!(
        decode(BodyDecoder::ChunkSize, input, split),
        decode(BodyDecoder::ChunkSize, input, input.len().max(1))
    );
});
