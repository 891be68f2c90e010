//! `trailhose run` and `trailhose validate` on config files, including the shipped pipelines/.

mod common;

use common::*;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p.to_str().expect("path").to_string()
}

#[test]
fn shipped_pipelines_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "replay-dir.toml",
        "sidecar-stdin.toml",
        "enrich-replay.toml",
        "raw-and-ecs.toml",
        "replay-s3.toml",
        "live-sqs.toml",
        "kafka-sidecar.toml",
        "s3-to-kafka.toml",
        "sqs-to-elasticsearch.toml",
        "s3-to-datadog.toml",
        "kafka-to-splunk.toml",
        "replay-to-loggly.toml",
    ] {
        let path = format!("{}/pipelines/{name}", env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new(bin())
            .args(["validate", &path])
            .env("TRAIL_DIR", dir.path())
            .env("BUCKET", "my-trail")
            .env("BROKERS", "127.0.0.1:9092")
            .env("ES_PASSWORD", "pw")
            .env("DD_API_KEY", "k")
            .env("SPLUNK_HEC_TOKEN", "t")
            .env("LOGGLY_TOKEN", "t")
            .env(
                "QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/111122223333/trail-files",
            )
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    }
}

#[test]
fn run_replays_a_directory_with_env_interpolation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(
        data.join("a.json.gz"),
        gzip(trail_file(&(0..50).map(record).collect::<Vec<_>>()).as_bytes()),
    )
    .expect("write");
    let out_file = dir.path().join("out.ndjson");
    let config = write(
        dir.path(),
        "p.toml",
        "[source]\ntype = \"dir\"\npaths = [\"${DATA}\"]\n[[sink]]\ntype = \"ndjson\"\npath = \"${OUT}\"\n[pipeline]\nworkers = 1\n",
    );
    let out = std::process::Command::new(bin())
        .args(["run", &config, "-q"])
        .env("DATA", &data)
        .env("OUT", &out_file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = read_ndjson(&out_file);
    assert_eq!(lines.len(), 50);
    assert_eq!(lines[49]["eventID"], "id-49");
}

#[test]
fn bad_configs_name_the_key_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("[source]\ntype = \"dir\"\npaths = [\"x\"]\n[[sink]]\ntype = \"ndjson\"\n[pipeline]\nworkerz = 3\n", "workerz"),
        ("[source]\ntype = \"stdin\"\n[[sink]]\ntype = \"ndjson\"\n[pipeline]\nchannel_batches = 0\n", "pipeline.channel_batches = 0"),
        ("[source]\ntype = \"s4\"\n", "s4"),
        ("[source]\ntype = \"stdin\"\n[[sink]]\ntype = \"ndjson\"\npath = \"${NOT_SET_ANYWHERE}\"\n", "NOT_SET_ANYWHERE"),
        ("[[sink]]\ntype = \"ndjson\"\n", "[source]"),
        ("[source]\ntype = \"s3\"\nbucket = \"b\"\nfetch_concurrency = 100\nfetch_concurrency_max = 50\n[[sink]]\ntype = \"ndjson\"\n", "source.fetch_concurrency = 100 is above source.fetch_concurrency_max = 50"),
        ("[source]\ntype = \"sqs\"\nqueue_url = \"http://q\"\nfetch_concurrency_max = 0\n[[sink]]\ntype = \"ndjson\"\n", "source.fetch_concurrency_max = 0 is out of range"),
    ];
    for (i, (text, must_name)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.toml"), text);
        for command in ["validate", "run"] {
            let out = trailhose(&[command, &path], None);
            assert_eq!(out.status.code(), Some(2), "{command} {text}");
            assert!(
                stderr(&out).contains(must_name),
                "{command}: message does not name {must_name}: {}",
                stderr(&out)
            );
        }
    }
    let out = trailhose(&["validate", "/no/such.toml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/no/such.toml"));
}

#[test]
fn validate_shows_the_config_with_secrets_as_stars() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "http.toml",
        "[source]\ntype = \"stdin\"\n\n[[sink]]\ntype = \"datadog\"\napi_key = \"${DD_API_KEY}\"\n\n[[sink]]\ntype = \"elasticsearch\"\nendpoints = [\"https://es:9200\"]\nauth = { user = \"elastic\", password = \"${ES_PASSWORD}\" }\n\n[[sink]]\ntype = \"splunk_hec\"\nendpoint = \"https://splunk:8088\"\ntoken = \"${HEC_TOKEN}\"\n\n[[sink]]\ntype = \"loggly\"\ntoken = \"${LOGGLY_TOKEN}\"\n\n[[sink]]\ntype = \"http\"\nendpoint = \"https://in.example.com/\"\nheaders = { Authorization = \"Bearer ${BEARER}\" }\n",
    );
    let secrets = [
        ("DD_API_KEY", "dd-0123456789"),
        ("ES_PASSWORD", "es-pw-987"),
        ("HEC_TOKEN", "hec-tok-555"),
        ("LOGGLY_TOKEN", "loggly-tok-444"),
        ("BEARER", "bearer-333"),
    ];
    let out = std::process::Command::new(bin())
        .args(["validate", "--show", &config])
        .envs(secrets)
        .output()
        .expect("run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}");
    for (_, secret) in secrets {
        assert!(!text.contains(secret), "{secret} printed: {text}");
    }
    assert!(text.matches("***").count() >= 5, "{text}");
    assert!(
        text.contains("https://splunk:8088") && text.contains("elastic"),
        "{text}"
    );
}

#[test]
fn every_command_has_help() {
    for cmd in [
        vec!["--help"],
        vec!["replay", "--help"],
        vec!["run", "--help"],
        vec!["validate", "--help"],
        vec!["gen", "--help"],
        vec!["setup", "elasticsearch", "--help"],
    ] {
        let out = trailhose(&cmd, None);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{cmd:?}"
        );
    }
    let help = String::from_utf8(trailhose(&["replay", "--help"], None).stdout).expect("utf-8");
    for flag in [
        "--workers",
        "--dead-letter",
        "--metrics-addr",
        "--quiet",
        "--output",
    ] {
        assert!(help.contains(flag), "replay --help lacks {flag}");
    }
}
