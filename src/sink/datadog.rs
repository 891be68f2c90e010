//! The Datadog sink: Logs intake v2 (`POST https://http-intake.logs.<site>/api/v2/logs`), a
//! JSON array of log entries per request, gzip. Each entry is the record's own JSON object with
//! Datadog's reserved attributes put in front (`ddsource: cloudtrail`, which routes it into
//! Datadog's CloudTrail pipeline, `service`, `hostname`, `ddtags` with per-event values), as
//! Datadog's own Forwarder sends CloudTrail. The intake's caps: at most 1,000 entries and
//! 5,000,000 bytes uncompressed per request (trailhose aims under 4.25 MB by default, counted
//! after serialization with the entry being added), 1 MB per entry. An entry over 1 MB would be
//! truncated by Datadog: trailhose dead-letters it whole instead, so nothing is cut silently.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::Method;
use serde::Deserialize;

use super::http::{
    build_error, common_keys, default_credentials_retry_secs, join, parse_endpoint, secret_header,
    BatchConfig, BodyCompression, Caps, CommonKeys, Secret, TlsConfig,
};
use super::intake::{Framing, IntakeSink};
use super::key_template::KeyTemplate;
use super::{
    Batch, BuildError, DeliverySettings, RequestConfig, Sink, SinkContext, SinkError, SinkFuture,
    SinkSpec,
};
use crate::transform::normalize::Format;

/// The Datadog sites (`site`), each with its own intake host.
pub const SITES: [&str; 7] = [
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
];

/// `[[sink]] type = "datadog"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatadogSinkConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// The account's site (default `datadoghq.com`, US1).
    #[serde(default = "default_site")]
    pub site: String,
    /// A URL that replaces the site's intake (a proxy, a test server); `/api/v2/logs` is added.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The API key, usually `"${DD_API_KEY}"`; sent as `DD-API-KEY`.
    pub api_key: Secret,
    /// `service` of every entry (default `cloudtrail`).
    #[serde(default = "default_service")]
    pub service: String,
    /// `hostname` of every entry (default: none, Datadog's own).
    #[serde(default)]
    pub hostname: Option<String>,
    /// `ddtags`, with per-event values: `{recipientAccountId}`, `{awsRegion}`, `{eventSource}`.
    #[serde(default = "default_ddtags")]
    pub ddtags: String,
    /// Default `raw`: Datadog's CloudTrail pipeline parses the record as AWS delivers it.
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub compression: BodyCompression,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Per-request caps (default 1,000 entries, 4,250,000 bytes; at most 1,000 and 5,000,000).
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default)]
    pub concurrency: Option<usize>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// How long 401/403 answers are retried before the run fails (default 300 s).
    #[serde(default = "default_credentials_retry_secs")]
    pub credentials_retry_secs: u64,
    #[serde(default)]
    pub request: RequestConfig,
}

fn default_site() -> String {
    "datadoghq.com".to_string()
}

fn default_service() -> String {
    "cloudtrail".to_string()
}

fn default_ddtags() -> String {
    "aws_account:{recipientAccountId},region:{awsRegion}".to_string()
}

const LIMIT: Caps = Caps {
    events: 1_000,
    bytes: 5_000_000,
};

const DEFAULT_CAPS: Caps = Caps {
    events: 1_000,
    bytes: 4_250_000,
};

/// Datadog's limit for one entry; over it, Datadog truncates.
const MAX_ENTRY_BYTES: usize = 1_000_000;

impl DatadogSinkConfig {
    fn common(&self) -> CommonKeys<'_> {
        common_keys!(self, DEFAULT_CAPS, LIMIT)
    }

    fn base_url(&self, key: &str) -> Result<http::Uri, String> {
        let base = match &self.endpoint {
            Some(e) => parse_endpoint(&format!("{key}.endpoint"), e)?,
            None => {
                if !SITES.contains(&self.site.as_str()) {
                    return Err(format!(
                        "{key}.site = {:?} is not a Datadog site: use one of {} (or endpoint = URL)",
                        self.site,
                        SITES.join(", ")
                    ));
                }
                parse_endpoint(
                    &format!("{key}.site"),
                    &format!("https://http-intake.logs.{}", self.site),
                )?
            }
        };
        join(&base, "/api/v2/logs")
    }

    fn headers(&self, key: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        if self.api_key.is_empty() {
            return Err(format!(
                "{key}.api_key is empty: set it, usually as api_key = \"${{DD_API_KEY}}\""
            ));
        }
        let value =
            secret_header(self.api_key.expose()).map_err(|e| format!("{key}.api_key {e}"))?;
        Ok(vec![(HeaderName::from_static("dd-api-key"), value)])
    }

    fn framing(&self, key: &str) -> Result<DatadogFraming, String> {
        let tags = KeyTemplate::parse(&format!("{key}.ddtags"), &self.ddtags)?;
        let mut fixed = String::from("{\"ddsource\":\"cloudtrail\"");
        for (name, value) in [
            ("service", Some(&self.service)),
            ("hostname", self.hostname.as_ref()),
        ] {
            if let Some(v) = value {
                fixed.push_str(&format!(",\"{name}\":"));
                fixed.push_str(&serde_json::to_string(v).map_err(|e| e.to_string())?);
            }
        }
        Ok(DatadogFraming { fixed, tags })
    }
}

impl SinkSpec for DatadogSinkConfig {
    fn type_name(&self) -> &'static str {
        "datadog"
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn format(&self) -> Format {
        self.format
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        self.base_url(key)?;
        self.headers(key)?;
        self.framing(key)?;
        self.common().validate(key)
    }

    fn delivery(&self) -> DeliverySettings {
        self.common().delivery()
    }

    fn build(&self, cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError> {
        let key = format!("sink {}", cx.id);
        let client_error = build_error(&cx.id);
        Ok(IntakeSink {
            what: "Datadog",
            uri: self.base_url(&key).map_err(&client_error)?,
            method: Method::POST,
            headers: self.headers(&key).map_err(&client_error)?,
            framing: Box::new(self.framing(&key).map_err(&client_error)?),
            caps: self.common().caps(&key).map_err(&client_error)?,
            max_entry_bytes: MAX_ENTRY_BYTES,
            client: self.common().client(&cx.id).map_err(&client_error)?,
            settings: self.delivery(),
            accept: None,
        }
        .into_sink())
    }

    /// Checks the API key with Datadog's `GET https://api.<site>/api/v1/validate`; with an
    /// `endpoint` (a proxy, a test server), that the endpoint answers and takes the key.
    fn healthcheck(&self, cx: &SinkContext) -> SinkFuture<'static, Result<(), SinkError>> {
        let prepared = (|| {
            let uri = match &self.endpoint {
                Some(_) => self.base_url("endpoint")?,
                None => {
                    self.base_url("site")?;
                    parse_endpoint(
                        "site",
                        &format!("https://api.{}/api/v1/validate", self.site),
                    )?
                }
            };
            let client = self.common().probe_client(&cx.id)?;
            Ok::<_, String>((uri, self.headers("api_key")?, client))
        })();
        Box::pin(async move {
            let (uri, headers, client) = prepared.map_err(SinkError::Refused)?;
            let answer = client
                .send(
                    Method::GET,
                    &uri,
                    "application/json",
                    &headers,
                    Bytes::new(),
                )
                .await
                .map_err(|e| SinkError::Refused(format!("cannot reach {e}")))?;
            match answer.status.as_u16() {
                401 | 403 => Err(SinkError::Refused(format!(
                    "{uri} refused the API key ({}): check api_key",
                    answer.status
                ))),
                _ => Ok(()),
            }
        })
    }
}

/// A JSON array of the records, each with Datadog's reserved attributes in front.
struct DatadogFraming {
    /// `{"ddsource":"cloudtrail","service":...,"hostname":...` (no closing brace).
    fixed: String,
    tags: KeyTemplate,
}

impl DatadogFraming {
    /// Appends record `i`'s entry.
    fn entry(&self, batch: &Batch, i: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.fixed.as_bytes());
        if !self.tags.is_empty() {
            let mut tags = String::new();
            self.tags
                .render_into(&batch.keys.get(i).unwrap_or_default(), &mut tags);
            out.extend_from_slice(b",\"ddtags\":");
            let _ = serde_json::to_writer(&mut *out, &tags);
        }
        let record = batch.record(i);
        // The record's members after its `{`; an empty object adds none.
        let members = record.strip_prefix(b"{").unwrap_or(record);
        if members.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'}') {
            out.push(b',');
        }
        out.extend_from_slice(members);
    }
}

impl Framing for DatadogFraming {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn body(&self, batch: &Batch, records: &[usize], out: &mut Vec<u8>) {
        out.push(b'[');
        for (k, &i) in records.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            self.entry(batch, i, out);
        }
        out.push(b']');
    }

    fn entry_bytes(&self, batch: &Batch, i: usize) -> usize {
        // The fixed part, the tags (they vary per event; escaping may add a little, within the
        // cap's margin), the record, a comma.
        let tags = self
            .tags
            .rendered_len(&batch.keys.get(i).unwrap_or_default());
        self.fixed.len() + tags + 14 + batch.record(i).len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> DatadogSinkConfig {
        toml::from_str(&format!("api_key = \"k\"\n{text}")).unwrap()
    }

    #[test]
    fn sites_and_endpoints() {
        let c = config("site = \"datadoghq.eu\"");
        assert_eq!(
            c.base_url("s").unwrap().to_string(),
            "https://http-intake.logs.datadoghq.eu/api/v2/logs"
        );
        let e = config("site = \"datadoghq.de\"")
            .validate("sink[2]")
            .unwrap_err();
        assert!(
            e.contains("sink[2].site") && e.contains("us5.datadoghq.com"),
            "{e}"
        );
        let c = config("endpoint = \"http://127.0.0.1:9/dd\"");
        assert_eq!(
            c.base_url("s").unwrap().to_string(),
            "http://127.0.0.1:9/dd/api/v2/logs"
        );
        let e = toml::from_str::<DatadogSinkConfig>("api_key = \"\"")
            .unwrap()
            .validate("sink[0]")
            .unwrap_err();
        assert!(
            e.contains("sink[0].api_key") && e.contains("DD_API_KEY"),
            "{e}"
        );
        let e = config("batch = { max_bytes = 6000000 }")
            .validate("s")
            .unwrap_err();
        assert!(
            e.contains("s.batch.max_bytes") && e.contains("5000000"),
            "{e}"
        );
    }

    #[test]
    fn entries_carry_the_reserved_attributes_in_front() {
        let f = config("hostname = \"h\"\nddtags = \"env:prod,aws_account:{recipientAccountId}\"")
            .framing("s")
            .unwrap();
        let mut b = Batch::default();
        for doc in ["{\"eventID\":\"e\"}", "{}"] {
            b.bytes.extend_from_slice(doc.as_bytes());
            b.bytes.push(b'\n');
            b.ends.push(b.bytes.len());
            b.keys.push(super::super::Keys {
                recipient_account_id: "111122223333",
                ..Default::default()
            });
        }
        let mut out = Vec::new();
        f.body(&b, &[0, 1], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "[{\"ddsource\":\"cloudtrail\",\"service\":\"cloudtrail\",\"hostname\":\"h\",\"ddtags\":\"env:prod,aws_account:111122223333\",\"eventID\":\"e\"},{\"ddsource\":\"cloudtrail\",\"service\":\"cloudtrail\",\"hostname\":\"h\",\"ddtags\":\"env:prod,aws_account:111122223333\"}]"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0]["eventID"], "e");
        // The size counted for cutting requests covers what is written.
        let counted: usize = (0..2).map(|i| f.entry_bytes(&b, i)).sum();
        assert!(counted >= text.len() - 1, "{counted} < {}", text.len());
    }
}
