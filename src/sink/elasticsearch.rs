//! The Elasticsearch / OpenSearch sink: `_bulk` requests of NDJSON (an action line and the
//! document per record, ending with a newline), `_id` = `eventID` so a replay writes the same
//! documents again instead of new ones, the index (or data stream) named by a template on the
//! event's time. Every answer is read per item: 2xx delivered; 409 on `create` means the
//! document is already there (a replay, or a retry whose first try landed): delivered; 429 and
//! 5xx items are sent again alone; any other item error (a mapping conflict) rejects that
//! record to the dead-letter output with the server's reason. A 413 or a 400 for the whole body
//! is bisected down to the record that causes it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{Method, Uri};
use serde::Deserialize;

use super::http::{
    build_error, common_keys, default_credentials_retry_secs, join, parse_endpoint, read_status,
    send_bisecting, Answer, Attempt, BatchConfig, BodyCompression, Caps, CommonKeys, HttpClient,
    Secret, TlsConfig, Verdict,
};
use super::{
    split_by_caps, Batch, BuildError, DeliverySettings, RecordOutcome, Request, RequestConfig,
    Response, Sink, SinkContext, SinkError, SinkFuture, SinkSpec,
};
use crate::transform::fields::civil_from_unix;
use crate::transform::normalize::Format;

/// `[[sink]] type = "elasticsearch"` (OpenSearch too: the `_bulk` API is the same).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchSinkConfig {
    /// The sink's id in metrics and messages; default `elasticsearch_<n>`.
    #[serde(default)]
    pub name: Option<String>,
    /// The cluster's nodes (`https://HOST:9200`), used in turn; a node that does not answer is
    /// passed over for the next.
    pub endpoints: Vec<String>,
    /// The index or data stream, a template on the event's time (UTC): `%Y`, `%m`, `%d`, `%H`.
    #[serde(default = "default_index")]
    pub index: String,
    /// `create` (default; what data streams take, and a replay cannot overwrite) or `index`.
    #[serde(default)]
    pub action: BulkAction,
    /// Default `ecs`.
    #[serde(default = "default_format")]
    pub format: Format,
    #[serde(default)]
    pub compression: BodyCompression,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Per-request caps (default 5,000 records, 10 MiB before compression).
    #[serde(default)]
    pub batch: BatchConfig,
    /// Requests in flight at once (default 4).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// How long one request may take (default 60 s).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// How long 401/403 answers are retried before the run fails (default 300 s: long enough
    /// for a rotated key to arrive, short enough that a wrong one is noticed).
    #[serde(default = "default_credentials_retry_secs")]
    pub credentials_retry_secs: u64,
    /// Backoff and retry budget.
    #[serde(default)]
    pub request: RequestConfig,
}

fn default_index() -> String {
    "cloudtrail-%Y.%m.%d".to_string()
}

fn default_format() -> Format {
    Format::Ecs
}

/// The bulk action.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BulkAction {
    #[default]
    Create,
    Index,
}

impl BulkAction {
    fn as_str(self) -> &'static str {
        match self {
            BulkAction::Create => "create",
            BulkAction::Index => "index",
        }
    }
}

/// `[sink.auth]`: basic (`user`, `password`) or an API key (`api_key`, the base64
/// `id:key` Elasticsearch hands out).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub api_key: Option<Secret>,
}

impl AuthConfig {
    fn validate(&self, key: &str) -> Result<(), String> {
        match (&self.user, &self.password, &self.api_key) {
            (None, None, None) => Err(format!(
                "{key}.auth is empty: give user and password, or api_key (or leave auth out)"
            )),
            (Some(_), Some(_), None) | (None, None, Some(_)) => {
                for (name, s) in [("password", &self.password), ("api_key", &self.api_key)] {
                    if let Some(s) = s {
                        if s.is_empty() {
                            return Err(format!(
                                "{key}.auth.{name} is empty: set it, usually as \"${{ENV_VAR}}\""
                            ));
                        }
                        super::http::secret_header(s.expose())
                            .map_err(|e| format!("{key}.auth.{name} {e}"))?;
                    }
                }
                Ok(())
            }
            (_, _, Some(_)) => Err(format!(
                "{key}.auth: give either api_key or user and password, not both"
            )),
            (Some(_), None, None) => Err(format!(
                "{key}.auth.user is set without auth.password: add password = \"${{ES_PASSWORD}}\""
            )),
            (None, Some(_), None) => Err(format!(
                "{key}.auth.password is set without auth.user: add user = \"NAME\""
            )),
        }
    }

    /// The `Authorization` header.
    fn header(&self) -> Option<Result<HeaderValue, String>> {
        if let Some(k) = &self.api_key {
            return Some(super::http::secret_header(&format!(
                "ApiKey {}",
                k.expose()
            )));
        }
        let (user, password) = (self.user.as_ref()?, self.password.as_ref()?);
        let pair = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        Some(super::http::secret_header(&format!("Basic {pair}")))
    }
}

/// The intake's hard limits (Elasticsearch's `http.max_content_length` is 100 MB).
const LIMIT: Caps = Caps {
    events: 100_000,
    bytes: 100 * 1024 * 1024,
};

const DEFAULT_CAPS: Caps = Caps {
    events: 5_000,
    bytes: 10 * 1024 * 1024,
};

/// Room kept for an action line beside each record when cutting requests.
const ACTION_LINE_BYTES: usize = 128;

impl ElasticsearchSinkConfig {
    fn endpoint_uris(&self, key: &str) -> Result<Vec<Uri>, String> {
        if self.endpoints.is_empty() {
            return Err(format!(
                "{key}.endpoints is empty: list the cluster's nodes, e.g. [\"https://localhost:9200\"]"
            ));
        }
        self.endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let base = parse_endpoint(&format!("{key}.endpoints[{i}]"), e)?;
                join(&base, "/_bulk")
            })
            .collect()
    }

    fn common(&self) -> CommonKeys<'_> {
        common_keys!(self, DEFAULT_CAPS, LIMIT)
    }

    fn auth_headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        match self.auth.as_ref().and_then(AuthConfig::header) {
            Some(h) => Ok(vec![(AUTHORIZATION, h?)]),
            None => Ok(Vec::new()),
        }
    }
}

impl SinkSpec for ElasticsearchSinkConfig {
    fn type_name(&self) -> &'static str {
        "elasticsearch"
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn format(&self) -> Format {
        self.format
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        self.endpoint_uris(key)?;
        IndexTemplate::parse(&format!("{key}.index"), &self.index)?;
        if let Some(auth) = &self.auth {
            auth.validate(key)?;
        }
        self.common().validate(key)
    }

    fn delivery(&self) -> DeliverySettings {
        self.common().delivery()
    }

    fn build(&self, cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError> {
        let client_error = build_error(&cx.id);
        let key = format!("sink {}", cx.id);
        Ok(Arc::new(ElasticsearchSink {
            bulk: self.endpoint_uris(&key).map_err(&client_error)?,
            next: AtomicUsize::new(0),
            index: IndexTemplate::parse(&key, &self.index).map_err(&client_error)?,
            action: self.action,
            caps: self.common().caps(&key).map_err(&client_error)?,
            headers: self.auth_headers().map_err(&client_error)?,
            client: self.common().client(&cx.id).map_err(&client_error)?,
            settings: self.delivery(),
        }))
    }

    /// Asks each node for its banner (`GET /`), with the configured credentials.
    fn healthcheck(&self, cx: &SinkContext) -> SinkFuture<'static, Result<(), SinkError>> {
        let id = cx.id.to_string();
        let prepared = (|| {
            let roots = self
                .endpoints
                .iter()
                .map(|e| parse_endpoint("endpoint", e).and_then(|b| join(&b, "/")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, String>((
                roots,
                self.auth_headers()?,
                self.common().probe_client(&id)?,
            ))
        })();
        Box::pin(async move {
            let (roots, headers, client) = prepared.map_err(SinkError::Refused)?;
            for root in roots {
                let answer = client
                    .send(
                        Method::GET,
                        &root,
                        "application/json",
                        &headers,
                        Bytes::new(),
                    )
                    .await
                    .map_err(|e| SinkError::Refused(format!("cannot reach {e}")))?;
                if Verdict::of(answer.status) != Verdict::Accepted {
                    return Err(SinkError::Refused(format!(
                        "{root} answered {}: {}",
                        answer.status,
                        answer.body_text()
                    )));
                }
            }
            Ok(())
        })
    }
}

/// The index template `trailhose setup elasticsearch` installs: ECS mappings for the fields
/// the `ecs` format writes (IPs, dates, geo points, keyword blobs), strings as keywords.
pub const INDEX_TEMPLATE: &str =
    include_str!("../../pipelines/elasticsearch/cloudtrail-index-template.json");

/// The name it is installed under.
pub const INDEX_TEMPLATE_NAME: &str = "trailhose-cloudtrail";

impl ElasticsearchSinkConfig {
    /// A sink config for one node and the defaults (for `setup` without a config file).
    pub fn for_endpoint(url: &str) -> ElasticsearchSinkConfig {
        ElasticsearchSinkConfig {
            name: None,
            endpoints: vec![url.to_string()],
            index: default_index(),
            action: BulkAction::default(),
            format: default_format(),
            compression: BodyCompression::None,
            auth: None,
            tls: TlsConfig::default(),
            batch: BatchConfig::default(),
            concurrency: None,
            timeout_secs: None,
            credentials_retry_secs: default_credentials_retry_secs(),
            request: RequestConfig::default(),
        }
    }

    /// The index template for this sink's index names, in the dialect of `distribution`
    /// (`opensearch` has `flat_object` where Elasticsearch has `flattened`).
    pub fn index_template(&self, distribution: &str) -> Result<String, String> {
        let parts = IndexTemplate::parse("index", &self.index)?.parts;
        // The text before the first time field, then `*`: `cloudtrail-%Y.%m.%d` -> `cloudtrail-*`.
        let pattern = match parts.iter().position(|p| !matches!(p, IndexPart::Text(_))) {
            Some(first) => {
                let mut prefix: String = parts[..first]
                    .iter()
                    .map(|p| match p {
                        IndexPart::Text(t) => t.as_str(),
                        _ => "",
                    })
                    .collect();
                prefix.push('*');
                prefix
            }
            None => IndexTemplate { parts }.render(0),
        };
        let mut template: serde_json::Value = serde_json::from_str(INDEX_TEMPLATE)
            .map_err(|e| format!("the shipped index template is not JSON: {e}"))?;
        template["index_patterns"] = serde_json::json!([pattern]);
        let mut text = template.to_string();
        if distribution == "opensearch" {
            text = text
                .replace("\"type\":\"flattened\"", "\"type\":\"flat_object\"")
                .replace("\"type\":\"match_only_text\"", "\"type\":\"text\"");
        }
        Ok(text)
    }

    /// Installs the index template on the cluster (`PUT _index_template/trailhose-cloudtrail`)
    /// and says what it did.
    pub async fn install_index_template(&self) -> Result<String, String> {
        let base = parse_endpoint(
            "endpoints[0]",
            self.endpoints.first().map_or("", String::as_str),
        )?;
        let headers = self.auth_headers()?;
        let client = self.common().probe_client("setup")?;
        let root = join(&base, "/")?;
        let banner = client
            .send(
                Method::GET,
                &root,
                "application/json",
                &headers,
                Bytes::new(),
            )
            .await
            .map_err(|e| format!("cannot reach {e}"))?;
        if Verdict::of(banner.status) != Verdict::Accepted {
            return Err(format!(
                "{root} answered {}: {}",
                banner.status,
                banner.body_text()
            ));
        }
        let banner: serde_json::Value = serde_json::from_slice(&banner.body).unwrap_or_default();
        let distribution = banner["version"]["distribution"]
            .as_str()
            .unwrap_or("elasticsearch")
            .to_string();
        let version = banner["version"]["number"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        let template = self.index_template(&distribution)?;
        let uri = join(&base, &format!("/_index_template/{INDEX_TEMPLATE_NAME}"))?;
        let answer = client
            .send(
                Method::PUT,
                &uri,
                "application/json",
                &headers,
                Bytes::from(template),
            )
            .await
            .map_err(|e| format!("cannot reach {e}"))?;
        if Verdict::of(answer.status) != Verdict::Accepted {
            return Err(format!(
                "{uri} answered {}: {}",
                answer.status,
                answer.body_text()
            ));
        }
        Ok(format!(
            "installed the index template {INDEX_TEMPLATE_NAME} on {distribution} {version} at {base}"
        ))
    }
}

/// An index name template, split once into text and time fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexTemplate {
    parts: Vec<IndexPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum IndexPart {
    Text(String),
    Year,
    Month,
    Day,
    Hour,
}

impl IndexTemplate {
    fn parse(key: &str, template: &str) -> Result<IndexTemplate, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            let part = match chars.next() {
                Some('Y') => IndexPart::Year,
                Some('m') => IndexPart::Month,
                Some('d') => IndexPart::Day,
                Some('H') => IndexPart::Hour,
                Some('%') => {
                    text.push('%');
                    continue;
                }
                other => {
                    return Err(format!(
                        "{key} = {template:?}: %{} is not a time field: use %Y, %m, %d or %H",
                        other.map(String::from).unwrap_or_default()
                    ))
                }
            };
            if !text.is_empty() {
                parts.push(IndexPart::Text(std::mem::take(&mut text)));
            }
            parts.push(part);
        }
        if !text.is_empty() {
            parts.push(IndexPart::Text(text));
        }
        let parsed = IndexTemplate { parts };
        let sample = parsed.render(0);
        let bad = |why: &str| {
            Err(format!(
                "{key} = {template:?} is not an index name ({why}): use lowercase letters, digits, '-', '_', '.' and %Y %m %d %H"
            ))
        };
        if sample.is_empty() {
            return bad("it is empty");
        }
        if sample.len() > 255 {
            return bad("longer than 255 bytes");
        }
        if sample.starts_with(['-', '_', '+']) || sample == "." || sample == ".." {
            return bad("it starts with '-', '_' or '+', or is '.'");
        }
        if let Some(c) = sample.chars().find(|c| {
            c.is_uppercase()
                || matches!(
                    c,
                    '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':'
                )
        }) {
            return bad(&format!("it holds {c:?}"));
        }
        Ok(parsed)
    }

    /// The index for an event at `millis` (Unix milliseconds, UTC).
    fn render(&self, millis: i64) -> String {
        use std::fmt::Write as _;
        let (y, m, d, h, ..) = civil_from_unix(millis.div_euclid(1000));
        let mut out = String::new();
        for p in &self.parts {
            let _ = match p {
                IndexPart::Text(t) => {
                    out.push_str(t);
                    Ok(())
                }
                IndexPart::Year => write!(out, "{y:04}"),
                IndexPart::Month => write!(out, "{m:02}"),
                IndexPart::Day => write!(out, "{d:02}"),
                IndexPart::Hour => write!(out, "{h:02}"),
            };
        }
        out
    }
}

struct ElasticsearchSink {
    /// Each node's `_bulk` URL.
    bulk: Vec<Uri>,
    /// The node the next request goes to.
    next: AtomicUsize,
    index: IndexTemplate,
    action: BulkAction,
    caps: Caps,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: HttpClient,
    settings: DeliverySettings,
}

/// A `_bulk` answer: one item per action line, in order.
#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl ElasticsearchSink {
    /// The `_bulk` body for `records`: an action line naming the index and the `_id`, then the
    /// document, for each.
    fn body(&self, batch: &Batch, records: &[usize]) -> Vec<u8> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut body = Vec::with_capacity(
            records
                .iter()
                .map(|&i| batch.range(i).len() + ACTION_LINE_BYTES)
                .sum(),
        );
        let action = self.action.as_str();
        for &i in records {
            let keys = batch.keys.get(i).unwrap_or_default();
            // A record without a readable eventTime is filed under the day it was sent.
            let at = if keys.event_time_ms != 0 {
                keys.event_time_ms
            } else {
                now_ms
            };
            body.extend_from_slice(b"{\"");
            body.extend_from_slice(action.as_bytes());
            body.extend_from_slice(b"\":{\"_index\":");
            push_json_string(&mut body, &self.index.render(at));
            if !keys.event_id.is_empty() {
                body.extend_from_slice(b",\"_id\":");
                push_json_string(&mut body, keys.event_id);
            }
            body.extend_from_slice(b"}}\n");
            body.extend_from_slice(batch.line(i));
        }
        body
    }

    /// One `_bulk` request, tried on each node in turn while the connection fails.
    async fn send(&self, batch: &Batch, records: Vec<usize>) -> Attempt {
        let body = Bytes::from(self.body(batch, &records));
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut failed = Vec::new();
        for k in 0..self.bulk.len() {
            let uri = &self.bulk[(first + k) % self.bulk.len()];
            match self
                .client
                .send(
                    Method::POST,
                    uri,
                    "application/x-ndjson",
                    &self.headers,
                    body.clone(),
                )
                .await
            {
                Ok(answer) => return self.read(&answer, &records),
                Err(e) => failed.push(e),
            }
        }
        Attempt::Answered(Response::Retry {
            error: format!("no node answered: {}", failed.join("; ")),
            retry_after: None,
        })
    }

    /// Reads a `_bulk` answer for `records`.
    fn read(&self, answer: &Answer, records: &[usize]) -> Attempt {
        if let Err(attempt) = read_status(&self.client, &self.settings, "_bulk", answer) {
            return attempt;
        }
        let parsed: BulkAnswer = match serde_json::from_slice(&answer.body) {
            Ok(p) => p,
            Err(e) => {
                return Attempt::Answered(Response::Retry {
                    error: format!(
                        "_bulk answered {} with a body that is not a bulk answer ({e}): {}",
                        answer.status,
                        answer.body_text()
                    ),
                    retry_after: None,
                })
            }
        };
        if parsed.items.len() != records.len() {
            return Attempt::Answered(Response::Retry {
                error: format!(
                    "_bulk answered {} items for {} documents",
                    parsed.items.len(),
                    records.len()
                ),
                retry_after: None,
            });
        }
        let outcomes: Vec<RecordOutcome> = parsed
            .items
            .iter()
            .map(|item| match item.values().next() {
                Some(item) => self.item_outcome(item),
                None => RecordOutcome::Retry("an empty item in the _bulk answer".to_string()),
            })
            .collect();
        if outcomes.iter().all(|o| *o == RecordOutcome::Delivered) {
            Attempt::Answered(Response::Delivered)
        } else {
            Attempt::Answered(Response::PerRecord(outcomes))
        }
    }

    fn item_outcome(&self, item: &BulkItem) -> RecordOutcome {
        let reason = || {
            let e = item.error.as_ref();
            let s = |k: &str| {
                e.and_then(|e| e.get(k))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
            };
            match e {
                Some(serde_json::Value::String(text)) => format!("{}: {text}", item.status),
                _ => format!("{}: {}: {}", item.status, s("type"), s("reason")),
            }
        };
        match item.status {
            200..=299 => RecordOutcome::Delivered,
            // `create` of an `_id` that is there: this event was delivered before.
            409 if self.action == BulkAction::Create => RecordOutcome::Delivered,
            429 | 500..=599 => RecordOutcome::Retry(reason()),
            _ => RecordOutcome::Rejected(reason()),
        }
    }
}

impl Sink for ElasticsearchSink {
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
            batch.range(i).len() + ACTION_LINE_BYTES
        })
    }

    fn max_record_bytes(&self) -> Option<usize> {
        Some(self.caps.bytes.saturating_sub(ACTION_LINE_BYTES))
    }

    fn wants_keys(&self) -> bool {
        true
    }
}

/// Appends `s` as a JSON string.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    match serde_json::to_writer(&mut *out, s) {
        Ok(()) => {}
        Err(_) => out.extend_from_slice(b"\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_templates() {
        let t = IndexTemplate::parse("k", "cloudtrail-%Y.%m.%d").unwrap();
        // 2024-01-05T10:00:01Z
        assert_eq!(t.render(1_704_448_801_000), "cloudtrail-2024.01.05");
        let t = IndexTemplate::parse("k", "ct-%Y%m%d%H-100%%").unwrap();
        assert_eq!(t.render(1_704_448_801_000), "ct-2024010510-100%");
        assert_eq!(IndexTemplate::parse("k", "logs").unwrap().render(0), "logs");
        for bad in ["CloudTrail-%Y", "a b", "-x", "x-%Q", "", "x/y", "x%"] {
            let e = IndexTemplate::parse("sink[0].index", bad).unwrap_err();
            assert!(e.starts_with("sink[0].index = "), "{bad}: {e}");
        }
    }

    #[test]
    fn auth_needs_one_kind() {
        let user = AuthConfig {
            user: Some("elastic".into()),
            password: Some(serde_json::from_str("\"pw\"").unwrap()),
            api_key: None,
        };
        assert!(user.validate("s").is_ok());
        let header = user.header().unwrap().unwrap();
        assert_eq!(header.to_str().unwrap(), "Basic ZWxhc3RpYzpwdw==");
        assert!(header.is_sensitive());
        let e = AuthConfig {
            password: None,
            ..user.clone()
        }
        .validate("sink[1]")
        .unwrap_err();
        assert!(
            e.contains("sink[1].auth.user") && e.contains("password"),
            "{e}"
        );
        let both = AuthConfig {
            api_key: Some(serde_json::from_str("\"k\"").unwrap()),
            ..user
        };
        assert!(both.validate("s").unwrap_err().contains("not both"));
        assert!(format!("{both:?}").contains("***") && !format!("{both:?}").contains("pw"));
    }

    fn sink(action: BulkAction) -> ElasticsearchSink {
        ElasticsearchSink {
            bulk: vec!["http://127.0.0.1:1/_bulk".parse().unwrap()],
            next: AtomicUsize::new(0),
            index: IndexTemplate::parse("k", "ct-%Y.%m").unwrap(),
            action,
            caps: DEFAULT_CAPS,
            headers: Vec::new(),
            client: HttpClient::new(
                "t",
                &TlsConfig::default(),
                BodyCompression::None,
                std::time::Duration::ZERO,
            )
            .unwrap(),
            settings: DeliverySettings::default(),
        }
    }

    #[test]
    fn bodies_name_index_and_id() {
        let mut b = Batch::default();
        for (id, t, doc) in [
            ("e-1", 1_704_448_801_000, "{\"a\":1}"),
            ("", 0, "{\"b\":2}"),
            ("q\"x", 1_706_745_600_000, "{}"),
        ] {
            b.bytes.extend_from_slice(doc.as_bytes());
            b.bytes.push(b'\n');
            b.ends.push(b.bytes.len());
            b.keys.push(super::super::Keys {
                event_id: id,
                event_time_ms: t,
                ..Default::default()
            });
        }
        let body = String::from_utf8(sink(BulkAction::Create).body(&b, &[0, 2])).unwrap();
        assert_eq!(
            body,
            "{\"create\":{\"_index\":\"ct-2024.01\",\"_id\":\"e-1\"}}\n{\"a\":1}\n{\"create\":{\"_index\":\"ct-2024.02\",\"_id\":\"q\\\"x\"}}\n{}\n"
        );
        let body = String::from_utf8(sink(BulkAction::Index).body(&b, &[1])).unwrap();
        assert!(body.starts_with("{\"index\":{\"_index\":\"ct-2"), "{body}");
        assert!(!body.contains("_id"), "{body}");
    }

    #[test]
    fn items_read_one_by_one() {
        let answer = |body: &str| Answer {
            status: http::StatusCode::OK,
            retry_after: None,
            body: bytes::Bytes::from(body.to_string()),
        };
        let mixed = r#"{"errors":true,"items":[
            {"create":{"status":201}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [a]"}}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"status":503,"error":"unavailable"}}]}"#;
        let Attempt::Answered(Response::PerRecord(o)) =
            sink(BulkAction::Create).read(&answer(mixed), &[0, 1, 2, 3, 4])
        else {
            panic!("per record expected")
        };
        assert_eq!(o[0], RecordOutcome::Delivered);
        assert_eq!(o[1], RecordOutcome::Delivered);
        assert_eq!(
            o[2],
            RecordOutcome::Rejected(
                "400: mapper_parsing_exception: failed to parse field [a]".into()
            )
        );
        assert!(matches!(&o[3], RecordOutcome::Retry(r) if r.contains("queue full")));
        assert!(matches!(&o[4], RecordOutcome::Retry(r) if r == "503: unavailable"));
        // 409 on `index` is not "already there".
        let Attempt::Answered(Response::PerRecord(o)) =
            sink(BulkAction::Index).read(&answer(mixed), &[0, 1, 2, 3, 4])
        else {
            panic!("per record expected")
        };
        assert!(matches!(o[1], RecordOutcome::Rejected(_)));
        // Fewer items than documents: nothing can be told apart, so all go again.
        assert!(matches!(
            sink(BulkAction::Create)
                .read(&answer(r#"{"items":[{"create":{"status":201}}]}"#), &[0, 1]),
            Attempt::Answered(Response::Retry { .. })
        ));
        assert!(matches!(
            sink(BulkAction::Create).read(&answer(r#"{"errors":false,"items":[{"create":{"status":201}},{"index":{"status":200}}]}"#), &[0, 1]),
            Attempt::Answered(Response::Delivered)
        ));
    }
}
