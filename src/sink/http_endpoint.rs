//! The generic HTTP sink (`type = "http"`): batches of records POSTed (or PUT) to any URL as
//! NDJSON or one JSON array, with configured headers and basic auth, gzip, and the same caps
//! and status handling as the provider sinks: 2xx delivered; 408, 429, 5xx retried (with
//! `Retry-After`); 413 and 400 bisected down to the record that causes them, which is
//! dead-lettered with the answer; 401/403 retried within the credentials budget, then the run
//! fails; any other answer fails the run (the endpoint is wrong).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::Method;
use serde::Deserialize;

use super::http::{
    build_error, common_keys, default_credentials_retry_secs, parse_endpoint, secret_header,
    BatchConfig, BodyCompression, Caps, CommonKeys, Secret, TlsConfig,
};
use super::intake::{Framing, IntakeSink, JsonArrayFraming, NdjsonFraming};
use super::{BuildError, DeliverySettings, RequestConfig, Sink, SinkContext, SinkSpec};
use crate::transform::normalize::Format;

/// `[[sink]] type = "http"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// Where requests go.
    pub endpoint: String,
    #[serde(default)]
    pub method: HttpMethod,
    /// `ndjson` (default: a line per record) or `json_array`.
    #[serde(default)]
    pub framing: BodyFraming,
    /// Headers for every request; values are secrets (never printed), usually `"${VAR}"`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Basic auth.
    #[serde(default)]
    pub auth: Option<BasicAuth>,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub compression: BodyCompression,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Per-request caps (default 1,000 records, 1 MiB).
    #[serde(default)]
    pub batch: BatchConfig,
    /// The largest record sent; larger ones are dead-lettered (default 1 MiB).
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: usize,
    #[serde(default)]
    pub concurrency: Option<usize>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default = "default_credentials_retry_secs")]
    pub credentials_retry_secs: u64,
    #[serde(default)]
    pub request: RequestConfig,
}

fn default_max_event_bytes() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum BodyFraming {
    #[default]
    Ndjson,
    JsonArray,
}

/// `[sink.auth]` of the generic HTTP sink: basic auth.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub user: String,
    pub password: Secret,
}

const LIMIT: Caps = Caps {
    events: 1_000_000,
    bytes: 100 * 1024 * 1024,
};

const DEFAULT_CAPS: Caps = Caps {
    events: 1_000,
    bytes: 1024 * 1024,
};

impl HttpSinkConfig {
    fn common(&self) -> CommonKeys<'_> {
        common_keys!(self, DEFAULT_CAPS, LIMIT)
    }

    fn header_list(&self, key: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                format!("{key}.headers: {name:?} is not a header name (letters, digits, '-')")
            })?;
            let value =
                secret_header(value.expose()).map_err(|e| format!("{key}.headers.{name} {e}"))?;
            out.push((header, value));
        }
        if let Some(auth) = &self.auth {
            if self
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("authorization"))
            {
                return Err(format!(
                    "{key}: both auth and headers.Authorization are set: keep one"
                ));
            }
            let pair = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                auth.user,
                auth.password.expose()
            ));
            let value =
                secret_header(&format!("Basic {pair}")).map_err(|e| format!("{key}.auth {e}"))?;
            out.push((AUTHORIZATION, value));
        }
        Ok(out)
    }
}

impl SinkSpec for HttpSinkConfig {
    fn type_name(&self) -> &'static str {
        "http"
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn format(&self) -> Format {
        self.format
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        parse_endpoint(&format!("{key}.endpoint"), &self.endpoint)?;
        self.header_list(key)?;
        let caps = self.common().caps(key)?;
        if self.max_event_bytes == 0 || self.max_event_bytes > caps.bytes {
            return Err(format!(
                "{key}.max_event_bytes = {} is out of range: use 1 to batch.max_bytes ({})",
                self.max_event_bytes, caps.bytes
            ));
        }
        self.common().validate(key)
    }

    fn delivery(&self) -> DeliverySettings {
        self.common().delivery()
    }

    fn build(&self, cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError> {
        let key = format!("sink {}", cx.id);
        let client_error = build_error(&cx.id);
        let framing: Box<dyn Framing> = match self.framing {
            BodyFraming::Ndjson => Box::new(NdjsonFraming),
            BodyFraming::JsonArray => Box::new(JsonArrayFraming),
        };
        Ok(IntakeSink {
            what: "the HTTP endpoint",
            uri: parse_endpoint(&format!("{key}.endpoint"), &self.endpoint)
                .map_err(&client_error)?,
            method: match self.method {
                HttpMethod::Post => Method::POST,
                HttpMethod::Put => Method::PUT,
            },
            headers: self.header_list(&key).map_err(&client_error)?,
            framing,
            caps: self.common().caps(&key).map_err(&client_error)?,
            max_entry_bytes: self.max_event_bytes,
            client: self.common().client(&cx.id).map_err(&client_error)?,
            settings: self.delivery(),
            accept: None,
        }
        .into_sink())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_secret_and_checked() {
        let c: HttpSinkConfig = toml::from_str(
            "endpoint = \"http://127.0.0.1:1/in\"\nheaders = { X-Api-Key = \"k-123\" }\nauth = { user = \"u\", password = \"p\" }",
        )
        .unwrap();
        c.validate("sink[0]").unwrap();
        let h = c.header_list("s").unwrap();
        assert!(h.iter().all(|(_, v)| v.is_sensitive()));
        assert_eq!(h[1].1.to_str().unwrap(), "Basic dTpw");
        assert!(!format!("{c:?}").contains("k-123"));
        let bad: HttpSinkConfig =
            toml::from_str("endpoint = \"http://h/\"\nheaders = { \"bad name\" = \"v\" }").unwrap();
        assert!(bad
            .validate("sink[3]")
            .unwrap_err()
            .contains("sink[3].headers"));
    }
}
