//! Variable-length integers for packed blobs: LEB128 (seven bits a byte, low
//! bits first) and the zigzag mapping of signed values onto unsigned ones.

/// Appends `value` as a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint at `*at` and moves `*at` past it; `None` when the bytes end
/// first or it runs past 64 bits.
#[inline(always)]
pub(crate) fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    // Most packed values (step codes of popular pages, counts, deltas) take
    // one byte.
    let first = *bytes.get(*at)?;
    if first < 0x80 {
        *at += 1;
        return Some(u64::from(first));
    }
    get_long_varint(bytes, at)
}

/// [`get_varint`] for a column whose varints are as likely short as long
/// (durations, start deltas): read a word at a time without first asking
/// whether the varint takes one byte, a question whose answer, changing
/// from value to value, the processor would often guess wrong.
#[inline(always)]
pub(crate) fn get_mixed_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    get_long_varint(bytes, at)
}

#[inline]
fn get_long_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    // With eight bytes at hand, a varint of up to eight bytes (56 bits, so
    // every time and duration a day holds) is read without a loop: its
    // length from the first byte without the high bit, then its seven-bit
    // groups moved together in three steps.
    if let Some(eight) = at.checked_add(8).and_then(|end| bytes.get(*at..end)) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(eight).ok()?);
        let ends = !word & 0x8080_8080_8080_8080;
        if ends != 0 {
            let len = ends.trailing_zeros() / 8 + 1;
            let groups = (word & (u64::MAX >> (64 - 8 * len))) & 0x7F7F_7F7F_7F7F_7F7F;
            let pairs = (groups & 0x007F_007F_007F_007F) | ((groups & 0x7F00_7F00_7F00_7F00) >> 1);
            let quads = (pairs & 0x0000_3FFF_0000_3FFF) | ((pairs & 0x3FFF_0000_3FFF_0000) >> 2);
            let value = (quads & 0x0FFF_FFFF) | ((quads & 0x0FFF_FFFF_0000_0000) >> 4);
            *at += len as usize;
            return Some(value);
        }
    }
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7F) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// Maps signed values onto unsigned ones, small magnitudes to small values.
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for value in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, value);
            let mut at = 0;
            assert_eq!(get_varint(&bytes, &mut at), Some(value));
            assert_eq!(at, bytes.len());
            assert_eq!(get_varint(&bytes[..bytes.len() - 1], &mut 0), None);
        }
        for value in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
        assert!(zigzag(-1) < 2);
    }

    proptest::proptest! {
        /// Every value reads back, with or without bytes after it (the
        /// eight-byte path and the byte-at-a-time path agree).
        #[test]
        fn any_value_round_trips_before_any_bytes(
            value in proptest::prop_oneof![
                0u64..128,
                0u64..(1 << 21),
                0u64..(1 << 56),
                proptest::arbitrary::any::<u64>(),
            ],
            before in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..3),
            after in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..10),
        ) {
            let mut bytes = before.clone();
            put_varint(&mut bytes, value);
            let end = bytes.len();
            bytes.extend(&after);
            let mut at = before.len();
            proptest::prop_assert_eq!(get_varint(&bytes, &mut at), Some(value));
            proptest::prop_assert_eq!(at, end);
        }

        /// Bytes that end inside a varint read as nothing, and a varint
        /// past 64 bits as nothing.
        #[test]
        fn cut_or_overlong_varints_read_as_nothing(
            value in (1u64 << 7)..,
            cut in 1usize..10,
            long in 10usize..14,
        ) {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, value);
            let keep = bytes.len().saturating_sub(cut);
            proptest::prop_assert_eq!(get_varint(&bytes[..keep], &mut 0), None);
            let overlong: Vec<u8> = std::iter::repeat_n(0x80, long).chain([1]).collect();
            proptest::prop_assert_eq!(get_varint(&overlong, &mut 0), None);
        }
    }
}
