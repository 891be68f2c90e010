//! Reading CloudTrail fields from a parsed record (simd-json's tape): the accessors every
//! enrichment and filter uses. Reads only; owns no output.

use simd_json::prelude::*;
use simd_json::tape::Value;

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

/// The boolean at `path`; `"true"`/`"false"` strings count too (LookupEvents and some old
/// records write them so).
pub fn get_bool(record: Value<'_, '_>, path: &[&str]) -> Option<bool> {
    let v = get(record, path)?;
    v.as_bool().or_else(|| match v.into_string()? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    })
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
    {
        return None;
    }
    if !s.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
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

/// Appends `s` as a JSON string (quotes, backslashes and control characters escaped).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
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
        assert_eq!(get_bool(v, &["a", "t"]), Some(true));
        assert_eq!(get_bool(v, &["a", "s"]), Some(false));
        assert_eq!(get_str(v, &["a", "x"]), None);
        assert_eq!(get_str(v, &["n", "x"]), None);
    }
}
