//! Decompression: detects gzip by its magic bytes and inflates every member of the stream
//! (zlib-rs through flate2), counting the compressed bytes consumed. Owns no parsing.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

/// Counts the bytes read through it; the count is shared so it can be read while the reader
/// is owned by a decoder.
pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> CountingReader<R> {
    pub fn new(inner: R) -> (Self, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        (
            CountingReader {
                inner,
                count: count.clone(),
            },
            count,
        )
    }

    /// Counts into an existing counter.
    pub fn with_count(inner: R, count: Arc<AtomicU64>) -> Self {
        CountingReader { inner, count }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Stops a gzip stream that expands past `ratio` decompressed bytes per compressed byte once
/// it has produced `grace` bytes: a decompression bomb (deflate reaches about 1000 to 1) would
/// otherwise keep a worker inflating zeros for minutes.
pub struct RatioGuard<R> {
    pub inner: R,
    /// Compressed bytes read so far (shared with the `CountingReader` below the inflater).
    pub compressed: Arc<AtomicU64>,
    pub produced: u64,
    pub ratio: u64,
    pub grace: u64,
}

/// The error a `RatioGuard` stops with (found again by `is_ratio_exceeded`).
#[derive(Debug)]
pub struct RatioExceeded {
    pub produced: u64,
    pub compressed: u64,
    pub ratio: u64,
}

impl std::fmt::Display for RatioExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes inflated from {} compressed bytes, over pipeline.max_inflate_ratio = {} (a decompression bomb?)",
            self.produced, self.compressed, self.ratio
        )
    }
}

impl std::error::Error for RatioExceeded {}

/// Whether `e` is a `RatioGuard`'s stop.
pub fn is_ratio_exceeded(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<RatioExceeded>().is_some())
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        if self.ratio > 0 && self.produced > self.grace {
            let compressed = self.compressed.load(Ordering::Relaxed).max(1);
            if self.produced > compressed.saturating_mul(self.ratio) {
                return Err(io::Error::other(RatioExceeded {
                    produced: self.produced,
                    compressed,
                    ratio: self.ratio,
                }));
            }
        }
        Ok(n)
    }
}

/// Why a gzip stream's first member is damaged (an invalid block, a CRC or size mismatch), or
/// `None` when it is whole, only cut short, or larger than `max` once inflated (then the
/// streaming decoder judges it).
pub fn corrupt_member(data: &[u8], max: usize) -> Option<String> {
    let mut member = flate2::read::GzDecoder::new(data).take(max as u64 + 1);
    match io::copy(&mut member, &mut io::sink()) {
        Ok(_) => None,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
        Err(e) => Some(e.to_string()),
    }
}

/// A decompressed view of an input.
pub struct Decompressed<'r> {
    pub reader: Box<dyn Read + 'r>,
    pub gzip: bool,
}

/// Buffer between the input and the inflater: large reads amortize syscalls.
const INPUT_BUFFER: usize = 128 * 1024;

/// Wraps `input` in a gzip decoder when it starts with the gzip magic bytes (`1f 8b`).
pub fn decompress<'r, R: Read + 'r>(input: R) -> io::Result<Decompressed<'r>> {
    let mut buffered = BufReader::with_capacity(INPUT_BUFFER, input);
    let gzip = loop {
        match buffered.fill_buf() {
            Ok(head) => break head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    let reader: Box<dyn Read + 'r> = if gzip {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    Ok(Decompressed { reader, gzip })
}

/// The decompressed size of a gzip stream that holds exactly one member, from its trailer
/// (ISIZE, the size mod 2^32); `None` when it is not gzip. A wrong answer (a damaged trailer,
/// or several members whose last one's size is not the first one's) only makes the one-piece
/// inflate fail and the stream path take over; see `ends_after_one_member` for the one case
/// where the one-piece inflate succeeds on a multi-member stream.
pub fn single_member_size(data: &[u8]) -> Option<usize> {
    if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b {
        return None;
    }
    let tail: [u8; 4] = data[data.len() - 4..].try_into().ok()?;
    Some(u32::from_le_bytes(tail) as usize)
}

/// Whether a gzip stream whose first member inflated to `size` bytes can be only that member.
///
/// A whole-buffer inflater (libdeflate) stops after the first member and ignores what follows,
/// and the only size it can be given is the last member's trailer: so when the last member
/// has the first one's size (a file joined to itself, equal halves), the first member
/// inflates "successfully" and the rest would be lost silently. The first member's trailer
/// ends with its size (ISIZE, little-endian) right where the member ends; in a single-member
/// stream that is the last 4 bytes. If those 4 bytes occur anywhere earlier, another member may
/// follow, and the caller must take the streaming path, which reads every member. A false
/// alarm (the 4 bytes occurring by chance in compressed data, about one file in 1,000 at 4 MB)
/// costs only a slower inflate. Cost: one `memmem` pass over the compressed bytes, about a
/// tenth of the inflated size.
pub fn ends_after_one_member(data: &[u8], size: usize) -> bool {
    let isize_bytes = (size as u32).to_le_bytes();
    match data.len().checked_sub(4) {
        Some(last) => memchr::memmem::find(&data[..last + 3], &isize_bytes).is_none(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_every_member_and_passes_plain_through() {
        let mut two = gz(b"hello ");
        two.extend(gz(b"world"));
        let mut out = String::new();
        decompress(&two[..])
            .unwrap()
            .reader
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello world");
        let d = decompress(&b"plain"[..]).unwrap();
        assert!(!d.gzip);
    }

    #[test]
    fn truncated_gzip_is_an_unexpected_eof() {
        let data = gz(&vec![b'x'; 100_000]);
        let cut = &data[..data.len() / 2];
        let mut out = Vec::new();
        let err = decompress(cut)
            .unwrap()
            .reader
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
