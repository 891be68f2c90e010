//! The ledger: what the sinks have, ready to be committed to the state directory with the
//! source's position in one atomic write (`state.rs`), so a restart resumes from a state in
//! which the three agree:
//!
//! - the event ids delivered (a second dedupe table, fed only once every sink has a batch, so
//!   an event still in flight is never remembered: a restart reads its input again and the
//!   dedupe table lets through exactly the events the sinks do not have);
//! - each file sink's length after the last batch it delivered (a restart cuts the file back
//!   to it, removing what was written after the commit, whose events are not remembered);
//! - which inputs are done (`source::progress`, updated by the inputs' ack tokens).
//!
//! A sink's batch is acknowledged under the ledger's lock, with its length, so a commit sees
//! a batch's length, its ids and its inputs' acks all or none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::source::progress::InputProgress;
use crate::transform::dedupe::{DedupeConfig, DedupeTable};

/// A remembered event: its dedupe key and event time (seconds since the epoch).
pub type EventKey = ([u64; 2], i64);

/// What was delivered, since the run began (and, restored, before it).
pub struct Ledger {
    /// Each sink's length after its last delivered batch (`None`: not a file).
    positions: Mutex<Vec<Option<u64>>>,
    /// The events every sink has; none when dedupe is off.
    delivered: Option<DedupeTable>,
    /// Set when something changed since the last commit.
    dirty: AtomicBool,
}

/// One consistent view of the ledger and the source's progress.
pub struct Snapshot {
    pub positions: Vec<Option<u64>>,
    pub source: Option<serde_json::Value>,
    pub delivered: Vec<EventKey>,
}

impl Ledger {
    /// A ledger for sinks starting at `positions`; remembers delivered ids when `dedupe` is on.
    pub fn new(positions: Vec<Option<u64>>, dedupe: Option<&DedupeConfig>) -> Self {
        Ledger {
            positions: Mutex::new(positions),
            delivered: dedupe.map(DedupeTable::new),
            dirty: AtomicBool::new(false),
        }
    }

    /// Whether batches should carry their events' keys.
    pub fn wants_keys(&self) -> bool {
        self.delivered.is_some()
    }

    /// Remembers events a previous run delivered (loaded from the state directory).
    pub fn restore(&self, keys: &[EventKey]) {
        if let Some(d) = &self.delivered {
            d.restore(keys);
        }
    }

    /// Every sink has these events (called by a batch's delivery token, under the lock taken
    /// by `batch_delivered`).
    pub fn delivered(&self, keys: &[EventKey]) {
        if let Some(d) = &self.delivered {
            for (id, time) in keys {
                d.seen_before(*id, *time);
            }
        }
    }

    /// Sink `sink` delivered a batch and now stands at `position`: records it and runs `ack`
    /// (which acknowledges the batch's shares, feeding `delivered` and the source's progress)
    /// under the lock, so a commit sees all of it or none.
    pub fn batch_delivered(&self, sink: usize, position: Option<u64>, ack: impl FnOnce()) {
        let mut positions = self.lock();
        if let (Some(slot), Some(p)) = (positions.get_mut(sink), position) {
            *slot = Some(p);
        }
        ack();
        self.dirty.store(true, Ordering::Release);
    }

    /// Notes a change made outside a sink's delivery (an input done with nothing to deliver).
    pub fn touch(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Whether anything changed since the last `take_dirty`.
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }

    /// A consistent view: no batch is acknowledged while it is taken.
    pub fn snapshot(&self, progress: Option<&InputProgress>) -> Snapshot {
        let positions = self.lock();
        Snapshot {
            positions: positions.clone(),
            source: progress.map(InputProgress::to_value),
            delivered: self
                .delivered
                .as_ref()
                .map(DedupeTable::entries)
                .unwrap_or_default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Option<u64>>> {
        self.positions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_571_200;

    #[test]
    fn a_snapshot_holds_a_batch_whole_or_not_at_all() {
        let ledger = std::sync::Arc::new(Ledger::new(
            vec![Some(0), None],
            Some(&DedupeConfig::default()),
        ));
        let progress = std::sync::Arc::new(InputProgress::new("dir:/x".into()));
        progress.started("", "a", 0);
        // While sink 0 acknowledges a batch (position 100, ids 1 and 2, input a done), a
        // snapshot taken from another thread waits for all of it.
        let (l, p) = (ledger.clone(), progress.clone());
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let acker = std::thread::spawn(move || {
            l.batch_delivered(0, Some(100), || {
                entered_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                l.delivered(&[([1, 1], T), ([2, 2], T)]);
                p.finished("", "a", true);
            })
        });
        entered_rx.recv().unwrap();
        let (l, p) = (ledger.clone(), progress.clone());
        let snapper = std::thread::spawn(move || l.snapshot(Some(&p)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        go_tx.send(()).unwrap();
        acker.join().unwrap();
        let snap = snapper.join().unwrap();
        assert_eq!(snap.positions, vec![Some(100), None]);
        assert_eq!(snap.delivered.len(), 2);
        let restored = InputProgress::new("dir:/x".into());
        restored.load_value(snap.source.unwrap()).unwrap();
        assert!(restored.already_done("", "a"));
        assert!(ledger.take_dirty() && !ledger.take_dirty());
    }

    #[test]
    fn without_dedupe_no_ids_are_kept() {
        let ledger = Ledger::new(vec![None], None);
        assert!(!ledger.wants_keys());
        ledger.delivered(&[([1, 1], T)]);
        assert!(ledger.snapshot(None).delivered.is_empty());
    }
}
