//! AWS clients the usual way: credentials and region from the SDK's standard chain (environment,
//! shared config and credentials files with profiles, SSO, web identity, ECS/EC2 instance
//! metadata), retries with exponential backoff on throttling and transient errors, and an
//! endpoint override for S3-compatible stores (path-style addressing).

use serde::Deserialize;

/// `[source.aws]`: where and how to reach AWS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// The region; absent: from the standard chain (`AWS_REGION`, the profile, IMDS).
    pub region: Option<String>,
    /// A named profile from the shared config files; absent: `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// An S3/SQS-compatible endpoint (`http://127.0.0.1:9000`); absent: AWS's own.
    pub endpoint_url: Option<String>,
    /// Path-style S3 addressing (`endpoint/bucket/key`), which most S3-compatible stores need.
    pub path_style: bool,
    /// Attempts per request, retries included (default 5).
    pub max_attempts: Option<u32>,
}

impl AwsConfig {
    /// Loads the shared SDK configuration (credentials are resolved lazily, on first use).
    pub async fn load(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(self.max_attempts.unwrap_or(5)),
        );
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader.load().await
    }

    /// An S3 client.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        self.s3_from(&self.load().await)
    }

    /// An S3 client from configuration already loaded.
    pub fn s3_from(&self, shared: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        // Log files are gzip with their own CRC (checked when inflated) and, for a trail,
        // SHA-256 hashes in its digests (`trailhose verify`): a second checksum per GET would
        // only cost CPU.
        let conf = aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(self.path_style)
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .interceptor(SlowDownCounter)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An SQS client.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.load().await)
    }
}

/// Counts S3's `503 SlowDown` answers as they arrive, before the SDK retries them, so the
/// fetch limit (`fetch_limit`) can back off: retries alone would keep the same pressure on.
#[derive(Debug)]
struct SlowDownCounter;

impl aws_sdk_s3::config::Intercept for SlowDownCounter {
    fn name(&self) -> &'static str {
        "SlowDownCounter"
    }

    fn read_before_deserialization(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_sdk_s3::config::RuntimeComponents,
        _: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        if context.response().status().as_u16() == 503 {
            super::fetch_limit::count_slowdown();
        }
        Ok(())
    }
}

/// An SDK error as one line: the service's code and message when there is one, else the
/// whole chain of causes (a connection refused, a timeout).
pub fn error_text<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
