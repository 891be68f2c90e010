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

/// A batch on its way to one sink, with that sink's share of the input's ack token.
pub struct SinkBatch {
    pub batch: Arc<Batch>,
    pub ack: AckToken,
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
