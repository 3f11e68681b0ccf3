//! A client of the server running on a data directory, for the commands that
//! work on a running install (`mallard keys`, `mallard import`, `mallard
//! sites`): its address
//! and local admin token are published in the data directory, and its
//! errors come back as the server's own message.

use anyhow::{Context, bail};
use mallard_server::local_admin;
use mallard_store::{Store, StoreError, StoreOptions};
use serde_json::Value;

/// Runs `offline` on the store of `data_dir` when no server holds it (and
/// closes the store after), or `online` with the data directory while a
/// server runs on it: every write still goes through one writer.
pub fn on_store_or_server<T>(
    data_dir: &std::path::Path,
    offline: impl FnOnce(&Store) -> anyhow::Result<T>,
    online: impl FnOnce(&std::path::Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    match Store::open(data_dir, StoreOptions::default()) {
        Ok(store) => {
            let result = offline(&store);
            store.close();
            result
        }
        Err(StoreError::Locked(_)) => online(data_dir),
        Err(err) => Err(err).with_context(|| format!("cannot open {}", data_dir.display())),
    }
}

/// The server holding a data directory.
pub struct LocalServer {
    url: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl LocalServer {
    /// Finds the server that holds `data_dir`.
    pub fn discover(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let (info, token) = local_admin::discover(data_dir).with_context(|| {
            format!(
                "the data directory {} is in use, but the running server's address was not \
                 found; is it still starting?",
                data_dir.display()
            )
        })?;
        Ok(Self {
            url: info.url,
            token,
            http: reqwest::blocking::Client::new(),
        })
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.http.get(format!("{}{path}", self.url)))
    }

    /// `POST path` with a JSON `body`.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(self.http.post(format!("{}{path}", self.url)).json(body))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.http.delete(format!("{}{path}", self.url)))
    }

    /// Sends `request` with the local admin token; a refusal becomes an
    /// error carrying the server's message.
    fn call(&self, request: reqwest::blocking::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("cannot reach {}", self.url))?;
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "the server answered {status}: {}",
                body["error"].as_str().unwrap_or("no details")
            );
        }
        Ok(body)
    }
}
