//! What the program embedding the server lets the dashboard do through it.
//! The desktop app installs a [`HostControl`] so that the settings screen
//! can move the server to another port without restarting the app, and so
//! that the person at the machine can pick log files to import in a native
//! dialog; `mallard serve` installs none (its port comes from its
//! configuration, and files are named on its command line), and the
//! endpoints say so.

use std::fmt::Debug;
use std::path::PathBuf;

/// Controls of the embedding program.
pub trait HostControl: Send + Sync + Debug + 'static {
    /// The port the server listens on now.
    fn port(&self) -> u16;

    /// Moves the server to `port` once the current response has been sent
    /// (the move stops this server gracefully and starts a new one). Returns
    /// the new dashboard URL, or why the port cannot be used.
    fn change_port(&self, port: u16) -> Result<String, String>;

    /// Shows the native "open files" dialog for server logs and returns the
    /// files the person chose, or `None` when they closed it. Blocks until
    /// then: call it off the async workers.
    fn pick_log_files(&self) -> Option<Vec<PathBuf>>;
}
