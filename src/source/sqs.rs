//! The SQS source: follows a trail live through notifications of new log files. It reads S3
//! event notifications (direct, or wrapped by SNS), EventBridge "Object Created" events, and
//! CloudTrail's own SNS notification (`{"s3Bucket": ..., "s3ObjectKey": [...]}`); S3 test
//! events and digest files are ignored. A message is deleted only after every event of every
//! object it names is in every sink; while that takes, its visibility is extended; if an object
//! fails, the message goes back for redelivery (after the queue's receive limit, SQS moves it
//! to the dead-letter queue). Several instances on one queue share the work.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client as SqsClient;
use serde::Deserialize;
use serde_json::Value;

use super::aws::{error_text, AwsConfig};
use super::fetch_limit::FetchLimit;
use super::s3::{HandOn, Handed};
use super::SourceError;
use crate::config::check_range;
use crate::dead_letter::{DeadLetterWriter, SQS_NOT_NOTIFICATION};
use crate::health::SourceStatus;
use crate::metrics as m;
use crate::stats::RunStats;

/// `[source] type = "sqs"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsSourceConfig {
    pub queue_url: String,
    /// How long a received message stays invisible to other consumers; extended while its
    /// objects are in flight.
    #[serde(default = "default_visibility")]
    pub visibility_timeout_secs: u32,
    /// Most messages in flight at once (received, not yet deleted or returned).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Objects fetched at once to begin with; the limit adapts from here (see `fetch_limit`).
    #[serde(default = "default_fetch_concurrency")]
    pub fetch_concurrency: usize,
    /// The most objects fetched at once (the memory bound); equal to `fetch_concurrency`: fixed.
    /// Absent: 128, or `fetch_concurrency` when that is more.
    pub fetch_concurrency_max: Option<usize>,
    /// End the run after this long without a message (absent: run until stopped).
    pub stop_when_idle_secs: Option<u64>,
    #[serde(default)]
    pub aws: AwsConfig,
}

fn default_visibility() -> u32 {
    300
}

fn default_max_in_flight() -> usize {
    100
}

fn default_fetch_concurrency() -> usize {
    16
}

/// One object a message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
}

impl SqsSourceConfig {
    /// The most objects fetched at once.
    pub fn fetch_max(&self) -> Result<usize, String> {
        super::s3::fetch_max(self.fetch_concurrency, self.fetch_concurrency_max, 128)
    }

    /// Checks every value; messages name the key (`source.*`), what is wrong and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if !self.queue_url.starts_with("http") {
            return Err(format!("source.queue_url = \"{}\" is not a queue URL: give https://sqs.<region>.amazonaws.com/<account>/<queue>", self.queue_url));
        }
        check_range(
            "source.visibility_timeout_secs",
            self.visibility_timeout_secs as usize,
            1,
            43_200,
            "default 300; SQS allows up to 12 hours",
        )?;
        check_range(
            "source.max_in_flight",
            self.max_in_flight,
            1,
            100_000,
            "default 100",
        )?;
        check_range(
            "source.fetch_concurrency",
            self.fetch_concurrency,
            1,
            4096,
            "default 16",
        )?;
        self.fetch_max().map(|_| ())
    }
}

/// The log files a notification names (empty for test events, digests, other objects).
pub fn objects_in(body: &str) -> Result<Vec<ObjectRef>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = Vec::new();
    collect(&v, &mut out, 0);
    out.retain(|o| is_log_file(&o.key));
    Ok(out)
}

fn collect(v: &Value, out: &mut Vec<ObjectRef>, depth: u32) {
    if depth > 3 {
        return;
    }
    // SNS: the notification is a JSON string in `Message`.
    if v["Type"] == "Notification" {
        if let Some(inner) = v["Message"]
            .as_str()
            .and_then(|m| serde_json::from_str(m).ok())
        {
            collect(&inner, out, depth + 1);
        }
        return;
    }
    // S3 event notification: keys are URL-encoded (spaces as `+`).
    if let Some(records) = v["Records"].as_array() {
        for r in records {
            let s3 = &r["s3"];
            let created = r["eventName"]
                .as_str()
                .is_some_and(|n| n.starts_with("ObjectCreated"));
            if let (true, Some(bucket), Some(key)) = (
                created,
                s3["bucket"]["name"].as_str(),
                s3["object"]["key"].as_str(),
            ) {
                out.push(ObjectRef {
                    bucket: bucket.into(),
                    key: url_decode(key),
                    size: s3["object"]["size"].as_u64(),
                });
            }
        }
        return;
    }
    // EventBridge "Object Created" (keys as they are).
    if v["detail-type"] == "Object Created" {
        let d = &v["detail"];
        if let (Some(bucket), Some(key)) =
            (d["bucket"]["name"].as_str(), d["object"]["key"].as_str())
        {
            out.push(ObjectRef {
                bucket: bucket.into(),
                key: key.into(),
                size: d["object"]["size"].as_u64(),
            });
        }
        return;
    }
    // CloudTrail's own notification.
    if let (Some(bucket), Some(keys)) = (v["s3Bucket"].as_str(), v["s3ObjectKey"].as_array()) {
        for k in keys.iter().filter_map(Value::as_str) {
            out.push(ObjectRef {
                bucket: bucket.into(),
                key: k.into(),
                size: None,
            });
        }
    }
    // Anything else (an S3 `s3:TestEvent`, an unknown shape): nothing to read.
}

/// A CloudTrail log file (not a digest, not another object in the bucket).
fn is_log_file(key: &str) -> bool {
    key.contains("/CloudTrail/")
        && !key.contains("/CloudTrail-Digest/")
        && key.ends_with(".json.gz")
        || key.contains("/CloudTrail-Insight/") && key.ends_with(".json.gz")
}

/// Decodes an S3 notification key (`%2F`, `+` for space).
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |at: usize| (b[at] as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A received message and what is left of it.
struct InFlight {
    receipt: String,
    remaining: AtomicUsize,
    failed: AtomicBool,
    receive_count: u32,
}

/// Returns once `flag` is set (checked every 50 ms).
async fn until_set(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where a source reports input it cannot use: the run's counters and the dead-letter output.
#[derive(Clone, Copy)]
pub struct BadInput<'a> {
    pub stats: &'a RunStats,
    pub dead_letter: Option<&'a DeadLetterWriter>,
}

/// A message that is not an S3 notification can never succeed: with a dead-letter output it is
/// written there whole (flushed) and deleted, so it neither cycles through the queue nor is
/// lost; without one it is left for redelivery and, in the end, the queue's own DLQ. Counted
/// either way (`trailhose_errors_total{kind="sqs_not_notification"}`).
async fn not_a_notification(
    config: &SqsSourceConfig,
    sqs: &SqsClient,
    bad_input: BadInput<'_>,
    id: &str,
    receipt: &str,
    body: &str,
    why: &str,
) {
    metrics::counter!(m::ERRORS, "kind" => SQS_NOT_NOTIFICATION).increment(1);
    RunStats::add(&bad_input.stats.errors, 1);
    let dead_letter = bad_input.dead_letter;
    let origin = format!("{}#{id}", config.queue_url);
    let shown: String = body.chars().take(80).collect();
    let Some(dl) = dead_letter else {
        eprintln!(
            "trailhose: error: {origin}: not an S3 notification ({why}; {} bytes starting {shown:?}); left on the queue for its redrive policy (set a dead-letter output to keep and delete such messages)",
            body.len()
        );
        return;
    };
    let written = dl
        .write_message(&origin, SQS_NOT_NOTIFICATION, why, body.as_bytes())
        .and_then(|()| dl.flush());
    match written {
        Ok(()) => {
            eprintln!(
                "trailhose: error: {origin}: not an S3 notification ({why}; {} bytes starting {shown:?}); dead-lettered and deleted",
                body.len()
            );
            delete(sqs, &config.queue_url, receipt).await;
        }
        Err(e) => eprintln!(
            "trailhose: error: {origin}: not an S3 notification, and the dead-letter output cannot be written ({e}): left on the queue"
        ),
    }
}

/// Follows the queue until stopped (or idle for `stop_when_idle_secs`).
pub async fn run(
    config: &SqsSourceConfig,
    stop: &AtomicBool,
    status: &SourceStatus,
    bad_input: BadInput<'_>,
    emit: HandOn,
) -> Result<(), SourceError> {
    let sqs = config.aws.sqs().await;
    let s3 = super::object_gets::ObjectGets::new(&config.aws).await;
    // Checked once at start: a wrong queue is a start-up error, not a silent idle loop.
    sqs.get_queue_attributes()
        .queue_url(&config.queue_url)
        .send()
        .await
        .map_err(|e| SourceError::Queue {
            url: config.queue_url.clone(),
            detail: error_text(&e.into_service_error()),
        })?;
    status.connected();
    let in_flight: Arc<Mutex<HashMap<String, Arc<InFlight>>>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1)));
    let fetches = FetchLimit::new(
        config.fetch_concurrency,
        config.fetch_max().map_err(|detail| SourceError::Queue {
            url: config.queue_url.clone(),
            detail,
        })?,
    );
    let extender = tokio::spawn(extend_visibility(
        sqs.clone(),
        config.queue_url.clone(),
        config.visibility_timeout_secs,
        in_flight.clone(),
    ));
    let mut last_message = Instant::now();
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        if let Some(idle) = config.stop_when_idle_secs {
            if last_message.elapsed() >= Duration::from_secs(idle)
                && in_flight.lock().map(|m| m.is_empty()).unwrap_or(true)
            {
                break Ok(());
            }
        }
        let room = slots.available_permits().min(10);
        if room == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let receive = sqs
            .receive_message()
            .queue_url(&config.queue_url)
            .max_number_of_messages(room as i32)
            .wait_time_seconds(if config.stop_when_idle_secs.is_some() {
                1
            } else {
                20
            })
            .visibility_timeout(config.visibility_timeout_secs as i32)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send();
        // A drain must not wait out a 20 s long poll: messages the abandoned poll would have
        // returned stay on the queue and come back after their visibility timeout.
        let received = tokio::select! {
            r = receive => r,
            () = until_set(stop) => break Ok(()),
        };
        let messages = match received {
            Ok(r) => {
                status.connected();
                r.messages.unwrap_or_default()
            }
            Err(e) => {
                // The SDK already retried; wait and try again rather than end a live source.
                let why = format!(
                    "receiving from {}: {}",
                    config.queue_url,
                    error_text(&e.into_service_error())
                );
                eprintln!("trailhose: error: {why}");
                status.failing(why);
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if !messages.is_empty() {
            last_message = Instant::now();
        }
        for msg in messages {
            metrics::counter!(m::SQS_RECEIVED).increment(1);
            let (Some(id), Some(receipt)) = (msg.message_id.clone(), msg.receipt_handle.clone())
            else {
                continue;
            };
            let receive_count = msg
                .attributes
                .as_ref()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let body = msg.body().unwrap_or("");
            let objects = match objects_in(body) {
                Ok(o) => o,
                Err(e) => {
                    not_a_notification(config, &sqs, bad_input, &id, &receipt, body, &e).await;
                    continue;
                }
            };
            if objects.is_empty() {
                metrics::counter!(m::SQS_IGNORED).increment(1);
                delete(&sqs, &config.queue_url, &receipt).await;
                continue;
            }
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let entry = Arc::new(InFlight {
                receipt,
                remaining: AtomicUsize::new(objects.len()),
                failed: AtomicBool::new(false),
                receive_count,
            });
            if let Ok(mut map) = in_flight.lock() {
                map.insert(id.clone(), entry.clone());
            }
            metrics::gauge!(m::SQS_IN_FLIGHT).increment(1.0);
            let slot = Arc::new(Mutex::new(Some(slot)));
            for o in objects {
                let bucket: Arc<str> = Arc::from(o.bucket.as_str());
                let Some(input) = fetches.fetch(&s3, &bucket, &o.key).await else {
                    break;
                };
                let done = on_object_done(
                    sqs.clone(),
                    config.queue_url.clone(),
                    id.clone(),
                    entry.clone(),
                    in_flight.clone(),
                    slot.clone(),
                    tokio::runtime::Handle::current(),
                );
                let handed = Handed {
                    origin: Arc::from(format!("s3://{}/{}", o.bucket, o.key)),
                    size: o.size,
                    input,
                    then: done,
                };
                if emit.send(handed).await.is_err() {
                    break;
                }
            }
        }
    };
    extender.abort();
    result
}

/// What runs when one object of a message is done: the last one deletes the message, or
/// returns it for redelivery if any failed.
fn on_object_done(
    sqs: SqsClient,
    queue: String,
    id: String,
    entry: Arc<InFlight>,
    in_flight: Arc<Mutex<HashMap<String, Arc<InFlight>>>>,
    slot: Arc<Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>,
    runtime: tokio::runtime::Handle,
) -> Box<dyn FnOnce(bool) + Send> {
    Box::new(move |ok| {
        if !ok {
            entry.failed.store(true, Ordering::Release);
        }
        if entry.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        if let Ok(mut map) = in_flight.lock() {
            map.remove(&id);
        }
        metrics::gauge!(m::SQS_IN_FLIGHT).decrement(1.0);
        let failed = entry.failed.load(Ordering::Acquire);
        runtime.spawn(async move {
            if failed {
                // Back to the queue, a little later each time it fails.
                let wait = (30 * entry.receive_count).min(900) as i32;
                let r = sqs
                    .change_message_visibility()
                    .queue_url(&queue)
                    .receipt_handle(&entry.receipt)
                    .visibility_timeout(wait)
                    .send()
                    .await;
                if let Err(e) = r {
                    eprintln!(
                        "trailhose: error: returning message {id}: {}",
                        error_text(&e.into_service_error())
                    );
                }
                metrics::counter!(m::SQS_RETURNED).increment(1);
            } else {
                delete(&sqs, &queue, &entry.receipt).await;
            }
            drop(slot.lock().ok().and_then(|mut s| s.take()));
        });
    })
}

async fn delete(sqs: &SqsClient, queue: &str, receipt: &str) {
    match sqs
        .delete_message()
        .queue_url(queue)
        .receipt_handle(receipt)
        .send()
        .await
    {
        Ok(_) => metrics::counter!(m::SQS_DELETED).increment(1),
        Err(e) => eprintln!(
            "trailhose: error: deleting a message from {queue}: {} (it will be delivered again)",
            error_text(&e.into_service_error())
        ),
    }
}

/// Every third of the visibility timeout, pushes every in-flight message's timeout out again.
async fn extend_visibility(
    sqs: SqsClient,
    queue: String,
    visibility_secs: u32,
    in_flight: Arc<Mutex<HashMap<String, Arc<InFlight>>>>,
) {
    let every = Duration::from_millis(u64::from(visibility_secs.max(1)) * 1000 / 3);
    loop {
        tokio::time::sleep(every).await;
        let receipts: Vec<String> = in_flight
            .lock()
            .map(|m| m.values().map(|e| e.receipt.clone()).collect())
            .unwrap_or_default();
        for receipt in receipts {
            let r = sqs
                .change_message_visibility()
                .queue_url(&queue)
                .receipt_handle(&receipt)
                .visibility_timeout(visibility_secs as i32)
                .send()
                .await;
            if r.is_ok() {
                metrics::counter!(m::SQS_EXTENDED).increment(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/111122223333_CloudTrail_us-east-1_20260105T0005Z_a.json.gz";

    #[test]
    fn every_notification_shape() {
        let s3 = format!(
            r#"{{"Records":[{{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{{"bucket":{{"name":"b"}},"object":{{"key":"{}","size":12}}}}}}]}}"#,
            KEY.replace('/', "%2F")
        );
        let want = vec![ObjectRef {
            bucket: "b".into(),
            key: KEY.into(),
            size: Some(12),
        }];
        assert_eq!(objects_in(&s3).unwrap(), want);
        let sns = serde_json::json!({"Type":"Notification","Message": s3}).to_string();
        assert_eq!(objects_in(&sns).unwrap(), want);
        let eb = serde_json::json!({"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":KEY,"size":12}}}).to_string();
        assert_eq!(objects_in(&eb).unwrap(), want);
        let ct = serde_json::json!({"s3Bucket":"b","s3ObjectKey":[KEY]}).to_string();
        let ct_sns = serde_json::json!({"Type":"Notification","Message": ct}).to_string();
        assert_eq!(objects_in(&ct_sns).unwrap()[0].key, KEY);
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-05T00:00:00Z","Bucket":"b"}"#;
        assert!(objects_in(test_event).unwrap().is_empty());
        let digest = serde_json::json!({"s3Bucket":"b","s3ObjectKey":["AWSLogs/1/CloudTrail-Digest/us-east-1/2026/01/05/x.json.gz"]}).to_string();
        assert!(objects_in(&digest).unwrap().is_empty());
        assert!(objects_in("nope").is_err());
    }

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(url_decode("a%2Fb+c%3A%zz%"), "a/b c:%zz%");
    }
}
