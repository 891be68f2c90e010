//! trailhose: AWS CloudTrail in, clean events out, as fast as the hardware allows, with bounded
//! memory and without losing an event. `DESIGN.md` maps the stages; `topology` wires them.
#![forbid(unsafe_code)]

pub mod blob;
pub mod config;
pub mod dead_letter;
pub mod decode;
pub mod gen;
pub mod health;
pub mod kafka;
pub mod ledger;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod state;
pub mod stats;
pub mod stream_chunks;
pub mod topology;
pub mod transform;
pub mod verify;
pub mod worker;
