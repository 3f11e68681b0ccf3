//! Breakdown dimensions and filters of stats queries.
//!
//! A filter string such as `page==/pricing;source==Google;country!=DE` is a
//! `;`-separated list of `name==value` (is) or `name!=value` (is not)
//! conditions that all must hold. The value `(unknown)` stands for a missing
//! value (direct traffic has no source, for example). Names are the singular
//! dimension names of [`Dimension::from_filter_name`]; custom properties are
//! filtered as `props.KEY==VALUE`, goals as `goal==NAME`. A `page` value with
//! `*` is a pattern (`*` one path segment, `**` any depth), as goals' are.

use crate::device::DeviceClass;
use crate::error::CoreError;

/// The label of a missing value in breakdowns and filters.
pub const UNKNOWN_VALUE: &str = "(unknown)";
/// The most conditions one filter string may hold.
pub const MAX_FILTERS: usize = 10;
/// The longest filter value, in bytes.
pub const MAX_FILTER_VALUE_LEN: usize = 2_000;

/// Something a stats query can break down or filter by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// The page path of an event.
    Page,
    /// The first page of a visit.
    EntryPage,
    /// The last page of a visit.
    ExitPage,
    /// The referrer source of a visit (`Google`, `Twitter`, a host name).
    Source,
    /// The referrer URL of a visit (host and path).
    Referrer,
    /// `utm_source` of a visit.
    UtmSource,
    /// `utm_medium` of a visit.
    UtmMedium,
    /// `utm_campaign` of a visit.
    UtmCampaign,
    /// `utm_term` of a visit.
    UtmTerm,
    /// `utm_content` of a visit.
    UtmContent,
    /// The browser family of a visit.
    Browser,
    /// The operating system family of a visit.
    Os,
    /// The device class of a visit.
    Device,
    /// The country of a visit.
    Country,
    /// The region of a visit (its first subdivision: state, province), by
    /// its English name; known only with a city database.
    Region,
    /// The city of a visit, by its English name; known only with a city
    /// database.
    City,
    /// The screen width of a visit, in CSS pixels.
    ScreenSize,
    /// The name of a custom event.
    Event,
    /// The value of one custom property of custom events.
    Prop(String),
    /// A goal of the site, by its name (`goal==Signup`): only a filter, which
    /// the server puts in terms of the goal's event, page pattern and
    /// property before a query runs.
    Goal,
}

impl Dimension {
    /// The dimension of a breakdown path segment (`pages`, `sources`, ...);
    /// `props/KEY` is handled by the caller with [`Dimension::Prop`].
    pub fn from_breakdown_name(name: &str) -> Option<Self> {
        Some(match name {
            "pages" => Self::Page,
            "entry_pages" => Self::EntryPage,
            "exit_pages" => Self::ExitPage,
            "sources" => Self::Source,
            "referrers" => Self::Referrer,
            "utm_source" | "utm_sources" => Self::UtmSource,
            "utm_medium" | "utm_mediums" => Self::UtmMedium,
            "utm_campaign" | "utm_campaigns" => Self::UtmCampaign,
            "utm_term" | "utm_terms" => Self::UtmTerm,
            "utm_content" | "utm_contents" => Self::UtmContent,
            "browsers" => Self::Browser,
            "os" | "operating_systems" => Self::Os,
            "devices" => Self::Device,
            "countries" => Self::Country,
            "regions" => Self::Region,
            "cities" => Self::City,
            "screen_sizes" | "screens" => Self::ScreenSize,
            "events" => Self::Event,
            _ => return None,
        })
    }

    /// The dimension of a filter name (`page`, `source`, `props.plan`, ...).
    pub fn from_filter_name(name: &str) -> Option<Self> {
        if let Some(key) = name.strip_prefix("props.") {
            return valid_prop_key(key).then(|| Self::Prop(key.to_owned()));
        }
        Some(match name {
            "page" => Self::Page,
            "entry_page" => Self::EntryPage,
            "exit_page" => Self::ExitPage,
            "source" => Self::Source,
            "referrer" => Self::Referrer,
            "utm_source" => Self::UtmSource,
            "utm_medium" => Self::UtmMedium,
            "utm_campaign" => Self::UtmCampaign,
            "utm_term" => Self::UtmTerm,
            "utm_content" => Self::UtmContent,
            "browser" => Self::Browser,
            "os" => Self::Os,
            "device" => Self::Device,
            "country" => Self::Country,
            "region" => Self::Region,
            "city" => Self::City,
            "screen_size" => Self::ScreenSize,
            "event" => Self::Event,
            "goal" => Self::Goal,
            _ => return None,
        })
    }

    /// A custom property dimension, validating the key.
    pub fn prop(key: &str) -> Result<Self, CoreError> {
        if valid_prop_key(key) {
            Ok(Self::Prop(key.to_owned()))
        } else {
            Err(CoreError::InvalidProps(
                "property key must be 1 to 300 characters without control characters".into(),
            ))
        }
    }

    /// Whether the dimension describes a whole visit (taken from its first
    /// event, or its first/last page) rather than a single event.
    pub fn is_visit_level(&self) -> bool {
        !matches!(self, Self::Page | Self::Event | Self::Prop(_) | Self::Goal)
    }
}

fn valid_prop_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 300 && !key.chars().any(char::is_control)
}

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterOp {
    /// `==`: the value equals.
    Is,
    /// `!=`: the value differs (missing values included).
    IsNot,
}

/// One filter condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    /// What is compared.
    pub dimension: Dimension,
    /// How.
    pub op: FilterOp,
    /// The value; [`UNKNOWN_VALUE`] means a missing value.
    pub value: String,
}

impl Filter {
    /// Whether the value stands for a missing value.
    pub fn is_unknown(&self) -> bool {
        self.value == UNKNOWN_VALUE
    }

    /// For a device filter, the device class code it names (`None` when the
    /// value names no class and so matches nothing).
    pub fn device_code(&self) -> Option<u8> {
        DeviceClass::from_name(&self.value).map(DeviceClass::code)
    }
}

/// Parses a filter string; an empty string is no filter.
pub fn parse_filters(raw: &str) -> Result<Vec<Filter>, CoreError> {
    let bad = |msg: String| CoreError::InvalidFilter(msg);
    let mut filters = Vec::new();
    for part in raw.split(';').filter(|p| !p.trim().is_empty()) {
        let (name, op, value) = if let Some((name, value)) = part.split_once("!=") {
            (name, FilterOp::IsNot, value)
        } else if let Some((name, value)) = part.split_once("==") {
            (name, FilterOp::Is, value)
        } else {
            return Err(bad(format!(
                "{part:?} is not of the form name==value or name!=value"
            )));
        };
        let name = name.trim();
        let dimension = Dimension::from_filter_name(name)
            .ok_or_else(|| bad(format!("unknown filter {name:?}")))?;
        if value.is_empty() || value.len() > MAX_FILTER_VALUE_LEN {
            return Err(bad(format!(
                "the value of {name} must be 1 to {MAX_FILTER_VALUE_LEN} bytes"
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(bad(format!(
                "the value of {name} contains control characters"
            )));
        }
        filters.push(Filter {
            dimension,
            op,
            value: value.to_owned(),
        });
        if filters.len() > MAX_FILTERS {
            return Err(bad(format!("at most {MAX_FILTERS} filters are allowed")));
        }
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn filters_parse() {
        let filters = parse_filters("page==/pricing;source==Google;country!=DE").unwrap();
        assert_eq!(filters.len(), 3);
        assert_eq!(filters[0].dimension, Dimension::Page);
        assert_eq!(filters[0].value, "/pricing");
        assert_eq!(filters[2].op, FilterOp::IsNot);
        let props = parse_filters("props.plan==pro;device==Mobile").unwrap();
        assert_eq!(props[0].dimension, Dimension::Prop("plan".into()));
        assert_eq!(props[1].device_code(), Some(1));
        assert!(parse_filters("").unwrap().is_empty());
        assert!(parse_filters("source==(unknown)").unwrap()[0].is_unknown());
        for bad in [
            "page=/x",
            "nope==1",
            "page==",
            "props.==x",
            "page==a\u{1}b",
            &"page==/a;".repeat(11),
        ] {
            assert!(parse_filters(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn breakdown_names() {
        assert_eq!(
            Dimension::from_breakdown_name("pages"),
            Some(Dimension::Page)
        );
        assert_eq!(Dimension::from_breakdown_name("page"), None);
        assert!(Dimension::Source.is_visit_level());
        assert!(!Dimension::Event.is_visit_level());
        assert!(Dimension::prop("").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(raw in ".{0,200}") {
            let _ = parse_filters(&raw);
        }
    }
}
