//! The cost of crash-safe state (`ledger.rs`, `state.rs`), to choose how it is stored: one
//! commit of a full dedupe table (the default million ids: the ledger's snapshot, then the
//! atomic write with its fsyncs), and the per-event cost of remembering delivered ids.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use trailhose::ledger::{EventKey, Ledger};
use trailhose::state::{Commit, StateDir};
use trailhose::transform::dedupe::DedupeConfig;

const T: i64 = 1_767_571_200;

fn keys(n: u64) -> Vec<EventKey> {
    keys_from(0, n)
}

/// `n` distinct keys starting at the `from`th.
fn keys_from(from: u64, n: u64) -> Vec<EventKey> {
    (from..from + n)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            ([x, x.rotate_left(29)], T + (i % 3600) as i64)
        })
        .collect()
}

fn state(c: &mut Criterion) {
    let mut g = c.benchmark_group("state");
    g.sample_size(10);
    let config = DedupeConfig::default();
    for entries in [100_000u64, 1_000_000] {
        let ledger = Ledger::new(vec![Some(0)], Some(&config));
        ledger.delivered(&keys(entries));
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::open(dir.path()).expect("state");
        g.throughput(Throughput::Elements(entries));
        g.bench_function(BenchmarkId::new("commit", entries), |b| {
            b.iter(|| {
                let snap = ledger.snapshot(None);
                state
                    .commit(&Commit {
                        source: snap.source,
                        sinks: Default::default(),
                        delivered: snap.delivered,
                    })
                    .expect("commit")
            })
        });
    }
    // New ids each time (a table filling up, then forgetting its oldest), as in a replay.
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("remember_delivered_ids", |b| {
        let ledger = Ledger::new(vec![None], Some(&config));
        let mut next = 0;
        b.iter_batched(
            || {
                next += 10_000;
                keys_from(next, 10_000)
            },
            |batch| ledger.delivered(&batch),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, state);
criterion_main!(benches);
