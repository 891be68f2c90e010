//! The topology: what a config's pipeline is made of, built, run and shut down in three steps.
//!
//! `build` opens everything that can fail at start (sinks, the dead-letter file, state, GeoIP
//! databases, the metrics port) before any input is read. `start` joins the stages with bounded
//! channels and starts them: one source thread lists inputs; `workers` decode threads each take
//! whole blobs; each sink's delivery loop runs on a thread of its own (a small tokio runtime:
//! a sink writing a local stream may block there without holding up anything else, and a batch
//! costs one thread wake-up, as a plain writer thread would), fed by its own bounded channel. `finish` shuts them down in order (source, workers, the reorder window, sinks, state),
//! so every batch a worker produced is delivered or its input is reported unacknowledged.
//!
//! A slow sink fills its channel, the workers block, the source blocks on the blob channel:
//! memory stays bounded whatever the input.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::blob::Blob;
use crate::config::{sink_ids, PipelineConfig, SourceConfig};
use crate::dead_letter::DeadLetterWriter;
use crate::health::{Health, HealthLimits, SinkHealth};
use crate::ledger::Ledger;
use crate::metrics as m;
use crate::pipeline::{RunOptions, RunReport, StartError};
use crate::progress::{progress_wanted, summary_line, ChannelProbe, GaugeProbe, Monitor};
use crate::shutdown::Shutdown;
use crate::sink::delivery::SinkDriver;
use crate::sink::{
    BufferPool, DeliverySettings, Sink, SinkBatch, SinkContext, SinkError, SinkOutcome,
};
use crate::source::dir::WalkOptions;
use crate::source::progress::{CheckpointError, InputProgress};
use crate::source::s3::epoch_of;
use crate::source::{run_source, spawn_sizer, SourceError, SourceRun};
use crate::state::{Commit, SinkPosition, StateDir, CHECKPOINT_FILE, S3_CHECKPOINT_FILE};
use crate::stats::RunStats;
use crate::stream_chunks::ChunkQueue;
use crate::transform::attribution::{AttributionLimits, AttributionTable};
use crate::transform::dedupe::DedupeTable;
use crate::transform::geoip::GeoIp;
use crate::transform::normalize::Format;
use crate::transform::reorder::ReorderWindow;
use crate::worker::{drain_reorder_window, run_worker, WorkerShared};

/// How long a sink's health check may take at start before the run goes on without its answer.
const START_HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A sink as built: its id, the sink, how it is delivered to, and its format.
struct BuiltSink {
    id: Arc<str>,
    sink: Arc<dyn Sink>,
    settings: DeliverySettings,
    format: Format,
    /// The file it writes, absolute, when it can be resumed (see `SinkSpec::file`).
    file: Option<std::path::PathBuf>,
}

/// What a run holds from its build to its shutdown.
struct Core<'c> {
    config: &'c PipelineConfig,
    opts: RunOptions,
    started: Instant,
    runtime: tokio::runtime::Runtime,
    stats: Arc<RunStats>,
    shutdown: Shutdown,
    dead_letter: Option<Arc<DeadLetterWriter>>,
    attribution: Arc<AttributionTable>,
    dedupe: Option<Arc<DedupeTable>>,
    state: Option<StateDir>,
    /// With a state directory: what the sinks have, committed with the source's progress.
    ledger: Option<Arc<Ledger>>,
    /// Which inputs are done, for sources that resume (a directory, an S3 replay).
    progress: Option<Arc<InputProgress>>,
}

/// Everything a run is made of, opened and not yet started.
pub struct Topology<'c> {
    core: Core<'c>,
    metrics: Option<(
        tokio::net::TcpListener,
        metrics_exporter_prometheus::PrometheusHandle,
    )>,
    sinks: Vec<BuiltSink>,
    geoip: Option<Arc<GeoIp>>,
    window: Arc<ReorderWindow>,
}

/// Each sink's build context, in config order.
pub fn sink_contexts(config: &PipelineConfig) -> Vec<SinkContext> {
    sink_ids(&config.sinks)
        .into_iter()
        .map(|id| SinkContext {
            id: Arc::from(id),
            resume: None,
        })
        .collect()
}

/// What a replay of `source` is called in its checkpoint (a checkpoint of another is refused),
/// for the sources that keep one.
fn progress_identity(source: &SourceConfig) -> Option<String> {
    match source {
        SourceConfig::S3(c) => Some(format!("s3://{}/{}", c.bucket, c.prefix)),
        SourceConfig::Dir { paths, .. } => {
            let files: Vec<String> = paths
                .iter()
                .filter(|p| p.as_os_str() != "-")
                .map(|p| absolute(p).display().to_string())
                .collect();
            (!files.is_empty()).then(|| format!("dir:{}", files.join(",")))
        }
        _ => None,
    }
}

/// `path` made absolute (resolving links where it exists), so a checkpoint names the same
/// file whatever the working directory.
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

impl<'c> Topology<'c> {
    /// Opens everything a validated config names; nothing runs yet.
    pub fn build(config: &'c PipelineConfig, opts: &RunOptions) -> Result<Self, StartError> {
        let started = Instant::now();
        let bounds = &config.pipeline;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trailhose-io")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let metrics = match &config.metrics {
            Some(mc) => {
                let addr = m::parse_addr(&mc.addr)
                    .map_err(|e| StartError::Metrics(format!("metrics.addr = {e}")))?;
                let listener = runtime
                    .block_on(tokio::net::TcpListener::bind(addr))
                    .map_err(|source| StartError::MetricsAddr {
                        addr: addr.to_string(),
                        source,
                    })?;
                Some((
                    listener,
                    m::install_recorder().map_err(StartError::Metrics)?,
                ))
            }
            None => None,
        };

        let dead_letter = match &bounds.dead_letter {
            Some(path) => Some(Arc::new(
                DeadLetterWriter::open(path, bounds.dead_letter_append, bounds.dead_letter_sync)
                    .map_err(|source| StartError::DeadLetter {
                        path: path.display().to_string(),
                        source,
                    })?,
            )),
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
        // The state directory first: a file sink resumes at the length it committed.
        let state = match &config.state.dir {
            Some(dir) => Some(StateDir::open(dir)?),
            None => None,
        };
        let commit = match &state {
            Some(state) => state.load_commit()?,
            None => None,
        };
        let mut sinks = Vec::with_capacity(config.sinks.len());
        for (sink, mut cx) in config.sinks.iter().zip(sink_contexts(config)) {
            let spec = sink.spec();
            let file = state.as_ref().and(spec.file()).map(|f| absolute(&f));
            // Resumed only when the commit is of this very file; another starts afresh.
            cx.resume = commit.as_ref().and_then(|c| {
                let at = c.sinks.get(&*cx.id)?;
                (Some(&at.path) == file.as_ref()).then_some(at.length)
            });
            let built = spec.build(&cx)?;
            sinks.push(BuiltSink {
                settings: spec.delivery(),
                format: spec.format(),
                // Again once it exists, so links in its path resolve as they will on resume.
                file: file.map(|f| absolute(&f)),
                sink: built,
                id: cx.id,
            });
        }
        let ledger = state.as_ref().map(|_| {
            let positions = sinks
                .iter()
                .map(|s| s.file.as_ref().and(s.sink.position()))
                .collect();
            Arc::new(Ledger::new(
                positions,
                config.dedupe.enabled.then_some(&config.dedupe),
            ))
        });
        if let Some(state) = &state {
            state.load_attribution(&attribution)?;
            match (&commit, &dedupe) {
                (Some(c), Some(d)) => {
                    d.restore(&c.delivered);
                    if let Some(l) = &ledger {
                        l.restore(&c.delivered);
                    }
                }
                // Before checkpoint.bin, dedupe.bin was saved only after a clean run: all of
                // it was delivered.
                (None, Some(d)) => {
                    state.load_dedupe(d)?;
                    if let Some(l) = &ledger {
                        l.restore(&d.entries());
                    }
                }
                _ => {}
            }
        }
        let geoip = match (&config.enrich.geoip_city, &config.enrich.geoip_asn) {
            (None, None) => None,
            (city, asn) => Some(Arc::new(GeoIp::open(city.as_deref(), asn.as_deref())?)),
        };
        // A replay's progress (S3, a directory), restored from the state directory.
        let progress = match progress_identity(&config.source) {
            Some(identity) => {
                let progress = Arc::new(InputProgress::new(identity));
                if let Some(state) = &state {
                    let restored = match commit.as_ref().and_then(|c| c.source.clone()) {
                        Some(saved) => match progress.load_value(saved) {
                            // Other folders (the next day's, say) with the same state: a new
                            // replay, which keeps the remembered ids and sessions. A bucket's
                            // checkpoint is refused instead: losing it re-reads an archive.
                            Err(CheckpointError::OtherReplay { theirs, .. })
                                if matches!(config.source, SourceConfig::Dir { .. }) =>
                            {
                                eprintln!(
                                    "trailhose: note: the state directory's checkpoint is of {theirs}: this replay of other folders starts its own (remembered events and sessions are kept)"
                                );
                                Ok(())
                            }
                            other => other.map_err(|e| (state.file(CHECKPOINT_FILE), e)),
                        },
                        None => match state.load_s3_checkpoint()? {
                            Some(json) => progress
                                .load(&json)
                                .map_err(|e| (state.file(S3_CHECKPOINT_FILE), e)),
                            None => Ok(()),
                        },
                    };
                    restored.map_err(|(path, source)| StartError::Checkpoint { path, source })?;
                }
                Some(progress)
            }
            None => None,
        };
        Ok(Topology {
            core: Core {
                config,
                opts: opts.clone(),
                started,
                runtime,
                stats: Arc::new(RunStats::default()),
                shutdown: Shutdown::new(),
                dead_letter,
                attribution,
                dedupe,
                state,
                ledger,
                progress,
            },
            metrics,
            sinks,
            geoip,
            window: Arc::new(ReorderWindow::new(config.enrich.reorder_limits())),
        })
    }

    /// Starts every stage. Sinks first, then the workers, then the source.
    pub fn start(self) -> Result<Running<'c>, StartError> {
        let config = self.core.config;
        let bounds = &config.pipeline;
        let workers = bounds.worker_count();
        let stats = self.core.stats.clone();
        let stop = self.core.shutdown.flag();
        let draining = self.core.shutdown.draining_flag();
        self.check_sinks_at_start();
        let sink_health: Vec<Arc<SinkHealth>> = self
            .sinks
            .iter()
            .map(|s| Arc::new(SinkHealth::new(s.id.clone())))
            .collect();
        let limits = config
            .metrics
            .as_ref()
            .map_or_else(HealthLimits::default, |m| HealthLimits {
                ready_sink_failing: Duration::from_secs(m.ready_sink_failing_secs),
                stall: Duration::from_secs(m.stall_secs),
            });
        let health = Arc::new(Health::new(
            sink_health.clone(),
            stats.clone(),
            config.source.kind(),
            self.core.state.is_some(),
            draining.clone(),
            limits,
        ));
        if let Some((listener, handle)) = self.metrics {
            self.core
                .runtime
                .spawn(m::serve(listener, handle, health.clone()));
            metrics::gauge!(m::WORKERS).set(workers as f64);
        }
        self.core.shutdown.listen(
            self.core.runtime.handle(),
            Duration::from_secs(bounds.shutdown_timeout_secs),
        );

        let mut probes: Vec<ChannelProbe> = Vec::new();
        let mut sink_senders = Vec::new();
        let mut sink_tasks = Vec::new();
        for (index, built) in self.sinks.iter().enumerate() {
            let (tx, rx) = tokio::sync::mpsc::channel::<SinkBatch>(bounds.channel_batches);
            let weak = tx.downgrade();
            let capacity = bounds.channel_batches;
            let driver = SinkDriver {
                id: built.id.clone(),
                sink: built.sink.clone(),
                settings: built.settings.clone(),
                stats: stats.clone(),
                dead_letter: self.core.dead_letter.clone(),
                stop: stop.clone(),
                ledger: self.core.ledger.clone().map(|l| (l, index)),
                health: sink_health[index].clone(),
            };
            let thread = thread::Builder::new()
                .name(format!("trailhose-sink-{}", built.id))
                .spawn(move || driver.run_on_own_thread(rx))
                .map_err(|source| StartError::Thread {
                    what: format!("sink {}", built.id),
                    source,
                })?;
            sink_tasks.push((built.id.clone(), thread));
            probes.push((
                format!("sink_{}", built.id),
                Box::new(move || {
                    let depth = weak.upgrade().map_or(0, |s| capacity - s.capacity());
                    (depth, capacity)
                }),
            ));
            sink_senders.push(tx);
        }

        let checkpoints_done = Arc::new(AtomicBool::new(false));
        let checkpointer = match (&self.core.state, config.enrich.enabled) {
            (Some(state), true) => Some(spawn_checkpointer(
                state.clone(),
                self.core.attribution.clone(),
                Duration::from_secs(config.state.checkpoint_secs),
                checkpoints_done.clone(),
            )),
            _ => None,
        };
        let committer = spawn_committer(Committer {
            state: self.core.state.clone(),
            ledger: self.core.ledger.clone(),
            progress: self.core.progress.clone(),
            sinks: self
                .sinks
                .iter()
                .map(|s| (s.id.clone(), s.file.clone()))
                .collect(),
            every: Duration::from_millis(config.state.commit_interval_ms),
            health: health.clone(),
            done: checkpoints_done.clone(),
        });

        // Blobs are small (a name and a token), so this channel bounds how far listing runs ahead.
        let (blob_tx, blob_rx) = crossbeam_channel::bounded::<Blob>(workers * 2);
        {
            let rx = blob_rx.clone();
            probes.push((
                "blobs".into(),
                Box::new(move || (rx.len(), rx.capacity().unwrap_or(0))),
            ));
        }
        let draw = progress_wanted(self.core.opts.quiet);

        // Each format is written once per record, however many sinks take it.
        let mut formats: Vec<Format> = Vec::new();
        let sink_formats = self
            .sinks
            .iter()
            .map(|s| match formats.iter().position(|f| *f == s.format) {
                Some(i) => i,
                None => {
                    formats.push(s.format);
                    formats.len() - 1
                }
            })
            .collect();
        let shared = Arc::new(WorkerShared {
            stats: stats.clone(),
            sinks: sink_senders,
            dead_letter: self.core.dead_letter.clone(),
            stop: stop.clone(),
            draining: draining.clone(),
            ledger: self.core.ledger.clone(),
            batch_bytes: bounds.batch_bytes,
            limits: bounds.split_limits(),
            printed_errors: AtomicU64::new(0),
            progress_on_stderr: draw,
            enrich: config.enrich.enabled,
            attribution: self.core.attribution.clone(),
            window: self.window.clone(),
            dedupe: self.core.dedupe.clone(),
            geoip: self.geoip.clone(),
            filter: config.filter.clone(),
            sink_formats,
            normalize: config.normalize.clone(),
            normalized: formats.iter().any(|f| *f != Format::Raw),
            // As many as can be in use at once (each worker filling one per format, each sink's
            // channel full): the pool keeps the high-water mark the bounds allow, no more.
            buffers: Arc::new(BufferPool::new(
                2 * workers * formats.len() + bounds.channel_batches * self.sinks.len(),
                2 * (bounds.batch_bytes + bounds.max_record_bytes),
            )),
            wants_keys: self.sinks.iter().any(|s| s.sink.wants_keys()),
            formats,
            chunks: ChunkQueue::new(workers),
        });
        let mut worker_threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let (rx, shared) = (blob_rx.clone(), shared.clone());
            let t = thread::Builder::new()
                .name(format!("trailhose-worker-{i}"))
                .spawn(move || run_worker(rx, shared))
                .map_err(|source| StartError::Thread {
                    what: format!("worker {i}"),
                    source,
                })?;
            worker_threads.push(t);
        }
        drop(blob_rx);

        if draw {
            if let SourceConfig::Dir { paths, hidden } = &config.source {
                spawn_sizer(
                    paths.clone(),
                    WalkOptions { hidden: *hidden },
                    stats.clone(),
                );
            }
        }
        let source = {
            let (source_config, stats) = (config.source.clone(), stats.clone());
            // Sources stop taking work as soon as the run drains.
            let stop = draining.clone();
            let (handle, progress, status, dead_letter) = (
                self.core.runtime.handle().clone(),
                self.core.progress.clone(),
                health.source.clone(),
                self.core.dead_letter.clone(),
            );
            thread::Builder::new()
                .name("trailhose-source".into())
                .spawn(move || {
                    run_source(
                        &source_config,
                        blob_tx,
                        SourceRun {
                            stats: &stats,
                            stop: &stop,
                            runtime: &handle,
                            progress,
                            status: &status,
                            dead_letter: dead_letter.as_deref(),
                        },
                    )
                })
                .map_err(|source| StartError::Thread {
                    what: "source".into(),
                    source,
                })?
        };
        let gauges: Vec<GaugeProbe> = if config.enrich.enabled {
            let (a, w) = (self.core.attribution.clone(), self.window.clone());
            vec![
                (m::ATTRIBUTION_KEYS, Box::new(move || a.len() as f64)),
                (m::REORDER_WAITING, Box::new(move || w.len() as f64)),
            ]
        } else {
            Vec::new()
        };
        let monitor = Monitor::spawn(stats.clone(), draw, probes, gauges, self.core.started);
        Ok(Running {
            core: self.core,
            source,
            worker_threads,
            shared,
            sink_tasks,
            monitor,
            checkpoints_done,
            checkpointer,
            committer,
            health,
        })
    }

    /// Runs each sink's health check; a failure is a warning (delivery retries until the sink
    /// is back, or its budget is spent).
    fn check_sinks_at_start(&self) {
        let contexts = sink_contexts(self.core.config);
        for (sink, cx) in self.core.config.sinks.iter().zip(contexts) {
            let check = sink.spec().healthcheck(&cx);
            let answer = self
                .core
                .runtime
                .block_on(async { tokio::time::timeout(START_HEALTHCHECK_TIMEOUT, check).await });
            match answer {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!(
                    "trailhose: warning: sink {}: health check failed: {e}; starting anyway, deliveries will be retried",
                    cx.id
                ),
                Err(_) => eprintln!(
                    "trailhose: warning: sink {}: no health check answer within {}s; starting anyway",
                    cx.id,
                    START_HEALTHCHECK_TIMEOUT.as_secs()
                ),
            }
        }
    }
}

/// A started topology.
pub struct Running<'c> {
    core: Core<'c>,
    source: thread::JoinHandle<Result<(), SourceError>>,
    worker_threads: Vec<thread::JoinHandle<()>>,
    shared: Arc<WorkerShared>,
    sink_tasks: Vec<(Arc<str>, thread::JoinHandle<SinkOutcome>)>,
    monitor: Monitor,
    checkpoints_done: Arc<AtomicBool>,
    checkpointer: Option<thread::JoinHandle<()>>,
    committer: thread::JoinHandle<()>,
    health: Arc<Health>,
}

impl Running<'_> {
    /// The run's counters, live.
    pub fn stats(&self) -> Arc<RunStats> {
        self.core.stats.clone()
    }

    /// Waits for the source to end (or the run to stop), then shuts the stages down in order
    /// and saves state; returns what the run did.
    pub fn finish(self) -> RunReport {
        let stats = self.core.stats;
        let stop = &self.core.shutdown;
        for t in self.worker_threads {
            // A worker's panic was reported (naming its input) by the worker as it unwound.
            if t.join().is_err() {
                stop.stop();
            }
        }
        if !stop.is_stopping() {
            drain_reorder_window(&self.shared);
        }
        // The last sender handles go with it: each sink drains its channel and ends.
        drop(self.shared);
        let outcomes: Vec<(Arc<str>, SinkOutcome)> = self
            .sink_tasks
            .into_iter()
            .map(|(id, thread)| {
                let outcome = thread.join().unwrap_or_else(|_| {
                    SinkOutcome::Failed(SinkError::Internal("the sink's thread panicked".into()))
                });
                (id, outcome)
            })
            .collect();
        // The source ends last: a Kafka source commits what the sinks acknowledged.
        match self.source.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                RunStats::add(&stats.errors, 1);
                metrics::counter!(m::ERRORS, "kind" => "io").increment(1);
                eprintln!("trailhose: error: {e}");
            }
            Err(_) => {
                // A bug: what it had listed but not handed on is simply not read, so nothing of
                // it is acknowledged; the run must not end as if the input were complete.
                RunStats::add(&stats.panics, 1);
                stop.stop();
                eprintln!("trailhose: error: internal error: the source thread panicked while listing {}; the run stops and inputs not yet read are not acknowledged", self.core.config.source.describe());
            }
        }
        self.monitor.finish();
        if let Some(dl) = &self.core.dead_letter {
            if let Err(e) = dl.flush() {
                eprintln!("trailhose: error: cannot write the dead-letter output: {e}");
                RunStats::add(&stats.errors, 1);
            }
        }
        self.core.runtime.shutdown_background();
        let sink_failure = outcomes.into_iter().find_map(|(id, o)| match o {
            SinkOutcome::Failed(e) => Some((id.to_string(), e)),
            _ => None,
        });
        self.checkpoints_done.store(true, Ordering::Relaxed);
        // The committer makes the last commit as it ends: everything delivered is in it.
        for (what, t) in [
            ("attribution checkpointer", self.checkpointer),
            ("committer", Some(self.committer)),
        ] {
            if let Some(t) = t {
                t.thread().unpark();
                if t.join().is_err() {
                    RunStats::add(&stats.panics, 1);
                    eprintln!("trailhose: error: internal error: the {what} thread panicked; state may not have been saved");
                }
            }
        }
        if let Some(state) = &self.core.state {
            if self.core.config.enrich.enabled {
                if let Err(e) = state.save_attribution(&self.core.attribution) {
                    eprintln!("trailhose: error: cannot save state: attribution: {e}");
                    RunStats::add(&stats.errors, 1);
                }
            }
        }
        if let Some(why) = self.health.commit_error() {
            eprintln!("trailhose: error: the last commit to the state directory failed: {why}");
            RunStats::add(&stats.errors, 1);
        }
        let report = RunReport {
            stats,
            elapsed: self.core.started.elapsed(),
            sink_failure,
            signal: stop.received(),
            cut_short: stop.timed_out(),
        };
        if let (Some(signal), false) = (report.signal, report.cut_short) {
            let left = RunStats::get(&report.stats.inputs_started)
                .saturating_sub(RunStats::get(&report.stats.inputs_acked));
            eprintln!(
                "trailhose: {}: drained; {}",
                signal.name(),
                if self.core.state.is_some() {
                    "committed: the same command resumes".to_string()
                } else if left > 0 {
                    format!("{left} input(s) handed on were not finished (with --state a rerun resumes)")
                } else {
                    "everything read was delivered".to_string()
                }
            );
        }
        if let Some((id, e)) = &report.sink_failure {
            eprintln!("trailhose: error: sink {id} failed, run stopped: {e}");
        }
        if !self.core.opts.quiet {
            eprintln!("{}", summary_line(&report.stats, report.elapsed));
        }
        report
    }
}

/// What the committer needs.
struct Committer {
    state: Option<StateDir>,
    ledger: Option<Arc<Ledger>>,
    progress: Option<Arc<InputProgress>>,
    /// Each sink's id and, for a file sink, its file.
    sinks: Vec<(Arc<str>, Option<std::path::PathBuf>)>,
    every: Duration,
    health: Arc<Health>,
    done: Arc<AtomicBool>,
}

/// Commits what the sinks have (`ledger.rs`) with the source's progress, every `every` while
/// something changes and once more at the end, so a kill -9 re-reads little beyond what was
/// in flight; keeps the checkpoint-lag gauge current.
fn spawn_committer(c: Committer) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut last = Instant::now();
        loop {
            let finished = c.done.load(Ordering::Relaxed);
            if let Some(p) = &c.progress {
                let oldest = p.oldest_pending().map_or(0, epoch_of);
                metrics::gauge!(m::CHECKPOINT_OLDEST_PENDING).set(oldest as f64);
            }
            if let (Some(state), Some(ledger)) = (&c.state, &c.ledger) {
                let progressed = c
                    .progress
                    .as_ref()
                    .is_some_and(|p| p.dirty.swap(false, Ordering::AcqRel));
                if (finished || last.elapsed() >= c.every) && (ledger.take_dirty() | progressed) {
                    last = Instant::now();
                    let snap = ledger.snapshot(c.progress.as_deref());
                    let commit = Commit {
                        source: snap.source,
                        sinks: c
                            .sinks
                            .iter()
                            .zip(snap.positions)
                            .filter_map(|((id, file), position)| {
                                Some((
                                    id.to_string(),
                                    SinkPosition {
                                        path: file.clone()?,
                                        length: position?,
                                    },
                                ))
                            })
                            .collect(),
                        delivered: snap.delivered,
                    };
                    let result = state.commit(&commit);
                    let label = if result.is_ok() { "ok" } else { "failed" };
                    metrics::counter!(m::STATE_COMMITS, "result" => label).increment(1);
                    if let Err(e) = &result {
                        eprintln!(
                            "trailhose: error: cannot commit to {}: {e}",
                            state.file(CHECKPOINT_FILE).display()
                        );
                        // Not committed: the next round tries again, whatever else changes.
                        ledger.touch();
                    }
                    c.health.committed(result.err().map(|e| e.to_string()));
                } else if progressed {
                    // Not yet due: keep the change for the next commit.
                    if let Some(p) = &c.progress {
                        p.dirty.store(true, Ordering::Release);
                    }
                }
            }
            if finished {
                return;
            }
            thread::park_timeout(Duration::from_millis(250).min(c.every));
        }
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
