//! Nothing is silently dropped by a mapper: for records of any shape (known fields holding
//! odd values, unknown members, nested surprises), every leaf value of the input appears
//! somewhere in the ECS document and in the OCSF event: mapped to a field, kept in the
//! `unmapped` part, or inside a blob (a JSON string). Blobs are not cut here (no cap in reach)
//! and the original is not carried, so nothing can hide in it. Values a mapping converts are found in their converted form (a `"true"` string as a
//! boolean, a basic-form time as ISO 8601, a TLS version split as Elastic splits it).

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use trailhose::transform::attribution::{AttributionLimits, AttributionTable};
use trailhose::transform::ecs::{iso_time, write_ecs_line};
use trailhose::transform::enrich::source_kind;
use trailhose::transform::fields::RecordView;
use trailhose::transform::noise::classify_noise;
use trailhose::transform::normalize::{Findings, KeepOriginal, NormalizeConfig, Scratch};
use trailhose::transform::ocsf::write_ocsf_line;
use trailhose::transform::resources::extract_resources;
use trailhose::transform::trail_fields::TrailFields;

/// Short strings that land in typed places: times, booleans, ARNs, user agents.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9:/._\\- ]{1,16}",
        Just("true".to_string()),
        Just("False".to_string()),
        Just("2026-01-05T00:00:00Z".to_string()),
        Just("20131102T010628Z".to_string()),
        Just("Oct 2, 2019 11:12:29 PM".to_string()),
        Just("arn:aws:iam::111122223333:role/R".to_string()),
        Just("ANONYMOUS_PRINCIPAL".to_string()),
        Just("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/126.0".to_string()),
        Just("aws-cli/2.15.0 Python/3.11.6 Darwin/23.6.0".to_string()),
        Just("TLSv1.3".to_string()),
        Just("192.0.2.1".to_string()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => text().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => (-1_000_000i64..1_000_000).prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

/// Any JSON value, with keys a record's nested objects use and made-up ones.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("ARN".to_string()),
                    Just("arn".to_string()),
                    Just("accountId".to_string()),
                    Just("type".to_string()),
                    Just("UserName".to_string()),
                    Just("userId".to_string()),
                    Just("state".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Either a value of the expected shape or anything at all.
fn maybe(expected: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
    prop_oneof![3 => expected.boxed(), 1 => value().boxed()]
}

fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
    let strategies: Vec<_> = fields
        .into_iter()
        .map(|(k, s)| (Just(k), proptest::option::weighted(0.7, s)))
        .collect();
    strategies.prop_map(|members| {
        let mut m = Map::new();
        for (k, v) in members {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        }
        Value::Object(m)
    })
}

fn s() -> BoxedStrategy<Value> {
    maybe(text().prop_map(Value::from)).boxed()
}

fn identity() -> impl Strategy<Value = Value> {
    let attributes = object(vec![
        ("mfaAuthenticated", s()),
        ("creationDate", s()),
        ("extra", value().boxed()),
    ]);
    let issuer = object(vec![
        ("type", s()),
        ("principalId", s()),
        ("arn", s()),
        ("accountId", s()),
        ("userName", s()),
        ("extra", value().boxed()),
    ]);
    let context = object(vec![
        ("attributes", maybe(attributes).boxed()),
        ("sessionIssuer", maybe(issuer).boxed()),
        ("sourceIdentity", s()),
        (
            "webIdFederationData",
            object(vec![
                ("federatedProvider", s()),
                ("attributes", value().boxed()),
            ])
            .boxed(),
        ),
    ]);
    object(vec![
        (
            "type",
            prop_oneof![
                Just("AssumedRole"),
                Just("IAMUser"),
                Just("Root"),
                Just("AWSAccount"),
                Just("AWSService"),
                Just("Unknown"),
                Just("IdentityCenterUser"),
                Just("SAMLUser")
            ]
            .prop_map(Value::from)
            .boxed(),
        ),
        ("principalId", s()),
        ("arn", s()),
        ("accountId", s()),
        ("accessKeyId", s()),
        ("userName", s()),
        ("invokedBy", s()),
        ("identityProvider", s()),
        ("onBehalfOf", value().boxed()),
        ("credentialId", s()),
        ("sessionContext", maybe(context).boxed()),
    ])
}

fn record() -> impl Strategy<Value = Value> {
    let resource = object(vec![
        ("ARN", s()),
        ("arn", s()),
        ("accountId", s()),
        ("type", s()),
        ("extra", value().boxed()),
    ]);
    let head = object(vec![
        ("eventTime", s()),
        (
            "eventName",
            maybe(
                prop_oneof![
                    Just("ConsoleLogin"),
                    Just("CreateUser"),
                    Just("AssumeRole"),
                    Just("GetObject"),
                    Just("UserAuthentication"),
                    Just("AttachUserPolicy")
                ]
                .prop_map(Value::from),
            )
            .boxed(),
        ),
        (
            "eventSource",
            maybe(
                prop_oneof![
                    Just("signin.amazonaws.com"),
                    Just("iam.amazonaws.com"),
                    Just("s3.amazonaws.com"),
                    Just("sts.amazonaws.com")
                ]
                .prop_map(Value::from),
            )
            .boxed(),
        ),
        ("awsRegion", s()),
        ("sourceIPAddress", s()),
        ("userAgent", s()),
        ("errorCode", s()),
        ("errorMessage", s()),
        ("requestID", s()),
        ("eventID", s()),
        ("eventType", s()),
        ("apiVersion", s()),
        ("readOnly", s()),
        ("managementEvent", s()),
        ("recipientAccountId", s()),
        ("sharedEventID", s()),
        ("vpcEndpointId", s()),
        ("eventCategory", s()),
        ("sessionCredentialFromConsole", s()),
    ]);
    let body = object(vec![
        ("userIdentity", maybe(identity()).boxed()),
        ("requestParameters", value().boxed()),
        ("responseElements", value().boxed()),
        ("additionalEventData", value().boxed()),
        ("serviceEventDetails", value().boxed()),
        ("insightDetails", value().boxed()),
        (
            "resources",
            maybe(proptest::collection::vec(maybe(resource), 0..3).prop_map(Value::from)).boxed(),
        ),
        (
            "tlsDetails",
            maybe(object(vec![
                ("tlsVersion", s()),
                ("cipherSuite", s()),
                ("clientProvidedHostHeader", s()),
                ("extra", value().boxed()),
            ]))
            .boxed(),
        ),
        ("addendum", value().boxed()),
    ]);
    (head, body).prop_map(|(head, body)| {
        let mut m = json!({"eventVersion": "1.08"});
        let o = m.as_object_mut().unwrap();
        o.extend(head.as_object().unwrap().clone());
        o.extend(body.as_object().unwrap().clone());
        m
    })
}

/// Every leaf of `v` (nulls, empty strings and empty containers carry nothing: skipped).
fn leaves(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::Object(m) => m.values().for_each(|x| leaves(x, out)),
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        other => out.push(other.clone()),
    }
}

/// Every leaf of an output document, as strings; strings holding JSON (blobs, `unmapped`,
/// the original) are opened and their leaves added too.
fn output_leaves(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::Object(m) => m.values().for_each(|x| output_leaves(x, out)),
        Value::Array(a) => a.iter().for_each(|x| output_leaves(x, out)),
        Value::String(s) => {
            out.insert(s.clone());
            if s.starts_with(['{', '[']) {
                if let Ok(inner) = serde_json::from_str::<Value>(s) {
                    output_leaves(&inner, out);
                }
            }
        }
        other => {
            out.insert(other.to_string());
        }
    }
}

/// Whether the input leaf `v` is in `found`, as it is or in a form a mapping converts it to.
fn found_in(v: &Value, found: &HashSet<String>) -> bool {
    match v {
        Value::String(s) => {
            found.contains(s)
                || (s.eq_ignore_ascii_case("true") && found.contains("true"))
                || (s.eq_ignore_ascii_case("false") && found.contains("false"))
                || iso_time(s).is_some_and(|t| found.contains(t.as_ref()))
                // ECS splits "TLSv1.3" into "tls" and "1.3", as Elastic does.
                || s.split_once('v').is_some_and(|(p, ver)| {
                    found.contains(&p.to_ascii_lowercase()) && found.contains(ver)
                })
        }
        other => found.contains(&other.to_string()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn every_input_leaf_reaches_ecs_and_ocsf(r in record()) {
        let table = AttributionTable::new(AttributionLimits { max_keys: 64 });
        let mut bytes = serde_json::to_vec(&r).expect("json");
        let original = bytes.clone();
        let tape = simd_json::to_tape(&mut bytes).expect("parse");
        let view = RecordView::read(tape.as_value());
        let actor = table.attribute(&view);
        let noise = classify_noise(&view);
        let resources = extract_resources(&view);
        let fields = TrailFields::read(tape.as_value());
        let findings = Findings {
            actor: Some(&actor),
            noise: Some(&noise),
            source_kind: Some(source_kind(view.source_ip)),
            geo: None,
            resources: &resources,
        };
        // No cap in reach and no original: every leaf must be placed by the mapping itself.
        // (Cut blobs bring the original along: tests/enrich_robustness.rs.)
        let cfg = NormalizeConfig { max_field_bytes: 1 << 20, keep_original: KeepOriginal::Never, ecs_flattened: false };
        let mut scratch = Scratch::default();
        let mut input = Vec::new();
        leaves(&r, &mut input);
        for format in ["ecs", "ocsf"] {
            let mut out = Vec::new();
            if format == "ecs" {
                write_ecs_line(&mut out, &fields, &findings, &cfg, &mut scratch, &original, false);
            } else {
                write_ocsf_line(&mut out, &fields, &findings, &cfg, &mut scratch, &original, false);
            }
            let doc: Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(format!("{format}: {e}")))?;
            let mut found = HashSet::new();
            output_leaves(&doc, &mut found);
            for leaf in &input {
                prop_assert!(found_in(leaf, &found), "{format} lost {leaf}\ninput: {r}\noutput: {doc}");
            }
        }
    }
}
