//! The stdin source: the process's standard input as one blob, gzip or not, any envelope.
//! It is read as it arrives (`BlobInput::Stdin` is a live input: batches go out before each
//! read that may block), so trailhose works as a sidecar between two pipes.

/// The name stdin goes by in messages and the dead-letter output.
pub const STDIN_ORIGIN: &str = "stdin";
