//! Traffic-spike detection for the desktop notification that replaces the
//! e-mail alerts hosted analytics send: one alert when live visitors reach
//! the threshold, and no second alert until traffic has calmed down (fallen
//! below half the threshold), so a long spike is one notification.

/// Watches live-visitor counts and says when to notify.
#[derive(Debug, Clone)]
pub struct SpikeAlarm {
    threshold: u64,
    armed: bool,
}

impl SpikeAlarm {
    /// An alarm for `threshold` live visitors; 0 never fires.
    pub fn new(threshold: u64) -> Self {
        Self {
            threshold,
            armed: true,
        }
    }

    /// Feeds the latest count; true when a notification is due.
    pub fn observe(&mut self, live_visitors: u64) -> bool {
        if self.threshold == 0 {
            return false;
        }
        if self.armed && live_visitors >= self.threshold {
            self.armed = false;
            return true;
        }
        if !self.armed && live_visitors < self.threshold.div_ceil(2) {
            self.armed = true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_alert_per_spike() {
        let mut alarm = SpikeAlarm::new(10);
        let fired: Vec<bool> = [3, 9, 10, 40, 12, 6, 4, 11, 11]
            .into_iter()
            .map(|count| alarm.observe(count))
            .collect();
        assert_eq!(
            fired,
            [false, false, true, false, false, false, false, true, false]
        );
    }

    #[test]
    fn a_zero_threshold_never_fires() {
        let mut alarm = SpikeAlarm::new(0);
        assert!(!alarm.observe(0));
        assert!(!alarm.observe(1_000_000));
    }
}
