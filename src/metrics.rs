//! Telemetry in one place: every metric name and label, their help text, the Prometheus
//! recorder, and the `/metrics`, `/health` and `/ready` endpoint. The README's metric table mirrors this.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::decode::ErrorKind;
use crate::health::Health;
use crate::transform::filter::DropReason;

/// Inputs (files, stdin) opened; label `source`.
pub const INPUTS: &str = "trailhose_inputs_total";
/// Inputs whose every event every sink acknowledged (or that were dropped deliberately).
pub const INPUTS_ACKED: &str = "trailhose_inputs_acked_total";
/// Inputs whose events some sink did not take (the source keeps their position).
pub const INPUTS_FAILED: &str = "trailhose_inputs_failed_total";
/// Files and folders a directory walk did not read, by `reason` (`hidden`, `empty`).
pub const INPUTS_SKIPPED: &str = "trailhose_inputs_skipped_total";
/// Bytes read from inputs as stored (compressed).
pub const INPUT_BYTES: &str = "trailhose_input_bytes_total";
/// Bytes after decompression.
pub const DECOMPRESSED_BYTES: &str = "trailhose_decompressed_bytes_total";
/// CloudTrail records decoded.
pub const RECORDS_IN: &str = "trailhose_records_in_total";
/// Records a sink delivered; label `sink` (the sink's id).
pub const RECORDS_OUT: &str = "trailhose_records_out_total";
/// Requests a sink sent; labels `sink`, `result` (`delivered`, `partial`: some records were
/// answered one by one, `retry`, `fatal`).
pub const SINK_REQUESTS: &str = "trailhose_sink_requests_total";
/// Retries of a sink's requests (whole or of some records); label `sink`.
pub const SINK_RETRIES: &str = "trailhose_sink_retries_total";
/// Records a sink rejected (they go to the dead-letter output); label `sink`.
pub const SINK_REJECTED: &str = "trailhose_sink_records_rejected_total";
/// Time a sink's request took, answered or timed out; label `sink`.
pub const SINK_REQUEST_SECONDS: &str = "trailhose_sink_request_duration_seconds";
/// Records dropped on purpose (repeated deliveries, filters); label `reason` (see
/// `DropReason::label`).
pub const EVENTS_DROPPED: &str = "trailhose_events_dropped_total";
/// Bad input; label `kind` (see `ErrorKind::label`).
pub const ERRORS: &str = "trailhose_errors_total";
/// Digest files skipped (they hold no events).
pub const DIGESTS_SKIPPED: &str = "trailhose_digests_skipped_total";
/// CloudWatch Logs control messages skipped.
pub const CONTROL_MESSAGES_SKIPPED: &str = "trailhose_control_messages_skipped_total";
/// Entries written to the dead-letter output.
pub const DEAD_LETTERED: &str = "trailhose_dead_letter_records_total";
/// Items waiting in a channel; label `channel` (`blobs`, or `sink_<name>` in batches).
pub const CHANNEL_DEPTH: &str = "trailhose_channel_depth";
/// A channel's bound; label `channel`.
pub const CHANNEL_CAPACITY: &str = "trailhose_channel_capacity";
/// Time to decode one input and hand its batches to the sinks.
pub const BLOB_SECONDS: &str = "trailhose_blob_processing_seconds";
/// Records by how their actor was resolved; label `method` (see `Method::label`).
pub const ACTORS: &str = "trailhose_actors_total";
/// Temporary keys the attribution table remembers.
pub const ATTRIBUTION_KEYS: &str = "trailhose_attribution_keys";
/// Calls waiting in the reorder window for their key's issuing event.
pub const REORDER_WAITING: &str = "trailhose_reorder_window_events";
/// Decode workers running.
pub const WORKERS: &str = "trailhose_workers";

/// S3 listing requests made.
pub const S3_LIST_REQUESTS: &str = "trailhose_s3_list_requests_total";
/// S3 log files listed (in the window, before the checkpoint filter).
pub const S3_OBJECTS_LISTED: &str = "trailhose_s3_objects_listed_total";
/// S3 objects whose GET succeeded.
pub const S3_OBJECTS_FETCHED: &str = "trailhose_s3_objects_fetched_total";
/// S3 objects done; label `result` (`acked`: every event in every sink; `failed`).
pub const S3_OBJECTS_DONE: &str = "trailhose_s3_objects_done_total";
/// Bytes read from S3 (as stored).
pub const S3_BYTES: &str = "trailhose_s3_bytes_total";
/// S3 objects being fetched now.
pub const S3_FETCHES_IN_FLIGHT: &str = "trailhose_s3_fetches_in_flight";
/// How many S3 objects may be fetched at once now (the adaptive limit).
pub const S3_FETCH_CONCURRENCY: &str = "trailhose_s3_fetch_concurrency";
/// S3 answers `503 SlowDown` (each retried by the SDK).
pub const S3_SLOWDOWNS: &str = "trailhose_s3_slowdowns_total";
/// Times the fetch limit was halved for SlowDown answers.
pub const S3_FETCH_BACKOFFS: &str = "trailhose_s3_fetch_backoffs_total";
/// Checkpoint lag: the delivery time (Unix seconds) of the oldest object handed on and not yet
/// acknowledged; `time() - this` is how far the checkpoint trails. 0 when nothing is pending.
pub const CHECKPOINT_OLDEST_PENDING: &str = "trailhose_checkpoint_oldest_pending_timestamp_seconds";
/// Commits to the state directory (`checkpoint.bin`); label `result` (`ok`, `failed`).
pub const STATE_COMMITS: &str = "trailhose_state_commits_total";
/// SQS messages received.
pub const SQS_RECEIVED: &str = "trailhose_sqs_messages_received_total";
/// SQS messages deleted (every object they named is acknowledged).
pub const SQS_DELETED: &str = "trailhose_sqs_messages_deleted_total";
/// SQS visibility extensions made for messages still in flight.
pub const SQS_EXTENDED: &str = "trailhose_sqs_visibility_extensions_total";
/// SQS messages returned to the queue for redelivery (some object failed).
pub const SQS_RETURNED: &str = "trailhose_sqs_messages_returned_total";
/// SQS messages that named no log file (S3 test events, digests, other objects); deleted.
pub const SQS_IGNORED: &str = "trailhose_sqs_messages_ignored_total";
/// SQS messages in flight (received, not yet deleted or returned).
pub const SQS_IN_FLIGHT: &str = "trailhose_sqs_messages_in_flight";
/// Kafka messages consumed (offsets handed on, tombstones included); label `topic`.
pub const KAFKA_MESSAGES_IN: &str = "trailhose_kafka_messages_in_total";
/// Payload bytes consumed; label `topic`.
pub const KAFKA_BYTES_IN: &str = "trailhose_kafka_bytes_in_total";
/// Messages a Kafka sink produced (sent; delivery is `trailhose_records_out_total`); label `sink`.
pub const KAFKA_MESSAGES_OUT: &str = "trailhose_kafka_messages_out_total";
/// Payload bytes a Kafka sink produced (before compression); label `sink`.
pub const KAFKA_BYTES_OUT: &str = "trailhose_kafka_bytes_out_total";
/// Offset commits that succeeded.
pub const KAFKA_COMMITS: &str = "trailhose_kafka_commits_total";
/// Offset commits that failed (retried with the next commit).
pub const KAFKA_COMMIT_ERRORS: &str = "trailhose_kafka_commit_errors_total";
/// Records a Kafka sink could not deliver, by `reason` (`too_large_or_invalid`,
/// `authorization`, `fatal`, `timed_out`, `other`); label `sink`.
pub const KAFKA_DELIVERY_ERRORS: &str = "trailhose_kafka_delivery_errors_total";
/// Consumer group rebalances; label `kind` (`assign`, `revoke`).
pub const KAFKA_REBALANCES: &str = "trailhose_kafka_rebalances_total";
/// Messages between the group's committed offset and the partition's end; labels `topic`,
/// `partition` (from librdkafka's statistics, every 5 s).
pub const KAFKA_CONSUMER_LAG: &str = "trailhose_kafka_consumer_lag_messages";
/// Messages waiting in a Kafka sink's producer queue; label `sink`.
pub const KAFKA_PRODUCER_QUEUE: &str = "trailhose_kafka_producer_queue_messages";
/// Kafka producers replaced after a fatal error; label `sink`.
pub const KAFKA_PRODUCER_RESTARTS: &str = "trailhose_kafka_producer_restarts_total";
/// Errors librdkafka reported (broker down, authentication...); label `client` (`source`,
/// `sink <id>`).
pub const KAFKA_CLIENT_ERRORS: &str = "trailhose_kafka_client_errors_total";
/// HTTP requests an HTTP sink sent; labels `sink`, `status` (the code, or `error` when no
/// answer came: a refused or dropped connection, a timeout).
pub const HTTP_REQUESTS: &str = "trailhose_http_requests_total";
/// Request body bytes an HTTP sink sent before compression; label `sink`.
pub const HTTP_BODY_BYTES: &str = "trailhose_http_body_bytes_total";
/// Request body bytes an HTTP sink put on the wire (after compression); label `sink`.
pub const HTTP_WIRE_BYTES: &str = "trailhose_http_wire_bytes_total";
/// HTTP requests an HTTP sink has in flight; label `sink`.
pub const HTTP_IN_FLIGHT: &str = "trailhose_http_requests_in_flight";
/// Splunk HEC batches sent and waiting for their indexer acknowledgement; label `sink`.
pub const HEC_ACKS_PENDING: &str = "trailhose_splunk_hec_acks_pending";

/// Buckets for per-input time: trail files take milliseconds, huge replays seconds.
const BLOB_SECONDS_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// Buckets for sink requests: a local write takes microseconds, an HTTP bulk request up to
/// the request timeout.
const SINK_REQUEST_SECONDS_BUCKETS: [f64; 12] = [
    0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 120.0,
];

/// Gives every metric its help text and unit.
pub fn describe() {
    describe_counter!(INPUTS, "Inputs (files, stdin) opened.");
    describe_counter!(
        INPUTS_ACKED,
        "Inputs whose every event every sink acknowledged."
    );
    describe_counter!(INPUTS_FAILED, "Inputs whose events some sink did not take.");
    describe_counter!(
        INPUTS_SKIPPED,
        "Files and folders found in a directory walk and not read, by reason (hidden, empty)."
    );
    describe_counter!(
        INPUT_BYTES,
        Unit::Bytes,
        "Bytes read from inputs as stored (compressed)."
    );
    describe_counter!(
        DECOMPRESSED_BYTES,
        Unit::Bytes,
        "Bytes after decompression."
    );
    describe_counter!(RECORDS_IN, "CloudTrail records decoded.");
    describe_counter!(RECORDS_OUT, "Records a sink delivered.");
    describe_counter!(
        SINK_REQUESTS,
        "Requests a sink sent, by result (delivered, partial, retry, fatal)."
    );
    describe_counter!(SINK_RETRIES, "Retries of a sink's requests.");
    describe_counter!(
        SINK_REJECTED,
        "Records a sink rejected; they go to the dead-letter output."
    );
    describe_histogram!(
        SINK_REQUEST_SECONDS,
        Unit::Seconds,
        "Time a sink's request took, answered or timed out."
    );
    describe_counter!(ERRORS, "Bad input, by kind.");
    describe_counter!(
        EVENTS_DROPPED,
        "Records dropped on purpose (repeated deliveries, filters), by reason."
    );
    describe_counter!(DIGESTS_SKIPPED, "CloudTrail digest files skipped.");
    describe_counter!(
        CONTROL_MESSAGES_SKIPPED,
        "CloudWatch Logs control messages skipped."
    );
    describe_counter!(DEAD_LETTERED, "Entries written to the dead-letter output.");
    describe_gauge!(CHANNEL_DEPTH, "Items waiting in a channel between stages.");
    describe_gauge!(CHANNEL_CAPACITY, "The bound of a channel between stages.");
    describe_histogram!(
        BLOB_SECONDS,
        Unit::Seconds,
        "Time to decode one input and hand it to the sinks."
    );
    describe_gauge!(WORKERS, "Decode workers running.");
    describe_counter!(ACTORS, "Enriched records by how their actor was resolved.");
    describe_gauge!(
        ATTRIBUTION_KEYS,
        "Temporary keys the attribution table remembers."
    );
    describe_gauge!(
        REORDER_WAITING,
        "Calls waiting in the reorder window for their key's issuing event."
    );
    describe_counter!(S3_LIST_REQUESTS, "S3 listing requests made.");
    describe_counter!(S3_OBJECTS_LISTED, "S3 log files listed in the window.");
    describe_counter!(S3_OBJECTS_FETCHED, "S3 objects whose GET succeeded.");
    describe_counter!(
        S3_OBJECTS_DONE,
        "S3 objects done: acked (every event in every sink) or failed."
    );
    describe_counter!(S3_BYTES, Unit::Bytes, "Bytes read from S3 (as stored).");
    describe_gauge!(S3_FETCHES_IN_FLIGHT, "S3 objects being fetched now.");
    describe_gauge!(
        S3_FETCH_CONCURRENCY,
        "How many S3 objects may be fetched at once now (adapts between fetch_concurrency and fetch_concurrency_max)."
    );
    describe_counter!(
        S3_SLOWDOWNS,
        "S3 503 SlowDown answers (each retried with backoff)."
    );
    describe_counter!(
        S3_FETCH_BACKOFFS,
        "Times the S3 fetch limit was halved after SlowDown answers."
    );
    describe_gauge!(
        CHECKPOINT_OLDEST_PENDING,
        "Delivery time (Unix seconds) of the oldest object handed on and not yet acknowledged; 0 when none."
    );
    describe_counter!(
        STATE_COMMITS,
        "Commits of the checkpoint, delivered ids and file lengths to the state directory, by result."
    );
    describe_counter!(SQS_RECEIVED, "SQS messages received.");
    describe_counter!(
        SQS_DELETED,
        "SQS messages deleted after every object they named was acknowledged."
    );
    describe_counter!(
        SQS_EXTENDED,
        "SQS visibility extensions for messages in flight."
    );
    describe_counter!(
        SQS_RETURNED,
        "SQS messages returned for redelivery because an object failed."
    );
    describe_counter!(
        SQS_IGNORED,
        "SQS messages naming no log file (test events, digests)."
    );
    describe_gauge!(
        SQS_IN_FLIGHT,
        "SQS messages received and not yet deleted or returned."
    );
    describe_counter!(KAFKA_MESSAGES_IN, "Kafka messages consumed.");
    describe_counter!(KAFKA_BYTES_IN, Unit::Bytes, "Kafka payload bytes consumed.");
    describe_counter!(KAFKA_MESSAGES_OUT, "Messages a Kafka sink produced.");
    describe_counter!(
        KAFKA_BYTES_OUT,
        Unit::Bytes,
        "Payload bytes a Kafka sink produced (before compression)."
    );
    describe_counter!(KAFKA_COMMITS, "Kafka offset commits that succeeded.");
    describe_counter!(KAFKA_COMMIT_ERRORS, "Kafka offset commits that failed.");
    describe_counter!(
        KAFKA_DELIVERY_ERRORS,
        "Records a Kafka sink could not deliver, by reason."
    );
    describe_counter!(KAFKA_REBALANCES, "Kafka consumer group rebalances.");
    describe_gauge!(
        KAFKA_CONSUMER_LAG,
        "Messages between the committed offset and the partition's end."
    );
    describe_gauge!(
        KAFKA_PRODUCER_QUEUE,
        "Messages waiting in a Kafka sink's producer queue."
    );
    describe_counter!(
        KAFKA_PRODUCER_RESTARTS,
        "Kafka producers replaced after a fatal error."
    );
    describe_counter!(KAFKA_CLIENT_ERRORS, "Errors librdkafka reported.");
    describe_counter!(HTTP_REQUESTS, "HTTP requests an HTTP sink sent, by status.");
    describe_counter!(
        HTTP_BODY_BYTES,
        Unit::Bytes,
        "HTTP request body bytes before compression."
    );
    describe_counter!(
        HTTP_WIRE_BYTES,
        Unit::Bytes,
        "HTTP request body bytes on the wire, after compression."
    );
    describe_gauge!(HTTP_IN_FLIGHT, "HTTP requests in flight.");
    describe_gauge!(
        HEC_ACKS_PENDING,
        "Splunk HEC batches waiting for their indexer acknowledgement."
    );
}

/// Registers every error kind and drop reason at zero, so a scrape shows the whole family.
pub fn register_error_kinds() {
    for kind in ErrorKind::ALL {
        metrics::counter!(ERRORS, "kind" => kind.label()).increment(0);
    }
    for reason in DropReason::ALL {
        metrics::counter!(EVENTS_DROPPED, "reason" => reason.label()).increment(0);
    }
}

/// Installs the Prometheus recorder for this process.
pub fn install_recorder() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(BLOB_SECONDS.to_string()),
            &BLOB_SECONDS_BUCKETS,
        )
        .map_err(|e| format!("metrics buckets: {e}"))?
        .set_buckets_for_metric(
            Matcher::Full(SINK_REQUEST_SECONDS.to_string()),
            &SINK_REQUEST_SECONDS_BUCKETS,
        )
        .map_err(|e| format!("metrics buckets: {e}"))?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    describe();
    register_error_kinds();
    Ok(handle)
}

/// Serves `GET /metrics` (Prometheus text format), `GET /health` (liveness) and `GET /ready`
/// (readiness; see `health.rs`) until the runtime stops.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle, health: Arc<Health>) {
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let (handle, health) = (handle.clone(), health.clone());
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            // Read the request head; bodies are not expected.
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let line = head.split(|&b| b == b'\r').next().unwrap_or(&[]);
            let mut parts = line.split(|&b| b == b' ');
            let (method, path) = (parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]));
            let path = path.split(|&b| b == b'?').next().unwrap_or(&[]);
            let (status, content_type, body) = match (method, path) {
                (b"GET", b"/metrics") => (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    handle.render(),
                ),
                (b"GET", b"/health") => health_answer(health.liveness()),
                (b"GET", b"/ready") => health_answer(health.readiness()),
                (b"GET", _) => (
                    "404 Not Found",
                    "text/plain",
                    "not found: try /metrics, /health or /ready\n".to_string(),
                ),
                _ => (
                    "405 Method Not Allowed",
                    "text/plain",
                    "only GET\n".to_string(),
                ),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// A health answer as an HTTP status and JSON body: 503 when not healthy (or not ready).
fn health_answer((ok, body): (bool, serde_json::Value)) -> (&'static str, &'static str, String) {
    let status = if ok {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    (status, "application/json", format!("{body}\n"))
}

/// Parses a `HOST:PORT` metrics address, resolving a host name.
pub fn parse_addr(addr: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("\"{addr}\" is not HOST:PORT; use e.g. \"127.0.0.1:9898\""))
}
