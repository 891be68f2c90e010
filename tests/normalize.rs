//! The `ecs` and `ocsf` formats end to end: golden outputs over real samples and a `gen`
//! archive, type stability across thousands of events, every ECS field checked against the ECS
//! reference, OCSF validated against the OCSF 1.1.0 definitions by a schema compiler and
//! validator from PyPI, the blob cap, per-sink formats.
//!
//! Golden files live in tests/golden/. After a deliberate mapping change, rewrite them with
//! `TRAILHOSE_UPDATE_GOLDEN=1 cargo test --test normalize`, and read the diff.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// The first lines of every real sample folder's records: each envelope's publisher, each
/// kind of identity, console logins, IAM changes, failures.
const REAL_PER_FOLDER: usize = 15;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// An NDJSON file of real records: the first `per_folder` of each sample folder.
fn real_input(dir: &Path, per_folder: usize) -> PathBuf {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(cloudtrail_samples())
        .expect("samples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("_extracted-events.ndjson").is_file())
        .collect();
    folders.sort();
    let mut text = String::new();
    for f in folders {
        let all = std::fs::read_to_string(f.join("_extracted-events.ndjson")).expect("read");
        for line in all.lines().take(per_folder) {
            text.push_str(line);
            text.push('\n');
        }
    }
    let path = dir.join("real.ndjson");
    std::fs::write(&path, text).expect("write");
    path
}

/// The records written for shapes the samples lack (Insights events, rarer identities).
fn shape_files() -> [PathBuf; 2] {
    let dir = shared_data().join("shapes");
    [dir.join("insights.ndjson"), dir.join("identities.ndjson")]
}

/// A small `gen` archive with its GeoIP fixtures.
fn gen_with_geoip(events: &str, seed: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = trailhose(
        &[
            "gen",
            "--events",
            events,
            "--seed",
            seed,
            "--out",
            dir.path().to_str().expect("path"),
            "--geoip-fixtures",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "gen: {}", stderr(&out));
    dir
}

/// Replays `input` in `format`, enriched, on one worker (a fixed output order).
fn replay(input: &Path, format: &str, geoip: Option<&Path>, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "replay",
        input.to_str().expect("path"),
        "--format",
        format,
        "--enrich",
        "--no-dedupe",
        "--workers",
        "1",
        "-q",
    ];
    let (city, asn);
    if let Some(g) = geoip {
        city = g.join("city.mmdb");
        asn = g.join("asn.mmdb");
        args.extend([
            "--geoip-city",
            city.to_str().expect("path"),
            "--geoip-asn",
            asn.to_str().expect("path"),
        ]);
    }
    args.extend(extra);
    let out = trailhose(&args, None);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    out.stdout
}

/// Compares output with a checked-in golden file, event by event, naming the first field that
/// differs.
fn check_golden(name: &str, output: &[u8]) {
    let path = golden_dir().join(name);
    if std::env::var_os("TRAILHOSE_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("golden dir");
        std::fs::write(&path, output).expect("write golden");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with TRAILHOSE_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    let (got, want) = (json_lines(output), json_lines(&expected));
    assert_eq!(got.len(), want.len(), "{name}: event count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if g != w {
            let (mut gl, mut wl) = (BTreeMap::new(), BTreeMap::new());
            leaves("", g, &mut gl);
            leaves("", w, &mut wl);
            let keys: BTreeSet<&String> = gl.keys().chain(wl.keys()).collect();
            let first = keys
                .into_iter()
                .find(|k| gl.get(*k) != wl.get(*k))
                .cloned()
                .unwrap_or_default();
            panic!(
                "{name}: event {i} differs at {first}: got {:?}, golden {:?}",
                gl.get(&first),
                wl.get(&first)
            );
        }
    }
    // Byte for byte too: the same input must give the same bytes (member order included).
    assert_eq!(
        output,
        &expected[..],
        "{name}: same values, different bytes"
    );
}

/// Every leaf of `v` by its dotted path (array elements under `path[]`).
fn leaves(path: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(&p, x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(&format!("{path}[{i}]"), x, out);
            }
        }
        _ => {
            out.insert(path.to_string(), v.clone());
        }
    }
}

#[test]
fn golden_ecs_and_ocsf_of_real_samples() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = real_input(tmp.path(), REAL_PER_FOLDER);
    for format in ["ecs", "ocsf"] {
        let out = replay(&input, format, None, &[]);
        check_golden(&format!("real-samples.{format}.ndjson"), &out);
    }
}

#[test]
fn golden_ecs_and_ocsf_of_a_gen_archive() {
    let archive = gen_with_geoip("120", "4");
    let logs = archive.path().join("AWSLogs");
    let geoip = archive.path().join("geoip");
    for format in ["ecs", "ocsf"] {
        let out = replay(&logs, format, Some(&geoip), &[]);
        check_golden(&format!("gen-120-seed-4.{format}.ndjson"), &out);
    }
}

/// The JSON type of each leaf path, array elements under `path[]`.
fn types(path: &str, v: &Value, out: &mut BTreeMap<String, BTreeSet<&'static str>>) {
    let t = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(a) => {
            for x in a {
                types(&format!("{path}[]"), x, out);
            }
            "array"
        }
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                types(&p, x, out);
            }
            "object"
        }
    };
    out.entry(path.to_string()).or_default().insert(t);
}

/// Leaf paths with more than one JSON type (integers count as numbers).
fn unstable(events: &[Value]) -> Vec<String> {
    let mut seen = BTreeMap::new();
    for e in events {
        types("", e, &mut seen);
    }
    seen.into_iter()
        .filter_map(|(path, mut ts)| {
            if ts.contains("number") {
                ts.remove("integer");
            }
            (ts.len() > 1 || ts.contains("null")).then(|| format!("{path}: {ts:?}"))
        })
        .collect()
}

#[test]
fn every_field_keeps_one_type_across_thousands_of_events() {
    let archive = gen_with_geoip("4000", "11");
    let geoip = archive.path().join("geoip");
    let logs = archive.path().join("AWSLogs");
    let real = cloudtrail_samples().join("real-events.ndjson");
    for format in ["ecs", "ocsf"] {
        let mut events = json_lines(&replay(&logs, format, Some(&geoip), &[]));
        assert!(events.len() >= 4000, "{format}: {} events", events.len());
        // Real records bring shapes gen does not write: string `responseElements`, odd times.
        events.extend(json_lines(&replay(&real, format, None, &[])));
        for shape in shape_files() {
            events.extend(json_lines(&replay(&shape, format, None, &[])));
        }
        let bad = unstable(&events);
        assert!(
            bad.is_empty(),
            "{format}: fields with several types:\n{}",
            bad.join("\n")
        );
    }
}

/// The ECS field reference: field name -> ECS type.
fn ecs_reference() -> BTreeMap<String, String> {
    let csv = std::fs::read_to_string(shared_data().join("ecs/fields.csv")).expect("fields.csv");
    let mut fields = BTreeMap::new();
    for line in csv.lines().skip(1) {
        // ECS_Version,Indexed,Field_Set,Field,Type,...: the first five never hold commas.
        let cols: Vec<&str> = line.splitn(6, ',').collect();
        if cols.len() >= 5 {
            fields.insert(cols[3].to_string(), cols[4].to_string());
        }
    }
    fields
}

/// Whether a JSON value fits an ECS field type.
fn fits(ecs_type: &str, v: &Value) -> bool {
    match ecs_type {
        "keyword" | "wildcard" | "constant_keyword" | "match_only_text" | "text" => v.is_string(),
        "ip" => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "date" => v.as_str().is_some_and(|s| {
            s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' && s.ends_with('Z')
        }),
        "long" | "integer" | "short" | "byte" => v.is_i64() || v.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "geo_point" => v["lat"].is_number() && v["lon"].is_number(),
        "object" | "flattened" | "nested" => v.is_object(),
        _ => false,
    }
}

/// Checks every field of an ECS document: ECS fields by the reference, the rest only under
/// `aws.*` and `trailhose.*`.
fn check_ecs_fields(
    path: &str,
    v: &Value,
    reference: &BTreeMap<String, String>,
    problems: &mut BTreeSet<String>,
) {
    if path.starts_with("aws.") || path.starts_with("trailhose.") {
        return;
    }
    if let Some(t) = reference.get(path) {
        let ok = match v {
            Value::Array(a) => a.iter().all(|x| fits(t, x)),
            x => fits(t, x),
        };
        if !ok {
            problems.insert(format!("{path}: {v} is not an ECS {t}"));
        }
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                check_ecs_fields(&p, x, reference, problems);
            }
        }
        _ => {
            problems.insert(format!("{path}: not an ECS field"));
        }
    }
}

#[test]
fn every_ecs_field_is_in_the_ecs_reference_with_its_type() {
    let reference = ecs_reference();
    assert!(
        reference.len() > 1000,
        "fields.csv has {} fields",
        reference.len()
    );
    let archive = gen_with_geoip("1500", "12");
    let mut events = json_lines(&replay(
        &archive.path().join("AWSLogs"),
        "ecs",
        Some(&archive.path().join("geoip")),
        &["--keep-original", "always"],
    ));
    events.extend(json_lines(&replay(
        &cloudtrail_samples().join("real-events.ndjson"),
        "ecs",
        None,
        &[],
    )));
    // Insights events and the rarer identities (anonymous, Identity Center, Directory).
    for shape in shape_files() {
        events.extend(json_lines(&replay(&shape, "ecs", None, &[])));
    }
    let mut problems = BTreeSet::new();
    let mut covered = BTreeSet::new();
    for e in &events {
        check_ecs_fields("", e, &reference, &mut problems);
        let mut l = BTreeMap::new();
        leaves("", e, &mut l);
        covered.extend(
            l.into_keys()
                .map(|k| k.split('[').next().unwrap_or("").to_string()),
        );
    }
    assert!(
        problems.is_empty(),
        "{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
    // The check saw the fields that matter (it would pass vacuously on empty output).
    for f in [
        "@timestamp",
        "event.action",
        "event.outcome",
        "event.category",
        "event.original",
        "source.ip",
        "source.geo.location.lat",
        "source.as.number",
        "user.name",
        "user.effective.id",
        "user.target.name",
        "user_agent.name",
        "user_agent.os.name",
        "related.user",
        "related.ip",
        "cloud.account.id",
        "tls.version",
        "aws.cloudtrail.request_parameters",
    ] {
        assert!(covered.contains(f), "no event had {f}");
    }
}

/// A Python that has the OCSF compiler, the JSON Schema generator and jsonschema:
/// `TRAILHOSE_OCSF_PYTHON` (.ci/run sets it), else `python3` if it has them.
fn ocsf_python() -> Option<String> {
    let candidates = std::env::var("TRAILHOSE_OCSF_PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_string()]);
    for py in candidates {
        let ok = Command::new(&py)
            .args(["-c", "import ocsf.compile, ocsf_json_schema, jsonschema"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py);
        }
    }
    None
}

#[test]
fn ocsf_output_validates_against_the_ocsf_1_1_0_schema() {
    let Some(python) = ocsf_python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install the OCSF validator (see .ci/run)"
        );
        eprintln!("skipped: no Python with ocsf-lib, ocsf-json-schema and jsonschema; see .ci/run");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = gen_with_geoip("2000", "13");
    let mut files = Vec::new();
    let shapes = shape_files();
    let runs: [(&Path, Option<PathBuf>); 4] = [
        (
            &archive.path().join("AWSLogs"),
            Some(archive.path().join("geoip")),
        ),
        (&cloudtrail_samples().join("real-events.ndjson"), None),
        (&shapes[0], None),
        (&shapes[1], None),
    ];
    for (i, (input, geoip)) in runs.iter().enumerate() {
        let out = replay(
            input,
            "ocsf",
            geoip.as_deref(),
            &["--keep-original", "always"],
        );
        let path = tmp.path().join(format!("{i}.ocsf.ndjson"));
        std::fs::write(&path, out).expect("write");
        files.push(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf/validate.py");
    let schema = shared_data().join("ocsf-schema-1.1.0");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&schema)
        .args(&files)
        .output()
        .expect("run the validator");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "OCSF validation failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // All four classes were checked.
    for class in ["2004:", "3001:", "3002:", "6003:"] {
        assert!(report.contains(class), "no {class} event checked: {report}");
    }
}

#[test]
fn the_validator_rejects_what_ocsf_does_not_allow() {
    let Some(python) = ocsf_python() else {
        eprintln!("skipped: no OCSF validator here");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = real_input(tmp.path(), 2);
    let good = json_lines(&replay(&input, "ocsf", None, &[]));
    let mut bad = String::new();
    // Each of these breaks one rule the validator must catch.
    let breakers: [fn(&mut Value); 4] = [
        |e| e["class_uid"] = 6004.into(),   // type_uid no longer fits
        |e| e["activity_id"] = 7.into(),    // not in the enum
        |e| e["time"] = "yesterday".into(), // wrong type
        |e| {
            e.as_object_mut().map_or((), |m| {
                m.remove("metadata");
            })
        }, // required
    ];
    for b in breakers {
        let mut e = good[0].clone();
        b(&mut e);
        bad.push_str(&e.to_string());
        bad.push('\n');
    }
    let path = tmp.path().join("bad.ndjson");
    std::fs::write(&path, bad).expect("write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf/validate.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(shared_data().join("ocsf-schema-1.1.0"))
        .arg(&path)
        .output()
        .expect("run the validator");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("invalid 4"), "{report}");
}

/// A CloudTrail record with `requestParameters` of about `bytes` bytes.
fn big_request_record(bytes: usize) -> String {
    let policy = "é".repeat(bytes / 2);
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","principalId":"AIDAX","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333","userName":"bob"}},"eventTime":"2026-01-05T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.7","userAgent":"aws-cli/2.15.0","requestParameters":{{"roleName":"r","policyDocument":"{policy}"}},"responseElements":null,"requestID":"req-1","eventID":"ev-big-1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}}"#
    )
}

/// A record over the tape limit (256 KiB) has no tape from the parser: the normalized formats
/// build their own, with simd-json, and its numbers must be serde_json's. simd-json misreads a
/// float of 40 digits whose first digit sits at byte 80 of what it parses (see
/// `decode::numbers`): here that is the record's own bytes, and the float is the first of its
/// `requestParameters`, so the string ECS and OCSF make of them starts with it.
#[test]
fn a_large_record_s_own_tape_gets_the_numbers_right() {
    let digits = format!("{}e0", "3".repeat(40));
    let head = format!(
        r#"{{"requestParameters":{{"pad":"{}","n":"#,
        "p".repeat(80 - r#"{"requestParameters":{"pad":"","n":"#.len())
    );
    assert_eq!(head.len(), 80);
    let rest = big_request_record(300_000);
    let rest = rest.strip_prefix(r#"{"eventVersion""#).expect("a record");
    let record = format!(r#"{head}{digits}}},"eventVersion"{rest}"#);
    let record = record.replacen(
        r#""requestParameters":{"roleName""#,
        r#""x":{"roleName""#,
        1,
    );
    assert!(record.len() > 256 * 1024);
    let right: f64 = digits.parse().expect("a float");
    // The fault is still in simd-json: without it this test shows nothing.
    let mut copy = record.clone().into_bytes();
    let tape = simd_json::to_tape(&mut copy).expect("simd-json takes it");
    let simd = tape.0.iter().find_map(|n| match n {
        simd_json::Node::Static(simd_json::StaticNode::F64(f)) => Some(*f),
        _ => None,
    });
    assert_ne!(
        simd,
        Some(right),
        "simd-json reads it right now: this test no longer shows the fault"
    );
    for (format, field) in [
        ("ecs", "/aws/cloudtrail/request_parameters"),
        ("ocsf", "/api/request/data"),
    ] {
        let out = trailhose(
            &["replay", "--format", format, "-q"],
            Some(record.as_bytes()),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let events = json_lines(&out.stdout);
        assert_eq!(events.len(), 1, "{format}");
        let text = events[0]
            .pointer(field)
            .and_then(Value::as_str)
            .expect("the request as text");
        let number = text
            .strip_prefix(r#"{"pad":""#)
            .and_then(|t| t.split_once(r#"","n":"#))
            .and_then(|(_, t)| t.split_once('}'))
            .map(|(n, _)| n)
            .expect("the number first");
        assert_eq!(number.parse::<f64>(), Ok(right), "{format}: {number}");
    }
}

#[test]
fn blobs_are_capped_flagged_and_the_original_kept_when_asked() {
    // 300 KB: over the 256 KiB tape limit too, so the no-tape path is normalized as well.
    for size in [40_000, 300_000] {
        let record = big_request_record(size);
        let out = trailhose(
            &[
                "replay",
                "--format",
                "ecs",
                "--keep-original",
                "truncated",
                "-q",
            ],
            Some(record.as_bytes()),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let events = json_lines(&out.stdout);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        let req = e["aws"]["cloudtrail"]["request_parameters"]
            .as_str()
            .expect("string");
        assert!(req.len() <= 32766 && req.len() > 32000, "{}", req.len());
        assert!(
            req.starts_with(r#"{"roleName":"r","policyDocument":"éé"#),
            "{}",
            &req[..60]
        );
        assert_eq!(
            e["trailhose"]["truncated"],
            serde_json::json!(["aws.cloudtrail.request_parameters"])
        );
        let original: Value =
            serde_json::from_str(e["event"]["original"].as_str().expect("original")).expect("json");
        assert_eq!(
            original,
            serde_json::from_str::<Value>(&record).expect("json")
        );
        assert_eq!(e["event"]["id"], "ev-big-1");

        // OCSF, with a cap given: the same rules.
        let out = trailhose(
            &[
                "replay",
                "--format",
                "ocsf",
                "--max-field-bytes",
                "1000",
                "-q",
            ],
            Some(record.as_bytes()),
        );
        let e = &json_lines(&out.stdout)[0];
        let data = e["api"]["request"]["data"].as_str().expect("string");
        assert!(data.len() <= 1000 && data.len() > 990, "{}", data.len());
        assert_eq!(
            e["unmapped"]["trailhose"]["truncated"],
            serde_json::json!(["api.request.data"])
        );
        assert!(e.get("raw_data").is_none(), "kept without being asked");
    }
    // Under the cap, nothing is flagged and no original rides along.
    let out = trailhose(
        &[
            "replay",
            "--format",
            "ecs",
            "--keep-original",
            "truncated",
            "-q",
        ],
        Some(big_request_record(1000).as_bytes()),
    );
    let e = &json_lines(&out.stdout)[0];
    assert!(
        e["trailhose"].get("truncated").is_none(),
        "{}",
        e["trailhose"]
    );
    assert!(e["event"].get("original").is_none());
    let bad = trailhose(
        &["replay", "--format", "ecs", "--max-field-bytes", "10"],
        Some(b""),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--max-field-bytes"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn each_sink_gets_its_own_format_in_one_run() {
    let archive = gen_archive("600");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (raw, ecs, ocsf) = (
        tmp.path().join("raw.ndjson"),
        tmp.path().join("ecs.ndjson"),
        tmp.path().join("ocsf.ndjson"),
    );
    let config = format!(
        "[source]\ntype = \"dir\"\npaths = [\"{}\"]\n\
         [[sink]]\ntype = \"ndjson\"\npath = \"{}\"\n\
         [[sink]]\ntype = \"ndjson\"\npath = \"{}\"\nformat = \"ecs\"\n\
         [[sink]]\ntype = \"ndjson\"\npath = \"{}\"\nformat = \"ocsf\"\n",
        archive.path().join("AWSLogs").display(),
        raw.display(),
        ecs.display(),
        ocsf.display()
    );
    let config_path = tmp.path().join("p.toml");
    std::fs::write(&config_path, config).expect("write");
    let out = trailhose(&["run", config_path.to_str().expect("path"), "-q"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ids = |events: Vec<Value>, pointer: &str| -> BTreeSet<String> {
        events
            .iter()
            .map(|e| {
                e.pointer(pointer)
                    .and_then(Value::as_str)
                    .expect("id")
                    .to_string()
            })
            .collect()
    };
    let raw_ids = ids(read_ndjson(&raw), "/eventID");
    assert_eq!(raw_ids.len(), 600);
    assert_eq!(ids(read_ndjson(&ecs), "/event/id"), raw_ids);
    assert_eq!(ids(read_ndjson(&ocsf), "/metadata/uid"), raw_ids);
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[source]\ntype = \"stdin\"\n[[sink]]\ntype = \"ndjson\"\nformat = \"elastic\"\n",
    )
    .expect("write");
    let out = trailhose(&["validate", bad.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert!(msg.contains("format") && msg.contains("ecs"), "{msg}");
}

#[test]
fn strings_are_escaped_whatever_the_record_holds() {
    // A record with escapes takes the checked path, one without the fast path: both give
    // valid JSON with the same strings. A raw control character is never output: the parser
    // rejects it (the fast path relies on that).
    let escaped = r#"{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventTime":"2026-01-05T00:00:00Z","eventID":"e1","userAgent":"a\"b\\c\u0001","requestParameters":{"userName":"q\"uote\n"}}"#;
    let plain = r#"{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventTime":"2026-01-05T00:00:00Z","eventID":"e2","userAgent":"plain agent","requestParameters":{"userName":"bob"}}"#;
    for format in ["ecs", "ocsf"] {
        let input = format!("{escaped}\n{plain}\n");
        let out = trailhose(
            &["replay", "--format", format, "--no-dedupe", "-q"],
            Some(input.as_bytes()),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let events = json_lines(&out.stdout);
        assert_eq!(events.len(), 2);
        let ua = |e: &Value| {
            e.pointer("/user_agent/original")
                .or_else(|| e.pointer("/http_request/user_agent"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        assert_eq!(ua(&events[0]).as_deref(), Some("a\"b\\c\u{1}"));
        assert_eq!(ua(&events[1]).as_deref(), Some("plain agent"));
        let blob = events[0]
            .pointer("/aws/cloudtrail/request_parameters")
            .or_else(|| events[0].pointer("/api/request/data"))
            .and_then(Value::as_str)
            .expect("blob");
        let inner: Value = serde_json::from_str(blob).expect("blob is JSON");
        assert_eq!(inner["userName"], "q\"uote\n");
    }
    let raw_control = "{\"eventVersion\":\"1.08\",\"eventSource\":\"s\",\"eventName\":\"a\u{1}b\",\"eventTime\":\"2026-01-05T00:00:00Z\",\"eventID\":\"x\"}\n";
    let out = trailhose(
        &["replay", "--format", "ecs", "-q"],
        Some(raw_control.as_bytes()),
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr(&out).contains("invalid_json"), "{}", stderr(&out));
}
