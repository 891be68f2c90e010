//! The SQS source against a real SQS and S3 server on loopback (moto's standalone server):
//! every notification format, messages deleted only once their objects' events are in the sink,
//! visibility extended while a slow sink holds them, nothing deleted when the sink rejects.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&aws_config(endpoint).await)
}

/// Uploads a gen archive, makes a queue, and sends one notification per format naming its
/// log files; returns the queue URL and the files named.
async fn setup(moto: &Moto, archive: &Path, queue: &str) -> (String, Vec<PathBuf>) {
    let s3 = s3_client(&moto.endpoint).await;
    let keys = upload_tree(&s3, "trail", archive, "").await;
    let logs: Vec<String> = keys
        .into_iter()
        .filter(|k| k.contains("/CloudTrail/"))
        .collect();
    assert!(logs.len() >= 5, "{} log files", logs.len());
    let sqs = sqs_client(&moto.endpoint).await;
    let url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .expect("create_queue")
        .queue_url
        .expect("url");
    let s3_event = |key: &str| {
        serde_json::json!({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"trail"},"object":{"key": key.replace(':', "%3A"),"size":1}}}]})
        .to_string()
    };
    let sns = |message: String| {
        serde_json::json!({"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":message})
            .to_string()
    };
    let bodies = vec![
        // A direct S3 event notification.
        s3_event(&logs[0]),
        // The same, through SNS.
        sns(s3_event(&logs[1])),
        // EventBridge "Object Created".
        serde_json::json!({"version":"0","detail-type":"Object Created","source":"aws.s3",
            "detail":{"bucket":{"name":"trail"},"object":{"key":logs[2],"size":1}}})
        .to_string(),
        // CloudTrail's own notification (through SNS), naming two files.
        sns(serde_json::json!({"s3Bucket":"trail","s3ObjectKey":[logs[3], logs[4]]}).to_string()),
        // Nothing to read: an S3 test event, and a digest file.
        r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-05T00:00:00Z","Bucket":"trail"}"#
            .to_string(),
        sns(serde_json::json!({"s3Bucket":"trail","s3ObjectKey":["AWSLogs/1/CloudTrail-Digest/r/2026/01/05/d.json.gz"]}).to_string()),
    ];
    for body in bodies {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    let files = logs[..5].iter().map(|k| archive.join(k)).collect();
    (url, files)
}

/// Messages still on the queue, visible or in flight.
async fn messages_left(moto: &Moto, url: &str) -> u64 {
    let sqs = sqs_client(&moto.endpoint).await;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("attributes")
        .attributes
        .unwrap_or_default();
    let get = |n: aws_sdk_sqs::types::QueueAttributeName| {
        attrs
            .get(&n)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        + get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
}

fn config(dir: &Path, moto: &Moto, url: &str, sink_path: &str, visibility: u32) -> PathBuf {
    config_with(dir, moto, url, sink_path, visibility, "")
}

fn config_with(
    dir: &Path,
    moto: &Moto,
    url: &str,
    sink_path: &str,
    visibility: u32,
    extra: &str,
) -> PathBuf {
    let path = dir.join("live.toml");
    std::fs::write(
        &path,
        format!(
            "[source]\ntype = \"sqs\"\nqueue_url = \"{url}\"\nvisibility_timeout_secs = {visibility}\n\
             stop_when_idle_secs = 3\n[source.aws]\nendpoint_url = \"{}\"\npath_style = true\n\
             [[sink]]\ntype = \"ndjson\"\npath = \"{sink_path}\"\n[dedupe]\nenabled = false\n\
             [pipeline]\nbatch_bytes = 65536\n{extra}",
            moto.endpoint
        ),
    )
    .expect("write");
    path
}

/// A file's lines, sorted.
fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .expect("out")
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn expected_lines(files: &[PathBuf]) -> Vec<String> {
    let mut args = vec!["replay".to_string(), "--no-dedupe".into(), "-q".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = trailhose(&args, None);
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn every_notification_format_is_read_and_deleted_once_done() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("800");
    let rt = runtime();
    let (url, files) = rt.block_on(setup(&moto, archive.path(), "live"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_file = tmp.path().join("out.ndjson");
    let cfg = config(
        tmp.path(),
        &moto,
        &url,
        out_file.to_str().expect("path"),
        30,
    );
    let out = aws_env(&mut Command::new(bin()))
        .args(["run", cfg.to_str().expect("path"), "-q"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = sorted_lines(&out_file);
    assert_eq!(
        got,
        expected_lines(&files),
        "the five files named, each once"
    );
    assert_eq!(
        rt.block_on(messages_left(&moto, &url)),
        0,
        "every message deleted"
    );
}

#[test]
fn a_slow_sink_keeps_its_messages_invisible_and_nothing_is_read_twice() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("800");
    let rt = runtime();
    let (url, files) = rt.block_on(setup(&moto, archive.path(), "slow"));
    let tmp = tempfile::tempdir().expect("tempdir");
    // Visibility 2 s; the test leaves stdout unread for 7 s, so the sink blocks on a full pipe
    // with messages in flight: without extensions they would come back and be read again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let cfg = config_with(
        tmp.path(),
        &moto,
        &url,
        "-",
        2,
        &format!("[metrics]\naddr = \"127.0.0.1:{port}\"\n"),
    );
    let mut child = aws_env(&mut Command::new(bin()))
        .args(["run", cfg.to_str().expect("path"), "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    std::thread::sleep(Duration::from_secs(6));
    // While the sink is stuck: messages in flight, their visibility extended, none deleted.
    let metrics = scrape(port);
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value("trailhose_sqs_visibility_extensions_total") >= 2.0,
        "{metrics}"
    );
    assert!(
        value("trailhose_sqs_messages_in_flight") >= 1.0,
        "{metrics}"
    );
    assert!(
        value("trailhose_sqs_messages_received_total") >= 4.0,
        "{metrics}"
    );
    assert!(
        value("trailhose_s3_objects_fetched_total") >= 1.0,
        "{metrics}"
    );
    // Inputs are counted under their own source, and SQS fetches show in the fetch gauge.
    assert!(
        value("trailhose_inputs_total{source=\"sqs\"}") >= 1.0,
        "{metrics}"
    );
    assert!(!metrics.contains("source=\"s3\""), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("trailhose_s3_fetches_in_flight ")),
        "{metrics}"
    );
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read");
    let status = child.wait().expect("wait");
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    assert_eq!(status.code(), Some(0), "{err}");
    let mut got: Vec<String> = stdout.lines().map(str::to_string).collect();
    got.sort();
    let want = expected_lines(&files);
    let ids: BTreeSet<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(
        ids.len(),
        got.len(),
        "a record came twice: a message was redelivered"
    );
    assert_eq!(got, want);
    assert_eq!(rt.block_on(messages_left(&moto, &url)), 0);
}

#[test]
fn a_sink_that_rejects_leaves_the_messages_on_the_queue() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("800");
    let rt = runtime();
    let (url, _) = rt.block_on(setup(&moto, archive.path(), "reject"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = config(tmp.path(), &moto, &url, "/dev/full", 30);
    let out = aws_env(&mut Command::new(bin()))
        .args(["run", cfg.to_str().expect("path"), "-q"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "a sink failure: {}",
        stderr(&out)
    );
    // The messages naming log files are still there (only the two naming none were deleted).
    assert_eq!(
        rt.block_on(messages_left(&moto, &url)),
        4,
        "{}",
        stderr(&out)
    );
}

/// One scrape of /metrics.
fn scrape(port: u16) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    body
}

#[test]
fn two_instances_on_one_queue_never_both_take_a_message() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("800");
    let rt = runtime();
    let (url, files) = rt.block_on(setup(&moto, archive.path(), "shared"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let start = |n: usize| {
        let dir = tmp.path().join(format!("c{n}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let out = dir.join("out.ndjson");
        let cfg = config(&dir, &moto, &url, out.to_str().expect("path"), 30);
        let child = aws_env(&mut Command::new(bin()))
            .args(["run", cfg.to_str().expect("path"), "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start");
        (child, out)
    };
    let (mut a, out_a) = start(1);
    let (mut b, out_b) = start(2);
    for c in [&mut a, &mut b] {
        assert_eq!(c.wait().expect("wait").code(), Some(0));
    }
    let mut got: Vec<String> = [out_a, out_b]
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .expect("out")
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    got.sort();
    // Every record once across the two: no message was processed by both.
    assert_eq!(got, expected_lines(&files));
    assert_eq!(rt.block_on(messages_left(&moto, &url)), 0);
}

#[test]
fn a_file_that_cannot_be_fetched_sends_its_message_back() {
    let Some(moto) = moto() else { return };
    let rt = runtime();
    let url = rt.block_on(async {
        let s3 = s3_client(&moto.endpoint).await;
        let _ = s3.create_bucket().bucket("trail").send().await;
        let sqs = sqs_client(&moto.endpoint).await;
        let url = sqs
            .create_queue()
            .queue_name("gone")
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("url");
        let body = serde_json::json!({"s3Bucket":"trail","s3ObjectKey":[
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/111122223333_CloudTrail_us-east-1_20260105T0005Z_gone.json.gz"]})
        .to_string();
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .expect("send");
        url
    });
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_file = tmp.path().join("out.ndjson");
    let cfg = config(
        tmp.path(),
        &moto,
        &url,
        out_file.to_str().expect("path"),
        30,
    );
    let out = aws_env(&mut Command::new(bin()))
        .args(["run", cfg.to_str().expect("path"), "-q"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("GET failed"), "{}", stderr(&out));
    // Not deleted: back on the queue for redelivery (and, in the end, its dead-letter queue).
    assert_eq!(rt.block_on(messages_left(&moto, &url)), 1);
}

/// A 256 KB message body of garbage (SQS's largest) among notifications: with a dead-letter
/// output it is kept there whole, counted, and deleted; the notifications around it are read.
#[test]
fn a_256_kb_message_of_garbage_is_dead_lettered_deleted_and_the_rest_read() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("800");
    let rt = runtime();
    let (url, files) = rt.block_on(setup(&moto, archive.path(), "garbage"));
    let mut rng = fastrand::Rng::with_seed(256);
    let garbage: String = (0..256 * 1024 - 1).map(|_| rng.alphanumeric()).collect();
    rt.block_on(async {
        sqs_client(&moto.endpoint)
            .await
            .send_message()
            .queue_url(&url)
            .message_body(&garbage)
            .send()
            .await
            .expect("send garbage")
    });
    let tmp = tempfile::tempdir().expect("tempdir");
    let (out_file, dead) = (
        tmp.path().join("out.ndjson"),
        tmp.path().join("dead.ndjson"),
    );
    let cfg = config_with(
        tmp.path(),
        &moto,
        &url,
        out_file.to_str().expect("path"),
        30,
        &format!("dead_letter = {dead:?}\n"),
    );
    let out = aws_env(&mut Command::new(bin()))
        .args(["run", cfg.to_str().expect("path"), "-q"])
        .output()
        .expect("run");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "bad input was seen: {err}");
    assert!(
        err.contains("not an S3 notification") && err.contains("dead-lettered and deleted"),
        "{err}"
    );
    let got = sorted_lines(&out_file);
    assert_eq!(
        got,
        expected_lines(&files),
        "the notifications' files, once"
    );
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["error_kind"], "sqs_not_notification");
    assert!(letters[0]["origin"]
        .as_str()
        .is_some_and(|o| o.starts_with(&url)));
    let raw = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        letters[0]["raw_base64"].as_str().expect("raw"),
    )
    .expect("base64");
    assert_eq!(raw, garbage.as_bytes(), "the whole body");
    assert_eq!(rt.block_on(messages_left(&moto, &url)), 0, "all deleted");
}

/// Following a queue live (20 s long polls), SIGTERM drains at once: the poll is abandoned,
/// what was read is delivered and its messages deleted, and the run ends with exit code 0.
#[test]
fn sigterm_ends_a_live_queue_promptly_and_cleanly() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("800");
    let rt = runtime();
    let (url, files) = rt.block_on(setup(&moto, archive.path(), "drain"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_file = tmp.path().join("out.ndjson");
    let cfg = tmp.path().join("live.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\ntype = \"sqs\"\nqueue_url = \"{url}\"\n[source.aws]\nendpoint_url = \"{}\"\npath_style = true\n\
             [[sink]]\ntype = \"ndjson\"\npath = {out_file:?}\n[dedupe]\nenabled = false\n",
            moto.endpoint
        ),
    )
    .expect("write");
    let mut child = aws_env(&mut Command::new(bin()))
        .args(["run", cfg.to_str().expect("path"), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    // Once every notified file is out, the source sits in a long poll.
    let want = expected_lines(&files).len();
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&out_file).map_or(0, |t| t.lines().count()) < want {
        assert!(started.elapsed() < Duration::from_secs(60), "not delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let signalled = std::time::Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = child.wait().expect("wait");
    let took = signalled.elapsed();
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(took < Duration::from_secs(5), "drained in {took:?}: {err}");
    assert_eq!(rt.block_on(messages_left(&moto, &url)), 0, "all deleted");
}
