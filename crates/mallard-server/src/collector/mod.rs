//! The event collector API family: `/events`, `/s2s/events`, `/healthz`,
//! `/version`, each also under `/v1/`, `/v1/metrics` (sharing the Mallard
//! family's `/metrics`), and `/admin/api-keys`.
//!
//! Collector events land in the same store as Mallard events and show in the
//! same stats. Errors use this family's envelope ([`error`]). The parts:
//! [`body`] decodes compressed bodies under the 5 MB limit, [`schema`] validates
//! the wire format (with a fast path for valid events in [`schema_fast`]), [`auth`] applies `API_KEY_MODE`, [`limits`] holds the rate
//! gates and monthly quotas, [`tracking_plan`] checks events against the plan,
//! [`ingest`] turns an event into a stored one, [`admin`] manages api keys.

pub mod admin;
pub mod auth;
pub mod body;
pub mod error;
pub mod gzip;
pub mod ingest;
pub mod limits;
pub mod router;
pub mod schema;
pub mod schema_fast;
pub mod settings;
pub mod tracking_plan;

use std::sync::{Arc, OnceLock, RwLock};

use mallard_core::UserAgentClassifier;
use mallard_store::Store;

pub use error::CollectorError;
pub use router::router;
pub use settings::{ApiKeyMode, CollectorConfig, CollectorFileConfig};

use crate::config::Config;
use crate::settings::Effective;
use auth::KeyRegistry;
use limits::{Gates, QuotaTracker};

/// The collector's share of the application state.
pub struct CollectorState {
    /// The user-agent classifier of browser events.
    pub classifier: UserAgentClassifier,
    /// The active api keys.
    pub keys: KeyRegistry,
    /// The rate gates; replaced when their rates change in the dashboard.
    gates: RwLock<Arc<Gates>>,
    /// Monthly quota counts per workspace.
    pub quota: QuotaTracker,
    /// The dashboard URL once the port is known.
    dashboard_url: OnceLock<String>,
}

impl std::fmt::Debug for CollectorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorState")
            .field("gates", &self.gates)
            .field("dashboard_url", &self.dashboard_url.get())
            .finish_non_exhaustive()
    }
}

impl CollectorState {
    /// Builds the collector state for `store`, loading the active api keys;
    /// the gates use the rates in force (`settings`). Call it outside async
    /// tasks: it reads the database.
    pub fn new(config: &Config, store: &Store, settings: &Effective) -> Self {
        let keys = store
            .reads()
            .with(|db| db.collector_active_keys())
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "cannot load the collector api keys");
                Vec::new()
            });
        Self {
            classifier: UserAgentClassifier::new(10_000),
            keys: KeyRegistry::new(keys),
            gates: RwLock::new(Gates::start(&gate_config(config, settings))),
            quota: QuotaTracker::default(),
            dashboard_url: OnceLock::new(),
        }
    }

    /// The rate gates in force.
    pub fn gates(&self) -> Arc<Gates> {
        self.gates
            .read()
            .map_or_else(|p| Arc::clone(&p.into_inner()), |g| Arc::clone(&g))
    }

    /// Replaces the gates with fresh ones at the rates of `settings` (their
    /// buckets start full).
    pub fn replace_gates(&self, config: &Config, settings: &Effective) {
        let gates = Gates::start(&gate_config(config, settings));
        *self.gates.write().unwrap_or_else(|p| p.into_inner()) = gates;
    }

    /// Records the dashboard URL once the listening port is known.
    pub fn set_dashboard_url(&self, url: String) {
        let _ = self.dashboard_url.set(url);
    }

    /// The URL of this app's api-key page, for the `api_key_required` body.
    pub fn upgrade_docs(&self, config: &Config) -> String {
        let base = self
            .dashboard_url
            .get()
            .cloned()
            .unwrap_or_else(|| config.dashboard_url(config.port));
        format!("{base}#/keys")
    }
}

/// The collector settings of `config` with the gate rates in force.
fn gate_config(config: &Config, settings: &Effective) -> CollectorConfig {
    CollectorConfig {
        ip_rps: settings.rate_limit_ip_rps,
        ip_burst: settings.rate_limit_ip_burst,
        key_rps: settings.rate_limit_key_rps,
        key_burst: settings.rate_limit_key_burst,
        ..config.collector.clone()
    }
}
