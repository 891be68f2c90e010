//! Progress and the closing summary: a redrawn status line on stderr when it is a terminal,
//! and one summary line at the end. Also samples channel depths into gauges, since it already
//! wakes up on a timer. Reads counters; never touches the data path.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics as m;
use crate::stats::RunStats;

/// A channel whose depth is reported: its name and a probe giving (depth, capacity).
pub type ChannelProbe = (String, Box<dyn Fn() -> (usize, usize) + Send>);

/// A gauge sampled on the same timer: its metric name and a probe giving its value.
pub type GaugeProbe = (&'static str, Box<dyn Fn() -> f64 + Send>);

/// The background thread that draws progress and samples channel depths.
pub struct Monitor {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    drew: bool,
}

/// Whether a progress line should be drawn: stderr is a terminal and output is not quiet.
pub fn progress_wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

impl Monitor {
    pub fn spawn(
        stats: Arc<RunStats>,
        draw: bool,
        probes: Vec<ChannelProbe>,
        gauges: Vec<GaugeProbe>,
        started: Instant,
    ) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::Builder::new()
            .name("trailhose-monitor".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for (name, probe) in &probes {
                        let (depth, capacity) = probe();
                        metrics::gauge!(m::CHANNEL_DEPTH, "channel" => name.clone())
                            .set(depth as f64);
                        metrics::gauge!(m::CHANNEL_CAPACITY, "channel" => name.clone())
                            .set(capacity as f64);
                    }
                    for (name, probe) in &gauges {
                        metrics::gauge!(*name).set(probe());
                    }
                    if draw {
                        let line = progress_line(&stats, started.elapsed());
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "\r\x1b[2K{line}");
                        let _ = err.flush();
                    }
                    std::thread::park_timeout(Duration::from_millis(250));
                }
            })
            .ok();
        Monitor {
            done,
            thread,
            drew: draw,
        }
    }

    /// Stops the thread and clears the progress line.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        if self.drew {
            eprint!("\r\x1b[2K");
        }
    }
}

fn progress_line(s: &RunStats, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let done = RunStats::get(&s.inputs_done);
    let total = RunStats::get(&s.inputs_known);
    let decompressed = RunStats::get(&s.decompressed_bytes) as f64;
    let compressed = RunStats::get(&s.compressed_bytes) as f64;
    let known = RunStats::get(&s.input_bytes_known) as f64;
    let inputs = if total > 0 {
        format!("{done}/{total}")
    } else {
        done.to_string()
    };
    let mut line = format!(
        "inputs {inputs} · {} records · {:.1} MB/s",
        thousands(RunStats::get(&s.records_in)),
        decompressed / secs / 1e6
    );
    if known > 0.0 && compressed > 0.0 {
        let eta = ((known - compressed).max(0.0) / (compressed / secs)) as u64;
        line.push_str(&format!(" · ETA {}:{:02}", eta / 60, eta % 60));
    }
    line
}

/// The closing summary line.
pub fn summary_line(s: &RunStats, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let records = RunStats::get(&s.records_out);
    let passed_over = match RunStats::get(&s.inputs_skipped) {
        0 => String::new(),
        n => format!("; {} files not read (hidden or empty)", thousands(n)),
    };
    let passed_over = match RunStats::get(&s.inputs_done_before) {
        0 => passed_over,
        n => format!(
            "{passed_over}; {} inputs done by an earlier run (the checkpoint)",
            thousands(n)
        ),
    };
    format!(
        "trailhose: {} records out ({} in, {} dropped) from {} inputs in {:.2} s: {} records/s, {:.1} MB/s decompressed; {} errors, {} dead-lettered, {} skipped{passed_over}",
        thousands(records),
        thousands(RunStats::get(&s.records_in)),
        thousands(RunStats::get(&s.dropped)),
        thousands(RunStats::get(&s.inputs_done)),
        secs,
        thousands((records as f64 / secs) as u64),
        RunStats::get(&s.decompressed_bytes) as f64 / secs / 1e6,
        thousands(RunStats::get(&s.errors)),
        thousands(RunStats::get(&s.dead_lettered)),
        thousands(RunStats::get(&s.skipped)),
    )
}

/// 1234567 as "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(1234567), "1,234,567");
        assert_eq!(super::thousands(100), "100");
    }
}
