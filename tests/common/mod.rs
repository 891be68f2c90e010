//! Helpers shared by the end-to-end tests: the binary, the real samples in `tests/data`, and
//! runs of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The trailhose binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trailhose"))
}

/// The test data in the repository (`tests/data`: real samples, the ECS field reference, the
/// OCSF 1.1.0 schema; sources and licences in `tests/data/README.md`), or `TRAILHOSE_TEST_DATA`.
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("TRAILHOSE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"));
    assert!(
        dir.join("cloudtrail").is_dir(),
        "the test data is missing at {}",
        dir.display()
    );
    dir
}

pub fn cloudtrail_samples() -> PathBuf {
    shared_data().join("cloudtrail")
}

/// Runs `trailhose ARGS`, feeding `stdin` if given.
pub fn trailhose(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trailhose");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    child.wait_with_output().expect("run trailhose")
}

/// Writes a `trailhose gen` archive of `events` events into a new temporary folder.
pub fn gen_archive(events: &str) -> tempfile::TempDir {
    gen_archive_with(events, &[])
}

/// `gen_archive` with more `gen` options (a preset, accounts, file sizes).
pub fn gen_archive_with(events: &str, options: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = vec![
        "gen",
        "--events",
        events,
        "--out",
        dir.path().to_str().expect("path"),
    ];
    args.extend(options);
    let out = trailhose(&args, None);
    assert_eq!(out.status.code(), Some(0), "gen: {}", stderr(&out));
    dir
}

/// The log files (`/CloudTrail/` ones, no digests) under `root`, in path order.
pub fn log_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains("/CloudTrail/") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Output lines parsed as JSON values.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(stdout.to_vec())
        .expect("output is UTF-8")
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("output line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// Reads an NDJSON file of expected records.
pub fn read_ndjson(path: &Path) -> Vec<serde_json::Value> {
    json_lines(&std::fs::read(path).expect("read expected records"))
}

/// Canonical text of a value (serde_json's map is sorted), for multiset comparison.
pub fn canonical(v: &serde_json::Value) -> String {
    serde_json::to_string(v).expect("serialize")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// gzip bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A small valid CloudTrail record with a given eventID.
pub fn record(id: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"alice"}},"eventTime":"2026-01-05T00:00:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","requestParameters":{{"bucketName":"b","key":"k{id}"}},"responseElements":null,"eventID":"id-{id}","readOnly":true}}"#,
        id % 60
    )
}

/// A trail file body holding `records`.
pub fn trail_file(records: &[String]) -> String {
    format!("{{\"Records\":[{}]}}", records.join(","))
}

/// Reads the dead-letter file's entries.
pub fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    if !path.exists() {
        return Vec::new();
    }
    read_ndjson(path)
}

/// A moto server (S3 and SQS) on a free loopback port, stopped when dropped. Found at
/// `TRAILHOSE_MOTO_SERVER`, else `moto_server` on the PATH. `None` (the test skips) when there
/// is none, except under CI, where `.ci/run` installs it and its absence is a failure.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn moto() -> Option<Moto> {
    let exe = std::env::var("TRAILHOSE_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(&exe)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install moto (see .ci/run): cannot start {exe}"
        );
        eprintln!("skipped: no moto server ({exe}); pip install 'moto[server]'");
        return None;
    };
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "moto did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(moto)
}

/// The environment every AWS call of a test runs with: fake credentials, a region, no
/// profile files of the machine.
pub fn aws_env(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// An SDK config for the moto endpoint.
pub async fn aws_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// An S3 client for the moto endpoint (path-style).
pub async fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_config(endpoint).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    )
}

/// Uploads every file under `root` to `bucket` (created), keys relative to `root` with
/// `key_prefix` in front; returns the keys.
pub async fn upload_tree(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    root: &Path,
    key_prefix: &str,
) -> Vec<String> {
    let _ = client.create_bucket().bucket(bucket).send().await;
    let mut keys = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(root)
                .expect("relative")
                .to_string_lossy()
                .to_string();
            let key = format!("{key_prefix}{rel}");
            client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(std::fs::read(&p).expect("read").into())
                .send()
                .await
                .expect("put_object");
            keys.push(key);
        }
    }
    keys.sort();
    keys
}

/// Runs `trailhose ARGS` against an AWS endpoint (fake credentials).
pub fn trailhose_aws(args: &[&str]) -> Output {
    aws_env(&mut Command::new(bin()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run trailhose")
}

/// An in-process pipeline reading `dir` into `sinks`: two workers, dedupe off (so every record
/// is delivered and can be counted), the other settings at their defaults.
pub fn dir_pipeline(
    dir: &Path,
    sinks: Vec<trailhose::config::SinkConfig>,
) -> trailhose::config::PipelineConfig {
    use trailhose::config::{PipelineBounds, PipelineConfig, SourceConfig};
    use trailhose::transform::dedupe::DedupeConfig;
    PipelineConfig {
        source: SourceConfig::Dir {
            paths: vec![dir.to_path_buf()],
            hidden: false,
        },
        sinks,
        pipeline: PipelineBounds {
            workers: 2,
            ..PipelineBounds::default()
        },
        metrics: None,
        enrich: Default::default(),
        filter: Default::default(),
        dedupe: DedupeConfig {
            enabled: false,
            ..DedupeConfig::default()
        },
        state: Default::default(),
        normalize: Default::default(),
    }
}
/// A port free on loopback now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// GET `path` over plain HTTP/1.1 on loopback; returns (status line, body).
pub fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

pub mod crash;
pub mod intake;
pub mod slowdown_proxy;
