//! The Kafka sink: each record one message, keyed (by `eventID` unless configured), to a topic
//! named by a template on the record's keys. librdkafka batches and compresses; a record counts
//! as delivered only when its delivery report says the broker has it (idempotent producer,
//! `acks=all`). Broker outages are waited out, not turned into losses: `message.timeout.ms`
//! is 0 (wait forever) unless configured, and a full local queue holds the request back
//! (backpressure) instead of failing it. A record too large for the topic is rejected to the
//! dead-letter output; a fatal producer error (an idempotence failure) replaces the producer
//! and the records are sent again.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde::Deserialize;

use super::{
    BuildError, DeliverySettings, Keys, RecordOutcome, Request, RequestConfig, Response, Sink,
    SinkContext, SinkError, SinkFuture, SinkSpec,
};
use crate::kafka::{
    check_brokers, check_passthrough, check_topic_name, client_config, topic_byte_ok, ClientVoice,
};
use crate::metrics as m;
use crate::transform::normalize::Format;

/// `[[sink]] type = "kafka"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// The sink's id in metrics and messages; default `kafka_<n>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Bootstrap brokers, `host:port[,host:port]`.
    pub brokers: String,
    /// The topic, or a template on each record's keys: `{recipientAccountId}`, `{awsRegion}`,
    /// `{eventSource}` (e.g. `cloudtrail.{recipientAccountId}`).
    pub topic: String,
    /// What keys each message (and so picks its partition): `eventID` (default; the same event
    /// always lands in the same partition), `recipientAccountId`, `awsRegion`, `eventSource`,
    /// or `none` (spread by librdkafka).
    #[serde(default)]
    pub key: MessageKey,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default)]
    pub format: Format,
    /// Add `trailhose-format` and `trailhose-origin` (the input the record came from) headers.
    #[serde(default = "yes")]
    pub headers: bool,
    /// How long librdkafka may try to deliver a message before giving up on it; 0 (the
    /// default): forever, so a broker outage holds the pipeline back instead of losing events.
    /// A message that times out is sent again (it may then appear twice).
    #[serde(default)]
    pub message_timeout_ms: u64,
    /// The most bytes waiting in librdkafka's queue (default 64 MiB): part of the memory bound.
    #[serde(default = "default_queue_kbytes")]
    pub queue_max_kbytes: u64,
    /// Batches in flight, backoff and retry budget (`timeout_secs` is not used: delivery is
    /// bounded by `message_timeout_ms`).
    #[serde(default)]
    pub request: RequestConfig,
    /// Any librdkafka producer property (SASL, TLS, `linger.ms`, `batch.size`...).
    #[serde(default)]
    pub librdkafka: crate::kafka::Properties,
}

fn yes() -> bool {
    true
}

fn default_queue_kbytes() -> u64 {
    64 * 1024
}

/// The message key.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
pub enum MessageKey {
    #[default]
    #[serde(rename = "eventID")]
    EventId,
    #[serde(rename = "recipientAccountId")]
    RecipientAccountId,
    #[serde(rename = "awsRegion")]
    AwsRegion,
    #[serde(rename = "eventSource")]
    EventSource,
    #[serde(rename = "none")]
    None,
}

impl MessageKey {
    fn pick<'a>(self, keys: &Keys<'a>) -> Option<&'a str> {
        let k = match self {
            MessageKey::EventId => keys.event_id,
            MessageKey::RecipientAccountId => keys.recipient_account_id,
            MessageKey::AwsRegion => keys.aws_region,
            MessageKey::EventSource => keys.event_source,
            MessageKey::None => return None,
        };
        (!k.is_empty()).then_some(k)
    }
}

/// librdkafka's `compression.type`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Zstd,
    Lz4,
    Gzip,
    Snappy,
    None,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::None => "none",
        }
    }
}

/// A topic template, split once into literal text and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Key(TemplateKey),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TemplateKey {
    Account,
    Region,
    EventSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TopicTemplate {
    parts: Vec<Part>,
}

impl TopicTemplate {
    fn parse(key: &str, template: &str) -> Result<TopicTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("{key}.topic = \"{template}\": a '{{' is not closed: write {{recipientAccountId}}, {{awsRegion}} or {{eventSource}}"));
            };
            let name = &rest[open + 1..open + close];
            let k = match name {
                "recipientAccountId" => TemplateKey::Account,
                "awsRegion" => TemplateKey::Region,
                "eventSource" => TemplateKey::EventSource,
                _ => return Err(format!("{key}.topic = \"{template}\": unknown key {{{name}}}: use {{recipientAccountId}}, {{awsRegion}} or {{eventSource}}")),
            };
            parts.push(Part::Key(k));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        for p in &parts {
            if let Part::Text(t) = p {
                if !t.bytes().all(topic_byte_ok) {
                    return Err(format!("{key}.topic = \"{template}\" is not a Kafka topic name: use letters, digits, '.', '_' and '-' (and {{keys}})"));
                }
            }
        }
        if let [Part::Text(t)] = parts.as_slice() {
            check_topic_name(&format!("{key}.topic"), t)?;
        }
        if parts.is_empty() {
            return Err(format!("{key}.topic is empty: name the topic to write to"));
        }
        Ok(TopicTemplate { parts })
    }

    /// The topic when it has no keys.
    fn fixed(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Writes record's topic into `out`: a key's characters that a topic may not hold become
    /// `_`, a missing key `unknown` (so a record is never refused for its routing).
    fn render(&self, keys: &Keys<'_>, out: &mut String) {
        out.clear();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Key(k) => {
                    let v = match k {
                        TemplateKey::Account => keys.recipient_account_id,
                        TemplateKey::Region => keys.aws_region,
                        TemplateKey::EventSource => keys.event_source,
                    };
                    if v.is_empty() {
                        out.push_str("unknown");
                    }
                    out.extend(
                        v.bytes()
                            .map(|b| if topic_byte_ok(b) { b as char } else { '_' }),
                    );
                }
            }
        }
        out.truncate(249);
    }
}

impl KafkaSinkConfig {
    /// A sink to `topic` with every option at its default (as `--output kafka://...` makes).
    pub fn new(brokers: String, topic: String) -> Self {
        KafkaSinkConfig {
            name: None,
            brokers,
            topic,
            key: MessageKey::default(),
            compression: Compression::default(),
            format: Format::default(),
            headers: true,
            message_timeout_ms: 0,
            queue_max_kbytes: default_queue_kbytes(),
            request: RequestConfig::default(),
            librdkafka: crate::kafka::Properties::default(),
        }
    }

    /// The producer's settings: trailhose's, then the user's table.
    fn client(&self, id: &str) -> rdkafka::ClientConfig {
        client_config(
            &[
                ("bootstrap.servers", self.brokers.clone()),
                ("client.id", format!("trailhose-{id}")),
                ("enable.idempotence", "true".into()),
                ("acks", "all".into()),
                ("compression.type", self.compression.as_str().into()),
                ("message.timeout.ms", self.message_timeout_ms.to_string()),
                (
                    "queue.buffering.max.kbytes",
                    self.queue_max_kbytes.to_string(),
                ),
                ("linger.ms", "5".into()),
                ("statistics.interval.ms", "5000".into()),
            ],
            &self.librdkafka,
        )
    }

    fn producer(&self, id: &str) -> Result<FutureProducer<ClientVoice>, String> {
        self.client(id)
            .create_with_context(ClientVoice::new(format!("sink {id}"), Some(id.to_string())))
            .map_err(|e| format!("sink {id}: cannot create the Kafka producer: {e}"))
    }
}

/// Keys of `librdkafka` that this sink's own options set.
const OWNED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use brokers"),
    ("compression.type", "use compression"),
    ("compression.codec", "use compression"),
    ("message.timeout.ms", "use message_timeout_ms"),
    ("delivery.timeout.ms", "use message_timeout_ms"),
    ("queue.buffering.max.kbytes", "use queue_max_kbytes"),
    (
        "enable.idempotence",
        "the producer is always idempotent (no duplicates from its own retries)",
    ),
    (
        "acks",
        "a record is delivered only when all in-sync replicas have it (acks=all)",
    ),
    (
        "request.required.acks",
        "a record is delivered only when all in-sync replicas have it (acks=all)",
    ),
];

impl SinkSpec for KafkaSinkConfig {
    fn type_name(&self) -> &'static str {
        "kafka"
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn format(&self) -> Format {
        self.format
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        check_brokers(&format!("{key}.brokers"), &self.brokers)?;
        TopicTemplate::parse(key, &self.topic)?;
        check_passthrough(key, &self.librdkafka, OWNED)?;
        if !(1..=2_097_151).contains(&self.queue_max_kbytes) {
            return Err(format!(
                "{key}.queue_max_kbytes = {} is out of range: use 1 to 2097151 (default 65536)",
                self.queue_max_kbytes
            ));
        }
        if self.message_timeout_ms > i32::MAX as u64 {
            return Err(format!(
                "{key}.message_timeout_ms = {} is out of range: use 0 (wait forever, the default) to 2147483647",
                self.message_timeout_ms
            ));
        }
        self.request.validate(key)
    }

    fn delivery(&self) -> DeliverySettings {
        DeliverySettings {
            timeout: None,
            // A request only queues its records into librdkafka, which batches across requests:
            // many in flight keep its batches full (measured: 4 at once waited on the linger of
            // each, 15,000 records/s; 32 reach 90,000 on two cores, where CPU is the limit).
            ..self.request.settings_with(32)
        }
    }

    fn build(&self, cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError> {
        let producer = self.producer(&cx.id).map_err(|detail| BuildError::Client {
            id: cx.id.to_string(),
            detail,
        })?;
        let topic =
            TopicTemplate::parse(&format!("sink {}", cx.id), &self.topic).map_err(|detail| {
                BuildError::Client {
                    id: cx.id.to_string(),
                    detail,
                }
            })?;
        Ok(Arc::new(KafkaSink {
            id: cx.id.clone(),
            config: self.clone(),
            topic,
            format_header: self.format.label().to_string(),
            producer: RwLock::new((0, Arc::new(producer))),
        }))
    }

    /// Asks a broker for the cluster's metadata (the topic's, when the name is fixed).
    fn healthcheck(&self, cx: &SinkContext) -> SinkFuture<'static, Result<(), SinkError>> {
        let made = self.producer(&cx.id);
        let topic = TopicTemplate::parse("", &self.topic)
            .ok()
            .and_then(|t| t.fixed().map(str::to_string));
        let brokers = self.brokers.clone();
        Box::pin(async move {
            let producer = made.map_err(SinkError::Refused)?;
            let asked = tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(topic.as_deref(), Duration::from_secs(10))
                    .map(|_| ())
            })
            .await
            .map_err(|e| SinkError::Internal(e.to_string()))?;
            asked.map_err(|e| {
                SinkError::Refused(format!("cannot reach the Kafka brokers {brokers}: {e}"))
            })
        })
    }
}

struct KafkaSink {
    id: Arc<str>,
    config: KafkaSinkConfig,
    topic: TopicTemplate,
    format_header: String,
    /// The producer and its generation: a fatal error replaces it once per generation.
    producer: RwLock<(u64, Arc<FutureProducer<ClientVoice>>)>,
}

/// What became of one record's send.
enum Sent {
    Waiting(rdkafka::producer::DeliveryFuture),
    Done(RecordOutcome),
}

impl KafkaSink {
    fn current(&self) -> (u64, Arc<FutureProducer<ClientVoice>>) {
        match self.producer.read() {
            Ok(p) => (p.0, p.1.clone()),
            Err(poisoned) => {
                let p = poisoned.into_inner();
                (p.0, p.1.clone())
            }
        }
    }

    /// Replaces a producer that hit a fatal error (once per generation, however many requests
    /// saw it).
    fn replace(&self, generation: u64, why: &str) {
        let Ok(mut slot) = self.producer.write() else {
            return;
        };
        if slot.0 != generation {
            return;
        }
        match self.config.producer(&self.id) {
            Ok(p) => {
                eprintln!(
                    "trailhose: sink {}: the Kafka producer failed ({why}); replaced it, and its records are sent again",
                    self.id
                );
                metrics::counter!(m::KAFKA_PRODUCER_RESTARTS, "sink" => self.id.to_string())
                    .increment(1);
                *slot = (generation + 1, Arc::new(p));
            }
            Err(e) => eprintln!("trailhose: error: {e}"),
        }
    }

    fn delivery_error(&self, reason: &'static str) {
        metrics::counter!(m::KAFKA_DELIVERY_ERRORS, "sink" => self.id.to_string(), "reason" => reason)
            .increment(1);
    }

    /// What a failed send or delivery report means for its record.
    fn outcome(
        &self,
        e: &KafkaError,
        fatal: &mut Option<String>,
    ) -> Result<RecordOutcome, SinkError> {
        let code = e.rdkafka_error_code();
        Ok(match code {
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidMessage,
            ) => {
                self.delivery_error("too_large_or_invalid");
                RecordOutcome::Rejected(format!("Kafka refused the message: {e}"))
            }
            Some(
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed,
            ) => {
                self.delivery_error("authorization");
                return Err(SinkError::Refused(format!(
                    "Kafka refused to let this sink write: {e}; grant the principal Write on the topic (and IdempotentWrite on the cluster)"
                )));
            }
            Some(RDKafkaErrorCode::Fatal) => {
                self.delivery_error("fatal");
                *fatal = Some(e.to_string());
                RecordOutcome::Retry(e.to_string())
            }
            Some(RDKafkaErrorCode::MessageTimedOut) => {
                self.delivery_error("timed_out");
                RecordOutcome::Retry(e.to_string())
            }
            _ => {
                self.delivery_error("other");
                RecordOutcome::Retry(e.to_string())
            }
        })
    }
}

/// How long a send waits when librdkafka's queue is full before trying again.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

impl Sink for KafkaSink {
    fn deliver<'a>(&'a self, request: &'a Request) -> SinkFuture<'a, Response> {
        Box::pin(async move {
            let (generation, producer) = self.current();
            let batch = &request.batch;
            let fixed = self.topic.fixed();
            let mut topic = String::new();
            let mut sent: Vec<Sent> = Vec::with_capacity(request.len());
            let mut fatal: Option<String> = None;
            let (mut messages, mut bytes) = (0u64, 0u64);
            for i in request.indexes() {
                let keys = batch.keys.get(i).unwrap_or_default();
                let topic_name = match fixed {
                    Some(t) => t,
                    None => {
                        self.topic.render(&keys, &mut topic);
                        topic.as_str()
                    }
                };
                let payload = batch.record(i);
                let mut record = FutureRecord::<str, [u8]>::to(topic_name).payload(payload);
                if let Some(k) = self.config.key.pick(&keys) {
                    record = record.key(k);
                }
                if self.config.headers {
                    record = record.headers(
                        OwnedHeaders::new_with_capacity(2)
                            .insert(Header {
                                key: "trailhose-format",
                                value: Some(self.format_header.as_str()),
                            })
                            .insert(Header {
                                key: "trailhose-origin",
                                value: Some(batch.origin(i)),
                            }),
                    );
                }
                loop {
                    match producer.send_result(record) {
                        Ok(waiting) => {
                            sent.push(Sent::Waiting(waiting));
                            messages += 1;
                            bytes += payload.len() as u64;
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            // Backpressure: wait for librdkafka to deliver some.
                            record = back;
                            tokio::time::sleep(QUEUE_FULL_WAIT).await;
                        }
                        Err((e, _)) => {
                            match self.outcome(&e, &mut fatal) {
                                Ok(o) => sent.push(Sent::Done(o)),
                                Err(refused) => return Response::Fatal(refused),
                            }
                            break;
                        }
                    }
                }
            }
            let mut outcomes = Vec::with_capacity(sent.len());
            for s in sent {
                let o = match s {
                    Sent::Done(o) => o,
                    Sent::Waiting(w) => match w.await {
                        Ok(Ok(_)) => RecordOutcome::Delivered,
                        Ok(Err((e, _))) => match self.outcome(&e, &mut fatal) {
                            Ok(o) => o,
                            Err(refused) => return Response::Fatal(refused),
                        },
                        // The producer was dropped (replaced) before reporting.
                        Err(_) => RecordOutcome::Retry("the producer was closed".into()),
                    },
                };
                outcomes.push(o);
            }
            let id = self.id.to_string();
            metrics::counter!(m::KAFKA_MESSAGES_OUT, "sink" => id.clone()).increment(messages);
            metrics::counter!(m::KAFKA_BYTES_OUT, "sink" => id).increment(bytes);
            if fatal.is_none() {
                if let Some((_, why)) = producer.client().fatal_error() {
                    fatal = Some(why);
                }
            }
            if let Some(why) = fatal {
                self.replace(generation, &why);
            }
            if outcomes.iter().all(|o| *o == RecordOutcome::Delivered) {
                Response::Delivered
            } else {
                Response::PerRecord(outcomes)
            }
        })
    }

    fn close(&self) -> SinkFuture<'_, Result<(), SinkError>> {
        let (_, producer) = self.current();
        let id = self.id.to_string();
        Box::pin(async move {
            // Every record was awaited before its batch was acknowledged; this only waits for
            // what a stopped run left in the queue.
            tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10)))
                .await
                .map_err(|e| SinkError::Internal(e.to_string()))?
                .map_err(|e| SinkError::Refused(format!("sink {id}: flushing the producer: {e}")))
        })
    }

    fn wants_keys(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(account: &'a str, region: &'a str) -> Keys<'a> {
        Keys {
            recipient_account_id: account,
            aws_region: region,
            event_source: "s3.amazonaws.com",
            event_id: "e1",
            event_time_ms: 0,
        }
    }

    #[test]
    fn topic_templates() {
        let t =
            TopicTemplate::parse("sink[0]", "cloudtrail.{recipientAccountId}.{awsRegion}").unwrap();
        let mut out = String::new();
        t.render(&keys("123456789012", "eu-west-1"), &mut out);
        assert_eq!(out, "cloudtrail.123456789012.eu-west-1");
        t.render(&keys("", "a b/c"), &mut out);
        assert_eq!(out, "cloudtrail.unknown.a_b_c");
        let s = TopicTemplate::parse("k", "ct-{eventSource}").unwrap();
        s.render(&keys("1", "r"), &mut out);
        assert_eq!(out, "ct-s3.amazonaws.com");
        assert_eq!(
            TopicTemplate::parse("k", "plain").unwrap().fixed(),
            Some("plain")
        );
        for (bad, says) in [
            ("ct.{account}", "unknown key {account}"),
            ("ct.{awsRegion", "not closed"),
            ("c t", "not a Kafka topic name"),
            ("", "is empty"),
        ] {
            let e = TopicTemplate::parse("sink[1]", bad).unwrap_err();
            assert!(
                e.contains(says) && e.starts_with("sink[1].topic"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn keys_pick() {
        let k = keys("1", "r");
        assert_eq!(MessageKey::EventId.pick(&k), Some("e1"));
        assert_eq!(MessageKey::AwsRegion.pick(&k), Some("r"));
        assert_eq!(MessageKey::None.pick(&k), None);
        assert_eq!(MessageKey::RecipientAccountId.pick(&keys("", "r")), None);
    }

    #[test]
    fn owned_properties_are_refused() {
        let mut c = KafkaSinkConfig::new("localhost:9092".into(), "t".into());
        assert_eq!(c.validate("sink[0]"), Ok(()));
        c.librdkafka.insert("acks".into(), "1".into());
        let e = c.validate("sink[0]").unwrap_err();
        assert!(e.contains("acks=all"), "{e}");
        c.librdkafka.clear();
        c.brokers = "localhost".into();
        assert!(c.validate("sink[0]").unwrap_err().contains("not HOST:PORT"));
    }
}
