//! Decoding of collector request bodies: `Content-Encoding` gzip (see
//! [`super::gzip`]) and br, with the 5 MB limit enforced while decompressing.
//!
//! Decompression stops one byte past the limit, so a compression bomb (say
//! 1 GB of zeros in 1 MB of gzip) is never inflated in memory: at most
//! `limit + 1` bytes are produced before the request is refused with 413.

use std::borrow::Cow;
use std::io::Read;

use axum::http::{HeaderMap, header};

use super::error::CollectorError;
use super::gzip::{Grant, GzipError};

/// The largest decompressed body accepted, in bytes (5 MiB).
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// The content codings the collector understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No coding (absent header or `identity`).
    Identity,
    /// `gzip` (or `x-gzip`); concatenated gzip members are read as one stream.
    Gzip,
    /// `br` (Brotli).
    Brotli,
}

impl Encoding {
    /// The coding named by `Content-Encoding`; any other coding, or a list of
    /// several, is 415 `unsupported_encoding`.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, CollectorError> {
        let mut values = headers.get_all(header::CONTENT_ENCODING).iter();
        let Some(value) = values.next() else {
            return Ok(Self::Identity);
        };
        let raw = value.to_str().unwrap_or("<binary>").trim();
        if values.next().is_some() {
            return Err(CollectorError::UnsupportedEncoding(raw.to_owned()));
        }
        match raw.to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "br" => Ok(Self::Brotli),
            _ => Err(CollectorError::UnsupportedEncoding(raw.to_owned())),
        }
    }

    /// The coding's name as used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Brotli => "br",
        }
    }
}

/// Decodes `raw` with `encoding`, refusing more than `limit` decoded bytes
/// (413 `payload_too_large`) and corrupt data (400 `invalid_encoding`). An
/// uncompressed body is borrowed as it is.
pub fn decode(
    encoding: Encoding,
    raw: &[u8],
    limit: usize,
) -> Result<Cow<'_, [u8]>, CollectorError> {
    decode_granted(encoding, raw, limit, &mut |_| true)
}

/// Like [`decode`], asking `grant` before every allocation of decoded output
/// (the body budget); a refusal is 503 `server_busy`.
pub fn decode_granted<'a>(
    encoding: Encoding,
    raw: &'a [u8],
    limit: usize,
    grant: Grant<'_>,
) -> Result<Cow<'a, [u8]>, CollectorError> {
    let too_large = || CollectorError::PayloadTooLarge {
        limit_mb: limit.div_ceil(1024 * 1024),
    };
    let decoded = match encoding {
        Encoding::Identity => {
            if raw.len() > limit {
                return Err(too_large());
            }
            return Ok(Cow::Borrowed(raw));
        }
        Encoding::Gzip => {
            return match super::gzip::inflate_granted(raw, limit, grant) {
                Ok(decoded) => Ok(Cow::Owned(decoded)),
                Err(GzipError::TooLarge) => Err(too_large()),
                Err(GzipError::OverBudget) => Err(CollectorError::ServerBusy),
                Err(GzipError::Corrupt) => Err(CollectorError::InvalidEncoding(encoding.name())),
            };
        }
        Encoding::Brotli => {
            match read_bounded(brotli::Decompressor::new(raw, 4096), raw, limit, grant) {
                Ok(decoded) => decoded,
                Err(ReadError::OverBudget) => return Err(CollectorError::ServerBusy),
                Err(ReadError::Io) => return Err(CollectorError::InvalidEncoding(encoding.name())),
            }
        }
    };
    if decoded.len() > limit {
        return Err(too_large());
    }
    Ok(Cow::Owned(decoded))
}

/// Why [`read_bounded`] stopped.
enum ReadError {
    /// The data is corrupt.
    Io,
    /// The budget refused more output.
    OverBudget,
}

/// Reads at most `limit + 1` bytes from `reader`: enough to tell that the limit
/// was exceeded without producing more. The output starts at a few times the
/// compressed size (events compress three- to tenfold) and grows as needed,
/// each growth granted by `grant` first.
fn read_bounded(
    mut reader: impl Read,
    raw: &[u8],
    limit: usize,
    grant: Grant<'_>,
) -> Result<Vec<u8>, ReadError> {
    let cap = limit.saturating_add(1);
    let expected = raw.len().saturating_mul(8).saturating_add(256);
    let initial = expected.min(cap).min(64 * 1024);
    if !grant(initial) {
        return Err(ReadError::OverBudget);
    }
    let mut out = vec![0u8; initial];
    let mut filled = 0;
    while filled < cap {
        if filled == out.len() {
            let more = (cap - out.len()).min(out.len().max(4096));
            if !grant(more) {
                return Err(ReadError::OverBudget);
            }
            out.resize(out.len() + more, 0);
        }
        match reader.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Io),
        }
    }
    out.truncate(filled);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            writer.write_all(data).unwrap();
        }
        out
    }

    fn headers(encoding: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        map
    }

    #[test]
    fn the_encoding_header_is_parsed_strictly() {
        assert_eq!(
            Encoding::from_headers(&HeaderMap::new()).unwrap(),
            Encoding::Identity
        );
        assert_eq!(
            Encoding::from_headers(&headers("GZIP")).unwrap(),
            Encoding::Gzip
        );
        assert_eq!(
            Encoding::from_headers(&headers("br")).unwrap(),
            Encoding::Brotli
        );
        for bad in ["deflate", "zstd", "gzip, br", "compress"] {
            let err = Encoding::from_headers(&headers(bad)).unwrap_err();
            assert_eq!(err.code(), "unsupported_encoding", "{bad}");
        }
    }

    #[test]
    fn gzip_and_brotli_round_trip() {
        let body = br#"{"hello":"world"}"#;
        assert_eq!(*decode(Encoding::Gzip, &gzip(body), 100).unwrap(), body[..]);
        assert_eq!(
            *decode(Encoding::Brotli, &brotli(body), 100).unwrap(),
            body[..]
        );
        assert_eq!(*decode(Encoding::Identity, body, 100).unwrap(), body[..]);
    }

    #[test]
    fn the_limit_is_enforced_while_decompressing() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 * 1024);
        let err = decode(Encoding::Gzip, &bomb, 1024 * 1024).unwrap_err();
        assert_eq!(err.code(), "payload_too_large");
        let err = decode(Encoding::Brotli, &brotli(&zeros), 1024 * 1024).unwrap_err();
        assert_eq!(err.code(), "payload_too_large");
        let err = decode(Encoding::Identity, &zeros, 1024 * 1024).unwrap_err();
        assert_eq!(err.code(), "payload_too_large");
        assert_eq!(
            decode(Encoding::Gzip, &bomb, zeros.len()).unwrap().len(),
            zeros.len()
        );
    }

    #[test]
    fn concatenated_gzip_members_are_one_body() {
        let mut body = gzip(b"{\"a\":");
        body.extend(gzip(b"1}"));
        assert_eq!(
            *decode(Encoding::Gzip, &body, 100).unwrap(),
            b"{\"a\":1}"[..]
        );
    }

    #[test]
    fn corrupt_data_is_invalid_encoding() {
        let mut truncated = gzip(b"{\"a\":1, \"b\": \"some longer text here\"}");
        truncated.truncate(truncated.len() / 2);
        for (encoding, data) in [
            (Encoding::Gzip, b"not gzip at all".to_vec()),
            (Encoding::Gzip, truncated),
            (Encoding::Brotli, b"\xff\xff\xff\xff not brotli".to_vec()),
        ] {
            let err = decode(encoding, &data, 1000).unwrap_err();
            assert_eq!(err.code(), "invalid_encoding", "{encoding:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_exceed_the_limit(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            limit in 0usize..4096,
        ) {
            for encoding in [Encoding::Identity, Encoding::Gzip, Encoding::Brotli] {
                match decode(encoding, &data, limit) {
                    Ok(decoded) => prop_assert!(decoded.len() <= limit),
                    Err(err) => prop_assert!(matches!(
                        err.code(),
                        "invalid_encoding" | "payload_too_large"
                    )),
                }
            }
        }

        #[test]
        fn compressed_bodies_round_trip_or_hit_the_limit(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            limit in 0usize..8192,
        ) {
            for (encoding, packed) in [(Encoding::Gzip, gzip(&data)), (Encoding::Brotli, brotli(&data))] {
                match decode(encoding, &packed, limit) {
                    Ok(decoded) => prop_assert_eq!(&decoded, &data),
                    Err(err) => {
                        prop_assert_eq!(err.code(), "payload_too_large");
                        prop_assert!(data.len() > limit);
                    }
                }
            }
        }
    }
}
