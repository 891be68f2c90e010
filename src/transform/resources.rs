//! Resources: the identifiers a call touched, from `resources[].ARN` and the usual keys of
//! `requestParameters` and `responseElements`, deduplicated, so "who started instance i-0abc?"
//! and "who touched bucket X?" are each a filter on one field. Reads the record only.

use std::borrow::Cow;

use simd_json::prelude::*;
use simd_json::tape::Value;

use super::fields::RecordView;

/// At most this many identifiers per record: a RunInstances of hundreds of instances must not
/// make a record's enrichment larger than the record.
pub const MAX_RESOURCES: usize = 64;
/// How deep request and response objects are searched.
const MAX_DEPTH: usize = 10;

/// Whether a key's string value names a resource as it is (an id, a name or a URL). A `match`
/// and not a list: each key of every request is checked, and a list was 20 comparisons a key.
fn is_identifier_key(key: &str) -> bool {
    matches!(
        key,
        "instanceId"
            | "imageId"
            | "volumeId"
            | "snapshotId"
            | "roleName"
            | "userName"
            | "groupName"
            | "policyName"
            | "instanceProfileName"
            | "queueUrl"
            | "streamName"
            | "deliveryStreamName"
            | "logGroupName"
            | "functionName"
            | "tableName"
            | "keyId"
            | "secretId"
            | "trailName"
            | "clusterName"
            | "dBInstanceIdentifier"
    )
}

/// The identifiers `record` touched, in order of first appearance, without repeats. They borrow
/// from the record where they are its strings (all but the S3 ARNs built from a bucket and a
/// key), so a record's resources cost at most one allocation.
pub fn extract_resources<'a>(record: &RecordView<'a>) -> Vec<Cow<'a, str>> {
    let mut found = Resources(Vec::new());
    if let Some(list) = record.resources.and_then(|r| r.as_array()) {
        for r in list.iter() {
            if let Some(arn) = r
                .as_object()
                .and_then(|o| o.get("ARN"))
                .and_then(|a| a.into_string())
            {
                found.add(Cow::Borrowed(arn));
            }
        }
    }
    for part in [record.request, record.response].into_iter().flatten() {
        found.walk(part, 0);
    }
    found.0
}

struct Resources<'a>(Vec<Cow<'a, str>>);

impl<'a> Resources<'a> {
    fn add(&mut self, id: Cow<'a, str>) {
        if !id.is_empty() && self.0.len() < MAX_RESOURCES && !self.0.contains(&id) {
            self.0.push(id);
        }
    }

    fn walk(&mut self, v: Value<'a, 'a>, depth: usize) {
        if depth > MAX_DEPTH || self.0.len() >= MAX_RESOURCES {
            return;
        }
        if let Some(list) = v.as_array() {
            for item in list.iter() {
                self.walk(item, depth + 1);
            }
            return;
        }
        let Some(obj) = v.as_object() else { return };
        if let Some(bucket) = obj.get("bucketName").and_then(|b| b.into_string()) {
            self.add(Cow::Owned(format!("arn:aws:s3:::{bucket}")));
            if let Some(key) = obj.get("key").and_then(|k| k.into_string()) {
                self.add(Cow::Owned(format!("arn:aws:s3:::{bucket}/{key}")));
            }
        }
        for (key, value) in obj.iter() {
            if let Some(s) = value.into_string() {
                let is_arn_key = key.ends_with("Arn") || key.ends_with("ARN") || key == "arn";
                if (is_arn_key && s.starts_with("arn:")) || is_identifier_key(key) {
                    self.add(Cow::Borrowed(s));
                }
            } else {
                self.walk(value, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(json: &str) -> Vec<String> {
        let mut bytes = json.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let found = extract_resources(&RecordView::read(tape.as_value()));
        found.into_iter().map(Cow::into_owned).collect()
    }

    #[test]
    fn buckets_objects_and_arns() {
        let got = resources(
            r#"{"requestParameters":{"bucketName":"b","key":"k/1.txt"},"resources":[{"ARN":"arn:aws:s3:::b/k/1.txt"},{"ARN":"arn:aws:s3:::b"}]}"#,
        );
        assert_eq!(got, vec!["arn:aws:s3:::b/k/1.txt", "arn:aws:s3:::b"]);
    }

    #[test]
    fn instances_in_nested_response_items() {
        let got = resources(
            r#"{"requestParameters":{"instancesSet":{"items":[{"imageId":"ami-1"}]}},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-01"},{"instanceId":"i-02"}]}}}"#,
        );
        assert_eq!(got, vec!["ami-1", "i-01", "i-02"]);
    }

    #[test]
    fn iam_kms_sqs_and_logs_keys() {
        let got = resources(
            r#"{"requestParameters":{"roleArn":"arn:aws:iam::1:role/x","roleSessionName":"s","policyArn":"arn:aws:iam::aws:policy/A","queueUrl":"https://sqs/1/q","logGroupName":"/g","keyId":"k-1","secretId":"s-1","userName":"bob"},"responseElements":null}"#,
        );
        assert_eq!(
            got,
            vec![
                "arn:aws:iam::1:role/x",
                "arn:aws:iam::aws:policy/A",
                "https://sqs/1/q",
                "/g",
                "k-1",
                "s-1",
                "bob"
            ]
        );
    }

    #[test]
    fn bounded_count() {
        let items: Vec<String> = (0..500)
            .map(|i| format!(r#"{{"instanceId":"i-{i}"}}"#))
            .collect();
        let got = resources(&format!(
            r#"{{"responseElements":{{"items":[{}]}}}}"#,
            items.join(",")
        ));
        assert_eq!(got.len(), MAX_RESOURCES);
    }
}
