//! Bad input, nothing lost: every kind of broken input gives one clear message naming the input
//! and byte offset, a dead-letter line with the raw bytes, exit code 1, and every valid record of
//! the same input still comes out.

mod common;

use std::path::Path;

use base64::Engine;
use common::*;
use serde_json::Value;

struct Case {
    out: std::process::Output,
    dead: Vec<Value>,
}

/// Replays one file written with `bytes`, with a dead-letter file.
fn replay_file(name: &str, bytes: &[u8]) -> (Case, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join(name);
    std::fs::write(&input, bytes).expect("write input");
    let case = replay_paths(&[&input], dir.path());
    (case, dir)
}

fn replay_paths(inputs: &[&Path], dir: &Path) -> Case {
    let dead = dir.join("dead-letter.ndjson");
    let mut args = vec![
        "replay",
        "-q",
        "--dead-letter",
        dead.to_str().expect("path"),
    ];
    args.extend(inputs.iter().map(|p| p.to_str().expect("path")));
    let out = trailhose(&args, None);
    Case {
        out,
        dead: dead_letters(&dead),
    }
}

/// The checks every bad input must pass: exit 1, the message names input, kind and offset,
/// one dead-letter entry of that kind whose raw bytes are the start of `raw_starts`.
fn assert_reported(case: &Case, input_name: &str, kind: &str, raw_starts: &[u8]) {
    let err = stderr(&case.out);
    assert_eq!(case.out.status.code(), Some(1), "exit code; stderr: {err}");
    let line = err
        .lines()
        .find(|l| l.contains(kind))
        .unwrap_or_else(|| panic!("no {kind} message in: {err}"));
    assert!(
        line.contains(input_name),
        "message does not name the input: {line}"
    );
    assert!(
        line.contains("at byte "),
        "message does not give the offset: {line}"
    );
    let entries: Vec<&Value> = case
        .dead
        .iter()
        .filter(|e| e["error_kind"] == kind)
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "dead letters of kind {kind}: {:?}",
        case.dead
    );
    let e = entries[0];
    assert!(
        e["origin"].as_str().unwrap_or("").ends_with(input_name),
        "{e}"
    );
    assert!(e["offset"].is_u64() && e["error"].is_string(), "{e}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(e["raw_base64"].as_str().expect("raw_base64"))
        .expect("base64");
    assert!(
        raw.starts_with(raw_starts) || raw_starts.starts_with(&raw),
        "raw bytes: {:?}",
        String::from_utf8_lossy(&raw[..raw.len().min(200)])
    );
}

fn ids(out: &std::process::Output) -> Vec<String> {
    json_lines(&out.stdout)
        .iter()
        .map(|v| v["eventID"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn records(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(record).collect()
}

#[test]
fn truncated_gzip_keeps_the_records_before_the_cut() {
    let body = trail_file(&records(0..2000));
    let gz = gzip(body.as_bytes());
    let (case, _dir) = replay_file("cut.json.gz", &gz[..gz.len() / 2]);
    let got = ids(&case.out);
    assert!(
        got.len() > 100 && got.len() < 2000,
        "{} records came out",
        got.len()
    );
    let want: Vec<String> = (0..got.len()).map(|i| format!("id-{i}")).collect();
    assert_eq!(got, want, "the records before the cut, in order");
    let next = record(got.len());
    assert_reported(
        &case,
        "cut.json.gz",
        "gzip_truncated",
        &next.as_bytes()[..10],
    );
}

#[test]
fn corrupt_deflate_data_is_reported() {
    let body = trail_file(&records(0..2000));
    let mut gz = gzip(body.as_bytes());
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let (case, _dir) = replay_file("corrupt.json.gz", &gz);
    // Inflated bytes after the damage are not the file's: records parsed from them could be
    // altered copies, so a file that fails its checks gives none, and is dead-lettered whole.
    assert!(ids(&case.out).is_empty(), "{:?}", ids(&case.out));
    assert_reported(&case, "corrupt.json.gz", "gzip_corrupt", &gz);
}

#[test]
fn invalid_json_record_is_dead_lettered_and_the_rest_go_on() {
    let mut rs = records(0..5);
    rs[2] =
        r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com",,"eventName":"x"}"#.to_string();
    let (case, _dir) = replay_file("bad.json", trail_file(&rs).as_bytes());
    assert_eq!(ids(&case.out), vec!["id-0", "id-1", "id-3", "id-4"]);
    assert_reported(&case, "bad.json", "invalid_json", rs[2].as_bytes());
}

#[test]
fn json_that_is_not_cloudtrail() {
    let (case, _dir) = replay_file("other.json", b"{\"hello\":\"world\"}\n");
    assert_reported(
        &case,
        "other.json",
        "not_cloudtrail",
        b"{\"hello\":\"world\"}",
    );
    let mut rs = records(0..3);
    rs[1] = r#"{"foo":1}"#.to_string();
    let (case, _dir) = replay_file("mixed.json", trail_file(&rs).as_bytes());
    assert_eq!(ids(&case.out), vec!["id-0", "id-2"]);
    assert_reported(&case, "mixed.json", "not_cloudtrail", b"{\"foo\":1}");
}

#[test]
fn invalid_utf8_record() {
    let mut body = trail_file(&records(0..3)).into_bytes();
    let at = body
        .windows(4)
        .position(|w| w == b"k1\"}")
        .expect("record 1's key");
    body[at] = 0xff;
    let (case, _dir) = replay_file("latin1.json", &body);
    assert_eq!(ids(&case.out), vec!["id-0", "id-2"]);
    assert_reported(&case, "latin1.json", "invalid_utf8", b"{\"eventVersion\"");
}

#[test]
fn nesting_depth_bomb() {
    let bomb = format!(
        r#"{{"eventVersion":"1.08","eventSource":"s","eventName":"n","deep":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let rs = vec![record(0), bomb, record(2)];
    let (case, _dir) = replay_file("bomb.json", trail_file(&rs).as_bytes());
    assert_eq!(ids(&case.out), vec!["id-0", "id-2"]);
    assert_reported(
        &case,
        "bomb.json",
        "too_deep",
        b"{\"eventVersion\":\"1.08\",\"eventSource\"",
    );
    // An unclosed bomb reaching the end of the input is one error too, not one per level.
    let (case, _dir) = replay_file("open-bomb.json", "[".repeat(1_000_000).as_bytes());
    assert_reported(&case, "open-bomb.json", "too_deep", b"[[[[");
}

#[test]
fn a_100_mb_record_is_dead_lettered_with_its_start() {
    // Incompressible, as real data is: 100 MB of one byte would be a gzip bomb (1000 to 1).
    let mut rng = fastrand::Rng::with_seed(7);
    let blob: String = (0..100 << 20).map(|_| rng.alphanumeric()).collect();
    let huge = format!(
        r#"{{"eventVersion":"1.08","eventSource":"s","eventName":"n","requestParameters":{{"blob":"{blob}"}}}}"#
    );
    let rs = vec![record(0), huge.clone(), record(2)];
    let (case, _dir) = replay_file("huge.json.gz", &gzip(trail_file(&rs).as_bytes()));
    assert_eq!(ids(&case.out), vec!["id-0", "id-2"]);
    assert_reported(&case, "huge.json.gz", "too_large", &huge.as_bytes()[..4096]);
    let entry = case
        .dead
        .iter()
        .find(|e| e["error_kind"] == "too_large")
        .expect("entry");
    assert_eq!(entry["raw_truncated"], true);
    // The default max_record_bytes (4 MiB) also bounds what the dead letter keeps.
    assert_eq!(entry["raw_len"], 4 << 20);
}

#[test]
fn empty_input() {
    let (case, _dir) = replay_file("empty.json.gz", b"");
    assert_reported(&case, "empty.json.gz", "empty_input", b"");
    let (case, _dir) = replay_file("blank.json", b"  \n\n ");
    assert_reported(&case, "blank.json", "empty_input", b"");
}

#[test]
fn unreadable_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.json");
    std::fs::write(&good, trail_file(&records(0..3))).expect("write");
    // A dangling link cannot be opened, even by root (who reads mode-000 files).
    let dangling = dir.path().join("gone.json.gz");
    std::os::unix::fs::symlink(dir.path().join("missing-target"), &dangling).expect("symlink");
    let case = replay_paths(&[dir.path()], dir.path());
    assert_eq!(ids(&case.out), vec!["id-0", "id-1", "id-2"]);
    assert_reported(&case, "gone.json.gz", "io", b"");
}

#[test]
fn non_json_bytes_and_truncated_json() {
    let mut body = b"this is,not json\nat all\n".to_vec();
    body.extend(record(0).as_bytes());
    body.push(b'\n');
    body.extend(&record(1).as_bytes()[..50]);
    let (case, _dir) = replay_file("junk.ndjson", &body);
    assert_eq!(ids(&case.out), vec!["id-0"]);
    assert_reported(&case, "junk.ndjson", "not_json", b"this is,not json");
    assert_reported(
        &case,
        "junk.ndjson",
        "truncated",
        &record(1).as_bytes()[..50],
    );
}

#[test]
fn usage_and_config_errors_exit_2() {
    let out = trailhose(&["replay", "/no/such/path"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/no/such/path") && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );
    let out = trailhose(&["replay", "--workers", "many"], None);
    assert_eq!(out.status.code(), Some(2));
    let out = trailhose(&["replay", "-", "--batch-bytes", "5"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--batch-bytes = 5"),
        "{}",
        stderr(&out)
    );
}
