//! The extra parameters of the behavioural endpoints (sessions, funnel,
//! retention, sequences, flow, export), validated into typed values. Every
//! bad value is a 400 with the flat error body.

use mallard_core::Step;
use mallard_core::step::{MAX_STEP_PATH_LEN, parse_funnel_steps};

use super::params::RawParams;
use crate::error::ApiError;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// A whole number parameter within `min..=max`, `default` when absent.
pub fn bounded(
    raw: &RawParams,
    name: &str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match raw.get(name) {
        None => Ok(default),
        Some(value) => match value.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "{name} must be a whole number from {min} to {max}"
            ))),
        },
    }
}

/// `steps`: 2 to 8 steps `page:/path`, `event:name` or `goal:NAME`,
/// separated by `,` or `;`.
pub fn steps(raw: &RawParams) -> Result<Vec<Step>, ApiError> {
    let value = raw
        .get("steps")
        .ok_or_else(|| bad("steps is required, e.g. steps=page:/;page:/pricing;event:Signup"))?;
    parse_funnel_steps(value).map_err(|e| bad(e.to_string()))
}

/// The longest funnel window: one day.
pub const MAX_WINDOW_SECS: i64 = 86_400;

/// `window`: seconds (`600`), a number with a unit letter (`90s`, `30m`,
/// `2h`, `1d`), or a number and a unit word as Mallard documents it (`30
/// minutes`, `2 hours`, `1 day`: `second`, `minute`, `hour`, `day`, singular
/// or plural, any case), from 1 second to 1 day; absent, `None`.
pub fn window_secs(raw: &RawParams) -> Result<Option<i64>, ApiError> {
    let Some(value) = raw.get("window") else {
        return Ok(None);
    };
    parse_window(value).map(Some).ok_or_else(|| {
        bad(
            "window must be 1 second to 1 day: seconds, a number with s, m, h or d (30m), \
             or a number and a unit (30 minutes, 2 hours, 1 day)",
        )
    })
}

/// The seconds of a `window` value (see [`window_secs`]).
fn parse_window(value: &str) -> Option<i64> {
    let (number, unit) = match value.split_once(' ') {
        Some((number, word)) => {
            let word = word.trim_start_matches(' ').to_ascii_lowercase();
            let unit = match word.strip_suffix('s').unwrap_or(&word) {
                "second" => 1,
                "minute" => 60,
                "hour" => 3_600,
                "day" => 86_400,
                _ => return None,
            };
            (number, unit)
        }
        None => match value.char_indices().last() {
            Some((at, 's')) => (&value[..at], 1),
            Some((at, 'm')) => (&value[..at], 60),
            Some((at, 'h')) => (&value[..at], 3_600),
            Some((at, 'd')) => (&value[..at], 86_400),
            _ => (value, 1),
        },
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|s| (1..=MAX_WINDOW_SECS).contains(s))
}

/// `page` of a flow: a path starting with `/`.
pub fn page(raw: &RawParams) -> Result<String, ApiError> {
    let value = raw
        .get("page")
        .ok_or_else(|| bad("page is required, e.g. page=/pricing"))?;
    if !value.starts_with('/')
        || value.len() > MAX_STEP_PATH_LEN
        || value.chars().any(char::is_control)
    {
        return Err(bad(format!(
            "page must be a path starting with / (at most {MAX_STEP_PATH_LEN} bytes, no control characters)"
        )));
    }
    Ok(value.to_owned())
}

/// `order` of the sessions list: `newest` (default) or `oldest`; true for oldest first.
pub fn oldest_first(raw: &RawParams) -> Result<bool, ApiError> {
    match raw.get("order") {
        None | Some("newest") => Ok(false),
        Some("oldest") => Ok(true),
        Some(_) => Err(bad("order must be newest or oldest")),
    }
}

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl ExportFormat {
    /// `format`: `csv` (default) or `json`.
    pub fn from_raw(raw: &RawParams) -> Result<Self, ApiError> {
        match raw.get("format") {
            None | Some("csv") => Ok(Self::Csv),
            Some("json") => Ok(Self::Json),
            Some(_) => Err(bad("format must be csv or json")),
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    /// The `Content-Type` of the file.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
        }
    }
}

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportData {
    /// One row per event.
    Events,
    /// One row per visit.
    Sessions,
}

impl ExportData {
    /// `data`: `events` (default) or `sessions`.
    pub fn from_raw(raw: &RawParams) -> Result<Self, ApiError> {
        match raw.get("data") {
            None | Some("events") => Ok(Self::Events),
            Some("sessions") => Ok(Self::Sessions),
            Some(_) => Err(bad("data must be events or sessions")),
        }
    }

    /// The name used in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Sessions => "sessions",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(query: &str) -> RawParams {
        RawParams::parse(Some(query))
    }

    #[test]
    fn windows_parse_with_units_and_refuse_junk() {
        assert_eq!(window_secs(&raw("")).unwrap(), None);
        assert_eq!(window_secs(&raw("window=600")).unwrap(), Some(600));
        assert_eq!(window_secs(&raw("window=90s")).unwrap(), Some(90));
        assert_eq!(window_secs(&raw("window=30m")).unwrap(), Some(1_800));
        assert_eq!(window_secs(&raw("window=2h")).unwrap(), Some(7_200));
        assert_eq!(window_secs(&raw("window=1d")).unwrap(), Some(86_400));
        // As Mallard documents it: a number and a unit word.
        assert_eq!(window_secs(&raw("window=1+day")).unwrap(), Some(86_400));
        assert_eq!(window_secs(&raw("window=30+minutes")).unwrap(), Some(1_800));
        assert_eq!(window_secs(&raw("window=2%20hours")).unwrap(), Some(7_200));
        assert_eq!(window_secs(&raw("window=1+Hour")).unwrap(), Some(3_600));
        assert_eq!(window_secs(&raw("window=45+seconds")).unwrap(), Some(45));
        assert_eq!(
            window_secs(&raw("window=1440+minutes")).unwrap(),
            Some(86_400)
        );
        for bad in [
            "window=0",
            "window=2d",
            "window=2+days",
            "window=0+hours",
            "window=1+week",
            "window=hours",
            "window=+hours",
            "window=1+hours+ago",
            "window=1.5+hours",
            "window=-1+hour",
            "window=-5",
            "window=m",
            "window=1.5h",
            "window=5w",
            "window=%2B5",
            "window=99999999999999999999",
        ] {
            assert!(window_secs(&raw(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_parameters_validate() {
        assert_eq!(bounded(&raw("weeks=52"), "weeks", 4, 1, 52).unwrap(), 52);
        assert_eq!(bounded(&raw(""), "weeks", 4, 1, 52).unwrap(), 4);
        for bad in ["weeks=0", "weeks=53", "weeks=x", "weeks=-1"] {
            assert!(bounded(&raw(bad), "weeks", 4, 1, 52).is_err(), "{bad}");
        }
        assert!(steps(&raw("")).is_err());
        assert_eq!(steps(&raw("steps=page:/;event:Signup")).unwrap().len(), 2);
        assert_eq!(page(&raw("page=/pricing")).unwrap(), "/pricing");
        assert!(page(&raw("page=pricing")).is_err());
        assert!(page(&raw("")).is_err());
        assert!(oldest_first(&raw("order=oldest")).unwrap());
        assert!(oldest_first(&raw("order=random")).is_err());
        assert_eq!(ExportFormat::from_raw(&raw("")).unwrap(), ExportFormat::Csv);
        assert!(ExportFormat::from_raw(&raw("format=xml")).is_err());
        assert_eq!(
            ExportData::from_raw(&raw("data=sessions")).unwrap(),
            ExportData::Sessions
        );
        assert!(ExportData::from_raw(&raw("data=pages")).is_err());
    }
}
