//! The one-time setup token: what a client on another machine must present to
//! set the first admin password.
//!
//! While no password is set, the server makes a new token at every start,
//! prints it with its address and writes it (mode 0600) to `setup-token` in
//! the data directory, so only someone who can read the server's output or
//! its data directory can claim the server from the network. Clients on this
//! machine need no token. Setting the password retires the token and removes
//! the file. The token is kept in memory only as its SHA-256 digest and
//! compared in constant time.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use super::secrets::{new_token, secrets_match, sha256_hex};

/// The file in the data directory holding the setup token.
pub const SETUP_TOKEN_FILE: &str = "setup-token";
/// The request header that carries the setup token.
pub const SETUP_TOKEN_HEADER: &str = "x-setup-token";

/// The digest of the pending setup token, if one is pending.
#[derive(Debug, Default)]
pub struct SetupToken {
    digest: Mutex<Option<String>>,
}

impl SetupToken {
    /// Makes a new token, writes it to the data directory (mode 0600) and
    /// returns it; a previous token stops working.
    pub fn issue(&self, data_dir: &Path) -> std::io::Result<String> {
        let token = new_token().map_err(|e| std::io::Error::other(e.to_string()))?;
        write_private(&data_dir.join(SETUP_TOKEN_FILE), token.as_bytes())?;
        let mut digest = self
            .digest
            .lock()
            .map_err(|_| std::io::Error::other("setup token lock poisoned"))?;
        *digest = Some(sha256_hex(&token));
        Ok(token)
    }

    /// Whether `given` is the pending token (constant time); false when none
    /// is pending.
    pub fn matches(&self, given: &str) -> bool {
        let digest = self.digest.lock().ok().and_then(|d| d.clone());
        digest.is_some_and(|expected| secrets_match(&sha256_hex(given.trim()), &expected))
    }

    /// Retires the token: it stops working and its file is removed.
    pub fn retire(&self, data_dir: &Path) {
        if let Ok(mut digest) = self.digest.lock() {
            *digest = None;
        }
        match std::fs::remove_file(data_dir.join(SETUP_TOKEN_FILE)) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(error = %err, "cannot remove the setup token file"),
        }
    }
}

/// At start: without a password, issues a setup token and prints it (with the
/// file that holds it) to stdout, beside the dashboard address; with one,
/// removes any token file a previous run left.
pub fn prepare_at_start(token: &SetupToken, password_configured: bool, data_dir: &Path) {
    if password_configured {
        token.retire(data_dir);
        return;
    }
    match token.issue(data_dir) {
        Ok(plaintext) => {
            let path = data_dir.join(SETUP_TOKEN_FILE);
            let text = format!(
                "No admin password is set: open access is limited to this machine.\n\
                 To set the password from another machine, send this one-time setup token \
                 as the X-Setup-Token header (or enter it on the first-run screen):\n  \
                 Setup token: {plaintext}\n  (also in {})\n",
                path.display()
            );
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush());
        }
        Err(err) => tracing::warn!(
            error = %err,
            "cannot write the setup token; the password can be set only from this machine"
        ),
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // An existing file keeps its mode when opened: make it private too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_written_privately_matches_and_is_retired() {
        let dir = tempfile::tempdir().unwrap();
        let setup = SetupToken::default();
        assert!(!setup.matches(""), "nothing is pending yet");
        let token = setup.issue(dir.path()).unwrap();
        assert_eq!(token.len(), 64);
        let file = dir.path().join(SETUP_TOKEN_FILE);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(setup.matches(&token));
        assert!(setup.matches(&format!(" {token}\n")));
        assert!(!setup.matches(&token[1..]));
        let next = setup.issue(dir.path()).unwrap();
        assert!(!setup.matches(&token), "a new token replaces the old");
        setup.retire(dir.path());
        assert!(!setup.matches(&next));
        assert!(!file.exists());
    }

    #[test]
    fn a_password_at_start_removes_a_stale_token_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SETUP_TOKEN_FILE), "stale").unwrap();
        let setup = SetupToken::default();
        prepare_at_start(&setup, true, dir.path());
        assert!(!dir.path().join(SETUP_TOKEN_FILE).exists());
        assert!(!setup.matches("stale"));
    }
}
