//! The Datadog, Loggly, Splunk HEC and generic HTTP sinks against the in-repo intake server
//! (`tests/common/intake.rs`) on loopback, which implements each documented contract (paths,
//! headers, bodies, caps, success answers) and injects its failure modes: 413 over the cap, 429
//! with Retry-After, 500, a slow answer, a dropped connection, a 400 for one bad record, a HEC
//! acknowledgement that stays false. Each test checks what arrived: every record accepted
//! exactly once, the bad ones dead-lettered with the reason, nothing acknowledged early, and
//! no secret in the output.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::intake::{Intake, Received, Reply};
use common::*;

/// A record of account `111122223333` or `444455556666`, `pad` bytes of padding in it.
fn event(i: usize, pad: usize) -> String {
    let account = if i.is_multiple_of(2) {
        "111122223333"
    } else {
        "444455556666"
    };
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"alice"}},"eventTime":"2026-01-05T10:{:02}:{:02}.125Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.1","requestParameters":{{"bucketName":"b","key":"{}"}},"eventID":"ev-{i}","recipientAccountId":"{account}"}}"#,
        (i / 60) % 60,
        i % 60,
        "k".repeat(pad)
    )
}

/// A folder with one trail file of `n` events (`pads` gives some events padding).
fn archive(n: usize, pads: &HashMap<usize, usize>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: Vec<String> = (0..n)
        .map(|i| event(i, pads.get(&i).copied().unwrap_or(0)))
        .collect();
    std::fs::write(dir.path().join("trail.json"), trail_file(&lines)).expect("write");
    dir
}

/// Runs `trailhose run` with one sink (`sink`: its TOML body) reading `input`.
fn run(input: &Path, dead_letter: &Path, sink: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[source]\ntype = \"dir\"\npaths = [{input:?}]\n\n[pipeline]\ndead_letter = {dead_letter:?}\n\n[[sink]]\n{sink}\n"
    );
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, config).expect("write");
    Command::new(bin())
        .args(["run", "-q"])
        .arg(&path)
        .envs(env.iter().copied())
        .output()
        .expect("run trailhose")
}

/// The request counter and the faults every intake here answers its first requests with:
/// 429 with Retry-After: 1, a 500, a dropped connection, a slow 503 past the client's timeout.
struct Faults {
    n: AtomicUsize,
}

impl Faults {
    fn new() -> Faults {
        Faults {
            n: AtomicUsize::new(0),
        }
    }

    fn first_ones(&self) -> Option<Reply> {
        match self.n.fetch_add(1, Ordering::SeqCst) {
            0 => Some(Reply::Answer(
                429,
                vec![("Retry-After".into(), "1".into())],
                "{\"errors\":[\"rate limited\"]}".into(),
            )),
            1 => Some(Reply::json(500, "{}")),
            2 => Some(Reply::Drop),
            3 => Some(Reply::Slow(
                Duration::from_secs(3),
                Box::new(Reply::json(503, "{}")),
            )),
            _ => None,
        }
    }
}

fn event_id(v: &serde_json::Value) -> String {
    v["eventID"].as_str().expect("eventID").to_string()
}

/// Stores each accepted eventID, counting repeats.
#[derive(Default)]
struct Stored(Mutex<HashMap<String, usize>>);

impl Stored {
    fn add(&self, id: String) {
        *self.0.lock().expect("lock").entry(id).or_default() += 1;
    }

    fn once_each(&self, expected: impl Iterator<Item = String>) {
        let got = self.0.lock().expect("lock");
        let expected: HashSet<String> = expected.collect();
        let ids: HashSet<String> = got.keys().cloned().collect();
        let missing: Vec<_> = expected.difference(&ids).collect();
        let extra: Vec<_> = ids.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "missing {missing:?}, extra {extra:?}"
        );
        let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "accepted more than once: {twice:?}");
    }
}

const RETRY_FAST: &str =
    "timeout_secs = 2\n[sink.request]\nretry_initial_backoff_ms = 50\nretry_max_backoff_secs = 1\n";

#[test]
fn datadog_contract_caps_faults_and_rejections() {
    // The intake: 202 for a good array, 400 for a body holding ev-77, 413 over 60,000 bytes.
    let stored = Arc::new(Stored::default());
    let faults = Arc::new(Faults::new());
    let server = {
        let (stored, faults) = (stored.clone(), faults.clone());
        Intake::start(move |r: &Received| {
            assert_eq!(r.path, "/api/v2/logs");
            if r.method == "GET" {
                // The key check at start.
                return Reply::json(200, "{}");
            }
            if let Some(reply) = faults.first_ones() {
                return reply;
            }
            if r.body.len() > 60_000 {
                return Reply::json(413, "{\"errors\":[\"Payload too large\"]}");
            }
            let entries: Vec<serde_json::Value> =
                serde_json::from_slice(&r.body).expect("a JSON array");
            assert!(entries.len() <= 1000);
            if entries.iter().any(|e| e["eventID"] == "ev-77") {
                return Reply::json(400, "{\"errors\":[\"Bad Request\"]}");
            }
            for e in entries {
                stored.add(event_id(&e));
            }
            Reply::json(202, "{}")
        })
    };
    // ev-5 is over Datadog's 1 MB per entry.
    let pads = HashMap::from([(5, 1_100_000), (9, 20_000)]);
    let input = archive(600, &pads);
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let sink = format!(
        "type = \"datadog\"\nendpoint = \"{}\"\napi_key = \"${{DD_API_KEY}}\"\nservice = \"ct\"\nhostname = \"collector-1\"\nddtags = \"env:test,aws_account:{{recipientAccountId}},region:{{awsRegion}}\"\nbatch = {{ max_bytes = 100000 }}\n{RETRY_FAST}",
        server.url()
    );
    let out = run(
        input.path(),
        &dl,
        &sink,
        &[("DD_API_KEY", "dd-secret-key-1")],
    );
    let err = stderr(&out);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{err}"
    );
    assert!(!err.contains("dd-secret-key-1"), "{err}");

    stored.once_each(
        (0..600)
            .filter(|i| *i != 5 && *i != 77)
            .map(|i| format!("ev-{i}")),
    );
    let dead = dead_letters(&dl);
    let dead_ids: HashSet<&str> = dead.iter().filter_map(|d| d["event_id"].as_str()).collect();
    assert_eq!(dead_ids, HashSet::from(["ev-5", "ev-77"]), "{dead:?}");
    let reason_77 = dead
        .iter()
        .find(|d| d["event_id"] == "ev-77")
        .expect("ev-77");
    assert!(
        reason_77["error"].as_str().unwrap_or("").contains("400"),
        "{reason_77}"
    );

    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r.body.len() > 60_000),
        "a 413 was met"
    );
    assert_eq!(requests[0].method, "GET");
    for r in &requests {
        assert_eq!(r.header("dd-api-key"), Some("dd-secret-key-1"));
        if r.method == "GET" {
            continue;
        }
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(
            r.body.len() <= 100_000 + 2,
            "the configured cap holds: {}",
            r.body.len()
        );
    }
    // The reserved attributes, with per-event tags.
    let last = requests.last().expect("a request");
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&last.body).expect("array");
    let e = &entries[0];
    assert_eq!(e["ddsource"], "cloudtrail");
    assert_eq!(e["service"], "ct");
    assert_eq!(e["hostname"], "collector-1");
    let i: usize = event_id(e)[3..].parse().expect("number");
    let account = if i.is_multiple_of(2) {
        "111122223333"
    } else {
        "444455556666"
    };
    assert_eq!(
        e["ddtags"],
        format!("env:test,aws_account:{account},region:eu-west-1").as_str()
    );
    assert_eq!(
        e["eventSource"], "s3.amazonaws.com",
        "the record's own fields follow"
    );
}

#[test]
fn datadog_refused_key_fails_the_run_after_the_budget() {
    let server = Intake::start(|_| Reply::json(403, "{\"errors\":[\"Forbidden\"]}"));
    let input = archive(10, &HashMap::new());
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let sink = format!(
        "type = \"datadog\"\nendpoint = \"{}\"\napi_key = \"${{DD_API_KEY}}\"\ncredentials_retry_secs = 1\n{RETRY_FAST}",
        server.url()
    );
    let started = Instant::now();
    let out = run(input.path(), &dl, &sink, &[("DD_API_KEY", "dd-wrong-key")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried for the budget"
    );
    assert!(err.contains("403") && err.contains("credentials"), "{err}");
    assert!(!err.contains("dd-wrong-key"), "{err}");
    assert!(
        dead_letters(&dl).is_empty(),
        "good records are not dead-lettered for a bad key"
    );
}

#[test]
fn loggly_bulk_lines_tags_and_the_ok_answer() {
    let stored = Arc::new(Stored::default());
    let faults = Arc::new(Faults::new());
    let not_ok_once = Arc::new(AtomicUsize::new(0));
    let server = {
        let (stored, faults, not_ok_once) = (stored.clone(), faults.clone(), not_ok_once.clone());
        Intake::start(move |r: &Received| {
            if let Some(reply) = faults.first_ones() {
                return reply;
            }
            assert_eq!(r.path, "/bulk/tok-123/tag/cloudtrail,prod.eu/");
            assert!(r.body.len() <= 5 * 1024 * 1024);
            // A 200 that is not Loggly's "ok" (a proxy's page): not delivered.
            if not_ok_once.fetch_add(1, Ordering::SeqCst) == 0 {
                return Reply::Answer(200, vec![], "<html>maintenance</html>".into());
            }
            for line in r.text().lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                stored.add(event_id(&v));
            }
            Reply::json(200, "{\"response\" : \"ok\"}")
        })
    };
    let input = archive(300, &HashMap::from([(8, 1_200_000)]));
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let sink = format!(
        "type = \"loggly\"\nendpoint = \"{}\"\ntoken = \"${{LOGGLY_TOKEN}}\"\ntags = [\"cloudtrail\", \"prod.eu\"]\nbatch = {{ max_events = 50 }}\n{RETRY_FAST}",
        server.url()
    );
    let out = run(input.path(), &dl, &sink, &[("LOGGLY_TOKEN", "tok-123")]);
    let err = stderr(&out);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{err}"
    );
    assert!(
        !err.contains("tok-123"),
        "the token is in the URL and never printed: {err}"
    );
    stored.once_each((0..300).filter(|i| *i != 8).map(|i| format!("ev-{i}")));
    let dead = dead_letters(&dl);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["event_id"], "ev-8", "the record over 1 MB");
    for r in server.requests() {
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        assert!(r.text().lines().count() <= 50);
    }
}

#[test]
fn loggly_tags_are_checked_at_start() {
    let input = archive(1, &HashMap::new());
    let work = tempfile::tempdir().expect("tempdir");
    let out = run(
        input.path(),
        &work.path().join("dl"),
        "type = \"loggly\"\ntoken = \"t\"\ntags = [\"cloud trail\"]\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("sink[0].tags[0]") && err.contains("'-'"),
        "{err}"
    );
}

/// A HEC collector with indexer acknowledgement: each 200 carries an ackId; an ack turns true
/// on its third poll, except the first batch's, which stays false forever (its events are
/// then sent again, and only that second copy is acknowledged).
struct Hec {
    next_ack: AtomicUsize,
    /// ackId -> (events in it, polls so far).
    pending: Mutex<HashMap<usize, (Vec<String>, usize)>>,
    indexed: Stored,
    channels: Mutex<HashSet<String>>,
}

impl Hec {
    fn answer(&self, r: &Received) -> Reply {
        if r.path == "/services/collector/health" {
            return Reply::json(200, "{\"text\":\"HEC is healthy\",\"code\":17}");
        }
        assert_eq!(r.header("authorization"), Some("Splunk hec-token-9"));
        let channel = r
            .header("x-splunk-request-channel")
            .expect("a channel")
            .to_string();
        self.channels.lock().expect("lock").insert(channel);
        match r.path.as_str() {
            "/services/collector/event" => {
                let mut events = Vec::new();
                let stream =
                    serde_json::Deserializer::from_slice(&r.body).into_iter::<serde_json::Value>();
                for v in stream {
                    let v = v.expect("concatenated JSON objects");
                    assert_eq!(v["sourcetype"], "aws:cloudtrail");
                    assert_eq!(v["index"], "aws");
                    let id = event_id(&v["event"]);
                    let i: usize = id[3..].parse().expect("number");
                    let expected = 1_767_607_200 + ((i / 60) % 60) as u64 * 60 + (i % 60) as u64;
                    assert_eq!(v["time"].as_f64(), Some(expected as f64 + 0.125), "{v}");
                    events.push(id);
                }
                let ack = self.next_ack.fetch_add(1, Ordering::SeqCst);
                self.pending.lock().expect("lock").insert(ack, (events, 0));
                Reply::json(
                    200,
                    &format!("{{\"text\":\"Success\",\"code\":0,\"ackId\":{ack}}}"),
                )
            }
            "/services/collector/ack" => {
                let asked: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
                let mut answers = Vec::new();
                for id in asked["acks"].as_array().expect("acks") {
                    let id = id.as_u64().expect("id") as usize;
                    let mut pending = self.pending.lock().expect("lock");
                    let done = match pending.get_mut(&id) {
                        Some((_, polls)) => {
                            *polls += 1;
                            id != 0 && *polls >= 3
                        }
                        None => false,
                    };
                    if done {
                        if let Some((events, _)) = pending.remove(&id) {
                            for e in events {
                                self.indexed.add(e);
                            }
                        }
                    }
                    answers.push(format!("\"{id}\":{done}"));
                }
                Reply::json(200, &format!("{{\"acks\":{{{}}}}}", answers.join(",")))
            }
            other => panic!("unexpected path {other}"),
        }
    }
}

#[test]
fn splunk_hec_records_count_only_when_acknowledged() {
    let hec = Arc::new(Hec {
        next_ack: AtomicUsize::new(0),
        pending: Mutex::new(HashMap::new()),
        indexed: Stored::default(),
        channels: Mutex::new(HashSet::new()),
    });
    let server = {
        let hec = hec.clone();
        Intake::start(move |r| hec.answer(r))
    };
    let input = archive(500, &HashMap::new());
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let sink = format!(
        "type = \"splunk_hec\"\nendpoint = \"{}\"\ntoken = \"${{HEC_TOKEN}}\"\nindex = \"aws\"\nacknowledgements = true\nack_poll_secs = 1\nack_timeout_secs = 4\nbatch = {{ max_events = 100 }}\n",
        server.url()
    );
    let started = Instant::now();
    let out = run(input.path(), &dl, &sink, &[("HEC_TOKEN", "hec-token-9")]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("hec-token-9"), "{err}");
    // The run ended only after every event was acknowledged: the batch whose ack stayed false
    // was sent again (after 4 s), and its second copy acknowledged.
    hec.indexed.once_each((0..500).map(|i| format!("ev-{i}")));
    assert!(started.elapsed() >= Duration::from_secs(4));
    let first_batch = hec
        .pending
        .lock()
        .expect("lock")
        .get(&0)
        .map(|(e, _)| e.len());
    assert_eq!(first_batch, Some(100), "ack 0 never turned true");
    let channels = hec.channels.lock().expect("lock");
    assert_eq!(channels.len(), 1, "one channel per instance");
    let channel = channels.iter().next().expect("channel");
    assert_eq!(channel.len(), 36, "a GUID: {channel}");
    assert!(dead_letters(&dl).is_empty());
}

#[test]
fn generic_http_json_arrays_headers_and_bisected_400() {
    let stored = Arc::new(Stored::default());
    let server = {
        let stored = stored.clone();
        Intake::start(move |r: &Received| {
            assert_eq!(r.method, "PUT");
            assert_eq!(r.path, "/ingest/ct");
            assert_eq!(r.header("x-api-key"), Some("generic-key"));
            assert_eq!(r.header("content-encoding"), None, "compression = none");
            let entries: Vec<serde_json::Value> =
                serde_json::from_slice(&r.body).expect("a JSON array");
            if entries
                .iter()
                .any(|e| e["eventID"] == "ev-13" || e["eventID"] == "ev-140")
            {
                return Reply::json(400, "{\"error\":\"field too long\"}");
            }
            for e in entries {
                stored.add(event_id(&e));
            }
            Reply::json(200, "{}")
        })
    };
    let input = archive(200, &HashMap::new());
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");
    let sink = format!(
        "type = \"http\"\nendpoint = \"{}/ingest/ct\"\nmethod = \"put\"\nframing = \"json_array\"\ncompression = \"none\"\nheaders = {{ X-Api-Key = \"${{GENERIC_KEY}}\" }}\nbatch = {{ max_events = 64 }}\n",
        server.url()
    );
    let out = run(input.path(), &dl, &sink, &[("GENERIC_KEY", "generic-key")]);
    let err = stderr(&out);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{err}"
    );
    stored.once_each(
        (0..200)
            .filter(|i| *i != 13 && *i != 140)
            .map(|i| format!("ev-{i}")),
    );
    let dead: HashSet<String> = dead_letters(&dl)
        .iter()
        .filter_map(|d| d["event_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        dead,
        HashSet::from(["ev-13".to_string(), "ev-140".to_string()])
    );
    // Bisecting costs a few requests per bad record, not one per record.
    assert!(server.requests().len() < 40, "{}", server.requests().len());
}

/// A private CA and a certificate it signed for 127.0.0.1, made with the openssl command.
struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn make() -> Certificates {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write");
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=trailhose test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("the openssl command (.ci/run installs it)");
            assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
        }
        Certificates { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn tls_is_verified_unless_turned_off() {
    let certs = Certificates::make();
    let stored = Arc::new(Stored::default());
    let server = {
        let stored = stored.clone();
        Intake::start_tls(
            &certs.path("server.pem"),
            &certs.path("server.key"),
            move |r| {
                for line in r.text().lines() {
                    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                    stored.add(event_id(&v));
                }
                Reply::json(200, "{}")
            },
        )
    };
    let https = format!("https://127.0.0.1:{}/in", server.port);
    let input = archive(20, &HashMap::new());
    let work = tempfile::tempdir().expect("tempdir");
    let dl = work.path().join("dead.ndjson");

    // The private CA is not trusted by default: the run fails with a certificate error.
    let out = run(
        input.path(),
        &dl,
        &format!("type = \"http\"\nendpoint = \"{https}\"\n[sink.request]\nretry_initial_backoff_ms = 50\nretry_max_backoff_secs = 1\nretry_max_duration_secs = 2\n"),
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(stored.0.lock().expect("lock").is_empty());

    // Trusting it with tls.ca_file: delivered.
    let out = run(
        input.path(),
        &dl,
        &format!(
            "type = \"http\"\nendpoint = \"{https}\"\ntls = {{ ca_file = {:?} }}\n",
            certs.path("ca.pem")
        ),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    stored.once_each((0..20).map(|i| format!("ev-{i}")));

    // tls.verify = false: accepted, and said at start.
    stored.0.lock().expect("lock").clear();
    let out = run(
        input.path(),
        &dl,
        &format!("type = \"http\"\nendpoint = \"{https}\"\ntls = {{ verify = false }}\n"),
        &[],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("tls.verify = false"), "{err}");
    stored.once_each((0..20).map(|i| format!("ev-{i}")));

    // A CA file that is not PEM is a config error naming the key.
    std::fs::write(work.path().join("bad.pem"), "not a certificate").expect("write");
    let out = run(
        input.path(),
        &dl,
        &format!(
            "type = \"http\"\nendpoint = \"{https}\"\ntls = {{ ca_file = {:?} }}\n",
            work.path().join("bad.pem")
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("sink[0].tls.ca_file"),
        "{}",
        stderr(&out)
    );
}
