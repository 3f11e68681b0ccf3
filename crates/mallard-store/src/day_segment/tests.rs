//! The day segment format: round trips of random days, column subsets,
//! checksums and damaged bytes.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::*;
use crate::hll::visitor_hash;
use crate::visit_record::ValueColumn;

const DAY_MS: i64 = 86_400_000;

/// Decodes every visit of sealed `parts` with `columns` in `[from, to)`.
fn decode_all(
    day_start: i64,
    parts: &[(i64, Vec<u8>)],
    columns: Columns,
    range: (i64, i64),
) -> Result<Vec<VisitRecord>, Damaged> {
    decode_gated(day_start, parts, columns, range, &|_: &VisitRecord| {
        Take::Events
    })
}

/// Decodes the visits of sealed `parts` with `columns` in `[from, to)` that
/// `gate` takes.
fn decode_gated(
    day_start: i64,
    parts: &[(i64, Vec<u8>)],
    columns: Columns,
    range: (i64, i64),
    gate: &impl VisitGate,
) -> Result<Vec<VisitRecord>, Damaged> {
    decode_into(day_start, parts, (columns, range), gate, None)
}

/// [`decode_gated`], the visits the gate takes whole by their span
/// gathered apart.
fn decode_whole(
    day_start: i64,
    parts: &[(i64, Vec<u8>)],
    columns: Columns,
    range: (i64, i64),
    gate: &impl VisitGate,
) -> Result<(Vec<VisitRecord>, WholeVisits), Damaged> {
    let mut whole = WholeVisits::default();
    let seen = decode_into(day_start, parts, (columns, range), gate, Some(&mut whole))?;
    Ok((seen, whole))
}

/// Decodes the visits of sealed `parts` that `gate` takes, gathering into
/// `whole` those it takes whole when given.
fn decode_into(
    day_start: i64,
    parts: &[(i64, Vec<u8>)],
    (columns, range): (Columns, (i64, i64)),
    gate: &impl VisitGate,
    whole: Option<&mut WholeVisits>,
) -> Result<Vec<VisitRecord>, Damaged> {
    let mut unsealed: DayParts<'_> = [None; part::COUNT];
    for (id, bytes) in parts {
        unsealed[*id as usize] = Some(unseal(bytes)?);
    }
    let mut record = VisitRecord::default();
    let mut seen = Vec::new();
    decode(
        day_start,
        &unsealed,
        columns,
        range,
        &mut record,
        gate,
        whole,
        |r| seen.push(r.clone()),
    )?;
    Ok(seen)
}

/// Each visit of `whole` as a record taken without its events (its
/// visitor id unknown: 0).
fn records_of(whole: &WholeVisits) -> Vec<VisitRecord> {
    let value =
        |column: &ValueColumn, index: usize| column.dictionary[column.positions[index] as usize];
    (0..whole.len())
        .map(|index| {
            let mut record = VisitRecord {
                start_ts: whole.starts[index],
                end_ts: whole.starts[index].wrapping_add(whole.durations[index]),
                pageviews: whole.pageviews[index],
                events_count: whole.events[index],
                entry_page: whole.pages(false).and_then(|c| value(c, index)),
                exit_page: whole.pages(true).and_then(|c| value(c, index)),
                ..VisitRecord::default()
            };
            for attribute in Attribute::EVERY {
                if let Some(column) = whole.attribute(attribute) {
                    assert!(attribute.set(&mut record.attrs, value(column, index)));
                }
            }
            record
        })
        .collect()
}

/// The attributes of `attrs` that `asked` holds; the others at their
/// defaults.
fn project_attributes(attrs: &VisitAttributes, asked: AttributeSet) -> VisitAttributes {
    let keep = |attribute: Attribute, value: Option<i64>| {
        if asked.contains(attribute) {
            value
        } else {
            None
        }
    };
    let flags = asked.contains(Attribute::Flags);
    VisitAttributes {
        referrer_source: keep(Attribute::Source, attrs.referrer_source),
        referrer_url: keep(Attribute::Referrer, attrs.referrer_url),
        utm_source: keep(Attribute::UtmSource, attrs.utm_source),
        utm_medium: keep(Attribute::UtmMedium, attrs.utm_medium),
        utm_campaign: keep(Attribute::UtmCampaign, attrs.utm_campaign),
        utm_term: keep(Attribute::UtmTerm, attrs.utm_term),
        utm_content: keep(Attribute::UtmContent, attrs.utm_content),
        browser: keep(Attribute::Browser, attrs.browser),
        browser_version: keep(Attribute::BrowserVersion, attrs.browser_version),
        os: keep(Attribute::Os, attrs.os),
        os_version: keep(Attribute::OsVersion, attrs.os_version),
        device: if asked.contains(Attribute::Device) {
            attrs.device
        } else {
            0
        },
        screen_width: keep(Attribute::Screen, attrs.screen_width),
        country: keep(Attribute::Country, attrs.country),
        is_bot: flags && attrs.is_bot,
        is_internal: flags && attrs.is_internal,
        region: keep(Attribute::Region, attrs.region),
        city: keep(Attribute::City, attrs.city),
    }
}

/// What a visit reads as with only `columns` (see the documentation of
/// `VisitRecord` and `EventRecord`).
fn project(visit: &VisitRecord, columns: Columns) -> VisitRecord {
    let mut out = VisitRecord {
        id: if columns.ids { visit.id } else { 0 },
        start_ts: visit.start_ts,
        events_read: columns.events,
        ..VisitRecord::default()
    };
    if columns.visitors {
        out.visitor_id = visit.visitor_id;
    }
    if columns.visit {
        out.end_ts = visit.end_ts;
        out.pageviews = visit.pageviews;
        out.events_count = visit.events_count;
        if columns.pages {
            out.entry_page = visit.entry_page;
            out.exit_page = visit.exit_page;
        }
    }
    out.attrs = project_attributes(&visit.attrs, columns.attributes);
    if columns.events {
        for event in &visit.events {
            let mut kept = EventRecord {
                ts: if columns.event_times {
                    event.ts
                } else {
                    visit.start_ts
                },
                pageview: event.pageview,
                code: event.code,
                pathname: if columns.event_paths || event.pageview {
                    event.pathname
                } else {
                    0
                },
                ..EventRecord::default()
            };
            if columns.props {
                let pairs = visit.props_of(event);
                if !pairs.is_empty() {
                    let first = out.props.len() as u32;
                    out.props.extend_from_slice(pairs);
                    kept.props = (first, out.props.len() as u32);
                }
            }
            if columns.revenue {
                kept.revenue_micros = event.revenue_micros;
                kept.currency = event.currency;
            }
            if columns.provenance {
                kept.hostname = event.hostname;
                kept.consent = event.consent;
            }
            out.events.push(kept);
        }
    }
    out
}

fn id_value() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        (0i64..4).prop_map(Some),
        (0i64..100_000).prop_map(Some),
        any::<i64>().prop_map(Some),
    ]
}

fn attributes() -> impl Strategy<Value = VisitAttributes> {
    (
        proptest::collection::vec(id_value(), 15),
        any::<i64>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(v, device, is_bot, is_internal)| VisitAttributes {
            referrer_source: v[0],
            referrer_url: v[1],
            utm_source: v[2],
            utm_medium: v[3],
            utm_campaign: v[4],
            utm_term: v[5],
            utm_content: v[6],
            browser: v[7],
            browser_version: v[8],
            os: v[9],
            os_version: v[10],
            screen_width: v[11],
            country: v[12],
            device: device % 4,
            is_bot,
            is_internal,
            region: v[13],
            city: v[14],
        })
}

/// One random event: time step from the previous event (0 makes ties), page
/// view, code, page path of a custom event, properties, revenue, and
/// provenance (host name, 0 for the site's own, and consent).
type RandomEvent = (
    i64,
    bool,
    i64,
    i64,
    Vec<(i64, i64)>,
    Option<i64>,
    Option<i64>,
    (i64, Option<i64>),
);

fn event() -> impl Strategy<Value = RandomEvent> {
    (
        prop_oneof![Just(0i64), 0i64..120_000, 0i64..10_000_000],
        any::<bool>(),
        prop_oneof![0i64..200, 0i64..(1 << 40)],
        prop_oneof![0i64..200, 0i64..100_000],
        proptest::collection::vec((0i64..50, any::<i64>()), 0..4),
        proptest::option::of(any::<i64>()),
        proptest::option::of(0i64..300),
        (
            prop_oneof![Just(0i64), Just(0i64), any::<i64>()],
            proptest::option::of(prop_oneof![1i64..10, any::<i64>()]),
        ),
    )
}

/// A random visit starting at `offset` ms into the day.
fn visit() -> impl Strategy<Value = VisitRecord> {
    (
        0i64..DAY_MS,
        prop_oneof![0i64..(1 << 47), any::<i64>()],
        any::<i64>(),
        (any::<i64>(), any::<i64>(), id_value(), id_value()),
        attributes(),
        proptest::collection::vec(event(), 0..12),
    )
        .prop_map(|(offset, visitor_id, end_shift, counts, attrs, events)| {
            let start_ts = 10 * DAY_MS + offset;
            let mut record = VisitRecord {
                visitor_id,
                start_ts,
                end_ts: start_ts.wrapping_add(end_shift % (3 * DAY_MS)),
                pageviews: counts.0,
                events_count: counts.1,
                entry_page: counts.2,
                exit_page: counts.3,
                attrs,
                ..VisitRecord::default()
            };
            let mut ts = start_ts;
            for (step, pageview, code, path, mut pairs, micros, currency, (hostname, consent)) in
                events
            {
                ts += step;
                pairs.sort_unstable_by_key(|p| p.0);
                pairs.dedup_by_key(|p| p.0);
                let first = record.props.len() as u32;
                record.props.extend(pairs);
                record.events.push(EventRecord {
                    ts,
                    pageview,
                    code,
                    pathname: if pageview { code } else { path },
                    props: if record.props.len() as u32 > first {
                        (first, record.props.len() as u32)
                    } else {
                        (0, 0)
                    },
                    revenue_micros: micros,
                    currency,
                    hostname,
                    consent,
                });
            }
            record
        })
}

/// Random visits of day 10 in start order (ties kept in their order), with
/// ids that rise and fall and go negative, as the id column must keep any.
fn day() -> impl Strategy<Value = Vec<VisitRecord>> {
    proptest::collection::vec(visit(), 0..24).prop_map(|mut visits| {
        visits.sort_by_key(|v| v.start_ts);
        for (at, visit) in visits.iter_mut().enumerate() {
            visit.id = (at as i64 * 7_919) % 101 - 50 + (at as i64) * i64::from(u32::MAX);
        }
        visits
    })
}

/// A gate that takes the visits as scripted, and says whether it reads the
/// counters (if not, they are read only for the visits it takes).
struct ScriptedGate<'a> {
    takes: &'a [Take],
    asked: AtomicUsize,
    reads_counters: bool,
}

impl VisitGate for ScriptedGate<'_> {
    fn take(&self, visit: &VisitRecord) -> Take {
        // The gate sees the visit-level columns, and no events yet.
        assert!(visit.events.is_empty() && visit.props.is_empty() && !visit.events_read);
        self.takes[self.asked.fetch_add(1, Ordering::Relaxed)]
    }

    fn reads_counters(&self) -> bool {
        self.reads_counters
    }
}

/// A gate that takes, with their events, the visits that meet its
/// attribute conditions, and fails the test when it is shown one that does
/// not: the day's screen passes those over.
struct ConditionGate {
    conditions: Vec<AttributeCondition>,
}

impl ConditionGate {
    fn meets(&self, visit: &VisitRecord) -> bool {
        self.conditions
            .iter()
            .all(|c| c.holds(c.attribute.get(&visit.attrs)))
    }
}

impl VisitGate for ConditionGate {
    fn take(&self, visit: &VisitRecord) -> Take {
        assert!(self.meets(visit), "shown a visit that fails the conditions");
        Take::Events
    }

    fn attribute_conditions(&self) -> &[AttributeCondition] {
        &self.conditions
    }
}

/// A gate that takes every visit with its events, but for those none of
/// whose events carries what `need` asks for: the day passes those over.
struct EntryGate {
    need: EntryNeed,
}

impl VisitGate for EntryGate {
    fn take(&self, _: &VisitRecord) -> Take {
        Take::Events
    }

    fn entry_need(&self) -> Option<EntryNeed> {
        Some(self.need)
    }
}

/// Whether one of the events of `visit` carries what `need` asks for.
fn carries(visit: &VisitRecord, need: EntryNeed) -> bool {
    visit.events.iter().any(|event| match need {
        EntryNeed::Revenue => event.revenue_micros.is_some(),
        EntryNeed::Props { key: None } => !visit.props_of(event).is_empty(),
        EntryNeed::Props { key: Some(key) } => visit.props_of(event).iter().any(|p| p.0 == key),
    })
}

/// A gate that takes every visit that meets its attribute conditions
/// (`screen`) with its events, but for those without an event that carries
/// each of `needs`: a day with entry events passes those over.
struct PropGate {
    screen: ConditionGate,
    needs: Vec<PropNeed>,
}

impl VisitGate for PropGate {
    fn take(&self, visit: &VisitRecord) -> Take {
        self.screen.take(visit)
    }

    fn attribute_conditions(&self) -> &[AttributeCondition] {
        self.screen.attribute_conditions()
    }

    fn prop_needs(&self) -> &[PropNeed] {
        &self.needs
    }
}

/// Whether one of the events of `visit` carries the property `need` asks
/// for.
fn carries_prop(visit: &VisitRecord, need: PropNeed) -> bool {
    visit.events.iter().any(|event| {
        visit
            .props_of(event)
            .iter()
            .any(|&(key, value)| key == need.key && need.value.is_none_or(|v| v == value))
    })
}

/// Property needs drawn by `picks` (an index, whether any value does, a
/// key): pairs the day `visits` holds (with their value, or any value) and
/// keys it may not hold.
fn prop_needs(visits: &[VisitRecord], picks: &[(prop::sample::Index, bool, i64)]) -> Vec<PropNeed> {
    let pairs: Vec<(i64, i64)> = visits
        .iter()
        .flat_map(|v| v.props.iter().copied())
        .collect();
    picks
        .iter()
        .map(
            |&(pick, any_value, key)| match pairs.get(pick.index(pairs.len().max(1))) {
                Some(&(key, value)) => PropNeed {
                    key,
                    value: (!any_value).then_some(value),
                },
                None => PropNeed { key, value: None },
            },
        )
        .collect()
}

/// A gate that takes every visit with its events and declares step needs.
struct StepGate {
    needs: Vec<StepNeed>,
}

impl VisitGate for StepGate {
    fn take(&self, _: &VisitRecord) -> Take {
        Take::Events
    }

    fn step_needs(&self) -> &[StepNeed] {
        &self.needs
    }
}

/// A gate that takes every visit with its events, but for those whose
/// event codes hold none of `counted` (pairs of page view or not, and id);
/// with `by_index` it screens code by code, and counts how many visits'
/// codes it searched.
struct CodeGate {
    counted: Vec<(bool, i64)>,
    by_index: bool,
    searched: AtomicUsize,
}

impl CodeGate {
    fn counts(&self, event: &EventRecord) -> bool {
        self.counted.contains(&(event.pageview, event.code))
    }
}

impl VisitGate for CodeGate {
    fn take(&self, _: &VisitRecord) -> Take {
        Take::Events
    }

    fn may_count_codes(&self, codes: &[u8]) -> bool {
        self.searched.fetch_add(1, Ordering::Relaxed);
        let mut at = 0;
        while let Some(code) = get_varint(codes, &mut at) {
            if self.may_count_code(code) {
                return true;
            }
        }
        false
    }

    fn screens_codes(&self) -> bool {
        self.by_index
    }

    fn may_count_code(&self, code: u64) -> bool {
        self.counted.contains(&(code & 1 == 0, (code >> 1) as i64))
    }
}

/// The random picks of [`attribute_conditions`]: an attribute, a visit
/// whose value it compares with (else `other`), and whether it must equal.
type ConditionPick = (
    prop::sample::Index,
    Option<prop::sample::Index>,
    Option<i64>,
    bool,
);

/// Up to `max` picks of attribute conditions.
fn condition_picks(max: usize) -> impl Strategy<Value = Vec<ConditionPick>> {
    proptest::collection::vec(
        (
            any::<prop::sample::Index>(),
            proptest::option::of(any::<prop::sample::Index>()),
            proptest::option::of(0i64..4),
            any::<bool>(),
        ),
        0..max,
    )
}

/// A gate with the attribute conditions of `picks` over `visits`, and
/// `columns` with the attributes they compare (as a query reads them).
fn condition_gate(
    visits: &[VisitRecord],
    picks: &[ConditionPick],
    columns: Columns,
) -> (ConditionGate, Columns) {
    let gate = ConditionGate {
        conditions: attribute_conditions(visits, picks),
    };
    let columns = gate.conditions.iter().fold(columns, |columns, c| Columns {
        attributes: columns.attributes.with(AttributeSet::of(c.attribute)),
        ..columns
    });
    (gate, columns)
}

/// Attribute conditions, each on a random attribute, comparing with the
/// value of a random visit of `visits` or with any value.
fn attribute_conditions(
    visits: &[VisitRecord],
    picks: &[ConditionPick],
) -> Vec<AttributeCondition> {
    picks
        .iter()
        .map(|(attribute, visit, other, is)| {
            let attribute = Attribute::EVERY[attribute.index(Attribute::EVERY.len())];
            let value = match visit {
                Some(visit) if !visits.is_empty() => {
                    attribute.get(&visits[visit.index(visits.len())].attrs)
                }
                _ => *other,
            };
            AttributeCondition {
                attribute,
                value,
                is: *is,
            }
        })
        .collect()
}

/// Any set of attributes: none, all, or a random few.
fn attribute_set() -> impl Strategy<Value = AttributeSet> {
    prop_oneof![
        Just(AttributeSet::NONE),
        Just(AttributeSet::ALL),
        proptest::sample::subsequence(Attribute::EVERY.to_vec(), 1..4).prop_map(|few| {
            few.into_iter()
                .fold(AttributeSet::NONE, |set, a| set.with(AttributeSet::of(a)))
        }),
    ]
}

fn columns() -> impl Strategy<Value = Columns> {
    (
        proptest::collection::vec(any::<bool>(), 12),
        attribute_set(),
    )
        .prop_map(|(b, attributes)| Columns {
            ids: b[2],
            pages: b[9],
            visitors: b[0],
            visit: b[1],
            attributes,
            events: b[3],
            event_times: b[4],
            event_paths: b[5],
            props: b[6],
            revenue: b[7],
            provenance: b[8],
            code_visits: b[10],
            entry_events: b[11],
            approximate_starts: false,
        })
}

proptest! {
    // Each case encodes and decodes dozens of visits: 64 cases keep the
    // debug build's run short.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_column_round_trips(visits in day()) {
        let parts = encode(10 * DAY_MS, &visits);
        let read = decode_all(10 * DAY_MS, &parts, Columns::ALL, (i64::MIN, i64::MAX)).unwrap();
        let expected: Vec<VisitRecord> = visits
            .iter()
            .map(|v| VisitRecord { events_read: true, ..v.clone() })
            .collect();
        prop_assert_eq!(read, expected);
    }

    #[test]
    fn the_entry_events_name_each_event_with_an_entry_and_its_amounts(
        visits in day(),
        every in 1usize..4,
    ) {
        let parts = encode(10 * DAY_MS, &visits);
        let payload = |id: i64| unseal(&parts.iter().find(|(p, _)| *p == id).unwrap().1).unwrap();
        let (stored, revenue) = (payload(part::ENTRY_EVENTS), payload(part::REVENUE));
        let mut read = Vec::new();
        entry_events::read(10 * DAY_MS, stored, |event| {
            read.push(event);
            Ok(())
        })
        .unwrap();
        let mut expected = Vec::new();
        let mut index = 0u64;
        for (at, visit) in visits.iter().enumerate() {
            for event in &visit.events {
                if event.revenue_micros.is_some()
                    || event.currency.is_some()
                    || !visit.props_of(event).is_empty()
                {
                    expected.push(entry_events::Event {
                        index,
                        visit: at,
                        code: step_code(event.code, event.pageview),
                        ts: event.ts,
                    });
                }
                index += 1;
            }
        }
        prop_assert_eq!(read, expected);
        // Beside the revenue part, every amount at its event's time, of
        // every visit or of those selected.
        prop_assert_eq!(entry_events::visits(stored), Ok(visits.len()));
        let selected: Vec<bool> = (0..visits.len()).map(|at| at % every == 0).collect();
        for selection in [None, Some(&selected[..])] {
            let mut amounts = Vec::new();
            entry_events::amounts(10 * DAY_MS, (stored, revenue), selection, |amount| amounts.push(amount)).unwrap();
            let expected: Vec<_> = visits
                .iter()
                .enumerate()
                .filter(|(at, _)| selection.is_none_or(|selected| selected[*at]))
                .flat_map(|(_, visit)| &visit.events)
                .filter_map(|event| {
                    Some(entry_events::TimedAmount {
                        ts: event.ts,
                        micros: event.revenue_micros?,
                        currency: event.currency.unwrap_or(0),
                    })
                })
                .collect();
            prop_assert_eq!(amounts, expected);
        }
        // Beside the properties part, every event with properties, with its
        // pairs, of every visit or of those selected.
        let props = payload(part::PROPS);
        for selection in [None, Some(&selected[..])] {
            let mut told = Vec::new();
            entry_events::props(10 * DAY_MS, (stored, props), selection, |event, pairs| {
                told.push((event.visit, event.ts, pairs.to_vec()));
                Ok(())
            })
            .unwrap();
            let expected: Vec<_> = visits
                .iter()
                .enumerate()
                .filter(|(at, _)| selection.is_none_or(|selected| selected[*at]))
                .flat_map(|(at, visit)| {
                    visit.events.iter().filter_map(move |event| {
                        let pairs = visit.props_of(event);
                        (!pairs.is_empty()).then(|| (at, event.ts, pairs.to_vec()))
                    })
                })
                .collect();
            prop_assert_eq!(told, expected);
        }
        // A selection of another number of visits is damage.
        prop_assert_eq!(
            entry_events::amounts(10 * DAY_MS, (stored, revenue), Some(&[true; 1][..0]), |_| {}),
            if visits.is_empty() { Ok(()) } else { Err(Damaged) }
        );
        // Built again from the other parts, as for a day packed before the
        // part existed, it is the same.
        let mut unsealed: DayParts<'_> = [None; part::COUNT];
        for (id, bytes) in &parts {
            unsealed[*id as usize] = Some(unseal(bytes).unwrap());
        }
        unsealed[part::ENTRY_EVENTS as usize] = None;
        prop_assert_eq!(entry_events::build(10 * DAY_MS, &unsealed).unwrap(), stored);
    }

    #[test]
    fn a_subset_of_columns_reads_as_the_projection(
        visits in day(),
        columns in columns(),
        bounds in (0i64..DAY_MS, 0i64..DAY_MS),
    ) {
        let parts = encode(10 * DAY_MS, &visits);
        let (from, to) = (10 * DAY_MS + bounds.0.min(bounds.1), 10 * DAY_MS + bounds.0.max(bounds.1));
        // Only the parts of the columns are needed.
        let wanted = parts_for(columns);
        let needed: Vec<(i64, Vec<u8>)> =
            parts.into_iter().filter(|(id, _)| wanted[*id as usize]).collect();
        let read = decode_all(10 * DAY_MS, &needed, columns, (from, to)).unwrap();
        let expected: Vec<VisitRecord> = visits
            .iter()
            .filter(|v| (from..to).contains(&v.start_ts))
            .map(|v| project(v, columns))
            .collect();
        prop_assert_eq!(read, expected);
    }

    /// A gate skips visits, or takes them without their events, before
    /// their events are read: the visits it takes with their events read
    /// exactly as without it (every part's position moves past the skipped
    /// events, properties and revenue included).
    #[test]
    fn gated_visits_skip_their_events_and_the_rest_read_the_same(
        visits in day(),
        columns in columns(),
        takes in proptest::collection::vec(
            prop_oneof![Just(Take::Skip), Just(Take::Visit), Just(Take::Events)],
            24,
        ),
        reads_counters in any::<bool>(),
    ) {
        let parts = encode(10 * DAY_MS, &visits);
        let gate = ScriptedGate { takes: &takes, asked: AtomicUsize::new(0), reads_counters };
        let read = decode_gated(10 * DAY_MS, &parts, columns, (i64::MIN, i64::MAX), &gate).unwrap();
        let asked = gate.asked.into_inner();
        prop_assert_eq!(asked, visits.len());
        let expected: Vec<VisitRecord> = visits
            .iter()
            .zip(&takes)
            .filter_map(|(v, take)| match take {
                Take::Skip => None,
                Take::Visit => Some(project(v, columns.without_events())),
                Take::Events => Some(project(v, columns)),
            })
            .collect();
        prop_assert_eq!(read, expected);
    }

    /// The screen's selection of a day of up to 200 visits (columns long
    /// enough to be read eight bytes a visit) is each visit's own judgment.
    #[test]
    fn a_screens_selection_judges_each_visit_as_passes_does(
        visits in proptest::collection::vec(visit(), 0..200),
        picks in condition_picks(3),
    ) {
        let conditions = attribute_conditions(&visits, &picks);
        let parts = encode(10 * DAY_MS, &visits);
        let attributes = unseal(&parts[part::ATTRIBUTES as usize].1).unwrap().to_vec();
        let screen = DayScreen::new(Some(&attributes), visits.len(), &conditions).unwrap();
        let each: Vec<bool> = visits
            .iter()
            .map(|v| conditions.iter().all(|c| c.holds(c.attribute.get(&v.attrs))))
            .collect();
        match screen.selection(visits.len()).unwrap() {
            Some(selected) => prop_assert_eq!(selected, each),
            None => prop_assert!(conditions.is_empty()),
        }
    }

    /// A gate's attribute conditions, judged on the day's dictionaries,
    /// pass over exactly the visits that fail them (the gate is never shown
    /// one), and the rest read as without them; the pre-pass finds a visit
    /// only among those that meet them.
    #[test]
    fn attribute_conditions_pass_over_the_visits_that_fail_them(
        visits in day(),
        columns in columns(),
        picks in condition_picks(4),
    ) {
        // A query reads the attributes its conditions compare.
        let (gate, columns) = condition_gate(&visits, &picks, columns);
        let parts = encode(10 * DAY_MS, &visits);
        let read = decode_gated(10 * DAY_MS, &parts, columns, (i64::MIN, i64::MAX), &gate).unwrap();
        let expected: Vec<VisitRecord> = visits
            .iter()
            .filter(|v| gate.meets(v))
            .map(|v| project(v, columns))
            .collect();
        prop_assert_eq!(read, expected);

        let payload = |id: i64| unseal(&parts[id as usize].1).unwrap().to_vec();
        let attributes = payload(part::ATTRIBUTES);
        let screen = DayScreen::new(Some(&attributes), visits.len(), &gate.conditions).unwrap();
        // A day is rejected whole when some condition holds for no value of
        // its column (though visits may fail their conditions together).
        let some_condition_fails_every_visit = gate
            .conditions
            .iter()
            .any(|c| !visits.iter().any(|v| c.holds(c.attribute.get(&v.attrs))));
        prop_assert_eq!(screen.rejects_every_visit(), some_condition_fails_every_visit);
        for (index, visit) in visits.iter().enumerate() {
            prop_assert_eq!(screen.passes(index).unwrap(), gate.meets(visit));
        }
        let found = first_visit(
            10 * DAY_MS,
            &payload(part::STARTS),
            &payload(part::VISIT),
            (i64::MIN, i64::MAX),
            &screen,
            |_, _| true,
        )
        .unwrap()
        .is_some();
        prop_assert_eq!(found, visits.iter().any(|v| gate.meets(v)));
    }

    /// With approximate starts every visit of the whole day reads as
    /// starting at the day's first instant, its duration (and its events'
    /// offsets, when their times are read) exact, and the rest as without
    /// them, whether the attribute screen passes over visits or not.
    #[test]
    fn approximate_starts_read_from_the_days_first_instant_with_exact_durations(
        visits in day(),
        columns in columns(),
        picks in condition_picks(3),
    ) {
        let day_start = 10 * DAY_MS;
        let (gate, columns) = condition_gate(&visits, &picks, columns);
        let approximate = Columns { approximate_starts: true, ..columns };
        let parts = encode(day_start, &visits);
        let read =
            decode_gated(day_start, &parts, approximate, (day_start, day_start + DAY_MS), &gate)
                .unwrap();
        let moved = |ts: i64, start: i64| day_start.wrapping_add(ts.wrapping_sub(start));
        let expected: Vec<VisitRecord> = visits
            .iter()
            .filter(|v| gate.meets(v))
            .map(|v| {
                let mut out = project(v, columns);
                out.start_ts = day_start;
                if columns.visit {
                    out.end_ts = moved(v.end_ts, v.start_ts);
                }
                for event in &mut out.events {
                    event.ts = moved(event.ts, v.start_ts);
                }
                out
            })
            .collect();
        prop_assert_eq!(read, expected);
    }

    /// The visits a gate takes whole by their span are gathered a column at
    /// a time, each as the record the walk of the visits would have handed
    /// over, in the same order; the walk hands over the others as before.
    #[test]
    fn visits_taken_whole_by_their_span_are_gathered_as_their_records(
        visits in day(),
        columns in columns(),
        picks in condition_picks(3),
        approximate_starts in any::<bool>(),
        bounds in (0i64..DAY_MS, 0i64..DAY_MS),
        rule in (-DAY_MS..DAY_MS, 0i64..2 * DAY_MS),
        span in 0u8..3,
    ) {
        let day_start = 10 * DAY_MS;
        let (conditions, columns) = condition_gate(&visits, &picks, columns);
        // Visits gathered whole have no ids, and need the visitors and the
        // visit part.
        let columns = Columns { ids: false, visitors: true, visit: true, approximate_starts, ..columns };
        let rule = SpanRule { skip_before: day_start + rule.0, whole_until: day_start + rule.1 };
        let gate = SpanGate { conditions: &conditions.conditions, rule };
        let parts = encode(day_start, &visits);
        // The whole day, a part (the visits that start outside it are
        // skipped), or a range from the day before to the day after.
        let range = match span {
            0 => (day_start, day_start + DAY_MS),
            1 => (day_start + bounds.0.min(bounds.1), day_start + bounds.0.max(bounds.1) + 1),
            _ => (day_start - bounds.0, day_start + DAY_MS + bounds.1),
        };
        let one_by_one = decode_gated(day_start, &parts, columns, range, &gate).unwrap();
        let (handed, whole) = decode_whole(day_start, &parts, columns, range, &gate).unwrap();
        let (taken_whole, with_events): (Vec<VisitRecord>, Vec<VisitRecord>) = one_by_one
            .into_iter()
            .partition(|visit| gate.take_span(visit.start_ts, visit.end_ts) == Take::Visit);
            prop_assert_eq!(handed, with_events);
        // The visitors are gathered as their hashes.
        let hashes: Vec<u32> = taken_whole.iter().map(|v| visitor_hash(v.visitor_id)).collect();
        prop_assert_eq!(&whole.visitor_hashes, &hashes);
        let unnamed = |v: &VisitRecord| VisitRecord { visitor_id: 0, ..v.clone() };
        prop_assert_eq!(records_of(&whole), taken_whole.iter().map(unnamed).collect::<Vec<_>>());
    }

    /// A visit that lacks some step need among its events is passed over
    /// undecoded; the others read as without needs.
    #[test]
    fn visits_without_the_steps_a_gate_needs_are_passed_over(
        visits in day(),
        columns in columns(),
        picks in proptest::collection::vec(
            (0u8..4, proptest::option::of(any::<prop::sample::Index>()), 0i64..5),
            0..3,
        ),
    ) {
        // The ids of the day: codes, and the page paths of custom events.
        let ids: Vec<i64> = visits
            .iter()
            .flat_map(|v| v.events.iter().flat_map(|e| [e.code, e.pathname]))
            .collect();
        let needs: Vec<StepNeed> = picks
            .iter()
            .map(|(kind, event, other)| {
                let id = match event {
                    Some(event) if !ids.is_empty() => ids[event.index(ids.len())],
                    _ => *other,
                };
                match kind {
                    0 => StepNeed::PathOrCustom(id),
                    1 => StepNeed::Name(id),
                    2 => StepNeed::PageViewOf(id),
                    _ => StepNeed::PageView,
                }
            })
            .collect();
        let columns = Columns { events: true, ..columns };
        let gate = StepGate { needs: needs.clone() };
        let parts = encode(10 * DAY_MS, &visits);
        let read = decode_gated(10 * DAY_MS, &parts, columns, (i64::MIN, i64::MAX), &gate).unwrap();
        // A day packed before the code index existed reads the same.
        let without_index: Vec<_> = parts
            .iter()
            .filter(|(id, _)| *id != part::CODE_VISITS)
            .cloned()
            .collect();
        let searched =
            decode_gated(10 * DAY_MS, &without_index, columns, (i64::MIN, i64::MAX), &gate).unwrap();
        prop_assert_eq!(&searched, &read);
        // A need for a page view of a path or a custom event is a need for
        // a page view of the path on a day none of whose custom events is
        // on it, when the decode reads the custom events' paths.
        let custom_on = |path: i64| {
            visits
                .iter()
                .flat_map(|v| &v.events)
                .any(|e| !e.pageview && e.pathname == path)
        };
        let meets = |need: &StepNeed, event: &EventRecord| match *need {
            StepNeed::PathOrCustom(path) if columns.event_paths && !custom_on(path) => {
                event.pageview && event.code == path
            }
            StepNeed::PathOrCustom(path) => !event.pageview || event.code == path,
            StepNeed::PageViewOf(path) => event.pageview && event.code == path,
            StepNeed::Name(name) => !event.pageview && event.code == name,
            StepNeed::PageView => event.pageview,
        };
        let expected: Vec<VisitRecord> = visits
            .iter()
            .filter(|v| needs.iter().all(|need| v.events.iter().any(|e| meets(need, e))))
            .map(|v| project(v, columns))
            .collect();
        prop_assert_eq!(read, expected);
    }

    /// The code index lists, for each code, exactly the visits that hold
    /// it; it is what the steps part alone gives; and its selection for any
    /// needs is the search of every visit's codes.
    #[test]
    fn the_code_index_lists_each_codes_visits_as_the_steps_do(
        visits in day(),
        picks in proptest::collection::vec((0u8..4, 0i64..50), 0..3),
    ) {
        let parts = encode(10 * DAY_MS, &visits);
        let payload = |id: i64| unseal(&parts.iter().find(|(p, _)| *p == id).unwrap().1).unwrap().to_vec();
        let (index, steps) = (payload(part::CODE_VISITS), payload(part::STEPS));
        prop_assert_eq!(&code_visits::build(&steps, visits.len()).unwrap(), &index);
        let needs: Vec<StepNeed> = picks
            .iter()
            .map(|&(kind, id)| match kind {
                0 => StepNeed::PathOrCustom(id),
                1 => StepNeed::Name(id),
                2 => StepNeed::PageViewOf(id),
                _ => StepNeed::PageView,
            })
            .collect();
        let patterns = step_patterns(&needs);
        let mut at = 1;
        let searched: Vec<bool> = (0..visits.len())
            .map(|_| has_steps(next_codes(&steps, &mut at).unwrap(), &patterns))
            .collect();
        match code_visits::selection(&index, visits.len(), &needs).unwrap() {
            Some(selected) => prop_assert_eq!(selected, searched),
            None => prop_assert!(needs.iter().all(|n| *n == StepNeed::PageView)),
        }
        // Its holders of groups of codes are those the steps hold, up to
        // the last visit that holds any.
        let groups: Vec<Vec<u64>> = picks
            .iter()
            .map(|&(kind, id)| vec![step_code(id, kind != 1), step_code(id + 1, true)])
            .collect();
        let bits_of = |code: u64| {
            groups
                .iter()
                .enumerate()
                .fold(0u8, |bits, (g, group)| bits | u8::from(group.contains(&code)) << g)
        };
        let mut at = 1;
        let mut held: Vec<u8> = (0..visits.len())
            .map(|_| {
                let codes = next_codes(&steps, &mut at).unwrap();
                let mut within = 0;
                let mut bits = 0u8;
                while within < codes.len() {
                    let code = crate::varint::get_varint(codes, &mut within).unwrap();
                    for (g, group) in groups.iter().enumerate() {
                        bits |= u8::from(group.contains(&code)) << g;
                    }
                }
                bits
            })
            .collect();
        prop_assert_eq!(&code_visits::holders(&index, visits.len(), bits_of).unwrap(), &held);
        while held.last() == Some(&0) {
            held.pop();
        }
        prop_assert_eq!(code_visits::holders(&index, 0, bits_of).unwrap(), held);
        // Its count of each code's events per selected visit is what the
        // steps hold, code by code.
        let selected: Vec<bool> = (0..visits.len()).map(|v| (v + picks.len()) % 3 != 0).collect();
        let mut expected: Vec<(u64, usize, u64)> = Vec::new();
        let mut at = 1;
        for (visit, selected) in selected.iter().enumerate() {
            let codes = next_codes(&steps, &mut at).unwrap();
            let mut within = 0;
            while within < codes.len() {
                let code = crate::varint::get_varint(codes, &mut within).unwrap();
                if *selected && code % 5 != 1 {
                    expected.push((code, visit, 1));
                }
            }
        }
        expected.sort_unstable();
        expected.dedup_by(|later, earlier| {
            let same = (later.0, later.1) == (earlier.0, earlier.1);
            if same {
                earlier.2 += 1;
            }
            same
        });
        let mut told = Vec::new();
        code_visits::tally(&index, visits.len(), Some(&selected), |code| code % 5 != 1, |code, holders| {
            // A code is handed over once, with at least one visit.
            assert!(!holders.is_empty() && told.last().is_none_or(|&(last, _, _)| last < code));
            told.extend(holders.iter().map(|&(visit, times)| (code, visit, times)));
        })
        .unwrap();
        prop_assert_eq!(&told, &expected);
        // Without a selection, every visit is counted.
        let mut all = 0;
        code_visits::tally(&index, visits.len(), None, |_| true, |_, holders| {
            all += holders.iter().map(|&(_, times)| times).sum::<u64>();
        })
        .unwrap();
        prop_assert_eq!(all, visits.iter().map(|v| v.events.len() as u64).sum::<u64>());
        // Another day's index does not match these steps, unless it is the
        // same.
        let mut other = visits.clone();
        if let Some(visit) = other.first_mut() {
            visit.events.push(EventRecord { pageview: true, code: 1_000, pathname: 1_000, ..EventRecord::default() });
            let other_parts = encode(10 * DAY_MS, &other);
            let other_index = other_parts.iter().find(|(id, _)| *id == part::CODE_VISITS).map(|(_, bytes)| unseal(bytes).unwrap().to_vec()).unwrap();
            prop_assert_ne!(code_visits::build(&steps, visits.len()).unwrap(), other_index);
        }
    }

    /// The walk over a day's entries finds each event with revenue or
    /// properties of the selected visits, with its code, its amount and
    /// its pairs, as the visits hold them; with only the revenue read, the
    /// events with revenue alone.
    #[test]
    fn the_entries_walk_tells_each_entrys_code_and_visit(
        visits in day(),
        every in 1usize..4,
    ) {
        let parts = encode(10 * DAY_MS, &visits);
        let payload = |id: i64| unseal(&parts.iter().find(|(p, _)| *p == id).unwrap().1).unwrap().to_vec();
        let (steps, revenue, props) = (payload(part::STEPS), payload(part::REVENUE), payload(part::PROPS));
        let entry_events = payload(part::ENTRY_EVENTS);
        let selected: Vec<bool> = (0..visits.len()).map(|v| v % every == 0).collect();
        type Told = (usize, u64, (Option<i64>, Option<i64>), Vec<(i64, i64)>);
        for with_props in [true, false] {
            let expected: Vec<Told> = visits
                .iter()
                .enumerate()
                .filter(|(at, _)| selected[*at])
                .flat_map(|(at, visit)| {
                    visit.events.iter().filter_map(move |event| {
                        let amount = (event.revenue_micros, event.currency);
                        let pairs = if with_props { visit.props_of(event).to_vec() } else { Vec::new() };
                        (amount != (None, None) || !pairs.is_empty())
                            .then(|| (at, step_code(event.code, event.pageview), amount, pairs))
                    })
                })
                .collect();
            let mut told: Vec<Told> = Vec::new();
            code_entries::walk(
                &steps,
                visits.len(),
                (Some(&revenue), with_props.then_some(&props[..])),
                Some(&selected),
                |event| told.push((event.visit, event.code, event.revenue, event.props.to_vec())),
            )
            .unwrap();
            prop_assert_eq!(&told, &expected);
            // The same from the entry events instead of the steps.
            let mut told: Vec<Told> = Vec::new();
            code_entries::walk_indexed(
                &entry_events,
                visits.len(),
                (Some(&revenue), with_props.then_some(&props[..])),
                Some(&selected),
                |event| told.push((event.visit, event.code, event.revenue, event.props.to_vec())),
            )
            .unwrap();
            prop_assert_eq!(told, expected);
        }
        // An entry past the day's last event is damage.
        let mut beyond = Vec::new();
        put_varint(&mut beyond, 1);
        put_varint(&mut beyond, visits.iter().map(|v| v.events.len() as u64).sum::<u64>());
        beyond.extend([1, 2]);
        prop_assert_eq!(
            code_entries::walk(&steps, visits.len(), (Some(&beyond), None), None, |_| {}).err(),
            Some(Damaged)
        );
        // So is, from the entry events, an entry whose event they do not
        // name, or an entry event of a visit beyond the day's.
        prop_assert_eq!(
            code_entries::walk_indexed(&entry_events, visits.len(), (Some(&beyond), None), None, |_| {}).err(),
            Some(Damaged)
        );
        let mut stray = Vec::new();
        let count = visits.len() as u64;
        for varint in [count, 1, 0, count, 0, 0] {
            put_varint(&mut stray, varint);
        }
        prop_assert_eq!(
            code_entries::walk_indexed(&stray, visits.len(), (None, None), None, |_| {}).err(),
            Some(Damaged)
        );
        // And entry events of a day of another number of visits.
        prop_assert_eq!(
            code_entries::walk_indexed(&entry_events, visits.len() + 1, (None, None), None, |_| {}).err(),
            Some(Damaged)
        );
    }

    /// A visit whose event codes the gate rules out is passed over
    /// undecoded; the others read as without the gate's screen.
    #[test]
    fn visits_whose_codes_the_gate_rules_out_are_passed_over(
        visits in day(),
        columns in columns(),
        picks in proptest::collection::vec(
            (any::<bool>(), proptest::option::of(any::<prop::sample::Index>()), 0i64..5),
            0..3,
        ),
        by_index in any::<bool>(),
    ) {
        let codes: Vec<(bool, i64)> = visits
            .iter()
            .flat_map(|v| v.events.iter().map(|e| (e.pageview, e.code)))
            .collect();
        let counted = picks
            .iter()
            .map(|(pageview, event, other)| match event {
                Some(event) if !codes.is_empty() => codes[event.index(codes.len())],
                _ => (*pageview, *other),
            })
            .collect();
        let gate = CodeGate { counted, by_index, searched: AtomicUsize::new(0) };
        let columns = Columns { events: true, ..columns };
        let parts = encode(10 * DAY_MS, &visits);
        let read = decode_gated(10 * DAY_MS, &parts, columns, (i64::MIN, i64::MAX), &gate).unwrap();
        let expected: Vec<VisitRecord> = visits
            .iter()
            .filter(|v| v.events.iter().any(|e| gate.counts(e)))
            .map(|v| project(v, columns))
            .collect();
        prop_assert_eq!(read, expected);
        // A gate that screens code by code is answered by the code index,
        // when it is read: no visit's codes are searched.
        if by_index && columns.code_visits {
            prop_assert_eq!(gate.searched.load(Ordering::Relaxed), 0);
        }
    }

    /// The visits whose events carry revenue, properties or a property key
    /// are found from the steps and the part that holds them; a gate that
    /// needs one reads only those visits when the part is read, and every
    /// visit otherwise.
    #[test]
    fn visits_without_the_entries_the_gate_needs_are_passed_over(
        visits in day(),
        columns in columns(),
        key in 0i64..8,
    ) {
        let parts = encode(10 * DAY_MS, &visits);
        let payload = |id: i64| unseal(&parts.iter().find(|(p, _)| *p == id).unwrap().1).unwrap().to_vec();
        let steps = payload(part::STEPS);
        for need in [EntryNeed::Revenue, EntryNeed::Props { key: None }, EntryNeed::Props { key: Some(key) }] {
            let holder = match need {
                EntryNeed::Revenue => part::REVENUE,
                EntryNeed::Props { .. } => part::PROPS,
            };
            let expected: Vec<bool> = visits.iter().map(|v| carries(v, need)).collect();
            prop_assert_eq!(entry_holders(&steps, visits.len(), &payload(holder), need).unwrap(), expected);
            let columns = Columns { events: true, ..columns };
            let read = decode_gated(10 * DAY_MS, &parts, columns, (i64::MIN, i64::MAX), &EntryGate { need }).unwrap();
            let screened = match need {
                EntryNeed::Revenue => columns.revenue,
                EntryNeed::Props { .. } => columns.props,
            };
            let expected: Vec<VisitRecord> = visits
                .iter()
                .filter(|v| !screened || carries(v, need))
                .map(|v| project(v, columns))
                .collect();
            prop_assert_eq!(read, expected);
        }
    }

    /// A gate's property needs select, from the entry events, exactly the
    /// visits with an event that carries each, of those that meet its
    /// attribute conditions; read without the entry events (a day packed
    /// before them), every visit that meets them is taken.
    #[test]
    fn visits_without_the_properties_the_gate_needs_are_passed_over(
        visits in day(),
        columns in columns(),
        condition_picks in condition_picks(3),
        picks in proptest::collection::vec(
            (any::<proptest::sample::Index>(), any::<bool>(), 0i64..50),
            1..4,
        ),
    ) {
        let needs = prop_needs(&visits, &picks);
        let (screen, columns) = condition_gate(&visits, &condition_picks, columns);
        let gate = PropGate { screen, needs };
        let holds = |v: &VisitRecord| gate.needs.iter().all(|&need| carries_prop(v, need));
        let parts = encode(10 * DAY_MS, &visits);
        let payload = |id: i64| unseal(&parts.iter().find(|(p, _)| *p == id).unwrap().1).unwrap().to_vec();
        let held = entry_events::prop_holders(
            10 * DAY_MS,
            (&payload(part::ENTRY_EVENTS), &payload(part::PROPS)),
            visits.len(),
            &gate.needs,
        )
        .unwrap();
        prop_assert_eq!(held, visits.iter().map(holds).collect::<Vec<_>>());
        for entry_events in [true, false] {
            let columns = Columns { events: true, props: true, entry_events, ..columns };
            let read = decode_gated(10 * DAY_MS, &parts, columns, (i64::MIN, i64::MAX), &gate).unwrap();
            let expected: Vec<VisitRecord> = visits
                .iter()
                .filter(|v| gate.screen.meets(v) && (!entry_events || holds(v)))
                .map(|v| project(v, columns))
                .collect();
            prop_assert_eq!(read, expected);
        }
        // Entry events of another number of visits are damaged.
        let more = entry_events::encode(10 * DAY_MS, visits.len() + 1, &entry_events::of_visits(&visits));
        prop_assert!(entry_events::prop_holders(10 * DAY_MS, (&more, &payload(part::PROPS)), visits.len(), &gate.needs).is_err());
    }

    /// The visits read from the entry events are the decoded ones that
    /// meet the gate's attribute conditions and property needs, with their
    /// events that carry properties alone (every field of them), their ids
    /// and attributes, their start and end at the day's start and nothing
    /// else read; and only the parts said are read.
    #[test]
    fn visits_with_properties_from_the_entry_events_equal_the_decoded_ones(
        visits in day(),
        condition_picks in condition_picks(3),
        picks in proptest::collection::vec(
            (any::<proptest::sample::Index>(), any::<bool>(), 0i64..50),
            0..3,
        ),
    ) {
        let (screen, _) = condition_gate(&visits, &condition_picks, Columns::ALL);
        let gate = PropGate { screen, needs: prop_needs(&visits, &picks) };
        let parts = encode(10 * DAY_MS, &visits);
        let decoded = decode_all(10 * DAY_MS, &parts, Columns::ALL, (i64::MIN, i64::MAX)).unwrap();
        let expected: Vec<VisitRecord> = decoded
            .iter()
            .filter(|v| gate.screen.meets(v) && gate.needs.iter().all(|&need| carries_prop(v, need)))
            .map(|v| {
                let mut kept = VisitRecord {
                    id: v.id,
                    attrs: v.attrs,
                    start_ts: 10 * DAY_MS,
                    end_ts: 10 * DAY_MS,
                    events_read: true,
                    ..VisitRecord::default()
                };
                for event in &v.events {
                    let pairs = v.props_of(event);
                    if !pairs.is_empty() {
                        let first = kept.props.len() as u32;
                        kept.props.extend_from_slice(pairs);
                        kept.events.push(EventRecord { props: (first, kept.props.len() as u32), ..*event });
                    }
                }
                kept
            })
            .filter(|v| !v.events.is_empty())
            .collect();
        let mut wanted: DayParts<'_> = [None; part::COUNT];
        for (id, bytes) in &parts {
            if VISITS_WITH_PROPS_PARTS[*id as usize] {
                wanted[*id as usize] = Some(unseal(bytes).unwrap());
            }
        }
        let mut got = Vec::new();
        let mut record = VisitRecord::default();
        visits_with_props(10 * DAY_MS, &wanted, &gate, &mut record, |v| got.push(v.clone())).unwrap();
        prop_assert_eq!(got, expected);
    }

    /// A code held by many visits (lists of one-byte gaps, read eight at a
    /// time) is counted, with how often each visit holds it, and screened
    /// as its pairs say; a list that names a visit past the day's last is
    /// damaged, wherever in a run of eight it is and however large the
    /// eight gaps' sum.
    #[test]
    fn long_lists_of_visits_read_as_their_pairs(
        holders in proptest::collection::btree_set(0u32..700, 1..500),
        repeat_every in 2u32..9,
        spread in prop_oneof![Just(1u32), 1u32..90],
    ) {
        // Spread out, eight gaps of one byte add up past 255.
        let holders: std::collections::BTreeSet<u32> = holders.iter().map(|&v| v * spread).collect();
        let count = 700 * spread as usize;
        // Code 2 (a page view) held once by each visit, twice by some.
        let mut pairs: Vec<(u64, u32)> = holders.iter().map(|&visit| (2, visit)).collect();
        pairs.extend(holders.iter().filter(|&&v| v % repeat_every == 0).map(|&v| (2, v)));
        let index = code_visits::from_pairs(pairs);
        let expected: Vec<(usize, u64)> = holders
            .iter()
            .map(|&v| (v as usize, if v % repeat_every == 0 { 2 } else { 1 }))
            .collect();
        let mut counted = Vec::new();
        code_visits::tally(&index, count, None, |_| true, |_, held| counted.extend_from_slice(held)).unwrap();
        prop_assert_eq!(&counted, &expected);
        let selected = code_visits::selection(&index, count, &[StepNeed::PageViewOf(1)]).unwrap().unwrap();
        let marked: Vec<usize> = (0..count).filter(|&v| selected[v]).collect();
        prop_assert_eq!(marked, expected.iter().map(|&(v, _)| v).collect::<Vec<_>>());
        // A day with fewer visits than the list names.
        let last = *holders.last().unwrap() as usize;
        let too_few = code_visits::tally(&index, last, None, |_| true, |_, _| ());
        prop_assert!(too_few.is_err());
        prop_assert!(code_visits::selection(&index, last, &[StepNeed::PageViewOf(1)]).is_err());
    }

    /// Skipping varints lands where reading them one by one does, and
    /// fails when fewer are left.
    #[test]
    fn skipping_varints_lands_after_the_last_one_skipped(
        values in proptest::collection::vec(
            prop_oneof![0u64..128, 0u64..(1 << 24), any::<u64>()],
            0..40,
        ),
        skip in 0usize..45,
        lead in 0usize..3,
    ) {
        let mut bytes = vec![0x80; lead];
        bytes.push(0);
        for &value in &values {
            crate::varint::put_varint(&mut bytes, value);
        }
        let mut at = lead + 1;
        let outcome = skip_varints(&bytes, &mut at, skip as u64);
        if skip <= values.len() {
            let mut expected = lead + 1;
            for _ in 0..skip {
                crate::varint::get_varint(&bytes, &mut expected).unwrap();
            }
            prop_assert_eq!(outcome, Ok(()));
            prop_assert_eq!(at, expected);
        } else {
            prop_assert_eq!(outcome, Err(Damaged));
        }
    }

    /// The pre-pass finds a visit by its start and end, within the range.
    #[test]
    fn first_visit_finds_the_visits_of_the_range_by_start_and_end(
        visits in day(),
        bounds in (0i64..DAY_MS, 0i64..DAY_MS),
        longer_than in 0i64..100_000,
    ) {
        let parts = encode(10 * DAY_MS, &visits);
        let (from, to) = (10 * DAY_MS + bounds.0.min(bounds.1), 10 * DAY_MS + bounds.0.max(bounds.1));
        let payload = |id: i64| unseal(&parts[id as usize].1).unwrap().to_vec();
        let found = first_visit(
            10 * DAY_MS,
            &payload(part::STARTS),
            &payload(part::VISIT),
            (from, to),
            &DayScreen::default(),
            |start, end| end - start > longer_than,
        )
        .unwrap();
        let expected = visits
            .iter()
            .find(|v| (from..to).contains(&v.start_ts) && v.end_ts - v.start_ts > longer_than)
            .map(|v| v.start_ts);
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn any_changed_byte_fails_the_checksum(
        visits in day(),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut parts = encode(10 * DAY_MS, &visits);
        let which = which.index(parts.len());
        let bytes = &mut parts[which].1;
        let at = at.index(bytes.len());
        bytes[at] ^= flip;
        prop_assert_eq!(unseal(bytes), Err(Damaged));
    }

    /// The property of the fuzz target `day_segment`: arbitrary bytes as any
    /// part never panic.

    /// A segment packed before region and city existed (its attributes
    /// part ends after the flags) reads them as unknown and everything
    /// else as it was; a filter on a known region passes over the whole
    /// day, one on an unknown region takes every visit.
    #[test]
    fn a_segment_packed_before_region_and_city_reads_them_as_unknown(visits in day()) {
        prop_assume!(!visits.is_empty());
        let mut parts = encode(10 * DAY_MS, &visits);
        let attributes = unseal(&parts[part::ATTRIBUTES as usize].1).unwrap().to_vec();
        // Keep the columns before region and city.
        let mut at = 0;
        for _ in 0..Attribute::COUNT - Attribute::ADDED_LATER.len() {
            let len = get_varint(&attributes, &mut at).unwrap() as usize;
            at += len;
        }
        parts[part::ATTRIBUTES as usize].1 = seal(attributes[..at].to_vec());
        let old: Vec<VisitRecord> = visits
            .iter()
            .map(|v| {
                let mut v = VisitRecord { events_read: true, ..v.clone() };
                v.attrs.region = None;
                v.attrs.city = None;
                v
            })
            .collect();
        prop_assert_eq!(
            decode_all(10 * DAY_MS, &parts, Columns::ALL, (i64::MIN, i64::MAX)).unwrap(),
            old
        );
        let payload = unseal(&parts[part::ATTRIBUTES as usize].1).unwrap().to_vec();
        let condition = |value: Option<i64>| AttributeCondition {
            attribute: Attribute::Region,
            value,
            is: true,
        };
        let known = DayScreen::new(Some(&payload), visits.len(), &[condition(Some(7))]).unwrap();
        prop_assert!(known.rejects_every_visit());
        let unknown = DayScreen::new(Some(&payload), visits.len(), &[condition(None)]).unwrap();
        prop_assert_eq!(unknown.selection(visits.len()).unwrap(), Some(vec![true; visits.len()]));
    }

    /// Counting varint ends eight bytes at a time counts every byte without
    /// the high bit.
    #[test]
    fn odd_varints_are_the_varints_whose_first_byte_is_odd(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut expected = 0;
        let mut first = true;
        for &byte in &bytes {
            expected += u64::from(first && byte & 1 == 1);
            first = byte < 0x80;
        }
        prop_assert_eq!(odd_varints(&bytes), expected);
        prop_assert_eq!(odd_varints(&bytes), custom_events(&bytes));
    }

    #[test]
    fn varint_ends_are_the_bytes_without_the_high_bit(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(
            varint_ends(&bytes),
            bytes.iter().filter(|&&byte| byte < 0x80).count() as u64
        );
    }

    /// Valid parts cut short or extended decode as damaged, never panic.
    #[test]
    fn truncated_or_extended_parts_are_damaged(
        visits in day(),
        which in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        extra in proptest::collection::vec(any::<u8>(), 1..4),
    ) {
        prop_assume!(!visits.is_empty());
        let parts = encode(10 * DAY_MS, &visits);
        let which = which.index(parts.len());
        let payload = unseal(&parts[which].1).unwrap().to_vec();
        for changed in [
            // (A part may be empty, e.g. the paths of a day without custom
            // events: `Index` cannot pick from nothing.)
            payload[..cut.index(payload.len().max(1)).min(payload.len())].to_vec(),
            [payload.clone(), extra.clone()].concat(),
        ] {
            let mut damaged = parts.clone();
            damaged[which].1 = seal(changed.clone());
            // A visits part of 8-byte ids cut by a multiple of 8 bytes, or
            // an entries list followed by nothing, may still be consistent;
            // whatever decodes must not panic.
            let _ = decode_all(10 * DAY_MS, &damaged, Columns::ALL, (i64::MIN, i64::MAX));
            // The entry events say how many they hold: any cut or extension
            // is damaged.
            if parts[which].0 == part::ENTRY_EVENTS {
                prop_assert_eq!(entry_events::read(10 * DAY_MS, &changed, |_| Ok(())), Err(Damaged));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The property of the fuzz target `day_segment`: arbitrary bytes as any
    /// part never panic.
    #[test]
    fn arbitrary_bytes_as_a_part_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = fuzz_decode(&data);
    }
}

#[test]
fn the_sample_day_round_trips_and_decodes_for_the_fuzz_target() {
    let visits = sample_day(10 * DAY_MS);
    let parts = encode(10 * DAY_MS, &visits);
    assert_eq!(
        decode_all(10 * DAY_MS, &parts, Columns::ALL, (i64::MIN, i64::MAX)).unwrap(),
        visits
    );
    // The fuzz target replaces a part with its own bytes: the part itself
    // decodes, a changed one does not.
    let steps = unseal(&encode(0, &sample_day(0))[1].1).unwrap().to_vec();
    assert_eq!(fuzz_decode(&[[1u8].as_slice(), &steps].concat()), Some(3));
    assert_eq!(fuzz_decode(&[[1u8].as_slice(), &steps[1..]].concat()), None);
    assert_eq!(fuzz_decode(&[]), None);
    // Through the gate with a condition, a step need and a property need,
    // the visits that meet all three (the first one at least).
    let sample = sample_day(0);
    let source = sample[0].attrs.referrer_source;
    let path = sample[0].events[0].pathname;
    let property = sample[0].props[0];
    let meeting = sample
        .iter()
        .filter(|v| {
            v.attrs.referrer_source == source
                && v.events.iter().any(|e| !e.pageview || e.pathname == path)
                && v.events.iter().any(|e| v.props_of(e).contains(&property))
        })
        .count();
    assert!(meeting >= 1);
    // And then through the gate that takes the visits with the source by
    // their span: all but those it skips, with their events or whole.
    let fuzz_gate = FuzzGate::new();
    let by_span = SpanGate {
        conditions: &fuzz_gate.conditions,
        rule: SpanGate::FUZZ_RULE,
    };
    assert!(
        sample
            .iter()
            .any(|v| by_span.take_span(v.start_ts, v.end_ts) == Take::Visit)
    );
    let taken = sample
        .iter()
        .filter(|v| {
            v.attrs.referrer_source == source
                && by_span.take_span(v.start_ts, v.end_ts) != Take::Skip
        })
        .count();
    assert!(taken >= 1);
    assert_eq!(
        fuzz_decode(&[[0x71u8].as_slice(), &steps].concat()),
        Some(meeting + taken)
    );
}

/// A gate that takes whole a visit lasting the whole day is asked about
/// the visits that run past the day one by one: those that end after what
/// it takes whole are taken with their events.
#[test]
fn visits_running_past_the_day_are_asked_about_one_by_one() {
    let day_start = 10 * DAY_MS;
    let minute = 60_000;
    let sample = sample_day(day_start);
    let visit = |start: i64, end: i64| VisitRecord {
        start_ts: day_start + start,
        end_ts: day_start + end,
        ..sample[0].clone()
    };
    let visits = vec![
        visit(0, 10 * minute),
        visit(DAY_MS - 20 * minute, DAY_MS - minute),
        visit(DAY_MS - 10 * minute, DAY_MS + 20 * minute),
        visit(DAY_MS - 5 * minute, DAY_MS + 45 * minute),
    ];
    let rule = SpanRule {
        skip_before: day_start,
        whole_until: day_start + DAY_MS + 30 * minute,
    };
    let gate = SpanGate {
        conditions: &[],
        rule,
    };
    let parts = encode(day_start, &visits);
    let columns = Columns {
        ids: false,
        ..Columns::ALL
    };
    let range = (day_start, day_start + DAY_MS);
    let (handed, whole) = decode_whole(day_start, &parts, columns, range, &gate).unwrap();
    assert_eq!(
        whole.starts,
        visits[..3].iter().map(|v| v.start_ts).collect::<Vec<_>>()
    );
    assert_eq!(handed, vec![project(&visits[3], columns)]);
}

#[test]
fn dictionary_columns_of_one_value_take_no_bits_per_visit() {
    let mut one = Vec::new();
    put_dict(&mut one, &[Some(5); 1000]);
    // Count, no None, the value.
    assert_eq!(one, vec![1, 0, 10]);
    let mut two = Vec::new();
    put_dict(&mut two, &[None, Some(3), None, None]);
    // Two values, None first (most frequent), then 3; one bit a visit.
    assert_eq!(two, vec![2, 1, 6, 0b0010]);
    let mut at = 0;
    let column = DictColumn::read(&two, &mut at, 4).unwrap();
    assert_eq!(at, two.len());
    let values: Vec<_> = (0..4).map(|i| column.get(i).unwrap()).collect();
    assert_eq!(values, vec![None, Some(3), None, None]);
}

#[test]
fn a_page_need_is_a_page_view_need_on_a_day_without_custom_events_on_the_page() {
    // Custom events on paths 300 (two bytes: 0xAC 0x02) and 7.
    let mut paths = Vec::new();
    put_varint(&mut paths, 300);
    put_varint(&mut paths, 7);
    let needs = [
        StepNeed::PathOrCustom(7),
        StepNeed::PathOrCustom(300),
        // The second byte of 300's varint is not a custom event on path 2.
        StepNeed::PathOrCustom(2),
        StepNeed::Name(3),
        StepNeed::PageView,
    ];
    assert_eq!(
        day_step_needs(&needs, Some(&paths)),
        [
            StepNeed::PathOrCustom(7),
            StepNeed::PathOrCustom(300),
            StepNeed::PageViewOf(2),
            StepNeed::Name(3),
            StepNeed::PageView,
        ]
    );
    // Without the paths nothing is narrowed.
    assert_eq!(day_step_needs(&needs, None), needs);
}

/// A gate with attribute conditions only, for the choice between the code
/// index and the decoding.
struct AttributeGate(Vec<AttributeCondition>);

impl VisitGate for AttributeGate {
    fn take(&self, _: &VisitRecord) -> Take {
        Take::Events
    }

    fn attribute_conditions(&self) -> &[AttributeCondition] {
        &self.0
    }
}

/// A day is counted from its code index when at least an eighth of its
/// visits (judged from every sixteenth) meet the conditions.
#[test]
fn the_code_index_is_read_when_enough_visits_are_counted() {
    // 128 visits, of which every sixteenth is judged: the first has source
    // 1, the other seven judged source 2, and the rest source 2 or 3.
    let visits: Vec<VisitRecord> = (0..128i64)
        .map(|at| {
            let mut visit = sample_day(0)[0].clone();
            visit.id = at;
            visit.start_ts = at * 1_000;
            visit.end_ts = at * 1_000 + 10;
            visit.attrs.referrer_source = Some(match at {
                0 => 1,
                _ if at % 16 == 0 || at % 2 == 0 => 2,
                _ => 3,
            });
            visit
        })
        .collect();
    let parts = encode(0, &visits);
    let mut unsealed: DayParts<'_> = [None; part::COUNT];
    for (id, bytes) in &parts {
        unsealed[*id as usize] = Some(unseal(bytes).unwrap());
    }
    let source = |value: i64| {
        AttributeGate(vec![AttributeCondition {
            attribute: Attribute::Source,
            value: Some(value),
            is: true,
        }])
    };
    // An eighth of the judged visits: enough.
    assert!(codes_worth_reading(&unsealed, &source(1)).unwrap());
    assert!(codes_worth_reading(&unsealed, &source(2)).unwrap());
    // No judged visit: the day is decoded, which passes over the others.
    assert!(!codes_worth_reading(&unsealed, &source(3)).unwrap());
    assert!(!codes_worth_reading(&unsealed, &source(4)).unwrap());
    // Without conditions every visit counts.
    assert!(codes_worth_reading(&unsealed, &AttributeGate(Vec::new())).unwrap());
}
