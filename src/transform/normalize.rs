//! Output formats: `raw` (the record as delivered, plus `enrichment`), `ecs` and `ocsf`. Each
//! sink names its format; a worker writes each record once per format some sink asks for.

use serde::Deserialize;

use super::attribution::Actor;
use super::geoip::GeoAnswer;
use super::noise::Noise;

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
    pub resources: &'a [String],
}

/// Per-worker buffers the normalized formats reuse between records.
#[derive(Debug, Default)]
pub struct Scratch {
    pub blob: Vec<u8>,
    pub unmapped: Vec<u8>,
    pub original: Vec<u8>,
}

impl Scratch {
    /// Drops buffers a huge record grew, so one record does not pin its size for the run.
    pub fn trim(&mut self) {
        for b in [&mut self.blob, &mut self.unmapped, &mut self.original] {
            if b.capacity() > 1 << 20 {
                *b = Vec::new();
            }
        }
    }
}
