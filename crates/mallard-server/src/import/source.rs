//! Reading a log file line by line: gzip is recognised by its magic bytes
//! and decompressed on the fly (so a rotated `access.log.2.gz` reads like
//! any other), `-` reads standard input, and the first
//! [`PREFIX_BYTES`] decompressed bytes are kept to identify the file in the
//! import ledger and to detect its format. Offsets count decompressed bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use mallard_store::imports::PREFIX_BYTES;
use sha2::{Digest, Sha256};

/// An open log.
pub struct LogSource {
    /// The name shown in reports and kept in the ledger.
    pub name: String,
    reader: Box<dyn BufRead + Send>,
    prefix: Vec<u8>,
    /// Whether the input may still grow (a plain file): then a last line
    /// without its line ending is left for the next import.
    growing: bool,
    /// The start of a line still being written (kept for `--follow`).
    partial: Vec<u8>,
    /// The file this reads and its identity on disk, to notice rotation.
    file: Option<(std::path::PathBuf, FileId)>,
    /// Bytes of the input as stored (compressed, for gzip) read so far.
    raw_read: Arc<AtomicU64>,
    /// The size of the file as stored when it was opened (none for stdin).
    pub size: Option<u64>,
    /// Decompressed bytes consumed so far.
    pub offset: u64,
    /// Lines consumed so far.
    pub lines: u64,
}

impl std::fmt::Debug for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSource")
            .field("name", &self.name)
            .field("offset", &self.offset)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

impl LogSource {
    /// Opens `path` (`-` for standard input).
    pub fn open(path: &Path) -> io::Result<Self> {
        if path.as_os_str() == "-" {
            return Self::from_reader("(stdin)".into(), Box::new(io::stdin()), false);
        }
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        let id = FileId::of(&metadata);
        let mut source = Self::from_reader(path.display().to_string(), Box::new(file), true)?;
        source.file = Some((path.to_owned(), id));
        source.size = Some(metadata.len());
        Ok(source)
    }

    /// Whether the file at this source's path is no longer the one it reads
    /// (rotated: renamed away and created anew) or was cut shorter than
    /// what was read (truncated in place, `copytruncate`).
    pub fn replaced(&self) -> bool {
        let Some((path, id)) = &self.file else {
            return false;
        };
        match std::fs::metadata(path) {
            Ok(now) => FileId::of(&now) != *id || now.len() < self.offset,
            // Moved away and not created again yet: wait for it.
            Err(_) => false,
        }
    }

    /// The path this source reads, if it is a file.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    /// Wraps `input`, decompressing it when it starts with gzip's magic bytes.
    pub fn from_reader(
        name: String,
        input: Box<dyn Read + Send>,
        plain_file: bool,
    ) -> io::Result<Self> {
        let raw_read = Arc::new(AtomicU64::new(0));
        let counted = CountingReader {
            inner: input,
            count: Arc::clone(&raw_read),
        };
        let mut buffered = BufReader::with_capacity(256 * 1024, counted);
        let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let mut reader: Box<dyn BufRead + Send> = if gzip {
            Box::new(BufReader::with_capacity(
                256 * 1024,
                MultiGzDecoder::new(buffered),
            ))
        } else {
            Box::new(buffered)
        };
        let mut prefix = Vec::with_capacity(PREFIX_BYTES);
        (&mut reader)
            .take(PREFIX_BYTES as u64)
            .read_to_end(&mut prefix)?;
        let reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(
            64 * 1024,
            io::Cursor::new(prefix.clone()).chain(reader),
        ));
        Ok(Self {
            name,
            reader,
            prefix,
            growing: plain_file && !gzip,
            partial: Vec::new(),
            file: None,
            raw_read,
            size: None,
            offset: 0,
            lines: 0,
        })
    }

    /// Bytes of the input as stored read so far (a little ahead of what was
    /// parsed: the readers buffer), for a progress bar.
    pub fn raw_read(&self) -> u64 {
        self.raw_read.load(Ordering::Relaxed)
    }

    /// The first bytes (up to [`PREFIX_BYTES`]).
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The complete lines within the first bytes, for format detection.
    pub fn first_lines(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.prefix);
        let complete = if self.prefix.len() == PREFIX_BYTES {
            text.rsplit_once('\n').map_or("", |(head, _)| head)
        } else {
            &text
        };
        complete.lines().map(str::to_owned).collect()
    }

    /// SHA-256 of the first `len` bytes (at most the prefix).
    pub fn prefix_hash(&self, len: usize) -> [u8; 32] {
        Sha256::digest(&self.prefix[..len.min(self.prefix.len())]).into()
    }

    /// Reads the next line into `buffer` (without its line ending) and
    /// returns it, `None` at the end. Invalid UTF-8 is replaced.
    pub fn next_line<'b>(
        &mut self,
        buffer: &'b mut Vec<u8>,
    ) -> io::Result<Option<std::borrow::Cow<'b, str>>> {
        buffer.clear();
        buffer.append(&mut self.partial);
        self.reader.read_until(b'\n', buffer)?;
        if buffer.is_empty() {
            return Ok(None);
        }
        if buffer.last() != Some(&b'\n') && self.growing {
            // Still being written: kept for a later read (`--follow`), or
            // left for the next import.
            std::mem::swap(&mut self.partial, buffer);
            return Ok(None);
        }
        self.offset += buffer.len() as u64;
        self.lines += 1;
        while matches!(buffer.last(), Some(b'\n' | b'\r')) {
            buffer.pop();
        }
        Ok(Some(String::from_utf8_lossy(buffer)))
    }

    /// Skips what an earlier import read: `bytes` bytes. Returns false when
    /// the input ends first (it is shorter than what was read before).
    pub fn skip(&mut self, bytes: u64, lines: u64) -> io::Result<bool> {
        let copied = io::copy(&mut (&mut self.reader).take(bytes), &mut io::sink())?;
        self.offset = copied;
        self.lines = lines;
        Ok(copied == bytes)
    }
}

/// Counts the bytes read through it.
struct CountingReader {
    inner: Box<dyn Read + Send>,
    count: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// What tells one file from another at the same path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId(u64, u64);

impl FileId {
    #[cfg(unix)]
    fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self(metadata.dev(), metadata.ino())
    }

    #[cfg(not(unix))]
    fn of(metadata: &std::fs::Metadata) -> Self {
        // Without inode numbers, the creation time tells a new file.
        let created = metadata
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        Self(created, 0)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn source(bytes: Vec<u8>, growing: bool) -> LogSource {
        LogSource::from_reader("t".into(), Box::new(io::Cursor::new(bytes)), growing).unwrap()
    }

    fn lines(source: &mut LogSource) -> Vec<String> {
        let mut buffer = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = source.next_line(&mut buffer).unwrap() {
            out.push(line.into_owned());
        }
        out
    }

    #[test]
    fn plain_and_gzip_inputs_read_the_same_lines_and_prefix() {
        let text = b"one\r\ntwo\nthree\n".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let mut plain = source(text.clone(), true);
        let compressed = gz.finish().unwrap();
        let compressed_len = compressed.len() as u64;
        let mut zipped = source(compressed, true);
        assert_eq!(plain.prefix(), zipped.prefix());
        assert_eq!(plain.prefix_hash(4096), zipped.prefix_hash(4096));
        assert_eq!(lines(&mut plain), ["one", "two", "three"]);
        assert_eq!(lines(&mut zipped), ["one", "two", "three"]);
        assert_eq!((plain.offset, plain.lines), (15, 3));
        // Progress counts the bytes as stored: compressed ones for gzip.
        assert_eq!(plain.raw_read(), 15);
        assert_eq!(zipped.raw_read(), compressed_len);
    }

    #[test]
    fn an_unfinished_last_line_of_a_growing_file_waits() {
        let mut growing = source(b"done\nhalf".to_vec(), true);
        assert_eq!(lines(&mut growing), ["done"]);
        assert_eq!(growing.offset, 5);
        let mut piped = source(b"done\nhalf".to_vec(), false);
        assert_eq!(lines(&mut piped), ["done", "half"]);
    }

    #[test]
    fn a_line_written_in_two_goes_is_read_whole() {
        let dir = std::env::temp_dir().join(format!("mallard-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        std::fs::write(&path, b"first\nsec").unwrap();
        let mut source = LogSource::open(&path).unwrap();
        assert_eq!(lines(&mut source), ["first"]);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"ond\nthird\n").unwrap();
        assert_eq!(lines(&mut source), ["second", "third"]);
        assert_eq!(source.offset, 19);
        assert!(!source.replaced());
        std::fs::rename(&path, dir.join("access.log.1")).unwrap();
        assert!(!source.replaced(), "moved away: wait for the new file");
        std::fs::write(&path, b"new\n").unwrap();
        assert!(source.replaced(), "a new file at the path");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn skipping_resumes_after_what_was_read() {
        let mut again = source(b"a\nb\nc\n".to_vec(), true);
        assert!(again.skip(4, 2).unwrap());
        assert_eq!(lines(&mut again), ["c"]);
        assert_eq!((again.offset, again.lines), (6, 3));
        let mut shorter = source(b"a\n".to_vec(), true);
        assert!(!shorter.skip(4, 2).unwrap());
    }

    #[test]
    fn only_complete_lines_of_the_prefix_are_offered_for_detection() {
        let mut long = Vec::new();
        while long.len() < PREFIX_BYTES + 100 {
            long.extend_from_slice(b"0123456789 line\n");
        }
        let source = source(long, true);
        assert!(
            source
                .first_lines()
                .iter()
                .all(|line| line == "0123456789 line")
        );
    }
}
