//! Reading CloudTrail fields from a parsed record (simd-json's tape): the accessors every
//! enrichment and filter uses. Reads only; owns no output.

use simd_json::prelude::*;
use simd_json::tape::Value;

/// The fields of a record that enrichment, attribution and filters read, found in one pass over
/// its top-level keys (and one over `userIdentity`'s), instead of one scan per lookup.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordView<'a> {
    pub event_id: Option<&'a str>,
    pub event_name: Option<&'a str>,
    pub event_source: Option<&'a str>,
    pub recipient_account_id: Option<&'a str>,
    pub event_time: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub read_only: Option<bool>,
    pub session_credential_from_console: Option<&'a str>,
    pub request: Option<Value<'a, 'a>>,
    pub response: Option<Value<'a, 'a>>,
    pub resources: Option<Value<'a, 'a>>,
    /// `additionalEventData`, looked into only when needed (`sign_in_user_name`).
    pub additional: Option<Value<'a, 'a>>,
    pub identity: IdentityView<'a>,
}

/// The `userIdentity` fields read.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityView<'a> {
    pub kind: Option<&'a str>,
    pub arn: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub invoked_by: Option<&'a str>,
    pub user_name: Option<&'a str>,
    pub principal_id: Option<&'a str>,
    /// `onBehalfOf.userId`: the Identity Center user of an `IdentityCenterUser` identity.
    pub on_behalf_of_user_id: Option<&'a str>,
    /// `sessionContext.sessionIssuer.arn`: the role of a role session.
    pub issuer_arn: Option<&'a str>,
    /// `sessionContext.sourceIdentity`.
    pub source_identity: Option<&'a str>,
}

impl<'a> RecordView<'a> {
    /// `additionalEventData.UserName`: who signs in, in IAM Identity Center sign-in events whose
    /// `userIdentity` does not say. (Looked up on demand: few records need it.)
    pub fn sign_in_user_name(&self) -> Option<&'a str> {
        get_str(self.additional?, &["UserName"])
    }

    /// Reads the fields of a parsed record.
    pub fn read(record: Value<'a, 'a>) -> Self {
        let mut view = RecordView::default();
        let Some(obj) = record.as_object() else {
            return view;
        };
        for (key, value) in obj.iter() {
            match key {
                "eventID" => view.event_id = value.into_string(),
                "eventName" => view.event_name = value.into_string(),
                "eventSource" => view.event_source = value.into_string(),
                "recipientAccountId" => view.recipient_account_id = value.into_string(),
                "eventTime" => view.event_time = value.into_string(),
                "eventType" => view.event_type = value.into_string(),
                "sourceIPAddress" => view.source_ip = value.into_string(),
                "userAgent" => view.user_agent = value.into_string(),
                "errorCode" => view.error_code = value.into_string(),
                "readOnly" => view.read_only = as_bool(value),
                "sessionCredentialFromConsole" => {
                    view.session_credential_from_console = value.into_string()
                }
                "requestParameters" => view.request = Some(value),
                "responseElements" => view.response = Some(value),
                "resources" => view.resources = Some(value),
                "additionalEventData" => view.additional = Some(value),
                "userIdentity" => view.identity = IdentityView::read(value),
                _ => {}
            }
        }
        view
    }
}

impl<'a> IdentityView<'a> {
    fn read(identity: Value<'a, 'a>) -> Self {
        let mut view = IdentityView::default();
        let Some(obj) = identity.as_object() else {
            return view;
        };
        for (key, value) in obj.iter() {
            match key {
                "type" => view.kind = value.into_string(),
                "arn" => view.arn = value.into_string(),
                "accountId" => view.account_id = value.into_string(),
                "accessKeyId" => view.access_key_id = value.into_string(),
                "invokedBy" => view.invoked_by = value.into_string(),
                "userName" => view.user_name = value.into_string(),
                "principalId" => view.principal_id = value.into_string(),
                "onBehalfOf" => view.on_behalf_of_user_id = get_str(value, &["userId"]),
                "sessionContext" => {
                    view.issuer_arn = get_str(value, &["sessionIssuer", "arn"]);
                    view.source_identity = get_str(value, &["sourceIdentity"]);
                }
                _ => {}
            }
        }
        view
    }
}

/// A string that says something: present and not empty (identities write `""` for "none").
pub fn non_empty(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

/// What CloudTrail writes as the `accountId` (or principal id) of a request nobody signed.
pub const ANONYMOUS_PRINCIPAL: &str = "ANONYMOUS_PRINCIPAL";

/// Whether nobody signed a request: `accountId` `ANONYMOUS_PRINCIPAL` (the documented form,
/// an `AWSAccount` identity with an empty principal id, as anonymous S3 reads are logged), or a
/// principal id or type saying so. Such a caller has no account and is never root.
pub fn anonymous_identity(
    kind: Option<&str>,
    account_id: Option<&str>,
    principal_id: Option<&str>,
) -> bool {
    account_id == Some(ANONYMOUS_PRINCIPAL)
        || principal_id == Some(ANONYMOUS_PRINCIPAL)
        || kind == Some("Anonymous")
}

impl IdentityView<'_> {
    /// See `anonymous_identity`.
    pub fn is_anonymous(&self) -> bool {
        anonymous_identity(self.kind, self.account_id, self.principal_id)
    }
}

fn as_bool(v: Value<'_, '_>) -> Option<bool> {
    v.as_bool().or_else(|| match v.into_string()? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    })
}

/// The value at `path` (object keys from the record's top level).
pub fn get<'a>(record: Value<'a, 'a>, path: &[&str]) -> Option<Value<'a, 'a>> {
    let mut v = record;
    for key in path {
        v = v.as_object()?.get(*key)?;
    }
    Some(v)
}

/// The string at `path`.
pub fn get_str<'a>(record: Value<'a, 'a>, path: &[&str]) -> Option<&'a str> {
    get(record, path)?.into_string()
}

/// Unix seconds as UTC `(year, month, day, hour, minute, second)` (Howard Hinnant's
/// days-to-civil algorithm: exact over the whole `i64` day range, no table, no allocation).
pub fn civil_from_unix(epoch: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Seconds since the epoch of a CloudTrail time, `2026-01-05T00:03:12Z` (fractional seconds
/// allowed); `None` for anything else.
pub fn parse_event_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[b.len() - 1] != b'Z'
    {
        return None;
    }
    // Every record's time is read (dedupe, attribution, the formats): plain digit arithmetic.
    let num = |from: usize, len: usize| -> Option<i64> {
        b[from..from + len].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hh, mm, ss) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b.len() > 20 && (b[19] != b'.' || !b[20..b.len() - 1].iter().all(u8::is_ascii_digit)) {
        return None;
    }
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The milliseconds of a CloudTrail time's fraction (`...:01.5Z` gives 500, `...:01Z` 0).
pub fn fraction_millis(s: &str) -> i64 {
    let Some(digits) = s
        .get(19..s.len().saturating_sub(1))
        .and_then(|f| f.strip_prefix('.'))
    else {
        return 0;
    };
    let mut millis = 0;
    for i in 0..3 {
        let d = digits
            .as_bytes()
            .get(i)
            .map_or(0, |c| i64::from(c.wrapping_sub(b'0')));
        millis = millis * 10 + if d < 10 { d } else { 0 };
    }
    millis
}

/// Appends `s` as a JSON string (quotes, backslashes and control characters escaped).
#[inline]
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most values need no escaping: find the first byte that does, eight at a time, and copy
    // everything before it in one go.
    let clean = first_to_escape(bytes);
    out.extend_from_slice(&bytes[..clean]);
    if clean == bytes.len() {
        out.push(b'"');
        return;
    }
    let mut start = clean;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether JSON text that the parser accepted needs no escaping when its strings are written
/// again: true when it holds no backslash. Then none of its strings had an escape sequence, and
/// the parser rejects raw control characters and quotes inside strings, so no unescaped string
/// holds a byte JSON must escape. (One memchr: about 1.6 KB per record.)
pub fn clean_json_text(bytes: &[u8]) -> bool {
    memchr::memchr(b'\\', bytes).is_none()
}

/// Appends `s`, known to need no escaping (see `clean_json_text`), as a JSON string.
#[inline]
pub fn write_clean_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// The index of the first byte JSON needs escaped (`"`, `\\`, a control character), or the
/// length. Eight bytes per step (SWAR): a byte is flagged when it is below 0x20 or equal to
/// `"` or `\\`; flags are exact for the first flagged byte, which is all this needs.
pub fn first_to_escape(bytes: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        let x = u64::from_le_bytes(w);
        let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
        let flagged = (x.wrapping_sub(LO * 0x20) & !x & HI)
            | zero(x ^ (LO * b'"' as u64))
            | zero(x ^ (LO * b'\\' as u64));
        if flagged != 0 {
            return i + (flagged.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && !matches!(bytes[i], 0..=0x1f | b'"' | b'\\') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_round_trip() {
        for s in [
            "plain",
            "q\"uote",
            "back\\slash",
            "new\nline",
            "\u{1}ctl",
            "é ünï",
        ] {
            let mut out = Vec::new();
            write_json_str(&mut out, s);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn finds_the_first_byte_to_escape() {
        for (s, want) in [
            ("", 0),
            ("abcdefghijklmnop", 16),
            ("abcdefgh\"", 8),
            ("abc\\defghijk", 3),
            ("abcdefghijk\u{1f}", 11),
            ("é ünï¡ÿ\u{7f}", 13),
            ("aaaaaaa\u{0}", 7),
        ] {
            assert_eq!(first_to_escape(s.as_bytes()), want, "{s:?}");
        }
        // Bytes above 0x80 must not be flagged (the borrow trick's classic false positive).
        let high: Vec<u8> = (0x80..=0xff).collect();
        assert_eq!(first_to_escape(&high), high.len());
    }

    #[test]
    fn clean_text_has_no_escapes() {
        let long = "a".repeat(100);
        assert!(clean_json_text(br#"{"a":"b c"}"#));
        assert!(clean_json_text(long.as_bytes()));
        assert!(!clean_json_text(format!("{long}\\n").as_bytes()));
    }

    #[test]
    fn event_times() {
        assert_eq!(parse_event_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_event_time("2026-01-05T00:00:00Z"),
            Some(1_767_571_200)
        );
        assert_eq!(
            parse_event_time("2000-02-29T12:30:01.123Z"),
            Some(951_827_401)
        );
        assert_eq!(parse_event_time("Oct 2, 2019 11:12:29 PM"), None);
        assert_eq!(parse_event_time("2026-13-05T00:00:00Z"), None);
    }

    #[test]
    fn reads_paths_from_a_tape() {
        let mut bytes = br#"{"a":{"b":"c","t":true,"s":"false"},"n":1}"#.to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let v = tape.as_value();
        assert_eq!(get_str(v, &["a", "b"]), Some("c"));
        let mut other = br#"{"readOnly":"true","userIdentity":{"type":"Root","sessionContext":{"sourceIdentity":"me"}}}"#.to_vec();
        let other = simd_json::to_tape(&mut other).unwrap();
        let view = RecordView::read(other.as_value());
        assert_eq!(view.read_only, Some(true));
        assert_eq!(view.identity.kind, Some("Root"));
        assert_eq!(view.identity.source_identity, Some("me"));
        assert_eq!(get_str(v, &["a", "x"]), None);
        assert_eq!(get_str(v, &["n", "x"]), None);
    }
}
