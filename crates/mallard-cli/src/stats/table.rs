//! The plain-text tables `mallard stats` prints: a header row, columns
//! padded to their widest cell, numbers right-aligned.

use super::client::{BreakdownRow, MainStats, SeriesPoint};

/// A table of `header` and `rows`; columns after the first are numbers.
fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if column == 0 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// The totals, one per line.
pub fn main(stats: &MainStats) -> String {
    let mut rows = vec![
        vec!["Unique visitors".into(), stats.unique_visitors.to_string()],
        vec!["Page views".into(), stats.total_pageviews.to_string()],
    ];
    if let Some(visits) = stats.visits {
        rows.push(vec!["Visits".into(), visits.to_string()]);
    }
    rows.extend([
        vec![
            "Bounce rate".into(),
            format!("{:.1}%", stats.bounce_rate * 100.0),
        ],
        vec![
            "Visit duration".into(),
            format!("{:.1} s", stats.avg_visit_duration_secs),
        ],
        vec![
            "Pages per visit".into(),
            format!("{:.2}", stats.pages_per_visit),
        ],
    ]);
    render(&["Metric", "Value"], &rows)
}

/// One line per bucket.
pub fn series(points: &[SeriesPoint]) -> String {
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![
                p.date.clone(),
                p.visitors.to_string(),
                p.pageviews.to_string(),
            ]
        })
        .collect();
    render(&["Date", "Visitors", "Page views"], &rows)
}

/// Reads one counter of a breakdown row.
type Counter = fn(&BreakdownRow) -> Option<i64>;

/// One line per value, with the counters the dimension has.
pub fn breakdown(rows: &[BreakdownRow]) -> String {
    let columns: Vec<(&str, Counter)> = vec![
        ("Visitors", |r| {
            r.visitors.and_then(|v| i64::try_from(v).ok())
        }),
        ("Visits", |r| r.visits),
        ("Page views", |r| r.pageviews),
        ("Events", |r| r.events),
    ];
    let present: Vec<_> = columns
        .into_iter()
        .filter(|(_, get)| rows.iter().any(|r| get(r).is_some()))
        .collect();
    let mut header = vec!["Value"];
    header.extend(present.iter().map(|(name, _)| *name));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.value.clone()];
            cells.extend(
                present
                    .iter()
                    .map(|(_, get)| get(row).map_or_else(|| "-".into(), |n| n.to_string())),
            );
            cells
        })
        .collect();
    render(&header, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = [
            BreakdownRow {
                value: "/".into(),
                visitors: Some(12),
                pageviews: Some(130),
                visits: None,
                events: None,
            },
            BreakdownRow {
                value: "/pricing".into(),
                visitors: Some(3),
                pageviews: Some(4),
                visits: None,
                events: None,
            },
        ];
        assert_eq!(
            breakdown(&rows),
            "Value     Visitors  Page views\n\
             /               12         130\n\
             /pricing         3           4\n"
        );
        let main = main(&MainStats {
            unique_visitors: 3,
            total_pageviews: 7,
            visits: Some(4),
            bounce_rate: 0.5,
            avg_visit_duration_secs: 232.5,
            pages_per_visit: 1.75,
        });
        assert!(
            main.lines()
                .any(|line| line.starts_with("Bounce rate ") && line.ends_with(" 50.0%")),
            "{main}"
        );
        assert!(
            main.lines()
                .all(|line| line.len() == "Metric             Value".len()),
            "{main}"
        );
        assert!(series(&[]).starts_with("Date  Visitors  Page views\n"));
    }
}
