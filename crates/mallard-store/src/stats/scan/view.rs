//! A whole view in one pass: the totals, the time series and several
//! breakdowns of one range and one set of filters, counted from one read of
//! the period's visits.
//!
//! The dashboard shows all of them at once; asked one by one, each filtered
//! query reads and decodes the period on its own. Here every visit the
//! filters select is handed to each accumulator in turn, and the visit is
//! read with the union of their columns and the strictest need for its
//! events ([`EventNeed`]). Each answer equals the one its own query gives.

use mallard_core::{DayRange, Interval};
use rusqlite::Connection;

use super::code_screen::CodeScreen;
use super::{
    BreakdownSpec, BreakdownTally, Counted, EventNeed, MainTally, Screen, SeriesTally, Tally,
    finish_series, run_screened,
};
use crate::error::StoreError;
use crate::hll::{MERGE_EXACT_LIMIT, SITE_PRECISION};
use crate::rollups::kind;
use crate::stats::predicate::Predicate;
use crate::stats::rollup::IdMap;
use crate::stats::{SeriesPoint, SiteInfo, Totals};
use crate::visit_record::{CodeEvents, Columns, EventRecord, VisitRecord, WholeVisits};

/// The counts of a view, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewCounts {
    /// The totals of the range, when asked for.
    pub(crate) main: Option<Totals>,
    /// Every bucket of the time series, zeros included, when asked for.
    pub(crate) series: Option<Vec<SeriesPoint>>,
    /// Each breakdown's top values with their totals.
    pub(crate) breakdowns: Vec<Vec<(i64, Totals)>>,
}

/// Which parts of a view a pass counts besides its breakdowns: those the
/// rollups do not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ViewParts {
    /// The totals.
    pub(crate) main: bool,
    /// The time series.
    pub(crate) series: bool,
}

/// The accumulators of a view (the totals and the series only when
/// [`ViewParts`] asks for them).
struct ViewTally<'a> {
    main: Option<MainTally>,
    series: Option<SeriesTally<'a>>,
    breakdowns: Vec<BreakdownTally>,
    /// Whether the visits at hand are those of a day whose page and event
    /// breakdowns were counted from its code index: they count them no
    /// more ([`Tally::visits_beside_codes`]).
    beside_codes: bool,
}

impl ViewTally<'_> {
    /// The breakdowns that count the visits at hand.
    fn counting(&mut self) -> impl Iterator<Item = &mut BreakdownTally> {
        let beside_codes = self.beside_codes;
        self.breakdowns
            .iter_mut()
            .filter(move |breakdown| !(beside_codes && breakdown.counts_by_code()))
    }
}

impl Tally for ViewTally<'_> {
    fn event(&mut self, visit: &VisitRecord, event: &EventRecord, hash: u32) {
        self.main.event(visit, event, hash);
        self.series.event(visit, event, hash);
        for breakdown in self.counting() {
            breakdown.event(visit, event, hash);
        }
    }

    fn end_visit(&mut self, visit: &VisitRecord, hash: u32, counted: bool) {
        self.main.end_visit(visit, hash, counted);
        self.series.end_visit(visit, hash, counted);
        for breakdown in self.counting() {
            breakdown.end_visit(visit, hash, counted);
        }
    }

    fn whole_visit(&mut self, visit: &VisitRecord, hash: u32) {
        self.main.whole_visit(visit, hash);
        self.series.whole_visit(visit, hash);
        for breakdown in self.counting() {
            breakdown.whole_visit(visit, hash);
        }
    }

    fn visit(&mut self, visit: &VisitRecord) {
        self.main.visit(visit);
        self.series.visit(visit);
        for breakdown in self.counting() {
            breakdown.visit(visit);
        }
    }

    const COUNTS_WHOLE_VISITS: bool = true;

    fn whole_visits(&mut self, visits: &WholeVisits) {
        self.main.whole_visits(visits);
        self.series.whole_visits(visits);
        for breakdown in self.counting() {
            breakdown.whole_visits(visits);
        }
    }

    fn code_events(&mut self, events: CodeEvents<'_>) {
        for breakdown in &mut self.breakdowns {
            breakdown.code_events(events);
        }
    }

    fn visits_beside_codes(&mut self, following: bool) {
        self.beside_codes = following;
    }

    fn merge(&mut self, other: Self) {
        self.main.merge(other.main);
        self.series.merge(other.series);
        for (mine, theirs) in self.breakdowns.iter_mut().zip(other.breakdowns) {
            mine.merge(theirs);
        }
    }
}

/// The totals and the time series over the buckets `keys` of `interval`
/// (those of `parts`), and the breakdowns of `specs`, of the visits and
/// events of `range` that meet `predicate`, in one pass.
#[allow(clippy::too_many_arguments)]
pub(crate) fn view(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    interval: Interval,
    keys: &[i64],
    specs: &[BreakdownSpec],
    parts: ViewParts,
) -> Result<ViewCounts, StoreError> {
    // Nothing to count (the rollups answer every part): nothing is read.
    if specs.is_empty() && !parts.main && !parts.series {
        return Ok(ViewCounts {
            main: None,
            series: None,
            breakdowns: Vec::new(),
        });
    }
    let tz = &site.time_zone;
    // The strictest need of any part: a breakdown by page, event or
    // property reads every event; the time series reads the times of the
    // events of the visits that cross a bucket.
    let every_event = specs
        .iter()
        .any(|spec| matches!(spec.by().event_need(), EventNeed::Always));
    let need = match (every_event, parts.series) {
        (true, true) => EventNeed::AlwaysTimedAcrossBuckets(interval, tz),
        (true, false) => EventNeed::Always,
        (false, true) => EventNeed::AtEdgesOrAcrossBuckets(interval, tz),
        (false, false) => EventNeed::AtEdges,
    };
    let columns = specs.iter().fold(Columns::default(), |columns, spec| {
        columns.with(spec.columns())
    });
    // When every breakdown that reads every event is by page or event name,
    // a day whose visits the filters choose by their attributes alone has
    // those breakdowns counted from its code index, and its visits decoded
    // for the rest with the need of the rest: the totals, the series and
    // the visit-level breakdowns ([`VisitGate::beside_codes`]).
    let by_codes = every_event
        && specs.iter().all(|spec| {
            !matches!(spec.by().event_need(), EventNeed::Always) || spec.by().counts_by_code()
        });
    let rest_need = if parts.series {
        EventNeed::AtEdgesOrAcrossBuckets(interval, tz)
    } else {
        EventNeed::AtEdges
    };
    // With nothing else to count (no totals, no series, every breakdown by
    // page or event name, as under one visit filter with rollup rows) the
    // visits are not decoded beside the index: the view reads what those
    // breakdowns' own queries read ([`super::breakdown::breakdown`]).
    // With event breakdowns alone, the visits without a custom event are
    // passed over as well, as by an event breakdown's own query.
    let rest = parts.main || parts.series || specs.iter().any(|spec| !spec.by().counts_by_code());
    let custom_events = CodeScreen::custom_events();
    let events_alone = !rest && specs.iter().all(|spec| spec.row_kind == kind::EVENT);
    let screen = Screen {
        codes: events_alone.then_some(&custom_events),
        codes_alone: by_codes,
        beside_codes: (by_codes && rest).then_some(rest_need),
        ..Screen::default()
    };
    let tally = run_screened(
        conn,
        site,
        range,
        predicate,
        (columns, need),
        screen,
        || ViewTally {
            main: parts
                .main
                .then(|| MainTally(Counted::new(SITE_PRECISION, MERGE_EXACT_LIMIT))),
            series: parts.series.then(|| SeriesTally {
                interval,
                tz,
                buckets: IdMap::default(),
                pending: None,
            }),
            breakdowns: specs
                .iter()
                .map(|spec| BreakdownTally::new(spec.by()))
                .collect(),
            beside_codes: false,
        },
    )?;
    Ok(match tally {
        Some(tally) => ViewCounts {
            main: tally.main.map(|main| main.0.finish()),
            series: tally
                .series
                .map(|series| finish_series(series.buckets, keys)),
            breakdowns: specs
                .iter()
                .zip(tally.breakdowns)
                .map(|(spec, breakdown)| spec.finish(breakdown.into_values()))
                .collect(),
        },
        None => ViewCounts {
            main: parts.main.then(Totals::default),
            series: parts.series.then(|| finish_series(IdMap::default(), keys)),
            breakdowns: specs.iter().map(|_| Vec::new()).collect(),
        },
    })
}
