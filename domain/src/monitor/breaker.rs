//! The circuit breaker guarding a deployment's tool calls: closed → (N failures in a row) →
//! open → (after the open time) → half-open: one trial call; it closes the breaker or opens
//! it again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use types::BreakerState;

/// Breaker settings.
#[derive(Clone, Copy, Debug)]
pub struct BreakerSettings {
    /// Failed calls in a row that open it.
    pub failures: u32,
    /// How long it stays open before a trial call.
    pub open_for: Duration,
}

/// One breaker.
#[derive(Clone, Debug, PartialEq)]
pub struct Breaker {
    /// As stored: closed, open or half-open.
    pub state: BreakerState,
    /// Failed calls in a row.
    pub failures: u32,
    /// Last state change.
    pub changed_at: Option<DateTime<Utc>>,
    /// While open: when a trial is let through.
    pub retry_at: Option<DateTime<Utc>>,
    /// A trial call is under way (half-open).
    pub trial: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed,
            failures: 0,
            changed_at: None,
            retry_at: None,
            trial: false,
        }
    }
}

/// Whether a call may go.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go.
    Pass,
    /// Half-open: go, as the trial.
    Trial,
    /// Refused until the given time (open, or a trial is under way).
    Refused(DateTime<Utc>),
}

impl Breaker {
    /// The state as shown: an open breaker whose time is up is half-open (the next call is
    /// the trial).
    pub fn shown(&self, now: DateTime<Utc>) -> BreakerState {
        match (self.state, self.retry_at) {
            (BreakerState::Open, Some(at)) if now >= at => BreakerState::HalfOpen,
            (s, _) => s,
        }
    }

    /// Decides on a call at `now`; the state may move from open to half-open (returned as
    /// `true` in the second place when it changed).
    pub fn admit(&mut self, now: DateTime<Utc>, s: &BreakerSettings) -> (Admission, bool) {
        match self.state {
            BreakerState::Closed => (Admission::Pass, false),
            BreakerState::Open => match self.retry_at {
                Some(at) if now < at => (Admission::Refused(at), false),
                _ => {
                    self.state = BreakerState::HalfOpen;
                    self.changed_at = Some(now);
                    self.retry_at = None;
                    self.trial = true;
                    (Admission::Trial, true)
                }
            },
            BreakerState::HalfOpen if self.trial => (
                Admission::Refused(
                    now + chrono::Duration::from_std(s.open_for).unwrap_or_default(),
                ),
                false,
            ),
            BreakerState::HalfOpen => {
                self.trial = true;
                (Admission::Trial, false)
            }
        }
    }

    /// Records a call's outcome; yields the new state when it changed.
    pub fn record(
        &mut self,
        ok: bool,
        now: DateTime<Utc>,
        s: &BreakerSettings,
    ) -> Option<BreakerState> {
        self.trial = false;
        let before = self.state;
        if ok {
            self.failures = 0;
            self.state = BreakerState::Closed;
            self.retry_at = None;
        } else {
            self.failures = self.failures.saturating_add(1);
            if self.state == BreakerState::HalfOpen
                || (self.state == BreakerState::Closed && self.failures >= s.failures.max(1))
            {
                self.state = BreakerState::Open;
                self.retry_at =
                    Some(now + chrono::Duration::from_std(s.open_for).unwrap_or_default());
            }
        }
        if self.state != before {
            self.changed_at = Some(now);
            Some(self.state)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            failures: 3,
            open_for: Duration::from_secs(10),
        }
    }

    #[test]
    fn opens_after_failures_in_a_row_half_opens_then_closes_or_reopens() {
        let s = settings();
        let t0 = Utc::now();
        let mut b = Breaker::default();
        assert_eq!(b.admit(t0, &s).0, Admission::Pass);
        assert_eq!(b.record(false, t0, &s), None);
        assert_eq!(b.record(true, t0, &s), None, "a success resets the count");
        assert_eq!(b.record(false, t0, &s), None);
        assert_eq!(b.record(false, t0, &s), None);
        assert_eq!(b.record(false, t0, &s), Some(BreakerState::Open));
        let retry = t0 + chrono::Duration::seconds(10);
        assert_eq!(b.admit(t0, &s).0, Admission::Refused(retry));
        assert_eq!(b.shown(t0), BreakerState::Open);
        assert_eq!(b.shown(retry), BreakerState::HalfOpen);
        // Time is up: one trial goes, a second call meanwhile is refused.
        assert_eq!(b.admit(retry, &s), (Admission::Trial, true));
        assert!(matches!(b.admit(retry, &s).0, Admission::Refused(_)));
        // The trial fails: open again for the whole time.
        assert_eq!(b.record(false, retry, &s), Some(BreakerState::Open));
        let again = retry + chrono::Duration::seconds(10);
        assert_eq!(b.admit(again, &s), (Admission::Trial, true));
        assert_eq!(b.record(true, again, &s), Some(BreakerState::Closed));
        assert_eq!(b.failures, 0);
        assert_eq!(b.admit(again, &s).0, Admission::Pass);
    }
}
