//! Every field of a CloudTrail record that the ECS and OCSF mappings place, found in one pass
//! over the record's top-level keys and one over `userIdentity`'s. Values stay tape values, so
//! each mapping decides how to write them; members no mapping knows are found again, only when
//! there are some, for the `unmapped` parts.

use simd_json::prelude::*;
use simd_json::tape::Value;

use super::fields::write_json_str;
use super::json_writer::write_compact;

type V<'a> = Option<Value<'a, 'a>>;

/// A record's fields, by their CloudTrail names.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrailFields<'a> {
    pub record: Option<Value<'a, 'a>>,
    pub event_version: V<'a>,
    pub event_time: Option<&'a str>,
    pub event_source: V<'a>,
    pub event_name: Option<&'a str>,
    pub aws_region: V<'a>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub error_code: V<'a>,
    pub error_message: V<'a>,
    pub request_parameters: V<'a>,
    pub response_elements: V<'a>,
    pub additional_event_data: V<'a>,
    pub service_event_details: V<'a>,
    pub request_id: V<'a>,
    pub event_id: V<'a>,
    pub event_type: V<'a>,
    pub api_version: V<'a>,
    pub management_event: V<'a>,
    pub read_only: V<'a>,
    pub resources: V<'a>,
    pub recipient_account_id: V<'a>,
    pub shared_event_id: V<'a>,
    pub vpc_endpoint_id: V<'a>,
    pub event_category: V<'a>,
    pub tls_details: V<'a>,
    pub session_credential_from_console: V<'a>,
    pub insight_details: V<'a>,
    pub identity: IdentityFields<'a>,
    /// Whether the record has members no mapping places (then `write_unmapped` finds them).
    pub has_unknown: bool,
}

/// `userIdentity`'s fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityFields<'a> {
    pub value: V<'a>,
    pub kind: V<'a>,
    pub principal_id: V<'a>,
    pub arn: V<'a>,
    pub account_id: V<'a>,
    pub access_key_id: V<'a>,
    pub user_name: V<'a>,
    pub invoked_by: V<'a>,
    pub identity_provider: V<'a>,
    pub mfa_authenticated: V<'a>,
    pub creation_date: Option<&'a str>,
    pub issuer_type: V<'a>,
    pub issuer_principal_id: V<'a>,
    pub issuer_arn: V<'a>,
    pub issuer_account_id: V<'a>,
    pub issuer_user_name: V<'a>,
    pub source_identity: V<'a>,
    pub federated_provider: V<'a>,
    pub has_unknown: bool,
}

/// The top-level members some mapping places.
const KNOWN_TOP: &[&str] = &[
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "managementEvent",
    "readOnly",
    "resources",
    "recipientAccountId",
    "sharedEventId",
    "vpcEndpointId",
    "eventCategory",
    "tlsDetails",
    "sessionCredentialFromConsole",
    "insightDetails",
];

/// The `userIdentity` members placed (`sessionContext` counts as placed when it holds only
/// the parts read below).
const KNOWN_IDENTITY: &[&str] = &[
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "invokedBy",
    "identityProvider",
    "sessionContext",
];
const KNOWN_SESSION_CONTEXT: &[&str] = &[
    "attributes",
    "sessionIssuer",
    "sourceIdentity",
    "webIdFederationData",
];

impl<'a> TrailFields<'a> {
    /// Reads a parsed record.
    pub fn read(record: Value<'a, 'a>) -> Self {
        let mut f = TrailFields {
            record: Some(record),
            ..Default::default()
        };
        let Some(obj) = record.as_object() else {
            return f;
        };
        for (key, v) in obj.iter() {
            let v = Some(v);
            match key {
                "eventVersion" => f.event_version = v,
                "userIdentity" => f.identity = IdentityFields::read(v),
                "eventTime" => f.event_time = v.and_then(|v| v.into_string()),
                "eventSource" => f.event_source = v,
                "eventName" => f.event_name = v.and_then(|v| v.into_string()),
                "awsRegion" => f.aws_region = v,
                "sourceIPAddress" => f.source_ip = v.and_then(|v| v.into_string()),
                "userAgent" => f.user_agent = v.and_then(|v| v.into_string()),
                "errorCode" => f.error_code = v,
                "errorMessage" => f.error_message = v,
                "requestParameters" => f.request_parameters = v,
                "responseElements" => f.response_elements = v,
                "additionalEventData" => f.additional_event_data = v,
                "serviceEventDetails" => f.service_event_details = v,
                "requestID" => f.request_id = v,
                "eventID" => f.event_id = v,
                "eventType" => f.event_type = v,
                "apiVersion" => f.api_version = v,
                "managementEvent" => f.management_event = v,
                "readOnly" => f.read_only = v,
                "resources" => f.resources = v,
                "recipientAccountId" => f.recipient_account_id = v,
                "sharedEventId" => f.shared_event_id = v,
                "vpcEndpointId" => f.vpc_endpoint_id = v,
                "eventCategory" => f.event_category = v,
                "tlsDetails" => f.tls_details = v,
                "sessionCredentialFromConsole" => f.session_credential_from_console = v,
                "insightDetails" => f.insight_details = v,
                _ => f.has_unknown = true,
            }
        }
        f
    }

    /// Whether the call failed (an error code or message; a failed console login says so in
    /// its response instead).
    pub fn failed(&self) -> bool {
        let present = |v: V<'_>| v.is_some_and(|v| !v.is_null());
        present(self.error_code) || present(self.error_message)
    }

    /// `requestParameters.<key>` as a string, when it is one.
    pub fn request_str(&self, key: &str) -> Option<&'a str> {
        self.request_parameters?.get(key)?.into_string()
    }

    /// Writes the members no mapping places as one compact JSON object (`{}` when none):
    /// unknown top-level members, and `userIdentity` members beyond the known ones.
    pub fn write_unmapped(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        if self.has_unknown {
            if let Some(obj) = self.record.and_then(|r| r.as_object()) {
                for (k, v) in obj.iter() {
                    if !KNOWN_TOP.contains(&k) && !v.is_null() {
                        write_member(out, &mut first, k, v);
                    }
                }
            }
        }
        if self.identity.has_unknown {
            if let Some(obj) = self.identity.value.and_then(|v| v.as_object()) {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"userIdentity\":{");
                let mut inner_first = true;
                for (k, v) in obj.iter() {
                    let known = KNOWN_IDENTITY.contains(&k)
                        && (k != "sessionContext" || !session_context_has_unknown(v));
                    if !known && !v.is_null() {
                        write_member(out, &mut inner_first, k, v);
                    }
                }
                out.push(b'}');
            }
        }
        out.push(b'}');
    }
}

fn write_member(out: &mut Vec<u8>, first: &mut bool, k: &str, v: Value<'_, '_>) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    write_json_str(out, k);
    out.push(b':');
    write_compact(out, v, true);
}

fn session_context_has_unknown(v: Value<'_, '_>) -> bool {
    v.as_object()
        .is_some_and(|o| o.keys().any(|k| !KNOWN_SESSION_CONTEXT.contains(&k)))
}

impl<'a> IdentityFields<'a> {
    fn read(identity: V<'a>) -> Self {
        let mut f = IdentityFields {
            value: identity,
            ..Default::default()
        };
        let Some(obj) = identity.and_then(|v| v.as_object()) else {
            return f;
        };
        for (key, v) in obj.iter() {
            let vv = Some(v);
            match key {
                "type" => f.kind = vv,
                "principalId" => f.principal_id = vv,
                "arn" => f.arn = vv,
                "accountId" => f.account_id = vv,
                "accessKeyId" => f.access_key_id = vv,
                "userName" => f.user_name = vv,
                "invokedBy" => f.invoked_by = vv,
                "identityProvider" => f.identity_provider = vv,
                "sessionContext" => {
                    let Some(ctx) = v.as_object() else { continue };
                    for (k, part) in ctx.iter() {
                        match k {
                            "attributes" => {
                                f.mfa_authenticated = part.get("mfaAuthenticated");
                                f.creation_date =
                                    part.get("creationDate").and_then(|d| d.into_string());
                            }
                            "sessionIssuer" => {
                                f.issuer_type = part.get("type");
                                f.issuer_principal_id = part.get("principalId");
                                f.issuer_arn = part.get("arn");
                                f.issuer_account_id = part.get("accountId");
                                f.issuer_user_name = part.get("userName");
                            }
                            "sourceIdentity" => f.source_identity = Some(part),
                            "webIdFederationData" => {
                                f.federated_provider = part.get("federatedProvider")
                            }
                            _ => f.has_unknown = true,
                        }
                    }
                }
                _ => f.has_unknown = true,
            }
        }
        f
    }
}

/// Whether `v` is present and not JSON null.
pub fn present(v: V<'_>) -> bool {
    v.is_some_and(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_members_are_found() {
        let mut bytes = br#"{"eventName":"X","addendum":{"reason":"r"},"n":null,"userIdentity":{"type":"Root","onBehalfOf":{"userId":"u"},"sessionContext":{"attributes":{},"ec2RoleDelivery":"2.0"}}}"#.to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let f = TrailFields::read(tape.as_value());
        assert!(f.has_unknown && f.identity.has_unknown);
        let mut out = Vec::new();
        f.write_unmapped(&mut out);
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"addendum":{"reason":"r"},"userIdentity":{"onBehalfOf":{"userId":"u"},"sessionContext":{"attributes":{},"ec2RoleDelivery":"2.0"}}})
        );
    }

    #[test]
    fn known_records_have_nothing_unmapped() {
        let mut bytes = br#"{"eventName":"X","userIdentity":{"type":"Root","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}}}"#.to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let f = TrailFields::read(tape.as_value());
        assert!(!f.has_unknown && !f.identity.has_unknown);
        let mut out = Vec::new();
        f.write_unmapped(&mut out);
        assert_eq!(out, b"{}");
    }
}
