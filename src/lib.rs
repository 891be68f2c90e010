//! trailhose: AWS CloudTrail in, clean events out, as fast as the hardware allows, with bounded
//! memory and without losing an event. `DESIGN.md` maps the stages; `pipeline` wires them.

pub mod blob;
pub mod config;
pub mod dead_letter;
pub mod decode;
pub mod gen;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod sink;
pub mod source;
pub mod state;
pub mod stats;
pub mod transform;
pub mod verify;
pub mod worker;
