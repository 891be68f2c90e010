//! The NDJSON sink: one record per line to stdout or a file. Runs on its own blocking thread;
//! a batch is acknowledged once its bytes are written to the operating system.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::mpsc::Receiver;

use super::{SinkBatch, SinkOutcome};
use crate::metrics as m;
use crate::stats::RunStats;
use crate::transform::normalize::Format;

/// `[[sink]] type = "ndjson"`: newline-delimited JSON to stdout or a file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct NdjsonSinkConfig {
    /// The file to write (created or truncated); `-` or absent for stdout.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The shape of each line: `raw`, `ecs` or `ocsf`.
    #[serde(default)]
    pub format: Format,
}

impl NdjsonSinkConfig {
    /// Whether this sink writes to stdout.
    pub fn is_stdout(&self) -> bool {
        self.path.as_deref().is_none_or(|p| p.as_os_str() == "-")
    }
}

/// An open NDJSON output.
pub struct NdjsonSink {
    name: String,
    out: Box<dyn Write + Send>,
}

impl NdjsonSink {
    /// Opens the output: creates the file now, so a bad path is a start-up error.
    pub fn open(config: &NdjsonSinkConfig) -> Result<Self, String> {
        if config.is_stdout() {
            return Ok(NdjsonSink {
                name: "stdout".into(),
                out: Box::new(io::stdout()),
            });
        }
        let path = config.path.clone().unwrap_or_default();
        let file = File::create(&path)
            .map_err(|e| format!("cannot create output file {}: {e}", path.display()))?;
        Ok(NdjsonSink {
            name: path.display().to_string(),
            out: Box::new(file),
        })
    }

    /// Writes batches until the channel closes. Each batch is one `write_all` of ready bytes:
    /// no per-record work happens here.
    pub fn run(mut self, mut rx: Receiver<SinkBatch>, stats: Arc<RunStats>) -> SinkOutcome {
        let records_out = metrics::counter!(m::RECORDS_OUT, "sink" => "ndjson");
        while let Some(sink_batch) = rx.blocking_recv() {
            let batch = sink_batch.batch.clone();
            if let Err(e) = self
                .out
                .write_all(&batch.bytes)
                .and_then(|_| self.out.flush())
            {
                // Dropped unacknowledged: its inputs are reported not done.
                drop(sink_batch);
                rx.close();
                return if e.kind() == io::ErrorKind::BrokenPipe {
                    SinkOutcome::Closed
                } else {
                    SinkOutcome::Failed(format!("writing to {}: {e}", self.name))
                };
            }
            records_out.increment(batch.records);
            stats
                .records_out
                .fetch_add(batch.records, Ordering::Relaxed);
            sink_batch.ack();
        }
        SinkOutcome::Done
    }
}
