//! Sinks: where ready output bytes go. Workers serialize; a sink only frames, batches and does
//! I/O, then acknowledges each batch it has safely handed on.

pub mod ndjson;

use std::sync::Arc;

use crate::blob::AckToken;

/// Serialized output: NDJSON lines of one input, in input order.
#[derive(Debug, Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub records: u64,
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
