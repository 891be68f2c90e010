//! The `ecs` format: Elastic Common Schema, field for field as Elastic's own AWS CloudTrail
//! integration maps a record (its ingest pipeline `packages/aws/data_stream/cloudtrail`), so
//! dashboards and detection rules built on it work unchanged. Differences, each on purpose and
//! listed in the README: the blobs are JSON strings (Elastic writes Java's `Map.toString()`),
//! `cloud.account.id` falls back to `recipientAccountId`, and trailhose's findings go to
//! `user.effective.*`, `related.*` and `trailhose.*`.

use simd_json::prelude::*;
use simd_json::tape::Value;

use super::attribution::Actor;
use super::fields::{parse_event_time, write_json_str};
use super::json_writer::{as_bool, write_blob, write_compact, Blob, DocWriter};
use super::normalize::{Findings, NormalizeConfig, Scratch};
use super::trail_fields::{present, resource_arn, TrailFields};
use super::user_agent::parse_user_agent;

/// The record's object members written as capped JSON strings under `aws.cloudtrail.*`.
const BLOBS: usize = 5;

/// The ECS version the documents follow (the one Elastic's integration writes).
pub const ECS_VERSION: &str = "8.11.0";

/// Appends one record as an ECS document and a newline.
pub fn write_ecs_line(
    out: &mut Vec<u8>,
    f: &TrailFields<'_>,
    find: &Findings<'_>,
    cfg: &NormalizeConfig,
    scratch: &mut Scratch,
    original: &[u8],
    has_whitespace: bool,
) {
    let mut d = DocWriter::new(out);
    d.clean = f.clean_strings;
    let cap = cfg.max_field_bytes;
    let req = RequestKeys::read(f.request_parameters);
    let id = &f.identity;

    if let Some(t) = f.event_time.filter(|_| f.event_time_secs.is_some()) {
        d.rstr("@timestamp", t);
    }

    // aws.cloudtrail.*: what ECS has no place for, named as Elastic names it.
    let mut truncated: [Option<&str>; BLOBS] = [None; BLOBS];
    d.open("aws");
    d.open("cloudtrail");
    d.keyword("event_version", f.event_version);
    d.open("user_identity");
    d.keyword("type", id.kind);
    d.keyword("arn", id.arn);
    d.keyword("access_key_id", id.access_key_id);
    d.keyword("invoked_by", id.invoked_by);
    // Opened only when there is something to put in (an empty open is written, then taken
    // back: cheap, but not free on every record).
    if id.mfa_authenticated.is_some() || id.creation_date.is_some() || id.issuer.is_some() {
        d.open("session_context");
        d.keyword("mfa_authenticated", id.mfa_authenticated);
        if let Some((t, _)) = id.creation_time() {
            d.rstr("creation_date", &t);
        }
        d.open("session_issuer");
        d.keyword("type", id.issuer_type);
        d.keyword("principal_id", id.issuer_principal_id);
        d.keyword("arn", id.issuer_arn);
        d.keyword("account_id", id.issuer_account_id);
        d.close();
        d.close();
    }
    d.close();
    d.keyword("event_category", f.event_category);
    d.keyword("error_code", f.error_code);
    d.keyword("error_message", f.error_message);
    let blobs = [
        ("request_parameters", f.request_parameters),
        ("response_elements", f.response_elements),
        ("additional_eventdata", f.additional_event_data),
        ("service_event_details", f.service_event_details),
        // Insights events: Elastic renames `insightDetails` to this (then keeps it flattened).
        ("insight_details", f.insight_details),
    ];
    for (i, (name, v)) in blobs.iter().enumerate() {
        if write_blob(&mut d, name, *v, cap, &mut scratch.blob) == Blob::Truncated {
            truncated[i] = Some(name);
        }
    }
    if cfg.ecs_flattened {
        d.open("flattened");
        for (i, (name, v)) in blobs.iter().enumerate() {
            if let Some(v) = v.filter(|v| v.is_object() && truncated[i].is_none()) {
                d.key(name);
                write_compact(d.out, v, true);
            }
        }
        d.close();
    }
    d.keyword("request_id", f.request_id);
    d.keyword("event_type", f.event_type);
    d.keyword("api_version", f.api_version);
    if let Some(b) = as_bool(f.management_event) {
        d.bool("management_event", b);
    }
    if let Some(b) = as_bool(f.read_only) {
        d.bool("read_only", b);
    }
    write_resources(&mut d, f);
    d.keyword("recipient_account_id", f.recipient_account_id);
    d.keyword("shared_event_id", f.shared_event_id);
    d.keyword("vpc_endpoint_id", f.vpc_endpoint_id);
    d.keyword(
        "session_credential_from_console",
        f.session_credential_from_console,
    );
    if f.event_name == Some("ConsoleLogin") {
        write_console_login(&mut d, f);
    }
    d.close();
    d.close();

    d.open("cloud");
    d.lit("provider", "aws");
    d.keyword("region", f.aws_region);
    d.open("account");
    // `ANONYMOUS_PRINCIPAL` is no account: the event belongs to the recipient's.
    if present(id.account_id) && !id.account_is_anonymous() {
        d.keyword("id", id.account_id);
    } else {
        d.keyword("id", f.recipient_account_id);
    }
    d.close();
    d.close();

    d.open("ecs");
    d.str("version", ECS_VERSION);
    d.close();

    // What no field takes, found now: if it is cut, the original must ride along too.
    scratch.collect_unmapped(f);
    let keep_original = cfg
        .keep_original
        .keep(|| scratch.unmapped.len() > cap || truncated.iter().any(Option::is_some));
    write_event(&mut d, f, keep_original, original, has_whitespace, scratch);

    // group.* and user.target/changes for IAM calls, as Elastic lifts them.
    let (response_group, response_user) = response_group_and_user(f.response_elements);
    if response_group.is_some() || req.group_name.is_some() {
        d.open("group");
        d.keyword("id", response_group.and_then(|g| g.get("groupId")));
        d.keyword("name", req.group_name);
        d.close();
    }

    let source_ip = f
        .source_ip
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok());
    let effective = find.actor.and_then(effective_user);
    write_related(&mut d, f, &req, source_ip, effective);

    d.open("source");
    d.opt_rstr("address", f.source_ip);
    d.opt_rstr("ip", source_ip);
    if let (Some(geo), Some(_)) = (find.geo, source_ip) {
        // `source.address` is written: the cached `,"geo":...,"as":...` members follow it.
        d.append_members(geo.members());
    }
    d.close();

    write_tls(&mut d, f);

    d.open("user");
    // Elastic: userName, replaced by the session issuer's name for role sessions; IAM Identity
    // Center sign-ins name the person in additionalEventData.UserName.
    if present(id.issuer_user_name) {
        d.keyword("name", id.issuer_user_name);
    } else if present(id.user_name) {
        d.keyword("name", id.user_name);
    } else {
        d.opt_rstr("name", f.sign_in_user_name());
    }
    d.keyword("id", id.principal_id);
    if response_user.is_some() || req.user_name.is_some() {
        d.open("target");
        d.keyword("id", response_user.and_then(|u| u.get("userId")));
        d.keyword("name", req.user_name);
        d.close();
    }
    if req.new_user_name.is_some() {
        d.open("changes");
        d.keyword("name", req.new_user_name);
        d.close();
    }
    if let Some((principal, name)) = effective {
        d.open("effective");
        d.str("id", principal);
        d.str("name", name);
        d.close();
    }
    d.close();

    if let Some(ua) = f.user_agent {
        d.open("user_agent");
        d.rstr("original", ua);
        let p = parse_user_agent(ua);
        d.opt_rstr("name", p.name);
        d.opt_rstr("version", p.version);
        d.open("os");
        d.opt_str("name", p.os_name);
        if let Some(v) = p.os_version {
            d.key("version");
            d.out.push(b'"');
            v.push_dotted(d.out);
            d.out.push(b'"');
        }
        if let (Some(n), Some(v)) = (p.os_name, p.os_version) {
            // "name version", written in place (no allocation per record).
            d.key("full");
            let start = d.out.len();
            write_json_str(d.out, n);
            d.out.pop();
            d.out.push(b' ');
            v.push_dotted(d.out);
            d.out.push(b'"');
            debug_assert!(d.out[start] == b'"');
        }
        d.close();
        d.close();
    }

    write_trailhose(&mut d, &req, find, &truncated, cap, scratch);
    d.finish();
    out.push(b'\n');
}

/// `responseElements.group` and `.user`, in one pass over the response.
fn response_group_and_user<'a>(
    response: Option<Value<'a, 'a>>,
) -> (Option<Value<'a, 'a>>, Option<Value<'a, 'a>>) {
    let (mut group, mut user) = (None, None);
    if let Some(r) = response.and_then(|r| r.as_object()) {
        for (k, v) in r.iter() {
            match k {
                "group" if v.is_object() => group = Some(v),
                "user" if v.is_object() => user = Some(v),
                _ => {}
            }
        }
    }
    (group, user)
}

fn write_event(
    d: &mut DocWriter<'_>,
    f: &TrailFields<'_>,
    keep_original: bool,
    original: &[u8],
    has_whitespace: bool,
    scratch: &mut Scratch,
) {
    d.open("event");
    d.opt_rstr("action", f.event_name);
    d.keyword("provider", f.event_source);
    d.keyword("id", f.event_id);
    d.lit("kind", "event");
    d.lit("module", "aws");
    d.lit("dataset", "aws.cloudtrail");
    let mut outcome = if f.failed() { "failure" } else { "success" };
    if f.event_name == Some("ConsoleLogin") {
        match f
            .response_elements
            .and_then(|r| r.get("ConsoleLogin"))
            .and_then(|v| v.into_string())
        {
            Some("Success") => outcome = "success",
            Some("Failure") => outcome = "failure",
            _ => {}
        }
    }
    d.lit("outcome", outcome);
    let (category, types) = match f.event_name {
        Some(name) => categorize(name),
        None if present(f.insight_details) => insight_category(f.insight_details),
        None => (&[][..], &["info"][..]),
    };
    d.open_array("category");
    for c in category {
        d.lit("", c);
    }
    d.close();
    d.open_array("type");
    for t in types {
        d.lit("", t);
    }
    d.close();
    if keep_original {
        scratch.write_original(d, "original", original, has_whitespace);
    }
    d.close();
}

/// An Insights event is about API calls (ECS's `api` category), and marks the start or the end
/// of unusual activity (`insightDetails.state`), which ECS's `start` and `end` types say.
/// Elastic's pipeline sets only `info`: a deliberate difference (README), so that a rule can
/// find where an anomaly began without parsing the details.
fn insight_category(
    details: Option<Value<'_, '_>>,
) -> (&'static [&'static str], &'static [&'static str]) {
    let state = details
        .and_then(|d| d.get("state"))
        .and_then(|s| s.into_string());
    let types: &[&str] = match state {
        Some("Start") => &["start"],
        Some("End") => &["end"],
        _ => &["info"],
    };
    (&["api"], types)
}

/// `aws.cloudtrail.resources`: `{arn, account_id, type}` each, repeats dropped (as Elastic).
fn write_resources(d: &mut DocWriter<'_>, f: &TrailFields<'_>) {
    let Some(list) = f.resources.and_then(|r| r.as_array()) else {
        return;
    };
    d.open_array("resources");
    let mut seen: Vec<(Option<&str>, Option<&str>, Option<&str>)> = Vec::new();
    for r in list.iter() {
        if !r.is_object() {
            continue;
        }
        let s = |k: &str| r.get(k).and_then(|v| v.into_string());
        let arn = resource_arn(r);
        let key = (arn.and_then(|a| a.into_string()), s("accountId"), s("type"));
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        d.open("");
        // Elastic renames `ARN` to `arn` and keeps an `arn` as it is: both land here.
        d.keyword("arn", arn);
        d.keyword("account_id", r.get("accountId"));
        d.keyword("type", r.get("type"));
        d.close();
    }
    d.close();
}

fn write_console_login(d: &mut DocWriter<'_>, f: &TrailFields<'_>) {
    let Some(extra) = f.additional_event_data else {
        return;
    };
    let s = |k: &str| extra.get(k).and_then(|v| v.into_string());
    d.open("console_login");
    d.open("additional_eventdata");
    if let Some(v) = s("MobileVersion") {
        d.bool("mobile_version", v != "No");
    }
    d.opt_rstr("login_to", s("LoginTo"));
    if let Some(v) = s("MFAUsed") {
        d.bool("mfa_used", v != "No");
    }
    d.close();
    d.close();
}

fn write_related(
    d: &mut DocWriter<'_>,
    f: &TrailFields<'_>,
    req: &RequestKeys<'_>,
    source_ip: Option<&str>,
    effective: Option<(&str, &str)>,
) {
    d.open("related");
    d.open_array("user");
    let mut users: [Option<&str>; 4] = [None; 4];
    let candidates = [
        f.identity
            .user_name
            .and_then(|v| v.into_string())
            .or_else(|| f.sign_in_user_name()),
        req.user_name.and_then(|v| v.into_string()),
        req.new_user_name.and_then(|v| v.into_string()),
        effective.map(|(_, name)| name),
    ];
    for (i, c) in candidates.into_iter().enumerate() {
        if let Some(u) = c.filter(|u| !u.is_empty() && !users.contains(&Some(u))) {
            users[i] = Some(u);
            d.str("", u);
        }
    }
    d.close();
    if let Some(ip) = source_ip {
        d.open_array("ip");
        d.rstr("", ip);
        d.close();
    }
    d.close();
}

fn write_tls(d: &mut DocWriter<'_>, f: &TrailFields<'_>) {
    let Some(tls) = f.tls_details else { return };
    d.open("tls");
    if let Some(v) = tls.get("tlsVersion").and_then(|v| v.into_string()) {
        // "TLSv1.2" -> version_protocol "tls", version "1.2".
        match v.split_once('v') {
            Some((proto, ver)) => {
                d.str("version_protocol", &proto.to_ascii_lowercase());
                d.rstr("version", ver);
            }
            None => d.rstr("version", v),
        }
    }
    d.keyword("cipher", tls.get("cipherSuite"));
    d.open("client");
    d.keyword("server_name", tls.get("clientProvidedHostHeader"));
    d.close();
    d.close();
}

/// `trailhose.*`: the findings ECS has no field for, and what normalizing did.
fn write_trailhose(
    d: &mut DocWriter<'_>,
    req: &RequestKeys<'_>,
    find: &Findings<'_>,
    truncated: &[Option<&str>; BLOBS],
    cap: usize,
    scratch: &mut Scratch,
) {
    d.open("trailhose");
    if let Some(actor) = find.actor {
        d.key("actor");
        actor.write_json(d.out);
    }
    d.opt_str("source_kind", find.source_kind);
    if let Some(noise) = find.noise {
        d.open("noise");
        d.bool("aws_internal", noise.aws_internal());
        d.open_array("reasons");
        for r in &noise.reasons {
            d.lit("", r.label());
        }
        d.close();
        d.close();
    }
    if !find.resources.is_empty() {
        d.open_array("resources");
        for r in find.resources {
            d.str("", r);
        }
        d.close();
    }
    write_lifted(d, req);
    let unmapped_cut = scratch.write_unmapped(d, "unmapped", cap);
    if unmapped_cut || truncated.iter().any(Option::is_some) {
        d.open_array("truncated");
        for name in truncated.iter().flatten() {
            d.str("", &format!("aws.cloudtrail.{name}"));
        }
        if unmapped_cut {
            d.lit("", "trailhose.unmapped");
        }
        d.close();
    }
    d.close();
}

/// The `trailhose.request.*` name of a request parameter that searches and rules use most,
/// lifted out of the blob into a typed (keyword) field: always a string, whatever the API.
pub fn lifted_name(key: &str) -> Option<&'static str> {
    Some(match key {
        "bucketName" => "bucket_name",
        "key" => "object_key",
        "roleArn" => "role_arn",
        "roleSessionName" => "role_session_name",
        "roleName" => "role_name",
        "policyArn" => "policy_arn",
        "userName" => "user_name",
        "groupName" => "group_name",
        "functionName" => "function_name",
        "keyId" => "key_id",
        "secretId" => "secret_id",
        "instanceId" => "instance_id",
        _ => return None,
    })
}

/// The request parameters the mapping reads, found in one pass over `requestParameters`.
#[derive(Default)]
struct RequestKeys<'a> {
    user_name: Option<Value<'a, 'a>>,
    new_user_name: Option<Value<'a, 'a>>,
    group_name: Option<Value<'a, 'a>>,
    /// Lifted parameters in record order (at most one per name).
    lifted: [Option<(&'static str, Value<'a, 'a>)>; 12],
}

impl<'a> RequestKeys<'a> {
    fn read(request: Option<Value<'a, 'a>>) -> Self {
        let mut keys = RequestKeys::default();
        let Some(req) = request.and_then(|r| r.as_object()) else {
            return keys;
        };
        let mut n = 0;
        for (k, v) in req.iter() {
            match k {
                "userName" => keys.user_name = Some(v),
                "newUserName" => keys.new_user_name = Some(v),
                "groupName" => keys.group_name = Some(v),
                _ => {}
            }
            if let Some(name) = lifted_name(k) {
                if n < keys.lifted.len() && !v.is_object() && !v.is_array() {
                    keys.lifted[n] = Some((name, v));
                    n += 1;
                }
            }
        }
        keys
    }
}

fn write_lifted(d: &mut DocWriter<'_>, req: &RequestKeys<'_>) {
    if req.lifted[0].is_none() {
        return;
    }
    d.open("request");
    for (name, v) in req.lifted.iter().flatten() {
        d.keyword(name, Some(*v));
    }
    d.close();
}

/// The attributed principal as (`user.effective.id`, `user.effective.name`): the id as
/// attribution found it (an ARN, a SAML subject, an email), the name its last path part.
fn effective_user(actor: &Actor) -> Option<(&str, &str)> {
    let p = actor.principal.as_deref()?;
    let name = p
        .rsplit(['/', ':'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(p);
    Some((p, name))
}

/// A CloudTrail time as ISO 8601 (`2013-11-02T01:06:28Z`), also from the basic form some
/// records use (`20131102T010628Z`); `None` when it is neither.
pub fn iso_time(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if parse_event_time(s).is_some() {
        return Some(s.into());
    }
    let b = s.as_bytes();
    if b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
    {
        let iso = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &s[0..4],
            &s[4..6],
            &s[6..8],
            &s[9..11],
            &s[11..13],
            &s[13..15]
        );
        return parse_event_time(&iso).map(|_| iso.into());
    }
    None
}

/// `event.category` and `event.type` for the calls Elastic's integration categorizes; every
/// other call is `type: ["info"]` with no category.
pub fn categorize(event_name: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match CATEGORIES.binary_search_by(|(n, _, _)| n.cmp(&event_name)) {
        Ok(i) => (CATEGORIES[i].1, CATEGORIES[i].2),
        Err(_) => (&[], &["info"]),
    }
}

const IAM: &[&str] = &["iam"];
const AUTH: &[&str] = &["authentication"];
const FILE: &[&str] = &["file"];
const GROUP_CHANGE: &[&str] = &["group", "change"];
const GROUP_CREATE: &[&str] = &["group", "creation"];
const GROUP_DELETE: &[&str] = &["group", "deletion"];
const GROUP_INFO: &[&str] = &["group", "info"];
const USER_CHANGE: &[&str] = &["user", "change"];
const USER_CREATE: &[&str] = &["user", "creation"];
const USER_DELETE: &[&str] = &["user", "deletion"];
const USER_INFO: &[&str] = &["user", "info"];
const ADMIN_CHANGE: &[&str] = &["admin", "change"];
const ADMIN_CREATE: &[&str] = &["admin", "creation"];
const INFO: &[&str] = &["info"];

/// Elastic's categorization table, sorted by event name.
#[rustfmt::skip]
const CATEGORIES: &[(&str, &[&str], &[&str])] = &[
    ("AddUserToGroup", IAM, GROUP_CHANGE),
    ("AssumeRole", AUTH, INFO),
    ("AttachGroupPolicy", IAM, GROUP_CHANGE),
    ("AttachUserPolicy", IAM, USER_CHANGE),
    ("ChangePassword", IAM, USER_CHANGE),
    ("ConsoleLogin", AUTH, INFO),
    ("CreateAccessKey", IAM, USER_CHANGE),
    ("CreateBucket", FILE, &["creation"]),
    ("CreateGroup", IAM, GROUP_CREATE),
    ("CreateKeyPair", IAM, ADMIN_CREATE),
    ("CreateUser", IAM, USER_CREATE),
    ("CreateVirtualMFADevice", IAM, USER_CHANGE),
    ("DeactivateMFADevice", IAM, USER_CHANGE),
    ("DeleteAccessKey", IAM, USER_CHANGE),
    ("DeleteBucket", FILE, &["deletion"]),
    ("DeleteGroup", IAM, GROUP_DELETE),
    ("DeleteGroupPolicy", IAM, GROUP_CHANGE),
    ("DeleteSSHPublicKey", IAM, USER_CHANGE),
    ("DeleteUser", IAM, USER_DELETE),
    ("DeleteUserPermissionsBoundary", IAM, USER_CHANGE),
    ("DeleteUserPolicy", IAM, USER_CHANGE),
    ("DeleteVirtualMFADevice", IAM, USER_CHANGE),
    ("DetachGroupPolicy", IAM, GROUP_CHANGE),
    ("DetachUserPolicy", IAM, USER_CHANGE),
    ("EnableMFADevice", IAM, USER_CHANGE),
    ("GetGroup", IAM, GROUP_INFO),
    ("GetGroupPolicy", IAM, GROUP_INFO),
    ("GetUser", IAM, USER_INFO),
    ("GetUserPolicy", IAM, USER_INFO),
    ("ListAttachedGroupPolicies", IAM, GROUP_INFO),
    ("ListAttachedUserPolicies", IAM, USER_INFO),
    ("ListGroupPolicies", IAM, GROUP_INFO),
    ("ListGroups", IAM, GROUP_INFO),
    ("ListGroupsForUser", IAM, USER_INFO),
    ("ListUserPolicies", IAM, USER_INFO),
    ("ListUserTags", IAM, USER_INFO),
    ("ListUsers", IAM, USER_INFO),
    ("PutGroupPolicy", IAM, GROUP_CHANGE),
    ("PutUserPermissionsBoundary", IAM, USER_CHANGE),
    ("PutUserPolicy", IAM, USER_CHANGE),
    ("RemoveUserFromGroup", IAM, GROUP_CHANGE),
    ("SetDefaultPolicyVersion", IAM, ADMIN_CHANGE),
    ("SetSecurityTokenServicePreferences", IAM, ADMIN_CHANGE),
    ("TagUser", IAM, USER_CHANGE),
    ("UntagUser", IAM, USER_CHANGE),
    ("UpdateAccessKey", IAM, USER_CHANGE),
    ("UpdateAccountPasswordPolicy", IAM, ADMIN_CHANGE),
    ("UpdateGroup", IAM, GROUP_CHANGE),
    ("UpdateLoginProfile", IAM, USER_CHANGE),
    ("UpdateRole", IAM, ADMIN_CHANGE),
    ("UpdateSSHPublicKey", IAM, USER_CHANGE),
    ("UpdateUser", IAM, USER_CHANGE),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_table_is_sorted_and_found() {
        assert!(CATEGORIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(categorize("CreateUser"), (IAM, USER_CREATE));
        assert_eq!(categorize("ConsoleLogin").0, AUTH);
        assert_eq!(categorize("DescribeInstances"), (&[][..], INFO));
    }

    #[test]
    fn times_in_both_forms() {
        assert_eq!(
            iso_time("20131102T010628Z").as_deref(),
            Some("2013-11-02T01:06:28Z")
        );
        assert_eq!(
            iso_time("2013-11-02T01:06:28Z").as_deref(),
            Some("2013-11-02T01:06:28Z")
        );
        assert_eq!(iso_time("Oct 2, 2019 11:12:29 PM"), None);
        assert_eq!(iso_time("20131302T010628Z"), None);
    }
}
