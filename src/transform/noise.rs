//! Noise classification: whether AWS itself made a call, or the console made it in the
//! background, and why we think so. Reads the record; decides nothing about dropping
//! (that is `filter`).

use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::fields::{non_empty, RecordView};

/// Why a call counts as noise, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseReason {
    /// `userIdentity.invokedBy` names an AWS service calling on a principal's behalf.
    InvokedByService,
    /// `userIdentity.type` is `AWSService`.
    ServicePrincipal,
    /// The session's role is a service-linked role (`role/aws-service-role/...`).
    ServiceLinkedRole,
    /// `eventType` is `AwsServiceEvent`: AWS acting on its own, not an API call.
    AwsServiceEvent,
    /// `sourceIPAddress` is `AWS Internal`.
    AwsInternalSource,
    /// A read-only call made by the management console while a person browses.
    ConsoleBackground,
}

impl NoiseReason {
    pub fn label(self) -> &'static str {
        match self {
            NoiseReason::InvokedByService => "invoked_by_service",
            NoiseReason::ServicePrincipal => "service_principal",
            NoiseReason::ServiceLinkedRole => "service_linked_role",
            NoiseReason::AwsServiceEvent => "aws_service_event",
            NoiseReason::AwsInternalSource => "aws_internal_source",
            NoiseReason::ConsoleBackground => "console_background",
        }
    }

    /// Whether this reason means AWS itself made the call (not a person or their code).
    pub fn is_aws_internal(self) -> bool {
        !matches!(self, NoiseReason::ConsoleBackground)
    }
}

/// The noise verdict on one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Noise {
    pub reasons: Vec<NoiseReason>,
}

impl Noise {
    /// AWS made the call itself.
    pub fn aws_internal(&self) -> bool {
        self.reasons.iter().any(|r| r.is_aws_internal())
    }

    /// Any reason at all: what `drop_noise` drops.
    pub fn is_noise(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// The path of service-linked roles, and their sessions' ARNs. Searchers built once: `contains`
/// set one up on every call, twice a record (measured: about 1% of an enriched replay).
static SERVICE_ROLE_PATH: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(":role/aws-service-role/"));
static SERVICE_ROLE_SESSION: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(":assumed-role/AWSServiceRoleFor"));

/// Classifies one record.
pub fn classify_noise(record: &RecordView<'_>) -> Noise {
    let id = &record.identity;
    let mut reasons = Vec::new();
    if id.invoked_by.is_some_and(|s| !s.is_empty()) {
        reasons.push(NoiseReason::InvokedByService);
    }
    if id.kind == Some("AWSService") {
        reasons.push(NoiseReason::ServicePrincipal);
    }
    let issuer = id.issuer_arn.unwrap_or("");
    let arn = id.arn.unwrap_or("");
    if SERVICE_ROLE_PATH.find(issuer.as_bytes()).is_some()
        || SERVICE_ROLE_SESSION.find(arn.as_bytes()).is_some()
    {
        reasons.push(NoiseReason::ServiceLinkedRole);
    }
    if record.event_type == Some("AwsServiceEvent") && !names_a_person(record) {
        reasons.push(NoiseReason::AwsServiceEvent);
    }
    if record.source_ip == Some("AWS Internal") {
        reasons.push(NoiseReason::AwsInternalSource);
    }
    if record.read_only == Some(true) {
        let agent = record.user_agent.unwrap_or("");
        let from_console = record.session_credential_from_console == Some("true")
            || (agent.starts_with("console.") && agent.ends_with(".amazonaws.com"))
            || agent == "console.amazonaws.com";
        if from_console {
            reasons.push(NoiseReason::ConsoleBackground);
        }
    }
    Noise { reasons }
}

/// Whether a record names a person (or their own code) as its caller. CloudTrail types some
/// events of people `AwsServiceEvent`: IAM Identity Center sign-ins (`UserAuthentication`,
/// `CredentialChallenge`, `Federate`, ...) carry the person in `userIdentity.userName` or
/// `additionalEventData.UserName`; such events are not AWS acting on its own.
fn names_a_person(record: &RecordView<'_>) -> bool {
    let id = &record.identity;
    let named = |v: Option<&str>| non_empty(v).is_some();
    if named(id.user_name) || named(id.on_behalf_of_user_id) || named(record.sign_in_user_name()) {
        return true;
    }
    match id.kind {
        Some(
            "IAMUser" | "Root" | "SAMLUser" | "WebIdentityUser" | "IdentityCenterUser"
            | "FederatedUser" | "Directory",
        ) => true,
        Some("AssumedRole") => {
            SERVICE_ROLE_PATH
                .find(id.issuer_arn.unwrap_or("").as_bytes())
                .is_none()
                && !named(id.invoked_by)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(json: &str) -> Vec<&'static str> {
        let mut bytes = json.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        classify_noise(&RecordView::read(tape.as_value()))
            .reasons
            .iter()
            .map(|r| r.label())
            .collect()
    }

    #[test]
    fn reasons() {
        assert!(noise(
            r#"{"userIdentity":{"type":"IAMUser"},"readOnly":false,"sourceIPAddress":"192.0.2.1"}"#
        )
        .is_empty());
        assert_eq!(
            noise(r#"{"userIdentity":{"type":"AWSService","invokedBy":"lambda.amazonaws.com"}}"#),
            vec!["invoked_by_service", "service_principal"]
        );
        assert_eq!(
            noise(
                r#"{"userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"}}}}"#
            ),
            vec!["service_linked_role"]
        );
        // Known by the session's own ARN when the issuer is not given.
        assert_eq!(
            noise(
                r#"{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/AWSServiceRoleForConfig/s"}}"#
            ),
            vec!["service_linked_role"]
        );
        assert!(noise(
            r#"{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/MyAWSServiceRoleForX/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/service-role/x"}}}}"#
        )
        .is_empty());
        assert_eq!(
            noise(r#"{"eventType":"AwsServiceEvent","sourceIPAddress":"AWS Internal"}"#),
            vec!["aws_service_event", "aws_internal_source"]
        );
        assert_eq!(
            noise(r#"{"readOnly":true,"userAgent":"console.ec2.amazonaws.com"}"#),
            vec!["console_background"]
        );
        // People signing in to IAM Identity Center: service events, not noise.
        for person in [
            r#"{"eventType":"AwsServiceEvent","eventName":"CredentialChallenge","userIdentity":{"type":"Unknown","principalId":"111122223333","accountId":"111122223333","userName":"jane"}}"#,
            r#"{"eventType":"AwsServiceEvent","eventName":"UserAuthentication","userIdentity":{"type":"Unknown"},"additionalEventData":{"UserName":"jane"}}"#,
            r#"{"eventType":"AwsServiceEvent","eventName":"Federate","userIdentity":{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-1"}}}"#,
            r#"{"eventType":"AwsServiceEvent","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/jane"}}"#,
        ] {
            assert!(noise(person).is_empty(), "{person}");
        }
        // AWS on its own stays noise.
        assert_eq!(
            noise(
                r#"{"eventType":"AwsServiceEvent","userIdentity":{"accountId":"1","invokedBy":"ec2.amazonaws.com"}}"#
            ),
            vec!["invoked_by_service", "aws_service_event"]
        );
        assert_eq!(
            noise(r#"{"eventType":"AwsServiceEvent","userIdentity":{"type":"Unknown"}}"#),
            vec!["aws_service_event"]
        );
        assert!(noise(r#"{"readOnly":false,"userAgent":"console.ec2.amazonaws.com"}"#).is_empty());
        assert_eq!(
            noise(r#"{"readOnly":true,"sessionCredentialFromConsole":"true"}"#),
            vec!["console_background"]
        );
    }
}
