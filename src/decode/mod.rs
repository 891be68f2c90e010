//! Decode: one input's bytes to CloudTrail records. gunzip, envelope detection, record
//! splitting and parsing, all on the calling worker thread (a Blob stays on one worker).
//! Owns no output format and no I/O beyond reading the input it is given.

pub mod envelope;
pub mod error;
pub mod gzip;
pub mod numbers;
pub mod parse;
pub mod split;
pub mod utf16;

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine;
use simd_json::tape::Value;

use self::envelope::Envelope;
pub use self::error::{DecodeError, ErrorKind};
use self::parse::{ParseError, RecordParser};
use self::split::{ItemKind, RecordSplitter, Split, SplitErrorKind, SplitLimits};

/// Where decoded records and errors go.
pub trait RecordOutput {
    /// One CloudTrail record, already checked.
    fn record(&mut self, record: Record<'_>);
    /// Bad input: the error, and the offending bytes (`raw_truncated`: only their start).
    fn error(&mut self, error: DecodeError, raw: &[u8], raw_truncated: bool);
    /// A value that holds no events by design.
    fn skipped(&mut self, what: Skipped);
    /// How far into the input decoding is (compressed and decompressed bytes read so far),
    /// told before each item so long inputs report progress as they go.
    fn position(&mut self, _compressed: u64, _decompressed: u64) {}
    /// More input is about to be read, which may block (a live stream): hand on what is ready.
    fn before_read(&mut self) {}
    /// A top-level item of a streamed input, offered before it is parsed: an output that
    /// takes it (returns true) has it decoded elsewhere, with `BlobDecoder::decode_items`
    /// (the pipelined decode of one stream on several workers).
    fn forward(&mut self, _item: &ForwardedItem<'_>) -> bool {
        false
    }
}

/// A top-level item of a stream, as split (see `RecordOutput::forward`).
pub struct ForwardedItem<'a> {
    pub kind: ItemKind,
    pub bytes: &'a [u8],
    /// Offset of its first byte in the decompressed stream.
    pub offset: u64,
    pub has_whitespace: bool,
}

/// Where one item lies in a chunk of forwarded items (see `BlobDecoder::decode_items`).
#[derive(Debug, Clone, Copy)]
pub struct ChunkItem {
    pub kind: ItemKind,
    /// Its bytes' range in the chunk.
    pub start: usize,
    pub end: usize,
    /// Offset of its first byte in the decompressed stream.
    pub offset: u64,
    pub has_whitespace: bool,
}

/// A decoded CloudTrail record as the decoder hands it on.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    /// The record's JSON text, byte for byte.
    pub bytes: &'a [u8],
    /// Whitespace occurs outside strings (pretty-printed input): the output must drop it.
    pub has_whitespace: bool,
    /// The record parsed (simd-json's tape), so later stages read fields without parsing
    /// again; `None` for records over `parse::TAPE_MAX_BYTES`, checked without a tape.
    pub parsed: Option<Value<'a, 'a>>,
}

/// Values skipped on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    Digest,
    CloudWatchControl,
}

/// What decoding one input counted.
#[derive(Debug, Default, Clone, Copy)]
pub struct DecodeStats {
    pub compressed_bytes: u64,
    pub decompressed_bytes: u64,
    pub records: u64,
    pub errors: u64,
    pub skipped: u64,
}

/// How deep envelopes may nest (a CloudWatch payload inside an awslogs wrapper inside an array).
const MAX_ENVELOPE_NESTING: u32 = 4;

/// Decodes whole inputs; one per worker, reused so its buffers are allocated once.
pub struct BlobDecoder {
    limits: SplitLimits,
    splitter: RecordSplitter,
    parser: RecordParser,
    inflater: libdeflater::Decompressor,
    /// libdeflate's output, reused between inputs.
    inflated: Vec<u8>,
}

/// The largest decompressed size inflated in one piece (more is streamed), which bounds the
/// extra memory a worker holds for it.
pub const WHOLE_INFLATE_MAX_BYTES: usize = 16 * 1024 * 1024;

impl BlobDecoder {
    pub fn new(limits: SplitLimits) -> Self {
        BlobDecoder {
            limits,
            splitter: RecordSplitter::new(limits),
            parser: RecordParser::new(),
            inflater: libdeflater::Decompressor::new(),
            inflated: Vec::new(),
        }
    }

    /// Decodes an input already in memory (a trail file read whole). A single-member gzip file
    /// whose size is within `WHOLE_INFLATE_MAX_BYTES` is inflated in one call by libdeflate,
    /// the fastest inflater (about 1.5x zlib-rs here); anything else, and any failure, goes the
    /// streaming way, which also reports damage precisely.
    pub fn decode_bytes(
        &mut self,
        origin: &Arc<str>,
        input: &[u8],
        out: &mut dyn RecordOutput,
    ) -> DecodeStats {
        if let Some(size) = gzip::single_member_size(input) {
            if size <= WHOLE_INFLATE_MAX_BYTES {
                // Grow only: zero-filling the buffer for every file would cost a pass over it.
                if self.inflated.len() < size {
                    self.inflated.resize(size, 0);
                }
                let inflated = self
                    .inflater
                    .gzip_decompress(input, &mut self.inflated[..size]);
                if inflated == Ok(size)
                    && gzip::ends_after_one_member(input, size)
                    && gzip::single_member_size(&self.inflated[..size]).is_none()
                    // UTF-16 text is re-encoded on the streaming path.
                    && utf16::utf16_mark(&self.inflated[..size]).is_none()
                {
                    let plain = std::mem::take(&mut self.inflated);
                    let stats = self.decode_plain(origin, &plain[..size], input.len() as u64, out);
                    self.inflated = plain;
                    return stats;
                }
                if inflated.is_err() {
                    if let Some(why) = gzip::corrupt_member(input, WHOLE_INFLATE_MAX_BYTES) {
                        return self.corrupt_input(origin, input, &why, out);
                    }
                }
            }
        }
        let gzip = input.len() >= 2 && input[0] == 0x1f && input[1] == 0x8b;
        if !gzip && utf16::utf16_mark(input).is_none() {
            // Plain text already in memory (a Kafka message, a small NDJSON file) is split in
            // place: the streaming path would zero and fill a `chunk_bytes` read buffer twice
            // per input, which for one-record messages cost more than decoding them (measured:
            // half of a topic-to-topic run's CPU in memset).
            return self.decode_plain(origin, input, input.len() as u64, out);
        }
        self.decode(origin, input, out)
    }

    /// A small gzip input whose member fails its checks (a CRC mismatch, an invalid block):
    /// the bytes inflated from it are not the file's, and records parsed from them could be
    /// altered copies, so none is emitted; the input goes to the dead-letter output whole, as
    /// stored. (A stream merely cut short is decoded up to the cut: those bytes are intact.)
    fn corrupt_input(
        &mut self,
        origin: &Arc<str>,
        input: &[u8],
        why: &str,
        out: &mut dyn RecordOutput,
    ) -> DecodeStats {
        let mut ctx = ValueHandler::new(origin, &mut self.parser, self.limits, out, None);
        let cap = input.len().min(self.limits.max_record_bytes);
        let detail = format!(
            "gzip stream is corrupt ({why}); no record of it is trusted: the file as stored is in the dead-letter output"
        );
        ctx.error(
            0,
            ErrorKind::GzipCorrupt,
            detail,
            &input[..cap],
            cap < input.len(),
        );
        ctx.stats.compressed_bytes = input.len() as u64;
        ctx.stats
    }

    /// Decodes decompressed bytes in place (no copy into the read buffer).
    fn decode_plain(
        &mut self,
        origin: &Arc<str>,
        plain: &[u8],
        compressed_bytes: u64,
        out: &mut dyn RecordOutput,
    ) -> DecodeStats {
        out.position(compressed_bytes, plain.len() as u64);
        let mut ctx = ValueHandler::new(origin, &mut self.parser, self.limits, out, None);
        self.splitter
            .split_slice(plain, &mut |split| ctx.split(split, 0));
        ctx.trail_files = self.splitter.trail_files();
        ctx.ended(plain.len() as u64, compressed_bytes);
        ctx.stats.compressed_bytes = compressed_bytes;
        ctx.stats
    }

    /// Decodes items split from a stream elsewhere (a chunk of forwarded items, see
    /// `RecordOutput::forward`), exactly as the stream's own decode would have: records,
    /// envelopes and errors, with the stream's offsets.
    pub fn decode_items(
        &mut self,
        origin: &Arc<str>,
        bytes: &[u8],
        items: &[ChunkItem],
        out: &mut dyn RecordOutput,
    ) -> DecodeStats {
        let mut ctx = ValueHandler::new(origin, &mut self.parser, self.limits, out, None);
        for item in items {
            let split = Split::Item {
                kind: item.kind,
                bytes: &bytes[item.start..item.end],
                offset: item.offset,
                has_whitespace: item.has_whitespace,
            };
            ctx.split(split, 0);
        }
        ctx.stats
    }

    /// Decodes `input` (gzip or not) to the end, sending every record and every error to
    /// `out`. Never fails: bad input becomes errors and decoding goes on where it can.
    pub fn decode(
        &mut self,
        origin: &Arc<str>,
        input: impl Read,
        out: &mut dyn RecordOutput,
    ) -> DecodeStats {
        let (counting, compressed) = gzip::CountingReader::new(input);
        let (decompressed_bytes, reading) = (Arc::new(AtomicU64::new(0)), compressed.clone());
        let position = Some((reading, decompressed_bytes.clone()));
        let mut ctx = ValueHandler::new(origin, &mut self.parser, self.limits, out, position);
        let decompressed = match gzip::decompress(counting) {
            Ok(d) => d,
            Err(e) => {
                ctx.error(0, ErrorKind::Io, format!("cannot read: {e}"), &[], false);
                return ctx.stats;
            }
        };
        let gzip = decompressed.gzip;
        let inflated: Box<dyn Read + '_> = if gzip && self.limits.max_inflate_ratio > 0 {
            Box::new(gzip::RatioGuard {
                inner: decompressed.reader,
                compressed: compressed.clone(),
                produced: 0,
                ratio: self.limits.max_inflate_ratio,
                grace: split::INFLATE_RATIO_GRACE_BYTES,
            })
        } else {
            decompressed.reader
        };
        let text = match utf16::transcode_utf16(inflated) {
            Ok(t) => t,
            Err(e) => {
                let (kind, what) = read_failure(gzip, &e);
                ctx.error(0, kind, format!("{what} ({e}) at the start"), &[], false);
                ctx.stats.compressed_bytes = compressed.load(Ordering::Relaxed);
                return ctx.stats;
            }
        };
        let reader = gzip::CountingReader::with_count(text, decompressed_bytes);
        let result = self
            .splitter
            .split(reader, &mut |split| ctx.split(split, 0));
        let compressed_bytes = compressed.load(Ordering::Relaxed);
        ctx.trail_files = self.splitter.trail_files();
        match result {
            Ok(total) => ctx.ended(total, compressed_bytes),
            Err(failure) => {
                ctx.stats.decompressed_bytes = failure.offset;
                let (kind, what) = read_failure(gzip, &failure.error);
                let detail = format!(
                    "{what} ({}) after {compressed_bytes} compressed bytes; records before this point were kept",
                    failure.error
                );
                let (offset, raw) = ctx
                    .interrupted
                    .take()
                    .unwrap_or((failure.offset, Vec::new()));
                ctx.error(offset, kind, detail, &raw, false);
            }
        }
        ctx.stats.compressed_bytes = compressed_bytes;
        ctx.stats
    }
}

/// What a failed read of an input means: a damaged gzip stream, or an I/O failure.
fn read_failure(gzip: bool, e: &io::Error) -> (ErrorKind, &'static str) {
    match e.kind() {
        _ if gzip::is_ratio_exceeded(e) => (ErrorKind::InflateRatio, "decompression stopped"),
        _ if !gzip => (ErrorKind::Io, "read failed"),
        io::ErrorKind::UnexpectedEof => (ErrorKind::GzipTruncated, "gzip stream ends early"),
        _ => (ErrorKind::GzipCorrupt, "gzip stream is corrupt"),
    }
}

/// Turns split items into records and errors, recursing into nested envelopes.
struct ValueHandler<'a> {
    origin: &'a Arc<str>,
    parser: &'a mut RecordParser,
    limits: SplitLimits,
    out: &'a mut dyn RecordOutput,
    stats: DecodeStats,
    /// The item cut short by a read failure, reported with the failure's kind.
    interrupted: Option<(u64, Vec<u8>)>,
    /// Trail files the splitter opened (see `RecordSplitter::trail_files`).
    trail_files: u64,
    /// Compressed and decompressed bytes read so far, for `RecordOutput::position`.
    position: Option<(Arc<AtomicU64>, Arc<AtomicU64>)>,
    /// Items the output took to decode elsewhere (see `RecordOutput::forward`).
    forwarded: u64,
}

impl<'a> ValueHandler<'a> {
    fn new(
        origin: &'a Arc<str>,
        parser: &'a mut RecordParser,
        limits: SplitLimits,
        out: &'a mut dyn RecordOutput,
        position: Option<(Arc<AtomicU64>, Arc<AtomicU64>)>,
    ) -> Self {
        ValueHandler {
            origin,
            parser,
            limits,
            out,
            stats: DecodeStats::default(),
            interrupted: None,
            trail_files: 0,
            position,
            forwarded: 0,
        }
    }

    /// The input ended cleanly after `total` decompressed bytes: report a value it cut short,
    /// or that it held nothing at all.
    fn ended(&mut self, total: u64, compressed_bytes: u64) {
        self.stats.decompressed_bytes = total;
        if let Some((offset, raw)) = self.interrupted.take() {
            let detail = "the input ends inside a JSON value".to_string();
            self.error(offset, ErrorKind::Truncated, detail, &raw, false);
        }
        // A trail file with an empty `Records` array is an empty log, not an error.
        if self.stats.records == 0
            && self.forwarded == 0
            && self.stats.errors == 0
            && self.stats.skipped == 0
            && self.trail_files == 0
        {
            let detail = if compressed_bytes == 0 {
                "the input is empty".to_string()
            } else {
                format!("no JSON value in {total} decompressed bytes")
            };
            self.error(0, ErrorKind::Empty, detail, &[], false);
        }
    }

    fn error(
        &mut self,
        offset: u64,
        kind: ErrorKind,
        detail: String,
        raw: &[u8],
        raw_truncated: bool,
    ) {
        self.stats.errors += 1;
        let error = DecodeError {
            origin: self.origin.clone(),
            offset,
            kind,
            detail,
        };
        self.out.error(error, raw, raw_truncated);
    }

    fn parse_failed(&mut self, offset: u64, e: ParseError, raw: &[u8]) {
        self.error(offset, e.kind, e.detail, raw, false);
    }

    fn split(&mut self, split: Split<'_>, nesting: u32) {
        if let (Some((c, d)), 0) = (&self.position, nesting) {
            self.out
                .position(c.load(Ordering::Relaxed), d.load(Ordering::Relaxed));
        }
        if let (
            Split::Item {
                kind,
                bytes,
                offset,
                has_whitespace,
            },
            0,
        ) = (&split, nesting)
        {
            let item = ForwardedItem {
                kind: *kind,
                bytes,
                offset: *offset,
                has_whitespace: *has_whitespace,
            };
            if self.out.forward(&item) {
                self.forwarded += 1;
                return;
            }
        }
        match split {
            Split::Item {
                kind: ItemKind::Record,
                bytes,
                offset,
                has_whitespace,
            } => self.record(bytes, offset, has_whitespace),
            Split::Item {
                kind: ItemKind::Value,
                bytes,
                offset,
                has_whitespace,
            } => self.value(bytes, offset, has_whitespace, nesting),
            Split::BeforeRead => {
                if nesting == 0 {
                    self.out.before_read();
                }
            }
            Split::Error {
                kind: SplitErrorKind::Truncated,
                offset,
                raw,
                ..
            } if nesting == 0 => {
                // Reported once the caller knows whether the stream failed or just ended.
                self.interrupted = Some((offset, raw.to_vec()));
            }
            Split::Error {
                kind,
                offset,
                raw,
                raw_truncated,
            } => {
                let (kind, detail) = match kind {
                    SplitErrorKind::TooDeep => (
                        ErrorKind::TooDeep,
                        format!(
                            "nesting deeper than {} levels; raise [pipeline] max_depth if this is real data",
                            self.limits.max_depth
                        ),
                    ),
                    SplitErrorKind::TooLarge => (
                        ErrorKind::TooLarge,
                        format!(
                            "a record larger than {} bytes; raise [pipeline] max_record_bytes (--max-record-bytes) if this is real data",
                            self.limits.max_record_bytes
                        ),
                    ),
                    SplitErrorKind::Truncated => (ErrorKind::Truncated, "the input ends inside a JSON value".into()),
                    SplitErrorKind::NotJson => (ErrorKind::NotJson, "bytes that are not JSON".into()),
                };
                self.error(offset, kind, detail, raw, raw_truncated);
            }
        }
    }

    fn record(&mut self, bytes: &[u8], offset: u64, has_whitespace: bool) {
        let checked = if bytes.len() > parse::TAPE_MAX_BYTES {
            self.parser
                .check_record(bytes)
                .map(|()| self.emit(bytes, has_whitespace, None))
        } else {
            let (out, stats) = (&mut *self.out, &mut self.stats);
            self.parser
                .with_value(bytes, |v, raw| {
                    parse::check_cloudtrail(&v).map(|()| {
                        stats.records += 1;
                        out.record(Record {
                            bytes: raw,
                            has_whitespace,
                            parsed: Some(v),
                        });
                    })
                })
                .and_then(|checked| checked)
        };
        if let Err(e) = checked {
            self.parse_failed(offset, e, bytes);
        }
    }

    /// Hands on a record.
    fn emit(&mut self, bytes: &[u8], has_whitespace: bool, parsed: Option<Value<'_, '_>>) {
        // A record checked without a tape was not rewritten by the parser (see `with_value`).
        if parsed.is_none() {
            if let Some(fixed) = parse::without_lone_surrogates(bytes) {
                self.stats.records += 1;
                return self.out.record(Record {
                    bytes: &fixed,
                    has_whitespace,
                    parsed,
                });
            }
        }
        self.stats.records += 1;
        self.out.record(Record {
            bytes,
            has_whitespace,
            parsed,
        });
    }

    fn value(&mut self, bytes: &[u8], offset: u64, has_whitespace: bool, nesting: u32) {
        // A large value is most likely a record: check it without a tape first (see parse).
        if bytes.len() > parse::TAPE_MAX_BYTES && self.parser.check_record(bytes).is_ok() {
            return self.emit(bytes, has_whitespace, None);
        }
        // A record is handed on while its tape is at hand; envelopes are taken apart below.
        let (out, stats) = (&mut *self.out, &mut self.stats);
        let classified = self.parser.with_value(bytes, |v, raw| {
            let envelope = envelope::classify(&v);
            if let Ok(Envelope::Record) = envelope {
                stats.records += 1;
                out.record(Record {
                    bytes: raw,
                    has_whitespace,
                    parsed: Some(v),
                });
            }
            envelope
        });
        let envelope = match classified {
            Ok(Ok(envelope)) => envelope,
            Ok(Err(e)) | Err(e) => return self.parse_failed(offset, e, bytes),
        };
        if nesting >= MAX_ENVELOPE_NESTING && !matches!(envelope, Envelope::Record) {
            let detail = format!("envelopes nested more than {MAX_ENVELOPE_NESTING} deep");
            return self.error(offset, ErrorKind::NotCloudTrail, detail, bytes, false);
        }
        match envelope {
            // Handed on above, with its tape.
            Envelope::Record => {}
            Envelope::TrailFile => self.nested(bytes, offset, nesting),
            Envelope::EventBridge => match envelope::member_bytes(bytes, "detail") {
                Some(detail) => self.record(detail, offset, has_whitespace),
                None => self.error(
                    offset,
                    ErrorKind::NotCloudTrail,
                    "EventBridge event whose detail could not be located (escaped key?)".into(),
                    bytes,
                    false,
                ),
            },
            Envelope::CloudWatchLogs { messages } => {
                for message in messages {
                    // A message is the record's JSON text, as CloudTrail wrote it.
                    self.nested(message.as_bytes(), offset, nesting);
                }
            }
            Envelope::LookupEvent { record } => self.nested(record.as_bytes(), offset, nesting),
            Envelope::AwsLogs { data } => self.aws_logs(&data, offset, nesting),
            Envelope::CloudWatchControl => {
                self.stats.skipped += 1;
                self.out.skipped(Skipped::CloudWatchControl);
            }
            Envelope::Digest => {
                self.stats.skipped += 1;
                self.out.skipped(Skipped::Digest);
            }
        }
    }

    /// Splits bytes found inside another value, as if they were an input of their own.
    fn nested(&mut self, bytes: &[u8], offset: u64, nesting: u32) {
        let mut splitter = RecordSplitter::new(self.limits);
        splitter.split_slice(bytes, &mut |split| {
            let split = match split {
                // Offsets inside a nested value point at the value that holds it.
                Split::Item {
                    kind,
                    bytes,
                    has_whitespace,
                    ..
                } => Split::Item {
                    kind,
                    bytes,
                    offset,
                    has_whitespace,
                },
                Split::Error {
                    kind,
                    raw,
                    raw_truncated,
                    ..
                } => Split::Error {
                    kind,
                    offset,
                    raw,
                    raw_truncated,
                },
                Split::BeforeRead => return,
            };
            self.split(split, nesting + 1)
        });
    }

    fn aws_logs(&mut self, data: &str, offset: u64, nesting: u32) {
        let compressed = match base64::engine::general_purpose::STANDARD.decode(data) {
            Ok(c) => c,
            Err(e) => {
                let detail = format!("awslogs.data is not base64: {e}");
                return self.error(
                    offset,
                    ErrorKind::NotCloudTrail,
                    detail,
                    data.as_bytes(),
                    false,
                );
            }
        };
        let mut payload = Vec::new();
        let inflated =
            gzip::decompress(&compressed[..]).and_then(|mut d| d.reader.read_to_end(&mut payload));
        match inflated {
            Ok(_) => self.nested(&payload, offset, nesting),
            Err(e) => {
                let detail = format!("awslogs.data does not inflate: {e}");
                self.error(offset, ErrorKind::GzipCorrupt, detail, &compressed, false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Default)]
    struct Collected {
        records: Vec<String>,
        errors: Vec<ErrorKind>,
    }

    impl RecordOutput for Collected {
        fn record(&mut self, r: Record<'_>) {
            self.records
                .push(String::from_utf8_lossy(r.bytes).into_owned());
        }
        fn error(&mut self, e: DecodeError, _: &[u8], _: bool) {
            self.errors.push(e.kind);
        }
        fn skipped(&mut self, _: Skipped) {}
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn rec(i: u32) -> String {
        format!(r#"{{"eventVersion":"1.08","eventSource":"s","eventName":"n{i}"}}"#)
    }

    #[test]
    fn in_memory_and_streamed_decoding_agree() {
        let origin: Arc<str> = Arc::from("t");
        let body = format!("{{\"Records\":[{},{},{}]}}", rec(0), rec(1), rec(2));
        // One member (the libdeflate path), two members (a trailer that lies about the whole),
        // and a truncated stream: each must give what streaming gives.
        let one = gz(body.as_bytes());
        let mut two = gz(&body.as_bytes()[..30]);
        two.extend(gz(&body.as_bytes()[30..]));
        let cut = one[..one.len() - 6].to_vec();
        for input in [one, two, cut] {
            let mut d = BlobDecoder::new(SplitLimits::default());
            let (mut a, mut b) = (Collected::default(), Collected::default());
            let sa = d.decode_bytes(&origin, &input, &mut a);
            let sb = d.decode(&origin, &input[..], &mut b);
            assert_eq!(a.records, b.records);
            assert_eq!(a.errors, b.errors);
            assert_eq!(
                (sa.compressed_bytes, sa.decompressed_bytes),
                (sb.compressed_bytes, sb.decompressed_bytes)
            );
        }
        let mut d = BlobDecoder::new(SplitLimits::default());
        let mut c = Collected::default();
        let mut two = gz(&body.as_bytes()[..30]);
        two.extend(gz(&body.as_bytes()[30..]));
        d.decode_bytes(&origin, &two, &mut c);
        assert_eq!(c.records, vec![rec(0), rec(1), rec(2)]);
        assert!(c.errors.is_empty());
    }
}
