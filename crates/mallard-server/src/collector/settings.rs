//! Settings of the collector family: the `[collector]` table of the config file
//! and its environment variables (`API_KEY_MODE`, `ADMIN_TOKEN`,
//! `CONSENT_REQUIRED`, `RATE_LIMIT_*`, `WORKSPACE_*`, `INTERNAL_IP_RANGES`,
//! `TRACKING_PLAN_FILE`). Bad values are start-up errors naming the field or
//! variable.

use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;

use super::tracking_plan::TrackingPlan;
use crate::config::{ConfigError, env_parsed};

/// How ingest requests authenticate (`API_KEY_MODE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyMode {
    /// The bearer is the public site id; api keys are not consulted on `/events`.
    Disabled,
    /// An api key is tried first; otherwise the bearer is taken as a site id and
    /// a `reason=legacy_auth` line is logged. The default of this local app.
    #[default]
    Tag,
    /// The bearer must be an active api key.
    Require,
}

impl FromStr for ApiKeyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disabled" => Ok(Self::Disabled),
            "tag" => Ok(Self::Tag),
            "require" => Ok(Self::Require),
            other => Err(format!(
                "expected \"disabled\", \"tag\" or \"require\", got {other:?}"
            )),
        }
    }
}

/// The `[collector]` table of the config file; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorFileConfig {
    api_key_mode: Option<ApiKeyMode>,
    admin_token: Option<String>,
    consent_required: Option<bool>,
    rate_limit_ip_rps: Option<NonZeroU32>,
    rate_limit_ip_burst: Option<NonZeroU32>,
    rate_limit_key_rps: Option<NonZeroU32>,
    rate_limit_key_burst: Option<NonZeroU32>,
    workspace_rate_limit_rps: Option<u32>,
    workspace_rate_limit_burst: Option<u32>,
    workspace_monthly_quota: Option<u64>,
    internal_ip_ranges: Option<Vec<String>>,
    tracking_plan_file: Option<PathBuf>,
}

impl CollectorFileConfig {
    /// The fields that the dashboard may also change (see
    /// [`crate::settings`]) and that this table sets.
    pub(crate) fn editable_fields_set(&self) -> Vec<&'static str> {
        [
            ("api_key_mode", self.api_key_mode.is_some()),
            ("rate_limit_ip_rps", self.rate_limit_ip_rps.is_some()),
            ("rate_limit_ip_burst", self.rate_limit_ip_burst.is_some()),
            ("rate_limit_key_rps", self.rate_limit_key_rps.is_some()),
            ("rate_limit_key_burst", self.rate_limit_key_burst.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// The resolved collector settings.
#[derive(Clone)]
pub struct CollectorConfig {
    /// How ingest requests authenticate.
    pub api_key_mode: ApiKeyMode,
    /// The shared secret of `/admin/api-keys`; `None` fails every admin request
    /// closed with 503.
    pub admin_token: Option<String>,
    /// Whether `X-Consent` is required on ingest.
    pub consent_required: bool,
    /// Per-client-IP sustained rate, requests per second.
    pub ip_rps: NonZeroU32,
    /// Per-client-IP burst.
    pub ip_burst: NonZeroU32,
    /// Per-credential sustained rate, requests per second.
    pub key_rps: NonZeroU32,
    /// Per-credential burst.
    pub key_burst: NonZeroU32,
    /// Per-workspace sustained rate; `None` is unlimited.
    pub workspace_rps: Option<NonZeroU32>,
    /// Per-workspace burst (defaults to twice the rate).
    pub workspace_burst: Option<NonZeroU32>,
    /// Events per workspace per calendar month (UTC); `None` is unlimited.
    pub workspace_monthly_quota: Option<NonZeroU64>,
    /// Client addresses counted as internal traffic.
    pub internal_ip_ranges: Vec<IpNet>,
    /// The tracking plan, loaded and compiled at start-up.
    pub tracking_plan: Option<Arc<TrackingPlan>>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            api_key_mode: ApiKeyMode::Tag,
            admin_token: None,
            consent_required: false,
            ip_rps: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            ip_burst: NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN),
            key_rps: NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN),
            key_burst: NonZeroU32::new(2000).unwrap_or(NonZeroU32::MIN),
            workspace_rps: None,
            workspace_burst: None,
            workspace_monthly_quota: None,
            internal_ip_ranges: Vec::new(),
            tracking_plan: None,
        }
    }
}

impl std::fmt::Debug for CollectorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The admin token is never printed.
        f.debug_struct("CollectorConfig")
            .field("api_key_mode", &self.api_key_mode)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("consent_required", &self.consent_required)
            .field("ip_rps", &self.ip_rps)
            .field("ip_burst", &self.ip_burst)
            .field("key_rps", &self.key_rps)
            .field("key_burst", &self.key_burst)
            .field("workspace_rps", &self.workspace_rps)
            .field("workspace_burst", &self.workspace_burst)
            .field("workspace_monthly_quota", &self.workspace_monthly_quota)
            .field("internal_ip_ranges", &self.internal_ip_ranges)
            .field("tracking_plan", &self.tracking_plan.is_some())
            .finish()
    }
}

impl CollectorFileConfig {
    /// Applies the collector's environment variables over the file's values.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        macro_rules! take {
            ($field:ident, $var:literal) => {
                if let Some(value) = env_parsed(env, $var)? {
                    self.$field = Some(value);
                }
            };
        }
        take!(api_key_mode, "API_KEY_MODE");
        take!(consent_required, "CONSENT_REQUIRED");
        take!(rate_limit_ip_rps, "RATE_LIMIT_IP_RPS");
        take!(rate_limit_ip_burst, "RATE_LIMIT_IP_BURST");
        take!(rate_limit_key_rps, "RATE_LIMIT_KEY_RPS");
        take!(rate_limit_key_burst, "RATE_LIMIT_KEY_BURST");
        take!(workspace_rate_limit_rps, "WORKSPACE_RATE_LIMIT_RPS");
        take!(workspace_rate_limit_burst, "WORKSPACE_RATE_LIMIT_BURST");
        take!(workspace_monthly_quota, "WORKSPACE_MONTHLY_QUOTA");
        if let Some(token) = env("ADMIN_TOKEN") {
            if token.trim().is_empty() {
                return Err(ConfigError::Env {
                    var: "ADMIN_TOKEN".into(),
                    message: "must not be empty when set".into(),
                });
            }
            crate::config::check_token_length(&token).map_err(|message| ConfigError::Env {
                var: "ADMIN_TOKEN".into(),
                message,
            })?;
            self.admin_token = Some(token);
        }
        if let Some(ranges) = env("INTERNAL_IP_RANGES") {
            let ranges: Vec<String> = ranges
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            if let Some(bad) = ranges.iter().find(|r| parse_range(r).is_none()) {
                return Err(ConfigError::Env {
                    var: "INTERNAL_IP_RANGES".into(),
                    message: format!("{bad:?} is neither an IP address nor a CIDR range"),
                });
            }
            self.internal_ip_ranges = Some(ranges);
        }
        if let Some(path) = env("TRACKING_PLAN_FILE") {
            self.tracking_plan_file = Some(PathBuf::from(path));
        }
        Ok(())
    }

    /// Resolves the settings, loading the tracking plan.
    pub fn resolve(self) -> Result<CollectorConfig, ConfigError> {
        let defaults = CollectorConfig::default();
        let admin_token = match self.admin_token {
            Some(token) if token.trim().is_empty() => {
                return Err(ConfigError::Invalid {
                    field: "collector.admin_token",
                    message: "must not be empty when set".into(),
                });
            }
            Some(token) => {
                crate::config::check_token_length(&token).map_err(|message| {
                    ConfigError::Invalid {
                        field: "collector.admin_token",
                        message: format!("ADMIN_TOKEN / collector.admin_token {message}"),
                    }
                })?;
                Some(token)
            }
            None => None,
        };
        let internal_ip_ranges = self
            .internal_ip_ranges
            .unwrap_or_default()
            .iter()
            .map(|raw| {
                parse_range(raw).ok_or_else(|| ConfigError::Invalid {
                    field: "collector.internal_ip_ranges",
                    message: format!("{raw:?} is neither an IP address nor a CIDR range"),
                })
            })
            .collect::<Result<_, _>>()?;
        let tracking_plan = self
            .tracking_plan_file
            .map(|path| {
                TrackingPlan::load(&path)
                    .map(Arc::new)
                    .map_err(|message| ConfigError::Invalid {
                        field: "collector.tracking_plan_file",
                        message,
                    })
            })
            .transpose()?;
        Ok(CollectorConfig {
            api_key_mode: self.api_key_mode.unwrap_or_default(),
            admin_token,
            consent_required: self.consent_required.unwrap_or(false),
            ip_rps: self.rate_limit_ip_rps.unwrap_or(defaults.ip_rps),
            ip_burst: self.rate_limit_ip_burst.unwrap_or(defaults.ip_burst),
            key_rps: self.rate_limit_key_rps.unwrap_or(defaults.key_rps),
            key_burst: self.rate_limit_key_burst.unwrap_or(defaults.key_burst),
            workspace_rps: self.workspace_rate_limit_rps.and_then(NonZeroU32::new),
            workspace_burst: self.workspace_rate_limit_burst.and_then(NonZeroU32::new),
            workspace_monthly_quota: self.workspace_monthly_quota.and_then(NonZeroU64::new),
            internal_ip_ranges,
            tracking_plan,
        })
    }
}

fn parse_range(raw: &str) -> Option<IpNet> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(IpNet::from))
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

    fn resolve(pairs: &[(&str, &str)]) -> Result<CollectorConfig, ConfigError> {
        let mut file = CollectorFileConfig::default();
        file.apply_env(&env_of(pairs))?;
        file.resolve()
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = resolve(&[]).unwrap();
        assert_eq!(config.api_key_mode, ApiKeyMode::Tag);
        assert_eq!((config.ip_rps.get(), config.ip_burst.get()), (100, 200));
        assert_eq!((config.key_rps.get(), config.key_burst.get()), (1000, 2000));
        assert!(config.workspace_rps.is_none() && config.workspace_monthly_quota.is_none());
        assert!(config.admin_token.is_none() && !config.consent_required);
    }

    #[test]
    fn environment_values_are_parsed() {
        let config = resolve(&[
            ("API_KEY_MODE", "require"),
            ("CONSENT_REQUIRED", "true"),
            ("RATE_LIMIT_IP_RPS", "5"),
            ("WORKSPACE_MONTHLY_QUOTA", "10"),
            ("INTERNAL_IP_RANGES", "10.0.0.0/8, 192.168.1.7"),
            ("ADMIN_TOKEN", "s3cret-s3cret-s3cret"),
        ])
        .unwrap();
        assert_eq!(config.api_key_mode, ApiKeyMode::Require);
        assert!(config.consent_required);
        assert_eq!(config.ip_rps.get(), 5);
        assert_eq!(
            config.workspace_monthly_quota.map(NonZeroU64::get),
            Some(10)
        );
        assert_eq!(config.internal_ip_ranges.len(), 2);
        assert!(!format!("{config:?}").contains("s3cret"));
        let short = resolve(&[("ADMIN_TOKEN", "fifteen-chars-x")]).unwrap_err();
        assert!(short.to_string().contains("ADMIN_TOKEN") && short.to_string().contains("16"));
        assert!(
            !short.to_string().contains("fifteen-chars-x"),
            "the token is never shown"
        );
        assert!(resolve(&[("ADMIN_TOKEN", "sixteen-chars-xx")]).is_ok());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("API_KEY_MODE", "sometimes"),
            ("CONSENT_REQUIRED", "yes please"),
            ("RATE_LIMIT_IP_RPS", "0"),
            ("RATE_LIMIT_KEY_BURST", "-3"),
            ("INTERNAL_IP_RANGES", "10.0.0.0/8,nope"),
            ("ADMIN_TOKEN", "  "),
        ] {
            let err = resolve(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
        let err = resolve(&[("TRACKING_PLAN_FILE", "/does/not/exist.toml")]).unwrap_err();
        assert!(err.to_string().contains("tracking_plan_file"), "{err}");
    }
}
