//! The settings the dashboard may change, their environment variables, and the
//! validation of their values (the same for a `PATCH /api/settings` body and
//! for values read back from the database, stored as JSON text).

use std::num::NonZeroU32;
use std::path::PathBuf;

use mallard_core::SiteId;
use serde_json::{Value, json};

use crate::collector::ApiKeyMode;
use crate::config::Config;

/// An editable setting: its name (as in the config file and the API) and the
/// environment variable that pins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The name, e.g. `filter_bots`.
    pub name: &'static str,
    /// The environment variable that overrides it, e.g. `MALLARD_FILTER_BOTS`.
    pub env: &'static str,
}

/// Every setting the dashboard may change, in display order.
pub const SETTINGS: [Setting; 14] = [
    Setting {
        name: "site_ids",
        env: "MALLARD_SITE_IDS",
    },
    Setting {
        name: "filter_bots",
        env: "MALLARD_FILTER_BOTS",
    },
    Setting {
        name: "retention_days",
        env: "MALLARD_RETENTION_DAYS",
    },
    Setting {
        name: "rate_limit_per_site",
        env: "MALLARD_RATE_LIMIT_PER_SITE",
    },
    Setting {
        name: "api_key_mode",
        env: "API_KEY_MODE",
    },
    Setting {
        name: "rate_limit_ip_rps",
        env: "RATE_LIMIT_IP_RPS",
    },
    Setting {
        name: "rate_limit_ip_burst",
        env: "RATE_LIMIT_IP_BURST",
    },
    Setting {
        name: "rate_limit_key_rps",
        env: "RATE_LIMIT_KEY_RPS",
    },
    Setting {
        name: "rate_limit_key_burst",
        env: "RATE_LIMIT_KEY_BURST",
    },
    Setting {
        name: "max_new_sites_per_day",
        env: "MALLARD_MAX_NEW_SITES_PER_DAY",
    },
    Setting {
        name: "geoip_database",
        env: "MALLARD_GEOIP_DATABASE",
    },
    Setting {
        name: "backup_dir",
        env: "MALLARD_BACKUP_DIR",
    },
    Setting {
        name: "backup_every",
        env: "MALLARD_BACKUP_EVERY",
    },
    Setting {
        name: "backup_keep",
        env: "MALLARD_BACKUP_KEEP",
    },
];

/// The most sites an allowlist may hold.
pub const MAX_SITE_IDS: usize = 1000;
/// The longest retention accepted, in days (100 years).
pub const MAX_RETENTION_DAYS: u64 = 36_500;
/// The highest rate accepted for any rate limit, per second.
pub const MAX_RATE: u64 = 1_000_000;

/// Where a setting's value in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The config file.
    File,
    /// Saved from the dashboard (the database).
    Dashboard,
    /// An environment variable (read-only in the dashboard).
    Env,
}

impl Origin {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::File => "file",
            Self::Dashboard => "dashboard",
            Self::Env => "env",
        }
    }
}

/// The values in force of the editable settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Sites allowed to send events; empty allows all.
    pub site_ids: Vec<SiteId>,
    /// Whether bot events are dropped.
    pub filter_bots: bool,
    /// Days of data kept; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Events per second per site on `/api/event`; 0 is unlimited.
    pub rate_limit_per_site: u32,
    /// How collector ingest requests authenticate.
    pub api_key_mode: ApiKeyMode,
    /// Collector per-IP rate.
    pub rate_limit_ip_rps: NonZeroU32,
    /// Collector per-IP burst.
    pub rate_limit_ip_burst: NonZeroU32,
    /// Collector per-key rate.
    pub rate_limit_key_rps: NonZeroU32,
    /// Collector per-key burst.
    pub rate_limit_key_burst: NonZeroU32,
    /// Sites events may create per UTC day (both families); 0 lets only sites
    /// added by hand or on the allowlist receive events.
    pub max_new_sites_per_day: u32,
    /// The geolocation database file; `None` is the bundled one.
    pub geoip_database: Option<PathBuf>,
    /// Where automatic backups go; `None` is `backups/` in the data directory.
    pub backup_dir: Option<PathBuf>,
    /// How often an automatic backup is taken.
    pub backup_every: crate::backups::BackupEvery,
    /// How many automatic backups are kept.
    pub backup_keep: u32,
}

impl Effective {
    /// The values of `config` (defaults, file and environment).
    pub fn from_config(config: &Config) -> Self {
        Self {
            site_ids: config.site_ids.clone(),
            filter_bots: config.filter_bots,
            retention_days: config.retention_days,
            rate_limit_per_site: config.rate_limit_per_site,
            api_key_mode: config.collector.api_key_mode,
            rate_limit_ip_rps: config.collector.ip_rps,
            rate_limit_ip_burst: config.collector.ip_burst,
            rate_limit_key_rps: config.collector.key_rps,
            rate_limit_key_burst: config.collector.key_burst,
            max_new_sites_per_day: config.max_new_sites_per_day,
            geoip_database: config.geoip_database.clone(),
            backup_dir: config.backup_dir.clone(),
            backup_every: config.backup_every,
            backup_keep: config.backup_keep,
        }
    }

    /// Sets setting `name` to `value`, validated; the error is the message of
    /// a 400 answer.
    pub fn set(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "site_ids" => self.site_ids = site_ids(value)?,
            "filter_bots" => {
                self.filter_bots = value
                    .as_bool()
                    .ok_or_else(|| "filter_bots must be true or false".to_owned())?;
            }
            "retention_days" => {
                let days = whole(value, 0, MAX_RETENTION_DAYS).ok_or_else(|| {
                    format!(
                        "retention_days must be a whole number of days from 0 (keep forever) to {MAX_RETENTION_DAYS}"
                    )
                })?;
                self.retention_days = u32::try_from(days).ok().filter(|d| *d > 0);
            }
            "rate_limit_per_site" => {
                let rate = whole(value, 0, MAX_RATE).ok_or_else(|| {
                    format!("rate_limit_per_site must be a whole number from 0 (unlimited) to {MAX_RATE}")
                })?;
                self.rate_limit_per_site = u32::try_from(rate).unwrap_or(u32::MAX);
            }
            "api_key_mode" => {
                self.api_key_mode = value
                    .as_str()
                    .and_then(|mode| mode.parse().ok())
                    .ok_or_else(|| {
                        "api_key_mode must be \"disabled\", \"tag\" or \"require\"".to_owned()
                    })?;
            }
            "rate_limit_ip_rps" => self.rate_limit_ip_rps = rate(name, value)?,
            "rate_limit_ip_burst" => self.rate_limit_ip_burst = rate(name, value)?,
            "rate_limit_key_rps" => self.rate_limit_key_rps = rate(name, value)?,
            "rate_limit_key_burst" => self.rate_limit_key_burst = rate(name, value)?,
            "max_new_sites_per_day" => {
                let max = whole(value, 0, MAX_RATE).ok_or_else(|| {
                    format!("max_new_sites_per_day must be a whole number from 0 (only sites added by hand) to {MAX_RATE}")
                })?;
                self.max_new_sites_per_day = u32::try_from(max).unwrap_or(u32::MAX);
            }
            "geoip_database" => self.geoip_database = geoip_database(value)?,
            "backup_dir" => self.backup_dir = backup_dir(value)?,
            "backup_every" => {
                self.backup_every = value
                    .as_str()
                    .and_then(|every| every.parse().ok())
                    .ok_or_else(|| {
                        "backup_every must be \"off\", \"hourly\", \"daily\" or \"weekly\""
                            .to_owned()
                    })?;
            }
            "backup_keep" => {
                let keep = whole(value, 1, u64::from(crate::backups::MAX_BACKUP_KEEP)).ok_or_else(
                    || {
                        format!(
                            "backup_keep must be a whole number from 1 to {}",
                            crate::backups::MAX_BACKUP_KEEP
                        )
                    },
                )?;
                self.backup_keep = u32::try_from(keep).unwrap_or(1);
            }
            other => return Err(format!("Unknown setting: {other}")),
        }
        Ok(())
    }

    /// The value of setting `name` as JSON (`null` for an unknown name).
    pub fn get(&self, name: &str) -> Value {
        match name {
            "site_ids" => json!(self.site_ids.iter().map(SiteId::as_str).collect::<Vec<_>>()),
            "filter_bots" => json!(self.filter_bots),
            "retention_days" => json!(self.retention_days.unwrap_or(0)),
            "rate_limit_per_site" => json!(self.rate_limit_per_site),
            "api_key_mode" => json!(match self.api_key_mode {
                ApiKeyMode::Disabled => "disabled",
                ApiKeyMode::Tag => "tag",
                ApiKeyMode::Require => "require",
            }),
            "rate_limit_ip_rps" => json!(self.rate_limit_ip_rps.get()),
            "rate_limit_ip_burst" => json!(self.rate_limit_ip_burst.get()),
            "rate_limit_key_rps" => json!(self.rate_limit_key_rps.get()),
            "rate_limit_key_burst" => json!(self.rate_limit_key_burst.get()),
            "max_new_sites_per_day" => json!(self.max_new_sites_per_day),
            "geoip_database" => json!(
                self.geoip_database
                    .as_ref()
                    .map_or_else(String::new, |path| path.display().to_string())
            ),
            "backup_dir" => json!(
                self.backup_dir
                    .as_ref()
                    .map_or_else(String::new, |path| path.display().to_string())
            ),
            "backup_every" => json!(self.backup_every.as_str()),
            "backup_keep" => json!(self.backup_keep),
            _ => Value::Null,
        }
    }
}

/// The setting called `name`, if it is editable.
pub fn setting(name: &str) -> Option<Setting> {
    SETTINGS.iter().copied().find(|s| s.name == name)
}

/// A `geoip_database` value: the absolute path of a MaxMind DB file, or
/// empty (or null) for the bundled database. Whether the file reads is
/// checked where the change is made (it takes a read of the file).
fn geoip_database(value: &Value) -> Result<Option<PathBuf>, String> {
    absolute_path_or_default(
        value,
        "geoip_database must be the absolute path of a GeoLite2 or DB-IP .mmdb file, \
         or empty for the bundled country database",
    )
}

/// A `backup_dir` value: an absolute directory, or empty (or null) for
/// `backups/` in the data directory.
fn backup_dir(value: &Value) -> Result<Option<PathBuf>, String> {
    absolute_path_or_default(
        value,
        "backup_dir must be the absolute path of a directory, or empty for backups/ in the data directory",
    )
}

/// An absolute path, or `None` for empty or null (the default); anything
/// else is refused with `what`.
fn absolute_path_or_default(value: &Value, what: &str) -> Result<Option<PathBuf>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => {
            let path = PathBuf::from(text.trim());
            if path.is_absolute() {
                Ok(Some(path))
            } else {
                Err(what.to_owned())
            }
        }
        _ => Err(what.to_owned()),
    }
}

fn whole(value: &Value, min: u64, max: u64) -> Option<u64> {
    value.as_u64().filter(|n| (min..=max).contains(n))
}

fn rate(name: &str, value: &Value) -> Result<NonZeroU32, String> {
    whole(value, 1, MAX_RATE)
        .and_then(|n| u32::try_from(n).ok())
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("{name} must be a whole number from 1 to {MAX_RATE}"))
}

fn site_ids(value: &Value) -> Result<Vec<SiteId>, String> {
    let list = value
        .as_array()
        .ok_or_else(|| "site_ids must be a list of site ids".to_owned())?;
    if list.len() > MAX_SITE_IDS {
        return Err(format!("site_ids may hold at most {MAX_SITE_IDS} sites"));
    }
    let mut ids: Vec<SiteId> = Vec::with_capacity(list.len());
    for item in list {
        let raw = item
            .as_str()
            .ok_or_else(|| "site_ids must be a list of site ids".to_owned())?;
        let id = SiteId::parse(raw.trim()).map_err(|e| format!("site_ids: {e}"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Effective {
        Effective::from_config(&Config::with_data_dir("/x"))
    }

    #[test]
    fn values_are_validated_with_the_documented_messages() {
        let mut e = defaults();
        let err = |e: &mut Effective, name: &str, v: Value| e.set(name, &v).unwrap_err();
        assert_eq!(
            err(&mut e, "filter_bots", json!("no")),
            "filter_bots must be true or false"
        );
        assert_eq!(
            err(&mut e, "retention_days", json!(-1)),
            "retention_days must be a whole number of days from 0 (keep forever) to 36500"
        );
        assert_eq!(
            err(&mut e, "rate_limit_ip_rps", json!(0)),
            "rate_limit_ip_rps must be a whole number from 1 to 1000000"
        );
        assert_eq!(
            err(&mut e, "api_key_mode", json!("strict")),
            "api_key_mode must be \"disabled\", \"tag\" or \"require\""
        );
        assert_eq!(
            err(&mut e, "site_ids", json!(["ok.test", "bad id"])),
            "site_ids: invalid site id: site id contains the character ' '; allowed are letters, digits and . _ : -"
        );
        assert_eq!(err(&mut e, "port", json!(1)), "Unknown setting: port");
        for relative in [json!("GeoLite2-City.mmdb"), json!(7)] {
            assert_eq!(
                err(&mut e, "geoip_database", relative),
                "geoip_database must be the absolute path of a GeoLite2 or DB-IP .mmdb file, \
                 or empty for the bundled country database"
            );
        }
        assert_eq!(e, defaults(), "nothing changed");
    }

    #[test]
    fn values_round_trip_through_json() {
        let mut e = defaults();
        for (name, value) in [
            ("site_ids", json!(["a.test", "b.test"])),
            ("filter_bots", json!(false)),
            ("retention_days", json!(30)),
            ("rate_limit_per_site", json!(50)),
            ("api_key_mode", json!("require")),
            ("rate_limit_ip_rps", json!(5)),
            ("rate_limit_ip_burst", json!(6)),
            ("rate_limit_key_rps", json!(7)),
            ("rate_limit_key_burst", json!(8)),
            ("max_new_sites_per_day", json!(0)),
            ("geoip_database", json!("/var/lib/GeoLite2-City.mmdb")),
            ("geoip_database", json!("")),
        ] {
            e.set(name, &value).unwrap();
            assert_eq!(e.get(name), value, "{name}");
        }
        e.set("retention_days", &json!(0)).unwrap();
        assert_eq!(e.retention_days, None, "0 keeps data forever");
    }
}
