//! Running commands and the server under test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// Runs `cargo` with `args` in the workspace root, failing on a non-zero exit.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env_cargo())
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether `program args` runs and exits zero.
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Runs this same `xtask` command again from an optimized build, when this
/// one is a debug build, and returns its outcome; returns `None` when this
/// process is already optimized and should do the work itself.
///
/// A load generator built without optimizations spends more CPU per request
/// than the server it loads, on the same cores, so the benchmark would measure
/// the client.
pub fn rerun_optimized() -> Option<anyhow::Result<()>> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let rerun = || -> anyhow::Result<()> {
        cargo(&["build", "--release", "--package", "xtask"])?;
        let optimized = target_dir().join("release").join("xtask");
        let status = Command::new(&optimized)
            .args(std::env::args_os().skip(1))
            .current_dir(workspace_root())
            .status()
            .with_context(|| format!("cannot run {}", optimized.display()))?;
        anyhow::ensure!(
            status.success(),
            "{} failed ({status})",
            optimized.display()
        );
        Ok(())
    };
    Some(rerun())
}

/// The release build of `mallard`, built on demand.
pub fn release_mallard() -> anyhow::Result<PathBuf> {
    cargo(&[
        "build",
        "--release",
        "--package",
        "mallard-cli",
        "--bin",
        "mallard",
    ])?;
    Ok(target_dir().join("release").join("mallard"))
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"))
}

fn env_cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A `mallard serve` started for a benchmark.
pub struct ServerProcess {
    /// The child process.
    pub child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl ServerProcess {
    /// Starts `bin serve --port 0` in `home` (data in `data_dir`, else in
    /// `home/data`) with `env`, waiting for its URL.
    pub fn start(
        bin: &Path,
        home: &Path,
        data_dir: Option<&Path>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let data_dir = data_dir.map_or_else(|| home.join("data"), Path::to_path_buf);
        let mut child = Command::new(bin)
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .env("XDG_DATA_HOME", home.join("xdg-data"))
            .env("XDG_CONFIG_HOME", home.join("xdg-config"))
            .env("XDG_CACHE_HOME", home.join("xdg-cache"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start mallard")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .context("mallard did not start")?;
            if let Some(url) = line.strip_prefix("Dashboard: ") {
                let port = url
                    .trim_end_matches('/')
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .parse()?;
                return Ok(Self { child, port });
            }
        }
    }

    /// The peak resident set size of the server so far (or since the last
    /// [`ServerProcess::reset_peak_rss`]), in MiB (Linux only).
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status_kib(&status, "VmHWM").map(|kib| kib as f64 / 1024.0)
    }

    /// The server's current resident set size, in MiB (Linux only).
    pub fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status_kib(&status, "VmRSS").map(|kib| kib as f64 / 1024.0)
    }

    /// Starts the server's peak RSS afresh from its current RSS (writing `5`
    /// to `/proc/<pid>/clear_refs`, Linux 4.0 and later), so that the next
    /// [`ServerProcess::peak_rss_mib`] covers only what ran in between.
    /// Returns whether the kernel accepted it.
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").is_ok()
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Option<std::time::Duration> {
        cpu_time_of(&format!("/proc/{}/stat", self.child.id()))
    }

    /// CPU time of the server's database writer thread so far.
    pub fn writer_cpu_time(&self) -> Option<Duration> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        tasks.filter_map(Result::ok).find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim() == "mallard-writer")
                .then(|| cpu_time_of(&task.path().join("stat").to_string_lossy()))?
        })
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill failed");
        let exit = self.child.wait()?;
        anyhow::ensure!(exit.success(), "mallard exited with {exit}");
        Ok(())
    }
}

/// The value in KiB of field `name` (e.g. `VmHWM`) of a `/proc/<pid>/status`
/// text, whose lines read `VmHWM:\t   21504 kB`.
pub fn status_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        if field != name {
            return None;
        }
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// CPU time (user + system) of this process so far.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time_of("/proc/self/stat")
}

/// Reads utime + stime from a `/proc/<pid>/stat` file (Linux only).
fn cpu_time_of(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this project runs on.
    Some(Duration::from_millis(ticks * 10))
}

#[cfg(test)]
mod tests {
    use super::status_kib;

    const STATUS: &str = "Name:\tmallard\nVmPeak:\t 2048000 kB\nVmHWM:\t   21504 kB\nVmRSS:\t   19456 kB\nThreads:\t7\n";

    #[test]
    fn status_fields_are_read_in_kib() {
        assert_eq!(status_kib(STATUS, "VmHWM"), Some(21_504));
        assert_eq!(status_kib(STATUS, "VmRSS"), Some(19_456));
    }

    #[test]
    fn a_missing_or_unitless_field_is_none() {
        assert_eq!(status_kib(STATUS, "VmSwap"), None);
        assert_eq!(status_kib(STATUS, "Threads"), None);
        // A field whose name only starts like the one asked for is another field.
        assert_eq!(status_kib("VmHWMx:\t5 kB\n", "VmHWM"), None);
    }
}
