//! Plausible's CSV export: daily aggregate tables, one CSV file per table,
//! named `imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv` (or without the
//! `imported_` prefix), usually sent as one zip.
//!
//! Each file starts with a header naming its columns (ClickHouse's
//! `CSVWithNames`), so columns are found by name: an export of an older
//! Plausible version, without the columns added since (`pageviews` in most
//! tables, `referrer` and `utm_source` in sources), still reads, with those
//! counts as zero. A day is a date of the site's own time zone, as
//! Plausible keeps it.
//!
//! Aggregates cannot become events. Each row becomes one or more
//! [`ImportedRecord`]s: a day, a dimension ([`ImportedDimension`]) with a
//! value as this app labels it (`Microsoft Edge` is `Edge`, `Mac` is
//! `macOS`, `Direct / None` is the unknown source), and its counts.
//! Regions and cities are not kept: Plausible exports them as ISO and
//! GeoNames codes, while this app names them in English.

use crate::DeviceClass;
use crate::access_log::LineError;
use crate::csv_line::split_line;
use crate::filter::{Dimension, UNKNOWN_VALUE};
use crate::period::parse_date;

/// One of the tables of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Daily totals: visitors, page views, visits, bounces, durations.
    Visitors,
    /// Sources, referrers and UTM tags.
    Sources,
    /// Pages.
    Pages,
    /// Entry pages.
    EntryPages,
    /// Exit pages.
    ExitPages,
    /// Countries (regions and cities are not kept).
    Locations,
    /// Device classes.
    Devices,
    /// Browsers.
    Browsers,
    /// Operating systems.
    OperatingSystems,
    /// Custom events.
    CustomEvents,
}

impl Table {
    /// Every table an export may hold.
    pub const ALL: [Table; 10] = [
        Table::Visitors,
        Table::Sources,
        Table::Pages,
        Table::EntryPages,
        Table::ExitPages,
        Table::Locations,
        Table::Devices,
        Table::Browsers,
        Table::OperatingSystems,
        Table::CustomEvents,
    ];

    /// The table's name, as in the export's file names.
    pub fn name(self) -> &'static str {
        match self {
            Table::Visitors => "imported_visitors",
            Table::Sources => "imported_sources",
            Table::Pages => "imported_pages",
            Table::EntryPages => "imported_entry_pages",
            Table::ExitPages => "imported_exit_pages",
            Table::Locations => "imported_locations",
            Table::Devices => "imported_devices",
            Table::Browsers => "imported_browsers",
            Table::OperatingSystems => "imported_operating_systems",
            Table::CustomEvents => "imported_custom_events",
        }
    }

    /// The columns every version of the export has.
    fn required(self) -> &'static [&'static str] {
        match self {
            Table::Visitors => &[
                "date",
                "visitors",
                "pageviews",
                "bounces",
                "visits",
                "visit_duration",
            ],
            Table::Sources => &[
                "date",
                "source",
                "visitors",
                "visits",
                "visit_duration",
                "bounces",
            ],
            Table::Pages => &["date", "page", "visitors", "pageviews"],
            Table::EntryPages => &[
                "date",
                "entry_page",
                "visitors",
                "entrances",
                "visit_duration",
                "bounces",
            ],
            Table::ExitPages => &["date", "exit_page", "visitors", "exits"],
            Table::Locations => &[
                "date",
                "country",
                "visitors",
                "visits",
                "visit_duration",
                "bounces",
            ],
            Table::Devices => &[
                "date",
                "device",
                "visitors",
                "visits",
                "visit_duration",
                "bounces",
            ],
            Table::Browsers => &[
                "date",
                "browser",
                "visitors",
                "visits",
                "visit_duration",
                "bounces",
            ],
            Table::OperatingSystems => &[
                "date",
                "operating_system",
                "visitors",
                "visits",
                "visit_duration",
                "bounces",
            ],
            Table::CustomEvents => &["date", "name", "visitors", "events"],
        }
    }

    /// The columns newer versions added, read when present.
    fn optional(self) -> &'static [&'static str] {
        match self {
            Table::Visitors | Table::CustomEvents => &[],
            Table::Sources => &[
                "referrer",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_content",
                "utm_term",
                "pageviews",
            ],
            Table::Pages => &["visits"],
            Table::ExitPages => &["visit_duration", "bounces", "pageviews"],
            Table::EntryPages
            | Table::Locations
            | Table::Devices
            | Table::Browsers
            | Table::OperatingSystems => &["pageviews"],
        }
    }
}

/// What a file's name says: its table and the days it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportFile {
    /// The table.
    pub table: Table,
    /// The first day (a local day number).
    pub first_day: i64,
    /// The last day.
    pub last_day: i64,
}

/// The expected file names, for messages about a file that is not one.
pub const EXPECTED_FILE_NAMES: &str = "imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv, where <table> \
     is visitors, sources, pages, entry_pages, exit_pages, locations, devices, browsers, \
     operating_systems or custom_events";

/// Reads a file name (the last part of a path) of an export:
/// `imported_pages_20230101_20231231.csv` or `pages_20230101_20231231.csv`.
pub fn parse_file_name(name: &str) -> Option<ExportFile> {
    let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = name.strip_suffix(".csv")?;
    let (rest, last) = stem.rsplit_once('_')?;
    let (table_name, first) = rest.rsplit_once('_')?;
    let table_name = table_name.strip_prefix("imported_").unwrap_or(table_name);
    let table = Table::ALL
        .into_iter()
        .find(|table| table.name().strip_prefix("imported_") == Some(table_name))?;
    let day = |digits: &str| {
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parse_date(&format!(
            "{}-{}-{}",
            &digits[0..4],
            &digits[4..6],
            &digits[6..8]
        ))
    };
    let (first_day, last_day) = (day(first)?, day(last)?);
    (first_day <= last_day).then_some(ExportFile {
        table,
        first_day,
        last_day,
    })
}

/// What an imported count is about; stored by [`ImportedDimension::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImportedDimension {
    /// The day's totals (value empty).
    Totals,
    /// Sources.
    Source,
    /// Referrer URLs.
    Referrer,
    /// `utm_source`.
    UtmSource,
    /// `utm_medium`.
    UtmMedium,
    /// `utm_campaign`.
    UtmCampaign,
    /// `utm_content`.
    UtmContent,
    /// `utm_term`.
    UtmTerm,
    /// Pages.
    Page,
    /// Entry pages.
    EntryPage,
    /// Exit pages.
    ExitPage,
    /// Countries (ISO 3166-1 alpha-2).
    Country,
    /// Device classes.
    Device,
    /// Browsers.
    Browser,
    /// Operating systems.
    Os,
    /// Custom event names.
    Event,
}

impl ImportedDimension {
    /// Every dimension, in code order.
    pub const ALL: [ImportedDimension; 16] = [
        Self::Totals,
        Self::Source,
        Self::Referrer,
        Self::UtmSource,
        Self::UtmMedium,
        Self::UtmCampaign,
        Self::UtmContent,
        Self::UtmTerm,
        Self::Page,
        Self::EntryPage,
        Self::ExitPage,
        Self::Country,
        Self::Device,
        Self::Browser,
        Self::Os,
        Self::Event,
    ];

    /// The stored code.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|d| *d == self).unwrap_or(0) as u8
    }

    /// The imported counts a breakdown of `dimension` can use, if any.
    pub fn of(dimension: &Dimension) -> Option<Self> {
        Some(match dimension {
            Dimension::Page => Self::Page,
            Dimension::EntryPage => Self::EntryPage,
            Dimension::ExitPage => Self::ExitPage,
            Dimension::Source => Self::Source,
            Dimension::Referrer => Self::Referrer,
            Dimension::UtmSource => Self::UtmSource,
            Dimension::UtmMedium => Self::UtmMedium,
            Dimension::UtmCampaign => Self::UtmCampaign,
            Dimension::UtmTerm => Self::UtmTerm,
            Dimension::UtmContent => Self::UtmContent,
            Dimension::Browser => Self::Browser,
            Dimension::Os => Self::Os,
            Dimension::Device => Self::Device,
            Dimension::Country => Self::Country,
            Dimension::Event => Self::Event,
            Dimension::Region
            | Dimension::City
            | Dimension::ScreenSize
            | Dimension::Prop(_)
            | Dimension::Goal => {
                return None;
            }
        })
    }
}

/// The counts of one imported row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportedMetrics {
    /// Visitors (summed over days and rows, as Plausible sums them).
    pub visitors: u64,
    /// Visits (entrances for entry pages, exits for exit pages).
    pub visits: u64,
    /// Page views.
    pub pageviews: u64,
    /// Visits with one page view.
    pub bounces: u64,
    /// The visits' durations summed, in seconds.
    pub visit_duration_secs: u64,
    /// Events: page views, or a custom event's count.
    pub events: u64,
}

impl std::ops::AddAssign for ImportedMetrics {
    fn add_assign(&mut self, other: Self) {
        self.visitors += other.visitors;
        self.visits += other.visits;
        self.pageviews += other.pageviews;
        self.bounces += other.bounces;
        self.visit_duration_secs += other.visit_duration_secs;
        self.events += other.events;
    }
}

/// One count of one day, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRecord {
    /// The local day number.
    pub day: i64,
    /// What the value is.
    pub dimension: ImportedDimension,
    /// The value as this app labels it; empty for totals.
    pub value: String,
    /// Its counts.
    pub metrics: ImportedMetrics,
}

/// Why a file cannot be read as its table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a Plausible export's {table} table: missing the column(s) {missing}; its header must \
     name {expected}"
)]
pub struct HeaderError {
    /// The table the file's name says.
    pub table: &'static str,
    /// The columns not found.
    pub missing: String,
    /// Every column the table needs.
    pub expected: String,
}

/// Reads the rows of one table, its columns found by the header's names.
#[derive(Debug, Clone)]
pub struct TableReader {
    table: Table,
    /// Where each required, then each optional, column is in a row.
    required: Vec<usize>,
    optional: Vec<Option<usize>>,
}

impl TableReader {
    /// Reads the header line of a file of `table`.
    pub fn new(table: Table, header: &str) -> Result<Self, HeaderError> {
        let header = header.trim_start_matches('\u{feff}');
        let names: Vec<String> = split_line(header)
            .unwrap_or_default()
            .into_iter()
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        let find = |column: &str| names.iter().position(|name| name == column);
        let missing: Vec<&str> = table
            .required()
            .iter()
            .copied()
            .filter(|column| find(column).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(HeaderError {
                table: table.name(),
                missing: missing.join(", "),
                expected: table.required().join(","),
            });
        }
        Ok(Self {
            table,
            required: table.required().iter().filter_map(|c| find(c)).collect(),
            optional: table.optional().iter().map(|c| find(c)).collect(),
        })
    }

    /// The table read.
    pub fn table(&self) -> Table {
        self.table
    }

    /// Reads one data line into its records (none for a row of zeros).
    pub fn read_row(&self, line: &str) -> Result<Vec<ImportedRecord>, LineError> {
        let fields = split_line(line)?;
        let row = Row {
            fields: &fields,
            reader: self,
        };
        let day = {
            let raw = row.required(0)?;
            parse_date(raw.trim()).ok_or_else(|| LineError::field("date", raw))?
        };
        let records = match self.table {
            Table::Visitors => {
                let pageviews = row.count_required(2, "pageviews")?;
                vec![(
                    ImportedDimension::Totals,
                    String::new(),
                    ImportedMetrics {
                        visitors: row.count_required(1, "visitors")?,
                        pageviews,
                        bounces: row.count_required(3, "bounces")?,
                        visits: row.count_required(4, "visits")?,
                        visit_duration_secs: row.count_required(5, "visit_duration")?,
                        events: pageviews,
                    },
                )]
            }
            Table::Sources => {
                let metrics = row.visit_metrics("visits", row.count_optional(6, "pageviews")?)?;
                let source = match row.required(1)?.trim() {
                    "Direct / None" => "",
                    source => source,
                };
                let mut records = vec![(ImportedDimension::Source, label(source), metrics)];
                let tagged = [
                    ImportedDimension::Referrer,
                    ImportedDimension::UtmSource,
                    ImportedDimension::UtmMedium,
                    ImportedDimension::UtmCampaign,
                    ImportedDimension::UtmContent,
                    ImportedDimension::UtmTerm,
                ];
                for (at, dimension) in tagged.into_iter().enumerate() {
                    if let Some(value) = row.optional(at) {
                        records.push((dimension, label(value), metrics));
                    }
                }
                records
            }
            Table::Pages => {
                let pageviews = row.count_required(3, "pageviews")?;
                vec![(
                    ImportedDimension::Page,
                    page(row.required(1)?),
                    ImportedMetrics {
                        visitors: row.count_required(2, "visitors")?,
                        visits: row.count_optional(0, "visits")?,
                        pageviews,
                        events: pageviews,
                        ..ImportedMetrics::default()
                    },
                )]
            }
            Table::EntryPages => {
                vec![(
                    ImportedDimension::EntryPage,
                    page(row.required(1)?),
                    row.visit_metrics("entrances", row.count_optional(0, "pageviews")?)?,
                )]
            }
            Table::ExitPages => {
                let pageviews = row.count_optional(2, "pageviews")?;
                vec![(
                    ImportedDimension::ExitPage,
                    page(row.required(1)?),
                    ImportedMetrics {
                        visitors: row.count_required(2, "visitors")?,
                        visits: row.count_required(3, "exits")?,
                        visit_duration_secs: row.count_optional(0, "visit_duration")?,
                        bounces: row.count_optional(1, "bounces")?,
                        pageviews,
                        events: pageviews,
                    },
                )]
            }
            Table::Locations | Table::Devices | Table::Browsers | Table::OperatingSystems => {
                let metrics = row.visit_metrics("visits", row.count_optional(0, "pageviews")?)?;
                let raw = row.required(1)?.trim();
                let (dimension, value) = match self.table {
                    Table::Locations => (ImportedDimension::Country, country(raw)),
                    Table::Devices => (ImportedDimension::Device, device(raw)),
                    Table::Browsers => (ImportedDimension::Browser, browser(raw)),
                    _ => (ImportedDimension::Os, operating_system(raw)),
                };
                vec![(dimension, value, metrics)]
            }
            Table::CustomEvents => {
                let name = row.required(1)?.trim();
                if name.is_empty() {
                    return Err(LineError::field("name", name));
                }
                vec![(
                    ImportedDimension::Event,
                    name.to_owned(),
                    ImportedMetrics {
                        visitors: row.count_required(2, "visitors")?,
                        events: row.count_required(3, "events")?,
                        ..ImportedMetrics::default()
                    },
                )]
            }
        };
        Ok(records
            .into_iter()
            .filter(|(_, _, metrics)| *metrics != ImportedMetrics::default())
            .map(|(dimension, value, metrics)| ImportedRecord {
                day,
                dimension,
                value,
                metrics,
            })
            .collect())
    }
}

/// One data line with its reader's column positions.
struct Row<'a> {
    fields: &'a [String],
    reader: &'a TableReader,
}

impl Row<'_> {
    /// The `at`-th required column.
    fn required(&self, at: usize) -> Result<&str, LineError> {
        let column = self.reader.required[at];
        self.fields
            .get(column)
            .map(String::as_str)
            .ok_or(LineError::Layout("Plausible CSV (too few columns)"))
    }

    /// The `at`-th optional column, when the file has it.
    fn optional(&self, at: usize) -> Option<&str> {
        let column = self.reader.optional[at]?;
        self.fields.get(column).map(String::as_str)
    }

    /// The counts of a table of visits: visitors, visits (named
    /// `visits_column`), durations and bounces in required columns 2 to 5,
    /// with `pageviews`.
    fn visit_metrics(
        &self,
        visits_column: &'static str,
        pageviews: u64,
    ) -> Result<ImportedMetrics, LineError> {
        Ok(ImportedMetrics {
            visitors: self.count_required(2, "visitors")?,
            visits: self.count_required(3, visits_column)?,
            visit_duration_secs: self.count_required(4, "visit_duration")?,
            bounces: self.count_required(5, "bounces")?,
            pageviews,
            events: pageviews,
        })
    }

    fn count_required(&self, at: usize, name: &'static str) -> Result<u64, LineError> {
        count(self.required(at)?, name)
    }

    /// An optional count: zero when the file has no such column, or it is
    /// empty (or `\N`, ClickHouse's null).
    fn count_optional(&self, at: usize, name: &'static str) -> Result<u64, LineError> {
        match self.optional(at).map(str::trim) {
            None | Some("" | "\\N") => Ok(0),
            Some(raw) => count(raw, name),
        }
    }
}

fn count(raw: &str, name: &'static str) -> Result<u64, LineError> {
    raw.trim()
        .parse::<u64>()
        .map_err(|_| LineError::field(name, raw))
}

/// A value as stored: empty or `(not set)` is the unknown value.
fn label(raw: &str) -> String {
    match raw.trim() {
        "" | "(not set)" | "(none)" => UNKNOWN_VALUE.to_owned(),
        value => value.to_owned(),
    }
}

fn page(raw: &str) -> String {
    label(raw)
}

fn country(raw: &str) -> String {
    let code = raw.trim().to_ascii_uppercase();
    let real = code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) && code != "ZZ";
    if real { code } else { UNKNOWN_VALUE.to_owned() }
}

/// A device class by its name; any other is the unknown class, as the
/// native breakdown names it.
fn device(raw: &str) -> String {
    DeviceClass::ALL
        .into_iter()
        .find(|class| class.as_str().eq_ignore_ascii_case(raw.trim()))
        .unwrap_or(DeviceClass::Unknown)
        .as_str()
        .to_owned()
}

/// Plausible's browser names, in this app's words where they differ.
fn browser(raw: &str) -> String {
    match raw.trim() {
        "Microsoft Edge" => "Edge".to_owned(),
        "Samsung Browser" => "Samsung Internet".to_owned(),
        other => label(other),
    }
}

/// Plausible's operating system names, in this app's words where they
/// differ.
fn operating_system(raw: &str) -> String {
    match raw.trim() {
        "Mac" => "macOS".to_owned(),
        "GNU/Linux" => "Linux".to_owned(),
        "Chrome OS" => "ChromeOS".to_owned(),
        other => label(other),
    }
}

#[cfg(test)]
mod tests;
