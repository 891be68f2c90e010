//! The hostile-input battery: one table of inputs a real archive, a careless tool or an
//! attacker can produce, each replayed between two valid files, with what must come of it:
//! the error kind (or none), its count in `trailhose_errors_total{kind}` (read from the
//! Prometheus recorder, in process), one dead-letter entry per error naming the input, and
//! every valid record around it delivered exactly once.
//!
//! The expectations were written from the formats' rules (RFC 8259 for JSON, RFC 1952 for
//! gzip, AWS's CloudTrail envelope), not from the output: where trailhose did otherwise, the
//! code was changed (an empty `Records` array is an empty log, not an error; a lone UTF-16
//! surrogate escape reads as U+FFFD rather than NUL or a refusal; a gzip bomb stops at
//! `pipeline.max_inflate_ratio`).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use common::*;
use serde_json::Value;
use trailhose::config::{PipelineBounds, PipelineConfig, SinkConfig, SourceConfig};
use trailhose::pipeline::RunOptions;
use trailhose::sink::ndjson::NdjsonSinkConfig;

/// What must come of one hostile input.
struct Case {
    name: &'static str,
    /// The input's file name (its extension does not matter to trailhose).
    file: &'static str,
    bytes: Vec<u8>,
    /// Errors by kind (empty: none).
    errors: &'static [(&'static str, usize)],
    delivered: Delivered,
}

/// The input's own records that must come out.
enum Delivered {
    /// Exactly these ids.
    Exactly(Vec<String>),
    /// A prefix of these ids (the rest lost with the damaged bytes), at least `min` long.
    PrefixOf(Vec<String>, usize),
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("id-{i}")).collect()
}

fn trail(range: std::ops::Range<usize>) -> String {
    trail_file(&range.map(record).collect::<Vec<_>>())
}

/// `record(i)` with `extra` (a `"key":value` member) added at its end.
fn record_with(i: usize, extra: &str) -> String {
    let r = record(i);
    format!("{},{extra}}}", &r[..r.len() - 1])
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// A gzip stream of `{"Records":[record(id), ` then `padding` spaces: about 1000 to 1.
fn gzip_bomb(id: usize, padding: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(format!("{{\"Records\":[{},", record(id)).as_bytes())
        .expect("gzip");
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..padding >> 20 {
        e.write_all(&spaces).expect("gzip");
    }
    e.write_all(format!("{}]}}", record(id + 1)).as_bytes())
        .expect("gzip");
    e.finish().expect("gzip")
}

fn cases() -> Vec<Case> {
    use Delivered::*;
    let big_string = "x".repeat(3 << 20);
    let tape_plus = "t".repeat(trailhose::decode::parse::TAPE_MAX_BYTES);
    let huge_string = "y".repeat(5 << 20);
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let gz_all = gzip(trail(100..400).as_bytes());
    let mut corrupt = gz_all.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b ^= 0x5A;
    }
    let mut two_members = gzip(trail(500..520).as_bytes());
    two_members.extend_from_slice(&gzip(trail(520..540).as_bytes()));
    let mut trailing_garbage = gzip(trail(540..560).as_bytes());
    trailing_garbage.extend_from_slice(b"this is not gzip at all, a sync tool's leftovers\n");
    let cloudwatch = serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": "ct",
        "logStream": "s", "subscriptionFilters": ["f"],
        "logEvents": [
            {"id": "1", "timestamp": 1, "message": record(700)},
            {"id": "2", "timestamp": 2, "message": record(701)},
        ]
    });
    let control = serde_json::json!({
        "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
        "logStream": "", "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]
    });
    let eventbridge = serde_json::json!({
        "version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3", "account": "111122223333", "time": "2026-01-05T00:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": serde_json::from_str::<Value>(&record(802)).expect("record"),
    });
    let insight = r#"{"eventVersion":"1.08","eventTime":"2026-01-05T00:00:00Z","awsRegion":"us-east-1","eventID":"id-900","eventType":"AwsCloudTrailInsight","recipientAccountId":"111122223333","sharedEventID":"s","insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","insightType":"ApiCallRateInsight","insightContext":{}},"eventCategory":"Insight"}"#;
    let digest = r#"{"awsAccountId":"111122223333","digestStartTime":"2026-01-05T00:00:00Z","digestEndTime":"2026-01-05T01:00:00Z","digestS3Bucket":"b","digestS3Object":"o","logFiles":[]}"#;
    vec![
        Case {
            name: "a plain trail file",
            file: "plain.json",
            bytes: trail(0..3).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(0..3)),
        },
        Case {
            name: "a gzip stream cut short",
            file: "truncated.json.gz",
            bytes: gz_all[..gz_all.len() * 7 / 10].to_vec(),
            errors: &[("gzip_truncated", 1)],
            delivered: PrefixOf(ids(100..400), 50),
        },
        Case {
            name: "corrupt deflate data",
            file: "corrupt.json.gz",
            bytes: corrupt,
            errors: &[("gzip_corrupt", 1)],
            delivered: PrefixOf(ids(100..400), 0),
        },
        Case {
            name: "a gzip bomb (200 MB of spaces from 200 KB)",
            file: "bomb.json.gz",
            bytes: gzip_bomb(420, 200 << 20),
            errors: &[("inflate_ratio", 1)],
            delivered: Exactly(ids(420..421)),
        },
        Case {
            name: "a record that is not valid JSON",
            file: "invalid.json",
            bytes: format!(
                "{{\"Records\":[{},{{\"eventVersion\":\"1.08\",,}},{}]}}",
                record(5),
                record(6)
            )
            .into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(5..7)),
        },
        Case {
            name: "JSON that is not CloudTrail",
            file: "other.json",
            bytes: br#"{"hello":"world","n":[1,2,3]}"#.to_vec(),
            errors: &[("not_cloudtrail", 1)],
            delivered: Exactly(vec![]),
        },
        Case {
            name: "a record over max_record_bytes (a 5 MB string)",
            file: "huge-record.json",
            bytes: trail_file(&[
                record(7),
                record_with(999, &format!("\"pad\":\"{huge_string}\"")),
                record(8),
            ])
            .into_bytes(),
            errors: &[("too_large", 1)],
            delivered: Exactly(ids(7..9)),
        },
        Case {
            name: "a huge string within the limit (3 MB)",
            file: "big-string.json",
            bytes: trail_file(&[record_with(9, &format!("\"pad\":\"{big_string}\""))]).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(9..10)),
        },
        Case {
            name: "nesting deeper than max_depth",
            file: "deep.json",
            bytes: trail_file(&[
                record(10),
                record_with(998, &format!("\"deep\":{deep}")),
                record(11),
            ])
            .into_bytes(),
            errors: &[("too_deep", 1)],
            delivered: Exactly(ids(10..12)),
        },
        Case {
            name: "duplicate keys (kept as written: JSON allows them)",
            file: "duplicate-keys.json",
            bytes: trail_file(&[record_with(12, "\"eventName\":\"Other\"")]).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(12..13)),
        },
        Case {
            name: "a number out of range (1e400)",
            file: "number-range.json",
            bytes: trail_file(&[record(13), record_with(997, "\"n\":1e400"), record(14)])
                .into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(13..15)),
        },
        Case {
            name: "junk after a float of more than 19 digits (found by cargo fuzz)",
            file: "long-float-junk.json",
            bytes: trail_file(&[
                record(35),
                record_with(992, "\"n\":55555555555555555555551e8+8"),
                record_with(36, "\"f\":2.5e3"),
            ])
            .into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(35..37)),
        },
        Case {
            name: "junk after a negative integer of 18 digits (found by cargo fuzz)",
            file: "negative-long-junk.json",
            bytes: trail_file(&[
                record(37),
                record_with(991, "\"n\":-464999999999999999=9999999999e9"),
                record_with(38, "\"m\":-464999999999999999"),
            ])
            .into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(37..39)),
        },
        Case {
            name: "a float of 20 digits beyond a float's range (found by cargo fuzz)",
            file: "long-float-range.json",
            bytes: trail_file(&[
                record_with(990, "\"n\":33333330012919400065e289"),
                record_with(39, "\"f\":33333330012919400065e280"),
            ])
            .into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(39..40)),
        },
        Case {
            name: "a number out of range in a record over the tape limit (256 KiB)",
            file: "large-record-range.json",
            bytes: trail_file(&[
                record_with(989, &format!("\"pad\":\"{tape_plus}\",\"n\":[1e400]")),
                record_with(40, &format!("\"pad\":\"{tape_plus}\",\"n\":[1e300]")),
            ])
            .into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(40..41)),
        },
        Case {
            name: "an integer beyond 64 bits",
            file: "bigint.json",
            bytes: trail_file(&[
                record(15),
                record_with(996, "\"n\":123456789012345678901234567890"),
            ])
            .into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(15..16)),
        },
        Case {
            name: "a raw NUL byte inside a string",
            file: "nul-raw.json",
            bytes: trail_file(&[record(16), record_with(995, "\"s\":\"a\u{0}b\"")]).into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(16..17)),
        },
        Case {
            name: "a NUL byte after a number, outside strings (found by cargo fuzz)",
            file: "nul-after-number.json",
            bytes: trail_file(&[record(34), record_with(993, "\"n\":2\u{0}\u{0}")]).into_bytes(),
            errors: &[("invalid_json", 1)],
            delivered: Exactly(ids(34..35)),
        },
        Case {
            name: "an escaped NUL (\\u0000)",
            file: "nul-escaped.json",
            bytes: trail_file(&[record_with(17, r#""s":"a\u0000b""#)]).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(17..18)),
        },
        Case {
            name: "a lone high surrogate escape",
            file: "surrogate-high.json",
            bytes: trail_file(&[record_with(18, r#""s":"a\ud800b""#)]).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(18..19)),
        },
        Case {
            name: "a lone low surrogate escape",
            file: "surrogate-low.json",
            bytes: trail_file(&[record_with(19, r#""s":"\udc00""#)]).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(19..20)),
        },
        Case {
            name: "invalid UTF-8 in one record",
            file: "bad-utf8.json",
            bytes: {
                let mut b = format!("{{\"Records\":[{},", record(20)).into_bytes();
                b.extend_from_slice(&record_with(994, "\"s\":\"\u{1}\"").into_bytes());
                let at = b.len() - 3;
                b[at] = 0xFF;
                b.extend_from_slice(format!(",{}]}}", record(21)).as_bytes());
                b
            },
            errors: &[("invalid_utf8", 1)],
            delivered: Exactly(ids(20..22)),
        },
        Case {
            name: "Records that is not an array",
            file: "records-object.json",
            bytes: br#"{"Records":{"eventVersion":"1.08"}}"#.to_vec(),
            errors: &[("not_cloudtrail", 1)],
            delivered: Exactly(vec![]),
        },
        Case {
            name: "Records elements that are not objects",
            file: "records-scalars.json",
            bytes: format!("{{\"Records\":[1,\"x\",null,{}]}}", record(22)).into_bytes(),
            errors: &[("not_cloudtrail", 3)],
            delivered: Exactly(ids(22..23)),
        },
        Case {
            name: "an empty object as a record",
            file: "empty-record.json",
            bytes: format!("{{\"Records\":[{{}},{}]}}", record(23)).into_bytes(),
            errors: &[("not_cloudtrail", 1)],
            delivered: Exactly(ids(23..24)),
        },
        Case {
            name: "an empty Records array (an empty log)",
            file: "no-records.json",
            bytes: br#"{"Records":[]}"#.to_vec(),
            errors: &[],
            delivered: Exactly(vec![]),
        },
        Case {
            name: "a trail file whose JSON ends inside a string",
            file: "ends-in-string.json",
            bytes: {
                let t = trail(24..27);
                let cut = t.rfind("\"id-26\"").expect("id") + 3;
                t.as_bytes()[..cut].to_vec()
            },
            errors: &[("truncated", 1)],
            delivered: Exactly(ids(24..26)),
        },
        Case {
            name: "bytes that are not JSON between records",
            file: "garbage.ndjson",
            bytes: format!("{}\nnot json at all\n{}\n", record(27), record(28)).into_bytes(),
            errors: &[("not_json", 1)],
            delivered: Exactly(ids(27..29)),
        },
        Case {
            name: "whitespace only",
            file: "blank.json",
            bytes: b"  \n\t \n".to_vec(),
            errors: &[("empty_input", 1)],
            delivered: Exactly(vec![]),
        },
        Case {
            name: "an empty gzip stream",
            file: "empty.json.gz",
            bytes: gzip(b""),
            errors: &[("empty_input", 1)],
            delivered: Exactly(vec![]),
        },
        Case {
            name: "a second gzip member",
            file: "two-members.json.gz",
            bytes: two_members,
            errors: &[],
            delivered: Exactly(ids(500..540)),
        },
        Case {
            name: "bytes after the last gzip member",
            file: "trailing-garbage.json.gz",
            bytes: trailing_garbage,
            errors: &[("gzip_corrupt", 1)],
            delivered: Exactly(ids(540..560)),
        },
        Case {
            name: "a UTF-8 byte order mark",
            file: "bom.json",
            bytes: format!("\u{feff}{}", trail(600..602)).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(600..602)),
        },
        Case {
            name: "UTF-16 with a byte order mark (PowerShell's >)",
            file: "utf16.json",
            bytes: utf16le_with_bom(&trail(602..604)),
            errors: &[],
            delivered: Exactly(ids(602..604)),
        },
        Case {
            name: "mixed envelopes in one stream",
            file: "mixed.ndjson",
            bytes: format!(
                "{}\n{}\n{}\n{}\n",
                record(800),
                trail(801..802),
                eventbridge,
                cloudwatch
            )
            .into_bytes(),
            errors: &[],
            delivered: Exactly(ids(800..803).into_iter().chain(ids(700..702)).collect()),
        },
        Case {
            name: "a CloudWatch Logs control message",
            file: "control.json",
            bytes: control.to_string().into_bytes(),
            errors: &[],
            delivered: Exactly(vec![]),
        },
        Case {
            name: "a digest file",
            file: "digest.json",
            bytes: digest.as_bytes().to_vec(),
            errors: &[],
            delivered: Exactly(vec![]),
        },
        Case {
            name: "an Insights record",
            file: "insight.json",
            bytes: format!("{{\"Records\":[{insight}]}}").into_bytes(),
            errors: &[],
            delivered: Exactly(ids(900..901)),
        },
        Case {
            name: "a trailing comma in Records",
            file: "trailing-comma.json",
            bytes: format!("{{\"Records\":[{},]}}", record(29)).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(29..30)),
        },
        Case {
            name: "a bare array of records",
            file: "array.json",
            bytes: format!("[{},{}]", record(30), record(31)).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(30..32)),
        },
        Case {
            name: "NDJSON without a final newline, with CRLF",
            file: "crlf.ndjson",
            bytes: format!("{}\r\n{}", record(32), record(33)).into_bytes(),
            errors: &[],
            delivered: Exactly(ids(32..34)),
        },
    ]
}

/// `trailhose_errors_total` by kind, from a scrape.
fn errors_by_kind(scrape: &str) -> BTreeMap<String, f64> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("trailhose_errors_total{kind=\""))
        .filter_map(|l| {
            let (kind, rest) = l.split_once('"')?;
            Some((kind.to_string(), rest.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

fn replay(dir: &Path, out: &Path, dead: &Path) -> i32 {
    let config = PipelineConfig {
        source: SourceConfig::Dir {
            paths: vec![dir.to_path_buf()],
            hidden: false,
        },
        sinks: vec![SinkConfig::Ndjson(NdjsonSinkConfig {
            path: Some(out.to_path_buf()),
            ..NdjsonSinkConfig::default()
        })],
        pipeline: PipelineBounds {
            dead_letter: Some(dead.to_path_buf()),
            ..PipelineBounds::default()
        },
        metrics: None,
        enrich: Default::default(),
        filter: Default::default(),
        dedupe: Default::default(),
        state: Default::default(),
        normalize: Default::default(),
    };
    trailhose::pipeline::run(&config, &RunOptions { quiet: true })
        .expect("start")
        .exit_code()
}

#[test]
fn hostile_inputs_are_reported_counted_dead_lettered_and_the_rest_delivered() {
    let recorder = trailhose::metrics::install_recorder().expect("recorder");
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let work = tempfile::tempdir().expect("tempdir");
        let input = work.path().join("in");
        std::fs::create_dir(&input).expect("mkdir");
        // A valid file before and after: the hostile one must not take them down.
        std::fs::write(input.join("a-before.json"), trail(10_000 + n..10_001 + n)).expect("write");
        std::fs::write(input.join(format!("b-{}", case.file)), &case.bytes).expect("write");
        std::fs::write(input.join("c-after.json"), trail(20_000 + n..20_001 + n)).expect("write");
        let (out, dead) = (
            work.path().join("out.ndjson"),
            work.path().join("dead.ndjson"),
        );
        let before = errors_by_kind(&recorder.render());
        let code = replay(&input, &out, &dead);
        let after = errors_by_kind(&recorder.render());
        let mut problems = Vec::new();
        // Exit code: 1 when some input was bad, else 0.
        let want_code = if case.errors.is_empty() { 0 } else { 1 };
        if code != want_code {
            problems.push(format!("exit code {code}, want {want_code}"));
        }
        // Metrics: exactly the expected errors, by kind.
        let counted: BTreeMap<String, usize> = after
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    (v - before.get(k).copied().unwrap_or(0.0)) as usize,
                )
            })
            .filter(|(_, d)| *d > 0)
            .collect();
        let wanted: BTreeMap<String, usize> = case
            .errors
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
        if counted != wanted {
            problems.push(format!("errors counted {counted:?}, want {wanted:?}"));
        }
        // Dead letters: one per error, of its kind, naming the input, with its raw bytes.
        let letters = dead_letters(&dead);
        let mut lettered: BTreeMap<String, usize> = BTreeMap::new();
        for l in &letters {
            *lettered
                .entry(l["error_kind"].as_str().unwrap_or("?").to_string())
                .or_insert(0) += 1;
            let origin = l["origin"].as_str().unwrap_or("");
            if !origin.ends_with(&format!("b-{}", case.file)) {
                problems.push(format!("dead letter names {origin}"));
            }
            let raw_ok = l["raw_base64"]
                .as_str()
                .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_ok())
                && l["offset"].is_u64();
            if !raw_ok {
                problems.push(format!("dead letter without raw bytes or offset: {l}"));
            }
        }
        if lettered != wanted {
            problems.push(format!("dead-lettered {lettered:?}, want {wanted:?}"));
        }
        // Delivered: the valid files around it, and the input's own valid records, once each.
        let lines = if out.exists() {
            read_ndjson(&out)
        } else {
            Vec::new()
        };
        let mut got: Vec<String> = lines
            .iter()
            .map(|v| v["eventID"].as_str().unwrap_or("?").to_string())
            .collect();
        let around = [format!("id-{}", 10_000 + n), format!("id-{}", 20_000 + n)];
        for id in &around {
            match got.iter().position(|g| g == id) {
                Some(i) => {
                    got.remove(i);
                }
                None => problems.push(format!("the valid file's {id} is missing")),
            }
        }
        let mut sorted = got.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != got.len() {
            problems.push("a record was delivered twice".into());
        }
        match &case.delivered {
            Delivered::Exactly(want) => {
                let mut want = want.clone();
                want.sort();
                if sorted != want {
                    problems.push(format!("delivered {sorted:?}, want {want:?}"));
                }
            }
            Delivered::PrefixOf(all, min) => {
                let prefix = &all[..got.len().min(all.len())];
                if got.as_slice() != prefix || got.len() < *min {
                    problems.push(format!(
                        "delivered {} records, want a prefix of {} (at least {min})",
                        got.len(),
                        all.len()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
