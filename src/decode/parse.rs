//! Record parsing with simd-json into a reusable tape (no DOM on the hot path), and the check
//! that a value is a CloudTrail record. Owns the parser's buffers; never writes output.

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};
use simd_json::{Buffers, ErrorType};

use super::error::ErrorKind;

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
    tape: Option<Tape<'static>>,
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
            tape: Some(Tape::null().reset()),
        }
    }

    /// Parses `bytes` and hands the parsed value to `inspect`.
    pub fn with_value<T>(
        &mut self,
        bytes: &[u8],
        inspect: impl FnOnce(Value<'_, '_>) -> T,
    ) -> Result<T, ParseError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(bytes);
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let parsed = simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape);
        let result = match parsed {
            Ok(()) => Ok(inspect(tape.as_value())),
            Err(e) => Err(parse_error(&e)),
        };
        self.tape = Some(tape.reset());
        result
    }

    /// Parses `bytes` and checks that it is a CloudTrail record.
    pub fn check_record(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        self.with_value(bytes, |v| check_cloudtrail(&v))?
    }
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

/// The keys every CloudTrail record carries, whatever its eventVersion (1.0 to 1.11).
const REQUIRED_KEYS: [&str; 3] = ["eventVersion", "eventSource", "eventName"];

/// Checks that a parsed value is a CloudTrail record: an object with the keys every record has.
pub fn check_cloudtrail(v: &Value<'_, '_>) -> Result<(), ParseError> {
    let Some(obj) = v.as_object() else {
        return Err(ParseError {
            kind: ErrorKind::NotCloudTrail,
            detail: format!("expected a CloudTrail record (an object), found {:?}", v.value_type()),
        });
    };
    let mut found = 0;
    for (k, _) in obj.iter() {
        if REQUIRED_KEYS.contains(&k) {
            found += 1;
        }
    }
    if found < REQUIRED_KEYS.len() {
        let missing: Vec<&str> = REQUIRED_KEYS
            .iter()
            .copied()
            .filter(|k| obj.get(*k).is_none())
            .collect();
        return Err(ParseError {
            kind: ErrorKind::NotCloudTrail,
            detail: format!(
                "not a CloudTrail record or envelope: missing {}",
                missing.join(", ")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_record_rejects_others() {
        let mut p = RecordParser::new();
        assert!(p
            .check_record(br#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#)
            .is_ok());
        let e = p.check_record(br#"{"eventVersion":"1.08"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotCloudTrail);
        assert!(e.detail.contains("eventSource, eventName"), "{}", e.detail);
        assert_eq!(p.check_record(b"[1]").unwrap_err().kind, ErrorKind::NotCloudTrail);
        assert_eq!(p.check_record(br#"{"a":1,}"#).unwrap_err().kind, ErrorKind::InvalidJson);
        assert_eq!(
            p.check_record(b"{\"a\":\"\xff\"}").unwrap_err().kind,
            ErrorKind::InvalidUtf8
        );
    }
}
