//! The JSON bodies of the behavioural endpoints, as typed structs built from
//! the store's results. The endpoints Mallard documents (sessions, funnel,
//! retention, sequences, flow) answer in its shapes with extra fields; the
//! richer answers have their own paths (visits, paths, flow/around). Rates
//! are fractions from 0 to 1 with four decimals, 0 when there is nothing to
//! divide by; times are RFC 3339 in UTC with milliseconds.

use mallard_core::Step;
use mallard_core::period::format_date;
use mallard_store::stats::{Cohort, Flow, FlowRow, FunnelStep, Neighbour, Sequence, SessionRow};
use serde::Serialize;

use super::dto::PeriodBody;

/// `part / whole` as a fraction with four decimals, 0 when `whole` is 0.
pub(crate) fn rate(part: u64, whole: u64) -> f64 {
    super::dto::fraction(part as f64, whole as f64)
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

/// `page`, `event` or `goal`, and the path or name.
pub(crate) fn step_parts(step: &Step) -> (&'static str, &str) {
    match step {
        Step::Page(path) => ("page", path),
        Step::Event(name) => ("event", name),
        Step::Goal(name) => ("goal", name),
    }
}

/// One visit of `GET /api/stats/visits`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct VisitBody {
    pub(crate) visit_id: i64,
    pub(crate) started_at: String,
    pub(crate) ended_at: String,
    pub(crate) duration_secs: f64,
    pub(crate) pageviews: i64,
    pub(crate) events: i64,
    pub(crate) bounce: bool,
    pub(crate) entry_page: Option<String>,
    pub(crate) exit_page: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) referrer: Option<String>,
    pub(crate) utm_source: Option<String>,
    pub(crate) utm_medium: Option<String>,
    pub(crate) utm_campaign: Option<String>,
    pub(crate) utm_term: Option<String>,
    pub(crate) utm_content: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) city: Option<String>,
    pub(crate) browser: Option<String>,
    pub(crate) os: Option<String>,
    pub(crate) device: &'static str,
    pub(crate) screen_width: Option<i64>,
    pub(crate) is_bot: bool,
}

impl VisitBody {
    pub(crate) fn of(row: &SessionRow) -> Self {
        let v = &row.visit;
        Self {
            visit_id: row.visit_id,
            started_at: timestamp(row.start_ts),
            ended_at: timestamp(row.end_ts),
            duration_secs: duration_secs(row),
            pageviews: row.pageviews,
            events: row.events,
            bounce: row.pageviews == 1,
            entry_page: row.entry_page.clone(),
            exit_page: row.exit_page.clone(),
            source: v.source.clone(),
            referrer: v.referrer.clone(),
            utm_source: v.utm_source.clone(),
            utm_medium: v.utm_medium.clone(),
            utm_campaign: v.utm_campaign.clone(),
            utm_term: v.utm_term.clone(),
            utm_content: v.utm_content.clone(),
            country: v.country.clone(),
            region: v.region.clone(),
            city: v.city.clone(),
            browser: v.browser.clone(),
            os: v.os.clone(),
            device: v.device.as_str(),
            screen_width: v.screen_width,
            is_bot: v.is_bot,
        }
    }
}

/// The body of `GET /api/stats/visits`: one page of the period's visits.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct VisitsBody {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
    /// The offset of the next page, `null` on the last one.
    pub(crate) next_offset: Option<usize>,
    pub(crate) results: Vec<VisitBody>,
    pub(crate) period: PeriodBody,
    pub(crate) time_zone: String,
}

/// The body of `GET /api/stats/sessions`, Mallard's session aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionsBody {
    /// Visits that started in the period.
    pub(crate) total_sessions: i64,
    /// Their mean duration.
    pub(crate) avg_session_duration_secs: f64,
    /// Their mean page views.
    pub(crate) avg_pages_per_session: f64,
    /// The fraction of them with one page view.
    pub(crate) bounce_rate: f64,
    /// Distinct visitors.
    pub(crate) unique_visitors: u64,
    pub(crate) period: PeriodBody,
    pub(crate) time_zone: String,
}

/// One step of `GET /api/stats/funnel`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct FunnelStepBody {
    /// The step's number, from 1.
    pub(crate) step: usize,
    /// Distinct visitors of the visits that reached it.
    pub(crate) visitors: u64,
    /// The step as given: `page:/path`, `event:name` or `goal:NAME`.
    pub(crate) name: String,
    /// `page`, `event` or `goal`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// The path, the event name or the goal's name.
    pub(crate) value: String,
    /// Visits that went through this step and every one before, in order.
    pub(crate) visits: u64,
    /// Those visits as a fraction of the first step's.
    pub(crate) conversion_rate: f64,
    /// Those visits as a fraction of the previous step's.
    pub(crate) conversion_rate_step: f64,
    /// Visits of the previous step that did not reach this one.
    pub(crate) dropoff: u64,
    /// Those as a fraction of the previous step's visits.
    pub(crate) dropoff_rate: f64,
}

/// The steps of `GET /api/stats/funnel`.
pub(crate) fn funnel_steps(steps: &[FunnelStep]) -> Vec<FunnelStepBody> {
    let first = steps.first().map_or(0, |s| s.visits);
    let mut previous = first;
    steps
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let (kind, value) = step_parts(&s.step);
            let dropoff = previous.saturating_sub(s.visits);
            let row = FunnelStepBody {
                step: index + 1,
                visitors: s.visitors,
                name: s.step.to_string(),
                kind,
                value: value.to_owned(),
                visits: s.visits,
                conversion_rate: rate(s.visits, first),
                conversion_rate_step: rate(s.visits, previous),
                dropoff,
                dropoff_rate: rate(dropoff, previous),
            };
            previous = s.visits;
            row
        })
        .collect()
}

/// One week after a cohort's own.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct RetentionWeekBody {
    /// How many weeks after the cohort's.
    pub(crate) week: usize,
    /// The cohort's visitors who came back that week; `null` when the week
    /// ends after the period.
    pub(crate) visitors: Option<u64>,
    /// Those as a fraction of the cohort.
    pub(crate) rate: Option<f64>,
}

/// One cohort of `GET /api/stats/retention`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct CohortBody {
    /// The Monday of the cohort's week.
    pub(crate) cohort_date: String,
    /// One entry per week from the cohort's own (`weeks` in all): whether
    /// any of its visitors visited that week.
    pub(crate) retained: Vec<bool>,
    /// Visitors whose first visit of the period was that week.
    pub(crate) visitors: u64,
    /// Each later week, 1 to `weeks`.
    pub(crate) retention: Vec<RetentionWeekBody>,
}

/// The cohorts of `GET /api/stats/retention`.
pub(crate) fn cohorts(cohorts: &[Cohort]) -> Vec<CohortBody> {
    cohorts
        .iter()
        .map(|c| {
            let retention = c
                .returning
                .iter()
                .enumerate()
                .map(|(i, count)| RetentionWeekBody {
                    week: i + 1,
                    visitors: *count,
                    rate: count.map(|n| rate(n, c.visitors)),
                })
                .collect();
            let retained = std::iter::once(c.visitors > 0)
                .chain(c.returning.iter().map(|n| n.is_some_and(|n| n > 0)))
                .take(c.returning.len().max(1))
                .collect();
            CohortBody {
                cohort_date: format_date(c.week_start),
                retained,
                visitors: c.visitors,
                retention,
            }
        })
        .collect()
}

/// The body of `GET /api/stats/sequences`: how many visitors took the steps
/// in order within a visit.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct SequenceBody {
    /// Distinct visitors with a visit that took every step in order.
    pub(crate) converting_visitors: u64,
    /// Distinct visitors of the period.
    pub(crate) total_visitors: u64,
    /// `converting_visitors / total_visitors`.
    pub(crate) conversion_rate: f64,
    /// The steps, as given.
    pub(crate) steps: Vec<String>,
    /// Visits that took every step in order.
    pub(crate) converting_visits: u64,
    pub(crate) period: PeriodBody,
    pub(crate) time_zone: String,
}

/// One path of `GET /api/stats/paths`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct PathBody {
    pub(crate) steps: Vec<String>,
    pub(crate) visits: u64,
    pub(crate) occurrences: u64,
}

/// The body of `GET /api/stats/paths`: the most common runs of steps.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct PathsBody {
    pub(crate) length: usize,
    pub(crate) results: Vec<PathBody>,
    pub(crate) period: PeriodBody,
    pub(crate) time_zone: String,
}

/// The rows of `GET /api/stats/paths`.
pub(crate) fn paths(rows: &[Sequence]) -> Vec<PathBody> {
    rows.iter()
        .map(|s| PathBody {
            steps: s.steps.iter().map(Step::to_string).collect(),
            visits: s.visits,
            occurrences: s.occurrences,
        })
        .collect()
}

/// One row of `GET /api/stats/flow`: a page viewed next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct NextPageBody {
    pub(crate) next_page: String,
    /// Distinct visitors who went from the page to this one: exact up to
    /// 512, estimated beyond (never above `visits`).
    pub(crate) visitors: u64,
    /// Visits that did.
    pub(crate) visits: u64,
    /// How many times.
    pub(crate) transitions: u64,
}

/// The pages viewed after the page, without the visits that ended there
/// (those are `(exit)` in `flow/around`).
pub(crate) fn next_pages(flow: &Flow) -> Vec<NextPageBody> {
    flow.next
        .iter()
        .filter_map(|r| match &r.page {
            Neighbour::Step(step) => Some(NextPageBody {
                next_page: step_parts(step).1.to_owned(),
                visitors: r.visitors,
                visits: r.visits,
                transitions: r.transitions,
            }),
            Neighbour::Entrance | Neighbour::Exit => None,
        })
        .collect()
}

/// A page before or after the page of `GET /api/stats/flow/around`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct FlowRowBody {
    /// The path, `(entrance)` or `(exit)`.
    pub(crate) value: String,
    /// Visits with at least one such transition.
    pub(crate) visits: u64,
    /// Their distinct visitors: exact up to 512, estimated beyond (never
    /// above `visits`).
    pub(crate) visitors: u64,
    /// All such transitions.
    pub(crate) transitions: u64,
}

fn flow_rows(rows: &[FlowRow]) -> Vec<FlowRowBody> {
    rows.iter()
        .map(|r| FlowRowBody {
            value: match &r.page {
                Neighbour::Step(step) => step_parts(step).1.to_owned(),
                Neighbour::Entrance => "(entrance)".to_owned(),
                Neighbour::Exit => "(exit)".to_owned(),
            },
            visits: r.visits,
            visitors: r.visitors,
            transitions: r.transitions,
        })
        .collect()
}

/// The body of `GET /api/stats/flow/around`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct FlowAroundBody {
    pub(crate) page: String,
    /// Visits that viewed the page.
    pub(crate) visits: u64,
    /// Views of it, consecutive repeats counted once.
    pub(crate) views: u64,
    pub(crate) next: Vec<FlowRowBody>,
    pub(crate) previous: Vec<FlowRowBody>,
    pub(crate) period: PeriodBody,
    pub(crate) time_zone: String,
}

impl FlowAroundBody {
    pub(crate) fn of(page: String, flow: &Flow, period: PeriodBody, time_zone: String) -> Self {
        Self {
            page,
            visits: flow.visits,
            views: flow.views,
            next: flow_rows(&flow.next),
            previous: flow_rows(&flow.previous),
            period,
            time_zone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_percentages() {
        assert_eq!(timestamp(1_710_064_800_123), "2024-03-10T10:00:00.123Z");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rate(1, 3), 0.3333);
        assert_eq!(rate(2, 3), 0.6667);
        assert_eq!(rate(5, 0), 0.0);
    }

    #[test]
    fn funnel_rates_follow_the_steps() {
        let step = |visits| FunnelStep {
            step: Step::Page("/".into()),
            visits,
            visitors: visits,
        };
        let rows = funnel_steps(&[step(4), step(2), step(0)]);
        assert_eq!(rows.iter().map(|r| r.step).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(rows[0].conversion_rate, 1.0);
        assert_eq!(rows[0].dropoff, 0);
        assert_eq!(rows[1].conversion_rate, 0.5);
        assert_eq!(rows[1].dropoff_rate, 0.5);
        assert_eq!(rows[2].conversion_rate_step, 0.0);
        assert_eq!(rows[2].dropoff, 2);
        let empty = funnel_steps(&[step(0), step(0)]);
        assert_eq!(empty[1].conversion_rate, 0.0);
    }

    #[test]
    fn cohorts_say_which_weeks_kept_anyone() {
        let cohort = Cohort {
            week_start: 19_793,
            visitors: 3,
            returning: vec![Some(1), Some(0), None],
        };
        let body = cohorts(&[cohort]);
        assert_eq!(body[0].cohort_date, "2024-03-11");
        assert_eq!(body[0].retained, [true, true, false]);
        assert_eq!(body[0].retention[0].rate, Some(0.3333));
        assert_eq!(body[0].retention[2].visitors, None);
        let nobody = Cohort {
            week_start: 19_793,
            visitors: 0,
            returning: vec![Some(0)],
        };
        assert_eq!(cohorts(&[nobody])[0].retained, [false]);
    }
}
