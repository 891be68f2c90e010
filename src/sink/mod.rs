//! The sink contract: what a sink is given (batches of ready records, each with its byte range
//! and a few keys), what it answers for each record (delivered, retry, rejected), and how a
//! sink type plugs in (a config struct that validates itself and builds its sink). Delivery
//! semantics (retries, the Retry-After gate, rejection to the dead-letter output, acks) are
//! written once, in `delivery.rs`; a sink only frames, sends and reports.
//!
//! Adding a sink: a file here with its config struct (implementing [`SinkSpec`]) and its
//! [`Sink`], a variant in `config::SinkConfig` and a line in its `spec()`, and its README
//! section. Nothing else changes.

pub mod datadog;
pub mod delivery;
pub mod elasticsearch;
pub mod http;
pub mod http_endpoint;
pub mod intake;
pub mod kafka;
pub mod key_template;
pub mod line_file;
pub mod loggly;
pub mod ndjson;
pub mod retry;
pub mod scripted;
pub mod splunk_hec;

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::blob::AckToken;
use crate::transform::fields::{fraction_millis, parse_event_time};
use crate::transform::normalize::Format;

pub use delivery::{DeliverySettings, RequestConfig};

/// A future a sink returns; boxed so sinks can be trait objects.
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One sink type's config: validates itself and builds its sink. `config::SinkConfig` holds
/// one variant per type and hands out each as a `&dyn SinkSpec`.
pub trait SinkSpec: Send + Sync {
    /// The `type` in `[[sink]]`, e.g. `ndjson`.
    fn type_name(&self) -> &'static str;
    /// The configured `name`, if any (the id is `<type>_<n>` otherwise).
    fn name(&self) -> Option<&str>;
    /// The format its records are written in.
    fn format(&self) -> Format;
    /// Checks every value; `key` is how the config names this sink (`sink[0]`). Messages name
    /// the key, what is wrong and the fix.
    fn validate(&self, key: &str) -> Result<(), String>;
    /// How requests are sent: concurrency, timeout, retries. Default: one at a time, no
    /// timeout, retried with the default backoff and no budget.
    fn delivery(&self) -> DeliverySettings {
        DeliverySettings::default()
    }
    /// Whether it writes to this process's stdout (only one sink may).
    fn writes_stdout(&self) -> bool {
        false
    }
    /// Opens or connects what the sink needs. Runs before any input is read, so a bad path or
    /// address is a start-up error.
    fn build(&self, cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError>;
    /// Checks the destination can be reached, without writing to it: run at start (a failure
    /// is a warning; delivery retries) and by `validate --check-connectivity` (a failure is the
    /// error). Default: nothing to check.
    fn healthcheck(&self, _cx: &SinkContext) -> SinkFuture<'static, Result<(), SinkError>> {
        Box::pin(async { Ok(()) })
    }
    /// The file it writes, when it writes one it can resume (a crash-safe replay cuts it back
    /// to its committed length): none for streams and network sinks.
    fn file(&self) -> Option<std::path::PathBuf> {
        None
    }
}

/// What building a sink may use.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The sink's id: its config `name`, or `<type>_<n>`. The `sink` label of its metrics.
    pub id: Arc<str>,
    /// For a file sink with a committed length in the state directory: resume the file,
    /// cut back to that length, instead of starting it afresh.
    pub resume: Option<u64>,
}

/// A built sink. `deliver` is called with one request at a time per task, up to the sink's
/// `concurrency` at once; it answers for every record it was given.
pub trait Sink: Send + Sync + 'static {
    /// Sends the records `request` selects and says what became of them.
    fn deliver<'a>(&'a self, request: &'a Request) -> SinkFuture<'a, Response>;
    /// Runs after the last delivery: flush, sync, close connections.
    fn close(&self) -> SinkFuture<'_, Result<(), SinkError>> {
        Box::pin(async { Ok(()) })
    }
    /// Splits a batch into requests (ranges of record indexes); default: one request. HTTP
    /// sinks cut at their intake's per-request caps with [`split_by_caps`].
    fn requests(&self, batch: &Batch) -> Vec<Range<usize>> {
        std::iter::once(0..batch.len()).collect()
    }
    /// A record longer than this is rejected (dead-lettered) without being sent.
    fn max_record_bytes(&self) -> Option<usize> {
        None
    }
    /// Whether it reads records' keys (message keys, document ids): workers only extract
    /// them when some sink does.
    fn wants_keys(&self) -> bool {
        false
    }
    /// Where its output stands after the last delivery: a file's length. Committed with the
    /// delivered ids (`ledger.rs`); none for streams and network sinks.
    fn position(&self) -> Option<u64> {
        None
    }
}

/// What a request's delivery came to.
#[derive(Debug)]
pub enum Response {
    /// Every record of the request was delivered.
    Delivered,
    /// Nothing was delivered and all of it may be sent again (a connection error, a timeout,
    /// HTTP 429 or 5xx). `retry_after` is the server's `Retry-After`.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// One outcome per record of the request, in order (a bulk API's item results).
    PerRecord(Vec<RecordOutcome>),
    /// Sending cannot succeed by retrying (bad credentials, a disk error, the reader closed
    /// stdout): the run stops and the request's inputs stay unacknowledged.
    Fatal(SinkError),
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Delivered,
    /// Send it again (the server was busy for this item).
    Retry(String),
    /// It can never be delivered as it is (a 400 for this event, over a size cap): it goes to
    /// the dead-letter output with this reason and counts as done.
    Rejected(String),
}

/// Why a sink could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("sink {id}: cannot open {path}: {source}")]
    Open {
        id: String,
        path: String,
        source: std::io::Error,
    },
    /// A network client could not be made (a bad client property, say).
    #[error("{detail}")]
    Client { id: String, detail: String },
}

/// Why a sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing failed in a way retrying will not fix.
    #[error("writing to {target}: {source}")]
    Io {
        target: String,
        source: std::io::Error,
    },
    /// The reader went away (`trailhose ... | head`): a graceful end, not an error.
    #[error("the reader closed the output")]
    Closed,
    /// Retries went on past the sink's `retry_max_duration_secs`.
    #[error("still failing after retrying for {}s: {last}", .after.as_secs())]
    RetriesExhausted { after: Duration, last: String },
    /// The destination said no for good (bad credentials, a missing index).
    #[error("{0}")]
    Refused(String),
    /// The run is shutting down: retries were abandoned, the inputs stay unacknowledged.
    #[error("shutting down")]
    ShuttingDown,
    /// A bug: the sink's task panicked.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A record's keys, read once by the worker that wrote it: what sinks key, route and cap by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RecordKeys {
    /// Ranges in `BatchKeys::text`.
    event_id: (u32, u32),
    recipient_account_id: (u32, u32),
    aws_region: (u32, u32),
    event_source: (u32, u32),
    /// `eventTime` as Unix milliseconds; 0 when missing or unreadable.
    event_time_ms: i64,
}

/// The keys of one record, as text (empty when the record has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keys<'a> {
    pub event_id: &'a str,
    pub recipient_account_id: &'a str,
    pub aws_region: &'a str,
    pub event_source: &'a str,
    pub event_time_ms: i64,
}

impl<'a> Keys<'a> {
    /// Reads a parsed record's keys in one pass over its top-level members.
    pub fn read(record: simd_json::tape::Value<'a, 'a>) -> Keys<'a> {
        use simd_json::prelude::*;
        let mut keys = Keys::default();
        let Some(obj) = record.as_object() else {
            return keys;
        };
        for (key, value) in obj.iter() {
            let text = || value.into_string().unwrap_or("");
            match key {
                "eventID" => keys.event_id = text(),
                "recipientAccountId" => keys.recipient_account_id = text(),
                "awsRegion" => keys.aws_region = text(),
                "eventSource" => keys.event_source = text(),
                "eventTime" => {
                    let t = text();
                    keys.event_time_ms = parse_event_time(t)
                        .map_or(0, |secs| secs.saturating_mul(1000) + fraction_millis(t));
                }
                _ => {}
            }
        }
        keys
    }
}

/// The keys of a batch's records, in record order (empty when no sink wants keys).
#[derive(Debug, Default, Clone)]
pub struct BatchKeys {
    text: String,
    records: Vec<RecordKeys>,
}

impl BatchKeys {
    /// Appends one record's keys.
    pub fn push(&mut self, k: Keys<'_>) {
        let mut put = |s: &str| {
            let start = self.text.len() as u32;
            self.text.push_str(s);
            (start, self.text.len() as u32)
        };
        let record = RecordKeys {
            event_id: put(k.event_id),
            recipient_account_id: put(k.recipient_account_id),
            aws_region: put(k.aws_region),
            event_source: put(k.event_source),
            event_time_ms: k.event_time_ms,
        };
        self.records.push(record);
    }

    /// The keys of record `i`.
    pub fn get(&self, i: usize) -> Option<Keys<'_>> {
        let r = self.records.get(i)?;
        let s = |(a, b): (u32, u32)| self.text.get(a as usize..b as usize).unwrap_or("");
        Some(Keys {
            event_id: s(r.event_id),
            recipient_account_id: s(r.recipient_account_id),
            aws_region: s(r.aws_region),
            event_source: s(r.event_source),
            event_time_ms: r.event_time_ms,
        })
    }
}

/// Serialized output: records of one format, each one NDJSON line, in input order, with each
/// line's end, the records' keys (when some sink wants them) and their inputs' names.
#[derive(Debug, Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    /// Where each record's line ends in `bytes` (after its newline).
    pub ends: Vec<usize>,
    pub keys: BatchKeys,
    /// `(first record index, origin)`: the input each run of records came from (a batch holds
    /// one input's records, plus records held back for attribution from others).
    pub origins: Vec<(usize, Arc<str>)>,
    /// Where the buffer goes back when the last sink is done with the batch.
    pub pool: Option<Arc<BufferPool>>,
}

impl Batch {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The byte range of record `i`'s line (with its newline).
    pub fn range(&self, i: usize) -> Range<usize> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        start..self.ends[i]
    }

    /// Record `i`'s line, with its newline.
    pub fn line(&self, i: usize) -> &[u8] {
        &self.bytes[self.range(i)]
    }

    /// Record `i`'s JSON, without its newline.
    pub fn record(&self, i: usize) -> &[u8] {
        let line = self.line(i);
        line.strip_suffix(b"\n").unwrap_or(line)
    }

    /// The input record `i` came from.
    pub fn origin(&self, i: usize) -> &str {
        let at = self.origins.partition_point(|(first, _)| *first <= i);
        at.checked_sub(1)
            .and_then(|j| self.origins.get(j))
            .map_or("", |(_, o)| o)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.give(std::mem::take(&mut self.bytes));
        }
    }
}

/// Cuts records `0..n` into consecutive ranges of at most `max_records` records and
/// `max_bytes` bytes (as `size` counts them; a single record over `max_bytes` gets a range of
/// its own, for the sink's size check to reject).
pub fn split_by_caps(
    n: usize,
    max_records: usize,
    max_bytes: usize,
    size: impl Fn(usize) -> usize,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for i in 0..n {
        let s = size(i);
        if i > start && (i - start >= max_records || bytes + s > max_bytes) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += s;
    }
    if start < n {
        out.push(start..n);
    }
    out
}

/// The records one request carries: a range of a batch, or (when retrying part of one) a list.
#[derive(Debug, Clone)]
pub enum Selection {
    Range(Range<usize>),
    List(Vec<usize>),
}

/// One request: some records of a batch.
#[derive(Debug, Clone)]
pub struct Request {
    pub batch: Arc<Batch>,
    pub records: Selection,
}

impl Request {
    /// How many records it carries.
    pub fn len(&self) -> usize {
        match &self.records {
            Selection::Range(r) => r.len(),
            Selection::List(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch indexes of its records, in order.
    pub fn indexes(&self) -> Box<dyn Iterator<Item = usize> + Send + '_> {
        match &self.records {
            Selection::Range(r) => Box::new(r.clone()),
            Selection::List(l) => Box::new(l.iter().copied()),
        }
    }

    /// Its records' lines as one slice, when they are contiguous in the batch (the common
    /// case: a whole batch), so a stream sink writes them in one call.
    pub fn contiguous_lines(&self) -> Option<&[u8]> {
        match &self.records {
            Selection::Range(r) if r.is_empty() => Some(&[]),
            Selection::Range(r) => {
                let start = self.batch.range(r.start).start;
                Some(&self.batch.bytes[start..self.batch.ends[r.end - 1]])
            }
            Selection::List(_) => None,
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

    /// Keeps `buf` (emptied) for the next `take`, if the pool has room and it is not oversized.
    pub fn give(&self, mut buf: Vec<u8>) {
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
    /// Every record is delivered or dead-lettered: acknowledge every input's share.
    pub fn ack(self) {
        for a in self.acks {
            a.ack();
        }
    }
}

/// How a sink's run ended.
#[derive(Debug)]
pub enum SinkOutcome {
    /// Every batch delivered (or its rejected records dead-lettered).
    Done,
    /// The reader went away (`trailhose ... | head`): a graceful end, not an error.
    Closed,
    /// Delivery failed; the run stops with exit code 3.
    Failed(SinkError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(lines: &[&str]) -> Batch {
        let mut b = Batch::default();
        for l in lines {
            b.bytes.extend_from_slice(l.as_bytes());
            b.bytes.push(b'\n');
            b.ends.push(b.bytes.len());
        }
        b
    }

    #[test]
    fn records_and_origins_by_index() {
        let mut b = batch(&["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
        b.origins = vec![(0, Arc::from("x.json")), (2, Arc::from("y.json"))];
        assert_eq!(b.record(1), b"{\"b\":2}");
        assert_eq!(b.line(2), b"{\"c\":3}\n");
        assert_eq!(
            [b.origin(0), b.origin(1), b.origin(2)],
            ["x.json", "x.json", "y.json"]
        );
        let b = Arc::new(b);
        let whole = Request {
            batch: b.clone(),
            records: Selection::Range(1..3),
        };
        assert_eq!(
            whole.contiguous_lines(),
            Some(&b"{\"b\":2}\n{\"c\":3}\n"[..])
        );
        let some = Request {
            batch: b,
            records: Selection::List(vec![0, 2]),
        };
        assert_eq!(some.contiguous_lines(), None);
        assert_eq!(some.indexes().collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn keys_round_trip() {
        let mut k = BatchKeys::default();
        let a = Keys {
            event_id: "e-1",
            recipient_account_id: "111122223333",
            aws_region: "us-east-1",
            event_source: "s3.amazonaws.com",
            event_time_ms: 1_700_000_000_000,
        };
        k.push(a);
        k.push(Keys { event_id: "", ..a });
        assert_eq!(k.get(0), Some(a));
        assert_eq!(k.get(1).map(|k| k.event_id), Some(""));
        assert_eq!(k.get(2), None);
    }

    #[test]
    fn keys_are_read_from_the_record() {
        let mut json = br#"{"eventVersion":"1.08","eventTime":"2024-01-05T10:00:01.25Z","eventSource":"s3.amazonaws.com","awsRegion":"eu-west-1","eventID":"e-1","requestParameters":{"eventID":"not this"},"recipientAccountId":"111122223333"}"#.to_vec();
        let tape = simd_json::to_tape(&mut json).unwrap();
        let k = Keys::read(tape.as_value());
        assert_eq!(
            k,
            Keys {
                event_id: "e-1",
                recipient_account_id: "111122223333",
                aws_region: "eu-west-1",
                event_source: "s3.amazonaws.com",
                event_time_ms: 1_704_448_801_250,
            }
        );
        let mut none = b"{\"eventTime\":\"yesterday\"}".to_vec();
        let tape = simd_json::to_tape(&mut none).unwrap();
        assert_eq!(Keys::read(tape.as_value()), Keys::default());
    }

    #[test]
    fn caps_split_by_count_and_bytes() {
        let sizes = [10, 10, 10, 50, 10, 10];
        let got = split_by_caps(sizes.len(), 2, 25, |i| sizes[i]);
        assert_eq!(got, vec![0..2, 2..3, 3..4, 4..6]);
        assert_eq!(split_by_caps(0, 2, 25, |_| 1), Vec::<Range<usize>>::new());
    }
}
