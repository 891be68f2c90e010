//! How many S3 objects are fetched at once, and how fast. The number a run needs is the rate
//! its workers take objects times the time one GET takes (Little's law): a GET to S3 takes tens
//! of milliseconds, so with small log files hundreds of fetches must overlap to keep two cores
//! busy, while on loopback a few do. So the limit adapts. It starts at `fetch_concurrency`,
//! and grows by a step while fetching is what the run waits for (a new fetch had to wait for a
//! slot) and each step still raises the rate of finished fetches; a step that did not is given
//! back and growth rests a while. S3's `503 SlowDown` halves it. It never passes
//! `fetch_concurrency_max`, which is what the memory bound is stated with. Apart from the
//! limit, GETs under one prefix (an account's region folder) are paced to S3's documented
//! 5,500 per second, so a large fleet of workers does not provoke the throttling it then has
//! to back off from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::object_gets::ObjectGets;
use super::s3::{fetch_into, CHUNKS_AHEAD};
use crate::blob::StreamInput;
use crate::metrics as m;

/// S3's request rate per prefix for GET and HEAD (the S3 user guide, "Best practices design
/// patterns: optimizing Amazon S3 performance").
pub const GETS_PER_PREFIX_PER_SEC: f64 = 5_500.0;

/// GETs a prefix may start at once above its pace (so a burst after a pause is not spread out).
const PACE_BURST: f64 = 100.0;

/// The shortest time the fetch rate is measured over before the limit moves.
const WINDOW_MIN: Duration = Duration::from_millis(250);

/// The longest: a window closes after this even if fewer fetches than the limit finished.
const WINDOW_MAX: Duration = Duration::from_secs(2);

/// A step must raise the fetch rate by this much to be kept.
const GAIN_TO_KEEP: f64 = 1.05;

/// Windows growth rests after a step that did not pay (about 5 s at the shortest windows).
const REST_AFTER_NO_GAIN: u32 = 20;

/// Windows growth rests after a SlowDown.
const REST_AFTER_SLOWDOWN: u32 = 8;

/// `503 SlowDown` answers seen by every S3 client of this process, counted by
/// `count_slowdown` (the SDK's through `aws::SlowDownCounter`, the direct GETs in
/// `object_gets`; both retry them).
pub static SLOWDOWNS: AtomicU64 = AtomicU64::new(0);

/// Counts one `503 SlowDown` answer, for the limit's back-off and the metric.
pub fn count_slowdown() {
    SLOWDOWNS.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(m::S3_SLOWDOWNS).increment(1);
}

/// The fetch slots of one source, shared by the task that starts fetches and the fetches.
pub struct FetchLimit {
    permits: Arc<Semaphore>,
    shared: Arc<Finished>,
    control: Mutex<Control>,
}

/// What the fetches report back.
#[derive(Default)]
struct Finished {
    fetches: AtomicU64,
    /// Slots to take away as fetches give them back (the limit shrank below what is in use).
    debt: AtomicUsize,
}

/// The part only the starting task touches (a lock that is never contended).
struct Control {
    limit: Limit,
    pacer: Pacer,
}

impl FetchLimit {
    /// A limit that starts at `start` and adapts up to `max` (fixed when they are equal).
    pub fn new(start: usize, max: usize) -> Self {
        let start = start.max(1);
        metrics::gauge!(m::S3_FETCH_CONCURRENCY).set(start as f64);
        FetchLimit {
            permits: Arc::new(Semaphore::new(start)),
            shared: Arc::default(),
            control: Mutex::new(Control {
                limit: Limit::new(start, max.max(start), Instant::now()),
                pacer: Pacer::new(GETS_PER_PREFIX_PER_SEC, PACE_BURST),
            }),
        }
    }

    /// Waits for a slot and the prefix's pace, then fetches `bucket/key` in a task of its own;
    /// the body arrives through the returned input as it is read. None once the run is over.
    pub async fn fetch(
        &self,
        gets: &ObjectGets,
        bucket: &Arc<str>,
        key: &str,
    ) -> Option<StreamInput> {
        let (permit, waited) = match self.permits.clone().try_acquire_owned() {
            Ok(p) => (p, false),
            Err(_) => (self.permits.clone().acquire_owned().await.ok()?, true),
        };
        let pause = self.steer(waited, pace_prefix(key));
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
        let (gets, bucket, key, shared) = (
            gets.clone(),
            bucket.clone(),
            key.to_string(),
            self.shared.clone(),
        );
        tokio::spawn(async move {
            fetch_into(&gets, &bucket, &key, tx).await;
            shared.give_back(permit);
        });
        Some(StreamInput::new(rx))
    }

    /// Counts a start, moves the limit when a window closed, and says how long to pause for
    /// the prefix's pace.
    fn steer(&self, waited: bool, prefix: &str) -> Duration {
        let now = Instant::now();
        let Ok(mut control) = self.control.lock() else {
            return Duration::ZERO;
        };
        let finished = self.shared.fetches.load(Ordering::Relaxed);
        let slowdowns = SLOWDOWNS.load(Ordering::Relaxed);
        if let Some(m) = control.limit.started(waited, finished, slowdowns, now) {
            self.resize(m.old, m.new, m.slowdown);
        }
        control.pacer.pause(prefix, now)
    }

    fn resize(&self, old: usize, new: usize, slowdown: bool) {
        metrics::gauge!(m::S3_FETCH_CONCURRENCY).set(new as f64);
        if new > old {
            // Slots still owed are forgiven first; the rest are new.
            let mut grow = new - old;
            let _ = self
                .shared
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                    let paid = d.min(grow);
                    grow -= paid;
                    Some(d - paid)
                });
            self.permits.add_permits(grow);
        } else {
            if slowdown {
                eprintln!(
                    "trailhose: warning: S3 answered 503 SlowDown: fetching at most {new} objects at once (was {old}); the SDK retries the throttled requests"
                );
            }
            let shrink = old - new;
            let taken = self.permits.forget_permits(shrink);
            self.shared.debt.fetch_add(shrink - taken, Ordering::AcqRel);
        }
    }
}

impl Finished {
    /// A fetch ended: its slot goes back, unless the limit shrank and the slot is owed.
    fn give_back(&self, permit: OwnedSemaphorePermit) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let owed = self
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1))
            .is_ok();
        if owed {
            permit.forget();
        }
    }
}

/// The prefix S3 paces requests by, for a trail's key: the folder of one account and region
/// (`AWSLogs/[o-org/]ACCOUNT/CloudTrail/REGION/`), else the key's folder.
fn pace_prefix(key: &str) -> &str {
    let folder = key.rfind('/').map_or("", |i| &key[..=i]);
    // AWSLogs/.../REGION/YYYY/MM/DD/: drop the date folders.
    let mut cut = folder.trim_end_matches('/');
    for digits in [2, 2, 4] {
        match cut.rsplit_once('/') {
            Some((rest, last))
                if last.len() == digits && last.bytes().all(|b| b.is_ascii_digit()) =>
            {
                cut = rest;
            }
            _ => return folder,
        }
    }
    &folder[..cut.len() + 1]
}

/// The adaptive limit itself, fed with what happened and the time (so tests can drive it).
#[derive(Debug)]
pub struct Limit {
    pub limit: usize,
    max: usize,
    window: Window,
    /// The limit before the last step and the rate it gave, while the step is on trial.
    trial: Option<(usize, f64)>,
    /// Windows to let pass before growing again.
    rest: u32,
    slowdowns_seen: u64,
}

/// A change of the limit.
#[derive(Debug, PartialEq, Eq)]
pub struct Move {
    pub old: usize,
    pub new: usize,
    /// Halved for SlowDown answers.
    pub slowdown: bool,
}

#[derive(Debug)]
struct Window {
    opened: Instant,
    finished_at_open: u64,
    started: u32,
    waited: u32,
}

impl Limit {
    pub fn new(start: usize, max: usize, now: Instant) -> Self {
        Limit {
            limit: start,
            max,
            window: Window {
                opened: now,
                finished_at_open: 0,
                started: 0,
                waited: 0,
            },
            trial: None,
            rest: 0,
            slowdowns_seen: 0,
        }
    }

    /// A fetch starts (`waited`: it had to wait for a slot); `finished` and `slowdowns` are the
    /// running totals. Says how the limit moved, if it did.
    pub fn started(
        &mut self,
        waited: bool,
        finished: u64,
        slowdowns: u64,
        now: Instant,
    ) -> Option<Move> {
        let w = &mut self.window;
        w.started += 1;
        w.waited += u32::from(waited);
        let elapsed = now.saturating_duration_since(w.opened);
        let done = finished.saturating_sub(w.finished_at_open);
        if elapsed < WINDOW_MIN || (done < self.limit as u64 && elapsed < WINDOW_MAX) {
            return None;
        }
        let rate = done as f64 / elapsed.as_secs_f64();
        // Fetching held the run back when most starts had to wait for a slot.
        let fetch_bound = w.waited * 2 >= w.started;
        *w = Window {
            opened: now,
            finished_at_open: finished,
            started: 0,
            waited: 0,
        };
        let old = self.limit;
        let slowdown = slowdowns > self.slowdowns_seen;
        let new = self.next(rate, fetch_bound, slowdowns);
        (new != old).then(|| {
            self.limit = new;
            Move { old, new, slowdown }
        })
    }

    fn next(&mut self, rate: f64, fetch_bound: bool, slowdowns: u64) -> usize {
        if slowdowns > self.slowdowns_seen {
            self.slowdowns_seen = slowdowns;
            metrics::counter!(m::S3_FETCH_BACKOFFS).increment(1);
            self.trial = None;
            self.rest = REST_AFTER_SLOWDOWN;
            return (self.limit / 2).max(1);
        }
        if let Some((before, before_rate)) = self.trial.take() {
            if rate < before_rate * GAIN_TO_KEEP {
                // More fetches at once did not fetch more: the other end, or the workers, set
                // the pace. Give the step back.
                self.rest = REST_AFTER_NO_GAIN;
                return before;
            }
        }
        if self.rest > 0 {
            self.rest -= 1;
            return self.limit;
        }
        if fetch_bound && self.limit < self.max {
            let step = (self.limit / 4).max(4);
            self.trial = Some((self.limit, rate));
            return (self.limit + step).min(self.max);
        }
        self.limit
    }
}

/// Paces starts per prefix (a generic cell rate: each start books the next slot; a start
/// earlier than its slot, beyond the burst, waits).
struct Pacer {
    interval: Duration,
    tolerance: Duration,
    next_slot: HashMap<Box<str>, Instant>,
}

impl Pacer {
    fn new(per_sec: f64, burst: f64) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_sec);
        Pacer {
            interval,
            tolerance: interval.mul_f64(burst),
            next_slot: HashMap::new(),
        }
    }

    /// How long a start under `prefix` at `now` waits.
    fn pause(&mut self, prefix: &str, now: Instant) -> Duration {
        if self.next_slot.len() > 4096 {
            // Prefixes not used lately are at their pace again: forget them.
            self.next_slot.retain(|_, slot| *slot > now);
        }
        let slot = match self.next_slot.get_mut(prefix) {
            Some(slot) => slot,
            None => self.next_slot.entry(prefix.into()).or_insert(now),
        };
        let booked = (*slot).max(now);
        *slot = booked + self.interval;
        booked
            .saturating_duration_since(now)
            .saturating_sub(self.tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a limit for `windows` windows of 300 ms at a fetch rate `rate(limit)`, every
    /// start waiting for a slot when `bound`; returns the limits after each window.
    fn drive(
        limit: &mut Limit,
        start: Instant,
        windows: usize,
        bound: bool,
        rate: impl Fn(usize) -> f64,
        slowdown_at: Option<usize>,
    ) -> Vec<usize> {
        let mut finished = 0u64;
        let mut slowdowns = 0;
        let mut seen = Vec::new();
        for w in 0..windows {
            let now = start + Duration::from_millis(300 * (w as u64 + 1));
            finished += (rate(limit.limit) * 0.3) as u64;
            if slowdown_at == Some(w) {
                slowdowns += 1;
            }
            limit.started(bound, finished, slowdowns, now);
            seen.push(limit.limit);
        }
        seen
    }

    #[test]
    fn grows_while_the_rate_grows_and_stops_where_it_stops() {
        let t = Instant::now();
        let mut limit = Limit::new(64, 1024, t);
        // 30 ms per GET, and the workers take at most 6,000 objects a second: the rate is
        // limit / 0.03 up to 6,000 (a limit of 180).
        let seen = drive(
            &mut limit,
            t,
            60,
            true,
            |l| (l as f64 / 0.03).min(6000.0),
            None,
        );
        let end = *seen.last().unwrap();
        assert!((180..=260).contains(&end), "settled at {end}: {seen:?}");
        assert!(seen.iter().all(|&l| l <= 300), "overshot: {seen:?}");
    }

    #[test]
    fn does_not_grow_when_the_workers_set_the_pace() {
        let t = Instant::now();
        let mut limit = Limit::new(64, 1024, t);
        let seen = drive(&mut limit, t, 20, false, |l| l as f64 * 10.0, None);
        assert!(seen.iter().all(|&l| l == 64), "{seen:?}");
    }

    #[test]
    fn never_passes_the_maximum() {
        let t = Instant::now();
        let mut limit = Limit::new(64, 100, t);
        let seen = drive(&mut limit, t, 40, true, |l| l as f64 * 100.0, None);
        assert_eq!(*seen.iter().max().unwrap(), 100, "{seen:?}");
        let mut fixed = Limit::new(8, 8, t);
        let seen = drive(&mut fixed, t, 40, true, |l| l as f64 * 100.0, None);
        assert!(seen.iter().all(|&l| l == 8), "{seen:?}");
    }

    #[test]
    fn slowdown_halves_then_rests() {
        let t = Instant::now();
        let mut limit = Limit::new(256, 1024, t);
        let seen = drive(&mut limit, t, 6, true, |l| l as f64 * 100.0, Some(1));
        // The first window grew a step; the SlowDown halves whatever the limit was.
        assert_eq!(seen[1], seen[0] / 2, "{seen:?}");
        assert!(
            seen[2..].iter().all(|&l| l == seen[1]),
            "rests after: {seen:?}"
        );
    }

    #[test]
    fn a_window_needs_time_and_a_turn_of_the_limit() {
        let t = Instant::now();
        let mut limit = Limit::new(64, 1024, t);
        // 100 ms in: too short, whatever finished.
        assert_eq!(
            limit.started(true, 1000, 0, t + Duration::from_millis(100)),
            None
        );
        // 1 s in but only 10 finished of a limit of 64: not a full turn yet.
        assert_eq!(limit.started(true, 10, 0, t + Duration::from_secs(1)), None);
        // 2 s in: the window closes anyway.
        assert!(limit
            .started(true, 20, 0, t + Duration::from_millis(2100))
            .is_some());
    }

    #[test]
    fn pace_prefixes_are_account_region_folders() {
        assert_eq!(
            pace_prefix("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/f.json.gz"),
            "AWSLogs/111122223333/CloudTrail/us-east-1/"
        );
        assert_eq!(
            pace_prefix("t/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2026/01/05/f.json.gz"),
            "t/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/"
        );
        assert_eq!(pace_prefix("some/folder/f.json.gz"), "some/folder/");
        assert_eq!(pace_prefix("f.json.gz"), "");
    }

    #[test]
    fn pacer_keeps_a_prefix_to_its_rate_after_the_burst() {
        let mut pacer = Pacer::new(1000.0, 10.0);
        let t = Instant::now();
        let pauses: Vec<Duration> = (0..30).map(|_| pacer.pause("p/", t)).collect();
        assert!(pauses[..11].iter().all(|p| p.is_zero()), "{pauses:?}");
        // The 30th start at the same instant waits for slot 29, less the burst of 10.
        let last = pauses[29];
        assert!(
            last >= Duration::from_millis(18) && last <= Duration::from_millis(20),
            "{last:?}"
        );
        // Another prefix is not held back.
        assert!(pacer.pause("q/", t).is_zero());
    }
}
