//! "Nice" axis ranges: a value axis from zero to a round number with at most
//! six round ticks, and round label steps along a time axis.

/// The largest number of intervals on a value axis.
const MAX_INTERVALS: u128 = 5;

/// A value axis from zero to [`ValueAxis::top`] in steps of [`ValueAxis::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValueAxis {
    /// The value at the top of the axis (a multiple of `step`, at least the maximum).
    pub top: u128,
    /// The distance between ticks: 1, 2 or 5 times a power of ten.
    pub step: u128,
}

impl ValueAxis {
    /// The axis for data whose largest value is `max`.
    ///
    /// All-zero data gets the axis 0..=5 so that a flat line at zero sits on a
    /// readable axis instead of a degenerate one.
    pub(crate) fn for_max(max: u64) -> Self {
        let max = u128::from(max);
        if max == 0 {
            return Self { top: 5, step: 1 };
        }
        let wanted = max.div_ceil(MAX_INTERVALS);
        let step = nice_step(wanted);
        Self {
            top: max.div_ceil(step) * step,
            step,
        }
    }

    /// The tick values from zero to the top, inclusive.
    pub(crate) fn ticks(self) -> impl Iterator<Item = u128> {
        (0..=self.top / self.step).map(move |index| index * self.step)
    }
}

/// The smallest of 1, 2 and 5 times a power of ten that is at least `wanted`.
fn nice_step(wanted: u128) -> u128 {
    let mut power: u128 = 1;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * power;
            if step >= wanted {
                return step;
            }
        }
        power *= 10;
    }
}

/// The smallest candidate step that is at least `wanted`, or `wanted` itself
/// when it exceeds every candidate. Used to label every 7th day rather than
/// every 6th, every 6th hour rather than every 5th.
pub(crate) fn round_index_step(wanted: usize, candidates: &[usize]) -> usize {
    candidates
        .iter()
        .copied()
        .find(|&step| step >= wanted)
        .unwrap_or(wanted)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_data_gets_a_small_readable_axis() {
        let axis = ValueAxis::for_max(0);
        assert_eq!(axis, ValueAxis { top: 5, step: 1 });
        assert_eq!(axis.ticks().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn axis_tops_are_round_and_cover_the_maximum() {
        assert_eq!(ValueAxis::for_max(1), ValueAxis { top: 1, step: 1 });
        assert_eq!(ValueAxis::for_max(7), ValueAxis { top: 8, step: 2 });
        assert_eq!(ValueAxis::for_max(10), ValueAxis { top: 10, step: 2 });
        assert_eq!(
            ValueAxis::for_max(1234),
            ValueAxis {
                top: 1500,
                step: 500
            }
        );
        assert_eq!(
            ValueAxis::for_max(1_234_567),
            ValueAxis {
                top: 1_500_000,
                step: 500_000
            }
        );
    }

    #[test]
    fn the_largest_value_does_not_overflow() {
        let axis = ValueAxis::for_max(u64::MAX);
        assert!(axis.top >= u128::from(u64::MAX));
        assert!(axis.ticks().count() <= 6);
    }

    #[test]
    fn every_axis_has_at_most_six_ticks() {
        for max in (0..5000).chain([99_999, 1_000_001, 987_654_321]) {
            let axis = ValueAxis::for_max(max);
            let ticks = axis.ticks().count();
            assert!((2..=6).contains(&ticks), "max {max}: {ticks} ticks");
            assert!(axis.top >= u128::from(max));
        }
    }

    #[test]
    fn index_steps_round_up_to_a_candidate() {
        assert_eq!(round_index_step(0, &[1, 2, 7]), 1);
        assert_eq!(round_index_step(3, &[1, 2, 7, 14]), 7);
        assert_eq!(round_index_step(40, &[1, 2, 7, 14]), 40);
    }
}
