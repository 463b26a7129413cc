//! The scanning service: the one path from "a file needs scanning" to a verdict, a
//! remediation, Vscan events and records, under every front door.
//!
//! The pipeline, in order:
//! 1. **scope**: the policy's scope decides on the SVM path, the size and the access
//!    ([`vscan::scope::Scope::decide`]); a skipped file is never opened by the engine;
//! 2. **cache**: a file the scan cache knows clean, as it is now, to every server that
//!    could scan it, is answered without a scan;
//! 3. **dispatch**: the built-in engine or the SVM's pool servers, active role first,
//!    failover to one other server ([`scan::dispatch`]), within the request's deadline;
//! 4. **remediation**: the policy's action on an infected file ([`remediate`]);
//! 5. **events**: detections, failures and remediations become Vscan events
//!    ([`events`]; the dispatcher records the scan ones, remediation its own);
//! 6. **records**: the caller folds [`Outcome`]s into its run record ([`records`]);
//! 7. **metrics**: every file is one [`observer::FileScanned`] event.
//!
//! A front door calls [`ScanService::scan`] with one [`Request`] (a path, an open file
//! or bytes), or, walking a tree, [`ScanService::admit`] per file and
//! [`ScanService::scan_opened`] per batch. "Scanner unavailable" is its own outcome,
//! distinct from clean and infected, because mandatory policies deny on it.

pub mod events;
pub mod monitors;
pub mod observer;
pub mod on_access;
pub mod records;
pub mod remediate;
pub mod report;
pub mod running;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::fs::{CWD, FileType, Mode, OFlags};
use scan::Verdict;
use scan::cache::FileId;
use scan::dispatch::{EngineKind, Opened, ScanError, View};
use scan::remote::Manager;
use serde_json::json;
use vscan::scope::{Decision, FileAccess, Scope, SkipReason};

use events::EventLog;
use observer::{FileScanned, ScanObserver};
pub use remediate::{Remediation, Remedy};

/// Why a file is scanned; events, records and metrics say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    OnDemand,
    OnAccess,
    S3Upload,
}

impl Trigger {
    /// The metrics' `trigger` label.
    pub fn metric(self) -> telemetry::scans::Trigger {
        match self {
            Trigger::OnDemand => telemetry::scans::Trigger::OnDemand,
            Trigger::OnAccess => telemetry::scans::Trigger::OnAccess,
            Trigger::S3Upload => telemetry::scans::Trigger::S3Upload,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::OnDemand => "on_demand",
            Trigger::OnAccess => "on_access",
            Trigger::S3Upload => "s3_upload",
        }
    }
}

/// What is to be scanned.
pub enum Subject {
    /// A host path, opened by the service without following a final symbolic link.
    Path(PathBuf),
    /// A file the caller opened (fanotify hands one over), with its host path when it
    /// has one (remediation needs it).
    Open { file: File, host: Option<PathBuf> },
    /// Bytes on no file system yet (an S3 upload before it is committed). Never cached,
    /// never remediated: the caller refuses to commit them instead.
    Bytes(Vec<u8>),
}

/// What governs a scan: the policy's scope and remediation, the trigger, a deadline.
#[derive(Clone)]
pub struct Job {
    pub svm: String,
    pub trigger: Trigger,
    pub remediation: Remediation,
    /// Longest the caller waits for verdicts; past it they are `Unavailable`.
    pub deadline: Option<Duration>,
}

/// One file for [`ScanService::scan`].
pub struct Request {
    /// How the SVM names the file (`/vol1/a.exe`): scope exclusions and events use it.
    pub file_path: String,
    pub subject: Subject,
    /// Opened with execute intent (on-access `only_execute_access`).
    pub execute: bool,
    /// On a read-only volume (on-access `scan_readonly_volumes`).
    pub readonly_volume: bool,
}

/// The verdict of the pipeline on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Outside the policy's scope: not scanned.
    Skipped(SkipReason),
    Clean {
        cached: bool,
    },
    /// Found something (a detection, or a limit hit before anything was found);
    /// `remedy` is what remediation did, `None` when it could not apply (bytes).
    Infected {
        threat: String,
        remedy: Option<Remedy>,
    },
    /// No scanner could answer (none connected, all failed, or out of time).
    Unavailable(String),
    /// This file could not be scanned: unreadable, or the scanner refused it.
    Failed(String),
}

/// [`Outcome`] without its details, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    Skipped,
    Clean,
    Cached,
    Infected,
    Unavailable,
    Failed,
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Skipped(_) => OutcomeKind::Skipped,
            Outcome::Clean { cached: false } => OutcomeKind::Clean,
            Outcome::Clean { cached: true } => OutcomeKind::Cached,
            Outcome::Infected { .. } => OutcomeKind::Infected,
            Outcome::Unavailable(_) => OutcomeKind::Unavailable,
            Outcome::Failed(_) => OutcomeKind::Failed,
        }
    }
}

/// Stages 1 and 2 for a file the caller looked at but has not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Skip(SkipReason),
    /// Not changed since the time asked about (incremental runs).
    Unchanged,
    /// Known clean as it is now.
    Cached,
    /// Open it and hand it to [`ScanService::scan_opened`].
    Scan,
}

pub struct ScanService {
    scanners: Arc<Manager>,
    events: Arc<EventLog>,
    data_dir: PathBuf,
    observer: Arc<dyn ScanObserver>,
}

impl ScanService {
    pub fn new(
        scanners: Arc<Manager>,
        events: Arc<EventLog>,
        data_dir: PathBuf,
        observer: Arc<dyn ScanObserver>,
    ) -> ScanService {
        ScanService {
            scanners,
            events,
            data_dir,
            observer,
        }
    }

    /// The servers and cache generation a batch of the SVM's scans goes through. Take
    /// one per directory or request: a change of servers is seen at the next one.
    pub fn view(&self, svm: &str) -> View {
        self.scanners.view(svm)
    }

    /// Scope, then change (with `changed_since`, nanoseconds since the epoch, only
    /// files whose status changed at or after it), then cache, for a file known by its
    /// SVM path and identity. Cheap and blocking-safe: walkers call it for every file.
    pub fn admit(
        &self,
        view: &View,
        scope: &Scope,
        access: &FileAccess,
        id: &FileId,
        changed_since: Option<i128>,
    ) -> Admission {
        if let Decision::Skip(reason) = scope.decide(access) {
            return Admission::Skip(reason);
        }
        if changed_since.is_some_and(|since| id.stamp.ctime < since) {
            return Admission::Unchanged;
        }
        if view.is_clean(id) {
            return Admission::Cached;
        }
        Admission::Scan
    }

    /// Stages 3 to 7 for files the caller opened and admitted with the same `view`.
    /// Outcomes come back in the order given, with each file's SVM path.
    pub async fn scan_opened(
        &self,
        view: &View,
        job: &Job,
        files: Vec<Opened>,
    ) -> Vec<(String, Outcome)> {
        self.dispatch(view, job, files, true).await
    }

    /// The whole pipeline for one file.
    pub async fn scan(&self, scope: &Scope, job: &Job, request: Request) -> Outcome {
        let started = Instant::now();
        let (cacheable, remediable) = match &request.subject {
            Subject::Path(_) => (true, true),
            Subject::Open { host, .. } => (true, host.is_some()),
            Subject::Bytes(_) => (false, false),
        };
        let opened = match open(request.subject, &request.file_path) {
            Ok(opened) => opened,
            Err(e) => {
                let body = json!({"file_path": request.file_path, "disconnect_reason": "na"});
                self.events.record(&job.svm, "scan_internal_error", body);
                let outcome = Outcome::Failed(format!("the file cannot be opened: {e}"));
                self.observe(job, &outcome, EngineKind::None, 0, started.elapsed());
                return outcome;
            }
        };
        let access = FileAccess {
            path: &request.file_path,
            size: opened.id.stamp.size,
            execute: request.execute,
            readonly_volume: request.readonly_volume,
        };
        let view = self.view(&job.svm);
        let admitted = match self.admit(&view, scope, &access, &opened.id, None) {
            // Bytes have no identity a later request could share: never from the cache.
            Admission::Cached if !cacheable => Admission::Scan,
            other => other,
        };
        let outcome = match admitted {
            Admission::Skip(reason) => Outcome::Skipped(reason),
            Admission::Unchanged | Admission::Cached => Outcome::Clean { cached: true },
            Admission::Scan => {
                let mut done = self.dispatch(&view, job, vec![opened], remediable).await;
                return done
                    .pop()
                    .map(|(_, outcome)| outcome)
                    .unwrap_or_else(|| Outcome::Unavailable("no verdict".into()));
            }
        };
        let engine = match outcome {
            Outcome::Clean { cached: true } => EngineKind::Cache,
            _ => EngineKind::None,
        };
        self.observe(job, &outcome, engine, 0, started.elapsed());
        outcome
    }

    /// What a walker's [`ScanService::admit`] answered without a scan, for the metrics:
    /// a skip or a cache hit is a file of the run like any scanned one.
    pub fn observe_admission(&self, svm: &str, trigger: Trigger, admission: &Admission) {
        let (outcome, engine) = match admission {
            Admission::Skip(_) => (OutcomeKind::Skipped, EngineKind::None),
            Admission::Cached => (OutcomeKind::Cached, EngineKind::Cache),
            Admission::Unchanged | Admission::Scan => return,
        };
        self.observer.file_scanned(&FileScanned {
            svm,
            trigger,
            outcome,
            engine,
            bytes: 0,
            elapsed: Duration::ZERO,
        });
    }

    async fn dispatch(
        &self,
        view: &View,
        job: &Job,
        files: Vec<Opened>,
        remediable: bool,
    ) -> Vec<(String, Outcome)> {
        let started = Instant::now();
        let files: Arc<[Opened]> = Arc::from(files);
        let scanning = self.scanners.scan_opened(view, Arc::clone(&files));
        let results = match job.deadline {
            None => Ok(scanning.await),
            Some(deadline) => tokio::time::timeout(deadline, scanning)
                .await
                .map_err(|_| deadline),
        };
        let results = match results {
            Ok(results) => results,
            Err(deadline) => return self.too_late(job, &files, deadline, started),
        };
        // A batch's time is shared among its files for the metrics.
        let each = started.elapsed() / u32::try_from(files.len().max(1)).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(files.len());
        for (item, result) in files.iter().zip(results) {
            let engine = match &result {
                Ok(scanned) => scanned.engine,
                Err(_) => EngineKind::None,
            };
            let outcome = match result {
                Ok(scanned) => match scanned.verdict {
                    Verdict::Clean => Outcome::Clean {
                        cached: scanned.server == scan::dispatch::CACHE,
                    },
                    Verdict::Error(e) => Outcome::Failed(e),
                    found @ (Verdict::Infected(_) | Verdict::LimitExceeded(_)) => {
                        let threat = found.found_names().join(", ");
                        let remedy = if remediable {
                            Some(self.remediate(job, item, &threat).await)
                        } else {
                            None
                        };
                        Outcome::Infected { threat, remedy }
                    }
                },
                Err(e @ ScanError::Unreadable(_)) => Outcome::Failed(e.to_string()),
                Err(e) => Outcome::Unavailable(e.to_string()),
            };
            self.observe(job, &outcome, engine, item.id.stamp.size, each);
            out.push((item.file_path.clone(), outcome));
        }
        out
    }

    /// The deadline passed before the scanners answered: every file is `Unavailable`,
    /// each with a `scan_timedout` event.
    fn too_late(
        &self,
        job: &Job,
        files: &[Opened],
        deadline: Duration,
        started: Instant,
    ) -> Vec<(String, Outcome)> {
        let reason = format!("no verdict within the {} ms deadline", deadline.as_millis());
        files
            .iter()
            .map(|item| {
                let body = json!({"file_path": item.file_path, "disconnect_reason": "na"});
                self.events.record(&job.svm, "scan_timedout", body);
                let outcome = Outcome::Unavailable(reason.clone());
                self.observe(job, &outcome, EngineKind::None, 0, started.elapsed());
                (item.file_path.clone(), outcome)
            })
            .collect()
    }

    async fn remediate(&self, job: &Job, item: &Opened, threat: &str) -> Remedy {
        let events = Arc::clone(&self.events);
        let data_dir = self.data_dir.clone();
        let target = remediate::Target {
            svm_uuid: job.svm.clone(),
            host_path: item.path.clone(),
            scanned: item.id.clone(),
            svm_path: item.file_path.clone(),
            threat: threat.to_string(),
        };
        let remediation = job.remediation;
        // Moving or copying a file is blocking work.
        tokio::task::spawn_blocking(move || {
            remediate::apply(&events, &data_dir, remediation, &target)
        })
        .await
        .unwrap_or_else(|e| Remedy::Failed {
            action: remediation.as_str(),
            reason: format!("{} failed: {e}", remediation.as_str()),
        })
    }

    fn observe(
        &self,
        job: &Job,
        outcome: &Outcome,
        engine: EngineKind,
        bytes: u64,
        elapsed: Duration,
    ) {
        let scanned = matches!(
            outcome.kind(),
            OutcomeKind::Clean | OutcomeKind::Infected | OutcomeKind::Failed
        );
        self.observer.file_scanned(&FileScanned {
            svm: &job.svm,
            trigger: job.trigger,
            outcome: outcome.kind(),
            engine,
            bytes: if scanned { bytes } else { 0 },
            elapsed,
        });
    }
}

/// The subject as an open regular file with its identity from `fstat`.
fn open(subject: Subject, file_path: &str) -> std::io::Result<Opened> {
    let (file, path) = match subject {
        Subject::Path(host) => {
            let flags = OFlags::RDONLY
                | OFlags::NOFOLLOW
                | OFlags::NOCTTY
                | OFlags::NONBLOCK
                | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(CWD, &host, flags, Mode::empty())?;
            (File::from(fd), host)
        }
        Subject::Open { file, host } => (file, host.unwrap_or_else(|| file_path.into())),
        Subject::Bytes(bytes) => {
            let fd = rustix::fs::memfd_create("vigil-scan", rustix::fs::MemfdFlags::CLOEXEC)?;
            let mut file = File::from(fd);
            file.write_all(&bytes)?;
            (file, PathBuf::from(file_path))
        }
    };
    let meta = file.metadata()?;
    if FileType::from_raw_mode(std::os::unix::fs::MetadataExt::mode(&meta)) != FileType::RegularFile
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(Opened {
        id: FileId::of(&meta),
        file,
        path,
        file_path: file_path.to_string(),
    })
}
