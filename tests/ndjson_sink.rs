//! The NDJSON sink and the dead-letter output on the sink contract: `append` keeps a file's
//! whole lines and cuts a partial last line a killed run left, so a file only ever holds
//! whole records, also after `kill -9`; sink names and options are checked at start.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn write_config(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, body).expect("write config");
    path
}

/// Every line of `path` parses as JSON; returns them.
fn whole_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends in a partial line",
        path.display()
    );
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a whole record ({e}): {l}"))
        })
        .collect()
}

#[test]
fn append_keeps_whole_lines_and_cuts_a_partial_last_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        trail_file(&(10..20).map(record).collect::<Vec<_>>()),
    )
    .expect("write");
    let out = dir.path().join("out.ndjson");
    let dead = dir.path().join("dead.ndjson");
    // What a killed run left: two whole records and the start of a third, in both files.
    let left = format!("{}\n{}\n{{\"eventVersion\":\"1.0", record(1), record(2));
    std::fs::write(&out, &left).expect("write");
    std::fs::write(&dead, "{\"origin\":\"x\",\"offset\":0}\n{\"orig").expect("write");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"Records\":[{\"eventVersion\":").expect("write");
    let config = write_config(
        dir.path(),
        &format!(
            "[source]\ntype = \"dir\"\npaths = [\"{}\", \"{}\"]\n[[sink]]\ntype = \"ndjson\"\npath = \"{}\"\nappend = true\nsync = true\n[pipeline]\ndead_letter = \"{}\"\ndead_letter_append = true\ndead_letter_sync = true\n",
            input.display(),
            bad.display(),
            out.display(),
            dead.display()
        ),
    );
    let o = trailhose(&["run", config.to_str().expect("path"), "-q"], None);
    assert_eq!(o.status.code(), Some(1), "one bad input: {}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cut 20 bytes of a partial last line"), "{err}");
    let lines = whole_lines(&out);
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["eventID"].as_str().unwrap())
        .collect();
    let mut expected = vec!["id-1".to_string(), "id-2".to_string()];
    expected.extend((10..20).map(|i| format!("id-{i}")));
    assert_eq!(ids, expected);
    let dead_lines = whole_lines(&dead);
    assert_eq!(dead_lines.len(), 2, "the old whole line and the new entry");
    assert!(dead_lines[1]["origin"]
        .as_str()
        .unwrap()
        .ends_with("bad.json"));
}

#[test]
fn a_killed_run_leaves_whole_lines_after_the_next_start() {
    let archive = gen_archive("150000");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let config = write_config(
        dir.path(),
        &format!(
            "[source]\ntype = \"dir\"\npaths = [\"{}\"]\n[[sink]]\ntype = \"ndjson\"\npath = \"{}\"\nappend = true\n[pipeline]\nbatch_bytes = 8388608\n",
            archive.path().display(),
            out.display()
        ),
    );
    let mut child = Command::new(bin())
        .args(["run", config.to_str().expect("path"), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Kill it while it writes (8 MiB batches: a write is likely under way).
    let started = Instant::now();
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 30 << 20 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no output written"
        );
        if child.try_wait().expect("try_wait").is_some() {
            panic!("the run ended before it could be killed; make the archive larger");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let killed_len = std::fs::metadata(&out).expect("out").len();

    // Restarting (here over a file with nothing to read) repairs the file before writing.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[source]\ntype = \"dir\"\npaths = [\"{}\"]\n[[sink]]\ntype = \"ndjson\"\npath = \"{}\"\nappend = true\n",
            empty.display(),
            out.display()
        ),
    );
    let o = trailhose(&["run", config.to_str().expect("path"), "-q"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines = whole_lines(&out);
    assert!(lines.len() > 10_000, "{}", lines.len());
    assert!(std::fs::metadata(&out).expect("out").len() <= killed_len);
}

#[test]
fn sink_names_and_options_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |body: &str| {
        let config = write_config(dir.path(), body);
        let o = trailhose(&["validate", config.to_str().expect("path")], None);
        assert_eq!(o.status.code(), Some(2), "{body}");
        stderr(&o)
    };
    let head = "[source]\ntype = \"stdin\"\n";
    let e = check(&format!(
        "{head}[[sink]]\ntype = \"ndjson\"\nname = \"out\"\npath = \"a\"\n[[sink]]\ntype = \"ndjson\"\nname = \"out\"\npath = \"b\"\n"
    ));
    assert!(
        e.contains("sink[1] and sink[0] are both named \"out\""),
        "{e}"
    );
    let e = check(&format!(
        "{head}[[sink]]\ntype = \"ndjson\"\nname = \"my sink\"\n"
    ));
    assert!(
        e.contains("sink[0].name = \"my sink\"") && e.contains("letters, digits"),
        "{e}"
    );
    let e = check(&format!(
        "{head}[[sink]]\ntype = \"ndjson\"\nappend = true\n"
    ));
    assert!(
        e.contains("sink[0].append") && e.contains("give it a path"),
        "{e}"
    );
    let e = check(&format!(
        "{head}[[sink]]\ntype = \"ndjson\"\n[pipeline]\ndead_letter_sync = true\n"
    ));
    assert!(e.contains("pipeline.dead_letter"), "{e}");
    let e = check(&format!("{head}[[sink]]\ntype = \"scripted\"\n"));
    assert!(e.contains("scripted") && e.contains("ndjson"), "{e}");

    // --check-connectivity runs the sinks' health checks without touching their files.
    let kept = dir.path().join("kept.ndjson");
    std::fs::write(&kept, "{}\n").expect("write");
    let config = write_config(
        dir.path(),
        &format!(
            "{head}[[sink]]\ntype = \"ndjson\"\npath = \"{}\"\n",
            kept.display()
        ),
    );
    let o = trailhose(
        &[
            "validate",
            "--check-connectivity",
            config.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&kept).expect("kept"), b"{}\n");
    let config = write_config(
        dir.path(),
        &format!(
            "{head}[[sink]]\ntype = \"ndjson\"\npath = \"{}/no/such/dir/x.ndjson\"\n",
            dir.path().display()
        ),
    );
    let o = trailhose(
        &[
            "validate",
            "--check-connectivity",
            config.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    // Without the flag only the config is checked.
    let o = trailhose(&["validate", config.to_str().expect("path")], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
