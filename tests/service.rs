//! Service mode: a signal drains (sources stop, in-flight work reaches the sinks, the state is
//! committed, exit 0); a drain past `shutdown_timeout_secs` stops with 143 and a second signal
//! exits at once; `/ready` names a sink that keeps failing, `/health` stays ok while the run
//! waits it out with memory bounded and nothing acknowledged, and delivery resumes by itself.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::crash::*;
use common::intake::{Intake, Reply};
use common::*;

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for the child to exit, at most `limit`; returns its code and how long it took.
fn wait_exit(child: &mut Child, limit: Duration) -> (Option<i32>, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (status.code(), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A peak or current size from /proc/PID/status (`VmHWM`, `VmRSS`), in bytes.
fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

#[test]
fn sigterm_drains_what_is_in_flight_commits_and_exits_0() {
    let archive = gen_archive("100000");
    let logs = archive.path().join("AWSLogs");
    let work = tempfile::tempdir().expect("tempdir");
    let all = reference_ids(&logs, work.path());
    let (state, output) = (work.path().join("st"), work.path().join("out.ndjson"));
    let command = || {
        let mut c = state_replay(&logs, &state, &output);
        c.stderr(Stdio::piped());
        c
    };
    let mut child = command().spawn().expect("start");
    let started = Instant::now();
    while std::fs::metadata(&output).map_or(0, |m| m.len()) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing written"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    signal(&child, "-TERM");
    let (code, took) = wait_exit(&mut child, Duration::from_secs(30));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(code, Some(0), "a drain that finishes is a clean end: {err}");
    assert!(
        err.contains("SIGTERM: draining") && err.contains("SIGTERM: drained"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "drained in {took:?}");
    let first = id_counts(&output);
    assert!(
        !first.is_empty() && first.len() < all.len(),
        "stopped mid-replay: {} of {}",
        first.len(),
        all.len()
    );
    // Everything written was committed: the rerun resumes without cutting anything, and the
    // two runs together hold every event once.
    let rerun = command().output().expect("rerun");
    let err = stderr(&rerun);
    assert_eq!(rerun.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("resuming"),
        "a drained run left uncommitted bytes: {err}"
    );
    assert_exactly_once(&id_counts(&output), &all, 0);
}

/// Writes a pipeline reading `input` into an HTTP sink at `url`, with `extra` TOML appended
/// to the top level (before the sink).
fn http_pipeline(dir: &Path, input: &Path, url: &str, extra: &str) -> std::path::PathBuf {
    let config = format!(
        "[source]\ntype = \"dir\"\npaths = [{input:?}]\n\n{extra}\n\n[[sink]]\ntype = \"http\"\nendpoint = \"{url}/ingest\"\ncompression = \"none\"\n[sink.request]\nretry_initial_backoff_ms = 20\nretry_max_backoff_secs = 1\n"
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, config).expect("write");
    path
}

/// A small archive: one trail file of `n` records.
fn small_input(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let records: Vec<String> = (0..n).map(record).collect();
    std::fs::write(dir.path().join("trail.json"), trail_file(&records)).expect("write");
    dir
}

#[test]
fn a_drain_past_shutdown_timeout_stops_with_143_and_a_second_signal_exits_at_once() {
    let input = small_input(50);
    let intake = Intake::start(|_| Reply::json(503, "{}"));
    let work = tempfile::tempdir().expect("tempdir");
    let config = http_pipeline(
        work.path(),
        input.path(),
        &intake.url(),
        "[pipeline]\nshutdown_timeout_secs = 2",
    );
    let start = || {
        // Requests from this child only: signals before its handlers are set would kill it.
        intake.received.lock().expect("lock").clear();
        let child = Command::new(bin())
            .args(["run", "-q"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start");
        let started = Instant::now();
        while intake.requests().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(20), "no request");
            std::thread::sleep(Duration::from_millis(5));
        }
        child
    };
    // One signal: the sink keeps retrying through the drain, which is cut at 2 s.
    let mut child = start();
    signal(&child, "-TERM");
    let (code, took) = wait_exit(&mut child, Duration::from_secs(20));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(code, Some(143), "{err}");
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(8),
        "stopped after {took:?}"
    );
    assert!(err.contains("shutdown_timeout_secs"), "{err}");
    // Two signals: the second exits at once.
    let mut child = start();
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "-INT");
    let (code, took) = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_millis(1000), "exited after {took:?}");
}

#[test]
fn ready_names_a_failing_sink_and_delivery_resumes_by_itself() {
    // About 160 MB decompressed: far more than the pipeline's bounds hold.
    let archive = gen_archive("100000");
    let up = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicUsize::new(0));
    let intake = {
        let (up, delivered) = (up.clone(), delivered.clone());
        Intake::start(move |r| {
            if up.load(Ordering::Relaxed) {
                let records = r
                    .body
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count();
                delivered.fetch_add(records, Ordering::Relaxed);
                Reply::json(200, "{}")
            } else {
                Reply::json(503, "{\"error\":\"maintenance\"}")
            }
        })
    };
    // The intake keeps every request it saw; this test only counts them.
    let received = intake.received.clone();
    let done = Arc::new(AtomicBool::new(false));
    let forgetter = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                received.lock().expect("lock").clear();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let state = work.path().join("state");
    let config = http_pipeline(
        work.path(),
        &archive.path().join("AWSLogs"),
        &intake.url(),
        &format!(
            "[metrics]\naddr = \"127.0.0.1:{port}\"\nready_sink_failing_secs = 1\n\n[state]\ndir = {state:?}\ncommit_interval_ms = 100"
        ),
    );
    let mut child = Command::new(bin())
        .args(["run", "-q"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let pid = child.id();
    // Not ready once the sink has failed for a second; the body says which sink and why.
    let started = Instant::now();
    let body = loop {
        if let Some((status, body)) = http_get(port, "/ready") {
            if status.contains("503") && body.contains("\"failing\"") {
                break body;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never not ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let ready: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(ready["status"], "not_ready");
    let sink = &ready["components"]["sink:http_0"];
    assert_eq!(sink["status"], "failing", "{ready}");
    assert!(
        sink["reason"].as_str().is_some_and(|r| r.contains("503")),
        "{ready}"
    );
    assert_eq!(ready["components"]["source"]["status"], "ok");
    // Waiting out an outage is alive, not wedged.
    let (status, body) = http_get(port, "/health").expect("health");
    assert!(status.contains("200"), "{status} {body}");
    // A few seconds of outage: backpressure holds the source, memory stays bounded, nothing
    // is acknowledged (the checkpoint has passed no input).
    std::thread::sleep(Duration::from_secs(3));
    let peak = proc_kb(pid, "VmHWM:");
    assert!(
        peak < 200 << 20,
        "peak RSS {} MiB during the outage",
        peak >> 20
    );
    let committed = committed_source(&state);
    assert!(
        committed
            .as_ref()
            .is_none_or(|c| c["prefixes"].as_object().is_none_or(|p| p
                .values()
                .all(|p| p.get("through").is_none() && p.get("done").is_none()))),
        "acknowledged during the outage: {committed:?}"
    );
    // The sink comes back: ready again, and the run delivers everything and ends.
    up.store(true, Ordering::Relaxed);
    let started = Instant::now();
    loop {
        if let Some((status, _)) = http_get(port, "/ready") {
            if status.contains("200") {
                break;
            }
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, _) = wait_exit(&mut child, Duration::from_secs(120));
    done.store(true, Ordering::Relaxed);
    forgetter.join().expect("forgetter");
    assert_eq!(code, Some(0));
    assert_eq!(delivered.load(Ordering::Relaxed), 100_000);
}
