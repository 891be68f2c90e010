//! Sources: where blobs come from. Each source lists its inputs in the order they should be
//! read and hands them on as blobs with ack tokens; it never decodes.

pub mod aws;
pub mod dir;
pub mod s3;
pub mod sqs;
pub mod stdin;
pub mod trail_layout;
