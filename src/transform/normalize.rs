//! Output formats: `raw` (the record as delivered, plus `enrichment`), `ecs` and `ocsf`. Each
//! sink names its format; a worker writes each record once per format some sink asks for.

use serde::Deserialize;

use super::attribution::Actor;
use super::fields::write_json_str;
use super::geoip::GeoAnswer;
use super::json_writer::{cap_utf8, write_json_text_as_string, DocWriter};
use super::noise::Noise;
use super::raw::minify_into;
use super::trail_fields::TrailFields;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The CloudTrail record as delivered, plus the `enrichment` object when enriching.
    #[default]
    Raw,
    /// Elastic Common Schema, as Elastic's AWS CloudTrail integration maps it.
    Ecs,
    /// OCSF 1.1.0, as AWS Security Lake maps CloudTrail.
    Ocsf,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Raw, Format::Ecs, Format::Ocsf];

    pub fn label(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
        }
    }
}

/// When a normalized event carries the whole original record (`event.original` in ECS,
/// `raw_data` in OCSF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum KeepOriginal {
    /// Never: the blobs' capped strings and `unmapped` hold everything but what was cut.
    #[default]
    Never,
    /// Only in events where a blob was cut to the cap, so nothing is lost.
    Truncated,
    /// In every event (doubles the output).
    Always,
}

impl KeepOriginal {
    /// Whether this event carries the original, `cut` saying whether some field was cut (it
    /// is only asked when that matters).
    pub fn keep(self, cut: impl FnOnce() -> bool) -> bool {
        match self {
            KeepOriginal::Never => false,
            KeepOriginal::Always => true,
            KeepOriginal::Truncated => cut(),
        }
    }
}

/// `[normalize]`: how `ecs` and `ocsf` events are written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeConfig {
    /// Most bytes of one blob field (`requestParameters` and the like, written as a JSON
    /// string); longer ones are cut and flagged. 32766 is Elasticsearch's limit for one
    /// keyword value.
    pub max_field_bytes: usize,
    /// When the whole original record rides along.
    pub keep_original: KeepOriginal,
    /// ECS only: also write the blobs as objects under `aws.cloudtrail.flattened.*`, as
    /// Elastic's integration does for its `flattened`-typed fields. Only for an index whose
    /// template maps them `flattened`; anywhere else they explode the mapping.
    pub ecs_flattened: bool,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            max_field_bytes: 32766,
            keep_original: KeepOriginal::Never,
            ecs_flattened: false,
        }
    }
}

/// What the pipeline learned about a record (present when enriching).
#[derive(Debug, Default, Clone, Copy)]
pub struct Findings<'a> {
    pub actor: Option<&'a Actor>,
    pub noise: Option<&'a Noise>,
    pub source_kind: Option<&'static str>,
    pub geo: Option<&'a GeoAnswer>,
    pub resources: &'a [std::borrow::Cow<'a, str>],
}

/// Per-worker buffers the normalized formats reuse between records.
#[derive(Debug, Default)]
pub struct Scratch {
    pub blob: Vec<u8>,
    pub unmapped: Vec<u8>,
    pub original: Vec<u8>,
}

impl Scratch {
    /// Collects the record's members no field takes into `unmapped` (empty when none).
    pub fn collect_unmapped(&mut self, f: &TrailFields<'_>) {
        self.unmapped.clear();
        let unplaced = f.unplaced();
        if unplaced.any() {
            f.write_unmapped(unplaced, &mut self.unmapped);
        }
    }

    /// Writes what `collect_unmapped` found under `key` as a JSON string of at most `cap`
    /// bytes; true when it was cut.
    pub fn write_unmapped(&self, d: &mut DocWriter<'_>, key: &str, cap: usize) -> bool {
        if self.unmapped.is_empty() {
            return false;
        }
        let (text, cut) = cap_utf8(&self.unmapped, cap);
        d.key(key);
        write_json_text_as_string(d.out, text);
        cut
    }

    /// Writes the whole record, minified, under `key` as a JSON string.
    pub fn write_original(
        &mut self,
        d: &mut DocWriter<'_>,
        key: &str,
        original: &[u8],
        has_whitespace: bool,
    ) {
        self.original.clear();
        if has_whitespace {
            minify_into(&mut self.original, original);
        } else {
            self.original.extend_from_slice(original);
        }
        d.key(key);
        write_json_str(d.out, std::str::from_utf8(&self.original).unwrap_or(""));
    }

    /// Drops buffers a huge record grew, so one record does not pin its size for the run.
    pub fn trim(&mut self) {
        for b in [&mut self.blob, &mut self.unmapped, &mut self.original] {
            if b.capacity() > 1 << 20 {
                *b = Vec::new();
            }
        }
    }
}
