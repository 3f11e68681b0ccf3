//! Command-line flags of `mallard-desktop` and the display check that decides
//! between the window and headless mode.

use std::path::PathBuf;

use clap::Parser;
use mallard_server::{Config, Overrides};

/// Mallard Metrics Desktop: local-first web analytics in a window.
#[derive(Debug, Parser)]
#[command(name = "mallard-desktop", version, about)]
pub struct DesktopArgs {
    /// Run the server only, without a window, and print the dashboard URL.
    #[arg(long)]
    pub headless: bool,
    /// The address to listen on (default 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// The port to listen on (default 8000; 0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// The data directory (default: the OS user data directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A TOML config file (default: config.toml in the OS user config directory).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl DesktopArgs {
    /// The configuration exactly as `mallard serve` resolves it: defaults, the
    /// config file, the environment, then these flags.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let env = |key: &str| std::env::var(key).ok();
        let overrides = Overrides {
            host: self.host.clone(),
            port: self.port,
            data_dir: self.data_dir.clone(),
        };
        Ok(Config::load(self.config.as_deref(), &env, overrides)?)
    }
}

/// Whether a window can be shown: on Linux and the BSDs, an X11 or Wayland
/// display must be set; elsewhere there always is one.
pub fn has_display() -> bool {
    display_in(&|key| {
        std::env::var_os(key)
            .filter(|value| !value.is_empty())
            .is_some()
    })
}

fn display_in(is_set: &dyn Fn(&str) -> bool) -> bool {
    if cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd"
    )) {
        is_set("DISPLAY") || is_set("WAYLAND_DISPLAY")
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_display_is_x11_or_wayland() {
        assert!(!display_in(&|_| false));
        assert!(display_in(&|key| key == "DISPLAY"));
        assert!(display_in(&|key| key == "WAYLAND_DISPLAY"));
    }

    #[test]
    fn flags_override_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let args = DesktopArgs::parse_from([
            "mallard-desktop",
            "--port",
            "9123",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ]);
        let config = args.load_config().unwrap();
        assert_eq!(config.port, 9123);
        assert_eq!(config.data_dir, dir.path());
        assert!(!args.headless);
    }
}
