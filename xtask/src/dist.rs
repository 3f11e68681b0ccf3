//! `cargo xtask dist`: the desktop app's installable package, built by the
//! Tauri bundler (`cargo tauri build`): a `.deb` on Debian and Ubuntu. The
//! Tauri CLI (major version 2) is installed with cargo when it is missing.

use std::path::PathBuf;

use crate::{prereqs, process};

/// Builds the release bundle and prints where it is.
pub fn run() -> anyhow::Result<()> {
    prereqs::ensure_desktop()?;
    if !process::succeeds("cargo", &["tauri", "--version"]) {
        process::cargo(&["install", "tauri-cli", "--version", "^2", "--locked"])?;
    }
    // The workspace's default member is the `mallard` CLI: name the desktop
    // package for the build the bundler runs.
    process::cargo(&[
        "tauri",
        "build",
        "--bundles",
        "deb",
        "--",
        "--package",
        "mallard-desktop",
    ])?;
    let bundle_dir = process::target_dir()
        .join("release")
        .join("bundle")
        .join("deb");
    let debs: Vec<PathBuf> = std::fs::read_dir(&bundle_dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .collect();
    anyhow::ensure!(!debs.is_empty(), "no .deb in {}", bundle_dir.display());
    for deb in debs {
        println!("{}", deb.display());
    }
    Ok(())
}
