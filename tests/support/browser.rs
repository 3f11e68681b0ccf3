//! A WebDriver session for the dashboard tests: a real headless Chromium
//! driven through chromedriver (needs Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs), or, through [`Browser::attach`],
//! any other WebDriver server, such as tauri-driver for the desktop window.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::BROWSER_UA;

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chromedriver process and a browser session on it.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    /// The runtime the client lives on; tests are synchronous.
    pub runtime: tokio::runtime::Runtime,
    driver: Child,
    closed: bool,
    _profile: Option<tempfile::TempDir>,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless session.
    pub fn start() -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("this test needs chromedriver: apt-get install chromium-driver (.ci/run does)");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--user-agent={BROWSER_UA}"),
                ],
            }),
        );
        let mut browser = Self::attach(driver, port, capabilities, Duration::from_secs(20));
        browser._profile = Some(profile);
        browser
    }

    /// Opens a session with `capabilities` on the WebDriver server `driver`,
    /// which listens on `port`, retrying until it answers or `patience` runs out.
    pub fn attach(
        driver: Child,
        port: u16,
        capabilities: serde_json::Map<String, serde_json::Value>,
        patience: Duration,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + patience;
        let client = runtime.block_on(async {
            loop {
                let attempt = ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&url)
                    .await;
                match attempt {
                    Ok(client) => break client,
                    Err(err) if Instant::now() > deadline => {
                        panic!("the WebDriver server did not start a session: {err}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        Self {
            client,
            runtime,
            driver,
            closed: false,
            _profile: None,
        }
    }

    /// A new browser on the dashboard of `server` at `path`, as if "Continue
    /// without a password" had been chosen on first run.
    pub fn open_dashboard(server: &crate::Server, path: &str) -> Self {
        let browser = Self::start();
        browser.goto(&server.url("/"));
        browser.wait_for("#open-access");
        browser.remember_open_access();
        browser.goto(&server.url(path));
        browser.eval("location.reload(); return null;");
        browser
    }

    /// Remembers, as the first-run screen does, that open access was chosen.
    pub fn remember_open_access(&self) {
        self.eval("localStorage.setItem('mallard.openAccessChosen', 'yes'); return null;");
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.runtime.block_on(self.client.goto(url)).unwrap();
    }

    /// Waits (up to 10 s) for an element matching the CSS selector. Any
    /// failure to find it (not there yet, or replaced by a re-render while
    /// being found) is retried until then.
    pub fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.runtime.block_on(self.client.find(Locator::Css(css))) {
                Ok(element) => return element,
                Err(err) if Instant::now() > deadline => {
                    panic!("no element {css}: {err}\npage: {}", self.text("body"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Waits (up to 10 s) until the text of `css` contains `needle`.
    pub fn wait_for_text(&self, css: &str, needle: &str) -> String {
        self.wait_for_text_within(css, needle, Duration::from_secs(10))
    }

    /// Waits up to `patience` until the text of `css` contains `needle`.
    pub fn wait_for_text_within(&self, css: &str, needle: &str, patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let text = self.text(css);
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never contained {needle:?}; it says {text:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The visible text of the first element matching `css` (empty if none).
    pub fn text(&self, css: &str) -> String {
        self.runtime.block_on(async {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        })
    }

    /// Types `value` into the field matching `css`.
    pub fn fill(&self, css: &str, value: &str) {
        self.on_fresh_element(css, |element| async move {
            element.clear().await?;
            element.send_keys(value).await
        });
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        self.on_fresh_element(
            css,
            |element| async move { element.click().await.map(drop) },
        );
    }

    /// Runs `act` on the element matching `css`, finding it again when a
    /// re-render replaced it in between (a stale element), a few times.
    fn on_fresh_element<F, Fut>(&self, css: &str, act: F)
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        for attempt in 1..=5 {
            let element = self.wait_for(css);
            match self.runtime.block_on(act(element)) {
                Ok(()) => return,
                Err(err) if is_stale(&err) && attempt < 5 => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(err) => panic!("{css}: {err}"),
            }
        }
    }

    /// A PNG of the visible part of the page.
    pub fn screenshot(&self) -> Vec<u8> {
        self.runtime.block_on(self.client.screenshot()).unwrap()
    }

    /// Resizes the browser window (CSS pixels).
    pub fn resize(&self, width: u32, height: u32) {
        self.runtime
            .block_on(self.client.set_window_size(width, height))
            .unwrap();
    }

    /// Runs JavaScript in the page and returns its JSON result.
    pub fn eval(&self, script: &str) -> serde_json::Value {
        self.runtime
            .block_on(self.client.execute(script, vec![]))
            .unwrap()
    }
}

/// Whether a WebDriver error says the element left the page.
fn is_stale(err: &fantoccini::error::CmdError) -> bool {
    matches!(
        err,
        fantoccini::error::CmdError::Standard(e)
            if e.error == fantoccini::error::ErrorStatus::StaleElementReference
    )
}

impl Browser {
    /// Ends the session and stops the WebDriver server; called again, does nothing.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let client = self.client.clone();
        let _ = self.runtime.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.close();
    }
}
