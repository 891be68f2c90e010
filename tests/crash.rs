//! Crash safety: a replay killed with SIGKILL at random moments and rerun each time with the
//! same command ends with its output holding every event of the archive exactly once. The
//! checkpoint (inputs done), the delivered event ids and the output file's committed length
//! are one commit, so a restart cuts the file back to what the commit describes and reads
//! again exactly the inputs it does not cover, dropping the events it remembers delivering.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// How many times each event id occurs in an NDJSON file (it must end with a whole line).
fn id_counts(path: &Path) -> BTreeMap<String, usize> {
    let bytes = std::fs::read(path).expect("read output");
    assert!(
        bytes.is_empty() || bytes.last() == Some(&b'\n'),
        "the output ends inside a line"
    );
    let mut counts = BTreeMap::new();
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("a whole JSON line");
        let id = v["eventID"].as_str().expect("eventID").to_string();
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

#[test]
fn a_replay_killed_twenty_times_writes_every_event_exactly_once() {
    let archive = gen_archive("100000");
    let logs = archive.path().join("AWSLogs");
    let work = tempfile::tempdir().expect("tempdir");
    // What the archive holds: one uninterrupted run (gen adds repeated deliveries, which
    // dedupe drops).
    let reference = work.path().join("reference.ndjson");
    let out = trailhose(
        &[
            "replay",
            "-q",
            logs.to_str().expect("path"),
            "-o",
            reference.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = id_counts(&reference);
    assert!(all.len() >= 100_000 && all.values().all(|&n| n == 1));

    let (state, output) = (work.path().join("st"), work.path().join("out.ndjson"));
    let command = |stderr_to: &Path| {
        let mut c = Command::new(bin());
        c.args([
            "replay",
            "-q",
            logs.to_str().expect("path"),
            "--state",
            state.to_str().expect("path"),
            "-o",
            output.to_str().expect("path"),
            // Commits often, so kills land between commits as well as before the first.
            "--commit-interval-ms",
            "20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(stderr_to).expect("stderr file"),
        ));
        c
    };
    let seed = std::env::var("TRAILHOSE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("kill moments from seed {seed} (TRAILHOSE_CRASH_SEED repeats them)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut killed, mut resumed) = (0, 0);
    for round in 0..20 {
        let log = work.path().join(format!("run-{round}.stderr"));
        let size = || std::fs::metadata(&output).map_or(0, |m| m.len());
        let before = size();
        let mut child = command(&log).spawn().expect("start");
        // A random moment once the run is writing (a fixed clock would kill the later,
        // shorter runs after they finish): 0 to 60 ms after its output first changes.
        let started = Instant::now();
        while size() == before
            && started.elapsed() < Duration::from_secs(10)
            && child.try_wait().expect("wait").is_none()
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        let moment = Instant::now() + Duration::from_millis(rng.u64(0..60));
        while Instant::now() < moment && child.try_wait().expect("wait").is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
        let finished = child.try_wait().expect("wait").is_some();
        child.kill().expect("kill -9");
        let status = child.wait().expect("wait");
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        if !finished {
            killed += 1;
            assert_eq!(
                status.code(),
                None,
                "round {round}: killed by SIGKILL: {err}"
            );
        }
        if err.contains("resuming") {
            resumed += 1;
        }
    }
    eprintln!("{killed} of 20 runs killed mid-replay, {resumed} resumed a cut file");
    let log = work.path().join("last.stderr");
    let status = command(&log).status().expect("last run");
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        killed >= 15,
        "only {killed} of 20 runs were killed mid-replay: the archive is too small for this machine"
    );
    assert!(
        resumed >= 1,
        "no run resumed a file cut back to its commit: the kills never fell between commits"
    );
    let got = id_counts(&output);
    let repeated: Vec<_> = got.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(
        repeated.is_empty(),
        "emitted twice (seed {seed}): {repeated:?}"
    );
    let missing: Vec<_> = all
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "lost (seed {seed}): {missing:?}");
    assert_eq!(got.len(), all.len(), "seed {seed}");
    // One more run finds everything done and leaves the file as it is.
    let before = std::fs::metadata(&output).expect("out").len();
    let log = work.path().join("after.stderr");
    let status = command(&log).status().expect("run after");
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::metadata(&output).expect("out").len(), before);
}
