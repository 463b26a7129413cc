//! The scan engine: YARA-X rules and hash lists applied to an object and, recursively, to
//! the members of the archives it contains, within limits.
//!
//! [`Engine`] owns the current [`Ruleset`] behind an `ArcSwap`: RELOAD swaps in a new one
//! while scans already running keep the `Arc` they started with, so no scan is dropped or
//! sees a half-built rule set. [`Scanning`] is the per-thread state (a YARA-X scanner and a
//! read buffer) that makes repeated scans cheap; the worker pool keeps one per thread.

use std::fs::File;
use std::io::{Cursor, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::filemap::{GuardedMap, read_all_at};
use crate::ruleset::{RuleSources, RulesError, Ruleset};
use crate::verdict::{Limit, Scanned, Verdict};

/// What one top-level object (a file, a descriptor, a stream) may cost, clamd's limits.
/// Every way a file reaches the engine goes through [`Scanning`], which applies them.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Deepest archive nesting unpacked (an archive inside an archive is depth 2).
    #[arg(long, default_value_t = 8)]
    pub max_recursion: u32,
    /// Most archive members unpacked from one scanned object.
    #[arg(long, default_value_t = 10_000)]
    pub max_files: u32,
    /// Largest object scanned, and most bytes unpacked from one (K/M/G suffixes accepted).
    #[arg(long, default_value = "400M", value_parser = parse_size)]
    pub max_scan_size: u64,
    /// Largest file scanned, and largest archive member unpacked (K/M/G suffixes accepted).
    #[arg(long, default_value = "100M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Highest unpacked/packed size ratio tolerated for a member above 1 MiB.
    #[arg(long, default_value_t = 100)]
    pub max_compression_ratio: u64,
    /// Seconds one object (with its archive members) may be scanned (clamd's MaxScanTime).
    #[arg(long, default_value_t = 120)]
    pub scan_timeout: u64,
    /// Report an object skipped at a limit as `Heuristics.Limits.Exceeded.<Limit> FOUND`
    /// instead of clean (clamd's AlertExceedsMax). Zip bombs are reported either way.
    #[arg(long)]
    pub alert_exceeds_max: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_recursion: 8,
            max_files: 10_000,
            max_scan_size: 400 << 20,
            max_file_size: 100 << 20,
            max_compression_ratio: 100,
            scan_timeout: 120,
            alert_exceeds_max: false,
        }
    }
}

/// Small members legitimately compress very well (a run of zeros); the ratio limit only
/// applies once a member has unpacked past this size.
const RATIO_FLOOR: u64 = 1 << 20;
/// Files up to this size are read into a reused per-thread buffer; larger ones are
/// memory-mapped (guarded, see [`crate::filemap`]). Mapping saves the copy (a tenth of
/// the CPU on bulk scans, measured) but costs two syscalls and page faults, which only pay
/// off on larger files.
const READ_INTO_BUFFER_MAX: u64 = 256 << 10;
/// A read buffer grown past this (a file read because it could not be mapped) is freed
/// after its scan, so idle threads do not each hold up to `max_file_size`.
const RETAINED_BUFFER_MAX: usize = 4 << 20;

/// Parses sizes such as `4096`, `512K`, `100M`, `2G`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 10),
        Some((i, 'm' | 'M')) => (&text[..i], 20),
        Some((i, 'g' | 'G')) => (&text[..i], 30),
        _ => (text, 0),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: {text:?}"))?;
    value
        .checked_shl(shift)
        .filter(|v| v >> shift == value)
        .ok_or_else(|| format!("size too large: {text:?}"))
}

/// Whether a scan stops at the first detection or reports every match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    FirstMatch,
    AllMatches,
}

/// Somewhere else to scan a descriptor (a supervised worker process), so that a crash
/// in the engine takes only that place down. The engine keeps the cheap checks.
pub trait Isolation: Send {
    /// One verdict per descriptor, in order. Several descriptors go in one round trip.
    fn scan(&mut self, fds: &[BorrowedFd<'_>], mode: Mode) -> Vec<Scanned>;
}

/// Per-thread scanning state, bound to one rule set.
pub struct Scanning<'r> {
    ruleset: &'r Ruleset,
    yara: yara_x::Scanner<'r>,
    limits: Limits,
    read_buf: Vec<u8>,
    /// With process isolation, the worker process every scan is handed to.
    worker: Option<Box<dyn Isolation>>,
}

/// Progress of one top-level scan across its archive members.
struct Tally {
    members: u32,
    unpacked: u64,
    names: Vec<String>,
    limit: Option<Limit>,
    error: Option<String>,
    /// When the object's scan time runs out (`scan_timeout`).
    deadline: Instant,
}

impl Tally {
    fn new(limits: &Limits) -> Tally {
        Tally {
            members: 0,
            unpacked: 0,
            names: Vec::new(),
            limit: None,
            error: None,
            deadline: Instant::now() + Duration::from_secs(limits.scan_timeout.max(1)),
        }
    }

    /// Scan time left, or the limit when there is none.
    fn remaining(&self) -> Result<Duration, Limit> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Limit::ScanTime)
        } else {
            Ok(left)
        }
    }

    fn finished(&self, mode: Mode) -> bool {
        self.limit.is_some()
            || self.error.is_some()
            || (mode == Mode::FirstMatch && !self.names.is_empty())
    }

    fn into_verdict(self) -> Verdict {
        if !self.names.is_empty() {
            Verdict::Infected(self.names)
        } else if let Some(limit) = self.limit {
            Verdict::LimitExceeded(limit)
        } else if let Some(error) = self.error {
            Verdict::Error(error)
        } else {
            Verdict::Clean
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArchiveKind {
    Zip,
    Gzip,
    Tar,
}

fn archive_kind(data: &[u8]) -> Option<ArchiveKind> {
    if data.starts_with(b"PK\x03\x04") {
        Some(ArchiveKind::Zip)
    } else if data.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveKind::Gzip)
    } else if data.get(257..262) == Some(b"ustar") {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

enum MemberError {
    Limit(Limit),
    /// Corrupt or unsupported member: skipped, as ClamAV skips what it cannot unpack.
    Unreadable,
}

impl<'r> Scanning<'r> {
    pub fn new(ruleset: &'r Ruleset, limits: Limits) -> Self {
        let mut yara = yara_x::Scanner::new(&ruleset.yara);
        yara.set_timeout(Duration::from_secs(limits.scan_timeout.max(1)));
        Scanning {
            ruleset,
            yara,
            limits,
            read_buf: Vec::new(),
            worker: None,
        }
    }

    /// Hands every scan to `worker` from now on (the worker processes of `worker.rs`).
    pub fn isolate(&mut self, worker: Box<dyn Isolation>) {
        self.worker = Some(worker);
    }

    /// The rule set this state scans with.
    pub fn ruleset(&self) -> &'r Ruleset {
        self.ruleset
    }

    pub fn scan_bytes(&mut self, data: &[u8], mode: Mode) -> Verdict {
        let mut tally = Tally::new(&self.limits);
        match self.size_limit(data.len() as u64) {
            Some(limit) => tally.limit = Some(limit),
            None if self.worker.is_some() => return self.scan_bytes_in_worker(data, mode),
            None => self.scan_object(data, 0, mode, &mut tally),
        }
        self.settle(tally)
    }

    /// The worker scans descriptors: the bytes go to it in an anonymous memory file.
    fn scan_bytes_in_worker(&mut self, data: &[u8], mode: Mode) -> Verdict {
        use std::io::Write;
        let memfd = memory_file().and_then(|mut file| {
            file.write_all(data)?;
            Ok(file)
        });
        match (memfd, &mut self.worker) {
            (Ok(file), Some(worker)) => first_scanned(worker.scan(&[file.as_fd()], mode)).verdict,
            (Err(e), _) => Verdict::Error(e.to_string()),
            (Ok(_), None) => Verdict::Error("no scan worker".into()),
        }
    }

    /// Scans an open regular file from its start, whatever its current offset.
    pub fn scan_file(&mut self, file: &File, mode: Mode) -> Verdict {
        self.scan_file_sized(file, mode).verdict
    }

    /// [`Scanning::scan_file`], with the length the file was scanned at.
    pub fn scan_file_sized(&mut self, file: &File, mode: Mode) -> Scanned {
        first_scanned(self.scan_files_sized(&[file], mode))
    }

    /// Scans each file as [`Scanning::scan_file`] does; one verdict per file, in order.
    pub fn scan_files(&mut self, files: &[&File], mode: Mode) -> Vec<Verdict> {
        self.scan_files_sized(files, mode)
            .into_iter()
            .map(|scanned| scanned.verdict)
            .collect()
    }

    /// [`Scanning::scan_files`], with the length each file was scanned at. With process
    /// isolation all the files go to the worker in one round trip (a round trip per file
    /// cost a fifth of the FILDES throughput), and the worker alone looks at them: its
    /// fstat, type check and size limits are the ones that count, and it reports the
    /// length, so no file is fstat-ed twice.
    pub fn scan_files_sized(&mut self, files: &[&File], mode: Mode) -> Vec<Scanned> {
        if let Some(worker) = &mut self.worker {
            let fds: Vec<BorrowedFd<'_>> = files.iter().map(|file| file.as_fd()).collect();
            let mut answers = worker.scan(&fds, mode);
            answers.resize_with(files.len(), || {
                Scanned::unscanned(Verdict::Error("Scan worker gave no verdict".into()))
            });
            return answers;
        }
        files
            .iter()
            .map(|file| match self.regular_file_len(file) {
                Ok(len) => {
                    let mut tally = Tally::new(&self.limits);
                    self.scan_file_with(file, len, mode, &mut tally);
                    Scanned {
                        verdict: self.settle(tally),
                        bytes: len,
                    }
                }
                Err(verdict) => Scanned::unscanned(verdict),
            })
            .collect()
    }

    /// The file's length, or the verdict for what cannot be scanned as a file.
    fn regular_file_len(&self, file: &File) -> Result<u64, Verdict> {
        match file.metadata() {
            Ok(meta) if meta.is_file() => Ok(meta.len()),
            Ok(_) => Err(Verdict::Error("Not a regular file".into())),
            Err(e) => Err(Verdict::Error(e.to_string())),
        }
    }

    /// The top-level size limits: a file over them is not read at all (a sparse 20 GiB
    /// file costs one fstat).
    fn size_limit(&self, len: u64) -> Option<Limit> {
        if len > self.limits.max_file_size {
            Some(Limit::FileSize)
        } else if len > self.limits.max_scan_size {
            Some(Limit::ScanSize)
        } else {
            None
        }
    }

    fn scan_file_with(&mut self, file: &File, len: u64, mode: Mode, tally: &mut Tally) {
        if let Some(limit) = self.size_limit(len) {
            tally.limit = Some(limit);
            return;
        }
        let mut len = len;
        if len > READ_INTO_BUFFER_MAX {
            match GuardedMap::new(file, len) {
                Some(Ok(map)) => {
                    self.scan_object(map.bytes(), 0, mode, tally);
                    if !map.changed() {
                        return;
                    }
                    // The file shrank under the scan, which then read zeros: scan what
                    // the file holds now, with pread, which cannot fault.
                    drop(map);
                    tracing::debug!("file shrank during its scan; scanning it again");
                    *tally = Tally::new(&self.limits);
                    len = match file.metadata() {
                        Ok(meta) => meta.len(),
                        Err(e) => {
                            tally.error = Some(e.to_string());
                            return;
                        }
                    };
                    if let Some(limit) = self.size_limit(len) {
                        tally.limit = Some(limit);
                        return;
                    }
                }
                Some(Err(e)) => {
                    tally.error = Some(e.to_string());
                    return;
                }
                None => {}
            }
        }
        let mut buf = std::mem::take(&mut self.read_buf);
        // Read with pread from offset 0: FILDES descriptors may come positioned anywhere.
        match read_all_at(file, &mut buf, len) {
            Ok(filled) => self.scan_object(&buf[..filled], 0, mode, tally),
            Err(e) => tally.error = Some(e.to_string()),
        }
        if buf.capacity() <= RETAINED_BUFFER_MAX {
            self.read_buf = buf;
        }
    }

    /// The verdict clients see: a limit is a clean skip unless alerting on limits is on
    /// (clamd's AlertExceedsMax); a zip bomb is always reported.
    fn settle(&self, tally: Tally) -> Verdict {
        match tally.into_verdict() {
            Verdict::LimitExceeded(limit)
                if !self.limits.alert_exceeds_max && limit != Limit::CompressionRatio =>
            {
                tracing::debug!(%limit, "object skipped at a limit");
                Verdict::Clean
            }
            verdict => verdict,
        }
    }

    pub fn scan_path(&mut self, path: &Path, mode: Mode) -> Verdict {
        match File::open(path) {
            Ok(file) => self.scan_file(&file, mode),
            Err(e) => Verdict::Error(e.to_string()),
        }
    }

    pub fn scan_fd(&mut self, fd: BorrowedFd<'_>, mode: Mode) -> Verdict {
        match fd.try_clone_to_owned() {
            Ok(owned) => self.scan_file(&File::from(owned), mode),
            Err(e) => Verdict::Error(e.to_string()),
        }
    }

    fn scan_object(&mut self, data: &[u8], depth: u32, mode: Mode, tally: &mut Tally) {
        match tally.remaining() {
            Ok(left) => {
                self.yara.set_timeout(left);
            }
            Err(limit) => {
                tally.limit = Some(limit);
                return;
            }
        }
        match self.yara.scan(data) {
            Ok(results) => {
                for rule in results.matching_rules() {
                    tally.names.push(detection_name(&rule));
                    if mode == Mode::FirstMatch {
                        break;
                    }
                }
            }
            Err(yara_x::ScanError::Timeout) => tally.limit = Some(Limit::ScanTime),
            Err(e) => tally.error = Some(e.to_string()),
        }
        if tally.finished(mode) {
            return;
        }
        if let Some(name) = self.ruleset.hashes.lookup(data) {
            tally.names.push(name.to_string());
            if tally.finished(mode) {
                return;
            }
        }
        let Some(kind) = archive_kind(data) else {
            return;
        };
        if depth + 1 > self.limits.max_recursion {
            tally.limit = Some(Limit::Recursion);
            return;
        }
        match kind {
            ArchiveKind::Zip => self.scan_zip(data, depth, mode, tally),
            ArchiveKind::Gzip => {
                let decoder = flate2::read::MultiGzDecoder::new(data);
                self.scan_member(decoder, data.len() as u64, None, depth, mode, tally);
            }
            ArchiveKind::Tar => self.scan_tar(data, depth, mode, tally),
        }
    }

    fn scan_zip(&mut self, data: &[u8], depth: u32, mode: Mode, tally: &mut Tally) {
        let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(data)) else {
            return;
        };
        for index in 0..archive.len() {
            if tally.finished(mode) {
                return;
            }
            let Ok(member) = archive.by_index(index) else {
                continue;
            };
            if !member.is_file() {
                continue;
            }
            let (packed, declared) = (member.compressed_size(), member.size());
            self.scan_member(member, packed, Some(declared), depth, mode, tally);
        }
    }

    fn scan_tar(&mut self, data: &[u8], depth: u32, mode: Mode, tally: &mut Tally) {
        let mut archive = tar::Archive::new(data);
        let Ok(entries) = archive.entries() else {
            return;
        };
        for entry in entries {
            if tally.finished(mode) {
                return;
            }
            let Ok(entry) = entry else { return };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let size = entry.size();
            self.scan_member(entry, size, Some(size), depth, mode, tally);
        }
    }

    /// Unpacks one member within the limits and scans it one level deeper.
    fn scan_member(
        &mut self,
        reader: impl Read,
        packed: u64,
        declared: Option<u64>,
        depth: u32,
        mode: Mode,
        tally: &mut Tally,
    ) {
        tally.members += 1;
        if tally.members > self.limits.max_files {
            tally.limit = Some(Limit::Files);
            return;
        }
        match self.unpack(reader, packed, declared, tally) {
            Ok(member) => {
                tally.unpacked += member.len() as u64;
                self.scan_object(&member, depth + 1, mode, tally);
            }
            Err(MemberError::Limit(limit)) => tally.limit = Some(limit),
            Err(MemberError::Unreadable) => {}
        }
    }

    fn unpack(
        &self,
        mut reader: impl Read,
        packed: u64,
        declared: Option<u64>,
        tally: &Tally,
    ) -> Result<Vec<u8>, MemberError> {
        let unpacked_so_far = tally.unpacked;
        let limits = &self.limits;
        let over_ratio =
            |size: u64| size > RATIO_FLOOR && size / packed.max(1) > limits.max_compression_ratio;
        let check = |size: u64| {
            // Ratio first: a bomb usually breaks the size limits too, and naming it a
            // bomb is the more useful report.
            if over_ratio(size) {
                Err(MemberError::Limit(Limit::CompressionRatio))
            } else if size > limits.max_file_size {
                Err(MemberError::Limit(Limit::FileSize))
            } else if unpacked_so_far + size > limits.max_scan_size {
                Err(MemberError::Limit(Limit::ScanSize))
            } else {
                Ok(())
            }
        };
        // Refuse on the declared size when it already breaks a limit, without inflating;
        // the checks below still hold when the declared size lies.
        if let Some(size) = declared {
            check(size)?;
        }
        let mut out = Vec::with_capacity(declared.unwrap_or(0).min(RATIO_FLOOR) as usize);
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => return Ok(out),
                Ok(n) => n,
                Err(_) if out.is_empty() => return Err(MemberError::Unreadable),
                // A member cut short still gets its readable part scanned.
                Err(_) => return Ok(out),
            };
            out.extend_from_slice(&chunk[..n]);
            check(out.len() as u64)?;
            tally.remaining().map_err(MemberError::Limit)?;
        }
    }
}

/// The verdict of a one-file batch.
fn first_scanned(scanned: Vec<Scanned>) -> Scanned {
    scanned
        .into_iter()
        .next()
        .unwrap_or_else(|| Scanned::unscanned(Verdict::Error("Scan worker gave no verdict".into())))
}

/// An anonymous, unlinked memory file (memfd).
fn memory_file() -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create takes a NUL-terminated name and returns a new descriptor.
    let fd = unsafe { libc::memfd_create(c"vigil-stream".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is new and owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// A rule's detection name: its `name` metadata when it has one (so rules can carry
/// ClamAV-style names), otherwise its identifier.
fn detection_name(rule: &yara_x::Rule<'_, '_>) -> String {
    rule.metadata()
        .find_map(|(key, value)| match (key, value) {
            ("name", yara_x::MetaValue::String(name)) => Some(name.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| rule.identifier().to_string())
}

/// The engine shared by every scanner thread and by in-process callers.
pub struct Engine {
    current: ArcSwap<Ruleset>,
    sources: RuleSources,
    limits: Limits,
    /// Serialises reloads; scans never take it.
    reload_lock: Mutex<()>,
}

impl Engine {
    pub fn new(sources: RuleSources, limits: Limits) -> Result<Engine, RulesError> {
        let ruleset = Ruleset::load(&sources)?;
        tracing::info!(
            serial = ruleset.serial,
            yara_rules = ruleset.yara_rule_count,
            hashes = ruleset.hashes.len(),
            "rules loaded"
        );
        Ok(Engine {
            current: ArcSwap::from_pointee(ruleset),
            sources,
            limits,
            reload_lock: Mutex::new(()),
        })
    }

    /// The rule set new scans use.
    pub fn ruleset(&self) -> Arc<Ruleset> {
        self.current.load_full()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Recompiles the sources and swaps the result in. On error the current rule set
    /// stays in force.
    pub fn reload(&self) -> Result<Arc<Ruleset>, RulesError> {
        let _serialised = self
            .reload_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let ruleset = Arc::new(Ruleset::load(&self.sources)?);
        self.current.store(ruleset.clone());
        tracing::info!(
            serial = ruleset.serial,
            yara_rules = ruleset.yara_rule_count,
            "rules reloaded"
        );
        Ok(ruleset)
    }

    /// `<product> <version>/<rules serial>/<rules date>`, the shape of clamd's VERSION
    /// reply (`ClamAV 1.4.6/27123/Sun Nov 22 09:31:17 2026`).
    pub fn version_string(&self, product: &str) -> String {
        let rules = self.current.load();
        format!(
            "{product} {}/{}/{}",
            env!("CARGO_PKG_VERSION"),
            rules.serial,
            rules.date_string()
        )
    }

    /// In-process scan of a byte buffer.
    pub fn scan_bytes(&self, data: &[u8]) -> Verdict {
        let rules = self.ruleset();
        Scanning::new(&rules, self.limits.clone()).scan_bytes(data, Mode::FirstMatch)
    }

    /// In-process scan of a file by path.
    pub fn scan_path(&self, path: &Path) -> Verdict {
        let rules = self.ruleset();
        Scanning::new(&rules, self.limits.clone()).scan_path(path, Mode::FirstMatch)
    }

    /// In-process scan of an open file descriptor (a regular file).
    pub fn scan_fd(&self, fd: BorrowedFd<'_>) -> Verdict {
        let rules = self.ruleset();
        Scanning::new(&rules, self.limits.clone()).scan_fd(fd, Mode::FirstMatch)
    }

    /// In-process scan of a byte stream of at most `max_len` bytes; a longer stream is a
    /// [`Limit::ScanSize`] verdict, never a partial pass.
    pub fn scan_reader(&self, reader: impl Read, max_len: u64) -> Verdict {
        let mut data = Vec::new();
        match reader
            .take(max_len.saturating_add(1))
            .read_to_end(&mut data)
        {
            Ok(_) if data.len() as u64 > max_len => Verdict::LimitExceeded(Limit::ScanSize),
            Ok(_) => self.scan_bytes(&data),
            Err(e) => Verdict::Error(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
