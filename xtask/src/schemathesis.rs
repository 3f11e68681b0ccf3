//! The test suite's Python tools: Schemathesis, the schema-driven API fuzzer
//! the end-to-end suite runs against a live server (`tests/schema_fuzz.rs`),
//! and requests, which the Python examples of docs/api.md use
//! (`tests/script_examples.rs`). Installed from PyPI into a virtual
//! environment under `target/tools/`, at the versions pinned in
//! `tests/schemathesis/requirements.txt`, and reinstalled when that file
//! changes.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::process;

/// Where the virtual environment lives, and the test finds it.
pub fn venv_dir() -> PathBuf {
    process::workspace_root()
        .join("target")
        .join("tools")
        .join("schemathesis")
}

/// Installs the pinned Schemathesis unless the same pins are installed.
pub fn ensure() -> anyhow::Result<()> {
    let pins_file = process::workspace_root().join("tests/schemathesis/requirements.txt");
    let pins = std::fs::read_to_string(&pins_file)
        .with_context(|| format!("cannot read {}", pins_file.display()))?;
    let dir = venv_dir();
    let stamp = dir.join("installed-requirements.txt");
    let binary = dir.join("bin").join("schemathesis");
    if binary.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == pins) {
        return Ok(());
    }
    eprintln!("Installing Schemathesis into {}", dir.display());
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    run(Command::new("python3").arg("-m").arg("venv").arg(&dir))?;
    run(Command::new(dir.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&pins_file))?;
    std::fs::write(&stamp, pins).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
