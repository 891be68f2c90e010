//! Writing normalized documents (ECS, OCSF) as JSON bytes straight from the parsed record, with
//! no DOM in between: nested objects that vanish when nothing was put in them, values copied
//! from the tape with stable types, and free-form blobs written as capped JSON strings.

use std::io::Write as _;

use memchr::memchr2;
use simd_json::prelude::*;
use simd_json::tape::Value;
use simd_json::ValueType;

use super::fields::{write_clean_str, write_json_str};

/// Deepest nesting of a normalized document (`aws.cloudtrail.user_identity.session_context.
/// session_issuer` is five levels below the root).
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    /// Where the member that opened this frame starts (its comma included), to take it back
    /// out if the frame stays empty.
    start: usize,
    members: u32,
    array: bool,
}

/// Writes one JSON object whose nested objects and arrays are dropped again when closed
/// empty, so a mapping can open `user_agent.os` and only the members it found appear.
/// Keys are the mapping's own names: plain ASCII, written without escaping.
pub struct DocWriter<'o> {
    pub out: &'o mut Vec<u8>,
    /// The record's strings need no escaping (`clean_json_text` said so): values taken from
    /// it are copied without looking.
    pub clean: bool,
    frames: [Frame; MAX_DEPTH],
    depth: usize,
}

impl<'o> DocWriter<'o> {
    /// Starts a document (`{`) at the end of `out`.
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        let start = out.len();
        out.push(b'{');
        let mut frames = [Frame::default(); MAX_DEPTH];
        frames[0].start = start;
        DocWriter {
            out,
            clean: false,
            frames,
            depth: 0,
        }
    }

    /// Ends the document (`}`); an empty document stays `{}`.
    pub fn finish(self) {
        debug_assert_eq!(self.depth, 0, "a nested object was left open");
        self.out.push(b'}');
    }

    /// Writes `"key":` (or nothing inside an array), ready for a value. Always inlined: keys
    /// are literals, so the copy becomes a few fixed-size moves instead of a memcpy call.
    #[inline(always)]
    pub fn key(&mut self, key: &str) {
        let f = &mut self.frames[self.depth];
        let comma = f.members > 0;
        f.members += 1;
        if f.array {
            if comma {
                self.out.push(b',');
            }
            return;
        }
        let k = key.as_bytes();
        self.out.reserve(k.len() + 4);
        if comma {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(k);
        self.out.extend_from_slice(b"\":");
    }

    #[inline(always)]
    fn push_frame(&mut self, key: &str, array: bool) {
        let start = self.out.len();
        self.key(key);
        self.out.push(if array { b'[' } else { b'{' });
        self.depth += 1;
        assert!(self.depth < MAX_DEPTH, "document nested too deep");
        self.frames[self.depth] = Frame {
            start,
            members: 0,
            array,
        };
    }

    /// Opens a nested object under `key` (the key is ignored inside an array).
    #[inline(always)]
    pub fn open(&mut self, key: &str) {
        self.push_frame(key, false);
    }

    /// Opens an array under `key`.
    #[inline(always)]
    pub fn open_array(&mut self, key: &str) {
        self.push_frame(key, true);
    }

    /// Appends ready members (`,"a":1,"b":2`, each with its leading comma) to the current
    /// object, which must already have a member.
    pub fn append_members(&mut self, members: &[u8]) {
        if members.is_empty() {
            return;
        }
        debug_assert!(self.frames[self.depth].members > 0 && members[0] == b',');
        self.out.extend_from_slice(members);
        self.frames[self.depth].members += 1;
    }

    /// Where the document stands now, to take back what is written after it.
    pub fn checkpoint(&self) -> (usize, u32) {
        (self.out.len(), self.frames[self.depth].members)
    }

    /// Takes back everything written since `checkpoint` (in the same object).
    pub fn rollback(&mut self, (len, members): (usize, u32)) {
        self.out.truncate(len);
        self.frames[self.depth].members = members;
    }

    /// Closes the innermost object or array; one left empty is taken back out entirely.
    pub fn close(&mut self) {
        let f = self.frames[self.depth];
        self.depth -= 1;
        if f.members == 0 {
            self.out.truncate(f.start);
            self.frames[self.depth].members -= 1;
        } else {
            self.out.push(if f.array { b']' } else { b'}' });
        }
    }

    /// A string member.
    #[inline(always)]
    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_json_str(self.out, value);
    }

    /// A string member whose value is a literal of the mapping's own, known to need no
    /// escaping (so none is looked for).
    #[inline(always)]
    pub fn lit(&mut self, key: &str, value: &'static str) {
        debug_assert!(!value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        self.key(key);
        write_clean_str(self.out, value);
    }

    /// A string member taken from the record (a slice of one of its strings).
    #[inline(always)]
    pub fn rstr(&mut self, key: &str, value: &str) {
        self.key(key);
        if self.clean {
            write_clean_str(self.out, value);
        } else {
            write_json_str(self.out, value);
        }
    }

    /// A string member taken from the record, when there is one.
    #[inline(always)]
    pub fn opt_rstr(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.rstr(key, v);
        }
    }

    /// A string member, when there is a value.
    #[inline(always)]
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// A member taken from the record, always written as a string (a number or object where a
    /// string belongs is written as its JSON text), so the field keeps one type whatever the
    /// record holds. Null and absent values are left out.
    #[inline(always)]
    pub fn keyword(&mut self, key: &str, value: Option<Value<'_, '_>>) {
        if let Some(v) = value {
            match v.value_type() {
                ValueType::Null => {}
                ValueType::String if self.clean => {
                    self.key(key);
                    write_clean_str(self.out, v.into_string().unwrap_or_default());
                }
                _ => {
                    self.key(key);
                    write_as_string(self.out, v);
                }
            }
        }
    }

    /// A boolean member.
    #[inline(always)]
    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// An integer member.
    #[inline(always)]
    pub fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        // Digits by hand: `write!` goes through the formatting machinery, about 250
        // instructions an integer, and OCSF writes a dozen integers an event.
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = value.unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if value < 0 {
            self.out.push(b'-');
        }
        self.out.extend_from_slice(&digits[at..]);
    }

    /// A member whose value is already JSON text.
    #[inline(always)]
    pub fn raw(&mut self, key: &str, json: &[u8]) {
        self.key(key);
        self.out.extend_from_slice(json);
    }
}

/// A value from the record as a JSON string: strings as they are, anything else as its
/// compact JSON text.
pub fn write_as_string(out: &mut Vec<u8>, v: Value<'_, '_>) {
    match v.value_type() {
        ValueType::String => write_json_str(out, v.into_string().unwrap_or_default()),
        ValueType::Object | ValueType::Array => {
            let mut text = Vec::new();
            write_compact(&mut text, v, false);
            write_json_text_as_string(out, &text);
        }
        _ => {
            out.push(b'"');
            write_compact(out, v, false);
            out.push(b'"');
        }
    }
}

/// A record's boolean, also when spelled as the string `"true"`/`"false"` (older records).
pub fn as_bool(v: Option<Value<'_, '_>>) -> Option<bool> {
    let v = v?;
    v.as_bool().or_else(|| match v.into_string()? {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    })
}

/// Writes `v` as compact JSON. With `drop_nulls`, object members whose value is null are left
/// out (at every depth); array elements are kept, since their positions carry meaning.
pub fn write_compact(out: &mut Vec<u8>, v: Value<'_, '_>, drop_nulls: bool) {
    match v.value_type() {
        ValueType::Null => out.extend_from_slice(b"null"),
        ValueType::Bool => out.extend_from_slice(if v.as_bool() == Some(true) {
            b"true"
        } else {
            b"false"
        }),
        ValueType::String => write_json_str(out, v.into_string().unwrap_or_default()),
        ValueType::Array => {
            out.push(b'[');
            if let Some(a) = v.as_array() {
                for (i, item) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_compact(out, item, drop_nulls);
                }
            }
            out.push(b']');
        }
        ValueType::Object => {
            out.push(b'{');
            if let Some(o) = v.as_object() {
                let mut first = true;
                for (k, item) in o.iter() {
                    if drop_nulls && item.value_type() == ValueType::Null {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_json_str(out, k);
                    out.push(b':');
                    write_compact(out, item, drop_nulls);
                }
            }
            out.push(b'}');
        }
        _ => {
            if let Some(i) = v.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = v.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(f) = v.as_f64() {
                if f.is_finite() {
                    let _ = write!(out, "{f}");
                } else {
                    out.extend_from_slice(b"null");
                }
            } else {
                out.extend_from_slice(b"null");
            }
        }
    }
}

/// Like `write_compact` (nulls dropped), but written as the body of a JSON string: every
/// quote and backslash of the JSON text escaped once more.
/// With `clean`, strings are known to need no escaping (see `clean_json_text`).
pub fn write_compact_escaped(out: &mut Vec<u8>, v: Value<'_, '_>, clean: bool) {
    match v.value_type() {
        ValueType::String => {
            write_str_escaped_twice(out, v.into_string().unwrap_or_default(), clean)
        }
        ValueType::Array => {
            out.push(b'[');
            if let Some(a) = v.as_array() {
                for (i, item) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_compact_escaped(out, item, clean);
                }
            }
            out.push(b']');
        }
        ValueType::Object => {
            out.push(b'{');
            if let Some(o) = v.as_object() {
                let mut first = true;
                for (k, item) in o.iter() {
                    if item.value_type() == ValueType::Null {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_str_escaped_twice(out, k, clean);
                    out.push(b':');
                    write_compact_escaped(out, item, clean);
                }
            }
            out.push(b'}');
        }
        // Numbers, booleans and null hold no quote or backslash.
        _ => write_compact(out, v, true),
    }
}

/// `s` as a JSON string, itself escaped for the inside of a JSON string: `\"a\"` for `a`.
fn write_str_escaped_twice(out: &mut Vec<u8>, s: &str, known_clean: bool) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 4);
    out.extend_from_slice(b"\\\"");
    let clean = if known_clean {
        bytes.len()
    } else {
        super::fields::first_to_escape(bytes)
    };
    out.extend_from_slice(&bytes[..clean]);
    for &b in &bytes[clean..] {
        match b {
            // `"` is `\"` inside, `\\\"` once escaped again; `\` is `\\`, then `\\\\`.
            b'"' => out.extend_from_slice(b"\\\\\\\""),
            b'\\' => out.extend_from_slice(b"\\\\\\\\"),
            b'\n' => out.extend_from_slice(b"\\\\n"),
            b'\r' => out.extend_from_slice(b"\\\\r"),
            b'\t' => out.extend_from_slice(b"\\\\t"),
            0..=0x1f => {
                let _ = write!(out, "\\\\u{b:04x}");
            }
            _ => out.push(b),
        }
    }
    out.extend_from_slice(b"\\\"");
}

/// How a blob field came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blob {
    /// Null, empty string or empty object: nothing written.
    Absent,
    Written,
    /// Written, cut to the cap.
    Truncated,
}

/// Writes a free-form blob (`requestParameters` and the like) under `key` as one JSON string
/// holding its compact JSON text, null members dropped, cut to at most `cap` bytes (on a
/// character boundary) so no mapping explodes and no keyword limit is passed.
pub fn write_blob(
    doc: &mut DocWriter<'_>,
    key: &str,
    v: Option<Value<'_, '_>>,
    cap: usize,
    scratch: &mut Vec<u8>,
) -> Blob {
    let Some(v) = v else { return Blob::Absent };
    scratch.clear();
    if matches!(v.value_type(), ValueType::Object | ValueType::Array) {
        // One pass, in place: the JSON text written already escaped as a string body.
        // Escaping only adds bytes, so if the escaped text fits the cap the text does too;
        // otherwise it is taken back and measured below.
        let mark = doc.checkpoint();
        doc.key(key);
        doc.out.push(b'"');
        let body = doc.out.len();
        write_compact_escaped(doc.out, v, doc.clean);
        let len = doc.out.len() - body;
        if len == 2 && doc.out[body..] == *b"{}" {
            doc.rollback(mark);
            return Blob::Absent;
        }
        if len <= cap {
            doc.out.push(b'"');
            return Blob::Written;
        }
        doc.rollback(mark);
    }
    match v.value_type() {
        ValueType::Null => return Blob::Absent,
        // A string blob is kept as its text (some services log a string here).
        ValueType::String => {
            scratch.extend_from_slice(v.into_string().unwrap_or_default().as_bytes())
        }
        _ => write_compact(scratch, v, true),
    }
    if scratch.is_empty() || scratch.as_slice() == b"{}" {
        return Blob::Absent;
    }
    let (text, cut) = cap_utf8(scratch, cap);
    doc.key(key);
    if v.value_type() == ValueType::String {
        // The text came from a string: it may hold anything, so escape it fully.
        write_json_str(doc.out, std::str::from_utf8(text).unwrap_or_default());
    } else {
        write_json_text_as_string(doc.out, text);
    }
    if cut {
        Blob::Truncated
    } else {
        Blob::Written
    }
}

/// The longest prefix of `bytes` of at most `cap` bytes that ends on a UTF-8 character
/// boundary, and whether anything was cut.
pub fn cap_utf8(bytes: &[u8], cap: usize) -> (&[u8], bool) {
    if bytes.len() <= cap {
        return (bytes, false);
    }
    let mut end = cap;
    // Continuation bytes are 0b10xxxxxx: step back to the start of the character.
    while end > 0 && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    (&bytes[..end], true)
}

/// Writes JSON text (which has no raw control characters: its strings were escaped when it
/// was written) as a JSON string: only quotes and backslashes need escaping again.
pub fn write_json_text_as_string(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + text.len() / 8 + 2);
    out.push(b'"');
    let mut rest = text;
    while let Some(i) = memchr2(b'"', b'\\', rest) {
        out.extend_from_slice(&rest[..i]);
        out.push(b'\\');
        out.push(rest[i]);
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_as_rust_formats_them() {
        for n in [0, 7, -7, 10, 1_772_460_300_000, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            let mut d = DocWriter::new(&mut out);
            d.int("n", n);
            d.finish();
            assert_eq!(String::from_utf8(out).unwrap(), format!("{{\"n\":{n}}}"));
        }
    }

    fn tape_of(json: &str) -> Vec<u8> {
        json.as_bytes().to_vec()
    }

    #[test]
    fn empty_objects_vanish() {
        let mut out = Vec::new();
        let mut d = DocWriter::new(&mut out);
        d.str("a", "x");
        d.open("empty");
        d.open("deeper");
        d.close();
        d.close();
        d.open("full");
        d.int("n", 3);
        d.open_array("list");
        d.close();
        d.close();
        d.open("last_empty");
        d.close();
        d.finish();
        assert_eq!(out, br#"{"a":"x","full":{"n":3}}"#);
        let mut out = Vec::new();
        let mut d = DocWriter::new(&mut out);
        d.open("only");
        d.close();
        d.finish();
        assert_eq!(out, b"{}");
    }

    #[test]
    fn keywords_keep_one_type() {
        let mut bytes =
            tape_of(r#"{"s":"a\"b","n":12,"f":1.5,"b":true,"o":{"x":[1,"y"]},"z":null}"#);
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let v = tape.as_value();
        let mut out = Vec::new();
        let mut d = DocWriter::new(&mut out);
        for k in ["s", "n", "f", "b", "o", "z", "missing"] {
            d.keyword(k, v.get(k));
        }
        d.finish();
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"s":"a\"b","n":"12","f":"1.5","b":"true","o":"{\"x\":[1,\"y\"]}"})
        );
    }

    #[test]
    fn blobs_are_strings_without_nulls_and_capped() {
        let mut bytes = tape_of(
            r#"{"p":{"a":null,"b":{"c":null,"d":"é\n"},"l":[null,1]},"e":{},"n":null,"s":"text \"q\""}"#,
        );
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let v = tape.as_value();
        let mut scratch = Vec::new();
        let mut out = Vec::new();
        let mut d = DocWriter::new(&mut out);
        assert_eq!(
            write_blob(&mut d, "p", v.get("p"), 1000, &mut scratch),
            Blob::Written
        );
        assert_eq!(
            write_blob(&mut d, "e", v.get("e"), 1000, &mut scratch),
            Blob::Absent
        );
        assert_eq!(
            write_blob(&mut d, "n", v.get("n"), 1000, &mut scratch),
            Blob::Absent
        );
        assert_eq!(
            write_blob(&mut d, "s", v.get("s"), 1000, &mut scratch),
            Blob::Written
        );
        // Cut inside "é" (two bytes): the cut steps back to the character's start.
        assert_eq!(
            write_blob(&mut d, "cut", v.get("p"), 12, &mut scratch),
            Blob::Truncated
        );
        d.finish();
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let p: serde_json::Value = serde_json::from_str(back["p"].as_str().unwrap()).unwrap();
        assert_eq!(p, serde_json::json!({"b":{"d":"é\n"},"l":[null,1]}));
        assert_eq!(back["s"], "text \"q\"");
        assert_eq!(back["cut"], r#"{"b":{"d":""#);
        assert!(back.get("e").is_none() && back.get("n").is_none());
    }

    #[test]
    fn escaped_in_one_pass_equals_escaping_the_text() {
        let mut bytes = tape_of(
            r#"{"a":"q\"b\\c\n\t\u0001é","n":null,"l":[1,2.5,true,null,{"x":"y"}],"e":{}}"#,
        );
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let (mut text, mut twice, mut one_pass) = (Vec::new(), Vec::new(), Vec::new());
        write_compact(&mut text, tape.as_value(), true);
        write_json_text_as_string(&mut twice, &text);
        one_pass.push(b'"');
        write_compact_escaped(&mut one_pass, tape.as_value(), false);
        one_pass.push(b'"');
        assert_eq!(
            String::from_utf8_lossy(&one_pass),
            String::from_utf8_lossy(&twice)
        );
        let back: String = serde_json::from_slice(&one_pass).unwrap();
        assert_eq!(back.as_bytes(), &text[..]);
    }

    #[test]
    fn caps_on_character_boundaries() {
        let s = "aé".as_bytes();
        assert_eq!(cap_utf8(s, 2), (&s[..1], true));
        assert_eq!(cap_utf8(s, 3), (s, false));
    }
}
