//! Transform: what happens to a record between parsing and the sinks: the raw output format,
//! the `enrichment` object (source, noise, resources), attribution, GeoIP, dedupe, the filters,
//! and the normalized formats (ECS, OCSF).

pub mod attribution;
pub mod dedupe;
pub mod ecs;
pub mod enrich;
pub mod fast_hash;
pub mod fields;
pub mod filter;
pub mod geoip;
pub mod json_writer;
pub mod noise;
pub mod normalize;
pub mod ocsf;
pub mod raw;
pub mod reorder;
pub mod resources;
pub mod shared;
pub mod trail_fields;
pub mod user_agent;
