//! The numbers simd-json may misread, read again by serde_json. simd-json 0.15 has three
//! faults with numbers, each found by cargo fuzz:
//! - its path for long integers (a sign and 18 digits, or 19 digits) does not check what comes
//!   after the digits, so `-464999999999999999=9e9` parses;
//! - a float of 20 significant digits or more can take its fast path with a significand that
//!   has wrapped around 2^64 (its digit count is corrected by a byte's value rather than an
//!   index), which gives a wrong, finite value, or one beyond a 64-bit float's range, silently;
//! - so a number beyond that range (`3.3e308`) can be taken, which serde_json and most strict
//!   readers refuse.
//!
//! CloudTrail has few floats and fewer long integers, so a record holding any of them is read
//! a second time by serde_json, which is strict about syntax and range: a fault is then a
//! refused record, and the values serde_json read replace simd-json's on the tape, so the
//! normalized formats write the right numbers. Other records pay one scan of the tape.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use simd_json::tape::Tape;
use simd_json::{Node, StaticNode};

/// Positive integers from here on take simd-json's long-integer path (19 digits).
const LONG_POSITIVE: u64 = 1_000_000_000_000_000_000;
/// Negative integers from here on take it too (the sign counts as a digit there: 18 digits).
const LONG_NEGATIVE: u64 = 100_000_000_000_000_000;

/// Whether a parsed value holds a number simd-json may have misread: any float, or an integer
/// on its long-integer path.
fn has_suspect_number(tape: &Tape<'_>) -> bool {
    tape.0.iter().any(|n| match n {
        Node::Static(StaticNode::F64(_)) => true,
        Node::Static(StaticNode::U64(u)) => *u >= LONG_POSITIVE,
        Node::Static(StaticNode::I64(i)) => i.unsigned_abs() >= LONG_NEGATIVE,
        _ => false,
    })
}

/// When `tape` (which simd-json made from `bytes`) holds a number simd-json may have misread,
/// reads `bytes` strictly with serde_json and puts the numbers it read, in document order, in
/// place of those on the tape; other tapes are left as they are. An error says why the bytes
/// are not JSON (a malformed number, one out of range) in serde_json's words.
pub fn reread_numbers(
    bytes: &[u8],
    tape: &mut Tape<'_>,
    numbers: &mut Vec<StaticNode>,
) -> Result<(), String> {
    const DISAGREE: &str = "simd-json and serde_json disagree on its numbers";
    if !has_suspect_number(tape) {
        return Ok(());
    }
    numbers.clear();
    read_strictly(bytes, Some(numbers)).map_err(|e| e.to_string())?;
    let mut read = numbers.iter();
    for node in tape.0.iter_mut() {
        if let Node::Static(n @ (StaticNode::U64(_) | StaticNode::I64(_) | StaticNode::F64(_))) =
            node
        {
            *n = *read.next().ok_or(DISAGREE)?;
        }
    }
    match read.next() {
        None => Ok(()),
        Some(_) => Err(DISAGREE.into()),
    }
}

/// Reads `bytes` as one JSON value with serde_json, which checks every number's syntax and
/// range, collecting the numbers in `numbers` if given. Memory: the nesting depth (serde_json
/// stops at 128), plus the numbers when collected.
pub fn read_strictly(
    bytes: &[u8],
    numbers: Option<&mut Vec<StaticNode>>,
) -> Result<(), serde_json::Error> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    NumbersIn(numbers).deserialize(&mut reader)?;
    reader.end()
}

/// Collects every number of a JSON value, in document order, when it has somewhere to put
/// them, keeping nothing else.
struct NumbersIn<'a>(Option<&'a mut Vec<StaticNode>>);

impl NumbersIn<'_> {
    fn push(self, n: StaticNode) {
        if let Some(numbers) = self.0 {
            numbers.push(n);
        }
    }
    fn reborrow(&mut self) -> NumbersIn<'_> {
        NumbersIn(self.0.as_deref_mut())
    }
}

impl<'de> DeserializeSeed<'de> for NumbersIn<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumbersIn<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.push(StaticNode::U64(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        // serde_json gives non-negative integers as u64; simd-json too, so a negative one here.
        self.push(StaticNode::I64(v));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.push(StaticNode::F64(v));
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self.reborrow())?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(self.reborrow())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers_of(json: &str) -> Result<Vec<StaticNode>, String> {
        let mut copy = json.as_bytes().to_vec();
        let mut tape = simd_json::to_tape(&mut copy).map_err(|e| e.to_string())?;
        let mut numbers = Vec::new();
        reread_numbers(json.as_bytes(), &mut tape, &mut numbers)?;
        Ok(tape
            .0
            .iter()
            .filter_map(|n| match n {
                Node::Static(
                    s @ (StaticNode::U64(_) | StaticNode::I64(_) | StaticNode::F64(_)),
                ) => Some(*s),
                _ => None,
            })
            .collect())
    }

    #[test]
    fn the_tape_gets_serde_json_values_in_document_order() {
        let got = numbers_of(
            r#"{"a":[1,-2,{"b":2.5}],"c":18446744073709551615,"d":-9223372036854775808}"#,
        )
        .expect("JSON");
        assert_eq!(
            got,
            vec![
                StaticNode::U64(1),
                StaticNode::I64(-2),
                StaticNode::F64(2.5),
                StaticNode::U64(u64::MAX),
                StaticNode::I64(i64::MIN),
            ]
        );
    }

    /// simd-json's fast path misreads a float of 20 significant digits or more when its first
    /// digit's byte offset, less that digit's byte value (`3` is 51), lies between the digit
    /// count less 18 and the digit count (here 40 digits at offset 80): the significand wraps.
    /// The re-read gives the right value.
    #[test]
    fn a_long_float_simd_json_misreads_is_set_right() {
        let digits = format!("{}e0", "3".repeat(40));
        let pad = "p".repeat(80 - 4);
        let json = format!(r#"{{"{pad}":{digits}}}"#);
        assert_eq!(json.find(&digits), Some(80));
        let mut copy = json.clone().into_bytes();
        let simd = simd_json::to_tape(&mut copy)
            .expect("simd-json takes it")
            .0
            .iter()
            .find_map(|n| match n {
                Node::Static(StaticNode::F64(f)) => Some(*f),
                _ => None,
            });
        let right: f64 = digits.parse().expect("a float");
        assert_ne!(
            simd,
            Some(right),
            "simd-json reads it right now: this test no longer shows the fault"
        );
        // Bit for bit: StaticNode's own equality lets floats differ in the last places.
        match numbers_of(&json).as_deref() {
            Ok([StaticNode::F64(read)]) => assert_eq!(read.to_bits(), right.to_bits(), "{read}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_beyond_a_float_s_range_or_malformed_are_errors() {
        for bad in ["[1e309]", "[-4649999999999999999=9]", "[1.5e400]"] {
            let e = read_strictly(bad.as_bytes(), None).unwrap_err().to_string();
            assert!(e.contains("line 1 column"), "{bad}: {e}");
        }
        // simd-json takes the malformed one; the re-read of its tape refuses it.
        let junk = "[-4649999999999999999=9]";
        let mut copy = junk.as_bytes().to_vec();
        let mut tape = simd_json::to_tape(&mut copy).expect("simd-json takes it");
        let e = reread_numbers(junk.as_bytes(), &mut tape, &mut Vec::new()).unwrap_err();
        assert!(e.contains("line 1 column"), "{junk}: {e}");
    }

    #[test]
    fn only_floats_and_long_integers_are_suspect() {
        let suspect = |json: &str| {
            let mut copy = json.as_bytes().to_vec();
            has_suspect_number(&simd_json::to_tape(&mut copy).expect("JSON"))
        };
        assert!(!suspect(
            r#"{"n":999999999999999999,"m":-99999999999999999,"s":"1.5"}"#
        ));
        assert!(suspect("[1000000000000000000]"));
        assert!(suspect("[-100000000000000000]"));
        assert!(suspect("[0.5]"));
        assert!(suspect("[1e2]"));
    }
}
