//! The scanning worker pool: a fixed number of OS threads (scanning is CPU-bound and
//! YARA-X scanners are per-thread) fed by a bounded queue, so a flood of requests waits in
//! the queue instead of growing memory.
//!
//! Each thread keeps one [`Scanning`] for the rule set it was built with and rebuilds it
//! when RELOAD swaps in a new one; a job already running finishes on the old rules.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::engine::{Engine, Mode, Scanning};
use crate::verdict::Scanned;
use crate::worker::{MAX_BATCH, Worker, WorkerSpec};

type Job = Box<dyn for<'r> FnOnce(&mut Scanning<'r>) + Send>;

/// One open file to scan. Queued apart from other jobs so that a thread finding several
/// waiting can scan them as one batch (one worker round trip with process isolation).
struct FileScan {
    file: File,
    mode: Mode,
    reply: tokio::sync::oneshot::Sender<Scanned>,
}

enum Work {
    Run(Job),
    Scan(FileScan),
}

struct Queued {
    id: u64,
    work: Work,
}

/// What STATS shows about one queued or running job.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub description: String,
    pub since: Instant,
    pub running: bool,
}

#[derive(Default)]
struct Shared {
    jobs: Mutex<BTreeMap<u64, JobInfo>>,
    busy: AtomicUsize,
}

#[derive(Clone)]
pub struct Pool {
    sender: flume::Sender<Queued>,
    shared: Arc<Shared>,
    next_id: Arc<AtomicU64>,
    threads: usize,
}

/// The pool has shut down (its threads are gone), so the job cannot run.
#[derive(Debug, thiserror::Error)]
#[error("scanner pool is shut down")]
pub struct PoolClosed;

/// A snapshot for STATS.
#[derive(Debug, Clone)]
pub struct PoolStats {
    pub threads: usize,
    pub busy: usize,
    pub queued: usize,
    pub jobs: Vec<JobInfo>,
}

fn lock_jobs(shared: &Shared) -> std::sync::MutexGuard<'_, BTreeMap<u64, JobInfo>> {
    // A panic while holding this lock only affects bookkeeping for STATS.
    shared
        .jobs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Pool {
    pub fn start(engine: Arc<Engine>, threads: usize, queue: usize) -> std::io::Result<Pool> {
        Pool::start_isolated(engine, threads, queue, None)
    }

    /// A pool whose threads each hand their scans to a worker process started from
    /// `workers` (see [`crate::worker`]); `None` scans on the threads themselves.
    pub fn start_isolated(
        engine: Arc<Engine>,
        threads: usize,
        queue: usize,
        workers: Option<WorkerSpec>,
    ) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let (sender, receiver) = flume::bounded::<Queued>(queue.max(1));
        let shared = Arc::new(Shared::default());
        for index in 0..threads {
            let (engine, receiver, shared) = (engine.clone(), receiver.clone(), shared.clone());
            let workers = workers.clone();
            std::thread::Builder::new()
                .name(format!("vigil-scan-{index}"))
                .spawn(move || worker(&engine, &receiver, &shared, threads, workers.as_ref()))?;
        }
        Ok(Pool {
            sender,
            shared,
            next_id: Arc::new(AtomicU64::new(1)),
            threads,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on a scanner thread and returns its result. Waits for room when the queue
    /// is full; that wait is the backpressure that bounds memory.
    pub async fn run<T, F>(&self, description: String, f: F) -> Result<T, PoolClosed>
    where
        T: Send + 'static,
        F: for<'r> FnOnce(&mut Scanning<'r>) -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |scanning| {
            let _ = tx.send(f(scanning));
        });
        self.enqueue(description, Work::Run(job)).await?;
        // If the caller is dropped while waiting (client disconnected), the job still runs
        // to completion and its result is discarded.
        rx.await.map_err(|_| PoolClosed)
    }

    /// Scans one open file (as [`Scanning::scan_file`]). Files waiting together are
    /// scanned together by one thread.
    pub async fn scan_file(
        &self,
        description: String,
        file: File,
        mode: Mode,
    ) -> Result<Scanned, PoolClosed> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let scan = FileScan { file, mode, reply };
        self.enqueue(description, Work::Scan(scan)).await?;
        rx.await.map_err(|_| PoolClosed)
    }

    async fn enqueue(&self, description: String, work: Work) -> Result<(), PoolClosed> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock_jobs(&self.shared).insert(
            id,
            JobInfo {
                description,
                since: Instant::now(),
                running: false,
            },
        );
        let sent = self.sender.send_async(Queued { id, work }).await;
        if sent.is_err() {
            lock_jobs(&self.shared).remove(&id);
            return Err(PoolClosed);
        }
        Ok(())
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            threads: self.threads,
            busy: self.shared.busy.load(Ordering::Relaxed),
            queued: self.sender.len(),
            jobs: lock_jobs(&self.shared).values().cloned().collect(),
        }
    }
}

fn worker(
    engine: &Engine,
    receiver: &flume::Receiver<Queued>,
    shared: &Shared,
    threads: usize,
    workers: Option<&WorkerSpec>,
) {
    let mut pending: Option<Queued> = None;
    loop {
        let ruleset = engine.ruleset();
        let mut scanning = Scanning::new(&ruleset, engine.limits().clone());
        // A new worker process for new rules: it loads them itself when it starts.
        if let Some(spec) = workers {
            scanning.isolate(Box::new(Worker::new(spec.clone())));
        }
        loop {
            let queued = match pending.take() {
                Some(q) => q,
                None => match receiver.recv() {
                    Ok(q) => q,
                    Err(_) => return,
                },
            };
            if !Arc::ptr_eq(&ruleset, &engine.ruleset()) {
                // Rules were reloaded: rebuild the scanner first, then run this job.
                pending = Some(queued);
                break;
            }
            let (ids, task) = match queued.work {
                Work::Run(job) => (vec![queued.id], Task::Run(job)),
                Work::Scan(first) => {
                    let (ids, scans) = batch(receiver, threads, queued.id, first, &mut pending);
                    (ids, Task::Scan(scans))
                }
            };
            {
                let mut jobs = lock_jobs(shared);
                for id in &ids {
                    if let Some(info) = jobs.get_mut(id) {
                        info.running = true;
                        info.since = Instant::now();
                    }
                }
            }
            shared.busy.fetch_add(1, Ordering::Relaxed);
            // A panicking rule or parser must not take the thread (and the pool) down.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run(&mut scanning)));
            shared.busy.fetch_sub(1, Ordering::Relaxed);
            {
                let mut jobs = lock_jobs(shared);
                for id in &ids {
                    jobs.remove(id);
                }
            }
            if outcome.is_err() {
                tracing::error!("scan job panicked; scanner state rebuilt");
                break;
            }
        }
    }
}

enum Task {
    Run(Job),
    Scan(Vec<FileScan>),
}

impl Task {
    fn run(self, scanning: &mut Scanning<'_>) {
        match self {
            Task::Run(job) => job(scanning),
            Task::Scan(scans) => {
                // One batch scans in one mode; the first file's decides, others go alone.
                let mode = scans.first().map_or(Mode::FirstMatch, |s| s.mode);
                let (same, other): (Vec<_>, Vec<_>) =
                    scans.into_iter().partition(|s| s.mode == mode);
                let (files, replies): (Vec<File>, Vec<_>) =
                    same.into_iter().map(|s| (s.file, s.reply)).unzip();
                let files: Vec<&File> = files.iter().collect();
                let scanned = scanning.scan_files_sized(&files, mode);
                for (scanned, reply) in scanned.into_iter().zip(replies) {
                    let _ = reply.send(scanned);
                }
                for scan in other {
                    let _ = scan
                        .reply
                        .send(scanning.scan_file_sized(&scan.file, scan.mode));
                }
            }
        }
    }
}

/// `first` and the file scans queued right behind it, up to this thread's share of the
/// queue (so the other threads still get work) and [`MAX_BATCH`]. A job of another kind
/// met on the way is left in `pending`, to run next.
fn batch(
    receiver: &flume::Receiver<Queued>,
    threads: usize,
    first_id: u64,
    first: FileScan,
    pending: &mut Option<Queued>,
) -> (Vec<u64>, Vec<FileScan>) {
    let share = (receiver.len() / threads.max(1)).min(MAX_BATCH - 1);
    let (mut ids, mut scans) = (vec![first_id], vec![first]);
    while scans.len() <= share {
        match receiver.try_recv() {
            Ok(Queued {
                id,
                work: Work::Scan(scan),
            }) => {
                ids.push(id);
                scans.push(scan);
            }
            Ok(other) => {
                *pending = Some(other);
                break;
            }
            Err(_) => break,
        }
    }
    (ids, scans)
}
