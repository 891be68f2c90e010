//! Attribution end to end on a `gen` archive, whose sessions are known by construction: every
//! identity type, chains of two and three roles across accounts, and uses that arrive before
//! their AssumeRole (other regions' files at the same time are read first).

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

fn enriched_gen(events: &str, workers: &str) -> Vec<Value> {
    let dir = gen_archive(events);
    let out = trailhose(
        &[
            "replay",
            "-q",
            "--enrich",
            "--workers",
            workers,
            dir.path().to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_lines(&out.stdout)
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or("")
}

#[test]
fn every_session_resolves_to_who_gen_made_it_for() {
    let records = enriched_gen("6000", "2");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        let actor = &r["enrichment"]["actor"];
        let ui = &r["userIdentity"];
        if ui["type"] != "AssumedRole" {
            continue;
        }
        let session = ui["arn"]
            .as_str()
            .expect("arn")
            .rsplit('/')
            .next()
            .expect("session")
            .to_string();
        let chain: Vec<&str> = actor["chain"]
            .as_array()
            .expect("chain")
            .iter()
            .map(|c| c.as_str().expect("role"))
            .collect();
        let principal = actor["principal"].as_str().unwrap_or("<none>");
        let acct = ui["accountId"].as_str().expect("account");
        match session.as_str() {
            "alice" => {
                assert_eq!(principal, format!("arn:aws:iam::{acct}:user/alice"), "{r}");
                assert_eq!(
                    (actor["principal_type"].as_str(), actor["method"].as_str()),
                    (Some("IAMUser"), Some("access_key"))
                );
                assert_eq!(chain, vec![format!("arn:aws:iam::{acct}:role/Admin")]);
            }
            "alice-audit" | "alice-deep" => {
                // Two or three roles across accounts, back to alice in the first account.
                let want = if session == "alice-audit" { 2 } else { 3 };
                assert_eq!(chain.len(), want, "{r}");
                assert!(principal.ends_with(":user/alice"), "{r}");
                assert_eq!(account_of(principal), account_of(chain[0]));
                assert!(
                    chain[0].ends_with(":role/Admin")
                        && chain[1].ends_with(":role/CrossAccountAudit")
                );
                assert_ne!(
                    account_of(chain[0]),
                    account_of(chain[1]),
                    "the chain crosses accounts"
                );
                assert_eq!(account_of(chain[want - 1]), acct);
            }
            "jane@example.com" => {
                assert_eq!(
                    (
                        principal,
                        actor["principal_type"].as_str(),
                        actor["method"].as_str()
                    ),
                    ("jane@example.com", Some("SAMLUser"), Some("saml"))
                );
            }
            "GitHubActions" => {
                assert_eq!(principal, "repo:example-org/app:ref:refs/heads/main");
                assert_eq!(actor["principal_type"], "WebIdentityUser");
            }
            "jane.doe" => {
                assert_eq!(
                    (
                        principal,
                        actor["principal_type"].as_str(),
                        actor["method"].as_str()
                    ),
                    (
                        "jane.doe",
                        Some("IdentityCenterUser"),
                        Some("identity_center")
                    )
                );
            }
            "order-processor" => {
                assert_eq!(
                    (principal, actor["principal_type"].as_str()),
                    ("lambda.amazonaws.com", Some("AWSService"))
                );
            }
            "deploy-42" => {
                assert_eq!(
                    (principal, actor["method"].as_str()),
                    ("ci-deployer", Some("source_identity"))
                );
            }
            other => panic!("gen made no session {other}: {r}"),
        }
        assert_eq!(actor["session_name"], session.as_str());
        *seen.entry(session).or_default() += 1;
    }
    assert_eq!(seen.len(), 8, "sessions seen: {seen:?}");
    // The issuing events themselves are attributed to their callers.
    for r in records
        .iter()
        .filter(|r| r["eventName"] == "AssumeRoleWithSAML")
    {
        assert_eq!(
            r["enrichment"]["actor"]["principal"], r["userIdentity"]["userName"],
            "{r}"
        );
        assert_eq!(
            r["enrichment"]["actor"]["principal_type"], "SAMLUser",
            "{r}"
        );
    }
    for r in records
        .iter()
        .filter(|r| r["eventName"] == "GetSessionToken" || r["userIdentity"]["type"] == "IAMUser")
    {
        assert_eq!(r["enrichment"]["actor"]["method"], "direct", "{r}");
        assert_eq!(
            r["enrichment"]["actor"]["principal"],
            r["userIdentity"]["arn"]
        );
    }
    for r in records
        .iter()
        .filter(|r| r["userIdentity"]["type"] == "Root")
    {
        assert_eq!(r["enrichment"]["actor"]["principal_type"], "Root");
    }
}

#[test]
fn the_result_does_not_depend_on_worker_count_and_nothing_is_lost() {
    let canon = |rs: Vec<Value>| {
        let mut v: Vec<String> = rs.iter().map(canonical).collect();
        v.sort();
        v
    };
    let one = canon(enriched_gen("3000", "1"));
    let two = canon(enriched_gen("3000", "2"));
    assert_eq!(one.len(), two.len());
    assert_eq!(one, two);
}

#[test]
fn without_waiting_uses_before_their_assume_role_stay_unresolved() {
    // With the reorder window off, a use read before its AssumeRole is never guessed.
    let dir = gen_archive("3000");
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\ntype = \"dir\"\npaths = [\"{}\"]\n[[sink]]\ntype = \"ndjson\"\n[pipeline]\nworkers = 1\n[enrich]\nenabled = true\nreorder_span_secs = 0\n",
            dir.path().join("AWSLogs").display()
        ),
    )
    .expect("write");
    let out = trailhose(&["run", "-q", config.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = json_lines(&out.stdout);
    let unresolved: Vec<&Value> = records
        .iter()
        .filter(|r| r["enrichment"]["actor"]["method"] == "unresolved")
        .collect();
    assert!(
        !unresolved.is_empty(),
        "other regions' files are read before us-east-1's"
    );
    for r in unresolved {
        assert!(
            r["enrichment"]["actor"].get("principal").is_none(),
            "a guess: {r}"
        );
        assert_eq!(r["enrichment"]["actor"]["principal_type"], "Unknown");
    }
}

/// One trail file whose calls each arrive before the AssumeRole that issued their key: the use
/// of the last session first, then each AssumeRole made with the previous session's key, and
/// alice's first AssumeRole last. Her call releases every held call at once, each one waking
/// the next: a chain as long as the file.
fn chain_read_backwards(hops: usize) -> String {
    let key = |i: usize| format!("ASIAHOP{i:05}");
    let role = |i: usize| format!("arn:aws:iam::111122223333:role/Hop{i}");
    let session = |i: usize| {
        format!(
            r#"{{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Hop{i}/s{i}","accountId":"111122223333","accessKeyId":"{}","sessionContext":{{"sessionIssuer":{{"type":"Role","arn":"{}"}}}}}}"#,
            key(i),
            role(i)
        )
    };
    let alice = r#"{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAALICE"}"#;
    let call = |id: usize, second: usize, name: &str, identity: &str, rest: &str| {
        format!(
            r#"{{"eventVersion":"1.08","userIdentity":{identity},"eventTime":"2026-01-05T01:{:02}:{:02}Z","eventSource":"sts.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.7","eventID":"hop-{id}","recipientAccountId":"111122223333"{rest}}}"#,
            second / 60,
            second % 60
        )
    };
    let assume = |i: usize| {
        format!(
            r#","requestParameters":{{"roleArn":"{}","roleSessionName":"s{i}"}},"responseElements":{{"credentials":{{"accessKeyId":"{}","expiration":"2026-01-05T12:00:00Z"}}}}"#,
            role(i),
            key(i)
        )
    };
    let mut records = vec![call(0, hops + 1, "GetCallerIdentity", &session(hops), "")];
    for i in (2..=hops).rev() {
        records.push(call(i, i, "AssumeRole", &session(i - 1), &assume(i)));
    }
    records.push(call(1, 1, "AssumeRole", alice, &assume(1)));
    format!("{{\"Records\":[{}]}}", records.join(","))
}

#[test]
fn a_long_chain_released_at_once_resolves_every_call() {
    // Each released AssumeRole wakes the next call: every one is written, attributed to alice
    // with the whole chain that led to it.
    const HOPS: usize = 600;
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("AWSLogs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::write(
        logs.join("111122223333_CloudTrail_us-east-1_20260105T0100Z_chain.json.gz"),
        gzip(chain_read_backwards(HOPS).as_bytes()),
    )
    .expect("write");
    let out = trailhose(
        &["replay", "-q", "--enrich", logs.to_str().expect("path")],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = json_lines(&out.stdout);
    assert_eq!(records.len(), HOPS + 1, "nothing lost");
    for r in &records {
        let actor = &r["enrichment"]["actor"];
        assert_eq!(
            actor["principal"], "arn:aws:iam::111122223333:user/alice",
            "{}",
            r["eventID"]
        );
        // The call made with hop i's key carries the i roles assumed to reach it.
        let hop = match r["eventID"].as_str().expect("id") {
            "hop-0" => HOPS,
            id => id.trim_start_matches("hop-").parse::<usize>().expect("n") - 1,
        };
        let chain = actor["chain"].as_array().expect("chain");
        assert_eq!(chain.len(), hop, "{}", r["eventID"]);
        if hop > 0 {
            assert_eq!(
                chain[hop - 1],
                format!("arn:aws:iam::111122223333:role/Hop{hop}")
            );
        }
    }
}
