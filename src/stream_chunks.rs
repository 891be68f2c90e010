//! The pipelined decode of one stream: the worker reading a stream (stdin, a large file or
//! object) inflates and splits it, the one serial part, and hands record-bounded chunks of
//! items to every worker to parse, enrich and serialize; each chunk's batches reach the sinks
//! in the stream's order. This file holds the hand-off: the chunks, the queue they wait in,
//! and the per-stream order their output is sent in. The worker (`worker.rs`) does the work.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use crate::blob::AckToken;
use crate::decode::{ChunkItem, ForwardedItem};
use crate::sink::SinkBatch;
use crate::worker::InputErrors;

/// A chunk is handed on once it holds this many bytes of items (or sooner, before a read that
/// may block). Small enough that every worker gets some of a stream, large enough that the
/// hand-off costs nothing next to decoding it.
pub const CHUNK_BYTES: usize = 512 * 1024;

/// One batch for every sink, in the order of `WorkerShared::sinks`.
pub type Outgoing = Vec<SinkBatch>;

/// Items of one stream, copied out of its read buffer, to be decoded by any worker.
pub struct ChunkJob {
    /// Its place in the stream's output order.
    pub seq: u64,
    pub order: Arc<StreamOrder>,
    pub origin: Arc<str>,
    /// A share of the stream's ack token: the stream is acknowledged once every chunk is.
    pub ack: AckToken,
    /// The stream's error count, shared with its reader and its other chunks.
    pub errors: Arc<InputErrors>,
    pub bytes: Vec<u8>,
    pub items: Vec<ChunkItem>,
}

/// Fills one chunk from a stream's split items.
#[derive(Default)]
pub struct ChunkBuilder {
    bytes: Vec<u8>,
    items: Vec<ChunkItem>,
    next_seq: u64,
}

impl ChunkBuilder {
    /// Copies an item in; true when the chunk is full and should be handed on.
    pub fn push(&mut self, item: &ForwardedItem<'_>) -> bool {
        if self.bytes.capacity() == 0 {
            self.bytes.reserve(CHUNK_BYTES + item.bytes.len());
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(item.bytes);
        self.items.push(ChunkItem {
            kind: item.kind,
            start,
            end: self.bytes.len(),
            offset: item.offset,
            has_whitespace: item.has_whitespace,
        });
        self.bytes.len() >= CHUNK_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes the chunk as a job, numbered in stream order.
    pub fn take(
        &mut self,
        order: &Arc<StreamOrder>,
        origin: &Arc<str>,
        ack: &AckToken,
        errors: &Arc<InputErrors>,
    ) -> ChunkJob {
        let seq = self.next_seq;
        self.next_seq += 1;
        ChunkJob {
            seq,
            order: order.clone(),
            origin: origin.clone(),
            ack: ack.clone(),
            errors: errors.clone(),
            bytes: std::mem::take(&mut self.bytes),
            items: std::mem::take(&mut self.items),
        }
    }
}

/// Where chunks wait for a worker: one queue for all streams, and how many workers may still
/// read a stream (a worker out of blobs keeps helping until none may).
pub struct ChunkQueue {
    pub tx: Sender<ChunkJob>,
    pub rx: Receiver<ChunkJob>,
    /// Workers still taking blobs. Not "streams open": a worker that has just taken a stdin
    /// blob has not opened it yet, and the others must not leave in that moment.
    taking_blobs: AtomicUsize,
    /// Whether streams are pipelined at all: with one worker there is nobody to hand to.
    pub enabled: bool,
    /// How many chunks of one stream may be in flight (see `StreamOrder`).
    pub in_flight: usize,
}

/// Chunks of one stream in flight per worker: enough that every worker has one while the next
/// waits, few enough to keep a stream's memory small.
const CHUNKS_IN_FLIGHT_PER_WORKER: usize = 2;

impl ChunkQueue {
    /// The queue itself is unbounded: each stream's permits (`StreamOrder`) bound what it holds.
    pub fn new(workers: usize) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        ChunkQueue {
            tx,
            rx,
            taking_blobs: AtomicUsize::new(workers),
            enabled: workers > 1,
            in_flight: CHUNKS_IN_FLIGHT_PER_WORKER * workers + 2,
        }
    }

    /// This worker takes blobs until the guard is dropped (a panic included).
    pub fn taking_blobs(&self) -> TakingBlobs<'_> {
        TakingBlobs(self)
    }

    /// Whether some worker may still read a stream and hand on chunks.
    pub fn may_get_chunks(&self) -> bool {
        self.taking_blobs.load(Ordering::Acquire) > 0 || !self.rx.is_empty()
    }
}

/// Counts a worker as taking blobs while it lives (see `ChunkQueue::taking_blobs`).
pub struct TakingBlobs<'a>(&'a ChunkQueue);

impl Drop for TakingBlobs<'_> {
    fn drop(&mut self) {
        self.0.taking_blobs.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One stream's output order: chunks are decoded in any order by any worker, and their batches
/// sent to the sinks in stream order by whichever worker finishes the next one due.
pub struct StreamOrder {
    state: Mutex<OrderState>,
    /// One slot per chunk in flight (queued, decoding, or decoded and waiting its turn), taken by
    /// the reader before it hands a chunk on and given back once its batches are sent: this
    /// bounds the stream's memory, and a slow sink slows the reader.
    permits_tx: Sender<()>,
    permits_rx: Receiver<()>,
}

#[derive(Default)]
struct OrderState {
    /// The chunk whose output goes next.
    next: u64,
    /// Outputs decoded ahead of their turn.
    ready: BTreeMap<u64, Vec<Outgoing>>,
    /// A worker is sending (outside the lock): others leave their output for it.
    sending: bool,
}

impl StreamOrder {
    /// `in_flight`: how many chunks may be out at once.
    pub fn new(in_flight: usize) -> Self {
        let (permits_tx, permits_rx) = crossbeam_channel::bounded(in_flight.max(1));
        StreamOrder {
            state: Mutex::new(OrderState::default()),
            permits_tx,
            permits_rx,
        }
    }

    /// The sender a reader takes a permit with (a send that blocks while all are out).
    pub fn permits(&self) -> &Sender<()> {
        &self.permits_tx
    }

    /// Chunk `seq`'s batches are ready (empty when it produced none, or was abandoned): sends
    /// them, and every later chunk's already waiting, when their turn has come.
    pub fn deposit(&self, seq: u64, outputs: Vec<Outgoing>, send: &mut dyn FnMut(Outgoing)) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.ready.insert(seq, outputs);
        if state.sending {
            return;
        }
        state.sending = true;
        loop {
            let due = state.next;
            let Some(outputs) = state.ready.remove(&due) else {
                state.sending = false;
                return;
            };
            state.next += 1;
            drop(state);
            for outgoing in outputs {
                send(outgoing);
            }
            let _ = self.permits_rx.try_recv();
            state = match self.state.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(tag: usize) -> Vec<Outgoing> {
        // An empty sink list stands for a chunk's output; its length tags it.
        vec![Vec::with_capacity(tag)]
    }

    #[test]
    fn outputs_are_sent_in_stream_order_whatever_order_they_finish_in() {
        let order = StreamOrder::new(8);
        for _ in 0..4 {
            order.permits().send(()).unwrap();
        }
        let mut sent = Vec::new();
        for seq in [2u64, 0, 3, 1] {
            order.deposit(seq, outgoing(seq as usize + 10), &mut |o| {
                sent.push(o.capacity())
            });
            match seq {
                2 => assert!(sent.is_empty(), "chunk 2 waits for 0 and 1"),
                0 => assert_eq!(sent, vec![10]),
                3 => assert_eq!(sent, vec![10], "chunk 3 waits for 1"),
                _ => assert_eq!(sent, vec![10, 11, 12, 13]),
            }
        }
        // Every permit came back with its chunk's output.
        assert!(order.permits_rx.is_empty());
    }

    #[test]
    fn a_chunk_is_cut_at_its_size_and_numbered() {
        let mut b = ChunkBuilder::default();
        let record = vec![b'x'; CHUNK_BYTES / 2];
        let item = ForwardedItem {
            kind: crate::decode::split::ItemKind::Record,
            bytes: &record,
            offset: 7,
            has_whitespace: false,
        };
        assert!(!b.push(&item));
        assert!(b.push(&item), "full at CHUNK_BYTES");
        let (order, origin) = (Arc::new(StreamOrder::new(2)), Arc::<str>::from("o"));
        let (ack, errors) = (
            AckToken::detached(),
            Arc::new(InputErrors::new(origin.clone())),
        );
        let job = b.take(&order, &origin, &ack, &errors);
        ack.ack();
        assert_eq!(
            (job.seq, job.items.len(), job.items[1].start),
            (0, 2, CHUNK_BYTES / 2)
        );
        assert!(b.is_empty());
        assert_eq!(
            b.take(&order, &origin, &AckToken::detached(), &errors).seq,
            1
        );
        job.ack.ack();
    }
}
