//! A fast hasher for the enrichment caches' keys (access keys, IP addresses): std's SipHash
//! resists hash flooding at about four times the cost, which keys the caches bound in number
//! (and that are random by construction: access key ids) do not need. The mixing is the one
//! rustc's FxHasher uses, with a final fold so the high bits hashbrown reads are mixed too.

use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap<K, V, FastHash>`: see the module.
pub type FastHash = BuildHasherDefault<FastHasher>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    #[test]
    fn distinct_keys_hash_apart() {
        let h = FastHash::default();
        // Access keys differing in one character, and addresses in one octet.
        let keys: HashSet<u64> = (0..10_000)
            .map(|i| h.hash_one(format!("ASIAEXAMPLE{i:09}")))
            .collect();
        assert_eq!(keys.len(), 10_000);
        let ips: HashSet<u64> = (0..=255u8)
            .flat_map(|a| (0..=255u8).map(move |b| std::net::Ipv4Addr::new(10, a, b, 7)))
            .map(|ip| h.hash_one(std::net::IpAddr::V4(ip)))
            .collect();
        assert_eq!(ips.len(), 65_536);
        // A prefix is not its extension (the length is mixed in).
        assert_ne!(h.hash_one(&b"ab"[..]), h.hash_one(&b"ab\0"[..]));
    }
}
