//! The pipeline: builds the stages a config names, joins them with bounded channels, runs them
//! and shuts them down in order (source, then workers, then sinks), so every batch a worker
//! produced is written or its input is reported unacknowledged.
//!
//! Threads: one source thread lists inputs; `workers` decode threads each take whole blobs;
//! each sink runs on its own blocking thread fed by a bounded tokio channel; a small tokio
//! runtime serves metrics and watches for Ctrl-C. A slow sink fills its channel, the workers
//! block, the source blocks on the blob channel: memory stays bounded whatever the input.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::blob::{AckToken, Blob, BlobInput};
use crate::config::{PipelineConfig, SinkConfig, SourceConfig};
use crate::dead_letter::DeadLetterWriter;
use crate::metrics as m;
use crate::progress::{progress_wanted, summary_line, ChannelProbe, GaugeProbe, Monitor};
use crate::sink::ndjson::NdjsonSink;
use crate::sink::{BufferPool, SinkOutcome};
use crate::source::dir::{Walk, WalkOptions};
use crate::source::s3::{self, epoch_of, S3Progress};
use crate::source::{dir, sqs, stdin};
use crate::state::StateDir;
use crate::state::S3_CHECKPOINT_FILE;
use crate::stats::RunStats;
use crate::transform::attribution::{AttributionLimits, AttributionTable};
use crate::transform::dedupe::DedupeTable;
use crate::transform::geoip::GeoIp;
use crate::transform::normalize::Format;
use crate::transform::reorder::ReorderWindow;
use crate::worker::{drain_reorder_window, run_worker, WorkerShared};

/// Process exit codes; the README lists them.
pub mod exit {
    /// Every input read cleanly.
    pub const CLEAN: i32 = 0;
    /// Some input was bad: logged, counted and dead-lettered; the rest went through.
    pub const INPUT_ERRORS: i32 = 1;
    /// A usage or config error: nothing was read.
    pub const USAGE: i32 = 2;
    /// A sink failed (disk full, say): the run stopped; unacknowledged inputs were not done.
    pub const SINK_FAILED: i32 = 3;
    /// An internal error: a thread panicked (a bug). What it held was not acknowledged.
    pub const INTERNAL: i32 = 4;
    /// Interrupted (Ctrl-C / SIGINT) after flushing what was in flight.
    pub const INTERRUPTED: i32 = 130;
}

/// How a run is shown.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// No progress line and no summary (errors are still printed).
    pub quiet: bool,
}

/// What a run did.
pub struct RunReport {
    pub stats: Arc<RunStats>,
    pub elapsed: Duration,
    /// The first sink failure, if any.
    pub sink_failure: Option<String>,
    pub interrupted: bool,
}

impl RunReport {
    pub fn exit_code(&self) -> i32 {
        if RunStats::get(&self.stats.panics) > 0 {
            exit::INTERNAL
        } else if self.sink_failure.is_some() {
            exit::SINK_FAILED
        } else if self.interrupted {
            exit::INTERRUPTED
        } else if RunStats::get(&self.stats.errors) > 0 {
            exit::INPUT_ERRORS
        } else {
            exit::CLEAN
        }
    }
}

/// Runs a validated pipeline to its end. `Err` is a start-up problem (exit code 2): a file that
/// cannot be created, a port that cannot be bound.
pub fn run(config: &PipelineConfig, opts: &RunOptions) -> Result<RunReport, String> {
    let started = Instant::now();
    let bounds = &config.pipeline;
    let workers = bounds.worker_count();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("trailhose-io")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    let stats = Arc::new(RunStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));

    if let Some(mc) = &config.metrics {
        let addr = m::parse_addr(&mc.addr).map_err(|e| format!("metrics.addr = {e}"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        let handle = m::install_recorder()?;
        runtime.spawn(m::serve(listener, handle));
        metrics::gauge!(m::WORKERS).set(workers as f64);
    }

    let mut probes: Vec<ChannelProbe> = Vec::new();
    let mut sink_senders = Vec::new();
    let mut sink_tasks = Vec::new();
    for (i, sink_config) in config.sinks.iter().enumerate() {
        let (tx, rx) = tokio::sync::mpsc::channel(bounds.channel_batches);
        let weak = tx.downgrade();
        let capacity = bounds.channel_batches;
        let name = match sink_config {
            SinkConfig::Ndjson(c) => {
                let sink = NdjsonSink::open(c)?;
                let st = stats.clone();
                sink_tasks.push(runtime.spawn_blocking(move || sink.run(rx, st)));
                format!("sink_{i}_ndjson")
            }
        };
        probes.push((
            name,
            Box::new(move || {
                let depth = weak.upgrade().map_or(0, |s| capacity - s.capacity());
                (depth, capacity)
            }),
        ));
        sink_senders.push(tx);
    }

    let dead_letter = match &bounds.dead_letter {
        Some(path) => Some(Arc::new(DeadLetterWriter::create(path)?)),
        None => None,
    };

    // Stateful stages, and what earlier runs left them in the state directory.
    let attribution = Arc::new(AttributionTable::new(AttributionLimits {
        max_keys: config.enrich.max_keys,
    }));
    let dedupe = config
        .dedupe
        .enabled
        .then(|| Arc::new(DedupeTable::new(&config.dedupe)));
    let state = match &config.state.dir {
        Some(dir) => {
            let state = StateDir::open(dir)?;
            state.load_attribution(&attribution)?;
            if let Some(d) = &dedupe {
                state.load_dedupe(d)?;
            }
            Some(state)
        }
        None => None,
    };
    let geoip = match (&config.enrich.geoip_city, &config.enrich.geoip_asn) {
        (None, None) => None,
        (city, asn) => Some(Arc::new(GeoIp::open(city.as_deref(), asn.as_deref())?)),
    };
    let window = Arc::new(ReorderWindow::new(config.enrich.reorder_limits()));
    let checkpoints_done = Arc::new(AtomicBool::new(false));
    let checkpointer = match (&state, config.enrich.enabled) {
        (Some(state), true) => Some(spawn_checkpointer(
            state.clone(),
            attribution.clone(),
            Duration::from_secs(config.state.checkpoint_secs),
            checkpoints_done.clone(),
        )),
        _ => None,
    };

    {
        let (stop, interrupted) = (stop.clone(), interrupted.clone());
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
            }
        });
    }

    // Blobs are small (a name and a token), so this channel bounds how far listing runs ahead.
    let (blob_tx, blob_rx) = crossbeam_channel::bounded::<Blob>(workers * 2);
    {
        let rx = blob_rx.clone();
        probes.push((
            "blobs".into(),
            Box::new(move || (rx.len(), rx.capacity().unwrap_or(0))),
        ));
    }

    let draw = progress_wanted(opts.quiet);
    if draw {
        if let SourceConfig::Dir { paths, hidden } = &config.source {
            spawn_sizer(
                paths.clone(),
                WalkOptions { hidden: *hidden },
                stats.clone(),
            );
        }
    }
    // An S3 replay's progress, restored from the state directory.
    let s3_progress = match &config.source {
        SourceConfig::S3(c) => {
            let progress = Arc::new(S3Progress::new(&c.bucket, &c.prefix));
            if let Some(state) = &state {
                if let Some(json) = state.load_s3_checkpoint()? {
                    progress.load(&json).map_err(|e| {
                        format!(
                            "{}: {e} (move it away to replay from the start)",
                            state.file(S3_CHECKPOINT_FILE).display()
                        )
                    })?;
                }
            }
            Some(progress)
        }
        _ => None,
    };
    let progress_saver = s3_progress
        .clone()
        .map(|p| spawn_progress_saver(p, state.clone(), checkpoints_done.clone()));
    let source = {
        let (source_config, stats, stop) = (config.source.clone(), stats.clone(), stop.clone());
        let (handle, progress) = (runtime.handle().clone(), s3_progress.clone());
        thread::Builder::new()
            .name("trailhose-source".into())
            .spawn(move || run_source(&source_config, &blob_tx, &stats, &stop, &handle, progress))
            .map_err(|e| format!("cannot start the source thread: {e}"))?
    };

    // Each format is written once per record, however many sinks take it.
    let mut formats: Vec<Format> = Vec::new();
    let sink_formats = config
        .sinks
        .iter()
        .map(|s| match formats.iter().position(|f| *f == s.format()) {
            Some(i) => i,
            None => {
                formats.push(s.format());
                formats.len() - 1
            }
        })
        .collect();
    let shared = Arc::new(WorkerShared {
        stats: stats.clone(),
        sinks: sink_senders,
        dead_letter: dead_letter.clone(),
        stop: stop.clone(),
        batch_bytes: bounds.batch_bytes,
        limits: bounds.split_limits(),
        printed_errors: AtomicU64::new(0),
        progress_on_stderr: draw,
        enrich: config.enrich.enabled,
        attribution: attribution.clone(),
        window: window.clone(),
        dedupe: dedupe.clone(),
        geoip,
        filter: config.filter.clone(),
        sink_formats,
        normalize: config.normalize.clone(),
        normalized: formats.iter().any(|f| *f != Format::Raw),
        // As many as can be in use at once (each worker filling one per format, each sink's
        // channel full): the pool keeps the high-water mark the bounds allow, no more.
        buffers: Arc::new(BufferPool::new(
            2 * workers * formats.len() + bounds.channel_batches * config.sinks.len(),
            2 * (bounds.batch_bytes + bounds.max_record_bytes),
        )),
        formats,
    });
    let mut worker_threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let (rx, shared) = (blob_rx.clone(), shared.clone());
        let t = thread::Builder::new()
            .name(format!("trailhose-worker-{i}"))
            .spawn(move || run_worker(rx, shared))
            .map_err(|e| format!("cannot start worker {i}: {e}"))?;
        worker_threads.push(t);
    }
    drop(blob_rx);
    let gauges: Vec<GaugeProbe> = {
        let (a, w) = (attribution.clone(), window.clone());
        let mut g: Vec<GaugeProbe> = vec![
            (m::ATTRIBUTION_KEYS, Box::new(move || a.len() as f64)),
            (m::REORDER_WAITING, Box::new(move || w.len() as f64)),
        ];
        if !config.enrich.enabled {
            g.clear();
        }
        g
    };
    let monitor = Monitor::spawn(stats.clone(), draw, probes, gauges, started);

    match source.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            RunStats::add(&stats.errors, 1);
            metrics::counter!(m::ERRORS, "kind" => "io").increment(1);
            eprintln!("trailhose: error: {e}");
        }
        Err(_) => {
            // A bug: what it had listed but not handed on is simply not read, so nothing of it
            // is acknowledged; the run must not end as if the input were complete.
            RunStats::add(&stats.panics, 1);
            stop.store(true, Ordering::Relaxed);
            eprintln!("trailhose: error: internal error: the source thread panicked while listing {}; the run stops and inputs not yet read are not acknowledged", config.source.describe());
        }
    }
    for t in worker_threads {
        // A worker's panic was reported (naming its input) by the worker as it unwound.
        if t.join().is_err() {
            stop.store(true, Ordering::Relaxed);
        }
    }
    if !stop.load(Ordering::Relaxed) {
        drain_reorder_window(&shared);
    }
    // The last sender handles go with it: each sink drains its channel and ends.
    drop(shared);
    // The workers are gone, so are the sink senders: each sink drains its channel and ends.
    let outcomes = runtime.block_on(async {
        let mut outcomes = Vec::new();
        for task in sink_tasks {
            outcomes.push(
                task.await
                    .unwrap_or_else(|e| SinkOutcome::Failed(format!("sink panicked: {e}"))),
            );
        }
        outcomes
    });
    monitor.finish();
    if let Some(dl) = &dead_letter {
        if let Err(e) = dl.flush() {
            eprintln!("trailhose: error: cannot write the dead-letter output: {e}");
            RunStats::add(&stats.errors, 1);
        }
    }
    runtime.shutdown_background();
    let sink_failure = outcomes.into_iter().find_map(|o| match o {
        SinkOutcome::Failed(msg) => Some(msg),
        _ => None,
    });
    checkpoints_done.store(true, Ordering::Relaxed);
    for (what, t) in [
        ("attribution checkpointer", checkpointer),
        ("checkpoint saver", progress_saver),
    ] {
        if let Some(t) = t {
            t.thread().unpark();
            if t.join().is_err() {
                RunStats::add(&stats.panics, 1);
                eprintln!("trailhose: error: internal error: the {what} thread panicked; state may not have been saved");
            }
        }
    }
    if let Some(state) = &state {
        let clean = !stop.load(Ordering::Relaxed)
            && sink_failure.is_none()
            && RunStats::get(&stats.panics) == 0;
        save_state(
            state,
            &attribution,
            dedupe.as_deref(),
            clean,
            config.enrich.enabled,
            &stats,
        );
    }
    let report = RunReport {
        stats,
        elapsed: started.elapsed(),
        sink_failure,
        interrupted: interrupted.load(Ordering::Relaxed),
    };
    if let Some(msg) = &report.sink_failure {
        eprintln!("trailhose: error: sink failed, run stopped: {msg}");
    }
    if !opts.quiet {
        eprintln!("{}", summary_line(&report.stats, report.elapsed));
    }
    Ok(report)
}

/// Saves an S3 replay's checkpoint (when there is a state directory) a few times a second while
/// it changes, and once more at the end, so a kill -9 re-reads little beyond what was in
/// flight; keeps the checkpoint-lag gauge current.
fn spawn_progress_saver(
    progress: Arc<S3Progress>,
    state: Option<StateDir>,
    done: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || loop {
        let finished = done.load(Ordering::Relaxed);
        let oldest = progress.oldest_pending().map_or(0, epoch_of);
        metrics::gauge!(m::CHECKPOINT_OLDEST_PENDING).set(oldest as f64);
        if progress.dirty.swap(false, Ordering::AcqRel) {
            if let Some(state) = &state {
                if let Err(e) = state.save_s3_checkpoint(&progress.to_json()) {
                    eprintln!("trailhose: error: cannot save the S3 checkpoint: {e}");
                }
            }
        }
        if finished {
            return;
        }
        thread::park_timeout(Duration::from_millis(250));
    })
}

/// Saves attribution every `every` while the run lasts (it only ever improves enrichment, so a
/// crash between checkpoints loses nothing but some resolutions).
fn spawn_checkpointer(
    state: StateDir,
    attribution: Arc<AttributionTable>,
    every: Duration,
    done: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || loop {
        thread::park_timeout(every);
        if done.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = state.save_attribution(&attribution) {
            eprintln!("trailhose: error: cannot checkpoint attribution: {e}");
        }
    })
}

/// Saves the stateful stages at the end of a run. Dedupe is saved only after a clean run: an
/// event id saved before its event reached every sink would make the next run drop it.
fn save_state(
    state: &StateDir,
    attribution: &AttributionTable,
    dedupe: Option<&DedupeTable>,
    clean: bool,
    enrich: bool,
    stats: &RunStats,
) {
    let mut failed = Vec::new();
    if enrich {
        if let Err(e) = state.save_attribution(attribution) {
            failed.push(format!("attribution: {e}"));
        }
    }
    if let (Some(d), true) = (dedupe, clean) {
        if let Err(e) = state.save_dedupe(d) {
            failed.push(format!("dedupe: {e}"));
        }
    }
    for f in failed {
        eprintln!("trailhose: error: cannot save state: {f}");
        RunStats::add(&stats.errors, 1);
    }
}

/// Lists the source's inputs in order and hands them to the workers as blobs.
fn run_source(
    source: &SourceConfig,
    blobs: &Sender<Blob>,
    stats: &Arc<RunStats>,
    stop: &AtomicBool,
    runtime: &tokio::runtime::Handle,
    s3_progress: Option<Arc<S3Progress>>,
) -> Result<(), String> {
    // `then` runs with the input's outcome too (the S3 checkpoint, SQS deletes).
    let send_then = |origin: Arc<str>,
                     input: BlobInput,
                     size: Option<u64>,
                     kind: &'static str,
                     then: Option<Box<dyn FnOnce(bool) + Send>>|
     -> bool {
        {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            metrics::counter!(m::INPUTS, "source" => kind).increment(1);
            let st = stats.clone();
            let ack = AckToken::new(move |ok| {
                if ok {
                    metrics::counter!(m::INPUTS_ACKED).increment(1);
                } else {
                    metrics::counter!(m::INPUTS_FAILED).increment(1);
                }
                RunStats::add(&st.inputs_done, 1);
                if let Some(then) = then {
                    then(ok);
                }
            });
            blobs
                .send(Blob {
                    origin,
                    input,
                    size,
                    ack,
                })
                .is_ok()
        }
    };
    let send = |origin: Arc<str>, input: BlobInput, size: Option<u64>, kind: &'static str| {
        send_then(origin, input, size, kind, None)
    };
    match source {
        SourceConfig::S3(c) => {
            let progress =
                s3_progress.unwrap_or_else(|| Arc::new(S3Progress::new(&c.bucket, &c.prefix)));
            forward_network_source(c.fetch_concurrency, "s3", &send_then, |hand_on| {
                runtime.block_on(async {
                    let client = c.aws.s3().await;
                    s3::run(c, client, progress.clone(), stop, hand_on).await
                })
            })?;
        }
        SourceConfig::Sqs(c) => {
            forward_network_source(c.fetch_concurrency, "sqs", &send_then, |hand_on| {
                runtime.block_on(sqs::run(c, stop, hand_on))
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
                    emit: &mut |f| {
                        let origin: Arc<str> = Arc::from(f.path.display().to_string());
                        send(origin, BlobInput::File(f.path), Some(f.size), "dir")
                    },
                    skipped: &mut |_, why| {
                        RunStats::add(&stats.inputs_skipped, 1);
                        metrics::counter!(m::INPUTS_SKIPPED, "reason" => why.label()).increment(1);
                    },
                };
                dir::walk_in_time_order(&files, walk)
                    .map_err(|e| format!("listing {}: {e}", display_paths(&files)))?;
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
    run: impl FnOnce(s3::HandOn) -> Result<(), String>,
) -> Result<(), String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<s3::Handed>(ahead.max(1));
    thread::scope(|scope| {
        scope.spawn(move || {
            while let Some(h) = rx.blocking_recv() {
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
    })
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sums the inputs' sizes in the background, for the progress line's ETA.
fn spawn_sizer(paths: Vec<PathBuf>, options: WalkOptions, stats: Arc<RunStats>) {
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
