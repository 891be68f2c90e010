//! The Kafka source: consumes topics as a member of a consumer group and hands messages on in
//! blobs (consecutive messages of one partition, so many small messages share the cost of one
//! blob). Each message is decoded on its own: it may hold any envelope (a gzip trail file, a
//! record, an EventBridge event, a CloudWatch Logs payload).
//!
//! Offsets: per partition, the committed offset is the first offset of the oldest blob not yet
//! done (delivered or dead-lettered by every sink), so it never passes a pending message, and a
//! blob that failed holds it where it is. The consumer thread stores that offset in librdkafka
//! as it moves (also while it waits on a full channel), librdkafka's auto-commit sends what is
//! stored every `commit_interval_ms` (so commits go on whatever the consumer thread is doing,
//! and their results, good or bad, come back through `commit_callback`), and the end and a
//! revoke commit synchronously. When the channel to the workers is full, the assignment is
//! paused (and the group still served), so a slow sink slows the consumer instead of filling
//! memory or dropping it from the group. On a revoke, the revoked partitions' unsent messages are dropped and their blobs
//! in flight are waited for (up to `rebalance_timeout_ms`); what is done is committed, and the
//! partitions are forgotten: a late ack for them is ignored, their next owner reads on from
//! the commit.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message as _;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::Deserialize;

use super::{Handoff, SourceError};
use crate::blob::{BlobInput, Message};
use crate::config::check_range;
use crate::kafka::{
    check_brokers, check_passthrough, check_topic_name, client_config, ClientVoice, KafkaUrl,
};
use crate::metrics as m;

/// `[source] type = "kafka"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers, `host:port[,host:port]`.
    pub brokers: String,
    pub topics: Vec<String>,
    /// The consumer group: instances in one group share the partitions.
    pub group_id: String,
    /// Where a partition this process has not read before starts: the group's committed
    /// offset (the default; the earliest where there is none), or the earliest or latest.
    #[serde(default)]
    pub start: Start,
    /// Most messages per blob.
    #[serde(default = "default_blob_messages")]
    pub blob_max_messages: usize,
    /// Most bytes per blob.
    #[serde(default = "default_blob_bytes")]
    pub blob_max_bytes: usize,
    /// How long a message may wait for its blob to fill.
    #[serde(default = "default_blob_wait")]
    pub blob_max_wait_ms: u64,
    /// How often done offsets are committed.
    #[serde(default = "default_commit_interval")]
    pub commit_interval_ms: u64,
    /// How long a revoke waits for the revoked partitions' blobs in flight.
    #[serde(default = "default_rebalance_timeout")]
    pub rebalance_timeout_ms: u64,
    /// How long the end of a run waits for blobs in flight before the last commit.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_ms: u64,
    /// End the run after this long without a message, once partitions are assigned (absent:
    /// run until stopped).
    pub stop_when_idle_secs: Option<u64>,
    /// The most bytes librdkafka prefetches (default 16 MiB): part of the memory bound.
    #[serde(default = "default_prefetch_kbytes")]
    pub prefetch_max_kbytes: u64,
    /// Any librdkafka consumer property (SASL, TLS, `session.timeout.ms`...).
    #[serde(default)]
    pub librdkafka: crate::kafka::Properties,
}

fn default_blob_messages() -> usize {
    1000
}
fn default_blob_bytes() -> usize {
    1 << 20
}
fn default_blob_wait() -> u64 {
    100
}
fn default_commit_interval() -> u64 {
    5000
}
fn default_rebalance_timeout() -> u64 {
    10_000
}
fn default_drain_timeout() -> u64 {
    30_000
}
fn default_prefetch_kbytes() -> u64 {
    16 * 1024
}

/// `source.start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    #[default]
    Committed,
    Earliest,
    Latest,
}

/// Keys of `librdkafka` that this source's own options set.
const OWNED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use brokers"),
    ("group.id", "use group_id"),
    (
        "enable.auto.commit",
        "trailhose commits an offset only once everything before it is delivered",
    ),
    (
        "enable.auto.offset.store",
        "trailhose commits an offset only once everything before it is delivered",
    ),
    ("auto.commit.interval.ms", "use commit_interval_ms"),
    ("queued.max.messages.kbytes", "use prefetch_max_kbytes"),
];

impl KafkaSourceConfig {
    /// `replay kafka://HOST:PORT/TOPIC[?group=G]`: with a group, from its commit; without, a
    /// group of its own from the earliest offset.
    pub fn quick_look(url: KafkaUrl, stop_when_idle_secs: Option<u64>) -> Self {
        let (group_id, start) = match url.group {
            Some(g) => (g, Start::Committed),
            None => (
                format!("trailhose-replay-{}", std::process::id()),
                Start::Earliest,
            ),
        };
        KafkaSourceConfig {
            brokers: url.brokers,
            topics: vec![url.topic],
            group_id,
            start,
            blob_max_messages: default_blob_messages(),
            blob_max_bytes: default_blob_bytes(),
            blob_max_wait_ms: default_blob_wait(),
            commit_interval_ms: default_commit_interval(),
            rebalance_timeout_ms: default_rebalance_timeout(),
            drain_timeout_ms: default_drain_timeout(),
            stop_when_idle_secs,
            prefetch_max_kbytes: default_prefetch_kbytes(),
            librdkafka: crate::kafka::Properties::default(),
        }
    }

    /// Checks every value; messages name the key (`source.*`), what is wrong and the fix.
    pub fn validate(&self) -> Result<(), String> {
        check_brokers("source.brokers", &self.brokers)?;
        if self.topics.is_empty() {
            return Err("source.topics is empty: list the topics to read".into());
        }
        for (i, t) in self.topics.iter().enumerate() {
            check_topic_name(&format!("source.topics[{i}]"), t)?;
        }
        if self.group_id.trim().is_empty() {
            return Err("source.group_id is empty: name the consumer group (instances in one group share the partitions)".into());
        }
        check_passthrough("source", &self.librdkafka, OWNED)?;
        check_range(
            "source.blob_max_messages",
            self.blob_max_messages,
            1,
            1_000_000,
            "default 1000",
        )?;
        check_range(
            "source.blob_max_bytes",
            self.blob_max_bytes,
            1024,
            1 << 30,
            "default 1048576",
        )?;
        for (key, v, max, hint) in [
            (
                "source.blob_max_wait_ms",
                self.blob_max_wait_ms,
                60_000,
                "default 100",
            ),
            (
                "source.commit_interval_ms",
                self.commit_interval_ms,
                3_600_000,
                "default 5000",
            ),
            (
                "source.rebalance_timeout_ms",
                self.rebalance_timeout_ms,
                600_000,
                "default 10000",
            ),
            (
                "source.drain_timeout_ms",
                self.drain_timeout_ms,
                3_600_000,
                "default 30000",
            ),
            (
                "source.prefetch_max_kbytes",
                self.prefetch_max_kbytes,
                2_097_151,
                "default 16384",
            ),
        ] {
            check_range(key, v as usize, 1, max as usize, hint)?;
        }
        Ok(())
    }

    fn consumer(&self, shared: Arc<Shared>) -> Result<BaseConsumer<SourceContext>, KafkaError> {
        let reset = match self.start {
            Start::Latest => "latest",
            _ => "earliest",
        };
        client_config(
            &[
                ("bootstrap.servers", self.brokers.clone()),
                ("group.id", self.group_id.clone()),
                ("client.id", "trailhose".into()),
                // Auto-commit sends only what the consumer thread stored (see `store`).
                ("enable.auto.commit", "true".into()),
                (
                    "auto.commit.interval.ms",
                    self.commit_interval_ms.to_string(),
                ),
                ("enable.auto.offset.store", "false".into()),
                ("auto.offset.reset", reset.into()),
                (
                    "queued.max.messages.kbytes",
                    self.prefetch_max_kbytes.to_string(),
                ),
                // Once the prefetch is full, librdkafka waits this long before fetching the
                // partition again (its default, 1000 ms, idled the consumer between bursts:
                // measured 33,000 messages/s; 10 ms: 137,000).
                ("fetch.queue.backoff.ms", "10".into()),
                ("statistics.interval.ms", "5000".into()),
            ],
            &self.librdkafka,
        )
        .create_with_context(SourceContext {
            voice: ClientVoice::new("source".into(), None),
            shared,
        })
    }
}

/// A topic and partition.
type Tp = (Arc<str>, i32);

/// Where a blob of a partition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    InFlight,
    Done,
    Failed,
}

/// Messages of one partition not yet handed on.
struct Open {
    first: i64,
    last: i64,
    messages: Vec<Message>,
    bytes: usize,
    since: Instant,
}

/// One assigned partition's offsets.
struct Track {
    /// Which assignment this is: acks of blobs from an earlier one are ignored.
    epoch: u64,
    /// Blobs handed on, by first offset: (last offset, status).
    pending: BTreeMap<i64, (i64, Status)>,
    /// The offset after the last done blob below every pending one.
    done_upto: Option<i64>,
    /// The last offset stored for librdkafka's auto-commit to send.
    stored: Option<i64>,
    open: Option<Open>,
}

impl Track {
    /// The offset to commit, if it moved: the first pending blob's first offset, or past the
    /// last done one when none is pending.
    fn commit_point(&mut self) -> Option<i64> {
        self.point().filter(|p| Some(*p) > self.stored)
    }

    /// The offset everything before which is done, whether or not it moved.
    fn point(&mut self) -> Option<i64> {
        while let Some(e) = self.pending.first_entry() {
            if e.get().1 != Status::Done {
                break;
            }
            self.done_upto = Some(e.get().0 + 1);
            e.remove();
        }
        match self.pending.first_key_value() {
            Some((first, _)) => Some(*first),
            None => self.done_upto,
        }
    }

    fn in_flight(&self) -> bool {
        self.pending.values().any(|(_, s)| *s == Status::InFlight)
    }
}

/// What the consumer thread, librdkafka's callbacks and the ack callbacks share.
struct Shared {
    parts: Mutex<HashMap<Tp, Track>>,
    next_epoch: AtomicU64,
    /// Partitions this process has had (a reassigned one continues from its commit, whatever
    /// `start` says).
    seen: Mutex<HashSet<Tp>>,
    start: Start,
    rebalance_timeout: Duration,
    /// Set once partitions are assigned (the idle clock starts then).
    assigned: AtomicBool,
    last_activity: Mutex<Instant>,
}

impl Shared {
    fn parts(&self) -> MutexGuard<'_, HashMap<Tp, Track>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Offsets that moved since they were last stored, as a list (and marked stored).
    fn due_commits(&self) -> TopicPartitionList {
        self.offsets(None, Track::commit_point)
    }

    /// Every partition's (or the given ones') offset to commit, moved or not: what a final or
    /// a revoke commits synchronously, whatever auto-commit has sent so far.
    fn commit_points(&self, only: Option<&HashSet<Tp>>) -> TopicPartitionList {
        self.offsets(only, Track::point)
    }

    /// The offsets `pick` gives, as a list (and marked stored).
    fn offsets(
        &self,
        only: Option<&HashSet<Tp>>,
        pick: fn(&mut Track) -> Option<i64>,
    ) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (tp, track) in self.parts().iter_mut() {
            if only.is_some_and(|o| !o.contains(tp)) {
                continue;
            }
            if let Some(point) = pick(track) {
                if tpl
                    .add_partition_offset(&tp.0, tp.1, Offset::Offset(point))
                    .is_ok()
                {
                    track.stored = Some(point);
                }
            }
        }
        tpl
    }

    /// A blob's ack: marks it done or failed, if its partition is still ours.
    fn finished(&self, tp: &Tp, epoch: u64, first: i64, ok: bool) {
        if let Some(track) = self.parts().get_mut(tp) {
            if track.epoch == epoch {
                if let Some(entry) = track.pending.get_mut(&first) {
                    entry.1 = if ok { Status::Done } else { Status::Failed };
                }
            }
        }
    }
}

/// Stores offsets for librdkafka's auto-commit (local: no request). A partition no longer
/// assigned is refused, which is right: its next owner reads on from the last commit.
fn store(consumer: &BaseConsumer<SourceContext>, tpl: &TopicPartitionList) {
    if tpl.count() > 0 {
        let _ = consumer.store_offsets(tpl);
    }
}

/// Commits now and waits for the answer (the end of a run, a revoke). A manual asynchronous
/// commit would never report back: librdkafka sends a commit's result to the application only
/// for its own auto-commits (or to an `offset_commit_cb`, which the safe API does not set), so
/// periodic commits are auto-commits of stored offsets instead.
fn commit_now(consumer: &BaseConsumer<SourceContext>, tpl: &TopicPartitionList) {
    if tpl.count() == 0 {
        return;
    }
    store(consumer, tpl);
    match consumer.commit(tpl, CommitMode::Sync) {
        Ok(()) => metrics::counter!(m::KAFKA_COMMITS).increment(1),
        Err(e) => {
            metrics::counter!(m::KAFKA_COMMIT_ERRORS).increment(1);
            eprintln!("trailhose: kafka source: committing offsets failed: {e} (retried with the next commit)");
        }
    }
}

/// librdkafka's callbacks for the consumer: its voice, rebalances, commit results.
struct SourceContext {
    voice: ClientVoice,
    shared: Arc<Shared>,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.voice.log(level, fac, message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.voice.error(error, reason)
    }

    fn stats(&self, stats: Statistics) {
        self.voice.stats(stats)
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        metrics::counter!(m::KAFKA_REBALANCES, "kind" => "revoke").increment(1);
        let revoked: HashSet<Tp> = tpl
            .elements()
            .iter()
            .map(|e| (Arc::from(e.topic()), e.partition()))
            .collect();
        // Unsent messages go back to the group; blobs in flight get a while to finish.
        for (tp, track) in self.shared.parts().iter_mut() {
            if revoked.contains(tp) {
                track.open = None;
            }
        }
        let deadline = Instant::now() + self.shared.rebalance_timeout;
        while Instant::now() < deadline
            && self
                .shared
                .parts()
                .iter()
                .any(|(tp, t)| revoked.contains(tp) && t.in_flight())
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let done = self.shared.commit_points(Some(&revoked));
        commit_now(consumer, &done);
        self.shared.parts().retain(|tp, _| !revoked.contains(tp));
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else {
            if let Rebalance::Error(e) = rebalance {
                eprintln!("trailhose: kafka source: rebalance failed: {e}");
            }
            return;
        };
        metrics::counter!(m::KAFKA_REBALANCES, "kind" => "assign").increment(1);
        let mut fresh = Vec::new();
        {
            let mut seen = self.shared.seen.lock().unwrap_or_else(|p| p.into_inner());
            let mut parts = self.shared.parts();
            for e in tpl.elements() {
                let tp: Tp = (Arc::from(e.topic()), e.partition());
                if seen.insert(tp.clone()) {
                    fresh.push(tp.clone());
                }
                let epoch = self.shared.next_epoch.fetch_add(1, Ordering::Relaxed);
                parts.insert(
                    tp,
                    Track {
                        epoch,
                        pending: BTreeMap::new(),
                        done_upto: None,
                        stored: None,
                        open: None,
                    },
                );
            }
        }
        self.shared.assigned.store(true, Ordering::Relaxed);
        self.shared.touch();
        // `start = earliest | latest`: partitions new to this process start there, not at the
        // group's commit (assigning again with offsets is how librdkafka takes them).
        let at = match self.shared.start {
            Start::Committed => return,
            Start::Earliest => Offset::Beginning,
            Start::Latest => Offset::End,
        };
        if fresh.is_empty() {
            return;
        }
        if matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        ) {
            eprintln!("trailhose: kafka source: source.start is not applied with a cooperative assignment strategy; reading from the committed offsets");
            return;
        }
        let mut with_offsets = TopicPartitionList::new();
        for e in tpl.elements() {
            let tp: Tp = (Arc::from(e.topic()), e.partition());
            let offset = if fresh.contains(&tp) {
                at
            } else {
                Offset::Invalid
            };
            let _ = with_offsets.add_partition_offset(e.topic(), e.partition(), offset);
        }
        if let Err(e) = consumer.assign(&with_offsets) {
            eprintln!(
                "trailhose: kafka source: cannot start the new partitions at source.start: {e}"
            );
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => metrics::counter!(m::KAFKA_COMMITS).increment(1),
            // Nothing to commit (auto-commit found nothing new stored).
            Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                metrics::counter!(m::KAFKA_COMMIT_ERRORS).increment(1);
                eprintln!("trailhose: kafka source: committing offsets failed: {e} (retried with the next commit)");
                let mut parts = self.shared.parts();
                for el in offsets.elements() {
                    if let Some(t) = parts.get_mut(&(Arc::from(el.topic()), el.partition())) {
                        t.stored = None;
                    }
                }
            }
        }
    }
}

/// Consumes until stopped (or idle), then waits for what was handed on and commits it.
pub fn run(c: &KafkaSourceConfig, handoff: Handoff<'_>) -> Result<(), SourceError> {
    let shared = Arc::new(Shared {
        parts: Mutex::new(HashMap::new()),
        next_epoch: AtomicU64::new(0),
        seen: Mutex::new(HashSet::new()),
        start: c.start,
        rebalance_timeout: Duration::from_millis(c.rebalance_timeout_ms),
        assigned: AtomicBool::new(false),
        last_activity: Mutex::new(Instant::now()),
    });
    let consumer = c.consumer(shared.clone()).map_err(|e| SourceError::Kafka {
        detail: format!("cannot create the consumer: {e}"),
    })?;
    let topics: Vec<&str> = c.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| SourceError::Kafka {
            detail: format!("cannot subscribe to {}: {e}", c.topics.join(", ")),
        })?;
    let mut reader = Reader {
        c,
        consumer: &consumer,
        shared: &shared,
        handoff: Some(handoff),
        backlog: Vec::new(),
        last_store: Cell::new(Instant::now()),
    };
    let idle = c.stop_when_idle_secs.map(Duration::from_secs);
    let stopped = reader.consume(idle);
    // Ends the workers' input once they have what was handed on.
    reader.handoff = None;
    // Wait (without fetching more) for the blobs in flight, then commit what is done.
    if let Ok(assigned) = consumer.assignment() {
        let _ = consumer.pause(&assigned);
    }
    let deadline = Instant::now() + Duration::from_millis(c.drain_timeout_ms);
    while Instant::now() < deadline && shared.parts().values().any(Track::in_flight) {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    if shared.parts().values().any(Track::in_flight) && !stopped {
        eprintln!("trailhose: kafka source: some messages were still in flight after source.drain_timeout_ms; their offsets are not committed (they are read again next time)");
    }
    let done = shared.commit_points(None);
    commit_now(&consumer, &done);
    consumer.unsubscribe();
    Ok(())
}

/// The consumer thread's state.
struct Reader<'a, 'h> {
    c: &'a KafkaSourceConfig,
    consumer: &'a BaseConsumer<SourceContext>,
    shared: &'a Arc<Shared>,
    /// Dropped to end the workers' input.
    handoff: Option<Handoff<'h>>,
    /// Messages polled while the assignment was paused, read before polling again.
    backlog: Vec<(Tp, i64, Option<Vec<u8>>)>,
    /// When done offsets were last stored for auto-commit.
    last_store: Cell<Instant>,
}

/// How often the consumer thread stores done offsets for librdkafka's auto-commit (storing is
/// local and cheap; the commit interval is librdkafka's `auto.commit.interval.ms`).
const STORE_EVERY: Duration = Duration::from_millis(50);

impl Reader<'_, '_> {
    /// Polls and hands on until stopped or idle; true when stopped (by a signal or a failure).
    fn consume(&mut self, idle: Option<Duration>) -> bool {
        let wait = Duration::from_millis(self.c.blob_max_wait_ms);
        loop {
            if self.handoff.as_ref().is_none_or(|h| h.stopping()) {
                return true;
            }
            if idle.is_some_and(|i| {
                self.shared.assigned.load(Ordering::Relaxed) && self.shared.idle_for() >= i
            }) {
                self.hand_on_all(Duration::ZERO);
                return false;
            }
            for (tp, offset, payload) in std::mem::take(&mut self.backlog) {
                self.add(tp, offset, payload);
            }
            let status = self.handoff.as_ref().map(|h| h.status);
            if self.shared.assigned.load(Ordering::Relaxed) {
                status.inspect(|s| s.connected());
            }
            match self.consumer.poll(Duration::from_millis(20)) {
                Some(Ok(msg)) => {
                    let tp: Tp = (Arc::from(msg.topic()), msg.partition());
                    let payload = msg.payload().map(<[u8]>::to_vec);
                    let offset = msg.offset();
                    drop(msg);
                    self.shared.touch();
                    self.add(tp, offset, payload);
                }
                Some(Err(e)) => {
                    metrics::counter!(m::KAFKA_CLIENT_ERRORS, "client" => "source").increment(1);
                    eprintln!("trailhose: kafka source: {e}");
                    status.inspect(|s| s.failing(e.to_string()));
                }
                None => {}
            }
            self.hand_on_all(wait);
            self.store_due();
        }
    }

    /// Stores the offsets that moved, at most every `STORE_EVERY`.
    fn store_due(&self) {
        if self.last_store.get().elapsed() >= STORE_EVERY {
            store(self.consumer, &self.shared.due_commits());
            self.last_store.set(Instant::now());
        }
    }

    /// Adds a message to its partition's open blob (handing it on when full). Messages of a
    /// partition no longer ours are dropped (its next owner reads them).
    fn add(&mut self, tp: Tp, offset: i64, payload: Option<Vec<u8>>) {
        let full = {
            let mut parts = self.shared.parts();
            let Some(track) = parts.get_mut(&tp) else {
                return;
            };
            let open = track.open.get_or_insert_with(|| Open {
                first: offset,
                last: offset,
                messages: Vec::new(),
                bytes: 0,
                since: Instant::now(),
            });
            open.last = offset;
            // A message with no payload (a tombstone) has no events, but its offset counts.
            if let Some(bytes) = payload.filter(|b| !b.is_empty()) {
                open.bytes += bytes.len();
                open.messages.push(Message {
                    origin: Arc::from(format!("kafka:{}/{}@{offset}", tp.0, tp.1)),
                    bytes,
                });
            }
            open.messages.len() >= self.c.blob_max_messages || open.bytes >= self.c.blob_max_bytes
        };
        if full {
            self.hand_on(&tp);
        }
    }

    /// Hands on every open blob older than `age`.
    fn hand_on_all(&mut self, age: Duration) {
        let ready: Vec<Tp> = self
            .shared
            .parts()
            .iter()
            .filter(|(_, t)| t.open.as_ref().is_some_and(|o| o.since.elapsed() >= age))
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in ready {
            self.hand_on(&tp);
        }
    }

    /// Registers a partition's open blob as in flight and sends it to the workers, pausing the
    /// assignment while the channel is full.
    fn hand_on(&mut self, tp: &Tp) {
        let (open, epoch) = {
            let mut parts = self.shared.parts();
            let Some(track) = parts.get_mut(tp) else {
                return;
            };
            let Some(open) = track.open.take() else {
                return;
            };
            track
                .pending
                .insert(open.first, (open.last, Status::InFlight));
            (open, track.epoch)
        };
        let Some(handoff) = &self.handoff else {
            return;
        };
        let (first, count, bytes) = (open.first, open.messages.len(), open.bytes);
        metrics::counter!(m::KAFKA_MESSAGES_IN, "topic" => tp.0.to_string())
            .increment((open.last - open.first + 1) as u64);
        metrics::counter!(m::KAFKA_BYTES_IN, "topic" => tp.0.to_string()).increment(bytes as u64);
        let shared = self.shared.clone();
        let key = tp.clone();
        let blob = handoff.blob(
            Arc::from(format!(
                "kafka:{}/{}@{}-{}",
                tp.0, tp.1, open.first, open.last
            )),
            BlobInput::Messages(Arc::new(open.messages)),
            Some(bytes as u64),
            "kafka",
            Some(Box::new(move |ok| shared.finished(&key, epoch, first, ok))),
        );
        if count == 0 {
            // Only tombstones: nothing to decode, and done now (dropping the acked token).
            blob.ack.ack();
            return;
        }
        let mut blob = blob;
        let mut paused: Option<TopicPartitionList> = None;
        loop {
            match handoff.send_timeout(blob, Duration::from_millis(100)) {
                Ok(()) => break,
                Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                    if handoff.stopping() {
                        break;
                    }
                    blob = back;
                    if paused.is_none() {
                        if let Ok(assigned) = self.consumer.assignment() {
                            let _ = self.consumer.pause(&assigned);
                            paused = Some(assigned);
                        }
                    }
                    // Keep serving the group (and take what was already fetched), and keep
                    // the stored offsets moving as the workers finish what they have.
                    self.store_due();
                    if let Some(Ok(msg)) = self.consumer.poll(Duration::ZERO) {
                        self.backlog.push((
                            (Arc::from(msg.topic()), msg.partition()),
                            msg.offset(),
                            msg.payload().map(<[u8]>::to_vec),
                        ));
                    }
                }
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => break,
            }
        }
        if let Some(assigned) = paused {
            let _ = self.consumer.resume(&assigned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track() -> Track {
        Track {
            epoch: 0,
            pending: BTreeMap::new(),
            done_upto: None,
            stored: None,
            open: None,
        }
    }

    #[test]
    fn the_commit_never_passes_a_pending_blob() {
        let mut t = track();
        t.pending.insert(0, (9, Status::InFlight));
        t.pending.insert(10, (19, Status::InFlight));
        t.pending.insert(20, (29, Status::InFlight));
        assert_eq!(t.commit_point(), Some(0));
        t.stored = Some(0);
        // The second and third are done, the first is not: nothing moves.
        t.pending.get_mut(&10).unwrap().1 = Status::Done;
        t.pending.get_mut(&20).unwrap().1 = Status::Done;
        assert_eq!(t.commit_point(), None);
        t.pending.get_mut(&0).unwrap().1 = Status::Done;
        assert_eq!(t.commit_point(), Some(30));
        t.stored = Some(30);
        assert_eq!(t.commit_point(), None);
        // The end and a revoke commit the point whether or not auto-commit has it already.
        assert_eq!(t.point(), Some(30));
        // A failed blob holds the commit at its first offset for good.
        t.pending.insert(30, (39, Status::Failed));
        t.pending.insert(45, (50, Status::Done));
        assert_eq!(t.commit_point(), None);
        assert!(!t.in_flight());
    }

    #[test]
    fn validation_names_the_key() {
        let c: KafkaSourceConfig =
            toml::from_str("brokers = \"localhost:9092\"\ntopics = [\"ct\"]\ngroup_id = \"g\"")
                .unwrap();
        assert_eq!(c.validate(), Ok(()));
        let mut bad = c.clone();
        bad.librdkafka
            .insert("enable.auto.commit".into(), "true".into());
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("source.librdkafka.\"enable.auto.commit\""));
        // The commit interval is auto-commit's interval now: one key for it, not two.
        let mut bad = c.clone();
        bad.librdkafka
            .insert("auto.commit.interval.ms".into(), "100".into());
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("use commit_interval_ms"));
        let mut bad = c.clone();
        bad.topics.clear();
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("source.topics is empty"));
        let mut bad = c;
        bad.blob_max_wait_ms = 0;
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("source.blob_max_wait_ms"));
    }
}
