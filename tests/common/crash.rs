//! Crash tests' shared part: run a command, SIGKILL it at a random moment once it is
//! writing, again and again, then let it finish; and read what it wrote.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How many times each event id occurs in an NDJSON file (which must end with a whole line).
pub fn id_counts(path: &Path) -> BTreeMap<String, usize> {
    let bytes = std::fs::read(path).unwrap_or_default();
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

/// Every event id of an archive (or of any input `replay` takes) with its count, from one
/// uninterrupted run with dedupe on (`gen` adds repeated deliveries, which dedupe drops),
/// written to `work/reference.ndjson`.
pub fn reference_ids(input: &Path, work: &Path) -> BTreeMap<String, usize> {
    let reference = work.join("reference.ndjson");
    let out = super::trailhose(
        &[
            "replay",
            "-q",
            input.to_str().expect("path"),
            "-o",
            reference.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", super::stderr(&out));
    id_counts(&reference)
}

/// `trailhose replay -q INPUT --state STATE -o OUTPUT`, quiet, its stdout discarded: the
/// command the crash and drain tests run again and again.
pub fn state_replay(input: &Path, state: &Path, output: &Path) -> Command {
    let mut c = Command::new(super::bin());
    c.args([
        "replay",
        "-q",
        input.to_str().expect("path"),
        "--state",
        state.to_str().expect("path"),
        "-o",
        output.to_str().expect("path"),
    ])
    .stdout(std::process::Stdio::null());
    c
}

/// What a series of kills came to.
pub struct Kills {
    pub seed: u64,
    /// Runs killed before they finished.
    pub killed: usize,
    /// Runs that cut their output back to its commit (the kill fell between commits).
    pub resumed: usize,
    /// The last run's stderr (it ran to its end, exit 0).
    pub last_stderr: String,
}

/// Runs `command(stderr_file)` `rounds` times, each killed with SIGKILL 0 to `max_delay`
/// after `output` first changes (a fixed clock would kill the later, shorter runs after they
/// finish), then once more to its end, which must exit 0. The moments come from
/// `TRAILHOSE_CRASH_SEED` when set (the seed is printed, so a failure can be repeated).
/// Waits until `output` holds more than `before` bytes, `child` has exited, or a minute has
/// passed.
pub fn wait_for_output(child: &mut Child, output: &Path, before: u64) {
    let started = Instant::now();
    while std::fs::metadata(output).map_or(0, |m| m.len()) == before
        && started.elapsed() < Duration::from_secs(60)
        && child.try_wait().expect("wait").is_none()
    {
        std::thread::sleep(Duration::from_micros(200));
    }
}

pub fn kill_and_rerun(
    command: &dyn Fn(&Path) -> Command,
    output: &Path,
    logs: &Path,
    rounds: usize,
    max_delay: Duration,
) -> Kills {
    let seed = std::env::var("TRAILHOSE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("kill moments from seed {seed} (TRAILHOSE_CRASH_SEED repeats them)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut killed, mut resumed) = (0, 0);
    let size = || std::fs::metadata(output).map_or(0, |m| m.len());
    for round in 0..rounds {
        let log = logs.join(format!("run-{round}.stderr"));
        let before = size();
        let mut child = command(&log).spawn().expect("start");
        wait_for_output(&mut child, output, before);
        let moment = Instant::now() + max_delay.mul_f64(rng.f64());
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
        } else {
            assert_eq!(status.code(), Some(0), "round {round} ended early: {err}");
        }
        if err.contains("resuming") {
            resumed += 1;
        }
    }
    eprintln!("{killed} of {rounds} runs killed mid-replay, {resumed} resumed a cut file");
    let log = logs.join("last.stderr");
    let status = command(&log).status().expect("last run");
    let last_stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{last_stderr}");
    Kills {
        seed,
        killed,
        resumed,
        last_stderr,
    }
}

/// Checks `got` holds every id of `all` exactly once.
pub fn assert_exactly_once(
    got: &BTreeMap<String, usize>,
    all: &BTreeMap<String, usize>,
    seed: u64,
) {
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
}

/// The source part of the state directory's `checkpoint.bin` (after its magic and the
/// header's length, the header is JSON), if a run committed one.
pub fn committed_source(state: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(state.join("checkpoint.bin")).ok()?;
    let len = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(12..12 + len)?).ok()?;
    Some(header["source"].clone())
}
