//! The JSON bodies of the behavioural endpoints, built from the store's
//! results. Percentages have one decimal and are 0 when there is nothing to
//! divide by; times are RFC 3339 in UTC with milliseconds.

use mallard_core::Step;
use mallard_core::period::format_date;
use mallard_store::stats::{Cohort, Flow, FlowRow, FunnelStep, Neighbour, Sequence, SessionRow};
use serde_json::{Value, json};

/// `part / whole` as a percentage with one decimal, 0 when `whole` is 0.
pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// An instant as `2024-03-10T10:00:00.000Z`.
pub(crate) fn timestamp(ms: i64) -> String {
    let day = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        format_date(day),
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

/// A visit's duration in seconds, one decimal.
pub(crate) fn duration_secs(row: &SessionRow) -> f64 {
    ((row.end_ts - row.start_ts) as f64 / 100.0).round() / 10.0
}

/// `page` or `event`, and the path or name.
pub(crate) fn step_parts(step: &Step) -> (&'static str, &str) {
    match step {
        Step::Page(path) => ("page", path),
        Step::Event(name) => ("event", name),
    }
}

/// One row of `GET /api/stats/sessions`.
pub(crate) fn session(row: &SessionRow) -> Value {
    json!({
        "visit_id": row.visit_id,
        "started_at": timestamp(row.start_ts),
        "ended_at": timestamp(row.end_ts),
        "duration_secs": duration_secs(row),
        "pageviews": row.pageviews,
        "events": row.events,
        "bounce": row.pageviews == 1,
        "entry_page": row.entry_page,
        "exit_page": row.exit_page,
        "source": row.visit.source,
        "referrer": row.visit.referrer,
        "utm_source": row.visit.utm_source,
        "utm_medium": row.visit.utm_medium,
        "utm_campaign": row.visit.utm_campaign,
        "utm_term": row.visit.utm_term,
        "utm_content": row.visit.utm_content,
        "country": row.visit.country,
        "region": row.visit.region,
        "city": row.visit.city,
        "browser": row.visit.browser,
        "os": row.visit.os,
        "device": row.visit.device.as_str(),
        "screen_width": row.visit.screen_width,
        "is_bot": row.visit.is_bot,
    })
}

/// The steps of `GET /api/stats/funnel`.
pub(crate) fn funnel_steps(steps: &[FunnelStep]) -> Vec<Value> {
    let first = steps.first().map_or(0, |s| s.visits);
    let mut previous = first;
    steps
        .iter()
        .map(|s| {
            let (kind, value) = step_parts(&s.step);
            let dropoff = previous.saturating_sub(s.visits);
            let row = json!({
                "step": s.step.to_string(),
                "type": kind,
                "value": value,
                "visits": s.visits,
                "visitors": s.visitors,
                "conversion_rate": percent(s.visits, first),
                "conversion_rate_step": percent(s.visits, previous),
                "dropoff": dropoff,
                "dropoff_rate": percent(dropoff, previous),
            });
            previous = s.visits;
            row
        })
        .collect()
}

/// The cohorts of `GET /api/stats/retention`.
pub(crate) fn cohorts(cohorts: &[Cohort]) -> Vec<Value> {
    cohorts
        .iter()
        .map(|c| {
            let weeks: Vec<Value> = c
                .returning
                .iter()
                .enumerate()
                .map(|(i, count)| {
                    json!({
                        "week": i + 1,
                        "visitors": count,
                        "percentage": count.map(|n| percent(n, c.visitors)),
                    })
                })
                .collect();
            json!({
                "cohort": format_date(c.week_start),
                "visitors": c.visitors,
                "retention": weeks,
            })
        })
        .collect()
}

/// The rows of `GET /api/stats/sequences`.
pub(crate) fn sequences(rows: &[Sequence]) -> Vec<Value> {
    rows.iter()
        .map(|s| {
            json!({
                "steps": s.steps.iter().map(Step::to_string).collect::<Vec<_>>(),
                "visits": s.visits,
                "occurrences": s.occurrences,
            })
        })
        .collect()
}

fn flow_rows(rows: &[FlowRow]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let value = match &r.page {
                Neighbour::Step(step) => step_parts(step).1.to_owned(),
                Neighbour::Entrance => "(entrance)".to_owned(),
                Neighbour::Exit => "(exit)".to_owned(),
            };
            json!({ "value": value, "visits": r.visits, "transitions": r.transitions })
        })
        .collect()
}

/// The body of `GET /api/stats/flow` (without period and time zone).
pub(crate) fn flow(page: &str, flow: &Flow) -> Value {
    json!({
        "page": page,
        "visits": flow.visits,
        "views": flow.views,
        "next": flow_rows(&flow.next),
        "previous": flow_rows(&flow.previous),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_percentages() {
        assert_eq!(timestamp(1_710_064_800_123), "2024-03-10T10:00:00.123Z");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(5, 0), 0.0);
    }

    #[test]
    fn funnel_rates_follow_the_steps() {
        let step = |visits| FunnelStep {
            step: Step::Page("/".into()),
            visits,
            visitors: visits,
        };
        let rows = funnel_steps(&[step(4), step(2), step(0)]);
        assert_eq!(rows[0]["conversion_rate"], 100.0);
        assert_eq!(rows[0]["dropoff"], 0);
        assert_eq!(rows[1]["conversion_rate"], 50.0);
        assert_eq!(rows[1]["dropoff_rate"], 50.0);
        assert_eq!(rows[2]["conversion_rate_step"], 0.0);
        assert_eq!(rows[2]["dropoff"], 2);
        let empty = funnel_steps(&[step(0), step(0)]);
        assert_eq!(empty[1]["conversion_rate"], 0.0);
    }
}
