//! Robustness of enrichment: records of any shape (a field an object in one record and a string
//! or an array in the next, odd characters everywhere) never panic attribution, noise,
//! resources or GeoIP-less source classification, and the `enrichment` written is always JSON.

use proptest::prelude::*;
use serde_json::{json, Value};
use trailhose::transform::attribution::{AttributionLimits, AttributionTable};
use trailhose::transform::enrich::write_enrichment;
use trailhose::transform::fields::RecordView;
use trailhose::transform::noise::classify_noise;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9:/._\\-\"\\\\ \\u{0}-\\u{1f}é]{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("ASIA1"),
            Just("AssumeRole"),
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
            write_enrichment(&mut out, &view, &actor, &classify_noise(&view), None);
            let e: Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&out))))?;
            prop_assert!(e["actor"]["principal_type"].is_string());
            prop_assert!(e["resources"].as_array().is_some_and(|r| r.len() <= 64));
        }
    }
}
