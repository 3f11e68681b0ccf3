//! `GET /api/stats/export/events`: the raw events (or the visits) of the
//! period as a CSV or JSON file to download. (`GET /api/stats/export` is
//! Mallard's daily aggregates, [`super::export_daily`].)
//!
//! Parameters besides the common ones: `format` (`csv` or `json`), `data`
//! (`events` or `sessions`), `limit` (1 to 100,000 rows, default 100,000) and
//! `offset`. When rows are left, `X-Next-Offset` names the offset of the next
//! file. Exports go through the concurrency limit but are never cached.
//!
//! The file is streamed: a blocking thread reads the rows one at a time and
//! writes them in chunks of about [`CHUNK_BYTES`] into a channel of
//! [`CHUNKS_IN_FLIGHT`] chunks that the response body drains, so an export's
//! memory does not grow with its rows. A client that takes no chunk for
//! [`SEND_TIMEOUT`] ends the export; a read that fails midway cuts the
//! download short instead of ending the file.

use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mallard_core::period::format_date;
use mallard_store::stats::{ExportEvent, SessionRow};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use super::behaviour_dto::{duration_secs, timestamp};
use super::behaviour_params::{ExportData, ExportFormat, bounded};
use super::csv;
use super::params::{CommonParams, RawParams};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// The most rows one export file holds.
pub const MAX_EXPORT_ROWS: usize = 100_000;
/// The most rows an export may skip.
pub const MAX_EXPORT_OFFSET: usize = 100_000_000;
/// A chunk of the file is sent once it holds this many bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// How many chunks may wait for the client.
pub const CHUNKS_IN_FLIGHT: usize = 4;
/// How long the export waits for the client to take a chunk.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// One cell of an exported row.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Float(f64),
    Bool(bool),
    /// A decimal amount written by the server (revenue).
    Amount(Option<String>),
    Props(Vec<(String, String)>),
}

type Row = Vec<(&'static str, Cell)>;

/// Millionths as a decimal number without trailing zeros (`12.5`; see
/// [`super::dto::amount`]).
fn amount(micros: i64) -> String {
    super::dto::amount(i128::from(micros))
}

fn event_row(e: &ExportEvent) -> Row {
    vec![
        ("timestamp", Cell::Text(Some(timestamp(e.ts)))),
        ("visit_id", Cell::Int(Some(e.visit_id))),
        ("name", Cell::Text(Some(e.name.clone()))),
        ("hostname", Cell::Text(Some(e.hostname.clone()))),
        ("pathname", Cell::Text(Some(e.pathname.clone()))),
        ("props", Cell::Props(e.props.clone())),
        ("revenue", Cell::Amount(e.revenue_micros.map(amount))),
        ("currency", Cell::Text(e.currency.clone())),
        ("source", Cell::Text(e.visit.source.clone())),
        ("referrer", Cell::Text(e.visit.referrer.clone())),
        ("utm_source", Cell::Text(e.visit.utm_source.clone())),
        ("utm_medium", Cell::Text(e.visit.utm_medium.clone())),
        ("utm_campaign", Cell::Text(e.visit.utm_campaign.clone())),
        ("utm_term", Cell::Text(e.visit.utm_term.clone())),
        ("utm_content", Cell::Text(e.visit.utm_content.clone())),
        ("browser", Cell::Text(e.visit.browser.clone())),
        ("os", Cell::Text(e.visit.os.clone())),
        (
            "device",
            Cell::Text(Some(e.visit.device.as_str().to_owned())),
        ),
        ("screen_width", Cell::Int(e.visit.screen_width)),
        ("country", Cell::Text(e.visit.country.clone())),
        ("region", Cell::Text(e.visit.region.clone())),
        ("city", Cell::Text(e.visit.city.clone())),
        ("is_bot", Cell::Bool(e.visit.is_bot)),
    ]
}

fn session_row(s: &SessionRow) -> Row {
    vec![
        ("visit_id", Cell::Int(Some(s.visit_id))),
        ("started_at", Cell::Text(Some(timestamp(s.start_ts)))),
        ("ended_at", Cell::Text(Some(timestamp(s.end_ts)))),
        ("duration_secs", Cell::Float(duration_secs(s))),
        ("pageviews", Cell::Int(Some(s.pageviews))),
        ("events", Cell::Int(Some(s.events))),
        ("bounce", Cell::Bool(s.pageviews == 1)),
        ("entry_page", Cell::Text(s.entry_page.clone())),
        ("exit_page", Cell::Text(s.exit_page.clone())),
        ("source", Cell::Text(s.visit.source.clone())),
        ("referrer", Cell::Text(s.visit.referrer.clone())),
        ("utm_source", Cell::Text(s.visit.utm_source.clone())),
        ("utm_medium", Cell::Text(s.visit.utm_medium.clone())),
        ("utm_campaign", Cell::Text(s.visit.utm_campaign.clone())),
        ("utm_term", Cell::Text(s.visit.utm_term.clone())),
        ("utm_content", Cell::Text(s.visit.utm_content.clone())),
        ("country", Cell::Text(s.visit.country.clone())),
        ("region", Cell::Text(s.visit.region.clone())),
        ("city", Cell::Text(s.visit.city.clone())),
        ("browser", Cell::Text(s.visit.browser.clone())),
        ("os", Cell::Text(s.visit.os.clone())),
        (
            "device",
            Cell::Text(Some(s.visit.device.as_str().to_owned())),
        ),
        ("screen_width", Cell::Int(s.visit.screen_width)),
        ("is_bot", Cell::Bool(s.visit.is_bot)),
    ]
}

fn props_object(props: &[(String, String)]) -> Value {
    Value::Object(
        props
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// The CSV header row of `columns`.
fn csv_header(out: &mut String, columns: &[&str]) {
    csv::push_line(
        out,
        &columns
            .iter()
            .map(|c| csv::text_cell(c))
            .collect::<Vec<_>>(),
    );
}

/// Appends one row as a CSV line.
fn push_csv_row(out: &mut String, row: &Row) {
    let cells: Vec<String> = row
        .iter()
        .map(|(_, cell)| match cell {
            Cell::Text(text) => csv::text_cell(text.as_deref().unwrap_or("")),
            Cell::Int(n) => n.map(|n| n.to_string()).unwrap_or_default(),
            Cell::Float(x) => x.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Amount(a) => a.clone().unwrap_or_default(),
            Cell::Props(p) if p.is_empty() => String::new(),
            Cell::Props(p) => csv::text_cell(&props_object(p).to_string()),
        })
        .collect();
    csv::push_line(out, &cells);
}

/// Appends one row as a JSON object (without the separating comma).
fn push_json_row(out: &mut String, row: Row) {
    let object: Map<String, Value> = row
        .into_iter()
        .map(|(name, cell)| {
            let value = match cell {
                Cell::Text(text) => json!(text),
                Cell::Int(n) => json!(n),
                Cell::Float(x) => json!(x),
                Cell::Bool(b) => json!(b),
                Cell::Amount(a) => json!(a),
                Cell::Props(p) => props_object(&p),
            };
            (name.to_owned(), value)
        })
        .collect();
    out.push_str(&Value::Object(object).to_string());
}

fn columns(data: ExportData) -> Vec<&'static str> {
    let row = match data {
        ExportData::Events => event_row(&ExportEvent::default()),
        ExportData::Sessions => session_row(&SessionRow::default()),
    };
    row.into_iter().map(|(name, _)| name).collect()
}

/// A chunk of the file, or the error that cuts the download short.
type Chunk = Result<Bytes, std::io::Error>;

/// Writes the file a chunk at a time into a bounded channel, from the blocking
/// thread that reads the rows: the reader waits while the client is slow, so
/// memory holds at most [`CHUNKS_IN_FLIGHT`] chunks of about [`CHUNK_BYTES`].
struct ChunkWriter {
    format: ExportFormat,
    out: String,
    rows: usize,
    chunks: mpsc::Sender<Chunk>,
    runtime: tokio::runtime::Handle,
}

impl ChunkWriter {
    /// Starts the file: the CSV header row or the JSON array's `[`.
    fn start(
        format: ExportFormat,
        data: ExportData,
        chunks: mpsc::Sender<Chunk>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let mut out = String::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
        match format {
            ExportFormat::Csv => csv_header(&mut out, &columns(data)),
            ExportFormat::Json => out.push('['),
        }
        Self {
            format,
            out,
            rows: 0,
            chunks,
            runtime,
        }
    }

    /// Appends one row, sending the chunk when it is full; breaks when the
    /// client is gone or too slow.
    fn row(&mut self, row: Row) -> ControlFlow<()> {
        match self.format {
            ExportFormat::Csv => push_csv_row(&mut self.out, &row),
            ExportFormat::Json => {
                if self.rows > 0 {
                    self.out.push(',');
                }
                push_json_row(&mut self.out, row);
            }
        }
        self.rows += 1;
        if self.out.len() >= CHUNK_BYTES {
            self.flush()
        } else {
            ControlFlow::Continue(())
        }
    }

    fn flush(&mut self) -> ControlFlow<()> {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.out,
            String::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
        ));
        self.send(Ok(chunk))
    }

    fn send(&self, chunk: Chunk) -> ControlFlow<()> {
        let sent = self
            .runtime
            .block_on(tokio::time::timeout(SEND_TIMEOUT, self.chunks.send(chunk)));
        match sent {
            Ok(Ok(())) => ControlFlow::Continue(()),
            _ => ControlFlow::Break(()),
        }
    }

    /// Ends the file (the JSON array's `]`) and sends what is left.
    fn finish(mut self) {
        if self.format == ExportFormat::Json {
            self.out.push(']');
        }
        let _ = self.flush();
    }

    /// Cuts the download short, so the client sees a failed transfer rather
    /// than a file that looks complete.
    fn fail(self) {
        let _ = self.send(Err(std::io::Error::other("the export failed")));
    }
}

/// The chunks of a file as the stream of a response body.
struct Chunks(mpsc::Receiver<Chunk>);

impl futures_core::Stream for Chunks {
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        self.0.poll_recv(cx)
    }
}

/// What the response's headers need, known before the first row is sent.
#[derive(Debug)]
struct Head {
    filename: String,
    next_offset: Option<usize>,
}

/// `GET /api/stats/export/events`.
#[utoipa::path(
    get,
    path = "/api/stats/export/events",
    tag = "Stats",
    params(crate::openapi::params::ExportEvents),
    responses((status = 200, description = "The raw events or visits, streamed", content((String = "text/csv"), (Vec<serde_json::Value> = "application/json"))), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn export(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let format = ExportFormat::from_raw(&raw)?;
    let data = ExportData::from_raw(&raw)?;
    let limit = bounded(&raw, "limit", MAX_EXPORT_ROWS, 1, MAX_EXPORT_ROWS)?;
    let offset = bounded(&raw, "offset", 0, 0, MAX_EXPORT_OFFSET)?;
    // Site ids are letters, digits and `.` `_` `:` `-`; `:` is not allowed in
    // Windows file names.
    let site_name = common.site.as_str().replace(':', "_");
    let filters = super::goals::resolved_filters(&state, &common.site, common.filters).await?;
    let permit = state.stats.heavy_permit()?;
    let (head_tx, head_rx) = oneshot::channel::<Head>();
    let (chunk_tx, chunk_rx) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let runtime = tokio::runtime::Handle::current();
    let reader = state.clone();
    let (site, period) = (common.site, common.period);
    let reading = tokio::spawn(async move {
        reader
            .stats
            .run(&reader, &site, period, None, move |db, r| {
                let _permit = permit;
                let query = r.query(filters);
                // Whether rows are left after this file: one row past its end.
                let next = offset + limit;
                let more = match data {
                    ExportData::Events => {
                        db.stats_export_events_each(&r.site, &query, 1, next, &mut |_| {
                            ControlFlow::Break(())
                        })?
                    }
                    ExportData::Sessions => {
                        db.stats_sessions_each(&r.site, &query, 1, next, true, &mut |_| {
                            ControlFlow::Break(())
                        })?
                    }
                } > 0;
                let filename = format!(
                    "mallard-{site_name}-{}-{}-{}.{}",
                    data.as_str(),
                    format_date(r.range.start),
                    format_date(r.range.end),
                    format.extension()
                );
                let head = Head {
                    filename,
                    next_offset: more.then_some(next),
                };
                if head_tx.send(head).is_err() {
                    return Ok(Ok(Value::Null));
                }
                let mut writer = ChunkWriter::start(format, data, chunk_tx, runtime);
                let written = match data {
                    ExportData::Events => {
                        db.stats_export_events_each(&r.site, &query, limit, offset, &mut |event| {
                            writer.row(event_row(&event))
                        })
                    }
                    ExportData::Sessions => {
                        db.stats_sessions_each(&r.site, &query, limit, offset, true, &mut |visit| {
                            writer.row(session_row(&visit))
                        })
                    }
                };
                match written {
                    Ok(_) => writer.finish(),
                    Err(err) => {
                        writer.fail();
                        return Err(err);
                    }
                }
                Ok(Ok(Value::Null))
            })
            .await
    });
    let Ok(head) = head_rx.await else {
        // The export stopped before its first row: the limit, or the database.
        return Err(match reading.await {
            Ok(Err(err)) => err,
            _ => ApiError::Internal,
        });
    };
    let disposition = format!("attachment; filename=\"{}\"", head.filename);
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Body::from_stream(Chunks(chunk_rx)),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|_| ApiError::Internal)?,
    );
    if let Some(next) = head.next_offset {
        headers.insert(
            HeaderName::from_static("x-next-offset"),
            HeaderValue::from(next),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimal_without_trailing_zeros() {
        assert_eq!(amount(12_500_000), "12.5");
        assert_eq!(amount(5_000_000), "5");
        assert_eq!(amount(1), "0.000001");
        assert_eq!(amount(-2_250_000), "-2.25");
    }

    #[test]
    fn files_render_with_headers_and_escaping() {
        let row: Row = vec![
            ("page", Cell::Text(Some("=cmd()".into()))),
            ("n", Cell::Int(None)),
            ("props", Cell::Props(vec![("plan".into(), "-1".into())])),
            ("bot", Cell::Bool(false)),
        ];
        let mut csv = String::new();
        csv_header(&mut csv, &["page", "n", "props", "bot"]);
        push_csv_row(&mut csv, &row);
        assert_eq!(
            csv,
            "page,n,props,bot\r\n'=cmd(),,\"{\"\"plan\"\":\"\"-1\"\"}\",false\r\n"
        );
        let mut text = String::new();
        push_json_row(&mut text, row);
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json,
            json!({"page": "=cmd()", "n": null, "props": {"plan": "-1"}, "bot": false})
        );
        assert_eq!(columns(ExportData::Events)[0], "timestamp");
        assert_eq!(columns(ExportData::Sessions).len(), 24);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_sends_bounded_chunks_and_stops_when_the_client_is_gone() {
        let (tx, mut rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let runtime = tokio::runtime::Handle::current();
        let writer = tokio::task::spawn_blocking(move || {
            let mut writer =
                ChunkWriter::start(ExportFormat::Json, ExportData::Events, tx, runtime);
            let mut sent = 0;
            while writer.row(event_row(&ExportEvent::default())).is_continue() {
                sent += 1;
                assert!(sent < 1_000_000, "the writer never stopped");
            }
            sent
        });
        let mut first = rx.recv().await.unwrap().unwrap();
        assert!(first.len() >= CHUNK_BYTES && first.len() < 2 * CHUNK_BYTES);
        assert_eq!(first.split_to(2).as_ref(), b"[{");
        drop(rx);
        let rows = writer.await.unwrap();
        assert!(rows > 0);
    }
}
