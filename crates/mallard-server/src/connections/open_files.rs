//! Room for the connection cap under the process's limit on open files.
//!
//! Every connection is a file descriptor. When the process runs out of them,
//! `accept` fails and new clients wait in the kernel's queue without an
//! answer, so the cap would never get to refuse them gracefully. At start the
//! soft limit is raised (as far as the hard limit allows) to fit the cap; if
//! it still does not fit, the cap is lowered to what fits and a warning says
//! so.

use super::refusal::REFUSALS_AT_ONCE;

/// Descriptors kept for everything besides connections: the database and its
/// journal files, read connections, logs, the data directory lock.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// The descriptors `max_connections` connections need with everything else.
fn needed(max_connections: usize) -> u64 {
    (max_connections as u64)
        .saturating_add(REFUSALS_AT_ONCE as u64)
        .saturating_add(RESERVED_DESCRIPTORS)
}

/// Raises the soft limit on open files to fit `max_connections` and returns
/// the cap that fits under the resulting limit (at least 1).
#[cfg(unix)]
pub fn make_room(max_connections: usize) -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    let wanted = needed(max_connections);
    let limit = getrlimit(Resource::Nofile);
    let Some(soft) = limit.current else {
        return max_connections;
    };
    let mut available = soft;
    if soft < wanted {
        let raised = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
        if raised > soft {
            let new = Rlimit {
                current: Some(raised),
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, new) {
                Ok(()) => available = raised,
                Err(err) => tracing::debug!(error = %err, "cannot raise the open-file limit"),
            }
        }
    }
    let fits = fits_under(available, max_connections);
    if fits < max_connections {
        tracing::warn!(
            open_file_limit = available,
            max_connections,
            serving = fits,
            "the open-file limit leaves room for fewer connections than max_connections; \
             raise it (ulimit -n) or lower max_connections"
        );
    }
    fits
}

/// Without a Unix open-file limit the cap is kept as configured.
#[cfg(not(unix))]
pub fn make_room(max_connections: usize) -> usize {
    max_connections
}

/// How many of `max_connections` fit under an open-file limit of `limit`.
fn fits_under(limit: u64, max_connections: usize) -> usize {
    let room = limit.saturating_sub(needed(0));
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(1, max_connections.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_lowered_to_what_the_limit_leaves_room_for() {
        assert_eq!(fits_under(1_000_000, 4096), 4096);
        assert_eq!(fits_under(1024, 4096), 1024 - 256 - 64);
        assert_eq!(fits_under(100, 4096), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_small_cap_fits_and_the_soft_limit_fits_it_afterwards() {
        use rustix::process::{Resource, getrlimit};

        assert_eq!(make_room(16), 16);
        let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        assert!(soft >= needed(16), "{soft}");
    }
}
