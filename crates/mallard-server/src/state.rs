//! The state shared by every request handler.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mallard_store::{ReadPool, Store, StoreError, VisitorSalts, WriterHandle};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::AuthState;
use crate::config::Config;
use crate::error::ApiError;
use crate::geo_source::GeoSource;
use crate::ingest::enrich::Enricher;
use crate::local_admin::LocalAdminToken;
use crate::settings::LiveSettings;

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
    /// Looks up the country of a client's address: the bundled database,
    /// or the `geoip_database` setting's (replaced when it changes).
    pub geo: Arc<GeoSource>,
    /// The daily salts of visitor ids.
    pub visitor_salts: Arc<VisitorSalts>,
    /// The settings the dashboard may change, as in force.
    pub settings: LiveSettings,
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
    /// The request bytes held in memory by all in-flight requests.
    pub body_budget: Arc<crate::body_budget::BodyBudget>,
    /// The outcome of the latest event writes (the write side of health).
    pub write_health: crate::write_health::WriteHealth,
    /// The sites known to exist and today's count of sites events created.
    pub new_sites: crate::site_gate::NewSites,
    /// The log imports running in (or finished by) this server.
    pub imports: crate::import::jobs::ImportJobs,
    /// Backups: one at a time, and the latest outcome.
    pub backups: crate::backups::Backups,
    /// Wakes the task that purges the data of deleted sites.
    pub site_purges: crate::site_deletion::SitePurges,
    /// The pulls from remote servers: what runs, and the task's wake-up.
    pub remote_pulls: Arc<crate::pull::schedule::RemotePulls>,
    /// The embedding program's controls (the desktop app sets them).
    pub host: std::sync::OnceLock<Arc<dyn crate::host_control::HostControl>>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The geolocation database the settings name. One named in the config file
/// or the environment must open (the server refuses to start otherwise, as
/// for any bad configuration); one saved from the dashboard that no longer
/// opens (the file was moved) gives way to the bundled database with a
/// warning, so that a missing file never keeps the app from starting.
fn open_geolocation(settings: &LiveSettings) -> Result<GeoSource, crate::ServerError> {
    let path = settings.get().geoip_database.clone();
    let geo = match GeoSource::open(path.as_deref()) {
        Ok(geo) => geo,
        Err(err) if settings.origin("geoip_database") == crate::settings::Origin::Dashboard => {
            tracing::warn!(
                error = %err,
                "the geoip_database saved in Settings cannot be read; using the bundled country database"
            );
            GeoSource::open(None)?
        }
        Err(err) => return Err(err.into()),
    };
    tracing::info!(
        database = geo.current().database_type(),
        "geolocation: {}",
        geo.path().map_or_else(
            || "bundled country database".to_owned(),
            |p| p.display().to_string()
        )
    );
    Ok(geo)
}

impl AppState {
    /// Builds the state for `store` under `config`: loads the password hash and
    /// the API keys, and stores `MALLARD_ADMIN_PASSWORD` when it is given. Call
    /// it outside an async runtime (it blocks on the database and on Argon2).
    /// It opens the geolocation database: the `geoip_database` setting's, or
    /// the bundled one.
    pub fn new(config: Config, store: &Store) -> Result<Self, crate::ServerError> {
        if config.secret.is_some() {
            tracing::warn!(
                "MALLARD_SECRET (`secret`) is no longer used: visitor ids are keyed by a random \
                 salt per day, deleted after two days; remove the setting"
            );
        }
        let writer = store.writer();
        if let Some(password) = &config.admin_password {
            let hash = crate::auth::password::hash(password).map_err(|e| {
                StoreError::Migration(format!("cannot hash MALLARD_ADMIN_PASSWORD: {e}"))
            })?;
            writer.run_blocking(move |conn| mallard_store::auth::set_password_hash(conn, &hash))?;
        }
        let now_ms = crate::clock::now_ms();
        let (password_hash, keys, saved, (domains, created_today)) = store.reads().with(|db| {
            let conn = db.connection();
            Ok((
                mallard_store::auth::password_hash(conn)?,
                mallard_store::auth::list_api_keys(conn)?,
                db.dashboard_settings()?,
                (
                    db.site_domains()?,
                    db.sites_created_since(crate::site_gate::utc_day_start(now_ms))?,
                ),
            ))
        })?;
        let settings = LiveSettings::new(&config, &saved);
        let live = settings.get();
        let geo = Arc::new(open_geolocation(&settings)?);
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
            enricher: Enricher::new(live.filter_bots, Arc::clone(&geo)),
            geo,
            visitor_salts: store.visitor_salts(),
            writer,
            reads: store.reads(),
            metrics: {
                let handle = crate::observability::prometheus();
                crate::observability::register_mallard_counters();
                handle
            },
            started: Instant::now(),
            auth,
            collector: crate::collector::CollectorState::new(&config, store, &live),
            settings,
            stats: crate::stats::StatsRuntime::new(&config),
            collection: crate::collection::CollectionSwitch::default(),
            new_sites: crate::site_gate::NewSites::new(domains, created_today, now_ms),
            write_health: crate::write_health::WriteHealth::default(),
            host: std::sync::OnceLock::new(),
            imports: crate::import::jobs::ImportJobs::default(),
            backups: crate::backups::Backups::default(),
            site_purges: crate::site_deletion::SitePurges::default(),
            remote_pulls: Arc::default(),
            body_budget: crate::body_budget::BodyBudget::new(config.body_budget_bytes()),
            config,
        })))
    }

    /// Puts the dashboard settings the store now holds (`saved`) in force:
    /// ingestion, rate limits and retention follow at once.
    pub fn apply_settings(&self, saved: &[(String, String)]) {
        let (before, after) = self.settings.replace(saved);
        self.enricher.set_filter_bots(after.filter_bots);
        let gates_changed = (
            before.rate_limit_ip_rps,
            before.rate_limit_ip_burst,
            before.rate_limit_key_rps,
            before.rate_limit_key_burst,
        ) != (
            after.rate_limit_ip_rps,
            after.rate_limit_ip_burst,
            after.rate_limit_key_rps,
            after.rate_limit_key_burst,
        );
        if gates_changed {
            self.collector.replace_gates(&self.config, &after);
        }
        if *before != *after {
            tracing::info!("settings changed from the dashboard are in force");
        }
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
            .map_err(|err| ApiError::from_read_failure(&err))
    }

    /// Runs a read like [`AppState::read`] that stops soon after `cancel` is
    /// set (see [`mallard_store::ReadPool::with_cancel`]).
    pub async fn read_cancellable<T, F>(
        &self,
        cancel: &mallard_store::QueryCancel,
        read: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mallard_store::ReadConn<'_>) -> Result<T, mallard_store::StoreError>
            + Send
            + 'static,
    {
        let reads = Arc::clone(&self.reads);
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || reads.with_cancel(&cancel, read))
            .await
            .map_err(|_| ApiError::Internal)?
            .map_err(|err| ApiError::from_read_failure(&err))
    }
}
