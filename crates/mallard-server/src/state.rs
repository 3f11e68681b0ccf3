//! The state shared by every request handler.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mallard_core::VisitorSecret;
use mallard_store::{ReadPool, Store, StoreError, WriterHandle};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::AuthState;
use crate::config::Config;
use crate::error::ApiError;
use crate::ingest::enrich::Enricher;
use crate::limits::SiteRateLimiter;
use crate::local_admin::LocalAdminToken;

/// Cheaply cloneable application state.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
#[derive(Debug)]
pub struct Shared {
    /// The resolved configuration.
    pub config: Config,
    /// Submits writes to the store's writer thread.
    pub writer: WriterHandle,
    /// Read-only database connections.
    pub reads: Arc<ReadPool>,
    /// Turns validated events into stored events.
    pub enricher: Enricher,
    /// The per-site rate limit, when one is configured.
    pub site_limiter: Option<SiteRateLimiter>,
    /// Renders the Prometheus exposition, when the recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// When the server started.
    pub started: Instant,
    /// Passwords, sessions, lockouts and API keys.
    pub auth: AuthState,
    /// The event collector family's state.
    pub collector: crate::collector::CollectorState,
    /// The stats query cache and concurrency limit.
    pub stats: crate::stats::StatsRuntime,
    /// Whether ingestion is paused (desktop tray).
    pub collection: crate::collection::CollectionSwitch,
    /// The embedding program's controls (the desktop app sets them).
    pub host: std::sync::OnceLock<Arc<dyn crate::host_control::HostControl>>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Builds the state for `store` under `config`: loads the password hash and
    /// the API keys, and stores `MALLARD_ADMIN_PASSWORD` when it is given. Call
    /// it outside an async runtime (it blocks on the database and on Argon2).
    pub fn new(config: Config, store: &Store) -> Result<Self, StoreError> {
        let secret = match &config.secret {
            Some(passphrase) => VisitorSecret::derive_from_passphrase(passphrase),
            None => store.visitor_secret().clone(),
        };
        let writer = store.writer();
        if let Some(password) = &config.admin_password {
            let hash = crate::auth::password::hash(password).map_err(|e| {
                StoreError::Migration(format!("cannot hash MALLARD_ADMIN_PASSWORD: {e}"))
            })?;
            writer.run_blocking(move |conn| mallard_store::auth::set_password_hash(conn, &hash))?;
        }
        let (password_hash, keys) = store.reads().with(|db| {
            let conn = db.connection();
            Ok((
                mallard_store::auth::password_hash(conn)?,
                mallard_store::auth::list_api_keys(conn)?,
            ))
        })?;
        let auth = AuthState::new(
            password_hash,
            keys,
            Duration::from_secs(config.session_ttl_secs),
            config.max_login_attempts,
            Duration::from_secs(config.login_lockout_secs),
            config.secure_cookies,
            LocalAdminToken::generate().map_err(|e| {
                StoreError::io(
                    "the OS random number generator failed",
                    std::io::Error::other(e.to_string()),
                )
            })?,
        );
        Ok(Self(Arc::new(Shared {
            enricher: Enricher::new(secret, config.filter_bots),
            site_limiter: SiteRateLimiter::new(config.rate_limit_per_site),
            writer,
            reads: store.reads(),
            metrics: crate::observability::prometheus(),
            started: Instant::now(),
            auth,
            collector: crate::collector::CollectorState::new(&config, store),
            stats: crate::stats::StatsRuntime::new(&config),
            collection: crate::collection::CollectionSwitch::default(),
            host: std::sync::OnceLock::new(),
            config,
        })))
    }

    /// Runs a read on a blocking thread, so that SQLite never blocks an async
    /// worker.
    pub async fn read<T, F>(&self, read: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mallard_store::ReadConn<'_>) -> Result<T, mallard_store::StoreError>
            + Send
            + 'static,
    {
        let reads = Arc::clone(&self.reads);
        tokio::task::spawn_blocking(move || reads.with(read))
            .await
            .map_err(|_| ApiError::Internal)?
            .map_err(|err| {
                tracing::error!(error = %err, "read failed");
                ApiError::Unavailable("Database not ready".into())
            })
    }
}
