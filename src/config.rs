//! The pipeline config (TOML): `[source]`, `[[sink]]`, `[pipeline]` bounds and `[metrics]`,
//! with `${ENV_VAR}` interpolation. Validation names the key, what is wrong and the fix.
//! `trailhose replay` builds the same struct from its flags, so both run one engine.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::decode::split::SplitLimits;
use crate::sink::datadog::DatadogSinkConfig;
use crate::sink::elasticsearch::ElasticsearchSinkConfig;
use crate::sink::http_endpoint::HttpSinkConfig;
use crate::sink::kafka::KafkaSinkConfig;
use crate::sink::loggly::LogglySinkConfig;
use crate::sink::ndjson::NdjsonSinkConfig;
use crate::sink::scripted::ScriptedSinkConfig;
use crate::sink::splunk_hec::SplunkHecSinkConfig;
use crate::sink::SinkSpec;
use crate::source::kafka::KafkaSourceConfig;
use crate::source::s3::S3SourceConfig;
use crate::source::sqs::SqsSourceConfig;
use crate::transform::attribution::AttributionLimits;
use crate::transform::dedupe::DedupeConfig;
use crate::transform::filter::FilterConfig;
use crate::transform::normalize::{Format, NormalizeConfig};
use crate::transform::reorder::ReorderLimits;

/// A whole pipeline.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Where CloudTrail comes from.
    pub source: SourceConfig,
    /// Where events go; every event goes to every sink.
    #[serde(rename = "sink", default)]
    pub sinks: Vec<SinkConfig>,
    /// Bounds and workers.
    #[serde(default)]
    pub pipeline: PipelineBounds,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// The `enrichment` object.
    #[serde(default)]
    pub enrich: EnrichConfig,
    /// Records to drop.
    #[serde(default)]
    pub filter: FilterConfig,
    /// Dropping repeated deliveries by `eventID`.
    #[serde(default)]
    pub dedupe: DedupeConfig,
    /// Where stateful stages keep their state between runs.
    #[serde(default)]
    pub state: StateConfig,
    /// How the `ecs` and `ocsf` formats are written.
    #[serde(default)]
    pub normalize: NormalizeConfig,
}

/// `[state]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// The state directory (created if missing); none: nothing is kept between runs.
    pub dir: Option<PathBuf>,
    /// How often attribution is checkpointed during a run.
    pub checkpoint_secs: u64,
    /// How often what was delivered is committed (the source's position, the delivered event
    /// ids, each file sink's length: one atomic write) while it changes.
    pub commit_interval_ms: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: None,
            checkpoint_secs: 60,
            commit_interval_ms: 1000,
        }
    }
}

/// `[enrich]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// Add the `enrichment` object (actor, source kind, noise, resources) to each record.
    pub enabled: bool,
    /// Most temporary keys remembered for attribution.
    pub max_keys: usize,
    /// How far (event time) a call may wait for its key's issuing event; 0: never wait.
    pub reorder_span_secs: i64,
    /// Most calls waiting at once.
    pub reorder_max_events: usize,
    /// Most bytes of waiting calls at once.
    pub reorder_max_bytes: usize,
    /// A MaxMind-format City database (GeoLite2/GeoIP2 City, DB-IP City lite) for `source.geo`.
    pub geoip_city: Option<PathBuf>,
    /// A MaxMind-format ASN database (GeoLite2 ASN, DB-IP ASN lite) for `source.as`.
    pub geoip_asn: Option<PathBuf>,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        let r = ReorderLimits::default();
        EnrichConfig {
            enabled: false,
            max_keys: AttributionLimits::default().max_keys,
            reorder_span_secs: r.span_secs,
            reorder_max_events: r.max_events,
            reorder_max_bytes: r.max_bytes,
            geoip_city: None,
            geoip_asn: None,
        }
    }
}

impl EnrichConfig {
    pub fn reorder_limits(&self) -> ReorderLimits {
        ReorderLimits {
            span_secs: self.reorder_span_secs,
            max_events: self.reorder_max_events,
            max_bytes: self.reorder_max_bytes,
        }
    }
}

/// `[source]`, chosen by `type`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Files and directories, read recursively in trail time order. `-` stands for stdin.
    Dir {
        /// Files or directories to read.
        paths: Vec<PathBuf>,
        /// Also read hidden files and folders (names starting with `.`) found inside them.
        #[serde(default)]
        hidden: bool,
    },
    /// Standard input: one stream, gzip or not, any envelope.
    Stdin {},
    /// A trail's archive in S3, replayed in delivery-time order (resumable with `[state]`).
    S3(S3SourceConfig),
    /// New log files as their notifications arrive on an SQS queue (live).
    Sqs(SqsSourceConfig),
    /// Messages of Kafka topics, as a member of a consumer group (live).
    Kafka(KafkaSourceConfig),
}

impl SourceConfig {
    /// The source's type, as `type` names it (`stdin` for a directory source reading only
    /// stdin is still `dir`).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Dir { .. } => "dir",
            SourceConfig::Stdin {} => "stdin",
            SourceConfig::S3(_) => "s3",
            SourceConfig::Sqs(_) => "sqs",
            SourceConfig::Kafka(_) => "kafka",
        }
    }

    /// What the source reads, for messages.
    pub fn describe(&self) -> String {
        match self {
            SourceConfig::Dir { paths, .. } => paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            SourceConfig::Stdin {} => "stdin".into(),
            SourceConfig::S3(c) => format!("s3://{}/{}", c.bucket, c.prefix),
            SourceConfig::Sqs(c) => format!("the SQS queue {}", c.queue_url),
            SourceConfig::Kafka(c) => format!("the Kafka topics {}", c.topics.join(", ")),
        }
    }
}

/// `[[sink]]`, chosen by `type`: one variant per sink type, each its own config struct that
/// validates itself and builds its sink (see `sink::SinkSpec`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// Newline-delimited JSON, one record per line.
    Ndjson(NdjsonSinkConfig),
    /// Messages to a Kafka topic.
    Kafka(KafkaSinkConfig),
    /// `_bulk` requests to Elasticsearch or OpenSearch.
    Elasticsearch(ElasticsearchSinkConfig),
    /// Datadog's Logs intake.
    Datadog(DatadogSinkConfig),
    /// Loggly's bulk endpoint.
    Loggly(LogglySinkConfig),
    /// Splunk's HTTP Event Collector.
    SplunkHec(SplunkHecSinkConfig),
    /// Any HTTP endpoint taking NDJSON or JSON arrays.
    Http(HttpSinkConfig),
    /// A sink whose answers a test scripts; built in code only.
    #[serde(skip)]
    Scripted(ScriptedSinkConfig),
}

impl SinkConfig {
    /// This sink's type, as the contract every sink type implements.
    pub fn spec(&self) -> &dyn SinkSpec {
        match self {
            SinkConfig::Ndjson(c) => c,
            SinkConfig::Kafka(c) => c,
            SinkConfig::Elasticsearch(c) => c,
            SinkConfig::Datadog(c) => c,
            SinkConfig::Loggly(c) => c,
            SinkConfig::SplunkHec(c) => c,
            SinkConfig::Http(c) => c,
            SinkConfig::Scripted(c) => c,
        }
    }

    /// The format this sink's events are written in.
    pub fn format(&self) -> Format {
        self.spec().format()
    }
}

/// Each sink's id: its `name`, or `<type>_<n>` (the n-th sink of that type, from 0).
pub fn sink_ids(sinks: &[SinkConfig]) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    sinks
        .iter()
        .map(|s| {
            let spec = s.spec();
            let kind = spec.type_name();
            let n = seen.iter().filter(|t| **t == kind).count();
            seen.push(kind);
            spec.name()
                .map_or_else(|| format!("{kind}_{n}"), str::to_string)
        })
        .collect()
}

/// `[pipeline]`: how much work is in flight, which bounds memory (see the README).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineBounds {
    /// Decode workers; 0 means one per core.
    pub workers: usize,
    /// Output bytes per batch handed to sinks.
    pub batch_bytes: usize,
    /// Batches each sink's channel holds before workers wait.
    pub channel_batches: usize,
    /// Decompressed bytes read at a time.
    pub chunk_bytes: usize,
    /// The largest record accepted; larger ones are dead-lettered.
    pub max_record_bytes: usize,
    /// The deepest nesting accepted inside a record.
    pub max_depth: u32,
    /// The most a gzip input may expand (decompressed per compressed byte) past its first
    /// 64 MiB; 0: no limit.
    pub max_inflate_ratio: u64,
    /// Where bad input and records sinks rejected go (one JSON line each); none: only logged
    /// and counted.
    pub dead_letter: Option<PathBuf>,
    /// Append to the dead-letter file (cutting a partial last line a killed run left) instead
    /// of starting it empty.
    pub dead_letter_append: bool,
    /// fsync the dead-letter file before the inputs its lines came from are acknowledged.
    pub dead_letter_sync: bool,
    /// How long a drain (after SIGTERM or SIGINT) may take before the run stops without it.
    pub shutdown_timeout_secs: u64,
}

impl Default for PipelineBounds {
    fn default() -> Self {
        let split = SplitLimits::default();
        PipelineBounds {
            workers: 0,
            batch_bytes: 1024 * 1024,
            channel_batches: 16,
            chunk_bytes: split.chunk_bytes,
            max_record_bytes: split.max_record_bytes,
            max_depth: split.max_depth,
            max_inflate_ratio: split.max_inflate_ratio,
            dead_letter: None,
            dead_letter_append: false,
            dead_letter_sync: false,
            shutdown_timeout_secs: 30,
        }
    }
}

impl PipelineBounds {
    /// The workers to run: the configured count, or one per core.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    pub fn split_limits(&self) -> SplitLimits {
        SplitLimits {
            chunk_bytes: self.chunk_bytes,
            max_record_bytes: self.max_record_bytes,
            max_depth: self.max_depth,
            max_inflate_ratio: self.max_inflate_ratio,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `HOST:PORT` to serve `/metrics`, `/health` and `/ready` on.
    pub addr: String,
    /// `/ready` answers 503 once a sink has been failing (every request retried, none
    /// delivered) for this long.
    #[serde(default = "default_ready_sink_failing_secs")]
    pub ready_sink_failing_secs: u64,
    /// `/health` answers 503 once work is waiting and nothing has moved for this long.
    #[serde(default = "default_stall_secs")]
    pub stall_secs: u64,
}

impl MetricsConfig {
    /// Serving on `addr` with the default health thresholds.
    pub fn new(addr: String) -> Self {
        MetricsConfig {
            addr,
            ready_sink_failing_secs: default_ready_sink_failing_secs(),
            stall_secs: default_stall_secs(),
        }
    }
}

fn default_ready_sink_failing_secs() -> u64 {
    60
}

fn default_stall_secs() -> u64 {
    300
}

/// A config problem, worded for the person who must fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl PipelineConfig {
    /// Reads, interpolates, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `name` is used in messages.
    pub fn parse(text: &str, name: &str) -> Result<Self, ConfigError> {
        let resolved = interpolate_env(text, &|k| std::env::var(k).ok())
            .map_err(|e| ConfigError(format!("{name}: {e}")))?;
        let config: PipelineConfig = toml::from_str(&resolved)
            .map_err(|e| ConfigError(format!("{name}: {}", explain_toml(e, &resolved, text))))?;
        config
            .validate()
            .map_err(|e| ConfigError(format!("{name}: {e}")))?;
        Ok(config)
    }

    /// Checks every value and says how to fix the first wrong one.
    pub fn validate(&self) -> Result<(), String> {
        match &self.source {
            SourceConfig::Dir { paths, .. } => {
                if paths.is_empty() {
                    return Err("source.paths is empty: list at least one file or directory, or use type = \"stdin\"".into());
                }
                for (i, p) in paths.iter().enumerate() {
                    if p.as_os_str() != "-" && !p.exists() {
                        return Err(format!(
                            "source.paths[{i}] = \"{}\" does not exist: fix the path or remove it",
                            p.display()
                        ));
                    }
                }
            }
            SourceConfig::Stdin {} => {}
            SourceConfig::S3(c) => c.validate()?,
            SourceConfig::Sqs(c) => c.validate()?,
            SourceConfig::Kafka(c) => c.validate()?,
        }
        if self.sinks.is_empty() {
            return Err("no [[sink]]: add one, e.g. [[sink]] with type = \"ndjson\" and path = \"-\" for stdout".into());
        }
        let stdout_sinks = self
            .sinks
            .iter()
            .filter(|s| s.spec().writes_stdout())
            .count();
        if stdout_sinks > 1 {
            return Err("more than one [[sink]] writes to stdout: give all but one a path".into());
        }
        let ids = sink_ids(&self.sinks);
        for (i, (sink, id)) in self.sinks.iter().zip(&ids).enumerate() {
            let key = format!("sink[{i}]");
            if let Some(name) = sink.spec().name() {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!("{key}.name = \"{name}\" is not a valid name: use letters, digits, _ and - (it labels the sink's metrics)"));
                }
            }
            if let Some(j) = ids[..i].iter().position(|other| other == id) {
                return Err(format!(
                    "{key} and sink[{j}] are both named \"{id}\": give each [[sink]] its own name"
                ));
            }
            sink.spec().validate(&key)?;
        }
        if self.pipeline.dead_letter.is_none()
            && (self.pipeline.dead_letter_append || self.pipeline.dead_letter_sync)
        {
            return Err("pipeline.dead_letter_append and dead_letter_sync apply to a dead-letter file: set pipeline.dead_letter or remove them".into());
        }
        let b = &self.pipeline;
        check_range(
            "pipeline.workers",
            b.workers,
            0,
            1024,
            "0 means one per core",
        )?;
        check_range(
            "pipeline.batch_bytes",
            b.batch_bytes,
            4096,
            256 << 20,
            "default 1048576",
        )?;
        check_range(
            "pipeline.channel_batches",
            b.channel_batches,
            1,
            4096,
            "default 16",
        )?;
        check_range(
            "pipeline.chunk_bytes",
            b.chunk_bytes,
            4096,
            64 << 20,
            "default 262144",
        )?;
        check_range(
            "pipeline.max_record_bytes",
            b.max_record_bytes,
            1024,
            1 << 30,
            "default 4194304",
        )?;
        check_range(
            "pipeline.max_depth",
            b.max_depth as usize,
            8,
            10_000,
            "default 128",
        )?;
        check_range(
            "pipeline.max_inflate_ratio",
            b.max_inflate_ratio as usize,
            0,
            1_000_000,
            "0 turns the limit off; default 100 (CloudTrail compresses about 10 to 1)",
        )?;
        check_range(
            "normalize.max_field_bytes",
            self.normalize.max_field_bytes,
            256,
            1 << 30,
            "default 32766, Elasticsearch's limit for one keyword value",
        )?;
        let e = &self.enrich;
        check_range(
            "enrich.max_keys",
            e.max_keys,
            1024,
            1 << 30,
            "default 200000",
        )?;
        check_range(
            "enrich.reorder_span_secs",
            e.reorder_span_secs.max(0) as usize,
            0,
            86_400,
            "0 turns waiting off; default 900",
        )?;
        if e.reorder_span_secs < 0 {
            return Err(format!(
                "enrich.reorder_span_secs = {} is negative: use 0 to 86400 (default 900)",
                e.reorder_span_secs
            ));
        }
        check_range(
            "enrich.reorder_max_events",
            e.reorder_max_events,
            0,
            10_000_000,
            "default 50000",
        )?;
        check_range(
            "enrich.reorder_max_bytes",
            e.reorder_max_bytes,
            0,
            4 << 30,
            "default 33554432",
        )?;
        check_range(
            "pipeline.shutdown_timeout_secs",
            b.shutdown_timeout_secs as usize,
            1,
            86_400,
            "default 30",
        )?;
        check_range(
            "state.commit_interval_ms",
            self.state.commit_interval_ms as usize,
            10,
            3_600_000,
            "default 1000",
        )?;
        check_range(
            "state.checkpoint_secs",
            self.state.checkpoint_secs as usize,
            1,
            86_400,
            "default 60",
        )?;
        for (key, path) in [
            ("enrich.geoip_city", &e.geoip_city),
            ("enrich.geoip_asn", &e.geoip_asn),
        ] {
            if let Some(p) = path.as_ref().filter(|p| !p.is_file()) {
                return Err(format!(
                    "{key} = \"{}\" is not a file: give the path of a .mmdb database (nothing is downloaded)",
                    p.display()
                ));
            }
        }
        let d = &self.dedupe;
        check_range(
            "dedupe.max_entries",
            d.max_entries,
            1024,
            1 << 31,
            "default 1000000; 25 bytes each",
        )?;
        if d.window_secs < 60 || d.window_secs > 30 * 86_400 {
            return Err(format!(
                "dedupe.window_secs = {} is out of range: use 60 to 2592000 (default 86400)",
                d.window_secs
            ));
        }
        if let Some(m) = &self.metrics {
            crate::metrics::parse_addr(&m.addr).map_err(|e| format!("metrics.addr = {e}"))?;
            check_range(
                "metrics.ready_sink_failing_secs",
                m.ready_sink_failing_secs as usize,
                1,
                86_400,
                "default 60",
            )?;
            check_range(
                "metrics.stall_secs",
                m.stall_secs as usize,
                10,
                86_400,
                "default 300",
            )?;
        }
        Ok(())
    }
}

pub(crate) fn check_range(
    key: &str,
    value: usize,
    min: usize,
    max: usize,
    hint: &str,
) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!(
            "{key} = {value} is out of range: use {min} to {max} ({hint})"
        ));
    }
    Ok(())
}

/// Makes toml's message name the fix where it can, with its line as written in the file, never
/// as resolved: a `${VAR}` may hold a secret, and toml's own message quotes the resolved line.
fn explain_toml(e: toml::de::Error, resolved: &str, written: &str) -> String {
    let at = e.span().map(|span| {
        let line = resolved[..span.start.min(resolved.len())]
            .matches('\n')
            .count();
        let text = written.lines().nth(line).unwrap_or("").trim();
        format!("line {}: {text}\n", line + 1)
    });
    let msg = format!("{}{}", at.unwrap_or_default(), e.message().trim_end());
    if msg.contains("missing field `type`") {
        return format!("{msg}\nevery [source] and [[sink]] needs a type, e.g. type = \"dir\" or type = \"ndjson\"");
    }
    if msg.contains("expected one of `raw`, `ecs`, `ocsf`") {
        return format!(
            "{msg}\n[[sink]] format must be \"raw\" (the record as delivered), \"ecs\" or \"ocsf\""
        );
    }
    if msg.contains("expected one of `never`, `truncated`, `always`") {
        return format!(
            "{msg}\nnormalize.keep_original must be \"never\", \"truncated\" or \"always\""
        );
    }
    if msg.contains("missing field `source`") {
        return format!("{msg}\nadd a [source] table, e.g. [source] with type = \"dir\" and paths = [\"AWSLogs\"]");
    }
    msg
}

/// Replaces `${NAME}` with the variable's value and `${NAME:-default}` with the value or the
/// default; `$$` is a literal `$`. Comment lines are left alone.
pub fn interpolate_env(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let end = body
                    .find('}')
                    .ok_or_else(|| format!("line {}: \"${{\" without a closing \"}}\"", n + 1))?;
                let expr = &body[..end];
                let (name, default) = match expr.split_once(":-") {
                    Some((name, default)) => (name, Some(default)),
                    None => (expr, None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "line {}: \"${{{expr}}}\" is not a variable name (letters, digits, _)",
                        n + 1
                    ));
                }
                match (lookup(name), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => {
                        return Err(format!(
                            "line {}: ${{{name}}} is not set: export {name}, or give a default with ${{{name}:-value}}",
                            n + 1
                        ))
                    }
                }
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "OUT").then(|| "/tmp/out.ndjson".to_string())
    }

    #[test]
    fn interpolates_with_defaults_and_escapes() {
        let t = "path = \"${OUT}\"\nw = ${W:-3}\n# ${NOT_SET}\nprice = \"$$5\"\n";
        assert_eq!(
            interpolate_env(t, &env).unwrap(),
            "path = \"/tmp/out.ndjson\"\nw = 3\n# ${NOT_SET}\nprice = \"$5\"\n"
        );
        let e = interpolate_env("a = \"${NOPE}\"", &env).unwrap_err();
        assert!(e.contains("line 1") && e.contains("export NOPE"), "{e}");
    }

    #[test]
    fn parses_a_full_config() {
        let c = PipelineConfig::parse(
            "[source]\ntype = \"stdin\"\n[[sink]]\ntype = \"ndjson\"\npath = \"-\"\n[pipeline]\nworkers = 2\n[metrics]\naddr = \"127.0.0.1:9898\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.source, SourceConfig::Stdin {});
        assert_eq!(c.pipeline.workers, 2);
        assert_eq!(c.pipeline.batch_bytes, 1 << 20);
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let err = |t: &str| PipelineConfig::parse(t, "t.toml").unwrap_err().0;
        let base = "[source]\ntype = \"stdin\"\n[[sink]]\ntype = \"ndjson\"\n";
        let e = err(&format!("{base}[pipeline]\nwrokers = 2\n"));
        assert!(e.contains("wrokers") && e.contains("workers"), "{e}");
        let e = err(&format!("{base}[pipeline]\nbatch_bytes = 10\n"));
        assert!(
            e.contains("pipeline.batch_bytes = 10") && e.contains("4096"),
            "{e}"
        );
        let e = err("[source]\ntype = \"kinesis\"\n");
        assert!(
            e.contains("kinesis") && e.contains("kafka") && e.contains("dir"),
            "{e}"
        );
        let e = err("[source]\ntype = \"kafka\"\n");
        assert!(e.contains("brokers"), "{e}");
        let e = err("[source]\ntype = \"stdin\"\n");
        assert!(e.contains("[[sink]]"), "{e}");
        let e = err(
            "[source]\ntype = \"dir\"\npaths = [\"/no/such/dir\"]\n[[sink]]\ntype = \"ndjson\"\n",
        );
        assert!(
            e.contains("source.paths[0]") && e.contains("does not exist"),
            "{e}"
        );
        let e = err(&format!("{base}[metrics]\naddr = \"nope\"\n"));
        assert!(e.contains("metrics.addr") && e.contains("HOST:PORT"), "{e}");
    }

    #[test]
    fn parse_errors_never_quote_a_resolved_secret() {
        std::env::set_var("TRAILHOSE_TEST_ES_PASSWORD", "hunter2-secret");
        let text = "[source]\ntype = \"stdin\"\n[[sink]]\ntype = \"elasticsearch\"\nendpoints = [\"http://127.0.0.1:9200\"]\nauth = { user = \"elastic\", password = \"${TRAILHOSE_TEST_ES_PASSWORD}\", pasword = 1 }\n";
        let e = PipelineConfig::parse(text, "t.toml").unwrap_err().0;
        assert!(!e.contains("hunter2"), "{e}");
        // The line toml blames is the sink's table (a tagged enum's fields carry no span of
        // their own); the key is named.
        assert!(e.contains("line 3") && e.contains("pasword"), "{e}");
        let ok = PipelineConfig::parse(&text.replace(", pasword = 1", ""), "t.toml").unwrap();
        assert!(!format!("{ok:?}").contains("hunter2"));
    }
}
