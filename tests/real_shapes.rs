//! Real-world shapes that once lost records silently or mislabelled them, each end to end
//! through the binary: gzip files of several members read from a path, byte order marks and
//! CRLF line ends, CloudTrail Insights events (replayed and mapped), `sharedEventID`,
//! anonymous and other non-root callers, IAM Identity Center sign-ins, user agents, resources
//! spelled `arn`, directory trees with hidden and empty files, and a panicking worker.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn shapes(name: &str) -> PathBuf {
    shared_data().join("shapes").join(name)
}

fn shape_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(shapes(name))
        .expect("shapes")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Replays `args` (plus `-q --no-dedupe`); asserts exit 0 and no error; gives the output lines.
fn replay_ok(args: &[&str], stdin: Option<&[u8]>) -> Vec<Value> {
    let mut all = vec!["replay", "-q", "--no-dedupe"];
    all.extend(args);
    let out = trailhose(&all, stdin);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    assert!(
        !stderr(&out).contains("error"),
        "{args:?}: {}",
        stderr(&out)
    );
    json_lines(&out.stdout)
}

fn ids(lines: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = lines
        .iter()
        .map(|v| v["eventID"].as_str().expect("eventID").to_string())
        .collect();
    ids.sort();
    ids
}

/// Writes each `(name, bytes, records)` into `dir` and checks that replaying it as a file and
/// on stdin gives exactly `records` records, cleanly.
fn replays_whole_as_file_and_on_stdin(dir: &Path, cases: &[(&str, &[u8], usize)]) {
    for &(name, bytes, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        let p = path.to_str().expect("path");
        assert_eq!(replay_ok(&[p], None).len(), want, "{name} as a file");
        assert_eq!(
            replay_ok(&["-"], Some(bytes)).len(),
            want,
            "{name} on stdin"
        );
    }
}

/// A deterministic record with about 1 KB of incompressible text, so a few thousand of them
/// make a gzip file over the size read whole (4 MiB).
fn noisy_record(i: usize, seed: &mut u64) -> String {
    let mut pad = String::with_capacity(1024);
    for _ in 0..128 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        pad.push_str(&format!("{:08x}", *seed as u32));
    }
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-01-05T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"big-{i}","requestParameters":{{"key":"{pad}"}}}}"#
    )
}

#[test]
fn every_gzip_member_is_read_from_a_path_whatever_its_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = gzip(trail_file(&[record(1), record(2)]).as_bytes());
    // A file joined to itself: the last member's size trailer equals the first member's, the
    // case a one-piece inflate took for the whole file (2 of 4 records came out).
    let mut twice = small.clone();
    twice.extend_from_slice(&small);
    // Two different members, and three.
    let mut pair = small.clone();
    pair.extend(gzip(trail_file(&[record(3)]).as_bytes()));
    pair.extend(gzip(format!("{}\n{}\n", record(4), record(5)).as_bytes()));
    // Over the size read whole (4 MiB compressed): the streaming path.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let big: Vec<String> = (0..9000).map(|i| noisy_record(i, &mut seed)).collect();
    let big_member = gzip(trail_file(&big).as_bytes());
    assert!(big_member.len() > 4 * 1024 * 1024, "{}", big_member.len());
    let mut big_twice = big_member.clone();
    big_twice.extend_from_slice(&big_member);

    replays_whole_as_file_and_on_stdin(
        dir.path(),
        &[
            ("twice.json.gz", &twice, 4),
            ("three.json.gz", &pair, 5),
            ("big-twice.json.gz", &big_twice, 18000),
        ],
    );
    // And in a directory walk, all at once.
    let all = replay_ok(&[dir.path().to_str().expect("path")], None);
    assert_eq!(all.len(), 4 + 5 + 18000);
}

#[test]
fn byte_order_marks_and_crlf_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    const BOM: &str = "\u{feff}";
    let ndjson = format!("{BOM}{}\r\n{}\r\n{}\r\n", record(1), record(2), record(3));
    let trail = format!("{BOM}{}", trail_file(&[record(4), record(5)]));
    // Two files written by a Windows tool and joined with `cat`: a mark in the middle too.
    let joined = format!("{ndjson}{BOM}{}\r\n", record(6));
    replays_whole_as_file_and_on_stdin(
        dir.path(),
        &[
            ("a.ndjson", ndjson.as_bytes(), 3),
            ("b.json", trail.as_bytes(), 2),
            ("c.json.gz", &gzip(trail.as_bytes()), 2),
            ("d.ndjson", joined.as_bytes(), 4),
        ],
    );
    // The first record is the BOM's neighbour: it must be there, byte for byte.
    let got = replay_ok(&[dir.path().join("a.ndjson").to_str().unwrap()], None);
    assert_eq!(got[0]["eventID"], "id-1");
}

/// Writes `records` as one trail file at `rel` under `root`.
fn write_trail(root: &Path, rel: &str, records: &[String]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, gzip(trail_file(records).as_bytes())).expect("write");
}

const INSIGHT_FILE: &str = "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/03/02/111122223333_CloudTrail-Insight_us-east-1_20260302T1410Z_a1b2c3.json.gz";

#[test]
fn insights_events_are_replayed_and_mapped() {
    let root = tempfile::tempdir().expect("tempdir");
    let insights = shape_lines("insights.ndjson");
    write_trail(root.path(), INSIGHT_FILE, &insights);
    write_trail(
        root.path(),
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/02/111122223333_CloudTrail_us-east-1_20260302T1405Z_d4e5f6.json.gz",
        &[record(1)],
    );
    let tree = root.path().to_str().expect("path");
    // Raw: byte for byte, with the API events beside them.
    let raw = replay_ok(&[tree], None);
    assert_eq!(raw.len(), 4);
    let want: Vec<Value> = insights
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for w in &want {
        assert!(raw.contains(w), "missing {w}");
    }

    // ECS as Elastic maps them, plus api/start|end from the insight's state.
    let ecs = replay_ok(&[tree, "--format", "ecs"], None);
    let start = ecs
        .iter()
        .find(|e| e["event"]["id"] == "4a6f3d1e-2b7c-4d8e-9f01-23456789abcd")
        .expect("start");
    assert_eq!(start["event"]["kind"], "event");
    assert_eq!(start["event"]["category"], serde_json::json!(["api"]));
    assert_eq!(start["event"]["type"], serde_json::json!(["start"]));
    assert_eq!(start["event"]["outcome"], "success");
    assert!(
        start["event"]["action"].is_null(),
        "an insight is not a call"
    );
    assert_eq!(start["@timestamp"], "2026-03-02T14:05:00Z");
    let ct = &start["aws"]["cloudtrail"];
    assert_eq!(ct["event_type"], "AwsCloudTrailInsight");
    assert_eq!(ct["event_category"], "Insight");
    assert_eq!(
        ct["shared_event_id"],
        "9c2e7b10-5d4f-4a3b-8c6d-0e1f2a3b4c5d"
    );
    let details: Value =
        serde_json::from_str(ct["insight_details"].as_str().expect("a JSON string")).unwrap();
    assert_eq!(details, want[0]["insightDetails"]);
    assert!(start["trailhose"]["unmapped"].is_null(), "{start}");
    let end = ecs
        .iter()
        .find(|e| e["event"]["id"] == "5b7a4e2f-3c8d-4e9f-a012-3456789abcde")
        .expect("end");
    assert_eq!(end["event"]["type"], serde_json::json!(["end"]));

    // OCSF: a Detection Finding; start and end are one finding (the shared id).
    let ocsf = replay_ok(&[tree, "--format", "ocsf"], None);
    let findings: Vec<&Value> = ocsf.iter().filter(|e| e["class_uid"] == 2004).collect();
    assert_eq!(findings.len(), 3);
    let f = findings
        .iter()
        .find(|e| e["metadata"]["uid"] == "4a6f3d1e-2b7c-4d8e-9f01-23456789abcd")
        .expect("start finding");
    assert_eq!(f["category_uid"], 2);
    assert_eq!(
        (f["activity_id"].as_u64(), f["type_uid"].as_u64()),
        (Some(1), Some(200401))
    );
    assert_eq!(
        f["finding_info"]["uid"],
        "9c2e7b10-5d4f-4a3b-8c6d-0e1f2a3b4c5d"
    );
    assert_eq!(
        f["finding_info"]["title"],
        "ApiCallRateInsight on ec2.amazonaws.com RunInstances"
    );
    assert_eq!(f["finding_info"]["analytic"]["type_id"], 3);
    assert_eq!(f["evidences"][0]["api"]["operation"], "RunInstances");
    assert_eq!(f["time"], 1_772_460_300_000i64);
    let details: Value =
        serde_json::from_str(f["unmapped"]["insightDetails"].as_str().expect("string")).unwrap();
    assert_eq!(details, want[0]["insightDetails"]);
    let close = findings
        .iter()
        .find(|e| e["metadata"]["uid"] == "5b7a4e2f-3c8d-4e9f-a012-3456789abcde")
        .expect("end finding");
    assert_eq!(close["activity_id"], 3);
    assert_eq!(close["finding_info"]["uid"], f["finding_info"]["uid"]);
}

/// One line of `identities.ndjson` by event name, written in `format` with enrichment.
fn identity_docs(format: &str) -> Vec<Value> {
    let path = shapes("identities.ndjson");
    replay_ok(
        &[path.to_str().expect("path"), "--format", format, "--enrich"],
        None,
    )
}

fn by_name<'a>(docs: &'a [Value], pointer: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d.pointer(pointer).and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no {name} at {pointer}"))
}

#[test]
fn shared_event_id_is_read_as_cloudtrail_spells_it() {
    let ecs = identity_docs("ecs");
    let d = by_name(&ecs, "/event/action", "GetBucketAcl");
    assert_eq!(
        d["aws"]["cloudtrail"]["shared_event_id"],
        "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
    );
    assert!(d["trailhose"]["unmapped"].is_null(), "{}", d["trailhose"]);
    let ocsf = identity_docs("ocsf");
    let d = by_name(&ocsf, "/api/operation", "GetBucketAcl");
    assert_eq!(
        d["unmapped"]["sharedEventID"],
        "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
    );
    assert!(
        d["unmapped"]["trailhose"]["other"].is_null(),
        "{}",
        d["unmapped"]
    );
}

#[test]
fn anonymous_and_other_callers_are_never_root() {
    let path = shapes("identities.ndjson");
    let raw = replay_ok(&[path.to_str().expect("path"), "--enrich"], None);
    let actor = |name: &str| by_name(&raw, "/eventName", name)["enrichment"]["actor"].clone();
    let anon = actor("GetObject");
    assert_eq!(anon["principal_type"], "Anonymous");
    assert!(anon["principal"].is_null(), "{anon}");
    let other = actor("PutObject");
    assert_eq!(other["principal_type"], "AWSAccount");
    assert_eq!(other["principal"], "AIDACKCEVSQ6C2EXAMPLE");
    let sso = actor("ListAccountAssignments");
    assert_eq!(sso["principal_type"], "IdentityCenterUser");
    assert_eq!(sso["principal"], "544894e8-80c1-707f-60e3-3ba6510dfac1");
    let dir = actor("CreateFolder");
    assert_eq!(dir["principal_type"], "Directory");
    assert_eq!(dir["principal"], "CORP\\jsmith");
    // Nothing in this file was done by a root user: no output may say so.
    for line in &raw {
        let p = line["enrichment"]["actor"]["principal"]
            .as_str()
            .unwrap_or("");
        assert!(!p.ends_with(":root"), "{line}");
    }

    let ecs = identity_docs("ecs");
    for d in &ecs {
        let related = d["related"]["user"].as_array().cloned().unwrap_or_default();
        assert!(!related.contains(&Value::from("root")), "{d}");
        assert_ne!(d["user"]["effective"]["name"], "root", "{d}");
        assert_ne!(d["cloud"]["account"]["id"], "ANONYMOUS_PRINCIPAL", "{d}");
    }
    let anon = by_name(&ecs, "/event/action", "GetObject");
    assert!(anon["user"]["effective"].is_null(), "{anon}");
    assert_eq!(anon["cloud"]["account"]["id"], "111122223333");

    let ocsf = identity_docs("ocsf");
    let anon = by_name(&ocsf, "/api/operation", "GetObject");
    let user = &anon["actor"]["user"];
    assert_eq!(user["type"], "Anonymous");
    assert_eq!(user["name"], "anonymous");
    assert!(user["account"].is_null(), "{user}");
    assert_eq!(anon["unmapped"]["userIdentity"]["type"], "AWSAccount");
    let sso = by_name(&ocsf, "/api/operation", "ListAccountAssignments");
    assert_eq!(
        sso["actor"]["user"]["uid"],
        "544894e8-80c1-707f-60e3-3ba6510dfac1"
    );
}

#[test]
fn people_signing_in_are_not_noise() {
    let path = shapes("identities.ndjson");
    let p = path.to_str().expect("path");
    let raw = replay_ok(&[p, "--enrich"], None);
    for name in ["CredentialChallenge", "UserAuthentication", "Federate"] {
        let noise = &by_name(&raw, "/eventName", name)["enrichment"]["noise"];
        assert_eq!(noise["aws_internal"], false, "{name}: {noise}");
    }
    // AWS on its own still is.
    let noise = &by_name(&raw, "/eventName", "SharedSnapshotVolumeCreated")["enrichment"]["noise"];
    assert_eq!(noise["aws_internal"], true);
    let kept = replay_ok(&[p, "--drop-noise"], None);
    let names: Vec<&str> = kept
        .iter()
        .filter_map(|v| v["eventName"].as_str())
        .collect();
    for name in ["CredentialChallenge", "UserAuthentication", "Federate"] {
        assert!(names.contains(&name), "{name} dropped: {names:?}");
    }
    assert!(!names.contains(&"SharedSnapshotVolumeCreated"), "{names:?}");

    let ecs = identity_docs("ecs");
    let d = by_name(&ecs, "/event/action", "UserAuthentication");
    assert_eq!(d["user"]["name"], "jane.doe");
    assert!(d["related"]["user"]
        .as_array()
        .is_some_and(|u| u.contains(&Value::from("jane.doe"))));

    let ocsf = identity_docs("ocsf");
    for (name, id, activity) in [
        (
            "UserAuthentication",
            "4d5e6f70-8192-4ba3-9def-012345678901",
            1,
        ),
        ("Federate", "5e6f7081-92a3-4cb4-8ef0-123456789012", 1),
        (
            "CredentialChallenge",
            "3c4d5e6f-7081-4a92-8cde-f01234567890",
            99,
        ),
    ] {
        let d = by_name(&ocsf, "/metadata/uid", id);
        assert_eq!(d["class_uid"], 3002, "{name}");
        assert_eq!(d["activity_id"], activity, "{name}");
    }
    let d = by_name(
        &ocsf,
        "/metadata/uid",
        "4d5e6f70-8192-4ba3-9def-012345678901",
    );
    assert_eq!(d["user"]["name"], "jane.doe");
    assert_eq!(d["actor"]["user"]["name"], "jane.doe");
    assert_eq!(
        d["dst_endpoint"]["svc_name"],
        "https://d-9067642ac7.awsapps.com/start/"
    );
}

#[test]
fn console_logins_and_created_users_carry_what_security_lake_maps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let login = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDACKCEVSQ6C2EXAMPLE","arn":"arn:aws:iam::111122223333:user/jane","accountId":"111122223333","userName":"jane"},"eventTime":"2026-03-02T09:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.50","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/120.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"Yes"},"eventID":"a0000000-0000-4000-8000-000000000001","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}"#;
    let create = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDACKCEVSQ6C2EXAMPLE","arn":"arn:aws:iam::111122223333:user/admin","accountId":"111122223333","userName":"admin"},"eventTime":"2026-03-02T09:01:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.50","userAgent":"aws-cli/2.15.0","requestParameters":{"userName":"bob"},"responseElements":{"user":{"path":"/","userName":"bob","userId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/bob","createDate":"Mar 2, 2026 9:01:00 AM"}},"eventID":"a0000000-0000-4000-8000-000000000002","eventType":"AwsApiCall","recipientAccountId":"111122223333"}"#;
    let path = dir.path().join("in.ndjson");
    std::fs::write(&path, format!("{login}\n{create}\n")).expect("write");
    let ocsf = replay_ok(&[path.to_str().unwrap(), "--format", "ocsf"], None);
    let l = &ocsf[0];
    assert_eq!(l["class_uid"], 3002);
    let actor = &l["actor"]["user"];
    assert_eq!(actor["uid"], "arn:aws:iam::111122223333:user/jane");
    assert_eq!(actor["uid_alt"], "AIDACKCEVSQ6C2EXAMPLE");
    assert_eq!(actor["name"], "jane");
    assert_eq!(actor["type"], "IAMUser");
    assert_eq!(actor["account"]["uid"], "111122223333");
    assert_eq!(
        l["dst_endpoint"]["svc_name"],
        "https://console.aws.amazon.com/console/home"
    );
    let c = &ocsf[1];
    assert_eq!(c["class_uid"], 3001);
    assert_eq!(c["user"]["name"], "bob");
    assert_eq!(c["user"]["uid_alt"], "AIDAJQABLZS4A3QDU576Q");
}

#[test]
fn user_agents_give_true_os_versions() {
    let ecs = identity_docs("ecs");
    let browser = by_name(&ecs, "/event/action", "UserAuthentication");
    assert_eq!(browser["user_agent"]["os"]["name"], "Mac OS X");
    assert_eq!(browser["user_agent"]["os"]["version"], "10.15.7");
    assert_eq!(browser["user_agent"]["os"]["full"], "Mac OS X 10.15.7");
    // `Darwin/23.6.0` is the kernel of macOS 14, not macOS 23.6.0.
    let cli = by_name(&ecs, "/event/action", "ListAccountAssignments");
    assert_eq!(cli["user_agent"]["os"]["version"], "14");
}

#[test]
fn resources_spelled_arn_are_mapped_and_odd_members_kept() {
    let ecs = identity_docs("ecs");
    let d = by_name(&ecs, "/event/action", "CreateTags");
    let arns: Vec<&str> = d["aws"]["cloudtrail"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["arn"].as_str())
        .collect();
    assert_eq!(
        arns,
        vec![
            "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0",
            "arn:aws:ec2:us-east-1:111122223333:volume/vol-0123"
        ]
    );
    // The member with a key no mapping knows ("tagged") reaches unmapped, whole.
    let unmapped: Value =
        serde_json::from_str(d["trailhose"]["unmapped"].as_str().expect("unmapped")).unwrap();
    assert_eq!(unmapped["resources"][1]["tagged"], "yes");
    let ocsf = identity_docs("ocsf");
    let d = by_name(&ocsf, "/api/operation", "CreateTags");
    let uids: Vec<&str> = d["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["uid"].as_str())
        .collect();
    assert!(uids.contains(&"arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0"));
    assert_eq!(d["resources"][0]["owner"]["account"]["uid"], "111122223333");
}

#[test]
fn directory_walks_skip_hidden_and_empty_files() {
    let root = tempfile::tempdir().expect("tempdir");
    let day = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05";
    write_trail(
        root.path(),
        &format!("{day}/111122223333_CloudTrail_us-east-1_20260105T0000Z_a.json.gz"),
        &[record(1)],
    );
    // What `aws s3 sync`, Finder, git and sync tools leave in real trees.
    for (rel, body) in [
        (
            format!("{day}/111122223333_CloudTrail_us-east-1_20260105T0005Z_b.json.gz"),
            &b""[..],
        ),
        (
            "AWSLogs/111122223333/CloudTrail/".to_string() + ".DS_Store",
            b"\x00\x00\x00\x01Bud1",
        ),
        (".git/HEAD".to_string(), b"ref: refs/heads/main\n"),
        ("AWSLogs/.sync-marker".to_string(), b"synced"),
        (
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/folder-marker".to_string(),
            b"",
        ),
    ] {
        let p = root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    write_trail(
        root.path(),
        &format!(".hidden/{day}/111122223333_CloudTrail_us-east-1_20260105T0010Z_c.json.gz"),
        &[record(2)],
    );
    let tree = root.path().to_str().expect("path");
    let out = trailhose(&["replay", "--no-dedupe", tree], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ids(&json_lines(&out.stdout)), vec!["id-1"]);
    assert!(
        stderr(&out).contains("6 files not read (hidden or empty)"),
        "{}",
        stderr(&out)
    );
    // --hidden reads hidden ones (the trail file among them; the junk is then bad input),
    // and still passes over empty ones.
    let out = trailhose(&["replay", "--no-dedupe", "--hidden", tree], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(ids(&json_lines(&out.stdout)), vec!["id-1", "id-2"]);
    assert!(stderr(&out).contains(".DS_Store"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 files not read"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_panicking_worker_fails_the_run_naming_its_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (good, bad) = (dir.path().join("good.json"), dir.path().join("bad.json"));
    std::fs::write(&good, trail_file(&[record(1)])).unwrap();
    std::fs::write(&bad, trail_file(&[record(2)])).unwrap();
    let out = std::process::Command::new(bin())
        .args(["replay", "-q", dir.path().to_str().unwrap()])
        .env("TRAILHOSE_DEBUG_PANIC_ON", "bad.json")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("internal error") && err.contains("bad.json"),
        "{err}"
    );
}

/// `text` as UTF-16 with its byte order mark, as PowerShell 5's `>` writes it.
fn utf16(text: &str, little: bool) -> Vec<u8> {
    let mut out = if little {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for u in text.encode_utf16() {
        out.extend_from_slice(&if little {
            u.to_le_bytes()
        } else {
            u.to_be_bytes()
        });
    }
    out
}

#[test]
fn utf16_files_from_windows_are_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ndjson = format!("{}\r\n{}\r\n", record(1), record(2));
    let trail = trail_file(&[record(3), record(4), record(5)]);
    replays_whole_as_file_and_on_stdin(
        dir.path(),
        &[
            ("le.ndjson", &utf16(&ndjson, true), 2),
            ("be.json", &utf16(&trail, false), 3),
            ("le.json.gz", &gzip(&utf16(&trail, true)), 3),
        ],
    );
    let got = replay_ok(&[dir.path().join("be.json").to_str().unwrap()], None);
    assert_eq!(got[0], serde_json::from_str::<Value>(&record(3)).unwrap());
}
