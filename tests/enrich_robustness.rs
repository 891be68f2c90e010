//! Robustness of enrichment: records of any shape (a field an object in one record and a string
//! or an array in the next, odd characters everywhere) never panic attribution, noise,
//! resources or GeoIP-less source classification; the `enrichment` written is always JSON, and
//! so are the ECS and OCSF documents, with the same type for each field whatever the shape.

use proptest::prelude::*;
use serde_json::{json, Value};
use trailhose::transform::attribution::{AttributionLimits, AttributionTable};
use trailhose::transform::ecs::write_ecs_line;
use trailhose::transform::enrich::{source_kind, write_enrichment};
use trailhose::transform::fields::RecordView;
use trailhose::transform::noise::classify_noise;
use trailhose::transform::normalize::{Findings, KeepOriginal, NormalizeConfig, Scratch};
use trailhose::transform::ocsf::write_ocsf_line;
use trailhose::transform::resources::extract_resources;
use trailhose::transform::trail_fields::TrailFields;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9:/._\\-\"\\\\ \\u{0}-\\u{1f}é]{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("ASIA1"),
            Just("AssumeRole"),
            Just("ConsoleLogin"),
            Just("CreateUser"),
            Just("AssumedRole"),
            Just("arn:aws:iam::1:role/R"),
            Just("AWS Internal"),
            Just("2026-01-05T00:00:00Z"),
            Just("192.0.2.1")
        ]
        .prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("arn".to_string()),
                    Just("accessKeyId".to_string()),
                    Just("sessionContext".to_string()),
                    Just("sessionIssuer".to_string()),
                    Just("credentials".to_string()),
                    Just("bucketName".to_string()),
                    Just("key".to_string()),
                    Just("instanceId".to_string()),
                    Just("roleArn".to_string()),
                    Just("userName".to_string()),
                    Just("ConsoleLogin".to_string()),
                    Just("MFAUsed".to_string()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn record() -> impl Strategy<Value = Value> {
    (
        value(),
        value(),
        value(),
        value(),
        scalar(),
        scalar(),
        scalar(),
        value(),
    )
        .prop_map(
            |(identity, request, response, resources, name, time, ip, extra)| {
                json!({
                    "eventVersion": "1.08", "eventSource": "sts.amazonaws.com", "eventName": name,
                    "eventTime": time, "sourceIPAddress": ip, "userIdentity": identity,
                    "requestParameters": request, "responseElements": response,
                    "resources": resources, "readOnly": extra
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_shape_enriches_to_json(records in proptest::collection::vec(record(), 1..6)) {
        let table = AttributionTable::new(AttributionLimits { max_keys: 4096 });
        for r in records {
            let mut bytes = serde_json::to_vec(&r).expect("json");
            let tape = simd_json::to_tape(&mut bytes).expect("parse");
            let view = RecordView::read(tape.as_value());
            let actor = table.attribute(&view);
            let mut out = Vec::new();
            let noise = classify_noise(&view);
            let resources = extract_resources(&view);
            write_enrichment(&mut out, source_kind(view.source_ip), &actor, &noise, None, &resources);
            let e: Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&out))))?;
            prop_assert!(e["actor"]["principal_type"].is_string());
            prop_assert!(e["resources"].as_array().is_some_and(|r| r.len() <= 64));

            // The same record in ECS and OCSF, with a small cap so blobs get cut.
            let fields = TrailFields::read(tape.as_value());
            let findings = Findings {
                actor: Some(&actor),
                noise: Some(&noise),
                source_kind: Some(source_kind(view.source_ip)),
                geo: None,
                resources: &resources,
            };
            let cfg = NormalizeConfig { max_field_bytes: 40, keep_original: KeepOriginal::Truncated, ecs_flattened: true };
            let original = serde_json::to_vec(&r).expect("json");
            let mut scratch = Scratch::default();
            let (mut ecs, mut ocsf) = (Vec::new(), Vec::new());
            write_ecs_line(&mut ecs, &fields, &findings, &cfg, &mut scratch, &original, false);
            write_ocsf_line(&mut ocsf, &fields, &findings, &cfg, &mut scratch, &original, false);
            prop_assert!(ecs.ends_with(b"\n") && ocsf.ends_with(b"\n"));
            let ecs: Value = serde_json::from_slice(&ecs).map_err(|e| TestCaseError::fail(format!("ecs {e}: {}", String::from_utf8_lossy(&ecs))))?;
            let ocsf: Value = serde_json::from_slice(&ocsf).map_err(|e| TestCaseError::fail(format!("ocsf {e}: {}", String::from_utf8_lossy(&ocsf))))?;
            let ct = &ecs["aws"]["cloudtrail"];
            for blob in ["request_parameters", "response_elements"] {
                prop_assert!(ct[blob].is_null() || ct[blob].as_str().is_some_and(|s| s.len() <= 40), "{blob}: {}", ct[blob]);
            }
            prop_assert!(ecs["user"]["name"].is_null() || ecs["user"]["name"].is_string());
            prop_assert!(ct["read_only"].is_null() || ct["read_only"].is_boolean());
            // A cut blob is listed, and the original rides along (keep_original = truncated).
            let cut = ecs["trailhose"]["truncated"].as_array().map_or(0, |a| a.len());
            prop_assert_eq!(cut > 0, ecs["event"]["original"].is_string());
            let cut = ocsf["unmapped"]["trailhose"]["truncated"].as_array().map_or(0, |a| a.len());
            prop_assert!(cut == 0 || ocsf["raw_data"].is_string());
            prop_assert!(ocsf["class_uid"].is_u64() && ocsf["time"].is_i64() || ocsf["time"].is_u64());
            prop_assert!(ocsf["api"]["request"]["data"].is_null() || ocsf["api"]["request"]["data"].is_string());
            prop_assert!(ocsf["actor"]["user"].is_null() || ocsf["actor"]["user"]["uid"].is_string() || ocsf["actor"]["user"]["name"].is_string());
        }
    }
}
