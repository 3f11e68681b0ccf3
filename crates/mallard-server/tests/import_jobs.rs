//! A log import as the server's jobs run it, against a real store: progress
//! in stored bytes, stopping early on request with what was read committed,
//! and a second import of the same file going on from where the first one
//! stopped.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mallard_core::SiteId;
use mallard_core::access_log::{FormatChoice, LogFilter};
use mallard_geo::Geolocator;
use mallard_server::import::{FileOutcome, LogImportRequest, Progress, import_logs};
use mallard_store::{Store, StoreOptions};

/// Lines in the generated log: several progress checks' worth.
const LINES: u64 = 30_000;
/// How often the import reports progress and checks for a stop, in lines.
const CHECK_EVERY: u64 = 8192;

fn write_log(path: &std::path::Path) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..LINES {
        let minute = i / 60;
        writeln!(
            file,
            "81.2.{}.{} - - [0{}/Nov/2026:{:02}:{:02}:{:02} +0000] \"GET /page/{} HTTP/1.1\" 200 512 \"-\" \
             \"Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0\"",
            (i / 250) % 250,
            i % 250,
            1 + minute / 1440,
            (minute / 60) % 24,
            minute % 60,
            i % 60,
            i % 97
        )
        .unwrap();
    }
    file.flush().unwrap();
}

fn request(path: &std::path::Path, cancel: Arc<AtomicBool>) -> LogImportRequest {
    LogImportRequest {
        site: SiteId::parse("import-jobs.test").unwrap(),
        format: mallard_server::import::ImportFormat::Log(FormatChoice::Auto),
        filter: LogFilter::new(false, Vec::new()),
        filter_bots: true,
        inputs: vec![path.to_owned()],
        follow: None,
        cancel,
    }
}

#[test]
fn a_stopped_import_keeps_what_it_read_and_the_next_one_goes_on_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    write_log(&log);
    let size = std::fs::metadata(&log).unwrap().len();
    let store = Store::open(&dir.path().join("data"), StoreOptions::default()).unwrap();
    let geolocator = Arc::new(Geolocator::bundled().unwrap());

    // Stop as soon as the first progress report arrives.
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let mut reports = Vec::new();
    let mut stop_at_first = |progress: Progress<'_>| {
        reports.push((progress.bytes_done, progress.bytes_total));
        flag.store(true, Ordering::Relaxed);
    };
    let first = import_logs(
        &store.writer(),
        Arc::clone(&geolocator),
        request(&log, cancel),
        0,
        &mut stop_at_first,
    )
    .unwrap();
    assert!(first.cancelled);
    assert_eq!(first.counts.lines, CHECK_EVERY);
    assert_eq!(first.counts.imported, CHECK_EVERY);
    let (done, total) = reports[0];
    assert_eq!(total, Some(size));
    assert!(done > 0 && done <= size, "{done} of {size}");

    // The same file again: only the lines after the stop.
    let mut last = (0, None);
    let mut keep = |progress: Progress<'_>| last = (progress.bytes_done, progress.bytes_total);
    let second = import_logs(
        &store.writer(),
        geolocator,
        request(&log, Arc::default()),
        0,
        &mut keep,
    )
    .unwrap();
    assert!(!second.cancelled);
    assert_eq!(
        second.files,
        vec![(
            log.display().to_string(),
            FileOutcome::Resumed(CHECK_EVERY + 1)
        )]
    );
    assert_eq!(second.counts.lines, LINES - CHECK_EVERY);
    assert_eq!(
        last,
        (size, Some(size)),
        "the last report is the whole file"
    );

    let imports = store.reads().with(|db| db.imports()).unwrap();
    let imported: u64 = imports.iter().map(|record| record.counts.imported).sum();
    assert_eq!(imported, LINES, "every line once, across both imports");
    store.close();
}
