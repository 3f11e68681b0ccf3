//! The fast path of the wire-schema check: most bodies are valid events, and
//! for them parsing straight into [`WireEvent`] plus the schema's remaining
//! constraints decides validity without building a JSON tree and walking it
//! with the validator.
//!
//! Typed parsing alone accepts more than the schema does, so the types are
//! read with the deserializers of this module: an optional field that is
//! present must hold its type (`null` is refused, as the schema's `"type"`
//! does), and a nested object must be a JSON object (serde would also read a
//! struct from an array). What typing cannot express, string lengths and the
//! minimum of a dimension, is checked by [`meets_constraints`] against limits
//! read from the shipped schema itself, so the schema stays the one place
//! where they are written. A body the fast path does not accept goes through
//! the full validator, which also produces the documented errors; a property
//! test holds the two paths to the same verdicts.

use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::schema::{EVENT_SCHEMA, EventContext, EventDimensions, EventUtm, WireEvent};

/// Parses `body` as an event the schema accepts, or returns `None` (the body
/// may still be valid: duplicate keys, for instance, are left to the full
/// validator).
pub fn parse_valid(body: &[u8]) -> Option<WireEvent> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let event: WireEvent = deserializer.deserialize_map(ObjectOnly(PhantomData)).ok()?;
    deserializer.end().ok()?;
    meets_constraints(&event).then_some(event)
}

/// Reads a present optional field as `Some` of its type; `null` is an error.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Reads a present optional field that must be a JSON object.
pub fn present_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer
        .deserialize_map(ObjectOnly(PhantomData))
        .map(Some)
}

/// A visitor that reads `T` from a JSON object and from nothing else.
struct ObjectOnly<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// The length limits of one string property, in Unicode code points (as JSON
/// Schema counts them).
#[derive(Debug, Clone, Copy)]
struct Length {
    min: usize,
    max: usize,
}

impl Length {
    /// The `minLength` and `maxLength` of the schema node at `pointer`.
    fn of(schema: &Value, pointer: &str) -> Self {
        let node = schema
            .pointer(pointer)
            .unwrap_or_else(|| panic!("the shipped event schema has {pointer}"));
        let bound = |key: &str| {
            node.get(key)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
        };
        Self {
            min: bound("minLength").unwrap_or(0),
            max: bound("maxLength").unwrap_or(usize::MAX),
        }
    }

    fn admits(self, text: &str) -> bool {
        let bytes = text.len();
        // A code point takes one to four bytes: the byte length settles most
        // cases without counting.
        if bytes <= self.max && (self.min == 0 || bytes >= self.min.saturating_mul(4)) {
            return true;
        }
        let chars = text.chars().count();
        (self.min..=self.max).contains(&chars)
    }

    fn admits_optional(self, text: Option<&String>) -> bool {
        text.is_none_or(|t| self.admits(t))
    }
}

/// Every limit of the schema that typing does not express.
#[derive(Debug)]
struct Constraints {
    id: Length,
    site_id: Length,
    anon_id: Length,
    kind: Length,
    url: Length,
    ua: Length,
    referrer: Length,
    session_id: Length,
    user_id: Length,
    previous_user_id: Length,
    context_referrer: Length,
    context_language: Length,
    context_timezone: Length,
    context_ua: Length,
    utm: [Length; 7],
    dimension_minimum: [f64; 2],
}

static CONSTRAINTS: LazyLock<Constraints> = LazyLock::new(|| {
    let schema: Value =
        serde_json::from_str(EVENT_SCHEMA).expect("the shipped event schema is valid JSON");
    let top = |name: &str| Length::of(&schema, &format!("/properties/{name}"));
    let context = |name: &str| {
        Length::of(
            &schema,
            &format!("/definitions/EventContext/properties/{name}"),
        )
    };
    let utm = |name: &str| Length::of(&schema, &format!("/definitions/EventUtm/properties/{name}"));
    let minimum = |name: &str| {
        schema
            .pointer(&format!(
                "/definitions/EventDimensions/properties/{name}/minimum"
            ))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NEG_INFINITY)
    };
    Constraints {
        id: top("id"),
        site_id: top("site_id"),
        anon_id: top("anon_id"),
        kind: top("type"),
        url: top("url"),
        ua: top("ua"),
        referrer: top("referrer"),
        session_id: top("session_id"),
        user_id: top("user_id"),
        previous_user_id: top("previous_user_id"),
        context_referrer: context("referrer"),
        context_language: context("language"),
        context_timezone: context("timezone"),
        context_ua: context("ua"),
        utm: [
            utm("source"),
            utm("medium"),
            utm("campaign"),
            utm("term"),
            utm("content"),
            utm("gclid"),
            utm("fbclid"),
        ],
        dimension_minimum: [minimum("w"), minimum("h")],
    }
});

/// Whether a typed event meets the schema's length and minimum limits.
fn meets_constraints(event: &WireEvent) -> bool {
    let c = &*CONSTRAINTS;
    c.id.admits(&event.id)
        && c.site_id.admits(&event.site_id)
        && c.anon_id.admits(&event.anon_id)
        && c.kind.admits(&event.kind)
        && c.url.admits(&event.url)
        && c.ua.admits_optional(event.ua.as_ref())
        && c.referrer.admits_optional(event.referrer.as_ref())
        && c.session_id.admits_optional(event.session_id.as_ref())
        && c.user_id.admits_optional(event.user_id.as_ref())
        && c.previous_user_id
            .admits_optional(event.previous_user_id.as_ref())
        && event.context.as_ref().is_none_or(context_meets)
}

fn context_meets(context: &EventContext) -> bool {
    let c = &*CONSTRAINTS;
    c.context_referrer
        .admits_optional(context.referrer.as_ref())
        && c.context_language
            .admits_optional(context.language.as_ref())
        && c.context_timezone
            .admits_optional(context.timezone.as_ref())
        && c.context_ua.admits_optional(context.ua.as_ref())
        && context.utm.as_ref().is_none_or(utm_meets)
        && [context.viewport, context.screen]
            .iter()
            .flatten()
            .all(dimensions_meet)
}

fn utm_meets(utm: &EventUtm) -> bool {
    let values = [
        &utm.source,
        &utm.medium,
        &utm.campaign,
        &utm.term,
        &utm.content,
        &utm.gclid,
        &utm.fbclid,
    ];
    CONSTRAINTS
        .utm
        .iter()
        .zip(values)
        .all(|(length, value)| length.admits_optional(value.as_ref()))
}

fn dimensions_meet(dimensions: &EventDimensions) -> bool {
    let [w, h] = CONSTRAINTS.dimension_minimum;
    dimensions.w >= w && dimensions.h >= h
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::schema::VALIDATOR;
    use super::*;

    #[test]
    fn lengths_count_code_points_not_bytes() {
        let length = Length { min: 1, max: 3 };
        assert!(length.admits("ééé"));
        assert!(!length.admits("éééé"));
        assert!(!length.admits(""));
        assert!(length.admits("x"));
        let at_least_two = Length { min: 2, max: 10 };
        assert!(!at_least_two.admits("é"));
        assert!(at_least_two.admits("éé"));
    }

    #[test]
    fn limits_come_from_the_shipped_schema() {
        assert_eq!((CONSTRAINTS.id.min, CONSTRAINTS.id.max), (1, 128));
        assert_eq!(CONSTRAINTS.ua.max, 4096);
        assert_eq!(CONSTRAINTS.context_language.max, 64);
        assert_eq!(CONSTRAINTS.utm[6].max, 1024);
        assert_eq!(CONSTRAINTS.dimension_minimum, [0.0, 0.0]);
    }

    #[test]
    fn what_typing_alone_would_accept_is_refused() {
        let base = r#""id":"i","site_id":"s","anon_id":"a","type":"t","url":"u","ts":1"#;
        for body in [
            // A struct read from an array, at the top and nested.
            r#"["i","s","a","t","u",1]"#.to_owned(),
            format!(r#"{{{base},"context":[]}}"#),
            format!(r#"{{{base},"context":{{"screen":[1,2]}}}}"#),
            // Present but null.
            format!(r#"{{{base},"ua":null}}"#),
            format!(r#"{{{base},"context":null}}"#),
            format!(r#"{{{base},"props":null}}"#),
            format!(r#"{{{base},"context":{{"utm":{{"source":null}}}}}}"#),
            // Limits.
            format!(r#"{{{base},"context":{{"screen":{{"w":-1,"h":2}}}}}}"#),
            r#"{"id":"","site_id":"s","anon_id":"a","type":"t","url":"u","ts":1}"#.to_owned(),
        ] {
            assert!(parse_valid(body.as_bytes()).is_none(), "{body}");
            let valid = serde_json::from_str::<Value>(&body).is_ok_and(|v| VALIDATOR.is_valid(&v));
            assert!(!valid, "the schema accepts {body}");
        }
        assert!(parse_valid(format!("{{{base}}}").as_bytes()).is_some());
    }

    /// A string near a limit of the schema (0, 1, 64, 120, 128, 256, 1024,
    /// 4096 or 8192 code points), in ASCII or two-byte characters.
    fn text_at_a_limit() -> BoxedStrategy<Value> {
        (
            prop_oneof![
                Just(0usize),
                Just(1),
                63usize..=65,
                119usize..=121,
                127usize..=129,
                255usize..=257,
                1023usize..=1025,
                4095usize..=4097,
                8191usize..=8193
            ],
            any::<bool>(),
        )
            .prop_map(|(len, wide)| Value::String(if wide { "é" } else { "a" }.repeat(len)))
            .boxed()
    }

    /// Any JSON value a field might hold, right or wrong.
    fn anything() -> BoxedStrategy<Value> {
        prop_oneof![
            4 => text_at_a_limit(),
            1 => Just(Value::Null),
            1 => (-5.0f64..5.0).prop_map(|n| json!(n)),
            1 => Just(json!(42)),
            1 => Just(json!(true)),
            1 => Just(json!([1, 2])),
            1 => Just(json!({"w": 1, "h": 2})),
            1 => Just(json!({})),
        ]
        .boxed()
    }

    /// A valid event with some of its optional fields.
    fn valid_event() -> BoxedStrategy<Value> {
        let short = || "[a-zé]{1,12}";
        (
            (short(), short(), short(), short(), short()),
            proptest::collection::vec(any::<bool>(), 8),
            (0.0f64..4000.0, 0.0f64..4000.0),
        )
            .prop_map(|((id, site, anon, kind, url), present, (w, h))| {
                let mut event = json!({
                    "id": id, "site_id": site, "anon_id": anon, "type": kind, "url": url,
                    "ts": 1_700_000_000_000_i64,
                });
                let optional = [
                    ("ua", json!("Mozilla/5.0")),
                    ("referrer", json!("https://a.test/")),
                    ("session_id", json!("s-1")),
                    ("props", json!({"plan": "pro"})),
                    ("traits", json!({})),
                    (
                        "context",
                        json!({
                            "utm": {"source": "news", "gclid": "g"},
                            "screen": {"w": w, "h": h},
                            "viewport": {"w": h, "h": w},
                            "language": "en", "timezone": "UTC", "ua": "Mozilla/5.0",
                            "referrer": "https://b.test/"
                        }),
                    ),
                    ("user_id", json!("u")),
                    ("previous_user_id", json!("p")),
                ];
                let map = event.as_object_mut().expect("an object");
                for ((key, value), keep) in optional.into_iter().zip(present) {
                    if keep {
                        map.insert(key.to_owned(), value);
                    }
                }
                event
            })
            .boxed()
    }

    /// Every field of the schema, as a path of object keys.
    const FIELDS: &[&str] = &[
        "id",
        "site_id",
        "anon_id",
        "type",
        "url",
        "ts",
        "ua",
        "referrer",
        "session_id",
        "user_id",
        "previous_user_id",
        "traits",
        "props",
        "context",
        "context/utm",
        "context/utm/source",
        "context/utm/medium",
        "context/utm/campaign",
        "context/utm/term",
        "context/utm/content",
        "context/utm/gclid",
        "context/utm/fbclid",
        "context/referrer",
        "context/language",
        "context/timezone",
        "context/ua",
        "context/viewport",
        "context/viewport/w",
        "context/viewport/h",
        "context/screen",
        "context/screen/w",
        "context/screen/h",
    ];

    /// Sets (or, with `None`, removes) the field at `path`, creating objects
    /// on the way; a parent that is not an object is left alone.
    fn mutate(event: &mut Value, path: &str, value: Option<Value>) {
        let mut parts: Vec<&str> = path.split('/').collect();
        let Some(last) = parts.pop() else { return };
        let mut node = event;
        for part in parts {
            let Some(map) = node.as_object_mut() else {
                return;
            };
            node = map.entry(part.to_owned()).or_insert_with(|| json!({}));
        }
        let Some(map) = node.as_object_mut() else {
            return;
        };
        match value {
            Some(value) => {
                map.insert(last.to_owned(), value);
            }
            None => {
                map.remove(last);
            }
        }
    }

    /// Valid events with none, one or two fields removed or replaced by a
    /// value of the wrong type, `null`, or a string at a length limit.
    fn event() -> impl Strategy<Value = Value> {
        (
            valid_event(),
            proptest::collection::vec(
                (
                    0..FIELDS.len(),
                    proptest::option::weighted(0.85, anything()),
                ),
                0..3,
            ),
        )
            .prop_map(|(mut event, mutations)| {
                for (field, value) in mutations {
                    mutate(&mut event, FIELDS[field], value);
                }
                event
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// The fast path accepts exactly the bodies the validator accepts
        /// (bodies without duplicate keys, which serde_json's tree never has).
        #[test]
        fn the_fast_path_agrees_with_the_schema(event in event()) {
            let body = event.to_string();
            let fast = parse_valid(body.as_bytes()).is_some();
            prop_assert_eq!(fast, VALIDATOR.is_valid(&event), "{}", body);
        }
    }
}
