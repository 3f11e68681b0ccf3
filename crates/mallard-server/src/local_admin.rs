//! How local tools reach a running server: the server publishes its URL and a
//! per-run admin token in the data directory (readable by the owner only), and
//! `mallard keys` on a running install uses them to call the HTTP API instead
//! of writing to a database another process owns.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::secrets::{new_token, secrets_match};

/// The file naming the running server's URL.
pub const SERVER_FILE: &str = "server.json";
/// The file holding the running server's local admin token.
pub const TOKEN_FILE: &str = "local-admin-token";
/// The prefix of local admin tokens, so they are never mistaken for API keys.
pub const TOKEN_PREFIX: &str = "mlt_";

/// What `server.json` says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerInfo {
    /// The base URL, e.g. `http://127.0.0.1:8000`.
    pub url: String,
    /// The server's process id.
    pub pid: u32,
}

/// The admin token of this server run.
#[derive(Clone)]
pub struct LocalAdminToken(String);

impl std::fmt::Debug for LocalAdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalAdminToken(..)")
    }
}

impl LocalAdminToken {
    /// A fresh random token.
    pub fn generate() -> Result<Self, getrandom::Error> {
        Ok(Self(format!("{TOKEN_PREFIX}{}", new_token()?)))
    }

    /// Whether `given` is this token (constant time).
    pub fn matches(&self, given: &str) -> bool {
        secrets_match(given, &self.0)
    }

    /// The token itself, for tests of code that checks it.
    #[cfg(test)]
    pub(crate) fn token_for_tests(&self) -> &str {
        &self.0
    }

    /// Writes `server.json` and the token file (mode 0600) into `data_dir`.
    pub fn publish(&self, data_dir: &Path, url: &str) -> std::io::Result<()> {
        let info = ServerInfo {
            url: url.trim_end_matches('/').to_owned(),
            pid: std::process::id(),
        };
        let json = serde_json::to_vec_pretty(&info).map_err(std::io::Error::other)?;
        write_private(&data_dir.join(SERVER_FILE), &json)?;
        write_private(&data_dir.join(TOKEN_FILE), self.0.as_bytes())
    }
}

/// Removes the published files (at shutdown).
pub fn withdraw(data_dir: &Path) {
    for file in [SERVER_FILE, TOKEN_FILE] {
        let _ = std::fs::remove_file(data_dir.join(file));
    }
}

/// Reads what a running server published in `data_dir`: its URL and token.
pub fn discover(data_dir: &Path) -> std::io::Result<(ServerInfo, String)> {
    let info: ServerInfo = serde_json::from_slice(&std::fs::read(data_dir.join(SERVER_FILE))?)
        .map_err(std::io::Error::other)?;
    let token = std::fs::read_to_string(data_dir.join(TOKEN_FILE))?
        .trim()
        .to_owned();
    Ok((info, token))
}

fn write_private(path: &PathBuf, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // A file left by a killed run keeps its old mode: make it private before
    // the new token goes in.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.set_len(0)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_server_is_discovered_and_withdrawn() {
        let dir = tempfile::tempdir().unwrap();
        let token = LocalAdminToken::generate().unwrap();
        token.publish(dir.path(), "http://127.0.0.1:9/").unwrap();
        let (info, read) = discover(dir.path()).unwrap();
        assert_eq!(info.url, "http://127.0.0.1:9");
        assert!(token.matches(&read));
        assert!(!token.matches("mlt_other"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        withdraw(dir.path());
        assert!(discover(dir.path()).is_err());
    }
}
