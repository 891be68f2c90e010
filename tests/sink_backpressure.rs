//! A stalled sink holds the whole pipeline back: nothing is acknowledged while nothing is
//! delivered, the source stops reading, and memory stays bounded by the configured batches,
//! not by the input. Its own test binary, so the process's memory is this run's alone.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use trailhose::config::SinkConfig;
use trailhose::pipeline::RunOptions;
use trailhose::sink::scripted::{Script, ScriptedSinkConfig, Step};
use trailhose::stats::RunStats;
use trailhose::topology::Topology;

use common::*;

const MIB: u64 = 1 << 20;
const FILES: usize = 60;
const PER_FILE: usize = 10_000;

/// Resident memory of this process now (Linux `VmRSS`).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse().ok())
        .expect("kB");
    kb * 1024
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stalled_sink_backpressures_to_the_source_with_memory_bounded() {
    // About 200 MB of records in 60 plain files.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut total = 0u64;
    for f in 0..FILES {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(dir.path().join(format!("t{f:03}.json"))).expect("create"),
        );
        out.write_all(b"{\"Records\":[").expect("write");
        // The first two inputs are small: one batch each, so the batch the sink stalls on is
        // a whole input, which must not be acknowledged before it is delivered.
        let records = if f < 2 { 20 } else { PER_FILE };
        for i in 0..records {
            if i > 0 {
                out.write_all(b",").expect("write");
            }
            out.write_all(record(f * PER_FILE + i).as_bytes())
                .expect("write");
        }
        out.write_all(b"]}").expect("write");
        total += out.get_ref().metadata().expect("size").len();
    }
    assert!(total > 180 * MIB, "{total}");

    let script = Script::new([Step::Stall]);
    let mut config = dir_pipeline(
        dir.path(),
        vec![SinkConfig::Scripted(ScriptedSinkConfig::new(
            script.clone(),
        ))],
    );
    config.pipeline.channel_batches = 4;
    config.validate().expect("valid");
    let before = rss();
    let running = Topology::build(&config, &RunOptions { quiet: true })
        .expect("build")
        .start()
        .expect("start");
    let stats = running.stats();
    wait_for("the sink to stall", Duration::from_secs(60), || {
        script.is_stalled()
    });
    // Let the workers fill the channel and block.
    std::thread::sleep(Duration::from_secs(2));
    let read = RunStats::get(&stats.decompressed_bytes);
    std::thread::sleep(Duration::from_secs(1));
    let read_later = RunStats::get(&stats.decompressed_bytes);
    let grown = rss().saturating_sub(before);
    eprintln!(
        "stalled: read {} MiB of {} MiB, memory grew by {} MiB",
        read / MIB,
        total / MIB,
        grown / MIB
    );
    assert_eq!(
        read, read_later,
        "the source goes on reading while the sink is stalled"
    );
    // Two workers each holding a batch and a file's records, four batches queued, one in the
    // sink: a few tens of MiB whatever the input's size.
    assert!(
        read < total / 4,
        "read {read} of {total} bytes with nothing delivered"
    );
    assert!(grown < 96 * MIB, "memory grew by {} MiB", grown / MIB);
    assert_eq!(
        RunStats::get(&stats.inputs_acked),
        0,
        "an input was acknowledged before any of its records was delivered"
    );
    assert_eq!(script.delivered_total(), 0);

    script.release();
    let report = running.finish();
    assert_eq!(report.exit_code(), 0);
    let all = (FILES - 2) * PER_FILE + 40;
    assert_eq!(script.delivered_total(), all as u64);
    assert_eq!(script.delivered().len(), all);
    assert_eq!(RunStats::get(&report.stats.inputs_acked), FILES as u64);
}
