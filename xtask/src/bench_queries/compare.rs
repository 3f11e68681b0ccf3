//! `cargo xtask bench-queries --compare-bin <build>`: two builds side by side.
//! On a machine whose speed drifts by ±20 % from minute to minute, two
//! builds timed one after the other differ by the drift as much as by the
//! change. Here each build serves its own copy of the same database, and
//! every query is asked of both in turn, run by run (the first build first
//! on odd runs, second on even ones), so a drift slows both alike; the
//! table gives both medians and their ratio.

use std::net::SocketAddr;
use std::path::Path;

use super::client::KeepAlive;
use super::plan::{Plan, request_path};
use super::report::{Outcome, percentile, times};

/// The files of a database at rest: the main file and its write-ahead log
/// (the shared-memory index is rebuilt on open).
const DATABASE_FILES: &[&str] = &["mallard.db", "mallard.db-wal"];

/// Copies the database of `from` into the empty directory `to`. No server
/// may be writing to `from` meanwhile (the benchmark copies before it
/// starts one).
pub fn copy_database(from: &Path, to: &Path) -> anyhow::Result<()> {
    for name in DATABASE_FILES {
        let source = from.join(name);
        if source.exists() {
            std::fs::copy(&source, to.join(name))?;
        }
    }
    anyhow::ensure!(
        to.join(DATABASE_FILES[0]).exists(),
        "{} holds no database",
        from.display()
    );
    Ok(())
}

/// One query, period and filter set, timed on both builds.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRow {
    /// The query's name, period and filters, as the table shows them.
    pub label: String,
    /// The first build's outcome.
    pub first: Outcome,
    /// The second build's outcome.
    pub second: Outcome,
}

/// Times every query of the plan on the servers at `first` and `second`:
/// one warm-up each, then `plan.runs` rounds of one request to each, in
/// alternating order.
pub async fn measure(
    first: SocketAddr,
    second: SocketAddr,
    site: &str,
    plan: &Plan,
) -> anyhow::Result<Vec<PairRow>> {
    let mut clients = [KeepAlive::new(first), KeepAlive::new(second)];
    let mut rows = Vec::new();
    for period in &plan.periods {
        for set in &plan.filter_sets {
            for query in &plan.queries {
                let target = request_path(query, site, *period, set.filters);
                let mut millis = [Vec::new(), Vec::new()];
                let mut statuses = [Vec::new(), Vec::new()];
                for run in 0..=plan.runs {
                    for build in order(run) {
                        let answer = clients[build].get(&target).await;
                        let status = answer.as_ref().map_or(0, |answer| answer.status);
                        statuses[build].push(status);
                        if let (Ok(answer), true) = (answer, run > 0) {
                            millis[build].push(answer.elapsed.as_secs_f64() * 1e3);
                        }
                    }
                }
                let [first, second] =
                    [0, 1].map(|build| Outcome::of(&millis[build], &statuses[build]));
                let label = format!("{} {} [{}]", query.name, period.param(), set.filters);
                eprintln!("  {label}: {first:?} / {second:?}");
                rows.push(PairRow {
                    label,
                    first,
                    second,
                });
            }
        }
    }
    Ok(rows)
}

/// Which build answers first in round `run`: the first on odd rounds (the
/// warm-up is round 0), the second on even ones.
fn order(run: usize) -> [usize; 2] {
    if run % 2 == 1 { [0, 1] } else { [1, 0] }
}

/// The markdown table: per query, each build's p50 / p90 and the second
/// build's p50 over the first's.
pub fn table(rows: &[PairRow]) -> String {
    let mut out = String::from("| query | first build | second build | second / first |\n");
    out.push_str("|---|---|---|---|\n");
    for row in rows {
        let ratio = match (row.first.p50(), row.second.p50()) {
            (Some(first), Some(second)) if first > 0.0 => format!("{:.2}", second / first),
            _ => "n/a".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {ratio} |\n",
            row.label,
            times(&row.first),
            times(&row.second)
        ));
    }
    out.push_str(&format!(
        "\nmedian of the ratios: {}\n",
        median_ratio(rows).map_or_else(|| "n/a".into(), |ratio| format!("{ratio:.3}"))
    ));
    out
}

/// The median of the rows' ratios (second over first), when any row
/// answered on both builds.
fn median_ratio(rows: &[PairRow]) -> Option<f64> {
    let mut ratios: Vec<f64> = rows
        .iter()
        .filter_map(|row| Some(row.second.p50()? / row.first.p50()?))
        .filter(|ratio| ratio.is_finite())
        .collect();
    ratios.sort_by(f64::total_cmp);
    (!ratios.is_empty()).then(|| percentile(&ratios, 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, first: f64, second: f64) -> PairRow {
        PairRow {
            label: label.into(),
            first: Outcome::Timed {
                p50: first,
                p90: first * 2.0,
            },
            second: Outcome::Timed {
                p50: second,
                p90: second * 2.0,
            },
        }
    }

    #[test]
    fn the_builds_take_turns_at_answering_first() {
        assert_eq!(order(0), [1, 0]);
        assert_eq!(order(1), [0, 1]);
        assert_eq!(order(2), [1, 0]);
        let firsts: usize = (1..=10).map(|run| order(run)[0]).sum();
        assert_eq!(firsts, 5, "each build first in half the timed rounds");
    }

    #[test]
    fn the_table_gives_both_medians_and_their_ratio() {
        let rows = vec![
            row("funnel 12mo []", 60.0, 54.0),
            row("flow 12mo []", 120.0, 132.0),
            PairRow {
                label: "main 30d [source==Google]".into(),
                first: Outcome::Failed(429),
                second: Outcome::Timed { p50: 2.0, p90: 3.0 },
            },
            row("pages 30d []", 10.0, 9.0),
        ];
        assert_eq!(
            table(&rows),
            "| query | first build | second build | second / first |\n\
             |---|---|---|---|\n\
             | funnel 12mo [] | 60.0 / 120 | 54.0 / 108 | 0.90 |\n\
             | flow 12mo [] | 120 / 240 | 132 / 264 | 1.10 |\n\
             | main 30d [source==Google] | HTTP 429 | 2.00 / 3.00 | n/a |\n\
             | pages 30d [] | 10.0 / 20.0 | 9.00 / 18.0 | 0.90 |\n\
             \nmedian of the ratios: 0.900\n"
        );
        assert_eq!(median_ratio(&[]), None);
    }

    #[test]
    fn a_copy_takes_the_database_and_its_log_and_refuses_no_database() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        assert!(copy_database(from.path(), to.path()).is_err());
        std::fs::write(from.path().join("mallard.db"), b"pages").unwrap();
        std::fs::write(from.path().join("mallard.db-wal"), b"frames").unwrap();
        std::fs::write(from.path().join("mallard.lock"), b"").unwrap();
        copy_database(from.path(), to.path()).unwrap();
        assert_eq!(
            std::fs::read(to.path().join("mallard.db")).unwrap(),
            b"pages"
        );
        assert_eq!(
            std::fs::read(to.path().join("mallard.db-wal")).unwrap(),
            b"frames"
        );
        assert!(!to.path().join("mallard.lock").exists());
    }
}
