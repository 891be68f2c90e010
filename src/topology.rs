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
use crate::metrics as m;
use crate::pipeline::{RunOptions, RunReport, StartError};
use crate::progress::{progress_wanted, summary_line, ChannelProbe, GaugeProbe, Monitor};
use crate::shutdown::Shutdown;
use crate::sink::delivery::SinkDriver;
use crate::sink::{
    BufferPool, DeliverySettings, Sink, SinkBatch, SinkContext, SinkError, SinkOutcome,
};
use crate::source::dir::WalkOptions;
use crate::source::s3::{epoch_of, S3Progress};
use crate::source::{run_source, spawn_sizer, SourceError};
use crate::state::{StateDir, S3_CHECKPOINT_FILE};
use crate::stats::RunStats;
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
    s3_progress: Option<Arc<S3Progress>>,
}

/// Each sink's build context, in config order.
pub fn sink_contexts(config: &PipelineConfig) -> Vec<SinkContext> {
    sink_ids(&config.sinks)
        .into_iter()
        .map(|id| SinkContext { id: Arc::from(id) })
        .collect()
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
        let mut sinks = Vec::with_capacity(config.sinks.len());
        for (sink, cx) in config.sinks.iter().zip(sink_contexts(config)) {
            let spec = sink.spec();
            sinks.push(BuiltSink {
                sink: spec.build(&cx)?,
                settings: spec.delivery(),
                format: spec.format(),
                id: cx.id,
            });
        }
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
        // An S3 replay's progress, restored from the state directory.
        let s3_progress = match &config.source {
            SourceConfig::S3(c) => {
                let progress = Arc::new(S3Progress::new(&c.bucket, &c.prefix));
                if let Some(state) = &state {
                    if let Some(json) = state.load_s3_checkpoint()? {
                        progress
                            .load(&json)
                            .map_err(|source| StartError::Checkpoint {
                                path: state.file(S3_CHECKPOINT_FILE),
                                source,
                            })?;
                    }
                }
                Some(progress)
            }
            _ => None,
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
            },
            metrics,
            sinks,
            geoip,
            window: Arc::new(ReorderWindow::new(config.enrich.reorder_limits())),
            s3_progress,
        })
    }

    /// Starts every stage. Sinks first, then the workers, then the source.
    pub fn start(self) -> Result<Running<'c>, StartError> {
        let config = self.core.config;
        let bounds = &config.pipeline;
        let workers = bounds.worker_count();
        let stats = self.core.stats.clone();
        let stop = self.core.shutdown.flag();
        self.check_sinks_at_start();
        if let Some((listener, handle)) = self.metrics {
            self.core.runtime.spawn(m::serve(listener, handle));
            metrics::gauge!(m::WORKERS).set(workers as f64);
        }
        self.core.shutdown.listen(self.core.runtime.handle());

        let mut probes: Vec<ChannelProbe> = Vec::new();
        let mut sink_senders = Vec::new();
        let mut sink_tasks = Vec::new();
        for built in &self.sinks {
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
        let progress_saver = self
            .s3_progress
            .clone()
            .map(|p| spawn_progress_saver(p, self.core.state.clone(), checkpoints_done.clone()));

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
            let (source_config, stats, stop) = (config.source.clone(), stats.clone(), stop.clone());
            let (handle, progress) = (self.core.runtime.handle().clone(), self.s3_progress.clone());
            thread::Builder::new()
                .name("trailhose-source".into())
                .spawn(move || {
                    run_source(&source_config, blob_tx, &stats, &stop, &handle, progress)
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
            progress_saver,
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
    progress_saver: Option<thread::JoinHandle<()>>,
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
        for (what, t) in [
            ("attribution checkpointer", self.checkpointer),
            ("checkpoint saver", self.progress_saver),
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
            let clean =
                !stop.is_stopping() && sink_failure.is_none() && RunStats::get(&stats.panics) == 0;
            save_state(
                state,
                &self.core.attribution,
                self.core.dedupe.as_deref(),
                clean,
                self.core.config.enrich.enabled,
                &stats,
            );
        }
        let report = RunReport {
            stats,
            elapsed: self.core.started.elapsed(),
            sink_failure,
            signal: stop.received(),
        };
        if let Some((id, e)) = &report.sink_failure {
            eprintln!("trailhose: error: sink {id} failed, run stopped: {e}");
        }
        if !self.core.opts.quiet {
            eprintln!("{}", summary_line(&report.stats, report.elapsed));
        }
        report
    }
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
