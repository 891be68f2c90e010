//! Delivery, written once for every sink: takes a sink's batches off its channel, cuts them
//! into the sink's requests, sends up to `concurrency` at once, retries what may be retried
//! (backoff with full jitter, the shared Retry-After gate, the retry budget), sends rejected
//! records to the dead-letter output, and acknowledges a batch's inputs only once every record
//! of it is delivered or dead-lettered. A sink failing past its budget stops the run with its
//! inputs unacknowledged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::retry::{parse_retry_after, Backoff, RetryGate};
use super::{RecordOutcome, Request, Response, Selection, Sink, SinkBatch, SinkError, SinkOutcome};
use crate::dead_letter::DeadLetterWriter;
use crate::health::SinkHealth;
use crate::ledger::Ledger;
use crate::metrics as m;
use crate::stats::RunStats;

/// `[sink.request]`: how a network sink sends (sinks writing a local stream send one batch at a
/// time and take none of this).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RequestConfig {
    /// Requests in flight at once; absent: the sink type's default (4 for HTTP, 32 for Kafka,
    /// whose requests only queue records into the producer's own batches).
    pub concurrency: Option<usize>,
    /// How long one request may take before it is abandoned and retried.
    pub timeout_secs: u64,
    /// The first retry's wait ceiling; it doubles per retry, with full jitter.
    pub retry_initial_backoff_ms: u64,
    /// The most any retry waits (before a Retry-After).
    pub retry_max_backoff_secs: u64,
    /// How long one request is retried before the sink fails the run (exit 3); absent: for as
    /// long as it takes, so an outage holds the pipeline back instead of dropping events.
    pub retry_max_duration_secs: Option<u64>,
    /// The longest Retry-After honoured; longer ones are cut to this.
    pub retry_after_max_secs: u64,
}

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig {
            concurrency: None,
            timeout_secs: 60,
            retry_initial_backoff_ms: 500,
            retry_max_backoff_secs: 30,
            retry_max_duration_secs: None,
            retry_after_max_secs: 300,
        }
    }
}

impl RequestConfig {
    /// Checks the values; `key` names the sink (`sink[0]`).
    pub fn validate(&self, key: &str) -> Result<(), String> {
        let checks = [
            (
                "concurrency",
                self.concurrency.unwrap_or(1) as u64,
                1,
                1024,
                "leave it out for the sink's default",
            ),
            ("timeout_secs", self.timeout_secs, 1, 3600, "default 60"),
            (
                "retry_initial_backoff_ms",
                self.retry_initial_backoff_ms,
                1,
                60_000,
                "default 500",
            ),
            (
                "retry_max_backoff_secs",
                self.retry_max_backoff_secs,
                1,
                3600,
                "default 30",
            ),
            (
                "retry_max_duration_secs",
                self.retry_max_duration_secs.unwrap_or(1),
                1,
                30 * 86_400,
                "leave it out to retry for as long as it takes",
            ),
            (
                "retry_after_max_secs",
                self.retry_after_max_secs,
                1,
                86_400,
                "default 300",
            ),
        ];
        for (name, value, min, max, hint) in checks {
            if value < min || value > max {
                return Err(format!(
                    "{key}.request.{name} = {value} is out of range: use {min} to {max} ({hint})"
                ));
            }
        }
        Ok(())
    }

    /// The settings the delivery loop runs with, with the default of 4 requests at once.
    pub fn settings(&self) -> DeliverySettings {
        self.settings_with(4)
    }

    /// The settings the delivery loop runs with; `concurrency` unless the config sets one.
    pub fn settings_with(&self, concurrency: usize) -> DeliverySettings {
        DeliverySettings {
            concurrency: self.concurrency.unwrap_or(concurrency),
            timeout: Some(Duration::from_secs(self.timeout_secs)),
            backoff: Backoff {
                initial: Duration::from_millis(self.retry_initial_backoff_ms),
                max: Duration::from_secs(self.retry_max_backoff_secs),
            },
            max_retry_duration: self.retry_max_duration_secs.map(Duration::from_secs),
            retry_after_max: Duration::from_secs(self.retry_after_max_secs),
        }
    }
}

/// How one sink's requests are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    pub concurrency: usize,
    /// None: a request may take as long as it takes (a local stream that backpressures).
    pub timeout: Option<Duration>,
    pub backoff: Backoff,
    /// None: retry for as long as it takes.
    pub max_retry_duration: Option<Duration>,
    pub retry_after_max: Duration,
}

impl Default for DeliverySettings {
    /// One request at a time, no timeout, the default backoff and no retry budget.
    fn default() -> Self {
        DeliverySettings {
            concurrency: 1,
            timeout: None,
            ..RequestConfig::default().settings()
        }
    }
}

impl DeliverySettings {
    /// Reads a `Retry-After` header value with this sink's cap.
    pub fn retry_after(&self, header: &str) -> Option<Duration> {
        parse_retry_after(header, SystemTime::now(), self.retry_after_max)
    }
}

/// How many rejected-record messages one sink prints before only counting them.
const PRINTED_REJECTIONS: u64 = 20;

/// One sink's delivery loop.
pub struct SinkDriver {
    pub id: Arc<str>,
    pub sink: Arc<dyn Sink>,
    pub settings: DeliverySettings,
    pub stats: Arc<RunStats>,
    pub dead_letter: Option<Arc<DeadLetterWriter>>,
    /// Set when the run is stopping (Ctrl-C, SIGTERM, another sink failed): retries are
    /// abandoned then, leaving their inputs unacknowledged. This driver sets it when it fails.
    pub stop: Arc<AtomicBool>,
    /// With a state directory: the ledger, and this sink's index in it. A batch is
    /// acknowledged through it, with the sink's position (`ledger.rs`).
    pub ledger: Option<(Arc<Ledger>, usize)>,
    /// Whether this sink is failing now, and since when (for `/ready`).
    pub health: Arc<SinkHealth>,
}

/// What the tasks of one driver share.
struct Shared {
    id: Arc<str>,
    sink: Arc<dyn Sink>,
    settings: DeliverySettings,
    stats: Arc<RunStats>,
    dead_letter: Option<Arc<DeadLetterWriter>>,
    stop: Arc<AtomicBool>,
    gate: RetryGate,
    printed_rejections: AtomicU64,
    ledger: Option<(Arc<Ledger>, usize)>,
    health: Arc<SinkHealth>,
}

impl SinkDriver {
    /// Runs the delivery loop on the calling thread, in a tokio runtime of its own.
    pub fn run_on_own_thread(self, rx: Receiver<SinkBatch>) -> SinkOutcome {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(self.run(rx)),
            Err(e) => SinkOutcome::Failed(SinkError::Internal(format!(
                "cannot start the sink's runtime: {e}"
            ))),
        }
    }

    /// Delivers batches until the channel closes (or the sink fails), then closes the sink.
    pub async fn run(self, mut rx: Receiver<SinkBatch>) -> SinkOutcome {
        let shared = Arc::new(Shared {
            id: self.id,
            sink: self.sink,
            settings: self.settings,
            stats: self.stats,
            dead_letter: self.dead_letter,
            stop: self.stop,
            gate: RetryGate::default(),
            printed_rejections: AtomicU64::new(0),
            ledger: self.ledger,
            health: self.health,
        });
        let concurrency = shared.settings.concurrency.max(1);
        // Shown at 0 from the start, so rates and alerts on them work before the first event.
        for name in [m::RECORDS_OUT, m::SINK_RETRIES, m::SINK_REJECTED] {
            metrics::counter!(name, "sink" => shared.id.to_string()).increment(0);
        }
        let mut tasks: JoinSet<Result<(), SinkError>> = JoinSet::new();
        let mut failure: Option<SinkError> = None;
        // Take batches while fewer than `concurrency` are in flight, and note each as it ends, so
        // a failure stops the run at once even when no more batches come (a quiet live input).
        loop {
            tokio::select! {
                done = tasks.join_next(), if !tasks.is_empty() => {
                    note(&shared, &mut failure, done);
                    if failure.is_some() {
                        break;
                    }
                }
                batch = rx.recv(), if tasks.len() < concurrency => match batch {
                    Some(batch) => {
                        tasks.spawn(deliver_batch(shared.clone(), batch));
                    }
                    None => break,
                },
            }
        }
        // What is still queued is dropped unacknowledged after a failure: not done.
        rx.close();
        drop(rx);
        while let Some(done) = tasks.join_next().await {
            note(&shared, &mut failure, Some(done));
        }
        if failure.is_none() {
            if let Err(e) = shared.sink.close().await {
                note(&shared, &mut failure, Some(Ok(Err(e))));
            }
        }
        match failure {
            None => SinkOutcome::Done,
            Some(SinkError::Closed) => SinkOutcome::Closed,
            Some(e) => SinkOutcome::Failed(e),
        }
    }
}

/// Keeps a finished task's failure (the first one) and stops the run on it; a task abandoned
/// because the run is stopping is not a failure.
fn note(
    shared: &Shared,
    failure: &mut Option<SinkError>,
    result: Option<Result<Result<(), SinkError>, tokio::task::JoinError>>,
) {
    let error = match result {
        None | Some(Ok(Ok(()))) | Some(Ok(Err(SinkError::ShuttingDown))) => return,
        Some(Ok(Err(e))) => e,
        Some(Err(e)) => SinkError::Internal(format!("a delivery task panicked: {e}")),
    };
    if failure.is_none() {
        shared.stop.store(true, Ordering::Relaxed);
        *failure = Some(error);
    }
}

/// Delivers one batch, request by request, and acknowledges it once every record is delivered
/// or dead-lettered.
async fn deliver_batch(shared: Arc<Shared>, sink_batch: SinkBatch) -> Result<(), SinkError> {
    let batch = sink_batch.batch.clone();
    let mut rejected: Vec<(usize, String)> = Vec::new();
    let cap = shared.sink.max_record_bytes();
    for range in shared.sink.requests(&batch) {
        let records = match cap {
            Some(cap) if range.clone().any(|i| batch.record(i).len() > cap) => {
                let mut keep = Vec::with_capacity(range.len());
                for i in range {
                    let len = batch.record(i).len();
                    if len > cap {
                        rejected.push((
                            i,
                            format!(
                                "{len} bytes is over this sink's limit of {cap} bytes per record"
                            ),
                        ));
                    } else {
                        keep.push(i);
                    }
                }
                Selection::List(keep)
            }
            _ => Selection::Range(range),
        };
        let request = Request {
            batch: batch.clone(),
            records,
        };
        if !request.is_empty() {
            deliver_request(&shared, request, &mut rejected).await?;
        }
    }
    if !rejected.is_empty() {
        dead_letter_rejected(&shared, &batch, &rejected)?;
    }
    match &shared.ledger {
        Some((ledger, index)) => {
            ledger.batch_delivered(*index, shared.sink.position(), || sink_batch.ack())
        }
        None => sink_batch.ack(),
    }
    Ok(())
}

/// Sends one request until every record of it is delivered or rejected, or the budget is spent.
async fn deliver_request(
    shared: &Shared,
    mut request: Request,
    rejected: &mut Vec<(usize, String)>,
) -> Result<(), SinkError> {
    let id: &str = &shared.id;
    let settings = &shared.settings;
    let mut first_failure: Option<Instant> = None;
    let mut attempt: u32 = 0;
    loop {
        if !wait_unless_stopping(shared, None).await {
            return Err(SinkError::ShuttingDown);
        }
        let started = Instant::now();
        let sent = shared.sink.deliver(&request);
        let response = match settings.timeout {
            Some(limit) => {
                tokio::time::timeout(limit, sent)
                    .await
                    .unwrap_or_else(|_| Response::Retry {
                        error: format!("no answer within {}s", limit.as_secs_f64()),
                        retry_after: None,
                    })
            }
            None => sent.await,
        };
        metrics::histogram!(m::SINK_REQUEST_SECONDS, "sink" => id.to_string())
            .record(started.elapsed().as_secs_f64());
        let (error, retry_after) = match response {
            Response::Delivered => {
                shared.health.succeeded();
                count_request(id, "delivered");
                count_delivered(shared, request.len() as u64);
                return Ok(());
            }
            Response::Fatal(e) => {
                count_request(id, "fatal");
                return Err(e);
            }
            Response::Retry { error, retry_after } => {
                count_request(id, "retry");
                (error, retry_after)
            }
            Response::PerRecord(outcomes) => {
                if outcomes.len() != request.len() {
                    return Err(SinkError::Internal(format!(
                        "sink {id} answered {} outcomes for {} records",
                        outcomes.len(),
                        request.len()
                    )));
                }
                count_request(id, "partial");
                let (mut again, mut delivered, mut last) = (Vec::new(), 0, String::new());
                for (i, outcome) in request.indexes().zip(outcomes) {
                    match outcome {
                        RecordOutcome::Delivered => delivered += 1,
                        RecordOutcome::Retry(e) => {
                            again.push(i);
                            last = e;
                        }
                        RecordOutcome::Rejected(why) => rejected.push((i, why)),
                    }
                }
                count_delivered(shared, delivered);
                if delivered > 0 || again.is_empty() {
                    shared.health.succeeded();
                }
                if again.is_empty() {
                    return Ok(());
                }
                request = Request {
                    batch: request.batch,
                    records: Selection::List(again),
                };
                (last, None)
            }
        };
        metrics::counter!(m::SINK_RETRIES, "sink" => id.to_string()).increment(1);
        shared.health.failed(&error);
        let first = *first_failure.get_or_insert(started);
        if let Some(budget) = settings.max_retry_duration {
            if first.elapsed() >= budget {
                return Err(SinkError::RetriesExhausted {
                    after: first.elapsed(),
                    last: error,
                });
            }
        }
        let wait = match retry_after {
            // The server said when: every request of this sink waits for it.
            Some(after) => {
                shared.gate.defer(after.min(settings.retry_after_max));
                None
            }
            None => Some(settings.backoff.delay(attempt)),
        };
        if attempt.is_power_of_two() || attempt == 0 {
            eprintln!(
                "trailhose: warning: sink {id}: {error}; retrying {} record(s) (attempt {})",
                request.len(),
                attempt + 1
            );
        }
        if !wait_unless_stopping(shared, wait).await {
            return Err(SinkError::ShuttingDown);
        }
        attempt = attempt.saturating_add(1);
    }
}

/// Sleeps for `wait` (if any) and until the sink's Retry-After gate opens, checking for a stop
/// every 100 ms; false when the run is stopping.
async fn wait_unless_stopping(shared: &Shared, wait: Option<Duration>) -> bool {
    let mut until = wait.map(|w| Instant::now() + w);
    loop {
        if shared.stop.load(Ordering::Relaxed)
            && (until.is_some() || shared.gate.closed_until().is_some())
        {
            return false;
        }
        let at = match (until, shared.gate.closed_until()) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return true,
        };
        if at <= Instant::now() {
            until = None;
            continue;
        }
        tokio::time::sleep_until(at.min(Instant::now() + Duration::from_millis(100))).await;
    }
}

fn count_request(id: &str, result: &'static str) {
    metrics::counter!(m::SINK_REQUESTS, "sink" => id.to_string(), "result" => result).increment(1);
}

fn count_delivered(shared: &Shared, n: u64) {
    metrics::counter!(m::RECORDS_OUT, "sink" => shared.id.to_string()).increment(n);
    shared.stats.records_out.fetch_add(n, Ordering::Relaxed);
}

/// Writes rejected records to the dead-letter output and flushes it, before the batch is
/// acknowledged. Without a dead-letter output they are reported and counted only.
fn dead_letter_rejected(
    shared: &Shared,
    batch: &super::Batch,
    rejected: &[(usize, String)],
) -> Result<(), SinkError> {
    let id: &str = &shared.id;
    metrics::counter!(m::SINK_REJECTED, "sink" => id.to_string()).increment(rejected.len() as u64);
    RunStats::add(&shared.stats.rejected, rejected.len() as u64);
    for (i, why) in rejected {
        let event_id = batch
            .keys
            .get(*i)
            .map(|k| k.event_id)
            .filter(|e| !e.is_empty());
        let printed = shared.printed_rejections.fetch_add(1, Ordering::Relaxed);
        if printed < PRINTED_REJECTIONS {
            let kept = if shared.dead_letter.is_some() {
                "in the dead-letter output"
            } else {
                "dropped: set pipeline.dead_letter to keep such records"
            };
            eprintln!(
                "trailhose: error: sink {id} rejected a record of {}{}: {why} ({kept})",
                batch.origin(*i),
                event_id
                    .map(|e| format!(" (eventID {e})"))
                    .unwrap_or_default()
            );
        } else if printed == PRINTED_REJECTIONS {
            eprintln!("trailhose: sink {id}: more records rejected; see the dead-letter output and trailhose_sink_records_rejected_total");
        }
        if let Some(dl) = &shared.dead_letter {
            let write = dl.write_rejected(batch.origin(*i), id, why, event_id, batch.record(*i));
            write.map_err(|source| SinkError::Io {
                target: "the dead-letter output".into(),
                source,
            })?;
            RunStats::add(&shared.stats.dead_lettered, 1);
            metrics::counter!(m::DEAD_LETTERED).increment(1);
        }
    }
    if let Some(dl) = &shared.dead_letter {
        dl.flush().map_err(|source| SinkError::Io {
            target: "the dead-letter output".into(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_settings_and_their_checks() {
        let config = RequestConfig {
            retry_max_duration_secs: Some(600),
            ..RequestConfig::default()
        };
        let s = config.settings();
        assert_eq!(s.concurrency, 4);
        assert_eq!(s.timeout, Some(Duration::from_secs(60)));
        assert_eq!(s.backoff.initial, Duration::from_millis(500));
        assert_eq!(s.max_retry_duration, Some(Duration::from_secs(600)));
        assert!(config.validate("sink[2]").is_ok());
        assert_eq!(RequestConfig::default().settings().max_retry_duration, None);
        assert_eq!(config.settings_with(32).concurrency, 32);
        let e = RequestConfig {
            concurrency: Some(0),
            ..RequestConfig::default()
        }
        .validate("sink[2]")
        .unwrap_err();
        assert!(
            e.contains("sink[2].request.concurrency = 0") && e.contains("1 to 1024"),
            "{e}"
        );
        let toml_config: RequestConfig = toml::from_str("timeout_secs = 5").unwrap();
        assert_eq!(toml_config.timeout_secs, 5);
        assert!(toml::from_str::<RequestConfig>("timeout = 5").is_err());
        assert_eq!(
            s.retry_after("120"),
            Some(Duration::from_secs(120)),
            "Retry-After read with the sink's cap"
        );
    }
}
