//! The streaming record splitter: finds where each record starts and ends in a decompressed byte
//! stream with a string- and escape-aware structural scan (bracket depth), without parsing.
//!
//! It owns the read buffer and nothing else: it never judges whether a record is valid JSON or
//! CloudTrail (that is `parse` and `envelope`). Memory follows the largest record, not the largest
//! file: a trail file's `{"Records":[...]}` is streamed element by element, and everything before
//! the array (the envelope) is dropped once the `Records` key is seen.

use std::io::{self, Read};

use memchr::memchr2;

/// What a split item is, which says how the envelope stage treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// An element of a trail file's `Records` array: must be a CloudTrail record.
    Record,
    /// A top-level JSON value (or an element of a top-level array): a record, or an envelope
    /// (EventBridge event, CloudWatch Logs payload, digest, ...) to classify.
    Value,
}

/// Why bytes could not be split into items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitErrorKind {
    /// Nesting deeper than `max_depth`.
    TooDeep,
    /// One value larger than `max_record_bytes`.
    TooLarge,
    /// The stream ended inside a value.
    Truncated,
    /// Bytes at the top level that cannot start a JSON value.
    NotJson,
}

/// One thing the splitter found.
#[derive(Debug)]
pub enum Split<'a> {
    Item {
        kind: ItemKind,
        bytes: &'a [u8],
        /// Offset of the first byte in the decompressed stream.
        offset: u64,
        /// Whether whitespace occurs outside strings (the raw output must then minify).
        has_whitespace: bool,
    },
    Error {
        kind: SplitErrorKind,
        offset: u64,
        /// The start of the offending bytes, at most `max_record_bytes` of them.
        raw: &'a [u8],
        /// True when `raw` is only a prefix of the offending bytes.
        raw_truncated: bool,
    },
    /// The splitter is about to read more input, which may block (stdin, a socket): the
    /// moment to hand on what is ready.
    BeforeRead,
}

/// Bounds the splitter keeps to.
#[derive(Debug, Clone, Copy)]
pub struct SplitLimits {
    /// How much is read from the stream at a time.
    pub chunk_bytes: usize,
    /// The largest item kept whole; a larger one is skipped and reported.
    pub max_record_bytes: usize,
    /// The deepest nesting accepted inside one item.
    pub max_depth: u32,
    /// The most a gzip input may expand (decompressed bytes per compressed byte) once past
    /// `INFLATE_RATIO_GRACE_BYTES`; 0: no limit. Stops decompression bombs.
    pub max_inflate_ratio: u64,
}

/// Decompressed bytes an input may produce before `max_inflate_ratio` applies: small inputs
/// of repetitive JSON may expand a lot, and cost little whatever their ratio.
pub const INFLATE_RATIO_GRACE_BYTES: u64 = 64 * 1024 * 1024;

impl Default for SplitLimits {
    fn default() -> Self {
        SplitLimits {
            chunk_bytes: 256 * 1024,
            max_record_bytes: 4 * 1024 * 1024,
            max_depth: 128,
            max_inflate_ratio: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Top {
    None,
    Object,
    Array,
}

#[derive(Debug, Clone, Copy)]
struct OpenItem {
    /// Index in the buffer where the item starts.
    start: usize,
    kind: ItemKind,
    /// The depth the scan returns to when the item closes.
    close_depth: u32,
    /// A bare scalar (number, string, literal) rather than an object or array.
    scalar: bool,
    whitespace: bool,
    /// Set when the item broke a bound: its bytes are no longer kept (beyond `bad`).
    failed: Option<SplitErrorKind>,
    /// Offset of the item's first byte in the stream (kept because `start` moves on compaction).
    offset: u64,
}

/// Scan state, resumable at any byte so chunk boundaries never matter.
#[derive(Debug)]
struct ScanState {
    depth: u32,
    in_string: bool,
    /// The previous byte was a backslash inside a string (possibly in the previous chunk).
    escaped: bool,
    top: Top,
    /// Inside the `Records` array of a top-level object.
    in_records: bool,
    /// A depth-1 key of a top-level object is being read; `key` holds its first bytes.
    in_key: bool,
    key: [u8; 8],
    key_len: usize,
    /// At depth 1 of a top-level object, a key is expected next.
    expect_key: bool,
    /// The last depth-1 key was `Records` and its value has not started yet.
    records_pending: bool,
    item: Option<OpenItem>,
    /// Skipping bytes at the top level that are not JSON: (stream offset, at line start).
    garbage: Option<(u64, bool)>,
    /// A UTF-8 byte order mark being read at the top level: (stream offset, bytes matched).
    bom: Option<(u64, usize)>,
}

impl ScanState {
    fn new() -> Self {
        ScanState {
            depth: 0,
            in_string: false,
            escaped: false,
            top: Top::None,
            in_records: false,
            in_key: false,
            key: [0; 8],
            key_len: 0,
            expect_key: false,
            records_pending: false,
            item: None,
            garbage: None,
            bom: None,
        }
    }

    /// Whether a new element of an array being split starts here.
    #[inline]
    fn at_element_position(&self) -> bool {
        self.item.is_none()
            && ((self.top == Top::Array && self.depth == 1) || (self.in_records && self.depth == 2))
    }
}

/// Splits a byte stream into items; reuse one per worker to keep its buffer.
pub struct RecordSplitter {
    core: ScanCore,
    /// The read buffer of a streamed input; `core.base` is the stream offset of `buf[0]`.
    buf: Vec<u8>,
}

/// The start of bytes that could not be split, kept (up to a cap) for the dead-letter output.
struct BadBytes {
    bytes: Vec<u8>,
    truncated: bool,
    cap: usize,
}

impl BadBytes {
    fn restart(&mut self) {
        self.bytes.clear();
        self.truncated = false;
    }

    fn keep(&mut self, more: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        if more.len() > room {
            self.bytes.extend_from_slice(&more[..room]);
            self.truncated = true;
        } else {
            self.bytes.extend_from_slice(more);
        }
    }
}

const WS: u8 = 1;
const OPEN: u8 = 2;
const CLOSE: u8 = 3;
const QUOTE: u8 = 4;
const COMMA: u8 = 5;
const COLON: u8 = 6;
const OTHER: u8 = 0;

/// Byte classes outside strings: one table load per byte keeps the structural loop branch-light.
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    t[b' ' as usize] = WS;
    t[b'\t' as usize] = WS;
    t[b'\n' as usize] = WS;
    t[b'\r' as usize] = WS;
    t[b'{' as usize] = OPEN;
    t[b'[' as usize] = OPEN;
    t[b'}' as usize] = CLOSE;
    t[b']' as usize] = CLOSE;
    t[b'"' as usize] = QUOTE;
    t[b',' as usize] = COMMA;
    t[b':' as usize] = COLON;
    t
};

/// The UTF-8 byte order mark (U+FEFF), which Windows tools and PowerShell write first.
const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// How a split run ended when reading failed part-way.
#[derive(Debug)]
pub struct ReadFailure {
    pub error: io::Error,
    /// Decompressed bytes read before the failure.
    pub offset: u64,
}

impl RecordSplitter {
    pub fn new(limits: SplitLimits) -> Self {
        RecordSplitter {
            core: ScanCore {
                limits,
                base: 0,
                trail_files: 0,
                bad: BadBytes {
                    bytes: Vec::new(),
                    truncated: false,
                    cap: limits.max_record_bytes,
                },
            },
            buf: Vec::new(),
        }
    }

    /// Reads `reader` to its end, calling `emit` for every item and error in stream order.
    /// Returns the number of bytes read. A read error ends the run after the items completed
    /// before it were emitted, and after an error for the item it cut short.
    pub fn split<R: Read>(
        &mut self,
        mut reader: R,
        emit: &mut dyn FnMut(Split<'_>),
    ) -> Result<u64, ReadFailure> {
        self.buf.clear();
        self.core.base = 0;
        self.core.trail_files = 0;
        self.core.bad.restart();
        let mut st = ScanState::new();
        let mut scanned = 0usize;
        loop {
            // Compact: keep only the open item's bytes so the buffer stays near one record.
            let keep_from = match st.item {
                Some(it) if it.failed.is_none() => it.start,
                _ => scanned,
            };
            if keep_from > 0 {
                self.buf.drain(..keep_from);
                self.core.base += keep_from as u64;
                scanned -= keep_from;
                if let Some(it) = st.item.as_mut() {
                    it.start = it.start.saturating_sub(keep_from);
                }
            }
            let old_len = self.buf.len();
            self.buf.resize(old_len + self.core.limits.chunk_bytes, 0);
            emit(Split::BeforeRead);
            let (n, failure) = read_some(&mut reader, &mut self.buf[old_len..]);
            self.buf.truncate(old_len + n);
            if n > 0 {
                self.core.scan(&self.buf, &mut st, scanned, emit);
                scanned = self.buf.len();
            }
            if let Some(error) = failure {
                let offset = self.core.base + self.buf.len() as u64;
                self.core.finish(&self.buf, &mut st, emit);
                return Err(ReadFailure { error, offset });
            }
            if n == 0 {
                self.core.finish(&self.buf, &mut st, emit);
                return Ok(self.core.base + self.buf.len() as u64);
            }
        }
    }

    /// Splits an in-memory slice (a file inflated whole, a value found inside another) in
    /// place, without copying it into the read buffer.
    /// Trail files (`{"Records":[`) the last input opened, records or not.
    pub fn trail_files(&self) -> u64 {
        self.core.trail_files
    }

    pub fn split_slice(&mut self, bytes: &[u8], emit: &mut dyn FnMut(Split<'_>)) {
        self.core.base = 0;
        self.core.trail_files = 0;
        self.core.bad.restart();
        let mut st = ScanState::new();
        self.core.scan(bytes, &mut st, 0, emit);
        self.core.finish(bytes, &mut st, emit);
    }
}

/// The scan itself, apart from the buffer it reads, so a slice can be scanned in place.
struct ScanCore {
    limits: SplitLimits,
    /// Trail files (`{"Records":[`) opened in the current input: one with no records is an
    /// empty log, not an input without a JSON value.
    trail_files: u64,
    /// Stream offset of the first byte of the buffer being scanned.
    base: u64,
    /// The kept prefix of a failed item or of a garbage run, for the dead-letter output.
    bad: BadBytes,
}

impl ScanCore {
    /// Reports what was left open when the stream ended.
    fn finish(&mut self, buf: &[u8], st: &mut ScanState, emit: &mut dyn FnMut(Split<'_>)) {
        let end = buf.len();
        if let Some(it) = st.item.take() {
            match it.failed {
                Some(kind) => emit(Split::Error {
                    kind,
                    offset: it.offset,
                    raw: &self.bad.bytes,
                    raw_truncated: self.bad.truncated,
                }),
                None if it.scalar && !st.in_string => emit(Split::Item {
                    kind: it.kind,
                    bytes: &buf[it.start..end],
                    offset: it.offset,
                    has_whitespace: it.whitespace,
                }),
                None => emit(Split::Error {
                    kind: SplitErrorKind::Truncated,
                    offset: it.offset,
                    raw: &buf[it.start..end],
                    raw_truncated: false,
                }),
            }
        } else if let Some((offset, matched)) = st.bom.take() {
            emit(Split::Error {
                kind: SplitErrorKind::NotJson,
                offset,
                raw: &UTF8_BOM[..matched],
                raw_truncated: false,
            });
        } else if let Some((offset, _)) = st.garbage.take() {
            emit(Split::Error {
                kind: SplitErrorKind::NotJson,
                offset,
                raw: &self.bad.bytes,
                raw_truncated: self.bad.truncated,
            });
        } else if st.depth > 0 {
            emit(Split::Error {
                kind: SplitErrorKind::Truncated,
                offset: self.base + end as u64,
                raw: &[],
                raw_truncated: false,
            });
        }
    }

    /// Marks the open item failed, keeping its bytes so far for the dead-letter output.
    fn fail_item(&mut self, buf: &[u8], st: &mut ScanState, kind: SplitErrorKind, upto: usize) {
        if let Some(it) = st.item.as_mut() {
            if it.failed.is_none() {
                self.bad.restart();
                self.bad.keep(&buf[it.start..upto]);
                it.failed = Some(kind);
            }
        }
    }

    /// Scans `buf[from..]`. Cost: one table lookup per byte outside strings; strings are
    /// skipped with `find_quote_or_backslash` to the next quote or backslash, since most record bytes
    /// sit inside strings.
    fn scan(
        &mut self,
        buf: &[u8],
        st: &mut ScanState,
        from: usize,
        emit: &mut dyn FnMut(Split<'_>),
    ) {
        let end = buf.len();
        let mut i = from;
        if st.escaped && i < end {
            st.escaped = false;
            self.note_key_byte(st, buf[i]);
            i += 1;
        }
        // A byte order mark cut by the previous chunk's end: read the rest of it first (kept
        // out of the loop below, which then pays nothing for marks).
        if let Some((at, matched)) = st.bom.take() {
            i = self.read_bom(buf, st, i, at, matched);
        }
        while i < end {
            if let Some((offset, line_start)) = st.garbage {
                // Skip non-JSON bytes until a line that starts like a JSON value.
                let b = buf[i];
                let resume = line_start && (b == b'{' || b == b'[');
                if resume {
                    st.garbage = None;
                    emit(Split::Error {
                        kind: SplitErrorKind::NotJson,
                        offset,
                        raw: &self.bad.bytes,
                        raw_truncated: self.bad.truncated,
                    });
                } else {
                    let line_start = if b == b'\n' {
                        true
                    } else {
                        // A byte order mark may open the next line (files joined with
                        // `cat`, each written by a Windows tool).
                        line_start && matches!(b, b' ' | b'\t' | b'\r' | 0xEF | 0xBB | 0xBF)
                    };
                    st.garbage = Some((offset, line_start));
                    self.bad.keep(&[b]);
                    i += 1;
                    continue;
                }
            }
            if !st.in_string && st.depth >= 2 {
                if let Some(it) = st.item {
                    if !it.scalar && it.failed.is_none() {
                        i = self.scan_item_body(buf, st, i, emit);
                        continue;
                    }
                }
            }
            if st.in_string {
                if st.in_key {
                    // Top-level keys are few and short: read them byte by byte.
                    let b = buf[i];
                    i += 1;
                    match b {
                        b'\\' => {
                            self.note_key_byte(st, b);
                            if i < end {
                                self.note_key_byte(st, buf[i]);
                                i += 1;
                            } else {
                                st.escaped = true;
                            }
                        }
                        b'"' => {
                            st.in_string = false;
                            st.in_key = false;
                        }
                        _ => self.note_key_byte(st, b),
                    }
                    continue;
                }
                match find_quote_or_backslash(&buf[i..end]) {
                    None => {
                        i = end;
                    }
                    Some(k) => {
                        i += k;
                        if buf[i] == b'\\' {
                            if i + 1 < end {
                                i += 2;
                            } else {
                                st.escaped = true;
                                i = end;
                            }
                        } else {
                            st.in_string = false;
                            i += 1;
                        }
                    }
                }
                continue;
            }
            let b = buf[i];
            let class = CLASS[b as usize];
            // A bare scalar ends at the first structural byte or whitespace after it.
            if class != OTHER {
                if let Some(it) = st.item {
                    if it.scalar && st.depth == it.close_depth {
                        self.close_item(buf, st, i, emit);
                    }
                }
            }
            match class {
                WS => {
                    if let Some(it) = st.item.as_mut() {
                        it.whitespace = true;
                    }
                }
                QUOTE => {
                    if st.at_element_position() {
                        self.open_item(st, i, true);
                    }
                    if st.top == Top::Object && st.depth == 1 {
                        if st.expect_key {
                            st.in_key = true;
                            st.key_len = 0;
                        } else {
                            st.records_pending = false;
                        }
                    }
                    st.in_string = true;
                }
                OPEN => {
                    if st.depth == 0 {
                        if b == b'{' {
                            st.top = Top::Object;
                            st.expect_key = true;
                            st.records_pending = false;
                            self.open_item(st, i, false);
                        } else {
                            st.top = Top::Array;
                        }
                    } else if st.records_pending && st.depth == 1 {
                        st.records_pending = false;
                        if b == b'[' {
                            // A trail file: drop the envelope and stream the array's elements.
                            st.in_records = true;
                            self.trail_files += 1;
                            if matches!(st.item, Some(it) if it.close_depth == 0) {
                                st.item = None;
                            }
                        }
                    } else if st.at_element_position() {
                        self.open_item(st, i, false);
                    }
                    st.depth += 1;
                    if st.depth > self.limits.max_depth {
                        if let Some(it) = st.item {
                            if it.failed.is_none()
                                && st.depth - it.close_depth > self.limits.max_depth
                            {
                                self.fail_item(buf, st, SplitErrorKind::TooDeep, i + 1);
                            }
                        }
                    }
                }
                CLOSE => {
                    if st.depth == 0 {
                        self.start_garbage(st, i);
                        continue;
                    }
                    st.depth -= 1;
                    if st.depth == 1 && st.in_records {
                        st.in_records = false;
                    }
                    if matches!(st.item, Some(it) if it.close_depth == st.depth) {
                        self.close_item(buf, st, i + 1, emit);
                    }
                    if st.depth == 0 {
                        st.top = Top::None;
                        st.expect_key = false;
                    }
                    st.records_pending = false;
                }
                COMMA => {
                    if st.top == Top::Object && st.depth == 1 {
                        st.expect_key = true;
                        st.records_pending = false;
                    }
                }
                COLON => {
                    if st.top == Top::Object && st.depth == 1 {
                        st.expect_key = false;
                        st.records_pending = st.key_len == 7 && &st.key[..7] == b"Records";
                    }
                }
                _ => {
                    // Numbers and literals.
                    if st.depth == 0 {
                        if b == UTF8_BOM[0] && st.item.is_none() {
                            // A byte order mark, as Windows tools write at the start of a file
                            // (and `cat` then leaves between values): skipped like whitespace.
                            let at = self.base + i as u64;
                            i = self.read_bom(buf, st, i + 1, at, 1);
                            continue;
                        }
                        self.start_garbage(st, i);
                        continue;
                    }
                    if st.at_element_position() {
                        self.open_item(st, i, true);
                    }
                    if st.depth == 1 {
                        st.records_pending = false;
                    }
                }
            }
            i += 1;
        }
        // Bound the open item once per chunk rather than per byte: a huge one is skipped,
        // keeping only its start, so the buffer never holds much more than one record.
        if let Some(it) = st.item {
            if it.failed.is_none() && end - it.start > self.limits.max_record_bytes {
                self.fail_item(buf, st, SplitErrorKind::TooLarge, end);
            }
        }
    }

    /// The hot loop: inside an object or array item and below depth 1, where no top-level key
    /// or element can start, only strings, brackets and whitespace matter. Strings are skipped
    /// with `find_quote_or_backslash`; other bytes cost one table load. Returns where the general loop resumes:
    /// at the end of the chunk, after the item closed, or back at depth 1.
    fn scan_item_body(
        &mut self,
        buf: &[u8],
        st: &mut ScanState,
        mut i: usize,
        emit: &mut dyn FnMut(Split<'_>),
    ) -> usize {
        let end = buf.len();
        let Some(it) = st.item else { return i };
        let max_depth = it.close_depth + self.limits.max_depth;
        let mut whitespace = it.whitespace;
        let mut depth = st.depth;
        let resume = loop {
            if i >= end {
                break i;
            }
            match CLASS[buf[i] as usize] {
                QUOTE => {
                    i += 1;
                    // Skip the string; most are short keys and values.
                    loop {
                        match find_quote_or_backslash(&buf[i..end]) {
                            None => {
                                st.in_string = true;
                                i = end;
                                break;
                            }
                            Some(k) if buf[i + k] == b'\\' => {
                                if i + k + 1 < end {
                                    i += k + 2;
                                } else {
                                    st.in_string = true;
                                    st.escaped = true;
                                    i = end;
                                    break;
                                }
                            }
                            Some(k) => {
                                i += k + 1;
                                break;
                            }
                        }
                    }
                    if st.in_string {
                        break i;
                    }
                }
                OPEN => {
                    depth += 1;
                    i += 1;
                    if depth > max_depth {
                        break i;
                    }
                }
                CLOSE => {
                    depth -= 1;
                    i += 1;
                    if depth == it.close_depth || depth < 2 {
                        break i;
                    }
                }
                WS => {
                    whitespace = true;
                    i += 1;
                }
                _ => i += 1,
            }
        };
        if let Some(open) = st.item.as_mut() {
            open.whitespace = whitespace;
        }
        st.depth = depth;
        if depth > max_depth {
            self.fail_item(buf, st, SplitErrorKind::TooDeep, resume);
        } else if depth == it.close_depth && resume > 0 && CLASS[buf[resume - 1] as usize] == CLOSE
        {
            self.close_item(buf, st, resume, emit);
            if depth == 0 {
                st.top = Top::None;
                st.expect_key = false;
            }
            st.records_pending = false;
        }
        resume
    }

    #[inline]
    fn note_key_byte(&self, st: &mut ScanState, b: u8) {
        if st.in_key {
            if st.key_len < st.key.len() {
                st.key[st.key_len] = b;
            }
            st.key_len += 1;
        }
    }

    #[inline]
    fn open_item(&mut self, st: &mut ScanState, at: usize, scalar: bool) {
        let kind = if st.in_records {
            ItemKind::Record
        } else {
            ItemKind::Value
        };
        st.item = Some(OpenItem {
            start: at,
            kind,
            close_depth: st.depth,
            scalar,
            whitespace: false,
            failed: None,
            offset: self.base + at as u64,
        });
    }

    fn close_item(
        &mut self,
        buf: &[u8],
        st: &mut ScanState,
        end: usize,
        emit: &mut dyn FnMut(Split<'_>),
    ) {
        if let Some(it) = st.item {
            if it.failed.is_none() && end - it.start > self.limits.max_record_bytes {
                self.fail_item(buf, st, SplitErrorKind::TooLarge, end);
            }
        }
        if let Some(it) = st.item.take() {
            match it.failed {
                None => emit(Split::Item {
                    kind: it.kind,
                    bytes: &buf[it.start..end],
                    offset: it.offset,
                    has_whitespace: it.whitespace,
                }),
                Some(kind) => emit(Split::Error {
                    kind,
                    offset: it.offset,
                    raw: &self.bad.bytes,
                    raw_truncated: self.bad.truncated,
                }),
            }
        }
    }

    /// Reads a byte order mark whose first `matched` bytes (from stream offset `at`) were seen,
    /// from `buf[i..]`; returns where scanning goes on. At the chunk's end the mark waits in
    /// `st.bom` for the next chunk; bytes that turn out not to be one start a run of non-JSON.
    fn read_bom(
        &mut self,
        buf: &[u8],
        st: &mut ScanState,
        mut i: usize,
        at: u64,
        mut matched: usize,
    ) -> usize {
        while matched < UTF8_BOM.len() {
            let Some(&b) = buf.get(i) else {
                st.bom = Some((at, matched));
                return i;
            };
            if b != UTF8_BOM[matched] {
                self.bad.restart();
                self.bad.keep(&UTF8_BOM[..matched]);
                st.garbage = Some((at, false));
                return i;
            }
            matched += 1;
            i += 1;
        }
        i
    }

    fn start_garbage(&mut self, st: &mut ScanState, at: usize) {
        self.bad.restart();
        st.garbage = Some((self.base + at as u64, false));
    }
}

/// The first `"` or `\\` in `hay`. Most strings in a record are short keys and values, where
/// a `memchr2` call costs more than the search: the first 32 bytes are searched 8 at a time
/// in a register (SWAR), and only a longer string goes to `memchr2`'s SIMD loop.
#[inline]
fn find_quote_or_backslash(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Marks bytes of `w` equal to `b` in their high bit; only the lowest mark is exact, which
    // is the one used.
    #[inline]
    fn marks(w: u64, b: u8) -> u64 {
        let x = w ^ (ONES * b as u64);
        x.wrapping_sub(ONES) & !x & HIGHS
    }
    let mut i = 0;
    while i + 8 <= hay.len() && i < 32 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&hay[i..i + 8]);
        let w = u64::from_le_bytes(word);
        let m = marks(w, b'"') | marks(w, b'\\');
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr2(b'"', b'\\', &hay[i..]).map(|k| i + k)
}

/// One read: a live input (stdin, a socket) must be split as its bytes arrive, not when a
/// whole chunk has gathered. Returns the bytes read, or the error that stopped reading.
fn read_some<R: Read>(reader: &mut R, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    loop {
        match reader.read(buf) {
            Ok(n) => return (n, None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (0, Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar_search_finds_the_first_quote_or_backslash() {
        for len in 0..80 {
            for at in 0..=len {
                for special in [b'"', b'\\'] {
                    let mut hay = vec![b'a'; len];
                    // Bytes that differ from the targets by one bit, to trip a sloppy mask.
                    for (k, h) in hay.iter_mut().enumerate() {
                        *h = [b'a', b'#', b'!', 0xa2, b']', 0xdc][k % 6];
                    }
                    if at < len {
                        hay[at] = special;
                    }
                    let want = memchr2(b'"', b'\\', &hay);
                    assert_eq!(find_quote_or_backslash(&hay), want, "len {len} at {at}");
                }
            }
        }
    }

    fn split_all(input: &[u8], limits: SplitLimits) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut s = RecordSplitter::new(limits);
        // Streamed, so `limits.chunk_bytes` sets the chunk boundaries.
        let _ = s.split(input, &mut |sp| match sp {
            Split::Item { kind, bytes, .. } => out.push((
                format!("{kind:?}"),
                String::from_utf8_lossy(bytes).into_owned(),
            )),
            Split::Error { kind, offset, .. } => {
                out.push((format!("{kind:?}"), offset.to_string()))
            }
            Split::BeforeRead => {}
        });
        out
    }

    fn items(input: &str) -> Vec<(String, String)> {
        split_all(input.as_bytes(), SplitLimits::default())
    }

    #[test]
    fn trail_file_streams_records() {
        let got = items(r#"{"Records":[{"a":"}]"},{"b":[1,{"c":2}]}]}"#);
        assert_eq!(
            got,
            vec![
                ("Record".into(), r#"{"a":"}]"}"#.into()),
                ("Record".into(), r#"{"b":[1,{"c":2}]}"#.into())
            ]
        );
    }

    #[test]
    fn records_key_after_other_keys_and_escapes() {
        let got = items(r#"{"x":"a\"]","Records":[{"k":"\\"}],"y":{"Records":[{"no":1}]}}"#);
        assert_eq!(got, vec![("Record".into(), r#"{"k":"\\"}"#.into())]);
    }

    #[test]
    fn ndjson_and_arrays_are_values() {
        let got = items("{\"a\":1}\n{\"b\": 2}\n[{\"c\":3}, 7, \"s,]\"]\n");
        let kinds: Vec<_> = got.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        assert_eq!(
            kinds,
            vec![
                "Value:{\"a\":1}",
                "Value:{\"b\": 2}",
                "Value:{\"c\":3}",
                "Value:7",
                "Value:\"s,]\""
            ]
        );
    }

    #[test]
    fn byte_order_marks_are_skipped_wherever_a_value_may_start() {
        const BOM: &str = "\u{feff}";
        let ndjson = format!("{BOM}{{\"a\":1}}\r\n{{\"b\":2}}\r\n{BOM}{{\"c\":3}}\r\n");
        let trail = format!("{BOM}{{\"Records\":[{{\"a\":1}},{{\"b\":2}}]}}");
        let after_garbage = format!("x,y\n{BOM}{{\"a\":1}}\n");
        // Every chunk size, so a mark cut by a chunk boundary is read across it.
        for chunk_bytes in [1, 2, 3, 4, 64 * 1024] {
            let limits = SplitLimits {
                chunk_bytes,
                ..SplitLimits::default()
            };
            let got = split_all(ndjson.as_bytes(), limits);
            let want: Vec<(String, String)> = ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]
                .iter()
                .map(|v| ("Value".to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "chunk {chunk_bytes}");
            let got = split_all(trail.as_bytes(), limits);
            assert_eq!(got.len(), 2, "chunk {chunk_bytes}: {got:?}");
            assert!(got.iter().all(|(k, _)| k == "Record"));
            let got = split_all(after_garbage.as_bytes(), limits);
            assert_eq!(
                got,
                vec![
                    ("NotJson".into(), "0".into()),
                    ("Value".into(), "{\"a\":1}".into())
                ]
            );
        }
        // Half a mark is not one: its bytes are reported, the value after it is not lost.
        let got = split_all(b"\xef\xbbx\n{\"a\":1}", SplitLimits::default());
        assert_eq!(
            got,
            vec![
                ("NotJson".into(), "0".into()),
                ("Value".into(), "{\"a\":1}".into())
            ]
        );
        assert_eq!(
            split_all(b"\xef\xbb", SplitLimits::default()),
            vec![("NotJson".into(), "0".into())]
        );
    }

    #[test]
    fn garbage_lines_are_one_error_then_json_resumes() {
        let got = items("a,b,c\n1,2,3\n{\"a\":1}\n");
        assert_eq!(
            got,
            vec![
                ("NotJson".into(), "0".into()),
                ("Value".into(), "{\"a\":1}".into())
            ]
        );
    }

    #[test]
    fn truncated_item_and_unclosed_array() {
        assert_eq!(
            items(r#"{"Records":[{"a":1},{"b":"#),
            vec![
                ("Record".into(), r#"{"a":1}"#.into()),
                ("Truncated".into(), "20".into())
            ]
        );
        assert_eq!(
            items(r#"{"Records":[{"a":1},"#),
            vec![
                ("Record".into(), r#"{"a":1}"#.into()),
                ("Truncated".into(), "20".into())
            ]
        );
    }

    #[test]
    fn too_deep_and_too_large_are_skipped() {
        let limits = SplitLimits {
            chunk_bytes: 7,
            max_record_bytes: 64,
            max_depth: 4,
            ..SplitLimits::default()
        };
        let input = format!(
            "{{\"Records\":[{{\"a\":[[[[[[1]]]]]]}},{{\"big\":\"{}\"}},{{\"ok\":1}}]}}",
            "x".repeat(200)
        );
        let got = split_all(input.as_bytes(), limits);
        assert_eq!(
            got,
            vec![
                ("TooDeep".into(), "12".into()),
                ("TooLarge".into(), "32".into()),
                ("Record".into(), "{\"ok\":1}".into())
            ]
        );
    }

    #[test]
    fn whitespace_is_flagged_only_outside_strings() {
        let mut flags = Vec::new();
        RecordSplitter::new(SplitLimits::default()).split_slice(
            b"{\"a\":\"b c\"}\n{ \"a\":1}",
            &mut |sp| {
                if let Split::Item { has_whitespace, .. } = sp {
                    flags.push(has_whitespace)
                }
            },
        );
        assert_eq!(flags, vec![false, true]);
    }
}
