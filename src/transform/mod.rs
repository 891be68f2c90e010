//! Transform: what happens to a record between parsing and the sinks. For now the raw format;
//! normalization (ECS, OCSF) and enrichment come here as they are built.

pub mod raw;
