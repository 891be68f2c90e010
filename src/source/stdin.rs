//! The stdin source: the process's standard input as one blob, gzip or not, any envelope.

use std::sync::Arc;

use crate::blob::{AckToken, Blob, BlobInput};

/// The name stdin goes by in messages and the dead-letter output.
pub const STDIN_ORIGIN: &str = "stdin";

/// Standard input as a blob.
pub fn stdin_blob(ack: AckToken) -> Blob {
    Blob {
        origin: Arc::from(STDIN_ORIGIN),
        input: BlobInput::Stdin,
        size: None,
        ack,
    }
}
