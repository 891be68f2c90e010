//! Decode errors: what went wrong with an input, where (origin and byte offset), and the kind
//! label that metrics and the dead-letter output use. Owns no I/O.

use std::fmt;
use std::sync::Arc;

/// The kinds of bad input, each a label on `trailhose_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input could not be opened or read.
    Io,
    /// The input holds no bytes (or only whitespace).
    Empty,
    /// The gzip stream ends before its last member is complete.
    GzipTruncated,
    /// The gzip stream is damaged (bad header, corrupt deflate data, checksum mismatch).
    GzipCorrupt,
    /// Bytes that cannot start a JSON value.
    NotJson,
    /// A value whose bounds were found but which is not valid JSON.
    InvalidJson,
    /// A value that is not valid UTF-8.
    InvalidUtf8,
    /// Valid JSON that is not a CloudTrail record or a known envelope of records.
    NotCloudTrail,
    /// Nesting deeper than `max_depth`.
    TooDeep,
    /// A record larger than `max_record_bytes`.
    TooLarge,
    /// The input ends inside a value.
    Truncated,
    /// A gzip input that expands past `max_inflate_ratio` (a decompression bomb).
    InflateRatio,
}

impl ErrorKind {
    /// Every kind, for pre-registering metrics.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Io,
        ErrorKind::Empty,
        ErrorKind::GzipTruncated,
        ErrorKind::GzipCorrupt,
        ErrorKind::NotJson,
        ErrorKind::InvalidJson,
        ErrorKind::InvalidUtf8,
        ErrorKind::NotCloudTrail,
        ErrorKind::TooDeep,
        ErrorKind::TooLarge,
        ErrorKind::Truncated,
        ErrorKind::InflateRatio,
    ];

    /// The label used in metrics and the dead-letter output.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Empty => "empty_input",
            ErrorKind::GzipTruncated => "gzip_truncated",
            ErrorKind::GzipCorrupt => "gzip_corrupt",
            ErrorKind::NotJson => "not_json",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::NotCloudTrail => "not_cloudtrail",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Truncated => "truncated",
            ErrorKind::InflateRatio => "inflate_ratio",
        }
    }
}

/// One piece of bad input: where it is and what is wrong with it.
#[derive(Debug, Clone)]
pub struct DecodeError {
    /// The input: a file path, `stdin`, later an S3 key or a Kafka partition/offset.
    pub origin: Arc<str>,
    /// Offset in the decompressed stream where the bad bytes start.
    pub offset: u64,
    pub kind: ErrorKind,
    /// What a person needs to know to act on it.
    pub detail: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at byte {}: {}",
            self.origin,
            self.kind.label(),
            self.offset,
            self.detail
        )
    }
}

impl std::error::Error for DecodeError {}
