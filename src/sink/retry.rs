//! Retry timing, written once for every sink: exponential backoff with full jitter, the
//! server's `Retry-After` (seconds or an HTTP date), and the gate through which every request
//! of one sink waits out a `Retry-After`, so a busy server is not hit by the other requests.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Exponential backoff with full jitter: attempt `n` waits a uniformly random time in
/// `[0, min(max, initial * 2^n)]`. Full jitter spreads the retries of many clients that failed
/// together (AWS's "Exponential Backoff and Jitter" measured it the best of the variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The ceiling of attempt `n`'s wait (0-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait before retry `attempt`: jittered below its ceiling.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Reads a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 10.2.3), capped at
/// `max`. A date in the past means now; a value that is neither is ignored (`None`).
pub fn parse_retry_after(value: &str, now: SystemTime, max: Duration) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(max))
}

/// Holds back every request of one sink until a `Retry-After` has passed.
#[derive(Debug, Default)]
pub struct RetryGate {
    until: Mutex<Option<Instant>>,
}

impl RetryGate {
    /// No request goes out before `now + wait` (a later deadline already set stays).
    pub fn defer(&self, wait: Duration) {
        let at = Instant::now() + wait;
        if let Ok(mut until) = self.until.lock() {
            if until.is_none_or(|u| u < at) {
                *until = Some(at);
            }
        }
    }

    /// When the gate opens, if it is closed now.
    pub fn closed_until(&self) -> Option<Instant> {
        let until = *self.until.lock().ok()?;
        until.filter(|u| *u > Instant::now())
    }

    /// Waits until the gate is open.
    pub async fn wait(&self) {
        while let Some(at) = self.closed_until() {
            tokio::time::sleep_until(at).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_jitters_below_it() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(5), Duration::from_secs(2));
        assert_eq!(b.ceiling(500), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..200).map(|_| b.delay(4)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(1600)));
        // Full jitter: the waits spread over the whole range, not around one value.
        assert!(delays.iter().any(|d| *d < Duration::from_millis(400)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(1200)));
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates_capped() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let cap = Duration::from_secs(300);
        assert_eq!(
            parse_retry_after("120", now, cap),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("9999", now, cap), Some(cap));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now, cap),
            Some(Duration::from_secs(30))
        );
        // The obsolete forms RFC 9110 still asks recipients to read.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now, cap),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now, cap),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now, cap), None);
        assert_eq!(parse_retry_after("-5", now, cap), None);
    }

    #[tokio::test]
    async fn the_gate_holds_until_the_latest_deadline() {
        let gate = RetryGate::default();
        let start = Instant::now();
        gate.defer(Duration::from_millis(300));
        gate.defer(Duration::from_millis(100));
        gate.wait().await;
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(gate.closed_until().is_none());
    }
}
