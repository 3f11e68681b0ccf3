//! Visitor sketches: mergeable sets of visitors for the rollups.
//!
//! A sketch starts as an *exact* sorted set of 32-bit visitor hashes and turns
//! into a HyperLogLog (Flajolet et al., with the usual small-range linear
//! counting) once the exact set would take more bytes than the HyperLogLog.
//! Small sets (a page seen by a few visitors on one day) are therefore exact
//! and cost four bytes per visitor; large sets cost at most `2^p / 2` bytes
//! (4-bit registers, two per byte). Those of dimension values and hours are
//! stored deflate-compressed, which roughly halves them because most ranks
//! are small; those of a site's days and spans (precision 14) are stored
//! plain, as a year-long series reads hundreds of them.
//!
//! Merging sketches gives the union: exact sets stay exact while the union is
//! small (up to [`MERGE_EXACT_LIMIT`] visitors, so a whole year of a small site
//! is counted exactly); beyond that, or as soon as one input is a HyperLogLog,
//! the result is a HyperLogLog whose standard error is `1.04 / sqrt(2^p)`:
//! 1.6 % at precision 12 (dimension values, hours), 0.8 % at precision 14
//! (site totals per day).
//!
//! Visitor ids are already keyed hashes; [`visitor_hash`] mixes them once more
//! and keeps 32 bits. Two visitors share a hash with probability 2^-32 per pair,
//! which for the 2 million visitors of a large site miscounts fewer than 0.05 %.

pub(crate) mod buffered;
mod sort;

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};

/// The precision of the sketches of dimension values and of hours.
pub const DIM_PRECISION: u8 = 12;
/// The precision of the sketches of a site's days.
pub const SITE_PRECISION: u8 = 14;
/// Merged exact sets stay exact up to this many visitors.
pub const MERGE_EXACT_LIMIT: usize = 50_000;

const TAG_EXACT: u8 = 1;
const TAG_DENSE: u8 = 2;
/// The tag of a dense sketch stored deflated (the precision follows).
pub(crate) const TAG_DENSE_DEFLATE: u8 = 3;
/// Registers are 4 bits wide; larger ranks are clipped (rank 16 needs about
/// 2^15 visitors per register, far beyond any site).
const MAX_RANK: u8 = 15;

/// The 32-bit hash of a visitor id used in sketches.
pub fn visitor_hash(visitor_id: i64) -> u32 {
    // splitmix64's finaliser, then the high half.
    let mut x = visitor_id as u64;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 32) as u32
}

/// A set of visitors: exact while small, a HyperLogLog when large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sketch {
    /// Sorted, distinct visitor hashes.
    Exact(Vec<u32>),
    /// HyperLogLog registers (one rank per byte in memory) of precision `p`.
    Dense {
        /// The precision: there are `2^p` registers.
        p: u8,
        /// The registers.
        registers: Vec<u8>,
    },
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::Exact(Vec::new())
    }
}

impl Sketch {
    /// Decodes a stored sketch; `None` when the bytes are not a sketch.
    pub fn decode(bytes: &[u8]) -> Option<Sketch> {
        match bytes.split_first()? {
            (&TAG_EXACT, rest) if rest.len() % 4 == 0 => Some(Sketch::Exact(
                rest.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )),
            (&TAG_DENSE, rest) => {
                let (&p, packed) = rest.split_first()?;
                unpack(p, packed)
            }
            (&TAG_DENSE_DEFLATE, rest) => {
                let (&p, compressed) = rest.split_first()?;
                with_inflated(p, compressed, |packed| unpack(p, packed))?
            }
            _ => None,
        }
    }

    /// Encodes the sketch for storage.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Sketch::Exact(hashes) => {
                let mut out = Vec::with_capacity(1 + hashes.len() * 4);
                out.push(TAG_EXACT);
                for h in hashes {
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            Sketch::Dense { p, registers } => {
                let packed: Vec<u8> = registers
                    .chunks_exact(2)
                    .map(|pair| pair[0].min(MAX_RANK) | (pair[1].min(MAX_RANK) << 4))
                    .collect();
                // A site's own sketches (one per day and span) are kept
                // plain: an unfiltered daily series of a year reads 365 of
                // them, and inflating them was half its time, for 4 KB of
                // the 8 KB each.
                if *p >= SITE_PRECISION {
                    let mut out = Vec::with_capacity(2 + packed.len());
                    out.extend_from_slice(&[TAG_DENSE, *p]);
                    out.extend_from_slice(&packed);
                    return out;
                }
                let mut encoder = flate2::write::DeflateEncoder::new(
                    vec![TAG_DENSE_DEFLATE, *p],
                    flate2::Compression::fast(),
                );
                // Writing into a Vec cannot fail; fall back to the plain
                // layout all the same rather than lose the sketch.
                match std::io::Write::write_all(&mut encoder, &packed)
                    .and_then(|()| encoder.finish())
                {
                    Ok(out) => out,
                    Err(_) => {
                        let mut out = vec![TAG_DENSE, *p];
                        out.extend_from_slice(&packed);
                        out
                    }
                }
            }
        }
    }

    /// Adds visitor hashes; a sketch of precision `p` turns dense when its exact
    /// set would be larger than its registers.
    pub fn insert_all(&mut self, hashes: &[u32], p: u8) {
        match self {
            Sketch::Exact(set) => {
                set.extend_from_slice(hashes);
                set.sort_unstable();
                set.dedup();
                if set.len() > exact_capacity(p) {
                    let mut dense = Sketch::empty_dense(p);
                    dense.insert_all(set, p);
                    *self = dense;
                }
            }
            Sketch::Dense { p, registers } => {
                for &h in hashes {
                    add_to_registers(registers, *p, h);
                }
            }
        }
    }

    /// Adds every visitor of `other` (a sketch of the same precision `p`).
    pub fn merge(&mut self, other: &Sketch, p: u8) {
        match other {
            Sketch::Exact(hashes) => self.insert_all(hashes, p),
            Sketch::Dense {
                p: other_p,
                registers: other_registers,
            } => {
                if let Sketch::Exact(set) = self {
                    let mut dense = Sketch::empty_dense(*other_p);
                    dense.insert_all(&std::mem::take(set), *other_p);
                    *self = dense;
                }
                if let Sketch::Dense {
                    p: own_p,
                    registers,
                } = self
                    && *own_p == *other_p
                {
                    for (a, b) in registers.iter_mut().zip(other_registers) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    fn empty_dense(p: u8) -> Sketch {
        Sketch::Dense {
            p,
            registers: vec![0; 1 << p],
        }
    }

    /// The estimated number of distinct visitors (exact for an exact set).
    pub fn estimate(&self) -> u64 {
        match self {
            Sketch::Exact(set) => set.len() as u64,
            Sketch::Dense { registers, .. } => estimate_registers(registers),
        }
    }
}

/// Registers from their packed layout (two 4-bit ranks per byte).
fn unpack(p: u8, packed: &[u8]) -> Option<Sketch> {
    if !(4..=18).contains(&p) || packed.len() != (1usize << p) / 2 {
        return None;
    }
    let mut registers = Vec::with_capacity(1 << p);
    for byte in packed {
        registers.push(byte & 0x0F);
        registers.push(byte >> 4);
    }
    Some(Sketch::Dense { p, registers })
}

thread_local! {
    /// This thread's raw-deflate inflater and the buffer it inflates into,
    /// reused from one sketch to the next: a new inflater allocates and
    /// clears tens of kilobytes of state, more than inflating a sketch costs.
    static INFLATER: RefCell<(Decompress, Vec<u8>)> =
        RefCell::new((Decompress::new(false), Vec::new()));
}

/// Calls `use_packed` with the packed registers of a deflated sketch of
/// precision `p`; `None` when they do not inflate to exactly `2^p / 2` bytes.
fn with_inflated<T>(p: u8, compressed: &[u8], use_packed: impl FnOnce(&[u8]) -> T) -> Option<T> {
    if !(4..=18).contains(&p) {
        return None;
    }
    let expected = (1usize << p) / 2;
    INFLATER.with_borrow_mut(|(inflater, packed)| {
        inflater.reset(false);
        packed.clear();
        // One byte more than expected, so that a longer stream is caught.
        packed.reserve(expected + 1);
        let status = inflater
            .decompress_vec(compressed, packed, FlushDecompress::Finish)
            .ok()?;
        (status == Status::StreamEnd && packed.len() == expected).then(|| use_packed(packed))
    })
}

/// How many hashes an exact set of precision `p` may hold before it turns dense.
fn exact_capacity(p: u8) -> usize {
    (1usize << p) / 8
}

fn add_to_registers(registers: &mut [u8], p: u8, hash: u32) {
    let index = (hash >> (32 - p)) as usize;
    let rest = hash << p;
    let rank = if rest == 0 {
        32 - p + 1
    } else {
        rest.leading_zeros() as u8 + 1
    };
    let rank = rank.min(MAX_RANK);
    // Written whether or not it grows, without a branch: whether a hash
    // raises its register is as good as random while a sketch fills.
    let register = &mut registers[index];
    *register = (*register).max(rank);
}

fn estimate_registers(registers: &[u8]) -> u64 {
    let m = registers.len() as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let histogram = rank_histogram(registers);
    let sum: f64 = histogram
        .iter()
        .enumerate()
        .map(|(rank, &count)| f64::from(count) * 2f64.powi(-(rank as i32)))
        .sum();
    let zeros = histogram[0];
    let raw = alpha * m * m / sum;
    let estimate = if raw <= 2.5 * m && zeros > 0 {
        m * (m / f64::from(zeros)).ln()
    } else {
        raw
    };
    estimate.round() as u64
}

/// How many of `registers` hold each rank.
fn rank_histogram(registers: &[u8]) -> [u32; 64] {
    // Four histograms, each register's to the one of its position modulo
    // four: most registers hold one of a few ranks, and counting them into
    // one histogram waits on the previous count of the same rank.
    let mut histograms = [[0u32; 64]; 4];
    let quads = registers.chunks_exact(4);
    for &r in quads.remainder() {
        histograms[0][usize::from(r & 63)] += 1;
    }
    for quad in quads {
        for (histogram, &r) in histograms.iter_mut().zip(quad) {
            histogram[usize::from(r & 63)] += 1;
        }
    }
    let mut histogram = [0u32; 64];
    for (rank, count) in histogram.iter_mut().enumerate() {
        *count = histograms.iter().map(|h| h[rank]).sum();
    }
    histogram
}

/// Unions many sketches; see the module documentation for when it stays exact.
#[derive(Debug, Default)]
pub struct SketchUnion {
    /// The visitor hashes while exact: the first `sorted` sorted and
    /// distinct, the rest as they came. Appending and sorting the list
    /// whenever it doubles (radix sorts, [`sort`]) costs a fraction of a
    /// hash set's inserts, which missed the cache once a union held tens of
    /// thousands (a sixth of an unfiltered year-long view).
    exact: Vec<u32>,
    sorted: usize,
    dense: Option<(u8, Vec<u8>)>,
}

impl SketchUnion {
    /// An empty union.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a decoded sketch.
    pub fn add(&mut self, sketch: &Sketch) {
        match sketch {
            Sketch::Exact(set) => self.add_hashes(set.iter().copied()),
            Sketch::Dense { p, registers } => {
                if self.dense.is_none() {
                    self.densify(*p);
                }
                if let Some((own_p, own)) = &mut self.dense {
                    if *own_p > *p {
                        // Sketches of different precisions are never stored for
                        // the same series; fold the finer one down.
                        *own = fold_down(own, *own_p, *p);
                        *own_p = *p;
                    }
                    if *own_p == *p {
                        for (a, b) in own.iter_mut().zip(registers) {
                            *a = (*a).max(*b);
                        }
                    } else {
                        let folded = fold_down(registers, *p, *own_p);
                        for (a, b) in own.iter_mut().zip(&folded) {
                            *a = (*a).max(*b);
                        }
                    }
                }
            }
        }
    }

    /// Adds visitor hashes.
    fn add_hashes(&mut self, hashes: impl Iterator<Item = u32>) {
        match &mut self.dense {
            Some((p, registers)) => {
                for h in hashes {
                    add_to_registers(registers, *p, h);
                }
            }
            None => {
                self.exact.extend(hashes);
                if self.exact.len() >= 2 * self.sorted.max(MERGE_EXACT_LIMIT / 2) {
                    self.compact();
                }
            }
        }
    }

    /// Sorts and deduplicates the exact hashes; turns dense (at the site
    /// precision) once they are more than [`MERGE_EXACT_LIMIT`], as a
    /// union does as soon as it holds that many.
    fn compact(&mut self) {
        if self.sorted < self.exact.len() {
            sort::sort_hashes(&mut self.exact);
            self.exact.dedup();
            self.sorted = self.exact.len();
        }
        if self.exact.len() > MERGE_EXACT_LIMIT {
            self.densify(SITE_PRECISION);
        }
    }

    /// Adds registers of precision `p` in their packed layout (two 4-bit
    /// ranks per byte) without unpacking them first; false when they are not
    /// `2^p / 2` bytes.
    fn add_packed(&mut self, p: u8, packed: &[u8]) -> bool {
        if !(4..=18).contains(&p) || packed.len() != (1usize << p) / 2 {
            return false;
        }
        match &mut self.dense {
            None => self.densify(p),
            Some((own_p, own)) if *own_p > p => {
                *own = fold_down(own, *own_p, p);
                *own_p = p;
            }
            Some(_) => {}
        }
        match &mut self.dense {
            Some((own_p, own)) if *own_p == p => {
                for (pair, byte) in own.chunks_exact_mut(2).zip(packed) {
                    pair[0] = pair[0].max(byte & 0x0F);
                    pair[1] = pair[1].max(byte >> 4);
                }
                true
            }
            // A finer sketch than the union: unpacked, then folded down.
            _ => unpack(p, packed).is_some_and(|sketch| {
                self.add(&sketch);
                true
            }),
        }
    }

    /// Decodes and adds a stored sketch; returns false when it is not a
    /// sketch. The hashes or registers are added straight from the stored
    /// bytes, never collected first.
    pub fn add_encoded(&mut self, bytes: &[u8]) -> bool {
        match bytes.split_first() {
            Some((&TAG_EXACT, rest)) if rest.len() % 4 == 0 => {
                self.add_hashes(
                    rest.chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                true
            }
            Some((&TAG_DENSE, rest)) => rest
                .split_first()
                .is_some_and(|(&p, packed)| self.add_packed(p, packed)),
            Some((&TAG_DENSE_DEFLATE, rest)) => {
                rest.split_first().is_some_and(|(&p, compressed)| {
                    with_inflated(p, compressed, |packed| self.add_packed(p, packed)) == Some(true)
                })
            }
            _ => false,
        }
    }

    fn densify(&mut self, p: u8) {
        let mut registers = vec![0u8; 1 << p];
        // Repeated hashes set the same register to the same rank.
        for &h in &self.exact {
            add_to_registers(&mut registers, p, h);
        }
        self.exact = Vec::new();
        self.sorted = 0;
        self.dense = Some((p, registers));
    }

    /// The estimated number of distinct visitors in the union.
    pub fn estimate(&self) -> u64 {
        match &self.dense {
            Some((_, registers)) => estimate_registers(registers),
            None if self.sorted == self.exact.len() => self.exact.len() as u64,
            // Hashes appended since the last sort: counted on a sorted copy.
            None => {
                let mut union = Self {
                    exact: self.exact.clone(),
                    sorted: self.sorted,
                    dense: None,
                };
                union.compact();
                union.estimate()
            }
        }
    }

    /// The union as a sketch to store: exact while the union is (so that a
    /// union of stored unions is what the union of their parts would be).
    pub fn into_sketch(mut self) -> Sketch {
        if self.dense.is_none() {
            self.compact();
        }
        match self.dense {
            Some((p, registers)) => Sketch::Dense { p, registers },
            None => Sketch::Exact(self.exact),
        }
    }
}

/// A set of visitors filled one visitor at a time, for queries that count
/// visitors while they read visits: exact (a list of hashes, sorted and
/// deduplicated whenever it doubles) up to `exact_limit` visitors, a
/// HyperLogLog of precision `p` beyond. Its memory is at most about
/// `max(8 * exact_limit, 2^p)` bytes, however many visitors it sees.
#[derive(Debug, Clone)]
pub struct Counter {
    p: u8,
    exact_limit: usize,
    /// Visitor hashes while exact (unsorted past `sorted`).
    hashes: Vec<u32>,
    /// How many leading hashes are sorted and distinct.
    sorted: usize,
    /// The registers once dense, else empty.
    registers: Vec<u8>,
}

impl Counter {
    /// An empty counter of precision `p` (4 to 18) that stays exact up to
    /// `exact_limit` visitors.
    pub fn new(p: u8, exact_limit: usize) -> Self {
        Self {
            p: p.clamp(4, 18),
            exact_limit,
            hashes: Vec::new(),
            sorted: 0,
            registers: Vec::new(),
        }
    }

    /// Whether no visitor was added.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty() && self.registers.is_empty()
    }

    /// Adds the visitor of hash `hash` ([`visitor_hash`]).
    #[inline]
    pub fn insert(&mut self, hash: u32) {
        if !self.registers.is_empty() {
            add_to_registers(&mut self.registers, self.p, hash);
            return;
        }
        if self.hashes.last() == Some(&hash) {
            return;
        }
        self.hashes.push(hash);
        if self.hashes.len() >= 2 * self.sorted.max(self.exact_limit / 2).max(16) {
            self.compact();
        }
    }

    /// Sorts and deduplicates the exact set; turns dense past the limit.
    fn compact(&mut self) {
        if self.sorted == self.hashes.len() {
            return;
        }
        sort::sort_hashes(&mut self.hashes);
        self.hashes.dedup();
        self.sorted = self.hashes.len();
        if self.hashes.len() > self.exact_limit {
            let mut registers = vec![0u8; 1 << self.p];
            for &h in &self.hashes {
                add_to_registers(&mut registers, self.p, h);
            }
            self.registers = registers;
            self.hashes = Vec::new();
            self.sorted = 0;
        }
    }

    /// Adds every visitor of `other` (a counter of the same precision).
    pub fn merge(&mut self, other: Counter) {
        if other.registers.is_empty() {
            if self.registers.is_empty() {
                self.hashes.extend_from_slice(&other.hashes);
                self.compact();
            } else {
                for h in other.hashes {
                    add_to_registers(&mut self.registers, self.p, h);
                }
            }
            return;
        }
        if self.registers.is_empty() {
            let hashes = std::mem::take(&mut self.hashes);
            self.sorted = 0;
            self.registers = other.registers;
            for h in hashes {
                add_to_registers(&mut self.registers, self.p, h);
            }
        } else {
            for (a, b) in self.registers.iter_mut().zip(&other.registers) {
                *a = (*a).max(*b);
            }
        }
    }

    /// The visitors as a sketch, to store or to union with stored ones.
    pub fn into_sketch(mut self) -> Sketch {
        self.compact();
        if self.registers.is_empty() {
            Sketch::Exact(self.hashes)
        } else {
            Sketch::Dense {
                p: self.p,
                registers: self.registers,
            }
        }
    }

    /// The number of distinct visitors: exact while exact, else estimated.
    pub fn estimate(&mut self) -> u64 {
        if self.registers.is_empty() {
            self.compact();
            if self.registers.is_empty() {
                return self.hashes.len() as u64;
            }
        }
        estimate_registers(&self.registers)
    }
}

/// Folds registers of precision `from_p` down to precision `to_p <= from_p`.
/// The index bits a coarser sketch does not use become the leading bits of its
/// rank, exactly as if the hashes had been inserted at the coarser precision.
fn fold_down(source: &[u8], from_p: u8, to_p: u8) -> Vec<u8> {
    let shift = u32::from(from_p - to_p);
    let mut target = vec![0u8; 1 << to_p];
    for (i, &r) in source.iter().enumerate() {
        if r == 0 {
            continue;
        }
        let low = (i as u32) & ((1u32 << shift) - 1);
        let rank = if low == 0 {
            shift as u8 + r
        } else {
            (shift - (32 - low.leading_zeros())) as u8 + 1
        };
        let j = i >> shift;
        target[j] = target[j].max(rank.min(MAX_RANK));
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(range: std::ops::Range<i64>) -> Vec<u32> {
        range.map(visitor_hash).collect()
    }

    #[test]
    fn a_counter_becomes_the_sketch_of_its_visitors() {
        let mut small = Counter::new(DIM_PRECISION, 512);
        for h in hashes(0..300).into_iter().chain(hashes(100..200)) {
            small.insert(h);
        }
        let mut expected = hashes(0..300);
        expected.sort_unstable();
        assert_eq!(small.into_sketch(), Sketch::Exact(expected));
        let mut large = Counter::new(DIM_PRECISION, 512);
        for h in hashes(0..10_000) {
            large.insert(h);
        }
        let estimate = large.clone().estimate();
        let sketch = large.into_sketch();
        assert!(matches!(
            sketch,
            Sketch::Dense {
                p: DIM_PRECISION,
                ..
            }
        ));
        assert_eq!(sketch.estimate(), estimate);
        // Unioned with itself it counts the same.
        let mut union = SketchUnion::new();
        union.add(&sketch);
        union.add(&sketch);
        assert_eq!(union.estimate(), estimate);
    }

    #[test]
    fn counters_are_exact_up_to_their_limit_then_close() {
        let mut counter = Counter::new(DIM_PRECISION, 512);
        for round in 0..3 {
            for h in hashes(0..500) {
                counter.insert(h);
            }
            assert_eq!(counter.estimate(), 500, "round {round}");
        }
        assert!(counter.registers.is_empty());
        // Merged halves count their union exactly.
        let mut other = Counter::new(DIM_PRECISION, 512);
        for h in hashes(400..510) {
            other.insert(h);
        }
        counter.merge(other);
        assert_eq!(counter.estimate(), 510);
        // Past the limit the counter turns dense and its memory stops growing.
        for h in hashes(0..100_000) {
            counter.insert(h);
        }
        assert!(counter.hashes.capacity() == 0 && counter.registers.len() == 1 << DIM_PRECISION);
        let error = (counter.estimate() as f64 - 100_000.0).abs() / 100_000.0;
        assert!(error < 0.03, "error={error}");
        // Dense and exact counters merge both ways.
        let mut exact = Counter::new(DIM_PRECISION, 512);
        for h in hashes(200_000..200_100) {
            exact.insert(h);
        }
        let mut dense = counter.clone();
        dense.merge(exact.clone());
        exact.merge(counter);
        assert_eq!(dense.estimate(), exact.estimate());
        let error = (dense.estimate() as f64 - 100_100.0).abs() / 100_100.0;
        assert!(error < 0.03, "error={error}");
    }

    #[test]
    fn small_sets_are_exact_and_round_trip() {
        let mut sketch = Sketch::default();
        sketch.insert_all(&hashes(0..100), DIM_PRECISION);
        sketch.insert_all(&hashes(50..150), DIM_PRECISION);
        assert_eq!(sketch.estimate(), 150);
        assert!(matches!(sketch, Sketch::Exact(_)));
        let decoded = Sketch::decode(&sketch.encode()).unwrap();
        assert_eq!(decoded, sketch);
        assert_eq!(Sketch::decode(&[9, 1, 2]), None);
        assert_eq!(Sketch::decode(&[TAG_EXACT, 1, 2]), None);
        assert_eq!(Sketch::decode(&[]), None);
    }

    #[test]
    fn large_sets_turn_dense_and_stay_within_two_percent() {
        for (p, n) in [(DIM_PRECISION, 20_000i64), (SITE_PRECISION, 300_000)] {
            let mut sketch = Sketch::default();
            sketch.insert_all(&hashes(0..n), p);
            assert!(matches!(sketch, Sketch::Dense { .. }));
            let encoded = sketch.encode();
            assert!(encoded.len() <= 2 + (1 << p) / 2, "{}", encoded.len());
            // A site's sketches are plain, the others deflated.
            let plain = p >= SITE_PRECISION;
            assert_eq!(
                encoded[0],
                if plain { TAG_DENSE } else { TAG_DENSE_DEFLATE }
            );
            let decoded = Sketch::decode(&encoded).unwrap();
            assert_eq!(decoded, sketch);
            // A damaged compressed sketch is refused, not misread.
            let mut damaged = encoded.clone();
            damaged.truncate(encoded.len() / 2);
            assert_eq!(Sketch::decode(&damaged), None);
            let error = (decoded.estimate() as f64 - n as f64).abs() / n as f64;
            assert!(error < 0.02, "p={p} n={n} error={error}");
        }
    }

    #[test]
    fn unions_are_exact_while_small_and_close_when_large() {
        let mut union = SketchUnion::new();
        for day in 0..10 {
            let mut sketch = Sketch::default();
            sketch.insert_all(&hashes(day * 10..day * 10 + 30), DIM_PRECISION);
            union.add(&sketch);
        }
        assert_eq!(union.estimate(), 120);
        // Thirty days of 20,000 visitors each, half of them returning daily.
        let mut union = SketchUnion::new();
        for day in 0..30i64 {
            let mut sketch = Sketch::default();
            let mut day_visitors = hashes(0..10_000);
            day_visitors.extend(hashes(1_000_000 + day * 10_000..1_010_000 + day * 10_000));
            sketch.insert_all(&day_visitors, SITE_PRECISION);
            assert!(union.add_encoded(&sketch.encode()));
        }
        let truth = 10_000.0 + 300_000.0;
        let error = (union.estimate() as f64 - truth).abs() / truth;
        assert!(error < 0.02, "error={error}");
    }

    #[test]
    fn unions_count_exactly_up_to_the_limit_whatever_their_repeats() {
        // Lists of 3,000 visitors, each repeating half of the one before,
        // up to sizes about the limit: the union is exact (sorted and
        // distinct) while it holds no more than the limit, asked at any
        // moment, and dense beyond, as a set of them all would say.
        for distinct in [
            1,
            4_096,
            MERGE_EXACT_LIMIT - 1,
            MERGE_EXACT_LIMIT,
            MERGE_EXACT_LIMIT + 1,
            80_000,
        ] {
            let all = hashes(0..distinct as i64);
            let mut union = SketchUnion::new();
            for from in (0..distinct).step_by(1_500) {
                let list = all[from..(from + 3_000).min(distinct)].to_vec();
                let mut sorted = list.clone();
                sorted.sort_unstable();
                assert!(union.add_encoded(&Sketch::Exact(sorted).encode()));
                let so_far = (from + 3_000).min(distinct);
                if so_far <= MERGE_EXACT_LIMIT {
                    assert_eq!(union.estimate(), so_far as u64, "{distinct} to {so_far}");
                }
            }
            let exact = union.estimate();
            match union.into_sketch() {
                Sketch::Exact(list) => {
                    assert!(distinct <= MERGE_EXACT_LIMIT, "{distinct}");
                    let mut expected = all.clone();
                    expected.sort_unstable();
                    assert_eq!(list, expected);
                    assert_eq!(exact, distinct as u64);
                }
                dense => {
                    assert!(distinct > MERGE_EXACT_LIMIT, "{distinct}");
                    let mut expected = Sketch::empty_dense(SITE_PRECISION);
                    expected.insert_all(&all, SITE_PRECISION);
                    assert_eq!(dense, expected);
                }
            }
        }
    }

    #[test]
    fn merging_sketches_gives_the_union() {
        let mut a = Sketch::default();
        a.insert_all(&hashes(0..100), DIM_PRECISION);
        let mut b = Sketch::default();
        b.insert_all(&hashes(50..300), DIM_PRECISION);
        a.merge(&b, DIM_PRECISION);
        assert_eq!(a.estimate(), 300);
        let mut big = Sketch::default();
        big.insert_all(&hashes(0..20_000), DIM_PRECISION);
        a.merge(&big, DIM_PRECISION);
        let error = (a.estimate() as f64 - 20_000.0).abs() / 20_000.0;
        assert!(matches!(a, Sketch::Dense { .. }) && error < 0.03, "{error}");
    }

    #[test]
    fn mixed_exact_and_dense_inputs_union_correctly() {
        let mut big = Sketch::default();
        big.insert_all(&hashes(0..50_000), DIM_PRECISION);
        let mut small = Sketch::default();
        small.insert_all(&hashes(49_000..51_000), DIM_PRECISION);
        let mut union = SketchUnion::new();
        union.add(&small);
        union.add(&big);
        let error = (union.estimate() as f64 - 51_000.0).abs() / 51_000.0;
        assert!(error < 0.03, "error={error}");
        // A site-precision sketch folded into a dimension-precision union.
        let mut fine = Sketch::default();
        fine.insert_all(&hashes(100_000..140_000), SITE_PRECISION);
        union.add(&fine);
        let error = (union.estimate() as f64 - 91_000.0).abs() / 91_000.0;
        assert!(error < 0.03, "error={error}");
    }

    #[test]
    fn stored_bytes_add_to_a_union_as_their_decoded_sketch_does() {
        let sketch = |range: std::ops::Range<i64>, p: u8| {
            let mut sketch = Sketch::default();
            sketch.insert_all(&hashes(range), p);
            sketch
        };
        let dense = sketch(0..20_000, DIM_PRECISION);
        let Sketch::Dense { registers, .. } = &dense else {
            panic!("20,000 visitors make a dense sketch");
        };
        // The plain packed layout, as well as the deflated one `encode` writes.
        let mut plain = vec![TAG_DENSE, DIM_PRECISION];
        plain.extend(
            registers
                .chunks_exact(2)
                .map(|pair| pair[0] | (pair[1] << 4)),
        );
        let inputs = [
            sketch(0..300, DIM_PRECISION).encode(),
            dense.encode(),
            plain,
            sketch(10_000..60_000, SITE_PRECISION).encode(),
            sketch(70_000..70_040, DIM_PRECISION).encode(),
        ];
        // Every order: a finer sketch folded into a coarser union and back.
        for order in [[0, 1, 2, 3, 4], [3, 0, 4, 2, 1], [4, 3, 2, 1, 0]] {
            let (mut from_bytes, mut from_sketches) = (SketchUnion::new(), SketchUnion::new());
            for &i in &order {
                assert!(from_bytes.add_encoded(&inputs[i]));
                from_sketches.add(&Sketch::decode(&inputs[i]).unwrap());
            }
            assert_eq!(from_bytes.estimate(), from_sketches.estimate(), "{order:?}");
            assert_eq!(from_bytes.dense, from_sketches.dense, "{order:?}");
        }
        // Exact inputs stay exact.
        let mut union = SketchUnion::new();
        assert!(union.add_encoded(&inputs[0]) && union.add_encoded(&inputs[4]));
        assert_eq!(union.estimate(), 340);
        // Damaged bytes are refused and leave the union as it was.
        let deflated = &inputs[1];
        for damaged in [
            &deflated[..deflated.len() / 2],
            &inputs[2][..inputs[2].len() - 1],
            &[TAG_EXACT, 1, 2][..],
            &[TAG_DENSE_DEFLATE, 30, 1][..],
        ] {
            assert!(!union.add_encoded(damaged));
        }
        assert_eq!(union.estimate(), 340);
        assert!(union.dense.is_none());
    }

    proptest::proptest! {
        /// The registers are counted by rank into four histograms side
        /// by side as they would be into one, whatever their number.
        #[test]
        fn registers_are_counted_by_rank_as_one_at_a_time(
            registers in proptest::collection::vec(0..=MAX_RANK, 0..300),
        ) {
            let mut one_at_a_time = [0u32; 64];
            for &r in &registers {
                one_at_a_time[usize::from(r)] += 1;
            }
            proptest::prop_assert_eq!(rank_histogram(&registers), one_at_a_time);
        }
    }
}
