//! The Loggly sink: the bulk endpoint (`POST https://logs-01.loggly.com/bulk/<token>/tag/<tags>/`),
//! newline-separated events, at most 5 MB per request and 1 MB per event (a larger record is
//! dead-lettered: Loggly would drop it). A request counts as delivered only when Loggly answers
//! `{"response" : "ok"}`. Tags may hold only `[A-Za-z0-9._-]` (checked at start: Loggly drops
//! a bad tag silently). The token sits in the URL, so the URL is never printed: messages name
//! the sink and Loggly, not the address.

use std::sync::Arc;

use http::Method;
use serde::Deserialize;

use super::http::{
    build_error, common_keys, default_credentials_retry_secs, join, parse_endpoint, Answer,
    BatchConfig, BodyCompression, Caps, CommonKeys, Secret, TlsConfig,
};
use super::intake::{IntakeSink, NdjsonFraming};
use super::{BuildError, DeliverySettings, RequestConfig, Sink, SinkContext, SinkSpec};
use crate::transform::normalize::Format;

/// `[[sink]] type = "loggly"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogglySinkConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// The customer token, usually `"${LOGGLY_TOKEN}"`.
    pub token: Secret,
    /// Tags for every event (default `["cloudtrail"]`).
    #[serde(default = "default_tags")]
    pub tags: Vec<String>,
    /// Replaces `https://logs-01.loggly.com` (a proxy, a test server).
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub compression: BodyCompression,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Per-request caps (default 5,000 events, 5 MiB; Loggly takes at most 5 MiB).
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default)]
    pub concurrency: Option<usize>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default = "default_credentials_retry_secs")]
    pub credentials_retry_secs: u64,
    #[serde(default)]
    pub request: RequestConfig,
}

fn default_tags() -> Vec<String> {
    vec!["cloudtrail".to_string()]
}

const LIMIT: Caps = Caps {
    events: 100_000,
    bytes: 5 * 1024 * 1024,
};

const DEFAULT_CAPS: Caps = Caps {
    events: 5_000,
    bytes: 5 * 1024 * 1024,
};

/// Loggly's limit for one event.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

impl LogglySinkConfig {
    fn common(&self) -> CommonKeys<'_> {
        common_keys!(self, DEFAULT_CAPS, LIMIT)
    }

    fn uri(&self, key: &str) -> Result<http::Uri, String> {
        if self.token.is_empty() {
            return Err(format!(
                "{key}.token is empty: set it, usually as token = \"${{LOGGLY_TOKEN}}\""
            ));
        }
        if !self
            .token
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "{key}.token is not a Loggly customer token (letters, digits and '-'): check the variable it comes from"
            ));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.is_empty()
                || !tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(format!(
                    "{key}.tags[{i}] = {tag:?}: a Loggly tag holds only letters, digits, '.', '_' and '-' (Loggly drops others silently)"
                ));
            }
        }
        let base = parse_endpoint(
            &format!("{key}.endpoint"),
            self.endpoint
                .as_deref()
                .unwrap_or("https://logs-01.loggly.com"),
        )?;
        let mut path = format!("/bulk/{}/", self.token.expose());
        if !self.tags.is_empty() {
            path.push_str(&format!("tag/{}/", self.tags.join(",")));
        }
        // The URL holds the token: a parse error must not echo it.
        join(&base, &path)
            .map_err(|_| format!("{key}.endpoint does not make a valid URL with the token"))
    }
}

/// Loggly answers `{"response" : "ok"}` when it took the events.
fn said_ok(answer: &Answer) -> Result<(), String> {
    let parsed: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    if parsed["response"] == "ok" {
        Ok(())
    } else {
        Err(format!(
            "its body is not {{\"response\" : \"ok\"}}: {}",
            answer.body_text()
        ))
    }
}

impl SinkSpec for LogglySinkConfig {
    fn type_name(&self) -> &'static str {
        "loggly"
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn format(&self) -> Format {
        self.format
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        self.uri(key)?;
        self.common().validate(key)
    }

    fn delivery(&self) -> DeliverySettings {
        self.common().delivery()
    }

    fn build(&self, cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError> {
        let key = format!("sink {}", cx.id);
        let client_error = build_error(&cx.id);
        Ok(IntakeSink {
            what: "Loggly",
            uri: self.uri(&key).map_err(&client_error)?,
            method: Method::POST,
            headers: Vec::new(),
            framing: Box::new(NdjsonFraming),
            caps: self.common().caps(&key).map_err(&client_error)?,
            max_entry_bytes: MAX_EVENT_BYTES,
            client: self
                .common()
                .client(&cx.id)
                .map_err(&client_error)?
                .hiding_path(),
            settings: self.delivery(),
            accept: Some(said_ok),
        }
        .into_sink())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_tags_and_token() {
        let c: LogglySinkConfig =
            toml::from_str("token = \"abc-123\"\ntags = [\"cloudtrail\", \"prod.eu\"]").unwrap();
        assert_eq!(
            c.uri("s").unwrap().to_string(),
            "https://logs-01.loggly.com/bulk/abc-123/tag/cloudtrail,prod.eu/"
        );
        let bad: LogglySinkConfig =
            toml::from_str("token = \"abc\"\ntags = [\"ok\", \"no spaces\"]").unwrap();
        let e = bad.validate("sink[1]").unwrap_err();
        assert!(e.contains("sink[1].tags[1]") && e.contains("'_'"), "{e}");
        let bad: LogglySinkConfig = toml::from_str("token = \"a/b\"").unwrap();
        let e = bad.validate("s").unwrap_err();
        assert!(e.contains("s.token") && !e.contains("a/b"), "{e}");
    }

    #[test]
    fn only_ok_is_accepted() {
        let answer = |b: &str| Answer {
            status: http::StatusCode::OK,
            retry_after: None,
            body: bytes::Bytes::from(b.to_string()),
        };
        assert!(said_ok(&answer("{\"response\" : \"ok\"}")).is_ok());
        assert!(said_ok(&answer("<html>proxy</html>")).is_err());
    }
}
