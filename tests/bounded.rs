//! Bounded memory and backpressure: a 1 GiB single-line trail file stays under 256 MiB of peak
//! RSS with default settings; a slow reader slows the reading instead of growing memory; and
//! `trailhose replay ... | head` ends quietly.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

const MIB: u64 = 1 << 20;

/// Peak resident memory of a live process, in bytes (Linux `VmHWM`).
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples a child's peak RSS until `done` is set; returns the last (largest) reading.
fn watch_peak(pid: u32, done: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !done.load(Ordering::Relaxed) {
            if let Some(p) = peak_rss(pid) {
                peak = peak.max(p);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

/// Writes `{"Records":[r,r,...]}` with no newline, `total` bytes or a little more, counting
/// what it wrote in `fed`.
fn feed_single_line(mut pipe: impl Write, total: u64, fed: Arc<AtomicU64>) -> u64 {
    let mut records = 0u64;
    let mut chunk = String::new();
    for i in 0..1000 {
        if i > 0 {
            chunk.push(',');
        }
        chunk.push_str(&record(i));
    }
    let head = b"{\"Records\":[";
    if pipe.write_all(head).is_err() {
        return 0;
    }
    let mut written = head.len() as u64;
    while written < total {
        if records > 0 && pipe.write_all(b",").is_err() {
            return records;
        }
        if pipe.write_all(chunk.as_bytes()).is_err() {
            return records;
        }
        records += 1000;
        written += chunk.len() as u64 + 1;
        fed.store(written, Ordering::Relaxed);
    }
    let _ = pipe.write_all(b"]}");
    records
}

/// Reads the child's stderr to its end, then waits for it.
fn wait_with_stderr(child: &mut Child) -> (std::process::ExitStatus, String) {
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut err).expect("stderr");
    }
    (child.wait().expect("wait"), err)
}

fn spawn(args: &[&str], stdout: Stdio) -> Child {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trailhose")
}

#[test]
fn one_gib_single_line_trail_file_stays_under_256_mib() {
    let mut child = spawn(&["replay", "-", "-o", "/dev/null"], Stdio::null());
    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch_peak(child.id(), done.clone());
    let stdin = child.stdin.take().expect("stdin");
    let fed = Arc::new(AtomicU64::new(0));
    let records = feed_single_line(stdin, 1024 * MIB, fed);
    let (status, err) = wait_with_stderr(&mut child);
    done.store(true, Ordering::Relaxed);
    let peak = watcher.join().expect("watcher");
    assert_eq!(status.code(), Some(0), "{err}");
    // The feeder repeats 1,000 records: with the default dedupe on, each comes out once and
    // every repeat is counted as dropped.
    let summary = format!(
        "1,000 records out ({} in, {} dropped)",
        trailhose::progress::thousands(records),
        trailhose::progress::thousands(records - 1000)
    );
    assert!(err.contains(&summary), "{err}");
    assert!(peak > 0, "peak RSS was never read");
    assert!(
        peak < 256 * MIB,
        "peak RSS {} MiB for a 1 GiB single-line input",
        peak / MIB
    );
    eprintln!(
        "1 GiB single line: {records} records, peak RSS {} MiB",
        peak / MIB
    );
}

#[test]
fn a_slow_reader_slows_the_source_instead_of_growing_memory() {
    // The feeder repeats its records: without dedupe every one of them comes out.
    let mut child = spawn(&["replay", "-", "-q", "--no-dedupe"], Stdio::piped());
    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch_peak(child.id(), done.clone());
    let stdin = child.stdin.take().expect("stdin");
    let fed = Arc::new(AtomicU64::new(0));
    let feeder = {
        let fed = fed.clone();
        std::thread::spawn(move || feed_single_line(stdin, 400 * MIB, fed))
    };
    // Read slowly for two seconds: about 3 MB/s against a pipeline that does hundreds.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buf = vec![0u8; 16 * 1024];
    let mut read = 0u64;
    let mut lines = 0u64;
    for _ in 0..200 {
        let n = stdout.read(&mut buf).expect("read");
        read += n as u64;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        std::thread::sleep(Duration::from_millis(10));
    }
    let fed_while_slow = fed.load(Ordering::Relaxed);
    // What is in flight is bounded by the channels and pipes, not by the input's size.
    assert!(
        fed_while_slow < read + 120 * MIB,
        "the source ran ahead of a slow reader: {} MiB fed, {} MiB read",
        fed_while_slow / MIB,
        read / MIB
    );
    // Now read fast to the end: everything arrives.
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    loop {
        let chunk = reader.fill_buf().expect("read");
        if chunk.is_empty() {
            break;
        }
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        let n = chunk.len();
        reader.consume(n);
    }
    let records = feeder.join().expect("feeder");
    let status = child.wait().expect("wait");
    done.store(true, Ordering::Relaxed);
    let peak = watcher.join().expect("watcher");
    assert_eq!(status.code(), Some(0));
    assert!(peak < 256 * MIB, "peak RSS {} MiB", peak / MIB);
    assert_eq!(
        lines, records,
        "every record arrives once the reader speeds up"
    );
}

#[test]
fn piping_into_head_ends_quietly() {
    let dir = gen_archive("20000");
    let mut child = spawn(
        &["replay", dir.path().to_str().expect("path")],
        Stdio::piped(),
    );
    drop(child.stdin.take());
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("line");
    // The reader is gone (as `head -1` would be) once the BufReader above is dropped.
    let (status, err) = wait_with_stderr(&mut child);
    assert!(first.starts_with("{\"eventVersion\""), "{first}");
    assert_eq!(status.code(), Some(0), "{status:?} {err}");
    assert!(
        !err.contains("error:") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn a_failing_sink_stops_the_run_with_exit_3() {
    // /dev/full fails every write with ENOSPC, as a full disk does.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("a.json");
    std::fs::write(
        &input,
        trail_file(&(0..100).map(record).collect::<Vec<_>>()),
    )
    .expect("write");
    let out = trailhose(
        &["replay", input.to_str().expect("path"), "-o", "/dev/full"],
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("sink ndjson_0 failed") && err.contains("/dev/full"),
        "{err}"
    );
}

/// Stops a live run with `signal` and checks it ends with `code` after writing whole lines.
fn signal_flushes_whole_lines(signal: &str, code: i32) {
    let mut child = spawn(&["replay", "-", "-q"], Stdio::piped());
    let stdin = child.stdin.take().expect("stdin");
    let fed = Arc::new(AtomicU64::new(0));
    // A feeder that never finishes on its own: the run only ends by the signal.
    std::thread::spawn(move || feed_single_line(stdin, u64::MAX, fed));
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    std::thread::sleep(Duration::from_millis(500));
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let (status, err) = wait_with_stderr(&mut child);
    let out = reader.join().expect("reader");
    assert_eq!(status.code(), Some(code), "{err}");
    assert!(!out.is_empty(), "nothing was written before the signal");
    assert_eq!(out.last(), Some(&b'\n'), "output ends mid-line");
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(line).expect("every line is a whole record");
    }
}

/// Ctrl-C drains a sidecar: stdin is read no further, what was read is delivered, and the
/// drain ends cleanly (exit 0).
#[test]
fn ctrl_c_drains_whole_lines_and_exits_0() {
    signal_flushes_whole_lines("-INT", 0);
}

/// SIGTERM (a service manager, `docker stop`) drains the same way.
#[test]
fn sigterm_drains_whole_lines_and_exits_0() {
    signal_flushes_whole_lines("-TERM", 0);
}

#[test]
fn progress_line_only_on_a_terminal() {
    let dir = gen_archive("20000");
    let replay = format!(
        "{} replay {} -o /dev/null",
        bin().display(),
        dir.path().display()
    );
    // Not a terminal: only the summary line.
    let plain = Command::new("bash")
        .args(["-c", &replay])
        .output()
        .expect("run");
    let plain_err = String::from_utf8_lossy(&plain.stderr);
    assert!(
        !plain_err.contains('\x1b') && plain_err.contains("records out"),
        "{plain_err}"
    );
    // A terminal (script gives the command a pseudo-terminal): the redrawn progress line too.
    let tty = match Command::new("script")
        .args(["-qec", &replay, "/dev/null"])
        .output()
    {
        Ok(o) => o,
        Err(_) if std::env::var_os("CI").is_none() => return eprintln!("SKIPPED: no script(1)"),
        Err(e) => panic!("script(1) is needed: {e}"),
    };
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(
        screen.contains("\x1b[2Kinputs "),
        "no progress line: {screen:?}"
    );
    assert!(
        screen.contains(" records · ") && screen.contains(" MB/s"),
        "{screen:?}"
    );
    assert!(
        screen.contains("records out (20,"),
        "no summary: {screen:?}"
    );
}
