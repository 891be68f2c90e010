//! The Splunk HTTP Event Collector sink: `POST /services/collector/event` with
//! `Authorization: Splunk <token>`, a batch of concatenated event objects
//! (`{"time":..,"host":..,"source":..,"sourcetype":"aws:cloudtrail","index":..,"event":{...}}`),
//! gzip. With `acknowledgements = true` (indexer acknowledgement), each request carries this
//! instance's `X-Splunk-Request-Channel` GUID, Splunk answers with an `ackId`, and the records
//! count as delivered only when `POST /services/collector/ack` says that id is `true` (polled
//! every `ack_poll_secs`, up to `ack_timeout_secs`; then the batch is sent again: at least once).
//! Without acknowledgements a 200 means Splunk queued the events, not that it indexed them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{Method, Uri};
use serde::Deserialize;

use super::http::{
    build_error, common_keys, default_credentials_retry_secs, join, parse_endpoint, read_status,
    secret_header, send_bisecting, Answer, Attempt, BatchConfig, BodyCompression, Caps, CommonKeys,
    HttpClient, Secret, TlsConfig,
};
use super::intake::Framing;
use super::{
    split_by_caps, Batch, BuildError, DeliverySettings, Request, RequestConfig, Response, Sink,
    SinkContext, SinkError, SinkFuture, SinkSpec,
};
use crate::metrics as m;
use crate::transform::normalize::Format;

/// `[[sink]] type = "splunk_hec"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplunkHecSinkConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// The collector, e.g. `https://splunk.example.com:8088`.
    pub endpoint: String,
    /// The HEC token, usually `"${SPLUNK_HEC_TOKEN}"`.
    pub token: Secret,
    /// The index (default: the token's default index).
    #[serde(default)]
    pub index: Option<String>,
    /// Default `aws:cloudtrail`, what the Splunk Add-on for AWS parses.
    #[serde(default = "default_sourcetype")]
    pub sourcetype: String,
    /// `source` of every event (default: none, Splunk's `http:<token name>`).
    #[serde(default)]
    pub source: Option<String>,
    /// `host` of every event (default: none, the collector's).
    #[serde(default)]
    pub host: Option<String>,
    /// Indexer acknowledgement (the token must have it on).
    #[serde(default)]
    pub acknowledgements: bool,
    /// How often a pending acknowledgement is asked for (default 10 s).
    #[serde(default = "default_ack_poll_secs")]
    pub ack_poll_secs: u64,
    /// How long an acknowledgement is waited for before the batch is sent again (default 300 s).
    #[serde(default = "default_ack_timeout_secs")]
    pub ack_timeout_secs: u64,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub compression: BodyCompression,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Per-request caps (default 1,000 events, 1 MiB).
    #[serde(default)]
    pub batch: BatchConfig,
    /// Requests in flight (default 4; 16 with acknowledgements, as each waits for its ack).
    #[serde(default)]
    pub concurrency: Option<usize>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default = "default_credentials_retry_secs")]
    pub credentials_retry_secs: u64,
    #[serde(default)]
    pub request: RequestConfig,
}

fn default_sourcetype() -> String {
    "aws:cloudtrail".to_string()
}

fn default_ack_poll_secs() -> u64 {
    10
}

fn default_ack_timeout_secs() -> u64 {
    300
}

const LIMIT: Caps = Caps {
    events: 100_000,
    bytes: 800 * 1024 * 1024,
};

const DEFAULT_CAPS: Caps = Caps {
    events: 1_000,
    bytes: 1024 * 1024,
};

impl SplunkHecSinkConfig {
    fn common(&self) -> CommonKeys<'_> {
        common_keys!(self, DEFAULT_CAPS, LIMIT)
    }

    fn urls(&self, key: &str) -> Result<(Uri, Uri), String> {
        let base = parse_endpoint(&format!("{key}.endpoint"), &self.endpoint)?;
        Ok((
            join(&base, "/services/collector/event")?,
            join(&base, "/services/collector/ack")?,
        ))
    }

    fn headers(&self, key: &str, channel: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        if self.token.is_empty() {
            return Err(format!(
                "{key}.token is empty: set it, usually as token = \"${{SPLUNK_HEC_TOKEN}}\""
            ));
        }
        let auth = secret_header(&format!("Splunk {}", self.token.expose()))
            .map_err(|e| format!("{key}.token {e}"))?;
        let mut headers = vec![(AUTHORIZATION, auth)];
        if self.acknowledgements {
            let value = HeaderValue::from_str(channel).map_err(|e| e.to_string())?;
            headers.push((HeaderName::from_static("x-splunk-request-channel"), value));
        }
        Ok(headers)
    }

    fn framing(&self) -> Result<HecFraming, String> {
        let mut fixed = String::new();
        let mut field = |name: &str, value: Option<&String>| -> Result<(), String> {
            if let Some(v) = value {
                fixed.push_str(&format!("\"{name}\":"));
                fixed.push_str(&serde_json::to_string(v).map_err(|e| e.to_string())?);
                fixed.push(',');
            }
            Ok(())
        };
        field("host", self.host.as_ref())?;
        field("source", self.source.as_ref())?;
        field("sourcetype", Some(&self.sourcetype))?;
        field("index", self.index.as_ref())?;
        fixed.push_str("\"event\":");
        Ok(HecFraming { fixed })
    }
}

impl SinkSpec for SplunkHecSinkConfig {
    fn type_name(&self) -> &'static str {
        "splunk_hec"
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn format(&self) -> Format {
        self.format
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        self.urls(key)?;
        self.headers(key, &new_channel())?;
        for (name, value, max) in [
            ("ack_poll_secs", self.ack_poll_secs, 600),
            ("ack_timeout_secs", self.ack_timeout_secs, 86_400),
        ] {
            if value == 0 || value > max {
                return Err(format!(
                    "{key}.{name} = {value} is out of range: use 1 to {max}"
                ));
            }
        }
        if self.sourcetype.is_empty() {
            return Err(format!(
                "{key}.sourcetype is empty: leave it out for aws:cloudtrail"
            ));
        }
        self.common().validate(key)
    }

    fn delivery(&self) -> DeliverySettings {
        let mut settings = self.common().delivery();
        if self.acknowledgements {
            if self.concurrency.is_none() && self.request.concurrency.is_none() {
                settings.concurrency = 16;
            }
            // A request's time includes waiting for its acknowledgement.
            settings.timeout = settings
                .timeout
                .map(|t| t + Duration::from_secs(self.ack_timeout_secs + self.ack_poll_secs));
        }
        settings
    }

    fn build(&self, cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError> {
        let key = format!("sink {}", cx.id);
        let client_error = build_error(&cx.id);
        let (event_uri, ack_uri) = self.urls(&key).map_err(&client_error)?;
        let channel = new_channel();
        Ok(Arc::new(HecSink {
            id: cx.id.to_string(),
            event_uri,
            ack_uri,
            headers: self.headers(&key, &channel).map_err(&client_error)?,
            framing: self.framing().map_err(&client_error)?,
            caps: self.common().caps(&key).map_err(&client_error)?,
            acknowledgements: self.acknowledgements,
            ack_poll: Duration::from_secs(self.ack_poll_secs),
            ack_timeout: Duration::from_secs(self.ack_timeout_secs),
            client: self.common().client(&cx.id).map_err(&client_error)?,
            settings: self.delivery(),
        }))
    }

    /// HEC's health endpoint (`GET /services/collector/health`): 200 when it takes data.
    fn healthcheck(&self, cx: &SinkContext) -> SinkFuture<'static, Result<(), SinkError>> {
        let prepared = (|| {
            let base = parse_endpoint("endpoint", &self.endpoint)?;
            let uri = join(&base, "/services/collector/health")?;
            let client = self.common().probe_client(&cx.id)?;
            Ok::<_, String>((uri, client))
        })();
        Box::pin(async move {
            let (uri, client) = prepared.map_err(SinkError::Refused)?;
            let answer = client
                .send(Method::GET, &uri, "application/json", &[], Bytes::new())
                .await
                .map_err(|e| SinkError::Refused(format!("cannot reach {e}")))?;
            if answer.status.is_success() {
                Ok(())
            } else {
                Err(SinkError::Refused(format!(
                    "{uri} answered {}: {}",
                    answer.status,
                    answer.body_text()
                )))
            }
        })
    }
}

/// A channel GUID for this instance (random, version 4 form).
fn new_channel() -> String {
    let a = fastrand::u128(..);
    let hex = format!("{a:032x}");
    format!(
        "{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        ["8", "9", "a", "b"][fastrand::usize(..4)],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Concatenated HEC event objects, one per line.
struct HecFraming {
    /// `"host":..,"source":..,"sourcetype":..,"index":..,"event":` (after `time`).
    fixed: String,
}

impl Framing for HecFraming {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn body(&self, batch: &Batch, records: &[usize], out: &mut Vec<u8>) {
        for &i in records {
            let ms = batch.keys.get(i).map_or(0, |k| k.event_time_ms);
            out.push(b'{');
            // No readable eventTime: no `time`, and Splunk stamps the event when it arrives.
            if ms > 0 {
                out.extend_from_slice(
                    format!("\"time\":{}.{:03},", ms / 1000, ms % 1000).as_bytes(),
                );
            }
            out.extend_from_slice(self.fixed.as_bytes());
            out.extend_from_slice(batch.record(i));
            out.extend_from_slice(b"}\n");
        }
    }

    fn entry_bytes(&self, batch: &Batch, i: usize) -> usize {
        24 + self.fixed.len() + batch.range(i).len()
    }
}

struct HecSink {
    id: String,
    event_uri: Uri,
    ack_uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    framing: HecFraming,
    caps: Caps,
    acknowledgements: bool,
    ack_poll: Duration,
    ack_timeout: Duration,
    client: HttpClient,
    settings: DeliverySettings,
}

/// HEC's answer body: `{"text":"Success","code":0,"ackId":7}` (the text is shown whole in
/// messages; only the code and the ackId are read).
#[derive(Deserialize, Default)]
struct HecAnswer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(rename = "ackId", default)]
    ack_id: Option<u64>,
}

impl HecSink {
    async fn send(&self, batch: &Batch, records: Vec<usize>) -> Attempt {
        let mut body = Vec::new();
        self.framing.body(batch, &records, &mut body);
        let answer = match self
            .client
            .send(
                Method::POST,
                &self.event_uri,
                "application/json",
                &self.headers,
                Bytes::from(body),
            )
            .await
        {
            Ok(a) => a,
            Err(error) => {
                return Attempt::Answered(Response::Retry {
                    error,
                    retry_after: None,
                })
            }
        };
        let said: HecAnswer = serde_json::from_slice(&answer.body).unwrap_or_default();
        // Configuration errors HEC reports as 400s: no bisecting will fix them.
        match said.code {
            Some(14) => return fatal("indexer acknowledgement is off for this token: turn it on in Splunk, or set acknowledgements = false", &answer),
            Some(10) | Some(11) => return fatal("the request channel was refused", &answer),
            Some(7) => return fatal("the index is not one this token may write: check index", &answer),
            _ => {}
        }
        if let Err(attempt) = read_status(&self.client, &self.settings, "Splunk HEC", &answer) {
            return attempt;
        }
        if !self.acknowledgements {
            return Attempt::Answered(Response::Delivered);
        }
        match said.ack_id {
            Some(id) => Attempt::Answered(self.wait_for_ack(id).await),
            None => Attempt::Answered(Response::Fatal(SinkError::Refused(format!(
                "Splunk HEC answered {} without an ackId ({}): turn indexer acknowledgement on for this token, or set acknowledgements = false",
                answer.status,
                answer.body_text()
            )))),
        }
    }

    /// Polls for `id` until Splunk says it is indexed, or the wait runs out (then the batch
    /// goes again: it may be indexed twice, never lost).
    async fn wait_for_ack(&self, id: u64) -> Response {
        let pending = metrics::gauge!(m::HEC_ACKS_PENDING, "sink" => self.id.clone());
        pending.increment(1.0);
        let started = tokio::time::Instant::now();
        let body = Bytes::from(format!("{{\"acks\":[{id}]}}"));
        let mut last: String;
        let outcome = loop {
            tokio::time::sleep(self.ack_poll).await;
            match self
                .client
                .send(
                    Method::POST,
                    &self.ack_uri,
                    "application/json",
                    &self.headers,
                    body.clone(),
                )
                .await
            {
                Ok(answer) if answer.status.is_success() => {
                    let acks: serde_json::Value =
                        serde_json::from_slice(&answer.body).unwrap_or_default();
                    if acks["acks"][id.to_string()] == true {
                        break Response::Delivered;
                    }
                    last = format!("ack {id} still false");
                }
                Ok(answer) => {
                    last = format!(
                        "the ack poll answered {}: {}",
                        answer.status,
                        answer.body_text()
                    )
                }
                Err(e) => last = e,
            }
            if started.elapsed() >= self.ack_timeout {
                break Response::Retry {
                    error: format!(
                        "Splunk did not acknowledge ack {id} within {} s ({last}): sending the batch again",
                        self.ack_timeout.as_secs()
                    ),
                    retry_after: None,
                };
            }
        };
        pending.decrement(1.0);
        outcome
    }
}

fn fatal(why: &str, answer: &Answer) -> Attempt {
    Attempt::Answered(Response::Fatal(SinkError::Refused(format!(
        "Splunk HEC answered {}: {why} ({})",
        answer.status,
        answer.body_text()
    ))))
}

impl Sink for HecSink {
    fn deliver<'a>(&'a self, request: &'a Request) -> SinkFuture<'a, Response> {
        Box::pin(async move {
            let batch = &request.batch;
            let send = |records: Vec<usize>| -> SinkFuture<'a, Attempt> {
                Box::pin(self.send(batch, records))
            };
            send_bisecting(request.indexes().collect(), &send).await
        })
    }

    fn requests(&self, batch: &Batch) -> Vec<std::ops::Range<usize>> {
        split_by_caps(batch.len(), self.caps.events, self.caps.bytes, |i| {
            self.framing.entry_bytes(batch, i)
        })
    }

    fn max_record_bytes(&self) -> Option<usize> {
        Some(self.caps.bytes)
    }

    fn wants_keys(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_wrapped_with_time_and_metadata() {
        let c: SplunkHecSinkConfig = toml::from_str(
            "endpoint = \"http://127.0.0.1:8088\"\ntoken = \"t\"\nindex = \"aws\"\nhost = \"h\"",
        )
        .unwrap();
        let f = c.framing().unwrap();
        let mut b = Batch::default();
        for (doc, ms) in [("{\"eventID\":\"e\"}", 1_704_448_801_250), ("{}", 0)] {
            b.bytes.extend_from_slice(doc.as_bytes());
            b.bytes.push(b'\n');
            b.ends.push(b.bytes.len());
            b.keys.push(super::super::Keys {
                event_time_ms: ms,
                ..Default::default()
            });
        }
        let mut out = Vec::new();
        f.body(&b, &[0, 1], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"time\":1704448801.250,\"host\":\"h\",\"sourcetype\":\"aws:cloudtrail\",\"index\":\"aws\",\"event\":{\"eventID\":\"e\"}}\n{\"host\":\"h\",\"sourcetype\":\"aws:cloudtrail\",\"index\":\"aws\",\"event\":{}}\n"
        );
    }

    #[test]
    fn channels_are_guids() {
        let c = new_channel();
        assert_eq!(c.len(), 36);
        assert_eq!(c.matches('-').count(), 4);
        assert_eq!(&c[14..15], "4");
        assert_ne!(c, new_channel());
    }

    #[test]
    fn config_errors_name_the_key() {
        let c: SplunkHecSinkConfig =
            toml::from_str("endpoint = \"splunk:8088\"\ntoken = \"t\"").unwrap();
        assert!(c
            .validate("sink[0]")
            .unwrap_err()
            .contains("sink[0].endpoint"));
        let c: SplunkHecSinkConfig =
            toml::from_str("endpoint = \"https://splunk:8088\"\ntoken = \"\"").unwrap();
        let e = c.validate("sink[0]").unwrap_err();
        assert!(
            e.contains("sink[0].token") && e.contains("SPLUNK_HEC_TOKEN"),
            "{e}"
        );
    }
}
