//! The collector's wire schema: the `Event` interface with `EventContext`,
//! `EventUtm` and `EventDimensions`, validated against the JSON Schema this crate
//! ships (`schemas/events.schema.json`), compiled once.
//!
//! This is the one place where a collector event from the network becomes a
//! typed value: not a JSON object is 400 `invalid_json`, an absent required
//! field is 400 `missing_field` naming it, any other schema violation is 400
//! `invalid_field` with one detail per field.

use std::sync::LazyLock;

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{CollectorError, FieldError};
use super::schema_fast::{parse_valid, present, present_object};

/// The JSON Schema of one event, as shipped.
pub const EVENT_SCHEMA: &str = include_str!("../../schemas/events.schema.json");

pub(super) static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value =
        serde_json::from_str(EVENT_SCHEMA).expect("the shipped event schema is valid JSON");
    jsonschema::validator_for(&schema).expect("the shipped event schema compiles")
});

/// One event as sent by an SDK.
#[derive(Debug, Clone, Deserialize)]
pub struct WireEvent {
    /// The SDK's event id (UUID v4), the dedupe key.
    pub id: String,
    /// The site the SDK believes it reports for.
    pub site_id: String,
    /// The SDK's anonymous visitor id.
    pub anon_id: String,
    /// The event type, e.g. `pageview` or `checkout_completed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The page URL.
    pub url: String,
    /// When the event happened, Unix epoch milliseconds.
    pub ts: f64,
    /// Legacy user agent field; `context.ua` wins.
    #[serde(default, deserialize_with = "present")]
    pub ua: Option<String>,
    /// Legacy referrer field; `context.referrer` wins.
    #[serde(default, deserialize_with = "present")]
    pub referrer: Option<String>,
    /// The SDK's session id (visits are assigned by the store instead).
    #[serde(default, deserialize_with = "present")]
    pub session_id: Option<String>,
    /// Browser context.
    #[serde(default, deserialize_with = "present_object")]
    pub context: Option<EventContext>,
    /// The identified user, if any (not stored).
    #[serde(default, deserialize_with = "present")]
    pub user_id: Option<String>,
    /// The previous user id of a merge event (not stored).
    #[serde(default, deserialize_with = "present")]
    pub previous_user_id: Option<String>,
    /// Identify traits (not stored).
    #[serde(default, deserialize_with = "present_object")]
    pub traits: Option<Map<String, Value>>,
    /// Custom properties.
    #[serde(default, deserialize_with = "present_object")]
    pub props: Option<Map<String, Value>>,
}

/// The browser context of an event.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventContext {
    /// Campaign parameters.
    #[serde(default, deserialize_with = "present_object")]
    pub utm: Option<EventUtm>,
    /// The document referrer.
    #[serde(default, deserialize_with = "present")]
    pub referrer: Option<String>,
    /// The viewport size.
    #[serde(default, deserialize_with = "present_object")]
    pub viewport: Option<EventDimensions>,
    /// The screen size.
    #[serde(default, deserialize_with = "present_object")]
    pub screen: Option<EventDimensions>,
    /// The browser language.
    #[serde(default, deserialize_with = "present")]
    pub language: Option<String>,
    /// The browser time zone.
    #[serde(default, deserialize_with = "present")]
    pub timezone: Option<String>,
    /// The user agent.
    #[serde(default, deserialize_with = "present")]
    pub ua: Option<String>,
}

/// Campaign parameters of an event.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventUtm {
    /// `utm_source`.
    #[serde(default, deserialize_with = "present")]
    pub source: Option<String>,
    /// `utm_medium`.
    #[serde(default, deserialize_with = "present")]
    pub medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default, deserialize_with = "present")]
    pub campaign: Option<String>,
    /// `utm_term`.
    #[serde(default, deserialize_with = "present")]
    pub term: Option<String>,
    /// `utm_content`.
    #[serde(default, deserialize_with = "present")]
    pub content: Option<String>,
    /// Google Ads click id.
    #[serde(default, deserialize_with = "present")]
    pub gclid: Option<String>,
    /// Facebook click id.
    #[serde(default, deserialize_with = "present")]
    pub fbclid: Option<String>,
}

/// A width and height in CSS pixels.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct EventDimensions {
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// Turns a JSON Schema instance path (`/context/screen`) into a dotted field
/// name (`context.screen`), joined with `leaf` when given.
pub fn field_name(pointer: &str, leaf: Option<&str>) -> String {
    pointer
        .split('/')
        .filter(|part| !part.is_empty())
        .map(|part| part.replace("~1", "/").replace("~0", "~"))
        .chain(leaf.map(str::to_owned))
        .collect::<Vec<_>>()
        .join(".")
}

/// The error of a body that fails the schema: the first missing field, or
/// every invalid one.
fn reject(value: &Value) -> Result<(), CollectorError> {
    let mut invalid = Vec::new();
    for error in VALIDATOR.iter_errors(value) {
        let path = error.instance_path().as_str().to_owned();
        if let ValidationErrorKind::Required { property } = error.kind() {
            let leaf = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            return Err(CollectorError::MissingField(field_name(&path, Some(&leaf))));
        }
        let field = match field_name(&path, None) {
            name if name.is_empty() => "body".to_owned(),
            name => name,
        };
        invalid.push(FieldError::new(field, error.to_string()));
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(CollectorError::InvalidField(invalid))
    }
}

/// Parses and validates a decoded body.
pub fn parse_event(body: &[u8]) -> Result<WireEvent, CollectorError> {
    // Most bodies are valid events: the fast path settles them without a
    // JSON tree; everything else gets the validator and its exact errors.
    if let Some(event) = parse_valid(body) {
        return Ok(event);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| CollectorError::InvalidJson(format!("The body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(CollectorError::InvalidJson(
            "The body must be a JSON object".into(),
        ));
    }
    // Find out without collecting errors whether the body is valid after all
    // (duplicate keys, for instance, are left to this path).
    if !VALIDATOR.is_valid(&value) {
        reject(&value)?;
    }
    serde_json::from_value(value)
        .map_err(|e| CollectorError::InvalidField(vec![FieldError::new("body", e.to_string())]))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "id": "6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d21",
            "site_id": "a.test",
            "anon_id": "anon-1",
            "type": "pageview",
            "url": "https://a.test/x",
            "ts": 1_700_000_000_000_i64,
        })
    }

    fn parse(value: &Value) -> Result<WireEvent, CollectorError> {
        parse_event(value.to_string().as_bytes())
    }

    #[test]
    fn a_full_event_parses() {
        let mut event = minimal();
        event["context"] = json!({
            "utm": {"source": "news", "campaign": "launch"},
            "screen": {"w": 1280, "h": 800},
            "ua": "Mozilla/5.0",
            "referrer": "https://www.google.com/"
        });
        event["props"] = json!({"plan": "pro"});
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.kind, "pageview");
        let context = parsed.context.unwrap();
        assert_eq!(context.screen.unwrap().w, 1280.0);
        assert_eq!(context.utm.unwrap().campaign.as_deref(), Some("launch"));
    }

    #[test]
    fn each_missing_required_field_is_named() {
        for field in ["id", "site_id", "anon_id", "type", "url", "ts"] {
            let mut event = minimal();
            event.as_object_mut().unwrap().remove(field);
            assert_eq!(
                parse(&event).unwrap_err(),
                CollectorError::MissingField(field.into())
            );
        }
        let mut event = minimal();
        event["context"] = json!({"screen": {"w": 3}});
        assert_eq!(
            parse(&event).unwrap_err(),
            CollectorError::MissingField("context.screen.h".into())
        );
    }

    #[test]
    fn non_objects_are_invalid_json_and_wrong_types_invalid_field() {
        for body in ["", "{", "[]", "42", "\"x\"", "null"] {
            assert_eq!(
                parse_event(body.as_bytes()).unwrap_err().code(),
                "invalid_json"
            );
        }
        let mut event = minimal();
        event["ts"] = json!("yesterday");
        event["props"] = json!([1]);
        let CollectorError::InvalidField(details) = parse(&event).unwrap_err() else {
            panic!("expected invalid_field")
        };
        let fields: Vec<_> = details.iter().map(|d| d.field.as_str()).collect();
        assert!(
            fields.contains(&"ts") && fields.contains(&"props"),
            "{fields:?}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Err(err) = parse_event(&body) {
                prop_assert_eq!(err.status().as_u16(), 400);
            }
        }
    }
}
