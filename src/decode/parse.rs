//! Record parsing with simd-json into a reusable tape (no DOM on the hot path), and the check
//! that a value is a CloudTrail record. Owns the parser's buffers; never writes output.

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};
use simd_json::{Buffers, ErrorType, StaticNode};

use super::error::ErrorKind;
use super::numbers::{read_strictly, reread_numbers};

/// Why a value did not parse.
#[derive(Debug, Clone)]
pub struct ParseError {
    pub kind: ErrorKind,
    pub detail: String,
}

/// A simd-json parser that keeps its buffers and tape between records, so parsing a record
/// allocates nothing once the buffers have grown to the largest record.
pub struct RecordParser {
    buffers: Buffers,
    /// simd-json rewrites strings in place, so records are parsed from a copy.
    scratch: Vec<u8>,
    /// A record's bytes with its lone surrogate escapes replaced, when it has any (rare).
    fixed: Vec<u8>,
    tape: Option<Tape<'static>>,
    /// The numbers of a record whose numbers are read again (see `numbers`).
    numbers: Vec<StaticNode>,
}

impl Default for RecordParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordParser {
    pub fn new() -> Self {
        RecordParser {
            buffers: Buffers::new(64 * 1024),
            scratch: Vec::new(),
            fixed: Vec::new(),
            tape: Some(Tape::null().reset()),
            numbers: Vec::new(),
        }
    }

    /// Parses `bytes` and hands the parsed value to `inspect`, with the bytes a record's raw
    /// output must use: `bytes` itself, or (rarely) a copy whose lone surrogate escapes read
    /// `\uFFFD` (see `replace_lone_surrogates`).
    pub fn with_value<T>(
        &mut self,
        bytes: &[u8],
        inspect: impl FnOnce(Value<'_, '_>, &[u8]) -> T,
    ) -> Result<T, ParseError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(bytes);
        let fixed = replace_lone_surrogates(&mut self.scratch) > 0;
        if fixed {
            self.fixed.clear();
            self.fixed.extend_from_slice(&self.scratch);
        }
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let parsed = simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape);
        let raw = if fixed { &self.fixed[..] } else { bytes };
        let result = match parsed {
            // A NUL byte is never JSON (in a string it must be escaped), yet simd-json takes
            // one after a number, with junk after it (found by cargo fuzz).
            Ok(()) if memchr::memchr(0, bytes).is_some() => Err(ParseError {
                kind: ErrorKind::InvalidJson,
                detail: "invalid JSON: a NUL byte outside an escape".into(),
            }),
            // simd-json may misread a float or a long integer (see `numbers`): such records
            // are rare in CloudTrail, and serde_json reads their numbers again, strictly.
            Ok(()) => match reread_numbers(raw, &mut tape, &mut self.numbers) {
                Ok(()) => Ok(inspect(tape.as_value(), raw)),
                Err(e) => Err(ParseError {
                    kind: ErrorKind::InvalidJson,
                    detail: format!("invalid JSON: {e}"),
                }),
            },
            Err(e) => Err(parse_error(&e)),
        };
        self.tape = Some(tape.reset());
        result
    }

    /// Parses `bytes` and checks that it is a CloudTrail record.
    pub fn check_record(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        if bytes.len() > TAPE_MAX_BYTES {
            return check_large_record(bytes);
        }
        self.with_value(bytes, |v, _| check_cloudtrail(&v))?
    }
}

/// Rewrites each `\uXXXX` escape of a lone UTF-16 surrogate (a high one not followed by a low
/// one, or a low one alone) to `\uFFFD`, the replacement character, in place (same length, so
/// offsets hold); returns how many. JSON's grammar allows them, but they encode no character:
/// simd-json decodes a lone high surrogate to NUL and refuses a lone low one, so without this
/// a record would be altered silently or refused depending on which half it holds; and raw
/// output with one would be refused by common parsers (serde_json among them). The raw format
/// takes the replaced bytes too (`RecordParser::with_value`).
pub fn replace_lone_surrogates(buf: &mut [u8]) -> usize {
    let hex = |b: &[u8]| -> Option<u16> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u16::from_str_radix(s, 16).ok()
    };
    let (mut i, mut replaced) = (0, 0);
    while let Some(at) = buf.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let e = i + at;
        if buf.get(e + 1) != Some(&b'u') {
            // Another escape (\n, \", \\): two bytes.
            i = e + 2;
            continue;
        }
        let Some(unit) = buf.get(e + 2..).and_then(hex) else {
            i = e + 2;
            continue;
        };
        let next_low = || {
            buf.get(e + 6..e + 8) == Some(b"\\u".as_slice())
                && buf
                    .get(e + 8..)
                    .and_then(hex)
                    .is_some_and(|u| (0xDC00..0xE000).contains(&u))
        };
        match unit {
            0xD800..0xDC00 if next_low() => i = e + 12,
            0xD800..0xE000 => {
                buf[e + 2..e + 6].copy_from_slice(b"FFFD");
                replaced += 1;
                i = e + 6;
            }
            _ => i = e + 6,
        }
    }
    replaced
}

/// A copy of `bytes` with its lone surrogate escapes replaced, if it has any.
pub fn without_lone_surrogates(bytes: &[u8]) -> Option<Vec<u8>> {
    memchr::memmem::find(bytes, b"\\u")?;
    let mut copy = bytes.to_vec();
    (replace_lone_surrogates(&mut copy) > 0).then_some(copy)
}

/// Records above this size are checked without a tape. simd-json's tape costs 24 bytes per
/// value, so a multi-megabyte record of tiny values would need some 20 times its size; such
/// records are rare (CloudTrail's own ceiling is 1 MB), so they take the slower path whose
/// memory is only the nesting depth, and memory stays bounded by `max_record_bytes`.
pub const TAPE_MAX_BYTES: usize = 256 * 1024;

/// The keys a record must have, read by serde_json without keeping anything else.
#[derive(serde::Deserialize)]
struct RequiredKeys {
    #[serde(rename = "eventVersion")]
    event_version: Option<serde::de::IgnoredAny>,
    #[serde(rename = "eventSource")]
    event_source: Option<serde::de::IgnoredAny>,
    #[serde(rename = "eventName")]
    event_name: Option<serde::de::IgnoredAny>,
    #[serde(rename = "insightDetails")]
    insight_details: Option<serde::de::IgnoredAny>,
}

/// Validates a large record (UTF-8, JSON, CloudTrail keys) in memory proportional to its depth.
fn check_large_record(bytes: &[u8]) -> Result<(), ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError {
        kind: ErrorKind::InvalidUtf8,
        detail: format!("the record is not valid UTF-8 ({e})"),
    })?;
    let keys: RequiredKeys = serde_json::from_str(text).map_err(|e| ParseError {
        kind: if e.is_data() {
            ErrorKind::NotCloudTrail
        } else {
            ErrorKind::InvalidJson
        },
        detail: format!("invalid JSON: {e}"),
    })?;
    // The keys' reading skips the other values unread: their numbers are checked here (a
    // second pass, for these rare records).
    read_strictly(bytes, None).map_err(|e| ParseError {
        kind: ErrorKind::InvalidJson,
        detail: format!("invalid JSON: {e}"),
    })?;
    let found = RecordKeys {
        event_version: keys.event_version.is_some(),
        event_source: keys.event_source.is_some(),
        event_name: keys.event_name.is_some(),
        insight_details: keys.insight_details.is_some(),
    };
    found.verdict()
}

fn parse_error(e: &simd_json::Error) -> ParseError {
    match e.error() {
        ErrorType::InvalidUtf8 => ParseError {
            kind: ErrorKind::InvalidUtf8,
            detail: "the record is not valid UTF-8".into(),
        },
        _ => ParseError {
            kind: ErrorKind::InvalidJson,
            detail: format!("invalid JSON: {e}"),
        },
    }
}

/// Which of the keys that make a CloudTrail record a value has.
#[derive(Default)]
struct RecordKeys {
    event_version: bool,
    event_source: bool,
    event_name: bool,
    insight_details: bool,
}

impl RecordKeys {
    /// Every record, whatever its eventVersion (1.0 to 1.11), has `eventVersion`; an API call,
    /// service or console event names its call (`eventSource`, `eventName`), while an Insights
    /// event (`eventType: AwsCloudTrailInsight`) has neither and carries `insightDetails`
    /// (which names the call it is about) instead.
    fn verdict(&self) -> Result<(), ParseError> {
        let call = self.event_source && self.event_name;
        if self.event_version && (call || self.insight_details) {
            return Ok(());
        }
        let missing: Vec<&str> = [
            ("eventVersion", !self.event_version),
            ("eventSource", !self.event_source && !self.insight_details),
            ("eventName", !self.event_name && !self.insight_details),
        ]
        .iter()
        .filter(|(_, missing)| *missing)
        .map(|(k, _)| *k)
        .collect();
        Err(ParseError {
            kind: ErrorKind::NotCloudTrail,
            detail: format!(
                "not a CloudTrail record or envelope: missing {}",
                missing.join(", ")
            ),
        })
    }
}

/// Checks that a parsed value is a CloudTrail record: an object with the keys every record has
/// (see `RecordKeys::verdict`). A key is counted once however often it is written, so a key
/// written twice never stands in for a missing one.
pub fn check_cloudtrail(v: &Value<'_, '_>) -> Result<(), ParseError> {
    let Some(obj) = v.as_object() else {
        return Err(ParseError {
            kind: ErrorKind::NotCloudTrail,
            detail: format!(
                "expected a CloudTrail record (an object), found {:?}",
                v.value_type()
            ),
        });
    };
    let mut found = RecordKeys::default();
    for (k, _) in obj.iter() {
        match k {
            "eventVersion" => found.event_version = true,
            "eventSource" => found.event_source = true,
            "eventName" => found.event_name = true,
            "insightDetails" => found.insight_details = true,
            _ => {}
        }
    }
    found.verdict()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        let fix = |s: &str| {
            let mut b = s.as_bytes().to_vec();
            let n = replace_lone_surrogates(&mut b);
            (String::from_utf8(b).unwrap(), n)
        };
        assert_eq!(fix(r#""a\ud800b""#), (r#""a\uFFFDb""#.into(), 1));
        assert_eq!(fix(r#""\udc00""#), (r#""\uFFFD""#.into(), 1));
        assert_eq!(fix(r#""\ud83d\ude00""#), (r#""\ud83d\ude00""#.into(), 0));
        assert_eq!(fix(r#""\ud83d\u0041""#), (r#""\uFFFD\u0041""#.into(), 1));
        // An escaped backslash before "ud800" is not an escape.
        assert_eq!(fix(r#""\\ud800""#), (r#""\\ud800""#.into(), 0));
        assert_eq!(
            fix(r#""\ud800"#),
            (r#""\uFFFD"#.into(), 1),
            "cut at the end"
        );
        assert_eq!(fix(r#""\u12"#), (r#""\u12"#.into(), 0));
        // A backslash as the last byte (found by cargo fuzz: it read past the end).
        assert_eq!(fix("[;][\\"), ("[;][\\".into(), 0));
        // Parsed, a lone surrogate reads as U+FFFD, never as NUL.
        let mut p = RecordParser::new();
        let got = p
            .with_value(br#"{"a":"x\ud800y"}"#, |v, raw| {
                let a = v.get("a").and_then(|s| s.into_string()).map(String::from);
                (a, String::from_utf8(raw.to_vec()).unwrap())
            })
            .unwrap();
        assert_eq!(got.0.as_deref(), Some("x\u{fffd}y"));
        assert_eq!(got.1, r#"{"a":"x\uFFFDy"}"#, "the raw bytes too");
    }

    /// Inputs cargo fuzz found that simd-json takes and are not JSON: each must be refused.
    #[test]
    fn what_simd_json_lets_through_is_refused() {
        let mut p = RecordParser::new();
        for bad in [
            &b"{\"t\":2\0\0\r}"[..],
            b"{\"d\":3\0\0\\uDDDD\\uDDDD\0\0\0\0\0 }",
            b"{\"_\":5555555555555555555555555555555555551e8+8}",
            b"{\"_\":5555555555555555555%5severity_5555551e88}",
            // A sign and 18 digits take the long path too.
            b"{\"\":-464999999999999999=9999999999e9}",
            b"{\"n\":-100000000000000000x}",
            // The shortest positive integer on that path.
            b"{\"n\":1000000000000000000x}",
            b"[-999999999999999999}1]",
            // Beyond a 64-bit float's range (the second through simd-json's misread).
            b"{\"f\":1e309}",
            b"[0E-0,7e9,33333330012919400065e289]",
        ] {
            let e = p.with_value(bad, |_, _| ()).unwrap_err();
            assert_eq!(
                e.kind,
                ErrorKind::InvalidJson,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Long numbers that are JSON still parse.
        for good in [
            &b"{\"n\":12345678901234567890}"[..],
            b"{\"f\":1.5e300}",
            b"{\"n\":-100000000000000000}",
            b"{\"n\":-9223372036854775808, \"m\":1000000000000000000}",
        ] {
            assert!(p.with_value(good, |_, _| ()).is_ok());
        }
    }

    #[test]
    fn accepts_record_rejects_others() {
        let mut p = RecordParser::new();
        assert!(p
            .check_record(br#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#)
            .is_ok());
        let e = p.check_record(br#"{"eventVersion":"1.08"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotCloudTrail);
        assert!(e.detail.contains("eventSource, eventName"), "{}", e.detail);
        assert_eq!(
            p.check_record(b"[1]").unwrap_err().kind,
            ErrorKind::NotCloudTrail
        );
        assert_eq!(
            p.check_record(br#"{"a":1,}"#).unwrap_err().kind,
            ErrorKind::InvalidJson
        );
        assert_eq!(
            p.check_record(b"{\"a\":\"\xff\"}").unwrap_err().kind,
            ErrorKind::InvalidUtf8
        );
    }

    #[test]
    fn insights_events_are_records() {
        let mut p = RecordParser::new();
        let insight = br#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventType":"AwsCloudTrailInsight","insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com","eventName":"RunInstances"},"eventCategory":"Insight"}"#;
        assert!(p.check_record(insight).is_ok());
        let e = p
            .check_record(br#"{"eventType":"AwsCloudTrailInsight","insightDetails":{}}"#)
            .unwrap_err();
        assert!(e.detail.ends_with("missing eventVersion"), "{}", e.detail);
        // Large ones too, on the tapeless path.
        let pad = "0,".repeat(TAPE_MAX_BYTES);
        let big = format!(r#"{{"eventVersion":"1.08","insightDetails":{{"pad":[{pad}0]}}}}"#);
        assert!(p.check_record(big.as_bytes()).is_ok());
    }

    #[test]
    fn large_records_take_the_tapeless_path_with_the_same_verdicts() {
        let pad = "0,".repeat(TAPE_MAX_BYTES);
        let big = |head: &str| format!("{{{head}\"pad\":[{pad}0]}}").into_bytes();
        let mut p = RecordParser::new();
        let ok = big(r#""eventVersion":"1.08","eventSource":"s","eventName":"n","#);
        assert!(ok.len() > TAPE_MAX_BYTES);
        assert!(p.check_record(&ok).is_ok());
        let e = p
            .check_record(&big(r#""eventVersion":"1.08","#))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotCloudTrail);
        assert!(e.detail.contains("eventSource, eventName"), "{}", e.detail);
        let mut bad = ok.clone();
        bad.insert(1, b',');
        assert_eq!(
            p.check_record(&bad).unwrap_err().kind,
            ErrorKind::InvalidJson
        );
        let mut latin = ok.clone();
        latin[20] = 0xff;
        assert_eq!(
            p.check_record(&latin).unwrap_err().kind,
            ErrorKind::InvalidUtf8
        );
        // A number beyond a float's range, in a value the keys' reading skips.
        let e = p
            .check_record(&big(
                r#""eventVersion":"1.08","eventSource":"s","eventName":"n","x":[2e400],"#,
            ))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidJson);
        assert!(e.detail.contains("number out of range"), "{}", e.detail);
    }
}
