//! Property: the splitter yields the same items and errors whatever the chunk boundaries, and
//! those items are exactly the records that went in.

use proptest::prelude::*;
use trailhose::decode::split::{RecordSplitter, Split, SplitLimits};

/// A JSON string body with the characters that trip naive splitters: quotes, backslashes,
/// brackets, braces and commas.
fn tricky_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\\\"".to_string()),
            Just("\\\\".to_string()),
            Just("}".to_string()),
            Just("]".to_string()),
            Just("{[".to_string()),
            Just(",".to_string()),
            Just("\\u00e9".to_string()),
            Just("é".to_string()),
            "[a-z0-9 ]{0,6}",
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        tricky_string().prop_map(|s| format!("\"{s}\"")),
        any::<i32>().prop_map(|n| n.to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("-1.5e3".to_string()),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((tricky_string(), inner), 0..4).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

fn record() -> impl Strategy<Value = String> {
    (tricky_string(), json_value()).prop_map(|(name, extra)| {
        format!(r#"{{"eventVersion":"1.08","eventName":"{name}","x":{extra}}}"#)
    })
}

/// Splits `input` streamed in chunks of `chunk` bytes, or in place when `chunk` is 0.
fn split(input: &[u8], chunk: usize) -> Vec<String> {
    let limits = SplitLimits {
        chunk_bytes: chunk.max(1),
        ..SplitLimits::default()
    };
    let mut out = Vec::new();
    let mut emit = |s: Split<'_>| match s {
        Split::Item {
            kind,
            bytes,
            offset,
            ..
        } => out.push(format!(
            "{kind:?}@{offset}:{}",
            String::from_utf8_lossy(bytes)
        )),
        Split::Error { kind, offset, .. } => out.push(format!("{kind:?}@{offset}")),
        Split::BeforeRead => {}
    };
    let mut splitter = RecordSplitter::new(limits);
    if chunk == 0 {
        // In place, as inputs read whole are split.
        splitter.split_slice(input, &mut emit);
    } else {
        // Streamed through the read buffer, `chunk` bytes at a time.
        let _ = splitter.split(input, &mut emit);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn trail_files_split_the_same_at_any_chunk_size(records in proptest::collection::vec(record(), 0..12), chunk in 1usize..97, pretty in any::<bool>()) {
        let sep = if pretty { ",\n  " } else { "," };
        let input = format!("{{\"Records\":[{}]}}", records.join(sep));
        let whole = split(input.as_bytes(), 0);
        let chunked = split(input.as_bytes(), chunk);
        prop_assert_eq!(&whole, &chunked);
        prop_assert_eq!(&whole, &split(input.as_bytes(), 1 << 20));
        let bodies: Vec<String> = whole.iter().map(|s| s.split_once(':').map(|x| x.1.to_string()).unwrap_or_default()).collect();
        prop_assert_eq!(bodies, records);
    }

    #[test]
    fn ndjson_and_truncated_streams_split_the_same(records in proptest::collection::vec(record(), 1..8), chunk in 1usize..64, cut in 0usize..400) {
        let mut input = records.join("\n").into_bytes();
        input.truncate(input.len().saturating_sub(cut));
        prop_assert_eq!(split(&input, 0), split(&input, chunk));
    }
}
