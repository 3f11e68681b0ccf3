//! The stats API of the Mallard family: `GET /api/stats/*`.
//!
//! Every endpoint takes the common parameters ([`params`]): `site_id`,
//! `period` or `start_date`/`end_date`, and `filters`. Parameters are validated
//! here and turned into typed values ([`mallard_core::Period`],
//! [`mallard_core::Filter`]) before any query runs; bad ones are answered 400
//! with the flat `{"error": "..."}` body. Queries run on a blocking thread
//! through [`StatsRuntime`], which limits how many run at once (429 with
//! `Retry-After` beyond) and caches answers per site and query until the
//! site's next event or the cache TTL.
//!
//! The behavioural endpoints ([`behaviour`], [`export`]) follow the same rules
//! with their own parameters ([`behaviour_params`]). The endpoints Mallard
//! documents answer in its shapes ([`dto`], [`behaviour_dto`]); the richer
//! answers the dashboard reads have their own paths (`visits`, `paths`,
//! `flow/around`, `export/events`).

mod abandon;
pub(crate) mod behaviour;
pub(crate) mod behaviour_dto;
pub mod behaviour_params;
pub(crate) mod charts;
pub(crate) mod csv;
pub(crate) mod dto;
pub(crate) mod export;
pub(crate) mod export_daily;
pub(crate) mod goals;
pub(crate) mod handlers;
pub mod params;
mod runtime;
pub(crate) mod view;

use axum::Router;
use axum::routing::get;

pub use runtime::StatsRuntime;

use crate::state::AppState;

/// The stats routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/stats/main", get(handlers::main))
        .route("/api/stats/timeseries", get(handlers::timeseries))
        .route("/api/stats/breakdown/{dimension}", get(handlers::breakdown))
        .route(
            "/api/stats/breakdown/props/{key}",
            get(handlers::breakdown_prop),
        )
        .route("/api/stats/props", get(handlers::prop_keys))
        .route("/api/stats/revenue", get(handlers::revenue))
        .route("/api/stats/goals", get(goals::goals))
        .route("/api/stats/realtime", get(handlers::realtime))
        .route("/api/stats/view", get(view::view))
        .route("/api/stats/sessions", get(behaviour::sessions))
        .route("/api/stats/visits", get(behaviour::visits))
        .route("/api/stats/funnel", get(behaviour::funnel))
        .route("/api/stats/retention", get(behaviour::retention))
        .route("/api/stats/sequences", get(behaviour::sequences))
        .route("/api/stats/paths", get(behaviour::paths))
        .route("/api/stats/flow", get(behaviour::flow))
        .route("/api/stats/flow/around", get(behaviour::flow_around))
        .route("/api/stats/export", get(export_daily::daily))
        .route("/api/stats/export/events", get(export::export))
        .route("/api/stats/chart/{file}", get(charts::by_file))
        .route("/api/stats/chart/breakdown/{file}", get(charts::breakdown))
}
