//! The state directory (`--state DIR`): what stateful stages keep between runs, so a restart or
//! the next day's replay still resolves sessions that began earlier, resumes where the last
//! run stopped and does not emit what it already emitted. Files are written whole to a
//! temporary name, synced and renamed (and the directory synced), so a crash leaves the
//! previous state or the new one, never a torn or mixed one.
//!
//! - `checkpoint.bin`: one commit of what the sinks have (`ledger.rs`): the source's position
//!   (inputs done), each file sink's committed length and the delivered event ids, in one
//!   file with a CRC-32, so the three always move together. Written every
//!   `commit_interval_ms` while something changes, and at the end of the run.
//! - `attribution.json`: live temporary keys and who they stand for (saved at the end of a run
//!   and every `checkpoint_secs` during it: it only ever improves enrichment);
//! - `dedupe.bin`, `s3-checkpoint.json`: what releases before `checkpoint.bin` kept; read when
//!   there is no `checkpoint.bin`, removed by the first commit.
//!
//! Why one snapshot file and not an embedded store (redb): a commit is a sequential write of
//! 24 bytes per remembered id (24 MB at the default million), measured at tens of
//! milliseconds with the fsync, once a second at most; an embedded B-tree would write less
//! per commit but costs a page per insert on the hot path, a second copy of every id and a
//! large dependency, for a table whose size is fixed by `dedupe.max_entries`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ledger::EventKey;
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
    #[error("{} is not a trailhose state directory (it holds {found}, which trailhose did not write): give --state an empty or new directory", .path.display())]
    Foreign { path: PathBuf, found: String },
    #[error("{}: {detail}", .path.display())]
    Checkpoint { path: PathBuf, detail: String },
}

/// One commit: what the sinks have, as of one instant (`ledger::Snapshot`).
#[derive(Debug, Default, PartialEq)]
pub struct Commit {
    /// The source's progress (`source::progress`), when it keeps one.
    pub source: Option<serde_json::Value>,
    /// Each file sink's committed length, by sink id.
    pub sinks: BTreeMap<String, SinkPosition>,
    /// The delivered event ids and their event times.
    pub delivered: Vec<EventKey>,
}

/// Where a file sink stood at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkPosition {
    /// The file, absolute: a run writing elsewhere starts its file afresh.
    pub path: PathBuf,
    /// Bytes of whole records every event id of which is in the commit.
    pub length: u64,
}

/// The header of `checkpoint.bin`, as JSON after the magic and its length.
#[derive(Debug, Serialize, Deserialize)]
struct CommitHeader {
    version: u32,
    key_algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<serde_json::Value>,
    #[serde(default)]
    sinks: BTreeMap<String, SinkPosition>,
    delivered: u64,
}

const ATTRIBUTION_FILE: &str = "attribution.json";
/// The commit: source position, sink lengths and delivered ids, together.
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";
/// `checkpoint.bin` starts with this, then the header's length (u32 LE), the header (JSON),
/// 24 bytes per delivered id (two u64 and an i64, LE) and a CRC-32 of all before it (u32 LE).
const CHECKPOINT_MAGIC: &[u8; 8] = b"THCKPT01";
/// What a state directory may hold besides temporary files (`.NAME.tmp`).
const KNOWN_FILES: [&str; 5] = [
    "LOCK",
    ATTRIBUTION_FILE,
    CHECKPOINT_FILE,
    DEDUPE_FILE,
    S3_CHECKPOINT_FILE,
];
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
        // A directory holding anything else is someone else's: never write into it.
        let entries = fs::read_dir(path).map_err(|source| StateError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let temporary = name.starts_with('.') && name.ends_with(".tmp");
            if !temporary && !KNOWN_FILES.contains(&name.as_str()) {
                return Err(StateError::Foreign {
                    path: path.to_path_buf(),
                    found: format!("\"{name}\""),
                });
            }
        }
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
        let entries = decode_entries(body);
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
        encode_entries(&entries, &mut bytes);
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

    /// The last commit, if a run made one. A damaged file, or one written with other event
    /// keys, is an error naming it.
    pub fn load_commit(&self) -> Result<Option<Commit>, StateError> {
        let path = self.path.join(CHECKPOINT_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let damaged = |detail: &str| StateError::Damaged {
            path: path.clone(),
            detail: format!(" ({detail})"),
        };
        let body = bytes
            .strip_prefix(CHECKPOINT_MAGIC.as_slice())
            .ok_or_else(|| damaged("it does not start as a trailhose checkpoint"))?;
        let (content, crc) = bytes
            .split_at_checked(bytes.len().saturating_sub(4))
            .filter(|_| body.len() >= 8)
            .ok_or_else(|| damaged("too short"))?;
        let mut crc_bytes = [0u8; 4];
        crc_bytes.copy_from_slice(crc);
        if crc32fast::hash(content) != u32::from_le_bytes(crc_bytes) {
            return Err(damaged("its CRC-32 does not match its content"));
        }
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&body[..4]);
        let header_len = u32::from_le_bytes(len_bytes) as usize;
        let rest = &content[CHECKPOINT_MAGIC.len() + 4..];
        let header_bytes = rest
            .get(..header_len)
            .ok_or_else(|| damaged("its header is cut short"))?;
        let header: CommitHeader = serde_json::from_slice(header_bytes)
            .map_err(|e| damaged(&format!("its header: {e}")))?;
        if header.version != 1 {
            return Err(damaged(&format!(
                "version {} is not one this trailhose reads",
                header.version
            )));
        }
        if header.key_algorithm != KEY_ALGORITHM {
            return Err(StateError::OtherKeys {
                path,
                why: format!(
                    "keys events with \"{}\", this trailhose with \"{KEY_ALGORITHM}\"",
                    header.key_algorithm
                ),
            });
        }
        let ids = &rest[header_len..];
        if ids.len() % 24 != 0 || ids.len() / 24 != header.delivered as usize {
            return Err(damaged("its event ids do not match its header"));
        }
        Ok(Some(Commit {
            source: header.source,
            sinks: header.sinks,
            delivered: decode_entries(ids),
        }))
    }

    /// Writes a commit atomically (temporary file, fsync, rename, fsync of the directory),
    /// then removes the files of releases before it, which it replaces.
    pub fn commit(&self, commit: &Commit) -> io::Result<()> {
        let header = serde_json::to_vec(&CommitHeader {
            version: 1,
            key_algorithm: KEY_ALGORITHM.into(),
            source: commit.source.clone(),
            sinks: commit.sinks.clone(),
            delivered: commit.delivered.len() as u64,
        })
        .map_err(io::Error::other)?;
        let mut bytes = Vec::with_capacity(
            CHECKPOINT_MAGIC.len() + 8 + header.len() + commit.delivered.len() * 24,
        );
        bytes.extend_from_slice(CHECKPOINT_MAGIC);
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&header);
        encode_entries(&commit.delivered, &mut bytes);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        self.write_atomically(CHECKPOINT_FILE, &bytes)?;
        for legacy in [DEDUPE_FILE, S3_CHECKPOINT_FILE] {
            match fs::remove_file(self.path.join(legacy)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
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
        fs::rename(&tmp, self.path.join(name))?;
        // The rename itself reaches the disk only with the directory.
        fs::File::open(&self.path)?.sync_all()
    }
}

/// Event ids as stored: per entry two u64 and an i64, little-endian.
fn encode_entries(entries: &[EventKey], out: &mut Vec<u8>) {
    for (id, time) in entries {
        out.extend_from_slice(&id[0].to_le_bytes());
        out.extend_from_slice(&id[1].to_le_bytes());
        out.extend_from_slice(&time.to_le_bytes());
    }
}

/// The inverse of `encode_entries` (`bytes` is a whole number of entries).
fn decode_entries(bytes: &[u8]) -> Vec<EventKey> {
    bytes
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
        .collect()
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
    fn a_commit_round_trips_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert_eq!(state.load_commit().unwrap(), None);
        let commit = Commit {
            source: Some(serde_json::json!({"version": 2, "source": "dir:/a"})),
            sinks: BTreeMap::from([(
                "ndjson_0".to_string(),
                SinkPosition {
                    path: "/tmp/out.ndjson".into(),
                    length: 42,
                },
            )]),
            delivered: vec![([1, 2], 1_767_571_200), ([3, 4], 1_767_571_201)],
        };
        fs::write(dir.path().join(DEDUPE_FILE), b"old").unwrap();
        state.commit(&commit).unwrap();
        assert_eq!(state.load_commit().unwrap().as_ref(), Some(&commit));
        assert!(
            !dir.path().join(DEDUPE_FILE).exists(),
            "the commit replaces the old files"
        );
        // Any flipped byte is caught by the CRC, and named.
        let path = dir.path().join(CHECKPOINT_FILE);
        let good = fs::read(&path).unwrap();
        for at in [9, good.len() / 2, good.len() - 30, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            fs::write(&path, &bad).unwrap();
            let e = state.load_commit().unwrap_err().to_string();
            assert!(e.contains("checkpoint.bin is damaged"), "byte {at}: {e}");
        }
        fs::write(&path, &good[..good.len() - 5]).unwrap();
        assert!(state.load_commit().is_err(), "a cut file is damaged");
        fs::write(&path, b"{}").unwrap();
        assert!(state
            .load_commit()
            .unwrap_err()
            .to_string()
            .contains("does not start as"));
    }

    #[test]
    fn a_directory_of_other_files_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let e = StateDir::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("not a trailhose state directory") && e.contains("notes.txt"),
            "{e}"
        );
        fs::remove_file(dir.path().join("notes.txt")).unwrap();
        fs::write(dir.path().join(".checkpoint.bin.tmp"), b"half").unwrap();
        assert!(
            StateDir::open(dir.path()).is_ok(),
            "a crash's leftovers are ours"
        );
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
