//! The editable settings in force, and their application to the running
//! server: the ingest allowlist and bot filter are read per request, the rate
//! limiters are replaced, and the retention task is woken.

use std::sync::{Arc, RwLock};

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::editable::{Effective, Origin, SETTINGS, setting};
use crate::config::Config;
use crate::limits::SiteRateLimiter;

/// The editable settings of one server: what the configuration says, what was
/// saved from the dashboard, and the resulting values in force.
#[derive(Debug)]
pub struct LiveSettings {
    /// The values of defaults, file and environment.
    base: Effective,
    /// Names whose value comes from an environment variable.
    pinned: Vec<&'static str>,
    /// Names set in the config file.
    from_file: Vec<&'static str>,
    current: RwLock<Arc<Current>>,
    site_limiter: RwLock<Option<Arc<SiteRateLimiter>>>,
    /// Woken when the retention period changes.
    pub retention_changed: tokio::sync::Notify,
    /// Held while a change is saved and put in force, so that changes are
    /// applied in the order they were saved.
    pub changing: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Current {
    values: Arc<Effective>,
    /// Names whose value was saved from the dashboard and is in force.
    saved: Vec<&'static str>,
}

impl LiveSettings {
    /// The settings of `config`, with the values saved from the dashboard
    /// (`(name, JSON text)` pairs as the store keeps them) applied on top.
    pub fn new(config: &Config, saved: &[(String, String)]) -> Self {
        let base = Effective::from_config(config);
        let pinned = config.pinned_settings.clone();
        let (values, saved) = resolve(&base, &pinned, saved);
        let limiter = SiteRateLimiter::new(values.rate_limit_per_site).map(Arc::new);
        Self {
            base,
            pinned,
            from_file: config.file_settings.clone(),
            current: RwLock::new(Arc::new(Current {
                values: Arc::new(values),
                saved,
            })),
            site_limiter: RwLock::new(limiter),
            retention_changed: tokio::sync::Notify::new(),
            changing: tokio::sync::Mutex::new(()),
        }
    }

    /// The values in force.
    pub fn get(&self) -> Arc<Effective> {
        self.current.read().map_or_else(
            |p| Arc::clone(&p.into_inner().values),
            |c| Arc::clone(&c.values),
        )
    }

    /// The per-site rate limiter in force, if a limit is set.
    pub fn site_limiter(&self) -> Option<Arc<SiteRateLimiter>> {
        self.site_limiter
            .read()
            .map_or_else(|p| p.into_inner().clone(), |l| l.clone())
    }

    /// The environment variable pinning `name`, if one does.
    pub fn pinned_by(&self, name: &str) -> Option<&'static str> {
        self.pinned
            .contains(&name)
            .then(|| setting(name).map(|s| s.env))
            .flatten()
    }

    /// Replaces the saved values (all of them, as the store now holds them) and
    /// returns the previous and the new values in force.
    pub fn replace(&self, saved: &[(String, String)]) -> (Arc<Effective>, Arc<Effective>) {
        let (values, saved) = resolve(&self.base, &self.pinned, saved);
        let values = Arc::new(values);
        let previous = {
            let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
            let previous = Arc::clone(&current.values);
            *current = Arc::new(Current {
                values: Arc::clone(&values),
                saved,
            });
            previous
        };
        if previous.rate_limit_per_site != values.rate_limit_per_site {
            let limiter = SiteRateLimiter::new(values.rate_limit_per_site).map(Arc::new);
            *self.site_limiter.write().unwrap_or_else(|p| p.into_inner()) = limiter;
        }
        if previous.retention_days != values.retention_days {
            self.retention_changed.notify_one();
        }
        (previous, values)
    }

    /// Where the value in force of `name` comes from.
    pub fn origin(&self, name: &'static str) -> Origin {
        let saved = self
            .current
            .read()
            .is_ok_and(|current| current.saved.contains(&name));
        if self.pinned.contains(&name) {
            Origin::Env
        } else if saved {
            Origin::Dashboard
        } else if self.from_file.contains(&name) {
            Origin::File
        } else {
            Origin::Default
        }
    }

    /// The body of `GET /api/settings`: each setting's value, origin, pinning
    /// variable and whether the dashboard may change it.
    pub fn describe(&self) -> BTreeMap<&'static str, SettingState> {
        let values = self.get();
        SETTINGS
            .iter()
            .map(|s| {
                let origin = self.origin(s.name);
                let state = SettingState {
                    value: values.get(s.name),
                    source: origin.as_str(),
                    env: s.env,
                    editable: origin != Origin::Env,
                };
                (s.name, state)
            })
            .collect()
    }
}

/// One setting as the dashboard sees it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SettingState {
    /// The value in force (a number, a string, a list, a boolean or null).
    pub value: Value,
    /// Where it comes from: `default`, `file`, `dashboard` or `env`.
    pub source: &'static str,
    /// The environment variable that would pin it.
    pub env: &'static str,
    /// Whether the dashboard may change it (not when the environment pins it).
    pub editable: bool,
}

/// The values in force: `base` with the saved values applied, except those
/// pinned by the environment. Returns them and the names that were applied.
fn resolve(
    base: &Effective,
    pinned: &[&'static str],
    saved: &[(String, String)],
) -> (Effective, Vec<&'static str>) {
    let mut values = base.clone();
    let mut applied = Vec::new();
    for (name, text) in saved {
        let Some(s) = setting(name) else {
            tracing::warn!(setting = %name, "ignoring an unknown saved setting");
            continue;
        };
        if pinned.contains(&s.name) {
            continue;
        }
        let outcome = serde_json::from_str::<Value>(text)
            .map_err(|e| e.to_string())
            .and_then(|value| values.set(s.name, &value));
        match outcome {
            Ok(()) => applied.push(s.name),
            Err(err) => tracing::warn!(setting = %name, error = %err, "ignoring a saved setting"),
        }
    }
    (values, applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn saved_values_override_the_file_but_not_the_environment() {
        let mut config = Config::with_data_dir("/x");
        config.filter_bots = true;
        config.retention_days = Some(10);
        config.file_settings = vec!["retention_days"];
        config.pinned_settings = vec!["filter_bots"];
        let live = LiveSettings::new(
            &config,
            &saved(&[
                ("filter_bots", "false"),
                ("retention_days", "30"),
                ("junk", "1"),
            ]),
        );
        let values = live.get();
        assert!(values.filter_bots, "the environment wins");
        assert_eq!(
            values.retention_days,
            Some(30),
            "the dashboard beats the file"
        );
        assert_eq!(live.origin("filter_bots"), Origin::Env);
        assert_eq!(live.origin("retention_days"), Origin::Dashboard);
        assert_eq!(live.origin("site_ids"), Origin::Default);
        assert_eq!(live.pinned_by("filter_bots"), Some("MALLARD_FILTER_BOTS"));
        assert_eq!(live.pinned_by("retention_days"), None);

        let (before, after) = live.replace(&saved(&[("rate_limit_per_site", "5")]));
        assert_eq!(before.retention_days, Some(30));
        assert_eq!(after.retention_days, Some(10), "back to the file's value");
        assert_eq!(live.origin("retention_days"), Origin::File);
        assert!(live.site_limiter().is_some());
        let described = serde_json::to_value(live.describe()).unwrap();
        assert_eq!(
            described["filter_bots"],
            serde_json::json!({"value": true, "source": "env", "env": "MALLARD_FILTER_BOTS", "editable": false})
        );
        assert_eq!(described["rate_limit_per_site"]["source"], "dashboard");
    }

    #[test]
    fn a_broken_saved_value_is_ignored() {
        let live = LiveSettings::new(
            &Config::with_data_dir("/x"),
            &saved(&[("retention_days", "\"soon\""), ("filter_bots", "{")]),
        );
        assert_eq!(
            *live.get(),
            Effective::from_config(&Config::with_data_dir("/x"))
        );
    }
}
