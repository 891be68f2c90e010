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
    /// Bytes arriving from a network fetch (an S3 object), read as they come.
    Stream(StreamInput),
    /// Messages (from Kafka), each a whole input of its own, decoded one after the other:
    /// many small messages share one blob, so the cost per blob is paid per many.
    Messages(Arc<Vec<Message>>),
}

/// One message of a `Messages` blob.
#[derive(Debug)]
pub struct Message {
    /// Names the message (`kafka:topic/partition@offset`) in origins and errors.
    pub origin: Arc<str>,
    pub bytes: Vec<u8>,
}

impl BlobInput {
    /// Opens the input for reading.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            BlobInput::File(path) => Ok(Box::new(File::open(path)?)),
            BlobInput::Stdin => Ok(Box::new(io::stdin())),
            BlobInput::Stream(s) => s.take(),
            // Each message is an input of its own: the worker decodes them one by one.
            BlobInput::Messages(_) => Err(io::Error::other("messages are read one by one")),
        }
    }
}

/// The receiving end of a fetch: chunks in order, then the end (or an error). The channel is
/// bounded, so a fetch runs at most a few chunks ahead of the worker reading it and no object
/// is ever held whole.
#[derive(Clone)]
pub struct StreamInput {
    reader: Arc<Mutex<Option<ChunkReader>>>,
    /// Set when the transport failed (a GET or the body's read): the bytes read are not the
    /// object's, whatever the decoder made of them, so the input must not be acknowledged.
    transport_failed: Arc<AtomicBool>,
}

impl std::fmt::Debug for StreamInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamInput")
    }
}

impl StreamInput {
    pub fn new(chunks: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>) -> Self {
        let transport_failed = Arc::new(AtomicBool::new(false));
        StreamInput {
            reader: Arc::new(Mutex::new(Some(ChunkReader {
                chunks,
                current: bytes::Bytes::new(),
                failed: transport_failed.clone(),
            }))),
            transport_failed,
        }
    }

    /// Whether fetching the bytes failed (see the field).
    pub fn transport_failed(&self) -> bool {
        self.transport_failed.load(Ordering::Acquire)
    }

    fn take(&self) -> io::Result<Box<dyn Read + Send>> {
        self.reader
            .lock()
            .ok()
            .and_then(|mut r| r.take())
            .map(|r| Box::new(r) as Box<dyn Read + Send>)
            .ok_or_else(|| io::Error::other("stream already read"))
    }
}

/// Reads chunks off a fetch's channel, blocking the (worker) thread until the next arrives.
struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
    failed: Arc<AtomicBool>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => {
                    self.failed.store(true, Ordering::Release);
                    return Err(e);
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
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
    fn a_failed_fetch_is_marked_and_reported_to_the_reader() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let input = StreamInput::new(rx);
        tx.try_send(Ok(bytes::Bytes::from_static(b"abc"))).unwrap();
        tx.try_send(Err(io::Error::other("GET failed"))).unwrap();
        let mut reader = BlobInput::Stream(input.clone()).open().unwrap();
        let mut got = Vec::new();
        let err = reader.read_to_end(&mut got).unwrap_err();
        assert_eq!(got, b"abc");
        assert!(err.to_string().contains("GET failed"));
        assert!(input.transport_failed());
        // A stream read to its end is not marked; and it can be opened only once.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let ok = StreamInput::new(rx);
        tx.try_send(Ok(bytes::Bytes::from_static(b"x"))).unwrap();
        drop(tx);
        let mut all = Vec::new();
        BlobInput::Stream(ok.clone())
            .open()
            .unwrap()
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(all, b"x");
        assert!(!ok.transport_failed());
        assert!(BlobInput::Stream(ok).open().is_err());
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
