//! `trailhose verify` on a gen archive's digests, from a folder and from S3 (moto): a clean
//! trail passes; a changed, a deleted and an extra log file, and a changed digest, are each
//! reported and fail the run.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::*;

fn log_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("AWSLogs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Rewrites a gzip file's content with `edit`.
fn edit_gzip(path: &Path, edit: impl Fn(String) -> String) {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(edit(text).as_bytes()).expect("gzip");
    std::fs::write(path, enc.finish().expect("gzip")).expect("write");
}

/// Damages an archive: one log file changed, one deleted, one extra, one digest changed.
/// Returns the changed and deleted files' names and the changed digest's name.
fn damage(root: &Path) -> (String, String, String) {
    let files = log_files(root);
    let logs: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .collect();
    let digests: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail-Digest/"))
        .collect();
    let changed = logs[3].clone();
    edit_gzip(&changed, |t| {
        t.replacen("\"eventVersion\"", "\"eventversion\"", 1)
    });
    let deleted = logs[8].clone();
    std::fs::remove_file(&deleted).expect("rm");
    let extra = logs[5]
        .with_file_name("123456789012_CloudTrail_us-east-1_20260105T0013Z_extra000000000.json.gz");
    std::fs::copy(logs[5], &extra).expect("copy");
    // A digest with a chained successor: its change breaks the next one's link.
    let digest = digests
        .iter()
        .find(|d| !d.to_string_lossy().contains("T010000Z"))
        .expect("a later digest")
        .to_path_buf();
    let named = |p: &Path| p.file_name().expect("name").to_string_lossy().to_string();
    let prev = digests
        .iter()
        .find(|d| {
            let s = d.to_string_lossy();
            s.contains("T010000Z")
                && named(d).split('_').next() == named(&digest).split('_').next()
                && named(d).split('_').nth(2) == named(&digest).split('_').nth(2)
        })
        .expect("the first digest of that account and region")
        .to_path_buf();
    edit_gzip(&prev, |t| {
        t.replacen("\"awsAccountId\"", "\"awsaccountid\"", 1)
    });
    (named(&changed), named(&deleted), named(&prev))
}

fn check_report(out: &std::process::Output, changed: &str, deleted: &str, digest: &str) {
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}\n{}", stderr(out));
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("altered:") && l.contains(changed)),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("missing:") && l.contains(deleted)),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("extra:") && l.contains("_extra000000000")),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("altered digest:") && l.contains(digest)),
        "{report}"
    );
    assert_eq!(report.lines().count(), 4, "nothing else reported: {report}");
    assert!(
        stderr(out).contains("signatures not checked"),
        "{}",
        stderr(out)
    );
}

#[test]
fn a_local_copy_verifies_and_damage_is_reported() {
    let archive = gen_archive("15000");
    let out = trailhose(&["verify", archive.path().to_str().expect("path")], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("0 altered, 0 missing, 0 extra, 0 broken"),
        "{}",
        stderr(&out)
    );
    let (changed, deleted, digest) = damage(archive.path());
    let out = trailhose(
        &[
            "verify",
            archive.path().join("AWSLogs").to_str().expect("path"),
        ],
        None,
    );
    check_report(&out, &changed, &deleted, &digest);
}

#[test]
fn a_bucket_verifies_and_damage_is_reported() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("15000");
    let (changed, deleted, digest) = damage(archive.path());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
    });
    let out = trailhose_aws(&[
        "verify",
        "s3://trail",
        "--endpoint-url",
        &moto.endpoint,
        "--path-style",
    ]);
    check_report(&out, &changed, &deleted, &digest);
}
