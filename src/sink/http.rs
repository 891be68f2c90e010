//! What every HTTP sink shares: one pooled client per sink (HTTP/1.1 keep-alive, HTTP/2 where
//! the server offers it through ALPN, TLS always verified unless `tls.verify = false` is set
//! explicitly), gzip bodies, the per-sink HTTP metrics, and the reading of an intake's status
//! code: accepted, retry (408, 429, 5xx, with `Retry-After`), too large (413: the sink splits),
//! a credentials problem (401/403: retried within a budget, then the run fails), or a refusal.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::{DeliverySettings, RecordOutcome, RequestConfig, Response, SinkError};
use crate::metrics as m;

/// `[sink.tls]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Check the server's certificate (default). `false` accepts any certificate: for a test
    /// cluster only, and it is said at start.
    pub verify: bool,
    /// A PEM file of CA certificates trusted besides the system's (a private CA).
    pub ca_file: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            verify: true,
            ca_file: None,
        }
    }
}

impl TlsConfig {
    pub fn validate(&self, key: &str) -> Result<(), String> {
        if let Some(path) = &self.ca_file {
            read_ca_file(path).map_err(|e| format!("{key}.tls.ca_file: {e}"))?;
        }
        Ok(())
    }
}

fn read_ca_file(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate: give a PEM file with -----BEGIN CERTIFICATE----- blocks",
            path.display()
        ));
    }
    Ok(certs)
}

/// `compression` of an HTTP sink's bodies.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BodyCompression {
    #[default]
    Gzip,
    None,
}

/// `[sink.batch]`: the per-request caps. A sink's defaults sit under its intake's limits.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// The most body bytes per request, before compression.
    pub max_bytes: Option<usize>,
    /// The most records per request.
    pub max_events: Option<usize>,
}

/// A batch cap in effect: `events` records and `bytes` body bytes per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub events: usize,
    pub bytes: usize,
}

impl BatchConfig {
    /// The caps with the sink's defaults; `limit` is what the intake takes at most (a larger
    /// setting is an error naming it).
    pub fn caps(&self, key: &str, default: Caps, limit: Caps) -> Result<Caps, String> {
        let caps = Caps {
            events: self.max_events.unwrap_or(default.events),
            bytes: self.max_bytes.unwrap_or(default.bytes),
        };
        if caps.events == 0 || caps.events > limit.events {
            return Err(format!(
                "{key}.batch.max_events = {} is out of range: use 1 to {} (default {})",
                caps.events, limit.events, default.events
            ));
        }
        if caps.bytes < 1024 || caps.bytes > limit.bytes {
            return Err(format!(
                "{key}.batch.max_bytes = {} is out of range: use 1024 to {} (default {})",
                caps.bytes, limit.bytes, default.bytes
            ));
        }
        Ok(caps)
    }
}

/// How long 401/403 answers are retried by default before the run fails: long enough for a
/// rotated key to arrive, short enough that a wrong one is noticed.
pub fn default_credentials_retry_secs() -> u64 {
    300
}

/// The keys every HTTP sink takes, borrowed from its config, with the sink's caps: what their
/// `validate`, `delivery` and `build` share.
pub struct CommonKeys<'a> {
    pub tls: &'a TlsConfig,
    pub compression: BodyCompression,
    pub batch: &'a BatchConfig,
    pub concurrency: Option<usize>,
    pub timeout_secs: Option<u64>,
    pub credentials_retry_secs: u64,
    pub request: &'a RequestConfig,
    /// The sink's default caps, and the most its intake takes.
    pub default_caps: Caps,
    pub limit: Caps,
}

/// The [`CommonKeys`] of an HTTP sink config (its fields carry the common names), with its caps.
macro_rules! common_keys {
    ($config:expr, $default_caps:expr, $limit:expr) => {
        $crate::sink::http::CommonKeys {
            tls: &$config.tls,
            compression: $config.compression,
            batch: &$config.batch,
            concurrency: $config.concurrency,
            timeout_secs: $config.timeout_secs,
            credentials_retry_secs: $config.credentials_retry_secs,
            request: &$config.request,
            default_caps: $default_caps,
            limit: $limit,
        }
    };
}
pub(crate) use common_keys;

impl CommonKeys<'_> {
    /// Checks them; `key` names the sink.
    pub fn validate(&self, key: &str) -> Result<(), String> {
        self.tls.validate(key)?;
        self.caps(key)?;
        if self.credentials_retry_secs > 86_400 {
            return Err(format!(
                "{key}.credentials_retry_secs = {} is out of range: use 0 to 86400 (default 300)",
                self.credentials_retry_secs
            ));
        }
        validate_request(key, self.request, self.concurrency, self.timeout_secs)
    }

    pub fn caps(&self, key: &str) -> Result<Caps, String> {
        self.batch.caps(key, self.default_caps, self.limit)
    }

    pub fn delivery(&self) -> DeliverySettings {
        delivery_settings(self.request, self.concurrency, self.timeout_secs)
    }

    /// The sink's client (`id` labels its metrics).
    pub fn client(&self, id: &str) -> Result<HttpClient, String> {
        HttpClient::new(
            id,
            self.tls,
            self.compression,
            Duration::from_secs(self.credentials_retry_secs),
        )
    }

    /// A client for a health check: no compression, no credentials budget.
    pub fn probe_client(&self, id: &str) -> Result<HttpClient, String> {
        HttpClient::new(id, self.tls, BodyCompression::None, Duration::ZERO)
    }
}

/// What `build` answers when a part of the sink cannot be made: the message, naming the sink.
pub fn build_error(id: &str) -> impl Fn(String) -> super::BuildError + '_ {
    move |detail| super::BuildError::Client {
        id: id.to_string(),
        detail: format!("sink {id}: {detail}"),
    }
}

/// The delivery settings of an HTTP sink: its `[sink.request]` table, with the top-level
/// `concurrency` and `timeout_secs` every HTTP sink takes (they win over the table's).
pub fn delivery_settings(
    request: &RequestConfig,
    concurrency: Option<usize>,
    timeout_secs: Option<u64>,
) -> DeliverySettings {
    let mut request = request.clone();
    if concurrency.is_some() {
        request.concurrency = concurrency;
    }
    if let Some(t) = timeout_secs {
        request.timeout_secs = t;
    }
    request.settings_with(4)
}

/// Checks an HTTP sink's `[sink.request]` with its top-level `concurrency` and `timeout_secs`.
pub fn validate_request(
    key: &str,
    request: &RequestConfig,
    concurrency: Option<usize>,
    timeout_secs: Option<u64>,
) -> Result<(), String> {
    if let Some(c) = concurrency {
        if c == 0 || c > 1024 {
            return Err(format!(
                "{key}.concurrency = {c} is out of range: use 1 to 1024 (default 4)"
            ));
        }
    }
    if let Some(t) = timeout_secs {
        if t == 0 || t > 3600 {
            return Err(format!(
                "{key}.timeout_secs = {t} is out of range: use 1 to 3600 (default 60)"
            ));
        }
    }
    request.validate(key)
}

/// What one attempt at sending some records came to.
pub enum Attempt {
    /// The answer for these records.
    Answered(Response),
    /// The server refused these records together (413 over its cap, or a 400 for the body,
    /// which one bad record causes): send each half alone, down to single records, which are
    /// rejected with this reason. Good records are never dead-lettered with a bad one.
    Split(String),
}

/// Sends `records` (batch indexes) with `send`; an [`Attempt::Split`] answer is bisected, so
/// the outcome is per record unless the whole set was answered at once.
pub async fn send_bisecting<'a, F>(records: Vec<usize>, send: &F) -> Response
where
    F: Fn(Vec<usize>) -> super::SinkFuture<'a, Attempt> + Sync,
{
    let n = records.len();
    match send(records.clone()).await {
        Attempt::Answered(r) => r,
        Attempt::Split(reason) if n <= 1 => {
            Response::PerRecord(vec![RecordOutcome::Rejected(reason); n])
        }
        Attempt::Split(_) => {
            let mut outcomes = Vec::with_capacity(n);
            let (left, right) = records.split_at(n / 2);
            for half in [left.to_vec(), right.to_vec()] {
                let len = half.len();
                let answer = Box::pin(send_bisecting(half, send)).await;
                match answer {
                    Response::Delivered => {
                        outcomes.extend(std::iter::repeat_n(RecordOutcome::Delivered, len))
                    }
                    Response::Retry { error, .. } => {
                        outcomes.extend(std::iter::repeat_n(RecordOutcome::Retry(error), len))
                    }
                    Response::PerRecord(o) => outcomes.extend(o),
                    fatal @ Response::Fatal(_) => return fatal,
                }
            }
            Response::PerRecord(outcomes)
        }
    }
}

/// A server's answer, read whole (intake answers are small).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: Bytes,
}

impl Answer {
    /// The body as text for a message, cut to 500 bytes.
    pub fn body_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut cut: String = text.chars().take(500).collect();
        if cut.len() < text.len() {
            cut.push_str("...");
        }
        cut
    }
}

/// What an intake's status code says about a whole request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: read the body if the intake answers per item.
    Accepted,
    /// 408, 429, 5xx: send it again.
    Retry,
    /// 413: the body is over the intake's cap; split it.
    TooLarge,
    /// 401, 403: the credentials are wrong or lack a permission.
    Credentials,
    /// Any other 4xx: these records as they are will never be taken.
    Reject,
    /// 1xx, 3xx: the endpoint is not the intake (a redirect to a login page, say).
    Misdirected,
}

impl Verdict {
    pub fn of(status: StatusCode) -> Verdict {
        match status.as_u16() {
            200..=299 => Verdict::Accepted,
            408 | 429 | 500..=599 => Verdict::Retry,
            413 => Verdict::TooLarge,
            401 | 403 => Verdict::Credentials,
            400..=499 => Verdict::Reject,
            _ => Verdict::Misdirected,
        }
    }
}

/// One sink's HTTP client.
pub struct HttpClient {
    sink: Arc<str>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    compression: BodyCompression,
    /// When 401/403 answers began (reset by any other answer), for the credentials budget.
    refused_since: Mutex<Option<Instant>>,
    credentials_budget: Duration,
    /// The URL's path holds a secret (Loggly's token): messages show only scheme and host.
    hide_path: bool,
}

impl HttpClient {
    /// `credentials_budget`: how long 401/403 answers are retried before the run fails.
    pub fn new(
        sink: &str,
        tls: &TlsConfig,
        compression: BodyCompression,
        credentials_budget: Duration,
    ) -> Result<HttpClient, String> {
        let connector = https_connector(tls_client_config(tls)?, true, None);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        if !tls.verify {
            eprintln!("trailhose: sink {sink}: tls.verify = false: the server's certificate is not checked");
        }
        Ok(HttpClient {
            sink: sink.into(),
            client,
            compression,
            refused_since: Mutex::new(None),
            credentials_budget,
            hide_path: false,
        })
    }

    /// Messages show only the URL's scheme and host (its path holds a secret).
    pub fn hiding_path(mut self) -> HttpClient {
        self.hide_path = true;
        self
    }

    /// The URL as messages may show it.
    fn shown(&self, uri: &Uri) -> String {
        if self.hide_path {
            format!(
                "{}://{}/***",
                uri.scheme_str().unwrap_or("https"),
                uri.authority().map_or("", |a| a.as_str())
            )
        } else {
            uri.to_string()
        }
    }

    /// Sends `body` (compressed as configured) and reads the answer. An error is a connection
    /// or protocol failure: retry. The body is `Bytes` so that it goes out uncompressed, or to
    /// the compressing thread, without a copy.
    pub async fn send(
        &self,
        method: Method,
        uri: &Uri,
        content_type: &'static str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut builder = http::Request::builder().method(method).uri(uri);
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let body_len = body.len();
        let wire = match self.compression {
            BodyCompression::Gzip if !body.is_empty() => {
                builder = builder.header(CONTENT_ENCODING, "gzip");
                Bytes::from(gzip_off_thread(body).await)
            }
            _ => body,
        };
        let sink = self.sink.to_string();
        metrics::counter!(m::HTTP_BODY_BYTES, "sink" => sink.clone()).increment(body_len as u64);
        metrics::counter!(m::HTTP_WIRE_BYTES, "sink" => sink.clone()).increment(wire.len() as u64);
        let request = builder
            .body(Full::new(wire))
            .map_err(|e| format!("cannot build the request to {}: {e}", self.shown(uri)))?;
        // Counted down on drop: the delivery loop abandons a request at its timeout by dropping
        // this future, and the gauge must not keep it.
        let in_flight = InFlight::new(metrics::gauge!(m::HTTP_IN_FLIGHT, "sink" => sink.clone()));
        let answered = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{}: {}", self.shown(uri), error_chain(&e)))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{}: reading the answer: {e}", self.shown(uri)))?
                .to_bytes();
            Ok(Answer {
                status,
                retry_after,
                body,
            })
        }
        .await;
        drop(in_flight);
        let status = match &answered {
            Ok(a) => a.status.as_str().to_string(),
            Err(_) => "error".to_string(),
        };
        metrics::counter!(m::HTTP_REQUESTS, "sink" => sink, "status" => status).increment(1);
        answered
    }

    /// The response for a whole request the intake answered with a status other than accepted
    /// or too large: retry (with the server's `Retry-After`), or, for 401/403 past the
    /// credentials budget, fail the run; `None` for accepted answers (the caller reads them).
    pub fn unaccepted(
        &self,
        answer: &Answer,
        settings: &DeliverySettings,
        what: &str,
    ) -> Option<Response> {
        let verdict = Verdict::of(answer.status);
        if verdict != Verdict::Credentials {
            if let Ok(mut since) = self.refused_since.lock() {
                *since = None;
            }
        }
        let said = format!("{what} answered {}: {}", answer.status, answer.body_text());
        match verdict {
            Verdict::Accepted | Verdict::TooLarge => None,
            Verdict::Retry => Some(Response::Retry {
                error: said,
                retry_after: answer
                    .retry_after
                    .as_deref()
                    .and_then(|h| settings.retry_after(h)),
            }),
            Verdict::Credentials => {
                let first = match self.refused_since.lock() {
                    Ok(mut since) => *since.get_or_insert_with(Instant::now),
                    Err(_) => Instant::now(),
                };
                if first.elapsed() >= self.credentials_budget {
                    Some(Response::Fatal(SinkError::Refused(format!(
                        "{said} (for {} s: check the credentials and their permissions)",
                        first.elapsed().as_secs()
                    ))))
                } else {
                    Some(Response::Retry {
                        error: format!("{said} (check the credentials; retried until the credentials budget runs out)"),
                        retry_after: None,
                    })
                }
            }
            Verdict::Reject | Verdict::Misdirected => Some(Response::Fatal(SinkError::Refused(
                format!("{said} (check the endpoint)"),
            ))),
        }
    }
}

/// One request in the in-flight gauge while this lives.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn new(gauge: metrics::Gauge) -> InFlight {
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Reads an intake's status for a whole request: `Ok` for 2xx (the caller reads the body),
/// else what to do: bisect a 413 or a 400, retry, or fail the run.
pub fn read_status(
    client: &HttpClient,
    settings: &DeliverySettings,
    what: &str,
    answer: &Answer,
) -> Result<(), Attempt> {
    // Any answer but 401/403 ends a credentials streak.
    let unaccepted = client.unaccepted(answer, settings, what);
    match Verdict::of(answer.status) {
        Verdict::Accepted => Ok(()),
        Verdict::TooLarge => Err(Attempt::Split(format!(
            "{what} answered 413 (over its size cap) for this record alone: {}",
            answer.body_text()
        ))),
        Verdict::Reject if answer.status.as_u16() == 400 => Err(Attempt::Split(format!(
            "{what} answered 400 for this record: {}",
            answer.body_text()
        ))),
        _ => Err(Attempt::Answered(unaccepted.unwrap_or_else(|| {
            Response::Fatal(SinkError::Internal(format!(
                "{what}: unread answer {}",
                answer.status
            )))
        }))),
    }
}

/// The error and its causes, one line (hyper's top-level error says little alone).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Gzips a body on tokio's blocking pool when it is large: a sink's delivery loop is one
/// thread, and gzip is most of an HTTP sink's CPU (measured: about 7 s per GB), so requests in
/// flight compress in parallel instead of one after another.
async fn gzip_off_thread(body: Bytes) -> Vec<u8> {
    if body.len() < 64 * 1024 {
        return gzip(&body);
    }
    let shared = body.clone();
    match tokio::task::spawn_blocking(move || gzip(&shared)).await {
        Ok(packed) => packed,
        Err(_) => gzip(&body),
    }
}

/// Gzip at a fast level: intake bodies are JSON, which compresses about 10x even so.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let level = libdeflater::CompressionLvl::new(4).unwrap_or_default();
    let mut compressor = libdeflater::Compressor::new(level);
    let mut out = vec![0; compressor.gzip_compress_bound(body.len())];
    match compressor.gzip_compress(body, &mut out) {
        Ok(n) => {
            out.truncate(n);
            out
        }
        // The bound is libdeflate's own worst case: this cannot happen; fall back to flate2.
        Err(_) => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = enc.write_all(body);
            enc.finish().unwrap_or_default()
        }
    }
}

/// The connector every HTTP client of trailhose uses (the sinks', the S3 GETs'): `http://` or
/// `https://` with `tls`, HTTP/2 where asked. TCP_NODELAY: a request's (or an answer's) head
/// and body may go out in two writes, and Nagle would hold the second back for the peer's
/// delayed ACK (40 ms a request).
pub(crate) fn https_connector(
    tls: rustls::ClientConfig,
    http2: bool,
    connect_timeout: Option<Duration>,
) -> HttpsConnector<HttpConnector> {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.enforce_http(false);
    tcp.set_connect_timeout(connect_timeout);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1();
    if http2 {
        builder.enable_http2().wrap_connector(tcp)
    } else {
        builder.wrap_connector(tcp)
    }
}

pub(crate) fn tls_client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = if tls.verify {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are skipped: a private CA may be all that is needed.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &tls.ca_file {
            for cert in read_ca_file(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.ca_file {}: {e}", path.display()))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    // ALPN (h2, http/1.1) is set by the connector builder from enable_http1/enable_http2.
    Ok(config)
}

/// `tls.verify = false`: accepts any certificate, still checking the handshake's signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks an endpoint URL: `http` or `https`, a host; `key` names it in the message.
pub fn parse_endpoint(key: &str, url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| {
        format!("{key} = {url:?} is not a URL ({e}): write https://HOST[:PORT][/PATH]")
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "{key} = {url:?} needs http:// or https://: write https://HOST[:PORT][/PATH]"
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!(
            "{key} = {url:?} has no host: write https://HOST[:PORT][/PATH]"
        ));
    }
    Ok(uri)
}

/// `base` with `path` appended (`base` may carry a path prefix, as behind a proxy).
pub fn join(base: &Uri, path: &str) -> Result<Uri, String> {
    let prefix = base.path().trim_end_matches('/');
    let text = format!(
        "{}://{}{}{}",
        base.scheme_str().unwrap_or("https"),
        base.authority().map_or("", |a| a.as_str()),
        prefix,
        path
    );
    text.parse().map_err(|e| format!("{text}: {e}"))
}

/// A secret from the config (usually `"${ENV_VAR}"`), never printed: `Debug` shows `***`.
#[derive(Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A header value from a secret, marked sensitive (hyper then keeps it out of its own logs).
pub fn secret_header(value: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| "holds characters a header cannot carry (a newline?)".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let v = |s: u16| Verdict::of(StatusCode::from_u16(s).unwrap());
        assert_eq!(v(200), Verdict::Accepted);
        assert_eq!(v(202), Verdict::Accepted);
        assert_eq!(v(408), Verdict::Retry);
        assert_eq!(v(429), Verdict::Retry);
        assert_eq!(v(503), Verdict::Retry);
        assert_eq!(v(413), Verdict::TooLarge);
        assert_eq!(v(401), Verdict::Credentials);
        assert_eq!(v(403), Verdict::Credentials);
        assert_eq!(v(400), Verdict::Reject);
        assert_eq!(v(302), Verdict::Misdirected);
    }

    #[test]
    fn endpoints() {
        assert!(parse_endpoint("k", "https://es:9200").is_ok());
        let e = parse_endpoint("sink[0].endpoint", "es:9200").unwrap_err();
        assert!(
            e.contains("sink[0].endpoint") && e.contains("https://"),
            "{e}"
        );
        let base = parse_endpoint("k", "http://h:1/proxy/").unwrap();
        assert_eq!(
            join(&base, "/_bulk").unwrap().to_string(),
            "http://h:1/proxy/_bulk"
        );
        let base = parse_endpoint("k", "http://h:1").unwrap();
        assert_eq!(
            join(&base, "/_bulk").unwrap().to_string(),
            "http://h:1/_bulk"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn gzip_round_trips() {
        let body = b"{\"a\":1}\n".repeat(1000);
        let packed = gzip(&body);
        assert!(packed.len() < body.len() / 10);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
