//! The parallel tree walk of an on-demand run.
//!
//! Walker threads share a queue of directories. Each directory is opened with
//! `O_NOFOLLOW` and checked to be the very directory (device and inode) its parent listed,
//! and every file is looked at and opened relative to its directory's descriptor, also
//! with `O_NOFOLLOW`: a directory or file swapped for a symbolic link during the walk is
//! never followed out of the namespace. Each file is admitted by the scanning service
//! (scope, change, cache) before it is opened: a file it knows clean is counted without
//! being opened; the others are opened here and handed over in batches.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, Stat};
use scan::cache::{FileId, Stamp};
use scan::dispatch::{Opened, View};
use tokio::sync::mpsc;
use vscan::scope::{FileAccess, Scope};

use crate::scanning::records::{ErrorKind, RunError, WalkCounts};
use crate::scanning::{Admission, ScanService};

/// Files per batch sent to the dispatcher.
pub const BATCH: usize = 32;

/// A directory waiting to be read.
struct Pending {
    host: PathBuf,
    /// As the SVM names it (`/vol1/dir`); `""` for the namespace root.
    shown: String,
    /// The device and inode its parent listed; `None` for a scan path's root.
    expect: Option<(u64, u64)>,
}

/// Directories to read, and how many walkers are reading one (whose children may
/// still come): the walk is over when both are zero.
struct Queue {
    state: Mutex<(Vec<Pending>, usize)>,
    changed: Condvar,
}

impl Queue {
    fn next(&self) -> Option<Pending> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(dir) = state.0.pop() {
                state.1 += 1;
                return Some(dir);
            }
            if state.1 == 0 {
                self.changed.notify_all();
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn finished(&self, children: Vec<Pending>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0.extend(children);
        state.1 -= 1;
        self.changed.notify_all();
    }
}

/// What the walk counted by itself, and what kept it from files.
#[derive(Debug, Default)]
pub struct Walked {
    pub counts: WalkCounts,
    pub errors: Vec<RunError>,
}

impl Walked {
    fn add(&mut self, other: Walked) {
        let (c, o) = (&mut self.counts, other.counts);
        c.folders += o.folders;
        c.skipped += o.skipped;
        c.unchanged += o.unchanged;
        c.cached += o.cached;
        self.errors.extend(other.errors);
    }
}

/// What every walker of one run shares.
pub struct Walk {
    pub svm: String,
    pub scope: Scope,
    pub service: Arc<ScanService>,
    /// Incremental runs: only files whose status changed at or after this time
    /// (nanoseconds since the epoch) are scanned.
    pub changed_since: Option<i128>,
    pub cancel: Arc<AtomicBool>,
    queue: Queue,
}

impl Walk {
    /// A walk of `roots` (host path, SVM path) .
    pub fn new(
        svm: String,
        scope: Scope,
        service: Arc<ScanService>,
        changed_since: Option<i128>,
        cancel: Arc<AtomicBool>,
        roots: Vec<(PathBuf, String)>,
    ) -> Walk {
        let pending = roots
            .into_iter()
            .map(|(host, shown)| Pending {
                host,
                shown: shown.trim_end_matches('/').to_string(),
                expect: None,
            })
            .collect();
        Walk {
            svm,
            scope,
            service,
            changed_since,
            cancel,
            queue: Queue {
                state: Mutex::new((pending, 0)),
                changed: Condvar::new(),
            },
        }
    }

    /// One walker thread: reads directories until none are left, sending unknown files
    /// to `batches`.
    pub fn walker(&self, batches: &mpsc::Sender<Vec<Opened>>) -> Walked {
        let mut walked = Walked::default();
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(dir) = self.queue.next() {
            let mut children = Vec::new();
            if !self.cancel.load(Ordering::Relaxed) {
                self.read_dir(&dir, &mut children, &mut batch, batches, &mut walked);
            }
            self.queue.finished(children);
        }
        if !batch.is_empty() {
            let _ = batches.blocking_send(batch);
        }
        walked
    }

    fn read_dir(
        &self,
        dir: &Pending,
        children: &mut Vec<Pending>,
        batch: &mut Vec<Opened>,
        batches: &mpsc::Sender<Vec<Opened>>,
        walked: &mut Walked,
    ) {
        let shown_dir = if dir.shown.is_empty() {
            "/"
        } else {
            &dir.shown
        };
        let error = |walked: &mut Walked, path: &str, e: &dyn std::fmt::Display| {
            walked
                .errors
                .push(RunError::new(path, e, ErrorKind::ListFolder));
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(CWD, &dir.host, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => return error(walked, shown_dir, &std::io::Error::from(e)),
        };
        if let Some(expect) = dir.expect {
            match rustix::fs::fstat(&fd) {
                Ok(st) if (st.st_dev, st.st_ino) == expect => {}
                Ok(_) => {
                    return error(
                        walked,
                        shown_dir,
                        &"the directory was replaced during the scan",
                    );
                }
                Err(e) => return error(walked, shown_dir, &std::io::Error::from(e)),
            }
        }
        let entries = match Dir::read_from(&fd) {
            Ok(d) => d,
            Err(e) => return error(walked, shown_dir, &std::io::Error::from(e)),
        };
        walked.counts.folders += 1;
        // The servers and cache generation are taken once per directory, so a change of
        // servers is seen within one directory's time.
        let view = self.service.view(&self.svm);
        for entry in entries {
            if self.cancel.load(Ordering::Relaxed) {
                break;
            }
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    error(walked, shown_dir, &std::io::Error::from(e));
                    break;
                }
            };
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let name_os = OsStr::from_bytes(name.to_bytes());
            let shown = format!("{}/{}", dir.shown, name_os.to_string_lossy());
            let mut file_type = entry.file_type();
            let mut stat: Option<Stat> = None;
            if file_type == FileType::Unknown || file_type == FileType::Directory {
                match rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => {
                        file_type = FileType::from_raw_mode(st.st_mode);
                        stat = Some(st);
                    }
                    Err(e) => {
                        walked.errors.push(RunError::new(
                            &shown,
                            &std::io::Error::from(e),
                            ErrorKind::OpenFile,
                        ));
                        continue;
                    }
                }
            }
            match file_type {
                FileType::Directory => {
                    let expect = stat.map(|st| (st.st_dev, st.st_ino));
                    children.push(Pending {
                        host: dir.host.join(name_os),
                        shown,
                        expect,
                    });
                }
                FileType::RegularFile => {
                    if let Some(opened) = self.file(&fd, name, name_os, dir, shown, &view, walked) {
                        batch.push(opened);
                        if batch.len() >= BATCH {
                            let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
                            if batches.blocking_send(full).is_err() {
                                // The run is gone (its task ended): stop walking.
                                self.cancel.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
                // Links are never followed; devices, sockets and pipes hold no files.
                _ => {}
            }
        }
    }

    /// A regular file: in scope, changed (for incremental runs), not known clean? Then
    /// it is opened for the dispatcher.
    #[allow(clippy::too_many_arguments)]
    fn file(
        &self,
        dir_fd: &rustix::fd::OwnedFd,
        name: &CStr,
        name_os: &OsStr,
        dir: &Pending,
        shown: String,
        view: &View,
        walked: &mut Walked,
    ) -> Option<Opened> {
        let unreadable = |walked: &mut Walked, shown: &str, e: rustix::io::Errno| {
            walked.errors.push(RunError::new(
                shown,
                &std::io::Error::from(e),
                ErrorKind::OpenFile,
            ));
            None
        };
        let st = match rustix::fs::statat(dir_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(e) => return unreadable(walked, &shown, e),
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return None;
        }
        let access = FileAccess {
            path: &shown,
            size: st.st_size as u64,
            execute: false,
            readonly_volume: false,
        };
        let id = file_id(&st);
        let admission = self
            .service
            .admit(view, &self.scope, &access, &id, self.changed_since);
        self.service
            .observe_admission(&self.svm, crate::scanning::Trigger::OnDemand, &admission);
        match admission {
            Admission::Skip(_) => {
                walked.counts.skipped += 1;
                return None;
            }
            Admission::Unchanged => {
                walked.counts.unchanged += 1;
                return None;
            }
            Admission::Cached => {
                walked.counts.cached += 1;
                return None;
            }
            Admission::Scan => {}
        }
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(dir_fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => return unreadable(walked, &shown, e),
        };
        // What is scanned is what was opened: its own identity, not the earlier stat's.
        let st = match rustix::fs::fstat(&fd) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => st,
            Ok(_) => return None,
            Err(e) => return unreadable(walked, &shown, e),
        };
        Some(Opened {
            file: File::from(fd),
            id: file_id(&st),
            path: dir.host.join(name_os),
            file_path: shown,
        })
    }
}

/// Merges what each walker counted.
pub fn merge(parts: impl IntoIterator<Item = Walked>) -> Walked {
    let mut all = Walked::default();
    for part in parts {
        all.add(part);
    }
    all
}

fn file_id(st: &Stat) -> FileId {
    let ns = |secs: i64, nanos: u64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    FileId {
        dev: st.st_dev,
        ino: st.st_ino,
        stamp: Stamp {
            size: st.st_size as u64,
            mtime: ns(st.st_mtime, st.st_mtime_nsec),
            ctime: ns(st.st_ctime, st.st_ctime_nsec),
        },
    }
}
