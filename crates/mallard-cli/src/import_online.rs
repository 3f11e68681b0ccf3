//! `mallard import` against a running server: the data directory is locked,
//! so the command asks the server (its address and local admin token are
//! published in the data directory, as for `mallard keys`) to import the
//! files by path, follows the job's progress, and lists or undoes imports
//! through the same API (docs/api.md, "Imports"). With `--follow` the server
//! keeps reading the log until Ctrl-C, which stops the job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use serde_json::{Value, json};

use crate::import::{FileLine, LogsArgs, Summary, progress_bar, progress_message, show_bytes};
use crate::local_server::LocalServer;

/// Imports through the running server.
pub fn logs(data_dir: &std::path::Path, args: &LogsArgs) -> anyhow::Result<()> {
    if args.follow && args.files.len() != 1 {
        bail!("--follow reads one log file (not standard input)");
    }
    let server = LocalServer::discover(data_dir)?;
    let cwd = std::env::current_dir()?;
    let mut files = Vec::new();
    for file in &args.files {
        if file.as_os_str() == "-" {
            bail!(
                "a running server cannot read this command's standard input; save the log to a \
                 file and import that, or stop the server"
            );
        }
        files.push(
            std::fs::canonicalize(file)
                .unwrap_or_else(|_| cwd.join(file))
                .display()
                .to_string(),
        );
    }
    let started = server.post(
        "/api/imports/logs",
        &json!({
            "site_id": args.site,
            "format": args.format,
            "exclude": args.exclude,
            "include_static": args.include_static,
            "files": files,
            "follow": args.follow,
        }),
    )?;
    let job = started["job"].as_u64().context("the server named no job")?;
    let interrupted = if args.follow {
        Some(interrupt_flag()?)
    } else {
        None
    };
    let mut stopping = false;
    let bar = progress_bar();
    let began = Instant::now();
    let done = loop {
        std::thread::sleep(Duration::from_millis(200));
        if !stopping
            && interrupted
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            // Ctrl-C: the server stops following, keeping what it read.
            server.delete(&format!("/api/imports/jobs/{job}"))?;
            stopping = true;
        }
        let state = server.get(&format!("/api/imports/jobs/{job}"))?;
        match state["status"].as_str() {
            Some("running") => show(&bar, &state, began),
            Some("finished" | "cancelled") => break state,
            _ => {
                bar.finish_and_clear();
                bail!(
                    "the import failed: {}",
                    state["error"].as_str().unwrap_or("no details")
                );
            }
        }
    };
    bar.finish_and_clear();
    let mut summary = summary(&done);
    // Following ends by being stopped: that is its normal end.
    summary.cancelled &= !args.follow;
    summary.print(began.elapsed());
    Ok(())
}

/// A flag set on Ctrl-C (or SIGTERM), which then no longer ends the
/// process at once.
fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (listening, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime.block_on(async {
            let signal = mallard_server::launch::shutdown_signal();
            let _ = listening.send(());
            signal.await;
            set.store(true, Ordering::Relaxed);
        });
    });
    let _ = ready.recv();
    Ok(flag)
}

fn show(bar: &ProgressBar, state: &Value, began: Instant) {
    let counts = &state["counts"];
    let number = |field: &str| counts[field].as_u64().unwrap_or(0);
    let reasons: Vec<(&str, u64)> = counts["skipped"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(reason, count)| (reason.as_str(), count.as_u64().unwrap_or(0)))
        .collect();
    show_bytes(
        bar,
        state["bytes_done"].as_u64().unwrap_or(0),
        state["bytes_total"].as_u64(),
    );
    bar.set_message(progress_message(
        state["file"].as_str().unwrap_or_default(),
        state["offset"].as_u64().unwrap_or(0),
        began,
        [number("lines"), number("imported"), number("unparsed")],
        &reasons,
    ));
}

/// The report of a finished job, as the offline import prints it.
fn summary(state: &Value) -> Summary {
    let counts = &state["counts"];
    let number = |field: &str| counts[field].as_u64().unwrap_or(0);
    Summary {
        import_id: state["import_id"].as_i64().unwrap_or(0),
        format: state["format"].as_str().unwrap_or_default().to_owned(),
        detected: state["detected"].as_bool().unwrap_or(false),
        cancelled: state["status"] == "cancelled",
        rolled_back: state["rolled_back"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|undone| {
                let number = |field: &str| undone[field].as_u64().unwrap_or(0);
                (
                    undone["id"].as_i64().unwrap_or(0),
                    number("visits_removed"),
                    number("events_removed"),
                )
            })
            .collect(),
        files: state["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|file| FileLine {
                name: file["file"].as_str().unwrap_or_default().to_owned(),
                note: match file["outcome"].as_str() {
                    Some("resumed") => {
                        crate::import::resumed_note(file["from_line"].as_u64().unwrap_or(0))
                    }
                    Some("known") => crate::import::KNOWN_NOTE.to_owned(),
                    Some("unreadable") => {
                        format!("unreadable: {}", file["error"].as_str().unwrap_or_default())
                    }
                    _ => "read".to_owned(),
                },
            })
            .collect(),
        lines: number("lines"),
        imported: number("imported"),
        unparsed: number("unparsed"),
        skipped: counts["skipped"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(reason, count)| (reason.clone(), count.as_u64().unwrap_or(0)))
            .collect(),
        first_errors: counts["first_errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["file"].as_str().unwrap_or_default().to_owned(),
                    e["line"].as_u64().unwrap_or(0),
                    e["error"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    }
}

/// Lists the imports the running server knows.
pub fn list(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let server = LocalServer::discover(data_dir)?;
    let imports = server.get("/api/imports")?;
    let imports = imports.as_array().cloned().unwrap_or_default();
    if imports.is_empty() {
        println!("no imports");
    }
    for import in imports {
        let text = |field: &str| import[field].as_str().unwrap_or_default().to_owned();
        let number = |field: &str| import[field].as_u64().unwrap_or(0);
        let period = match (
            import["first_event_at"].as_str(),
            import["last_event_at"].as_str(),
        ) {
            (Some(first), Some(last)) => format!("{first} to {last}"),
            _ => "no page views".to_owned(),
        };
        let status = match (import["undone_at"].as_str(), import["finished_at"].as_str()) {
            (Some(at), _) => format!("undone {at}"),
            (None, Some(_)) => "finished".to_owned(),
            (None, None) => "unfinished".to_owned(),
        };
        println!(
            "{}\t{}\t{} ({})\t{}\t{} lines, {} imported, {} unreadable, skipped {}\t{period}\t{status}",
            import["id"],
            text("site_id"),
            text("kind"),
            text("format"),
            text("started_at"),
            number("lines"),
            number("imported"),
            number("unparsed"),
            import["skipped"],
        );
        for file in import["files"].as_array().into_iter().flatten() {
            println!("\t{}", file.as_str().unwrap_or_default());
        }
    }
    Ok(())
}

/// Undoes an import through the running server.
pub fn undo(data_dir: &std::path::Path, id: i64) -> anyhow::Result<()> {
    let server = LocalServer::discover(data_dir)?;
    let undone = server.delete(&format!("/api/imports/{id}"))?;
    println!(
        "import {id} undone: {} visits and {} events removed",
        undone["visits_removed"], undone["events_removed"]
    );
    Ok(())
}
