//! Per-stage benchmarks on a `trailhose gen` archive: gunzip, split, parse, serialize (raw,
//! ECS, OCSF: parsing excluded, the tapes are made beforehand), and the whole per-blob decode. Each reports decompressed bytes/s, so the stages compare directly
//! with the inflater, the floor (DESIGN.md: "Measure each stage's bytes/s against the inflater's").

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use trailhose::decode::parse::RecordParser;
use trailhose::decode::split::{RecordSplitter, Split, SplitLimits};
use trailhose::decode::{gzip, BlobDecoder, DecodeError, Record, RecordOutput, Skipped};
use trailhose::gen::{generate_archive, GenOptions};
use trailhose::transform::ecs::write_ecs_line;
use trailhose::transform::normalize::{Findings, NormalizeConfig, Scratch};
use trailhose::transform::ocsf::write_ocsf_line;
use trailhose::transform::raw::{minify_into, write_raw_line};
use trailhose::transform::trail_fields::TrailFields;

struct Archive {
    gz: Vec<Vec<u8>>,
    plain: Vec<Vec<u8>>,
    records: Vec<Vec<u8>>,
    bytes: u64,
}

fn archive() -> Archive {
    let dir = tempfile::tempdir().expect("tempdir");
    generate_archive(
        dir.path(),
        // The realistic trail (many sessions, role chains, late deliveries): what enrichment
        // costs on an organization's trail, not on a tidy one.
        &GenOptions::preset("realistic", 20_000).expect("preset"),
    )
    .expect("gen");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains("/CloudTrail/") {
                files.push(p);
            }
        }
    }
    files.sort();
    let gz: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let plain: Vec<Vec<u8>> = gz
        .iter()
        .map(|g| {
            let mut out = Vec::new();
            gzip::decompress(&g[..])
                .expect("gz")
                .reader
                .read_to_end(&mut out)
                .expect("inflate");
            out
        })
        .collect();
    let mut records = Vec::new();
    let mut splitter = RecordSplitter::new(SplitLimits::default());
    for p in &plain {
        splitter.split_slice(p, &mut |s| {
            if let Split::Item { bytes, .. } = s {
                records.push(bytes.to_vec());
            }
        });
    }
    let bytes = plain.iter().map(|p| p.len() as u64).sum();
    Archive {
        gz,
        plain,
        records,
        bytes,
    }
}

struct CountingOutput {
    records: u64,
}

impl RecordOutput for CountingOutput {
    fn record(&mut self, record: Record<'_>) {
        std::hint::black_box(record.bytes);
        self.records += 1;
    }
    fn error(&mut self, e: DecodeError, _: &[u8], _: bool) {
        panic!("bench input is bad: {e}");
    }
    fn skipped(&mut self, _: Skipped) {}
}

fn stages(c: &mut Criterion) {
    let a = archive();
    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Bytes(a.bytes));
    g.sample_size(20);

    g.bench_function(BenchmarkId::new("gunzip", "zlib-rs"), |b| {
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            for f in &a.gz {
                out.clear();
                gzip::decompress(&f[..])
                    .expect("gz")
                    .reader
                    .read_to_end(&mut out)
                    .expect("inflate");
            }
        })
    });
    g.bench_function(BenchmarkId::new("gunzip", "libdeflate"), |b| {
        let mut inflater = libdeflater::Decompressor::new();
        let mut out = vec![0u8; 16 << 20];
        b.iter(|| {
            for f in &a.gz {
                inflater.gzip_decompress(f, &mut out).expect("inflate");
            }
        })
    });
    g.bench_function("split", |b| {
        let mut splitter = RecordSplitter::new(SplitLimits::default());
        b.iter(|| {
            let mut n = 0u64;
            for p in &a.plain {
                splitter.split_slice(p, &mut |s| n += matches!(s, Split::Item { .. }) as u64);
            }
            n
        })
    });
    g.bench_function("parse", |b| {
        let mut parser = RecordParser::new();
        b.iter(|| {
            for r in &a.records {
                parser.check_record(r).expect("record");
            }
        })
    });
    g.bench_function(BenchmarkId::new("serialize", "raw"), |b| {
        let mut out = Vec::with_capacity(2 << 20);
        b.iter(|| {
            for r in &a.records {
                if out.len() > 1 << 20 {
                    out.clear();
                }
                write_raw_line(&mut out, r, false);
            }
        })
    });
    g.bench_function(BenchmarkId::new("serialize", "minify"), |b| {
        let mut out = Vec::with_capacity(2 << 20);
        b.iter(|| {
            for r in &a.records {
                if out.len() > 1 << 20 {
                    out.clear();
                }
                minify_into(&mut out, r);
            }
        })
    });
    // The normalized formats from parse tapes made once (simd-json rewrites its input, so
    // each record is parsed from its own copy, kept alive beside its tape).
    let mut copies: Vec<Vec<u8>> = a.records.clone();
    let tapes: Vec<simd_json::tape::Tape<'_>> = copies
        .iter_mut()
        .map(|c| simd_json::to_tape(c).expect("tape"))
        .collect();
    let normalize = NormalizeConfig::default();
    for (name, format) in [("ecs", 0), ("ocsf", 1)] {
        g.bench_function(BenchmarkId::new("serialize", name), |b| {
            let mut out = Vec::with_capacity(4 << 20);
            let mut scratch = Scratch::default();
            b.iter(|| {
                for (t, r) in tapes.iter().zip(&a.records) {
                    if out.len() > 2 << 20 {
                        out.clear();
                    }
                    let f = TrailFields {
                        clean_strings: trailhose::transform::fields::clean_json_text(r),
                        ..TrailFields::read(t.as_value())
                    };
                    let find = Findings::default();
                    if format == 0 {
                        write_ecs_line(&mut out, &f, &find, &normalize, &mut scratch, r, false);
                    } else {
                        write_ocsf_line(&mut out, &f, &find, &normalize, &mut scratch, r, false);
                    }
                }
            })
        });
    }
    g.bench_function(BenchmarkId::new("decode_blob", "in_memory"), |b| {
        let mut decoder = BlobDecoder::new(SplitLimits::default());
        let origin: Arc<str> = Arc::from("bench");
        b.iter(|| {
            let mut out = CountingOutput { records: 0 };
            for f in &a.gz {
                decoder.decode_bytes(&origin, f, &mut out);
            }
            out.records
        })
    });
    g.bench_function(BenchmarkId::new("decode_blob", "streamed"), |b| {
        let mut decoder = BlobDecoder::new(SplitLimits::default());
        let origin: Arc<str> = Arc::from("bench");
        b.iter(|| {
            let mut out = CountingOutput { records: 0 };
            for f in &a.gz {
                decoder.decode(&origin, &f[..], &mut out);
            }
            out.records
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
