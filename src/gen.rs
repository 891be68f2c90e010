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

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
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
        name: &'static str,
        key: String,
    },
    /// Another session (a role chain), by index in the same hour's plan.
    Session(usize),
    Saml {
        subject: &'static str,
        provider: &'static str,
    },
    WebIdentity {
        subject: &'static str,
        provider: &'static str,
    },
    Service(&'static str),
    /// GetSessionToken by an IAM user: the key is the user's, temporarily.
    SessionToken {
        name: &'static str,
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
    source_identity: Option<&'static str>,
}

/// The sessions of one hour: every identity type, and a chain of three roles across accounts.
fn plan_sessions(seed: u64, accounts: usize, hour: u64) -> Vec<Session> {
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
                name: "alice",
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
                subject: "jane@example.com",
                provider: "ExampleIdP",
            },
            source_identity: None,
        });
        sessions.push(Session {
            account: a,
            role: "github-actions".into(),
            name: "GitHubActions".into(),
            key: key(&mut r),
            issuer: Issuer::WebIdentity {
                subject: "repo:example-org/app:ref:refs/heads/main",
                provider: "token.actions.githubusercontent.com",
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
                subject: "jane.doe",
                provider: "AWSSSO_1a2b3c4d5e6f7a8b_DO_NOT_DELETE",
            },
            source_identity: None,
        });
        sessions.push(Session {
            account: a,
            role: "service-role/order-processor-exec".into(),
            name: "order-processor".into(),
            key: key(&mut r),
            issuer: Issuer::Service("lambda.amazonaws.com"),
            source_identity: None,
        });
        sessions.push(Session {
            account: a,
            role: String::new(),
            name: "bob".into(),
            key: key(&mut r),
            issuer: Issuer::SessionToken {
                name: "bob",
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
                name: "ci-deployer",
                key: user_access_key(seed, a, "ci-deployer"),
            },
            source_identity: Some("ci-deployer"),
        });
    }
    sessions
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
        if let Some(si) = s.source_identity {
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
        Issuer::Service(svc) => ("AssumeRole", *svc, svc.to_string()),
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
        if let Some(si) = s.source_identity {
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
    if let Some(si) = s.source_identity {
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
    sessions: &[Session],
    account: usize,
    t: i64,
    region: &str,
    r: &mut Rng,
) {
    let acct = &w.accounts[account];
    let time = iso_time(t);
    let mine: Vec<&Session> = sessions.iter().filter(|s| s.account == account).collect();
    let actor = r.below(100);
    // Callers come from a few hundred addresses per account, as real offices, CI runners and
    // NAT gateways do (which is also what makes GeoIP caching pay off).
    let mut ip = client_address(w.seed, account, r.below(CLIENT_ADDRESSES));
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
        let s = *r.pick(&mine);
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

/// How many client addresses each account's callers use.
const CLIENT_ADDRESSES: u64 = 400;

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
    let accounts: Vec<String> = (0..opts.accounts)
        .map(|i| account_id(opts.seed, i))
        .collect();
    let world = World {
        seed: opts.seed,
        accounts: &accounts,
    };
    // Files go round-robin over (account, region) slots, one window apart per round, so time
    // moves forward evenly and every slot has a file in most windows.
    let slots = opts.accounts * REGIONS.len();
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
            account: slot / REGIONS.len(),
            region: slot % REGIONS.len(),
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
    let hour = ((p.time - FILE_WINDOW_SECS - START_EPOCH) / 3600) as u64;
    let sessions = plan_sessions(opts.seed, opts.accounts, hour);
    let window_start = p.time - FILE_WINDOW_SECS;
    // Sessions are issued in the first window of their hour, in the home region (us-east-1).
    let issues_here = p.region == 0 && (window_start - START_EPOCH) % 3600 == 0;
    let mut times: Vec<i64> = (0..p.events)
        .map(|_| window_start + r.below(FILE_WINDOW_SECS as u64) as i64)
        .collect();
    times.sort_unstable();
    let mut body = String::with_capacity(p.events as usize * 1800 + 64);
    body.push_str("{\"Records\":[");
    let mut written = 0u64;
    if issues_here {
        for s in sessions.iter().filter(|s| s.account == p.account) {
            if written >= p.events {
                break;
            }
            if written > 0 {
                body.push(',');
            }
            issuing_event(
                &mut body,
                w,
                &sessions,
                s,
                window_start + written as i64,
                region,
                &mut r,
            );
            written += 1;
        }
    }
    for &t in &times[written as usize..] {
        if written > 0 {
            body.push(',');
        }
        api_event(&mut body, w, &sessions, p.account, t, region, &mut r);
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

/// Small GeoIP databases in MaxMind format covering the addresses `gen` uses, so demos and
/// the benchmark can run GeoIP enrichment without downloading anything: `DIR/geoip/city.mmdb`
/// and `DIR/geoip/asn.mmdb` (IPv4 by first octet, and `2001:db8::/32`).
pub fn write_geoip_fixtures(out: &Path) -> io::Result<(PathBuf, PathBuf)> {
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
        };
        let sessions = plan_sessions(7, 3, 0);
        let mut r = Rng::new(&[1]);
        for s in &sessions {
            let mut out = String::new();
            issuing_event(&mut out, &w, &sessions, s, START_EPOCH, "us-east-1", &mut r);
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap_or_else(|e| panic!("{e}: {out}"));
        }
        for _ in 0..2000 {
            let mut out = String::new();
            api_event(&mut out, &w, &sessions, 1, START_EPOCH, "eu-west-1", &mut r);
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap_or_else(|e| panic!("{e}: {out}"));
        }
    }
}
