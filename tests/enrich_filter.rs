//! The `enrichment` object (source kind, noise, resources) and the filters, end to end on the
//! real samples and on a `gen` archive, checked against what the test reads from the input
//! itself with serde_json.

mod common;

use common::*;
use serde_json::Value;

fn real_events() -> String {
    cloudtrail_samples()
        .join("real-events.ndjson")
        .to_str()
        .expect("path")
        .to_string()
}

#[test]
fn enrichment_is_appended_and_the_record_is_untouched() {
    let input = std::fs::read_to_string(real_events()).expect("read");
    let out = trailhose(&["replay", "-q", "--enrich", &real_events()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let output = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(output.lines().count(), 1284);
    // Calls held back for attribution come out when released, so lines are matched by
    // content: each output line is an input record's own bytes, then the one added member.
    let mut heads: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for a in input.lines() {
        *heads.entry(&a[..a.len() - 1]).or_default() += 1;
    }
    for b in output.lines() {
        let at = b.rfind(",\"enrichment\":{").expect("enrichment member");
        let left = heads
            .get_mut(&b[..at])
            .unwrap_or_else(|| panic!("record bytes changed: {b}"));
        assert!(*left > 0, "record written twice: {b}");
        *left -= 1;
        let v: Value = serde_json::from_str(b).expect("output is JSON");
        let e = &v["enrichment"];
        assert!(e["source"]["kind"].is_string(), "{e}");
        assert!(
            e["noise"]["aws_internal"].is_boolean() && e["noise"]["reasons"].is_array(),
            "{e}"
        );
        assert!(e["resources"].is_array(), "{e}");
    }
}

#[test]
fn noise_marks_aws_service_calls_and_drop_noise_drops_them() {
    let path =
        cloudtrail_samples().join("opensearch-catalog-cloudtrail/raw/raw-large-samples.json");
    let path = path.to_str().expect("path");
    let out = trailhose(&["replay", "-q", "--enrich", path], None);
    let records = json_lines(&out.stdout);
    let services: Vec<&Value> = records
        .iter()
        .filter(|r| r["userIdentity"]["type"] == "AWSService")
        .collect();
    assert!(!services.is_empty(), "the sample has AWS service calls");
    for r in &services {
        assert_eq!(r["enrichment"]["noise"]["aws_internal"], true, "{r}");
        let reasons = r["enrichment"]["noise"]["reasons"]
            .as_array()
            .expect("reasons");
        assert!(reasons.iter().any(|x| x == "service_principal"), "{r}");
    }
    let linked = records
        .iter()
        .filter(|r| {
            r["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"]
                .as_str()
                .is_some_and(|a| a.contains(":role/aws-service-role/"))
        })
        .count();
    let noisy = records
        .iter()
        .filter(|r| {
            !r["enrichment"]["noise"]["reasons"]
                .as_array()
                .expect("reasons")
                .is_empty()
        })
        .count();
    assert!(
        noisy >= services.len() + linked.min(1),
        "{noisy} noisy records"
    );
    let kept = trailhose(&["replay", "--drop-noise", path], None);
    assert_eq!(kept.status.code(), Some(0));
    let kept_records = json_lines(&kept.stdout);
    assert_eq!(kept_records.len(), records.len() - noisy);
    assert!(kept_records
        .iter()
        .all(|r| r["userIdentity"]["type"] != "AWSService"));
    assert!(
        stderr(&kept).contains(&format!("{} dropped", noisy)),
        "{}",
        stderr(&kept)
    );
}

#[test]
fn resources_name_instances_buckets_and_objects() {
    let dir = gen_archive("4000");
    let out = trailhose(
        &[
            "replay",
            "-q",
            "--enrich",
            dir.path().to_str().expect("path"),
        ],
        None,
    );
    let records = json_lines(&out.stdout);
    let mut instances_checked = 0;
    let mut objects_checked = 0;
    for r in &records {
        let resources: Vec<&str> = r["enrichment"]["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .map(|x| x.as_str().expect("string"))
            .collect();
        if let Some(items) = r["responseElements"]["instancesSet"]["items"].as_array() {
            for item in items {
                let id = item["instanceId"].as_str().expect("instanceId");
                assert!(resources.contains(&id), "{id} missing from {resources:?}");
                instances_checked += 1;
            }
        }
        if let (Some(bucket), Some(key)) = (
            r["requestParameters"]["bucketName"].as_str(),
            r["requestParameters"]["key"].as_str(),
        ) {
            let object = format!("arn:aws:s3:::{bucket}/{key}");
            assert!(
                resources.contains(&object.as_str()),
                "{object} missing from {resources:?}"
            );
            assert!(resources.contains(&format!("arn:aws:s3:::{bucket}").as_str()));
            objects_checked += 1;
        }
        let mut unique = resources.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), resources.len(), "duplicates in {resources:?}");
    }
    assert!(
        instances_checked > 10 && objects_checked > 100,
        "{instances_checked} {objects_checked}"
    );
}

#[test]
fn filters_by_source_name_and_read_only() {
    let input = read_ndjson(&cloudtrail_samples().join("real-events.ndjson"));
    let count = |f: &dyn Fn(&Value) -> bool| input.iter().filter(|r| f(r)).count();
    let run = |args: &[&str]| {
        let mut all = vec!["replay", "-q"];
        all.extend_from_slice(args);
        let path = real_events();
        all.push(&path);
        let out = trailhose(&all, None);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json_lines(&out.stdout)
    };
    let iam = run(&["--include-source", "iam.amazonaws.com"]);
    assert_eq!(
        iam.len(),
        count(&|r| r["eventSource"] == "iam.amazonaws.com")
    );
    assert!(!iam.is_empty());
    let no_s3 = run(&["--exclude-source", "s3.amazonaws.com"]);
    assert_eq!(
        no_s3.len(),
        count(&|r| r["eventSource"] != "s3.amazonaws.com")
    );
    let logins = run(&[
        "--include-event",
        "ConsoleLogin",
        "--include-event",
        "AssumeRole",
    ]);
    assert_eq!(
        logins.len(),
        count(&|r| r["eventName"] == "ConsoleLogin" || r["eventName"] == "AssumeRole")
    );
    let writes = run(&["--drop-read-only"]);
    assert_eq!(
        writes.len(),
        count(&|r| r["readOnly"] != true && r["readOnly"] != "true")
    );
    let no_assume = run(&["--exclude-event", "AssumeRole"]);
    assert_eq!(no_assume.len(), count(&|r| r["eventName"] != "AssumeRole"));
}

#[test]
fn filter_and_enrich_from_a_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("p.toml");
    let out_file = dir.path().join("out.ndjson");
    std::fs::write(
        &config,
        format!(
            "[source]\ntype = \"dir\"\npaths = [\"{}\"]\n[[sink]]\ntype = \"ndjson\"\npath = \"{}\"\n[enrich]\nenabled = true\n[filter]\ninclude_event_names = [\"AssumeRole\"]\n",
            real_events(),
            out_file.display()
        ),
    )
    .expect("write");
    let out = trailhose(&["run", "-q", config.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = read_ndjson(&out_file);
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(r["eventName"], "AssumeRole");
        assert!(r["enrichment"]["resources"].is_array());
    }
    std::fs::write(
        &config,
        "[source]\ntype = \"stdin\"\n[[sink]]\ntype = \"ndjson\"\n[filter]\ndrop_nois = true\n",
    )
    .expect("write");
    let out = trailhose(&["validate", config.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("drop_nois"), "{}", stderr(&out));
}
