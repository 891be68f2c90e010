//! The `enrichment` object added to each record: where the call came from (`source`), whether
//! it is noise (`noise`) and what it touched (`resources`). Built from the parsed record and
//! written as JSON bytes, to be spliced into the raw output; never rebuilds the record.

use std::net::IpAddr;

use super::attribution::Actor;
use super::fields::write_json_str;
use super::geoip::GeoAnswer;
use super::noise::Noise;

/// What `sourceIPAddress` holds.
pub fn source_kind(source_ip: Option<&str>) -> &'static str {
    source_of(source_ip).0
}

/// What `sourceIPAddress` holds and, when it is an address, the address: parsed once for the
/// kind and the GeoIP lookup.
pub fn source_of(source_ip: Option<&str>) -> (&'static str, Option<IpAddr>) {
    match source_ip {
        Some("AWS Internal") => ("aws_internal", None),
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => ("ip", Some(ip)),
            Err(_) if s.ends_with(".amazonaws.com") || s.ends_with(".aws.internal") => {
                ("aws_service", None)
            }
            Err(_) => ("other", None),
        },
        None => ("none", None),
    }
}

/// Writes the `enrichment` object for a record whose source kind (`source_of`), actor, noise,
/// location and resources are already known.
pub fn write_enrichment(
    out: &mut Vec<u8>,
    kind: &'static str,
    actor: &Actor,
    noise: &Noise,
    geo: Option<&GeoAnswer>,
    resources: &[std::borrow::Cow<'_, str>],
) {
    out.extend_from_slice(b"{\"actor\":");
    actor.write_json(out);
    out.extend_from_slice(b",\"source\":{\"kind\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'"');
    if let Some(geo) = geo {
        geo.write_members(out);
    }
    out.extend_from_slice(b"},\"noise\":{\"aws_internal\":");
    out.extend_from_slice(if noise.aws_internal() {
        b"true"
    } else {
        b"false"
    });
    out.extend_from_slice(b",\"reasons\":[");
    for (i, r) in noise.reasons.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, r.label());
    }
    out.extend_from_slice(b"]},\"resources\":[");
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, r);
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::attribution::{AttributionLimits, AttributionTable};
    use crate::transform::fields::RecordView;
    use crate::transform::noise::classify_noise;

    #[test]
    fn source_kinds() {
        assert_eq!(source_kind(Some("192.0.2.1")), "ip");
        assert_eq!(source_kind(Some("2001:db8::1")), "ip");
        assert_eq!(source_kind(Some("ec2.amazonaws.com")), "aws_service");
        assert_eq!(source_kind(Some("AWS Internal")), "aws_internal");
        assert_eq!(source_kind(Some("100.200.300.400")), "other");
        assert_eq!(source_kind(None), "none");
    }

    #[test]
    fn enrichment_is_json_with_every_part() {
        let mut bytes = br#"{"userIdentity":{"type":"AWSService","invokedBy":"x\"y"},"sourceIPAddress":"lambda.amazonaws.com","requestParameters":{"bucketName":"b"}}"#.to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let v = RecordView::read(tape.as_value());
        let mut out = Vec::new();
        let actor = AttributionTable::new(AttributionLimits::default()).attribute(&v);
        let resources = crate::transform::resources::extract_resources(&v);
        let kind = source_kind(v.source_ip);
        write_enrichment(
            &mut out,
            kind,
            &actor,
            &classify_noise(&v),
            None,
            &resources,
        );
        let e: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(e["actor"]["principal"], "x\"y");
        assert_eq!(e["actor"]["principal_type"], "AWSService");
        assert_eq!(e["source"]["kind"], "aws_service");
        assert_eq!(e["noise"]["aws_internal"], true);
        assert_eq!(
            e["noise"]["reasons"],
            serde_json::json!(["invoked_by_service", "service_principal"])
        );
        assert_eq!(e["resources"], serde_json::json!(["arn:aws:s3:::b"]));
    }
}
