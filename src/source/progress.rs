//! Where a replay stands: which inputs every sink has, in the replay's order, so a restarted
//! replay skips them. Used by the S3 source (keys per account and region) and the directory
//! source (one run of files, keyed by `dir::order_key`), and committed with the delivered
//! event ids (`ledger.rs`), so the two always agree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Why a saved checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("damaged: {0}")]
    Damaged(#[from] serde_json::Error),
    #[error("it is the checkpoint of {theirs}, not of {ours}: use another state directory")]
    OtherReplay { theirs: String, ours: String },
}

/// Where a replay stands, per prefix (an S3 replay's account and region; one for a directory):
/// `through`, the last key all of whose events
/// every sink acknowledged with every earlier key; `done`, keys acknowledged beyond it (out of
/// order); and, in memory, the keys in flight. Small whatever the number of objects: one key
/// per prefix plus at most the in-flight window.
#[derive(Debug, Default)]
pub struct InputProgress {
    state: Mutex<ProgressState>,
    /// Set when something changed since the last save.
    pub dirty: AtomicBool,
}

#[derive(Debug, Default)]
struct ProgressState {
    /// What is replayed (`s3://bucket/prefix`, `dir:/abs/path,...`): a checkpoint of anything
    /// else is refused.
    source: String,
    prefixes: BTreeMap<String, PrefixProgress>,
}

#[derive(Debug, Default)]
struct PrefixProgress {
    through: Option<String>,
    /// Keys handed on and not yet folded into `through`: acknowledged (true) or not yet.
    pending: BTreeMap<String, (bool, u64)>,
    /// Keys acknowledged in an earlier run beyond its `through`.
    done_before: BTreeSet<String>,
}

/// The checkpoint file's form.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    /// Version 2 names the source whole; version 1 (S3 only) named bucket and prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    prefixes: BTreeMap<String, CheckpointPrefix>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointPrefix {
    #[serde(skip_serializing_if = "Option::is_none")]
    through: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    done: Vec<String>,
}

impl InputProgress {
    /// The progress of an S3 replay of `s3://bucket/prefix`.
    pub fn s3(bucket: &str, prefix: &str) -> Self {
        Self::new(format!("s3://{bucket}/{prefix}"))
    }

    /// The progress of replaying `source` (see `ProgressState::source`).
    pub fn new(source: String) -> Self {
        InputProgress {
            state: Mutex::new(ProgressState {
                source,
                prefixes: BTreeMap::new(),
            }),
            dirty: AtomicBool::new(false),
        }
    }

    /// Restores a saved checkpoint; one of another source is an error, so two replays never
    /// share a state directory by mistake.
    pub fn load(&self, json: &[u8]) -> Result<(), CheckpointError> {
        self.load_value(serde_json::from_slice(json)?)
    }

    /// `load`, from the checkpoint already parsed.
    pub fn load_value(&self, json: serde_json::Value) -> Result<(), CheckpointError> {
        let file: CheckpointFile = serde_json::from_value(json)?;
        let theirs = match (&file.source, &file.bucket, &file.prefix) {
            (Some(source), _, _) => source.clone(),
            (None, Some(b), Some(p)) => format!("s3://{b}/{p}"),
            _ => {
                return Err(CheckpointError::Damaged(serde::de::Error::custom(
                    "it names no source",
                )))
            }
        };
        let mut s = self.lock();
        if theirs != s.source {
            return Err(CheckpointError::OtherReplay {
                theirs,
                ours: s.source.clone(),
            });
        }
        for (id, p) in file.prefixes {
            s.prefixes.insert(
                id,
                PrefixProgress {
                    through: p.through,
                    pending: BTreeMap::new(),
                    done_before: p.done.into_iter().collect(),
                },
            );
        }
        Ok(())
    }

    /// The checkpoint as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
    }

    /// The checkpoint, to be written with the rest of a commit.
    pub fn to_value(&self) -> serde_json::Value {
        let s = self.lock();
        let file = CheckpointFile {
            version: 2,
            source: Some(s.source.clone()),
            bucket: None,
            prefix: None,
            prefixes: s
                .prefixes
                .iter()
                .map(|(id, p)| {
                    let done = p
                        .pending
                        .iter()
                        .filter(|(_, (acked, _))| *acked)
                        .map(|(k, _)| k.clone())
                        .chain(p.done_before.iter().cloned())
                        .collect();
                    (
                        id.clone(),
                        CheckpointPrefix {
                            through: p.through.clone(),
                            done,
                        },
                    )
                })
                .collect(),
        };
        serde_json::to_value(&file).unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where listing a prefix may start (S3's `StartAfter`).
    pub fn through(&self, prefix_id: &str) -> Option<String> {
        self.lock()
            .prefixes
            .get(prefix_id)
            .and_then(|p| p.through.clone())
    }

    /// Whether a key was done in an earlier run.
    pub fn already_done(&self, prefix_id: &str, key: &str) -> bool {
        self.lock().prefixes.get(prefix_id).is_some_and(|p| {
            p.through.as_deref().is_some_and(|t| key <= t) || p.done_before.contains(key)
        })
    }

    /// A key is handed on to the workers.
    pub fn started(&self, prefix_id: &str, key: &str, time: u64) {
        self.lock()
            .prefixes
            .entry(prefix_id.to_string())
            .or_default()
            .pending
            .insert(key.to_string(), (false, time));
    }

    /// A key's events are all in every sink (`ok`), or some were not taken: then the key stays
    /// pending, and the checkpoint never passes it.
    pub fn finished(&self, prefix_id: &str, key: &str, ok: bool) {
        if !ok {
            return;
        }
        let mut s = self.lock();
        let Some(p) = s.prefixes.get_mut(prefix_id) else {
            return;
        };
        if let Some(entry) = p.pending.get_mut(key) {
            entry.0 = true;
        }
        while let Some(first) = p.pending.first_entry() {
            if !first.get().0 {
                break;
            }
            let (k, _) = first.remove_entry();
            p.done_before.retain(|d| *d > k);
            p.through = Some(k);
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// The delivery time (YYYYMMDDHHMMSS) of the oldest object not yet acknowledged.
    pub fn oldest_pending(&self) -> Option<u64> {
        self.lock()
            .prefixes
            .values()
            .flat_map(|p| p.pending.values())
            .filter(|(acked, _)| !acked)
            .map(|(_, t)| *t)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_passes_only_what_is_done_in_order() {
        let p = InputProgress::s3("b", "");
        for k in ["k1", "k2", "k3", "k4"] {
            p.started("a/r", k, 1);
        }
        p.finished("a/r", "k2", true);
        assert_eq!(p.through("a/r"), None, "k1 is still in flight");
        p.finished("a/r", "k1", true);
        assert_eq!(p.through("a/r").as_deref(), Some("k2"));
        p.finished("a/r", "k3", false);
        p.finished("a/r", "k4", true);
        assert_eq!(p.through("a/r").as_deref(), Some("k2"), "k3 failed");
        assert_eq!(p.oldest_pending(), Some(1));
        // Saved and restored: k4 is done beyond `through`, k3 is not.
        let restored = InputProgress::s3("b", "");
        restored.load(&p.to_json()).unwrap();
        assert!(restored.already_done("a/r", "k1") && restored.already_done("a/r", "k4"));
        assert!(!restored.already_done("a/r", "k3"));
        assert!(InputProgress::s3("other", "").load(&p.to_json()).is_err());
    }

    #[test]
    fn version_1_s3_checkpoints_still_load() {
        let v1 = br#"{"version":1,"bucket":"b","prefix":"p/","prefixes":{"a/r":{"through":"k2"}}}"#;
        let p = InputProgress::s3("b", "p/");
        p.load(v1).unwrap();
        assert!(p.already_done("a/r", "k1"));
        assert!(InputProgress::s3("b", "").load(v1).is_err());
    }
}
