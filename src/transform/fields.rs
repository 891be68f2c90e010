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
