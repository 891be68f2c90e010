//! A sink that POSTs batches of records, framed as its intake wants them, to one URL: what the
//! Datadog, Loggly and generic HTTP sinks are, each with its own [`Framing`] and caps. Reads
//! the status as [`read_status`] says (413 and a 400 for the body are bisected down to the record
//! that causes them; 401/403 retried within the credentials budget, then the run fails) and,
//! where the intake answers 2xx with a body that says more, checks it.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Uri};

use super::http::{read_status, send_bisecting, Answer, Attempt, Caps, HttpClient};
use super::{split_by_caps, Batch, DeliverySettings, Request, Response, Sink, SinkFuture};

/// How records become one request body.
pub trait Framing: Send + Sync + 'static {
    /// The body's content type.
    fn content_type(&self) -> &'static str;
    /// Appends the whole body for `records` (batch indexes).
    fn body(&self, batch: &Batch, records: &[usize], out: &mut Vec<u8>);
    /// Bytes record `i` adds to a body (its entry and separator), for cutting requests at the
    /// byte cap; the body's own brackets fit in the cap's margin.
    fn entry_bytes(&self, batch: &Batch, i: usize) -> usize;
}

/// Whether a 2xx answer's body confirms the records were taken (Loggly answers
/// `{"response" : "ok"}`); `Err` says what it said instead.
pub type AcceptCheck = fn(&Answer) -> Result<(), String>;

/// An intake sink: one URL, one framing, per-request caps.
pub struct IntakeSink {
    /// What the intake is called in messages (`Datadog`, `Loggly`, `the HTTP endpoint`).
    pub what: &'static str,
    pub uri: Uri,
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub framing: Box<dyn Framing>,
    pub caps: Caps,
    /// The largest record (its entry) the intake takes; larger ones are dead-lettered.
    pub max_entry_bytes: usize,
    pub client: HttpClient,
    pub settings: DeliverySettings,
    pub accept: Option<AcceptCheck>,
}

impl IntakeSink {
    pub fn into_sink(self) -> Arc<dyn Sink> {
        Arc::new(self)
    }

    async fn send(&self, batch: &Batch, records: Vec<usize>) -> Attempt {
        let mut body = Vec::new();
        self.framing.body(batch, &records, &mut body);
        let answer = match self
            .client
            .send(
                self.method.clone(),
                &self.uri,
                self.framing.content_type(),
                &self.headers,
                Bytes::from(body),
            )
            .await
        {
            Ok(a) => a,
            Err(error) => {
                return Attempt::Answered(Response::Retry {
                    error,
                    retry_after: None,
                })
            }
        };
        self.read(&answer)
    }

    fn read(&self, answer: &Answer) -> Attempt {
        if let Err(attempt) = read_status(&self.client, &self.settings, self.what, answer) {
            return attempt;
        }
        match self.accept.map_or(Ok(()), |check| check(answer)) {
            Ok(()) => Attempt::Answered(Response::Delivered),
            Err(said) => Attempt::Answered(Response::Retry {
                error: format!("{} answered {} but {said}", self.what, answer.status),
                retry_after: None,
            }),
        }
    }
}

impl Sink for IntakeSink {
    fn deliver<'a>(&'a self, request: &'a Request) -> SinkFuture<'a, Response> {
        Box::pin(async move {
            let batch = &request.batch;
            let send = |records: Vec<usize>| -> SinkFuture<'a, Attempt> {
                Box::pin(self.send(batch, records))
            };
            send_bisecting(request.indexes().collect(), &send).await
        })
    }

    fn requests(&self, batch: &Batch) -> Vec<Range<usize>> {
        split_by_caps(batch.len(), self.caps.events, self.caps.bytes, |i| {
            self.framing.entry_bytes(batch, i)
        })
    }

    fn max_record_bytes(&self) -> Option<usize> {
        Some(self.max_entry_bytes)
    }

    fn wants_keys(&self) -> bool {
        true
    }
}

/// Records as NDJSON: each its line (Loggly's bulk endpoint, generic HTTP).
pub struct NdjsonFraming;

impl Framing for NdjsonFraming {
    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn body(&self, batch: &Batch, records: &[usize], out: &mut Vec<u8>) {
        for &i in records {
            out.extend_from_slice(batch.line(i));
        }
    }

    fn entry_bytes(&self, batch: &Batch, i: usize) -> usize {
        batch.range(i).len()
    }
}

/// Records as one JSON array (generic HTTP with `framing = "json_array"`).
pub struct JsonArrayFraming;

impl Framing for JsonArrayFraming {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn body(&self, batch: &Batch, records: &[usize], out: &mut Vec<u8>) {
        out.push(b'[');
        for (k, &i) in records.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.extend_from_slice(batch.record(i));
        }
        out.push(b']');
    }

    fn entry_bytes(&self, batch: &Batch, i: usize) -> usize {
        batch.range(i).len()
    }
}
