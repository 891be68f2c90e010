//! `trailhose verify`: checks a trail's log files against its digest files, offline, like
//! `aws cloudtrail validate-logs`: each log file's SHA-256 (of its uncompressed content) against
//! the digest that lists it, each digest against the next one's `previousDigestHashValue` (the
//! chain), and reports missing, altered and extra log files and broken chain links. Reads from
//! S3 or from a local copy of the bucket (a folder holding `AWSLogs/`). With the trail's public
//! keys (`aws cloudtrail list-public-keys` output) it also checks each digest's SHA256withRSA
//! signature, kept in the digest object's metadata (so only from S3: a local copy has none).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::source::aws::error_text;
use crate::source::s3::{self, S3SourceConfig};
use crate::source::trail_layout::{is_account, is_org, key_time, last_folder};

/// Where the trail's objects are.
#[derive(Clone)]
pub enum Store {
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
    /// A folder laid out like the bucket (`<root>/AWSLogs/...`).
    Local { root: PathBuf },
}

impl Store {
    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, String> {
        match self {
            Store::S3 { client, bucket } => s3::list_folders(client, bucket, prefix)
                .await
                .map_err(|e| e.to_string()),
            Store::Local { root } => {
                let dir = root.join(prefix);
                let mut out = Vec::new();
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    for e in entries.flatten() {
                        if e.path().is_dir() {
                            out.push(format!("{prefix}{}/", e.file_name().to_string_lossy()));
                        }
                    }
                }
                out.sort();
                Ok(out)
            }
        }
    }

    /// Every object key under `prefix` (recursively), sorted.
    async fn list_objects(&self, prefix: &str) -> Result<Vec<String>, String> {
        match self {
            Store::S3 { client, bucket } => Ok(s3::list_objects(client, bucket, prefix, None)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(key, _)| key)
                .collect()),
            Store::Local { root } => {
                let mut out = Vec::new();
                let mut stack = vec![root.join(prefix)];
                while let Some(d) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(&d) else {
                        continue;
                    };
                    for e in entries.flatten() {
                        let p = e.path();
                        if p.is_dir() {
                            stack.push(p);
                        } else if let Ok(rel) = p.strip_prefix(root) {
                            out.push(rel.to_string_lossy().to_string());
                        }
                    }
                }
                out.sort();
                Ok(out)
            }
        }
    }

    /// An object's bytes; `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.get_signed(key).await?.map(|(b, _)| b))
    }

    /// An object's bytes and its `signature` metadata (a digest's), when it exists.
    async fn get_signed(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, String> {
        match self {
            Store::S3 { client, bucket } => {
                match client.get_object().bucket(bucket).key(key).send().await {
                    Ok(o) => {
                        let signature = o.metadata().and_then(|m| m.get("signature")).cloned();
                        o.body
                            .collect()
                            .await
                            .map(|b| Some((b.to_vec(), signature)))
                            .map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))
                    }
                    Err(e) => {
                        let e = e.into_service_error();
                        if e.is_no_such_key() {
                            Ok(None)
                        } else {
                            Err(format!("GET s3://{bucket}/{key}: {}", error_text(&e)))
                        }
                    }
                }
            }
            Store::Local { root } => match std::fs::read(root.join(key)) {
                Ok(b) => Ok(Some((b, None))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("reading {}: {e}", root.join(key).display())),
            },
        }
    }
}

/// What a verification found.
#[derive(Debug, Default)]
pub struct Report {
    pub digests: u64,
    pub log_files: u64,
    pub problems: Vec<String>,
    pub altered: u64,
    pub missing: u64,
    pub extra: u64,
    pub chain_breaks: u64,
    /// Digest signatures checked and found good.
    pub signatures_good: u64,
    /// Digests whose signature could not be checked (no signature metadata).
    pub signatures_unchecked: u64,
    pub signatures_bad: u64,
}

/// The trail's public keys by fingerprint, from `aws cloudtrail list-public-keys` output
/// (`{"PublicKeyList": [{"Value": base64 DER, "Fingerprint": ...}]}`).
pub struct PublicKeys(std::collections::HashMap<String, rsa::RsaPublicKey>);

impl PublicKeys {
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        use base64::Engine as _;
        use rsa::pkcs1::DecodeRsaPublicKey;
        let v: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let list = v["PublicKeyList"]
            .as_array()
            .ok_or("no PublicKeyList: give the output of aws cloudtrail list-public-keys")?;
        let mut keys = std::collections::HashMap::new();
        for k in list {
            let (Some(value), Some(fp)) = (k["Value"].as_str(), k["Fingerprint"].as_str()) else {
                return Err("a key without Value or Fingerprint".into());
            };
            let der = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|e| format!("key {fp}: Value is not base64: {e}"))?;
            let key = rsa::RsaPublicKey::from_pkcs1_der(&der)
                .map_err(|e| format!("key {fp}: not a DER RSA public key: {e}"))?;
            keys.insert(fp.to_ascii_lowercase(), key);
        }
        Ok(PublicKeys(keys))
    }
}

/// The string a digest's signature covers (AWS: "Validating CloudTrail log file integrity with
/// custom implementations"): end time, the digest's bucket/key, the SHA-256 of its
/// uncompressed content, and the previous digest's signature (`null` for the first).
pub fn signing_string(digest: &serde_json::Value, plain_sha256: &str) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        digest["digestEndTime"].as_str().unwrap_or(""),
        digest["digestS3Bucket"].as_str().unwrap_or(""),
        digest["digestS3Object"].as_str().unwrap_or(""),
        plain_sha256,
        digest["previousDigestSignature"].as_str().unwrap_or("null")
    )
}

fn check_signature(
    keys: &PublicKeys,
    digest: &serde_json::Value,
    plain_sha256: &str,
    signature_hex: &str,
) -> Result<(), String> {
    use rsa::signature::Verifier;
    let fp = digest["digestPublicKeyFingerprint"].as_str().unwrap_or("");
    let key = keys
        .0
        .get(&fp.to_ascii_lowercase())
        .ok_or_else(|| format!("no public key with fingerprint {fp} in --public-keys"))?;
    let sig: Vec<u8> = (0..signature_hex.len() / 2)
        .map(|i| u8::from_str_radix(signature_hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| "the signature metadata is not hex".to_string())?;
    let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice())
        .map_err(|e| format!("bad signature: {e}"))?;
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.clone())
        .verify(signing_string(digest, plain_sha256).as_bytes(), &sig)
        .map_err(|_| "signature does not match".to_string())
}

fn sha256_of_gzip(bytes: &[u8]) -> Result<String, String> {
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .map_err(|e| format!("not gzip: {e}"))?;
    Ok(hex(&Sha256::digest(&plain)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies every account and region of the trail under `prefix` (what comes before
/// `AWSLogs/`), for digests delivered within the window.
pub async fn verify(
    store: &Store,
    prefix: &str,
    filter: &S3SourceConfig,
    keys: Option<&PublicKeys>,
) -> Result<Report, String> {
    let window = filter.window()?;
    let p = prefix.trim_start_matches('/');
    let root = if p.is_empty() {
        "AWSLogs/".to_string()
    } else if p.ends_with("AWSLogs/") {
        p.to_string()
    } else {
        format!("{}/AWSLogs/", p.trim_end_matches('/'))
    };
    let mut accounts = Vec::new();
    for folder in store.list_folders(&root).await? {
        let name = last_folder(&folder);
        if is_account(name) {
            accounts.push(folder);
        } else if is_org(name) {
            accounts.extend(
                store
                    .list_folders(&folder)
                    .await?
                    .into_iter()
                    .filter(|a| is_account(last_folder(a))),
            );
        }
    }
    accounts.retain(|a| {
        filter.accounts.is_empty() || filter.accounts.iter().any(|x| x == last_folder(a))
    });
    let mut report = Report::default();
    for account in accounts {
        for region in store
            .list_folders(&format!("{account}CloudTrail-Digest/"))
            .await?
        {
            let name = last_folder(&region).to_string();
            if !filter.regions.is_empty() && !filter.regions.contains(&name) {
                continue;
            }
            let logs = format!("{account}CloudTrail/{name}/");
            verify_region(store, &region, &logs, &window, keys, &mut report).await?;
        }
    }
    Ok(report)
}

async fn verify_region(
    store: &Store,
    digest_prefix: &str,
    log_prefix: &str,
    window: &crate::source::s3::Window,
    keys: Option<&PublicKeys>,
    report: &mut Report,
) -> Result<(), String> {
    let mut digests: Vec<String> = store
        .list_objects(digest_prefix)
        .await?
        .into_iter()
        .filter(|k| key_time(k).is_some_and(|t| window.contains(t)))
        .collect();
    digests.sort_by_key(|k| (key_time(k), k.clone()));
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut covered: Option<(u64, u64)> = None;
    // The hash of the digest before, by its key: the next one names it.
    let mut previous: Option<(String, String)> = None;
    let limit = Arc::new(Semaphore::new(32));
    for key in digests {
        let Some((bytes, signature)) = store.get_signed(&key).await? else {
            continue;
        };
        let plain_hash = sha256_of_gzip(&bytes).map_err(|e| format!("{key}: {e}"))?;
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .map_err(|e| format!("{key}: {e}"))?;
        let digest: serde_json::Value =
            serde_json::from_slice(&plain).map_err(|e| format!("{key}: not a digest: {e}"))?;
        report.digests += 1;
        match (keys, &signature) {
            (Some(keys), Some(sig)) => match check_signature(keys, &digest, &plain_hash, sig) {
                Ok(()) => report.signatures_good += 1,
                Err(e) => {
                    report.signatures_bad += 1;
                    report.problems.push(format!("bad signature: {key}: {e}"));
                }
            },
            _ => report.signatures_unchecked += 1,
        }
        // The chain: this digest names the one before and its hash.
        if let (Some(prev_key), Some(prev_hash)) = (
            digest["previousDigestS3Object"].as_str(),
            digest["previousDigestHashValue"].as_str(),
        ) {
            let actual = match &previous {
                Some((k, h)) if k == prev_key => Some(h.clone()),
                _ => match store.get(prev_key).await? {
                    Some(b) => Some(sha256_of_gzip(&b).map_err(|e| format!("{prev_key}: {e}"))?),
                    None => None,
                },
            };
            match actual {
                None => {
                    report.chain_breaks += 1;
                    report
                        .problems
                        .push(format!("missing digest: {prev_key} (named by {key})"));
                }
                Some(h) if h != prev_hash => {
                    report.chain_breaks += 1;
                    report.problems.push(format!(
                        "altered digest: {prev_key} hashes {h}, {key} says {prev_hash}"
                    ));
                }
                Some(_) => {}
            }
        }
        previous = Some((key.clone(), plain_hash));
        let time = |k: &str| {
            digest[k]
                .as_str()
                .and_then(crate::source::trail_layout::parse_time_arg)
                .map(|(_, t)| t)
        };
        if let (Some(s), Some(e)) = (time("digestStartTime"), time("digestEndTime")) {
            covered = Some(match covered {
                Some((a, b)) => (a.min(s), b.max(e)),
                None => (s, e),
            });
        }
        // Every log file it lists, hashed in parallel.
        let mut tasks = JoinSet::new();
        for f in digest["logFiles"].as_array().into_iter().flatten() {
            let (Some(object), Some(want)) = (f["s3Object"].as_str(), f["hashValue"].as_str())
            else {
                continue;
            };
            listed.insert(object.to_string());
            let (store, object, want, limit) = (
                store.clone(),
                object.to_string(),
                want.to_string(),
                limit.clone(),
            );
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let got = store
                    .get(&object)
                    .await?
                    .map(|b| sha256_of_gzip(&b).unwrap_or_else(|e| format!("unreadable ({e})")));
                Ok::<_, String>((object, want, got))
            });
        }
        while let Some(r) = tasks.join_next().await {
            let (object, want, got) = r.map_err(|e| format!("verify task failed: {e}"))??;
            report.log_files += 1;
            match got {
                None => {
                    report.missing += 1;
                    report
                        .problems
                        .push(format!("missing: {object} (listed in {key})"));
                }
                Some(h) if h != want => {
                    report.altered += 1;
                    report
                        .problems
                        .push(format!("altered: {object} hashes {h}, {key} says {want}"));
                }
                Some(_) => {}
            }
        }
    }
    // Extra: log files delivered inside the hours the digests cover that none lists. Files
    // after the last digest's end belong to a digest not delivered yet: not counted.
    if let Some((from, to)) = covered {
        for k in store.list_objects(log_prefix).await? {
            if let Some(t) = key_time(&k) {
                if t >= from && t < to && !listed.contains(&k) {
                    report.extra += 1;
                    report.problems.push(format!("extra: {k} (in no digest)"));
                }
            }
        }
    }
    Ok(())
}

/// Builds the store for `target`: `s3://bucket/prefix`, or a folder.
pub async fn store_for(target: &str, filter: &S3SourceConfig) -> (Store, String) {
    match S3SourceConfig::from_url(target) {
        Some((bucket, prefix)) => (
            Store::S3 {
                client: filter.aws.s3().await,
                bucket,
            },
            prefix,
        ),
        None => {
            let path = PathBuf::from(target);
            // Given the AWSLogs folder itself, the bucket root is its parent.
            let root = if path.file_name().is_some_and(|n| n == "AWSLogs") {
                path.parent().map(PathBuf::from).unwrap_or_default()
            } else {
                path
            };
            (Store::Local { root }, String::new())
        }
    }
}
