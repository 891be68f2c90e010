//! The pipeline's edge: runs a config's topology to its end and says how it went (the report,
//! the exit code), and checks a config's sinks can be reached. The topology itself (what is
//! built, how it runs and shuts down) is in `topology.rs`.

use std::sync::Arc;
use std::time::Duration;

use crate::config::PipelineConfig;
use crate::shutdown::Signal;
use crate::sink::{BuildError, SinkError};
use crate::stats::RunStats;
use crate::topology::{sink_contexts, Topology};

/// Process exit codes; the README lists them.
pub mod exit {
    /// Every input read cleanly.
    pub const CLEAN: i32 = 0;
    /// Some input was bad: logged, counted and dead-lettered; the rest went through.
    pub const INPUT_ERRORS: i32 = 1;
    /// A usage or config error: nothing was read.
    pub const USAGE: i32 = 2;
    /// A sink failed (disk full, retries past the budget): the run stopped; unacknowledged
    /// inputs were not done.
    pub const SINK_FAILED: i32 = 3;
    /// An internal error: a thread panicked (a bug). What it held was not acknowledged.
    pub const INTERNAL: i32 = 4;
    /// Interrupted (Ctrl-C / SIGINT) and the drain did not finish within
    /// `shutdown_timeout_secs` (or a second signal came): what was delivered is committed.
    pub const INTERRUPTED: i32 = 130;
    /// Terminated (SIGTERM), the same way.
    pub const TERMINATED: i32 = 143;
}

/// How a run is shown.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// No progress line and no summary (errors are still printed).
    pub quiet: bool,
}

/// Why a pipeline could not start (exit code 2): nothing was read.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsAddr {
        addr: String,
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("cannot open the dead-letter file {path}: {source}")]
    DeadLetter {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sink(#[from] BuildError),
    #[error("sink {id} cannot be reached: {error}")]
    Unreachable { id: String, error: SinkError },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("{}: {source} (move it away to replay from the start)", .path.display())]
    Checkpoint {
        path: std::path::PathBuf,
        source: crate::source::progress::CheckpointError,
    },
    #[error(transparent)]
    GeoIp(#[from] crate::transform::geoip::GeoIpError),
}

/// What a run did.
pub struct RunReport {
    pub stats: Arc<RunStats>,
    pub elapsed: Duration,
    /// The first sink failure, if any, with the sink's id.
    pub sink_failure: Option<(String, SinkError)>,
    /// The signal that stopped the run early, if one did.
    pub signal: Option<Signal>,
    /// Whether the drain after that signal ran past `shutdown_timeout_secs` and was cut short.
    pub cut_short: bool,
}

impl RunReport {
    pub fn exit_code(&self) -> i32 {
        if RunStats::get(&self.stats.panics) > 0 {
            exit::INTERNAL
        } else if self.sink_failure.is_some() {
            exit::SINK_FAILED
        } else if let (Some(signal), true) = (self.signal, self.cut_short) {
            // A drain that finished is a clean end; one cut short is not.
            signal.exit_code()
        } else if RunStats::get(&self.stats.errors) > 0 {
            exit::INPUT_ERRORS
        } else {
            exit::CLEAN
        }
    }
}

/// Runs a validated pipeline to its end: builds its topology, runs it, shuts it down. `Err` is
/// a start-up problem (exit code 2): a file that cannot be created, a port that cannot be bound.
pub fn run(config: &PipelineConfig, opts: &RunOptions) -> Result<RunReport, StartError> {
    Ok(Topology::build(config, opts)?.start()?.finish())
}

/// Runs every sink's health check (`validate --check-connectivity`); the first failure is the
/// error. Opens nothing a run would write to.
pub fn check_connectivity(config: &PipelineConfig) -> Result<(), StartError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    for (sink, cx) in config.sinks.iter().zip(sink_contexts(config)) {
        runtime
            .block_on(sink.spec().healthcheck(&cx))
            .map_err(|error| StartError::Unreachable {
                id: cx.id.to_string(),
                error,
            })?;
    }
    Ok(())
}
