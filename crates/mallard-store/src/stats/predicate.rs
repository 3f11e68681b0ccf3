//! Filters compiled into predicates over [`VisitRecord`]s.
//!
//! A query's filters are compiled once: each value is resolved to the id it
//! compares with (a dimension string's id, a device code, a screen width),
//! exactly as the SQL conditions of [`super::raw::conditions`] resolve them, so
//! both paths agree on every filter:
//!
//! - `(unknown)` stands for a missing value; the device `(unknown)` is the
//!   device class `Unknown`, which every visit without one has;
//! - a value that was never stored matches nothing with `==` and everything
//!   with `!=`;
//! - `!=` holds for a missing value (SQL's `IS NOT`);
//! - `page` compares every event's path (custom events included), `event` the
//!   event's name (`pageview` names the page views), `props.KEY` the event's
//!   property pairs (an event without the key has the value `(unknown)`).
//!
//! Filters on visit-level dimensions hold or fail for a whole visit
//! ([`Predicate::visit_matches`]); the others for one event
//! ([`Predicate::event_matches`]). A filter that can never hold makes the
//! predicate [`Predicate::matches_nothing`]: the query answers an empty result
//! without reading a visit.

use mallard_core::filter::UNKNOWN_VALUE;
use mallard_core::{Dimension, Filter, FilterOp};
use rusqlite::Connection;

use super::labels::dim_id;
use super::raw::{Target, pageview_id, resolve};
use crate::dims::DimKind;
use crate::error::StoreError;
use crate::visit_record::{
    Attribute, AttributeCondition, AttributeSet, Columns, EventRecord, PropNeed, StepNeed, Take,
    VisitGate, VisitRecord,
};

/// A visit-level field a filter compares: the visit's entry or exit page,
/// or one of its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VisitField {
    EntryPage,
    ExitPage,
    Attribute(Attribute),
}

impl VisitField {
    fn of(dimension: &Dimension) -> Option<Self> {
        Some(match dimension {
            Dimension::EntryPage => Self::EntryPage,
            Dimension::ExitPage => Self::ExitPage,
            dimension => Self::Attribute(Attribute::of(dimension)?),
        })
    }

    /// The field's value in `visit`; `None` when missing.
    #[inline]
    fn value(self, visit: &VisitRecord) -> Option<i64> {
        match self {
            Self::EntryPage => visit.entry_page,
            Self::ExitPage => visit.exit_page,
            Self::Attribute(attribute) => attribute.get(&visit.attrs),
        }
    }

    /// The columns holding the field.
    fn columns(self) -> Columns {
        match self {
            Self::EntryPage | Self::ExitPage => Columns {
                visit: true,
                pages: true,
                ..Columns::default()
            },
            Self::Attribute(attribute) => Columns {
                attributes: AttributeSet::of(attribute),
                ..Columns::default()
            },
        }
    }
}

/// One condition on a visit: its field equals `value` (`None`: is missing),
/// or with `is == false` differs from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VisitCondition {
    field: VisitField,
    value: Option<i64>,
    is: bool,
}

/// What one condition on an event compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventTest {
    /// The event's path is this id.
    Path(i64),
    /// The event's path is one of the set of this index in
    /// [`Predicate::path_sets`] (a `page` pattern's matches).
    PathIn(usize),
    /// The event is a page view (the `pageview` name).
    PageView,
    /// The event is a custom event of this name id.
    Name(i64),
    /// The event has property `key` (with value `Some(value)`, or any value).
    Prop { key: i64, value: Option<i64> },
}

/// One condition on an event: its test holds (`is`) or fails (`!is`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EventCondition {
    test: EventTest,
    is: bool,
}

/// A query's filters, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Predicate {
    visit: Vec<VisitCondition>,
    /// The conditions of `visit` on attributes, for day segments to test on
    /// their dictionaries ([`crate::visit_record::VisitGate::attribute_conditions`]).
    attributes: Vec<AttributeCondition>,
    event: Vec<EventCondition>,
    /// What the conditions of `event` that must hold need among a visit's
    /// event codes ([`crate::visit_record::VisitGate::step_needs`]).
    steps: Vec<StepNeed>,
    /// The properties the conditions of `event` that must hold need among
    /// a visit's events ([`crate::visit_record::VisitGate::prop_needs`]).
    props: Vec<PropNeed>,
    /// The path ids each `page` pattern matches ([`EventTest::PathIn`]).
    path_sets: Vec<super::id_set::IdSet>,
    nothing: bool,
}

/// What one filter compiles to.
enum Compiled {
    Always,
    Never,
    Visit(VisitCondition),
    Event(EventCondition),
    /// The event's path is (`true`) or is not one of these ids.
    PathIn(std::collections::HashSet<i64>, bool),
}

impl Predicate {
    /// Compiles `filters`, resolving their values with `conn`.
    pub(crate) fn compile(conn: &Connection, filters: &[Filter]) -> Result<Self, StoreError> {
        let mut predicate = Self::default();
        for filter in filters {
            match compile_one(conn, filter)? {
                Compiled::Always => {}
                Compiled::Never => predicate.nothing = true,
                Compiled::Visit(condition) => predicate.visit.push(condition),
                Compiled::Event(condition) => predicate.event.push(condition),
                Compiled::PathIn(paths, is) => {
                    predicate.event.push(EventCondition {
                        test: EventTest::PathIn(predicate.path_sets.len()),
                        is,
                    });
                    predicate.path_sets.push(paths.into());
                }
            }
        }
        if predicate.nothing {
            predicate.visit.clear();
            predicate.event.clear();
        }
        predicate.attributes = predicate
            .visit
            .iter()
            .filter_map(|condition| match condition.field {
                VisitField::Attribute(attribute) => Some(AttributeCondition {
                    attribute,
                    value: condition.value,
                    is: condition.is,
                }),
                VisitField::EntryPage | VisitField::ExitPage => None,
            })
            .collect();
        predicate.steps = predicate
            .event
            .iter()
            .filter(|condition| condition.is)
            .filter_map(|condition| match condition.test {
                EventTest::Path(id) => Some(StepNeed::PathOrCustom(id)),
                EventTest::Name(id) => Some(StepNeed::Name(id)),
                EventTest::PageView => Some(StepNeed::PageView),
                EventTest::Prop { .. } | EventTest::PathIn(_) => None,
            })
            .collect();
        predicate.props = predicate
            .event
            .iter()
            .filter(|condition| condition.is)
            .filter_map(|condition| match condition.test {
                EventTest::Prop { key, value } => Some(PropNeed { key, value }),
                EventTest::Path(_)
                | EventTest::PathIn(_)
                | EventTest::PageView
                | EventTest::Name(_) => None,
            })
            .collect();
        Ok(predicate)
    }

    /// The visit attribute and value of the one condition this predicate
    /// is, when it is exactly one `==` on a visit attribute (a visit meets
    /// it when its attribute has that value, `None`: is missing).
    pub(crate) fn single_attribute_is(&self) -> Option<(Attribute, Option<i64>)> {
        match self.single_attribute()? {
            (attribute, value, true) => Some((attribute, value)),
            (_, _, false) => None,
        }
    }

    /// The visit attribute, value and sense of the one condition this
    /// predicate is, when it is exactly one `==` (`true`) or `!=`
    /// (`false`) on a visit attribute.
    pub(crate) fn single_attribute(&self) -> Option<(Attribute, Option<i64>, bool)> {
        match (self.nothing, self.visit.as_slice(), self.event.is_empty()) {
            (
                false,
                [
                    VisitCondition {
                        field: VisitField::Attribute(attribute),
                        value,
                        is,
                    },
                ],
                true,
            ) => Some((*attribute, *value, *is)),
            _ => None,
        }
    }

    /// Whether no event or visit can match (a filter names, with `==`, a
    /// value that was never stored): the answer is empty without reading.
    pub(crate) fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The conditions on visit attributes, which every visit that
    /// [`Predicate::visit_matches`] meets.
    pub(crate) fn attribute_conditions(&self) -> &[AttributeCondition] {
        &self.attributes
    }

    /// What a visit needs among its event codes for some event of it to
    /// meet the event-level conditions.
    pub(crate) fn step_needs(&self) -> &[StepNeed] {
        &self.steps
    }

    /// What a visit needs among its events' properties for some event of
    /// it to meet the event-level conditions.
    pub(crate) fn prop_needs(&self) -> &[PropNeed] {
        &self.props
    }

    /// Whether every condition is on a visit attribute (none on events or
    /// on the entry or exit page): then a visit meets the predicate exactly
    /// when it meets [`Self::attribute_conditions`].
    pub(crate) fn attributes_only(&self) -> bool {
        !self.nothing
            && self.event.is_empty()
            && self
                .visit
                .iter()
                .all(|condition| matches!(condition.field, VisitField::Attribute(_)))
    }

    /// Whether some condition is about events (page, event name, property),
    /// so that a visit counts only with a matching event.
    pub(crate) fn has_event_conditions(&self) -> bool {
        !self.event.is_empty()
    }

    /// The columns the predicate reads.
    pub(crate) fn columns(&self) -> Columns {
        let mut columns = Columns::default();
        for condition in &self.visit {
            columns = columns.with(condition.field.columns());
        }
        for condition in &self.event {
            columns = columns.with(Columns {
                events: true,
                event_paths: matches!(condition.test, EventTest::Path(_) | EventTest::PathIn(_)),
                props: matches!(condition.test, EventTest::Prop { .. }),
                ..Columns::default()
            });
        }
        // A page or event name needed among a visit's codes is looked up in
        // the day's code index.
        columns.code_visits = self
            .steps
            .iter()
            .any(|need| *need != crate::visit_record::StepNeed::PageView);
        // A property needed among a visit's events is looked up in the
        // day's entry events.
        columns.entry_events = !self.props.is_empty();
        columns
    }

    /// Whether `visit` meets the visit-level conditions.
    #[inline]
    pub(crate) fn visit_matches(&self, visit: &VisitRecord) -> bool {
        !self.nothing
            && self
                .visit
                .iter()
                .all(|c| (c.field.value(visit) == c.value) == c.is)
    }

    /// Whether `event` of `visit` meets the event-level conditions (the
    /// visit-level ones are [`Predicate::visit_matches`]'s).
    #[inline]
    pub(crate) fn event_matches(&self, visit: &VisitRecord, event: &EventRecord) -> bool {
        !self.nothing
            && self.event.iter().all(|c| {
                let holds = match c.test {
                    EventTest::Path(id) => event.pathname == id,
                    EventTest::PathIn(set) => self
                        .path_sets
                        .get(set)
                        .is_some_and(|paths| paths.contains(event.pathname)),
                    EventTest::PageView => event.pageview,
                    EventTest::Name(id) => !event.pageview && event.code == id,
                    EventTest::Prop { key, value } => visit
                        .props_of(event)
                        .iter()
                        .any(|&(k, v)| k == key && value.is_none_or(|value| v == value)),
                };
                holds == c.is
            })
    }
}

/// The gate of the readers that keep a visit only with an event that meets
/// the event-level conditions (the behavioural queries, the export): it
/// takes with their events the visits that start at `from_ms` or later and
/// meet the visit-level conditions, and lets a day segment pass over, by
/// their attribute columns and event codes, those that cannot meet them.
pub(crate) struct MatchingVisits<'a> {
    /// The filters.
    pub(crate) predicate: &'a Predicate,
    /// The first start taken.
    pub(crate) from_ms: i64,
}

impl VisitGate for MatchingVisits<'_> {
    fn take(&self, visit: &VisitRecord) -> Take {
        if visit.start_ts >= self.from_ms && self.predicate.visit_matches(visit) {
            Take::Events
        } else {
            Take::Skip
        }
    }

    fn attribute_conditions(&self) -> &[AttributeCondition] {
        self.predicate.attribute_conditions()
    }

    fn step_needs(&self) -> &[StepNeed] {
        self.predicate.step_needs()
    }

    fn prop_needs(&self) -> &[PropNeed] {
        self.predicate.prop_needs()
    }
}

/// The ids of the stored paths `pattern` matches.
pub(crate) fn matching_paths(
    conn: &Connection,
    pattern: &mallard_core::goal::PathPattern,
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let mut paths = std::collections::HashSet::new();
    let mut stmt = conn.prepare_cached("SELECT id, value FROM dims WHERE kind = ?1")?;
    let mut rows = stmt.query([DimKind::Pathname as u8])?;
    while let Some(row) = rows.next()? {
        let value: String = row.get(1)?;
        if pattern.matches(&value) {
            paths.insert(row.get::<_, i64>(0)?);
        }
    }
    Ok(paths)
}

fn compile_one(conn: &Connection, filter: &Filter) -> Result<Compiled, StoreError> {
    let is = filter.op == FilterOp::Is;
    // A condition that holds for nothing (`==`) or everything (`!=`).
    let constant = |matches_with_is: bool| {
        if matches_with_is == is {
            Compiled::Always
        } else {
            Compiled::Never
        }
    };
    Ok(match &filter.dimension {
        Dimension::Prop(key) => {
            let key_id = dim_id(conn, DimKind::PropKey, key)?;
            let missing = filter.value == UNKNOWN_VALUE;
            match key_id {
                // No event has the key: every event's value is missing.
                None => constant(missing),
                Some(key) if missing => Compiled::Event(EventCondition {
                    test: EventTest::Prop { key, value: None },
                    is: !is,
                }),
                Some(key) => match dim_id(conn, DimKind::PropValue, &filter.value)? {
                    None => constant(false),
                    Some(value) => Compiled::Event(EventCondition {
                        test: EventTest::Prop {
                            key,
                            value: Some(value),
                        },
                        is,
                    }),
                },
            }
        }
        // A pattern (`*` one segment, `**` any depth) matches the paths it
        // names; one that is not a path matches none.
        Dimension::Page if filter.value.contains('*') => {
            let paths = match mallard_core::goal::PathPattern::parse(&filter.value) {
                Ok(pattern) => matching_paths(conn, &pattern)?,
                Err(_) => std::collections::HashSet::new(),
            };
            if paths.is_empty() {
                constant(false)
            } else {
                Compiled::PathIn(paths, is)
            }
        }
        // Goals reach the store put in terms of their event, page pattern and
        // property (the server's stats layer does it); one that did not is
        // unknown: no event converts on it.
        Dimension::Goal => constant(false),
        Dimension::Page => match resolve(conn, filter)? {
            // Every event has a path.
            Target::Missing | Target::Nothing => constant(false),
            Target::Id(id) => Compiled::Event(EventCondition {
                test: EventTest::Path(id),
                is,
            }),
        },
        Dimension::Event => match resolve(conn, filter)? {
            // Every event has a name.
            Target::Missing | Target::Nothing => constant(false),
            Target::Id(id) => Compiled::Event(EventCondition {
                test: if Some(id) == pageview_id(conn)? {
                    EventTest::PageView
                } else {
                    EventTest::Name(id)
                },
                is,
            }),
        },
        dimension => {
            let Some(field) = VisitField::of(dimension) else {
                return Ok(Compiled::Always);
            };
            match resolve(conn, filter)? {
                Target::Nothing => constant(false),
                Target::Missing => Compiled::Visit(VisitCondition {
                    field,
                    value: None,
                    is,
                }),
                Target::Id(id) => Compiled::Visit(VisitCondition {
                    field,
                    value: Some(id),
                    is,
                }),
            }
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use mallard_core::filter::parse_filters;
    use rusqlite::params;

    use super::*;
    use crate::visits::VisitAttributes;

    /// A database with a few dimension strings: ids 10.. as listed (the
    /// behaviour filters' tests use it too).
    pub(crate) fn database() -> Connection {
        let conn = crate::schema::migrated_in_memory();
        for (id, kind, value) in [
            (10, DimKind::Pathname, "/pricing"),
            (11, DimKind::Pathname, "/"),
            (12, DimKind::ReferrerSource, "Google"),
            (13, DimKind::EventName, "Signup"),
            (14, DimKind::PropKey, "plan"),
            (15, DimKind::PropValue, "pro"),
            (16, DimKind::PropValue, "free"),
            (17, DimKind::Country, "DE"),
        ] {
            conn.execute(
                "INSERT INTO dims (id, kind, value) VALUES (?1, ?2, ?3)",
                params![id, kind as u8, value],
            )
            .unwrap();
        }
        conn
    }

    fn compile(conn: &Connection, text: &str) -> Predicate {
        Predicate::compile(conn, &parse_filters(text).unwrap()).unwrap()
    }

    /// A visit from Google in DE on a desktop, 1920 wide, entering on `/`,
    /// with a page view of `/pricing` and a Signup on `/pricing` with
    /// `plan=pro`.
    fn visit() -> VisitRecord {
        let pageview = crate::rollup_rebuild::pageview_name_id(&database())
            .unwrap()
            .unwrap();
        assert_ne!(pageview, 13);
        VisitRecord {
            id: 1,
            entry_page: Some(11),
            exit_page: Some(10),
            attrs: VisitAttributes {
                referrer_source: Some(12),
                device: i64::from(mallard_core::DeviceClass::Desktop.code()),
                screen_width: Some(1920),
                country: Some(17),
                ..VisitAttributes::default()
            },
            events: vec![
                EventRecord {
                    pageview: true,
                    code: 10,
                    pathname: 10,
                    ..EventRecord::default()
                },
                EventRecord {
                    pageview: false,
                    code: 13,
                    pathname: 10,
                    props: (0, 1),
                    ..EventRecord::default()
                },
            ],
            props: vec![(14, 15)],
            ..VisitRecord::default()
        }
    }

    /// Whether the visit matches and which of its events do.
    fn outcome(predicate: &Predicate) -> (bool, Vec<bool>) {
        let v = visit();
        (
            predicate.visit_matches(&v),
            v.events
                .iter()
                .map(|e| predicate.event_matches(&v, e))
                .collect(),
        )
    }

    #[test]
    fn visit_level_filters_compare_ids_and_missing_values() {
        let conn = database();
        let cases = [
            ("source==Google", true),
            ("source!=Google", false),
            ("source==(unknown)", false),
            ("source!=(unknown)", true),
            ("referrer==(unknown)", true),
            // `!=` holds for a missing value.
            ("utm_source!=x", true),
            ("country==DE", true),
            ("entry_page==/", true),
            ("entry_page==/pricing", false),
            ("exit_page==/pricing", true),
            ("device==Desktop", true),
            ("device==Mobile", false),
            ("device==(unknown)", false),
            ("device!=(unknown)", true),
            ("screen_size==1920", true),
            ("screen_size==(unknown)", false),
            ("screen_size!=390", true),
            ("source==Google;country==DE", true),
            ("source==Google;country!=DE", false),
        ];
        for (text, expected) in cases {
            let p = compile(&conn, text);
            assert!(!p.matches_nothing(), "{text}");
            assert!(!p.has_event_conditions(), "{text}");
            assert_eq!(outcome(&p), (expected, vec![true, true]), "{text}");
        }
        let columns = compile(&conn, "source==Google;entry_page==/").columns();
        assert!(columns.visit && !columns.events);
        // Only the attribute compared is read.
        assert_eq!(columns.attributes, AttributeSet::of(Attribute::Source));
        let columns = compile(&conn, "country==DE;screen_size==1920").columns();
        assert_eq!(
            columns.attributes,
            AttributeSet::of(Attribute::Country).with(AttributeSet::of(Attribute::Screen))
        );
    }

    #[test]
    fn event_level_filters_test_each_event() {
        let conn = database();
        let cases = [
            // The path of every event, custom events included.
            ("page==/pricing", vec![true, true]),
            ("page!=/pricing", vec![false, false]),
            ("page!=/", vec![true, true]),
            ("event==pageview", vec![true, false]),
            ("event!=pageview", vec![false, true]),
            ("event==Signup", vec![false, true]),
            ("event!=Signup", vec![true, false]),
            ("props.plan==pro", vec![false, true]),
            ("props.plan!=pro", vec![true, false]),
            ("props.plan==free", vec![false, false]),
            ("props.plan==(unknown)", vec![true, false]),
            ("props.plan!=(unknown)", vec![false, true]),
            (
                "event==Signup;props.plan==pro;page==/pricing",
                vec![false, true],
            ),
        ];
        for (text, expected) in cases {
            let p = compile(&conn, text);
            assert!(!p.matches_nothing(), "{text}");
            assert!(p.has_event_conditions(), "{text}");
            assert_eq!(outcome(&p), (true, expected), "{text}");
        }
        let columns = compile(&conn, "page==/pricing").columns();
        assert!(columns.events && columns.event_paths && !columns.props);
        let columns = compile(&conn, "props.plan==pro;event==Signup").columns();
        assert!(columns.events && columns.props && !columns.event_paths);
        assert!(columns.attributes.is_empty());
    }

    #[test]
    fn values_never_stored_match_nothing_with_is_and_everything_with_is_not() {
        let conn = database();
        for text in [
            "page==/nowhere",
            "page==(unknown)",
            "event==Nothing",
            "event==(unknown)",
            "source==Bing",
            "device==Toaster",
            "screen_size==wide",
            "props.plan==enterprise",
            "props.nokey==x",
            "props.nokey!=(unknown)",
            "country==DE;source==Bing",
        ] {
            let p = compile(&conn, text);
            assert!(p.matches_nothing(), "{text}");
            assert_eq!(outcome(&p), (false, vec![false, false]), "{text}");
        }
        for text in [
            "page!=/nowhere",
            "page!=(unknown)",
            "event!=Nothing",
            "source!=Bing",
            "device!=Toaster",
            "screen_size!=wide",
            "props.plan!=enterprise",
            "props.nokey!=x",
            "props.nokey==(unknown)",
        ] {
            let p = compile(&conn, text);
            assert!(!p.matches_nothing(), "{text}");
            assert_eq!(p, Predicate::default(), "{text} holds for everything");
            assert_eq!(outcome(&p), (true, vec![true, true]), "{text}");
            assert_eq!(p.columns(), Columns::default());
        }
    }

    /// The gates hand a day segment the conditions it can judge on its own:
    /// those on attributes, what a visit's event codes must hold for the
    /// `==` conditions on pages and event names, and the properties its
    /// events must carry for those on properties (never for `!=`).
    #[test]
    fn gates_hand_over_attribute_conditions_and_step_needs() {
        let conn = database();
        let predicate = compile(
            &conn,
            "source==Google;country!=DE;page==/pricing;event==Signup;props.plan==pro;page!=/",
        );
        let gate = MatchingVisits {
            predicate: &predicate,
            from_ms: 0,
        };
        assert_eq!(
            gate.attribute_conditions(),
            [
                AttributeCondition {
                    attribute: Attribute::Source,
                    value: Some(12),
                    is: true
                },
                AttributeCondition {
                    attribute: Attribute::Country,
                    value: Some(17),
                    is: false
                },
            ]
        );
        assert_eq!(
            gate.step_needs(),
            [StepNeed::PathOrCustom(10), StepNeed::Name(13)]
        );
        assert_eq!(
            gate.prop_needs(),
            [PropNeed {
                key: 14,
                value: Some(15)
            }]
        );
        assert!(predicate.columns().entry_events);
        // The gate takes, with their events, the visits from `from_ms` that
        // meet the visit-level conditions.
        let mut from_google = visit();
        from_google.attrs.country = None;
        assert_eq!(gate.take(&from_google), Take::Events);
        from_google.start_ts = -1;
        assert_eq!(gate.take(&from_google), Take::Skip);
        assert_eq!(gate.take(&visit()), Take::Skip);
    }

    /// A property that must be present, with a value or any, is a need; one
    /// that must differ or be missing is none (an event without it meets
    /// it).
    #[test]
    fn only_properties_that_must_be_carried_are_needs() {
        let conn = database();
        let needs = |text: &str| compile(&conn, text).prop_needs().to_vec();
        assert_eq!(
            needs("props.plan!=(unknown)"),
            [PropNeed {
                key: 14,
                value: None
            }]
        );
        for text in ["props.plan!=pro", "props.plan==(unknown)", "page==/pricing"] {
            assert_eq!(needs(text), [], "{text}");
            assert!(!compile(&conn, text).columns().entry_events, "{text}");
        }
    }
}
