//! A file of whole lines, for the NDJSON sink and the dead-letter output: created fresh or
//! appended to; on append, a partial last line left by a killed run is cut off first, so the
//! file only ever holds whole records; with `sync`, every flush reaches the disk (fsync)
//! before the caller acknowledges what it wrote.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An open line file.
#[derive(Debug)]
pub struct LineFile {
    file: File,
    path: PathBuf,
    sync: bool,
    /// The file's length: what it held when opened plus what was written since.
    len: u64,
}

impl LineFile {
    /// Opens `path`: truncated (or created), or with `append` kept and appended to after its
    /// last whole line. Returns the file and how many bytes of a partial last line were cut.
    pub fn open(path: &Path, append: bool, sync: bool) -> io::Result<(LineFile, u64)> {
        let mut options = OpenOptions::new();
        if append {
            options.read(true).append(true).create(true);
        } else {
            options.write(true).create(true).truncate(true);
        }
        let mut file = options.open(path)?;
        let cut = if append {
            cut_partial_line(&mut file)?
        } else {
            0
        };
        let len = file.metadata()?.len();
        Ok((
            LineFile {
                file,
                path: path.to_path_buf(),
                sync,
                len,
            },
            cut,
        ))
    }

    /// Opens `path` to resume it at `length`, its committed length: what follows (written
    /// after the last commit, by a run that was killed) is cut, and writing goes on from
    /// there. Returns the file and the bytes cut. A file shorter than `length` was changed by
    /// something else: an error, since the commit no longer describes it.
    pub fn resume(path: &Path, length: u64, sync: bool) -> io::Result<(LineFile, u64)> {
        let mut file = OpenOptions::new().read(true).append(true).open(path)?;
        let found = file.metadata()?.len();
        if found < length {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "it holds {found} bytes and the state directory's checkpoint says {length} were committed: it was changed outside trailhose (restore it, or move the state directory away to start afresh)"
                ),
            ));
        }
        if found > length {
            file.set_len(length)?;
            file.sync_data()?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok((
            LineFile {
                file,
                path: path.to_path_buf(),
                sync,
                len: length,
            },
            found - length,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length, with everything written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Write for LineFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    /// With `sync`, waits for the data to reach the disk: what was written survives a power
    /// loss, not only a crash of this process.
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.sync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// Cuts whatever follows the last newline (a line a killed run left half-written).
fn cut_partial_line(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    // Read backwards from the end until a newline (or the start of the file).
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(pos) = memchr::memrchr(b'\n', &chunk[..n]) {
            break start + pos as u64 + 1;
        }
        end = start;
    };
    if keep < len {
        file.set_len(keep)?;
        file.sync_data()?;
    }
    Ok(len - keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_cuts_a_partial_last_line_and_keeps_whole_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        let (mut f, cut) = LineFile::open(&path, true, true).unwrap();
        assert_eq!(cut, 5);
        f.write_all(b"{\"d\":4}\n").unwrap();
        f.flush().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"a\":1}\n{\"b\":2}\n{\"d\":4}\n"
        );
        // A file that is one partial line, over more than one read-back chunk, goes entirely.
        std::fs::write(&path, vec![b'x'; 200_000]).unwrap();
        let (_, cut) = LineFile::open(&path, true, false).unwrap();
        assert_eq!(cut, 200_000);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // Whole lines are left alone; without append the file starts empty.
        std::fs::write(&path, b"{}\n").unwrap();
        assert_eq!(LineFile::open(&path, true, false).unwrap().1, 0);
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
        LineFile::open(&path, false, false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn resume_cuts_back_to_the_committed_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n{\"d\"").unwrap();
        let (mut f, cut) = LineFile::resume(&path, 16, false).unwrap();
        assert_eq!((cut, f.len()), (12, 16));
        f.write_all(b"{\"e\":5}\n").unwrap();
        f.flush().unwrap();
        assert_eq!(f.len(), 24);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"a\":1}\n{\"b\":2}\n{\"e\":5}\n"
        );
        // Shorter than committed: changed by someone else, refused with the way out.
        let e = LineFile::resume(&path, 100, false).unwrap_err().to_string();
        assert!(e.contains("changed outside trailhose"), "{e}");
    }
}
