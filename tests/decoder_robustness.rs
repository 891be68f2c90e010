//! Robustness: whatever bytes arrive, the decoder neither panics nor emits anything but valid
//! CloudTrail records, and every byte is accounted for as a record, an error or a skip.

use std::sync::Arc;

use proptest::prelude::*;
use trailhose::decode::split::SplitLimits;
use trailhose::decode::{BlobDecoder, DecodeError, Record, RecordOutput, Skipped};

#[derive(Default)]
struct Checked {
    records: usize,
    errors: usize,
}

impl RecordOutput for Checked {
    fn record(&mut self, r: Record<'_>) {
        let v: serde_json::Value =
            serde_json::from_slice(r.bytes).expect("an emitted record is JSON");
        for key in ["eventVersion", "eventSource", "eventName"] {
            assert!(v.get(key).is_some(), "an emitted record lacks {key}: {v}");
        }
        self.records += 1;
    }
    fn error(&mut self, _: DecodeError, _: &[u8], _: bool) {
        self.errors += 1;
    }
    fn skipped(&mut self, _: Skipped) {}
}

const RECORD: &str = r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","requestParameters":{"bucketName":"b","key":"a\"b\\c}]"},"resources":[{"ARN":"arn:aws:s3:::b"}]}"#;

fn decode(bytes: &[u8], chunk: usize) -> Checked {
    let limits = SplitLimits {
        chunk_bytes: chunk,
        max_record_bytes: 4096,
        max_depth: 16,
        ..SplitLimits::default()
    };
    let mut out = Checked::default();
    let origin: Arc<str> = Arc::from("prop");
    BlobDecoder::new(limits).decode(&origin, bytes, &mut out);
    out
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..300) {
        let out = decode(&bytes, chunk);
        // Random bytes cannot hold a record: nothing may come out of them.
        if !bytes.windows(9).any(|w| w == b"eventName") {
            prop_assert_eq!(out.records, 0);
        }
    }

    #[test]
    fn damaged_trail_files_keep_their_good_records(
        n in 1usize..20,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in 0usize..64,
        gzip in any::<bool>(),
        chunk in 1usize..200,
    ) {
        let body = format!("{{\"Records\":[{}]}}", vec![RECORD; n].join(","));
        let mut bytes = if gzip { gz(body.as_bytes()) } else { body.into_bytes() };
        for (at, b) in &flips {
            let i = at.index(bytes.len());
            bytes[i] = *b;
        }
        let len = bytes.len().saturating_sub(cut);
        bytes.truncate(len);
        let out = decode(&bytes, chunk);
        // Damage can cost records but never invents them; an undamaged file loses none.
        prop_assert!(out.records <= n);
        if flips.is_empty() && cut == 0 {
            prop_assert_eq!(out.records, n);
            prop_assert_eq!(out.errors, 0);
        } else if out.records < n {
            prop_assert!(out.errors > 0, "records were lost without an error");
        }
    }
}
