//! GoatCounter's CSV export, format version 2: one row per page view or
//! event ("hit"), as GoatCounter writes it with Go's `encoding/csv`.
//!
//! The first line is the header, whose first column carries the format
//! version before its name (`2Path`); the columns, in order, are `Path`,
//! `Title`, `Event`, `UserAgent`, `Browser`, `System`, `Session`, `Bot`,
//! `Referrer`, `Referrer scheme`, `Screen size`, `Location`, `FirstVisit` and
//! `Date`. Fields may be quoted with `"` (a `"` inside doubled); a quoted
//! field may hold commas. A row is one line: a field holding a line break is
//! reported as unreadable rather than read across lines.

use crate::access_log::LineError;

/// The columns of a version 2 export, in order (the first one after its
/// version number).
pub const COLUMNS: [&str; 14] = [
    "Path",
    "Title",
    "Event",
    "UserAgent",
    "Browser",
    "System",
    "Session",
    "Bot",
    "Referrer",
    "Referrer scheme",
    "Screen size",
    "Location",
    "FirstVisit",
    "Date",
];

/// The export format version this reads.
pub const VERSION: &str = "2";

/// Why a file is not a GoatCounter export this reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Another version of the format.
    #[error(
        "a GoatCounter CSV export of format version {0}; this reads version 2 (export it again \
         from GoatCounter's Settings → Export)"
    )]
    Version(String),
    /// Not a GoatCounter export at all.
    #[error(
        "not a GoatCounter CSV export: its first line must be the header \
         2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,\
         Screen size,Location,FirstVisit,Date"
    )]
    Columns,
}

/// Checks the header line of an export.
pub fn check_header(line: &str) -> Result<(), HeaderError> {
    let line = line.trim_start_matches('\u{feff}');
    let fields = split_line(line).map_err(|_| HeaderError::Columns)?;
    let first = fields.first().map(String::as_str).unwrap_or_default();
    let version: String = first.chars().take_while(char::is_ascii_digit).collect();
    let names_match = fields.len() == COLUMNS.len()
        && first[version.len()..].eq_ignore_ascii_case(COLUMNS[0])
        && fields[1..]
            .iter()
            .zip(&COLUMNS[1..])
            // Exports differ in spelling: "UserAgent" or "User-Agent".
            .all(|(field, name)| squash(field) == squash(name));
    if !names_match {
        return Err(HeaderError::Columns);
    }
    if version != VERSION {
        return Err(HeaderError::Version(if version.is_empty() {
            "unknown".into()
        } else {
            version
        }));
    }
    Ok(())
}

/// A column name without case, spaces and dashes.
fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// How GoatCounter recorded where a visitor came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// No referrer.
    Direct,
    /// A referring URL without its scheme (`www.reddit.com/r/rust`).
    Url(String),
    /// A name GoatCounter gave the source (`Email`, `Hacker News`).
    Named(String),
    /// A campaign parameter's text.
    Campaign(String),
}

/// One row of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The page path, or the event's name for an event.
    pub path: String,
    /// Whether it is a custom event.
    pub event: bool,
    /// The user agent header, when the export still has it (older ones).
    pub user_agent: Option<String>,
    /// The browser name and version (`Chrome`, `86`).
    pub browser: Option<(String, Option<String>)>,
    /// The system name and version (`Windows`, `7`).
    pub system: Option<(String, Option<String>)>,
    /// GoatCounter's session id: the hits of one visitor's session.
    pub session: String,
    /// Whether GoatCounter flagged the hit as a bot's.
    pub bot: bool,
    /// Where the visitor came from.
    pub origin: Origin,
    /// The screen width in CSS pixels.
    pub screen_width: Option<u16>,
    /// The ISO 3166-1 country code (`US` of `US-TX`).
    pub country: Option<String>,
    /// When, in milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// Reads one data row.
pub fn parse_row(line: &str) -> Result<Hit, LineError> {
    let fields = split_line(line)?;
    if fields.len() != COLUMNS.len() {
        return Err(LineError::Layout("GoatCounter CSV (14 columns)"));
    }
    let text = |index: usize| -> Option<String> {
        let value = fields[index].trim();
        (!value.is_empty()).then(|| value.to_owned())
    };
    let path = text(0).ok_or_else(|| LineError::field("Path", ""))?;
    let event = flag("Event", &fields[2])?;
    let bot = match fields[7].trim() {
        "" | "0" => false,
        value if value.parse::<u16>().is_ok() => true,
        other => return Err(LineError::field("Bot", other)),
    };
    let origin = match (text(8), fields[9].trim()) {
        (None, _) => Origin::Direct,
        (Some(referrer), "h" | "") => Origin::Url(referrer),
        (Some(referrer), "g" | "o") => Origin::Named(referrer),
        (Some(referrer), "c") => Origin::Campaign(referrer),
        (Some(_), other) => return Err(LineError::field("Referrer scheme", other)),
    };
    let screen_width = match text(10) {
        None => None,
        Some(size) => {
            let width = size.split(',').next().unwrap_or_default().trim();
            // GoatCounter writes 0 when the width is unknown.
            let width: f64 = width
                .parse()
                .map_err(|_| LineError::field("Screen size", &size))?;
            (width >= 1.0 && width <= f64::from(u16::MAX)).then_some(width as u16)
        }
    };
    let country = match text(11) {
        None => None,
        Some(location) => {
            let code = location.split('-').next().unwrap_or_default();
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(LineError::field("Location", &location));
            }
            Some(code.to_ascii_uppercase())
        }
    };
    let date = text(13).ok_or_else(|| LineError::field("Date", ""))?;
    let timestamp_ms = crate::access_log::clf_time::parse_rfc3339(&date)?;
    Ok(Hit {
        path,
        event,
        user_agent: text(3),
        browser: text(4).map(|value| name_and_version(&value)),
        system: text(5).map(|value| name_and_version(&value)),
        session: fields[6].trim().to_owned(),
        bot,
        origin,
        screen_width,
        country,
        timestamp_ms,
    })
}

/// A true/false column (`true`, `false`, `1`, `0`, empty for false).
fn flag(name: &'static str, value: &str) -> Result<bool, LineError> {
    match value.trim() {
        "1" | "true" | "t" | "TRUE" | "True" => Ok(true),
        "" | "0" | "false" | "f" | "FALSE" | "False" => Ok(false),
        other => Err(LineError::field(name, other)),
    }
}

/// `Chrome 86` as `("Chrome", Some("86"))`, `Mac OS X 10.15` as
/// `("Mac OS X", Some("10.15"))`: the version is the last word when it
/// starts with a digit.
fn name_and_version(value: &str) -> (String, Option<String>) {
    match value.rsplit_once(' ') {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => {
            (name.trim().to_owned(), Some(version.to_owned()))
        }
        _ => (value.to_owned(), None),
    }
}

pub use crate::csv_line::split_line;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,\
                          Referrer scheme,Screen size,Location,FirstVisit,Date";

    #[test]
    fn the_header_of_version_2_is_read_and_others_named() {
        assert_eq!(check_header(HEADER), Ok(()));
        assert_eq!(
            check_header(&HEADER.replace("UserAgent", "User-Agent")),
            Ok(())
        );
        assert_eq!(
            check_header(&HEADER.replacen('2', "3", 1)),
            Err(HeaderError::Version("3".into()))
        );
        assert_eq!(
            check_header("date,visitors,pageviews"),
            Err(HeaderError::Columns)
        );
        let message = HeaderError::Columns.to_string();
        assert!(message.contains("2Path,Title,Event"), "{message}");
    }

    #[test]
    fn rows_of_goatcounters_own_example_are_read() {
        let row = parse_row(
            r#"/static-go.html,Statically compiling Go programs,0,"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0.2 Safari/605.1.15",Safari 14.0,macOS 10.15,c8b722d57674550-bcd20ab1989d7739,0,www.reddit.com,h,"1680,1050,2",RO,1,2020-12-27T00:37:37Z"#,
        )
        .unwrap();
        assert_eq!(row.path, "/static-go.html");
        assert!(!row.event && !row.bot);
        assert_eq!(row.browser, Some(("Safari".into(), Some("14.0".into()))));
        assert_eq!(row.system, Some(("macOS".into(), Some("10.15".into()))));
        assert_eq!(row.session, "c8b722d57674550-bcd20ab1989d7739");
        assert_eq!(row.origin, Origin::Url("www.reddit.com".into()));
        assert_eq!(row.screen_width, Some(1680));
        assert_eq!(row.country.as_deref(), Some("RO"));
        assert_eq!(row.timestamp_ms, 1_609_029_457_000);
        assert!(row.user_agent.unwrap().contains("Safari/605"));

        let event = parse_row(
            "click-cv-html,HTML source,1,,Chrome 86,Windows 7,287fb97cbed4e4f-8e4f5c975b8fee06,0,Email,g,\"1280,768,1\",US-TX,1,2020-12-01T00:07:10Z",
        )
        .unwrap();
        assert!(event.event);
        assert_eq!(event.user_agent, None);
        assert_eq!(event.origin, Origin::Named("Email".into()));
        assert_eq!(event.country.as_deref(), Some("US"));
    }

    #[test]
    fn bad_rows_say_which_field() {
        let good = "/a,,0,,,,s,0,,,,,1,2024-01-01T00:00:00Z";
        assert!(parse_row(good).is_ok());
        for (row, field) in [
            ("/a,,maybe,,,,s,0,,,,,1,2024-01-01T00:00:00Z", "Event"),
            ("/a,,0,,,,s,x,,,,,1,2024-01-01T00:00:00Z", "Bot"),
            (
                "/a,,0,,,,s,0,a.b,z,,,1,2024-01-01T00:00:00Z",
                "Referrer scheme",
            ),
            ("/a,,0,,,,s,0,,,wide,,1,2024-01-01T00:00:00Z", "Screen size"),
            ("/a,,0,,,,s,0,,,,Texas,1,2024-01-01T00:00:00Z", "Location"),
            (",,0,,,,s,0,,,,,1,2024-01-01T00:00:00Z", "Path"),
        ] {
            let err = parse_row(row).unwrap_err().to_string();
            assert!(err.contains(field), "{row}: {err}");
        }
        assert!(parse_row("/a,b").is_err());
        assert!(parse_row("/a,,0,,,,s,0,,,,,1,yesterday").is_err());
        assert!(parse_row("\"/a,,0").is_err());
    }

    proptest! {
        #[test]
        fn fields_survive_quoting(fields in proptest::collection::vec("[^\r\n]{0,12}", 1..16)) {
            let line = fields
                .iter()
                .map(|f| if f.contains([',', '"']) || f.starts_with('"') {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                })
                .collect::<Vec<_>>()
                .join(",");
            prop_assert_eq!(split_line(&line).unwrap(), fields);
        }

        #[test]
        fn any_line_is_read_or_refused_without_panicking(line in "[^\r\n]{0,200}") {
            let _ = parse_row(&line);
            let _ = check_header(&line);
        }
    }
}
