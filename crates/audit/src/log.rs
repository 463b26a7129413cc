//! One SVM's audit log: an active file of JSON lines in `log_path`, rotated into
//! time-stamped archives, trimmed by retention.
//!
//! A single writer thread owns the files. Callers hand it a serialized record and wait
//! for the acknowledgement, which comes only after the bytes are written and
//! `fdatasync`ed. Whatever queued while the previous sync ran goes out in the next write
//! and sync (group commit), so the added latency is bounded by one sync and throughput
//! grows with concurrency.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::schedule::RotationSchedule;

pub const ACTIVE_NAME: &str = "audit_last.json";
const ARCHIVE_PREFIX: &str = "audit_D";

/// Where and how one SVM's records are written.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub dir: PathBuf,
    /// Rotate when the active file would exceed this many bytes (0: never by size).
    pub rotation_size: u64,
    pub rotation_schedule: RotationSchedule,
    /// Keep at most this many archives (0: all).
    pub retention_count: u64,
    /// Delete archives older than this (zero: keep).
    pub retention_age: Duration,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuditError {
    #[error("the audit log in {dir} cannot be written: {reason}")]
    Write { dir: String, reason: String },
    #[error("the audit log writer has stopped")]
    Stopped,
    #[error("auditing is not enabled for SVM {0}")]
    NotEnabled(String),
}

/// Time source, injectable so schedule rotation can be tested without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub records: AtomicU64,
    pub rotations: AtomicU64,
    pub archives_deleted: AtomicU64,
    /// Records in archives that retention deleted (so every record can be accounted for).
    pub records_deleted: AtomicU64,
    pub syncs: AtomicU64,
}

type Ack = oneshot::Sender<Result<(), AuditError>>;

enum Request {
    Append(Vec<u8>, Ack),
    Rotate(Ack),
    Configure(LogConfig, Ack),
    Tick,
}

/// Handle to the writer thread of one log; cloning shares the writer.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Request>,
    stats: Arc<Stats>,
}

impl AuditLog {
    /// Opens the log, repairing a torn last line left by a crash, and starts its writer.
    pub fn open(config: LogConfig, clock: Arc<dyn Clock>) -> Result<AuditLog, AuditError> {
        let stats = Arc::new(Stats::default());
        let mut writer = Writer::open(config, clock, Arc::clone(&stats))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AuditError::Write {
                dir: String::new(),
                reason: e.to_string(),
            })?;
        Ok(AuditLog { tx, stats })
    }

    /// Appends one record (a JSON object without newline); returns once it is durable.
    pub async fn append(&self, record: Vec<u8>) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Request::Append(record, ack))
            .map_err(|_| AuditError::Stopped)?;
        done.await.map_err(|_| AuditError::Stopped)?
    }

    /// Blocking form of [`append`](Self::append) for threads outside the runtime.
    pub fn append_blocking(&self, record: Vec<u8>) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Request::Append(record, ack))
            .map_err(|_| AuditError::Stopped)?;
        done.blocking_recv().map_err(|_| AuditError::Stopped)?
    }

    /// Rotates now (`log.rotation.now`), even if the active file is empty.
    pub async fn rotate_now(&self) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Request::Rotate(ack))
            .map_err(|_| AuditError::Stopped)?;
        done.await.map_err(|_| AuditError::Stopped)?
    }

    /// Applies a new configuration from the next record on.
    pub async fn configure(&self, config: LogConfig) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Request::Configure(config, ack))
            .map_err(|_| AuditError::Stopped)?;
        done.await.map_err(|_| AuditError::Stopped)?
    }

    /// Makes the writer check the rotation schedule and retention against its clock now.
    pub fn tick(&self) {
        let _ = self.tx.send(Request::Tick);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

struct Writer {
    config: LogConfig,
    clock: Arc<dyn Clock>,
    stats: Arc<Stats>,
    file: File,
    size: u64,
    last_check: DateTime<Utc>,
    sequence: u64,
}

fn io_error(dir: &Path, e: io::Error) -> AuditError {
    AuditError::Write {
        dir: dir.display().to_string(),
        reason: e.to_string(),
    }
}

impl Writer {
    fn open(
        config: LogConfig,
        clock: Arc<dyn Clock>,
        stats: Arc<Stats>,
    ) -> Result<Writer, AuditError> {
        let (file, size) = open_active(&config.dir)?;
        let sequence = last_sequence(&config.dir)?;
        let last_check = clock.now();
        Ok(Writer {
            config,
            clock,
            stats,
            file,
            size,
            last_check,
            sequence,
        })
    }

    fn run(&mut self, rx: mpsc::Receiver<Request>) {
        loop {
            let first = match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => Request::Tick,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            while batch.len() < 4096 {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.handle(batch);
        }
    }

    fn handle(&mut self, batch: Vec<Request>) {
        self.check_schedule();
        let mut appends: Vec<(Vec<u8>, Ack)> = Vec::new();
        for request in batch {
            match request {
                Request::Append(line, ack) => appends.push((line, ack)),
                other => {
                    // Keep order: records queued before a rotate or reconfigure go first.
                    self.flush(std::mem::take(&mut appends));
                    match other {
                        Request::Rotate(ack) => {
                            let _ = ack.send(self.rotate("request"));
                        }
                        Request::Configure(config, ack) => {
                            let _ = ack.send(self.reconfigure(config));
                        }
                        Request::Tick => self.apply_retention(),
                        Request::Append(..) => {}
                    }
                }
            }
        }
        self.flush(appends);
    }

    /// Writes a group of records and syncs once; acknowledges each with the outcome.
    fn flush(&mut self, appends: Vec<(Vec<u8>, Ack)>) {
        if appends.is_empty() {
            return;
        }
        let mut buffer = Vec::new();
        let mut pending = Vec::new();
        let mut outcome: Result<(), AuditError> = Ok(());
        for (mut line, ack) in appends {
            line.push(b'\n');
            let limit = self.config.rotation_size;
            if limit > 0
                && self.size + (buffer.len() + line.len()) as u64 > limit
                && self.size + buffer.len() as u64 > 0
            {
                outcome = self
                    .write_and_sync(&buffer)
                    .and_then(|_| self.rotate("size"));
                buffer.clear();
                acknowledge(&mut pending, &outcome);
                if outcome.is_err() {
                    let _ = ack.send(outcome.clone());
                    continue;
                }
            }
            buffer.extend_from_slice(&line);
            pending.push(ack);
        }
        if !buffer.is_empty() {
            outcome = self.write_and_sync(&buffer);
        }
        acknowledge(&mut pending, &outcome);
    }

    fn write_and_sync(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let dir = self.config.dir.clone();
        let result = self
            .file
            .write_all(bytes)
            .and_then(|_| self.file.sync_data());
        match result {
            Ok(()) => {
                self.size += bytes.len() as u64;
                self.stats.records.fetch_add(
                    bytes.iter().filter(|b| **b == b'\n').count() as u64,
                    Ordering::Relaxed,
                );
                self.stats.syncs.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                // Cut off whatever part of the group reached the file, so a failed write
                // (disk full) never leaves a torn or unacknowledged record behind.
                let _ = self.file.set_len(self.size);
                let _ = self.file.seek(SeekFrom::Start(self.size));
                tracing::error!(dir = %dir.display(), error = %e, "audit log write failed");
                Err(io_error(&dir, e))
            }
        }
    }

    /// Renames the active file to the next archive name and starts a new active file.
    /// `cause` (`request`, `size`, `schedule`) is what the metrics count it under.
    fn rotate(&mut self, cause: &'static str) -> Result<(), AuditError> {
        let dir = self.config.dir.clone();
        self.file.sync_all().map_err(|e| io_error(&dir, e))?;
        self.sequence += 1;
        let archive = dir.join(archive_name(self.clock.now(), self.sequence));
        fs::rename(dir.join(ACTIVE_NAME), &archive).map_err(|e| io_error(&dir, e))?;
        let (file, size) = open_active(&dir)?;
        self.file = file;
        self.size = size;
        sync_dir(&dir).map_err(|e| io_error(&dir, e))?;
        self.stats.rotations.fetch_add(1, Ordering::Relaxed);
        telemetry::audit::AuditLogRotated { cause }.emit();
        self.apply_retention();
        Ok(())
    }

    fn reconfigure(&mut self, config: LogConfig) -> Result<(), AuditError> {
        if config.dir != self.config.dir {
            let (file, size) = open_active(&config.dir)?;
            self.file = file;
            self.size = size;
            self.sequence = last_sequence(&config.dir)?;
        }
        self.config = config;
        self.apply_retention();
        Ok(())
    }

    fn check_schedule(&mut self) {
        let now = self.clock.now();
        if self
            .config
            .rotation_schedule
            .fired_between(self.last_check, now)
            && let Err(e) = self.rotate("schedule")
        {
            tracing::error!(error = %e, "scheduled audit log rotation failed");
        }
        self.last_check = now;
    }

    /// Deletes the oldest archives beyond `retention_count` and those older than
    /// `retention_age`, counting the records they held.
    fn apply_retention(&mut self) {
        let dir = self.config.dir.clone();
        let Ok(mut names) = archives(&dir) else {
            return;
        };
        let mut doomed = Vec::new();
        let count = self.config.retention_count as usize;
        if count > 0 && names.len() > count {
            doomed.extend(names.drain(..names.len() - count));
        }
        if !self.config.retention_age.is_zero() {
            let cutoff = self.clock.now()
                - chrono::Duration::from_std(self.config.retention_age)
                    .unwrap_or(chrono::Duration::MAX);
            for name in names {
                if archive_time(&name).is_some_and(|t| t < cutoff) {
                    doomed.push(name);
                }
            }
        }
        for name in doomed {
            let path = dir.join(&name);
            let records = count_lines(&path).unwrap_or(0);
            match fs::remove_file(&path) {
                Ok(()) => {
                    self.stats.archives_deleted.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .records_deleted
                        .fetch_add(records, Ordering::Relaxed);
                    tracing::info!(file = %path.display(), records, "audit retention deleted an archive");
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "audit retention could not delete an archive")
                }
            }
        }
    }
}

fn acknowledge(
    pending: &mut Vec<oneshot::Sender<Result<(), AuditError>>>,
    outcome: &Result<(), AuditError>,
) {
    for ack in pending.drain(..) {
        let _ = ack.send(outcome.clone());
    }
}

/// Opens (creating) the active file and drops a torn last line: a record whose write
/// was cut by a crash was never acknowledged, so removing it loses nothing.
fn open_active(dir: &Path) -> Result<(File, u64), AuditError> {
    let path = dir.join(ACTIVE_NAME);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| io_error(dir, e))?;
    let len = file.metadata().map_err(|e| io_error(dir, e))?.len();
    let keep = complete_prefix(&mut file, len).map_err(|e| io_error(dir, e))?;
    if keep != len {
        tracing::warn!(file = %path.display(), dropped = len - keep, "repaired a torn audit record left by a crash");
        file.set_len(keep).map_err(|e| io_error(dir, e))?;
        file.sync_all().map_err(|e| io_error(dir, e))?;
    }
    Ok((file, keep))
}

/// Length of the file up to and including its last newline.
fn complete_prefix(file: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(pos) = chunk[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `audit_D<YYYY-MM-DD>-T<HH-MM-SS>_<sequence>.json`: sorts chronologically by name.
fn archive_name(t: DateTime<Utc>, sequence: u64) -> String {
    format!(
        "{ARCHIVE_PREFIX}{}_{sequence:010}.json",
        t.format("%Y-%m-%d-T%H-%M-%S")
    )
}

fn archive_time(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix(ARCHIVE_PREFIX)?.get(..20)?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d-T%H-%M-%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Archive file names, oldest first.
pub fn archives(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(ARCHIVE_PREFIX) && n.ends_with(".json"))
        .collect();
    names.sort_by(|a, b| sequence_of(a).cmp(&sequence_of(b)).then_with(|| a.cmp(b)));
    Ok(names)
}

fn last_sequence(dir: &Path) -> Result<u64, AuditError> {
    Ok(archives(dir)
        .map_err(|e| io_error(dir, e))?
        .last()
        .map_or(0, |n| sequence_of(n)))
}

fn sequence_of(name: &str) -> u64 {
    name.trim_end_matches(".json")
        .rsplit('_')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn count_lines(path: &Path) -> io::Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0;
    loop {
        let read = f.read(&mut buf)?;
        if read == 0 {
            return Ok(n);
        }
        n += buf[..read].iter().filter(|b| **b == b'\n').count() as u64;
    }
}
