//! Retention: weekly cohorts of visitors by the week of their first visit in
//! the period, and how many of each cohort came back 1..N weeks later.
//!
//! Weeks are Monday-based weeks of the site's time zone, cut to the period
//! (the first and last week may be partial). A visitor is a visitor id, which
//! for the browser tracker rotates every UTC day (see `mallard_core::visitor`),
//! so such visitors cannot come back in a later week; ids from SDKs that send
//! their own anonymous id are stable. Only the visits that start in the period
//! and meet the filters count, for the first visit and for the returns: they
//! are read through [`super::source`], which needs only their start times and
//! visitor ids (and what the filters read).

use mallard_core::Interval;
use rusqlite::Connection;

use super::super::{SiteInfo, StatsQuery};
use super::Cohort;
use super::by_visitor::{ByVisitor, Fold, add_counts};
use super::partition::in_passes;
use super::source::fold_query;
use crate::error::StoreError;
use crate::visit_record::Columns;

/// A visitor's first week (index into the period's weeks, low 11 bits) and
/// the weeks in which they visited, as bits relative to it (bit `11 + k`: `k`
/// weeks later, `k` up to 52), packed into 8 bytes: a year of a busy site
/// has millions of visitors.
#[derive(Debug, Clone, Copy)]
struct Seen(u64);

/// Bits of the first week; periods are at most 2,047 weeks long.
const FIRST_BITS: u32 = 11;
/// The most weeks after the first that are kept.
const KEPT_WEEKS: u32 = 64 - FIRST_BITS - 1;

impl Seen {
    fn new(week: u32) -> Self {
        Self(u64::from(week) | 1 << FIRST_BITS)
    }

    fn first(self) -> u32 {
        (self.0 & ((1 << FIRST_BITS) - 1)) as u32
    }

    /// Whether the visitor came back `k` weeks after the first.
    fn returned(self, k: u32) -> bool {
        k <= KEPT_WEEKS && self.0 >> (FIRST_BITS + k) & 1 == 1
    }

    /// Records a visit in `week`; visits arrive in any order.
    fn add(&mut self, week: u32) {
        let first = self.first();
        let mut weeks = self.0 >> FIRST_BITS;
        let first = if week < first {
            weeks = weeks.checked_shl(first - week).unwrap_or(0);
            week
        } else {
            first
        };
        if week - first <= KEPT_WEEKS {
            weeks |= 1 << (week - first);
        }
        weeks &= (1 << (KEPT_WEEKS + 1)) - 1;
        self.0 = weeks << FIRST_BITS | u64::from(first);
    }
}

impl Fold for Seen {
    fn first(week: u16) -> Self {
        Self::new(u32::from(week))
    }

    fn add(&mut self, week: u16) {
        Seen::add(self, u32::from(week));
    }

    fn merge(&mut self, other: Self) {
        for k in (0..=KEPT_WEEKS).filter(|&k| other.returned(k)) {
            Seen::add(self, other.first() + k);
        }
    }
}

/// The instants `[from, to)` of one week of the period, and its index.
#[derive(Debug, Clone, Copy)]
struct WeekSpan {
    from: i64,
    to: i64,
    week: u16,
}

impl WeekSpan {
    /// A span that holds no instant.
    const EMPTY: Self = Self {
        from: 0,
        to: 0,
        week: 0,
    };

    /// The week of `instant`, given the first instant of each week (an
    /// instant before the first week counts in it).
    fn of(week_starts: &[i64], instant: i64) -> Self {
        let next = week_starts.partition_point(|&s| s <= instant);
        Self {
            from: next.checked_sub(1).map_or(i64::MIN, |w| week_starts[w]),
            to: week_starts.get(next).copied().unwrap_or(i64::MAX),
            week: u16::try_from(next.saturating_sub(1))
                .unwrap_or(u16::MAX)
                .min((1 << FIRST_BITS) - 1),
        }
    }

    fn holds(self, instant: i64) -> bool {
        (self.from..self.to).contains(&instant)
    }
}

/// The cohorts of the period, oldest first, each with `weeks` return counts
/// (`None` for weeks after the period's end).
pub(crate) fn run(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    weeks: usize,
) -> Result<Vec<Cohort>, StoreError> {
    let buckets = Interval::Week
        .buckets(query.range)
        .map_err(|e| StoreError::InvalidData(e.to_string()))?;
    // The first instant of each week within the period.
    let week_starts: Vec<i64> = buckets
        .iter()
        .map(|&day| site.time_zone.day_start_ms(day.max(query.range.start)))
        .collect();
    // The weeks of each visitor's visits (see `by_visitor`), one fold per
    // thread and pass: of the packed days (without filters, or with filters
    // all on visit attributes, see `source::fold_query`), and of the visits
    // read as records. Visits come day by day, so most are in the last week
    // found.
    let week = |span: &mut WeekSpan, start: i64| {
        if !span.holds(start) {
            *span = WeekSpan::of(&week_starts, start);
        }
        span.week
    };
    // Per cohort: its visitors, then those back 1..=weeks later. A year of
    // a very busy site is read in several passes, each over a window of the
    // visitors ([`in_passes`]), whose counts add up.
    let stride = weeks + 1;
    let counts = in_passes(
        std::mem::size_of::<u64>(),
        |window| {
            let folds = fold_query(
                conn,
                site,
                query,
                (
                    crate::segment_fold::Parts {
                        starts: crate::segment_fold::Starts::Across(&week_starts),
                        steps: false,
                        visitors: true,
                        min_steps: 0,
                        gate: None,
                        screen: &[],
                    },
                    |(fold, span): &mut (ByVisitor<Seen>, WeekSpan),
                     v: crate::segment_fold::PackedVisit<'_>| {
                        fold.add(v.visitor_id, week(span, v.start_ts));
                    },
                ),
                Columns {
                    visitors: true,
                    ..Columns::default()
                },
                || (ByVisitor::within(window), WeekSpan::EMPTY),
                |(fold, span), v| fold.add(v.visitor_id, week(span, v.start_ts)),
            )?;
            let mut visits: ByVisitor<Seen> = ByVisitor::within(window);
            for (fold, _) in folds {
                visits.merge(fold);
            }
            Ok::<_, StoreError>(visits.fold_visitors(
                || vec![0u64; buckets.len() * stride],
                |counts, entry: Seen| {
                    let first = entry.first() as usize;
                    if first >= buckets.len() {
                        return;
                    }
                    let row = &mut counts[first * stride..(first + 1) * stride];
                    // Slot 0 counts the cohort, slot k those back k weeks later.
                    row[0] += 1;
                    for (k, count) in row.iter_mut().enumerate().skip(1) {
                        *count += u64::from(entry.returned(k as u32));
                    }
                },
                add_counts,
            ))
        },
        add_counts,
    )?;
    let cohorts = buckets
        .iter()
        .zip(counts.chunks_exact(stride))
        .enumerate()
        .map(|(i, (&day, row))| Cohort {
            week_start: day,
            visitors: row[0],
            returning: (1..=weeks)
                .map(|k| (i + k < buckets.len()).then_some(row[k]))
                .collect(),
        })
        .collect();
    Ok(cohorts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn week_spans_cover_the_instants_of_their_week() {
        let starts = [100, 200, 300];
        for instant in [-5, 99, 100, 150, 199, 200, 299, 300, 10_000] {
            let span = WeekSpan::of(&starts, instant);
            assert!(span.holds(instant), "{instant}");
            let expected = starts.iter().filter(|&&s| s <= instant).count().max(1) - 1;
            assert_eq!(usize::from(span.week), expected, "{instant}");
        }
        assert_eq!(WeekSpan::of(&starts, 150).from, 100);
        assert_eq!(WeekSpan::of(&starts, 150).to, 200);
        assert!(!WeekSpan::EMPTY.holds(0));
    }

    #[test]
    fn weeks_are_relative_to_the_earliest_whatever_the_order() {
        let mut seen = Seen::new(5);
        for week in [5, 7, 3, 3, 70] {
            seen.add(week);
        }
        assert_eq!(seen.first(), 3);
        let back: Vec<u32> = (0..=60).filter(|&k| seen.returned(k)).collect();
        assert_eq!(back, vec![0, 2, 4]);
        let mut far = Seen::new(100);
        far.add(1);
        assert_eq!(far.first(), 1);
        assert!(far.returned(0) && !far.returned(99));
        let mut late = Seen::new(0);
        late.add(52);
        assert!(late.returned(52));
    }
}
