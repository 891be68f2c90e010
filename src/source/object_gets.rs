//! GETs of log objects, the one request a replay makes thousands of times a minute. The SDK's
//! client runs every request through its orchestrator (config bag, interceptors, endpoint
//! rules, identity resolution, retry classifiers), which a profile put at about 0.2 ms of CPU
//! per GET: on small CloudTrail objects, as much as inflating and parsing them. So a GET is
//! sent here on a plain pooled HTTP client instead, signed with SigV4 by AWS's own signing
//! crate, to the endpoint the SDK's own rules give for the bucket (resolved once per bucket,
//! so virtual-hosted, path-style, FIPS, dual-stack and custom endpoints are the SDK's),
//! with credentials from the SDK's provider chain, cached until shortly before they expire.
//!
//! Where the rules give anything but plain SigV4 (an S3 Express directory bucket, an access
//! point needing SigV4a), or a service-specific endpoint variable is set, GETs go through the
//! SDK as before. Listing and everything else always do.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sdk_s3::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::Client;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::endpoint::Endpoint;
use aws_smithy_types::Document;
use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

use super::aws::{error_text, AwsConfig};
use crate::metrics as m;
use crate::sink::retry::Backoff;

/// Credentials are refreshed this long before they expire (the SDK's own cache uses 5 min).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// How long a GET may wait for the next piece of its body. The SDK's stalled-stream
/// protection fails a body slower than 1 B/s over 5 s; this is looser, for a loaded store.
const BODY_STALL: Duration = Duration::from_secs(30);

/// How long connecting may take (the SDK's default connect timeout is 3.1 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK's standard retry policy: full jitter, the first wait at most 1 s, the longest 20 s.
const BACKOFF: Backoff = Backoff {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(20),
};

/// An error answer's body is read up to this many bytes, for its code and message.
const ERROR_BODY_MAX: usize = 16 * 1024;

/// Fetches objects: directly where the bucket's endpoint allows, else through the SDK.
#[derive(Clone)]
pub struct ObjectGets {
    sdk: Client,
    direct: Option<Arc<Direct>>,
}

impl ObjectGets {
    /// The SDK client (for listing) and the direct path beside it.
    pub async fn new(aws: &AwsConfig) -> ObjectGets {
        let shared = aws.load().await;
        let sdk = aws.s3_from(&shared);
        // A service-specific endpoint the SDK would read itself is not second-guessed here.
        let service_endpoint = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let direct = match (shared.credentials_provider(), shared.region()) {
            (Some(credentials), Some(region)) if !service_endpoint => {
                Direct::new(aws, &shared, credentials, region.to_string()).map(Arc::new)
            }
            _ => None,
        };
        ObjectGets { sdk, direct }
    }

    /// The SDK client, for everything but GETs of objects.
    pub fn sdk(&self) -> &Client {
        &self.sdk
    }

    /// Streams `bucket/key` into `tx` a chunk at a time; a failure goes down the channel.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    ) {
        if let Some(direct) = &self.direct {
            if let Some(target) = direct.target(bucket).await {
                return direct.get(&target, key, tx).await;
            }
        }
        super::s3::stream_object(&self.sdk, bucket, key, tx).await;
    }
}

/// Where a bucket's GETs go and how they are signed, from the SDK's endpoint rules.
struct Target {
    /// The endpoint URL the key is appended to (`https://b.s3.us-east-1.amazonaws.com`, or
    /// `http://127.0.0.1:9000/b` path-style), without a trailing slash.
    base: String,
    signing_region: String,
    signing_name: String,
}

/// The direct GET path.
struct Direct {
    http: HttpClient<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    credentials: SharedCredentialsProvider,
    /// The cached credentials, as an identity to sign with; one refresh at a time.
    identity: tokio::sync::Mutex<Option<(Credentials, Identity)>>,
    region: String,
    use_fips: bool,
    use_dual_stack: bool,
    endpoint_url: Option<String>,
    path_style: bool,
    max_attempts: u32,
    /// Per bucket: its target, or None where GETs go through the SDK.
    targets: Mutex<HashMap<String, Option<Arc<Target>>>>,
}

impl Direct {
    fn new(
        aws: &AwsConfig,
        shared: &aws_config::SdkConfig,
        credentials: SharedCredentialsProvider,
        region: String,
    ) -> Option<Direct> {
        let tls = crate::sink::http::tls_client_config(&Default::default()).ok()?;
        // HTTP/1.1 only: S3 speaks nothing else.
        let connector = crate::sink::http::https_connector(tls, false, Some(CONNECT_TIMEOUT));
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(20))
            .build(connector);
        Some(Direct {
            http,
            credentials,
            identity: tokio::sync::Mutex::new(None),
            region,
            use_fips: shared.use_fips().unwrap_or(false),
            use_dual_stack: shared.use_dual_stack().unwrap_or(false),
            endpoint_url: shared.endpoint_url().map(str::to_string),
            path_style: aws.path_style,
            max_attempts: aws.max_attempts.unwrap_or(5).max(1),
            targets: Mutex::new(HashMap::new()),
        })
    }

    /// The bucket's target, resolved once; None where the SDK must send its GETs.
    async fn target(&self, bucket: &str) -> Option<Arc<Target>> {
        if let Some(known) = self.targets.lock().ok()?.get(bucket) {
            return known.clone();
        }
        let params = Params::builder()
            .bucket(bucket)
            .region(&self.region)
            .use_fips(self.use_fips)
            .use_dual_stack(self.use_dual_stack)
            .force_path_style(self.path_style)
            .set_endpoint(self.endpoint_url.clone())
            .build()
            .ok()?;
        let resolved = DefaultResolver::new().resolve_endpoint(&params).await.ok();
        let target = resolved.as_ref().and_then(target_of);
        let target = target.map(Arc::new);
        if let Ok(mut targets) = self.targets.lock() {
            targets.insert(bucket.to_string(), target.clone());
        }
        target
    }

    /// Credentials to sign with, refreshed shortly before they expire.
    async fn identity(&self) -> Result<Identity, String> {
        let mut cached = self.identity.lock().await;
        if let Some((creds, identity)) = cached.as_ref() {
            let fresh = creds
                .expiry()
                .is_none_or(|t| t > SystemTime::now() + REFRESH_BEFORE_EXPIRY);
            if fresh {
                return Ok(identity.clone());
            }
        }
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| format!("no credentials: {}", error_text(&e)))?;
        let identity = Identity::from(creds.clone());
        *cached = Some((creds, identity.clone()));
        Ok(identity)
    }

    async fn get(
        &self,
        target: &Target,
        key: &str,
        tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    ) {
        let failed = |detail: String| io::Error::other(format!("GET failed: {detail}"));
        let uri = format!("{}/{}", target.base, encode_key(key));
        let mut attempt = 1;
        let response = loop {
            let outcome = match self.request(target, &uri).await {
                Ok(request) => self.http.request(request).await.map_err(|e| {
                    // Connecting or sending failed: transient, like the SDK's classifier says.
                    (true, error_text(&e))
                }),
                Err(e) => Err((false, e)),
            };
            let retry = match outcome {
                Ok(r) if r.status().is_success() => break r,
                Ok(r) => {
                    let status = r.status();
                    if status == StatusCode::SERVICE_UNAVAILABLE {
                        super::fetch_limit::count_slowdown();
                    }
                    let detail = error_answer(status, r.into_body()).await;
                    (transient(status), detail)
                }
                Err(e) => e,
            };
            match retry {
                (true, _) if attempt < self.max_attempts => {
                    tokio::time::sleep(BACKOFF.delay(attempt - 1)).await;
                    attempt += 1;
                }
                (_, detail) => {
                    let _ = tx.send(Err(failed(detail))).await;
                    return;
                }
            }
        };
        metrics::counter!(m::S3_OBJECTS_FETCHED).increment(1);
        let mut body = response.into_body();
        loop {
            let frame = match tokio::time::timeout(BODY_STALL, body.frame()).await {
                Ok(f) => f.map(|r| r.map_err(|e| e.to_string())),
                Err(_) => Some(Err(format!(
                    "no data for {} s while reading the body",
                    BODY_STALL.as_secs()
                ))),
            };
            let chunk = match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers
                },
                Some(Err(e)) => {
                    let detail = format!("reading the body failed: {e}");
                    let _ = tx.send(Err(io::Error::other(detail))).await;
                    return;
                }
                None => return,
            };
            metrics::counter!(m::S3_BYTES).increment(chunk.len() as u64);
            if tx.send(Ok(chunk)).await.is_err() {
                return; // the reader went away (the run is stopping)
            }
        }
    }

    /// A signed GET of `uri`.
    async fn request(&self, target: &Target, uri: &str) -> Result<Request<Empty<Bytes>>, String> {
        let identity = self.identity().await?;
        let headers = signed_get_headers(
            uri,
            &[],
            &identity,
            &target.signing_region,
            &target.signing_name,
            SystemTime::now(),
        )?;
        let mut request = Request::get(uri.parse::<Uri>().map_err(|e| e.to_string())?).header(
            "user-agent",
            concat!("trailhose/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.body(Empty::new()).map_err(|e| e.to_string())
    }
}

/// The target an endpoint gives, where it is signed with plain SigV4 and asks for no headers
/// of its own.
fn target_of(endpoint: &Endpoint) -> Option<Target> {
    let scheme = endpoint.auth_schemes().first()?;
    if scheme.name() != "sigv4" || endpoint.headers().next().is_some() {
        return None;
    }
    let text = |k: &str| match scheme.get(k) {
        Some(Document::String(s)) => Some(s.clone()),
        _ => None,
    };
    Some(Target {
        base: endpoint.url().trim_end_matches('/').to_string(),
        signing_region: text("signingRegion")?,
        signing_name: text("signingName")?,
    })
}

/// The headers that sign a GET of `uri` (`extra` are signed too and must be sent with it):
/// S3's SigV4 variant, with the payload hash in `x-amz-content-sha256`, the path encoded once
/// and not normalized (a key's `//` or `..` are part of its name).
fn signed_get_headers(
    uri: &str,
    extra: &[(&str, &str)],
    identity: &Identity,
    region: &str,
    name: &str,
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, String> {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(name)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing: {e}"))?
        .into();
    let signable =
        SignableRequest::new("GET", uri, extra.iter().copied(), SignableBody::Bytes(&[]))
            .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_string()))
        .collect())
}

/// A key as a URI path: every byte but RFC 3986's unreserved characters and `/` escaped.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 16);
    for &b in key.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Answers worth another try, as the SDK's standard classifier has them: throttling and
/// the transient server errors.
fn transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// An error answer as one line: S3's code and message from its XML body, else the status.
async fn error_answer(status: StatusCode, body: hyper::body::Incoming) -> String {
    let limited = http_body_util::Limited::new(body, ERROR_BODY_MAX);
    let text = match tokio::time::timeout(BODY_STALL, limited.collect()).await {
        Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        _ => String::new(),
    };
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))?;
        Some(text[start..start + end].to_string())
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
        (Some(code), None) => format!("{code} (HTTP {status})"),
        _ => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's worked example of a signed GET ("Signature Calculations for the Authorization
    /// Header: Transferring Payload in a Single Chunk", the S3 API reference): the same
    /// signature from the same request, credentials and time.
    #[test]
    fn a_get_is_signed_as_in_aws_worked_example() {
        let creds = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24
        let headers = signed_get_headers(
            "https://examplebucket.s3.amazonaws.com/test.txt",
            &[("range", "bytes=0-9")],
            &Identity::from(creds),
            "us-east-1",
            "s3",
            time,
        )
        .expect("signed");
        let auth = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str());
        assert_eq!(
            auth,
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            )
        );
        let sha = headers
            .iter()
            .find(|(n, _)| *n == "x-amz-content-sha256")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            sha,
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn keys_are_escaped_once_with_slashes_kept() {
        assert_eq!(
            encode_key("AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/01/05/a_b-c.json.gz"),
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/01/05/a_b-c.json.gz"
        );
        assert_eq!(encode_key("a b+c=d%/é~"), "a%20b%2Bc%3Dd%25/%C3%A9~");
    }

    /// The SDK's rules for an ordinary bucket give plain SigV4; for a directory bucket they
    /// give S3 Express's scheme, whose GETs stay with the SDK.
    #[tokio::test]
    async fn only_plain_sigv4_endpoints_are_fetched_directly() {
        let resolve = |bucket: &'static str, path_style: bool, endpoint: Option<&str>| {
            let params = Params::builder()
                .bucket(bucket)
                .region("eu-west-1")
                .use_fips(false)
                .use_dual_stack(false)
                .force_path_style(path_style)
                .set_endpoint(endpoint.map(str::to_string))
                .build()
                .expect("params");
            async move {
                let e = DefaultResolver::new().resolve_endpoint(&params).await;
                let e = e.map_err(|e| eprintln!("{bucket}: {e}")).ok()?;
                target_of(&e)
            }
        };
        let t = resolve("trail-logs", false, None).await.expect("direct");
        assert_eq!(t.base, "https://trail-logs.s3.eu-west-1.amazonaws.com");
        assert_eq!(
            (t.signing_region.as_str(), t.signing_name.as_str()),
            ("eu-west-1", "s3")
        );
        let t = resolve("trail", true, Some("http://127.0.0.1:9000"))
            .await
            .expect("direct");
        assert_eq!(t.base, "http://127.0.0.1:9000/trail");
        assert!(resolve("logs--euw1-az1--x-s3", false, None).await.is_none());
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 1..10u32 {
            let ceiling = Duration::from_secs(1 << (attempt - 1)).min(Duration::from_secs(20));
            assert!(BACKOFF.delay(attempt - 1) <= ceiling);
        }
    }
}
