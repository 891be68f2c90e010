//! The `ocsf` format: OCSF 1.1.0, as AWS Security Lake maps CloudTrail. API calls are API
//! Activity (6003) with `activity_id` from the verb of the API name; console logins are
//! Authentication (3002); IAM user and credential changes are Account Change (3001). Profiles
//! `cloud` and `datetime` (and `host` for the two classes whose `actor` it carries). CloudTrail
//! Insights events are Detection Findings (2004).

use std::io::Write as _;

use simd_json::prelude::*;

use super::fields::{fraction_millis, parse_event_time, write_json_str};
use super::json_writer::{as_bool, write_blob, Blob, DocWriter};
use super::normalize::{Findings, NormalizeConfig, Scratch};
use super::trail_fields::{present, resource_arn, TrailFields};

pub const OCSF_VERSION: &str = "1.1.0";

/// The class a record maps to, with its activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub class_uid: u32,
    pub class_name: &'static str,
    pub category_uid: u32,
    pub category_name: &'static str,
    pub activity_id: u32,
    pub activity_name: &'static str,
}

const API_ACTIVITY: (u32, &str, u32, &str) = (6003, "API Activity", 6, "Application Activity");
const AUTHENTICATION: (u32, &str, u32, &str) =
    (3002, "Authentication", 3, "Identity & Access Management");
const ACCOUNT_CHANGE: (u32, &str, u32, &str) =
    (3001, "Account Change", 3, "Identity & Access Management");

fn class(of: (u32, &'static str, u32, &'static str), activity: (u32, &'static str)) -> Class {
    Class {
        class_uid: of.0,
        class_name: of.1,
        category_uid: of.2,
        category_name: of.3,
        activity_id: activity.0,
        activity_name: activity.1,
    }
}

/// Which class and activity a call maps to.
pub fn classify(event_source: Option<&str>, event_name: Option<&str>) -> Class {
    let Some(name) = event_name else {
        return class(API_ACTIVITY, (0, "Unknown"));
    };
    if let Some(activity) = sign_in_activity(event_source, name) {
        return class(AUTHENTICATION, activity);
    }
    if event_source == Some("iam.amazonaws.com") {
        let change = match name {
            "CreateUser" => Some((1, "Create")),
            "CreateLoginProfile" => Some((2, "Enable")),
            "ChangePassword" => Some((3, "Password Change")),
            "UpdateLoginProfile" => Some((4, "Password Reset")),
            "DeleteLoginProfile" => Some((5, "Disable")),
            "DeleteUser" => Some((6, "Delete")),
            "AttachUserPolicy" | "PutUserPolicy" => Some((7, "Attach Policy")),
            "DetachUserPolicy" | "DeleteUserPolicy" => Some((8, "Detach Policy")),
            "EnableMFADevice" => Some((10, "MFA Factor Enable")),
            "DeactivateMFADevice" => Some((11, "MFA Factor Disable")),
            "CreateAccessKey"
            | "DeleteAccessKey"
            | "UpdateAccessKey"
            | "UpdateUser"
            | "AddUserToGroup"
            | "RemoveUserFromGroup"
            | "PutUserPermissionsBoundary"
            | "DeleteUserPermissionsBoundary"
            | "UploadSSHPublicKey"
            | "DeleteSSHPublicKey"
            | "UpdateSSHPublicKey"
            | "CreateServiceSpecificCredential"
            | "DeleteServiceSpecificCredential"
            | "UploadSigningCertificate"
            | "DeleteSigningCertificate" => Some((99, "Other")),
            _ => None,
        };
        if let Some(a) = change {
            return class(ACCOUNT_CHANGE, a);
        }
    }
    class(API_ACTIVITY, api_activity(name))
}

/// The Authentication activity of a sign-in event: console sign-ins (`signin.amazonaws.com`) and
/// IAM Identity Center's portal sign-ins (`sso.amazonaws.com`), which CloudTrail types
/// `AwsConsoleSignIn` or `AwsServiceEvent` rather than as API calls. The steps before a
/// session exists (a challenge, a verification, an MFA check) are Other.
fn sign_in_activity(event_source: Option<&str>, name: &str) -> Option<(u32, &'static str)> {
    if name == "ConsoleLogin" {
        return Some((1, "Logon"));
    }
    match event_source? {
        "signin.amazonaws.com" | "sso.amazonaws.com" | "portal.sso.amazonaws.com" => match name {
            "UserAuthentication" | "Authenticate" | "Federate" | "SwitchRole" => Some((1, "Logon")),
            "Logout" | "ExitRole" => Some((2, "Logoff")),
            "CredentialChallenge" | "CredentialVerification" | "CheckMfa" | "RenewRole" => {
                Some((99, "Other"))
            }
            _ => None,
        },
        _ => None,
    }
}

/// API Activity's `activity_id` from the verb the API name starts with.
pub fn api_activity(name: &str) -> (u32, &'static str) {
    const CREATE: &[&str] = &[
        "Create", "Add", "Allocate", "Import", "Register", "Run", "Generate", "Copy", "Upload",
        "Issue", "Request", "Publish", "Send", "Invoke",
    ];
    const READ: &[&str] = &[
        "Get", "Describe", "List", "Lookup", "Search", "Head", "Scan", "Query", "BatchGet",
        "Select", "Download", "View", "Read", "Check", "Decrypt", "Filter", "Preview",
    ];
    const UPDATE: &[&str] = &[
        "Update",
        "Modify",
        "Set",
        "Put",
        "Change",
        "Reset",
        "Replace",
        "Enable",
        "Disable",
        "Attach",
        "Detach",
        "Associate",
        "Disassociate",
        "Tag",
        "Untag",
        "Authorize",
        "Revoke",
        "Start",
        "Stop",
        "Reboot",
        "Restore",
        "Apply",
        "Edit",
        "Assign",
        "Unassign",
        "Rotate",
        "Accept",
        "Reject",
        "Confirm",
        "Encrypt",
        "Reencrypt",
        "Retire",
        "Move",
        "Rename",
    ];
    const DELETE: &[&str] = &[
        "Delete",
        "Remove",
        "Terminate",
        "Purge",
        "Deregister",
        "Release",
        "Destroy",
        "Drop",
        "Empty",
    ];
    let verb_is = |verbs: &[&str]| {
        verbs.iter().any(|v| {
            name.strip_prefix(v).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(|c: char| !c.is_ascii_lowercase())
            })
        })
    };
    if verb_is(CREATE) {
        (1, "Create")
    } else if verb_is(READ) {
        (2, "Read")
    } else if verb_is(UPDATE) {
        (3, "Update")
    } else if verb_is(DELETE) {
        (4, "Delete")
    } else {
        (99, "Other")
    }
}

/// Milliseconds since the epoch of a CloudTrail time (fractional seconds kept).
pub fn event_time_millis(s: &str) -> Option<i64> {
    Some(parse_event_time(s)? * 1000 + fraction_millis(s))
}

/// Appends one record as an OCSF event and a newline.
pub fn write_ocsf_line(
    out: &mut Vec<u8>,
    f: &TrailFields<'_>,
    find: &Findings<'_>,
    cfg: &NormalizeConfig,
    scratch: &mut Scratch,
    original: &[u8],
    has_whitespace: bool,
) {
    if f.event_name.is_none() && present(f.insight_details) {
        return write_insight_finding(out, f, find, cfg, scratch, original, has_whitespace);
    }
    let event_source = f.event_source.and_then(|v| v.into_string());
    let c = classify(event_source, f.event_name);
    let id = &f.identity;
    let cap = cfg.max_field_bytes;
    let mut d = DocWriter::new(out);
    d.clean = f.clean_strings;

    write_head(&mut d, f, &c, (1, "Informational"));

    // status
    let console_result = (f.event_name == Some("ConsoleLogin"))
        .then(|| {
            f.response_elements
                .and_then(|r| r.get("ConsoleLogin"))
                .and_then(|v| v.into_string())
        })
        .flatten();
    let failed = match console_result {
        Some("Success") => false,
        Some("Failure") => true,
        _ => f.failed(),
    };
    d.int("status_id", if failed { 2 } else { 1 });
    d.lit("status", if failed { "Failure" } else { "Success" });
    d.keyword("status_code", f.error_code);
    d.keyword("status_detail", f.error_message);

    // metadata
    d.open("metadata");
    d.str("version", OCSF_VERSION);
    d.open("product");
    d.lit("name", "CloudTrail");
    d.lit("vendor_name", "AWS");
    d.keyword("version", f.event_version);
    d.close();
    d.keyword("uid", f.event_id);
    d.keyword("event_code", f.event_type);
    d.opt_rstr("original_time", f.event_time);
    d.open_array("profiles");
    d.lit("", "cloud");
    d.lit("", "datetime");
    if c.class_uid != API_ACTIVITY.0 {
        d.lit("", "host");
    }
    d.close();
    d.close();

    // cloud
    write_cloud(&mut d, f);

    // actor (for Authentication, the user logging in is `user` instead)
    // A service calling on its own (`invokedBy` alone) has no user; anything else that names the
    // caller is written there, so no member of the identity is dropped.
    let has_user = [
        id.kind,
        id.arn,
        id.principal_id,
        id.user_name,
        id.account_id,
        id.access_key_id,
    ]
    .into_iter()
    .any(present)
        || id.on_behalf_of_user_id.is_some();
    if c.class_uid == AUTHENTICATION.0 {
        // The user signing in is both `user` (who authenticates) and `actor.user` (who acted),
        // as Security Lake writes a ConsoleLogin.
        d.open("user");
        write_user_members(&mut d, f);
        d.close();
        write_actor(&mut d, f, true);
        let extra = |k: &str| {
            f.additional_event_data
                .and_then(|e| e.get(k))
                .and_then(|v| v.into_string())
        };
        if let Some(mfa) = extra("MFAUsed") {
            d.bool("is_mfa", mfa == "Yes");
        }
        if let Some(login_to) = extra("LoginTo") {
            d.open("dst_endpoint");
            d.rstr("svc_name", login_to);
            d.close();
        }
        // Authentication needs the service logged in to (or its endpoint): the console's
        // sign-in service.
        d.open("service");
        d.rstr("name", event_source.unwrap_or("signin.amazonaws.com"));
        d.close();
    } else {
        write_actor(&mut d, f, has_user || !present(id.invoked_by));
    }
    if c.class_uid == ACCOUNT_CHANGE.0 {
        write_account_change(&mut d, f);
    }

    // api
    let mut truncated: [Option<&str>; 5] = [None; 5];
    d.open("api");
    d.rstr("operation", f.event_name.unwrap_or("unknown"));
    d.open("service");
    d.keyword("name", f.event_source);
    d.close();
    d.keyword("version", f.api_version);
    d.open("request");
    // `request.uid` is required: the event id stands in when a call has no request id.
    if present(f.request_id) {
        d.keyword("uid", f.request_id);
    } else {
        d.keyword("uid", f.event_id);
    }
    if write_blob(&mut d, "data", f.request_parameters, cap, &mut scratch.blob) == Blob::Truncated {
        truncated[0] = Some("api.request.data");
    }
    d.close();
    d.open("response");
    d.keyword("error", f.error_code);
    d.keyword("message", f.error_message);
    if write_blob(&mut d, "data", f.response_elements, cap, &mut scratch.blob) == Blob::Truncated {
        truncated[1] = Some("api.response.data");
    }
    d.close();
    d.close();

    // src_endpoint
    d.open("src_endpoint");
    match f.source_ip {
        Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() => d.rstr("ip", ip),
        Some(name) => {
            d.rstr("name", name);
            if name.ends_with(".amazonaws.com") {
                d.rstr("domain", name);
            }
        }
        None => d.lit("name", "unknown"),
    }
    d.keyword("uid", f.vpc_endpoint_id);
    if let Some(geo) = find.geo {
        write_location(&mut d, geo);
    }
    d.close();

    if let Some(ua) = f.user_agent {
        d.open("http_request");
        d.rstr("user_agent", ua);
        d.close();
    }

    if c.class_uid == API_ACTIVITY.0 {
        write_resources(&mut d, f, find);
    }
    write_enrichments(&mut d, find);

    // What no field takes, found now: if it is cut, the original must ride along too.
    scratch.collect_unmapped(f);
    let blob_cut = |v: Option<simd_json::tape::Value<'_, '_>>, scratch: &mut Vec<u8>| {
        v.is_some_and(|v| {
            scratch.clear();
            super::json_writer::write_compact(scratch, v, true);
            scratch.len() > cap
        })
    };
    let keep_original = cfg.keep_original.keep(|| {
        scratch.unmapped.len() > cap
            || truncated.iter().any(Option::is_some)
            || blob_cut(f.additional_event_data, &mut scratch.blob)
            || blob_cut(f.service_event_details, &mut scratch.blob)
    });
    if keep_original {
        scratch.write_original(&mut d, "raw_data", original, has_whitespace);
    }

    let other_class = c.class_uid != API_ACTIVITY.0;
    write_unmapped(&mut d, f, find, other_class, &mut truncated, cap, scratch);
    d.finish();
    out.push(b'\n');
}

const DETECTION_FINDING: (u32, &str, u32, &str) = (2004, "Detection Finding", 2, "Findings");

/// A CloudTrail Insights event as a Detection Finding (2004). OCSF 1.1.0 has no class of its own
/// for an anomaly: a finding is what a detection engine reports, and Insights is one (a
/// statistical baseline of write-call and error rates, hence `analytic.type_id` 3,
/// Statistical). The start of unusual activity creates the finding, its end closes it; both
/// carry one `sharedEventID`, which is the finding's `uid`, so the two events are one finding.
/// Severity is Low: the rate is unusual, which is not in itself evidence of harm.
fn write_insight_finding(
    out: &mut Vec<u8>,
    f: &TrailFields<'_>,
    find: &Findings<'_>,
    cfg: &NormalizeConfig,
    scratch: &mut Scratch,
    original: &[u8],
    has_whitespace: bool,
) {
    let details = f.insight_details;
    let detail = |k: &str| details.and_then(|d| d.get(k)).and_then(|v| v.into_string());
    let (activity_id, activity_name) = match detail("state") {
        Some("Start") => (1, "Create"),
        Some("End") => (3, "Close"),
        _ => (0, "Unknown"),
    };
    let c = class(DETECTION_FINDING, (activity_id, activity_name));
    let cap = cfg.max_field_bytes;
    let mut d = DocWriter::new(out);
    d.clean = f.clean_strings;
    let millis = write_head(&mut d, f, &c, (2, "Low"));

    d.open("metadata");
    d.str("version", OCSF_VERSION);
    d.open("product");
    d.lit("name", "CloudTrail");
    d.lit("vendor_name", "AWS");
    d.keyword("version", f.event_version);
    d.open("feature");
    d.lit("name", "Insights");
    d.close();
    d.close();
    d.keyword("uid", f.event_id);
    d.keyword("event_code", f.event_type);
    d.opt_rstr("original_time", f.event_time);
    d.open_array("profiles");
    d.lit("", "cloud");
    d.lit("", "datetime");
    d.close();
    d.close();

    write_cloud(&mut d, f);

    let (source, name, kind) = (
        detail("eventSource"),
        detail("eventName"),
        detail("insightType"),
    );
    d.open("finding_info");
    // `uid` is required: the event's own id stands in when there is no shared one.
    if present(f.shared_event_id) {
        d.keyword("uid", f.shared_event_id);
    } else if present(f.event_id) {
        d.keyword("uid", f.event_id);
    } else {
        d.lit("uid", "unknown");
    }
    // "ApiCallRateInsight on ec2.amazonaws.com RunInstances", written in place.
    d.key("title");
    let title_start = d.out.len();
    write_json_str(d.out, kind.unwrap_or("Insight"));
    for (i, part) in [source, name].into_iter().flatten().enumerate() {
        d.out.pop();
        d.out.extend_from_slice(if i == 0 { b" on " } else { b" " });
        let at = d.out.len();
        write_json_str(d.out, part);
        d.out.remove(at);
    }
    debug_assert!(d.out[title_start] == b'"');
    if let Some(kind) = kind {
        d.open_array("types");
        d.rstr("", kind);
        d.close();
    }
    d.open("analytic");
    d.lit("name", "CloudTrail Insights");
    d.int("type_id", 3);
    d.lit("type", "Statistical");
    d.close();
    if let Some(ms) = millis.filter(|_| activity_id == 1) {
        d.int("first_seen_time", ms);
    }
    if let Some(ms) = millis.filter(|_| activity_id == 3) {
        d.int("last_seen_time", ms);
    }
    d.close();

    // The API whose calls or errors were unusual.
    if let Some(name) = name {
        d.open_array("evidences");
        d.open("");
        d.open("api");
        d.rstr("operation", name);
        if let Some(source) = source {
            d.open("service");
            d.rstr("name", source);
            d.close();
        }
        d.close();
        d.close();
        d.close();
    }
    write_enrichments(&mut d, find);

    scratch.collect_unmapped(f);
    let mut truncated = None;
    d.open("unmapped");
    d.keyword("eventCategory", f.event_category);
    d.keyword("sharedEventID", f.shared_event_id);
    if write_blob(&mut d, "insightDetails", details, cap, &mut scratch.blob) == Blob::Truncated {
        truncated = Some("unmapped.insightDetails");
    }
    // What an API call would place but a finding has no field for (not in Insights events
    // as AWS writes them, but nothing a record holds is dropped).
    const PLACED: &[&str] = &[
        "eventVersion",
        "eventTime",
        "awsRegion",
        "eventID",
        "eventType",
        "recipientAccountId",
        "sharedEventID",
        "sharedEventId",
        "insightDetails",
        "eventCategory",
    ];
    for (k, v) in f.placed_members().filter(|(k, _)| !PLACED.contains(k)) {
        d.key(k);
        super::json_writer::write_compact(d.out, v, true);
    }
    d.open("trailhose");
    let unmapped_cut =
        write_other_and_truncated(&mut d, scratch, std::slice::from_ref(&truncated), cap);
    d.close();
    d.close();
    if cfg
        .keep_original
        .keep(|| unmapped_cut || truncated.is_some())
    {
        scratch.write_original(&mut d, "raw_data", original, has_whitespace);
    }
    d.finish();
    out.push(b'\n');
}

/// The members every class starts with: classification, severity, time. Returns the time in
/// milliseconds, when the record has one.
fn write_head(
    d: &mut DocWriter<'_>,
    f: &TrailFields<'_>,
    c: &Class,
    (severity_id, severity): (i64, &'static str),
) -> Option<i64> {
    d.int("class_uid", c.class_uid as i64);
    d.lit("class_name", c.class_name);
    d.int("category_uid", c.category_uid as i64);
    d.lit("category_name", c.category_name);
    d.int("activity_id", c.activity_id as i64);
    d.lit("activity_name", c.activity_name);
    d.int("type_uid", (c.class_uid * 100 + c.activity_id) as i64);
    // "API Activity: Read", written in place (literals: nothing to escape, no allocation).
    d.key("type_name");
    for part in ["\"", c.class_name, ": ", c.activity_name, "\""] {
        d.out.extend_from_slice(part.as_bytes());
    }
    d.int("severity_id", severity_id);
    d.lit("severity", severity);
    let millis = f.event_time_millis();
    d.int("time", millis.unwrap_or(0));
    if let Some(t) = f.event_time.filter(|_| millis.is_some()) {
        d.rstr("time_dt", t);
    }
    millis
}

/// `cloud`: the provider, the region, the account the event was delivered to.
fn write_cloud(d: &mut DocWriter<'_>, f: &TrailFields<'_>) {
    d.open("cloud");
    d.lit("provider", "AWS");
    d.keyword("region", f.aws_region);
    if present(f.recipient_account_id) {
        d.open("account");
        d.keyword("uid", f.recipient_account_id);
        d.close();
    }
    d.close();
}

/// The calling identity as an OCSF `user`: `uid` the ARN, `uid_alt` the principal id.
fn write_user_members(d: &mut DocWriter<'_>, f: &TrailFields<'_>) {
    let id = &f.identity;
    // Nobody signed the request: `ANONYMOUS_PRINCIPAL` (the identity's uid here) is what AWS
    // writes, not an account, and never root. The raw `userIdentity.type` goes to `unmapped`.
    let anonymous = f.is_anonymous();
    if anonymous {
        d.lit("type", "Anonymous");
        d.int("type_id", 99);
    } else {
        d.keyword("type", id.kind);
        if let Some(t) = id.kind.and_then(|v| v.into_string()) {
            let type_id = match t {
                "Root" => 2,
                "IAMUser" | "AssumedRole" | "FederatedUser" | "SAMLUser" | "WebIdentityUser"
                | "IdentityCenterUser" | "Directory" => 1,
                "AWSService" | "AWSAccount" => 3,
                _ => 99,
            };
            d.int("type_id", type_id);
        }
    }
    let has_id = given(id.arn) || given(id.principal_id) || given(id.user_name);
    if given(id.arn) {
        d.keyword("uid", id.arn);
    } else if let Some(user) = id.on_behalf_of_user_id {
        d.str("uid", user);
    } else if anonymous {
        d.keyword("uid", id.account_id.or(id.principal_id));
    } else if !has_id {
        // `user` needs a name or a uid: an identity with neither is named by its account, or
        // (a service) by the service's name below.
        if present(id.account_id) {
            d.keyword("uid", id.account_id);
        } else if !given(id.invoked_by) {
            d.lit("uid", "unknown");
        }
    }
    if given(id.principal_id) {
        d.keyword("uid_alt", id.principal_id);
    }
    if given(id.user_name) {
        d.keyword("name", id.user_name);
    } else if present(id.issuer_user_name) {
        d.keyword("name", id.issuer_user_name);
    } else if let Some(name) = f.sign_in_user_name() {
        // IAM Identity Center sign-ins name the person only here.
        d.rstr("name", name);
    } else if anonymous {
        d.lit("name", "anonymous");
    } else if !has_id && !present(id.account_id) && given(id.invoked_by) {
        // An AWS service acting itself: it is the user.
        d.keyword("name", id.invoked_by);
    }
    if given(id.access_key_id) {
        d.keyword("credential_uid", id.access_key_id);
    }
    if given(id.account_id) && !id.account_is_anonymous() {
        d.open("account");
        d.keyword("uid", id.account_id);
        d.lit("type", "AWS Account");
        d.int("type_id", 10);
        d.close();
    }
}

/// `actor`: the calling identity as `user` (when asked), the service calling on its behalf, the
/// session and its identity provider.
fn write_actor(d: &mut DocWriter<'_>, f: &TrailFields<'_>, with_user: bool) {
    let id = &f.identity;
    d.open("actor");
    if with_user {
        d.open("user");
        write_user_members(d, f);
        d.close();
    }
    d.keyword("invoked_by", id.invoked_by);
    d.open("session");
    if let Some((t, ms)) = id.creation_time() {
        d.int("created_time", ms);
        d.rstr("created_time_dt", &t);
    }
    if let Some(b) = as_bool(id.mfa_authenticated) {
        d.bool("is_mfa", b);
    }
    d.keyword("issuer", id.issuer_arn);
    d.close();
    let idp = if present(id.federated_provider) {
        id.federated_provider
    } else {
        id.identity_provider
    };
    if present(idp) {
        d.open("idp");
        d.keyword("name", idp);
        d.close();
    }
    d.close();
}

/// Whether an identity field says something: present, and not an empty string (sign-in events
/// write `"arn":""` and `"accessKeyId":""`).
fn given(v: Option<simd_json::tape::Value<'_, '_>>) -> bool {
    v.is_some_and(|v| !v.is_null() && v.into_string() != Some(""))
}

/// Account Change: the user changed is `user` (the caller changes itself when the request
/// names no user), the policy attached or detached is `policy`.
fn write_account_change(d: &mut DocWriter<'_>, f: &TrailFields<'_>) {
    d.open("user");
    let target = f.request_parameters.and_then(|r| r.get("userName"));
    if present(target) {
        d.keyword("name", target);
        let created = f.response_elements.and_then(|r| r.get("user"));
        d.keyword("uid", created.and_then(|u| u.get("arn")));
        // CreateUser's response gives the new user's unique id (AIDA...), as Security Lake maps.
        d.keyword("uid_alt", created.and_then(|u| u.get("userId")));
    } else {
        write_user_members(d, f);
    }
    d.close();
    let policy_arn = f.request_parameters.and_then(|r| r.get("policyArn"));
    let policy_name = f.request_parameters.and_then(|r| r.get("policyName"));
    if present(policy_arn) || present(policy_name) {
        d.open("policy");
        d.keyword("uid", policy_arn);
        d.keyword("name", policy_name);
        d.close();
    }
}

fn write_location(d: &mut DocWriter<'_>, geo: &super::geoip::GeoAnswer) {
    if !geo.has_geo() && geo.as_organization().is_none() {
        return;
    }
    d.open("location");
    d.opt_str("city", geo.city_name());
    d.opt_str("continent", geo.continent_name());
    d.opt_str("country", geo.country_iso_code());
    d.opt_str("region", geo.region_iso_code());
    d.opt_str("postal_code", geo.postal_code());
    if let Some((lat, lon)) = geo.location() {
        // OCSF coordinates are [longitude, latitude], as GeoJSON.
        d.key("coordinates");
        let _ = write!(d.out, "[{lon:?},{lat:?}]");
    }
    d.opt_str("isp", geo.as_organization());
    d.close();
}

/// `resources`: the record's own list, then the ARNs trailhose found in the call.
fn write_resources(d: &mut DocWriter<'_>, f: &TrailFields<'_>, find: &Findings<'_>) {
    d.open_array("resources");
    let mut listed: Vec<&str> = Vec::new();
    if let Some(list) = f.resources.and_then(|r| r.as_array()) {
        for r in list.iter() {
            // Members without an ARN reach `unmapped` whole (`TrailFields::read`).
            let Some(arn) = resource_arn(r) else {
                continue;
            };
            d.open("");
            d.keyword("uid", Some(arn));
            d.keyword("type", r.get("type"));
            let owner = r.get("accountId").filter(|v| !v.is_null());
            if owner.is_some() {
                d.open("owner");
                d.open("account");
                d.keyword("uid", owner);
                d.lit("type", "AWS Account");
                d.int("type_id", 10);
                d.close();
                d.close();
            }
            d.close();
            if let Some(s) = arn.into_string() {
                listed.push(s);
            }
        }
    }
    for arn in find.resources {
        if !listed.contains(&arn.as_ref()) {
            d.open("");
            d.rstr("uid", arn);
            d.close();
        }
    }
    d.close();
}

/// trailhose's findings as OCSF enrichments: the attributed actor, the noise verdict.
fn write_enrichments(d: &mut DocWriter<'_>, find: &Findings<'_>) {
    d.open_array("enrichments");
    if let Some(actor) = find.actor {
        d.open("");
        d.lit("name", "actor");
        d.str("value", actor.principal.as_deref().unwrap_or("unknown"));
        d.lit("type", "attribution");
        d.lit("provider", "trailhose");
        d.key("data");
        actor.write_json(d.out);
        d.close();
    }
    if let Some(noise) = find.noise {
        d.open("");
        d.lit("name", "noise");
        d.str(
            "value",
            if noise.aws_internal() {
                "true"
            } else {
                "false"
            },
        );
        d.lit("type", "noise");
        d.lit("provider", "trailhose");
        d.open("data");
        d.opt_str("source_kind", find.source_kind);
        d.open_array("reasons");
        for r in &noise.reasons {
            d.lit("", r.label());
        }
        d.close();
        d.close();
        d.close();
    }
    d.close();
}

/// `unmapped`: the CloudTrail fields OCSF has no place for, by their CloudTrail names.
fn write_unmapped(
    d: &mut DocWriter<'_>,
    f: &TrailFields<'_>,
    find: &Findings<'_>,
    other_class: bool,
    truncated: &mut [Option<&str>; 5],
    cap: usize,
    scratch: &mut Scratch,
) {
    d.open("unmapped");
    d.keyword("eventCategory", f.event_category);
    if let Some(b) = as_bool(f.management_event) {
        d.bool("managementEvent", b);
    }
    if let Some(b) = as_bool(f.read_only) {
        d.bool("readOnly", b);
    }
    d.keyword("sharedEventID", f.shared_event_id);
    let id = &f.identity;
    if f.is_anonymous() {
        d.open("userIdentity");
        d.keyword("type", id.kind);
        d.close();
    }
    // The issuer's name is the user's name only when the identity has none of its own.
    let issuer_name = id.issuer_user_name.filter(|_| given(id.user_name));
    if present(id.issuer_type)
        || present(id.issuer_principal_id)
        || present(id.issuer_account_id)
        || present(issuer_name)
    {
        // `actor.session.issuer` takes the role's ARN; the rest of the issuer stays here.
        d.open("sessionIssuer");
        d.keyword("type", id.issuer_type);
        d.keyword("principalId", id.issuer_principal_id);
        d.keyword("accountId", id.issuer_account_id);
        d.keyword("userName", issuer_name);
        d.close();
    }
    d.keyword(
        "sessionCredentialFromConsole",
        f.session_credential_from_console,
    );
    if let Some(tls) = f.tls_details {
        d.open("tlsDetails");
        d.keyword("tlsVersion", tls.get("tlsVersion"));
        d.keyword("cipherSuite", tls.get("cipherSuite"));
        d.keyword(
            "clientProvidedHostHeader",
            tls.get("clientProvidedHostHeader"),
        );
        d.close();
    }
    if write_blob(
        d,
        "additionalEventData",
        f.additional_event_data,
        cap,
        &mut scratch.blob,
    ) == Blob::Truncated
    {
        truncated[2] = Some("unmapped.additionalEventData");
    }
    if write_blob(
        d,
        "serviceEventDetails",
        f.service_event_details,
        cap,
        &mut scratch.blob,
    ) == Blob::Truncated
    {
        truncated[3] = Some("unmapped.serviceEventDetails");
    }
    // A call that names its API and still carries insight details (not seen from AWS).
    if write_blob(
        d,
        "insightDetails",
        f.insight_details,
        cap,
        &mut scratch.blob,
    ) == Blob::Truncated
    {
        truncated[4] = Some("unmapped.insightDetails");
    }
    if other_class && !f.has_unknown_resources() {
        if let Some(list) = f.resources.filter(|r| !r.is_null()) {
            d.key("resources");
            super::json_writer::write_compact(d.out, list, true);
        }
    }
    d.open("trailhose");
    if let Some(geo) = find.geo {
        if let Some(n) = geo.as_number() {
            d.int("source_as_number", n as i64);
        }
    }
    if other_class {
        // Authentication and Account Change have no `resources`: the ARNs found stay here,
        // and the record's own list goes whole to `unmapped.resources` above.
        d.open_array("resources");
        for arn in find.resources {
            d.rstr("", arn);
        }
        d.close();
    }
    write_other_and_truncated(d, scratch, truncated.as_slice(), cap);
    d.close();
    d.close();
}

/// `unmapped.trailhose.other` (members no field takes) and `.truncated` (the fields cut to the
/// cap, `other` among them when it was cut); true when `other` was cut.
fn write_other_and_truncated(
    d: &mut DocWriter<'_>,
    scratch: &Scratch,
    truncated: &[Option<&str>],
    cap: usize,
) -> bool {
    let unmapped_cut = scratch.write_unmapped(d, "other", cap);
    d.open_array("truncated");
    for t in truncated.iter().flatten() {
        d.str("", t);
    }
    if unmapped_cut {
        d.lit("", "unmapped.trailhose.other");
    }
    d.close();
    unmapped_cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activities_from_verbs() {
        assert_eq!(api_activity("CreateBucket").0, 1);
        assert_eq!(api_activity("DescribeInstances").0, 2);
        assert_eq!(api_activity("GetObject").0, 2);
        assert_eq!(api_activity("PutBucketPolicy").0, 3);
        assert_eq!(api_activity("TerminateInstances").0, 4);
        assert_eq!(api_activity("AssumeRole").0, 99);
        // A verb must end at a word boundary: "Settle" is not "Set".
        assert_eq!(api_activity("Settle").0, 99);
        assert_eq!(api_activity("Get").0, 2);
    }

    #[test]
    fn classes() {
        let c = classify(Some("signin.amazonaws.com"), Some("ConsoleLogin"));
        assert_eq!((c.class_uid, c.activity_id), (3002, 1));
        let c = classify(Some("iam.amazonaws.com"), Some("CreateUser"));
        assert_eq!((c.class_uid, c.activity_id), (3001, 1));
        let c = classify(Some("iam.amazonaws.com"), Some("CreateRole"));
        assert_eq!((c.class_uid, c.activity_id), (6003, 1));
        let c = classify(None, None);
        assert_eq!((c.class_uid, c.activity_id), (6003, 0));
    }

    #[test]
    fn millis() {
        assert_eq!(event_time_millis("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(event_time_millis("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(event_time_millis("1970-01-01T00:00:01.123456Z"), Some(1123));
        assert_eq!(event_time_millis("nope"), None);
    }
}
