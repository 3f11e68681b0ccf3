//! Gzip bodies, inflated with one decompressor per thread.
//!
//! flate2's gzip readers set up a fresh inflate state for every body (about
//! 43 KB to allocate and zero, most of it the 32 KB window), which costs more
//! than inflating an event of a few hundred bytes. This module reads the gzip
//! container itself (RFC 1952: a header, the deflate data, a CRC-32 and length
//! trailer; members may follow one another) and inflates the deflate data
//! with a raw [`Decompress`] kept per thread and reset for every member. It
//! produces at most `limit + 1` bytes, so a compression bomb is never inflated
//! in memory, and accepts what flate2's `MultiGzDecoder` accepts (a property
//! test compares the two).

use std::cell::RefCell;

use flate2::{Crc, Decompress, FlushDecompress, Status};

/// Why a gzip body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GzipError {
    /// Not gzip, truncated, or a checksum or length that does not match.
    Corrupt,
    /// More than the limit once inflated.
    TooLarge,
    /// The body budget could not hold the output.
    OverBudget,
}

/// Asked for every allocation of output, in bytes, before it is made; false
/// refuses it (the body budget is exhausted).
pub type Grant<'a> = &'a mut dyn FnMut(usize) -> bool;

thread_local! {
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// Header flags (RFC 1952, 2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
/// Flags that must be zero.
const RESERVED: u8 = 0xe0;
/// The output grows by at most this much at a time.
const GROWTH: usize = 64 * 1024;

/// Inflates the gzip members of `raw`, refusing more than `limit` bytes of
/// output.
pub fn inflate(raw: &[u8], limit: usize) -> Result<Vec<u8>, GzipError> {
    inflate_granted(raw, limit, &mut |_| true)
}

/// Like [`inflate`], asking `grant` before every allocation of output.
pub fn inflate_granted(raw: &[u8], limit: usize, grant: Grant<'_>) -> Result<Vec<u8>, GzipError> {
    INFLATER.with(|cell| {
        // A decompressor borrowed by a panicking caller would still be
        // borrowed; a fresh one is made in that (impossible) case.
        match cell.try_borrow_mut() {
            Ok(mut inflater) => inflate_with(&mut inflater, raw, limit, grant),
            Err(_) => inflate_with(&mut Decompress::new(false), raw, limit, grant),
        }
    })
}

fn inflate_with(
    inflater: &mut Decompress,
    raw: &[u8],
    limit: usize,
    grant: Grant<'_>,
) -> Result<Vec<u8>, GzipError> {
    let cap = limit.saturating_add(1);
    let initial = raw.len().saturating_mul(8).saturating_add(256).min(cap);
    if !grant(initial) {
        return Err(GzipError::OverBudget);
    }
    let mut out = Vec::with_capacity(initial);
    let mut rest = raw;
    loop {
        rest = &rest[header_len(rest)?..];
        inflater.reset(false);
        let member_start = out.len();
        let consumed = inflate_member(inflater, rest, &mut out, cap, grant)?;
        // Too much output is refused as such, whatever follows it.
        if out.len() > limit {
            return Err(GzipError::TooLarge);
        }
        rest = &rest[consumed..];
        let trailer = rest.get(..8).ok_or(GzipError::Corrupt)?;
        let mut crc = Crc::new();
        crc.update(&out[member_start..]);
        let expected_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let expected_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        // The length field holds the member's size modulo 2^32.
        let member_len = (out.len() - member_start) as u64 & u64::from(u32::MAX);
        if crc.sum() != expected_crc || member_len != u64::from(expected_len) {
            return Err(GzipError::Corrupt);
        }
        rest = &rest[8..];
        if rest.is_empty() {
            return Ok(out);
        }
    }
}

/// Inflates one member's deflate data from `input` into `out` (never beyond
/// `cap` bytes in all) and returns how many input bytes it took.
fn inflate_member(
    inflater: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    cap: usize,
    grant: Grant<'_>,
) -> Result<usize, GzipError> {
    let start_in = inflater.total_in();
    loop {
        if out.len() == out.capacity() {
            if out.len() >= cap {
                return Err(GzipError::TooLarge);
            }
            let more = (cap - out.len()).min(GROWTH.max(out.len()));
            if !grant(more) {
                return Err(GzipError::OverBudget);
            }
            out.reserve_exact(more);
        }
        let taken = usize::try_from(inflater.total_in() - start_in).unwrap_or(usize::MAX);
        let remaining = input.get(taken..).ok_or(GzipError::Corrupt)?;
        let (in_before, out_before) = (inflater.total_in(), out.len());
        let status = inflater
            .decompress_vec(remaining, out, FlushDecompress::None)
            .map_err(|_| GzipError::Corrupt)?;
        if status == Status::StreamEnd {
            return usize::try_from(inflater.total_in() - start_in).map_err(|_| GzipError::Corrupt);
        }
        let progressed = inflater.total_in() != in_before || out.len() != out_before;
        // No progress with room to write means the data ended early.
        if !progressed && out.len() < out.capacity() {
            return Err(GzipError::Corrupt);
        }
    }
}

/// The length of the gzip member header at the start of `data`.
fn header_len(data: &[u8]) -> Result<usize, GzipError> {
    let fixed = data.get(..10).ok_or(GzipError::Corrupt)?;
    if fixed[0] != 0x1f || fixed[1] != 0x8b || fixed[2] != 8 {
        return Err(GzipError::Corrupt);
    }
    let flags = fixed[3];
    if flags & RESERVED != 0 {
        return Err(GzipError::Corrupt);
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = data.get(at..at + 2).ok_or(GzipError::Corrupt)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let zero = data
                .get(at..)
                .and_then(|tail| tail.iter().position(|&b| b == 0))
                .ok_or(GzipError::Corrupt)?;
            at += zero + 1;
        }
    }
    if flags & FHCRC != 0 {
        let stored = data.get(at..at + 2).ok_or(GzipError::Corrupt)?;
        let mut crc = Crc::new();
        crc.update(&data[..at]);
        if u16::from_le_bytes([stored[0], stored[1]]) != (crc.sum() & 0xffff) as u16 {
            return Err(GzipError::Corrupt);
        }
        at += 2;
    }
    if at > data.len() {
        return Err(GzipError::Corrupt);
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use flate2::{Compression, GzBuilder};
    use proptest::prelude::*;

    use super::*;

    /// What flate2's `MultiGzDecoder` makes of `raw` under `limit`.
    fn reference(raw: &[u8], limit: usize) -> Result<Vec<u8>, GzipError> {
        let mut out = Vec::new();
        let cap = u64::try_from(limit).unwrap().saturating_add(1);
        flate2::bufread::MultiGzDecoder::new(raw)
            .take(cap)
            .read_to_end(&mut out)
            .map_err(|_| GzipError::Corrupt)?;
        if out.len() > limit {
            return Err(GzipError::TooLarge);
        }
        Ok(out)
    }

    /// A gzip member of `data` with the header fields chosen by `fields`.
    fn member(data: &[u8], fields: (bool, bool, bool, bool), level: u32) -> Vec<u8> {
        let (extra, name, comment, header_crc) = fields;
        let mut builder = GzBuilder::new().mtime(7);
        if extra {
            builder = builder.extra(vec![1, 2, 3]);
        }
        if name {
            builder = builder.filename("event.json");
        }
        if comment {
            builder = builder.comment("from a test");
        }
        let mut encoder = builder.write(Vec::new(), Compression::new(level));
        encoder.write_all(data).unwrap();
        let mut bytes = encoder.finish().unwrap();
        if header_crc {
            // flate2's builder cannot set FHCRC: insert it by hand.
            let header_end = header_len(&bytes).unwrap();
            bytes[3] |= FHCRC;
            let mut crc = Crc::new();
            crc.update(&bytes[..header_end]);
            let sum = ((crc.sum() & 0xffff) as u16).to_le_bytes();
            bytes.splice(header_end..header_end, sum);
        }
        bytes
    }

    #[test]
    fn members_with_every_header_field_inflate() {
        let body = br#"{"id":"1","type":"pageview"}"#;
        for fields in [
            (false, false, false, false),
            (true, true, true, true),
            (false, true, false, true),
        ] {
            let gz = member(body, fields, 6);
            assert_eq!(inflate(&gz, 1000).unwrap(), body, "{fields:?}");
            assert_eq!(reference(&gz, 1000).unwrap(), body, "{fields:?}");
        }
    }

    #[test]
    fn a_bomb_stops_one_byte_past_the_limit() {
        let gz = member(&vec![0u8; 4 << 20], (false, false, false, false), 9);
        assert_eq!(inflate(&gz, 1 << 20), Err(GzipError::TooLarge));
        assert_eq!(inflate(&gz, 4 << 20).unwrap().len(), 4 << 20);
    }

    #[test]
    fn checksums_and_lengths_are_checked() {
        let mut gz = member(b"hello", (false, false, false, false), 6);
        let last = gz.len() - 1;
        gz[last] ^= 1;
        assert_eq!(inflate(&gz, 100), Err(GzipError::Corrupt));
        let mut gz = member(b"hello", (false, false, false, false), 6);
        let crc_at = gz.len() - 8;
        gz[crc_at] ^= 1;
        assert_eq!(inflate(&gz, 100), Err(GzipError::Corrupt));
    }

    fn mutated_gzip() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 0..300),
                    any::<(bool, bool, bool, bool)>(),
                    0u32..10,
                ),
                1..3,
            ),
            prop_oneof![
                4 => Just(None),
                1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(Some),
            ],
            prop_oneof![4 => Just(None), 1 => any::<prop::sample::Index>().prop_map(Some)],
            proptest::collection::vec(any::<u8>(), 0..3),
        )
            .prop_map(|(members, flip, cut, trailing)| {
                let mut bytes: Vec<u8> = members
                    .iter()
                    .flat_map(|(data, fields, level)| member(data, *fields, *level))
                    .collect();
                if let Some((at, bits)) = flip {
                    let i = at.index(bytes.len());
                    bytes[i] ^= bits;
                }
                if let Some(at) = cut {
                    bytes.truncate(at.index(bytes.len() + 1));
                }
                bytes.extend(trailing);
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3_000)
        ))]

        /// Well-formed, corrupted, truncated and padded streams get the same
        /// verdict and output as from flate2's `MultiGzDecoder`.
        #[test]
        fn agrees_with_flate2(bytes in mutated_gzip(), limit in prop_oneof![Just(10_000usize), 0usize..400]) {
            prop_assert_eq!(inflate(&bytes, limit), reference(&bytes, limit));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(inflate(&bytes, 1000).is_ok(), reference(&bytes, 1000).is_ok());
        }
    }
}
