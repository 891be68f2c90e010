//! The dead-letter output: one JSON line per piece of bad input, with its origin, byte offset,
//! error kind and message, and the raw bytes in base64, so nothing is lost and it can be
//! replayed once fixed; and the records a sink rejected (with the sink's id and reason).
//! Shared by all workers and sinks; bad input is rare, so a mutex is enough. Written as a
//! line file: with `append`, a partial last line a killed run left is cut on open; with
//! `sync`, every flush (before the inputs its lines came from are acknowledged) is an fsync.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use serde::Serialize;

use crate::decode::DecodeError;
use crate::sink::line_file::LineFile;

/// The `error_kind` of a record a sink rejected.
pub const SINK_REJECTED: &str = "sink_rejected";
/// The `error_kind` of an SQS message that is not an S3 notification (its body is the raw).
pub const SQS_NOT_NOTIFICATION: &str = "sqs_not_notification";

/// One dead-letter line.
#[derive(Serialize)]
struct DeadLetterEntry<'a> {
    origin: &'a str,
    /// Where the bad bytes start in the input's decompressed stream (not for rejections: the
    /// record was read, and a sink refused it).
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    error_kind: &'a str,
    error: &'a str,
    /// The sink that rejected the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    sink: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    raw_base64: String,
    raw_len: usize,
    /// True when `raw_base64` holds only the start of the bad bytes (see max_record_bytes).
    raw_truncated: bool,
}

/// An open dead-letter file.
pub struct DeadLetterWriter {
    /// Lines are written with one `write_all` each, so the buffer only ever reaches the file
    /// at line boundaries.
    out: Mutex<BufWriter<LineFile>>,
}

impl DeadLetterWriter {
    /// Opens the file: created or truncated, or with `append` appended to (a partial last line
    /// cut first); with `sync`, flushes reach the disk.
    pub fn open(path: &Path, append: bool, sync: bool) -> std::io::Result<Self> {
        let (file, cut) = LineFile::open(path, append, sync)?;
        if cut > 0 {
            eprintln!(
                "trailhose: cut {cut} bytes of a partial last line from the dead-letter file {} (left by a run that was killed)",
                path.display()
            );
        }
        Ok(DeadLetterWriter {
            out: Mutex::new(BufWriter::new(file)),
        })
    }

    /// Appends one entry.
    pub fn write(
        &self,
        error: &DecodeError,
        raw: &[u8],
        raw_truncated: bool,
    ) -> std::io::Result<()> {
        self.append(&DeadLetterEntry {
            origin: &error.origin,
            offset: Some(error.offset),
            error_kind: error.kind.label(),
            error: &error.detail,
            sink: None,
            event_id: None,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(raw),
            raw_len: raw.len(),
            raw_truncated,
        })
    }

    /// Appends a record sink `sink` rejected, as that sink was given it.
    pub fn write_rejected(
        &self,
        origin: &str,
        sink: &str,
        reason: &str,
        event_id: Option<&str>,
        record: &[u8],
    ) -> std::io::Result<()> {
        self.append(&DeadLetterEntry {
            origin,
            offset: None,
            error_kind: SINK_REJECTED,
            error: reason,
            sink: Some(sink),
            event_id,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(record),
            raw_len: record.len(),
            raw_truncated: false,
        })
    }

    /// Appends a whole message a source could not use (an SQS body that is not a
    /// notification), with why.
    pub fn write_message(
        &self,
        origin: &str,
        kind: &str,
        error: &str,
        raw: &[u8],
    ) -> std::io::Result<()> {
        self.append(&DeadLetterEntry {
            origin,
            offset: None,
            error_kind: kind,
            error,
            sink: None,
            event_id: None,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(raw),
            raw_len: raw.len(),
            raw_truncated: false,
        })
    }

    fn append(&self, entry: &DeadLetterEntry<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut out = self
            .out
            .lock()
            .map_err(|_| std::io::Error::other("dead-letter lock poisoned"))?;
        out.write_all(&line)
    }

    /// Flushes what is buffered.
    pub fn flush(&self) -> std::io::Result<()> {
        match self.out.lock() {
            Ok(mut out) => out.flush(),
            Err(_) => Err(std::io::Error::other("dead-letter lock poisoned")),
        }
    }
}
