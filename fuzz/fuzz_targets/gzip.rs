//! Gzip handling: any bytes given to the decompressor, the damage check and the ratio guard
//! end in bytes or an error, never a panic or a hang; a stream the guard lets through never
//! expands past its ratio after the grace.
#![no_main]

use std::io::Read;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use trailhose::decode::gzip::{corrupt_member, decompress, CountingReader, RatioGuard};

fuzz_target!(|data: &[u8]| {
    let _ = corrupt_member(data, 1 << 20);
    let (counting, compressed) = CountingReader::new(data);
    let Ok(d) = decompress(counting) else { return };
    let mut guard = RatioGuard {
        inner: d.reader,
        compressed: compressed.clone(),
        produced: 0,
        ratio: 10,
        grace: 4096,
    };
    let mut buf = vec![0u8; 8192];
    let mut total = 0u64;
    loop {
        match guard.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n as u64,
        }
        let c = compressed.load(std::sync::atomic::Ordering::Relaxed).max(1);
        assert!(total <= 4096 || total <= c * 10, "{total} from {c}");
        if total > 1 << 24 {
            break;
        }
    }
    let _ = Arc::new(AtomicU64::new(total));
});
