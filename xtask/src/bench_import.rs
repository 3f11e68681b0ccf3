//! Access-log import speed: write a combined log of N lines with a
//! realistic mix (page views, static files, bots, redirects, errors, a few
//! unreadable lines; thousands of visitors over `--days` days), then time
//! `mallard import logs` of the release build on a fresh data directory and
//! report lines per second and the importer's peak memory.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use crate::process::{release_mallard, status_kib};

/// Flags of `cargo xtask bench-import`.
#[derive(Debug, Args)]
pub struct BenchImportArgs {
    /// How many log lines to write and import.
    #[arg(long, default_value_t = 5_000_000)]
    lines: u64,
    /// Over how many days the requests spread.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Gzip the log (as a rotated log is).
    #[arg(long)]
    gzip: bool,
    /// Reuse (or keep) the log at this path instead of a temporary one.
    #[arg(long)]
    log: Option<PathBuf>,
}

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
];

const REFERRERS: &[&str] = &[
    "-",
    "-",
    "https://www.google.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/",
    "https://bench.test/",
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Writes the log and times the import.
pub fn run(args: &BenchImportArgs) -> anyhow::Result<()> {
    let bin = release_mallard()?;
    let temp = tempfile::tempdir()?;
    let log = args.log.clone().unwrap_or_else(|| {
        temp.path().join(if args.gzip {
            "access.log.gz"
        } else {
            "access.log"
        })
    });
    if !log.exists() {
        let started = Instant::now();
        write_log(&log, args.lines, args.days, args.gzip)?;
        println!(
            "bench-import: wrote {} lines in {:.1} s",
            args.lines,
            started.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&log)?.len();
    let data_dir = temp.path().join("data");
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .args(["import", "--data-dir"])
        .arg(&data_dir)
        .args(["logs", "--site", "bench.test"])
        .arg(&log)
        .env("XDG_CONFIG_HOME", temp.path().join("xdg-config"))
        .stdout(Stdio::piped())
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    while child.try_wait()?.is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            peak_kib = peak_kib.max(status_kib(&status, "VmHWM").unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output()?;
    anyhow::ensure!(output.status.success(), "mallard import failed");
    let seconds = started.elapsed().as_secs_f64();
    print!("{}", String::from_utf8_lossy(&output.stdout));
    println!(
        "bench-import: {} lines ({:.0} MB{}) imported in {seconds:.1} s: {:.0} lines/s, \
         {:.1} MB/s, peak RSS {:.0} MiB",
        args.lines,
        size as f64 / 1e6,
        if args.gzip { " gzip" } else { "" },
        args.lines as f64 / seconds,
        size as f64 / 1e6 / seconds,
        peak_kib as f64 / 1024.0
    );
    Ok(())
}

/// Writes `lines` combined-format lines over `days` days ending on
/// 2026-11-30, in time order.
fn write_log(path: &Path, lines: u64, days: u32, gzip: bool) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut out: Box<dyn Write> = if gzip {
        Box::new(BufWriter::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        )))
    } else {
        Box::new(BufWriter::with_capacity(1 << 20, file))
    };
    let end = 1_796_083_200i64; // 2026-12-01T00:00:00Z
    let start = end - i64::from(days) * 86_400;
    let step = (end - start) as f64 / lines as f64;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for n in 0..lines {
        let r = next();
        let time = start + (n as f64 * step) as i64;
        let client = r % 20_000;
        let ip = format!(
            "{}.{}.{}.{}",
            [81, 88, 151, 185, 213, 62, 5, 31][(client % 8) as usize],
            (client >> 3) % 250 + 1,
            (client >> 11) % 250 + 1,
            client % 199 + 1
        );
        // Mostly the client's own browser; one request in ten from a crawler.
        let agent = if r % 10 == 0 {
            AGENTS[5 + (client % 2) as usize]
        } else {
            AGENTS[(client % 5) as usize]
        };
        let kind = (r >> 20) % 100;
        let (target, status) = match kind {
            0..=39 => (format!("/blog/post-{}", (r >> 32) % 500), 200),
            40..=44 => (
                format!("/docs/{}?utm_source=newsletter", (r >> 32) % 50),
                200,
            ),
            45..=74 => (format!("/assets/app-{}.js", (r >> 32) % 20), 200),
            75..=84 => (format!("/img/{}.webp", (r >> 32) % 300), 200),
            85..=89 => ("/old".to_owned(), 301),
            90..=93 => (format!("/missing/{}", (r >> 32) % 1000), 404),
            94..=95 => ("/".to_owned(), 304),
            _ => ("/".to_owned(), 200),
        };
        let referrer = REFERRERS[((r >> 40) % REFERRERS.len() as u64) as usize];
        let date = civil(time);
        if n % 100_000 == 99_999 {
            writeln!(out, "{ip} - - [garbled")?;
            continue;
        }
        writeln!(
            out,
            "{ip} - - [{date} +0000] \"GET {target} HTTP/1.1\" {status} {} \"{referrer}\" \"{agent}\"",
            (r >> 48) % 50_000
        )?;
    }
    out.flush()?;
    Ok(())
}

/// `dd/Mon/yyyy:HH:MM:SS` of Unix seconds.
fn civil(seconds: i64) -> String {
    let (year, month, day) = ymd(seconds.div_euclid(86_400));
    let secs = seconds.rem_euclid(86_400);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02}",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The year, month and day of a day number (days since 1970-01-01), by
/// Howard Hinnant's algorithm.
pub(crate) fn ymd(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil(1_796_083_200), "01/Dec/2026:00:00:00");
        assert_eq!(civil(971_211_336), "10/Oct/2000:20:55:36");
        assert_eq!(civil(1_709_164_800), "29/Feb/2024:00:00:00");
    }
}
