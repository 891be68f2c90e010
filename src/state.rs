//! The state directory (`--state DIR`): what stateful stages keep between runs, so a restart or
//! the next day's replay still resolves sessions that began earlier and does not emit what it
//! already emitted. Files are written whole to a temporary name and renamed, so a crash leaves
//! the previous state, never a torn one.
//!
//! - `attribution.json`: live temporary keys and who they stand for (saved at the end of a run
//!   and every `checkpoint_secs` during it: it only ever improves enrichment);
//! - `dedupe.bin`: the remembered event ids, saved only at the end of a run whose every input
//!   was acknowledged, because an id saved before its event reached the sinks would make a
//!   restarted run drop that event.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::transform::attribution::AttributionTable;
use crate::transform::dedupe::{DedupeTable, KEY_ALGORITHM};

/// Why the state directory or a file in it cannot be used; each names the path and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {}: {source}", .path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot open {}: {source}", .path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("the state directory {} is in use by another trailhose run: give each run its own --state (or [state] dir)", .path.display())]
    InUse { path: PathBuf },
    #[error("cannot lock {}: {source}", .path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is damaged{detail}; move it away to start afresh", .path.display())]
    Damaged { path: PathBuf, detail: String },
    /// Written with other event keys: its entries would never match this build's.
    #[error("{} {why}; move it away (the next run remembers events afresh)", .path.display())]
    OtherKeys { path: PathBuf, why: String },
}

const ATTRIBUTION_FILE: &str = "attribution.json";
const DEDUPE_FILE: &str = "dedupe.bin";
/// Where an S3 replay stands (`source::s3::S3Progress`).
pub const S3_CHECKPOINT_FILE: &str = "s3-checkpoint.json";
/// The first bytes of `dedupe.bin`; version 2 follows them with the key algorithm's name
/// (one length byte, then ASCII), so a table keyed differently is refused, never mis-read.
const DEDUPE_MAGIC: &[u8; 8] = b"THDEDUP2";
/// Version 1 tables keyed non-UUID event ids with `std`'s unstable hash.
const DEDUPE_MAGIC_V1: &[u8; 8] = b"THDEDUP1";

/// An open state directory, locked for this process while it lives.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
    /// Holds the advisory lock on `LOCK` (released by the OS when the process ends, even
    /// by kill -9, so a crash never leaves the directory locked).
    _lock: std::sync::Arc<fs::File>,
}

impl StateDir {
    /// Opens (creating) the directory and locks it: two runs sharing one state directory
    /// would overwrite each other's state.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        fs::create_dir_all(path).map_err(|source| StateError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let lock_path = path.join("LOCK");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StateError::Open {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StateError::InUse {
                    path: path.to_path_buf(),
                })
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(StateError::Lock {
                    path: lock_path,
                    source,
                })
            }
        }
        Ok(StateDir {
            path: path.to_path_buf(),
            _lock: std::sync::Arc::new(lock),
        })
    }

    /// Loads the attribution table; returns the keys loaded.
    pub fn load_attribution(&self, table: &AttributionTable) -> Result<usize, StateError> {
        let path = self.path.join(ATTRIBUTION_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let snapshot: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| StateError::Damaged {
                path: path.clone(),
                detail: format!(" ({e})"),
            })?;
        Ok(table.restore(&snapshot))
    }

    /// Saves the attribution table.
    pub fn save_attribution(&self, table: &AttributionTable) -> io::Result<()> {
        let bytes = serde_json::to_vec(&table.snapshot()).map_err(io::Error::other)?;
        self.write_atomically(ATTRIBUTION_FILE, &bytes)
    }

    /// Loads the remembered event ids; returns how many.
    pub fn load_dedupe(&self, table: &DedupeTable) -> Result<usize, StateError> {
        let path = self.path.join(DEDUPE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let damaged = || StateError::Damaged {
            path: path.clone(),
            detail: String::new(),
        };
        if bytes.starts_with(DEDUPE_MAGIC_V1) {
            return Err(StateError::OtherKeys {
                path: path.clone(),
                why:
                    "was written by an older trailhose whose event keys may differ from this one's"
                        .into(),
            });
        }
        let header = bytes
            .strip_prefix(DEDUPE_MAGIC.as_slice())
            .ok_or_else(damaged)?;
        let (&name_len, rest) = header.split_first().ok_or_else(damaged)?;
        let name = rest.get(..name_len as usize).ok_or_else(damaged)?;
        if name != KEY_ALGORITHM.as_bytes() {
            return Err(StateError::OtherKeys {
                path: path.clone(),
                why: format!(
                    "keys events with \"{}\", this trailhose with \"{KEY_ALGORITHM}\"",
                    String::from_utf8_lossy(name)
                ),
            });
        }
        let body = &rest[name_len as usize..];
        if body.len() % 24 != 0 {
            return Err(damaged());
        }
        let entries: Vec<([u64; 2], i64)> = body
            .chunks_exact(24)
            .map(|c| {
                let word = |i: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&c[i..i + 8]);
                    w
                };
                (
                    [u64::from_le_bytes(word(0)), u64::from_le_bytes(word(8))],
                    i64::from_le_bytes(word(16)),
                )
            })
            .collect();
        table.restore(&entries);
        Ok(entries.len())
    }

    /// Saves the remembered event ids.
    pub fn save_dedupe(&self, table: &DedupeTable) -> io::Result<()> {
        let entries = table.entries();
        let mut bytes = Vec::with_capacity(8 + entries.len() * 24);
        bytes.extend_from_slice(DEDUPE_MAGIC);
        bytes.push(KEY_ALGORITHM.len() as u8);
        bytes.extend_from_slice(KEY_ALGORITHM.as_bytes());
        for (id, time) in entries {
            bytes.extend_from_slice(&id[0].to_le_bytes());
            bytes.extend_from_slice(&id[1].to_le_bytes());
            bytes.extend_from_slice(&time.to_le_bytes());
        }
        self.write_atomically(DEDUPE_FILE, &bytes)
    }

    /// The S3 replay checkpoint, if an earlier run left one.
    pub fn load_s3_checkpoint(&self) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.path.join(S3_CHECKPOINT_FILE);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Read { path, source }),
        }
    }

    /// Saves the S3 replay checkpoint.
    pub fn save_s3_checkpoint(&self, json: &[u8]) -> io::Result<()> {
        self.write_atomically(S3_CHECKPOINT_FILE, json)
    }

    /// The path of a file in the directory, for messages.
    pub fn file(&self, name: &str) -> std::path::PathBuf {
        self.path.join(name)
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, self.path.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::attribution::AttributionLimits;
    use crate::transform::dedupe::DedupeConfig;
    use crate::transform::fields::RecordView;

    #[test]
    fn attribution_and_dedupe_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s")).unwrap();
        let table = AttributionTable::new(AttributionLimits::default());
        let mut assume = br#"{"eventTime":"2026-01-05T01:00:00Z","eventName":"AssumeRole","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/alice"},"requestParameters":{"roleArn":"arn:aws:iam::1:role/R","roleSessionName":"s"},"responseElements":{"credentials":{"accessKeyId":"ASIAX","expiration":"2026-01-05T02:00:00Z"}}}"#.to_vec();
        let tape = simd_json::to_tape(&mut assume).unwrap();
        table.attribute(&RecordView::read(tape.as_value()));
        state.save_attribution(&table).unwrap();
        let again = AttributionTable::new(AttributionLimits::default());
        assert_eq!(state.load_attribution(&again).unwrap(), 1);
        assert_eq!(again.snapshot(), table.snapshot());

        let d = DedupeTable::new(&DedupeConfig::default());
        d.seen_before([7, 7], 1_767_571_200);
        state.save_dedupe(&d).unwrap();
        let d2 = DedupeTable::new(&DedupeConfig::default());
        assert_eq!(state.load_dedupe(&d2).unwrap(), 1);
        assert!(d2.seen_before([7, 7], 1_767_571_300));
    }

    #[test]
    fn one_run_per_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDir::open(dir.path()).unwrap();
        let e = StateDir::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("in use by another trailhose run"), "{e}");
        drop(first);
        assert!(
            StateDir::open(dir.path()).is_ok(),
            "the lock goes with its holder"
        );
    }

    #[test]
    fn damaged_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        fs::write(dir.path().join(DEDUPE_FILE), b"garbage").unwrap();
        let e = state
            .load_dedupe(&DedupeTable::new(&DedupeConfig::default()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("dedupe.bin") && e.contains("damaged"), "{e}");
        // A table keyed another way (or by an older release) is refused, naming both.
        let mut foreign = DEDUPE_MAGIC.to_vec();
        foreign.push(5);
        foreign.extend_from_slice(b"other");
        fs::write(dir.path().join(DEDUPE_FILE), &foreign).unwrap();
        let e = state
            .load_dedupe(&DedupeTable::new(&DedupeConfig::default()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"other\"") && e.contains(KEY_ALGORITHM), "{e}");
        fs::write(dir.path().join(DEDUPE_FILE), DEDUPE_MAGIC_V1).unwrap();
        let e = state
            .load_dedupe(&DedupeTable::new(&DedupeConfig::default()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("older trailhose"), "{e}");
    }
}
