//! Steps of behavioural queries: a page view of one path or a custom event of
//! one name, written `page:/pricing` or `event:Signup`, or in a funnel a
//! goal of the site by its name, `goal:Pro signups` (what the goal counts:
//! its event or page pattern, with its property).
//!
//! Funnels take a list of steps (`steps=page:/;page:/pricing;event:Signup`);
//! sequences and flows report their paths with the same notation, so a
//! reported path can be pasted back as funnel steps.

use std::fmt;

use crate::error::CoreError;
use crate::event::EventName;

/// The fewest steps a funnel may have.
pub const MIN_FUNNEL_STEPS: usize = 2;
/// The most steps a funnel may have.
pub const MAX_FUNNEL_STEPS: usize = 8;
/// The longest page path a step may name, in bytes.
pub const MAX_STEP_PATH_LEN: usize = 2_000;

/// One step of a visit: a page view or a custom event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// A page view of this path (`page:/pricing`).
    Page(String),
    /// A custom event of this name (`event:Signup`).
    Event(String),
    /// What the site's goal of this name counts (`goal:Pro signups`).
    Goal(String),
}

/// The longest goal name a step may name, in bytes.
pub const MAX_STEP_GOAL_LEN: usize = 200;

impl Step {
    /// Parses `page:/path`, `event:name` or `goal:NAME`.
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let bad = |msg: String| CoreError::InvalidStep(msg);
        if let Some(path) = raw.strip_prefix("page:") {
            if !path.starts_with('/') || path.len() > MAX_STEP_PATH_LEN {
                return Err(bad(format!(
                    "{raw:?}: a page step is page:/path (a path starting with /, at most \
                     {MAX_STEP_PATH_LEN} bytes)"
                )));
            }
            if path.chars().any(char::is_control) {
                return Err(bad(format!(
                    "{raw:?}: the path contains control characters"
                )));
            }
            // A pattern (`*` one segment, `**` any depth) matches the page
            // views of every path it matches, as a page goal does.
            if path.contains('*') {
                crate::goal::PathPattern::parse(path).map_err(|e| bad(format!("{raw:?}: {e}")))?;
            }
            Ok(Self::Page(path.to_owned()))
        } else if let Some(name) = raw.strip_prefix("event:") {
            let name = EventName::parse(name).map_err(|e| bad(format!("{raw:?}: {e}")))?;
            if name.is_pageview() {
                return Err(bad(format!(
                    "{raw:?}: page views are steps of the form page:/path"
                )));
            }
            Ok(Self::Event(name.as_str().to_owned()))
        } else if let Some(name) = raw.strip_prefix("goal:") {
            if name.trim().is_empty()
                || name.len() > MAX_STEP_GOAL_LEN
                || name.chars().any(char::is_control)
            {
                return Err(bad(format!(
                    "{raw:?}: a goal step is goal:NAME, the name of one of the site's goals \
                     (at most {MAX_STEP_GOAL_LEN} bytes, no control characters)"
                )));
            }
            Ok(Self::Goal(name.to_owned()))
        } else {
            Err(bad(format!(
                "{raw:?} is not a step: use page:/path, event:name or goal:NAME"
            )))
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Page(path) => write!(f, "page:{path}"),
            Self::Event(name) => write!(f, "event:{name}"),
            Self::Goal(name) => write!(f, "goal:{name}"),
        }
    }
}

/// Parses the `steps` parameter of a funnel: 2 to 8 steps separated by
/// commas, as Mallard documents it (`page:/pricing,event:signup`); `;` also
/// separates steps, as it did before.
pub fn parse_funnel_steps(raw: &str) -> Result<Vec<Step>, CoreError> {
    let steps = raw
        .split([',', ';'])
        .filter(|part| !part.is_empty())
        .map(Step::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if !(MIN_FUNNEL_STEPS..=MAX_FUNNEL_STEPS).contains(&steps.len()) {
        return Err(CoreError::InvalidStep(format!(
            "a funnel has {MIN_FUNNEL_STEPS} to {MAX_FUNNEL_STEPS} steps separated by commas \
             (got {})",
            steps.len()
        )));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn steps_parse_and_print_back() {
        let steps = parse_funnel_steps("page:/;page:/pricing;event:Signup").unwrap();
        assert_eq!(
            steps,
            vec![
                Step::Page("/".into()),
                Step::Page("/pricing".into()),
                Step::Event("Signup".into())
            ]
        );
        let text: Vec<String> = steps.iter().map(Step::to_string).collect();
        assert_eq!(text.join(";"), "page:/;page:/pricing;event:Signup");
        assert_eq!(
            parse_funnel_steps("page:/,page:/pricing,event:Signup").unwrap(),
            steps
        );
        assert_eq!(
            parse_funnel_steps("page:/,page:/pricing;event:Signup").unwrap(),
            steps
        );
        // So is a goal, by its name.
        assert_eq!(
            parse_funnel_steps("goal:Pro signups,page:/thanks").unwrap(),
            vec![
                Step::Goal("Pro signups".into()),
                Step::Page("/thanks".into())
            ]
        );
        assert_eq!(
            Step::Goal("Pro signups".into()).to_string(),
            "goal:Pro signups"
        );
        // A page pattern is a step too.
        assert_eq!(
            parse_funnel_steps("page:/blog/**;event:Signup").unwrap()[0],
            Step::Page("/blog/**".into())
        );
        for bad in [
            "",
            "page:/",
            "page:/a;page:/b;page:/c;page:/d;page:/e;page:/f;page:/g;page:/h;page:/i",
            "page:pricing;page:/",
            "url:/a;page:/",
            "event:;page:/",
            "event:pageview;page:/",
            "page:/a\u{7};page:/",
            "page:/blog/*?x;page:/",
            "goal:;page:/",
            "goal: ;page:/",
            "goal:a\u{7};page:/",
        ] {
            assert!(parse_funnel_steps(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(raw in ".{0,300}") {
            let _ = parse_funnel_steps(&raw);
        }
    }
}
