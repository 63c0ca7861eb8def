//! Giving freed heap back to the operating system once a burst of work is over.
//!
//! glibc keeps memory a request freed for the next one, and it can only shrink the heap from
//! its top: after a registry sync, a catalog index rebuild or a wave of requests, megabytes
//! of free chunks stay resident behind a few live ones. `malloc_trim(0)` hands every free
//! page back (measured: 4.7 MiB of 14.7 MiB anonymous memory after syncing 1,000 entries,
//! bench/RESULTS.md, "Session 7"). It is cheap but takes the allocator's locks, so it runs
//! when the server has gone quiet (one second without a request after some) and otherwise
//! once a minute, for background work that no request marks (scheduled syncs, pipeline runs,
//! health checks).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Requests started or finished since the process began (only ever compared for change).
static ACTIVITY: AtomicU64 = AtomicU64::new(0);

/// How often the trimmer looks; a burst counts as over after one quiet look.
const TICK: Duration = Duration::from_secs(1);
/// Looks after which a quiet server trims anyway, for background work that no request marks
/// (never while requests keep coming: then the burst's end trims).
const EVERY: u32 = 60;

/// Marks activity; every request calls it as it starts and as it ends (the request-context
/// middleware, which already wraps every request: a middleware of its own cost ~10 % of the
/// list throughput, as each one clones the whole stack of services below it per request).
pub fn touch() {
    ACTIVITY.fetch_add(1, Ordering::Relaxed);
}

/// When to trim, given what the activity counter read at each tick.
#[derive(Debug, Default)]
struct Quiet {
    seen: u64,
    busy: bool,
    ticks: u32,
}

impl Quiet {
    /// One look at the counter: `true` when the heap should be trimmed now.
    fn tick(&mut self, activity: u64) -> bool {
        self.ticks += 1;
        if activity != self.seen {
            self.seen = activity;
            self.busy = true;
            return false;
        }
        if self.busy || self.ticks >= EVERY {
            self.busy = false;
            self.ticks = 0;
            return true;
        }
        false
    }
}

/// Runs forever (abort the task to stop it): trims the heap whenever the server goes quiet.
pub async fn trim_when_quiet() {
    let mut quiet = Quiet::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if quiet.tick(ACTIVITY.load(Ordering::Relaxed)) {
            // Off the async workers: trimming waits for the allocator's locks.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

/// Returns the allocator's free pages to the operating system.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory no allocation holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_after_a_burst_ends_and_not_while_it_goes_on() {
        let mut q = Quiet::default();
        assert!(!q.tick(0), "nothing happened yet");
        assert!(!q.tick(3), "requests under way");
        assert!(!q.tick(9), "still busy");
        assert!(q.tick(9), "one quiet look after the burst trims");
        assert!(!q.tick(9), "and only once");
        assert!(!q.tick(10));
        assert!(q.tick(10), "the next burst ends");
    }

    #[test]
    fn trims_once_a_minute_when_no_request_comes() {
        let mut q = Quiet::default();
        let trims = (0..3 * EVERY).filter(|_| q.tick(0)).count();
        assert_eq!(trims, 3);
    }
}
