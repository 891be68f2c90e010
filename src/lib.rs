//! trailhose: AWS CloudTrail in, clean events out, as fast as the hardware allows, with bounded
//! memory and without losing an event. See DESIGN.md for the map of the stages.

pub mod decode;
