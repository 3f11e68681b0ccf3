//! `mallard stats main|timeseries|breakdown`: the stats of a site from the
//! command line, the third way in after the window and the HTTP API.
//!
//! It asks a running server: the one named by `--url` with an API key
//! (`--key` or `MALLARD_API_KEY`; ReadOnly is enough), or, without `--url`,
//! the one running on the data directory with the local admin token it
//! published there. Answers print as a table, or as the server's JSON with
//! `--json`.

mod client;
mod table;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::CommonArgs;
use client::{BreakdownRow, MainStats, SeriesPoint, StatsServer};

/// Flags of `mallard stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The server to ask, e.g. http://127.0.0.1:8000 (default: the one
    /// running on the data directory).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// An API key (mm_...; ReadOnly is enough) for --url.
    #[arg(long, env = "MALLARD_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    query: StatsQuery,
}

#[derive(Debug, Subcommand)]
enum StatsQuery {
    /// Visitors, page views, visits, bounce rate, visit duration.
    Main(QueryArgs),
    /// Visitors and page views per hour, day, week or month.
    Timeseries {
        #[command(flatten)]
        query: QueryArgs,
        /// hour, day, week or month (default: hourly for a day, else daily).
        #[arg(long)]
        interval: Option<String>,
    },
    /// The top values of one dimension: pages, sources, countries, browsers,
    /// os, devices, entry_pages, exit_pages, events, utm_source, ...
    Breakdown {
        /// The dimension, as the API names it (e.g. pages).
        dimension: String,
        #[command(flatten)]
        query: QueryArgs,
        /// How many rows (1 to 1000).
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
}

/// What every query takes: the site, the period, filters.
#[derive(Debug, Args)]
struct QueryArgs {
    /// The site, e.g. example.com.
    #[arg(long)]
    site: String,
    /// day, today, 7d, 30d, 90d, 12mo or all.
    #[arg(long, default_value = "30d")]
    period: String,
    /// The first day (YYYY-MM-DD), with --end-date instead of --period.
    #[arg(long, requires = "end_date")]
    start_date: Option<String>,
    /// The day after the last (YYYY-MM-DD, exclusive).
    #[arg(long, requires = "start_date")]
    end_date: Option<String>,
    /// A filter such as source==Google or page!=/pricing (repeatable: all hold).
    #[arg(long = "filter", value_name = "NAME==VALUE")]
    filters: Vec<String>,
    /// Add daily aggregates imported from another tool (a Plausible
    /// export) on the days before the site's own data, as the dashboard
    /// does; they never count under filters.
    #[arg(long)]
    with_imported: bool,
}

impl QueryArgs {
    /// The query string of these arguments and `extra` pairs.
    fn query_string(&self, extra: &[(&str, String)]) -> String {
        let mut query = url_encoded();
        query.append_pair("site_id", &self.site);
        match (&self.start_date, &self.end_date) {
            (Some(start), Some(end)) => {
                query.append_pair("start_date", start);
                query.append_pair("end_date", end);
            }
            _ => {
                query.append_pair("period", &self.period);
            }
        }
        if !self.filters.is_empty() {
            query.append_pair("filters", &self.filters.join(";"));
        }
        if self.with_imported {
            query.append_pair("with_imported", "true");
        }
        for (name, value) in extra {
            query.append_pair(name, value);
        }
        query.finish()
    }
}

fn url_encoded() -> url::form_urlencoded::Serializer<'static, String> {
    url::form_urlencoded::Serializer::new(String::new())
}

/// Runs the command.
pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    let server = match &args.url {
        Some(url) => StatsServer::new(url, args.key.clone()),
        None => {
            let config = args.common.load(None, None)?;
            let (info, token) = mallard_server::local_admin::discover(&config.data_dir)
                .with_context(|| {
                    format!(
                        "no server is running on {} (start one with `mallard serve`, or name \
                         one with --url and --key)",
                        config.data_dir.display()
                    )
                })?;
            StatsServer::new(&info.url, Some(token))
        }
    };
    let text = match &args.query {
        StatsQuery::Main(query) => {
            let path = format!("/api/stats/main?{}", query.query_string(&[]));
            show::<MainStats>(&server, &path, args.json, table::main)?
        }
        StatsQuery::Timeseries { query, interval } => {
            let extra: Vec<(&str, String)> =
                interval.iter().map(|i| ("interval", i.clone())).collect();
            let path = format!("/api/stats/timeseries?{}", query.query_string(&extra));
            show::<Vec<SeriesPoint>>(&server, &path, args.json, |points| table::series(points))?
        }
        StatsQuery::Breakdown {
            dimension,
            query,
            limit,
        } => {
            let dimension: String =
                url::form_urlencoded::byte_serialize(dimension.as_bytes()).collect();
            let path = format!(
                "/api/stats/breakdown/{dimension}?{}",
                query.query_string(&[("limit", limit.to_string())])
            );
            show::<Vec<BreakdownRow>>(&server, &path, args.json, |rows| table::breakdown(rows))?
        }
    };
    print!("{text}");
    Ok(())
}

/// The answer to `path`: its JSON as the server sent it with `json`, else
/// read as `T` and drawn by `draw`.
fn show<T: serde::de::DeserializeOwned>(
    server: &StatsServer,
    path: &str,
    json: bool,
    draw: impl FnOnce(&T) -> String,
) -> anyhow::Result<String> {
    if json {
        let mut text = server.get_text(path)?;
        text.push('\n');
        return Ok(text);
    }
    Ok(draw(&server.get::<T>(path)?))
}
