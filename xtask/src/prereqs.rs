//! Prerequisites a fresh Debian or Ubuntu machine lacks: the system packages
//! the desktop app builds and runs with, and the ones the tests drive
//! (browsers, a virtual display, WebDriver servers). Missing ones are
//! installed with apt-get (as root, or through sudo); where that is not
//! possible, the caller is told what to install.

use std::process::Command;

use anyhow::{Context, bail};

use crate::process;

/// A system package and how to tell that it is present.
struct Package {
    /// The Debian package name.
    name: &'static str,
    /// True when what the package provides is already there.
    present: fn() -> bool,
}

/// What building and running the desktop app needs.
const DESKTOP: &[Package] = &[
    Package {
        name: "pkg-config",
        present: || process::succeeds("pkg-config", &["--version"]),
    },
    Package {
        name: "libwebkit2gtk-4.1-dev",
        present: || process::succeeds("pkg-config", &["--exists", "webkit2gtk-4.1"]),
    },
    Package {
        name: "libayatana-appindicator3-1",
        present: || library_present("libayatana-appindicator3.so.1"),
    },
];

/// What the tests need on top of [`DESKTOP`].
const TESTS: &[Package] = &[
    Package {
        name: "sqlite3",
        present: || process::succeeds("sqlite3", &["--version"]),
    },
    Package {
        name: "chromium",
        present: || process::succeeds("chromium", &["--version"]),
    },
    Package {
        name: "chromium-driver",
        present: || process::succeeds("chromedriver", &["--version"]),
    },
    Package {
        name: "xvfb",
        present: || process::succeeds("which", &["Xvfb"]),
    },
    Package {
        name: "webkit2gtk-driver",
        present: || process::succeeds("which", &["WebKitWebDriver"]),
    },
    Package {
        name: "dbus",
        present: || process::succeeds("which", &["dbus-daemon"]),
    },
    // curl and Node.js run the script examples of docs/api.md.
    Package {
        name: "curl",
        present: || process::succeeds("curl", &["--version"]),
    },
    Package {
        name: "nodejs",
        present: || process::succeeds("node", &["--version"]),
    },
    // Python with venv: Schemathesis (the API fuzzer) runs in a virtual
    // environment of its own.
    Package {
        name: "python3-venv",
        present: || process::succeeds("python3", &["-c", "import ensurepip, venv"]),
    },
];

/// Installs what the desktop app needs, if anything is missing.
pub fn ensure_desktop() -> anyhow::Result<()> {
    ensure(DESKTOP)
}

/// Installs what the desktop app and the tests need, and tauri-driver.
pub fn ensure_tests() -> anyhow::Result<()> {
    ensure(DESKTOP)?;
    ensure(TESTS)?;
    if !process::succeeds("which", &["tauri-driver"]) && !cargo_bin("tauri-driver").exists() {
        process::cargo(&["install", "tauri-driver", "--locked"])?;
    }
    Ok(())
}

fn ensure(packages: &[Package]) -> anyhow::Result<()> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .filter(|package| !(package.present)())
        .map(|package| package.name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !process::succeeds("apt-get", &["--version"]) {
        bail!(
            "missing system packages: {} (this machine has no apt-get; install their \
             equivalents, see README.md)",
            missing.join(" ")
        );
    }
    eprintln!("Installing system packages: {}", missing.join(" "));
    let as_root = is_root();
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let mut command = if as_root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        let status = command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        anyhow::ensure!(status.success(), "apt-get {} failed", args.join(" "));
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install).with_context(|| {
        format!(
            "cannot install {}; run `sudo apt-get install {}` and try again",
            missing.join(" "),
            missing.join(" ")
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn library_present(soname: &str) -> bool {
    Command::new("ldconfig")
        .arg("-p")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(soname))
        || [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib",
        ]
        .iter()
        .any(|dir| std::path::Path::new(dir).join(soname).exists())
}

fn cargo_bin(name: &str) -> std::path::PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".cargo"))
        })
        .unwrap_or_default()
        .join("bin")
        .join(name)
}
