//! Dedupe by `eventID`, on by default: repeated deliveries are dropped and counted; different
//! events are never dropped, even when hand-edited data gives two of them one `eventID`.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

fn run(args: &[&str]) -> (Vec<Value>, String) {
    let out = trailhose(args, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (json_lines(&out.stdout), stderr(&out))
}

#[test]
fn repeated_deliveries_of_a_gen_archive_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = trailhose(
        &[
            "gen",
            "--events",
            "30000",
            "--out",
            dir.path().to_str().expect("path"),
        ],
        None,
    );
    let said = stderr(&out);
    // "... plus N duplicate deliveries (M events) ..."
    let dup_events: usize = said
        .split("duplicate deliveries (")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("gen summary: {said}"));
    assert!(dup_events > 0, "this seed must write duplicates: {said}");
    let path = dir.path().to_str().expect("path");
    let (all, _) = run(&["replay", "--no-dedupe", path]);
    let (unique, summary) = run(&["replay", path]);
    assert_eq!(all.len() - unique.len(), dup_events);
    assert!(
        summary.contains(&format!(
            "{} dropped",
            trailhose::progress::thousands(dup_events as u64)
        )),
        "{summary}"
    );
    let ids: BTreeSet<&str> = unique
        .iter()
        .map(|r| r["eventID"].as_str().expect("eventID"))
        .collect();
    assert_eq!(ids.len(), unique.len(), "an eventID came out twice");
    let all_ids: BTreeSet<&str> = all
        .iter()
        .map(|r| r["eventID"].as_str().expect("eventID"))
        .collect();
    assert_eq!(ids, all_ids, "an event was lost");
}

#[test]
fn real_samples_repeats_go_and_different_events_stay() {
    // The Datadog fixtures deliver 4 distinct records 7 times in all.
    let cwl = cloudtrail_samples().join("datadog-forwarder-cwl");
    let files: Vec<String> = [
        "tools__integration_tests__snapshots__cloudwatch_log_cloudtrail.json",
        "tools__integration_tests__snapshots-cache-test__cloudwatch_log_cloudtrail.json",
    ]
    .iter()
    .map(|f| cwl.join(f).to_str().expect("path").to_string())
    .collect();
    let (records, _) = run(&["replay", "-q", &files[0], &files[1]]);
    assert_eq!(records.len(), 4);
    // Cloud Custodian's fixtures give CreateDistribution and UpdateDistribution one eventID:
    // two different calls, both kept.
    let cc = cloudtrail_samples().join("cloud-custodian-eventbridge");
    let (records, _) = run(&["replay", "-q", cc.to_str().expect("path")]);
    let names: Vec<&str> = records
        .iter()
        .filter(|r| r["eventID"] == "a1474634-7457-45e1-bc0f-d47e7ad72f79")
        .map(|r| r["eventName"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn cross_account_copies_share_an_id_but_both_are_kept() {
    let a = r#"{"eventVersion":"1.08","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","eventTime":"2026-01-05T00:00:00Z","eventID":"11111111-1111-4111-8111-111111111111","sharedEventID":"99999999-9999-4999-8999-999999999999","recipientAccountId":"111111111111"}"#;
    let b = r#"{"eventVersion":"1.08","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","eventTime":"2026-01-05T00:00:00Z","eventID":"22222222-2222-4222-8222-222222222222","sharedEventID":"99999999-9999-4999-8999-999999999999","recipientAccountId":"222222222222"}"#;
    let input = format!("{a}\n{b}\n{a}\n");
    let out = trailhose(&["replay", "-q", "-"], Some(input.as_bytes()));
    let records = json_lines(&out.stdout);
    assert_eq!(
        records.len(),
        2,
        "the repeat of the first goes, the second account's copy stays"
    );
}
