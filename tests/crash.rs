//! Crash safety: a replay killed with SIGKILL at random moments and rerun each time with the
//! same command ends with its output holding every event of the archive exactly once. The
//! checkpoint (inputs done), the delivered event ids and the output file's committed length
//! are one commit, so a restart cuts the file back to what the commit describes and reads
//! again exactly the inputs it does not cover, dropping the events it remembers delivering.
//! (The S3 replay's version is in `s3.rs`.)

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::crash::*;
use common::*;

#[test]
fn a_replay_killed_twenty_times_writes_every_event_exactly_once() {
    let archive = gen_archive("100000");
    let logs = archive.path().join("AWSLogs");
    let work = tempfile::tempdir().expect("tempdir");
    let all = reference_ids(&logs, work.path());
    assert!(all.len() >= 100_000 && all.values().all(|&n| n == 1));

    let (state, output) = (work.path().join("st"), work.path().join("out.ndjson"));
    let command = |stderr_to: &Path| {
        let mut c = state_replay(&logs, &state, &output);
        // Commits often, so kills land between commits as well as before the first.
        c.args(["--commit-interval-ms", "20"]).stderr(Stdio::from(
            std::fs::File::create(stderr_to).expect("stderr file"),
        ));
        c
    };
    let kills = kill_and_rerun(
        &command,
        &output,
        work.path(),
        20,
        Duration::from_millis(60),
    );
    assert!(
        kills.killed >= 15,
        "only {} of 20 runs were killed mid-replay",
        kills.killed
    );
    assert!(
        kills.resumed >= 1,
        "no run resumed a file cut back to its commit: the kills never fell between commits"
    );
    assert_exactly_once(&id_counts(&output), &all, kills.seed);
    // One more run finds everything done and leaves the file as it is.
    let before = std::fs::metadata(&output).expect("out").len();
    let status = command(&work.path().join("after.stderr"))
        .status()
        .expect("run after");
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::metadata(&output).expect("out").len(), before);
}
