//! Helpers shared by the end-to-end tests: the binary, the shared real samples, and runs of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The trailhose binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trailhose"))
}

/// `../shared/data` beside the repository (CI lays a copy there), or `TRAILHOSE_SHARED_DATA`.
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("TRAILHOSE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        dir.join("cloudtrail").is_dir(),
        "the shared samples are missing at {}: set TRAILHOSE_SHARED_DATA",
        dir.display()
    );
    dir
}

pub fn cloudtrail_samples() -> PathBuf {
    shared_data().join("cloudtrail")
}

/// Runs `trailhose ARGS`, feeding `stdin` if given.
pub fn trailhose(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trailhose");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    child.wait_with_output().expect("run trailhose")
}

/// Writes a `trailhose gen` archive of `events` events into a new temporary folder.
pub fn gen_archive(events: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = trailhose(
        &[
            "gen",
            "--events",
            events,
            "--out",
            dir.path().to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "gen: {}", stderr(&out));
    dir
}

/// Output lines parsed as JSON values.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(stdout.to_vec())
        .expect("output is UTF-8")
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("output line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// Reads an NDJSON file of expected records.
pub fn read_ndjson(path: &Path) -> Vec<serde_json::Value> {
    json_lines(&std::fs::read(path).expect("read expected records"))
}

/// Canonical text of a value (serde_json's map is sorted), for multiset comparison.
pub fn canonical(v: &serde_json::Value) -> String {
    serde_json::to_string(v).expect("serialize")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// gzip bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A small valid CloudTrail record with a given eventID.
pub fn record(id: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"alice"}},"eventTime":"2026-01-05T00:00:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","requestParameters":{{"bucketName":"b","key":"k{id}"}},"responseElements":null,"eventID":"id-{id}","readOnly":true}}"#,
        id % 60
    )
}

/// A trail file body holding `records`.
pub fn trail_file(records: &[String]) -> String {
    format!("{{\"Records\":[{}]}}", records.join(","))
}

/// Reads the dead-letter file's entries.
pub fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    if !path.exists() {
        return Vec::new();
    }
    read_ndjson(path)
}
