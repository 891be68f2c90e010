//! What `/health` and `/ready` answer, from what the stages report.
//!
//! - **Liveness** (`/health`): the process is making progress or has nothing to do. It is
//!   wedged when inputs are in flight, no sink is failing (waiting out an outage is not
//!   wedged: a restart would not help), and no counter has moved for `metrics.stall_secs`.
//! - **Readiness** (`/ready`): the source is connected, no sink has been failing (every
//!   request retried, none delivered) for longer than `metrics.ready_sink_failing_secs`, the
//!   last commit to the state directory succeeded, and the run is not draining.
//!
//! Each answers a JSON body naming every component, and the unhealthy ones with why; 503
//! when not healthy or not ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::stats::RunStats;

/// One sink's failures, as its delivery loop sees them.
#[derive(Debug)]
pub struct SinkHealth {
    pub id: Arc<str>,
    /// Since when every request has failed, and the last error; none while requests succeed.
    failing: Mutex<Option<(Instant, String)>>,
}

impl SinkHealth {
    pub fn new(id: Arc<str>) -> Self {
        SinkHealth {
            id,
            failing: Mutex::new(None),
        }
    }

    /// A request delivered (some or all of its records).
    pub fn succeeded(&self) {
        if let Ok(mut f) = self.failing.lock() {
            *f = None;
        }
    }

    /// A request failed and will be retried.
    pub fn failed(&self, error: &str) {
        if let Ok(mut f) = self.failing.lock() {
            match &mut *f {
                Some((_, last)) => *last = error.to_string(),
                None => *f = Some((Instant::now(), error.to_string())),
            }
        }
    }

    /// How long it has been failing, and the last error.
    pub fn failing_for(&self) -> Option<(Duration, String)> {
        let f = self.failing.lock().ok()?;
        f.as_ref().map(|(since, e)| (since.elapsed(), e.clone()))
    }
}

/// Whether the source reaches its service, as the source reports it.
#[derive(Debug, Default)]
pub struct SourceStatus {
    /// Why it is not connected (yet, or any more); none once it is.
    down: Mutex<Option<String>>,
}

impl SourceStatus {
    /// A network source starts down until it has reached its service once.
    pub fn new(kind: &str) -> Self {
        SourceStatus {
            down: Mutex::new(
                matches!(kind, "s3" | "sqs" | "kafka").then(|| "not connected yet".into()),
            ),
        }
    }

    /// It reached its service (a listing, a receive, an assignment).
    pub fn connected(&self) {
        if let Ok(mut d) = self.down.lock() {
            *d = None;
        }
    }

    /// It cannot reach its service: why.
    pub fn failing(&self, why: String) {
        if let Ok(mut d) = self.down.lock() {
            *d = Some(why);
        }
    }

    pub fn down(&self) -> Option<String> {
        self.down.lock().ok().and_then(|d| d.clone())
    }
}

/// The run's health, shared by the stages that report it and the endpoint that answers.
pub struct Health {
    pub sinks: Vec<Arc<SinkHealth>>,
    stats: Arc<RunStats>,
    pub source: Arc<SourceStatus>,
    source_kind: &'static str,
    /// The last commit's error, if it failed.
    state_error: Mutex<Option<String>>,
    has_state: bool,
    draining: Arc<AtomicBool>,
    /// The last time some counter moved, and their sum then.
    moved: Mutex<(Instant, u64)>,
    ready_sink_failing: Duration,
    stall: Duration,
}

/// Thresholds, from `[metrics]`.
#[derive(Debug, Clone, Copy)]
pub struct HealthLimits {
    pub ready_sink_failing: Duration,
    pub stall: Duration,
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits {
            ready_sink_failing: Duration::from_secs(60),
            stall: Duration::from_secs(300),
        }
    }
}

impl Health {
    pub fn new(
        sinks: Vec<Arc<SinkHealth>>,
        stats: Arc<RunStats>,
        source_kind: &'static str,
        has_state: bool,
        draining: Arc<AtomicBool>,
        limits: HealthLimits,
    ) -> Self {
        Health {
            sinks,
            stats,
            source: Arc::new(SourceStatus::new(source_kind)),
            source_kind,
            state_error: Mutex::new(None),
            has_state,
            draining,
            moved: Mutex::new((Instant::now(), 0)),
            ready_sink_failing: limits.ready_sink_failing,
            stall: limits.stall,
        }
    }

    /// The last commit to the state directory: its error, or none.
    pub fn committed(&self, error: Option<String>) {
        if let Ok(mut e) = self.state_error.lock() {
            *e = error;
        }
    }

    /// The last commit's error, if it failed.
    pub fn commit_error(&self) -> Option<String> {
        self.state_error.lock().ok().and_then(|e| e.clone())
    }

    /// `/health`: (healthy, body).
    pub fn liveness(&self) -> (bool, Value) {
        let s = &self.stats;
        let moved_now = [
            &s.records_in,
            &s.records_out,
            &s.inputs_done,
            &s.compressed_bytes,
            &s.dropped,
            &s.errors,
        ]
        .iter()
        .map(|c| RunStats::get(c))
        .sum::<u64>()
            + RunStats::get(&s.inputs_started);
        let still_for = match self.moved.lock() {
            Ok(mut m) => {
                if m.1 != moved_now {
                    *m = (Instant::now(), moved_now);
                }
                m.0.elapsed()
            }
            Err(_) => Duration::ZERO,
        };
        let in_flight =
            RunStats::get(&s.inputs_started).saturating_sub(RunStats::get(&s.inputs_done));
        let sink_failing = self.sinks.iter().any(|h| h.failing_for().is_some());
        let wedged = in_flight > 0 && !sink_failing && still_for >= self.stall;
        let mut pipeline = json!({
            "status": if wedged { "wedged" } else { "ok" },
            "inputs_in_flight": in_flight,
            "secs_since_progress": still_for.as_secs(),
        });
        if wedged {
            pipeline["reason"] = json!(format!(
                "{in_flight} input(s) in flight, no sink failing, and nothing has moved for {}s (metrics.stall_secs = {})",
                still_for.as_secs(),
                self.stall.as_secs()
            ));
        }
        let body = json!({
            "status": if wedged { "unhealthy" } else { "ok" },
            "components": { "pipeline": pipeline },
        });
        (!wedged, body)
    }

    /// `/ready`: (ready, body).
    pub fn readiness(&self) -> (bool, Value) {
        let mut components = Map::new();
        let mut ready = true;
        let source = match self.source.down() {
            Some(why) => {
                ready = false;
                json!({"status": "down", "kind": self.source_kind, "reason": why})
            }
            None => json!({"status": "ok", "kind": self.source_kind}),
        };
        components.insert("source".into(), source);
        for sink in &self.sinks {
            let status = match sink.failing_for() {
                Some((for_, error)) if for_ >= self.ready_sink_failing => {
                    ready = false;
                    json!({
                        "status": "failing",
                        "failing_secs": for_.as_secs(),
                        "reason": format!("every request has failed for {}s (metrics.ready_sink_failing_secs = {}); last: {error}", for_.as_secs(), self.ready_sink_failing.as_secs()),
                    })
                }
                Some((for_, error)) => json!({
                    "status": "retrying",
                    "failing_secs": for_.as_secs(),
                    "reason": error,
                }),
                None => json!({"status": "ok"}),
            };
            components.insert(format!("sink:{}", sink.id), status);
        }
        if self.has_state {
            let state = match self.state_error.lock().ok().and_then(|e| e.clone()) {
                Some(e) => {
                    ready = false;
                    json!({"status": "failing", "reason": format!("cannot commit to the state directory: {e}")})
                }
                None => json!({"status": "ok"}),
            };
            components.insert("state".into(), state);
        }
        if self.draining.load(Ordering::Relaxed) {
            ready = false;
            components.insert(
                "run".into(),
                json!({"status": "draining", "reason": "stopping: taking no new input"}),
            );
        }
        let body = json!({
            "status": if ready { "ready" } else { "not_ready" },
            "components": components,
        });
        (ready, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(kind: &'static str, limits: HealthLimits) -> (Health, Arc<SinkHealth>) {
        let sink = Arc::new(SinkHealth::new(Arc::from("es")));
        let h = Health::new(
            vec![sink.clone()],
            Arc::new(RunStats::default()),
            kind,
            true,
            Arc::new(AtomicBool::new(false)),
            limits,
        );
        (h, sink)
    }

    #[test]
    fn readiness_names_the_failing_sink_and_the_source() {
        let limits = HealthLimits {
            ready_sink_failing: Duration::from_millis(30),
            stall: Duration::from_secs(10),
        };
        let (h, sink) = health("sqs", limits);
        let (ready, body) = h.readiness();
        assert!(!ready);
        assert_eq!(body["components"]["source"]["status"], "down");
        h.source.connected();
        assert!(h.readiness().0);
        sink.failed("HTTP 503");
        let (ready, body) = h.readiness();
        assert!(ready, "retrying, not yet past the threshold: {body}");
        assert_eq!(body["components"]["sink:es"]["status"], "retrying");
        std::thread::sleep(Duration::from_millis(40));
        let (ready, body) = h.readiness();
        assert!(!ready);
        assert_eq!(body["components"]["sink:es"]["status"], "failing");
        assert!(body["components"]["sink:es"]["reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 503"));
        sink.succeeded();
        assert!(h.readiness().0, "delivery resumed");
        h.committed(Some("disk full".into()));
        let (ready, body) = h.readiness();
        assert!(
            !ready
                && body["components"]["state"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("disk full")
        );
    }

    #[test]
    fn liveness_fails_only_when_work_waits_and_nothing_moves() {
        let limits = HealthLimits {
            ready_sink_failing: Duration::from_secs(60),
            stall: Duration::from_millis(30),
        };
        let (h, sink) = health("dir", limits);
        std::thread::sleep(Duration::from_millis(40));
        assert!(h.liveness().0, "idle is alive");
        RunStats::add(&h.stats.inputs_started, 1);
        assert!(h.liveness().0, "it just moved");
        std::thread::sleep(Duration::from_millis(40));
        let (alive, body) = h.liveness();
        assert!(!alive, "{body}");
        assert!(body["components"]["pipeline"]["reason"]
            .as_str()
            .unwrap()
            .contains("1 input(s) in flight"));
        sink.failed("connection refused");
        assert!(h.liveness().0, "waiting out a sink outage is not wedged");
    }
}
