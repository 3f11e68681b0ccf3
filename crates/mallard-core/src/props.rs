//! Custom properties of events: a small map of string keys to scalar values.
//!
//! Trackers send `props` as a JSON object such as `{"plan": "pro", "seats": 3}`.
//! Values are stored as strings: strings as they are, numbers in their JSON text
//! form (`3`, `1.5`), booleans as `true` or `false`. `null` values are skipped,
//! so a caller can unset a property by sending `null`.
//!
//! Limits: at most [`MAX_PROPS`] properties, keys non-blank and at most
//! [`MAX_PROP_KEY_LEN`] characters (longer keys are an error, since cutting them
//! could merge two keys), values at most [`MAX_PROP_VALUE_LEN`] characters
//! (longer values are cut, not refused). Nested arrays and objects are refused.

use serde_json::{Map, Value};

use crate::error::CoreError;
use crate::text::truncate_chars;

/// The most properties one event may carry.
pub const MAX_PROPS: usize = 30;

/// The longest property key accepted, in characters.
pub const MAX_PROP_KEY_LEN: usize = 300;

/// The longest property value kept, in characters; longer values are cut.
pub const MAX_PROP_VALUE_LEN: usize = 2000;

/// Parses the `props` field when it arrives as JSON text (for example in a form
/// field or a query parameter).
///
/// Empty or blank text and `null` give no properties; anything else must be a
/// JSON object and is checked by [`props_from_map`].
pub fn parse_props_json(raw: &str) -> Result<Vec<(String, String)>, CoreError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(map)) => props_from_map(&map),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(_) => Err(CoreError::InvalidProps(
            "props must be a JSON object".into(),
        )),
        Err(e) => Err(CoreError::InvalidProps(format!(
            "props are not valid JSON: {e}"
        ))),
    }
}

/// Checks a JSON object of properties and converts it to key/value pairs.
///
/// The pairs come in the map's iteration order, which is deterministic (sorted
/// by key unless `serde_json` is built with `preserve_order`, then as sent).
pub fn props_from_map(map: &Map<String, Value>) -> Result<Vec<(String, String)>, CoreError> {
    let count = map.values().filter(|v| !v.is_null()).count();
    if count > MAX_PROPS {
        return Err(CoreError::InvalidProps(format!(
            "at most {MAX_PROPS} props are allowed, got {count}"
        )));
    }
    let mut props = Vec::with_capacity(count);
    for (key, value) in map {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => truncate_chars(s, MAX_PROP_VALUE_LEN).to_owned(),
            Value::Number(n) => truncate_chars(&n.to_string(), MAX_PROP_VALUE_LEN).to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(CoreError::InvalidProps(format!(
                    "prop {:?} must be a string, number or boolean",
                    shorten_key(key)
                )));
            }
        };
        if key.trim().is_empty() {
            return Err(CoreError::InvalidProps(
                "prop keys must not be empty".into(),
            ));
        }
        if key.chars().count() > MAX_PROP_KEY_LEN {
            return Err(CoreError::InvalidProps(format!(
                "prop key {:?}... is longer than {MAX_PROP_KEY_LEN} characters",
                shorten_key(key)
            )));
        }
        props.push((key.clone(), text));
    }
    Ok(props)
}

/// A key short enough to quote in an error message.
fn shorten_key(key: &str) -> &str {
    truncate_chars(key, 40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn scalars_become_strings_and_nulls_are_skipped() {
        let props =
            parse_props_json(r#"{"plan":"pro","seats":3,"ratio":1.5,"trial":false,"gone":null}"#)
                .unwrap();
        let mut sorted = props.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            pairs(&[
                ("plan", "pro"),
                ("ratio", "1.5"),
                ("seats", "3"),
                ("trial", "false")
            ])
        );
    }

    #[test]
    fn empty_inputs_give_no_props() {
        for raw in ["", "  ", "null", " null ", "{}"] {
            assert_eq!(parse_props_json(raw), Ok(Vec::new()), "{raw:?}");
        }
    }

    #[test]
    fn non_objects_and_nested_values_are_refused() {
        for raw in [
            "[]", "1", "\"x\"", "true", "{", "{\"a\":1", "{'a':1}", "nul",
        ] {
            assert!(
                matches!(parse_props_json(raw), Err(CoreError::InvalidProps(_))),
                "{raw:?}"
            );
        }
        let err = parse_props_json(r#"{"tags":["a","b"]}"#).unwrap_err();
        assert!(err.to_string().contains("\"tags\""), "{err}");
        assert!(parse_props_json(r#"{"a":{"b":1}}"#).is_err());
    }

    #[test]
    fn keys_are_checked() {
        assert!(parse_props_json(r#"{"":"x"}"#).is_err());
        assert!(parse_props_json(r#"{"  ":"x"}"#).is_err());
        let ok = json!({ "k".repeat(MAX_PROP_KEY_LEN): "v" });
        assert!(props_from_map(ok.as_object().unwrap()).is_ok());
        let long = json!({ "k".repeat(MAX_PROP_KEY_LEN + 1): "v" });
        assert!(props_from_map(long.as_object().unwrap()).is_err());
        // A blank key with a null value is skipped like any null.
        assert_eq!(parse_props_json(r#"{"":null}"#), Ok(Vec::new()));
    }

    #[test]
    fn the_number_of_props_is_bounded() {
        let mut map = Map::new();
        for i in 0..MAX_PROPS {
            map.insert(format!("k{i}"), json!(i));
        }
        assert_eq!(props_from_map(&map).unwrap().len(), MAX_PROPS);
        map.insert("null".into(), Value::Null);
        assert_eq!(props_from_map(&map).unwrap().len(), MAX_PROPS);
        map.insert("one-too-many".into(), json!("x"));
        assert!(props_from_map(&map).is_err());
    }

    #[test]
    fn long_values_are_cut_not_refused() {
        let value = "é".repeat(MAX_PROP_VALUE_LEN + 10);
        let map = json!({ "k": value });
        let props = props_from_map(map.as_object().unwrap()).unwrap();
        assert_eq!(props[0].1.chars().count(), MAX_PROP_VALUE_LEN);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let raw = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_props_json(&raw).is_err());
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,40}".prop_map(Value::String),
            Just(json!([])),
            Just(json!({})),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(raw in any::<String>()) {
            if let Ok(props) = parse_props_json(&raw) {
                prop_assert!(props.len() <= MAX_PROPS);
            }
        }

        #[test]
        fn objects_keep_the_invariants(
            map in prop::collection::btree_map(".{0,8}", scalar(), 0..40),
        ) {
            let object: Map<String, Value> = map.into_iter().collect();
            let raw = Value::Object(object.clone()).to_string();
            let result = props_from_map(&object);
            // Text and map agree, except that floats may come back one unit in the
            // last place apart, as serde_json's fast float parser allows.
            fn keys(r: &Result<Vec<(String, String)>, CoreError>) -> Result<Vec<String>, CoreError> {
                r.clone().map(|p| p.into_iter().map(|(k, _)| k).collect())
            }
            prop_assert_eq!(keys(&parse_props_json(&raw)), keys(&result));
            if let Ok(props) = result {
                prop_assert!(props.len() <= MAX_PROPS);
                for (k, v) in &props {
                    prop_assert!(!k.trim().is_empty());
                    prop_assert!(k.chars().count() <= MAX_PROP_KEY_LEN);
                    prop_assert!(v.chars().count() <= MAX_PROP_VALUE_LEN);
                }
                let non_null = object.values().filter(|v| !v.is_null()).count();
                prop_assert_eq!(props.len(), non_null);
            }
        }
    }
}
