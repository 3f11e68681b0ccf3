//! The query parameters of the stats API, validated into typed values.
//!
//! Parameters are read from the raw query string (percent-decoded, invalid
//! UTF-8 replaced), so no input can make the extractor itself fail with a
//! body other than the documented `{"error": "..."}`.

use std::collections::HashMap;

use mallard_core::filter::parse_filters;
use mallard_core::{Filter, Interval, Period, SiteId};

use crate::error::ApiError;

/// The error of a missing or invalid `site_id`, word for word as Mallard
/// documents it.
pub const INVALID_SITE_ID: &str = "Invalid site_id";

/// The default number of breakdown rows.
pub const DEFAULT_LIMIT: usize = 10;
/// The most breakdown rows one request may ask for.
pub const MAX_LIMIT: usize = 1_000;

/// The decoded query string; the first occurrence of a name wins.
#[derive(Debug, Default)]
pub struct RawParams(HashMap<String, String>);

impl RawParams {
    /// Decodes `query` (the part after `?`).
    pub fn parse(query: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            map.entry(name.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        Self(map)
    }

    /// A parameter's value; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The parameters every stats endpoint takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommonParams {
    /// The site.
    pub site: SiteId,
    /// The period (resolved against the site's calendar when the query runs).
    pub period: Period,
    /// Filters; empty for none.
    pub filters: Vec<Filter>,
    /// Whether daily aggregates imported from another tool count too
    /// (`with_imported=true`; they never count under filters).
    pub with_imported: bool,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

impl CommonParams {
    /// Validates `site_id`, `period`, `start_date`, `end_date` and `filters`.
    pub fn from_raw(raw: &RawParams) -> Result<Self, ApiError> {
        // Mallard's body for a missing, empty, too long or malformed site id.
        let site = raw
            .get("site_id")
            .and_then(|site| SiteId::parse(site).ok())
            .ok_or_else(|| bad(INVALID_SITE_ID))?;
        let period = Period::parse(
            raw.get("period"),
            raw.get("start_date"),
            raw.get("end_date"),
        )
        .map_err(|e| bad(e.to_string()))?;
        let filters =
            parse_filters(raw.get("filters").unwrap_or("")).map_err(|e| bad(e.to_string()))?;
        let with_imported = match raw.get("with_imported") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(bad("with_imported must be true or false")),
        };
        Ok(Self {
            site,
            period,
            filters,
            with_imported,
        })
    }
}

/// `compare`: only `previous` is known.
pub fn compare_previous(raw: &RawParams) -> Result<bool, ApiError> {
    match raw.get("compare") {
        None => Ok(false),
        Some("previous") => Ok(true),
        Some(_) => Err(bad("compare must be previous")),
    }
}

/// `interval`, defaulting to hourly for one day and daily otherwise.
pub fn interval(raw: &RawParams, period: &Period) -> Result<Interval, ApiError> {
    match raw.get("interval") {
        None => Ok(period.default_interval()),
        Some(value) => Interval::parse(value).map_err(|e| bad(e.to_string())),
    }
}

/// `limit`: 1 to 1000, default 10.
pub fn limit(raw: &RawParams) -> Result<usize, ApiError> {
    match raw.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(value) => match value.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(query: &str) -> RawParams {
        RawParams::parse(Some(query))
    }

    #[test]
    fn common_parameters_validate() {
        let ok = CommonParams::from_raw(&raw(
            "site_id=example.com&period=7d&filters=page%3D%3D%2Fpricing%3Bcountry!%3DDE",
        ))
        .unwrap();
        assert_eq!(ok.site.as_str(), "example.com");
        assert_eq!(ok.filters.len(), 2);
        assert!(!ok.with_imported);
        let imported =
            CommonParams::from_raw(&raw("site_id=example.com&with_imported=true")).unwrap();
        assert!(imported.with_imported);
        for bad in [
            "",
            "site_id=",
            "site_id=a%20b",
            "site_id=x&period=5d",
            "site_id=x&start_date=2024-01-01",
            "site_id=x&start_date=2024-01-02&end_date=2024-01-01",
            "site_id=x&start_date=2024-01-01&end_date=2025-06-01",
            "site_id=x&filters=nope%3D%3D1",
            "site_id=x&filters=page%3D1",
            "site_id=x&with_imported=yes",
        ] {
            assert!(CommonParams::from_raw(&raw(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_intervals_and_compare() {
        assert_eq!(limit(&raw("")).unwrap(), 10);
        assert_eq!(limit(&raw("limit=1000")).unwrap(), 1000);
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=ten",
            "limit=1.5",
        ] {
            assert!(limit(&raw(bad)).is_err(), "{bad}");
        }
        assert_eq!(interval(&raw(""), &Period::Today).unwrap(), Interval::Hour);
        assert_eq!(
            interval(&raw("interval=month"), &Period::Today).unwrap(),
            Interval::Month
        );
        assert!(interval(&raw("interval=year"), &Period::Today).is_err());
        assert!(compare_previous(&raw("compare=previous")).unwrap());
        assert!(compare_previous(&raw("compare=last")).is_err());
        assert!(!compare_previous(&raw("")).unwrap());
    }
}
