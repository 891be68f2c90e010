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
    ] {
        let path = format!("{}/pipelines/{name}", env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new(bin())
            .args(["validate", &path])
            .env("TRAIL_DIR", dir.path())
            .env("BUCKET", "my-trail")
            .env("BROKERS", "127.0.0.1:9092")
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
fn every_command_has_help() {
    for cmd in [
        vec!["--help"],
        vec!["replay", "--help"],
        vec!["run", "--help"],
        vec!["validate", "--help"],
        vec!["gen", "--help"],
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
