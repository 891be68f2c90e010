//! End to end: the binary on the real CloudTrail samples in `tests/data/cloudtrail`, in every
//! envelope, and on `trailhose gen` archives. Output records must equal input records as JSON.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Counts of canonical records: a multiset.
fn multiset(values: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(canonical(v)).or_default() += 1;
    }
    m
}

fn files_in(folder: &str, pick: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let dir = cloudtrail_samples().join(folder);
    let mut files: Vec<PathBuf> = walk(&dir)
        .into_iter()
        .filter(|p| pick(p.file_name().and_then(|n| n.to_str()).unwrap_or("")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sample files picked in {folder}");
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read samples") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Replays `files` and checks: exit 0, no errors, exactly `expected_count` records, and the
/// same distinct records as the folder's `_extracted-events.ndjson`.
fn replay_matches_extracted(
    folder: &str,
    files: &[PathBuf],
    expected_count: usize,
    strip: &[&str],
) {
    // Decoding is checked here, so every delivered copy must come out: dedupe is off.
    let mut args: Vec<&str> = vec!["replay", "-q", "--no-dedupe"];
    args.extend(files.iter().map(|p| p.to_str().expect("utf-8 path")));
    let out = trailhose(&args, None);
    assert_eq!(out.status.code(), Some(0), "{folder}: {}", stderr(&out));
    assert!(
        !stderr(&out).contains("error"),
        "{folder}: {}",
        stderr(&out)
    );
    let mut got = json_lines(&out.stdout);
    assert_eq!(got.len(), expected_count, "{folder}: record count");
    for v in &mut got {
        if let Some(o) = v.as_object_mut() {
            for k in strip {
                o.remove(*k);
            }
        }
    }
    let expected = read_ndjson(
        &cloudtrail_samples()
            .join(folder)
            .join("_extracted-events.ndjson"),
    );
    let got_set: Vec<String> = multiset(&got).into_keys().collect();
    let want_set: Vec<String> = multiset(&expected).into_keys().collect();
    assert_eq!(
        got_set, want_set,
        "{folder}: distinct records differ from _extracted-events.ndjson"
    );
}

#[test]
fn trail_files_records_file_envelope() {
    // raw-large-samples.json is a real {"Records":[...]} file (840) plus 5 masked bare records.
    let files = files_in("opensearch-catalog-cloudtrail", &|n| n.starts_with("raw"));
    replay_matches_extracted("opensearch-catalog-cloudtrail", &files, 845, &[]);
}

#[test]
fn bare_arrays_of_pretty_printed_records() {
    let files = files_in("stratus-red-team-detonation-logs", &|n| {
        n.starts_with("aws.")
    });
    replay_matches_extracted("stratus-red-team-detonation-logs", &files, 310, &[]);
}

#[test]
fn eventbridge_events() {
    let files = files_in("cloud-custodian-eventbridge", &|n| n.starts_with("event-"));
    replay_matches_extracted("cloud-custodian-eventbridge", &files, 10, &[]);
}

#[test]
fn cloudwatch_logs_subscription_payloads() {
    let files = files_in("datadog-forwarder-cwl", &|n| {
        n.ends_with("cloudwatch_log_cloudtrail.json")
    });
    replay_matches_extracted("datadog-forwarder-cwl", &files, 7, &[]);
}

#[test]
fn lookup_events_items() {
    let files = files_in("plaso-lookupevents", &|n| n == "aws_cloudtrail.jsonl");
    replay_matches_extracted("plaso-lookupevents", &files, 6, &[]);
}

#[test]
fn logstash_ndjson_lines() {
    let files = files_in("otrf-security-datasets", &|n| {
        n.starts_with("ec2_proxy") && n.ends_with(".json")
    });
    replay_matches_extracted(
        "otrf-security-datasets",
        &files,
        103,
        &["@version", "@timestamp"],
    );
}

#[test]
fn gzip_and_plain_s3_log_files() {
    let files = files_in("openregister-sumologic-fixtures", &|n| {
        n.starts_with("cloudtrail-logs")
    });
    replay_matches_extracted("openregister-sumologic-fixtures", &files, 6, &[]);
}

#[test]
fn single_records_from_docs_and_lambda_fixtures() {
    let files = files_in("awsdocs-iam-user-guide", &|n| n.ends_with(".json"));
    replay_matches_extracted("awsdocs-iam-user-guide", &files, 7, &[]);
    let files = files_in("aws-lambda-rust-runtime-fixtures", &|n| {
        n.starts_with("example-cloudwatch-cloudtrail")
    });
    replay_matches_extracted("aws-lambda-rust-runtime-fixtures", &files, 3, &[]);
}

#[test]
fn every_real_record_in_order_byte_for_byte() {
    // real-events.ndjson: 1,284 records from every source; NDJSON in, NDJSON out, same order.
    let path = cloudtrail_samples().join("real-events.ndjson");
    let out = trailhose(&["replay", "-q", path.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let input = std::fs::read_to_string(&path).expect("read");
    let output = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(output.lines().count(), 1284);
    for (i, (a, b)) in input.lines().zip(output.lines()).enumerate() {
        let (a, b): (Value, Value) = (
            serde_json::from_str(a).expect("in"),
            serde_json::from_str(b).expect("out"),
        );
        assert_eq!(a, b, "record {i} differs");
    }
}

#[test]
fn stdin_gzip_is_read_like_a_file() {
    let raw = std::fs::read(
        cloudtrail_samples().join("opensearch-catalog-cloudtrail/raw/raw-large-samples.json"),
    )
    .expect("read");
    let out = trailhose(&["replay", "-q", "-"], Some(&gzip(&raw)));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out.stdout).len(), 840);
    // No path at all also means stdin.
    let out = trailhose(&["replay", "-q"], Some(&raw));
    assert_eq!(json_lines(&out.stdout).len(), 840);
}

/// The records of a gen archive, read independently of trailhose: flate2 + serde_json.
fn archive_records(dir: &Path) -> (Vec<Value>, usize) {
    let mut records = Vec::new();
    let mut digests = 0;
    for p in walk(dir) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&p).expect("open"))
            .read_to_string(&mut text)
            .expect("gunzip");
        let v: Value = serde_json::from_str(&text).expect("json");
        match v.get("Records").and_then(Value::as_array) {
            Some(rs) => records.extend(rs.iter().cloned()),
            None => {
                assert!(
                    v.get("logFiles").is_some(),
                    "neither a log nor a digest file: {}",
                    p.display()
                );
                digests += 1;
            }
        }
    }
    (records, digests)
}

#[test]
fn gen_archive_replays_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = trailhose(
        &[
            "gen",
            "--events",
            "5000",
            "--out",
            dir.path().to_str().expect("path"),
            "--seed",
            "9",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (records, digests) = archive_records(dir.path());
    assert!(records.len() >= 5000, "gen wrote {} records", records.len());
    assert!(digests > 0, "gen wrote no digest files");
    let dead = dir.path().join("dead.ndjson");
    let out = trailhose(
        &[
            "replay",
            "--no-dedupe",
            dir.path().join("AWSLogs").to_str().expect("path"),
            "--dead-letter",
            dead.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = json_lines(&out.stdout);
    assert_eq!(multiset(&got), multiset(&records));
    assert!(dead_letters(&dead).is_empty());
    let summary = stderr(&out);
    assert!(
        summary.contains(&format!("{} skipped", digests)),
        "digests not counted as skipped: {summary}"
    );
}

#[test]
fn gen_is_deterministic_per_seed_and_has_every_identity() {
    let (a, b, c) = (
        tempfile::tempdir().expect("t"),
        tempfile::tempdir().expect("t"),
        tempfile::tempdir().expect("t"),
    );
    for (d, seed) in [(&a, "3"), (&b, "3"), (&c, "4")] {
        let out = trailhose(
            &[
                "gen",
                "--events",
                "3000",
                "--out",
                d.path().to_str().expect("p"),
                "--seed",
                seed,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let (ra, _) = archive_records(a.path());
    let (rb, _) = archive_records(b.path());
    let (rc, _) = archive_records(c.path());
    assert_eq!(multiset(&ra), multiset(&rb), "same seed, different archive");
    assert_ne!(
        multiset(&ra),
        multiset(&rc),
        "different seeds, same archive"
    );
    let mut kinds = BTreeMap::new();
    for r in &ra {
        let t = r["userIdentity"]["type"].as_str().unwrap_or("").to_string();
        *kinds.entry(t).or_insert(0) += 1;
        *kinds
            .entry(r["eventName"].as_str().unwrap_or("").to_string())
            .or_insert(0) += 1;
    }
    for want in [
        "IAMUser",
        "AssumedRole",
        "SAMLUser",
        "WebIdentityUser",
        "AWSService",
        "Root",
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
        "RunInstances",
        "GetObject",
        "Decrypt",
        "ConsoleLogin",
        "CreateUser",
    ] {
        assert!(
            kinds.contains_key(want),
            "gen archive lacks {want}: {kinds:?}"
        );
    }
    assert!(
        ra.iter().any(|r| r.get("errorCode").is_some()),
        "no error events"
    );
    assert!(
        ra.iter().any(|r| r["userIdentity"]["arn"]
            .as_str()
            .unwrap_or("")
            .contains("AWSReservedSSO_")),
        "no Identity Center sessions"
    );
}

/// The realistic preset keeps what it promises (the README's table): many sessions per
/// account and hour, role chains of two and three roles across accounts, Identity Center and
/// web identity sessions, six regions, and deliveries up to 15 minutes late; and enrichment
/// still names who is behind nearly every call (the late issuers wait in the reorder window).
#[test]
fn gen_realistic_preset_has_the_shapes_it_promises() {
    // Fewer accounts than the preset's 12, so 20,000 events span an hour: lateness is bounded
    // by the time since the archive's start.
    let dir = gen_archive_with("20000", &["--preset", "realistic", "--accounts", "3"]);
    // Files' windows against their events' times: the file name's stamp ends the window.
    let mut late = 0;
    let mut latest_lateness = 0;
    let mut regions = std::collections::BTreeSet::new();
    let mut accounts = std::collections::BTreeSet::new();
    let mut session_keys = std::collections::BTreeSet::new();
    for p in walk(dir.path()) {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if !p.to_string_lossy().contains("/CloudTrail/") {
            continue;
        }
        // ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz
        let stamp = name.split('_').nth(3).expect("stamp");
        let window_end = format!(
            "{}-{}-{}T{}:{}:00Z",
            &stamp[0..4],
            &stamp[4..6],
            &stamp[6..8],
            &stamp[9..11],
            &stamp[11..13]
        );
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&p).expect("open"))
            .read_to_string(&mut text)
            .expect("gunzip");
        let file: Value = serde_json::from_str(&text).expect("json");
        for r in file["Records"].as_array().expect("Records") {
            let t = r["eventTime"].as_str().expect("eventTime");
            let secs = |iso: &str| -> i64 {
                // Same day in this archive: hours, minutes and seconds are enough.
                let h: i64 = iso[11..13].parse().expect("h");
                let m: i64 = iso[14..16].parse().expect("m");
                let s: i64 = iso[17..19].parse().expect("s");
                let d: i64 = iso[8..10].parse().expect("d");
                ((d * 24 + h) * 60 + m) * 60 + s
            };
            let lateness = secs(&window_end) - 300 - secs(t);
            if lateness > 0 {
                late += 1;
                latest_lateness = latest_lateness.max(lateness);
            }
            regions.insert(r["awsRegion"].as_str().unwrap_or("").to_string());
            accounts.insert(r["recipientAccountId"].as_str().unwrap_or("").to_string());
            if let Some(k) = r["userIdentity"]["accessKeyId"].as_str() {
                if k.starts_with("ASIA") {
                    session_keys.insert(k.to_string());
                }
            }
        }
    }
    assert_eq!(regions.len(), 6, "{regions:?}");
    assert_eq!(accounts.len(), 3, "{accounts:?}");
    assert!(late > 2_000, "only {late} events delivered late");
    assert!(
        latest_lateness > 600 && latest_lateness <= 900,
        "latest delivery {latest_lateness} s after its window"
    );
    assert!(
        session_keys.len() > 3 * 150,
        "{} session keys in use",
        session_keys.len()
    );

    let out = trailhose(
        &[
            "replay",
            dir.path().join("AWSLogs").to_str().expect("path"),
            "--enrich",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = json_lines(&out.stdout);
    let mut methods: BTreeMap<String, usize> = BTreeMap::new();
    let mut chains = [0usize; 4];
    let mut cross_account_chains = 0;
    for e in &events {
        let actor = &e["enrichment"]["actor"];
        *methods
            .entry(actor["method"].as_str().unwrap_or("").to_string())
            .or_insert(0) += 1;
        let chain = actor["chain"].as_array().map(Vec::len).unwrap_or(0);
        chains[chain.min(3)] += 1;
        let chain_accounts: std::collections::BTreeSet<&str> = actor["chain"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|arn| arn.as_str()?.split(':').nth(4))
            .collect();
        if chain_accounts.len() > 1 {
            cross_account_chains += 1;
        }
    }
    assert!(
        chains[2] > 100 && chains[3] > 20,
        "chain lengths {chains:?}"
    );
    assert!(
        cross_account_chains > 100,
        "{cross_account_chains} chains across accounts"
    );
    for method in [
        "identity_center",
        "web_identity",
        "saml",
        "access_key",
        "direct",
    ] {
        assert!(
            methods.get(method).copied().unwrap_or(0) > 100,
            "{method}: {methods:?}"
        );
    }
    let unresolved = methods.get("unresolved").copied().unwrap_or(0);
    assert!(
        unresolved * 10 < events.len(),
        "{unresolved} of {} calls unresolved: {methods:?}",
        events.len()
    );
}
