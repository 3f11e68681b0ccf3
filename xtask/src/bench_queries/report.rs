//! Turning timings into figures: nearest-rank percentiles, milliseconds and
//! ratios as text, and the markdown table `cargo xtask bench-queries` prints.

/// The outcome of the timed runs of one query.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every run answered 200: its percentiles in milliseconds.
    Timed {
        /// The median.
        p50: f64,
        /// The 90th percentile.
        p90: f64,
    },
    /// A run answered something else (e.g. 429, 500): its status, or 0 when
    /// the connection failed.
    Failed(u16),
}

impl Outcome {
    /// The outcome of runs that took `millis` and answered `statuses`.
    pub fn of(millis: &[f64], statuses: &[u16]) -> Self {
        if let Some(status) = statuses.iter().find(|s| **s != 200) {
            return Self::Failed(*status);
        }
        let mut sorted = millis.to_vec();
        sorted.sort_by(f64::total_cmp);
        Self::Timed {
            p50: percentile(&sorted, 0.5),
            p90: percentile(&sorted, 0.9),
        }
    }

    /// The median, when the runs succeeded.
    pub fn p50(&self) -> Option<f64> {
        match self {
            Self::Timed { p50, .. } => Some(*p50),
            Self::Failed(_) => None,
        }
    }
}

/// The nearest-rank `q` percentile (0 < q <= 1) of ascending `sorted`: the
/// smallest value with at least `q` of the values at or below it (p50 of 5
/// runs is the 3rd, p90 the 5th). NaN for no values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with the precision that matters at their size: `0.42`,
/// `4.87`, `48.7`, `487`, `6,761`.
pub fn format_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        thousands(ms.round() as u64)
    }
}

/// `filtered / unfiltered` as `3.2×` (one decimal below 10, none above).
pub fn format_ratio(filtered: f64, unfiltered: f64) -> String {
    if unfiltered <= 0.0 {
        return "n/a".into();
    }
    let ratio = filtered / unfiltered;
    if ratio < 10.0 {
        format!("{ratio:.1}×")
    } else {
        format!("{}×", thousands(ratio.round() as u64))
    }
}

/// `n` with `,` between thousands.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// One row of the table: a query over a period, one outcome per filter set
/// (the unfiltered one first).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The query's name.
    pub query: String,
    /// The period parameter.
    pub period: String,
    /// One outcome per column.
    pub outcomes: Vec<Outcome>,
}

/// An outcome as a table shows it: `p50 / p90`, or what failed.
pub fn times(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed(0) => "connection failed".into(),
        Outcome::Failed(status) => format!("HTTP {status}"),
        Outcome::Timed { p50, p90 } => format!("{} / {}", format_ms(*p50), format_ms(*p90)),
    }
}

/// A cell: `p50 / p90`, with the ratio of the p50 to the unfiltered p50 for
/// the filtered columns.
fn cell(outcome: &Outcome, unfiltered: Option<f64>, filtered: bool) -> String {
    match (outcome, filtered, unfiltered) {
        (Outcome::Timed { p50, .. }, true, Some(base)) => {
            format!("{} ({})", times(outcome), format_ratio(*p50, base))
        }
        _ => times(outcome),
    }
}

/// The markdown table: a column per filter set (headed by `columns`, the
/// unfiltered one first), `p50 / p90` ms in each cell, and the filtered
/// p50's ratio to the unfiltered p50 of the same row in brackets.
pub fn table(columns: &[String], rows: &[Row]) -> String {
    let mut out = String::from("| query | period |");
    for column in columns {
        out.push_str(&format!(" {column} |"));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for row in rows {
        let unfiltered = row.outcomes.first().and_then(Outcome::p50);
        out.push_str(&format!("| {} | {} |", row.query, row.period));
        for (index, outcome) in row.outcomes.iter().enumerate() {
            out.push_str(&format!(" {} |", cell(outcome, unfiltered, index > 0)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let five = [1.0, 2.0, 3.0, 4.0, 100.0];
        assert_eq!(percentile(&five, 0.5), 3.0);
        assert_eq!(percentile(&five, 0.9), 100.0);
        let four = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&four, 0.5), 2.0);
        assert_eq!(percentile(&four, 0.9), 4.0);
        assert_eq!(percentile(&[7.0], 0.5), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn outcomes_sort_their_runs_and_keep_failures() {
        let timed = Outcome::of(&[9.0, 1.0, 5.0, 3.0, 7.0], &[200; 5]);
        assert_eq!(timed, Outcome::Timed { p50: 5.0, p90: 9.0 });
        let failed = Outcome::of(&[1.0, 2.0], &[200, 429]);
        assert_eq!(failed, Outcome::Failed(429));
        assert_eq!(failed.p50(), None);
    }

    #[test]
    fn milliseconds_and_ratios_read_well() {
        assert_eq!(format_ms(0.4249), "0.42");
        assert_eq!(format_ms(48.72), "48.7");
        assert_eq!(format_ms(487.4), "487");
        assert_eq!(format_ms(6761.2), "6,761");
        assert_eq!(format_ms(1_234_567.0), "1,234,567");
        assert_eq!(format_ratio(9.0, 3.0), "3.0×");
        assert_eq!(format_ratio(6761.0, 22.8), "297×");
        assert_eq!(format_ratio(1.0, 0.0), "n/a");
    }

    #[test]
    fn the_table_has_a_column_per_filter_set_and_ratios_to_the_unfiltered_twin() {
        let columns = vec!["unfiltered".to_owned(), "source==Google".to_owned()];
        let rows = vec![
            Row {
                query: "main".into(),
                period: "12mo".into(),
                outcomes: vec![
                    Outcome::Timed { p50: 4.0, p90: 5.0 },
                    Outcome::Timed {
                        p50: 400.0,
                        p90: 450.0,
                    },
                ],
            },
            Row {
                query: "funnel".into(),
                period: "30d".into(),
                outcomes: vec![Outcome::Failed(429), Outcome::Timed { p50: 2.0, p90: 3.0 }],
            },
        ];
        assert_eq!(
            table(&columns, &rows),
            "| query | period | unfiltered | source==Google |\n\
             |---|---|---|---|\n\
             | main | 12mo | 4.00 / 5.00 | 400 / 450 (100×) |\n\
             | funnel | 30d | HTTP 429 | 2.00 / 3.00 |\n"
        );
    }
}
