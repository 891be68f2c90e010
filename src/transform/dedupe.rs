//! Exact dedupe by `eventID`: CloudTrail delivers some log files twice, and replays overlap.
//! An event whose `eventID` was seen within the window (event time) with the same `eventName`,
//! `eventSource`, `eventTime`, `recipientAccountId` and `userIdentity.arn` is dropped; nothing
//! else ever is. A UUID `eventID` is kept whole in 128 bits and the rest folded in by hash, so
//! two different records that share an `eventID` (hand-edited test data does) are both kept. Cross-account copies of
//! a call share `sharedEventID` but have distinct `eventID`s, so both are kept.
//!
//! Memory is fixed by `max_entries`: an open-addressing table of 20-byte slots (16-byte id,
//! 4-byte event time) at most 80% full, 25 bytes per remembered event. Slots whose event time
//! left the window are reused; when the table is full of live events the oldest in the probe
//! run is forgotten (which can only let a later duplicate through, never drop a new event).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use serde::Deserialize;

use super::shared::{raise, CacheLine};

/// `[dedupe]`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeConfig {
    /// Drop events whose `eventID` was already seen.
    pub enabled: bool,
    /// How far back (event time) an `eventID` is remembered.
    pub window_secs: i64,
    /// Most events remembered (25 bytes each).
    pub max_entries: usize,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            enabled: true,
            window_secs: 24 * 3600,
            max_entries: 1_000_000,
        }
    }
}

/// Event times are stored as seconds since 2010-01-01 in a u32 (good until 2146).
const EPOCH_2010: i64 = 1_262_304_000;
const SHARDS: usize = 64;
/// How many slots an insert looks at before it forgets the oldest of them.
const MAX_PROBE: usize = 32;

/// One slot: the id as four u32 words and the event time, 20 bytes, so a probe touches one
/// cache line.
type Slot = [u32; 5];

fn slot_id(slot: &Slot) -> [u64; 2] {
    [
        (slot[0] as u64) << 32 | slot[1] as u64,
        (slot[2] as u64) << 32 | slot[3] as u64,
    ]
}

fn make_slot(id: [u64; 2], time: u32) -> Slot {
    [
        (id[0] >> 32) as u32,
        id[0] as u32,
        (id[1] >> 32) as u32,
        id[1] as u32,
        time,
    ]
}

struct Shard {
    slots: Vec<Slot>,
}

/// The remembered `eventID`s, shared by all workers.
pub struct DedupeTable {
    shards: Vec<CacheLine<Mutex<Shard>>>,
    window: i64,
    /// The latest event time seen (seconds since the epoch).
    newest: AtomicI64,
}

/// The name of the key algorithm below, written in the header of the saved table so a table
/// keyed another way is refused instead of silently mis-read. Change it whenever
/// `event_id_bits` changes its output (the test `key_algorithm_is_pinned` says when).
pub const KEY_ALGORITHM: &str = "eventid=uuid128|sha256-128;context=trailhose-mx64-v1";

/// The dedupe key of an event: its `eventID` as 128 bits (the UUID itself, or the first 128
/// bits of the SHA-256 of any other form: rare, so its cost does not matter), with `context`
/// (the fields that must match too) folded in by `context_hash`. Every step is a fixed,
/// documented algorithm (see `KEY_ALGORITHM`), never `std`'s `DefaultHasher`, whose output may
/// change between Rust releases and would make a saved table mis-read after an upgrade.
pub fn event_id_bits(event_id: &str, context: &[Option<&str>]) -> [u64; 2] {
    let id = parse_uuid(event_id).unwrap_or_else(|| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(event_id.as_bytes());
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&digest[i..i + 8]);
            u64::from_be_bytes(w)
        };
        [word(0), word(8)]
    });
    let c = context_hash(context);
    let key = [id[0] ^ c, id[1] ^ c.rotate_left(32)];
    // All zero marks an empty slot.
    if key == [0, 0] {
        [1, 0]
    } else {
        key
    }
}

/// trailhose-mx64-v1: a quick 64-bit hash of a few short strings. Per part: the state is
/// xored with the part's length and multiplied by K; each whole 8-byte little-endian word is
/// xored in, multiplied by K, then `h ^= h >> 29`; the zero-padded tail word, xored with 1 when
/// the part is present, is xored in and multiplied by K, then `h ^= h >> 32`. K is the 64-bit
/// golden ratio 0x9E3779B97F4A7C15, the seed 0x243F6A8885A308D3 (pi). SipHash costs more than
/// the lookup it keys, and these values are not chosen by an attacker who could aim at
/// collisions (AWS writes them).
fn context_hash(parts: &[Option<&str>]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    for part in parts {
        let bytes = part.map_or(&[][..], str::as_bytes);
        h = (h ^ bytes.len() as u64).wrapping_mul(K);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K);
            h ^= h >> 29;
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        h = (h ^ u64::from_le_bytes(tail) ^ part.is_some() as u64).wrapping_mul(K);
        h ^= h >> 32;
    }
    h
}

fn parse_uuid(s: &str) -> Option<[u64; 2]> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        v = (v << 4) | (c as char).to_digit(16)? as u128;
    }
    if v == 0 {
        return None;
    }
    Some([(v >> 64) as u64, v as u64])
}

impl DedupeTable {
    pub fn new(config: &DedupeConfig) -> Self {
        let slots = (config.max_entries.max(SHARDS) * 5 / 4 / SHARDS).max(MAX_PROBE);
        DedupeTable {
            shards: (0..SHARDS)
                .map(|_| {
                    CacheLine(Mutex::new(Shard {
                        slots: vec![[0; 5]; slots],
                    }))
                })
                .collect(),
            window: config.window_secs,
            newest: AtomicI64::new(0),
        }
    }

    /// Whether an event with this `eventID` and event time (seconds since the epoch) was seen
    /// before; remembers it if not.
    pub fn seen_before(&self, id: [u64; 2], time: i64) -> bool {
        let newest = raise(&self.newest, time);
        let cutoff = stamp(newest - self.window);
        let t = stamp(time);
        let mix = id[0] ^ id[1].rotate_left(17);
        let Ok(mut shard) = self.shards[(mix as usize) % SHARDS].lock() else {
            return false;
        };
        let len = shard.slots.len();
        let start = ((mix >> 8) as usize) % len;
        let wanted = make_slot(id, 0);
        let mut free: Option<usize> = None;
        let mut oldest = start;
        for step in 0..len.min(MAX_PROBE * 4) {
            let i = (start + step) % len;
            let slot = shard.slots[i];
            if slot[..4] == wanted[..4] {
                return true;
            }
            if slot[..4] == [0, 0, 0, 0] {
                // The end of the run: the id is not here.
                shard.slots[free.unwrap_or(i)] = make_slot(id, t);
                return false;
            }
            if free.is_none() && slot[4] < cutoff {
                free = Some(i);
            }
            if slot[4] < shard.slots[oldest][4] {
                oldest = i;
            }
            if step + 1 >= MAX_PROBE && free.is_some() {
                break;
            }
        }
        // Not found within the probe run: reuse an expired slot, or forget the oldest.
        shard.slots[free.unwrap_or(oldest)] = make_slot(id, t);
        false
    }

    /// Every remembered (id, event time) still in the window, for the state store.
    pub fn entries(&self) -> Vec<([u64; 2], i64)> {
        let cutoff = stamp(self.newest.load(Ordering::Relaxed) - self.window);
        let mut out = Vec::new();
        for shard in &self.shards {
            if let Ok(s) = shard.lock() {
                for slot in s
                    .slots
                    .iter()
                    .filter(|s| s[..4] != [0, 0, 0, 0] && s[4] >= cutoff)
                {
                    out.push((slot_id(slot), slot[4] as i64 + EPOCH_2010));
                }
            }
        }
        out
    }

    /// Remembers entries loaded from the state store.
    pub fn restore(&self, entries: &[([u64; 2], i64)]) {
        for (id, time) in entries {
            self.seen_before(*id, *time);
        }
    }
}

fn stamp(time: i64) -> u32 {
    (time - EPOCH_2010).clamp(0, u32::MAX as i64) as u32
}

/// `event_id_bits` of the three cases in `key_algorithm_is_pinned`. The third (no context) was
/// also computed outside Rust: SHA-256("not-a-uuid")'s first two big-endian words xored with
/// the seed and the seed rotated by 32 bits (Python's hashlib gives the same).
#[cfg(test)]
const PINNED_KEYS: [[u64; 2]; 3] = [
    [0x67d9_525c_30ce_c5a4, 0x21b8_97e6_67c9_141d],
    [0x7802_ed5c_801d_e11c, 0xed64_ce27_dffe_e31c],
    [0x05bb_c9a2_be0d_6204, 0xd374_4d3f_a247_c7e2],
];

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_571_200;

    fn table(max: usize) -> DedupeTable {
        DedupeTable::new(&DedupeConfig {
            enabled: true,
            window_secs: 3600,
            max_entries: max,
        })
    }

    #[test]
    fn key_algorithm_is_pinned() {
        // Saved tables depend on these exact values: if this fails, the key changed, and
        // KEY_ALGORITHM must be renamed so old tables are refused rather than mis-read.
        let ctx = [Some("GetObject"), Some("s3.amazonaws.com"), None];
        let got = [
            event_id_bits("3e5f1c2a-8b7d-4e6f-9a0b-1c2d3e4f5a6b", &ctx),
            event_id_bits("not-a-uuid", &ctx),
            event_id_bits("not-a-uuid", &[]),
        ];
        let want = PINNED_KEYS;
        assert_eq!(got, want, "{got:#x?}");
    }

    #[test]
    fn uuids_are_exact_and_others_hashed() {
        assert_eq!(
            parse_uuid("80486b96-9f31-441e-b4e2-b85a4e520a07"),
            Some([0x80486b969f31441e, 0xb4e2b85a4e520a07])
        );
        assert_eq!(parse_uuid("not-a-uuid"), None);
        let name = |n: &'static str| [Some(n), Some("s3.amazonaws.com"), Some("1")];
        assert_ne!(
            event_id_bits("id-1", &name("A")),
            event_id_bits("id-2", &name("A"))
        );
        assert_eq!(
            event_id_bits("id-1", &name("A")),
            event_id_bits("id-1", &name("A"))
        );
        // The same id on two different calls: two keys.
        let u = "a1474634-7457-45e1-bc0f-d47e7ad72f79";
        assert_ne!(
            event_id_bits(u, &name("CreateDistribution")),
            event_id_bits(u, &name("UpdateDistribution"))
        );
    }

    #[test]
    fn drops_only_repeats() {
        let t = table(10_000);
        for i in 0..5000u64 {
            assert!(
                !t.seen_before([i + 1, i * 7], T + i as i64),
                "new id {i} dropped"
            );
        }
        for i in 0..5000u64 {
            assert!(t.seen_before([i + 1, i * 7], T + 6000), "repeat {i} kept");
        }
    }

    #[test]
    fn a_full_table_forgets_but_never_drops_new_events() {
        let t = table(1000);
        for i in 0..100_000u64 {
            assert!(
                !t.seen_before([i + 1, 0], T + (i as i64 % 100)),
                "new id {i} dropped"
            );
        }
    }

    #[test]
    fn entries_survive_a_restore() {
        let a = table(1000);
        a.seen_before([1, 1], T);
        a.seen_before([2, 2], T + 10);
        let b = table(1000);
        b.restore(&a.entries());
        assert!(b.seen_before([1, 1], T + 20));
        assert!(b.seen_before([2, 2], T + 20));
        assert!(!b.seen_before([3, 3], T + 20));
    }
}
