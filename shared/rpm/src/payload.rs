//! Payload compressors, detected from magic bytes rather than trusted from the
//! header tag (packages in the wild disagree with their own tag).

use std::io::{BufRead, Cursor, Read};

use crate::Error;

/// How a payload is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compressor {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compressor {
    /// The name rpm uses in the PAYLOADCOMPRESSOR tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Bzip2 => "bzip2",
            Self::Xz => "xz",
            Self::Zstd => "zstd",
        }
    }

    fn detect(magic: &[u8]) -> Result<Self, Error> {
        Ok(match magic {
            [0xFD, b'7', b'z', b'X', b'Z', 0x00, ..] => Self::Xz,
            [0x28, 0xB5, 0x2F, 0xFD, ..] => Self::Zstd,
            [0x1F, 0x8B, ..] => Self::Gzip,
            [b'B', b'Z', b'h', ..] => Self::Bzip2,
            [b'0', b'7', b'0', b'7', b'0', ..] => Self::None,
            [0x5D, 0x00, 0x00, ..] => {
                return Err(Error::UnsupportedCompressor("legacy lzma".into()));
            }
            [] => return Err(Error::Truncated("payload")),
            other => {
                let shown: Vec<String> = other.iter().map(|b| format!("{b:02x}")).collect();
                return Err(Error::UnsupportedCompressor(format!(
                    "unknown magic bytes {}",
                    shown.join("")
                )));
            }
        })
    }
}

/// Detects the compressor of the payload that `r` is positioned at and
/// returns a reader of the decompressed bytes.
pub(crate) fn decoder<'a>(
    mut r: impl BufRead + 'a,
) -> Result<(Compressor, Box<dyn Read + 'a>), Error> {
    let mut magic = Vec::with_capacity(6);
    while magic.len() < 6 {
        let buf = r.fill_buf().map_err(Error::reading("payload"))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(6 - magic.len());
        magic.extend_from_slice(&buf[..n]);
        r.consume(n);
    }
    let kind = Compressor::detect(&magic)?;
    let r = Cursor::new(magic).chain(r);
    let decoded: Box<dyn Read + 'a> = match kind {
        Compressor::None => Box::new(r),
        Compressor::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compressor::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
        Compressor::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        Compressor::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(r)
                .map_err(|e| Error::CorruptPayload(format!("zstd: {e}")))?,
        ),
    };
    Ok((kind, decoded))
}
