//! The NDJSON sink: one record per line to stdout or a file. A batch is written with one
//! `write` of its ready bytes (no per-record work), on the sink's own thread, and counts as
//! delivered once the operating system has it (and, with `sync = true`, the disk).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::line_file::LineFile;
use super::{BuildError, Request, Response, Sink, SinkContext, SinkError, SinkFuture, SinkSpec};
use crate::transform::normalize::Format;

/// `[[sink]] type = "ndjson"`: newline-delimited JSON to stdout or a file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct NdjsonSinkConfig {
    /// The sink's id in metrics and messages; default `ndjson_<n>`.
    #[serde(default)]
    pub name: Option<String>,
    /// The file to write; `-` or absent for stdout.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The shape of each line: `raw`, `ecs` or `ocsf`.
    #[serde(default)]
    pub format: Format,
    /// Keep the file and append to it (after cutting a partial last line a killed run left),
    /// instead of starting it empty. For resumed replays and services.
    #[serde(default)]
    pub append: bool,
    /// fsync after every batch, before it is acknowledged: survives a power loss, at the cost
    /// of a disk flush per batch.
    #[serde(default)]
    pub sync: bool,
}

impl NdjsonSinkConfig {
    /// Whether this sink writes to stdout.
    pub fn is_stdout(&self) -> bool {
        self.path.as_deref().is_none_or(|p| p.as_os_str() == "-")
    }
}

impl SinkSpec for NdjsonSinkConfig {
    fn type_name(&self) -> &'static str {
        "ndjson"
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn format(&self) -> Format {
        self.format
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        if self.is_stdout() && (self.append || self.sync) {
            let what = if self.append { "append" } else { "sync" };
            return Err(format!(
                "{key}.{what} = true applies to a file, and this sink writes to stdout: give it a path or remove {what}"
            ));
        }
        Ok(())
    }

    fn writes_stdout(&self) -> bool {
        self.is_stdout()
    }

    /// The file's folder exists, and the file, if it exists, can be written (opened without
    /// being changed).
    fn healthcheck(&self, cx: &SinkContext) -> SinkFuture<'static, Result<(), SinkError>> {
        let path = (!self.is_stdout()).then(|| self.path.clone().unwrap_or_default());
        let id = cx.id.to_string();
        Box::pin(async move {
            let Some(path) = path else { return Ok(()) };
            let folder = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !folder.is_dir() {
                return Err(SinkError::Refused(format!(
                    "sink {id}: the folder {} does not exist",
                    folder.display()
                )));
            }
            if path.exists() {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|source| SinkError::Io {
                        target: path.display().to_string(),
                        source,
                    })?;
            }
            Ok(())
        })
    }

    fn file(&self) -> Option<PathBuf> {
        (!self.is_stdout()).then(|| self.path.clone().unwrap_or_default())
    }

    fn build(&self, cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError> {
        if self.is_stdout() {
            return Ok(Arc::new(NdjsonSink {
                target: "stdout".into(),
                out: Mutex::new(Output::Stdout(io::stdout())),
            }));
        }
        let path = self.path.clone().unwrap_or_default();
        let open = match cx.resume {
            Some(length) => LineFile::resume(&path, length, self.sync),
            None => LineFile::open(&path, self.append, self.sync),
        };
        let (file, cut) = open.map_err(|source| BuildError::Open {
            id: cx.id.to_string(),
            path: path.display().to_string(),
            source,
        })?;
        if let (Some(length), true) = (cx.resume, cut > 0) {
            eprintln!(
                "trailhose: sink {}: resuming {} at its committed length {length}: cut {cut} bytes written after the last commit (their events are read again)",
                cx.id,
                path.display()
            );
        } else if cut > 0 {
            eprintln!(
                "trailhose: sink {}: cut {cut} bytes of a partial last line from {} (left by a run that was killed; those records were not acknowledged and are read again)",
                cx.id,
                path.display()
            );
        }
        Ok(Arc::new(NdjsonSink {
            target: path.display().to_string(),
            out: Mutex::new(Output::File(file)),
        }))
    }
}

enum Output {
    Stdout(io::Stdout),
    File(LineFile),
}

impl Output {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(s) => s,
            Output::File(f) => f,
        }
    }
}

/// An open NDJSON output.
pub struct NdjsonSink {
    target: String,
    out: Mutex<Output>,
}

impl NdjsonSink {
    /// Runs `write` on the output. It blocks when a pipe's reader or the disk is slow: that
    /// is backpressure, and it holds up only this sink's own thread.
    fn write(&self, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), SinkError> {
        let written = match self.out.lock() {
            Ok(mut out) => write(out.writer()),
            Err(_) => Err(io::Error::other("output lock poisoned")),
        };
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(SinkError::Closed),
            Err(source) => Err(SinkError::Io {
                target: self.target.clone(),
                source,
            }),
        }
    }
}

impl Sink for NdjsonSink {
    fn position(&self) -> Option<u64> {
        match &*self.out.lock().ok()? {
            Output::File(f) => Some(f.len()),
            Output::Stdout(_) => None,
        }
    }

    fn deliver<'a>(&'a self, request: &'a Request) -> SinkFuture<'a, Response> {
        let written = self.write(|out| {
            match request.contiguous_lines() {
                Some(lines) => out.write_all(lines)?,
                None => {
                    for i in request.indexes() {
                        out.write_all(request.batch.line(i))?;
                    }
                }
            }
            out.flush()
        });
        // A failed write may have written part of the batch: retrying would repeat it, so the
        // run stops and the batch's inputs stay unacknowledged.
        let response = match written {
            Ok(()) => Response::Delivered,
            Err(e) => Response::Fatal(e),
        };
        Box::pin(async move { response })
    }

    fn close(&self) -> SinkFuture<'_, Result<(), SinkError>> {
        let closed = self.write(|out| out.flush());
        Box::pin(async move { closed })
    }
}
