//! The record splitter: splitting in place and streaming in small chunks give the same items
//! and errors at the same offsets, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailhose::decode::split::{RecordSplitter, Split, SplitLimits};

fn items(data: &[u8], chunk: Option<usize>) -> Vec<String> {
    let limits = SplitLimits {
        chunk_bytes: chunk.unwrap_or(4096),
        max_record_bytes: 4096,
        max_depth: 32,
        ..SplitLimits::default()
    };
    let mut splitter = RecordSplitter::new(limits);
    let mut out = Vec::new();
    let mut emit = |s: Split<'_>| match s {
        Split::Item { bytes, offset, .. } => {
            out.push(format!("item {offset} {}", String::from_utf8_lossy(bytes)))
        }
        Split::Error { kind, offset, .. } => out.push(format!("error {kind:?} {offset}")),
        Split::BeforeRead => {}
    };
    match chunk {
        None => splitter.split_slice(data, &mut emit),
        Some(_) => {
            let _ = splitter.split(data, &mut emit);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = items(data, None);
    for chunk in [1, 7, 64] {
        assert_eq!(whole, items(data, Some(chunk)), "chunk {chunk}");
    }
});
