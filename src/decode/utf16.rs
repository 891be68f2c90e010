//! UTF-16 input, as Windows PowerShell 5 writes a file by default (`>`, `Out-File`): detected
//! by its byte order mark and re-encoded as UTF-8 while it is read, so the splitter and the
//! parser see what they see for any other input. Offsets in messages then count the UTF-8
//! bytes. Owns no parsing.

use std::io::{self, Read};

/// The byte order of a UTF-16 stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

/// The byte order a UTF-16 byte order mark at the start of `head` names, if there is one.
/// (A UTF-8 mark, `EF BB BF`, is not one: the splitter skips it.)
pub fn utf16_mark(head: &[u8]) -> Option<ByteOrder> {
    match head {
        [0xFF, 0xFE, ..] => Some(ByteOrder::Little),
        [0xFE, 0xFF, ..] => Some(ByteOrder::Big),
        _ => None,
    }
}

/// Reads the first bytes of `input`: a UTF-16 stream comes back re-encoded as UTF-8, anything
/// else as it is (the bytes read to look are handed back first, then reads go straight through).
pub fn transcode_utf16<'r>(mut input: Box<dyn Read + 'r>) -> io::Result<Box<dyn Read + 'r>> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let replay = io::Cursor::new(head).take(got as u64).chain(input);
    Ok(match utf16_mark(&head[..got]) {
        Some(order) => Box::new(Utf16Reader::new(replay, order)),
        None => Box::new(replay),
    })
}

/// Re-encodes UTF-16 as UTF-8. Unpaired surrogates and a dangling last byte become U+FFFD
/// (the record holding them then fails to parse and is dead-lettered, or keeps the
/// replacement character inside a string).
pub struct Utf16Reader<R> {
    inner: R,
    order: ByteOrder,
    /// Bytes read and not yet decoded: `raw[..raw_len]` (at most one byte is carried over).
    raw: Vec<u8>,
    raw_len: usize,
    /// UTF-8 decoded and not yet handed out: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// A high surrogate waiting for its low half (it may be in the next read).
    high: Option<u16>,
    eof: bool,
}

const RAW_BYTES: usize = 64 * 1024;

impl<R: Read> Utf16Reader<R> {
    pub fn new(inner: R, order: ByteOrder) -> Self {
        Utf16Reader {
            inner,
            order,
            raw: vec![0; RAW_BYTES],
            raw_len: 0,
            out: Vec::with_capacity(RAW_BYTES * 3 / 2),
            out_pos: 0,
            high: None,
            eof: false,
        }
    }

    fn push_char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    /// Decodes the whole code units in `raw`, keeping an odd last byte for the next read.
    fn decode(&mut self) {
        let whole = self.raw_len & !1;
        for i in (0..whole).step_by(2) {
            let pair = [self.raw[i], self.raw[i + 1]];
            let unit = match self.order {
                ByteOrder::Little => u16::from_le_bytes(pair),
                ByteOrder::Big => u16::from_be_bytes(pair),
            };
            match (self.high.take(), unit) {
                (None, 0xD800..=0xDBFF) => self.high = Some(unit),
                (Some(high), 0xDC00..=0xDFFF) => {
                    let c =
                        0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                    self.push_char(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                (high, unit) => {
                    if high.is_some() {
                        self.push_char(char::REPLACEMENT_CHARACTER);
                    }
                    if (0xD800..=0xDBFF).contains(&unit) {
                        self.high = Some(unit);
                    } else {
                        let c =
                            char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER);
                        self.push_char(c);
                    }
                }
            }
        }
        self.raw.copy_within(whole..self.raw_len, 0);
        self.raw_len -= whole;
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            self.out.clear();
            self.out_pos = 0;
            if self.eof {
                return Ok(0);
            }
            let n = loop {
                match self.inner.read(&mut self.raw[self.raw_len..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            if n == 0 {
                self.eof = true;
                if self.high.take().is_some() || self.raw_len > 0 {
                    self.push_char(char::REPLACEMENT_CHARACTER);
                }
                continue;
            }
            self.raw_len += n;
            self.decode();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, order: ByteOrder) -> Vec<u8> {
        let mut out = match order {
            ByteOrder::Little => vec![0xFF, 0xFE],
            ByteOrder::Big => vec![0xFE, 0xFF],
        };
        for u in text.encode_utf16() {
            out.extend_from_slice(&match order {
                ByteOrder::Little => u.to_le_bytes(),
                ByteOrder::Big => u.to_be_bytes(),
            });
        }
        out
    }

    /// A reader that hands out one byte at a time, so every unit and pair is cut.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn both_byte_orders_become_utf8_whatever_the_reads() {
        let text = "{\"a\":\"é 😀 Ω\"}\r\n{\"b\":2}\r\n";
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let bytes = encode(text, order);
            let mut out = String::new();
            transcode_utf16(Box::new(Trickle(&bytes)))
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, format!("\u{feff}{text}"), "{order:?}");
        }
    }

    #[test]
    fn other_input_passes_through_and_bad_units_are_replaced() {
        let mut out = Vec::new();
        transcode_utf16(Box::new(&b"{\"x\":1}"[..]))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"{\"x\":1}");
        let mut out = Vec::new();
        transcode_utf16(Box::new(&b"{"[..]))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"{");
        // A lone high surrogate, then a dangling byte.
        let bytes = [0xFF, 0xFE, 0x00, 0xD8, b'a', 0x00, b'b'];
        let mut out = String::new();
        transcode_utf16(Box::new(&bytes[..]))
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "\u{feff}\u{fffd}a\u{fffd}");
    }
}
