//! The trailhose command line: parse arguments, load the config, run, map the result to an
//! exit code. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use trailhose::config::{
    EnrichConfig, MetricsConfig, PipelineBounds, PipelineConfig, SinkConfig, SourceConfig,
    StateConfig,
};
use trailhose::gen::{self, generate_archive, write_geoip_fixtures, GenOptions};
use trailhose::kafka::KafkaUrl;
use trailhose::pipeline::{self, exit, RunOptions};
use trailhose::sink::elasticsearch::ElasticsearchSinkConfig;
use trailhose::sink::kafka::KafkaSinkConfig;
use trailhose::sink::ndjson::NdjsonSinkConfig;
use trailhose::source::aws::AwsConfig;
use trailhose::source::kafka::KafkaSourceConfig;
use trailhose::source::s3::S3SourceConfig;
use trailhose::transform::dedupe::DedupeConfig;
use trailhose::transform::filter::FilterConfig;
use trailhose::transform::normalize::{Format, KeepOriginal, NormalizeConfig};

/// CloudTrail in, clean events out: decompress, split, parse and write AWS CloudTrail records
/// at the speed of the hardware, with bounded memory and nothing lost.
#[derive(Parser)]
#[command(name = "trailhose", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay CloudTrail files, directory trees (e.g. a synced AWSLogs/ tree), stdin, or a
    /// trail's S3 bucket (s3://bucket/prefix, resumable with --state) to NDJSON, one record per
    /// line, on every core.
    Replay(Box<ReplayArgs>),
    /// Run the pipeline a config file describes.
    Run {
        /// The pipeline config (TOML); see pipelines/ for ready ones.
        config: PathBuf,
        /// No progress line and no summary (errors are still printed).
        #[arg(short, long)]
        quiet: bool,
    },
    /// Check a pipeline config and say what is wrong with it.
    Validate {
        /// The pipeline config (TOML).
        config: PathBuf,
        /// Also check that every sink can be reached (without writing to it).
        #[arg(long)]
        check_connectivity: bool,
        /// Print the config as read, `${VAR}`s resolved and defaults filled in; secrets (API
        /// keys, tokens, passwords, header values) show as ***.
        #[arg(long)]
        show: bool,
    },
    /// Write a realistic synthetic CloudTrail archive in the trail's S3 key layout.
    Gen(GenArgs),
    /// Prepare a destination for trailhose's documents: `setup elasticsearch` installs the
    /// index template (ECS mappings) on an Elasticsearch or OpenSearch cluster.
    #[command(subcommand)]
    Setup(SetupTarget),
    /// Check a trail's log files against its digest files (SHA-256 of each file, the chain of
    /// digests): missing, altered and extra files. Offline: s3://bucket/prefix or a local copy.
    Verify(VerifyArgs),
}

#[derive(Subcommand)]
enum SetupTarget {
    /// Install the index template for `cloudtrail-*` (ECS mappings: IPs, dates, geo points,
    /// keyword blobs) with PUT _index_template/trailhose-cloudtrail.
    Elasticsearch(SetupElasticsearchArgs),
}

#[derive(Args)]
struct SetupElasticsearchArgs {
    /// The cluster, e.g. https://localhost:9200 (no auth: use --config for credentials).
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    endpoint: Option<String>,
    /// A pipeline config: its elasticsearch sink's endpoints, auth, TLS and index are used.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// With --config: the sink's name, when it has more than one elasticsearch sink.
    #[arg(long, value_name = "NAME", requires = "config")]
    sink: Option<String>,
    /// Print the template (Elasticsearch's dialect) instead of installing it, for curl.
    #[arg(long)]
    print: bool,
}

/// What `replay` (from S3) and `verify` share: which part of a trail, and how to reach AWS.
#[derive(Args)]
struct S3Args {
    /// S3 replay and verify: only files delivered at or after this time (2026-01-05 or 2026-01-05T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// S3 replay and verify: only files delivered at or before this time (a day means its end).
    #[arg(long, value_name = "TIME")]
    end: Option<String>,
    /// S3 replay and verify: only these accounts (comma-separated or repeated).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    accounts: Vec<String>,
    /// S3 replay and verify: only these regions (comma-separated or repeated).
    #[arg(long, value_name = "REGION", value_delimiter = ',')]
    regions: Vec<String>,
    /// S3: an S3-compatible endpoint (http://127.0.0.1:9000); default AWS's.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// S3: the region (default: the standard AWS chain).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// S3: a named profile from the AWS config files.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// S3: path-style addressing (most S3-compatible stores need it).
    #[arg(long)]
    path_style: bool,
}

impl S3Args {
    /// The S3 source these flags describe.
    fn config(
        self,
        bucket: String,
        prefix: String,
        fetch_concurrency: usize,
        fetch_concurrency_max: Option<usize>,
    ) -> S3SourceConfig {
        S3SourceConfig {
            bucket,
            prefix,
            start: self.start,
            end: self.end,
            accounts: self.accounts,
            regions: self.regions,
            list_concurrency: 64,
            fetch_concurrency,
            fetch_concurrency_max,
            aws: AwsConfig {
                region: self.region,
                profile: self.profile,
                endpoint_url: self.endpoint_url,
                path_style: self.path_style,
                max_attempts: None,
            },
        }
    }
}

#[derive(Args)]
struct VerifyArgs {
    /// `s3://bucket/prefix` (what comes before AWSLogs/), or a folder holding AWSLogs/.
    target: String,
    #[command(flatten)]
    s3: S3Args,
    /// The trail's public keys, to check digest signatures: the JSON output of
    /// `aws cloudtrail list-public-keys --start-time ... --end-time ...`.
    #[arg(long, value_name = "FILE")]
    public_keys: Option<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    /// Files and directories to read (recursively, in trail time order); `-` or nothing for
    /// stdin; or one `s3://bucket/prefix` (a trail's archive in S3); or one
    /// `kafka://HOST:PORT/TOPIC[?group=G]` (a topic, from the group's commit, or from the start
    /// without a group).
    paths: Vec<PathBuf>,
    /// kafka:// source: end after this many seconds without a message (0: run until stopped).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    stop_when_idle: u64,
    /// Also read hidden files and folders (`.name`) inside the directories given; by default
    /// they are skipped, as are empty files (both counted in trailhose_inputs_skipped_total).
    #[arg(long)]
    hidden: bool,
    #[command(flatten)]
    s3: S3Args,
    /// S3: objects fetched at once to begin with (the limit adapts; default 64).
    #[arg(long, value_name = "N")]
    fetch_concurrency: Option<usize>,
    /// S3: the most objects fetched at once (default 512; equal to --fetch-concurrency: fixed).
    #[arg(long, value_name = "N")]
    fetch_concurrency_max: Option<usize>,
    /// Write NDJSON here instead of stdout, or to a topic: `kafka://HOST:PORT/TOPIC`.
    #[arg(short, long, visible_alias = "to", value_name = "FILE|URL")]
    output: Option<PathBuf>,
    /// Decode workers (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    workers: usize,
    /// Write bad input here, one JSON line each (origin, offset, error, raw bytes in base64).
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Serve Prometheus /metrics and /health on HOST:PORT while running.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// No progress line and no summary (errors are still printed).
    #[arg(short, long)]
    quiet: bool,
    /// Output bytes per batch handed to sinks.
    #[arg(long, value_name = "BYTES")]
    batch_bytes: Option<usize>,
    /// Batches each sink's channel holds before workers wait.
    #[arg(long, value_name = "N")]
    channel_batches: Option<usize>,
    /// The largest record accepted; larger ones are dead-lettered.
    #[arg(long, value_name = "BYTES")]
    max_record_bytes: Option<usize>,
    /// The shape of each output line: the record as delivered, Elastic Common Schema, or OCSF.
    #[arg(long, value_enum, default_value_t = Format::Raw)]
    format: Format,
    /// ecs/ocsf: most bytes of one free-form field (requestParameters and the like, written
    /// as a JSON string); longer ones are cut and listed in trailhose.truncated.
    #[arg(long, value_name = "BYTES")]
    max_field_bytes: Option<usize>,
    /// ecs/ocsf: when to carry the whole original record (event.original / raw_data).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = KeepOriginal::Never)]
    keep_original: KeepOriginal,
    /// ecs: also write the free-form fields as objects under aws.cloudtrail.flattened.* (only
    /// for an index that maps them as Elasticsearch `flattened`).
    #[arg(long)]
    ecs_flattened: bool,
    /// Add the `enrichment` object (source kind, noise, resources) to each record.
    #[arg(long)]
    enrich: bool,
    /// A MaxMind-format City database (.mmdb) for enrichment.source.geo.
    #[arg(long, value_name = "FILE")]
    geoip_city: Option<PathBuf>,
    /// A MaxMind-format ASN database (.mmdb) for enrichment.source.as.
    #[arg(long, value_name = "FILE")]
    geoip_asn: Option<PathBuf>,
    /// Keep state here between runs: the checkpoint (inputs done, each output file's
    /// committed length, the delivered event ids) and attribution. A rerun of the same command
    /// resumes: it skips what is done and cuts the output file back to what was committed.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// How often, with --state, what was delivered is committed (default 1000).
    #[arg(long, value_name = "MS")]
    commit_interval_ms: Option<u64>,
    /// How long a drain after SIGTERM or SIGINT may take before the run stops without it
    /// (default 30).
    #[arg(long, value_name = "SECS")]
    shutdown_timeout: Option<u64>,
    /// Keep repeated deliveries (dedupe by eventID is on by default).
    #[arg(long)]
    no_dedupe: bool,
    /// Drop records that are noise (AWS-internal calls, console background reads).
    #[arg(long)]
    drop_noise: bool,
    /// Drop read-only calls (`readOnly: true`).
    #[arg(long)]
    drop_read_only: bool,
    /// Keep only this eventSource (e.g. iam.amazonaws.com); repeat for more.
    #[arg(long, value_name = "SOURCE")]
    include_source: Vec<String>,
    /// Drop this eventSource; repeat for more.
    #[arg(long, value_name = "SOURCE")]
    exclude_source: Vec<String>,
    /// Keep only this eventName (e.g. ConsoleLogin); repeat for more.
    #[arg(long, value_name = "NAME")]
    include_event: Vec<String>,
    /// Drop this eventName; repeat for more.
    #[arg(long, value_name = "NAME")]
    exclude_event: Vec<String>,
}

#[derive(Args)]
struct GenArgs {
    /// How many events to write (duplicate deliveries come on top).
    #[arg(long, value_name = "N")]
    events: u64,
    /// The folder to write the AWSLogs/ tree into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// What kind of trail: `small` (3 accounts and regions, a few sessions, on time: quick) or
    /// `realistic` (12 accounts, 6 regions, ~200 sessions per account an hour with role
    /// chains across accounts, 5,000 client addresses per account, up to 15 minutes late,
    /// GeoIP fixtures of 65,536 networks). The options below override it.
    #[arg(long, value_name = "NAME", default_value = "small", value_parser = clap::builder::PossibleValuesParser::new(gen::PRESETS))]
    preset: String,
    /// Seed: the same seed writes the same archive.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Accounts to spread events over.
    #[arg(long, value_name = "N")]
    accounts: Option<usize>,
    /// Regions per account (1 to 8).
    #[arg(long, value_name = "N")]
    regions: Option<usize>,
    /// Sessions per account and hour beyond the nine every account has.
    #[arg(long, value_name = "N")]
    sessions: Option<usize>,
    /// Client addresses per account.
    #[arg(long, value_name = "N")]
    clients: Option<u64>,
    /// Deliver events up to this many seconds late (0 to 3600; CloudTrail: about 900).
    #[arg(long, value_name = "SECS")]
    late_secs: Option<i64>,
    /// Events per trail file, on average.
    #[arg(long, value_name = "N")]
    events_per_file: Option<u64>,
    /// Also write GeoIP databases for the archive's addresses to DIR/geoip/.
    #[arg(long)]
    geoip_fixtures: bool,
    /// Networks in those databases: 0 for one per address block (small and fast), or a power
    /// of two (at least 4) for databases of a realistic size, where lookups walk a deep tree.
    #[arg(long, value_name = "N")]
    geoip_networks: Option<u32>,
}

/// mimalloc rather than the system allocator: a run allocates small buffers on one thread (the
/// HTTP client's chunks, a sink's batches) and frees them on another, where glibc's per-thread
/// arenas pay for locking and consolidation (malloc and free were 8% of an S3 replay's CPU).
/// Built without transparent huge pages (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(try_main(cli).clamp(0, 255) as u8)
}

/// Runs one command and returns its exit code; errors are printed where they happen.
fn try_main(cli: Cli) -> i32 {
    match cli.command {
        Command::Replay(args) => {
            let args = *args;
            let s3_paths = args
                .paths
                .iter()
                .filter(|p| p.to_string_lossy().starts_with("s3://"))
                .count();
            if s3_paths > 0 && args.paths.len() > 1 {
                eprintln!("trailhose: error: PATH: an s3:// source is replayed alone; run one replay per bucket, and local paths in another");
                return exit::USAGE;
            }
            let s3_only = [
                ("--start", args.s3.start.is_some()),
                ("--end", args.s3.end.is_some()),
                ("--accounts", !args.s3.accounts.is_empty()),
                ("--regions", !args.s3.regions.is_empty()),
                ("--endpoint-url", args.s3.endpoint_url.is_some()),
                ("--fetch-concurrency", args.fetch_concurrency.is_some()),
                (
                    "--fetch-concurrency-max",
                    args.fetch_concurrency_max.is_some(),
                ),
                ("--path-style", args.s3.path_style),
            ];
            if let (0, Some((flag, _))) = (s3_paths, s3_only.iter().find(|(_, set)| *set)) {
                eprintln!("trailhose: error: {flag} applies to an s3://bucket/prefix source only; local trees are filtered by the paths given");
                return exit::USAGE;
            }
            let quiet = args.quiet;
            let config = match replay_config(args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("trailhose: error: {e}");
                    return exit::USAGE;
                }
            };
            if let Err(e) = config.validate() {
                eprintln!("trailhose: error: {}", flag_names(&e));
                return exit::USAGE;
            }
            run(&config, quiet)
        }
        Command::Verify(args) => verify(args),
        Command::Setup(SetupTarget::Elasticsearch(args)) => setup_elasticsearch(args),
        Command::Run { config, quiet } => match PipelineConfig::load(&config) {
            Ok(config) => run(&config, quiet),
            Err(e) => {
                eprintln!("trailhose: error: {e}");
                exit::USAGE
            }
        },
        Command::Validate {
            config: path,
            check_connectivity,
            show,
        } => match PipelineConfig::load(&path) {
            Ok(config) => {
                if show {
                    println!("{config:#?}");
                }
                if check_connectivity {
                    if let Err(e) = pipeline::check_connectivity(&config) {
                        eprintln!("trailhose: error: {}: {e}", path.display());
                        return exit::USAGE;
                    }
                }
                let reached = if check_connectivity {
                    " (every sink reachable)"
                } else {
                    ""
                };
                println!("{}: ok{reached}", path.display());
                exit::CLEAN
            }
            Err(e) => {
                eprintln!("trailhose: error: {e}");
                exit::USAGE
            }
        },
        Command::Gen(args) => {
            let Some(preset) = GenOptions::preset(&args.preset, args.events) else {
                eprintln!(
                    "trailhose: error: --preset: unknown preset {:?}; use one of {:?}",
                    args.preset,
                    gen::PRESETS
                );
                return exit::USAGE;
            };
            let options = GenOptions {
                events: args.events,
                seed: args.seed,
                accounts: args.accounts.unwrap_or(preset.accounts),
                events_per_file: args.events_per_file.unwrap_or(preset.events_per_file),
                regions: args.regions.unwrap_or(preset.regions),
                sessions: args.sessions.unwrap_or(preset.sessions),
                clients: args.clients.unwrap_or(preset.clients),
                late_secs: args.late_secs.unwrap_or(preset.late_secs),
            };
            let networks = args
                .geoip_networks
                .unwrap_or(if args.preset == "realistic" {
                    65_536
                } else {
                    0
                });
            let written = generate_archive(&args.out, &options).and_then(|summary| {
                if args.geoip_fixtures {
                    let (city, asn) = write_geoip_fixtures(&args.out, networks)?;
                    eprintln!("trailhose: wrote {} and {}", city.display(), asn.display());
                }
                Ok(summary)
            });
            match written {
                Ok(summary) => {
                    eprintln!("trailhose: {summary}");
                    exit::CLEAN
                }
                Err(e) => {
                    eprintln!("trailhose: error: gen: {e}");
                    exit::USAGE
                }
            }
        }
    }
}

fn run(config: &PipelineConfig, quiet: bool) -> i32 {
    match pipeline::run(config, &RunOptions { quiet }) {
        Ok(report) => report.exit_code(),
        Err(e) => {
            eprintln!("trailhose: error: {e}");
            exit::USAGE
        }
    }
}

/// `trailhose verify`: prints each problem, then a summary; exit 0 only when all is well.
fn setup_elasticsearch(args: SetupElasticsearchArgs) -> i32 {
    let sink = match (&args.endpoint, &args.config) {
        (Some(url), _) => ElasticsearchSinkConfig::for_endpoint(url),
        (None, Some(path)) => {
            let config = match PipelineConfig::load(path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("trailhose: error: {e}");
                    return exit::USAGE;
                }
            };
            let found = config.sinks.iter().find_map(|s| match s {
                SinkConfig::Elasticsearch(es)
                    if args.sink.is_none() || es.name.as_deref() == args.sink.as_deref() =>
                {
                    Some(es.clone())
                }
                _ => None,
            });
            match found {
                Some(es) => es,
                None => {
                    eprintln!(
                        "trailhose: error: {} has no elasticsearch sink{}: add one, or give --endpoint",
                        path.display(),
                        args.sink.map(|n| format!(" named {n}")).unwrap_or_default()
                    );
                    return exit::USAGE;
                }
            }
        }
        (None, None) if args.print => {
            ElasticsearchSinkConfig::for_endpoint("http://localhost:9200")
        }
        (None, None) => {
            eprintln!(
                "trailhose: error: setup elasticsearch needs --endpoint URL or --config FILE"
            );
            return exit::USAGE;
        }
    };
    if args.print {
        return match sink.index_template("elasticsearch") {
            Ok(t) => {
                println!("{t}");
                exit::CLEAN
            }
            Err(e) => {
                eprintln!("trailhose: error: {e}");
                exit::USAGE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trailhose: error: cannot start a runtime: {e}");
            return exit::INTERNAL;
        }
    };
    match runtime.block_on(sink.install_index_template()) {
        Ok(said) => {
            eprintln!("trailhose: {said}");
            exit::CLEAN
        }
        Err(e) => {
            eprintln!("trailhose: error: setup elasticsearch: {e}");
            exit::SINK_FAILED
        }
    }
}

fn verify(args: VerifyArgs) -> i32 {
    let filter = args.s3.config(String::new(), String::new(), 32, None);
    if let Err(e) = filter.window() {
        eprintln!("trailhose: error: {}", flag_names(&e));
        return exit::USAGE;
    }
    let keys = match &args.public_keys {
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| trailhose::verify::PublicKeys::parse(&b))
        {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("trailhose: error: --public-keys {}: {e}", path.display());
                return exit::USAGE;
            }
        },
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trailhose: error: cannot start the I/O runtime: {e}");
            return exit::INPUT_ERRORS;
        }
    };
    let result = runtime.block_on(async {
        let (store, prefix) = trailhose::verify::store_for(&args.target, &filter).await;
        trailhose::verify::verify(&store, &prefix, &filter, keys.as_ref()).await
    });
    match result {
        Ok(report) => {
            for p in &report.problems {
                println!("{p}");
            }
            let signatures = if keys.is_none() {
                "digest signatures not checked (give the trail's public keys with --public-keys)"
                    .to_string()
            } else {
                format!(
                    "digest signatures: {} good, {} bad, {} not checked (no signature metadata: a local copy has none)",
                    report.signatures_good, report.signatures_bad, report.signatures_unchecked
                )
            };
            eprintln!(
                "trailhose: verified {} digest files and {} log files: {} altered, {} missing, {} extra, {} broken digest links; {signatures}",
                report.digests,
                report.log_files,
                report.altered,
                report.missing,
                report.extra,
                report.chain_breaks
            );
            if report.digests == 0 {
                eprintln!("trailhose: error: no digest files found under {}: is log file validation on for this trail?", args.target);
                return exit::INPUT_ERRORS;
            }
            if report.problems.is_empty() {
                exit::CLEAN
            } else {
                exit::INPUT_ERRORS
            }
        }
        Err(e) => {
            eprintln!("trailhose: error: {e}");
            exit::INPUT_ERRORS
        }
    }
}

/// The config `replay`'s flags describe: the same engine `run` uses.
fn replay_config(args: ReplayArgs) -> Result<PipelineConfig, String> {
    let s3_url = args
        .paths
        .iter()
        .find_map(|p| p.to_str().and_then(S3SourceConfig::from_url));
    let kafka_url = args
        .paths
        .iter()
        .find_map(|p| p.to_str().and_then(KafkaUrl::parse))
        .transpose()?;
    let sink = match args
        .output
        .as_ref()
        .and_then(|o| o.to_str())
        .and_then(KafkaUrl::parse)
    {
        Some(url) => {
            let url = url?;
            if url.group.is_some() {
                return Err("--output kafka://...?group=: a group is for reading; write kafka://HOST:PORT/TOPIC".into());
            }
            SinkConfig::Kafka(KafkaSinkConfig {
                format: args.format,
                ..KafkaSinkConfig::new(url.brokers, url.topic)
            })
        }
        None => SinkConfig::Ndjson(NdjsonSinkConfig {
            path: args.output,
            format: args.format,
            ..NdjsonSinkConfig::default()
        }),
    };
    let source = if let Some(url) = kafka_url {
        if args.paths.len() > 1 {
            return Err("a kafka:// source is read alone: give it as the only PATH".into());
        }
        SourceConfig::Kafka(KafkaSourceConfig::quick_look(
            url,
            (args.stop_when_idle > 0).then_some(args.stop_when_idle),
        ))
    } else if let Some((bucket, prefix)) = s3_url {
        SourceConfig::S3(args.s3.config(
            bucket,
            prefix,
            args.fetch_concurrency.unwrap_or(64),
            args.fetch_concurrency_max,
        ))
    } else if args.paths.is_empty() || args.paths.iter().all(|p| p.as_os_str() == "-") {
        SourceConfig::Stdin {}
    } else {
        SourceConfig::Dir {
            paths: args.paths,
            hidden: args.hidden,
        }
    };
    let defaults = PipelineBounds::default();
    Ok(PipelineConfig {
        source,
        sinks: vec![sink],
        pipeline: PipelineBounds {
            workers: args.workers,
            batch_bytes: args.batch_bytes.unwrap_or(defaults.batch_bytes),
            channel_batches: args.channel_batches.unwrap_or(defaults.channel_batches),
            max_record_bytes: args.max_record_bytes.unwrap_or(defaults.max_record_bytes),
            dead_letter: args.dead_letter,
            shutdown_timeout_secs: args
                .shutdown_timeout
                .unwrap_or(defaults.shutdown_timeout_secs),
            ..defaults
        },
        metrics: args.metrics_addr.map(MetricsConfig::new),
        enrich: EnrichConfig {
            enabled: args.enrich,
            geoip_city: args.geoip_city,
            geoip_asn: args.geoip_asn,
            ..EnrichConfig::default()
        },
        state: StateConfig {
            dir: args.state,
            commit_interval_ms: args
                .commit_interval_ms
                .unwrap_or(StateConfig::default().commit_interval_ms),
            ..StateConfig::default()
        },
        dedupe: DedupeConfig {
            enabled: !args.no_dedupe,
            ..DedupeConfig::default()
        },
        filter: FilterConfig {
            drop_noise: args.drop_noise,
            drop_read_only: args.drop_read_only,
            include_event_sources: args.include_source,
            exclude_event_sources: args.exclude_source,
            include_event_names: args.include_event,
            exclude_event_names: args.exclude_event,
        },
        normalize: NormalizeConfig {
            max_field_bytes: args
                .max_field_bytes
                .unwrap_or(NormalizeConfig::default().max_field_bytes),
            keep_original: args.keep_original,
            ecs_flattened: args.ecs_flattened,
        },
    })
}

/// Config keys in messages become the flags that set them, for `replay`.
fn flag_names(message: &str) -> String {
    message
        .replace("source.start", "--start")
        .replace("source.end", "--end")
        .replace("source.fetch_concurrency_max", "--fetch-concurrency-max")
        .replace("source.fetch_concurrency", "--fetch-concurrency")
        .replace("source.paths", "PATH")
        .replace("pipeline.workers", "--workers")
        .replace("pipeline.batch_bytes", "--batch-bytes")
        .replace("pipeline.channel_batches", "--channel-batches")
        .replace("pipeline.max_record_bytes", "--max-record-bytes")
        .replace("metrics.addr", "--metrics-addr")
        .replace("state.commit_interval_ms", "--commit-interval-ms")
        .replace("pipeline.shutdown_timeout_secs", "--shutdown-timeout")
        .replace("enrich.geoip_city", "--geoip-city")
        .replace("enrich.geoip_asn", "--geoip-asn")
        .replace("normalize.max_field_bytes", "--max-field-bytes")
}
