//! The sink contract, tested once for every sink through the scripted sink: nothing is
//! acknowledged before it is delivered, retries deliver every record exactly once, rejected
//! records reach the dead-letter output before their input is acknowledged, Retry-After holds
//! back every request of the sink, and a sink failing past its budget fails the run with its
//! inputs unacknowledged. (Backpressure with bounded memory: `sink_backpressure.rs`.)

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use trailhose::config::{PipelineConfig, SinkConfig};
use trailhose::pipeline::{self, exit, RunOptions, RunReport};
use trailhose::sink::ndjson::NdjsonSinkConfig;
use trailhose::sink::scripted::{Script, ScriptedSinkConfig, Step};
use trailhose::sink::SinkError;
use trailhose::stats::RunStats;

use common::*;

/// `files` trail files of `per_file` records each, eventIDs `id-0` up, one of each.
fn trail_dir(files: usize, per_file: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in 0..files {
        let records: Vec<String> = (0..per_file).map(|i| record(f * per_file + i)).collect();
        std::fs::write(
            dir.path().join(format!("t{f:03}.json")),
            trail_file(&records),
        )
        .expect("write");
    }
    dir
}

/// Small batches (about 40 records) and short channels, so a run has many batches in flight.
fn config(dir: &Path, sinks: Vec<SinkConfig>) -> PipelineConfig {
    let mut config = dir_pipeline(dir, sinks);
    config.pipeline.batch_bytes = 16 * 1024;
    config.pipeline.channel_batches = 2;
    config
}

fn run(config: &PipelineConfig) -> RunReport {
    config.validate().expect("valid config");
    pipeline::run(config, &RunOptions { quiet: true }).expect("starts")
}

fn scripted(script: &Arc<Script>) -> ScriptedSinkConfig {
    ScriptedSinkConfig::new(script.clone())
}

fn acked(report: &RunReport) -> u64 {
    RunStats::get(&report.stats.inputs_acked)
}

/// Every eventID once.
fn once_each(n: usize) -> HashMap<String, u32> {
    (0..n).map(|i| (format!("id-{i}"), 1)).collect()
}

/// Asserts the sink delivered exactly `expected`, naming the first few differences.
fn assert_delivered(script: &Script, expected: &HashMap<String, u32>) {
    let got = script.delivered();
    let mut wrong: Vec<String> = expected
        .iter()
        .filter(|(id, n)| got.get(*id) != Some(n))
        .map(|(id, n)| format!("{id}: {} (want {n})", got.get(id).copied().unwrap_or(0)))
        .chain(
            got.iter()
                .filter(|(id, _)| !expected.contains_key(*id))
                .map(|(id, n)| format!("{id}: {n} (want none)")),
        )
        .collect();
    wrong.sort();
    assert!(
        wrong.is_empty(),
        "{} eventIDs delivered wrongly, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(8)]
    );
}

#[test]
fn every_record_is_delivered_exactly_once_across_retries() {
    let dir = trail_dir(12, 150);
    // Whole requests fail, and parts of requests are answered "retry" record by record,
    // over and over, across two concurrent requests.
    let mut steps = Vec::new();
    for _ in 0..15 {
        steps.extend([
            Step::Retry { retry_after: None },
            Step::RetryEverySecond,
            Step::RetryEverySecond,
            Step::Deliver,
        ]);
    }
    let script = Script::new(steps);
    let mut sink = scripted(&script);
    sink.settings.concurrency = 2;
    let report = run(&config(dir.path(), vec![SinkConfig::Scripted(sink)]));
    assert_eq!(report.exit_code(), exit::CLEAN);
    assert_delivered(&script, &once_each(12 * 150));
    assert_eq!(script.delivered_total(), 12 * 150);
    assert_eq!(acked(&report), 12);
    assert_eq!(RunStats::get(&report.stats.records_out), 12 * 150);
}

#[test]
fn rejected_records_reach_the_dead_letter_output_and_their_inputs_are_acknowledged() {
    let dir = trail_dir(4, 100);
    let out = tempfile::tempdir().expect("tempdir");
    let dead = out.path().join("dead.ndjson");
    let script = Script::new([Step::RetryEverySecond]);
    script.reject(["id-7".to_string(), "id-250".to_string()]);
    let mut sink = scripted(&script);
    sink.name = Some("picky".into());
    // One record is made too large for the sink: rejected before it is sent.
    let mut big = serde_json::from_str::<serde_json::Value>(&record(399)).expect("json");
    big["requestParameters"]["key"] = serde_json::Value::String("k".repeat(3000));
    let mut last: Vec<String> = (300..399).map(record).collect();
    last.push(big.to_string());
    std::fs::write(dir.path().join("t003.json"), trail_file(&last)).expect("write");
    sink.max_record_bytes = Some(2000);
    let mut cfg = config(dir.path(), vec![SinkConfig::Scripted(sink)]);
    cfg.pipeline.dead_letter = Some(dead.clone());
    let report = run(&cfg);
    assert_eq!(report.exit_code(), exit::CLEAN, "rejections are not errors");
    assert_eq!(acked(&report), 4, "rejected records count as done");
    let mut expected = once_each(400);
    for id in ["id-7", "id-250", "id-399"] {
        expected.remove(id);
    }
    assert_delivered(&script, &expected);
    let entries = dead_letters(&dead);
    let mut by_id: HashMap<String, serde_json::Value> = entries
        .into_iter()
        .map(|e| (e["event_id"].as_str().unwrap_or("").to_string(), e))
        .collect();
    assert_eq!(by_id.len(), 3, "{by_id:?}");
    let e = by_id.remove("id-250").expect("id-250 dead-lettered");
    assert_eq!(e["error_kind"], "sink_rejected");
    assert_eq!(e["sink"], "picky");
    assert!(e["origin"].as_str().unwrap().ends_with("t002.json"), "{e}");
    assert!(e["error"].as_str().unwrap().contains("id-250"), "{e}");
    let raw = base64_decode(e["raw_base64"].as_str().unwrap());
    let back: serde_json::Value = serde_json::from_slice(&raw).expect("the record as sent");
    assert_eq!(
        back,
        serde_json::from_str::<serde_json::Value>(&record(250)).unwrap()
    );
    let e = by_id
        .remove("id-399")
        .expect("the oversized record dead-lettered");
    assert!(
        e["error"].as_str().unwrap().contains("limit of 2000 bytes"),
        "{e}"
    );
    assert!(e["raw_len"].as_u64().unwrap() > 2000);
}

#[test]
fn a_rejection_the_dead_letter_output_cannot_take_leaves_its_input_unacknowledged() {
    let dir = trail_dir(3, 50);
    let script = Script::new([]);
    script.reject(["id-60".to_string()]);
    let mut cfg = config(dir.path(), vec![SinkConfig::Scripted(scripted(&script))]);
    // Every write to /dev/full fails with "no space left on device".
    cfg.pipeline.dead_letter = Some("/dev/full".into());
    let report = run(&cfg);
    assert_eq!(report.exit_code(), exit::SINK_FAILED);
    let (_, error) = report.sink_failure.as_ref().expect("a sink failure");
    assert!(error.to_string().contains("dead-letter"), "{error}");
    assert!(
        acked(&report) < 3,
        "the input whose rejected record was not kept must not be acknowledged"
    );
}

#[test]
fn retry_after_holds_back_every_request_of_the_sink() {
    let dir = trail_dir(6, 100);
    let script = Script::new([Step::Retry {
        retry_after: Some(Duration::from_millis(1500)),
    }]);
    let mut sink = scripted(&script);
    sink.settings.concurrency = 3;
    let report = run(&config(dir.path(), vec![SinkConfig::Scripted(sink)]));
    assert_eq!(report.exit_code(), exit::CLEAN);
    assert_delivered(&script, &once_each(600));
    let calls = script.calls();
    let first = calls[0].0;
    // Requests sent at the same moment as the first may already be on their way; after its
    // answer, none goes out until the Retry-After has passed.
    let early: Vec<Duration> = calls
        .iter()
        .map(|(t, _)| t.duration_since(first))
        .filter(|d| *d > Duration::from_millis(100) && *d < Duration::from_millis(1500))
        .collect();
    assert!(
        early.is_empty(),
        "requests inside the Retry-After: {early:?}"
    );
    assert!(calls.len() > 3);

    // A Retry-After beyond the sink's cap is cut to the cap.
    let script = Script::new([Step::Retry {
        retry_after: Some(Duration::from_secs(3600)),
    }]);
    let mut sink = scripted(&script);
    sink.settings.retry_after_max = Duration::from_millis(300);
    let report = run(&config(dir.path(), vec![SinkConfig::Scripted(sink)]));
    assert_eq!(report.exit_code(), exit::CLEAN);
    let calls = script.calls();
    let gap = calls[1].0.duration_since(calls[0].0);
    assert!(gap >= Duration::from_millis(300), "{gap:?}");
    assert!(report.elapsed < Duration::from_secs(600));
}

#[test]
fn a_sink_failing_past_its_budget_fails_the_run_and_acknowledges_nothing() {
    // Each input fits one batch, so an ack sent with a batch instead of after it would show.
    let dir = trail_dir(5, 30);
    let script = Script::new(vec![Step::Retry { retry_after: None }; 10_000]);
    let mut sink = scripted(&script);
    sink.settings.max_retry_duration = Some(Duration::from_millis(400));
    let report = run(&config(dir.path(), vec![SinkConfig::Scripted(sink)]));
    assert_eq!(report.exit_code(), exit::SINK_FAILED);
    match &report.sink_failure {
        Some((id, SinkError::RetriesExhausted { last, .. })) => {
            assert_eq!(id, "scripted_0");
            assert!(last.contains("unavailable"), "{last}");
        }
        other => panic!("expected retries exhausted, got {other:?}"),
    }
    assert_eq!(acked(&report), 0);
    assert_eq!(script.delivered_total(), 0);
    assert_eq!(RunStats::get(&report.stats.inputs_done), 5);

    // A sink that refuses for good stops the run at once; other sinks' inputs stay
    // unacknowledged too (an input is done only when every sink has it).
    let script = Script::new([Step::Fatal]);
    let out = tempfile::tempdir().expect("tempdir");
    let file = NdjsonSinkConfig {
        path: Some(out.path().join("all.ndjson")),
        ..NdjsonSinkConfig::default()
    };
    let report = run(&config(
        dir.path(),
        vec![
            SinkConfig::Ndjson(file),
            SinkConfig::Scripted(scripted(&script)),
        ],
    ));
    assert_eq!(report.exit_code(), exit::SINK_FAILED);
    assert!(matches!(
        &report.sink_failure,
        Some((id, SinkError::Refused(_))) if id == "scripted_0"
    ));
    assert_eq!(acked(&report), 0);
}

#[test]
fn a_request_past_its_timeout_is_abandoned_and_retried() {
    let dir = trail_dir(2, 30);
    // The first request never answers; the timeout gives up on it and sends it again.
    let script = Script::new([Step::Stall]);
    let mut sink = scripted(&script);
    sink.settings.timeout = Some(Duration::from_millis(300));
    let report = run(&config(dir.path(), vec![SinkConfig::Scripted(sink)]));
    assert_eq!(report.exit_code(), exit::CLEAN);
    assert_delivered(&script, &once_each(60));
    let calls = script.calls();
    let gap = calls[1].0.duration_since(calls[0].0);
    assert!(gap >= Duration::from_millis(300), "{gap:?}");
    assert_eq!(calls[0].1, calls[1].1, "the same records are sent again");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}
