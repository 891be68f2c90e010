//! The Prometheus endpoint, scraped for real while a run is live (stdin held open), and checked
//! with `promtool check metrics` from Debian's prometheus package.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The value of one sample line (`name{labels} value`) in a scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Waits until `cond` holds for a scrape, or panics with the last one.
fn scrape_until(port: u16, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some((status, body)) = http_get(port, "/metrics") {
            if status.contains("200") {
                if cond(&body) {
                    return body;
                }
                last = body;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}; last scrape:\n{last}");
}

#[test]
fn live_scrape_counts_and_passes_promtool() {
    let port = free_port();
    // A file beside stdin: its blob completes while stdin stays open, so the per-input
    // histogram is in the scrape too.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("one.json");
    std::fs::write(
        &file,
        trail_file(&(1000..1010).map(record).collect::<Vec<_>>()),
    )
    .expect("write");
    let mut child = Command::new(bin())
        .args([
            "replay",
            "-",
            file.to_str().expect("path"),
            "-q",
            "--workers",
            "2",
            "--enrich",
        ])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--batch-bytes",
            "4096",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let mut stdin = child.stdin.take().expect("stdin");
    // 300 good records, one invalid one, one that is not CloudTrail, a digest; stdin stays open.
    let mut data = String::new();
    for i in 0..300 {
        data.push_str(&record(i));
        data.push('\n');
    }
    data.push_str("{\"eventVersion\":\"1.08\",,}\n{\"hello\":1}\n{\"digestStartTime\":\"x\",\"logFiles\":[]}\n");
    stdin.write_all(data.as_bytes()).expect("feed");
    stdin.flush().expect("flush");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });

    let (status, body) = loop_get(port, "/health");
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("ok"), "{body}");
    assert!(http_get(port, "/nope").expect("404").0.contains("404"));

    let scrape = scrape_until(port, "errors and records of a live stdin run", |s| {
        sample(s, "trailhose_errors_total{kind=\"invalid_json\"}") == Some(1.0)
            && sample(s, "trailhose_errors_total{kind=\"not_cloudtrail\"}") == Some(1.0)
            && sample(s, "trailhose_records_in_total").unwrap_or(0.0) >= 310.0
            && sample(s, "trailhose_blob_processing_seconds_count") == Some(1.0)
            && sample(s, "trailhose_channel_capacity{channel=\"blobs\"}").is_some()
            // The digest comes last in the stream: once counted, everything before it is.
            && sample(s, "trailhose_digests_skipped_total") == Some(1.0)
    });
    assert_eq!(
        sample(&scrape, "trailhose_digests_skipped_total"),
        Some(1.0)
    );
    // The fixture's users carry no ARN, so their actors are `unresolved`: counted all the same.
    let actors: f64 = scrape
        .lines()
        .filter(|l| l.starts_with("trailhose_actors_total{method="))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(actors >= 300.0, "{scrape}");
    assert_eq!(
        sample(
            &scrape,
            "trailhose_events_dropped_total{reason=\"duplicate\"}"
        ),
        Some(0.0),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "trailhose_attribution_keys").is_some(),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "trailhose_reorder_window_events").is_some(),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "trailhose_channel_capacity{channel=\"blobs\"}").is_some(),
        "{scrape}"
    );
    assert!(
        scrape.contains("trailhose_channel_depth{channel=\"sink_ndjson_0\"}"),
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            "trailhose_sink_records_rejected_total{sink=\"ndjson_0\"}"
        ),
        Some(0.0),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "trailhose_decompressed_bytes_total").unwrap_or(0.0) > 10_000.0,
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "trailhose_errors_total{kind=\"gzip_corrupt\"}"),
        Some(0.0),
        "every kind is registered"
    );
    assert_promtool_accepts(&scrape);

    drop(stdin);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1), "bad records mean exit 1");
    let out = reader.join().expect("reader");
    assert_eq!(json_lines(&out).len(), 310);
}

/// Two sinks of one type are two series: each metric carries the sink's id (its `name`).
#[test]
fn each_sink_has_its_own_series() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("two.toml");
    let archive = dir.path().join("archive.ndjson");
    std::fs::write(
        &config,
        format!(
            "[source]\ntype = \"stdin\"\n[[sink]]\ntype = \"ndjson\"\nname = \"archive\"\npath = \"{}\"\n[[sink]]\ntype = \"ndjson\"\nformat = \"ecs\"\n[pipeline]\nbatch_bytes = 4096\n[metrics]\naddr = \"127.0.0.1:{port}\"\n",
            archive.display()
        ),
    )
    .expect("write");
    let mut child = Command::new(bin())
        .args(["run", config.to_str().expect("path"), "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).expect("read");
        out
    });
    for i in 0..10 {
        writeln!(stdin, "{}", record(i)).expect("feed");
    }
    stdin.flush().expect("flush");
    let scrape = scrape_until(port, "both sinks to deliver", |s| {
        sample(s, "trailhose_records_out_total{sink=\"archive\"}") == Some(10.0)
            && sample(s, "trailhose_records_out_total{sink=\"ndjson_1\"}") == Some(10.0)
    });
    assert!(
        sample(
            &scrape,
            "trailhose_sink_requests_total{result=\"delivered\",sink=\"archive\"}"
        )
        .or_else(|| sample(
            &scrape,
            "trailhose_sink_requests_total{sink=\"archive\",result=\"delivered\"}"
        ))
        .is_some_and(|n| n >= 1.0),
        "{scrape}"
    );
    assert_promtool_accepts(&scrape);
    drop(stdin);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(json_lines(&reader.join().expect("reader")).len(), 10);
    assert_eq!(read_ndjson(&archive).len(), 10);
}

fn loop_get(port: u16, path: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(r) = http_get(port, path) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "the metrics endpoint never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `promtool check metrics` reads a scrape on stdin and lints names, units and help texts.
fn assert_promtool_accepts(scrape: &str) {
    let promtool = match Command::new("promtool").arg("--version").output() {
        Ok(_) => "promtool",
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED promtool check: promtool is not installed (apt-get install prometheus); CI requires it");
            return;
        }
        Err(e) => panic!("promtool is required in CI (apt-get install prometheus): {e}"),
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics complains:\n{said}\n---\n{scrape}"
    );
}
