//! The collection switch: while collection is paused (from the desktop tray),
//! both API families answer ingestion with 503 and store nothing, so senders
//! know their events were not kept (and SDKs with a retry queue send them
//! again later) instead of losing them silently.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether ingestion is paused. Starts running.
#[derive(Debug, Default)]
pub struct CollectionSwitch {
    paused: AtomicBool,
}

impl CollectionSwitch {
    /// Pauses (`true`) or resumes (`false`) collection.
    pub fn set_paused(&self, paused: bool) {
        if self.paused.swap(paused, Ordering::Relaxed) != paused {
            tracing::info!(paused, "event collection switched");
        }
    }

    /// Whether collection is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_starts_running_and_toggles() {
        let switch = CollectionSwitch::default();
        assert!(!switch.is_paused());
        switch.set_paused(true);
        assert!(switch.is_paused());
        switch.set_paused(false);
        assert!(!switch.is_paused());
    }
}
