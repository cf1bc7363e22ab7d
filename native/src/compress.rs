//! `--compress`: a file's bytes in a content coding, as a stream the engine
//! reads and frames. Each encoder's state is bounded by its window (gzip:
//! 32 KiB; Brotli: a 256 KiB window at quality 5), whatever the file size.

use std::fs::File;
use std::io::{self, Read};

use httpserver_core::simple::coding::ContentCoding;

/// The codings produced on the fly, preferred first for equal q-values.
pub const ENCODINGS: &[ContentCoding] = &[ContentCoding::Brotli, ContentCoding::Gzip];

/// Brotli quality: 5 is about gzip -6's speed with a smaller result (the
/// maximum, 11, is for precompressing, far too slow per request).
const BROTLI_QUALITY: u32 = 5;
/// Brotli window: 2^18 bytes.
const BROTLI_WINDOW_BITS: u32 = 18;
const BROTLI_BUFFER: usize = 16 * 1024;
/// gzip level: zlib's default.
const GZIP_LEVEL: u32 = 6;

/// A file being compressed as it is read.
pub struct Compressor(Box<dyn Read + Send>);

impl Compressor {
    /// `file` (read from its start) in `coding`; the file back for a
    /// coding not in [`ENCODINGS`].
    pub fn new(file: File, coding: ContentCoding) -> Result<Compressor, File> {
        let reader: Box<dyn Read + Send> = match coding {
            ContentCoding::Gzip => {
                Box::new(flate2::read::GzEncoder::new(file, flate2::Compression::new(GZIP_LEVEL)))
            }
            ContentCoding::Brotli => Box::new(brotli::CompressorReader::new(
                file,
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW_BITS,
            )),
            _ => return Err(file),
        };
        Ok(Compressor(reader))
    }
}

impl Read for Compressor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    fn file_with(data: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        f.rewind().unwrap();
        f
    }

    #[test]
    fn each_coding_decodes_to_the_file() {
        let data: Vec<u8> =
            (0..300_000u32).flat_map(|i| format!("line {}\n", i % 977).into_bytes()).collect();
        for &coding in ENCODINGS {
            let mut encoded = Vec::new();
            Compressor::new(file_with(&data), coding).unwrap().read_to_end(&mut encoded).unwrap();
            assert!(encoded.len() < data.len() / 4, "{coding:?}: {} of {}", encoded.len(), data.len());
            let mut decoded = Vec::new();
            match coding {
                ContentCoding::Gzip => {
                    flate2::read::GzDecoder::new(&encoded[..]).read_to_end(&mut decoded).unwrap();
                }
                _ => {
                    brotli::Decompressor::new(&encoded[..], 4096).read_to_end(&mut decoded).unwrap();
                }
            };
            assert_eq!(decoded, data, "{coding:?}");
        }
        assert!(Compressor::new(file_with(b"x"), ContentCoding::Zstd).is_err());
    }
}
