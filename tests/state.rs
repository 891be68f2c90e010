//! The state directory: a later run still resolves sessions that began in an earlier one, and
//! does not emit what an earlier run already emitted; a run that did not finish cleanly does
//! not make the next one drop anything.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// `AWSLogs/<account>/CloudTrail/<region>` folders of a gen archive.
fn region_dirs(root: &Path, region: &str) -> Vec<String> {
    let logs = root.join("AWSLogs");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&logs)
        .expect("AWSLogs")
        .map(|e| e.expect("entry").path().join("CloudTrail").join(region))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out.iter()
        .map(|p| p.to_str().expect("path").to_string())
        .collect()
}

fn replay(args: &[&str], dirs: &[String]) -> (Vec<Value>, String, Option<i32>) {
    let mut all: Vec<&str> = vec!["replay"];
    all.extend_from_slice(args);
    all.extend(dirs.iter().map(String::as_str));
    let out = trailhose(&all, None);
    (json_lines(&out.stdout), stderr(&out), out.status.code())
}

fn unresolved(records: &[Value]) -> usize {
    records
        .iter()
        .filter(|r| {
            r["userIdentity"]["type"] == "AssumedRole"
                && r["enrichment"]["actor"]["method"] == "unresolved"
        })
        .count()
}

#[test]
fn sessions_begun_in_one_run_resolve_in_the_next() {
    let dir = gen_archive("6000");
    let state = dir.path().join("state");
    let state = state.to_str().expect("path");
    // Every AssumeRole is in us-east-1: the first run sees them, the second only the uses.
    let (first, err, code) = replay(
        &["-q", "--enrich", "--state", state],
        &region_dirs(dir.path(), "us-east-1"),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(first.iter().any(|r| r["eventName"] == "AssumeRole"));
    assert!(Path::new(state).join("attribution.json").exists());
    let eu = region_dirs(dir.path(), "eu-west-1");
    let (without, _, _) = replay(&["-q", "--enrich"], &eu);
    assert!(
        unresolved(&without) > 100,
        "without state the uses cannot resolve: {}",
        unresolved(&without)
    );
    let (with, err, code) = replay(&["-q", "--enrich", "--state", state], &eu);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(with.len(), without.len());
    assert_eq!(unresolved(&with), 0, "state carried every session over");
    let alice = with
        .iter()
        .find(|r| {
            r["userIdentity"]["arn"]
                .as_str()
                .is_some_and(|a| a.ends_with("/alice-deep"))
        })
        .expect("a use of the three-role chain");
    assert_eq!(
        alice["enrichment"]["actor"]["chain"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "{alice}"
    );
}

#[test]
fn a_restarted_replay_does_not_emit_what_it_emitted() {
    let dir = gen_archive("3000");
    let state = dir.path().join("state");
    let (state, data) = (
        state.to_str().expect("path"),
        vec![dir
            .path()
            .join("AWSLogs")
            .to_str()
            .expect("path")
            .to_string()],
    );
    // A run that fails (its sink cannot write) must not make the next run drop anything.
    let (_, err, code) = replay(&["-q", "--state", state, "-o", "/dev/full"], &data);
    assert_eq!(code, Some(3), "{err}");
    let (first, _, code) = replay(&["-q", "--state", state], &data);
    assert_eq!(code, Some(0));
    assert!(first.len() >= 3000);
    // The same replay again: its checkpoint says every input is done.
    let (second, summary, code) = replay(&["--state", state], &data);
    assert_eq!(code, Some(0));
    assert!(second.is_empty(), "{} records emitted again", second.len());
    assert!(
        summary.contains("inputs done by an earlier run") && summary.contains("from 0 inputs"),
        "{summary}"
    );
    // The same archive under another name is another replay: read again, and every event
    // dropped as one the state directory remembers delivering.
    let copy = dir.path().join("copy");
    let status = std::process::Command::new("cp")
        .args(["-r", &data[0], copy.to_str().expect("path")])
        .status()
        .expect("cp");
    assert!(status.success());
    let (third, summary, code) = replay(
        &["--state", state],
        &[copy.to_str().expect("path").to_string()],
    );
    assert_eq!(code, Some(0), "{summary}");
    assert!(third.is_empty(), "{} records emitted again", third.len());
    assert!(
        summary.contains(&format!(
            "{} dropped",
            trailhose::progress::thousands(first.len() as u64)
        )),
        "{summary}"
    );
}

#[test]
fn a_damaged_state_file_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("attribution.json"), b"{not json").expect("write");
    let out = trailhose(
        &[
            "replay",
            "-q",
            "--enrich",
            "--state",
            dir.path().to_str().expect("path"),
            "-",
        ],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("attribution.json") && err.contains("damaged"),
        "{err}"
    );
}

/// A state directory that is not one (it holds someone's files), or whose checkpoint is
/// damaged, stops the run at start-up (exit 2) naming it and the way out; nothing is read.
#[test]
fn a_foreign_or_damaged_state_directory_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.json");
    std::fs::write(&input, trail_file(&[record(1)])).expect("write");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    std::fs::write(state.join("notes.txt"), b"my notes").expect("write");
    let run = || {
        trailhose(
            &[
                "replay",
                "-q",
                "--state",
                state.to_str().expect("path"),
                input.to_str().expect("path"),
            ],
            None,
        )
    };
    let out = run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not a trailhose state directory") && err.contains("notes.txt"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    std::fs::remove_file(state.join("notes.txt")).expect("rm");
    // A clean run commits; then a flipped byte in the commit is named, never reused.
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let checkpoint = state.join("checkpoint.bin");
    let mut bytes = std::fs::read(&checkpoint).expect("checkpoint");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&checkpoint, bytes).expect("write");
    let out = run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("checkpoint.bin is damaged") && err.contains("move it away"),
        "{err}"
    );
}
