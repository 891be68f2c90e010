//! Run-wide counters for the progress line, the closing summary and the exit code. Metrics are
//! emitted beside them (per input, not per record); these are what the process itself reads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by every stage of one run.
#[derive(Debug, Default)]
pub struct RunStats {
    /// Inputs handed to the workers.
    pub inputs_started: AtomicU64,
    /// Inputs finished, acknowledged or not.
    pub inputs_done: AtomicU64,
    /// Inputs whose every record every sink delivered (or dead-lettered, or that were dropped).
    pub inputs_acked: AtomicU64,
    /// How many inputs there are in all, once known (0 until then).
    pub inputs_known: AtomicU64,
    /// Total compressed bytes of the inputs, once known (0 until then).
    pub input_bytes_known: AtomicU64,
    pub compressed_bytes: AtomicU64,
    pub decompressed_bytes: AtomicU64,
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    /// Records dropped on purpose by a filter.
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    pub skipped: AtomicU64,
    /// Files and folders a directory walk passed over (hidden, empty).
    pub inputs_skipped: AtomicU64,
    /// Inputs an earlier run finished (the state directory's checkpoint): not read again.
    pub inputs_done_before: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Records a sink rejected (each in the dead-letter output when there is one).
    pub rejected: AtomicU64,
    /// Threads that panicked (a bug): the run fails, their inputs stay unacknowledged.
    pub panics: AtomicU64,
}

impl RunStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
