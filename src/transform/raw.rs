//! The raw output format: the record's own bytes as one NDJSON line. Key order and number
//! spelling are kept; whitespace outside strings is dropped so a pretty-printed record still
//! becomes one line. Never rebuilds a record to print it again.

use memchr::memchr2;

/// Appends `record` and a newline to `out`, dropping whitespace outside strings when
/// `has_whitespace` says there is any (trail files have none, so the common case is one copy).
pub fn write_raw_line(out: &mut Vec<u8>, record: &[u8], has_whitespace: bool) {
    if has_whitespace {
        minify_into(out, record);
    } else {
        out.extend_from_slice(record);
    }
    out.push(b'\n');
}

/// Like `write_raw_line`, with `"enrichment":<object>` added as the record's last member: the
/// record's closing brace is dropped, the member written by `write_object`, and the brace put
/// back. The record's own bytes stay as they are.
pub fn write_enriched_line(
    out: &mut Vec<u8>,
    record: &[u8],
    has_whitespace: bool,
    write_object: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    if has_whitespace {
        minify_into(out, record);
    } else {
        out.extend_from_slice(record);
    }
    if out.len() > start && out[out.len() - 1] == b'}' {
        out.pop();
        if out.len() > start + 1 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"enrichment\":");
        write_object(out);
        out.push(b'}');
    }
    out.push(b'\n');
}

/// Copies JSON text without the whitespace outside its strings. Strings are copied in runs
/// found with `memchr2`; the rest byte by byte (it is short: punctuation and numbers).
pub fn minify_into(out: &mut Vec<u8>, json: &[u8]) {
    out.reserve(json.len());
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match memchr2(b'"', b'\\', &json[i..]) {
                        None => {
                            i = json.len();
                            break;
                        }
                        Some(k) if json[i + k] == b'\\' => i += k + 2,
                        Some(k) => {
                            i += k + 1;
                            break;
                        }
                    }
                }
                let end = i.min(json.len());
                out.extend_from_slice(&json[start..end]);
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_and_numbers() {
        let mut out = Vec::new();
        write_raw_line(
            &mut out,
            b"{ \"a b\" : [ 1.50 , \"x\\\" y\" ],\n \"n\": 1e3 }",
            true,
        );
        assert_eq!(out, b"{\"a b\":[1.50,\"x\\\" y\"],\"n\":1e3}\n");
    }

    #[test]
    fn enrichment_is_the_last_member() {
        let mut out = Vec::new();
        write_enriched_line(&mut out, b"{ \"a\" : 1 }", true, |o| {
            o.extend_from_slice(b"{}")
        });
        write_enriched_line(&mut out, b"{}", false, |o| {
            o.extend_from_slice(b"{\"x\":2}")
        });
        assert_eq!(
            out,
            b"{\"a\":1,\"enrichment\":{}}\n{\"enrichment\":{\"x\":2}}\n"
        );
    }

    #[test]
    fn no_whitespace_is_copied_as_is() {
        let mut out = Vec::new();
        write_raw_line(&mut out, br#"{"a":"b c"}"#, false);
        assert_eq!(out, b"{\"a\":\"b c\"}\n");
    }
}
