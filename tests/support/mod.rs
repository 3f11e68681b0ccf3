//! Support for the end-to-end tests: start the real `mallard` binary on port 0
//! in a private data directory, talk HTTP to it, stop or kill it.
//!
//! The binaries are built by `cargo xtask test` (or `cargo build --bins`) before
//! the tests run; `MALLARD_BIN` points at another build.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod browser;
pub mod desktop;
pub mod raw_http;
pub mod tmpfs;

use anyhow::{Context, bail};
use mallard_store::{ReadConn, Store, StoreError, StoreOptions};

/// A browser user agent; requests without one are dropped as bots.
pub const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The path of the `mallard` binary under test.
pub fn mallard_bin() -> PathBuf {
    if let Ok(path) = std::env::var("MALLARD_BIN") {
        return PathBuf::from(path);
    }
    let path = target_dir().join("debug").join("mallard");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask test` (or `cargo build --bins` first)",
        path.display()
    );
    path
}

/// A private home for one test: data, config and cache directories that are
/// removed when it is dropped, so nothing touches the real home directory.
pub struct TestHome {
    dir: tempfile::TempDir,
}

impl TestHome {
    /// A new empty home.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The data directory used by servers started in this home.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The root of this home.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `mallard` command with XDG directories inside this home.
    pub fn command(&self) -> Command {
        let mut command = Command::new(mallard_bin());
        command
            .env("XDG_DATA_HOME", self.dir.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg-config"))
            .env("XDG_CACHE_HOME", self.dir.path().join("xdg-cache"))
            .env("HOME", self.dir.path())
            .env("RUST_LOG", "warn");
        for var in [
            "MALLARD_PORT",
            "MALLARD_HOST",
            "MALLARD_DATA_DIR",
            "MALLARD_CONFIG",
        ] {
            command.env_remove(var);
        }
        command
    }

    /// Writes `events` events of `site` over the last `days` days into this
    /// home's data directory with `mallard seed` (the server must be stopped).
    pub fn seed(&self, site: &str, events: u64, days: u32) {
        let seeded = self
            .command()
            .args(["seed", "--site", site, "--events"])
            .arg(events.to_string())
            .arg("--days")
            .arg(days.to_string())
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .expect("run mallard seed");
        assert!(
            seeded.status.success(),
            "{}",
            String::from_utf8_lossy(&seeded.stderr)
        );
    }

    /// Runs `mallard ARGS --data-dir <this home's data directory>` to its end.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.command()
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .expect("run mallard")
    }

    /// Runs `mallard check EXTRA` on this home's data: whether it passed,
    /// and everything it printed.
    pub fn check(&self, extra: &[&str]) -> (bool, String) {
        let output = self.run(&[&["check"], extra].concat());
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    }

    /// Runs `mallard import --data-dir <this home's data directory> ARGS` to
    /// its end (`import` takes the directory before its format).
    pub fn import(&self, args: &[&str]) -> std::process::Output {
        self.command()
            .args(["import", "--data-dir"])
            .arg(self.data_dir())
            .args(args)
            .output()
            .expect("run mallard import")
    }

    /// Runs `mallard check`, which must fail and say `finding`, then
    /// `mallard check --repair`, after which `mallard check` passes; returns
    /// what the failing check and the repair said.
    pub fn check_finds_and_repair_mends(&self, finding: &str) -> (String, String) {
        let (ok, found) = self.check(&[]);
        assert!(!ok, "{found}");
        assert!(found.contains(finding), "{found}");
        let (ok, repaired) = self.check(&["--repair"]);
        assert!(ok, "{repaired}");
        let (ok, said) = self.check(&[]);
        assert!(ok, "{said}");
        (found, repaired)
    }

    /// A plain SQLite connection to this home's database, waiting up to ten
    /// seconds for a running server's writes.
    pub fn database(&self) -> rusqlite::Connection {
        let db = rusqlite::Connection::open(self.data_dir().join("mallard.db"))
            .expect("open the database");
        db.busy_timeout(std::time::Duration::from_secs(10))
            .expect("set a busy timeout");
        db
    }

    /// Opens the database of this home directly (the server must be stopped).
    pub fn read<T>(&self, read: impl FnOnce(&ReadConn<'_>) -> Result<T, StoreError>) -> T {
        let store = Store::open(&self.data_dir(), StoreOptions::default()).expect("open store");
        let value = store.reads().with(read).expect("read");
        store.close();
        value
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}

/// A running `mallard serve`.
pub struct Server {
    child: Option<Child>,
    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub base: String,
    /// The port it listens on.
    pub port: u16,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `mallard serve --port 0` in `home` with extra environment.
    pub fn start(home: &TestHome, env: &[(&str, &str)]) -> Self {
        Self::try_start(home, env, &[]).expect("server starts")
    }

    /// Starts the server and waits until it prints its URL.
    pub fn try_start(home: &TestHome, env: &[(&str, &str)], args: &[&str]) -> anyhow::Result<Self> {
        let mut command = home.command();
        // Port 0 unless `args` names one (a restart on the same address).
        let port: &[&str] = if args.contains(&"--port") {
            &[]
        } else {
            &["--port", "0"]
        };
        command
            .arg("serve")
            .args(port)
            .arg("--data-dir")
            .arg(home.data_dir())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().context("spawn mallard")?;
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        loop {
            match line_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("Dashboard: ") {
                        let base = url.trim_end_matches('/').to_owned();
                        let port = base.rsplit(':').next().context("port")?.parse()?;
                        return Ok(Self {
                            child: Some(child),
                            base,
                            port,
                            stderr: err_rx,
                        });
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait()?;
                    let stderr = err_rx
                        .recv_timeout(Duration::from_secs(5))
                        .unwrap_or_default();
                    bail!("mallard did not start ({status}): {stderr}");
                }
            }
        }
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the exit; returns the status and stderr.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let child = self.child.take().expect("running");
        signal(&child, "TERM");
        self.wait(child)
    }

    /// Stops the server like [`Server::terminate`] and checks that it exited
    /// cleanly (showing its stderr when not).
    pub fn stop(self) {
        let (status, stderr) = self.terminate();
        assert!(status.success(), "{stderr}");
    }

    /// Sends SIGKILL: the process dies at once, with no chance to clean up.
    pub fn kill9(mut self) {
        let mut child = self.child.take().expect("running");
        signal(&child, "KILL");
        let _ = child.wait();
    }

    fn wait(&self, mut child: Child) -> (ExitStatus, String) {
        let status = child.wait().expect("wait");
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// A combined access log of `days` days from 2024-03-01, each with
/// `visitors` visitors (addresses starting with `network`, Firefox) who view
/// `/page/0` to `/page/5` a minute apart, in time order: `days * visitors`
/// visits and six times as many page views.
pub fn busy_access_log(network: u8, days: u32, visitors: u32) -> Vec<String> {
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let mut lines = Vec::new();
    for day in 0..days {
        let mut day_lines: Vec<(u32, String)> = Vec::new();
        for visitor in 0..visitors {
            let start = visitor * 30;
            for page in 0..6 {
                let second = start + page * 60;
                let time = format!(
                    "{:02}/Mar/2024:{:02}:{:02}:{:02} +0000",
                    day + 1,
                    second / 3600,
                    (second / 60) % 60,
                    second % 60
                );
                day_lines.push((
                    second,
                    format!(
                        "{network}.{day}.{}.{} - - [{time}] \"GET /page/{page} HTTP/1.1\" 200 100 \"-\" \"{FIREFOX}\"",
                        visitor / 250,
                        visitor % 250
                    ),
                ));
            }
        }
        day_lines.sort_by_key(|(second, _)| *second);
        lines.extend(day_lines.into_iter().map(|(_, line)| line));
    }
    lines
}

/// A copy of the bundled country database at `path`: a `geoip_database`
/// file that reads.
pub fn copy_of_bundled_country_database(path: &Path) {
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/mallard-geo/data/geo-whois-asn-country.mmdb"
        ),
        path,
    )
    .expect("copy the bundled country database");
}

/// The path of the synthetic city database of `mallard-geo`'s tests
/// (GeoLite2-City layout): 81.2.69.0/24 is London, England, GB; 8.8.8.0/24
/// Mountain View, California, US; 193.99.144.0/24 Hanover, Lower Saxony,
/// DE; 200.160.0.0/20 Brazil without region or city.
pub fn city_test_database() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/mallard-geo/tests/data/city-test.mmdb")
}

/// A blocking HTTP client with a browser user agent and no redirects.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .user_agent(BROWSER_UA)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Sends `method path` to `server` with the API key `key` (as `X-API-Key`)
/// and `body` as JSON, and returns the response.
pub fn call_with_key(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> reqwest::blocking::Response {
    let mut request = client()
        .request(method, server.url(path))
        .header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().expect("request")
}

/// Waits up to a minute, looking every 200 ms, until `done` holds; fails
/// the test saying `what` did not happen.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET path` from `server` with the API key `key`, which must answer 200,
/// as JSON.
pub fn get_with_key(server: &Server, key: &str, path: &str) -> serde_json::Value {
    let response = call_with_key(server, reqwest::Method::GET, path, key, None);
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
    json_of(response)
}

/// A Mallard pageview body for `site` and `path`.
pub fn pageview(site: &str, path: &str) -> serde_json::Value {
    serde_json::json!({ "d": site, "n": "pageview", "u": format!("https://{site}{path}"), "w": 1280 })
}

/// The body of a response as JSON, panicking with the text when it is not.
pub fn json_of(response: reqwest::blocking::Response) -> serde_json::Value {
    let text = response.text().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
}

/// Signs in to `server` (whose admin password is `password`) as the
/// dashboard does, and returns the session token.
pub fn sign_in(server: &Server, password: &str) -> String {
    let login = client()
        .post(server.url("/api/auth/login"))
        .header("Origin", &server.base)
        .json(&serde_json::json!({ "password": password }))
        .send()
        .expect("login");
    assert_eq!(login.status(), reqwest::StatusCode::OK, "login");
    json_of(login)["token"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

/// Creates a Mallard API key of `scope` (`ReadOnly` or `Admin`) with the
/// session `session`, and returns the key.
pub fn create_api_key(server: &Server, session: &str, scope: &str) -> String {
    let created = client()
        .post(server.url("/api/keys"))
        .header("Origin", &server.base)
        .header("Cookie", format!("mm_session={session}"))
        .json(&serde_json::json!({ "name": "test", "scope": scope }))
        .send()
        .expect("create a key");
    assert_eq!(
        created.status(),
        reqwest::StatusCode::CREATED,
        "create a key"
    );
    json_of(created)["key"]
        .as_str()
        .expect("the key")
        .to_owned()
}

/// Mints a collector ingestion key with `scopes` through `/admin/api-keys`
/// (the server runs with `ADMIN_TOKEN` = `admin_token`), and returns it.
pub fn mint_ingestion_key(server: &Server, admin_token: &str, scopes: &[&str]) -> String {
    let minted = client()
        .post(server.url("/admin/api-keys"))
        .bearer_auth(admin_token)
        .json(&serde_json::json!({
            "workspace_id": "0b6f3f8e-2a4e-4c3e-9d1b-5f0d7e9a1c2b",
            "name": "test",
            "scopes": scopes,
        }))
        .send()
        .expect("mint a key");
    assert_eq!(minted.status(), reqwest::StatusCode::CREATED, "mint a key");
    json_of(minted)["key"].as_str().expect("the key").to_owned()
}

/// The standard output of a command that succeeded; panics with both of its
/// outputs when it failed.
pub fn succeeded(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `value: counter` of each row of a breakdown answer, sorted.
pub fn breakdown_rows(body: &serde_json::Value, counter: &str) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = body
        .as_array()
        .expect("a list of rows")
        .iter()
        .map(|row| {
            (
                row["value"].as_str().expect("a value").to_owned(),
                row[counter].as_u64().expect("a count"),
            )
        })
        .collect();
    rows.sort();
    rows
}
