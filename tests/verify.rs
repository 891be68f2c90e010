//! `trailhose verify` on a gen archive's digests, from a folder and from S3 (moto): a clean
//! trail passes; a changed, a deleted and an extra log file, and a changed digest, are each
//! reported and fail the run.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::*;

fn log_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("AWSLogs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Rewrites a gzip file's content with `edit`.
fn edit_gzip(path: &Path, edit: impl Fn(String) -> String) {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(edit(text).as_bytes()).expect("gzip");
    std::fs::write(path, enc.finish().expect("gzip")).expect("write");
}

/// Damages an archive: one log file changed, one deleted, one extra, one digest changed.
/// Returns the changed and deleted files' names and the changed digest's name.
fn damage(root: &Path) -> (String, String, String) {
    let files = log_files(root);
    let logs: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .collect();
    let digests: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail-Digest/"))
        .collect();
    let changed = logs[3].clone();
    edit_gzip(&changed, |t| {
        t.replacen("\"eventVersion\"", "\"eventversion\"", 1)
    });
    let deleted = logs[8].clone();
    std::fs::remove_file(&deleted).expect("rm");
    let extra = logs[5]
        .with_file_name("123456789012_CloudTrail_us-east-1_20260105T0013Z_extra000000000.json.gz");
    std::fs::copy(logs[5], &extra).expect("copy");
    // A digest with a chained successor: its change breaks the next one's link.
    let digest = digests
        .iter()
        .find(|d| !d.to_string_lossy().contains("T010000Z"))
        .expect("a later digest")
        .to_path_buf();
    let named = |p: &Path| p.file_name().expect("name").to_string_lossy().to_string();
    let prev = digests
        .iter()
        .find(|d| {
            let s = d.to_string_lossy();
            s.contains("T010000Z")
                && named(d).split('_').next() == named(&digest).split('_').next()
                && named(d).split('_').nth(2) == named(&digest).split('_').nth(2)
        })
        .expect("the first digest of that account and region")
        .to_path_buf();
    edit_gzip(&prev, |t| {
        t.replacen("\"awsAccountId\"", "\"awsaccountid\"", 1)
    });
    (named(&changed), named(&deleted), named(&prev))
}

fn check_report(out: &std::process::Output, changed: &str, deleted: &str, digest: &str) {
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}\n{}", stderr(out));
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("altered:") && l.contains(changed)),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("missing:") && l.contains(deleted)),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("extra:") && l.contains("_extra000000000")),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("altered digest:") && l.contains(digest)),
        "{report}"
    );
    assert_eq!(report.lines().count(), 4, "nothing else reported: {report}");
    assert!(
        stderr(out).contains("signatures not checked"),
        "{}",
        stderr(out)
    );
}

#[test]
fn a_local_copy_verifies_and_damage_is_reported() {
    let archive = gen_archive("15000");
    let out = trailhose(&["verify", archive.path().to_str().expect("path")], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("0 altered, 0 missing, 0 extra, 0 broken"),
        "{}",
        stderr(&out)
    );
    let (changed, deleted, digest) = damage(archive.path());
    let out = trailhose(
        &[
            "verify",
            archive.path().join("AWSLogs").to_str().expect("path"),
        ],
        None,
    );
    check_report(&out, &changed, &deleted, &digest);
}

#[test]
fn a_bucket_verifies_and_damage_is_reported() {
    let Some(moto) = moto() else { return };
    let archive = gen_archive("15000");
    let (changed, deleted, digest) = damage(archive.path());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
    });
    let out = trailhose_aws(&[
        "verify",
        "s3://trail",
        "--endpoint-url",
        &moto.endpoint,
        "--path-style",
    ]);
    check_report(&out, &changed, &deleted, &digest);
}

/// The string CloudTrail signs for a digest, written out here from AWS's documentation (not
/// taken from trailhose): end time, bucket/key, SHA-256 of the uncompressed digest, previous
/// signature (`null` for the first).
fn aws_signing_string(digest: &serde_json::Value, plain: &[u8]) -> String {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(plain)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}\n{}/{}\n{}\n{}",
        digest["digestEndTime"].as_str().expect("end"),
        digest["digestS3Bucket"].as_str().expect("bucket"),
        digest["digestS3Object"].as_str().expect("key"),
        hash,
        digest["previousDigestSignature"].as_str().unwrap_or("null")
    )
}

#[test]
fn digest_signatures_are_checked_with_the_trails_public_keys() {
    use base64::Engine as _;
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::signature::{SignatureEncoding, Signer};
    let Some(moto) = moto() else { return };
    let archive = gen_archive("15000");
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys/digest-signing-test-key.pem"),
    )
    .expect("test key");
    let private = rsa::RsaPrivateKey::from_pkcs1_pem(&pem).expect("key");
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private.clone());
    let der = private.to_public_key().to_pkcs1_der().expect("der");
    let keys = serde_json::json!({"PublicKeyList": [{
        "Value": base64::engine::general_purpose::STANDARD.encode(der.as_bytes()),
        "ValidityStartTime": "2026-01-01T00:00:00Z",
        "ValidityEndTime": "2027-01-01T00:00:00Z",
        "Fingerprint": "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    }]});
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys_file = tmp.path().join("keys.json");
    std::fs::write(&keys_file, keys.to_string()).expect("write");
    let files = log_files(archive.path());
    let digests: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail-Digest/"))
        .collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sign = |path: &Path| -> (String, Vec<u8>, String) {
        let gz = std::fs::read(path).expect("read");
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .expect("gunzip");
        let digest: serde_json::Value = serde_json::from_slice(&plain).expect("json");
        let sig = signer.sign(aws_signing_string(&digest, &plain).as_bytes());
        let hex: String = sig.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let key = digest["digestS3Object"].as_str().expect("key").to_string();
        (key, gz, hex)
    };
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        upload_tree(&client, "trail", archive.path(), "").await;
        // The digests again, with their signatures in the object metadata, as CloudTrail puts them.
        for d in &digests {
            let (key, body, hex) = sign(d);
            client
                .put_object()
                .bucket("trail")
                .key(key)
                .metadata("signature", hex)
                .metadata("signature-algorithm", "SHA256withRSA")
                .body(body.into())
                .send()
                .await
                .expect("put digest");
        }
    });
    let args = |keys: &Path| {
        vec![
            "verify".to_string(),
            "s3://trail".into(),
            "--endpoint-url".into(),
            moto.endpoint.clone(),
            "--path-style".into(),
            "--public-keys".into(),
            keys.display().to_string(),
        ]
    };
    let run = |keys: &Path| {
        let a = args(keys);
        trailhose_aws(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(&keys_file);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let good = format!(
        "digest signatures: {} good, 0 bad, 0 not checked",
        digests.len()
    );
    assert!(stderr(&out).contains(&good), "{}", stderr(&out));

    // One digest's signature swapped for another's: reported, the run fails.
    let (_, _, other_sig) = sign(digests[1]);
    let (key0, body0, _) = sign(digests[0]);
    rt.block_on(async {
        let client = s3_client(&moto.endpoint).await;
        client
            .put_object()
            .bucket("trail")
            .key(&key0)
            .metadata("signature", other_sig)
            .body(body0.into())
            .send()
            .await
            .expect("put");
    });
    let out = run(&keys_file);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("bad signature:") && l.contains(&key0)),
        "{report}"
    );
    assert_eq!(report.lines().count(), 1, "{report}");

    // Keys that are not keys: a usage error naming the flag.
    std::fs::write(&keys_file, "{}").expect("write");
    let out = run(&keys_file);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--public-keys"), "{}", stderr(&out));
}

#[test]
fn the_shipped_samples_verify() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let out = trailhose(&["verify", samples.to_str().expect("path")], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("9 digest files and 15 log files"),
        "{}",
        stderr(&out)
    );
}
