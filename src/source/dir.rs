//! The directory source: files and directory trees (a synced `AWSLogs/` tree, say), listed in
//! trail time order across accounts and regions, so later stages see calls roughly as they
//! happened. Memory follows one day of file names, not the whole tree: day folders
//! (`.../YYYY/MM/DD`) are noted while walking and listed only when their day comes.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A file to read, with its size when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub path: PathBuf,
    pub size: u64,
}

/// A listed file's place in the walk's order, as a string that sorts the same way (the day
/// folder or named day, the delivery time, the path), for the replay checkpoint: a restarted
/// walk skips every file at or before the checkpoint's `through`.
pub fn order_key(day: u64, file: &ListedFile) -> String {
    format!(
        "{day:08}{:014} {}",
        name_key(&file.path).unwrap_or(0),
        file.path.to_string_lossy()
    )
}

/// The delivery time in a trail file name (`..._20240131T2355Z_...` or a digest's
/// `..._20240131T235500Z...`), as the number YYYYMMDDHHMMSS, for ordering.
pub fn trail_time_key(name: &str) -> Option<u64> {
    let b = name.as_bytes();
    let mut i = 8;
    while i < b.len() {
        if b[i] == b'T' && b[i - 8..i].iter().all(u8::is_ascii_digit) {
            let rest = &b[i + 1..];
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            if (digits == 4 || digits == 6) && rest.get(digits) == Some(&b'Z') {
                let date: u64 = std::str::from_utf8(&b[i - 8..i]).ok()?.parse().ok()?;
                let time: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
                let time = if digits == 4 { time * 100 } else { time };
                return Some(date * 1_000_000 + time);
            }
        }
        i += 1;
    }
    None
}

/// The day of a `.../YYYY/MM/DD` folder, as YYYYMMDD.
fn day_folder_key(dir: &Path) -> Option<u64> {
    let mut parts = dir.iter().rev().map(|p| p.to_str());
    let (d, m, y) = (parts.next()??, parts.next()??, parts.next()??);
    let all_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_digit());
    if all_digits(y, 4) && all_digits(m, 2) && all_digits(d, 2) {
        Some(
            y.parse::<u64>().ok()? * 10_000
                + m.parse::<u64>().ok()? * 100
                + d.parse::<u64>().ok()?,
        )
    } else {
        None
    }
}

#[derive(Default)]
struct Day {
    folders: Vec<PathBuf>,
    files: Vec<ListedFile>,
}

/// How a walk treats what real trees hold beside trail files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkOptions {
    /// Read hidden files and folders (names starting with `.`) too.
    pub hidden: bool,
}

/// Why a file or folder found in a walk was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Its name starts with `.` (`.DS_Store`, `.git/`, a sync tool's marker), as ripgrep skips.
    Hidden,
    /// Zero bytes: `aws s3 sync` and folder-marker objects leave such files in real trees.
    Empty,
}

impl SkipReason {
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Hidden => "hidden",
            SkipReason::Empty => "empty",
        }
    }
}

/// What a walk does with each file it finds.
pub struct Walk<'a> {
    pub options: WalkOptions,
    /// Called with each file to read, in order, and its `order_key`; returns false to stop.
    pub emit: &'a mut dyn FnMut(ListedFile, String) -> bool,
    /// Called with each file or folder skipped, and why.
    pub skipped: &'a mut dyn FnMut(&Path, SkipReason),
}

/// Lists the files under `paths` in trail time order and hands each to `walk.emit`. Files whose
/// names carry no delivery time come first, in path order. Symbolic links to files are
/// followed; links to folders are not (they can loop). Inside folders, hidden entries (unless
/// `options.hidden`) and empty files are skipped and reported; the paths named in `paths` are
/// always read.
pub fn walk_in_time_order(paths: &[PathBuf], walk: Walk<'_>) -> io::Result<()> {
    let Walk {
        options,
        emit,
        skipped,
    } = walk;
    let mut found = Found {
        options,
        undated: Vec::new(),
        days: BTreeMap::new(),
        skipped,
    };
    for path in paths {
        let meta = fs::metadata(path)?;
        if meta.is_dir() {
            found.collect(path)?;
        } else {
            place(
                ListedFile {
                    path: path.clone(),
                    size: meta.len(),
                },
                &mut found.undated,
                &mut found.days,
            );
        }
    }
    let Found {
        undated,
        days,
        skipped,
        ..
    } = found;
    // Sorted by the order key itself, so the order of emission and of the keys is one.
    let emit_sorted =
        |day: u64, files: Vec<ListedFile>, emit: &mut dyn FnMut(ListedFile, String) -> bool| {
            let mut keyed: Vec<(String, ListedFile)> =
                files.into_iter().map(|f| (order_key(day, &f), f)).collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            keyed.into_iter().all(|(key, file)| emit(file, key))
        };
    if !emit_sorted(0, undated, emit) {
        return Ok(());
    }
    for (day, folders) in days {
        let mut files = folders.files;
        for folder in &folders.folders {
            list_files(folder, options, &mut files, skipped)?;
        }
        if !emit_sorted(day, files, emit) {
            return Ok(());
        }
    }
    Ok(())
}

fn name_key(path: &Path) -> Option<u64> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(trail_time_key)
}

fn place(file: ListedFile, undated: &mut Vec<ListedFile>, days: &mut BTreeMap<u64, Day>) {
    match name_key(&file.path) {
        Some(key) => days.entry(key / 1_000_000).or_default().files.push(file),
        None => undated.push(file),
    }
}

/// Whether a directory entry's name marks it hidden.
fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// What a walk has found so far.
struct Found<'w> {
    options: WalkOptions,
    undated: Vec<ListedFile>,
    days: BTreeMap<u64, Day>,
    skipped: &'w mut dyn FnMut(&Path, SkipReason),
}

impl Found<'_> {
    fn collect(&mut self, dir: &Path) -> io::Result<()> {
        if let Some(day) = day_folder_key(dir) {
            self.days
                .entry(day)
                .or_default()
                .folders
                .push(dir.to_path_buf());
            return Ok(());
        }
        let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if !self.options.hidden && is_hidden(&entry.file_name()) {
                (self.skipped)(&path, SkipReason::Hidden);
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                self.collect(&path)?;
            } else if let Ok(meta) = fs::metadata(&path) {
                if meta.is_file() {
                    if meta.len() == 0 {
                        (self.skipped)(&path, SkipReason::Empty);
                        continue;
                    }
                    place(
                        ListedFile {
                            path,
                            size: meta.len(),
                        },
                        &mut self.undated,
                        &mut self.days,
                    );
                }
            } else {
                // A dangling link or an unreadable entry: let the reader report it.
                place(
                    ListedFile { path, size: 0 },
                    &mut self.undated,
                    &mut self.days,
                );
            }
        }
        Ok(())
    }
}

/// Every file below a day folder (normally there are no subfolders), but hidden and empty ones.
fn list_files(
    dir: &Path,
    options: WalkOptions,
    out: &mut Vec<ListedFile>,
    skipped: &mut dyn FnMut(&Path, SkipReason),
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if !options.hidden && is_hidden(&entry.file_name()) {
            skipped(&path, SkipReason::Hidden);
            continue;
        }
        if entry.file_type()?.is_dir() {
            list_files(&path, options, out, skipped)?;
        } else {
            let size = fs::metadata(&path).map(|m| m.len()).ok();
            if size == Some(0) {
                skipped(&path, SkipReason::Empty);
                continue;
            }
            // An unreadable entry is listed: the reader reports it.
            out.push(ListedFile {
                path,
                size: size.unwrap_or(0),
            });
        }
    }
    Ok(())
}

/// Total size of the files under `paths`, for the progress bar's ETA.
pub fn total_size(paths: &[PathBuf], options: WalkOptions) -> io::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0u64, 0u64);
    walk_in_time_order(
        paths,
        Walk {
            options,
            emit: &mut |f, _| {
                files += 1;
                bytes += f.size;
                true
            },
            skipped: &mut |_, _| {},
        },
    )?;
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trail_and_digest_times() {
        assert_eq!(
            trail_time_key("111122223333_CloudTrail_us-east-1_20240131T2355Z_abc.json.gz"),
            Some(20240131235500)
        );
        assert_eq!(
            trail_time_key(
                "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240131T235512Z.json.gz"
            ),
            Some(20240131235512)
        );
        assert_eq!(trail_time_key("notes.txt"), None);
    }

    #[test]
    fn orders_by_time_across_accounts_and_regions() {
        let root = tempfile::tempdir().unwrap();
        let files = [
            "AWSLogs/222/CloudTrail/eu-west-1/2024/01/02/222_CloudTrail_eu-west-1_20240102T0005Z_a.json.gz",
            "AWSLogs/111/CloudTrail/us-east-1/2024/01/02/111_CloudTrail_us-east-1_20240102T0000Z_b.json.gz",
            "AWSLogs/111/CloudTrail/us-east-1/2024/01/01/111_CloudTrail_us-east-1_20240101T2355Z_c.json.gz",
            "AWSLogs/222/CloudTrail/eu-west-1/2024/01/01/222_CloudTrail_eu-west-1_20240101T2350Z_d.json.gz",
            "README.txt",
        ];
        for f in files {
            let p = root.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"{}").unwrap();
        }
        let mut order = Vec::new();
        walk_in_time_order(
            &[root.path().to_path_buf()],
            Walk {
                options: WalkOptions::default(),
                emit: &mut |f, _| {
                    order.push(
                        f.path
                            .file_name()
                            .unwrap()
                            .to_str()
                            .unwrap()
                            .chars()
                            .rev()
                            .nth(8)
                            .unwrap(),
                    );
                    true
                },
                skipped: &mut |_, _| {},
            },
        )
        .unwrap();
        // README first (no time), then d, c (Jan 1 23:50, 23:55), then b, a (Jan 2).
        assert_eq!(order.len(), 5);
        let names: Vec<char> = order[1..].to_vec();
        assert_eq!(names, vec!['d', 'c', 'b', 'a']);
    }

    /// Walks `paths`; gives the files read and the entries skipped (names relative to `root`).
    fn walk(root: &Path, paths: &[PathBuf], hidden: bool) -> (Vec<String>, Vec<String>) {
        let (mut read, mut skipped) = (Vec::new(), Vec::new());
        let rel = |p: &Path| p.strip_prefix(root).unwrap().display().to_string();
        walk_in_time_order(
            paths,
            Walk {
                options: WalkOptions { hidden },
                emit: &mut |f, _| {
                    read.push(rel(&f.path));
                    true
                },
                skipped: &mut |p, why| skipped.push(format!("{}:{}", why.label(), rel(p))),
            },
        )
        .unwrap();
        read.sort();
        skipped.sort();
        (read, skipped)
    }

    #[test]
    fn hidden_and_empty_entries_are_skipped_unless_named() {
        let root = tempfile::tempdir().unwrap();
        let day = "AWSLogs/1/CloudTrail/r/2024/01/01";
        for (f, body) in [
            (format!("{day}/1_CloudTrail_r_20240101T0000Z_a.json.gz"), &b"x"[..]),
            (format!("{day}/.1_CloudTrail_r_20240101T0005Z_b.json.gz.partial"), b"x"),
            (format!("{day}/1_CloudTrail_r_20240101T0010Z_c.json.gz"), b""),
            (".DS_Store".to_string(), b"x"),
            (".git/objects/pack".to_string(), b"x"),
            ("AWSLogs/.sync-marker".to_string(), b"x"),
            ("AWSLogs/1/CloudTrail-Insight/r/2024/01/01/1_CloudTrail-Insight_r_20240101T0000Z_d.json.gz".to_string(), b"x"),
            ("AWSLogs/1/CloudTrail/empty-folder-marker".to_string(), b""),
        ] {
            let p = root.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, body).unwrap();
        }
        let all = [root.path().to_path_buf()];
        let (read, skipped) = walk(root.path(), &all, false);
        assert_eq!(
            read,
            vec![
                "AWSLogs/1/CloudTrail-Insight/r/2024/01/01/1_CloudTrail-Insight_r_20240101T0000Z_d.json.gz".to_string(),
                format!("{day}/1_CloudTrail_r_20240101T0000Z_a.json.gz"),
            ]
        );
        assert_eq!(
            skipped,
            vec![
                "empty:AWSLogs/1/CloudTrail/empty-folder-marker".to_string(),
                format!("empty:{day}/1_CloudTrail_r_20240101T0010Z_c.json.gz"),
                "hidden:.DS_Store".to_string(),
                "hidden:.git".to_string(),
                "hidden:AWSLogs/.sync-marker".to_string(),
                format!("hidden:{day}/.1_CloudTrail_r_20240101T0005Z_b.json.gz.partial"),
            ]
        );
        // `--hidden` reads them; empty files stay skipped.
        let (read, skipped) = walk(root.path(), &all, true);
        assert_eq!(read.len(), 6, "{read:?}");
        assert!(
            skipped.iter().all(|s| s.starts_with("empty:")),
            "{skipped:?}"
        );
        // Paths named by the user are read whatever their name or size.
        let named = [
            root.path().join(".DS_Store"),
            root.path()
                .join(format!("{day}/1_CloudTrail_r_20240101T0010Z_c.json.gz")),
        ];
        let (read, skipped) = walk(root.path(), &named, false);
        assert_eq!(read.len(), 2);
        assert!(skipped.is_empty());
    }
}
