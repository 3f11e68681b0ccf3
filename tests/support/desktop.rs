//! The desktop app under test: `mallard-desktop` launched by tauri-driver and
//! WebKitWebDriver on a private Xvfb display with a private D-Bus session bus,
//! in a private home, so its window can be driven like a browser. Needs
//! Debian's `xvfb`, `webkit2gtk-driver` and `dbus`, and `cargo install
//! tauri-driver --locked` (`.ci/run` installs them).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TestHome;
use crate::browser::{Browser, free_port};

/// The path of the `mallard-desktop` binary under test (`MALLARD_DESKTOP_BIN`
/// points at another build).
pub fn desktop_bin() -> PathBuf {
    if let Ok(path) = std::env::var("MALLARD_DESKTOP_BIN") {
        return PathBuf::from(path);
    }
    let path = crate::target_dir().join("debug").join("mallard-desktop");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask test` (or `cargo build --workspace --bins` first)",
        path.display()
    );
    path
}

/// A display, a session bus, and the app's window under WebDriver control.
pub struct DesktopApp {
    /// The app's window, driven through WebDriver.
    pub window: Browser,
    /// The base URL of the app's in-process server, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
    /// What the app and its drivers wrote to stderr.
    pub log: PathBuf,
    env: Vec<(String, String)>,
    xvfb: Child,
    bus: Child,
}

impl DesktopApp {
    /// Launches the app in `home` with extra environment `env`, and waits for
    /// its window.
    pub fn launch(home: &TestHome, env: &[(&str, &str)]) -> Self {
        // Found first: a missing binary fails the test before any display,
        // bus or driver is started (and left running).
        let application = desktop_bin();
        let (xvfb, display) = spawn_reading_line(
            Command::new("Xvfb").args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ]),
            "Xvfb (apt-get install xvfb)",
        );
        let (bus, bus_address) = spawn_reading_line(
            Command::new("dbus-daemon").args(["--session", "--nofork", "--print-address=1"]),
            "dbus-daemon (apt-get install dbus)",
        );
        let port = free_port();
        let mut app_env: Vec<(String, String)> = vec![
            ("DISPLAY".into(), format!(":{display}")),
            ("DBUS_SESSION_BUS_ADDRESS".into(), bus_address),
            (
                "XDG_DATA_HOME".into(),
                home.path().join("xdg-data").display().to_string(),
            ),
            (
                "XDG_CONFIG_HOME".into(),
                home.path().join("xdg-config").display().to_string(),
            ),
            (
                "XDG_CACHE_HOME".into(),
                home.path().join("xdg-cache").display().to_string(),
            ),
            ("HOME".into(), home.path().display().to_string()),
            (
                "MALLARD_DATA_DIR".into(),
                home.data_dir().display().to_string(),
            ),
            ("MALLARD_PORT".into(), port.to_string()),
            ("RUST_LOG".into(), "info".into()),
        ];
        app_env.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let log = home.path().join("desktop.log");
        let driver_port = free_port();
        let mut driver = Command::new(tauri_driver_bin());
        driver
            .args(["--port", &driver_port.to_string()])
            .args(["--native-port", &free_port().to_string()])
            .envs(app_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("MALLARD_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let driver = driver.spawn().expect(
            "this test needs tauri-driver: cargo install tauri-driver --locked (.ci/run does)",
        );
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": application, "args": [] }),
        );
        let window = Browser::attach(driver, driver_port, capabilities, Duration::from_secs(60));
        // The first page of a freshly started WebKit can take a while on a busy
        // machine; every test starts from a rendered dashboard.
        let deadline = Instant::now() + Duration::from_secs(30);
        while window.text("h1").trim().is_empty() {
            assert!(
                Instant::now() < deadline,
                "the window never showed the dashboard"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            window,
            base: format!("http://127.0.0.1:{port}"),
            log,
            env: app_env,
            xvfb,
            bus,
        }
    }

    /// A URL of the app's server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A second `mallard-desktop` with the same display, bus and home.
    pub fn second_launch(&self) -> Command {
        let mut command = Command::new(desktop_bin());
        command
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Waits until the log contains `needle`; returns the whole log.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the log never said {needle:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for DesktopApp {
    fn drop(&mut self) {
        // The window (and with it the app and the drivers) goes first; the
        // display and the bus after.
        self.window.close();
        for child in [&mut self.xvfb, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// tauri-driver from PATH or cargo's bin directory.
fn tauri_driver_bin() -> PathBuf {
    let in_cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|home| home.join("bin").join("tauri-driver"));
    match in_cargo_home {
        Some(path) if path.exists() => path,
        _ => PathBuf::from("tauri-driver"),
    }
}

/// Spawns `command` and reads the first line it prints (a display number, a
/// bus address).
fn spawn_reading_line(command: &mut Command, what: &str) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("this test needs {what}: {err}"));
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let line = line.trim().to_owned();
    assert!(!line.is_empty(), "{what} printed nothing");
    (child, line)
}
