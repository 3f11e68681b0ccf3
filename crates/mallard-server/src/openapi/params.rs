//! The query parameters of the stats API as the OpenAPI description names
//! them. The handlers read the raw query string (so that no input can fail
//! the extractor with another body than the documented one, see
//! [`crate::stats::params`]); these types only describe what they accept,
//! with the same names, ranges and choices as the validation.

use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use crate::stats::behaviour::{MAX_OFFSET, MAX_SEQUENCE_LENGTH, MAX_WEEKS};
use crate::stats::params::MAX_LIMIT;

/// A query parameter.
fn query(name: &str, required: bool, schema: ObjectBuilder, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(Schema::Object(schema.build())))
        .build()
}

/// A string.
fn text() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// One of `values`.
fn choice(values: &[&str]) -> ObjectBuilder {
    text().enum_values(Some(values.iter().copied()))
}

/// A whole number from `min` to `max`.
fn whole(min: usize, max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
}

/// A `YYYY-MM-DD` date.
fn date() -> ObjectBuilder {
    text().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
}

/// Declares a type whose parameters are the common ones and `extra`.
macro_rules! query_params {
    ($(#[$doc:meta])* $name:ident => [$($extra:expr),* $(,)?]) => {
        $(#[$doc])*
        pub(crate) enum $name {}

        impl IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                let mut params = common();
                params.extend([$($extra),*]);
                params
            }
        }
    };
}

/// The parameters every stats endpoint takes.
fn common() -> Vec<Parameter> {
    vec![
        query(
            "site_id",
            true,
            text().pattern(Some("^[A-Za-z0-9._:-]{1,256}$")),
            "The site: letters, digits and . _ : -, at most 256. A missing or invalid one \
             answers 400 {\"error\": \"Invalid site_id\"}.",
        ),
        query(
            "period",
            false,
            choice(&["day", "today", "7d", "30d", "90d", "12mo", "all", "custom"])
                .default(Some("30d".into())),
            "The days counted, in the site's time zone (default 30d).",
        ),
        query(
            "start_date",
            false,
            date(),
            "The first day; given with end_date, it replaces period.",
        ),
        query(
            "end_date",
            false,
            date(),
            "The day after the last (exclusive), at most 366 days after start_date.",
        ),
        query(
            "filters",
            false,
            text(),
            "Conditions that must all hold, separated by ';': name==value or name!=value \
             (page, entry_page, exit_page, source, referrer, utm_*, browser, os, device, \
             country, region, city, screen_size, event, props.KEY).",
        ),
        query(
            "with_imported",
            false,
            choice(&["true", "false"]).default(Some("false".into())),
            "Whether daily aggregates imported from another tool (a Plausible CSV export) \
             count too, on the days before the site's first day of native data: in \
             unfiltered totals, daily, weekly and monthly series and breakdowns other than \
             regions, cities, screen sizes and properties. Default false.",
        ),
    ]
}

fn limit() -> Parameter {
    query(
        "limit",
        false,
        whole(1, MAX_LIMIT).default(Some(10.into())),
        "How many rows (default 10).",
    )
}

fn interval() -> Parameter {
    query(
        "interval",
        false,
        choice(&["hour", "day", "week", "month"]),
        "The buckets: hourly for day and today, daily otherwise by default.",
    )
}

fn steps() -> Parameter {
    query(
        "steps",
        true,
        text(),
        "2 to 8 steps separated by commas: page:/path (a path or a pattern with * and **), \
         event:Name, or goal:NAME (what the site's goal of that name counts, its property \
         included).",
    )
}

fn format() -> Parameter {
    query(
        "format",
        false,
        choice(&["csv", "json"]).default(Some("csv".into())),
        "The file's format (default csv).",
    )
}

query_params! {
    /// The common parameters.
    Common => []
}

query_params! {
    /// The common parameters and `limit`.
    WithLimit => [limit()]
}

query_params! {
    /// The common parameters and `interval`.
    WithInterval => [interval()]
}

query_params! {
    /// The parameters of `main`.
    Main => [
        query("compare", false, choice(&["previous"]), "Adds the previous period of the same length."),
    ]
}

query_params! {
    /// The parameters of `view`.
    View => [
        limit(), interval(),
        query("compare", false, choice(&["previous"]), "Adds the previous period to main."),
        query("breakdowns", false, text(), "Comma-separated breakdown names (pages, sources, props/KEY, ...), at most 12."),
        query("chart", false, choice(&["svg"]), "Adds the time series drawn as SVG."),
        query("width", false, whole(100, 4000), "The chart's width in pixels."),
        query("height", false, whole(100, 2000), "The chart's height in pixels."),
        query("theme", false, choice(&["light", "dark"]), "The chart's colours."),
    ]
}

query_params! {
    /// The parameters of a chart.
    Chart => [
        limit(), interval(),
        query("width", false, whole(100, 4000), "Width in pixels (default 800)."),
        query("height", false, whole(100, 2000), "Height in pixels (default 300, 400 for the map)."),
        query("theme", false, choice(&["light", "dark"]), "Colours (default light)."),
    ]
}

query_params! {
    /// The parameters of the funnel.
    Funnel => [
        steps(),
        query("window", false, text(), "Each step within this long of the first: 600, 30m or '30 minutes', 1 second to 1 day."),
    ]
}

query_params! {
    /// The parameters of sequences.
    Sequences => [steps()]
}

query_params! {
    /// The parameters of retention.
    Retention => [
        query("weeks", false, whole(1, MAX_WEEKS).default(Some(4.into())), "Weeks after the first (default 4)."),
    ]
}

query_params! {
    /// The parameters of paths.
    Paths => [
        limit(),
        query("length", false, whole(2, MAX_SEQUENCE_LENGTH).default(Some(3.into())), "Steps per path (default 3)."),
    ]
}

query_params! {
    /// The parameters of the flows.
    Flow => [
        limit(),
        query("page", true, text().pattern(Some("^/")), "The page: a path starting with /."),
    ]
}

query_params! {
    /// The parameters of the visits list.
    Visits => [
        limit(),
        query("offset", false, whole(0, MAX_OFFSET), "Rows to skip (default 0)."),
        query("order", false, choice(&["newest", "oldest"]), "Newest first (default) or oldest."),
    ]
}

query_params! {
    /// The parameters of the daily export.
    Export => [format()]
}

query_params! {
    /// The parameters of the raw export.
    ExportEvents => [
        format(),
        query("data", false, choice(&["events", "sessions"]), "One row per event (default) or per visit."),
        query("limit", false, whole(1, crate::stats::export::MAX_EXPORT_ROWS), "Rows per file (default 100000)."),
        query("offset", false, whole(0, crate::stats::export::MAX_EXPORT_OFFSET), "Rows to skip (default 0)."),
    ]
}
