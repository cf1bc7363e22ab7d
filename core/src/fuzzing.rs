//! Internals the fuzz targets and property tests drive directly, and the
//! one harness they share. Not part of the API: no stability promise.

pub use crate::http::body::{BodyDecoder, BodyStep};

/// Decode all of `input` with `decoder`, fed `split` bytes at a time: the
/// body and how many input bytes were left after it, or the error's
/// status (0: the input ended before the body did).
pub fn decode(mut decoder: BodyDecoder, input: &[u8], split: usize) -> Result<(Vec<u8>, usize), u16> {
    let mut body = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        match decoder.step(&buf).map_err(|e| e.status())? {
            BodyStep::NeedData => {
                if fed >= input.len() {
                    return Err(0);
                }
                let end = (fed + split.max(1)).min(input.len());
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
