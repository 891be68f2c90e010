//! Blobs and ack tokens: a unit of input with its origin, and the token that tells its source
//! when every event it held is safe in every sink (or deliberately dropped). Owns no I/O beyond
//! opening the input it names.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where a blob's bytes come from; opened by the worker that decodes it.
#[derive(Debug, Clone)]
pub enum BlobInput {
    File(PathBuf),
    Stdin,
}

impl BlobInput {
    /// Opens the input for reading.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            BlobInput::File(path) => Ok(Box::new(File::open(path)?)),
            BlobInput::Stdin => Ok(Box::new(io::stdin())),
        }
    }
}

/// One input: its bytes' source, a name for messages, and its ack token.
pub struct Blob {
    /// A file path, `stdin`, later an S3 key or a Kafka partition/offset.
    pub origin: Arc<str>,
    pub input: BlobInput,
    /// Compressed size when known (for progress).
    pub size: Option<u64>,
    pub ack: AckToken,
}

type AckCallback = Box<dyn FnOnce(bool) + Send>;

struct AckState {
    failed: AtomicBool,
    on_done: Mutex<Option<AckCallback>>,
}

impl Drop for AckState {
    fn drop(&mut self) {
        let ok = !self.failed.load(Ordering::Acquire);
        if let Ok(mut slot) = self.on_done.lock() {
            if let Some(done) = slot.take() {
                done(ok);
            }
        }
    }
}

/// A share of a blob's acknowledgement. The worker holds one while decoding and every batch
/// sent to every sink carries a clone; when the last share is gone the source is told whether
/// all of them were acknowledged (`ack`) or some were dropped unacknowledged (a failure).
/// That one rule gives at-least-once delivery: a source position advances only on success.
pub struct AckToken {
    state: Arc<AckState>,
    acked: bool,
}

impl AckToken {
    /// A new token; `on_done(all_acked)` runs once, when the last share is gone.
    pub fn new(on_done: impl FnOnce(bool) + Send + 'static) -> Self {
        AckToken {
            state: Arc::new(AckState {
                failed: AtomicBool::new(false),
                on_done: Mutex::new(Some(Box::new(on_done))),
            }),
            acked: false,
        }
    }

    /// A token nobody waits for.
    pub fn detached() -> Self {
        Self::new(|_| {})
    }

    /// This share's work is done and safe.
    pub fn ack(mut self) {
        self.acked = true;
    }
}

impl Clone for AckToken {
    /// A new, unacknowledged share of the same blob.
    fn clone(&self) -> Self {
        AckToken {
            state: self.state.clone(),
            acked: false,
        }
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        if !self.acked {
            self.state.failed.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn done_once_all_shares_ack() {
        let (tx, rx) = mpsc::channel();
        let root = AckToken::new(move |ok| tx.send(ok).unwrap());
        let a = root.clone();
        let b = root.clone();
        root.ack();
        a.ack();
        assert!(rx.try_recv().is_err(), "one share is still out");
        b.ack();
        assert_eq!(rx.try_recv(), Ok(true));
    }

    #[test]
    fn a_dropped_share_fails_the_blob() {
        let (tx, rx) = mpsc::channel();
        let root = AckToken::new(move |ok| tx.send(ok).unwrap());
        let a = root.clone();
        root.ack();
        drop(a);
        assert_eq!(rx.try_recv(), Ok(false));
    }
}
