//! Helpers for state that every worker touches: keeping shards on their own cache lines, and
//! raising a shared maximum without writing to it when it would not change. Both exist because
//! two cores writing one cache line take turns owning it, which costs more than the work.

use std::ops::Deref;
use std::sync::atomic::{AtomicI64, Ordering};

/// A value alone on its cache line(s), so locking one shard does not slow its neighbours.
#[repr(align(128))]
pub struct CacheLine<T>(pub T);

impl<T> Deref for CacheLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Raises `max` to `value` if it is larger and returns the maximum. Reads first: event times
/// rise slowly, so most calls write nothing.
pub fn raise(max: &AtomicI64, value: i64) -> i64 {
    let current = max.load(Ordering::Relaxed);
    if value <= current {
        return current;
    }
    max.fetch_max(value, Ordering::Relaxed).max(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_keeps_the_maximum() {
        let m = AtomicI64::new(5);
        assert_eq!(raise(&m, 3), 5);
        assert_eq!(raise(&m, 9), 9);
        assert_eq!(m.load(Ordering::Relaxed), 9);
        assert_eq!(std::mem::align_of::<CacheLine<u8>>(), 128);
    }
}
