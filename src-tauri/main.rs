//! `mallard-desktop`: Mallard Metrics as a desktop app.
//!
//! The shell is thin. It loads the same configuration as `mallard serve`,
//! runs `mallard-server` in-process on Tauri's tokio runtime, shows the
//! dashboard (served by that server) in a native window signed in with a
//! one-time token, and keeps collecting from the tray when the window is
//! closed. With no display, or with `--headless`, it runs the server only and
//! prints the dashboard URL. Every behaviour beyond that lives in the crates.

#![cfg_attr(all(not(debug_assertions), windows), windows_subsystem = "windows")]

mod args;
mod backup_menu;
mod desktop;
mod file_dialog;
mod host;
mod menu;
mod port;
mod sign_in;
mod spike;
mod startup;
mod tray;
mod window;

use std::process::ExitCode;

use clap::Parser;
use mallard_server::launch;

/// The same allocator as the `mallard` binary: the in-process server's
/// request path allocates many small, short-lived buffers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = args::DesktopArgs::parse();
    let config = match args.load_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("mallard-desktop: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    launch::init_logging(config.log_format);
    let result = if args.headless || !args::has_display() {
        if !args.headless {
            tracing::info!("no display found: running the server only (headless)");
        }
        launch::serve_until_signal(config).map_err(anyhow::Error::from)
    } else {
        desktop::run(config)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mallard-desktop: {err:#}");
            ExitCode::FAILURE
        }
    }
}
