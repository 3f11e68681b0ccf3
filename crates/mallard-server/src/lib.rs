//! The HTTP server of Mallard Metrics.
//!
//! One axum application serves both API families over one store: the Mallard
//! family (`/api/*`, `/health*`, `/metrics`, the dashboard and the tracker) and,
//! in later parts, the event collector family. This crate owns every HTTP type:
//! status codes, JSON bodies, headers. It turns network input into typed values
//! in one place per family and hands them to `mallard-store`.
//!
//! Embedders (the `mallard` command and the desktop app) call [`Server::open`]
//! and then [`Server::serve`] with a bound listener and a shutdown signal.

pub mod auth;
pub mod backups;
pub mod body_budget;
pub mod client_ip;
pub mod clock;
pub mod collection;
pub mod collector;
pub mod config;
pub mod connections;
pub mod error;
pub mod excerpt;
pub mod geo_source;
pub mod host_control;
pub mod import;
pub mod ingest;
pub mod json;
pub mod launch;
pub mod layers;
pub mod limits;
pub mod live;
pub mod local_admin;
pub mod observability;
pub mod openapi;
pub mod prop_recount;
pub mod pull;
pub mod request_body;
pub mod retention;
pub mod routes;
pub mod salt_rotation;
pub mod settings;
pub mod site_deletion;
pub mod site_gate;
pub mod state;
pub mod stats;
pub mod write_health;

use std::future::Future;

use mallard_store::{Store, StoreError, StoreOptions};
use tokio::net::TcpListener;

pub use config::{Config, ConfigError, Overrides};
pub use error::ApiError;
pub use routes::router;
pub use state::AppState;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened (locked, newer schema, corrupt, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configured geolocation database (`geoip_database`) cannot be used.
    #[error(transparent)]
    Geo(#[from] mallard_geo::GeoError),
    /// The listening socket failed.
    #[error("the HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// An opened store and the application state built on it, ready to serve.
#[derive(Debug)]
pub struct Server {
    store: Store,
    state: AppState,
}

impl Server {
    /// Opens the store in `config.data_dir` and builds the application.
    pub fn open(config: Config) -> Result<Self, ServerError> {
        let options = StoreOptions {
            durability: config.durability,
            ..StoreOptions::default()
        };
        let store = Store::open(&config.data_dir, options)?;
        let state = AppState::new(config, &store)?;
        Ok(Self { store, state })
    }

    /// The application state (for embedding and tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listener` until `shutdown` resolves; then stops accepting,
    /// lets in-flight requests finish, commits every queued event and closes
    /// the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        self.serve_announced(listener, shutdown, |_| {}).await
    }

    /// Like [`Server::serve`]; `ready` is called with the dashboard URL once the
    /// server's address is published for local tools (see [`local_admin`]),
    /// just before it accepts connections.
    pub async fn serve_announced(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        ready: impl FnOnce(&str),
    ) -> Result<(), ServerError> {
        let app = router(self.state.clone());
        let data_dir = self.state.config.data_dir.clone();
        let url = self
            .state
            .config
            .dashboard_url(listener.local_addr()?.port());
        if let Err(err) = self.state.auth.local_admin.publish(&data_dir, &url) {
            tracing::warn!(error = %err, "cannot publish the server address for local tools");
        }
        self.state.collector.set_dashboard_url(url.clone());
        auth::setup_token::prepare_at_start(
            &self.state.auth.setup_token,
            self.state.auth.password_configured(),
            &data_dir,
        );
        ready(&url);
        let retention = tokio::spawn(retention::run(self.state.clone()));
        let dedupe_pruning = tokio::spawn(retention::prune_dedupe_keys(self.state.clone()));
        let salt_rotation = tokio::spawn(salt_rotation::run(self.state.clone()));
        let backup_schedule = tokio::spawn(backups::run_schedule(self.state.clone()));
        let site_purge = tokio::spawn(site_deletion::run_purge(self.state.clone()));
        let remote_pulls = tokio::spawn(pull::schedule::run(self.state.clone()));
        let prop_recount = tokio::spawn(prop_recount::run(self.state.clone()));
        let limits = connections::ConnectionLimits::of(&self.state.config);
        let result = connections::serve(listener, app, limits, shutdown).await;
        // Imports stop at their next check (a followed log within its poll),
        // and get a moment to record how far they got before the store
        // closes; one that takes longer ends with an error, its committed
        // chunks kept.
        self.state.imports.cancel_all();
        self.state.remote_pulls.stop();
        let patience = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while (self.state.imports.any_running() || self.state.remote_pulls.any_running())
            && std::time::Instant::now() < patience
        {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        local_admin::withdraw(&data_dir);
        retention.abort();
        dedupe_pruning.abort();
        salt_rotation.abort();
        backup_schedule.abort();
        site_purge.abort();
        remote_pulls.abort();
        prop_recount.abort();
        let _ = prop_recount.await;
        let _ = backup_schedule.await;
        let _ = site_purge.await;
        let _ = remote_pulls.await;
        let _ = retention.await;
        let _ = dedupe_pruning.await;
        let _ = salt_rotation.await;
        drop(self.state);
        let store = self.store;
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        result.map_err(ServerError::from)
    }
}

/// Opens the store and serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::open(config)?.serve(listener, shutdown).await
}
