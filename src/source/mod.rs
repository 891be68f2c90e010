//! Sources: where blobs come from. Each source lists its inputs in the order they should be
//! read and hands them on as blobs with ack tokens; it never decodes. `run_source` runs the
//! configured one on the source thread.

pub mod aws;
pub mod dir;
pub mod fetch_limit;
pub mod kafka;
pub mod object_gets;
pub mod progress;
pub mod s3;
pub mod sqs;
pub mod stdin;
pub mod trail_layout;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::Sender;

use crate::blob::{AckToken, Blob, BlobInput};
use crate::config::SourceConfig;
use crate::dead_letter::DeadLetterWriter;
use crate::health::SourceStatus;
use crate::metrics as m;
use crate::stats::RunStats;
use dir::{Walk, WalkOptions};
use progress::InputProgress;

/// Why a source stopped listing before its end. What it had handed on is unaffected; what it
/// had not is not read (and so not acknowledged).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("listing {paths}: {source}")]
    Listing {
        paths: String,
        source: std::io::Error,
    },
    /// An S3 listing request failed (after the SDK's own retries); `detail` is AWS's answer.
    #[error("listing s3://{bucket}/{prefix}: {detail}")]
    S3List {
        bucket: String,
        prefix: String,
        detail: String,
    },
    #[error("s3://{bucket}/{root}: no CloudTrail log folders (AWSLogs/<account>/CloudTrail/<region>/ or CloudTrail-Insight/<region>/) match; check the bucket, prefix, --accounts and --regions")]
    NoTrailFolders { bucket: String, root: String },
    /// The replay window (validated with the config, so only reached by a caller that did not).
    #[error("{0}")]
    Window(String),
    #[error("source.queue_url = \"{url}\": {detail}")]
    Queue { url: String, detail: String },
    /// The Kafka consumer could not be made or subscribed.
    #[error("kafka source: {detail}")]
    Kafka { detail: String },
    #[error("listing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// How often a source waiting on a full blob channel looks whether the run is stopping.
const SEND_STOP_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// How a source hands inputs to the workers: makes each blob (with its ack token, which tells
/// the run's counters and the source's own `then` how the input ended) and sends it. Dropping
/// it ends the workers' input.
pub struct Handoff<'a> {
    blobs: Sender<Blob>,
    stats: &'a Arc<RunStats>,
    stop: &'a AtomicBool,
    /// Whether the source reaches its service (for `/ready`).
    pub status: &'a SourceStatus,
}

impl Handoff<'_> {
    /// Whether the run is stopping (nothing more should be handed on).
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// A blob for an input; `then` runs with its outcome (the S3 checkpoint, SQS deletes,
    /// Kafka offsets).
    pub fn blob(
        &self,
        origin: Arc<str>,
        input: BlobInput,
        size: Option<u64>,
        kind: &'static str,
        then: Option<Box<dyn FnOnce(bool) + Send>>,
    ) -> Blob {
        metrics::counter!(m::INPUTS, "source" => kind).increment(1);
        RunStats::add(&self.stats.inputs_started, 1);
        let st = self.stats.clone();
        let ack = AckToken::new(move |ok| {
            if ok {
                RunStats::add(&st.inputs_acked, 1);
                metrics::counter!(m::INPUTS_ACKED).increment(1);
            } else {
                metrics::counter!(m::INPUTS_FAILED).increment(1);
            }
            RunStats::add(&st.inputs_done, 1);
            if let Some(then) = then {
                then(ok);
            }
        });
        Blob {
            origin,
            input,
            size,
            ack,
        }
    }

    /// Sends a blob, waiting while the workers are busy; false once the run is stopping.
    /// The wait looks at the stop flag now and then: a draining worker takes nothing more off
    /// the channel, so a source blocked on a full channel would otherwise wait forever. A blob
    /// dropped here goes unacknowledged, which tells its source the input was not done.
    pub fn send(&self, mut blob: Blob) -> bool {
        loop {
            match self.blobs.send_timeout(blob, SEND_STOP_CHECK) {
                Ok(()) => return true,
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
                Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                    if self.stopping() {
                        return false;
                    }
                    blob = back;
                }
            }
        }
    }

    /// Sends a blob, waiting at most `wait` (the blob comes back if the channel stayed full).
    pub fn send_timeout(
        &self,
        blob: Blob,
        wait: std::time::Duration,
    ) -> Result<(), crossbeam_channel::SendTimeoutError<Blob>> {
        self.blobs.send_timeout(blob, wait)
    }
}

/// What a source runs with, besides its config and the blob channel.
pub struct SourceRun<'a> {
    pub stats: &'a Arc<RunStats>,
    /// Set when the run takes no new work (a drain or a stop).
    pub stop: &'a AtomicBool,
    /// The I/O runtime network sources run on.
    pub runtime: &'a tokio::runtime::Handle,
    /// Which inputs are done, for the sources that resume (a directory, an S3 replay).
    pub progress: Option<Arc<InputProgress>>,
    /// Whether the source reaches its service (for `/ready`).
    pub status: &'a SourceStatus,
    /// Where input the source itself cannot use goes (an SQS message that is no notification).
    pub dead_letter: Option<&'a DeadLetterWriter>,
}

/// Lists the source's inputs in order and hands them to the workers as blobs; the workers'
/// input ends when this returns (or, for Kafka, once it stops consuming).
pub fn run_source(
    source: &SourceConfig,
    blobs: Sender<Blob>,
    run: SourceRun<'_>,
) -> Result<(), SourceError> {
    let SourceRun {
        stats,
        stop,
        runtime,
        progress,
        status,
        dead_letter,
    } = run;
    let handoff = Handoff {
        blobs,
        stats,
        stop,
        status,
    };
    let send_then = |origin: Arc<str>,
                     input: BlobInput,
                     size: Option<u64>,
                     kind: &'static str,
                     then: Option<Box<dyn FnOnce(bool) + Send>>|
     -> bool {
        !handoff.stopping() && handoff.send(handoff.blob(origin, input, size, kind, then))
    };
    let send = |origin: Arc<str>, input: BlobInput, size: Option<u64>, kind: &'static str| {
        send_then(origin, input, size, kind, None)
    };
    match source {
        SourceConfig::Kafka(c) => kafka::run(c, handoff)?,
        SourceConfig::S3(c) => {
            let progress =
                progress.unwrap_or_else(|| Arc::new(InputProgress::s3(&c.bucket, &c.prefix)));
            // Objects are handed on as their fetches start, so the hand-on channel holds as many
            // as the fetch limit may grow to: a smaller one would cap the fetches in flight.
            let ahead = c.fetch_max().map_err(SourceError::Window)?;
            forward_network_source(ahead, "s3", &send_then, status, |hand_on| {
                runtime.block_on(async {
                    let gets = object_gets::ObjectGets::new(&c.aws).await;
                    s3::run(c, gets, progress.clone(), stop, hand_on).await
                })
            })?;
        }
        SourceConfig::Sqs(c) => {
            let ahead = c.fetch_max().map_err(|detail| SourceError::Queue {
                url: c.queue_url.clone(),
                detail,
            })?;
            forward_network_source(ahead, "sqs", &send_then, status, |hand_on| {
                let bad_input = sqs::BadInput { stats, dead_letter };
                runtime.block_on(sqs::run(c, stop, status, bad_input, hand_on))
            })?;
        }
        SourceConfig::Stdin {} => {
            send(
                Arc::from(stdin::STDIN_ORIGIN),
                BlobInput::Stdin,
                None,
                "stdin",
            );
        }
        SourceConfig::Dir { paths, hidden } => {
            let (std_in, files): (Vec<PathBuf>, Vec<PathBuf>) =
                paths.iter().cloned().partition(|p| p.as_os_str() == "-");
            if !std_in.is_empty()
                && !send(
                    Arc::from(stdin::STDIN_ORIGIN),
                    BlobInput::Stdin,
                    None,
                    "stdin",
                )
            {
                return Ok(());
            }
            if !files.is_empty() {
                let walk = Walk {
                    options: WalkOptions { hidden: *hidden },
                    emit: &mut |f, key| {
                        let origin: Arc<str> = Arc::from(f.path.display().to_string());
                        let then: Option<Box<dyn FnOnce(bool) + Send>> = match &progress {
                            // Done by an earlier run (the checkpoint): not read again.
                            Some(p) if p.already_done("", &key) => {
                                RunStats::add(&stats.inputs_done_before, 1);
                                metrics::counter!(m::INPUTS_SKIPPED, "reason" => "checkpoint")
                                    .increment(1);
                                return true;
                            }
                            Some(p) => {
                                p.started("", &key, dir::trail_time_key(&key).unwrap_or(0));
                                let p = p.clone();
                                Some(Box::new(move |ok| p.finished("", &key, ok)))
                            }
                            None => None,
                        };
                        send_then(origin, BlobInput::File(f.path), Some(f.size), "dir", then)
                    },
                    skipped: &mut |_, why| {
                        RunStats::add(&stats.inputs_skipped, 1);
                        metrics::counter!(m::INPUTS_SKIPPED, "reason" => why.label()).increment(1);
                    },
                };
                dir::walk_in_time_order(&files, walk).map_err(|source| SourceError::Listing {
                    paths: display_paths(&files),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

/// What a source calls to hand on one input (with what to run once it is done).
type SendInput<'a> = dyn Fn(Arc<str>, BlobInput, Option<u64>, &'static str, Option<Box<dyn FnOnce(bool) + Send>>) -> bool
    + Sync
    + 'a;

/// Runs a network source (async, on the runtime) with a forwarding thread that passes what it
/// hands on to the blob channel, whose sends block: the source itself never blocks, so its
/// fetches overlap while the workers are busy.
fn forward_network_source(
    ahead: usize,
    kind: &'static str,
    send_then: &SendInput<'_>,
    status: &SourceStatus,
    run: impl FnOnce(s3::HandOn) -> Result<(), SourceError>,
) -> Result<(), SourceError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<s3::Handed>(ahead.max(1));
    let result = thread::scope(|scope| {
        scope.spawn(move || {
            while let Some(h) = rx.blocking_recv() {
                // An object came: the service answers.
                status.connected();
                if !send_then(
                    h.origin,
                    BlobInput::Stream(h.input),
                    h.size,
                    kind,
                    Some(h.then),
                ) {
                    break;
                }
            }
            // Dropping the receiver ends the source's sends: the run is stopping.
        });
        run(tx)
    });
    match &result {
        Ok(()) => status.connected(),
        Err(e) => status.failing(e.to_string()),
    }
    result
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sums the inputs' sizes in the background, for the progress line's ETA.
pub fn spawn_sizer(paths: Vec<PathBuf>, options: WalkOptions, stats: Arc<RunStats>) {
    let files: Vec<PathBuf> = paths.into_iter().filter(|p| p.as_os_str() != "-").collect();
    let _ = thread::Builder::new()
        .name("trailhose-sizer".into())
        .spawn(move || {
            if let Ok((count, bytes)) = dir::total_size(&files, options) {
                stats.inputs_known.store(count, Ordering::Relaxed);
                stats.input_bytes_known.store(bytes, Ordering::Relaxed);
            }
        });
}
