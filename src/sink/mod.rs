//! Sinks: where ready output bytes go. Workers serialize; a sink only frames, batches and does
//! I/O, then acknowledges each batch it has safely handed on.

pub mod ndjson;

use std::sync::{Arc, Mutex};

use crate::blob::AckToken;

/// Serialized output: NDJSON lines of one input, in input order.
#[derive(Debug, Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub records: u64,
    /// Where the buffer goes back when the last sink is done with the batch.
    pub pool: Option<Arc<BufferPool>>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.give(std::mem::take(&mut self.bytes));
        }
    }
}

/// Batch buffers handed back by sinks for workers to fill again. A fresh megabyte buffer
/// costs a page fault per 4 KiB on first touch (measured: 5-8% of a replay); a reused one
/// costs none. Holds at most `max` buffers, so it adds at most `max` batches to memory.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    max: usize,
    /// Buffers grown larger than this (by a huge record) are dropped, not kept.
    max_capacity: usize,
}

impl BufferPool {
    pub fn new(max: usize, max_capacity: usize) -> Self {
        BufferPool {
            free: Mutex::new(Vec::with_capacity(max)),
            max,
            max_capacity,
        }
    }

    /// An empty buffer, reused when one is free.
    pub fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut f| f.pop())
            .unwrap_or_default()
    }

    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_capacity {
            return;
        }
        buf.clear();
        if let Ok(mut free) = self.free.lock() {
            if free.len() < self.max {
                free.push(buf);
            }
        }
    }
}

/// A batch on its way to one sink, with that sink's share of the ack token of every input
/// whose records it holds (its own input's, and those of records held back for attribution).
pub struct SinkBatch {
    pub batch: Arc<Batch>,
    pub acks: Vec<AckToken>,
}

impl SinkBatch {
    /// The sink has the batch safely: acknowledge every input's share.
    pub fn ack(self) {
        for a in self.acks {
            a.ack();
        }
    }
}

/// How a sink's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkOutcome {
    /// Every batch written.
    Done,
    /// The reader went away (`trailhose ... | head`): a graceful end, not an error.
    Closed,
    /// Writing failed; the message names the sink and the cause.
    Failed(String),
}
