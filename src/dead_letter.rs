//! The dead-letter output: one JSON line per piece of bad input, with its origin, byte offset,
//! error kind and message, and the raw bytes in base64, so nothing is lost and it can be
//! replayed once fixed. Shared by all workers; bad input is rare, so a mutex is enough.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use serde::Serialize;

use crate::decode::DecodeError;

/// One dead-letter line.
#[derive(Serialize)]
struct DeadLetterEntry<'a> {
    origin: &'a str,
    offset: u64,
    error_kind: &'a str,
    error: &'a str,
    raw_base64: String,
    raw_len: usize,
    /// True when `raw_base64` holds only the start of the bad bytes (see max_record_bytes).
    raw_truncated: bool,
}

/// An open dead-letter file.
pub struct DeadLetterWriter {
    out: Mutex<BufWriter<File>>,
}

impl DeadLetterWriter {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<Self, String> {
        let file = File::create(path)
            .map_err(|e| format!("cannot create dead-letter file {}: {e}", path.display()))?;
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
        let entry = DeadLetterEntry {
            origin: &error.origin,
            offset: error.offset,
            error_kind: error.kind.label(),
            error: &error.detail,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(raw),
            raw_len: raw.len(),
            raw_truncated,
        };
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
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
