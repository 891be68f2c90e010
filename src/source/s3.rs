//! The S3 source: replays a trail's archive straight from its bucket. It finds the trail layout
//! (accounts, organization accounts, regions), lists only the day folders in range, several at
//! once, and hands on each day's log files in delivery-time order across accounts and regions
//! (one day of names is the look-ahead, so attribution sees an AssumeRole before its uses as
//! often as possible). Objects are fetched with bounded concurrency and streamed to the
//! workers a few chunks at a time. Progress is checkpointed per account and region (see
//! `source::progress`), so an interrupted replay continues where it stopped.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_s3::Client;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::aws::{error_text, AwsConfig};
use super::fetch_limit::FetchLimit;
use super::object_gets::ObjectGets;
use super::progress::InputProgress;
use super::trail_layout::{
    is_account, is_org, key_time, last_folder, parse_time_arg, Day, RegionPrefix,
};
use super::SourceError;
use crate::blob::StreamInput;
use crate::config::check_range;
use crate::metrics as m;
use crate::transform::fields::civil_from_unix;

/// `[source] type = "s3"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3SourceConfig {
    pub bucket: String,
    /// The trail's prefix (what comes before `AWSLogs/`), or a deeper folder to list as is.
    #[serde(default)]
    pub prefix: String,
    /// Only log files delivered at or after this time (`2026-01-05` or `2026-01-05T10:00:00Z`).
    pub start: Option<String>,
    /// Only log files delivered at or before this time (a day means its end).
    pub end: Option<String>,
    /// Only these accounts (empty: all).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Only these regions (empty: all).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Listing requests in flight at once.
    #[serde(default = "default_list_concurrency")]
    pub list_concurrency: usize,
    /// Objects fetched at once to begin with; the limit adapts from here (see `fetch_limit`).
    #[serde(default = "default_fetch_concurrency")]
    pub fetch_concurrency: usize,
    /// The most objects fetched at once (the memory bound); equal to `fetch_concurrency`: fixed.
    /// Absent: 512, or `fetch_concurrency` when that is more.
    pub fetch_concurrency_max: Option<usize>,
    #[serde(default)]
    pub aws: AwsConfig,
}

fn default_list_concurrency() -> usize {
    64
}

fn default_fetch_concurrency() -> usize {
    64
}

/// Body chunks a fetch may hold ahead of the worker reading it. The HTTP client reads up to
/// about 400 KiB at a time, so this bounds a fetch's buffered bytes at about 800 KiB (log
/// files, tens of KiB, fit in one chunk and finish at once).
pub const CHUNKS_AHEAD: usize = 2;

/// The most objects fetched at once: `fetch_concurrency_max`, checked against its range and
/// the starting `fetch_concurrency`; absent: `default`, or the start when that is more.
pub fn fetch_max(start: usize, max: Option<usize>, default: usize) -> Result<usize, String> {
    let Some(max) = max else {
        return Ok(default.max(start));
    };
    check_range(
        "source.fetch_concurrency_max",
        max,
        1,
        4096,
        &format!("default {default}"),
    )?;
    if start > max {
        return Err(format!(
            "source.fetch_concurrency = {start} is above source.fetch_concurrency_max = {max}: \
             raise the maximum or lower the start (equal values fix the limit)"
        ));
    }
    Ok(max)
}

impl S3SourceConfig {
    /// Checks every value; messages name the key (`source.*`), what is wrong and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.bucket.is_empty() {
            return Err("source.bucket is empty: give the trail's bucket name".into());
        }
        self.window()?;
        check_range(
            "source.fetch_concurrency",
            self.fetch_concurrency,
            1,
            4096,
            "default 64",
        )?;
        self.fetch_max()?;
        check_range(
            "source.list_concurrency",
            self.list_concurrency,
            1,
            1024,
            "default 64",
        )?;
        Ok(())
    }

    /// The most objects fetched at once.
    pub fn fetch_max(&self) -> Result<usize, String> {
        fetch_max(self.fetch_concurrency, self.fetch_concurrency_max, 512)
    }

    /// Parses `s3://bucket/prefix`.
    pub fn from_url(url: &str) -> Option<(String, String)> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.to_string()))
    }

    /// The `[start, end]` window as YYYYMMDDHHMMSS, with the days it spans.
    pub fn window(&self) -> Result<Window, String> {
        let start = match &self.start {
            Some(s) => Some(parse_time_arg(s).ok_or_else(|| {
                format!(
                    "source.start = \"{s}\": not a time; give 2026-01-05 or 2026-01-05T10:00:00Z"
                )
            })?),
            None => None,
        };
        let end = match &self.end {
            Some(s) => {
                let (day, t) = parse_time_arg(s).ok_or_else(|| {
                    format!(
                        "source.end = \"{s}\": not a time; give 2026-01-06 or 2026-01-06T10:00:00Z"
                    )
                })?;
                // A bare day means the whole day.
                let t = if s.len() == 10 { t + 235_959 } else { t };
                Some((day, t))
            }
            None => None,
        };
        if let (Some((_, a)), Some((_, b))) = (start, end) {
            if a > b {
                return Err("source.start is after source.end: swap them".into());
            }
        }
        Ok(Window { start, end })
    }
}

/// Which delivery times to replay.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    start: Option<(Day, u64)>,
    end: Option<(Day, u64)>,
}

impl Window {
    /// Whether a YYYYMMDDHHMMSS time is inside.
    pub fn contains(&self, t: u64) -> bool {
        self.time_in(t)
    }

    fn day_in(&self, day: Day) -> bool {
        self.start.is_none_or(|(d, _)| day >= d) && self.end.is_none_or(|(d, _)| day <= d)
    }

    fn time_in(&self, t: u64) -> bool {
        self.start.is_none_or(|(_, s)| t >= s) && self.end.is_none_or(|(_, e)| t <= e)
    }
}

/// One object to read.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub time: u64,
    /// The checkpoint prefix it belongs to (`account/region`, or `` for a flat listing).
    pub prefix_id: Arc<str>,
}

/// Seconds since the epoch of a YYYYMMDDHHMMSS time.
pub fn epoch_of(t: u64) -> i64 {
    let s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t / 10_000_000_000,
        t / 100_000_000 % 100,
        t / 1_000_000 % 100,
        t / 10_000 % 100,
        t / 100 % 100,
        t % 100
    );
    crate::transform::fields::parse_event_time(&s).unwrap_or(0)
}

/// Lists the common prefixes (folders) under `prefix`.
pub async fn list_folders(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, SourceError> {
    let mut out = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| SourceError::S3List {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            detail: error_text(&e.into_service_error()),
        })?;
        metrics::counter!(m::S3_LIST_REQUESTS).increment(1);
        out.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
    }
    Ok(out)
}

/// Lists the objects under `prefix` (key, size), after `start_after` when given, in key order.
pub async fn list_objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
    start_after: Option<String>,
) -> Result<Vec<(String, u64)>, SourceError> {
    let mut out = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_start_after(start_after)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| SourceError::S3List {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            detail: error_text(&e.into_service_error()),
        })?;
        metrics::counter!(m::S3_LIST_REQUESTS).increment(1);
        for o in page.contents() {
            if let Some(k) = o.key() {
                out.push((k.to_string(), o.size().unwrap_or(0).max(0) as u64));
            }
        }
    }
    Ok(out)
}

/// An object handed on: where it is from, its bytes as they arrive, and what to do once its
/// events are all in every sink (`true`) or some are not (`false`).
pub struct Handed {
    pub origin: Arc<str>,
    pub size: Option<u64>,
    pub input: StreamInput,
    pub then: Box<dyn FnOnce(bool) + Send>,
}

/// Where objects go, in order. Bounded by the fetch concurrency: fetches start as soon as they
/// are handed on, so the source runs that many objects ahead of the workers (a decode worker
/// never waits for a round trip it could have overlapped).
pub type HandOn = tokio::sync::mpsc::Sender<Handed>;

/// Replays the bucket: lists, orders, fetches, and calls `emit` for each object in order.
pub async fn run(
    config: &S3SourceConfig,
    gets: ObjectGets,
    progress: Arc<InputProgress>,
    stop: &AtomicBool,
    emit: HandOn,
) -> Result<(), SourceError> {
    let client = gets.sdk().clone();
    let window = config.window().map_err(SourceError::Window)?;
    let base = normalize_prefix(&config.prefix);
    let ctx = Fetcher {
        gets,
        bucket: Arc::from(config.bucket.as_str()),
        limit: FetchLimit::new(
            config.fetch_concurrency,
            config.fetch_max().map_err(SourceError::Window)?,
        ),
    };
    if LOG_FOLDERS
        .iter()
        .chain(["CloudTrail-Digest"].iter())
        .any(|f| base.contains(&format!("/{f}/")))
    {
        // A folder inside the layout: listed as it is, in key order (time order within it).
        let id: Arc<str> = Arc::from("");
        let keys = list_objects(&client, &config.bucket, &base, progress.through("")).await?;
        for (key, size) in keys {
            let Some(time) = key_time(&key) else { continue };
            if !window.time_in(time) || progress.already_done("", &key) {
                continue;
            }
            if stop.load(Ordering::Relaxed)
                || !ctx
                    .hand_on(
                        Listed {
                            key,
                            size,
                            time,
                            prefix_id: id.clone(),
                        },
                        &progress,
                        &emit,
                    )
                    .await
            {
                return Ok(());
            }
        }
        return Ok(());
    }
    let root = if base.ends_with("AWSLogs/") {
        base.clone()
    } else {
        format!("{base}AWSLogs/")
    };
    let prefixes = discover(&client, config, &root).await?;
    if prefixes.is_empty() {
        return Err(SourceError::NoTrailFolders {
            bucket: config.bucket.clone(),
            root,
        });
    }
    let days = discover_days(&client, config, &prefixes, &window).await?;
    let mut day_list: Vec<(Day, Vec<Arc<RegionPrefix>>)> = days.into_iter().collect();
    day_list.reverse();
    // One day's listing runs while the previous day's objects are handed on.
    let mut next = day_list.pop().map(|(day, ps)| {
        tokio::spawn(list_day(
            client.clone(),
            config.clone(),
            day,
            ps,
            progress.clone(),
        ))
    });
    while let Some(listing) = next.take() {
        next = day_list.pop().map(|(day, ps)| {
            tokio::spawn(list_day(
                client.clone(),
                config.clone(),
                day,
                ps,
                progress.clone(),
            ))
        });
        let objects = listing.await??;
        for o in objects {
            if !window.time_in(o.time) || progress.already_done(&o.prefix_id, &o.key) {
                continue;
            }
            if stop.load(Ordering::Relaxed) || !ctx.hand_on(o, &progress, &emit).await {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// `a/b` becomes `a/b/`; a leading `/` goes.
fn normalize_prefix(prefix: &str) -> String {
    let p = prefix.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// The folders of an account that hold events: API calls and service events (`CloudTrail`),
/// and CloudTrail Insights events (`CloudTrail-Insight`), both laid out by region and day.
const LOG_FOLDERS: [&str; 2] = ["CloudTrail", "CloudTrail-Insight"];

/// Finds every `AWSLogs/[org/]<account>/{CloudTrail,CloudTrail-Insight}/<region>/` folder the
/// filters allow.
async fn discover(
    client: &Client,
    config: &S3SourceConfig,
    root: &str,
) -> Result<Vec<RegionPrefix>, SourceError> {
    let mut accounts: Vec<String> = Vec::new();
    for folder in list_folders(client, &config.bucket, root).await? {
        let name = last_folder(&folder);
        if is_account(name) {
            accounts.push(folder);
        } else if is_org(name) {
            for inner in list_folders(client, &config.bucket, &folder).await? {
                if is_account(last_folder(&inner)) {
                    accounts.push(inner);
                }
            }
        }
    }
    accounts.retain(|a| {
        config.accounts.is_empty() || config.accounts.iter().any(|x| x == last_folder(a))
    });
    let limit = Arc::new(Semaphore::new(config.list_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    // One request per account and log folder, all at once (up to the listing limit).
    for account in accounts {
        for log in LOG_FOLDERS {
            let (client, bucket, limit) = (client.clone(), config.bucket.clone(), limit.clone());
            let account = account.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire().await;
                let regions = list_folders(&client, &bucket, &format!("{account}{log}/")).await?;
                Ok::<_, SourceError>(
                    regions
                        .into_iter()
                        .map(|r| RegionPrefix {
                            account: last_folder(&account).to_string(),
                            region: last_folder(&r).to_string(),
                            log,
                            path: r,
                        })
                        .collect::<Vec<_>>(),
                )
            });
        }
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.extend(r??);
    }
    out.retain(|p| config.regions.is_empty() || config.regions.contains(&p.region));
    out.sort();
    Ok(out)
}

/// A window of at most this many days has its day folders read directly: see `discover_days`.
const DIRECT_DAYS: i64 = 7;

/// The day folders of each prefix inside the window: years, then months, then days, listed
/// only where they can hold days in range.
async fn discover_days(
    client: &Client,
    config: &S3SourceConfig,
    prefixes: &[RegionPrefix],
    window: &Window,
) -> Result<BTreeMap<Day, Vec<Arc<RegionPrefix>>>, SourceError> {
    if let Some(days) = window.days(DIRECT_DAYS) {
        // A short window (an incident, yesterday) names its day folders: listing the year,
        // month and day levels first would be three round trips per prefix before the first
        // object, and three requests where one does. A day a prefix lacks is one empty listing.
        let mut by_day: BTreeMap<Day, Vec<Arc<RegionPrefix>>> = BTreeMap::new();
        for p in prefixes {
            let p = Arc::new(p.clone());
            for day in &days {
                by_day.entry(*day).or_default().push(p.clone());
            }
        }
        return Ok(by_day);
    }
    let limit = Arc::new(Semaphore::new(config.list_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for p in prefixes {
        let (client, bucket, limit, p, window) = (
            client.clone(),
            config.bucket.clone(),
            limit.clone(),
            Arc::new(p.clone()),
            *window,
        );
        tasks.spawn(async move {
            let mut days = Vec::new();
            let year_in = |y: u32| window.day_in_range(y * 10_000 + 101, y * 10_000 + 1231);
            // A slot per request, not per prefix: the three levels of one prefix are three
            // round trips, and other prefixes' requests go out between them.
            let list = |folder: String| {
                let (client, bucket, limit) = (&client, &bucket, &limit);
                async move {
                    let _permit = limit.acquire().await;
                    list_folders(client, bucket, &folder).await
                }
            };
            for year in list(p.path.clone()).await? {
                let Some(y) = number(&year, 4) else { continue };
                if !year_in(y) {
                    continue;
                }
                for month in list(year.clone()).await? {
                    let Some(mo) = number(&month, 2) else {
                        continue;
                    };
                    let first = y * 10_000 + mo * 100 + 1;
                    if !window.day_in_range(first, first + 30) {
                        continue;
                    }
                    for day in list(month.clone()).await? {
                        let Some(d) = number(&day, 2) else { continue };
                        let day = y * 10_000 + mo * 100 + d;
                        if window.day_in(day) {
                            days.push(day);
                        }
                    }
                }
            }
            Ok::<_, SourceError>((p, days))
        });
    }
    let mut by_day: BTreeMap<Day, Vec<Arc<RegionPrefix>>> = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        let (p, days) = r??;
        for d in days {
            by_day.entry(d).or_default().push(p.clone());
        }
    }
    Ok(by_day)
}

impl Window {
    /// The days of a window closed on both ends and at most `max` days long, in order.
    fn days(&self, max: i64) -> Option<Vec<Day>> {
        let ((first, _), (last, _)) = (self.start?, self.end?);
        let midnight = |d: Day| epoch_of(u64::from(d) * 1_000_000);
        let (from, to) = (midnight(first), midnight(last));
        let span = (to - from) / 86_400;
        if !(0..max).contains(&span) {
            return None;
        }
        Some(
            (0..=span)
                .map(|i| {
                    let (y, m, d, ..) = civil_from_unix(from + i * 86_400);
                    (y * 10_000 + m * 100 + d) as Day
                })
                .collect(),
        )
    }

    /// Whether any day of `[first, last]` is in the window.
    fn day_in_range(&self, first: Day, last: Day) -> bool {
        self.start.is_none_or(|(d, _)| last >= d) && self.end.is_none_or(|(d, _)| first <= d)
    }
}

/// A folder name as a number of `digits` digits.
fn number(folder: &str, digits: usize) -> Option<u32> {
    let name = last_folder(folder);
    (name.len() == digits && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// Lists one day of every prefix that has it, and orders it by delivery time across them.
async fn list_day(
    client: Client,
    config: S3SourceConfig,
    day: Day,
    prefixes: Vec<Arc<RegionPrefix>>,
    progress: Arc<InputProgress>,
) -> Result<Vec<Listed>, SourceError> {
    let limit = Arc::new(Semaphore::new(config.list_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for p in prefixes {
        let (client, bucket, limit) = (client.clone(), config.bucket.clone(), limit.clone());
        let id: Arc<str> = Arc::from(p.id().as_str());
        let folder = p.day_path(day);
        // Resume: start after the checkpoint when it lies in this folder.
        let start_after = progress
            .through(&id)
            .filter(|t| t.starts_with(&folder) || t.as_str() > folder.as_str());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let keys = list_objects(&client, &bucket, &folder, start_after).await?;
            Ok::<_, SourceError>(
                keys.into_iter()
                    .filter_map(|(key, size)| {
                        let time = key_time(&key)?;
                        Some(Listed {
                            key,
                            size,
                            time,
                            prefix_id: id.clone(),
                        })
                    })
                    .collect::<Vec<_>>(),
            )
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    metrics::counter!(m::S3_OBJECTS_LISTED).increment(all.len() as u64);
    all.sort_by(|a, b| (a.time, &a.key).cmp(&(b.time, &b.key)));
    Ok(all)
}

/// Starts fetches, each behind a slot of the adaptive fetch limit.
struct Fetcher {
    gets: ObjectGets,
    bucket: Arc<str>,
    limit: FetchLimit,
}

impl Fetcher {
    /// Starts fetching `o` and hands it on; false when the run is stopping.
    async fn hand_on(&self, o: Listed, progress: &Arc<InputProgress>, emit: &HandOn) -> bool {
        let Some(input) = self.limit.fetch(&self.gets, &self.bucket, &o.key).await else {
            return false;
        };
        progress.started(&o.prefix_id, &o.key, o.time);
        let origin = Arc::from(format!("s3://{}/{}", self.bucket, o.key));
        let (p, id, key) = (progress.clone(), o.prefix_id, o.key);
        let then: Box<dyn FnOnce(bool) + Send> = Box::new(move |ok| {
            let result = if ok { "acked" } else { "failed" };
            metrics::counter!(m::S3_OBJECTS_DONE, "result" => result).increment(1);
            p.finished(&id, &key, ok);
        });
        let handed = Handed {
            origin,
            size: Some(o.size),
            input,
            then,
        };
        emit.send(handed).await.is_ok()
    }
}

/// Streams one object into `tx`, a chunk at a time; a failure goes down the channel too, so
/// the worker reading it reports it (and the object is not acknowledged). Counted in
/// `trailhose_s3_fetches_in_flight` while it runs, for every source that fetches (S3, SQS).
pub async fn fetch_into(
    gets: &ObjectGets,
    bucket: &str,
    key: &str,
    tx: tokio::sync::mpsc::Sender<io::Result<bytes::Bytes>>,
) {
    metrics::gauge!(m::S3_FETCHES_IN_FLIGHT).increment(1.0);
    gets.get(bucket, key, tx).await;
    metrics::gauge!(m::S3_FETCHES_IN_FLIGHT).decrement(1.0);
}

/// A GET through the SDK (see `object_gets` for where it is used).
pub(super) async fn stream_object(
    client: &Client,
    bucket: &str,
    key: &str,
    tx: tokio::sync::mpsc::Sender<io::Result<bytes::Bytes>>,
) {
    let resp = client.get_object().bucket(bucket).key(key).send().await;
    let mut body = match resp {
        Ok(o) => o.body,
        Err(e) => {
            let detail = error_text(&e.into_service_error());
            let _ = tx
                .send(Err(io::Error::other(format!("GET failed: {detail}"))))
                .await;
            return;
        }
    };
    metrics::counter!(m::S3_OBJECTS_FETCHED).increment(1);
    loop {
        match body.next().await {
            Some(Ok(chunk)) => {
                metrics::counter!(m::S3_BYTES).increment(chunk.len() as u64);
                if tx.send(Ok(chunk)).await.is_err() {
                    return; // the reader went away (the run is stopping)
                }
            }
            Some(Err(e)) => {
                let _ = tx
                    .send(Err(io::Error::other(format!(
                        "reading the body failed: {}",
                        error_text(&e)
                    ))))
                    .await;
                return;
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            S3SourceConfig::from_url("s3://b/p/q"),
            Some(("b".into(), "p/q".into()))
        );
        assert_eq!(
            S3SourceConfig::from_url("s3://b"),
            Some(("b".into(), "".into()))
        );
        assert_eq!(S3SourceConfig::from_url("s3:///x"), None);
        assert_eq!(S3SourceConfig::from_url("/x"), None);
        assert_eq!(normalize_prefix("/a/b"), "a/b/");
        assert_eq!(normalize_prefix(""), "");
    }

    #[test]
    fn windows() {
        let cfg = |s: Option<&str>, e: Option<&str>| S3SourceConfig {
            bucket: "b".into(),
            prefix: String::new(),
            start: s.map(Into::into),
            end: e.map(Into::into),
            accounts: vec![],
            regions: vec![],
            list_concurrency: 1,
            fetch_concurrency: 1,
            fetch_concurrency_max: None,
            aws: AwsConfig::default(),
        };
        let w = cfg(Some("2026-01-05"), Some("2026-01-06"))
            .window()
            .unwrap();
        assert!(w.day_in(20260106) && !w.day_in(20260107));
        assert!(w.time_in(20260106235500) && !w.time_in(20260104235959));
        assert!(cfg(Some("2026-01-07"), Some("2026-01-06"))
            .window()
            .is_err());
        assert!(cfg(Some("x"), None)
            .window()
            .unwrap_err()
            .contains("source.start"));
        assert_eq!(epoch_of(19700101000100), 60);
    }

    #[test]
    fn a_short_closed_window_names_its_days() {
        let w = |s: &str, e: &str| Window {
            start: parse_time_arg(s),
            end: parse_time_arg(e),
        };
        assert_eq!(
            w("2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z").days(7),
            Some(vec![20260105])
        );
        // Across a month's end and a leap day.
        assert_eq!(
            w("2028-02-28", "2028-03-01").days(7),
            Some(vec![20280228, 20280229, 20280301])
        );
        assert_eq!(
            w("2026-12-31", "2027-01-01").days(7),
            Some(vec![20261231, 20270101])
        );
        // Seven days is the most; longer or open windows are discovered by listing.
        assert_eq!(
            w("2026-01-01", "2026-01-07").days(7).map(|d| d.len()),
            Some(7)
        );
        assert_eq!(w("2026-01-01", "2026-01-08").days(7), None);
        let open = Window {
            start: parse_time_arg("2026-01-01"),
            end: None,
        };
        assert_eq!(open.days(7), None);
    }
}
