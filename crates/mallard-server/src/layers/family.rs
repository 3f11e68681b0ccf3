//! Which API family a path belongs to, for answers given before routing (a
//! declared body that is too large, a malformed request).

/// The two API families and their error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The Mallard family: flat `{"error": "..."}` bodies.
    Mallard,
    /// The collector family: `{"error": {"code", "message", "details"}}` bodies.
    Collector,
}

/// The collector family's paths (each also under `/v1/`); `/metrics` is served
/// by the Mallard family's route and counts as Mallard.
const COLLECTOR_PATHS: [&str; 4] = ["/events", "/s2s/events", "/healthz", "/version"];

/// The collector family's admin path and the paths below it.
const COLLECTOR_ADMIN: &str = "/admin/api-keys";

impl Family {
    /// The family whose routes serve `path` (the Mallard family for every path
    /// the collector does not own, unknown ones included).
    pub fn of_path(path: &str) -> Self {
        let unversioned = path.strip_prefix("/v1").unwrap_or(path);
        let collector = COLLECTOR_PATHS.contains(&unversioned)
            || path == "/v1/metrics"
            || path == COLLECTOR_ADMIN
            || path
                .strip_prefix(COLLECTOR_ADMIN)
                .is_some_and(|rest| rest.starts_with('/'));
        if collector {
            Self::Collector
        } else {
            Self::Mallard
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_paths_and_their_v1_aliases_are_the_collector_family() {
        for path in [
            "/events",
            "/v1/events",
            "/s2s/events",
            "/v1/s2s/events",
            "/healthz",
            "/v1/version",
            "/v1/metrics",
            "/admin/api-keys",
            "/admin/api-keys/key_1",
        ] {
            assert_eq!(Family::of_path(path), Family::Collector, "{path}");
        }
    }

    #[test]
    fn every_other_path_is_the_mallard_family() {
        for path in [
            "/",
            "/api/event",
            "/metrics",
            "/health",
            "/eventsx",
            "/v1",
            "/admin/api-keysx",
            "/unknown",
        ] {
            assert_eq!(Family::of_path(path), Family::Mallard, "{path}");
        }
    }
}
