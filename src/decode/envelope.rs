//! Envelope detection: what a top-level JSON value is (a record, a trail file, an EventBridge
//! event, a CloudWatch Logs subscription payload, a LookupEvents item, a digest file) and where
//! its records are. Reads parsed values and raw bytes; never writes output.

use simd_json::prelude::*;
use simd_json::tape::Value;

use super::parse::{check_cloudtrail, ParseError};

/// What a top-level value turned out to be.
#[derive(Debug)]
pub enum Envelope {
    /// A CloudTrail record itself (NDJSON line, bare-array element, pretty-printed record).
    Record,
    /// `{"Records":[...]}` found inside another value (top-level ones are streamed earlier).
    TrailFile,
    /// An EventBridge event (`"detail-type": "AWS API Call via CloudTrail"`): the record is `detail`.
    EventBridge,
    /// A CloudWatch Logs subscription payload: one record per `logEvents[].message`.
    CloudWatchLogs { messages: Vec<String> },
    /// A CloudWatch Logs `CONTROL_MESSAGE` (sent when a subscription is created): no records.
    CloudWatchControl,
    /// A CloudTrail LookupEvents item: the record is the string `CloudTrailEvent`.
    LookupEvent { record: String },
    /// A Lambda-style `{"awslogs":{"data":"<base64 gzip>"}}` wrapper of a CloudWatch Logs payload.
    AwsLogs { data: String },
    /// A CloudTrail digest file: not events; skipped and counted.
    Digest,
}

/// Classifies a parsed top-level value.
pub fn classify(v: &Value<'_, '_>) -> Result<Envelope, ParseError> {
    let record_check = check_cloudtrail(v);
    if record_check.is_ok() {
        return Ok(Envelope::Record);
    }
    let Some(obj) = v.as_object() else {
        return Err(record_check.unwrap_err_or_default());
    };
    if obj.get("Records").is_some_and(|r| r.is_array()) {
        return Ok(Envelope::TrailFile);
    }
    if obj.get("detail-type").is_some() && obj.get("detail").is_some_and(|d| d.is_object()) {
        return Ok(Envelope::EventBridge);
    }
    if let (Some(kind), Some(events)) = (obj.get("messageType"), obj.get("logEvents")) {
        if kind.as_str() == Some("CONTROL_MESSAGE") {
            return Ok(Envelope::CloudWatchControl);
        }
        if let Some(events) = events.as_array() {
            let messages = events
                .iter()
                .filter_map(|e| {
                    let message = e.as_object()?.get("message")?;
                    message.as_str().map(str::to_owned)
                })
                .collect();
            return Ok(Envelope::CloudWatchLogs { messages });
        }
    }
    if let Some(record) = obj
        .get("CloudTrailEvent")
        .and_then(|r| r.as_str().map(str::to_owned))
    {
        return Ok(Envelope::LookupEvent { record });
    }
    if obj.get("digestStartTime").is_some() && obj.get("logFiles").is_some() {
        return Ok(Envelope::Digest);
    }
    if let Some(awslogs) = obj.get("awslogs").and_then(|a| a.as_object()) {
        if let Some(data) = awslogs
            .get("data")
            .and_then(|d| d.as_str().map(str::to_owned))
        {
            return Ok(Envelope::AwsLogs { data });
        }
    }
    Err(record_check.unwrap_err_or_default())
}

trait ErrOrDefault {
    fn unwrap_err_or_default(self) -> ParseError;
}

impl ErrOrDefault for Result<(), ParseError> {
    fn unwrap_err_or_default(self) -> ParseError {
        match self {
            Err(e) => e,
            Ok(()) => ParseError {
                kind: super::error::ErrorKind::NotCloudTrail,
                detail: "not a CloudTrail record or envelope".into(),
            },
        }
    }
}

/// Finds the raw bytes of the value of top-level `key` in the JSON object `obj`, so a nested
/// record (EventBridge `detail`) is output byte for byte, key order and number spelling kept.
/// Keys are compared as written (an escaped key does not match).
pub fn member_bytes<'a>(obj: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let key = key.as_bytes();
    let mut depth = 0u32;
    let mut i = 0;
    let mut expect_key = false;
    let mut matched = false;
    while i < obj.len() {
        match obj[i] {
            b'"' => {
                let end = string_end(obj, i)?;
                if depth == 1 && expect_key {
                    matched = &obj[i + 1..end - 1] == key;
                    expect_key = false;
                }
                i = end;
                continue;
            }
            b':' if depth == 1 && matched => {
                let start = i + 1 + obj[i + 1..].iter().position(|b| !b.is_ascii_whitespace())?;
                let end = value_end(obj, start)?;
                return Some(&obj[start..end]);
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && obj[i] == b'{';
            }
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b',' if depth == 1 => expect_key = true,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index just past the string that starts at `start` (a quote).
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The index just past the JSON value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0u32;
            let mut i = start;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let len = bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                .unwrap_or(bytes.len() - start);
            Some(start + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::parse::RecordParser;

    fn shape(json: &str) -> String {
        let mut p = RecordParser::new();
        match p.with_value(json.as_bytes(), |v, _| classify(&v)).unwrap() {
            Ok(e) => format!("{e:?}"),
            Err(e) => format!("error {:?}", e.kind),
        }
    }

    #[test]
    fn classifies_every_envelope() {
        let rec = r#"{"eventVersion":"1.08","eventSource":"s","eventName":"n"}"#;
        assert_eq!(shape(rec), "Record");
        assert_eq!(shape(&format!(r#"{{"Records":[{rec}]}}"#)), "TrailFile");
        assert_eq!(
            shape(&format!(
                r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{rec}}}"#
            )),
            "EventBridge"
        );
        assert!(
            shape(r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"{}"}]}"#)
                .starts_with("CloudWatchLogs")
        );
        assert_eq!(
            shape(r#"{"messageType":"CONTROL_MESSAGE","logEvents":[]}"#),
            "CloudWatchControl"
        );
        assert!(shape(r#"{"EventId":"x","CloudTrailEvent":"{}"}"#).starts_with("LookupEvent"));
        assert_eq!(shape(r#"{"digestStartTime":"x","logFiles":[]}"#), "Digest");
        assert_eq!(shape(r#"{"hello":"world"}"#), "error NotCloudTrail");
        assert_eq!(shape("42"), "error NotCloudTrail");
    }

    #[test]
    fn member_bytes_finds_top_level_values_only() {
        let obj = br#"{"a":{"detail":1},"x":"detail","detail" : {"k":"}"} ,"z":2}"#;
        assert_eq!(member_bytes(obj, "detail"), Some(&br#"{"k":"}"}"#[..]));
        assert_eq!(member_bytes(obj, "z"), Some(&b"2"[..]));
        assert_eq!(member_bytes(obj, "none"), None);
    }
}
