//! Server configuration: defaults, a TOML file, environment variables and flags.
//!
//! Precedence, lowest first: built-in defaults, the TOML file, `MALLARD_*`
//! environment variables, command-line flags. Unknown TOML fields and bad values
//! are errors that name the field or variable, so a typo never goes unnoticed.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnet::IpNet;
use mallard_core::SiteId;
use mallard_store::Durability;
use serde::Deserialize;
use thiserror::Error;

/// The application name used for the user's data and config directories.
pub const APP_DIR_NAME: &str = "mallard-metrics";

/// The fewest characters a configured bearer token (`ADMIN_TOKEN`, the metrics
/// token) may have: shorter ones are guessable and refused at start.
pub const MIN_TOKEN_CHARS: usize = 16;

/// How many sites events may create per UTC day unless configured otherwise.
pub const DEFAULT_MAX_NEW_SITES_PER_DAY: u32 = 50;

/// Why the configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has an unknown or mistyped field.
    #[error("invalid config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// An environment variable has a value that cannot be used.
    #[error("invalid value for {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A setting has a value that cannot be used.
    #[error("invalid value for {field}: {message}")]
    Invalid {
        /// The field, as named in the TOML file.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No data directory was given and the OS has no user data directory.
    #[error("no data directory: pass --data-dir or set MALLARD_DATA_DIR")]
    NoDataDir,
}

/// The format of log lines on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected \"text\" or \"json\", got {other:?}")),
        }
    }
}

/// The durability setting as written in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DurabilitySetting {
    Process,
    Power,
}

impl FromStr for DurabilitySetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "process" => Ok(Self::Process),
            "power" => Ok(Self::Power),
            other => Err(format!("expected \"process\" or \"power\", got {other:?}")),
        }
    }
}

/// The longest header-read timeout accepted: a slow client may hold a
/// connection at most this long without sending a request head.
pub const MAX_HEADER_READ_TIMEOUT_SECS: u64 = 60;

/// The fields of the TOML file, all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    host: Option<String>,
    port: Option<u16>,
    data_dir: Option<PathBuf>,
    site_ids: Option<Vec<String>>,
    filter_bots: Option<bool>,
    retention_days: Option<u32>,
    rate_limit_per_site: Option<u32>,
    max_new_sites_per_day: Option<u32>,
    log_format: Option<LogFormat>,
    secret: Option<String>,
    metrics_token: Option<String>,
    durability: Option<DurabilitySetting>,
    trusted_proxies: Option<Vec<String>>,
    request_timeout_secs: Option<u64>,
    header_read_timeout_secs: Option<u64>,
    max_connections: Option<u32>,
    session_ttl_secs: Option<u64>,
    max_login_attempts: Option<u32>,
    login_lockout_secs: Option<u64>,
    secure_cookies: Option<bool>,
    dashboard_origin: Option<String>,
    public_hostnames: Option<Vec<String>>,
    geoip_database: Option<PathBuf>,
    backup_dir: Option<PathBuf>,
    backup_every: Option<crate::backups::BackupEvery>,
    backup_keep: Option<u32>,
    collector: Option<crate::collector::CollectorFileConfig>,
    cache_ttl_secs: Option<u64>,
    max_concurrent_queries: Option<u32>,
    spike_alert_visitors: Option<u64>,
    max_buffered_body_mb: Option<u64>,
}

/// Values given on the command line; they override everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// The resolved configuration of one server.
#[derive(Clone)]
pub struct Config {
    /// The address to listen on.
    pub host: String,
    /// The port to listen on; 0 picks a free one.
    pub port: u16,
    /// The directory holding the database.
    pub data_dir: PathBuf,
    /// When non-empty, only these sites may send events, and browsers only from
    /// pages on these hosts.
    pub site_ids: Vec<SiteId>,
    /// Whether events from bots are dropped (and counted).
    pub filter_bots: bool,
    /// Data older than this many days is deleted; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Events per second accepted per site; 0 means unlimited.
    pub rate_limit_per_site: u32,
    /// How many sites events may create per UTC day; beyond it events for a
    /// new site are refused (sites added by hand are not limited).
    pub max_new_sites_per_day: u32,
    /// Log line format.
    pub log_format: LogFormat,
    /// `MALLARD_SECRET`: no longer used, as visitor ids are keyed by random daily
    /// salts; a warning at start says so.
    pub secret: Option<String>,
    /// When set, `GET /metrics` needs this bearer token.
    pub metrics_token: Option<String>,
    /// How far a commit must reach before an event is acknowledged.
    pub durability: Durability,
    /// Proxies whose `X-Forwarded-For` / `X-Real-IP` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Requests taking longer are answered 408.
    pub request_timeout_secs: u64,
    /// A connection that has not sent a complete request head this long after
    /// it opened or after its previous response is closed (slow and idle
    /// keep-alive connections alike).
    pub header_read_timeout_secs: u64,
    /// How many connections are served at once; more are answered 503.
    pub max_connections: u32,
    /// How long a dashboard session lasts.
    pub session_ttl_secs: u64,
    /// Consecutive failed logins from one IP before a lockout; 0 disables it.
    pub max_login_attempts: u32,
    /// How long a lockout lasts.
    pub login_lockout_secs: u64,
    /// Whether the session cookie carries `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Another origin (besides the server's own) allowed to change state with a
    /// session cookie, e.g. `https://analytics.example.com`.
    pub dashboard_origin: Option<String>,
    /// Host names (besides loopback names and IP addresses) that requests may
    /// name in `Host`; protects against DNS rebinding.
    pub public_hostnames: Vec<String>,
    /// A MaxMind DB file (GeoLite2-Country or -City, DB-IP) to look up
    /// countries in instead of the bundled database.
    pub geoip_database: Option<PathBuf>,
    /// Where automatic backups go; `None` is `backups/` in the data directory.
    pub backup_dir: Option<PathBuf>,
    /// How often an automatic backup is taken.
    pub backup_every: crate::backups::BackupEvery,
    /// How many automatic backups are kept (the oldest go first).
    pub backup_keep: u32,
    /// How often, in seconds, the backup schedule looks whether a backup is
    /// due (`MALLARD_BACKUP_CHECK_SECS`, env only; tests shorten it).
    pub backup_check_secs: u64,
    /// An admin password to set at start (`MALLARD_ADMIN_PASSWORD`, env only).
    pub admin_password: Option<String>,
    /// Settings of the event collector family (`[collector]`).
    pub collector: crate::collector::CollectorConfig,
    /// How long a stats answer is reused while no new event arrives; 0 disables
    /// the cache.
    pub cache_ttl_secs: u64,
    /// How many stats queries may run at once; more are answered 429.
    pub max_concurrent_queries: u32,
    /// The desktop app notifies when live visitors (last five minutes, all
    /// sites) reach this number; 0 turns the notification off.
    pub spike_alert_visitors: u64,
    /// The request bytes all in-flight requests may hold in memory together,
    /// in MiB; beyond it requests are answered 503 with `Retry-After`.
    pub max_buffered_body_mb: u64,
    /// Editable settings (see [`crate::settings`]) given by an environment
    /// variable: the dashboard may not change them.
    pub pinned_settings: Vec<&'static str>,
    /// Editable settings given in the config file.
    pub file_settings: Vec<&'static str>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed, not even in debug output.
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("site_ids", &self.site_ids)
            .field("filter_bots", &self.filter_bots)
            .field("retention_days", &self.retention_days)
            .field("rate_limit_per_site", &self.rate_limit_per_site)
            .field("max_new_sites_per_day", &self.max_new_sites_per_day)
            .field("log_format", &self.log_format)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<set>"),
            )
            .field("durability", &self.durability)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("max_login_attempts", &self.max_login_attempts)
            .field("login_lockout_secs", &self.login_lockout_secs)
            .field("secure_cookies", &self.secure_cookies)
            .field("dashboard_origin", &self.dashboard_origin)
            .field("public_hostnames", &self.public_hostnames)
            .field("geoip_database", &self.geoip_database)
            .field("backup_dir", &self.backup_dir)
            .field("backup_every", &self.backup_every)
            .field("backup_keep", &self.backup_keep)
            .field("backup_check_secs", &self.backup_check_secs)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<set>"),
            )
            .field("collector", &self.collector)
            .field("cache_ttl_secs", &self.cache_ttl_secs)
            .field("max_concurrent_queries", &self.max_concurrent_queries)
            .field("max_buffered_body_mb", &self.max_buffered_body_mb)
            .field("pinned_settings", &self.pinned_settings)
            .field("file_settings", &self.file_settings)
            .finish()
    }
}

impl Config {
    /// A configuration with every default, storing data in `data_dir`; handy for
    /// tests and embedding.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            data_dir: data_dir.into(),
            site_ids: Vec::new(),
            filter_bots: true,
            retention_days: None,
            rate_limit_per_site: 0,
            max_new_sites_per_day: DEFAULT_MAX_NEW_SITES_PER_DAY,
            log_format: LogFormat::Text,
            secret: None,
            metrics_token: None,
            durability: Durability::Process,
            trusted_proxies: Vec::new(),
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_connections: 4096,
            session_ttl_secs: 24 * 60 * 60,
            max_login_attempts: 5,
            login_lockout_secs: 300,
            secure_cookies: false,
            dashboard_origin: None,
            public_hostnames: Vec::new(),
            geoip_database: None,
            backup_dir: None,
            backup_every: crate::backups::BackupEvery::Daily,
            backup_keep: crate::backups::DEFAULT_BACKUP_KEEP,
            backup_check_secs: crate::backups::DEFAULT_BACKUP_CHECK_SECS,
            admin_password: None,
            collector: crate::collector::CollectorConfig::default(),
            cache_ttl_secs: 60,
            max_concurrent_queries: 8,
            spike_alert_visitors: 100,
            max_buffered_body_mb: crate::body_budget::DEFAULT_BUDGET_MB,
            pinned_settings: Vec::new(),
            file_settings: Vec::new(),
        }
    }

    /// Loads the configuration from `file` (or the default config file in the
    /// user config directory when it exists), the environment as seen through
    /// `env`, and `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: Overrides,
    ) -> Result<Self, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env("MALLARD_CONFIG").map(PathBuf::from))
            .or_else(|| default_config_file().filter(|path| path.exists()));
        let mut raw = match &file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let file_settings = file_settings(&raw);
        apply_env(&mut raw, env)?;
        let data_dir = match overrides.data_dir.or(raw.data_dir) {
            Some(dir) => dir,
            None => default_data_dir().ok_or(ConfigError::NoDataDir)?,
        };
        let mut config = Self::with_data_dir(data_dir);
        config.host = overrides.host.or(raw.host).unwrap_or(config.host);
        config.port = overrides.port.or(raw.port).unwrap_or(config.port);
        if config.host.trim().is_empty() {
            return Err(ConfigError::Invalid {
                field: "host",
                message: "must not be empty".into(),
            });
        }
        config.site_ids = raw
            .site_ids
            .unwrap_or_default()
            .iter()
            .map(|id| {
                SiteId::parse(id.trim()).map_err(|e| ConfigError::Invalid {
                    field: "site_ids",
                    message: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        config.filter_bots = raw.filter_bots.unwrap_or(config.filter_bots);
        config.retention_days = raw.retention_days.filter(|days| *days > 0);
        config.rate_limit_per_site = raw.rate_limit_per_site.unwrap_or(0);
        config.max_new_sites_per_day = raw
            .max_new_sites_per_day
            .unwrap_or(DEFAULT_MAX_NEW_SITES_PER_DAY);
        config.log_format = raw.log_format.unwrap_or_default();
        config.secret = non_empty("secret", raw.secret)?;
        config.metrics_token = non_empty("metrics_token", raw.metrics_token)?;
        if let Some(token) = &config.metrics_token {
            check_token_length(token).map_err(|message| ConfigError::Invalid {
                field: "metrics_token",
                message: format!("MALLARD_METRICS_TOKEN / metrics_token {message}"),
            })?;
        }
        config.durability = match raw.durability {
            Some(DurabilitySetting::Power) => Durability::Power,
            Some(DurabilitySetting::Process) | None => Durability::Process,
        };
        config.trusted_proxies = raw
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|proxy| parse_proxy(proxy))
            .collect::<Result<_, _>>()?;
        config.request_timeout_secs = raw.request_timeout_secs.unwrap_or(30);
        config.header_read_timeout_secs = raw
            .header_read_timeout_secs
            .unwrap_or(config.header_read_timeout_secs);
        if !(1..=MAX_HEADER_READ_TIMEOUT_SECS).contains(&config.header_read_timeout_secs) {
            return Err(ConfigError::Invalid {
                field: "header_read_timeout_secs",
                message: format!("must be between 1 and {MAX_HEADER_READ_TIMEOUT_SECS}"),
            });
        }
        config.max_connections = raw.max_connections.unwrap_or(config.max_connections);
        if config.max_connections == 0 {
            return Err(ConfigError::Invalid {
                field: "max_connections",
                message: "must be at least 1".into(),
            });
        }
        config.session_ttl_secs = raw.session_ttl_secs.unwrap_or(config.session_ttl_secs);
        if config.session_ttl_secs == 0 {
            return Err(ConfigError::Invalid {
                field: "session_ttl_secs",
                message: "must be at least 1".into(),
            });
        }
        config.max_login_attempts = raw.max_login_attempts.unwrap_or(config.max_login_attempts);
        config.login_lockout_secs = raw.login_lockout_secs.unwrap_or(config.login_lockout_secs);
        config.secure_cookies = raw.secure_cookies.unwrap_or(false);
        config.dashboard_origin = non_empty("dashboard_origin", raw.dashboard_origin)?
            .map(|origin| origin.trim().trim_end_matches('/').to_owned());
        if let Some(origin) = &config.dashboard_origin
            && !(origin.starts_with("http://") || origin.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                field: "dashboard_origin",
                message: format!("{origin:?} must start with http:// or https://"),
            });
        }
        config.public_hostnames = raw
            .public_hostnames
            .unwrap_or_default()
            .into_iter()
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        config.geoip_database = raw
            .geoip_database
            .filter(|path| !path.as_os_str().is_empty());
        config.backup_dir = raw.backup_dir.filter(|path| !path.as_os_str().is_empty());
        if let Some(dir) = &config.backup_dir
            && !dir.is_absolute()
        {
            return Err(ConfigError::Invalid {
                field: "backup_dir",
                message: "must be an absolute path".into(),
            });
        }
        config.backup_every = raw.backup_every.unwrap_or(config.backup_every);
        config.backup_keep = raw.backup_keep.unwrap_or(config.backup_keep);
        if !(1..=crate::backups::MAX_BACKUP_KEEP).contains(&config.backup_keep) {
            return Err(ConfigError::Invalid {
                field: "backup_keep",
                message: format!("must be from 1 to {}", crate::backups::MAX_BACKUP_KEEP),
            });
        }
        config.backup_check_secs = env_parsed::<u64>(env, "MALLARD_BACKUP_CHECK_SECS")?
            .filter(|secs| *secs > 0)
            .unwrap_or(config.backup_check_secs);
        config.admin_password = env("MALLARD_ADMIN_PASSWORD").filter(|p| !p.is_empty());
        config.collector = raw.collector.unwrap_or_default().resolve()?;
        if config.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                field: "request_timeout_secs",
                message: "must be at least 1".into(),
            });
        }
        config.cache_ttl_secs = raw.cache_ttl_secs.unwrap_or(config.cache_ttl_secs);
        config.max_concurrent_queries = raw
            .max_concurrent_queries
            .unwrap_or(config.max_concurrent_queries);
        config.spike_alert_visitors = raw
            .spike_alert_visitors
            .unwrap_or(config.spike_alert_visitors);
        if config.max_concurrent_queries == 0 {
            return Err(ConfigError::Invalid {
                field: "max_concurrent_queries",
                message: "must be at least 1".into(),
            });
        }
        config.max_buffered_body_mb = raw
            .max_buffered_body_mb
            .unwrap_or(config.max_buffered_body_mb);
        if config.max_buffered_body_mb == 0 {
            return Err(ConfigError::Invalid {
                field: "max_buffered_body_mb",
                message: "must be at least 1".into(),
            });
        }
        config.file_settings = file_settings;
        config.pinned_settings = crate::settings::SETTINGS
            .iter()
            .filter(|setting| env(setting.env).is_some())
            .map(|setting| setting.name)
            .collect();
        Ok(config)
    }

    /// The body budget in bytes.
    pub fn body_budget_bytes(&self) -> usize {
        usize::try_from(self.max_buffered_body_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }

    /// The URL of the dashboard, as printed on start-up.
    pub fn dashboard_url(&self, port: u16) -> String {
        let host = match self.host.as_str() {
            "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
            host => host,
        };
        if host.contains(':') && !host.starts_with('[') {
            format!("http://[{host}]:{port}/")
        } else {
            format!("http://{host}:{port}/")
        }
    }
}

/// The default data directory: the OS user data directory, e.g.
/// `~/.local/share/mallard-metrics` on Linux.
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", APP_DIR_NAME).map(|dirs| dirs.data_dir().to_owned())
}

/// The default config file: `config.toml` in the OS user config directory, e.g.
/// `~/.config/mallard-metrics/config.toml` on Linux.
pub fn default_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", APP_DIR_NAME)
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// The editable settings that the file sets.
fn file_settings(raw: &FileConfig) -> Vec<&'static str> {
    let mut names = Vec::new();
    for (name, set) in [
        ("site_ids", raw.site_ids.is_some()),
        ("filter_bots", raw.filter_bots.is_some()),
        ("retention_days", raw.retention_days.is_some()),
        ("rate_limit_per_site", raw.rate_limit_per_site.is_some()),
        ("max_new_sites_per_day", raw.max_new_sites_per_day.is_some()),
        ("geoip_database", raw.geoip_database.is_some()),
        ("backup_dir", raw.backup_dir.is_some()),
        ("backup_every", raw.backup_every.is_some()),
        ("backup_keep", raw.backup_keep.is_some()),
    ] {
        if set {
            names.push(name);
        }
    }
    if let Some(collector) = &raw.collector {
        names.extend(collector.editable_fields_set());
    }
    names
}

/// The value of the environment variable `var` parsed as `T`, if set; an
/// unparsable value is an error that names the variable.
pub(crate) fn env_parsed<T: FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    var: &str,
) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    env(var)
        .map(|value| {
            value.trim().parse::<T>().map_err(|e| ConfigError::Env {
                var: var.to_owned(),
                message: format!("{e} (got {value:?})"),
            })
        })
        .transpose()
}

fn apply_env(
    raw: &mut FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    use env_parsed as parsed;
    fn list(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<Vec<String>> {
        env(var).map(|value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
    }
    if let Some(host) = env("MALLARD_HOST") {
        raw.host = Some(host);
    }
    if let Some(port) = parsed::<u16>(env, "MALLARD_PORT")? {
        raw.port = Some(port);
    }
    if let Some(visitors) = parsed::<u64>(env, "MALLARD_SPIKE_ALERT_VISITORS")? {
        raw.spike_alert_visitors = Some(visitors);
    }
    if let Some(dir) = env("MALLARD_DATA_DIR") {
        raw.data_dir = Some(PathBuf::from(dir));
    }
    if let Some(ids) = list(env, "MALLARD_SITE_IDS") {
        raw.site_ids = Some(ids);
    }
    if let Some(filter) = parsed::<bool>(env, "MALLARD_FILTER_BOTS")? {
        raw.filter_bots = Some(filter);
    }
    if let Some(days) = parsed::<u32>(env, "MALLARD_RETENTION_DAYS")? {
        raw.retention_days = Some(days);
    }
    if let Some(rate) = parsed::<u32>(env, "MALLARD_RATE_LIMIT_PER_SITE")? {
        raw.rate_limit_per_site = Some(rate);
    }
    if let Some(max) = parsed::<u32>(env, "MALLARD_MAX_NEW_SITES_PER_DAY")? {
        raw.max_new_sites_per_day = Some(max);
    }
    if let Some(format) = parsed::<LogFormat>(env, "MALLARD_LOG_FORMAT")? {
        raw.log_format = Some(format);
    }
    if let Some(secret) = env("MALLARD_SECRET") {
        raw.secret = Some(secret);
    }
    if let Some(token) = env("MALLARD_METRICS_TOKEN") {
        raw.metrics_token = Some(token);
    }
    if let Some(durability) = parsed::<DurabilitySetting>(env, "MALLARD_DURABILITY")? {
        raw.durability = Some(durability);
    }
    if let Some(proxies) = list(env, "MALLARD_TRUSTED_PROXIES") {
        raw.trusted_proxies = Some(proxies);
    }
    if let Some(timeout) = parsed::<u64>(env, "MALLARD_REQUEST_TIMEOUT_SECS")? {
        raw.request_timeout_secs = Some(timeout);
    }
    if let Some(mb) = parsed::<u64>(env, "MALLARD_MAX_BUFFERED_BODY_MB")? {
        raw.max_buffered_body_mb = Some(mb);
    }
    if let Some(timeout) = parsed::<u64>(env, "MALLARD_HEADER_READ_TIMEOUT_SECS")? {
        raw.header_read_timeout_secs = Some(timeout);
    }
    if let Some(max) = parsed::<u32>(env, "MALLARD_MAX_CONNECTIONS")? {
        raw.max_connections = Some(max);
    }
    if let Some(ttl) = parsed::<u64>(env, "MALLARD_CACHE_TTL")? {
        raw.cache_ttl_secs = Some(ttl);
    }
    if let Some(max) = parsed::<u32>(env, "MALLARD_MAX_CONCURRENT_QUERIES")? {
        raw.max_concurrent_queries = Some(max);
    }
    if let Some(ttl) = parsed::<u64>(env, "MALLARD_SESSION_TTL")? {
        raw.session_ttl_secs = Some(ttl);
    }
    if let Some(attempts) = parsed::<u32>(env, "MALLARD_MAX_LOGIN_ATTEMPTS")? {
        raw.max_login_attempts = Some(attempts);
    }
    if let Some(lockout) = parsed::<u64>(env, "MALLARD_LOGIN_LOCKOUT")? {
        raw.login_lockout_secs = Some(lockout);
    }
    if let Some(secure) = parsed::<bool>(env, "MALLARD_SECURE_COOKIES")? {
        raw.secure_cookies = Some(secure);
    }
    if let Some(origin) = env("MALLARD_DASHBOARD_ORIGIN") {
        raw.dashboard_origin = Some(origin);
    }
    if let Some(names) = list(env, "MALLARD_PUBLIC_HOSTNAMES") {
        raw.public_hostnames = Some(names);
    }
    if let Some(path) = env("MALLARD_GEOIP_DATABASE") {
        raw.geoip_database = Some(PathBuf::from(path.trim()));
    }
    if let Some(dir) = env("MALLARD_BACKUP_DIR") {
        raw.backup_dir = Some(PathBuf::from(dir.trim()));
    }
    if let Some(every) = parsed::<crate::backups::BackupEvery>(env, "MALLARD_BACKUP_EVERY")? {
        raw.backup_every = Some(every);
    }
    if let Some(keep) = parsed::<u32>(env, "MALLARD_BACKUP_KEEP")? {
        raw.backup_keep = Some(keep);
    }
    raw.collector.get_or_insert_default().apply_env(env)?;
    Ok(())
}

fn non_empty(field: &'static str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ConfigError::Invalid {
            field,
            message: "must not be empty when set".into(),
        }),
        other => Ok(other),
    }
}

/// Refuses a bearer token shorter than [`MIN_TOKEN_CHARS`]; the message names
/// the minimum and how to make a good token, never the token.
pub fn check_token_length(token: &str) -> Result<(), String> {
    let chars = token.trim().chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(format!(
            "must be at least {MIN_TOKEN_CHARS} characters (it has {chars}); \
             generate one with `openssl rand -hex 32`"
        ));
    }
    Ok(())
}

fn parse_proxy(raw: &str) -> Result<IpNet, ConfigError> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| ConfigError::Invalid {
            field: "trusted_proxies",
            message: format!("{raw:?} is neither an IP address nor a CIDR range"),
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn flags_override_env_which_overrides_the_file() {
        let file = write("host = \"0.0.0.0\"\nport = 9000\ndata_dir = \"/from/file\"\n");
        let env = env_of(&[("MALLARD_PORT", "9001"), ("MALLARD_DATA_DIR", "/from/env")]);
        let config = Config::load(
            Some(file.path()),
            &env,
            Overrides {
                data_dir: Some("/from/flag".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(config.host, "0.0.0.0");
        assert_eq!(config.port, 9001);
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
    }

    #[test]
    fn the_spike_alert_threshold_comes_from_file_or_env() {
        let file = write("data_dir = \"/x\"\nspike_alert_visitors = 25\n");
        let from_file =
            Config::load(Some(file.path()), &env_of(&[]), Overrides::default()).unwrap();
        assert_eq!(from_file.spike_alert_visitors, 25);
        let env = env_of(&[("MALLARD_SPIKE_ALERT_VISITORS", "0")]);
        let from_env = Config::load(Some(file.path()), &env, Overrides::default()).unwrap();
        assert_eq!(from_env.spike_alert_visitors, 0);
        let default = Config::load(
            None,
            &env_of(&[("MALLARD_DATA_DIR", "/x")]),
            Overrides::default(),
        );
        assert_eq!(default.unwrap().spike_alert_visitors, 100);
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_it() {
        let file = write("prot = 80\n");
        let err = Config::load(Some(file.path()), &env_of(&[]), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn a_mistyped_field_is_an_error_naming_it() {
        let file = write("data_dir = \"/x\"\nport = \"eighty\"\n");
        let err = Config::load(Some(file.path()), &env_of(&[]), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }

    #[test]
    fn a_bad_env_value_names_the_variable() {
        let env = env_of(&[("MALLARD_DATA_DIR", "/x"), ("MALLARD_PORT", "http")]);
        let err = Config::load(None, &env, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("MALLARD_PORT"), "{err}");
        let env = env_of(&[
            ("MALLARD_DATA_DIR", "/x"),
            ("MALLARD_SITE_IDS", "ok.com,bad id"),
        ]);
        let err = Config::load(None, &env, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("site_ids"), "{err}");
    }

    #[test]
    fn a_short_metrics_token_is_refused_naming_the_variable_and_minimum() {
        let env = env_of(&[
            ("MALLARD_DATA_DIR", "/x"),
            ("MALLARD_METRICS_TOKEN", "short-token"),
        ]);
        let err = Config::load(None, &env, Overrides::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("MALLARD_METRICS_TOKEN") && text.contains("16"),
            "{text}"
        );
        assert!(
            !text.contains("short-token"),
            "the token is never shown: {text}"
        );
        let env = env_of(&[
            ("MALLARD_DATA_DIR", "/x"),
            ("MALLARD_METRICS_TOKEN", "0123456789abcdef"),
        ]);
        assert!(Config::load(None, &env, Overrides::default()).is_ok());
    }

    #[test]
    fn lists_and_proxies_parse_from_env() {
        let env = env_of(&[
            ("MALLARD_DATA_DIR", "/x"),
            ("MALLARD_SITE_IDS", "a.com, b.com"),
            ("MALLARD_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1"),
            ("MALLARD_DURABILITY", "power"),
        ]);
        let config = Config::load(None, &env, Overrides::default()).unwrap();
        assert_eq!(config.site_ids.len(), 2);
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.durability, Durability::Power);
    }

    #[test]
    fn stats_settings_come_from_the_file_and_env() {
        let config = Config::load(
            None,
            &env_of(&[("MALLARD_DATA_DIR", "/x")]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            (config.cache_ttl_secs, config.max_concurrent_queries),
            (60, 8)
        );
        let file = write("data_dir = \"/x\"\ncache_ttl_secs = 5\nmax_concurrent_queries = 2\n");
        let config = Config::load(Some(file.path()), &env_of(&[]), Overrides::default()).unwrap();
        assert_eq!(
            (config.cache_ttl_secs, config.max_concurrent_queries),
            (5, 2)
        );
        let env = env_of(&[
            ("MALLARD_DATA_DIR", "/x"),
            ("MALLARD_CACHE_TTL", "0"),
            ("MALLARD_MAX_CONCURRENT_QUERIES", "3"),
        ]);
        let config = Config::load(None, &env, Overrides::default()).unwrap();
        assert_eq!(
            (config.cache_ttl_secs, config.max_concurrent_queries),
            (0, 3)
        );
        let env = env_of(&[
            ("MALLARD_DATA_DIR", "/x"),
            ("MALLARD_MAX_CONCURRENT_QUERIES", "0"),
        ]);
        let err = Config::load(None, &env, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("max_concurrent_queries"), "{err}");
        let env = env_of(&[("MALLARD_DATA_DIR", "/x"), ("MALLARD_CACHE_TTL", "soon")]);
        let err = Config::load(None, &env, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("MALLARD_CACHE_TTL"), "{err}");
    }

    #[test]
    fn connection_limits_come_from_the_file_and_env_within_bounds() {
        let env = env_of(&[("MALLARD_DATA_DIR", "/x")]);
        let config = Config::load(None, &env, Overrides::default()).unwrap();
        assert_eq!(
            (config.header_read_timeout_secs, config.max_connections),
            (10, 4096)
        );
        let file = write("data_dir = \"/x\"\nheader_read_timeout_secs = 3\nmax_connections = 7\n");
        let config = Config::load(Some(file.path()), &env_of(&[]), Overrides::default()).unwrap();
        assert_eq!(
            (config.header_read_timeout_secs, config.max_connections),
            (3, 7)
        );
        let env = env_of(&[
            ("MALLARD_DATA_DIR", "/x"),
            ("MALLARD_HEADER_READ_TIMEOUT_SECS", "2"),
            ("MALLARD_MAX_CONNECTIONS", "9"),
        ]);
        let config = Config::load(None, &env, Overrides::default()).unwrap();
        assert_eq!(
            (config.header_read_timeout_secs, config.max_connections),
            (2, 9)
        );
        for (var, value, field) in [
            (
                "MALLARD_HEADER_READ_TIMEOUT_SECS",
                "0",
                "header_read_timeout_secs",
            ),
            (
                "MALLARD_HEADER_READ_TIMEOUT_SECS",
                "61",
                "header_read_timeout_secs",
            ),
            ("MALLARD_MAX_CONNECTIONS", "0", "max_connections"),
        ] {
            let pairs = [("MALLARD_DATA_DIR", "/x"), (var, value)];
            let env = env_of(&pairs);
            let err = Config::load(None, &env, Overrides::default()).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn editable_settings_remember_whether_the_file_or_the_environment_set_them() {
        let file =
            write("data_dir = \"/x\"\nfilter_bots = false\n[collector]\nrate_limit_ip_rps = 5\n");
        let env = env_of(&[("MALLARD_RETENTION_DAYS", "7"), ("API_KEY_MODE", "require")]);
        let config = Config::load(Some(file.path()), &env, Overrides::default()).unwrap();
        assert_eq!(config.file_settings, ["filter_bots", "rate_limit_ip_rps"]);
        assert_eq!(config.pinned_settings, ["retention_days", "api_key_mode"]);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut config = Config::with_data_dir("/x");
        config.secret = Some("hunter2-secret".into());
        config.metrics_token = Some("token-value".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("token-value"));
    }

    #[test]
    fn the_dashboard_url_uses_a_reachable_host() {
        let mut config = Config::with_data_dir("/x");
        assert_eq!(config.dashboard_url(8000), "http://127.0.0.1:8000/");
        config.host = "0.0.0.0".into();
        assert_eq!(config.dashboard_url(1), "http://127.0.0.1:1/");
        config.host = "::1".into();
        assert_eq!(config.dashboard_url(1), "http://[::1]:1/");
    }
}
