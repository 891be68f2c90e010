//! The decode worker: takes whole blobs off the blob channel and runs each, on this one
//! thread, from gunzip to serialized batches handed to every sink. One worker per core; no
//! per-event hand-off between threads.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IsTerminal, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use simd_json::tape::Value;
use tokio::sync::mpsc::Sender;

use crate::blob::{AckToken, Blob, BlobInput, Message};
use crate::dead_letter::DeadLetterWriter;
use crate::decode::numbers::reread_numbers;
use crate::decode::parse::RecordParser;
use crate::decode::split::SplitLimits;
use crate::decode::{
    BlobDecoder, DecodeError, ErrorKind, ForwardedItem, Record, RecordOutput, Skipped,
};
use crate::ledger::{EventKey, Ledger};
use crate::metrics as m;
use crate::sink::{Batch, BatchKeys, BufferPool, Keys, SinkBatch};
use crate::stats::RunStats;
use crate::stream_chunks::{ChunkBuilder, ChunkJob, ChunkQueue, Outgoing, StreamOrder};
use crate::transform::attribution::Actor;
use crate::transform::attribution::{event_time, issued_key, AttributionTable, Method};
use crate::transform::dedupe::{event_id_bits, DedupeTable};
use crate::transform::ecs::write_ecs_line;
use crate::transform::enrich::{source_of, write_enrichment};
use crate::transform::fields::{clean_json_text, RecordView};
use crate::transform::filter::DropReason;
use crate::transform::filter::FilterConfig;
use crate::transform::geoip::GeoIp;
use crate::transform::noise::{classify_noise, Noise};
use crate::transform::normalize::{Findings, Format, NormalizeConfig, Scratch};
use crate::transform::ocsf::write_ocsf_line;
use crate::transform::raw::{write_enriched_line, write_raw_line};
use crate::transform::reorder::{ReorderWindow, Waiting};
use crate::transform::resources::extract_resources;
use crate::transform::trail_fields::TrailFields;

/// How many error messages are printed in a run before the rest only go to metrics and dead
/// letters, and how many per input (a corrupt input can yield hundreds of garbled records).
const PRINTED_ERRORS: u64 = 100;
const PRINTED_ERRORS_PER_INPUT: u64 = 3;

/// The errors of one input, counted across every chunk its decode was split into (a stream's
/// chunks are decoded on all workers), so the first few are printed and the rest are summed
/// once for the input, not once per chunk. The sum is printed when the last holder is done
/// with the input: the reader and every chunk hold one.
pub struct InputErrors {
    origin: Arc<str>,
    count: AtomicU64,
}

impl InputErrors {
    pub fn new(origin: Arc<str>) -> Self {
        InputErrors {
            origin,
            count: AtomicU64::new(0),
        }
    }
}

impl Drop for InputErrors {
    fn drop(&mut self) {
        let errors = *self.count.get_mut();
        if errors > PRINTED_ERRORS_PER_INPUT {
            eprintln!(
                "trailhose: error: {}: {} more errors in this input (all in the dead-letter output and trailhose_errors_total)",
                self.origin,
                errors - PRINTED_ERRORS_PER_INPUT
            );
        }
    }
}

/// What every worker shares.
pub struct WorkerShared {
    pub stats: Arc<RunStats>,
    pub sinks: Vec<Sender<SinkBatch>>,
    pub dead_letter: Option<Arc<DeadLetterWriter>>,
    /// Set when the run must end at once (a sink went away, a fatal error, a drain past its
    /// time): reads are cut short.
    pub stop: Arc<AtomicBool>,
    /// Set when the run takes no new work (a signal): no new input is started, and stdin
    /// (which has no end) is cut at the next read.
    pub draining: Arc<AtomicBool>,
    /// With a state directory: where delivered event ids are remembered.
    pub ledger: Option<Arc<Ledger>>,
    pub batch_bytes: usize,
    pub limits: SplitLimits,
    pub printed_errors: AtomicU64,
    /// Whether a progress line is being drawn on stderr (errors must clear it first).
    pub progress_on_stderr: bool,
    /// Add the `enrichment` object to each record.
    pub enrich: bool,
    /// Temporary keys and who they stand for (shared by all workers).
    pub attribution: Arc<AttributionTable>,
    /// Calls waiting for their key's issuing event (shared by all workers).
    pub window: Arc<ReorderWindow>,
    /// The GeoIP/ASN databases, when configured.
    pub geoip: Option<Arc<GeoIp>>,
    /// The `eventID`s seen, when dedupe is on (shared by all workers).
    pub dedupe: Option<Arc<DedupeTable>>,
    /// Which records to drop.
    pub filter: FilterConfig,
    /// The formats some sink asks for, each once; every record is written in each.
    pub formats: Vec<Format>,
    /// Each sink's format, as an index into `formats`.
    pub sink_formats: Vec<usize>,
    /// How `ecs` and `ocsf` are written.
    pub normalize: NormalizeConfig,
    /// Whether some sink takes `ecs` or `ocsf`.
    pub normalized: bool,
    /// Batch buffers to reuse.
    pub buffers: Arc<BufferPool>,
    /// Whether some sink reads records' keys (they are extracted only then).
    pub wants_keys: bool,
    /// Chunks of streams being read, for any worker to decode (see `stream_chunks`).
    pub chunks: ChunkQueue,
}

impl WorkerShared {
    /// Whether records must be looked into (a tape is needed) rather than copied as they are.
    fn needs_fields(&self) -> bool {
        self.enrich || self.filter.is_active() || self.dedupe.is_some() || self.normalized
    }
}

/// What enrichment found about one record, for the formats to write.
struct Enriched<'r, 'v> {
    view: &'r RecordView<'v>,
    actor: &'r Actor,
    noise: &'r Noise,
}

/// Decodes blobs until the channel closes or the run is stopped, and chunks of streams other
/// workers are reading: those first, as their stream's output and memory wait on them.
pub fn run_worker(blobs: Receiver<Blob>, shared: Arc<WorkerShared>) {
    let mut decoder = BlobDecoder::new(shared.limits);
    // Chunks are decoded with a decoder of their own: a reader helps with chunks while it is
    // inside its stream's decode.
    let mut helper = BlobDecoder::new(shared.limits);
    let mut whole = Vec::new();
    let queue = &shared.chunks;
    let taking_blobs = queue.taking_blobs();
    loop {
        if let Ok(job) = queue.rx.try_recv() {
            run_chunk(&mut helper, job, &shared);
            continue;
        }
        if shared.draining.load(Ordering::Relaxed) {
            break;
        }
        crossbeam_channel::select! {
            recv(queue.rx) -> job => {
                if let Ok(job) = job {
                    run_chunk(&mut helper, job, &shared);
                }
            }
            recv(blobs) -> blob => {
                let Ok(blob) = blob else { break };
                if shared.draining.load(Ordering::Relaxed) {
                    // Dropping the blob's token unacknowledged tells its source it was not done.
                    break;
                }
                decode_blob(&mut decoder, &mut helper, blob, &shared, &mut whole);
                if whole.capacity() > WHOLE_READ_MAX_BYTES as usize {
                    whole = Vec::new();
                }
            }
        }
    }
    // No blob left for this worker: help the streams still being read until they end.
    drop(taking_blobs);
    while !shared.stop.load(Ordering::Relaxed) && queue.may_get_chunks() {
        if let Ok(job) = queue.rx.recv_timeout(Duration::from_millis(20)) {
            run_chunk(&mut helper, job, &shared);
        }
    }
}

/// Decodes a chunk of a stream's items (on any worker) and hands its batches to the stream's
/// order, which sends them when their turn comes.
fn run_chunk(decoder: &mut BlobDecoder, job: ChunkJob, shared: &WorkerShared) {
    let ChunkJob {
        seq,
        order,
        origin,
        ack,
        errors,
        bytes,
        items,
    } = job;
    let _witness = PanicWitness {
        origin: &origin,
        shared,
    };
    let mut outputs = Vec::new();
    let mut complete = !shared.stop.load(Ordering::Relaxed);
    if complete {
        let mut out = BlobOutput::new(shared, &ack, origin.clone());
        out.errors = errors;
        out.collected = Some(Vec::new());
        decoder.decode_items(&origin, &bytes, &items, &mut out);
        out.flush();
        outputs = out.collected.take().unwrap_or_default();
        complete = out.complete && out.finish_errors();
    }
    drop(bytes);
    // Abandoned chunks are deposited too (empty): later chunks must not wait for them.
    order.deposit(seq, outputs, &mut |outgoing| {
        send_to_sinks(shared, outgoing);
    });
    if complete && !shared.stop.load(Ordering::Relaxed) {
        ack.ack();
    }
}

/// Sends one batch to every sink, in order; false when some sink has ended (the run stops).
fn send_to_sinks(shared: &WorkerShared, outgoing: Outgoing) -> bool {
    let mut all = true;
    for (sink, batch) in shared.sinks.iter().zip(outgoing) {
        if sink.blocking_send(batch).is_err() {
            // The sink has ended (its reader went away, or it failed): stop the run.
            all = false;
            shared.stop.store(true, Ordering::Relaxed);
        }
    }
    all
}

/// Room a batch buffer has beyond `batch_bytes`, for the record that crosses it.
const BATCH_SLACK_BYTES: usize = 64 * 1024;

/// Files up to this size (compressed) are read whole before decoding; larger ones are streamed.
const WHOLE_READ_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Names the input a worker was decoding when it panicked, and stops the run: a panic is a
/// bug, and the run must fail rather than exit 0 with an input missing. The input's ack token
/// is dropped unacknowledged as the stack unwinds, so its source keeps its position.
struct PanicWitness<'a> {
    origin: &'a str,
    shared: &'a WorkerShared,
}

impl Drop for PanicWitness<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            RunStats::add(&self.shared.stats.panics, 1);
            self.shared.stop.store(true, Ordering::Relaxed);
            eprintln!(
                "trailhose: error: internal error: a worker panicked while decoding {}; that input is left unacknowledged and the run stops (please report this with the input)",
                self.origin
            );
        }
    }
}

fn decode_blob(
    decoder: &mut BlobDecoder,
    helper: &mut BlobDecoder,
    blob: Blob,
    shared: &WorkerShared,
    whole: &mut Vec<u8>,
) {
    let started = Instant::now();
    let Blob {
        origin,
        input,
        ack,
        size,
    } = blob;
    let _witness = PanicWitness {
        origin: &origin,
        shared,
    };
    // Tests of the panic path (debug builds only): a worker panics on an input whose origin
    // contains this variable's value.
    #[cfg(debug_assertions)]
    if std::env::var("TRAILHOSE_DEBUG_PANIC_ON").is_ok_and(|p| !p.is_empty() && origin.contains(&p))
    {
        panic!("TRAILHOSE_DEBUG_PANIC_ON matched {origin}");
    }
    let mut out = BlobOutput::new(shared, &ack, origin.clone());
    out.live = matches!(input, BlobInput::Stdin);
    // Small inputs are read whole and inflated in one call; the bound is the same for a file
    // and a fetched object (4 MiB per worker).
    let small_file = matches!(input, BlobInput::File(_) | BlobInput::Stream(_))
        && size.is_some_and(|s| s <= WHOLE_READ_MAX_BYTES);
    let opened = match &input {
        BlobInput::Messages(messages) => {
            decode_messages(decoder, messages, &mut out);
            None
        }
        _ => Some(input.open()),
    };
    let stats = match opened {
        None => Default::default(),
        Some(Ok(mut reader)) if small_file => {
            // Read a small file whole: it can then be inflated in one call (see decode_bytes).
            whole.clear();
            match reader.read_to_end(whole) {
                Ok(_) => decoder.decode_bytes(&origin, whole, &mut out),
                Err(e) => {
                    let error = DecodeError {
                        origin: origin.clone(),
                        offset: 0,
                        kind: ErrorKind::Io,
                        detail: format!("cannot read: {e}"),
                    };
                    out.error(error, &[], false);
                    Default::default()
                }
            }
        }
        Some(Ok(reader)) => {
            let reader = StopAwareReader {
                inner: reader,
                // Stdin never ends by itself: a drain stops reading it (whole records read so
                // far are delivered); a file or object is read to its end.
                stop: if out.live {
                    &shared.draining
                } else {
                    &shared.stop
                },
            };
            if shared.chunks.enabled {
                // A stream is read here and decoded by every worker (see `stream_chunks`).
                let mut pipelined = PipelinedOutput {
                    order: Arc::new(StreamOrder::new(shared.chunks.in_flight)),
                    chunk: ChunkBuilder::default(),
                    helper,
                    out: &mut out,
                };
                let stats = decoder.decode(&origin, reader, &mut pipelined);
                pipelined.submit();
                stats
            } else {
                decoder.decode(&origin, reader, &mut out)
            }
        }
        Some(Err(e)) => {
            out.error(
                DecodeError {
                    origin: origin.clone(),
                    offset: 0,
                    kind: ErrorKind::Io,
                    detail: format!("cannot open: {e}"),
                },
                &[],
                false,
            );
            Default::default()
        }
    };
    out.flush();
    // A fetch that failed can succeed next time: such an input is not acknowledged, so its
    // source keeps its position (the S3 checkpoint stays before it, the SQS message returns),
    // whatever the decoder made of the bytes that came. A damaged object that was fetched
    // whole is bad input like a damaged file: reported, dead-lettered, and done.
    if let BlobInput::Stream(s) = &input {
        if s.transport_failed() {
            out.complete = false;
        }
    }
    if !out.finish_errors() {
        out.complete = false;
    }
    out.position(stats.compressed_bytes, stats.decompressed_bytes);
    out.report_progress();
    metrics::histogram!(m::BLOB_SECONDS).record(started.elapsed().as_secs_f64());
    let complete = out.complete;
    drop(out);
    if complete && !shared.stop.load(Ordering::Relaxed) {
        ack.ack();
    }
}

/// Decodes each message of a blob on its own (each holds a whole envelope: a trail file, a
/// record, an event), naming it in its records' origins and errors, and counts its bytes.
fn decode_messages(decoder: &mut BlobDecoder, messages: &[Message], out: &mut BlobOutput<'_>) {
    for message in messages {
        if out.shared.stop.load(Ordering::Relaxed) {
            out.complete = false;
            return;
        }
        out.origin = message.origin.clone();
        let stats = decoder.decode_bytes(&message.origin, &message.bytes, out);
        out.position(stats.compressed_bytes, stats.decompressed_bytes);
        out.report_progress();
        // The next message's positions start from zero again.
        out.read = (0, 0);
        out.reported = (0, 0);
    }
}

/// Ends a read early once the run is stopping, so a huge input does not keep a worker busy.
struct StopAwareReader<'a, R> {
    inner: R,
    stop: &'a AtomicBool,
}

impl<R: Read> Read for StopAwareReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            // Not `Interrupted`: readers retry that, and stopping must not be retried.
            return Err(io::Error::other("run stopping"));
        }
        self.inner.read(buf)
    }
}

/// Spare buffers a worker keeps for the bytes of the records it holds back: at most this many,
/// of at most `SPARE_HELD_MAX_BYTES` each (so at most 2 MiB a worker).
const SPARE_HELD_BUFFERS: usize = 512;
const SPARE_HELD_MAX_BYTES: usize = 4096;

/// A copy of a record's bytes to hold back, in a buffer of a record released earlier when
/// there is one. A fresh allocation per held record cost fresh pages: the window's records
/// come and go by the hundred thousand, and their pages went back to the system between
/// (page faults while holding were a third of an enriched replay's, measured).
fn held_copy(bytes: &[u8]) -> Vec<u8> {
    let mut copy = SPARE_HELD
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_default();
    copy.clear();
    copy.extend_from_slice(bytes);
    copy
}

/// Keeps a released record's buffer for the next `held_copy`.
fn give_back_held(bytes: Vec<u8>) {
    if bytes.capacity() <= SPARE_HELD_MAX_BYTES {
        SPARE_HELD.with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_HELD_BUFFERS {
                spare.push(bytes);
            }
        });
    }
}

thread_local! {
    /// Each worker's spare buffers for held records' bytes (`held_copy`).
    static SPARE_HELD: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    /// Each worker's parser of held records let out of the reorder window, kept between
    /// inputs: a fresh parse allocated (and the kernel zeroed) its buffers per record.
    static RELEASE_PARSER: RefCell<RecordParser> = RefCell::new(RecordParser::new());
}

/// Collects one blob's records into batches and hands them to every sink.
struct BlobOutput<'a> {
    shared: &'a WorkerShared,
    ack: &'a AckToken,
    /// The current batch in each of `shared.formats`, in that order.
    bufs: Vec<Vec<u8>>,
    /// Where each record's line ends, per format.
    ends: Vec<Vec<usize>>,
    /// The current batch's records' keys (when a sink wants them).
    keys: BatchKeys,
    /// The input the next record comes from (the blob's, or a held record's).
    origin: Arc<str>,
    /// The current batch's runs of records by input.
    origins: Vec<(usize, Arc<str>)>,
    scratch: Scratch,
    records: u64,
    /// False once a batch could not be handed to some sink.
    complete: bool,
    /// Errors in this input so far (shared by the chunks a stream's decode is split into).
    errors: Arc<InputErrors>,
    /// Some of this input's bytes went to the dead-letter output (flushed before the ack).
    dead_lettered: bool,
    /// Records dropped by a filter since the last batch.
    dropped: u64,
    /// Enriched records since the last batch, by how their actor was resolved.
    methods: [u64; Method::ALL.len()],
    /// (compressed, decompressed) bytes read so far, and what of it was already reported.
    read: (u64, u64),
    reported: (u64, u64),
    /// Reads of this input can block (stdin, later sockets), so batches go out before each read.
    live: bool,
    /// Ack tokens of held-back records (of other inputs, maybe) written into the current batch.
    held_acks: Vec<AckToken>,
    /// The current batch's dedupe keys, for the ledger (when it keeps them).
    delivered_keys: Option<Vec<EventKey>>,
    /// Batches are kept here instead of sent (a chunk's, sent in its stream's order).
    collected: Option<Vec<Outgoing>>,
    /// Held records being written by `release`, and those their release woke.
    releasing: Option<VecDeque<Waiting>>,
}

impl<'a> BlobOutput<'a> {
    fn new(shared: &'a WorkerShared, ack: &'a AckToken, origin: Arc<str>) -> Self {
        let errors = Arc::new(InputErrors::new(origin.clone()));
        BlobOutput {
            shared,
            ack,
            bufs: vec![Vec::new(); shared.formats.len()],
            ends: vec![Vec::new(); shared.formats.len()],
            keys: BatchKeys::default(),
            origin,
            origins: Vec::new(),
            scratch: Scratch::default(),
            records: 0,
            complete: true,
            errors,
            dead_lettered: false,
            dropped: 0,
            methods: [0; Method::ALL.len()],
            read: (0, 0),
            reported: (0, 0),
            live: false,
            held_acks: Vec::new(),
            delivered_keys: shared
                .ledger
                .as_ref()
                .filter(|l| l.wants_keys())
                .map(|_| Vec::new()),
            collected: None,
            releasing: None,
        }
    }

    /// Gets this input's bad bytes to the dead-letter file before the input is acknowledged
    /// (an SQS message deleted, a checkpoint moved past it): a crash after the ack must not
    /// lose them. False if that failed.
    fn finish_errors(&mut self) -> bool {
        if self.dead_lettered {
            if let Some(dl) = &self.shared.dead_letter {
                if let Err(e) = dl.flush() {
                    eprintln!("trailhose: error: cannot write the dead-letter output: {e}");
                    return false;
                }
            }
        }
        true
    }

    /// Filters, enriches and writes one parsed record. With `may_wait`, a call whose temporary
    /// key is not known yet is held back in the reorder window instead.
    fn write_parsed(
        &mut self,
        record: Value<'_, '_>,
        bytes: &[u8],
        has_whitespace: bool,
        may_wait: bool,
    ) {
        let shared = self.shared;
        // With a normalized format, its fields are read once and the view taken from them.
        let fields = shared.normalized.then(|| TrailFields {
            clean_strings: !has_whitespace && clean_json_text(bytes),
            ..TrailFields::read(record)
        });
        let v = &match &fields {
            Some(f) => f.view(),
            None => RecordView::read(record),
        };
        let noise = if shared.enrich || shared.filter.needs_noise() {
            classify_noise(v)
        } else {
            Noise::default()
        };
        // The dedupe key, when dedupe is on: checked here, and carried to the ledger with the
        // batch, which remembers it once every sink has the event.
        let key = shared.dedupe.as_ref().and_then(|_| {
            v.event_id.map(|id| {
                let context = [
                    v.event_name,
                    v.event_source,
                    v.event_time,
                    v.recipient_account_id,
                    v.identity.arn,
                ];
                (event_id_bits(id, &context), event_time(v))
            })
        });
        // A released record was checked for repeats when it was first seen.
        let repeat = may_wait
            && shared
                .dedupe
                .as_ref()
                .zip(key)
                .is_some_and(|(d, (id, time))| d.seen_before(id, time));
        let verdict = if repeat {
            Some(DropReason::Duplicate)
        } else {
            shared.filter.verdict(v, &noise)
        };
        if let Some(reason) = verdict {
            self.dropped += 1;
            RunStats::add(&shared.stats.dropped, 1);
            metrics::counter!(m::EVENTS_DROPPED, "reason" => reason.label()).increment(1);
            return;
        }
        let remember = |out: &mut Self| {
            if let (Some(k), Some(keys)) = (key, out.delivered_keys.as_mut()) {
                keys.push(k);
            }
        };
        if !shared.enrich {
            remember(self);
            self.emit(Some(record), fields.as_ref(), bytes, has_whitespace, None);
            return;
        }
        if may_wait && shared.window.enabled() {
            if let Some(key) = shared.attribution.needs_issuer(v) {
                let time = event_time(v);
                let pushed_out = shared.window.hold(Waiting {
                    key: key.into(),
                    origin: self.origin.clone(),
                    time,
                    bytes: held_copy(bytes),
                    has_whitespace,
                    ack: self.ack.clone(),
                });
                self.release(pushed_out);
                // Another worker may have learned the key between the check and the hold, and
                // found nothing to wake: look again now that the call waits. (Either this sees
                // the key, or that worker's wake comes after the hold and finds the call.)
                if shared.attribution.knows(key, time) {
                    let woken = shared.window.take_key(key);
                    self.release(woken);
                }
                return;
            }
        }
        remember(self);
        let actor = shared.attribution.attribute(v);
        if let Some(i) = Method::ALL.iter().position(|m| *m == actor.method) {
            self.methods[i] += 1;
        }
        let enriched = Enriched {
            view: v,
            actor: &actor,
            noise: &noise,
        };
        self.emit(
            Some(record),
            fields.as_ref(),
            bytes,
            has_whitespace,
            Some(&enriched),
        );
        if shared.window.enabled() {
            if let Some(key) = issued_key(v) {
                let woken = shared.window.take_key(key);
                self.release(woken);
            }
            let passed = shared.window.take_passed(shared.attribution.newest());
            self.release(passed);
        }
    }

    /// Writes one record in every format the sinks ask for. `record` is its tape when there is
    /// one (records over the tape limit have none: the normalized formats parse them here).
    fn emit(
        &mut self,
        record: Option<Value<'_, '_>>,
        fields: Option<&TrailFields<'_>>,
        bytes: &[u8],
        has_whitespace: bool,
        enriched: Option<&Enriched<'_, '_>>,
    ) {
        let shared = self.shared;
        if self
            .origins
            .last()
            .is_none_or(|(_, o)| !Arc::ptr_eq(o, &self.origin))
        {
            self.origins
                .push((self.records as usize, self.origin.clone()));
        }
        self.records += 1;
        // The source, location and resources are looked up once for all formats.
        let source = enriched.map(|e| source_of(e.view.source_ip));
        let geo = source
            .and_then(|(_, ip)| ip)
            .and_then(|ip| shared.geoip.as_ref()?.answer(ip));
        let resources = enriched
            .map(|e| extract_resources(e.view))
            .unwrap_or_default();
        let findings = Findings {
            actor: enriched.map(|e| e.actor),
            noise: enriched.map(|e| e.noise),
            source_kind: source.map(|(kind, _)| kind),
            geo: geo.as_deref(),
            resources: &resources,
        };
        // A record without a tape is parsed here, once, when some format or sink needs its
        // fields.
        let needs_tape = record.is_none()
            && (shared.wants_keys || shared.formats.iter().any(|f| *f != Format::Raw));
        let mut own_copy = if needs_tape {
            bytes.to_vec()
        } else {
            Vec::new()
        };
        let mut own_tape = None;
        if needs_tape {
            own_tape = simd_json::to_tape(&mut own_copy).ok();
            // The record's numbers were checked strictly (`check_large_record`); simd-json
            // may misread a long float, so serde_json's values go on the tape.
            if let Some(tape) = own_tape.as_mut() {
                let _ = reread_numbers(bytes, tape, &mut Vec::new());
            }
        }
        if shared.wants_keys {
            let value = record.or_else(|| own_tape.as_ref().map(|t| t.as_value()));
            self.keys.push(value.map(Keys::read).unwrap_or_default());
        }
        for (i, format) in shared.formats.iter().enumerate() {
            let buf = &mut self.bufs[i];
            if *format == Format::Raw {
                match enriched {
                    Some(e) => write_enriched_line(buf, bytes, has_whitespace, |o| {
                        let kind = findings.source_kind.unwrap_or("none");
                        write_enrichment(o, kind, e.actor, e.noise, geo.as_deref(), &resources)
                    }),
                    None => write_raw_line(buf, bytes, has_whitespace),
                }
                continue;
            }
            let value = match record {
                Some(v) => v,
                None => {
                    match &own_tape {
                        Some(t) => t.as_value(),
                        None => {
                            // Not JSON after all (it passed the decoder's check): keep it whole.
                            write_raw_line(buf, bytes, has_whitespace);
                            continue;
                        }
                    }
                }
            };
            let fields = match fields {
                Some(f) => *f,
                None => TrailFields {
                    clean_strings: !has_whitespace && clean_json_text(bytes),
                    ..TrailFields::read(value)
                },
            };
            let cfg = &shared.normalize;
            let scratch = &mut self.scratch;
            match format {
                Format::Ecs => {
                    write_ecs_line(buf, &fields, &findings, cfg, scratch, bytes, has_whitespace)
                }
                Format::Ocsf => {
                    write_ocsf_line(buf, &fields, &findings, cfg, scratch, bytes, has_whitespace)
                }
                Format::Raw => {}
            }
        }
        for (ends, buf) in self.ends.iter_mut().zip(&self.bufs) {
            ends.push(buf.len());
        }
        if own_tape.is_some() {
            self.scratch.trim();
        }
    }

    /// Room for a record of `len` bytes in every format: a normalized event can reach about
    /// twice the record (blobs capped at its size, plus the original when asked). Growing a
    /// full batch buffer would copy it and fault in fresh pages, so batches start with slack.
    /// A batch buffer comes from the pool, where the sinks return theirs: a fresh one per input
    /// would be zeroed by the kernel (2 MB at a time where huge pages are on), and zeroing
    /// measured as much CPU as inflating.
    fn make_room(&mut self, len: usize) {
        let shared = self.shared;
        let room = len * 3 + 4096;
        for buf in &mut self.bufs {
            if buf.capacity() == 0 {
                *buf = shared.buffers.take();
                buf.reserve(shared.batch_bytes + BATCH_SLACK_BYTES);
            }
            buf.reserve(room);
        }
    }

    /// Sends the batch once some format's buffer has reached `batch_bytes`.
    fn flush_if_full(&mut self) {
        if self.bufs.iter().any(|b| b.len() >= self.shared.batch_bytes) {
            self.flush();
        }
    }

    /// Writes records let out of the reorder window (their key arrived, or the window passed
    /// them by: then they are attributed as far as the table now allows, never guessed).
    fn release(&mut self, waiting: Vec<Waiting>) {
        if waiting.is_empty() {
            return;
        }
        // A released record can wake others (the calls of the session it issued): they are
        // written next, before the rest, by this loop rather than by recursion, so a long
        // chain cannot exhaust the stack and the parser is not needed twice at once.
        if let Some(queue) = &mut self.releasing {
            for w in waiting.into_iter().rev() {
                queue.push_front(w);
            }
            return;
        }
        self.releasing = Some(waiting.into());
        let own_origin = self.origin.clone();
        RELEASE_PARSER.with(|parser| {
            // Only this loop parses with it; should another output's release ever run inside
            // it on this thread, that one parses with a parser of its own rather than panic.
            let mut fallback_parser = None;
            let mut shared_parser = parser.try_borrow_mut().ok();
            let parser = match shared_parser.as_deref_mut() {
                Some(p) => p,
                None => fallback_parser.insert(RecordParser::new()),
            };
            while let Some(w) = self.releasing.as_mut().and_then(|q| q.pop_front()) {
                // An issuer can let out hundreds of calls at once: they go out in batches of
                // the usual size, not into one buffer grown past it.
                self.flush_if_full();
                self.make_room(w.bytes.len());
                self.origin = w.origin.clone();
                let written = parser.with_value(&w.bytes, |v, raw| {
                    self.write_parsed(v, raw, w.has_whitespace, false)
                });
                if written.is_err() {
                    // It parsed when it was held: this cannot happen, but must not lose it.
                    self.emit(None, None, &w.bytes, w.has_whitespace, None);
                }
                self.held_acks.push(w.ack);
                give_back_held(w.bytes);
            }
        });
        self.releasing = None;
        self.origin = own_origin;
    }

    /// Adds what was read since the last report to the run's counters and metrics: once per
    /// batch, so a long input (a 1 GB file, stdin) shows progress while it is read.
    fn report_progress(&mut self) {
        let (c, d) = (
            self.read.0.saturating_sub(self.reported.0),
            self.read.1.saturating_sub(self.reported.1),
        );
        self.reported = self.read;
        RunStats::add(&self.shared.stats.compressed_bytes, c);
        RunStats::add(&self.shared.stats.decompressed_bytes, d);
        metrics::counter!(m::INPUT_BYTES).increment(c);
        metrics::counter!(m::DECOMPRESSED_BYTES).increment(d);
    }

    fn flush(&mut self) {
        for (i, n) in std::mem::take(&mut self.methods).into_iter().enumerate() {
            if n > 0 {
                metrics::counter!(m::ACTORS, "method" => Method::ALL[i].label()).increment(n);
            }
        }
        // Dropped records were decoded too: they count as records in.
        let dropped = std::mem::take(&mut self.dropped);
        RunStats::add(&self.shared.stats.records_in, dropped);
        metrics::counter!(m::RECORDS_IN).increment(dropped);
        if self.records == 0 {
            // Nothing to deliver: held records that were dropped are done.
            for a in self.held_acks.drain(..) {
                a.ack();
            }
            return;
        }
        let records = std::mem::take(&mut self.records);
        let keys = std::mem::take(&mut self.keys);
        let origins = std::mem::take(&mut self.origins);
        let batches: Vec<Arc<Batch>> = self
            .bufs
            .iter_mut()
            .zip(&mut self.ends)
            .map(|(b, ends)| {
                Arc::new(Batch {
                    // The next record takes a buffer from the pool (none if it never comes).
                    bytes: std::mem::take(b),
                    ends: std::mem::replace(ends, Vec::with_capacity(ends.capacity())),
                    keys: keys.clone(),
                    origins: origins.clone(),
                    pool: Some(self.shared.buffers.clone()),
                })
            })
            .collect();
        RunStats::add(&self.shared.stats.records_in, records);
        metrics::counter!(m::RECORDS_IN).increment(records);
        self.report_progress();
        // Once every sink has the batch, its events' keys go to the ledger: this token comes
        // first in each sink's shares, so the keys are remembered before the inputs are acked,
        // and this worker keeps no share of it (the last sink gets the token itself), so the
        // last sink to acknowledge the batch remembers them, under the ledger's lock, with its
        // position: a commit never holds a file length without the ids of what it covers.
        let mut delivery = self.delivered_keys.as_mut().and_then(|keys| {
            let ledger = self.shared.ledger.clone()?;
            let keys = std::mem::take(keys);
            Some(AckToken::new(move |ok| {
                if ok {
                    ledger.delivered(&keys);
                }
            }))
        });
        let last = self.shared.sinks.len().saturating_sub(1);
        let mut outgoing = Vec::with_capacity(self.shared.sinks.len());
        for (i, format) in self.shared.sink_formats.iter().enumerate() {
            let mut acks = Vec::with_capacity(2 + self.held_acks.len());
            if i == last {
                acks.extend(delivery.take());
            } else {
                acks.extend(delivery.clone());
            }
            acks.push(self.ack.clone());
            acks.extend(self.held_acks.iter().cloned());
            outgoing.push(SinkBatch {
                batch: batches[*format].clone(),
                acks,
            });
        }
        // Every sink has its own share of the held records' tokens; this share is done.
        for a in self.held_acks.drain(..) {
            a.ack();
        }
        match &mut self.collected {
            Some(collected) => collected.push(outgoing),
            None => {
                if !send_to_sinks(self.shared, outgoing) {
                    self.complete = false;
                }
            }
        }
    }
}

impl Drop for BlobOutput<'_> {
    fn drop(&mut self) {
        // A buffer taken for records a filter then dropped goes back for the next input.
        for buf in self.bufs.drain(..) {
            self.shared.buffers.give(buf);
        }
    }
}

/// The output of a stream decoded by every worker: its items are copied into chunks for the
/// chunk queue instead of parsed here; its errors (the stream's own: truncation, garbage
/// between values, gzip damage) and progress go to the reader's output.
struct PipelinedOutput<'o, 'a> {
    order: Arc<StreamOrder>,
    chunk: ChunkBuilder,
    /// The reader's decoder for chunks it decodes itself while it waits for a permit.
    helper: &'o mut BlobDecoder,
    out: &'o mut BlobOutput<'a>,
}

impl PipelinedOutput<'_, '_> {
    /// Hands the chunk on (if it holds anything). Each chunk in flight takes a permit; while
    /// none is free, this thread decodes queued chunks itself rather than wait.
    fn submit(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let shared = self.out.shared;
        let job = self.chunk.take(
            &self.order,
            &self.out.origin,
            self.out.ack,
            &self.out.errors,
        );
        loop {
            crossbeam_channel::select! {
                send(self.order.permits(), ()) -> sent => {
                    if sent.is_ok() {
                        break;
                    }
                }
                recv(shared.chunks.rx) -> queued => {
                    if let Ok(queued) = queued {
                        run_chunk(self.helper, queued, shared);
                    }
                }
                // A stopped run's chunks may never come back with their permits.
                default(Duration::from_millis(100)) => {}
            }
            if shared.stop.load(Ordering::Relaxed) {
                self.out.complete = false;
                return;
            }
        }
        if shared.chunks.tx.send(job).is_err() {
            self.out.complete = false;
        }
        self.out.report_progress();
    }
}

impl RecordOutput for PipelinedOutput<'_, '_> {
    fn record(&mut self, record: Record<'_>) {
        self.out.record(record)
    }

    fn error(&mut self, error: DecodeError, raw: &[u8], raw_truncated: bool) {
        self.out.error(error, raw, raw_truncated)
    }

    fn skipped(&mut self, what: Skipped) {
        self.out.skipped(what)
    }

    fn position(&mut self, compressed: u64, decompressed: u64) {
        self.out.position(compressed, decompressed)
    }

    fn before_read(&mut self) {
        // A live input may block on its next read: what is read so far goes now.
        if self.out.live {
            self.submit();
        }
    }

    fn forward(&mut self, item: &ForwardedItem<'_>) -> bool {
        if self.chunk.push(item) {
            self.submit();
        }
        true
    }
}

impl RecordOutput for BlobOutput<'_> {
    fn record(&mut self, record: Record<'_>) {
        let shared = self.shared;
        self.make_room(record.bytes.len());
        match record.parsed {
            Some(v) if shared.needs_fields() => {
                self.write_parsed(v, record.bytes, record.has_whitespace, true)
            }
            // Records over the tape limit have no fields at hand: written as they are (the
            // normalized formats parse them on their own), never dropped by a filter or
            // dedupe (see the README).
            _ => self.emit(None, None, record.bytes, record.has_whitespace, None),
        }
        self.flush_if_full();
    }

    fn error(&mut self, error: DecodeError, raw: &[u8], raw_truncated: bool) {
        if self.shared.stop.load(Ordering::Relaxed)
            || (self.live && self.shared.draining.load(Ordering::Relaxed))
        {
            // Reads cut short by a stop are not bad input.
            self.complete = false;
            return;
        }
        let s = &self.shared.stats;
        RunStats::add(&s.errors, 1);
        metrics::counter!(m::ERRORS, "kind" => error.kind.label()).increment(1);
        let nth = self.errors.count.fetch_add(1, Ordering::Relaxed) + 1;
        // Stream-level errors say why the garbled records before them happened: always shown.
        let stream_level = matches!(
            error.kind,
            ErrorKind::GzipCorrupt | ErrorKind::GzipTruncated | ErrorKind::Io
        );
        let printed = if nth <= PRINTED_ERRORS_PER_INPUT || stream_level {
            self.shared.printed_errors.fetch_add(1, Ordering::Relaxed)
        } else {
            u64::MAX
        };
        if printed < PRINTED_ERRORS {
            let clear = if self.shared.progress_on_stderr && io::stderr().is_terminal() {
                "\r\x1b[2K"
            } else {
                ""
            };
            eprintln!("{clear}trailhose: error: {error}");
        } else if printed == PRINTED_ERRORS {
            eprintln!("trailhose: more errors follow; see the dead-letter output and trailhose_errors_total");
        }
        if let Some(dl) = &self.shared.dead_letter {
            match dl.write(&error, raw, raw_truncated) {
                Ok(()) => {
                    self.dead_lettered = true;
                    RunStats::add(&s.dead_lettered, 1);
                    metrics::counter!(m::DEAD_LETTERED).increment(1);
                }
                Err(e) => {
                    eprintln!("trailhose: error: cannot write the dead-letter output: {e}");
                    self.complete = false;
                }
            }
        }
    }

    fn before_read(&mut self) {
        // A live input may block on its next read: hand on what is ready so events never wait
        // for traffic. Files never block, so their batches stay full-sized.
        if self.live {
            self.flush();
        }
    }

    fn position(&mut self, compressed: u64, decompressed: u64) {
        self.read = (compressed, decompressed);
    }

    fn skipped(&mut self, what: Skipped) {
        RunStats::add(&self.shared.stats.skipped, 1);
        match what {
            Skipped::Digest => metrics::counter!(m::DIGESTS_SKIPPED).increment(1),
            Skipped::CloudWatchControl => {
                metrics::counter!(m::CONTROL_MESSAGES_SKIPPED).increment(1)
            }
        }
    }
}

/// Writes every call still in the reorder window (at the end of a run, after the workers are
/// done): attributed as far as the table allows, `unresolved` otherwise.
pub fn drain_reorder_window(shared: &WorkerShared) {
    let waiting = shared.window.take_all();
    if waiting.is_empty() {
        return;
    }
    let root = AckToken::detached();
    let mut out = BlobOutput::new(shared, &root, Arc::from("the reorder window"));
    out.release(waiting);
    out.flush();
    drop(out);
    root.ack();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_records_reuse_the_buffers_of_released_ones() {
        let first = held_copy(b"{\"eventID\":\"a\"}");
        assert_eq!(first, b"{\"eventID\":\"a\"}");
        let reused = first.as_ptr();
        give_back_held(first);
        let second = held_copy(b"{\"b\":1}");
        assert_eq!(second, b"{\"b\":1}", "the old bytes are gone");
        assert_eq!(second.as_ptr(), reused, "the released buffer is reused");
        // A large record's buffer is not kept: the spares stay small.
        let large = held_copy(&vec![b' '; SPARE_HELD_MAX_BYTES + 1]);
        give_back_held(large);
        assert!(SPARE_HELD.with(|s| s.borrow().is_empty()));
        for _ in 0..SPARE_HELD_BUFFERS + 10 {
            give_back_held(Vec::with_capacity(16));
        }
        assert_eq!(SPARE_HELD.with(|s| s.borrow().len()), SPARE_HELD_BUFFERS);
    }
}
