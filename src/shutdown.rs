//! The run's one stop signal. SIGINT (Ctrl-C) and SIGTERM (a service manager, `docker stop`,
//! Kubernetes) both feed it, and so do internal causes (a sink failed, a thread panicked). Every
//! stage polls the same flag: the source stops listing, workers stop decoding, sinks deliver what
//! is already in their channels but abandon retries, and whatever was not delivered stays
//! unacknowledged, to be read again by the next run.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

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
}

const NO_SIGNAL: u8 = 0;

/// The stop flag and the signal that set it, if any. Cheap to clone; all clones are one.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    stop: Arc<AtomicBool>,
    signal: Arc<AtomicU8>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// The flag stages poll (true once the run is stopping, for whatever cause).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Stops the run for an internal cause (a sink failed, a thread panicked).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops the run because of a signal; the first signal is the one reported.
    pub fn signal(&self, signal: Signal) {
        let code = match signal {
            Signal::Interrupt => 1,
            Signal::Terminate => 2,
        };
        let _ = self
            .signal
            .compare_exchange(NO_SIGNAL, code, Ordering::AcqRel, Ordering::Acquire);
        self.stop();
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The signal that stopped the run, if one did.
    pub fn received(&self) -> Option<Signal> {
        match self.signal.load(Ordering::Acquire) {
            1 => Some(Signal::Interrupt),
            2 => Some(Signal::Terminate),
            _ => None,
        }
    }

    /// Feeds SIGINT and SIGTERM into this shutdown, from tasks on `runtime`.
    pub fn listen(&self, runtime: &tokio::runtime::Handle) {
        let on_interrupt = self.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_interrupt.signal(Signal::Interrupt);
            }
        });
        #[cfg(unix)]
        {
            let on_terminate = self.clone();
            runtime.spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                if let Ok(mut term) = signal(SignalKind::terminate()) {
                    if term.recv().await.is_some() {
                        on_terminate.signal(Signal::Terminate);
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_is_reported_and_internal_stops_have_none() {
        let s = Shutdown::new();
        let polled = s.flag();
        s.stop();
        assert!(polled.load(Ordering::Relaxed));
        assert_eq!(s.received(), None);
        s.signal(Signal::Terminate);
        s.signal(Signal::Interrupt);
        assert_eq!(s.received(), Some(Signal::Terminate));
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }
}
