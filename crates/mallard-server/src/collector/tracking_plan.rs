//! The tracking plan: per site, an optional list of allowed event types and a
//! JSON Schema for each type's `props`, with a mode of `off`, `warn` or `reject`.
//!
//! The plan is a TOML file (or JSON, when the file name ends in `.json`) named
//! by `tracking_plan_file`; it is read and every schema compiled at start-up, so
//! a broken plan is a start-up error.
//!
//! ```toml
//! [sites."shop.example"]
//! mode = "reject"          # off | warn | reject
//!
//! [sites."shop.example".events.pageview]
//!
//! [sites."shop.example".events.checkout_completed.props]
//! type = "object"
//! required = ["amount"]
//! properties = { amount = { type = "number", minimum = 0 } }
//! ```
//!
//! A site with an `events` table accepts only the listed types; a listed type
//! with `props` must have props matching that schema (absent props are checked
//! as `{}`). Sites without a plan are not checked.

use std::collections::HashMap;
use std::path::Path;

use jsonschema::Validator;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::FieldError;
use super::schema::field_name;

/// What happens when an event breaks its site's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanMode {
    /// The plan is not checked.
    #[default]
    Off,
    /// Violations are logged and counted; the event is accepted.
    Warn,
    /// Violations are answered 400 `schema_validation_failed`.
    Reject,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    sites: HashMap<String, SitePlanFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SitePlanFile {
    #[serde(default)]
    mode: PlanMode,
    events: Option<HashMap<String, EventPlanFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventPlanFile {
    props: Option<Value>,
}

struct SitePlan {
    mode: PlanMode,
    events: Option<HashMap<String, Option<Validator>>>,
}

/// A loaded tracking plan with its schemas compiled.
pub struct TrackingPlan {
    sites: HashMap<String, SitePlan>,
}

impl std::fmt::Debug for TrackingPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sites: Vec<_> = self.sites.keys().collect();
        sites.sort();
        f.debug_struct("TrackingPlan")
            .field("sites", &sites)
            .finish()
    }
}

/// The outcome of checking one event against the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No plan applies, or the event matches it.
    Pass,
    /// The event breaks the plan of a site in `warn` mode.
    Warn(Vec<FieldError>),
    /// The event breaks the plan of a site in `reject` mode.
    Reject(Vec<FieldError>),
}

impl TrackingPlan {
    /// Reads and compiles the plan at `path`; the error says what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        Self::parse(&text, json).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and compiles a plan from TOML (or JSON when `json` is set).
    pub fn parse(text: &str, json: bool) -> Result<Self, String> {
        let file: PlanFile = if json {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        } else {
            toml::from_str(text).map_err(|e| e.to_string())?
        };
        let mut sites = HashMap::new();
        for (site, plan) in file.sites {
            let events = match plan.events {
                None => None,
                Some(events) => {
                    let mut compiled = HashMap::new();
                    for (kind, event) in events {
                        let validator = event
                            .props
                            .map(|schema| {
                                jsonschema::validator_for(&schema).map_err(|e| {
                                    format!("the props schema of {site} / {kind} is invalid: {e}")
                                })
                            })
                            .transpose()?;
                        compiled.insert(kind, validator);
                    }
                    Some(compiled)
                }
            };
            sites.insert(
                site,
                SitePlan {
                    mode: plan.mode,
                    events,
                },
            );
        }
        Ok(Self { sites })
    }

    /// Checks an event of type `kind` with `props` sent for `site`.
    pub fn check(&self, site: &str, kind: &str, props: Option<&Map<String, Value>>) -> Verdict {
        let Some(plan) = self.sites.get(site) else {
            return Verdict::Pass;
        };
        if plan.mode == PlanMode::Off {
            return Verdict::Pass;
        }
        let mut problems = Vec::new();
        if let Some(events) = &plan.events {
            match events.get(kind) {
                None => problems.push(FieldError::new(
                    "type",
                    format!("event type {kind:?} is not in the tracking plan of {site}"),
                )),
                Some(Some(validator)) => {
                    let props = Value::Object(props.cloned().unwrap_or_default());
                    for error in validator.iter_errors(&props) {
                        let path = error.instance_path().as_str().to_owned();
                        let field = match field_name(&path, None) {
                            name if name.is_empty() => "props".to_owned(),
                            name => format!("props.{name}"),
                        };
                        problems.push(FieldError::new(field, error.to_string()));
                    }
                }
                Some(None) => {}
            }
        }
        match (problems.is_empty(), plan.mode) {
            (true, _) | (false, PlanMode::Off) => Verdict::Pass,
            (false, PlanMode::Warn) => Verdict::Warn(problems),
            (false, PlanMode::Reject) => Verdict::Reject(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PLAN: &str = r#"
[sites."shop.test"]
mode = "reject"
[sites."shop.test".events.pageview]
[sites."shop.test".events.checkout_completed.props]
type = "object"
required = ["amount"]
properties = { amount = { type = "number", minimum = 0 } }

[sites."blog.test"]
mode = "warn"
[sites."blog.test".events.pageview]

[sites."off.test"]
mode = "off"
[sites."off.test".events.pageview]
"#;

    fn props(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn reject_mode_lists_every_problem_per_field() {
        let plan = TrackingPlan::parse(PLAN, false).unwrap();
        assert_eq!(plan.check("shop.test", "pageview", None), Verdict::Pass);
        let ok = props(json!({"amount": 12.5}));
        assert_eq!(
            plan.check("shop.test", "checkout_completed", Some(&ok)),
            Verdict::Pass
        );
        let Verdict::Reject(problems) = plan.check(
            "shop.test",
            "checkout_completed",
            Some(&props(json!({"amount": -1}))),
        ) else {
            panic!("expected a rejection")
        };
        assert_eq!(problems[0].field, "props.amount");
        let Verdict::Reject(problems) = plan.check("shop.test", "checkout_completed", None) else {
            panic!("missing props are checked as {{}}")
        };
        assert_eq!(problems[0].field, "props");
        let Verdict::Reject(problems) = plan.check("shop.test", "signup", None) else {
            panic!("unknown types are refused")
        };
        assert_eq!(problems[0].field, "type");
    }

    #[test]
    fn warn_off_and_unplanned_sites() {
        let plan = TrackingPlan::parse(PLAN, false).unwrap();
        assert!(matches!(
            plan.check("blog.test", "signup", None),
            Verdict::Warn(_)
        ));
        assert_eq!(plan.check("off.test", "signup", None), Verdict::Pass);
        assert_eq!(plan.check("other.test", "anything", None), Verdict::Pass);
    }

    #[test]
    fn broken_plans_are_errors() {
        assert!(TrackingPlan::parse("[sites.\"a\"]\nmode = \"loud\"\n", false).is_err());
        assert!(TrackingPlan::parse("[sites.\"a\"]\ncolour = 1\n", false).is_err());
        let bad_schema = "[sites.\"a\".events.x.props]\ntype = 12\n";
        assert!(TrackingPlan::parse(bad_schema, false).is_err());
        let json = r#"{"sites": {"a": {"mode": "reject", "events": {"pageview": {}}}}}"#;
        let plan = TrackingPlan::parse(json, true).unwrap();
        assert!(matches!(plan.check("a", "click", None), Verdict::Reject(_)));
    }
}
