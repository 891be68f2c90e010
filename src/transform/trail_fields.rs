//! Every field of a CloudTrail record that the ECS and OCSF mappings place, found in one pass
//! over the record's top-level keys and one over `userIdentity`'s. Values stay tape values, so
//! each mapping decides how to write them; members no mapping knows are found again, only when
//! there are some, for the `unmapped` parts.

use simd_json::prelude::*;
use simd_json::tape::Value;

use super::fields::{parse_event_time, write_json_str, ANONYMOUS_PRINCIPAL};
use super::fields::{IdentityView, RecordView};
use super::json_writer::{as_bool, write_compact};

type V<'a> = Option<Value<'a, 'a>>;

/// A record's fields, by their CloudTrail names.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrailFields<'a> {
    pub record: Option<Value<'a, 'a>>,
    pub event_version: V<'a>,
    pub event_time: Option<&'a str>,
    /// `eventTime` read (seconds since the epoch), once for every mapping that needs it.
    pub event_time_secs: Option<i64>,
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
    /// Whether the record has members no mapping knows (then `write_unmapped` finds them).
    pub has_unknown: bool,
    /// Whether a member read as a string held something else (see `unplaced`).
    pub odd_values: bool,
    /// Whether the record's text has no escape sequence (set by whoever has its bytes; see
    /// `fields::clean_json_text`), so its strings are written without an escape check.
    pub clean_strings: bool,
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
    /// `creationDate` read, when it is ISO 8601 already (the basic form is read on demand).
    pub creation_secs: Option<i64>,
    /// `sessionContext.sessionIssuer` itself.
    pub issuer: V<'a>,
    pub issuer_type: V<'a>,
    pub issuer_principal_id: V<'a>,
    pub issuer_arn: V<'a>,
    pub issuer_account_id: V<'a>,
    pub issuer_user_name: V<'a>,
    pub source_identity: V<'a>,
    pub federated_provider: V<'a>,
    /// `onBehalfOf.userId` (an `IdentityCenterUser`): read for attribution; no ECS or OCSF
    /// field takes it, so `onBehalfOf` still counts as unknown and reaches `unmapped`.
    pub on_behalf_of_user_id: Option<&'a str>,
    /// `sessionContext` itself.
    pub session_context: V<'a>,
    /// `sessionContext` holds parts no mapping places (the `creationDate`'s format aside).
    pub session_context_odd: bool,
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
    "sharedEventID",
    "sharedEventId",
    "vpcEndpointId",
    "eventCategory",
    "tlsDetails",
    "sessionCredentialFromConsole",
    "insightDetails",
];

/// The `userIdentity` members placed (`sessionContext` counts as placed when it holds only
/// the parts read below).
/// (`identityProvider`, `sourceIdentity` and `webIdFederationData` are read for attribution
/// and OCSF's `idp`, but ECS has no field for them: they reach `unmapped` too.)
const KNOWN_IDENTITY: &[&str] = &[
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "invokedBy",
    "sessionContext",
];
const KNOWN_ATTRIBUTES: &[&str] = &["mfaAuthenticated", "creationDate"];
const KNOWN_ISSUER: &[&str] = &["type", "principalId", "arn", "accountId", "userName"];

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
            // Matched on the length first: one comparison per key instead of a chain of them
            // (every record's keys pass here).
            let known = match key.len() {
                7 => match key {
                    "eventID" => {
                        f.event_id = v;
                        true
                    }
                    _ => false,
                },
                8 => match key {
                    "readOnly" => {
                        f.read_only = v;
                        true
                    }
                    _ => false,
                },
                9 => match key {
                    "eventTime" => {
                        f.event_time = string_or_odd(v, &mut f.odd_values);
                        f.event_time_secs = f.event_time.and_then(parse_event_time);
                        true
                    }
                    "eventName" => {
                        f.event_name = string_or_odd(v, &mut f.odd_values);
                        true
                    }
                    "awsRegion" => {
                        f.aws_region = v;
                        true
                    }
                    "userAgent" => {
                        f.user_agent = string_or_odd(v, &mut f.odd_values);
                        true
                    }
                    "errorCode" => {
                        f.error_code = v;
                        true
                    }
                    "requestID" => {
                        f.request_id = v;
                        true
                    }
                    "eventType" => {
                        f.event_type = v;
                        true
                    }
                    "resources" => {
                        f.resources = v;
                        true
                    }
                    _ => false,
                },
                10 => match key {
                    "apiVersion" => {
                        f.api_version = v;
                        true
                    }
                    "tlsDetails" => {
                        f.tls_details = v;
                        true
                    }
                    _ => false,
                },
                11 => match key {
                    "eventSource" => {
                        f.event_source = v;
                        true
                    }
                    _ => false,
                },
                12 => match key {
                    "eventVersion" => {
                        f.event_version = v;
                        true
                    }
                    "userIdentity" => {
                        f.identity = IdentityFields::read(v);
                        true
                    }
                    "errorMessage" => {
                        f.error_message = v;
                        true
                    }
                    _ => false,
                },
                13 => match key {
                    // CloudTrail writes `sharedEventID`; Elastic's pipeline (and some
                    // re-serialized data) spell it `sharedEventId`: both are the same field.
                    "sharedEventID" | "sharedEventId" => {
                        f.shared_event_id = v;
                        true
                    }
                    "vpcEndpointId" => {
                        f.vpc_endpoint_id = v;
                        true
                    }
                    "eventCategory" => {
                        f.event_category = v;
                        true
                    }
                    _ => false,
                },
                14 => match key {
                    "insightDetails" => {
                        f.insight_details = v;
                        true
                    }
                    _ => false,
                },
                15 => match key {
                    "sourceIPAddress" => {
                        f.source_ip = string_or_odd(v, &mut f.odd_values);
                        true
                    }
                    "managementEvent" => {
                        f.management_event = v;
                        true
                    }
                    _ => false,
                },
                16 => match key {
                    "responseElements" => {
                        f.response_elements = v;
                        true
                    }
                    _ => false,
                },
                17 => match key {
                    "requestParameters" => {
                        f.request_parameters = v;
                        true
                    }
                    _ => false,
                },
                18 => match key {
                    "recipientAccountId" => {
                        f.recipient_account_id = v;
                        true
                    }
                    _ => false,
                },
                19 => match key {
                    "additionalEventData" => {
                        f.additional_event_data = v;
                        true
                    }
                    "serviceEventDetails" => {
                        f.service_event_details = v;
                        true
                    }
                    _ => false,
                },
                28 => match key {
                    "sessionCredentialFromConsole" => {
                        f.session_credential_from_console = v;
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if !known {
                f.has_unknown = true;
            }
        }
        f
    }

    /// The view enrichment, dedupe and filters read, taken from these fields instead of a
    /// second pass over the record.
    pub fn view(&self) -> RecordView<'a> {
        let s = |v: V<'a>| v.and_then(|v| v.into_string());
        let id = &self.identity;
        RecordView {
            event_id: s(self.event_id),
            event_name: self.event_name,
            event_source: s(self.event_source),
            recipient_account_id: s(self.recipient_account_id),
            event_time: self.event_time,
            event_type: s(self.event_type),
            source_ip: self.source_ip,
            user_agent: self.user_agent,
            error_code: s(self.error_code),
            read_only: as_bool(self.read_only),
            session_credential_from_console: s(self.session_credential_from_console),
            request: self.request_parameters,
            response: self.response_elements,
            resources: self.resources,
            additional: self.additional_event_data,
            identity: IdentityView {
                kind: s(id.kind),
                arn: s(id.arn),
                account_id: s(id.account_id),
                access_key_id: s(id.access_key_id),
                invoked_by: s(id.invoked_by),
                user_name: s(id.user_name),
                principal_id: s(id.principal_id),
                on_behalf_of_user_id: id.on_behalf_of_user_id,
                issuer_arn: s(id.issuer_arn),
                source_identity: s(id.source_identity),
            },
        }
    }

    /// Which parts of the record hold members no mapping places. Keys no mapping knows are
    /// noted while reading; values of known keys the mappings cannot place whole (see
    /// `placeable`) are looked at only here, when a normalized format asks: the raw format and
    /// enrichment never pay for it.
    pub fn unplaced(&self) -> Unplaced {
        let id = &self.identity;
        let top = self.has_unknown
            || self.odd_values
            || (self.event_time.is_some() && self.event_time_secs.is_none())
            || !bool_placeable(self.read_only)
            || !bool_placeable(self.management_event)
            || !resources_placeable(self.resources)
            || !tls_placeable(self.tls_details)
            || id.value.is_some_and(|v| !v.is_null() && !v.is_object());
        let identity = id.has_unknown
            || id
                .user_name
                .is_some_and(|u| !identity_placeable("userName", u))
            || id.account_is_anonymous()
            || id.session_context_odd
            || (id.creation_date.is_some() && id.creation_time().is_none());
        Unplaced { top, identity }
    }

    /// `eventTime` in milliseconds since the epoch (its fraction kept).
    pub fn event_time_millis(&self) -> Option<i64> {
        Some(self.event_time_secs? * 1000 + super::fields::fraction_millis(self.event_time?))
    }

    /// The members the mappings place (known and placeable), for a mapping that places only
    /// some of them and must keep the rest in its `unmapped` part.
    pub fn placed_members(&self) -> impl Iterator<Item = (&'a str, Value<'a, 'a>)> {
        self.record
            .and_then(|r| r.as_object())
            .into_iter()
            .flat_map(|o| o.iter())
            .filter(|(k, v)| !v.is_null() && KNOWN_TOP.contains(k) && placeable(k, Some(*v)))
    }

    /// Whether some `resources` member is not written whole by the mappings' resource lists
    /// (then the list reaches `unmapped`).
    pub fn has_unknown_resources(&self) -> bool {
        !resources_placeable(self.resources)
    }

    /// Whether nobody signed the request (see `fields::anonymous_identity`).
    pub fn is_anonymous(&self) -> bool {
        let s = |v: V<'a>| v.and_then(|v| v.into_string());
        let id = &self.identity;
        super::fields::anonymous_identity(s(id.kind), s(id.account_id), s(id.principal_id))
    }

    /// `additionalEventData.UserName`: the person signing in to IAM Identity Center.
    pub fn sign_in_user_name(&self) -> Option<&'a str> {
        self.additional_event_data?.get("UserName")?.into_string()
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

    /// Writes the members no mapping places (where `unplaced`, from `unplaced()`, says there
    /// are some) as one compact JSON object (`{}` when none):
    /// unknown top-level members, and `userIdentity` members beyond the known ones.
    pub fn write_unmapped(&self, unplaced: Unplaced, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        if unplaced.top {
            if let Some(obj) = self.record.and_then(|r| r.as_object()) {
                for (k, v) in obj.iter() {
                    if (!KNOWN_TOP.contains(&k) || !placeable(k, Some(v))) && !v.is_null() {
                        write_member(out, &mut first, k, v);
                    }
                }
            }
        }
        if unplaced.identity {
            if let Some(obj) = self.identity.value.and_then(|v| v.as_object()) {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"userIdentity\":{");
                let mut inner_first = true;
                for (k, v) in obj.iter() {
                    if k == "sessionContext" && v.is_object() {
                        // Only the parts no mapping places.
                        let mut parts = session_context_unknown_parts(v).peekable();
                        if parts.peek().is_some() {
                            if !inner_first {
                                out.push(b',');
                            }
                            inner_first = false;
                            out.extend_from_slice(b"\"sessionContext\":{");
                            let mut part_first = true;
                            for (pk, pv) in parts {
                                write_member(out, &mut part_first, pk, pv);
                            }
                            out.push(b'}');
                        }
                        continue;
                    }
                    // (A `sessionContext` that is no object is placed by no mapping.)
                    let known = KNOWN_IDENTITY.contains(&k)
                        && k != "sessionContext"
                        && identity_placeable(k, v);
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

/// Where a record holds members no mapping places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unplaced {
    /// Some top-level member (`userIdentity` itself included when it is not an object).
    pub top: bool,
    /// Some member of `userIdentity`.
    pub identity: bool,
}

impl Unplaced {
    pub fn any(self) -> bool {
        self.top || self.identity
    }
}

/// A member read as a string: its string, or `None` (noting `odd` when it held a value that is
/// not one, which the mappings then cannot place).
fn string_or_odd<'a>(v: V<'a>, odd: &mut bool) -> Option<&'a str> {
    let v = v?;
    let s = v.into_string();
    if s.is_none() && !v.is_null() {
        *odd = true;
    }
    s
}

/// Whether the mappings place a known member's value whole. A known key can still hold what
/// they cannot: an `eventTime` that is no time, a `readOnly` that is no boolean, a `resources`
/// member without an ARN or with keys of its own, `tlsDetails` keys beyond the three mapped, a
/// non-string where a string is read. Such a member goes to `unmapped` as it is, so nothing
/// in a record is ever dropped by a mapper (tested by `tests/mapping_completeness.rs`).
fn placeable(key: &str, v: Option<Value<'_, '_>>) -> bool {
    match key {
        "eventTime" => v.is_none_or(|v| {
            v.is_null()
                || v.into_string()
                    .is_some_and(|t| parse_event_time(t).is_some())
        }),
        "eventName" | "sourceIPAddress" | "userAgent" => {
            v.is_none_or(|v| v.is_null() || v.into_string().is_some())
        }
        "readOnly" | "managementEvent" => bool_placeable(v),
        "userIdentity" => v.is_none_or(|v| v.is_null() || v.is_object()),
        "resources" => resources_placeable(v),
        "tlsDetails" => tls_placeable(v),
        _ => true,
    }
}

fn bool_placeable(v: V<'_>) -> bool {
    v.is_none_or(|v| v.is_null() || as_bool(Some(v)).is_some())
}

fn resources_placeable(v: V<'_>) -> bool {
    v.is_none_or(|v| v.is_null() || v.as_array().is_some_and(|l| l.iter().all(mapped_resource)))
}

fn tls_placeable(v: V<'_>) -> bool {
    v.is_none_or(|v| {
        v.is_null()
            || v.as_object().is_some_and(|o| {
                o.iter().all(|(k, x)| {
                    matches!(k, "tlsVersion" | "cipherSuite" | "clientProvidedHostHeader")
                        && (x.into_string().is_some() || x.is_null())
                })
            })
    })
}

/// A `resources` member both mappings write whole: an object with an ARN (spelled `ARN`, or
/// `arn` as some re-serializers write it) and at most `accountId` and `type` besides, all
/// strings.
pub fn mapped_resource(r: Value<'_, '_>) -> bool {
    let Some(o) = r.as_object() else { return false };
    let mut arns = 0;
    for (k, v) in o.iter() {
        match k {
            // One ARN: a member with both spellings keeps the second only in `unmapped`.
            "ARN" | "arn" => arns += 1,
            "accountId" | "type" => {}
            _ => return false,
        }
        if v.into_string().is_none() {
            return false;
        }
    }
    arns == 1
}

/// A resource's ARN, however the key is spelled.
pub fn resource_arn<'a>(r: Value<'a, 'a>) -> Option<Value<'a, 'a>> {
    r.get("ARN")
        .or_else(|| r.get("arn"))
        .filter(|v| !v.is_null())
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

/// The parts of `sessionContext` beyond what both mappings place: its `attributes`
/// (`mfaAuthenticated` as a boolean, a readable `creationDate`) and `sessionIssuer` (five
/// string members) are placed unless they hold more; anything else (`sourceIdentity`,
/// `webIdFederationData`, parts AWS adds later) is not, unless it is empty.
fn session_context_unknown_parts<'v>(
    v: Value<'v, 'v>,
) -> impl Iterator<Item = (&'v str, Value<'v, 'v>)> {
    let only = |part: Value<'_, '_>, known: &[&str]| {
        part.as_object().is_some_and(|p| {
            p.iter().all(|(k, x)| {
                known.contains(&k)
                    && (x.is_null()
                        || match k {
                            "creationDate" => x
                                .into_string()
                                .is_some_and(|s| super::ecs::iso_time(s).is_some()),
                            // OCSF reads it as a boolean (`is_mfa`).
                            "mfaAuthenticated" => as_bool(Some(x)).is_some(),
                            _ => x.into_string().is_some(),
                        })
            })
        })
    };
    v.as_object()
        .into_iter()
        .flat_map(|o| o.iter())
        .filter(move |(k, part)| match *k {
            "attributes" => !part.is_null() && !only(*part, KNOWN_ATTRIBUTES),
            "sessionIssuer" => !part.is_null() && !only(*part, KNOWN_ISSUER),
            _ => !carries_nothing(*part),
        })
}

/// Null, `""`, `{}` or `[]`.
/// Whether the mappings place an identity member's value whole: ECS writes `userName` only as
/// a string (a session's issuer name takes `user.name`, the caller's then goes to
/// `related.user`), so any other value goes to `unmapped`.
fn identity_placeable(key: &str, v: Value<'_, '_>) -> bool {
    match key {
        "userName" => v.is_null() || v.into_string().is_some(),
        // Not an account: ECS's `cloud.account.id` takes the recipient's instead.
        "accountId" => v.into_string() != Some(ANONYMOUS_PRINCIPAL),
        _ => true,
    }
}

fn carries_nothing(v: Value<'_, '_>) -> bool {
    v.is_null()
        || v.into_string().is_some_and(str::is_empty)
        || v.as_object().is_some_and(|o| o.is_empty())
        || v.as_array().is_some_and(|a| a.is_empty())
}

impl<'a> IdentityFields<'a> {
    /// Whether `accountId` is `ANONYMOUS_PRINCIPAL`, which is no account: the mappings then
    /// write no account for the caller (the value itself goes to `unmapped`).
    pub fn account_is_anonymous(&self) -> bool {
        self.account_id.and_then(|a| a.into_string()) == Some(ANONYMOUS_PRINCIPAL)
    }

    /// `sessionContext.attributes.creationDate` as ISO 8601 (also from the basic form some
    /// records use, `20131102T010628Z`) and in milliseconds since the epoch.
    pub fn creation_time(&self) -> Option<(std::borrow::Cow<'a, str>, i64)> {
        let t = self.creation_date?;
        match self.creation_secs {
            Some(secs) => Some((t.into(), secs * 1000 + super::fields::fraction_millis(t))),
            None => {
                let iso = super::ecs::iso_time(t)?;
                let ms = parse_event_time(&iso)? * 1000 + super::fields::fraction_millis(&iso);
                Some((iso, ms))
            }
        }
    }

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
                "identityProvider" => {
                    f.identity_provider = vv;
                    f.has_unknown = true;
                }
                "onBehalfOf" => {
                    f.on_behalf_of_user_id = v.get("userId").and_then(|u| u.into_string());
                    f.has_unknown = true;
                }
                "sessionContext" => {
                    f.session_context = vv;
                    let Some(ctx) = v.as_object() else {
                        f.session_context_odd |= !v.is_null();
                        continue;
                    };
                    // One pass over each part, not one lookup per field; what no mapping
                    // places is noted on the way (see `session_context_unknown_parts`).
                    let mut odd = false;
                    let string = |a: Value<'_, '_>| a.is_null() || a.into_string().is_some();
                    for (k, part) in ctx.iter() {
                        match k {
                            "attributes" => {
                                odd |= !part.is_object() && !part.is_null();
                                for (name, a) in part.as_object().iter().flat_map(|o| o.iter()) {
                                    match name {
                                        "mfaAuthenticated" => {
                                            f.mfa_authenticated = Some(a);
                                            odd |= !a.is_null() && as_bool(Some(a)).is_none();
                                        }
                                        "creationDate" => {
                                            f.creation_date = a.into_string();
                                            f.creation_secs =
                                                f.creation_date.and_then(parse_event_time);
                                            odd |= !string(a);
                                        }
                                        _ => odd = true,
                                    }
                                }
                            }
                            "sessionIssuer" => {
                                f.issuer = Some(part);
                                odd |= !part.is_object() && !part.is_null();
                                for (name, a) in part.as_object().iter().flat_map(|o| o.iter()) {
                                    match name {
                                        "type" => f.issuer_type = Some(a),
                                        "principalId" => f.issuer_principal_id = Some(a),
                                        "arn" => f.issuer_arn = Some(a),
                                        "accountId" => f.issuer_account_id = Some(a),
                                        "userName" => f.issuer_user_name = Some(a),
                                        _ => odd = true,
                                    }
                                    odd |= !string(a);
                                }
                            }
                            "sourceIdentity" => {
                                f.source_identity = Some(part);
                                odd |= !carries_nothing(part);
                            }
                            "webIdFederationData" => {
                                f.federated_provider = part.get("federatedProvider");
                                odd |= !carries_nothing(part);
                            }
                            _ => odd |= !carries_nothing(part),
                        }
                    }
                    f.session_context_odd = odd;
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
        f.write_unmapped(f.unplaced(), &mut out);
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"addendum":{"reason":"r"},"userIdentity":{"onBehalfOf":{"userId":"u"},"sessionContext":{"ec2RoleDelivery":"2.0"}}})
        );
    }

    #[test]
    fn the_view_matches_a_direct_read() {
        let mut bytes = br#"{"eventID":"e","eventName":"n","eventSource":"s","recipientAccountId":"1","eventTime":"t","eventType":"AwsApiCall","sourceIPAddress":"192.0.2.1","userAgent":"u","errorCode":"x","readOnly":"true","sessionCredentialFromConsole":"true","requestParameters":{"a":1},"responseElements":null,"resources":[],"userIdentity":{"type":"AssumedRole","arn":"a","accountId":"1","accessKeyId":"ASIA","invokedBy":"i","userName":"u","sessionContext":{"sessionIssuer":{"arn":"r"},"sourceIdentity":"me"}}}"#.to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let direct = format!("{:?}", RecordView::read(tape.as_value()));
        let derived = format!("{:?}", TrailFields::read(tape.as_value()).view());
        assert_eq!(direct, derived);
    }

    #[test]
    fn known_records_have_nothing_unmapped() {
        let mut bytes = br#"{"eventName":"X","userIdentity":{"type":"Root","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}}}"#.to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let f = TrailFields::read(tape.as_value());
        assert!(!f.has_unknown && !f.identity.has_unknown);
        let mut out = Vec::new();
        f.write_unmapped(f.unplaced(), &mut out);
        assert_eq!(out, b"{}");
    }
}
