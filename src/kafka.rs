//! What the Kafka source and sink share: `kafka://` URLs, the client settings trailhose owns
//! (with the user's `librdkafka` table on top), and librdkafka's log, error and statistics
//! callbacks routed to stderr and metrics (rdkafka sends them to the `log` crate, which
//! trailhose does not install, so without this they would vanish).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;

use crate::metrics as m;

/// `kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?group=G]`, as `replay` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaUrl {
    pub brokers: String,
    pub topic: String,
    pub group: Option<String>,
}

impl KafkaUrl {
    /// None when `s` is not a `kafka://` URL; an error naming the fix when it is one but wrong.
    pub fn parse(s: &str) -> Option<Result<KafkaUrl, String>> {
        let rest = s.strip_prefix("kafka://")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let Some((brokers, topic)) = path.split_once('/') else {
            return Some(Err(format!("{s}: no topic: write kafka://HOST:PORT/TOPIC")));
        };
        let mut group = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("group", g)) if !g.is_empty() => group = Some(g.to_string()),
                _ => {
                    return Some(Err(format!(
                        "{s}: unknown query \"{pair}\": the only one is ?group=NAME (the consumer group)"
                    )))
                }
            }
        }
        let url = KafkaUrl {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            group,
        };
        Some(
            check_brokers("the URL's brokers", &url.brokers)
                .and_then(|()| check_topic_name("the URL's topic", &url.topic))
                .map(|()| url)
                .map_err(|e| format!("{s}: {e}")),
        )
    }
}

/// Checks a `host:port[,host:port]` list.
pub fn check_brokers(key: &str, brokers: &str) -> Result<(), String> {
    if brokers.trim().is_empty() {
        return Err(format!(
            "{key} is empty: give the bootstrap brokers, e.g. \"kafka-1:9092,kafka-2:9092\""
        ));
    }
    for b in brokers.split(',') {
        let b = b.trim();
        let port = b.rsplit_once(':').map(|(_, p)| p);
        if b.is_empty() || !port.is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p > 0)) {
            return Err(format!(
                "{key} = \"{brokers}\": \"{b}\" is not HOST:PORT: write each broker as host:port, separated by commas"
            ));
        }
    }
    Ok(())
}

/// Kafka topic names: 1 to 249 of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn check_topic_name(key: &str, topic: &str) -> Result<(), String> {
    if topic.is_empty()
        || topic.len() > 249
        || topic == "."
        || topic == ".."
        || !topic.bytes().all(topic_byte_ok)
    {
        return Err(format!(
            "{key} = \"{topic}\" is not a Kafka topic name: use 1 to 249 letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Whether a byte may appear in a topic name.
pub fn topic_byte_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// A `librdkafka` table: any librdkafka property, by name. Its `Debug` (what `validate --show`
/// prints) hides the value of every property that holds a secret: a password, a client
/// secret, a private key, an OAuth config.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Properties(pub BTreeMap<String, String>);

impl Properties {
    /// Whether a librdkafka property's value is a secret.
    pub fn is_secret(name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        [
            "password",
            "secret",
            "ssl.key.pem",
            "sasl.oauthbearer.config",
            "sasl.jaas",
        ]
        .iter()
        .any(|s| name.contains(s))
    }
}

impl std::ops::Deref for Properties {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Properties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if Self::is_secret(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// Checks the user's `librdkafka` table: keys trailhose sets from its own options must be set
/// there instead (`owned`: key, the option to use), so one setting never has two places.
pub fn check_passthrough(
    key: &str,
    table: &BTreeMap<String, String>,
    owned: &[(&str, &str)],
) -> Result<(), String> {
    for k in table.keys() {
        if let Some((_, instead)) = owned.iter().find(|(o, _)| o == k) {
            return Err(format!(
                "{key}.librdkafka.\"{k}\" is set by trailhose: {instead}"
            ));
        }
        if k.trim().is_empty() {
            return Err(format!("{key}.librdkafka has an empty key: remove it"));
        }
    }
    Ok(())
}

/// A client config: trailhose's settings, then the user's table over them.
pub fn client_config(ours: &[(&str, String)], user: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set_log_level(RDKafkaLogLevel::Warning);
    for (k, v) in ours {
        config.set(*k, v);
    }
    for (k, v) in user {
        config.set(k, v);
    }
    config
}

/// librdkafka's voice: warnings and errors to stderr (a repeated message at most every 30 s,
/// as a broker outage repeats the same line each reconnect), statistics to metrics.
pub struct ClientVoice {
    /// `source` or `sink <id>`.
    pub who: String,
    /// The sink's id, for the producer's queue gauge.
    pub sink: Option<String>,
    last: Mutex<Option<(String, Instant)>>,
}

const REPEAT_EVERY: Duration = Duration::from_secs(30);

impl ClientVoice {
    pub fn new(who: String, sink: Option<String>) -> Self {
        ClientVoice {
            who,
            sink,
            last: Mutex::new(None),
        }
    }

    fn say(&self, text: String) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if let Some((prev, at)) = &*last {
            if *prev == text && at.elapsed() < REPEAT_EVERY {
                return;
            }
        }
        eprintln!("trailhose: kafka {}: {text}", self.who);
        *last = Some((text, Instant::now()));
    }
}

impl ClientContext for ClientVoice {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
                | RDKafkaLogLevel::Warning
        ) {
            self.say(format!("{fac}: {message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        metrics::counter!(m::KAFKA_CLIENT_ERRORS, "client" => self.who.clone()).increment(1);
        self.say(format!("{error}: {reason}"));
    }

    fn stats(&self, stats: Statistics) {
        if let Some(sink) = &self.sink {
            metrics::gauge!(m::KAFKA_PRODUCER_QUEUE, "sink" => sink.clone())
                .set(stats.msg_cnt as f64);
            return;
        }
        for (topic, t) in &stats.topics {
            for (id, p) in &t.partitions {
                // -1 is librdkafka's internal "unassigned" partition; lag is -1 where unknown.
                if *id < 0 || p.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(m::KAFKA_CONSUMER_LAG, "topic" => topic.clone(), "partition" => id.to_string())
                    .set(p.consumer_lag as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_properties_are_hidden_from_debug() {
        let p = Properties(BTreeMap::from([
            ("sasl.password".to_string(), "hunter2".to_string()),
            ("ssl.key.password".to_string(), "k3y".to_string()),
            (
                "sasl.oauthbearer.client.secret".to_string(),
                "s3cr3t".to_string(),
            ),
            ("security.protocol".to_string(), "SASL_SSL".to_string()),
        ]));
        let shown = format!("{p:?}");
        for secret in ["hunter2", "k3y", "s3cr3t"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("SASL_SSL") && shown.contains("\"sasl.password\": \"***\""));
    }

    #[test]
    fn urls() {
        assert_eq!(KafkaUrl::parse("s3://b/p"), None);
        assert_eq!(
            KafkaUrl::parse("kafka://a:9092,b:9093/cloudtrail?group=g1"),
            Some(Ok(KafkaUrl {
                brokers: "a:9092,b:9093".into(),
                topic: "cloudtrail".into(),
                group: Some("g1".into())
            }))
        );
        let no_topic = KafkaUrl::parse("kafka://a:9092").unwrap().unwrap_err();
        assert!(no_topic.contains("kafka://HOST:PORT/TOPIC"), "{no_topic}");
        let bad_port = KafkaUrl::parse("kafka://a/t").unwrap().unwrap_err();
        assert!(bad_port.contains("not HOST:PORT"), "{bad_port}");
        let bad_topic = KafkaUrl::parse("kafka://a:1/t t").unwrap().unwrap_err();
        assert!(bad_topic.contains("not a Kafka topic name"), "{bad_topic}");
        let bad_query = KafkaUrl::parse("kafka://a:1/t?grp=x").unwrap().unwrap_err();
        assert!(bad_query.contains("?group=NAME"), "{bad_query}");
    }

    #[test]
    fn owned_keys_are_refused_with_the_option_to_use() {
        let mut t = BTreeMap::new();
        t.insert("compression.type".to_string(), "lz4".to_string());
        let e = check_passthrough("sink[0]", &t, &[("compression.type", "use compression")])
            .unwrap_err();
        assert!(
            e.contains("sink[0].librdkafka.\"compression.type\"") && e.contains("use compression"),
            "{e}"
        );
    }
}
