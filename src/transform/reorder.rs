//! The reorder window: calls whose temporary key has not been seen issued yet (its `AssumeRole`
//! is in another region's file, or a later one) wait here, bounded by event-time span, count
//! and bytes, until the key appears or the window passes them by; then they are attributed
//! (`unresolved` if the key never came) and written. Each waiting call keeps its input's ack
//! token, so an input is not acknowledged before all its calls are out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use serde::Deserialize;

use crate::blob::AckToken;

/// `[enrich]` bounds of the reorder window.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ReorderLimits {
    /// How far (in event time) the newest call seen may be ahead of a waiting one before the
    /// waiting one is given up on; 0 turns the window off.
    pub span_secs: i64,
    /// Most calls waiting at once.
    pub max_events: usize,
    /// Most bytes of waiting calls at once.
    pub max_bytes: usize,
}

impl Default for ReorderLimits {
    fn default() -> Self {
        ReorderLimits {
            span_secs: 900,
            max_events: 50_000,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// One waiting call.
pub struct Waiting {
    /// The temporary key it waits for.
    pub key: Box<str>,
    /// The input it came from (for messages and dead letters).
    pub origin: std::sync::Arc<str>,
    pub time: i64,
    /// The record's bytes, as read.
    pub bytes: Vec<u8>,
    pub has_whitespace: bool,
    /// Its input's share of acknowledgement.
    pub ack: AckToken,
}

#[derive(Default)]
struct Held {
    /// Waiting calls in arrival order (roughly event-time order), by sequence number.
    queue: VecDeque<(u64, Option<Waiting>)>,
    /// Sequence numbers waiting for each key.
    by_key: HashMap<Box<str>, Vec<u64>>,
    first_seq: u64,
    count: usize,
    bytes: usize,
}

impl Held {
    fn take(&mut self, seq: u64) -> Option<Waiting> {
        let index = seq.checked_sub(self.first_seq)? as usize;
        let w = self.queue.get_mut(index)?.1.take()?;
        self.count -= 1;
        self.bytes -= w.bytes.len();
        Some(w)
    }

    /// Drops the taken entries at the front so the queue stays short.
    fn trim(&mut self) {
        while matches!(self.queue.front(), Some((_, None))) {
            self.queue.pop_front();
            self.first_seq += 1;
        }
    }

    fn pop_oldest(&mut self) -> Option<Waiting> {
        self.trim();
        let (seq, _) = *self.queue.front()?;
        let w = self.take(seq)?;
        self.forget_key(&w.key, seq);
        self.trim();
        Some(w)
    }

    fn forget_key(&mut self, key: &str, seq: u64) {
        if let Some(list) = self.by_key.get_mut(key) {
            list.retain(|s| *s != seq);
            if list.is_empty() {
                self.by_key.remove(key);
            }
        }
    }
}

/// The calls waiting for their key's issuing event, shared by all workers.
pub struct ReorderWindow {
    limits: ReorderLimits,
    held: Mutex<Held>,
    /// Event time of the oldest waiting call (i64::MAX when none): read without the lock.
    oldest: AtomicI64,
}

impl ReorderWindow {
    pub fn new(limits: ReorderLimits) -> Self {
        ReorderWindow {
            limits,
            held: Mutex::new(Held::default()),
            oldest: AtomicI64::new(i64::MAX),
        }
    }

    /// Whether calls may wait at all.
    pub fn enabled(&self) -> bool {
        self.limits.span_secs > 0 && self.limits.max_events > 0
    }

    /// Calls waiting now.
    pub fn len(&self) -> usize {
        self.held.lock().map_or(0, |h| h.count)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Holds a call back. Returns the calls pushed out by the count and byte bounds (oldest
    /// first), to be written now.
    pub fn hold(&self, w: Waiting) -> Vec<Waiting> {
        let Ok(mut h) = self.held.lock() else {
            return vec![w];
        };
        let seq = h.first_seq + h.queue.len() as u64;
        h.count += 1;
        h.bytes += w.bytes.len();
        h.by_key.entry(w.key.clone()).or_default().push(seq);
        h.queue.push_back((seq, Some(w)));
        let mut out = Vec::new();
        while h.count > self.limits.max_events || h.bytes > self.limits.max_bytes {
            match h.pop_oldest() {
                Some(w) => out.push(w),
                None => break,
            }
        }
        self.update_oldest(&mut h);
        out
    }

    /// The calls waiting for `key`, now that its issuing event was seen.
    pub fn take_key(&self, key: &str) -> Vec<Waiting> {
        let Ok(mut h) = self.held.lock() else {
            return Vec::new();
        };
        let Some(seqs) = h.by_key.remove(key) else {
            return Vec::new();
        };
        let out: Vec<Waiting> = seqs.into_iter().filter_map(|s| h.take(s)).collect();
        h.trim();
        self.update_oldest(&mut h);
        out
    }

    /// The calls the window has passed: more than `span_secs` older than `newest`.
    pub fn take_passed(&self, newest: i64) -> Vec<Waiting> {
        let cutoff = newest.saturating_sub(self.limits.span_secs);
        if self.oldest.load(Ordering::Relaxed) >= cutoff {
            return Vec::new();
        }
        let Ok(mut h) = self.held.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        loop {
            h.trim();
            match h.queue.front() {
                Some((_, Some(w))) if w.time < cutoff => {
                    if let Some(w) = h.pop_oldest() {
                        out.push(w);
                    }
                }
                _ => break,
            }
        }
        self.update_oldest(&mut h);
        out
    }

    /// Every waiting call (at the end of a run).
    pub fn take_all(&self) -> Vec<Waiting> {
        let Ok(mut h) = self.held.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(w) = h.pop_oldest() {
            out.push(w);
        }
        self.update_oldest(&mut h);
        out
    }

    fn update_oldest(&self, h: &mut Held) {
        h.trim();
        let oldest = match h.queue.front() {
            Some((_, Some(w))) => w.time,
            _ => i64::MAX,
        };
        self.oldest.store(oldest, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(key: &str, time: i64, size: usize) -> Waiting {
        Waiting {
            key: key.into(),
            origin: std::sync::Arc::from("test"),
            time,
            bytes: vec![b'x'; size],
            has_whitespace: false,
            ack: AckToken::detached(),
        }
    }

    fn times(ws: &[Waiting]) -> Vec<i64> {
        ws.iter().map(|w| w.time).collect()
    }

    fn ack_all(ws: Vec<Waiting>) {
        for w in ws {
            w.ack.ack();
        }
    }

    #[test]
    fn released_by_key_by_time_and_at_the_end() {
        let win = ReorderWindow::new(ReorderLimits {
            span_secs: 100,
            max_events: 10,
            max_bytes: 1000,
        });
        for (k, t) in [("A", 10), ("B", 20), ("A", 30), ("C", 40)] {
            assert!(win.hold(waiting(k, t, 1)).is_empty());
        }
        let a = win.take_key("A");
        assert_eq!(times(&a), vec![10, 30]);
        ack_all(a);
        assert!(win.take_key("A").is_empty());
        assert!(
            win.take_passed(100).is_empty(),
            "nothing is 100 s older than 100"
        );
        let passed = win.take_passed(125);
        assert_eq!(times(&passed), vec![20]);
        ack_all(passed);
        let rest = win.take_all();
        assert_eq!(times(&rest), vec![40]);
        ack_all(rest);
        assert!(win.is_empty());
    }

    #[test]
    fn count_and_byte_bounds_push_out_the_oldest() {
        let win = ReorderWindow::new(ReorderLimits {
            span_secs: 100,
            max_events: 3,
            max_bytes: 1000,
        });
        let mut out = Vec::new();
        for t in 0..5 {
            out.extend(win.hold(waiting("K", t, 10)));
        }
        assert_eq!(times(&out), vec![0, 1]);
        assert_eq!(win.len(), 3);
        ack_all(out);
        let win = ReorderWindow::new(ReorderLimits {
            span_secs: 100,
            max_events: 100,
            max_bytes: 25,
        });
        let mut out = Vec::new();
        for t in 0..4 {
            out.extend(win.hold(waiting("K", t, 10)));
        }
        assert_eq!(times(&out), vec![0, 1]);
        ack_all(out);
        ack_all(win.take_all());
    }
}
