//! Settings that can be changed while the server runs, from the dashboard.
//!
//! Precedence, lowest first: built-in defaults, the config file, values saved
//! from the dashboard (kept in the database), environment variables. A value
//! given by an environment variable is pinned: the dashboard shows it read-only
//! and `PATCH /api/settings` refuses to change it. [`editable`] names the
//! settings and validates their values; [`live`] holds the values in force and
//! applies a change to the running server at once.

pub mod editable;
pub mod live;

pub use editable::{Effective, Origin, SETTINGS, Setting};
pub use live::LiveSettings;
