//! The S3 source against a real S3 server on loopback (moto's standalone server, started per
//! test): a gen archive replayed from a bucket gives exactly the records of the same archive
//! replayed from disk; account, region and time filters; organization trails; resume after
//! kill -9 with nothing lost and little re-read.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::crash::*;
use common::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Each output line (a raw record) with how often it came.
fn lines(out: &[u8]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in String::from_utf8_lossy(out).lines() {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m
}

fn ids(out: &[u8]) -> BTreeSet<String> {
    json_lines(out)
        .iter()
        .map(|e| e["eventID"].as_str().expect("eventID").to_string())
        .collect()
}

/// `trailhose replay` of local files, for the expected output.
fn replay_local(paths: &[PathBuf]) -> Vec<u8> {
    let mut args = vec!["replay", "--no-dedupe", "-q"];
    let strs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(strs.iter().map(String::as_str));
    let out = trailhose(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out.stdout
}

/// `trailhose replay s3://...` against moto.
fn replay_s3(moto: &Moto, url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "replay",
        url,
        "--endpoint-url",
        &moto.endpoint,
        "--path-style",
        "--no-dedupe",
        "-q",
    ];
    args.extend(extra);
    trailhose_aws(&args)
}

#[test]
fn a_bucket_replays_to_exactly_what_the_same_archive_gives_from_disk() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("3000");
    let rt = runtime();
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
    });
    let out = replay_s3(&moto, "s3://trail", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = replay_local(&[archive.path().join("AWSLogs")]);
    let (got, want) = (lines(&out.stdout), lines(&expected));
    assert!(want.values().sum::<usize>() >= 3000);
    assert_eq!(got, want, "the same records, each as often");
    // Digest files (CloudTrail-Digest/) are not log files: never fetched as records.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("error"),
        "{}",
        stderr(&out)
    );

    // Config form, with a prefix in front of AWSLogs/ and an organization id.
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(
            &client,
            "org",
            &archive.path().join("AWSLogs"),
            "exports/AWSLogs/o-abcdefghij12/",
        )
        .await;
    });
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_file = tmp.path().join("out.ndjson");
    let config = tmp.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\ntype = \"s3\"\nbucket = \"org\"\nprefix = \"exports\"\nfetch_concurrency = 4\n\
             [source.aws]\nendpoint_url = \"{}\"\npath_style = true\n\
             [[sink]]\ntype = \"ndjson\"\npath = \"{}\"\n[dedupe]\nenabled = false\n",
            moto.endpoint,
            out_file.display()
        ),
    )
    .expect("write");
    let out = aws_env(&mut std::process::Command::new(bin()))
        .args(["run", config.to_str().expect("path"), "-q"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        lines(&std::fs::read(&out_file).expect("out")),
        want,
        "organization trail"
    );
}

#[test]
fn account_region_and_time_filters_read_only_what_they_name() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("3000");
    let files = log_files(&archive.path().join("AWSLogs"));
    // A second day: copies of the first two hours' files, filed under 2026-01-07.
    let rt = runtime();
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
        for f in files
            .iter()
            .filter(|f| f.to_string_lossy().contains("_20260105T00"))
        {
            let rel = f
                .strip_prefix(archive.path())
                .expect("rel")
                .to_string_lossy()
                .to_string();
            let key = rel
                .replace("/2026/01/05/", "/2026/01/07/")
                .replace("_20260105T", "_20260107T");
            client
                .put_object()
                .bucket("trail")
                .key(key)
                .body(std::fs::read(f).expect("read").into())
                .send()
                .await
                .expect("put");
        }
    });
    let early: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("_20260105T00"))
        .cloned()
        .collect();
    assert!(!early.is_empty());

    let account = files[0]
        .to_string_lossy()
        .split("/AWSLogs/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("account")
        .to_string();
    let region = files
        .iter()
        .find_map(|f| {
            let s = f.to_string_lossy();
            let r = s
                .split("/CloudTrail/")
                .nth(1)?
                .split('/')
                .next()?
                .to_string();
            Some(r)
        })
        .expect("region");

    // --accounts: exactly that account's files (both days).
    let out = replay_s3(&moto, "s3://trail", &["--accounts", &account]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mine: Vec<PathBuf> = files
        .iter()
        .filter(|f| {
            f.to_string_lossy()
                .contains(&format!("/AWSLogs/{account}/"))
        })
        .cloned()
        .collect();
    let early_mine: Vec<PathBuf> = early
        .iter()
        .filter(|f| {
            f.to_string_lossy()
                .contains(&format!("/AWSLogs/{account}/"))
        })
        .cloned()
        .collect();
    let mut want = lines(&replay_local(&mine));
    for (l, n) in lines(&replay_local(&early_mine)) {
        *want.entry(l).or_insert(0) += n;
    }
    assert_eq!(lines(&out.stdout), want, "--accounts {account}");

    // --regions and --end: that region's files of the first day only.
    let out = replay_s3(
        &moto,
        "s3://trail",
        &["--regions", &region, "--end", "2026-01-06"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let in_region: Vec<PathBuf> = files
        .iter()
        .filter(|f| {
            f.to_string_lossy()
                .contains(&format!("/CloudTrail/{region}/"))
        })
        .cloned()
        .collect();
    assert_eq!(
        lines(&out.stdout),
        lines(&replay_local(&in_region)),
        "--regions --end"
    );

    // --start on the second day: only the copies.
    let out = replay_s3(&moto, "s3://trail", &["--start", "2026-01-06"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(&out.stdout), lines(&replay_local(&early)), "--start");

    // A time window inside a day: delivery times 00:00 to 00:59 of the first day.
    let out = replay_s3(
        &moto,
        "s3://trail",
        &[
            "--start",
            "2026-01-05T00:00:00Z",
            "--end",
            "2026-01-05T00:59:59Z",
        ],
    );
    assert_eq!(
        lines(&out.stdout),
        lines(&replay_local(&early)),
        "time window"
    );

    // A bad window is a usage error naming the flag.
    let out = replay_s3(
        &moto,
        "s3://trail",
        &["--start", "2026-01-07", "--end", "2026-01-06"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--start"), "{}", stderr(&out));
}

/// The S3 version of `crash.rs`: killed with SIGKILL at 20 random moments and rerun each
/// time with the same command, the replay ends with every event of the bucket exactly once.
#[test]
fn a_replay_killed_twenty_times_writes_every_event_exactly_once() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("40000");
    let rt = runtime();
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
    });
    let tmp = tempfile::tempdir().expect("tempdir");
    let all = reference_ids(&archive.path().join("AWSLogs"), tmp.path());
    let (state, output) = (tmp.path().join("state"), tmp.path().join("out.ndjson"));
    let command = |stderr_to: &Path| {
        let mut c = std::process::Command::new(bin());
        aws_env(&mut c)
            .args([
                "replay",
                "s3://trail",
                "--endpoint-url",
                &moto.endpoint,
                "--path-style",
                "-q",
                "--state",
                state.to_str().expect("path"),
                "--commit-interval-ms",
                "50",
                "-o",
                output.to_str().expect("path"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(
                std::fs::File::create(stderr_to).expect("stderr file"),
            ));
        c
    };
    let kills = kill_and_rerun(
        &command,
        &output,
        tmp.path(),
        20,
        Duration::from_millis(300),
    );
    assert!(
        kills.killed >= 15,
        "only {} runs killed mid-replay",
        kills.killed
    );
    assert!(
        kills.resumed >= 1,
        "no run resumed a file cut back to its commit"
    );
    assert_exactly_once(&id_counts(&output), &all, kills.seed);
    // The checkpoint covers every account and region, and a further run reads nothing.
    let source = committed_source(&state).expect("a commit");
    assert_eq!(source["source"], "s3://trail/");
    let before = std::fs::metadata(&output).expect("out").len();
    let out = command(&tmp.path().join("after.stderr"))
        .status()
        .expect("run after");
    assert_eq!(out.code(), Some(0));
    assert_eq!(std::fs::metadata(&output).expect("out").len(), before);
}

/// The first log file of the archive (in name order: the earliest of its account and region).
fn first_log_file(root: &Path) -> PathBuf {
    log_files(&root.join("AWSLogs"))
        .into_iter()
        .next()
        .expect("a log file")
}

#[test]
fn insights_folders_are_replayed_beside_api_events() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("2000");
    // An Insights log file where CloudTrail delivers them: `CloudTrail-Insight/` beside
    // `CloudTrail/`, same account, region and day layout.
    let first = first_log_file(archive.path());
    let rel = first
        .strip_prefix(archive.path())
        .expect("relative")
        .to_string_lossy()
        .to_string();
    let parts: Vec<&str> = rel.split('/').collect();
    let (account, region) = (parts[1], parts[3]);
    let insight_key = format!(
        "AWSLogs/{account}/CloudTrail-Insight/{region}/2026/01/05/{account}_CloudTrail-Insight_{region}_20260105T0010Z_i1.json.gz"
    );
    let insights =
        std::fs::read_to_string(shared_data().join("shapes/insights.ndjson")).expect("shapes");
    let records: Vec<String> = insights.lines().map(str::to_string).collect();
    let path = archive.path().join(&insight_key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, gzip(trail_file(&records).as_bytes())).expect("write");
    let rt = runtime();
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
    });
    // The same tree read from disk (the Insights file included, as a directory walk reads it).
    let local = ids(&replay_local(&[archive.path().join("AWSLogs")]));
    let out = replay_s3(&moto, "s3://trail", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = ids(&out.stdout);
    for id in [
        "4a6f3d1e-2b7c-4d8e-9f01-23456789abcd",
        "5b7a4e2f-3c8d-4e9f-a012-3456789abcde",
        "6c8b5f30-4d9e-4fa0-b123-456789abcdef",
    ] {
        assert!(got.contains(id), "insight {id} not replayed");
    }
    assert_eq!(got, local);
    // A prefix inside the Insights folder is read as it is, too.
    let out = replay_s3(
        &moto,
        &format!("s3://trail/AWSLogs/{account}/CloudTrail-Insight/"),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ids(&out.stdout).len(), 3);
}

#[test]
fn bad_bytes_reach_the_dead_letter_file_before_their_object_is_checkpointed() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("40000");
    // A damaged object first in its account and region: once the checkpoint has moved past
    // it, its bytes must already be in the dead-letter file, even if the process dies then.
    let first = first_log_file(archive.path());
    let name = first
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let (head, _) = name.split_once("_2026").expect("a trail file name");
    let bad_name = format!("{head}_20260101T0000Z_damaged.json.gz");
    let bad_dir = first
        .parent()
        .expect("day")
        .parent()
        .expect("month")
        .join("01");
    std::fs::create_dir_all(&bad_dir).expect("mkdir");
    let whole = gzip(trail_file(&[record(1), record(2)]).as_bytes());
    std::fs::write(bad_dir.join(&bad_name), &whole[..whole.len() / 2]).expect("write");
    let rel = first
        .strip_prefix(archive.path())
        .expect("relative")
        .to_string_lossy()
        .to_string();
    let parts: Vec<&str> = rel.split('/').collect();
    let prefix_id = format!("{}/{}", parts[1], parts[3]);
    let rt = runtime();
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
    });
    let tmp = tempfile::tempdir().expect("tempdir");
    let (state, dead) = (tmp.path().join("state"), tmp.path().join("dead.ndjson"));
    let mut child = aws_env(&mut std::process::Command::new(bin()))
        .args([
            "replay",
            "s3://trail",
            "--endpoint-url",
            &moto.endpoint,
            "--path-style",
            "-q",
            "--workers",
            "1",
            "--fetch-concurrency",
            "2",
            "--state",
            state.to_str().expect("path"),
            "--dead-letter",
            dead.to_str().expect("path"),
            "-o",
            tmp.path().join("out.ndjson").to_str().expect("path"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start");
    let started = Instant::now();
    loop {
        let passed = committed_source(&state)
            .is_some_and(|c| c["prefixes"][&prefix_id]["through"].is_string());
        if passed {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no checkpoint");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    assert_eq!(
        child.wait().expect("wait").code(),
        None,
        "killed by a signal"
    );
    let entries = dead_letters(&dead);
    assert!(
        entries
            .iter()
            .any(|e| e["origin"].as_str().is_some_and(|o| o.ends_with(&bad_name))),
        "the damaged object was checkpointed but its bytes are not in the dead-letter file: {entries:?}"
    );
}

/// An object replaced while it is being read: S3 serves one version per GET, and trailhose
/// never stitches two GETs of one object together (a failed read is read again whole, next
/// time), so the output holds one version's records, all of them, never a mix.
#[test]
fn an_object_replaced_while_read_gives_one_version_whole() {
    let Some(moto) = moto() else { return };
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/111122223333_CloudTrail_us-east-1_20260105T0000Z_x.json.gz";
    // Large enough (about 100 MB inflated) that the GET is still streaming when it is replaced.
    let version = |ids: std::ops::Range<usize>| {
        gzip(trail_file(&ids.map(record).collect::<Vec<_>>()).as_bytes())
    };
    let (first, second) = (version(0..60_000), version(100_000..160_000));
    let rt = runtime();
    let put = |body: Vec<u8>| {
        rt.block_on(async {
            let client = s3_client(&moto.endpoint).await;
            let _ = client.create_bucket().bucket("changing").send().await;
            client
                .put_object()
                .bucket("changing")
                .key(key)
                .body(body.into())
                .send()
                .await
                .expect("put");
        })
    };
    put(first);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out.ndjson");
    let mut child = aws_env(&mut std::process::Command::new(bin()))
        .args([
            "replay",
            "s3://changing",
            "--endpoint-url",
            &moto.endpoint,
            "--path-style",
            "-q",
            "--workers",
            "1",
            "-o",
            out.to_str().expect("path"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let started = Instant::now();
    while std::fs::metadata(&out).map_or(0, |m| m.len()) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "nothing read");
        std::thread::sleep(Duration::from_millis(2));
    }
    put(second);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    let got: BTreeSet<usize> = id_counts(&out)
        .keys()
        .map(|id| id.trim_start_matches("id-").parse().expect("id"))
        .collect();
    let first_ids: BTreeSet<usize> = (0..60_000).collect();
    let second_ids: BTreeSet<usize> = (100_000..160_000).collect();
    assert!(
        got == first_ids || got == second_ids,
        "a mix of versions: {} records, first {:?}, last {:?}",
        got.len(),
        got.first(),
        got.last()
    );
}

#[test]
fn slowdown_answers_halve_the_fetch_limit_and_nothing_is_lost() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("20000");
    let rt = runtime();
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
    });
    // S3 under load: the first 40 GETs of log files are answered 503 SlowDown.
    let proxy = common::slowdown_proxy::SlowDownProxy::start(&moto.endpoint, 40);
    let mut args = vec![
        "replay",
        "s3://trail",
        "--endpoint-url",
        &proxy.endpoint,
        "--path-style",
        "--no-dedupe",
        "-q",
    ];
    args.extend(["--fetch-concurrency", "64"]);
    let out = trailhose_aws(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        proxy.served.load(std::sync::atomic::Ordering::SeqCst),
        40,
        "the proxy throttled"
    );
    // Every throttled GET was retried: the same records as from disk.
    let expected = replay_local(&[archive.path().join("AWSLogs")]);
    assert_eq!(lines(&out.stdout), lines(&expected));
    // And the run backed off, saying so.
    let warning = err
        .lines()
        .find(|l| l.contains("S3 answered 503 SlowDown: fetching at most"))
        .unwrap_or_else(|| panic!("no back-off warning: {err}"));
    let now: usize = warning
        .split("at most ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a number");
    assert!(now < 64, "{warning}");
}
