//! Transform: what happens to a record between parsing and the sinks: the raw output format,
//! the `enrichment` object (source, noise, resources) and the filters. Attribution, GeoIP,
//! dedupe and the ECS/OCSF formats come here as they are built.

pub mod attribution;
pub mod dedupe;
pub mod enrich;
pub mod fields;
pub mod filter;
pub mod geoip;
pub mod noise;
pub mod raw;
pub mod reorder;
pub mod resources;
pub mod shared;
