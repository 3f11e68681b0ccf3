//! A small tmpfs for the full-disk tests: mounted on a directory for one test
//! and unmounted when dropped. Mounting needs root, as CI runs; without it the
//! test fails and says why rather than passing untested.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a directory, unmounted when dropped.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `megabytes` on `dir` (created if missing).
    pub fn mount(dir: &Path, megabytes: u64) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "this test needs a {megabytes} MB tmpfs: `mount -t tmpfs` failed (run the \
             tests as root, as CI does): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            dir: dir.to_owned(),
        }
    }

    /// The directory the tmpfs is mounted on.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Free bytes on the file system.
    pub fn available(&self) -> u64 {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .expect("run df");
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .unwrap_or_else(|| panic!("df output: {text}"))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}
