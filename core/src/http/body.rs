//! Request body decoding: `Content-Length` and `chunked` (RFC 9112
//! section 7.1), strict where leniency could let two parsers disagree.

use crate::http::error::{ProtocolError, ProtocolErrorKind};

/// Longest chunk-size line (size, extensions, CRLF) we accept. nginx and
/// h11 use similar small bounds; real clients send a few bytes.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;
/// Most trailer bytes we read (and ignore) after the last chunk.
pub(crate) const MAX_TRAILERS: usize = 64 * 1024;

/// Where a body decoder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyDecoder {
    /// `Content-Length`: this many bytes still to come.
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside chunk data: this many bytes still to come.
    ChunkData(u64),
    /// Expecting the CRLF that ends chunk data.
    ChunkDataEnd,
    /// After the last chunk: trailer lines until a blank line; bytes so far.
    Trailers(usize),
    /// The body is complete.
    Done,
}

/// One step of decoding.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyStep {
    /// Need more input.
    NeedData,
    /// `consumed` input bytes were used; `data` of them (a range of the
    /// input) are body bytes.
    Progress {
        /// Input bytes consumed.
        consumed: usize,
        /// Body bytes within the consumed input (start, end).
        data: (usize, usize),
    },
    /// The body is complete (after consuming `consumed` bytes).
    Done {
        /// Input bytes consumed.
        consumed: usize,
    },
}

fn chunk_error(msg: &str) -> ProtocolError {
    ProtocolError::new(ProtocolErrorKind::BadChunk, format!("Invalid chunked body: {msg}"))
}

impl BodyDecoder {
    /// Decode from `input`; call again with the unconsumed rest until it
    /// says `NeedData` or `Done`.
    pub fn step(&mut self, input: &[u8]) -> Result<BodyStep, ProtocolError> {
        match *self {
            BodyDecoder::Done => Ok(BodyStep::Done { consumed: 0 }),
            BodyDecoder::Length(0) => {
                *self = BodyDecoder::Done;
                Ok(BodyStep::Done { consumed: 0 })
            }
            BodyDecoder::Length(n) | BodyDecoder::ChunkData(n) => {
                if input.is_empty() {
                    return Ok(BodyStep::NeedData);
                }
                let take = (input.len() as u64).min(n) as usize;
                let left = n - take as u64;
                *self = match *self {
                    BodyDecoder::Length(_) if left == 0 => BodyDecoder::Done,
                    BodyDecoder::Length(_) => BodyDecoder::Length(left),
                    _ if left == 0 => BodyDecoder::ChunkDataEnd,
                    _ => BodyDecoder::ChunkData(left),
                };
                Ok(BodyStep::Progress { consumed: take, data: (0, take) })
            }
            BodyDecoder::ChunkDataEnd => {
                if input.len() < 2 {
                    // A lone LF is refused at once rather than waited on.
                    if input.first().map_or(false, |&b| b != b'\r') {
                        return Err(chunk_error("chunk data not followed by CRLF"));
                    }
                    return Ok(BodyStep::NeedData);
                }
                if &input[..2] != b"\r\n" {
                    return Err(chunk_error("chunk data not followed by CRLF"));
                }
                *self = BodyDecoder::ChunkSize;
                Ok(BodyStep::Progress { consumed: 2, data: (0, 0) })
            }
            BodyDecoder::ChunkSize => {
                let line = match crlf_line(input, MAX_CHUNK_LINE)? {
                    Some(line) => line,
                    None => return Ok(BodyStep::NeedData),
                };
                let size = parse_chunk_size(&input[..line - 2])?;
                *self = if size == 0 { BodyDecoder::Trailers(0) } else { BodyDecoder::ChunkData(size) };
                Ok(BodyStep::Progress { consumed: line, data: (0, 0) })
            }
            BodyDecoder::Trailers(seen) => {
                // `seen` never passes MAX_TRAILERS: every line is counted
                // against what is left, CRLF included.
                let line = match crlf_line(input, MAX_TRAILERS.saturating_sub(seen))? {
                    Some(line) => line,
                    None => return Ok(BodyStep::NeedData),
                };
                if line == 2 {
                    *self = BodyDecoder::Done;
                    return Ok(BodyStep::Done { consumed: 2 });
                }
                let field = &input[..line - 2];
                if field[0] == b' ' || field[0] == b'\t' || !field.contains(&b':') {
                    return Err(chunk_error("malformed trailer field"));
                }
                *self = BodyDecoder::Trailers(seen + line);
                Ok(BodyStep::Progress { consumed: line, data: (0, 0) })
            }
        }
    }
}

/// Length of the CRLF-terminated line at the start of `input` (CRLF
/// included), `None` if incomplete. A bare CR or LF inside is an error,
/// as is a line longer than `max`, CRLF included.
fn crlf_line(input: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    let too_long = || Err(chunk_error("line too long"));
    for (i, &b) in input.iter().enumerate() {
        if i + 2 > max {
            return too_long();
        }
        match b {
            b'\n' => return Err(chunk_error("line not ended by CRLF")),
            b'\r' => {
                return match input.get(i + 1) {
                    Some(b'\n') => Ok(Some(i + 2)),
                    Some(_) => Err(chunk_error("bare CR")),
                    None => Ok(None),
                }
            }
            0 => return Err(chunk_error("NUL byte")),
            _ => {}
        }
    }
    if input.len() + 2 > max {
        return too_long();
    }
    Ok(None)
}

/// `chunk-size [ BWS ; chunk-ext ]`: hex digits (at least one, below 2^63),
/// optionally followed by extensions, which are ignored.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ProtocolError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(chunk_error("missing chunk size"));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let v = (b as char).to_digit(16).unwrap_or(0) as u64;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(v))
            .filter(|&s| s < 1 << 63)
            .ok_or_else(|| chunk_error("chunk size too large"))?;
    }
    let rest = &line[digits..];
    let ext = rest.iter().position(|&b| b != b' ' && b != b'\t').map(|i| &rest[i..]).unwrap_or(b"");
    if !ext.is_empty() && ext[0] != b';' {
        return Err(chunk_error("bad chunk size"));
    }
    if ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(chunk_error("control character in chunk extension"));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::decode;

    #[test]
    fn chunked_vectors_in_any_split() {
        let ok: &[(&[u8], &[u8], usize)] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello", 0),
            (b"3;ext=1\r\nabc\r\n2 ; x\r\nde\r\n0\r\nTrailer: v\r\n\r\nNEXT", b"abcde", 4),
            (b"A\r\n0123456789\r\n00\r\n\r\n", b"0123456789", 0),
        ];
        for (input, want, left) in ok {
            for split in [1, 2, 3, 7, 1000] {
                assert_eq!(
                    decode(BodyDecoder::ChunkSize, input, split),
                    Ok((want.to_vec(), *left)),
                    "{split}"
                );
            }
        }
        let bad: &[&[u8]] = &[
            b"\r\n",                     // empty size line
            b"x\r\n",                    // not hex
            b"5\nhello\r\n0\r\n\r\n",    // bare LF after size
            b"5\r\nhelloXX0\r\n\r\n",    // data not followed by CRLF
            b"5\r\nhello\n0\r\n\r\n",    // bare LF after data
            b"8000000000000000\r\n",     // 2^63
            b"fffffffffffffffffff\r\n",  // overflow
            b"5 x\r\n",                  // junk after size
            b"5\rx\n",                   // bare CR
            b"0\r\n bad\r\n\r\n",        // folded trailer
            b"+5\r\nhello\r\n0\r\n\r\n", // sign
        ];
        for input in bad {
            for split in [1, 1000] {
                assert_eq!(
                    decode(BodyDecoder::ChunkSize, input, split),
                    Err(400),
                    "{:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn chunk_line_length_is_capped() {
        let mut long = vec![b'1'; 1];
        long.extend(std::iter::repeat(b' ').take(MAX_CHUNK_LINE));
        assert_eq!(decode(BodyDecoder::ChunkSize, &long, 100), Err(400));
    }

    #[test]
    fn trailers_are_capped_whatever_the_line_lengths() {
        // One trailer line just under the cap, then another: refused, never
        // an arithmetic overflow or an unbounded line.
        let mut input = b"0\r\nX:".to_vec();
        input.extend(std::iter::repeat(b'a').take(MAX_TRAILERS - 5));
        input.extend_from_slice(b"\r\nY:");
        input.extend(std::iter::repeat(b'b').take(100_000));
        for split in [509, 4096, 1 << 20] {
            assert_eq!(decode(BodyDecoder::ChunkSize, &input, split), Err(400), "{split}");
        }
        // The cap counts every byte, CRLFs and the blank line included.
        let mut fits = b"0\r\nX:".to_vec();
        fits.extend(std::iter::repeat(b'a').take(MAX_TRAILERS - 4));
        fits.extend_from_slice(b"\r\n\r\n");
        assert_eq!(decode(BodyDecoder::ChunkSize, &fits, 1000), Err(400), "the blank line is over the cap");
        let mut under = b"0\r\nX:".to_vec();
        under.extend(std::iter::repeat(b'a').take(MAX_TRAILERS - 6));
        under.extend_from_slice(b"\r\n\r\n");
        assert_eq!(decode(BodyDecoder::ChunkSize, &under, 1000), Ok((Vec::new(), 0)));
    }

    #[test]
    fn content_length_bodies() {
        assert_eq!(decode(BodyDecoder::Length(5), b"helloGET", 3), Ok((b"hello".to_vec(), 3)));
        assert_eq!(decode(BodyDecoder::Length(5), b"hel", 1), Err(0));
        assert_eq!(decode(BodyDecoder::Length(0), b"x", 1), Ok((vec![], 1)));
    }
}
