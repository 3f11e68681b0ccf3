//! What the program embedding the server lets the dashboard change about the
//! server itself. The desktop app installs a [`HostControl`] so that the
//! settings screen can move the server to another port without restarting
//! the app; `mallard serve` installs none (its port comes from its
//! configuration), and the endpoints say so.

use std::fmt::Debug;

/// Controls of the embedding program.
pub trait HostControl: Send + Sync + Debug + 'static {
    /// The port the server listens on now.
    fn port(&self) -> u16;

    /// Moves the server to `port` once the current response has been sent
    /// (the move stops this server gracefully and starts a new one). Returns
    /// the new dashboard URL, or why the port cannot be used.
    fn change_port(&self, port: u16) -> Result<String, String>;
}
