//! Role-session attribution: who is really behind a call. An `AssumeRole*`, `GetSessionToken` or
//! `GetFederationToken` event maps the temporary key it issued
//! (`responseElements.credentials.accessKeyId`) to its caller, itself resolved, so chains of
//! roles across accounts lead back to the first principal; later calls join on
//! `userIdentity.accessKeyId`. Identity Center sessions name their user in the session name;
//! `sourceIdentity` wins when set. A wrong attribution is worse than none: when in doubt,
//! `unresolved`.
//!
//! The table is shared by all workers (sharded by key) and bounded: entries leave when their
//! credentials expire (by event time) or, past `max_keys`, oldest expiry first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use super::fast_hash::FastHash;
use super::fields::{get_str, non_empty, parse_event_time, write_json_str, RecordView};
use super::shared::{raise, CacheLine};

/// What kind of principal is behind a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    IamUser,
    Root,
    SamlUser,
    WebIdentityUser,
    IdentityCenterUser,
    AwsService,
    /// Another AWS account, whose own principal the record does not name.
    AwsAccount,
    /// A Directory Service user.
    Directory,
    /// Nobody signed the request (a public S3 read, say): no account, no root.
    Anonymous,
    Unknown,
}

impl PrincipalType {
    const ALL: [PrincipalType; 10] = [
        PrincipalType::IamUser,
        PrincipalType::Root,
        PrincipalType::SamlUser,
        PrincipalType::WebIdentityUser,
        PrincipalType::IdentityCenterUser,
        PrincipalType::AwsService,
        PrincipalType::AwsAccount,
        PrincipalType::Directory,
        PrincipalType::Anonymous,
        PrincipalType::Unknown,
    ];

    fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.label() == label)
    }

    pub fn label(self) -> &'static str {
        match self {
            PrincipalType::IamUser => "IAMUser",
            PrincipalType::Root => "Root",
            PrincipalType::SamlUser => "SAMLUser",
            PrincipalType::WebIdentityUser => "WebIdentityUser",
            PrincipalType::IdentityCenterUser => "IdentityCenterUser",
            PrincipalType::AwsService => "AWSService",
            PrincipalType::AwsAccount => "AWSAccount",
            PrincipalType::Directory => "Directory",
            PrincipalType::Anonymous => "Anonymous",
            PrincipalType::Unknown => "Unknown",
        }
    }
}

/// How an actor was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The call names its principal itself (IAM user, root, service, federated subject).
    Direct,
    /// Through the key-issuing event of the call's temporary key.
    AccessKey,
    /// From the session's `sourceIdentity`.
    SourceIdentity,
    /// An Identity Center (`AWSReservedSSO_*`) session: the user is the session name.
    IdentityCenter,
    /// A SAML federation (`AssumeRoleWithSAML`).
    Saml,
    /// A web-identity federation (`AssumeRoleWithWebIdentity`).
    WebIdentity,
    /// Not known: the key's issuing event was not seen (or the key had expired).
    Unresolved,
}

impl Method {
    /// Every method, in a fixed order (for per-method counts).
    pub const ALL: [Method; 7] = [
        Method::Direct,
        Method::AccessKey,
        Method::SourceIdentity,
        Method::IdentityCenter,
        Method::Saml,
        Method::WebIdentity,
        Method::Unresolved,
    ];

    fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.label() == label)
    }

    pub fn label(self) -> &'static str {
        match self {
            Method::Direct => "direct",
            Method::AccessKey => "access_key",
            Method::SourceIdentity => "source_identity",
            Method::IdentityCenter => "identity_center",
            Method::Saml => "saml",
            Method::WebIdentity => "web_identity",
            Method::Unresolved => "unresolved",
        }
    }
}

/// Who is behind one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub principal: Option<Arc<str>>,
    pub principal_type: PrincipalType,
    /// Role ARNs assumed from the principal to this call, first to last.
    pub chain: Arc<[Arc<str>]>,
    pub session_name: Option<Arc<str>>,
    pub method: Method,
}

impl Actor {
    fn direct(principal: &str, principal_type: PrincipalType) -> Self {
        Actor {
            principal: Some(Arc::from(principal)),
            principal_type,
            chain: Arc::from(Vec::new()),
            session_name: None,
            method: Method::Direct,
        }
    }

    fn unknown(method: Method) -> Self {
        Actor {
            principal: None,
            principal_type: PrincipalType::Unknown,
            chain: Arc::from(Vec::new()),
            session_name: None,
            method,
        }
    }

    /// Writes the `actor` object.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(p) = &self.principal {
            out.extend_from_slice(b"\"principal\":");
            write_json_str(out, p);
            out.push(b',');
        }
        out.extend_from_slice(b"\"principal_type\":\"");
        out.extend_from_slice(self.principal_type.label().as_bytes());
        out.extend_from_slice(b"\",\"chain\":[");
        for (i, role) in self.chain.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(out, role);
        }
        out.push(b']');
        if let Some(s) = &self.session_name {
            out.extend_from_slice(b",\"session_name\":");
            write_json_str(out, s);
        }
        out.extend_from_slice(b",\"method\":\"");
        out.extend_from_slice(self.method.label().as_bytes());
        out.extend_from_slice(b"\"}");
    }
}

/// What a temporary key stands for, learned from the event that issued it.
#[derive(Debug, Clone)]
struct Issued {
    actor: Actor,
    /// Event time (seconds since the epoch) after which the key is no longer valid.
    expires: i64,
}

/// Bounds of the attribution state.
#[derive(Debug, Clone, Copy)]
pub struct AttributionLimits {
    /// Most keys remembered at once.
    pub max_keys: usize,
}

impl Default for AttributionLimits {
    fn default() -> Self {
        AttributionLimits { max_keys: 200_000 }
    }
}

const SHARDS: usize = 64;
/// Role sessions last at most 12 hours; `GetSessionToken`/`GetFederationToken` keys 36.
const ROLE_SESSION_MAX_SECS: i64 = 12 * 3600;
const SESSION_TOKEN_MAX_SECS: i64 = 36 * 3600;

/// One shard of the key table.
type KeyShard = RwLock<HashMap<Box<str>, Issued, FastHash>>;

/// Temporary keys and who they stand for, shared by all workers.
pub struct AttributionTable {
    shards: Vec<CacheLine<KeyShard>>,
    limits: AttributionLimits,
    /// The latest event time seen, for expiring keys.
    now: AtomicI64,
}

/// Which events issue temporary keys.
const ISSUING_EVENTS: [&str; 5] = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
];

impl AttributionTable {
    pub fn new(limits: AttributionLimits) -> Self {
        AttributionTable {
            shards: (0..SHARDS)
                .map(|_| CacheLine(RwLock::new(HashMap::default())))
                .collect(),
            limits,
            now: AtomicI64::new(0),
        }
    }

    fn shard(&self, key: &str) -> &KeyShard {
        // Access keys are random after their four-letter prefix: a byte sum spreads them.
        let h = key
            .bytes()
            .skip(4)
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        &self.shards[h % SHARDS]
    }

    /// The latest event time seen.
    pub fn newest(&self) -> i64 {
        self.now.load(Ordering::Relaxed)
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map_or(0, |m| m.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a call uses a temporary key this table does not know (yet): such a call can be
    /// held back until the key's issuing event arrives.
    pub fn needs_issuer<'r>(&self, record: &RecordView<'r>) -> Option<&'r str> {
        let identity_type = record.identity.kind?;
        if identity_type != "AssumedRole" && identity_type != "FederatedUser" {
            return None;
        }
        let key = record.identity.access_key_id?;
        if !key.starts_with("ASIA") || self.knows(key, event_time(record)) {
            return None;
        }
        let arn = record.identity.arn.unwrap_or("");
        if is_identity_center_role(role_name_from_session_arn(arn)) {
            return None;
        }
        Some(key)
    }

    /// Attributes one call, and learns the key it issues if it is a key-issuing event.
    pub fn attribute(&self, record: &RecordView<'_>) -> Actor {
        let time = event_time(record);
        if time > 0 {
            raise(&self.now, time);
        }
        let actor = self.caller(record, time);
        self.learn(record, &actor, time);
        actor
    }

    /// Whether `key`'s issuer is known (and the key unexpired at `time`): `lookup` without
    /// the copy of the actor.
    pub fn knows(&self, key: &str, time: i64) -> bool {
        let Ok(shard) = self.shard(key).read() else {
            return false;
        };
        shard
            .get(key)
            .is_some_and(|issued| time <= 0 || time <= issued.expires)
    }

    fn lookup(&self, key: &str, time: i64) -> Option<Actor> {
        let shard = self.shard(key).read().ok()?;
        let issued = shard.get(key)?;
        // A use after the key expired is not trusted.
        if time > 0 && time > issued.expires {
            return None;
        }
        Some(issued.actor.clone())
    }

    /// Who made the call, from `userIdentity` and the keys learned so far. Only `Root`
    /// identities are ever given a root ARN: an `AWSAccount` caller is another account (named
    /// by its id, not by its root user) or nobody at all (`ANONYMOUS_PRINCIPAL`).
    fn caller(&self, record: &RecordView<'_>, time: i64) -> Actor {
        let id = &record.identity;
        if id.is_anonymous() {
            return Actor {
                principal: None,
                ..Actor::direct("", PrincipalType::Anonymous)
            };
        }
        match id.kind.unwrap_or("") {
            "IAMUser" => match id.arn {
                Some(arn) => Actor::direct(arn, PrincipalType::IamUser),
                None => Actor::unknown(Method::Unresolved),
            },
            "Root" => match (id.arn, id.account_id) {
                (Some(arn), _) => Actor::direct(arn, PrincipalType::Root),
                (None, Some(acct)) => {
                    Actor::direct(&format!("arn:aws:iam::{acct}:root"), PrincipalType::Root)
                }
                _ => Actor::unknown(Method::Unresolved),
            },
            "AWSService" => match id.invoked_by {
                Some(service) => Actor::direct(service, PrincipalType::AwsService),
                None => Actor::unknown(Method::Unresolved),
            },
            // The other account's principal id, when given, says more than the account.
            "AWSAccount" => match (non_empty(id.principal_id), non_empty(id.account_id)) {
                (Some(p), _) if p.starts_with("AIDA") || p.starts_with("AROA") => {
                    Actor::direct(p, PrincipalType::AwsAccount)
                }
                (_, Some(acct)) => Actor::direct(acct, PrincipalType::AwsAccount),
                _ => Actor::unknown(Method::Unresolved),
            },
            "IdentityCenterUser" => {
                match non_empty(id.on_behalf_of_user_id).or(non_empty(id.user_name)) {
                    Some(user) => Actor {
                        method: Method::IdentityCenter,
                        ..Actor::direct(user, PrincipalType::IdentityCenterUser)
                    },
                    None => Actor::unknown(Method::Unresolved),
                }
            }
            "Directory" => match non_empty(id.user_name).or(non_empty(id.principal_id)) {
                Some(user) => Actor::direct(user, PrincipalType::Directory),
                None => Actor::unknown(Method::Unresolved),
            },
            // Identity Center sign-ins (`Unknown` identity) name the person elsewhere.
            "Unknown" | "" => {
                match non_empty(id.user_name).or_else(|| non_empty(record.sign_in_user_name())) {
                    Some(user) => Actor::direct(user, PrincipalType::Unknown),
                    None => Actor::unknown(Method::Unresolved),
                }
            }
            "SAMLUser" => match id.user_name {
                Some(name) => Actor {
                    method: Method::Saml,
                    ..Actor::direct(name, PrincipalType::SamlUser)
                },
                None => Actor::unknown(Method::Unresolved),
            },
            "WebIdentityUser" => match id.user_name {
                Some(name) => Actor {
                    method: Method::WebIdentity,
                    ..Actor::direct(name, PrincipalType::WebIdentityUser)
                },
                None => Actor::unknown(Method::Unresolved),
            },
            "AssumedRole" | "FederatedUser" => self.session_caller(record, time),
            _ => Actor::unknown(Method::Unresolved),
        }
    }

    /// The actor behind a call made with temporary credentials.
    fn session_caller(&self, record: &RecordView<'_>, time: i64) -> Actor {
        let id = &record.identity;
        let arn = id.arn.unwrap_or("");
        let session_name = arn
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty() && arn.contains('/'));
        let role = id.issuer_arn;
        let known = id.access_key_id.and_then(|k| self.lookup(k, time));
        let chain: Arc<[Arc<str>]> = match (&known, role) {
            (Some(a), _) => a.chain.clone(),
            (None, Some(role)) if role.contains(":role/") => Arc::from(vec![Arc::from(role)]),
            _ => Arc::from(Vec::new()),
        };
        let session_name = session_name.map(Arc::from);
        if let Some(source) = id.source_identity {
            return Actor {
                principal: Some(Arc::from(source)),
                principal_type: known
                    .as_ref()
                    .map_or(PrincipalType::Unknown, |a| a.principal_type),
                chain,
                session_name,
                method: Method::SourceIdentity,
            };
        }
        if is_identity_center_role(role_name_from_session_arn(arn)) {
            if let Some(user) = &session_name {
                return Actor {
                    principal: Some(user.clone()),
                    principal_type: PrincipalType::IdentityCenterUser,
                    chain,
                    session_name,
                    method: Method::IdentityCenter,
                };
            }
        }
        match known {
            Some(a) => Actor {
                session_name,
                method: a.method_for_use(),
                ..a
            },
            None => Actor {
                principal: None,
                principal_type: PrincipalType::Unknown,
                chain,
                session_name,
                method: Method::Unresolved,
            },
        }
    }

    /// Learns the key a successful key-issuing event hands out.
    fn learn(&self, record: &RecordView<'_>, caller: &Actor, time: i64) {
        let Some(key) = issued_key(record) else {
            return;
        };
        let name = record.event_name.unwrap_or("");
        let request = |k: &str| record.request.and_then(|r| get_str(r, &[k]));
        let response = |path: &[&str]| record.response.and_then(|r| get_str(r, path));
        let role = request("roleArn");
        let session = request("roleSessionName");
        let mut actor = match name {
            "AssumeRoleWithSAML" => {
                let subject = response(&["subject"])
                    .map(Arc::from)
                    .or(caller.principal.clone());
                if is_identity_center_role(role.and_then(|r| r.rsplit('/').next()).unwrap_or("")) {
                    Actor {
                        principal: session.map(Arc::from).or(subject),
                        principal_type: PrincipalType::IdentityCenterUser,
                        chain: Arc::from(Vec::new()),
                        session_name: None,
                        method: Method::IdentityCenter,
                    }
                } else {
                    Actor {
                        principal: subject,
                        principal_type: PrincipalType::SamlUser,
                        chain: Arc::from(Vec::new()),
                        session_name: None,
                        method: Method::Saml,
                    }
                }
            }
            "AssumeRoleWithWebIdentity" => Actor {
                principal: response(&["subjectFromWebIdentityToken"])
                    .map(Arc::from)
                    .or(caller.principal.clone()),
                principal_type: PrincipalType::WebIdentityUser,
                chain: Arc::from(Vec::new()),
                session_name: None,
                method: Method::WebIdentity,
            },
            _ => caller.clone(),
        };
        if actor.principal.is_none() {
            // The caller itself is unknown: the key would only spread a guess.
            return;
        }
        let lasts = if name.starts_with("AssumeRole") {
            ROLE_SESSION_MAX_SECS
        } else {
            SESSION_TOKEN_MAX_SECS
        };
        if let Some(role) = role.filter(|_| name.starts_with("AssumeRole")) {
            let mut chain: Vec<Arc<str>> = actor.chain.iter().cloned().collect();
            chain.push(Arc::from(role));
            actor.chain = Arc::from(chain);
        }
        actor.session_name = None;
        let expires = response(&["credentials", "expiration"])
            .and_then(parse_event_time)
            .unwrap_or(if time > 0 { time + lasts } else { i64::MAX });
        self.insert(key, Issued { actor, expires });
    }

    /// Every live key and what it stands for, with the latest event time seen: what the state
    /// store keeps so a later run still resolves sessions that began in this one.
    pub fn snapshot(&self) -> serde_json::Value {
        let now = self.newest();
        let mut keys = Vec::new();
        for shard in &self.shards {
            if let Ok(map) = shard.read() {
                for (key, issued) in map.iter().filter(|(_, i)| i.expires >= now) {
                    let a = &issued.actor;
                    keys.push(serde_json::json!({
                        "key": &**key,
                        "principal": a.principal.as_deref(),
                        "principal_type": a.principal_type.label(),
                        "chain": a.chain.iter().map(|r| &**r).collect::<Vec<_>>(),
                        "method": a.method.label(),
                        "expires": issued.expires,
                    }));
                }
            }
        }
        serde_json::json!({ "version": 1, "newest": now, "keys": keys })
    }

    /// Loads a snapshot; entries that do not read back are skipped (a wrong attribution is
    /// worse than none). Returns how many keys were loaded.
    pub fn restore(&self, snapshot: &serde_json::Value) -> usize {
        if let Some(newest) = snapshot["newest"].as_i64() {
            raise(&self.now, newest);
        }
        let mut loaded = 0;
        for k in snapshot["keys"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let (Some(key), Some(expires)) = (k["key"].as_str(), k["expires"].as_i64()) else {
                continue;
            };
            let (Some(principal_type), Some(method)) = (
                PrincipalType::from_label(k["principal_type"].as_str().unwrap_or("")),
                Method::from_label(k["method"].as_str().unwrap_or("")),
            ) else {
                continue;
            };
            let chain: Vec<Arc<str>> = k["chain"]
                .as_array()
                .map(|c| c.iter().filter_map(|r| r.as_str().map(Arc::from)).collect())
                .unwrap_or_default();
            let actor = Actor {
                principal: k["principal"].as_str().map(Arc::from),
                principal_type,
                chain: Arc::from(chain),
                session_name: None,
                method,
            };
            self.insert(key, Issued { actor, expires });
            loaded += 1;
        }
        loaded
    }

    fn insert(&self, key: &str, issued: Issued) {
        let cap = (self.limits.max_keys / SHARDS).max(1);
        let now = self.now.load(Ordering::Relaxed);
        if let Ok(mut shard) = self.shard(key).write() {
            if shard.len() >= cap {
                shard.retain(|_, v| v.expires >= now);
                if shard.len() >= cap {
                    // Still full of live keys: forget those that expire first.
                    let mut expiries: Vec<i64> = shard.values().map(|v| v.expires).collect();
                    expiries.sort_unstable();
                    let cut = expiries[expiries.len() / 4];
                    shard.retain(|_, v| v.expires > cut);
                }
            }
            shard.insert(Box::from(key), issued);
        }
    }
}

impl Actor {
    /// The method a later use of a key shows: how its principal was found.
    fn method_for_use(&self) -> Method {
        match self.method {
            Method::Direct => Method::AccessKey,
            m => m,
        }
    }
}

/// The record's event time in seconds since the epoch (0 when absent or unreadable).
pub fn event_time(record: &RecordView<'_>) -> i64 {
    record.event_time.and_then(parse_event_time).unwrap_or(0)
}

/// The temporary key a successful key-issuing event hands out.
pub fn issued_key<'a>(record: &RecordView<'a>) -> Option<&'a str> {
    let name = record.event_name?;
    if !ISSUING_EVENTS.contains(&name) || record.error_code.is_some() {
        return None;
    }
    get_str(record.response?, &["credentials", "accessKeyId"])
}

/// `AWSReservedSSO_<PermissionSet>_<hash>`: an Identity Center permission-set role.
fn is_identity_center_role(role_name: &str) -> bool {
    role_name.starts_with("AWSReservedSSO_")
}

/// The role name in `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
fn role_name_from_session_arn(arn: &str) -> &str {
    // `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`: the resource is the sixth field. Split
    // on colons (a byte search) rather than searched for as a substring, which set up a
    // substring searcher on every call (measured: 1% of an enriched replay).
    arn.splitn(6, ':')
        .nth(5)
        .and_then(|resource| resource.strip_prefix("assumed-role/"))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(table: &AttributionTable, json: &str) -> Actor {
        let mut bytes = json.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        table.attribute(&RecordView::read(tape.as_value()))
    }

    fn assume(caller: &str, role: &str, session: &str, key: &str, time: &str) -> String {
        format!(
            r#"{{"eventTime":"{time}","eventName":"AssumeRole","userIdentity":{caller},"requestParameters":{{"roleArn":"{role}","roleSessionName":"{session}"}},"responseElements":{{"credentials":{{"accessKeyId":"{key}","expiration":"2026-01-05T12:00:00Z"}}}}}}"#
        )
    }

    /// The `userIdentity` of a call made with a role session's key.
    fn session_identity(role: &str, acct: &str, session: &str, key: &str) -> String {
        let role_name = role.rsplit('/').next().unwrap();
        format!(
            r#"{{"type":"AssumedRole","arn":"arn:aws:sts::{acct}:assumed-role/{role_name}/{session}","accessKeyId":"{key}","sessionContext":{{"sessionIssuer":{{"type":"Role","arn":"{role}"}}}}}}"#
        )
    }

    fn session(role: &str, acct: &str, session: &str, key: &str, time: &str) -> String {
        let identity = session_identity(role, acct, session, key);
        format!(r#"{{"eventTime":"{time}","eventName":"GetObject","userIdentity":{identity}}}"#)
    }

    #[test]
    fn role_name_of_a_session_arn() {
        let name = role_name_from_session_arn;
        assert_eq!(name("arn:aws:sts::111:assumed-role/Admin/alice"), "Admin");
        assert_eq!(
            name("arn:aws-us-gov:sts::111:assumed-role/AWSReservedSSO_Read_1a2b/bob@example.com"),
            "AWSReservedSSO_Read_1a2b"
        );
        assert_eq!(name("arn:aws:sts::111:assumed-role/NoSession"), "NoSession");
        assert_eq!(name("arn:aws:iam::111:user/alice"), "");
        assert_eq!(name("arn:aws:sts::111:federated-user/bob"), "");
        assert_eq!(name("assumed-role/Admin/alice"), "");
        assert_eq!(name(""), "");
    }

    const ALICE: &str = r#"{"type":"IAMUser","arn":"arn:aws:iam::111:user/alice","accountId":"111","accessKeyId":"AKIAALICE"}"#;

    #[test]
    fn chain_of_three_roles_across_accounts() {
        let t = AttributionTable::new(AttributionLimits::default());
        let a = attribute(
            &t,
            &assume(
                ALICE,
                "arn:aws:iam::111:role/Admin",
                "alice",
                "ASIA1",
                "2026-01-05T01:00:00Z",
            ),
        );
        assert_eq!(a.principal.as_deref(), Some("arn:aws:iam::111:user/alice"));
        assert_eq!(a.method, Method::Direct);
        let caller1 = session_identity("arn:aws:iam::111:role/Admin", "111", "alice", "ASIA1");
        attribute(
            &t,
            &assume(
                &caller1,
                "arn:aws:iam::222:role/Audit",
                "audit",
                "ASIA2",
                "2026-01-05T01:02:00Z",
            ),
        );
        let caller2 = session_identity("arn:aws:iam::222:role/Audit", "222", "audit", "ASIA2");
        attribute(
            &t,
            &assume(
                &caller2,
                "arn:aws:iam::333:role/ops/Read",
                "deep",
                "ASIA3",
                "2026-01-05T01:04:00Z",
            ),
        );
        let used = attribute(
            &t,
            &session(
                "arn:aws:iam::333:role/ops/Read",
                "333",
                "deep",
                "ASIA3",
                "2026-01-05T01:05:00Z",
            ),
        );
        assert_eq!(
            used.principal.as_deref(),
            Some("arn:aws:iam::111:user/alice")
        );
        assert_eq!(used.principal_type, PrincipalType::IamUser);
        let chain: Vec<&str> = used.chain.iter().map(|r| &**r).collect();
        assert_eq!(
            chain,
            vec![
                "arn:aws:iam::111:role/Admin",
                "arn:aws:iam::222:role/Audit",
                "arn:aws:iam::333:role/ops/Read"
            ]
        );
        assert_eq!(used.session_name.as_deref(), Some("deep"));
        assert_eq!(used.method, Method::AccessKey);
    }

    #[test]
    fn unknown_and_expired_keys_are_unresolved() {
        let t = AttributionTable::new(AttributionLimits::default());
        let unknown = attribute(
            &t,
            &session(
                "arn:aws:iam::111:role/X",
                "111",
                "s",
                "ASIAUNKNOWN",
                "2026-01-05T01:00:00Z",
            ),
        );
        assert_eq!(unknown.method, Method::Unresolved);
        assert_eq!(unknown.principal, None);
        assert_eq!(unknown.chain.len(), 1);
        attribute(
            &t,
            &assume(
                ALICE,
                "arn:aws:iam::111:role/X",
                "s",
                "ASIAEXP",
                "2026-01-05T01:00:00Z",
            ),
        );
        let late = attribute(
            &t,
            &session(
                "arn:aws:iam::111:role/X",
                "111",
                "s",
                "ASIAEXP",
                "2026-01-05T13:00:00Z",
            ),
        );
        assert_eq!(
            late.method,
            Method::Unresolved,
            "used after the credentials expired"
        );
    }

    #[test]
    fn identity_center_and_source_identity() {
        let t = AttributionTable::new(AttributionLimits::default());
        let sso = attribute(
            &t,
            &session(
                "arn:aws:iam::111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_abc",
                "111",
                "jane.doe",
                "ASIASSO",
                "2026-01-05T01:00:00Z",
            ),
        );
        assert_eq!(sso.principal.as_deref(), Some("jane.doe"));
        assert_eq!(sso.principal_type, PrincipalType::IdentityCenterUser);
        assert_eq!(sso.method, Method::IdentityCenter);
        let with_source = r#"{"eventTime":"2026-01-05T01:00:00Z","eventName":"x","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","accessKeyId":"ASIAZ","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/R"},"sourceIdentity":"ci-deployer"}}}"#;
        let a = attribute(&t, with_source);
        assert_eq!(a.principal.as_deref(), Some("ci-deployer"));
        assert_eq!(a.method, Method::SourceIdentity);
    }

    #[test]
    fn saml_web_identity_and_service_sessions() {
        let t = AttributionTable::new(AttributionLimits::default());
        let saml = r#"{"eventTime":"2026-01-05T01:00:00Z","eventName":"AssumeRoleWithSAML","userIdentity":{"type":"SAMLUser","userName":"jane@example.com"},"requestParameters":{"roleArn":"arn:aws:iam::1:role/eng","roleSessionName":"jane@example.com"},"responseElements":{"subject":"jane@example.com","credentials":{"accessKeyId":"ASIASAML"}}}"#;
        assert_eq!(attribute(&t, saml).method, Method::Saml);
        let used = attribute(
            &t,
            &session(
                "arn:aws:iam::1:role/eng",
                "1",
                "jane@example.com",
                "ASIASAML",
                "2026-01-05T01:01:00Z",
            ),
        );
        assert_eq!(
            (used.principal.as_deref(), used.principal_type, used.method),
            (
                Some("jane@example.com"),
                PrincipalType::SamlUser,
                Method::Saml
            )
        );
        let web = r#"{"eventTime":"2026-01-05T01:00:00Z","eventName":"AssumeRoleWithWebIdentity","userIdentity":{"type":"WebIdentityUser","userName":"repo:o/r:ref:refs/heads/main"},"requestParameters":{"roleArn":"arn:aws:iam::1:role/gh","roleSessionName":"GitHubActions"},"responseElements":{"subjectFromWebIdentityToken":"repo:o/r:ref:refs/heads/main","credentials":{"accessKeyId":"ASIAWEB"}}}"#;
        attribute(&t, web);
        let used = attribute(
            &t,
            &session(
                "arn:aws:iam::1:role/gh",
                "1",
                "GitHubActions",
                "ASIAWEB",
                "2026-01-05T01:01:00Z",
            ),
        );
        assert_eq!(
            (used.principal.as_deref(), used.principal_type),
            (
                Some("repo:o/r:ref:refs/heads/main"),
                PrincipalType::WebIdentityUser
            )
        );
        let svc = r#"{"eventTime":"2026-01-05T01:00:00Z","eventName":"AssumeRole","userIdentity":{"type":"AWSService","invokedBy":"lambda.amazonaws.com"},"requestParameters":{"roleArn":"arn:aws:iam::1:role/fn","roleSessionName":"fn"},"responseElements":{"credentials":{"accessKeyId":"ASIASVC"}}}"#;
        attribute(&t, svc);
        let used = attribute(
            &t,
            &session(
                "arn:aws:iam::1:role/fn",
                "1",
                "fn",
                "ASIASVC",
                "2026-01-05T01:01:00Z",
            ),
        );
        assert_eq!(
            (used.principal.as_deref(), used.principal_type),
            (Some("lambda.amazonaws.com"), PrincipalType::AwsService)
        );
    }

    #[test]
    fn other_accounts_root_and_federated_users() {
        let t = AttributionTable::new(AttributionLimits::default());
        let account = attribute(
            &t,
            r#"{"eventName":"x","userIdentity":{"type":"AWSAccount","accountId":"999988887777"}}"#,
        );
        // Another account, not its root user.
        assert_eq!(
            (account.principal.as_deref(), account.principal_type),
            (Some("999988887777"), PrincipalType::AwsAccount)
        );
        let anonymous = attribute(
            &t,
            r#"{"eventName":"GetObject","userIdentity":{"type":"AWSAccount","principalId":"","accountId":"ANONYMOUS_PRINCIPAL"}}"#,
        );
        assert_eq!(
            (anonymous.principal.as_deref(), anonymous.principal_type),
            (None, PrincipalType::Anonymous)
        );
        let root = attribute(
            &t,
            r#"{"eventName":"x","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root","accountId":"1"}}"#,
        );
        assert_eq!(
            (root.principal_type, root.method),
            (PrincipalType::Root, Method::Direct)
        );
        let fed = r#"{"eventTime":"2026-01-05T01:00:00Z","eventName":"GetFederationToken","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/bob"},"requestParameters":{"name":"bob-fed"},"responseElements":{"credentials":{"accessKeyId":"ASIAFED"}}}"#;
        attribute(&t, fed);
        let used = attribute(
            &t,
            r#"{"eventTime":"2026-01-05T01:10:00Z","eventName":"ListBuckets","userIdentity":{"type":"FederatedUser","arn":"arn:aws:sts::1:federated-user/bob-fed","accessKeyId":"ASIAFED"}}"#,
        );
        assert_eq!(used.principal.as_deref(), Some("arn:aws:iam::1:user/bob"));
        assert_eq!(used.chain.len(), 0, "a federation token assumes no role");
        assert_eq!(used.method, Method::AccessKey);
    }

    #[test]
    fn failed_assume_role_teaches_nothing_and_the_table_is_bounded() {
        let t = AttributionTable::new(AttributionLimits {
            max_keys: SHARDS * 4,
        });
        let failed = assume(
            ALICE,
            "arn:aws:iam::111:role/Admin",
            "a",
            "ASIAFAIL",
            "2026-01-05T01:00:00Z",
        )
        .replacen(
            "{\"eventTime\"",
            "{\"errorCode\":\"AccessDenied\",\"eventTime\"",
            1,
        );
        attribute(&t, &failed);
        assert!(t.is_empty());
        for i in 0..1000 {
            attribute(
                &t,
                &assume(
                    ALICE,
                    "arn:aws:iam::111:role/Admin",
                    "a",
                    &format!("ASIAK{i:05}"),
                    "2026-01-05T01:00:00Z",
                ),
            );
        }
        assert!(t.len() <= SHARDS * 4, "{} keys", t.len());
    }
}
