//! `--compress`: a file's bytes in a content coding, as a stream the engine
//! reads and frames. Each encoder's state is bounded by its window (gzip:
//! 32 KiB; Brotli: a 256 KiB window at quality 5), whatever the file size,
//! and each read consumes at most [`INPUT_STEP`] bytes of the file, so a
//! pump can share its thread fairly even with a file that compresses to
//! almost nothing.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};

use httpserver_core::simple::coding::ContentCoding;

/// The codings produced on the fly, preferred first for equal q-values.
pub const ENCODINGS: &[ContentCoding] = &[ContentCoding::Brotli, ContentCoding::Gzip];

/// Most file bytes compressed per read.
pub const INPUT_STEP: usize = 64 * 1024;
/// Brotli quality: 5 is about gzip -6's speed with a smaller result (the
/// maximum, 11, is for precompressing, far too slow per request).
const BROTLI_QUALITY: u32 = 5;
/// Brotli window: 2^18 bytes.
const BROTLI_WINDOW_BITS: u32 = 18;
const BROTLI_BUFFER: usize = 16 * 1024;
/// gzip level: zlib's default.
const GZIP_LEVEL: u32 = 6;

enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(coding: ContentCoding) -> Encoder {
        match coding {
            ContentCoding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW_BITS,
            ))),
            _ => {
                Encoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL)))
            }
        }
    }

    /// Compress `input`; what came out so far is appended to `out`.
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => {
                e.write_all(input)?;
                out.append(e.get_mut());
            }
            Encoder::Brotli(e) => {
                e.write_all(input)?;
                out.append(e.get_mut());
            }
        }
        Ok(())
    }

    /// End the stream; its last bytes are appended to `out`.
    fn finish(self, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => out.append(&mut e.finish()?),
            Encoder::Brotli(e) => out.append(&mut e.into_inner()),
        }
        Ok(())
    }
}

/// A file being compressed as it is read. A read that compressed a step
/// of the file without output yet answers `ErrorKind::WouldBlock`: read
/// again (after letting others run); `Ok(0)` is the end.
pub struct Compressor {
    file: File,
    coding: ContentCoding,
    /// Made on the first read (a HEAD reply never reads).
    encoder: Option<Encoder>,
    input: Vec<u8>,
    output: Vec<u8>,
    output_pos: usize,
    finished: bool,
}

impl Compressor {
    /// `file` (read from where it is) in `coding`; the file back for a
    /// coding not in [`ENCODINGS`].
    pub fn new(file: File, coding: ContentCoding) -> Result<Compressor, File> {
        if !ENCODINGS.contains(&coding) {
            return Err(file);
        }
        Ok(Compressor {
            file,
            coding,
            encoder: None,
            input: Vec::new(),
            output: Vec::new(),
            output_pos: 0,
            finished: false,
        })
    }
}

impl Read for Compressor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.output_pos == self.output.len() && !self.finished {
            self.output.clear();
            self.output_pos = 0;
            self.input.resize(INPUT_STEP, 0);
            let n = self.file.read(&mut self.input)?;
            let mut encoder = self.encoder.take().unwrap_or_else(|| Encoder::new(self.coding));
            if n == 0 {
                encoder.finish(&mut self.output)?;
                self.finished = true;
                self.input = Vec::new();
            } else {
                encoder.push(&self.input[..n], &mut self.output)?;
                self.encoder = Some(encoder);
            }
            if self.output.is_empty() && !self.finished {
                return Err(ErrorKind::WouldBlock.into());
            }
        }
        let n = buf.len().min(self.output.len() - self.output_pos);
        buf[..n].copy_from_slice(&self.output[self.output_pos..self.output_pos + n]);
        self.output_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Seek;

    fn file_with(data: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        f.rewind().unwrap();
        f
    }

    /// Everything a compressor gives, counting the reads that gave nothing
    /// yet.
    fn drain(mut c: Compressor) -> (Vec<u8>, usize) {
        let (mut out, mut waits, mut buf) = (Vec::new(), 0, [0u8; 7000]);
        loop {
            match c.read(&mut buf) {
                Ok(0) => return (out, waits),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => waits += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn decode(coding: ContentCoding, encoded: &[u8]) -> Vec<u8> {
        let mut decoded = Vec::new();
        match coding {
            ContentCoding::Gzip => flate2::read::GzDecoder::new(encoded).read_to_end(&mut decoded).unwrap(),
            _ => brotli::Decompressor::new(encoded, 4096).read_to_end(&mut decoded).unwrap(),
        };
        decoded
    }

    #[test]
    fn each_coding_decodes_to_the_file() {
        let data: Vec<u8> =
            (0..300_000u32).flat_map(|i| format!("line {}\n", i % 977).into_bytes()).collect();
        for &coding in ENCODINGS {
            let (encoded, _) = drain(Compressor::new(file_with(&data), coding).ok().unwrap());
            assert!(encoded.len() < data.len() / 4, "{coding:?}: {} of {}", encoded.len(), data.len());
            assert_eq!(decode(coding, &encoded), data, "{coding:?}");
        }
        for &coding in ENCODINGS {
            let (encoded, _) = drain(Compressor::new(file_with(b""), coding).ok().unwrap());
            assert!(decode(coding, &encoded).is_empty(), "{coding:?}: an empty file");
        }
        assert!(Compressor::new(file_with(b"x"), ContentCoding::Zstd).is_err());
    }

    #[test]
    fn a_read_compresses_at_most_one_step_of_the_file() {
        // 8 MiB of zeros compress to almost nothing: reads that produce no
        // output yet say so instead of eating the whole file at once.
        let zeros = vec![0u8; 8 << 20];
        for &coding in ENCODINGS {
            let (encoded, waits) = drain(Compressor::new(file_with(&zeros), coding).ok().unwrap());
            assert!(waits >= (8 << 20) / INPUT_STEP / 2, "{coding:?}: only {waits} steps without output");
            assert_eq!(decode(coding, &encoded), zeros, "{coding:?}");
        }
    }
}
