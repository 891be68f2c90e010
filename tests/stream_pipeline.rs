//! The pipelined decode of one stream: stdin, or a file too large to read whole, is inflated
//! and split by the worker reading it and decoded by every worker in chunks. Its output must
//! be what one worker alone writes, line for line and in order (with dedupe off: when one
//! stream holds an event twice, dedupe keeps whichever copy a worker reaches first, so with it
//! on only the set of lines is the same); its bad records must reach the dead-letter output
//! with the same origins and offsets; and a replay of one big file killed mid-stream must still
//! end with every event exactly once (a chunk acknowledged out of turn would advance the
//! checkpoint past events not yet written).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::crash::*;
use common::*;

/// A bad trail file: two valid records around one that is not JSON and one that is not a
/// CloudTrail record, so errors come from chunks decoded by any worker.
fn bad_member(n: usize) -> Vec<u8> {
    let body = format!(
        "{{\"Records\":[{},{{\"eventVersion\":\"1.08\",\"eventName\":tru{n}}},{},{{\"hello\":{n}}}]}}",
        record(9_000_000 + 2 * n),
        record(9_000_001 + 2 * n)
    );
    gzip(body.as_bytes())
}

/// Runs `replay INPUT -o out --dead-letter dl --workers N [EXTRA]` (INPUT `-` reads `stdin`),
/// which must exit 1 (bad input, all else delivered), and returns the output and the
/// dead-letter entries, sorted (their order is the order errors were found in: the workers'
/// business).
fn replay(
    input: &str,
    stdin: Option<&[u8]>,
    workers: &str,
    extra: &[&str],
    work: &Path,
) -> (Vec<u8>, Vec<String>) {
    let (out, letters, _) = replay_with_stderr(input, stdin, workers, extra, work);
    (out, letters)
}

/// `replay`, with what the run printed on stderr.
fn replay_with_stderr(
    input: &str,
    stdin: Option<&[u8]>,
    workers: &str,
    extra: &[&str],
    work: &Path,
) -> (Vec<u8>, Vec<String>, String) {
    let (out, dl) = (
        work.join(format!("out-{workers}.ndjson")),
        work.join(format!("dl-{workers}.ndjson")),
    );
    let mut args = vec![
        "replay",
        "-q",
        input,
        "-o",
        out.to_str().expect("path"),
        "--dead-letter",
        dl.to_str().expect("path"),
        "--workers",
        workers,
    ];
    args.extend(extra);
    let run = trailhose(&args, stdin);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let mut letters: Vec<String> = dead_letters(&dl).iter().map(canonical).collect();
    letters.sort();
    (std::fs::read(&out).expect("output"), letters, stderr(&run))
}

#[test]
fn one_stream_decoded_by_every_worker_writes_what_one_worker_writes_in_order() {
    let archive = gen_archive("40000");
    let files = log_files(&archive.path().join("AWSLogs"));
    // `cat FILES`: one multi-member gzip stream, with a bad trail file every 150 files.
    let mut stream = Vec::new();
    let mut bad = 0;
    for (i, f) in files.iter().enumerate() {
        stream.extend(std::fs::read(f).expect("log file"));
        if i % 150 == 75 {
            stream.extend(bad_member(i));
            bad += 1;
        }
    }
    assert!(
        stream.len() > 6 << 20,
        "the stream must be larger than what is read whole ({} bytes)",
        stream.len()
    );
    let work = tempfile::tempdir().expect("tempdir");
    let exact = ["--no-dedupe"];
    let (alone, alone_letters, alone_said) =
        replay_with_stderr("-", Some(&stream), "1", &exact, work.path());
    let (all, all_letters, all_said) =
        replay_with_stderr("-", Some(&stream), "4", &exact, work.path());
    let lines = alone.iter().filter(|&&b| b == b'\n').count();
    assert!(lines >= 40_000 + 2 * bad, "{lines} lines");
    assert!(
        alone == all,
        "4 workers wrote other lines, or in another order, than one"
    );
    assert_eq!(alone_letters.len(), 2 * bad, "{alone_letters:#?}");
    assert_eq!(alone_letters, all_letters, "dead letters differ");
    for letter in &all_letters {
        let v: serde_json::Value = serde_json::from_str(letter).expect("json");
        assert_eq!(v["origin"], "stdin", "{v}");
        assert!(v["offset"].as_u64().is_some_and(|o| o > 0), "{v}");
    }
    // The input's first three errors are printed and the rest summed once, however many
    // chunks and workers its records were decoded in (chunks once each printed their own
    // three, and summed nothing).
    assert!(2 * bad > 3, "too few errors to sum");
    for said in [&alone_said, &all_said] {
        let printed = said
            .lines()
            .filter(|l| l.starts_with("trailhose: error: stdin: ") && l.contains(" at byte "))
            .count();
        let summed: Vec<&str> = said
            .lines()
            .filter(|l| l.contains("more errors in this input"))
            .collect();
        assert_eq!(printed, 3, "{said}");
        assert_eq!(summed.len(), 1, "{said}");
        assert!(
            summed[0].starts_with(&format!(
                "trailhose: error: stdin: {} more errors in this input",
                2 * bad - 3
            )),
            "{said}"
        );
    }

    // The same bytes as one file on disk: too large to read whole, it is streamed and
    // pipelined the same way.
    let big = work.path().join("big.json.gz");
    std::fs::write(&big, &stream).expect("write");
    let big = big.to_str().expect("path");
    let (file_alone, _) = replay(big, None, "1", &exact, work.path());
    let (file_all, file_letters) = replay(big, None, "3", &exact, work.path());
    assert!(
        file_alone == file_all,
        "a file pipelined on 3 workers differs from one worker's"
    );
    assert_eq!(file_alone, alone, "the file and stdin give other lines");
    assert_eq!(file_letters.len(), 2 * bad);

    // With dedupe on (the default), each repeated delivery in the stream is dropped once
    // whichever worker meets it first: the same lines, each event once.
    let (deduped_alone, _) = replay(big, None, "1", &[], work.path());
    let (deduped_all, _) = replay(big, None, "3", &[], work.path());
    let sorted = |b: &[u8]| {
        let mut lines: Vec<Vec<u8>> = b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
        lines.sort();
        lines
    };
    assert!(
        deduped_alone.len() < alone.len(),
        "the archive repeats no delivery"
    );
    assert!(
        sorted(&deduped_alone) == sorted(&deduped_all),
        "dedupe kept other events"
    );
}

#[test]
fn one_big_file_killed_mid_stream_is_written_exactly_once() {
    // One file of 60,000 events (about 16 MB compressed): streamed and pipelined.
    let archive = gen_archive_with(
        "60000",
        &[
            "--events-per-file",
            "200000",
            "--accounts",
            "1",
            "--regions",
            "1",
        ],
    );
    let files = log_files(&archive.path().join("AWSLogs"));
    let big = files
        .iter()
        .max_by_key(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .expect("a log file")
        .clone();
    assert!(std::fs::metadata(&big).expect("size").len() > 4 << 20);
    let work = tempfile::tempdir().expect("tempdir");
    let all = reference_ids(&big, work.path());
    assert!(all.len() >= 60_000, "{} ids", all.len());

    let (state, output) = (work.path().join("st"), work.path().join("out.ndjson"));
    let replay_into = |state: &Path, output: &Path| {
        let mut c = state_replay(&big, state, output);
        c.args(["--commit-interval-ms", "20", "--workers", "3"]);
        c
    };
    let command = |stderr_to: &Path| {
        let mut c = replay_into(&state, &output);
        c.stderr(Stdio::from(
            std::fs::File::create(stderr_to).expect("stderr file"),
        ));
        c
    };
    // Kill moments scale with this machine's speed: a fixed window let a fast CI machine
    // finish the file before the third kill. A dry run, timed from its first output to its
    // end, gives the whole file's time; each kill falls within the first 30% of it, so three
    // cuts cannot finish the file and at least three of six rounds are cut mid-file.
    let dry = work.path().join("dry");
    let dry_output = dry.join("out.ndjson");
    std::fs::create_dir_all(&dry).expect("dry dir");
    let mut child = replay_into(&dry.join("st"), &dry_output)
        .stderr(Stdio::null())
        .spawn()
        .expect("dry run");
    wait_for_output(&mut child, &dry_output, 0);
    let first_output = std::time::Instant::now();
    assert_eq!(
        child.wait().expect("wait").code(),
        Some(0),
        "the dry run failed"
    );
    let whole_file = first_output.elapsed();
    let kills = kill_and_rerun(
        &command,
        &output,
        work.path(),
        6,
        whole_file.mul_f64(0.3).max(Duration::from_millis(1)),
    );
    assert!(
        kills.killed >= 3,
        "only {} of 6 runs were killed mid-file",
        kills.killed
    );
    assert_exactly_once(&id_counts(&output), &all, kills.seed);
}
