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
