//! The scripted sink: an in-process sink whose answers a test writes (deliver, fail n times,
//! answer with a Retry-After, retry some records, reject given events, stall until released),
//! and which counts every record it delivered by `eventID`. It is how the sink contract is
//! tested: it has no config syntax, only `SinkConfig::Scripted` built in code.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{
    BuildError, DeliverySettings, RecordOutcome, Request, Response, Sink, SinkContext, SinkError,
    SinkFuture, SinkSpec,
};
use crate::transform::normalize::Format;

/// One scripted answer, used by one `deliver` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Deliver (rejecting the events in the reject list).
    Deliver,
    /// The whole request fails and may be retried, after the server's wait if given.
    Retry { retry_after: Option<Duration> },
    /// Every second record of the request (the 2nd, 4th, ...) is answered "retry"; the others
    /// are delivered.
    RetryEverySecond,
    /// Sending fails for good.
    Fatal,
    /// Wait until [`Script::release`], then deliver.
    Stall,
}

/// What a test tells the sink, and what the sink saw.
#[derive(Debug, Default)]
pub struct Script {
    state: Mutex<ScriptState>,
    released: Notify,
}

#[derive(Debug, Default)]
struct ScriptState {
    steps: VecDeque<Step>,
    reject: HashSet<String>,
    stalled: bool,
    /// Deliveries by eventID (records without one count under "").
    delivered: HashMap<String, u32>,
    delivered_total: u64,
    /// When each `deliver` call came, and how many records it carried.
    calls: Vec<(Instant, usize)>,
}

impl Script {
    /// A script whose calls take `steps` in order, then deliver.
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Script> {
        let script = Script::default();
        if let Ok(mut s) = script.state.lock() {
            s.steps = steps.into_iter().collect();
        }
        Arc::new(script)
    }

    /// Records with these eventIDs are always rejected.
    pub fn reject(&self, event_ids: impl IntoIterator<Item = String>) {
        if let Ok(mut s) = self.state.lock() {
            s.reject.extend(event_ids);
        }
    }

    /// Ends a stall: the stalled call and every later one deliver.
    pub fn release(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.stalled = false;
            s.steps.retain(|step| *step != Step::Stall);
        }
        self.released.notify_waiters();
    }

    /// Whether a call is stalled now.
    pub fn is_stalled(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.stalled)
    }

    /// Records delivered, counting repeats.
    pub fn delivered_total(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.delivered_total)
    }

    /// Deliveries per eventID.
    pub fn delivered(&self) -> HashMap<String, u32> {
        self.state
            .lock()
            .map(|s| s.delivered.clone())
            .unwrap_or_default()
    }

    /// Each call's time and record count.
    pub fn calls(&self) -> Vec<(Instant, usize)> {
        self.state
            .lock()
            .map(|s| s.calls.clone())
            .unwrap_or_default()
    }
}

/// `SinkConfig::Scripted`: built in code by tests.
#[derive(Debug, Clone)]
pub struct ScriptedSinkConfig {
    pub name: Option<String>,
    pub format: Format,
    pub script: Arc<Script>,
    pub settings: DeliverySettings,
    /// Records over this many bytes are rejected by the delivery loop.
    pub max_record_bytes: Option<usize>,
}

impl ScriptedSinkConfig {
    /// Raw records, one request at a time, quick retries and no budget.
    pub fn new(script: Arc<Script>) -> Self {
        ScriptedSinkConfig {
            name: None,
            format: Format::Raw,
            script,
            settings: DeliverySettings {
                concurrency: 1,
                timeout: None,
                backoff: super::retry::Backoff {
                    initial: Duration::from_millis(10),
                    max: Duration::from_millis(100),
                },
                max_retry_duration: None,
                retry_after_max: Duration::from_secs(30),
            },
            max_record_bytes: None,
        }
    }
}

impl PartialEq for ScriptedSinkConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.script, &other.script)
    }
}

impl SinkSpec for ScriptedSinkConfig {
    fn type_name(&self) -> &'static str {
        "scripted"
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn format(&self) -> Format {
        self.format
    }

    fn validate(&self, _key: &str) -> Result<(), String> {
        Ok(())
    }

    fn delivery(&self) -> DeliverySettings {
        self.settings.clone()
    }

    fn build(&self, _cx: &SinkContext) -> Result<Arc<dyn Sink>, BuildError> {
        Ok(Arc::new(ScriptedSink {
            script: self.script.clone(),
            max_record_bytes: self.max_record_bytes,
        }))
    }
}

struct ScriptedSink {
    script: Arc<Script>,
    max_record_bytes: Option<usize>,
}

impl ScriptedSink {
    fn next_step(&self, records: usize) -> Step {
        match self.script.state.lock() {
            Ok(mut s) => {
                s.calls.push((Instant::now(), records));
                let step = s.steps.pop_front().unwrap_or(Step::Deliver);
                if step == Step::Stall {
                    s.stalled = true;
                }
                step
            }
            Err(_) => Step::Fatal,
        }
    }

    /// Delivers what is not rejected (and not picked for a retry); one outcome per record.
    fn answer(&self, request: &Request, retry_every_second: bool) -> Response {
        let Ok(mut s) = self.script.state.lock() else {
            return Response::Fatal(SinkError::Internal("script lock poisoned".into()));
        };
        let mut outcomes = Vec::with_capacity(request.len());
        for (n, i) in request.indexes().enumerate() {
            let id = request
                .batch
                .keys
                .get(i)
                .map(|k| k.event_id.to_string())
                .unwrap_or_default();
            if retry_every_second && n % 2 == 1 {
                outcomes.push(RecordOutcome::Retry("scripted: busy".into()));
            } else if s.reject.contains(&id) {
                outcomes.push(RecordOutcome::Rejected(format!(
                    "scripted: event {id} refused"
                )));
            } else {
                *s.delivered.entry(id).or_default() += 1;
                s.delivered_total += 1;
                outcomes.push(RecordOutcome::Delivered);
            }
        }
        if outcomes.iter().all(|o| *o == RecordOutcome::Delivered) {
            Response::Delivered
        } else {
            Response::PerRecord(outcomes)
        }
    }
}

impl Sink for ScriptedSink {
    fn deliver<'a>(&'a self, request: &'a Request) -> SinkFuture<'a, Response> {
        Box::pin(async move {
            match self.next_step(request.len()) {
                Step::Deliver => self.answer(request, false),
                Step::RetryEverySecond => self.answer(request, true),
                Step::Retry { retry_after } => Response::Retry {
                    error: "scripted: unavailable".into(),
                    retry_after,
                },
                Step::Fatal => Response::Fatal(SinkError::Refused("scripted: refused".into())),
                Step::Stall => {
                    loop {
                        let released = self.script.released.notified();
                        if !self.script.is_stalled() {
                            break;
                        }
                        released.await;
                    }
                    self.answer(request, false)
                }
            }
        })
    }

    fn max_record_bytes(&self) -> Option<usize> {
        self.max_record_bytes
    }

    fn wants_keys(&self) -> bool {
        true
    }
}
