//! `trailhose gen`: a realistic synthetic CloudTrail archive in the trail's S3 key layout, for
//! demos, tests and benchmarks. Deterministic per seed; files are written in parallel (each
//! file's content depends only on the seed and its index, never on another file).
//!
//! What it holds: several accounts and regions; IAM users, root, assumed-role sessions with the
//! `AssumeRole*` events that issued their keys (plain, SAML, web identity, Identity Center,
//! AWS-service, `GetSessionToken`, and chains of three roles across accounts); a mix of APIs
//! and sizes (RunInstances, S3 data events, KMS, IAM, console logins, errors); a few duplicate
//! deliveries (the same file under a second name); and one digest file per account, region and
//! hour, hashing that hour's log files and chained to the previous digest.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::transform::fields::civil_from_unix;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub events: u64,
    pub seed: u64,
    pub accounts: usize,
    pub events_per_file: u64,
    /// Regions per account (at most `REGIONS.len()`).
    pub regions: usize,
    /// Sessions per account and hour beyond the fixed nine: a mix of IAM users' roles, SAML,
    /// Identity Center, web identity (CI, EKS), AWS services, and role chains of two and three
    /// across accounts.
    pub sessions: usize,
    /// Client addresses per account.
    pub clients: u64,
    /// How late an event may be delivered, in seconds: a file holds events up to this much
    /// older than its window, and a session's issuing event may come in a later file than the
    /// first calls made with its keys (CloudTrail delivers within about 15 minutes).
    pub late_secs: i64,
}

/// The presets `gen --preset` knows.
pub const PRESETS: [&str; 2] = ["small", "realistic"];

impl GenOptions {
    /// The options of a preset, for `events` events:
    /// - `small`: three accounts and regions, a few sessions an hour, on-time delivery: quick
    ///   to generate and read, what the tests use;
    /// - `realistic`: what an organization's trail looks like: 12 accounts, 6 regions each,
    ///   about 200 sessions per account an hour with role chains across accounts, 5,000 client
    ///   addresses per account, deliveries up to 15 minutes late. The benchmark's archive.
    pub fn preset(name: &str, events: u64) -> Option<GenOptions> {
        let small = GenOptions {
            events,
            seed: 1,
            accounts: 3,
            events_per_file: 100,
            regions: 3,
            sessions: 0,
            clients: 400,
            late_secs: 0,
        };
        match name {
            "small" => Some(small),
            "realistic" => Some(GenOptions {
                accounts: 12,
                regions: 6,
                sessions: 200,
                clients: 5_000,
                late_secs: 900,
                ..small
            }),
            _ => None,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct GenSummary {
    pub events: u64,
    pub files: u64,
    pub duplicate_files: u64,
    pub duplicate_events: u64,
    pub digest_files: u64,
    pub compressed_bytes: u64,
    pub decompressed_bytes: u64,
}

impl std::fmt::Display for GenSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {} events in {} log files, plus {} duplicate deliveries ({} events) and {} digest files; {:.1} MB compressed, {:.1} MB decompressed",
            self.events,
            self.files,
            self.duplicate_files,
            self.duplicate_events,
            self.digest_files,
            self.compressed_bytes as f64 / 1e6,
            self.decompressed_bytes as f64 / 1e6
        )
    }
}

/// Regions in the order accounts use them (`GenOptions::regions` takes the first ones).
pub const REGIONS: [&str; 8] = [
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "us-west-2",
    "eu-central-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
];
/// 2026-01-05T00:00:00Z: archives start on a Monday.
const START_EPOCH: i64 = 1_767_571_200;
const FILE_WINDOW_SECS: i64 = 300;
const TRAIL_NAME: &str = "org-trail";
const BUCKET: &str = "example-cloudtrail-logs";

/// SplitMix64: small, fast, and the same sequence on every platform.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(parts: &[u64]) -> Self {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for p in parts {
            r.0 ^= p.wrapping_mul(0xD1B5_4A32_D192_ED03);
            r.next();
        }
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn alnum(&mut self, n: usize, upper_only: bool) -> String {
        const UP: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const MIX: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let set = if upper_only { UP } else { MIX };
        (0..n)
            .map(|_| set[self.below(set.len() as u64) as usize] as char)
            .collect()
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

/// `2026-01-05T00:03:12Z` from seconds since the epoch.
fn iso_time(epoch: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil_from_unix(epoch);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

fn account_id(seed: u64, index: usize) -> String {
    let mut r = Rng::new(&[seed, 0xACC0, index as u64]);
    format!("{:012}", 100_000_000_000 + r.below(899_999_999_999))
}

/// Who a session's keys were issued to, and how.
#[derive(Clone, Debug)]
enum Issuer {
    /// An IAM user of the session's account calling AssumeRole with its long-term key.
    User {
        name: String,
        key: String,
    },
    /// Another session (a role chain), by index in the same hour's plan.
    Session(usize),
    Saml {
        subject: String,
        provider: String,
    },
    WebIdentity {
        subject: String,
        provider: String,
    },
    Service(String),
    /// GetSessionToken by an IAM user: the key is the user's, temporarily.
    SessionToken {
        name: String,
        key: String,
    },
}

/// One set of temporary credentials alive during an hour.
#[derive(Clone, Debug)]
struct Session {
    account: usize,
    /// `path/name` of the role (empty for GetSessionToken).
    role: String,
    name: String,
    key: String,
    issuer: Issuer,
    source_identity: Option<String>,
}

/// The sessions of one hour: every identity type, and a chain of three roles across accounts,
/// in each account; then `extra` more per account (see `GenOptions::sessions`).
fn plan_sessions(seed: u64, accounts: usize, extra: usize, hour: u64) -> Vec<Session> {
    let mut sessions = fixed_sessions(seed, accounts, hour);
    if extra > 0 {
        extra_sessions(&mut sessions, seed, accounts, extra, hour);
    }
    sessions
}

/// The varied sessions of a realistic trail, appended to the fixed ones. Chains pick an
/// earlier session in another account as their issuer, at most three roles deep.
fn extra_sessions(
    sessions: &mut Vec<Session>,
    seed: u64,
    accounts: usize,
    extra: usize,
    hour: u64,
) {
    let mut r = Rng::new(&[seed, 0x5E56, hour]);
    let mut depth: Vec<u8> = sessions
        .iter()
        .map(|s| match &s.issuer {
            Issuer::Session(i) => 2 + u8::from(matches!(sessions[*i].issuer, Issuer::Session(_))),
            _ => 1,
        })
        .collect();
    let key = |r: &mut Rng| format!("ASIA{}", r.alnum(16, true));
    for k in 0..extra * accounts {
        let a = k % accounts;
        let n = k / accounts;
        let kind = r.below(100);
        let (role, name, issuer) = match kind {
            0..=29 => {
                let user = format!("dev{}", r.below(60));
                let role = r.pick(&["Developer", "ReadOnly", "DataScientist", "Ops", "Billing"]);
                (
                    role.to_string(),
                    format!("{user}-{n}"),
                    Issuer::User {
                        key: user_key_n(seed, a, &user),
                        name: user,
                    },
                )
            }
            30..=49 => {
                let set = r.pick(&[
                    "AdministratorAccess",
                    "ReadOnlyAccess",
                    "PowerUserAccess",
                    "ViewOnlyAccess",
                ]);
                let person = format!("person{}@example.com", r.below(2_000));
                (
                    format!(
                        "aws-reserved/sso.amazonaws.com/AWSReservedSSO_{set}_{:016x}",
                        r.next()
                    ),
                    person.clone(),
                    Issuer::Saml {
                        subject: person,
                        provider: "AWSSSO_1a2b3c4d5e6f7a8b_DO_NOT_DELETE".into(),
                    },
                )
            }
            50..=59 => {
                let sa = format!("sa-{}", r.below(300));
                let (provider, subject) = if r.chance(50) {
                    (
                        "token.actions.githubusercontent.com".to_string(),
                        format!("repo:example-org/{sa}:ref:refs/heads/main"),
                    )
                } else {
                    (
                        format!(
                            "oidc.eks.us-east-1.amazonaws.com/id/{:032X}",
                            r.next() as u128
                        ),
                        format!("system:serviceaccount:apps:{sa}"),
                    )
                };
                (
                    format!("irsa-{sa}"),
                    format!("botocore-session-{}", r.below(10_000_000_000)),
                    Issuer::WebIdentity { subject, provider },
                )
            }
            60..=69 => {
                let person = format!("emp{}@example.com", r.below(2_000));
                (
                    format!("saml-{}", r.pick(&["engineers", "finance", "security"])),
                    person.clone(),
                    Issuer::Saml {
                        subject: person,
                        provider: "ExampleIdP".into(),
                    },
                )
            }
            70..=79 => {
                let f = format!("fn-{}", r.below(500));
                (
                    format!("service-role/{f}-exec"),
                    f,
                    Issuer::Service(
                        r.pick(&[
                            "lambda.amazonaws.com",
                            "ecs-tasks.amazonaws.com",
                            "ec2.amazonaws.com",
                        ])
                        .to_string(),
                    ),
                )
            }
            _ => {
                // A chain: an earlier session (of another account when there is one) assumes a
                // role here.
                let mut from = r.below(sessions.len() as u64) as usize;
                for _ in 0..8 {
                    if depth[from] < 3 && (accounts == 1 || sessions[from].account != a) {
                        break;
                    }
                    from = r.below(sessions.len() as u64) as usize;
                }
                if depth[from] >= 3 {
                    continue;
                }
                let name = format!(
                    "{}-x{n}",
                    sessions[from].name.split('@').next().unwrap_or("s")
                );
                depth.push(depth[from] + 1);
                sessions.push(Session {
                    account: a,
                    role: format!(
                        "CrossAccount{}",
                        r.pick(&["Audit", "Deploy", "Read", "Admin"])
                    ),
                    name,
                    key: key(&mut r),
                    issuer: Issuer::Session(from),
                    source_identity: None,
                });
                continue;
            }
        };
        depth.push(1);
        sessions.push(Session {
            account: a,
            role,
            name,
            key: key(&mut r),
            issuer,
            source_identity: None,
        });
    }
}

/// The nine sessions every account has each hour.
fn fixed_sessions(seed: u64, accounts: usize, hour: u64) -> Vec<Session> {
    let mut r = Rng::new(&[seed, 0x5E55, hour]);
    let mut sessions = Vec::new();
    for a in 0..accounts {
        let key = |r: &mut Rng| format!("ASIA{}", r.alnum(16, true));
        let user_key = user_access_key(seed, a, "alice");
        let admin = sessions.len();
        sessions.push(Session {
            account: a,
            role: "Admin".into(),
            name: "alice".into(),
            key: key(&mut r),
            issuer: Issuer::User {
                name: "alice".into(),
                key: user_key,
            },
            source_identity: None,
        });
        sessions.push(Session {
            account: a,
            role: "saml-engineers".into(),
            name: "jane@example.com".into(),
            key: key(&mut r),
            issuer: Issuer::Saml {
                subject: "jane@example.com".into(),
                provider: "ExampleIdP".into(),
            },
            source_identity: None,
        });
        sessions.push(Session {
            account: a,
            role: "github-actions".into(),
            name: "GitHubActions".into(),
            key: key(&mut r),
            issuer: Issuer::WebIdentity {
                subject: "repo:example-org/app:ref:refs/heads/main".into(),
                provider: "token.actions.githubusercontent.com".into(),
            },
            source_identity: None,
        });
        sessions.push(Session {
            account: a,
            role:
                "aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_4f2e1c0d9b8a7f6e"
                    .into(),
            name: "jane.doe".into(),
            key: key(&mut r),
            issuer: Issuer::Saml {
                subject: "jane.doe".into(),
                provider: "AWSSSO_1a2b3c4d5e6f7a8b_DO_NOT_DELETE".into(),
            },
            source_identity: None,
        });
        sessions.push(Session {
            account: a,
            role: "service-role/order-processor-exec".into(),
            name: "order-processor".into(),
            key: key(&mut r),
            issuer: Issuer::Service("lambda.amazonaws.com".into()),
            source_identity: None,
        });
        sessions.push(Session {
            account: a,
            role: String::new(),
            name: "bob".into(),
            key: key(&mut r),
            issuer: Issuer::SessionToken {
                name: "bob".into(),
                key: user_access_key(seed, a, "bob"),
            },
            source_identity: None,
        });
        // alice's Admin session -> audit role in the next account -> read role in the one after.
        let audit = sessions.len();
        sessions.push(Session {
            account: (a + 1) % accounts,
            role: "CrossAccountAudit".into(),
            name: "alice-audit".into(),
            key: key(&mut r),
            issuer: Issuer::Session(admin),
            source_identity: None,
        });
        sessions.push(Session {
            account: (a + 2) % accounts,
            role: "ops/DeepRead".into(),
            name: "alice-deep".into(),
            key: key(&mut r),
            issuer: Issuer::Session(audit),
            source_identity: None,
        });
        // A session that sets sourceIdentity.
        sessions.push(Session {
            account: a,
            role: "Deploy".into(),
            name: "deploy-42".into(),
            key: key(&mut r),
            issuer: Issuer::User {
                name: "ci-deployer".into(),
                key: user_access_key(seed, a, "ci-deployer"),
            },
            source_identity: Some("ci-deployer".into()),
        });
    }
    sessions
}

/// An IAM user's access key, from the whole name (`user_access_key` keeps the fixed users'
/// keys as they always were).
fn user_key_n(seed: u64, account: usize, user: &str) -> String {
    let mut r = Rng::new(&[seed, 0xA41B, account as u64]);
    for b in user.bytes() {
        r.0 ^= b as u64;
        r.next();
    }
    format!("AKIA{}", r.alnum(16, true))
}

fn user_access_key(seed: u64, account: usize, user: &str) -> String {
    let mut r = Rng::new(&[
        seed,
        0xA41A,
        account as u64,
        user.len() as u64,
        user.as_bytes()[0] as u64,
    ]);
    format!("AKIA{}", r.alnum(16, true))
}

/// Appends a JSON string (values here are plain ASCII; quotes and backslashes are escaped).
fn js(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
}

struct World<'a> {
    seed: u64,
    accounts: &'a [String],
    /// Client addresses per account.
    clients: u64,
}

impl World<'_> {
    fn role_arn(&self, s: &Session) -> String {
        format!("arn:aws:iam::{}:role/{}", self.accounts[s.account], s.role)
    }
    fn role_name(s: &Session) -> &str {
        s.role.rsplit('/').next().unwrap_or(&s.role)
    }
    fn assumed_arn(&self, s: &Session) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.accounts[s.account],
            Self::role_name(s),
            s.name
        )
    }
    fn principal_id(&self, s: &Session) -> String {
        let mut r = Rng::new(&[self.seed, 0x9D, s.account as u64, s.role.len() as u64]);
        format!("AROA{}:{}", r.alnum(17, true), s.name)
    }

    /// An IAM user's `userIdentity` fields, the object left open for a session context.
    fn iam_user_fields(&self, out: &mut String, account: &str, name: &str, key: &str) {
        let id = Rng::new(&[self.seed, name.len() as u64]).alnum(17, true);
        let _ = write!(
            out,
            "{{\"type\":\"IAMUser\",\"principalId\":\"AIDA{id}\",\"arn\":\"arn:aws:iam::{account}:user/{name}\",\"accountId\":\"{account}\",\"accessKeyId\":\"{key}\",\"userName\":\"{name}\""
        );
    }

    /// The `userIdentity` of a call made with a session's keys.
    fn session_identity(&self, out: &mut String, s: &Session, created: &str) {
        let acct = &self.accounts[s.account];
        if let Issuer::SessionToken { name, .. } = &s.issuer {
            self.iam_user_fields(out, acct, name, &s.key);
            let _ = write!(
                out,
                ",\"sessionContext\":{{\"attributes\":{{\"creationDate\":\"{created}\",\"mfaAuthenticated\":\"true\"}}}}}}"
            );
            return;
        }
        out.push_str("{\"type\":\"AssumedRole\",\"principalId\":");
        js(out, &self.principal_id(s));
        out.push_str(",\"arn\":");
        js(out, &self.assumed_arn(s));
        let _ = write!(
            out,
            ",\"accountId\":\"{acct}\",\"accessKeyId\":\"{}\"",
            s.key
        );
        out.push_str(",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":");
        js(out, self.principal_id(s).split(':').next().unwrap_or(""));
        out.push_str(",\"arn\":");
        js(out, &self.role_arn(s));
        let _ = write!(out, ",\"accountId\":\"{acct}\",\"userName\":");
        js(out, Self::role_name(s));
        out.push_str("},\"webIdFederationData\":{");
        if let Issuer::WebIdentity { provider, .. } = &s.issuer {
            let _ = write!(out, "\"federatedProvider\":\"arn:aws:iam::{acct}:oidc-provider/{provider}\",\"attributes\":{{}}");
        }
        let _ = write!(
            out,
            "}},\"attributes\":{{\"creationDate\":\"{created}\",\"mfaAuthenticated\":\"false\"}}"
        );
        if let Some(si) = &s.source_identity {
            let _ = write!(out, ",\"sourceIdentity\":\"{si}\"");
        }
        out.push('}');
        if let Issuer::Service(service) = &s.issuer {
            let _ = write!(out, ",\"invokedBy\":\"{service}\"");
        }
        out.push('}');
    }

    /// The `userIdentity` of whoever called the API that issued a session's keys.
    fn issuer_identity(&self, out: &mut String, sessions: &[Session], s: &Session, created: &str) {
        let acct = &self.accounts[s.account];
        match &s.issuer {
            Issuer::User { name, key } | Issuer::SessionToken { name, key } => {
                self.iam_user_fields(out, acct, name, key);
                out.push('}');
            }
            Issuer::Session(i) => self.session_identity(out, &sessions[*i], created),
            Issuer::Saml { subject, provider } => {
                let _ = write!(
                    out,
                    "{{\"type\":\"SAMLUser\",\"principalId\":\"SAMPLEc3RkMjg2ZGY=:{subject}\",\"userName\":\"{subject}\",\"identityProvider\":\"arn:aws:iam::{acct}:saml-provider/{provider}\"}}"
                );
            }
            Issuer::WebIdentity { subject, provider } => {
                let _ = write!(
                    out,
                    "{{\"type\":\"WebIdentityUser\",\"principalId\":\"{provider}:sts.amazonaws.com:{subject}\",\"userName\":\"{subject}\",\"identityProvider\":\"{provider}\"}}"
                );
            }
            Issuer::Service(service) => {
                let _ = write!(
                    out,
                    "{{\"type\":\"AWSService\",\"invokedBy\":\"{service}\"}}"
                );
            }
        }
    }
}

/// Writes the event that issued a session's keys.
fn issuing_event(
    out: &mut String,
    w: &World,
    sessions: &[Session],
    s: &Session,
    t: i64,
    region: &str,
    r: &mut Rng,
) {
    let acct = &w.accounts[s.account];
    let time = iso_time(t);
    let (name, agent, ip) = match &s.issuer {
        Issuer::Saml { .. } => (
            "AssumeRoleWithSAML",
            "aws-internal/3 aws-sdk-java/1.12.720",
            "203.0.113.25".to_string(),
        ),
        Issuer::WebIdentity { .. } => (
            "AssumeRoleWithWebIdentity",
            "aws-sdk-js/3.540.0",
            "198.51.100.77".to_string(),
        ),
        Issuer::Service(svc) => ("AssumeRole", svc.as_str(), svc.to_string()),
        Issuer::SessionToken { .. } => (
            "GetSessionToken",
            "aws-cli/2.15.30 Python/3.11.8 Linux/6.1",
            "192.0.2.10".to_string(),
        ),
        _ => (
            "AssumeRole",
            "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0",
            "192.0.2.10".to_string(),
        ),
    };
    out.push_str("{\"eventVersion\":\"1.08\",\"userIdentity\":");
    w.issuer_identity(out, sessions, s, &time);
    let _ = write!(out, ",\"eventTime\":\"{time}\",\"eventSource\":\"sts.amazonaws.com\",\"eventName\":\"{name}\",\"awsRegion\":\"{region}\",\"sourceIPAddress\":");
    js(out, &ip);
    out.push_str(",\"userAgent\":");
    js(out, agent);
    let expiration = iso_time(t + 3600);
    if name == "GetSessionToken" {
        out.push_str(",\"requestParameters\":{\"durationSeconds\":3600}");
    } else {
        let _ = write!(
            out,
            ",\"requestParameters\":{{\"roleArn\":\"{}\",\"roleSessionName\":",
            w.role_arn(s)
        );
        js(out, &s.name);
        if let Issuer::Saml { provider, .. } = &s.issuer {
            let _ = write!(
                out,
                ",\"principalArn\":\"arn:aws:iam::{acct}:saml-provider/{provider}\""
            );
        }
        if let Some(si) = &s.source_identity {
            let _ = write!(out, ",\"sourceIdentity\":\"{si}\"");
        }
        out.push_str(",\"durationSeconds\":3600}");
    }
    let _ = write!(
        out,
        ",\"responseElements\":{{\"credentials\":{{\"accessKeyId\":\"{}\",\"sessionToken\":\"{}\",\"expiration\":\"{expiration}\"}}",
        s.key,
        r.alnum(120, false)
    );
    if name != "GetSessionToken" {
        let _ = write!(
            out,
            ",\"assumedRoleUser\":{{\"assumedRoleId\":\"{}\",\"arn\":\"{}\"}}",
            w.principal_id(s),
            w.assumed_arn(s)
        );
    }
    match &s.issuer {
        Issuer::Saml { subject, provider } => {
            let _ = write!(out, ",\"subject\":\"{subject}\",\"subjectType\":\"persistent\",\"issuer\":\"https://portal.sso.example.com/saml/{provider}\",\"audience\":\"https://signin.aws.amazon.com/saml\"");
        }
        Issuer::WebIdentity { subject, provider } => {
            let _ = write!(out, ",\"subjectFromWebIdentityToken\":\"{subject}\",\"provider\":\"arn:aws:iam::{acct}:oidc-provider/{provider}\",\"audience\":\"sts.amazonaws.com\"");
        }
        _ => {}
    }
    if let Some(si) = &s.source_identity {
        let _ = write!(out, ",\"sourceIdentity\":\"{si}\"");
    }
    out.push('}');
    let _ = write!(
        out,
        ",\"requestID\":\"{}\",\"eventID\":\"{}\",\"readOnly\":true",
        r.uuid(),
        r.uuid()
    );
    if name != "GetSessionToken" {
        let _ = write!(out, ",\"resources\":[{{\"accountId\":\"{acct}\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"{}\"}}]", w.role_arn(s));
    }
    let _ = write!(
        out,
        ",\"eventType\":\"AwsApiCall\",\"managementEvent\":true,\"recipientAccountId\":\"{acct}\""
    );
    if let Issuer::Session(i) = &s.issuer {
        if sessions[*i].account != s.account {
            let _ = write!(out, ",\"sharedEventID\":\"{}\"", r.uuid());
        }
    }
    out.push_str(",\"eventCategory\":\"Management\"}");
}

/// Writes one ordinary API call in `account`.
fn api_event(
    out: &mut String,
    w: &World,
    (sessions, mine): (&[Session], &[usize]),
    account: usize,
    t: i64,
    region: &str,
    r: &mut Rng,
) {
    let acct = &w.accounts[account];
    let time = iso_time(t);
    let actor = r.below(100);
    // Callers come from a few hundred addresses per account, as real offices, CI runners and
    // NAT gateways do (which is also what makes GeoIP caching pay off).
    let mut ip = client_address(w.seed, account, r.below(w.clients));
    let mut agent = r
        .pick(&[
            "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.amzn.2023",
            "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 lang/python#3.12.2",
            "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
            "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.43.0",
        ])
        .to_string();
    out.push_str("{\"eventVersion\":\"1.09\",\"userIdentity\":");
    // Who: sessions most of the time, then IAM users, services and the root user.
    let service_call = (88..97).contains(&actor);
    if actor < 70 && !mine.is_empty() {
        let s = &sessions[*r.pick(mine)];
        w.session_identity(out, s, &iso_time(t - (t % 3600)));
        if let Issuer::Service(svc) = &s.issuer {
            ip = svc.to_string();
            agent = svc.to_string();
        }
    } else if actor < 88 {
        let name = *r.pick(&["alice", "bob", "ci-deployer"]);
        w.iam_user_fields(out, acct, name, &user_access_key(w.seed, account, name));
        out.push('}');
    } else if service_call {
        let svc = *r.pick(&[
            "cloudformation.amazonaws.com",
            "autoscaling.amazonaws.com",
            "config.amazonaws.com",
        ]);
        let _ = write!(out, "{{\"type\":\"AWSService\",\"invokedBy\":\"{svc}\"}}");
        ip = svc.to_string();
        agent = svc.to_string();
    } else {
        let _ = write!(
            out,
            "{{\"type\":\"Root\",\"principalId\":\"{acct}\",\"arn\":\"arn:aws:iam::{acct}:root\",\"accountId\":\"{acct}\",\"accessKeyId\":\"\"}}"
        );
    }
    let bucket = format!("data-{acct}-{}", r.pick(&["raw", "reports", "backups"]));
    let object = format!(
        "{}/{}/part-{:05}.parquet",
        r.pick(&["2026", "exports", "tmp"]),
        r.alnum(8, false),
        r.below(99_999)
    );
    let instance = format!("i-0{}", r.alnum(16, false).to_lowercase());
    let key_id = r.uuid();
    let api = r.below(100);
    let (source, name, read_only, category) = match api {
        0..=24 => (
            "s3.amazonaws.com",
            if r.chance(70) {
                "GetObject"
            } else {
                "PutObject"
            },
            None,
            "Data",
        ),
        25..=39 => (
            "ec2.amazonaws.com",
            "DescribeInstances",
            Some(true),
            "Management",
        ),
        40..=45 => (
            "ec2.amazonaws.com",
            "RunInstances",
            Some(false),
            "Management",
        ),
        46..=49 => (
            "ec2.amazonaws.com",
            *r.pick(&["StartInstances", "StopInstances"]),
            Some(false),
            "Management",
        ),
        50..=64 => (
            "kms.amazonaws.com",
            if r.chance(60) {
                "Decrypt"
            } else {
                "GenerateDataKey"
            },
            Some(true),
            "Management",
        ),
        65..=70 => (
            "iam.amazonaws.com",
            *r.pick(&[
                "CreateUser",
                "AttachRolePolicy",
                "CreateAccessKey",
                "GetRole",
            ]),
            Some(false),
            "Management",
        ),
        71..=73 => (
            "signin.amazonaws.com",
            "ConsoleLogin",
            Some(false),
            "Management",
        ),
        74..=79 => (
            "sts.amazonaws.com",
            "GetCallerIdentity",
            Some(true),
            "Management",
        ),
        80..=84 => ("sqs.amazonaws.com", "SendMessage", Some(false), "Data"),
        85..=89 => (
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            Some(true),
            "Management",
        ),
        90..=94 => ("dynamodb.amazonaws.com", "GetItem", Some(true), "Data"),
        _ => (
            "logs.amazonaws.com",
            "CreateLogStream",
            Some(false),
            "Management",
        ),
    };
    let read_only = read_only.unwrap_or(name == "GetObject");
    let _ = write!(out, ",\"eventTime\":\"{time}\",\"eventSource\":\"{source}\",\"eventName\":\"{name}\",\"awsRegion\":\"{region}\",\"sourceIPAddress\":");
    js(out, &ip);
    out.push_str(",\"userAgent\":");
    js(out, &agent);
    let denied = !service_call && r.chance(4);
    if denied {
        let _ = write!(
            out,
            ",\"errorCode\":\"AccessDenied\",\"errorMessage\":\"User is not authorized to perform: {}:{name} because no identity-based policy allows the action\"",
            source.split('.').next().unwrap_or("")
        );
    }
    let mut resources = String::new();
    match name {
        "GetObject" | "PutObject" => {
            let _ = write!(out, ",\"requestParameters\":{{\"bucketName\":\"{bucket}\",\"Host\":\"{bucket}.s3.{region}.amazonaws.com\",\"key\":\"{object}\"}}");
            out.push_str(",\"responseElements\":null");
            let _ = write!(out, ",\"additionalEventData\":{{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":0,\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\"{}\",\"bytesTransferredOut\":{}}}", r.alnum(76, false), r.below(50_000_000));
            let _ = write!(resources, "[{{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::{bucket}/{object}\"}},{{\"accountId\":\"{acct}\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::{bucket}\"}}]");
        }
        "RunInstances" => {
            let count = 1 + r.below(4);
            let _ = write!(out, ",\"requestParameters\":{{\"instancesSet\":{{\"items\":[{{\"imageId\":\"ami-0{}\",\"minCount\":{count},\"maxCount\":{count}}}]}},\"instanceType\":\"{}\",\"blockDeviceMapping\":{{}},\"monitoring\":{{\"enabled\":false}},\"disableApiTermination\":false,\"disableApiStop\":false,\"clientToken\":\"{}\",\"tagSpecificationSet\":{{\"items\":[{{\"resourceType\":\"instance\",\"tags\":[{{\"key\":\"team\",\"value\":\"{}\"}}]}}]}}}}", r.alnum(16, false).to_lowercase(), r.pick(&["t3.micro", "m7i.large", "c7g.xlarge"]), r.uuid(), r.pick(&["payments", "search", "ml"]));
            if denied {
                out.push_str(",\"responseElements\":null");
            } else {
                let _ = write!(out, ",\"responseElements\":{{\"requestId\":\"{}\",\"reservationId\":\"r-0{}\",\"ownerId\":\"{acct}\",\"groupSet\":{{}},\"instancesSet\":{{\"items\":[", r.uuid(), r.alnum(16, false).to_lowercase());
                for k in 0..count {
                    let id = if k == 0 {
                        instance.clone()
                    } else {
                        format!("i-0{}", r.alnum(16, false).to_lowercase())
                    };
                    if k > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{{\"instanceId\":\"{id}\",\"imageId\":\"ami-0{}\",\"currentInstanceBootMode\":\"uefi\",\"instanceState\":{{\"code\":0,\"name\":\"pending\"}},\"privateDnsName\":\"ip-10-{}-{}-{}.ec2.internal\",\"amiLaunchIndex\":{k},\"productCodes\":{{}},\"instanceType\":\"m7i.large\",\"launchTime\":{},\"placement\":{{\"availabilityZone\":\"{region}a\",\"tenancy\":\"default\"}},\"monitoring\":{{\"state\":\"disabled\"}},\"subnetId\":\"subnet-0{}\",\"vpcId\":\"vpc-0{}\",\"privateIpAddress\":\"10.{}.{}.{}\",\"stateReason\":{{\"code\":\"pending\",\"message\":\"pending\"}},\"architecture\":\"x86_64\",\"rootDeviceType\":\"ebs\",\"rootDeviceName\":\"/dev/xvda\",\"blockDeviceMapping\":{{}},\"virtualizationType\":\"hvm\",\"hypervisor\":\"xen\",\"groupSet\":{{\"items\":[{{\"groupId\":\"sg-0{}\",\"groupName\":\"default\"}}]}},\"networkInterfaceSet\":{{\"items\":[{{\"networkInterfaceId\":\"eni-0{}\",\"subnetId\":\"subnet-0{}\",\"status\":\"in-use\",\"privateIpAddress\":\"10.0.1.{}\",\"sourceDestCheck\":true,\"interfaceType\":\"interface\"}}]}},\"ebsOptimized\":true,\"enaSupport\":true,\"cpuOptions\":{{\"coreCount\":1,\"threadsPerCore\":2}},\"capacityReservationSpecification\":{{\"capacityReservationPreference\":\"open\"}},\"metadataOptions\":{{\"state\":\"pending\",\"httpTokens\":\"required\",\"httpPutResponseHopLimit\":2,\"httpEndpoint\":\"enabled\"}}}}",
                        r.alnum(16, false).to_lowercase(), r.below(255), r.below(255), r.below(255), t * 1000, r.alnum(16, false).to_lowercase(), r.alnum(16, false).to_lowercase(), r.below(255), r.below(255), r.below(255), r.alnum(16, false).to_lowercase(), r.alnum(16, false).to_lowercase(), r.alnum(16, false).to_lowercase(), r.below(255));
                }
                out.push_str("]}}");
            }
        }
        "StartInstances" | "StopInstances" => {
            let _ = write!(out, ",\"requestParameters\":{{\"instancesSet\":{{\"items\":[{{\"instanceId\":\"{instance}\"}}]}}}}");
            let _ = write!(out, ",\"responseElements\":{{\"requestId\":\"{}\",\"instancesSet\":{{\"items\":[{{\"instanceId\":\"{instance}\",\"currentState\":{{\"code\":0,\"name\":\"pending\"}},\"previousState\":{{\"code\":80,\"name\":\"stopped\"}}}}]}}}}", r.uuid());
        }
        "DescribeInstances" => {
            out.push_str(",\"requestParameters\":{\"instancesSet\":{},\"filterSet\":{\"items\":[{\"name\":\"instance-state-name\",\"valueSet\":{\"items\":[{\"value\":\"running\"}]}}]}}");
            out.push_str(",\"responseElements\":null");
        }
        "Decrypt" | "GenerateDataKey" => {
            let _ = write!(out, ",\"requestParameters\":{{\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"keyId\":\"arn:aws:kms:{region}:{acct}:key/{key_id}\",\"encryptionContext\":{{\"aws:s3:arn\":\"arn:aws:s3:::{bucket}/{object}\"}}}}");
            out.push_str(",\"responseElements\":null");
            let _ = write!(resources, "[{{\"accountId\":\"{acct}\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"arn:aws:kms:{region}:{acct}:key/{key_id}\"}}]");
        }
        "CreateUser" | "CreateAccessKey" | "GetRole" | "AttachRolePolicy" => {
            let target = format!("svc-{}", r.alnum(6, false).to_lowercase());
            match name {
                "AttachRolePolicy" => {
                    let _ = write!(out, ",\"requestParameters\":{{\"roleName\":\"{target}\",\"policyArn\":\"arn:aws:iam::aws:policy/AdministratorAccess\"}},\"responseElements\":null");
                }
                "GetRole" => {
                    let _ = write!(out, ",\"requestParameters\":{{\"roleName\":\"{target}\"}},\"responseElements\":null");
                }
                _ => {
                    let _ = write!(out, ",\"requestParameters\":{{\"userName\":\"{target}\"}},\"responseElements\":{{\"user\":{{\"path\":\"/\",\"userName\":\"{target}\",\"userId\":\"AIDA{}\",\"arn\":\"arn:aws:iam::{acct}:user/{target}\",\"createDate\":\"{}\"}}}}", r.alnum(17, true), time.replace('T', " ").replace('Z', ""));
                }
            }
        }
        "ConsoleLogin" => {
            out.push_str(",\"requestParameters\":null");
            let _ = write!(
                out,
                ",\"responseElements\":{{\"ConsoleLogin\":\"{}\"}}",
                if denied { "Failure" } else { "Success" }
            );
            let _ = write!(out, ",\"additionalEventData\":{{\"LoginTo\":\"https://console.aws.amazon.com/console/home?region={region}\",\"MobileVersion\":\"No\",\"MFAUsed\":\"{}\"}}", if r.chance(80) { "Yes" } else { "No" });
        }
        "SendMessage" => {
            let _ = write!(out, ",\"requestParameters\":{{\"queueUrl\":\"https://sqs.{region}.amazonaws.com/{acct}/orders\",\"messageBody\":\"HIDDEN_DUE_TO_SECURITY_REASONS\"}},\"responseElements\":{{\"mD5OfMessageBody\":\"{}\",\"messageId\":\"{}\"}}", r.alnum(32, false).to_lowercase(), r.uuid());
        }
        "GetSecretValue" => {
            let _ = write!(out, ",\"requestParameters\":{{\"secretId\":\"arn:aws:secretsmanager:{region}:{acct}:secret:prod/db-{}\"}},\"responseElements\":null", r.alnum(6, false));
        }
        "GetItem" => {
            let _ = write!(out, ",\"requestParameters\":{{\"tableName\":\"orders\",\"key\":{{\"id\":\"HIDDEN_DUE_TO_SECURITY_REASONS\"}},\"consistentRead\":false}},\"responseElements\":null");
            let _ = write!(resources, "[{{\"accountId\":\"{acct}\",\"type\":\"AWS::DynamoDB::Table\",\"ARN\":\"arn:aws:dynamodb:{region}:{acct}:table/orders\"}}]");
        }
        "CreateLogStream" => {
            let _ = write!(out, ",\"requestParameters\":{{\"logGroupName\":\"/aws/lambda/order-processor\",\"logStreamName\":\"2026/01/05/[$LATEST]{}\"}},\"responseElements\":null", r.alnum(32, false).to_lowercase());
        }
        _ => out.push_str(",\"requestParameters\":null,\"responseElements\":null"),
    }
    let _ = write!(
        out,
        ",\"requestID\":\"{}\",\"eventID\":\"{}\",\"readOnly\":{read_only}",
        r.uuid(),
        r.uuid()
    );
    if !resources.is_empty() {
        let _ = write!(out, ",\"resources\":{resources}");
    }
    let event_type = if name == "ConsoleLogin" {
        "AwsConsoleSignIn"
    } else {
        "AwsApiCall"
    };
    let _ = write!(
        out,
        ",\"eventType\":\"{event_type}\",\"managementEvent\":{},\"recipientAccountId\":\"{acct}\"",
        category == "Management"
    );
    if category == "Data" && r.chance(30) {
        let _ = write!(
            out,
            ",\"vpcEndpointId\":\"vpce-0{}\"",
            r.alnum(16, false).to_lowercase()
        );
    }
    let _ = write!(out, ",\"eventCategory\":\"{category}\"");
    if !ip.ends_with(".amazonaws.com") {
        let _ = write!(out, ",\"tlsDetails\":{{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\"{}.{region}.amazonaws.com\"}}", source.split('.').next().unwrap_or(""));
    }
    out.push('}');
}

/// The `n`th client address of an account: IPv4 in four /8s, one in ten IPv6 in 2001:db8::/32.
fn client_address(seed: u64, account: usize, n: u64) -> String {
    let mut r = Rng::new(&[seed, 0x1B, account as u64, n]);
    if r.chance(10) {
        return format!("2001:db8:{:x}::{:x}", r.below(0xffff), 1 + r.below(0xfffe));
    }
    format!(
        "{}.{}.{}.{}",
        r.pick(&[198u64, 203, 192, 185]),
        r.below(255),
        r.below(255),
        1 + r.below(254)
    )
}

/// One log file to write: its place in the archive and what it holds.
struct FilePlan {
    index: u64,
    account: usize,
    region: usize,
    /// Delivery time: the end of the window its events fall in.
    time: i64,
    events: u64,
}

/// A written log file, for the digests.
struct WrittenFile {
    key: String,
    account: usize,
    region: usize,
    time: i64,
    sha256: String,
    compressed: u64,
    decompressed: u64,
    events: u64,
    duplicate: Option<(String, u64)>,
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = GzEncoder::new(
        Vec::with_capacity(data.len() / 8),
        flate2::Compression::default(),
    );
    e.write_all(data)?;
    e.finish()
}

fn day_prefix(account: &str, kind: &str, region: &str, t: i64) -> String {
    let (y, m, d, ..) = civil_from_unix(t);
    format!("AWSLogs/{account}/{kind}/{region}/{y:04}/{m:02}/{d:02}")
}

fn stamp(t: i64, seconds: bool) -> String {
    let (y, m, d, hh, mm, ss) = civil_from_unix(t);
    if seconds {
        format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
    } else {
        format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z")
    }
}

/// Writes the archive under `out` and says what it wrote.
pub fn generate_archive(out: &Path, opts: &GenOptions) -> io::Result<GenSummary> {
    if opts.accounts == 0 || opts.events_per_file == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--accounts and --events-per-file must be at least 1",
        ));
    }
    if !(1..=REGIONS.len()).contains(&opts.regions) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--regions must be 1 to {}", REGIONS.len()),
        ));
    }
    if !(0..=3600).contains(&opts.late_secs) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--late-secs must be 0 to 3600 (CloudTrail delivers within about 15 minutes: 900)",
        ));
    }
    let accounts: Vec<String> = (0..opts.accounts)
        .map(|i| account_id(opts.seed, i))
        .collect();
    let world = World {
        seed: opts.seed,
        accounts: &accounts,
        clients: opts.clients.max(1),
    };
    // Files go round-robin over (account, region) slots, one window apart per round, so time
    // moves forward evenly and every slot has a file in most windows.
    let slots = opts.accounts * opts.regions;
    let mut plans = Vec::new();
    let mut left = opts.events;
    let mut index = 0u64;
    while left > 0 {
        let mut r = Rng::new(&[opts.seed, 0xF11E, index]);
        let n = (opts.events_per_file / 2 + r.below(opts.events_per_file + 1)).clamp(1, left);
        let slot = (index % slots as u64) as usize;
        let round = index / slots as u64;
        plans.push(FilePlan {
            index,
            account: slot / opts.regions,
            region: slot % opts.regions,
            time: START_EPOCH + (round as i64 + 1) * FILE_WINDOW_SECS,
            events: n,
        });
        left -= n;
        index += 1;
    }
    let written: Vec<WrittenFile> = plans
        .par_iter()
        .map(|p| write_log_file(out, &world, opts, p))
        .collect::<io::Result<_>>()?;
    let mut summary = GenSummary::default();
    for f in &written {
        summary.events += f.events;
        summary.files += 1;
        summary.compressed_bytes += f.compressed;
        summary.decompressed_bytes += f.decompressed;
        if let Some((_, size)) = &f.duplicate {
            summary.duplicate_files += 1;
            summary.duplicate_events += f.events;
            summary.compressed_bytes += size;
            summary.decompressed_bytes += f.decompressed;
        }
    }
    summary.digest_files = write_digests(out, &world, &written)?;
    Ok(summary)
}

fn write_log_file(
    out: &Path,
    w: &World,
    opts: &GenOptions,
    p: &FilePlan,
) -> io::Result<WrittenFile> {
    let mut r = Rng::new(&[opts.seed, 0xF00D, p.index]);
    let acct = &w.accounts[p.account];
    let region = REGIONS[p.region];
    let window_start = p.time - FILE_WINDOW_SECS;
    let hour_of = |t: i64| ((t - START_EPOCH).max(0) / 3600) as u64;
    let mut times: Vec<i64> = (0..p.events)
        .map(|_| {
            let t = window_start + r.below(FILE_WINDOW_SECS as u64) as i64;
            // A third of the events of a late-delivering trail come in a later file.
            if opts.late_secs > 0 && r.chance(30) {
                (t - r.below(opts.late_secs as u64) as i64).max(START_EPOCH)
            } else {
                t
            }
        })
        .collect();
    times.sort_unstable();
    // Each hour's sessions, for the hours this file's events fall in (one or two).
    let mut plans: Vec<(u64, Vec<Session>)> = Vec::new();
    let plan = |plans: &mut Vec<(u64, Vec<Session>)>, hour: u64| -> usize {
        match plans.iter().position(|(h, _)| *h == hour) {
            Some(i) => i,
            None => {
                let sessions = plan_sessions(opts.seed, opts.accounts, opts.sessions, hour);
                plans.push((hour, sessions));
                plans.len() - 1
            }
        }
    };
    // Sessions are issued at the start of their hour, in the home region (us-east-1), and the
    // issuing events delivered in the hour's first file there, or, when delivery runs late, in
    // one up to `late_secs` later (after calls made with the new keys in other files).
    let mut issued: Option<(u64, i64)> = None;
    if p.region == 0 {
        let hour = hour_of(window_start);
        for h in [hour, hour.saturating_sub(1)] {
            let hour_start = START_EPOCH + h as i64 * 3600;
            let delay = if opts.late_secs > 0 {
                let windows = (opts.late_secs / FILE_WINDOW_SECS) as u64;
                Rng::new(&[opts.seed, 0x1A7E, h, p.account as u64]).below(windows + 1) as i64
            } else {
                0
            };
            if window_start == hour_start + delay * FILE_WINDOW_SECS {
                issued = Some((h, hour_start));
                break;
            }
        }
    }
    let mut body = String::with_capacity(p.events as usize * 1800 + 64);
    body.push_str("{\"Records\":[");
    let mut written = 0u64;
    if let Some((hour, hour_start)) = issued {
        let i = plan(&mut plans, hour);
        let sessions = &plans[i].1;
        for s in sessions.iter().filter(|s| s.account == p.account) {
            // The fixed sessions fit in any file; a realistic trail's hundreds are all issued
            // (the file then holds more than its share of events).
            if written >= p.events && opts.sessions == 0 {
                break;
            }
            if written > 0 {
                body.push(',');
            }
            issuing_event(
                &mut body,
                w,
                sessions,
                s,
                hour_start + written as i64,
                region,
                &mut r,
            );
            written += 1;
        }
    }
    // This account's sessions of the hour last used, by index.
    let mut mine: (u64, Vec<usize>) = (u64::MAX, Vec::new());
    for &t in &times[(written as usize).min(times.len())..] {
        if written > 0 {
            body.push(',');
        }
        let i = plan(&mut plans, hour_of(t));
        let (hour, sessions) = (plans[i].0, &plans[i].1);
        if mine.0 != hour {
            let of_account = (0..sessions.len()).filter(|&k| sessions[k].account == p.account);
            mine = (hour, of_account.collect());
        }
        api_event(
            &mut body,
            w,
            (sessions, &mine.1),
            p.account,
            t,
            region,
            &mut r,
        );
        written += 1;
    }
    body.push_str("]}");
    let compressed = gzip(body.as_bytes())?;
    let dir = day_prefix(acct, "CloudTrail", region, p.time);
    let name = format!(
        "{acct}_CloudTrail_{region}_{}_{}.json.gz",
        stamp(p.time, false),
        r.alnum(16, false)
    );
    let key = format!("{dir}/{name}");
    let path: PathBuf = out.join(&key);
    fs::create_dir_all(out.join(&dir))?;
    fs::write(&path, &compressed)?;
    // About one file in a hundred is delivered twice, under a second name, as S3 retries do.
    let duplicate = if r.chance(1) {
        let dup_name = format!(
            "{acct}_CloudTrail_{region}_{}_{}.json.gz",
            stamp(p.time, false),
            r.alnum(16, false)
        );
        fs::write(out.join(&dir).join(&dup_name), &compressed)?;
        Some((format!("{dir}/{dup_name}"), compressed.len() as u64))
    } else {
        None
    };
    Ok(WrittenFile {
        key,
        account: p.account,
        region: p.region,
        time: p.time,
        // CloudTrail hashes a log file's uncompressed content.
        sha256: hex(&Sha256::digest(&body)),
        compressed: compressed.len() as u64,
        decompressed: body.len() as u64,
        events: written,
        duplicate,
    })
}

/// One digest per account, region and hour, listing that hour's log files with the SHA-256 of
/// their uncompressed content,
/// chained through `previousDigestHashValue`. Signatures need the trail's private key, which a
/// synthetic archive does not have: `digestSignatureAlgorithm` is set, the signature is not.
fn write_digests(out: &Path, w: &World, files: &[WrittenFile]) -> io::Result<u64> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(usize, usize, i64), Vec<&WrittenFile>> = BTreeMap::new();
    for f in files {
        let hour_start = f.time - 1 - (f.time - 1).rem_euclid(3600);
        groups
            .entry((f.account, f.region, hour_start))
            .or_default()
            .push(f);
    }
    let mut previous: BTreeMap<(usize, usize), (String, String)> = BTreeMap::new();
    let mut count = 0;
    for ((account, region, hour_start), group) in groups {
        let acct = &w.accounts[account];
        let region_name = REGIONS[region];
        let end = hour_start + 3600;
        let dir = day_prefix(acct, "CloudTrail-Digest", region_name, end);
        let name = format!(
            "{acct}_CloudTrail-Digest_{region_name}_{TRAIL_NAME}_{region_name}_{}.json.gz",
            stamp(end, true)
        );
        let key = format!("{dir}/{name}");
        let mut log_files = Vec::new();
        for f in &group {
            let mut keys = vec![f.key.clone()];
            if let Some((dup, _)) = &f.duplicate {
                keys.push(dup.clone());
            }
            for k in keys {
                log_files.push(serde_json::json!({
                    "s3Bucket": BUCKET,
                    "s3Object": k,
                    "hashValue": f.sha256,
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": iso_time(f.time - 1),
                    "oldestEventTime": iso_time(f.time - FILE_WINDOW_SECS),
                }));
            }
        }
        let (prev_key, prev_hash) = previous
            .get(&(account, region))
            .cloned()
            .unwrap_or_default();
        let digest = serde_json::json!({
            "awsAccountId": acct,
            "digestStartTime": iso_time(hour_start),
            "digestEndTime": iso_time(end),
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": iso_time(end - 1),
            "oldestEventTime": iso_time(hour_start),
            "previousDigestS3Bucket": if prev_key.is_empty() { serde_json::Value::Null } else { BUCKET.into() },
            "previousDigestS3Object": if prev_key.is_empty() { serde_json::Value::Null } else { prev_key.into() },
            "previousDigestHashValue": if prev_hash.is_empty() { serde_json::Value::Null } else { prev_hash.into() },
            "previousDigestHashAlgorithm": "SHA-256",
            "previousDigestSignature": serde_json::Value::Null,
            "logFiles": log_files,
        });
        let plain = serde_json::to_vec(&digest).map_err(io::Error::other)?;
        let bytes = gzip(&plain)?;
        fs::create_dir_all(out.join(&dir))?;
        fs::write(out.join(&key), &bytes)?;
        // The chain hashes the previous digest's uncompressed content, as CloudTrail does.
        previous.insert((account, region), (key, hex(&Sha256::digest(&plain))));
        count += 1;
    }
    Ok(count)
}

/// GeoIP databases in MaxMind format covering the addresses `gen` uses, so demos and the
/// benchmark can run GeoIP enrichment without downloading anything: `DIR/geoip/city.mmdb` and
/// `DIR/geoip/asn.mmdb`. With `networks` 0, one network per address block (IPv4 by first
/// octet, and `2001:db8::/32`); with a power of two, each block is cut into `networks / 4`
/// networks (and the IPv6 one as many), each with its own city and ASN record: a lookup then
/// walks a tree as deep as a real database's and lands on a record of its own.
pub fn write_geoip_fixtures(out: &Path, networks: u32) -> io::Result<(PathBuf, PathBuf)> {
    if networks != 0 && (networks < 4 || !networks.is_power_of_two() || networks > 1 << 22) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--geoip-networks must be 0 or a power of two from 4 to 4194304",
        ));
    }
    use maxminddb_writer::metadata::IpVersion;
    use maxminddb_writer::paths::IpAddrWithMask;
    use maxminddb_writer::Database;
    use serde_json::json;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    let new_db = |kind: &str| {
        let mut db = Database::default();
        db.metadata.ip_version = IpVersion::V6;
        db.metadata.database_type = kind.to_string();
        db.metadata.binary_format_major_version = 2;
        db.metadata.languages = vec!["en".into()];
        db
    };
    let places = [
        (
            198u8,
            "US",
            "United States",
            "CA",
            "California",
            "San Francisco",
            37.7749,
            -122.4194,
            64500u32,
            "Example Cloud",
        ),
        (
            203,
            "AU",
            "Australia",
            "NSW",
            "New South Wales",
            "Sydney",
            -33.8688,
            151.2093,
            64501,
            "Example Telecom AU",
        ),
        (
            192,
            "DE",
            "Germany",
            "BE",
            "Land Berlin",
            "Berlin",
            52.52,
            13.405,
            64502,
            "Example Carrier DE",
        ),
        (
            185,
            "GB",
            "United Kingdom",
            "ENG",
            "England",
            "London",
            51.5072,
            -0.1276,
            64503,
            "Example ISP UK",
        ),
    ];
    let mut city = new_db("GeoLite2-City");
    let mut asn = new_db("GeoLite2-ASN");
    let to_io = |e: maxminddb_writer::Error| io::Error::other(e.to_string());
    for (octet, iso, country, region_iso, region, city_name, lat, lon, number, org) in places {
        let net = IpAddrWithMask::new(
            IpAddr::V6(Ipv4Addr::new(octet, 0, 0, 0).to_ipv6_compatible()),
            96 + 8,
        );
        let c = city
            .insert_value(json!({
                "city": {"names": {"en": city_name}},
                "country": {"iso_code": iso, "names": {"en": country}},
                "location": {"latitude": lat, "longitude": lon},
                "subdivisions": [{"iso_code": region_iso, "names": {"en": region}}],
            }))
            .map_err(to_io)?;
        city.insert_node(net, c);
        let a = asn
            .insert_value(AsnFixture {
                autonomous_system_number: number,
                autonomous_system_organization: org,
            })
            .map_err(to_io)?;
        asn.insert_node(net, a);
    }
    if networks > 0 {
        // Realistic size: the blocks above, cut into many networks with records of their own.
        let per_block = networks / 4;
        let bits = per_block.trailing_zeros() as u8;
        let mut r = Rng::new(&[0x6E0, networks as u64]);
        let mut add = |net: IpAddrWithMask, n: u32, r: &mut Rng, base: usize| -> io::Result<()> {
            let (_, iso, country, region_iso, region, city_name, lat, lon, _, org) = places[base];
            let c = city
                .insert_value(json!({
                    "city": {"names": {"en": format!("{city_name} {n}")}},
                    "country": {"iso_code": iso, "names": {"en": country}},
                    "location": {
                        "latitude": lat + (r.below(2000) as f64 - 1000.0) / 1000.0,
                        "longitude": lon + (r.below(2000) as f64 - 1000.0) / 1000.0,
                        "accuracy_radius": 20 + r.below(500),
                    },
                    "postal": {"code": format!("{:05}", r.below(100_000))},
                    "subdivisions": [{"iso_code": region_iso, "names": {"en": region}}],
                }))
                .map_err(to_io)?;
            city.insert_node(net, c);
            let a = asn
                .insert_value(AsnFixture {
                    autonomous_system_number: 4_200_000_000 + r.below(50_000) as u32,
                    autonomous_system_organization: org,
                })
                .map_err(to_io)?;
            asn.insert_node(net, a);
            Ok(())
        };
        for (base, (octet, ..)) in places.iter().enumerate() {
            for n in 0..per_block {
                let addr = (u32::from(*octet) << 24) | (n << (24 - u32::from(bits)));
                let net = IpAddrWithMask::new(
                    IpAddr::V6(Ipv4Addr::from(addr).to_ipv6_compatible()),
                    96 + 8 + bits,
                );
                add(net, n, &mut r, base)?;
            }
        }
        for n in 0..per_block.min(1 << 16) {
            let third = (n << (16 - u32::from(bits).min(16))) as u16;
            let net = IpAddrWithMask::new(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, third, 0, 0, 0, 0, 0)),
                32 + bits.min(16),
            );
            add(net, n, &mut r, (n % 4) as usize)?;
        }
    }
    let v6 = IpAddrWithMask::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0)),
        32,
    );
    let c = city
        .insert_value(json!({
            "city": {"names": {"en": "Tokyo"}},
            "country": {"iso_code": "JP", "names": {"en": "Japan"}},
            "location": {"latitude": 35.6762, "longitude": 139.6503},
            "subdivisions": [{"iso_code": "13", "names": {"en": "Tokyo"}}],
        }))
        .map_err(to_io)?;
    city.insert_node(v6, c);
    let a = asn
        .insert_value(AsnFixture {
            autonomous_system_number: 64504,
            autonomous_system_organization: "Example IPv6 Net",
        })
        .map_err(to_io)?;
    asn.insert_node(v6, a);
    let dir = out.join("geoip");
    fs::create_dir_all(&dir)?;
    let (city_path, asn_path) = (dir.join("city.mmdb"), dir.join("asn.mmdb"));
    city.write_to(fs::File::create(&city_path)?)
        .map_err(to_io)?;
    asn.write_to(fs::File::create(&asn_path)?).map_err(to_io)?;
    Ok((city_path, asn_path))
}

/// The ASN record (typed: the reader wants 32-bit numbers, JSON numbers would be 64).
#[derive(serde::Serialize)]
struct AsnFixture {
    autonomous_system_number: u32,
    autonomous_system_organization: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(iso_time(START_EPOCH), "2026-01-05T00:00:00Z");
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn events_are_valid_json() {
        let accounts: Vec<String> = (0..3).map(|i| account_id(7, i)).collect();
        let w = World {
            seed: 7,
            accounts: &accounts,
            clients: 400,
        };
        let sessions = plan_sessions(7, 3, 50, 0);
        let mine: Vec<usize> = (0..sessions.len())
            .filter(|&k| sessions[k].account == 1)
            .collect();
        let mut r = Rng::new(&[1]);
        for s in &sessions {
            let mut out = String::new();
            issuing_event(&mut out, &w, &sessions, s, START_EPOCH, "us-east-1", &mut r);
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap_or_else(|e| panic!("{e}: {out}"));
        }
        for _ in 0..2000 {
            let mut out = String::new();
            api_event(
                &mut out,
                &w,
                (&sessions, &mine),
                1,
                START_EPOCH,
                "eu-west-1",
                &mut r,
            );
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap_or_else(|e| panic!("{e}: {out}"));
        }
    }
}
