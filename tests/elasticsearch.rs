//! The Elasticsearch / OpenSearch sink against a real `_bulk` server on loopback: osmem-server,
//! an in-memory OpenSearch-compatible server from PyPI (`.ci/run` installs it and sets
//! `TRAILHOSE_OSMEM_SERVER`), which answers per item (201, 409 on a repeated `create`, 400
//! `mapper_parsing_exception`) and takes gzip bodies. What osmem does not emulate (413, 429
//! with Retry-After, 500, slow answers, dropped connections, item-level 429s, 401) comes from
//! the in-repo intake server in `tests/common/intake.rs`.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::intake::{Intake, Received, Reply};
use common::*;

/// An osmem server on a free loopback port, killed when dropped.
struct Osmem {
    child: Child,
    port: u16,
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Osmem {
    /// `None` (the test skips) when osmem is not installed, except under CI.
    fn start() -> Option<Osmem> {
        let exe = std::env::var_os("TRAILHOSE_OSMEM_SERVER").map(PathBuf::from);
        let Some(exe) = exe.filter(|e| e.is_file()) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install osmem-server (see .ci/run) and set TRAILHOSE_OSMEM_SERVER"
            );
            eprintln!("skipped: no osmem-server; pip install osmem-server and set TRAILHOSE_OSMEM_SERVER to osmem_server.resolve_binary()");
            return None;
        };
        let port = free_port();
        let child = Command::new(exe)
            .args(["-addr", &format!("127.0.0.1:{port}"), "-no-stdin-watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start osmem-server");
        let server = Osmem { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while request("GET", &server.url(), "/", "").is_none() {
            assert!(Instant::now() < deadline, "osmem-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = request("GET", &self.url(), path, "").expect("osmem answers");
        assert!(status < 300, "GET {path}: {status} {body}");
        serde_json::from_str(&body).expect("json")
    }

    fn count(&self, index: &str) -> u64 {
        self.get(&format!("/{index}/_count"))["count"]
            .as_u64()
            .expect("count")
    }
}

/// One plain HTTP/1.1 request (`Connection: close`); `None` when nothing answers.
fn request(method: &str, base: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // The servers here answer with Content-Length; osmem may chunk: take the JSON inside.
    let body = match (body.find(['{', '[']), body.rfind(['}', ']'])) {
        (Some(a), Some(b)) if a <= b => body[a..=b].to_string(),
        _ => body.to_string(),
    };
    Some((status, body))
}

/// Runs `trailhose run` on a config written into `dir`.
fn run_config(dir: &Path, config: &str) -> Output {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, config).expect("write config");
    Command::new(bin())
        .args(["run", "-q"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("run trailhose")
}

/// A pipeline config reading `input` into one elasticsearch sink (`sink` is its TOML body).
fn config(input: &Path, dead_letter: &Path, sink: &str) -> String {
    format!(
        "[source]\ntype = \"dir\"\npaths = [{input:?}]\n\n[pipeline]\ndead_letter = {dead_letter:?}\n\n[[sink]]\ntype = \"elasticsearch\"\n{sink}\n"
    )
}

/// The eventIDs of the records in `dir`, as trailhose replays them.
fn event_ids(dir: &Path) -> Vec<String> {
    let out = trailhose(&["replay", dir.to_str().expect("utf-8"), "-q"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    json_lines(&out.stdout)
        .iter()
        .map(|r| r["eventID"].as_str().expect("eventID").to_string())
        .collect()
}

#[test]
fn an_archive_lands_once_even_when_replayed_again() {
    let Some(os) = Osmem::start() else { return };
    let archive = gen_archive("3000");
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let mut ids = event_ids(archive.path());
    ids.sort();
    ids.dedup();
    let cfg = config(
        archive.path(),
        &dl,
        &format!(
            "endpoints = [\"{}\"]\nindex = \"cloudtrail-%Y.%m.%d\"\nbatch = {{ max_events = 500 }}\n",
            os.url()
        ),
    );
    for run in 0..2 {
        let out = run_config(work.path(), &cfg);
        assert!(out.status.success(), "run {run}: {}", stderr(&out));
        assert!(dead_letters(&dl).is_empty(), "run {run}: nothing rejected");
        assert_eq!(
            os.count("cloudtrail-*"),
            ids.len() as u64,
            "run {run}: every event once (a replay's creates answer 409: already there)"
        );
    }
    // The document is the ECS form, under its eventID, in the index of its day.
    let id = &ids[ids.len() / 2];
    let (status, body) = request(
        "POST",
        &os.url(),
        "/cloudtrail-*/_search",
        &format!("{{\"query\":{{\"ids\":{{\"values\":[\"{id}\"]}}}}}}"),
    )
    .expect("osmem answers");
    assert_eq!(status, 200, "{body}");
    let hits: serde_json::Value = serde_json::from_str(&body).expect("json");
    let hit = &hits["hits"]["hits"][0];
    assert_eq!(hit["_id"], id.as_str(), "{hits}");
    let doc = &hit["_source"];
    assert_eq!(doc["event"]["id"], id.as_str());
    let day = doc["@timestamp"].as_str().expect("@timestamp")[..10].replace('-', ".");
    assert_eq!(hit["_index"], format!("cloudtrail-{day}").as_str());
}

#[test]
fn mapping_conflicts_are_dead_lettered_with_the_reason_and_the_rest_indexed() {
    let Some(os) = Osmem::start() else { return };
    // `aws.cloudtrail.error_code` as a number: every failed call's document is refused.
    let (status, body) = request(
        "PUT",
        &os.url(),
        "/_index_template/conflict",
        r#"{"index_patterns":["ct-*"],"template":{"mappings":{"properties":{"aws":{"properties":{"cloudtrail":{"properties":{"error_code":{"type":"long"}}}}}}}}}"#,
    )
    .expect("osmem answers");
    assert!(status < 300, "{status} {body}");
    let input = tempfile::tempdir().expect("tempdir");
    let records: Vec<serde_json::Value> =
        read_ndjson(&cloudtrail_samples().join("real-events.ndjson"));
    let records = &records[..300];
    let lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    std::fs::write(input.path().join("events.json"), trail_file(&lines)).expect("write");
    let failed: HashSet<&str> = records
        .iter()
        .filter(|r| r.get("errorCode").is_some())
        .map(|r| r["eventID"].as_str().expect("eventID"))
        .collect();
    assert!(!failed.is_empty() && failed.len() < records.len());
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let cfg = config(
        input.path(),
        &dl,
        &format!("endpoints = [\"{}\"]\nindex = \"ct-%Y\"\n", os.url()),
    );
    let out = run_config(work.path(), &cfg);
    let unique: HashSet<&str> = records
        .iter()
        .map(|r| r["eventID"].as_str().expect("eventID"))
        .collect();
    let dead = dead_letters(&dl);
    assert_eq!(dead.len(), failed.len(), "{}", stderr(&out));
    for d in &dead {
        let reason = d.to_string();
        assert!(reason.contains("mapper_parsing_exception"), "{reason}");
    }
    assert_eq!(
        os.count("ct-*") as usize,
        unique.len() - failed.len(),
        "every other record is indexed"
    );
    assert_ne!(out.status.code(), Some(3), "rejections do not fail the run");
}

#[test]
fn a_node_that_does_not_answer_is_passed_over() {
    let Some(os) = Osmem::start() else { return };
    let input = tempfile::tempdir().expect("tempdir");
    let lines: Vec<String> = (0..200).map(record).collect();
    std::fs::write(input.path().join("a.json"), trail_file(&lines)).expect("write");
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let dead_node = format!("http://127.0.0.1:{}", free_port());
    let cfg = config(
        input.path(),
        &dl,
        &format!(
            "endpoints = [\"{dead_node}\", \"{}\"]\nindex = \"failover\"\nbatch = {{ max_events = 10 }}\nformat = \"raw\"\n",
            os.url()
        ),
    );
    let out = run_config(work.path(), &cfg);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(os.count("failover"), 200);
}

/// A `_bulk` server with the faults real clusters answer with: the first requests get 429 with
/// Retry-After, a 500 and a dropped connection; bodies over `cap` bytes get 413; each document's
/// first try gets an item-level 429 when its position is a multiple of 7; one document is a
/// mapping error; a `create` of an `_id` already stored answers 409.
struct BulkFaults {
    stored: Mutex<HashMap<String, String>>,
    seen: Mutex<HashSet<String>>,
    requests: AtomicUsize,
    cap: usize,
    bad_id: String,
}

impl BulkFaults {
    fn answer(&self, r: &Received) -> Reply {
        if r.method == "GET" {
            // The health check at start: the banner.
            return Reply::json(200, r#"{"version":{"number":"8.15.0"}}"#);
        }
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        match n {
            0 => {
                return Reply::Answer(
                    429,
                    vec![("Retry-After".into(), "1".into())],
                    "{\"error\":\"busy\"}".into(),
                )
            }
            1 => return Reply::json(500, "{\"error\":\"oops\"}"),
            2 => return Reply::Drop,
            3 => return Reply::Slow(Duration::from_secs(4), Box::new(Reply::json(503, "{}"))),
            _ => {}
        }
        if r.body.len() > self.cap {
            return Reply::json(413, "{\"error\":\"too large\"}");
        }
        let text = r.text();
        assert!(text.ends_with('\n'), "a bulk body ends with a newline");
        let lines: Vec<&str> = text.lines().collect();
        let mut items = Vec::new();
        for (k, pair) in lines.chunks(2).enumerate() {
            let action: serde_json::Value = serde_json::from_str(pair[0]).expect("action line");
            let id = action["create"]["_id"].as_str().expect("_id").to_string();
            let doc: serde_json::Value = serde_json::from_str(pair[1]).expect("document");
            assert_eq!(doc["eventID"], id.as_str(), "the _id is the eventID");
            let first_try = self.seen.lock().expect("lock").insert(id.clone());
            let item = if id == self.bad_id {
                r#"{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [x]"}}}"#.to_string()
            } else if first_try && k % 7 == 0 {
                r#"{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}}"#.to_string()
            } else {
                match self.stored.lock().expect("lock").entry(id) {
                    std::collections::hash_map::Entry::Occupied(_) => r#"{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}"#.to_string(),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(pair[1].to_string());
                        r#"{"create":{"status":201}}"#.to_string()
                    }
                }
            };
            items.push(item);
        }
        Reply::json(
            200,
            &format!(
                "{{\"took\":1,\"errors\":true,\"items\":[{}]}}",
                items.join(",")
            ),
        )
    }
}

#[test]
fn bulk_faults_lose_nothing_and_reject_only_the_bad_document() {
    let input = tempfile::tempdir().expect("tempdir");
    let lines: Vec<String> = (0..400).map(record).collect();
    std::fs::write(input.path().join("a.json"), trail_file(&lines)).expect("write");
    let ids: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["eventID"].as_str().expect("eventID").to_string()
        })
        .collect();
    let faults = Arc::new(BulkFaults {
        stored: Mutex::new(HashMap::new()),
        seen: Mutex::new(HashSet::new()),
        requests: AtomicUsize::new(0),
        cap: 40_000,
        bad_id: ids[123].clone(),
    });
    let server = {
        let f = faults.clone();
        Intake::start(move |r| f.answer(r))
    };
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    std::env::set_var("TRAILHOSE_TEST_ES_PW", "s3cret-pw");
    let cfg = config(
        input.path(),
        &dl,
        &format!(
            "endpoints = [\"{}\"]\nindex = \"ct\"\nformat = \"raw\"\ntimeout_secs = 2\nauth = {{ user = \"elastic\", password = \"${{TRAILHOSE_TEST_ES_PW}}\" }}\n[sink.request]\nretry_initial_backoff_ms = 50\nretry_max_backoff_secs = 1\n",
            server.url()
        ),
    );
    let started = Instant::now();
    let out = Command::new(bin())
        .args(["run", "-q"])
        .arg({
            let p = work.path().join("p.toml");
            std::fs::write(&p, &cfg).expect("write");
            p
        })
        .env("TRAILHOSE_TEST_ES_PW", "s3cret-pw")
        .output()
        .expect("run");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was waited"
    );
    assert!(!err.contains("s3cret-pw"), "{err}");

    let stored = faults.stored.lock().expect("lock");
    let dead = dead_letters(&dl);
    assert_eq!(dead.len(), 1, "only the bad document: {dead:?}");
    assert!(dead[0].to_string().contains("mapper_parsing_exception"));
    assert!(dead[0].to_string().contains(&ids[123]));
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(stored.contains_key(id), i != 123, "document {i}");
    }
    assert_eq!(stored.len(), ids.len() - 1);

    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r.body.len() > 40_000),
        "a body over the cap was sent and answered 413"
    );
    assert_eq!(requests[0].method, "GET", "the health check comes first");
    for r in &requests[1..] {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/_bulk");
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        assert_eq!(
            r.header("authorization"),
            Some("Basic ZWxhc3RpYzpzM2NyZXQtcHc="),
            "elastic:s3cret-pw"
        );
        assert!(r.wire.len() < r.body.len(), "the body went compressed");
    }
    let connections: HashSet<usize> = requests.iter().map(|r| r.connection).collect();
    assert!(
        connections.len() < requests.len() / 2,
        "connections are reused: {} for {} requests",
        connections.len(),
        requests.len()
    );
}

#[test]
fn refused_credentials_fail_the_run_after_the_budget_without_printing_the_key() {
    let server = Intake::start(|_| Reply::json(401, "{\"error\":\"unable to authenticate\"}"));
    let input = tempfile::tempdir().expect("tempdir");
    std::fs::write(input.path().join("a.json"), trail_file(&[record(1)])).expect("write");
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let cfg = config(
        input.path(),
        &dl,
        &format!(
            "endpoints = [\"{}\"]\ncredentials_retry_secs = 1\nauth = {{ api_key = \"${{TRAILHOSE_TEST_ES_KEY}}\" }}\n[sink.request]\nretry_initial_backoff_ms = 50\nretry_max_backoff_secs = 1\n",
            server.url()
        ),
    );
    let p = work.path().join("p.toml");
    std::fs::write(&p, &cfg).expect("write");
    let out = Command::new(bin())
        .args(["run", "-q"])
        .arg(&p)
        .env("TRAILHOSE_TEST_ES_KEY", "top-secret-key")
        .output()
        .expect("run");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("401") && err.contains("credentials"), "{err}");
    assert!(!err.contains("top-secret-key"), "{err}");
    assert!(
        dead_letters(&dl).is_empty(),
        "nothing dead-lettered: the records are not bad"
    );
    let requests = server.requests();
    assert!(requests.len() >= 2, "retried within the budget");
    assert_eq!(
        requests[0].header("authorization"),
        Some("ApiKey top-secret-key")
    );
}

#[test]
fn setup_installs_the_index_template_and_documents_follow_it() {
    let Some(os) = Osmem::start() else { return };
    let out = trailhose(&["setup", "elasticsearch", "--endpoint", &os.url()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let template = os.get("/_index_template/trailhose-cloudtrail");
    assert!(template.to_string().contains("cloudtrail-*"), "{template}");
    // Documents written now are mapped by it: IPs as ip, times as date, blobs as keyword.
    let input = tempfile::tempdir().expect("tempdir");
    let records: Vec<serde_json::Value> =
        read_ndjson(&cloudtrail_samples().join("real-events.ndjson"));
    let lines: Vec<String> = records[..200].iter().map(|r| r.to_string()).collect();
    std::fs::write(input.path().join("events.json"), trail_file(&lines)).expect("write");
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let out = run_config(
        work.path(),
        &config(
            input.path(),
            &dl,
            &format!("endpoints = [\"{}\"]\n", os.url()),
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dead_letters(&dl).is_empty(), "{:?}", dead_letters(&dl));
    let mapping = os.get("/cloudtrail-*/_mapping").to_string();
    for expected in [
        r#""@timestamp":{"type":"date"}"#,
        r#""request_parameters":{"ignore_above""#,
    ] {
        assert!(mapping.contains(expected), "{expected} in {mapping}");
    }
    assert!(mapping.contains(r#""ip":{"type":"ip"}"#), "{mapping}");
}
