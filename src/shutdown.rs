//! The run's stop signals, in two steps.
//!
//! **Draining** (the first SIGINT or SIGTERM: Ctrl-C, a service manager, `docker stop`,
//! Kubernetes): sources take no new work, workers finish the input each has started (stdin,
//! which has no end, is cut at the next read), the reorder window is released, sinks deliver
//! everything already handed to them, retrying as usual, and the state is committed. A drain
//! that finishes is a clean end (exit 0).
//!
//! **Stopping** (a sink failed, a thread panicked, the drain outlived `shutdown_timeout_secs`):
//! everything ends as soon as it can; sinks abandon retries, and whatever was not delivered
//! stays unacknowledged, to be read again by the next run. A stop always drains too.
//!
//! A second signal during a drain exits the process at once: only what was already committed
//! counts (the next run resumes from there).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Which signal asked the run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: a service manager stopping the process.
    Terminate,
}

impl Signal {
    /// The shell's convention: 128 + the signal number.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    fn code(self) -> u8 {
        match self {
            Signal::Interrupt => 1,
            Signal::Terminate => 2,
        }
    }
}

const NO_SIGNAL: u8 = 0;

/// The drain and stop flags and the signal that set them, if any. Cheap to clone; all clones
/// are one.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    draining: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    signal: Arc<AtomicU8>,
    /// Set when the drain ran out of time and the run was stopped.
    timed_out: Arc<AtomicBool>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// The hard-stop flag: workers cut their input short, sinks abandon retries.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// The drain flag: sources take no new work, workers start no new input.
    pub fn draining_flag(&self) -> Arc<AtomicBool> {
        self.draining.clone()
    }

    /// Stops the run at once for an internal cause (a sink failed, a thread panicked).
    pub fn stop(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// A signal arrived: the first starts a drain bounded by `timeout` (then the run is
    /// stopped); returns false for a second signal, on which the caller exits at once.
    pub fn signal(&self, signal: Signal, timeout: Duration) -> bool {
        let first = self
            .signal
            .compare_exchange(
                NO_SIGNAL,
                signal.code(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if !first {
            return false;
        }
        self.draining.store(true, Ordering::Relaxed);
        let (stop, timed_out) = (self.stop.clone(), self.timed_out.clone());
        let _ = std::thread::Builder::new()
            .name("trailhose-drain-timer".into())
            .spawn(move || {
                std::thread::sleep(timeout);
                if !stop.load(Ordering::Relaxed) {
                    eprintln!(
                        "trailhose: warning: the drain did not finish within {}s (pipeline.shutdown_timeout_secs): stopping; what was not delivered is not acknowledged",
                        timeout.as_secs()
                    );
                    timed_out.store(true, Ordering::Relaxed);
                    stop.store(true, Ordering::Relaxed);
                }
            });
        true
    }

    /// Whether the run is stopping at once (for whatever cause).
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Whether the run takes no new work (a drain or a stop).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether a drain ran past its time and was cut short.
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// The signal that stopped the run, if one did.
    pub fn received(&self) -> Option<Signal> {
        match self.signal.load(Ordering::Acquire) {
            1 => Some(Signal::Interrupt),
            2 => Some(Signal::Terminate),
            _ => None,
        }
    }

    /// Feeds SIGINT and SIGTERM into this shutdown, from tasks on `runtime`: the first starts
    /// a drain of at most `timeout`, a second exits the process at once.
    pub fn listen(&self, runtime: &tokio::runtime::Handle, timeout: Duration) {
        let on_interrupt = self.clone();
        runtime.spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                on_interrupt.received_signal(Signal::Interrupt, timeout);
            }
        });
        #[cfg(unix)]
        {
            let on_terminate = self.clone();
            runtime.spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                if let Ok(mut term) = signal(SignalKind::terminate()) {
                    while term.recv().await.is_some() {
                        on_terminate.received_signal(Signal::Terminate, timeout);
                    }
                }
            });
        }
    }

    fn received_signal(&self, signal: Signal, timeout: Duration) {
        if self.signal(signal, timeout) {
            eprintln!(
                "trailhose: {}: draining (taking no new input, delivering what is in flight; up to {}s; a second signal exits at once)",
                signal.name(),
                timeout.as_secs()
            );
        } else {
            eprintln!(
                "trailhose: {} again: exiting at once; the next run resumes from the last committed state",
                signal.name()
            );
            std::process::exit(signal.exit_code());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_drains_and_is_reported_and_internal_stops_have_none() {
        let s = Shutdown::new();
        let polled = s.flag();
        s.stop();
        assert!(polled.load(Ordering::Relaxed) && s.is_draining());
        assert_eq!(s.received(), None);
        let s = Shutdown::new();
        assert!(s.signal(Signal::Terminate, Duration::from_secs(60)));
        assert!(s.is_draining() && !s.is_stopping(), "a signal drains first");
        assert!(!s.signal(Signal::Interrupt, Duration::from_secs(60)));
        assert_eq!(s.received(), Some(Signal::Terminate));
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }

    #[test]
    fn a_drain_past_its_time_becomes_a_stop() {
        let s = Shutdown::new();
        s.signal(Signal::Interrupt, Duration::from_millis(20));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !s.is_stopping() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(s.is_stopping() && s.timed_out());
    }
}
