//! The ECS and OCSF writers, and the raw line with its enrichment member: any bytes the record
//! parser takes as a JSON object are written as one line of valid JSON in each format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simd_json::prelude::*;
use trailhose::decode::parse::RecordParser;
use trailhose::transform::ecs::write_ecs_line;
use trailhose::transform::normalize::{Findings, NormalizeConfig, Scratch};
use trailhose::transform::ocsf::write_ocsf_line;
use trailhose::transform::raw::write_enriched_line;
use trailhose::transform::trail_fields::TrailFields;

fn check(what: &str, line: &[u8]) {
    assert_eq!(line.last(), Some(&b'\n'), "{what}: one line");
    let line = &line[..line.len() - 1];
    assert!(!line.contains(&b'\n'), "{what}: one line");
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
        panic!(
            "{what} output is not JSON ({e}): {}",
            String::from_utf8_lossy(line)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let config = NormalizeConfig {
        max_field_bytes: 256,
        ..NormalizeConfig::default()
    };
    let mut parser = RecordParser::new();
    let _ = parser.with_value(data, |v, raw| {
        if v.as_object().is_none() {
            return;
        }
        let fields = TrailFields {
            clean_strings: trailhose::transform::fields::clean_json_text(raw),
            ..TrailFields::read(v)
        };
        let mut scratch = Scratch::default();
        let find = Findings::default();
        let mut out = Vec::new();
        write_ecs_line(&mut out, &fields, &find, &config, &mut scratch, raw, true);
        check("ECS", &out);
        out.clear();
        write_ocsf_line(&mut out, &fields, &find, &config, &mut scratch, raw, true);
        check("OCSF", &out);
        out.clear();
        write_enriched_line(&mut out, raw, true, |o| o.extend_from_slice(b"{}"));
        check("raw", &out);
    });
});
