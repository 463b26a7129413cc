//! The fanotify on-access door: every open of a file under the root of an SVM with
//! Vscan on and an on-access policy enabled waits for Vigil's verdict (NFS exports,
//! local applications, containers; Samba has its own door).
//!
//! Pieces, each in its own file:
//! - [`sys`]: the kernel interfaces (fanotify, inotify, `/proc`);
//! - [`marks`]: which marks cover the roots, kept in line with roots, mounts and new
//!   directories;
//! - [`decide`]: the call into the shared on-access decision service for one file;
//! - here: the lifecycle, the event reader, the bounded set of decisions in flight,
//!   the deadline and the status the REST API shows.
//!
//! Rules that keep a machine usable while Vigil sits in every open:
//! - the file is scanned through the descriptor the event carries, never reopened by
//!   path (that open would wait on our own event);
//! - opens by Vigil itself and by its children (the scan workers) are allowed without
//!   a look, as are those of the pools' privileged users;
//! - every permission event is answered: by the verdict, by the deadline (allow or deny
//!   as the policy's `mandatory` says, with a `scan_timedout` event), or, should a
//!   decision be dropped on any path, by its guard;
//! - a clean verdict is also left with the kernel as an ignore mask on the file's
//!   inode, so that its next opens do not even reach Vigil; the kernel clears it on
//!   the first modification, and Vigil flushes them all when the policy, the cache
//!   generation or the scan servers change;
//! - at most `max_pending` decisions run at once; beyond that the reader stops reading,
//!   so further openers wait in the kernel (back-pressure), never in an unbounded queue.

pub mod decide;
pub mod marks;
pub mod sys;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use store::Store;

use crate::scanning::events::EventLog;
use crate::scanning::on_access::{AccessDecision, Allowed, OnAccess, Policy};
use crate::tenancy;
use decide::Access;
use marks::Marks;
use sys::{Group, Inotify, Opener};

pub use crate::config::FanotifySettings as Settings;

/// Close-write rescans in flight at most; more are dropped (the next open scans).
const MAX_BACKGROUND: usize = 16;
/// How often the configuration is compared with the marks.
const RECONCILE_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
enum Health {
    Off,
    Active { open_exec_perm: bool },
    Unavailable(String),
}

/// The SVM roots events are located in (longest first), and per covered SVM its name
/// and the uids of its pools' privileged users.
#[derive(Default)]
struct Table {
    roots: Vec<(PathBuf, String)>,
    names: BTreeMap<String, String>,
    privileged: BTreeMap<String, HashSet<u32>>,
}

impl Table {
    /// The SVM and SVM path (`/vol1/a.txt`) of a host path.
    fn locate(&self, host: &Path) -> Option<(&str, String)> {
        let (root, svm) = self.roots.iter().find(|(root, _)| host.starts_with(root))?;
        let rest = host.strip_prefix(root).ok()?;
        Some((svm, format!("/{}", rest.to_string_lossy())))
    }
}

#[derive(Default)]
struct Counters {
    allowed: AtomicU64,
    denied: AtomicU64,
    timed_out: AtomicU64,
    excluded: AtomicU64,
    background_scans: AtomicU64,
    background_dropped: AtomicU64,
    overflows: AtomicU64,
}

pub struct Door {
    settings: Settings,
    health: Mutex<Health>,
    table: RwLock<Arc<Table>>,
    marks: Mutex<Option<Marks>>,
    counters: Counters,
    pending: AtomicU64,
    /// The decision service, set when the door starts.
    on_access: std::sync::OnceLock<Arc<OnAccess>>,
    group: std::sync::OnceLock<Arc<Group>>,
}

impl Door {
    pub fn new(settings: Settings) -> Door {
        Door {
            settings,
            health: Mutex::new(Health::Off),
            table: RwLock::new(Arc::new(Table::default())),
            marks: Mutex::new(None),
            counters: Counters::default(),
            pending: AtomicU64::new(0),
            on_access: std::sync::OnceLock::new(),
            group: std::sync::OnceLock::new(),
        }
    }

    /// The SVM's on-access policy in force, from the shared service.
    fn in_force(&self, svm: &str) -> Option<Arc<Policy>> {
        self.on_access.get().and_then(|s| s.policy(svm))
    }

    fn table(&self) -> Arc<Table> {
        self.table
            .read()
            .map(|t| Arc::clone(&t))
            .unwrap_or_default()
    }

    fn set_health(&self, health: Health) {
        if let Ok(mut h) = self.health.lock() {
            *h = health;
        }
    }

    /// The door as `GET /api/protocols/vscan/on-access-status` shows it.
    pub fn status(&self) -> Value {
        let health = self
            .health
            .lock()
            .map(|h| h.clone())
            .unwrap_or(Health::Unavailable("status lock poisoned".into()));
        let mut out = match &health {
            Health::Off => json!({
                "state": "off",
                "reason": "fanotify is not enabled (vigil serve --fanotify true)",
            }),
            Health::Active { open_exec_perm } => {
                json!({"state": "active", "open_exec_perm": open_exec_perm})
            }
            Health::Unavailable(reason) => json!({"state": "unavailable", "reason": reason}),
        };
        out["deadline_ms"] = json!(self.settings.deadline.as_millis() as u64);
        out["max_pending"] = json!(self.settings.max_pending);
        let table = self.table();
        let marks = self.marks.lock().ok();
        let svms: Vec<Value> = table
            .names
            .iter()
            .map(|(svm, name)| {
                let mut r = marks
                    .as_ref()
                    .and_then(|m| m.as_ref().map(|m| m.status(svm)))
                    .unwrap_or_else(|| json!({}));
                r["svm"] = json!({"uuid": svm, "name": name});
                if let Some(policy) = self.in_force(svm) {
                    r["policy"] = json!(policy.name);
                    r["mandatory"] = json!(policy.mandatory);
                }
                r
            })
            .collect();
        out["svms"] = json!(svms);
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out["counters"] = json!({
            "allowed": n(&c.allowed),
            "denied": n(&c.denied),
            "timed_out": n(&c.timed_out),
            "excluded": n(&c.excluded),
            "background_scans": n(&c.background_scans),
            "background_dropped": n(&c.background_dropped),
            "overflows": n(&c.overflows),
            "pending": n(&self.pending),
        });
        out
    }
}

/// What the door needs from the rest of Vigil, and nothing more: the store (SVMs and
/// the Vscan configuration), the decision service, the event log and the scan
/// servers' health (a clean verdict left with the kernel depends on it).
pub struct Services {
    pub store: Arc<Store>,
    pub on_access: Arc<OnAccess>,
    pub events: Arc<EventLog>,
    pub scanners: Arc<scan::remote::Manager>,
    /// Where the `FAN_OPEN_EXEC_PERM` probe is made.
    pub data_dir: PathBuf,
}

/// The door at work, as its threads and tasks share it.
struct Running {
    door: Arc<Door>,
    services: Services,
}

/// Starts the door when it is enabled. A kernel or capability that does not allow it
/// is logged as an error and shown in the status; the rest of Vigil runs on.
pub fn start(door: &Arc<Door>, services: Services) {
    if !door.settings.enabled {
        return;
    }
    let _ = door.on_access.set(Arc::clone(&services.on_access));
    let unavailable = |reason: String| {
        tracing::error!(%reason, "on-access scanning through fanotify is unavailable");
        door.set_health(Health::Unavailable(reason));
    };
    let group = match Group::new() {
        Ok(g) => Arc::new(g),
        Err(e) => return unavailable(sys::init_error(&e)),
    };
    let exec = match marks::exec_supported(&group, &services.data_dir) {
        Ok(exec) => exec,
        Err(e) => return unavailable(format!("fanotify_mark failed: {e}")),
    };
    let inotify = match Inotify::new() {
        Ok(i) => Arc::new(i),
        Err(e) => return unavailable(format!("inotify_init1 failed: {e}")),
    };
    let mountinfo = match sys::mountinfo() {
        Ok(m) => m,
        Err(e) => return unavailable(format!("cannot open /proc/self/mountinfo: {e}")),
    };
    let mut mask = libc::FAN_OPEN_PERM | libc::FAN_CLOSE_WRITE;
    if exec {
        mask |= libc::FAN_OPEN_EXEC_PERM;
    }
    let _ = door.group.set(Arc::clone(&group));
    if let Ok(mut m) = door.marks.lock() {
        *m = Some(Marks::new(Arc::clone(&group), Arc::clone(&inotify), mask));
    }
    door.set_health(Health::Active {
        open_exec_perm: exec,
    });
    let running = Arc::new(Running {
        door: Arc::clone(door),
        services,
    });
    let handle = tokio::runtime::Handle::current();
    let reader = {
        let running = Arc::clone(&running);
        let group = Arc::clone(&group);
        std::thread::Builder::new()
            .name("fanotify-reader".into())
            .spawn(move || read_loop(running, group, handle))
    };
    let watcher = {
        let running = Arc::clone(&running);
        std::thread::Builder::new()
            .name("fanotify-watch".into())
            .spawn(move || watch_loop(running, inotify, mountinfo))
    };
    if let Err(e) = reader.and(watcher) {
        return unavailable(format!("cannot start the fanotify threads: {e}"));
    }
    tokio::spawn(control_loop(running));
    tracing::info!(
        open_exec_perm = exec,
        "on-access scanning through fanotify started"
    );
}

/// Keeps the marks and the policy table in line with the configuration.
async fn control_loop(running: Arc<Running>) {
    let mut tick = tokio::time::interval(RECONCILE_EVERY);
    let mut marked: Option<BTreeMap<String, PathBuf>> = None;
    let mut verdicts_from: Option<Vec<String>> = None;
    loop {
        tick.tick().await;
        let snapshot = tenancy::vscan(&running.services.store);
        let mut wanted = BTreeMap::new();
        let mut names = BTreeMap::new();
        let mut privileged = BTreeMap::new();
        for svm in tenancy::running_svm_uuids(&running.services.store) {
            if running.services.on_access.policy(&svm).is_none() {
                continue;
            }
            let Some(record) = tenancy::svm(&running.services.store, &svm) else {
                continue;
            };
            if record.get("root_path").is_none() {
                continue;
            }
            names.insert(
                svm.clone(),
                record["name"].as_str().unwrap_or_default().to_string(),
            );
            privileged.insert(svm.clone(), decide::privileged(&snapshot, &svm));
            match tenancy::namespace(&record) {
                Ok(ns) => {
                    wanted.insert(svm.clone(), ns.root().to_path_buf());
                }
                Err(e) => tracing::warn!(svm, error = %e, "SVM root not marked"),
            }
        }
        let mut roots: Vec<(PathBuf, String)> =
            wanted.iter().map(|(s, r)| (r.clone(), s.clone())).collect();
        roots.sort_by_key(|(r, _)| std::cmp::Reverse(r.as_os_str().len()));
        let table = Arc::new(Table {
            roots,
            names,
            privileged,
        });
        if let Ok(mut t) = running.door.table.write() {
            *t = table;
        }
        let print = verdict_inputs(&running, &snapshot, &wanted);
        // A clean verdict the kernel holds is only as good as what made it.
        let flush = verdicts_from.as_ref().is_some_and(|p| *p != print);
        verdicts_from = Some(print);
        if flush || marked.as_ref() != Some(&wanted) {
            let worker = Arc::clone(&running);
            let roots = wanted.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Ok(mut m) = worker.door.marks.lock()
                    && let Some(m) = m.as_mut()
                {
                    m.set_roots(&roots);
                    if flush {
                        m.flush_ignores();
                    }
                }
            })
            .await;
            marked = Some(wanted);
        }
    }
}

/// What a clean verdict depends on, for every covered SVM: its policy in force, its
/// cache generation, and its scan servers with their versions (signatures).
fn verdict_inputs(
    running: &Running,
    snapshot: &vscan::config::Snapshot,
    covered: &BTreeMap<String, PathBuf>,
) -> Vec<String> {
    let mut out: Vec<String> = covered
        .keys()
        .map(|svm| {
            let policy = running
                .services
                .on_access
                .policy(svm)
                .map(|p| Arc::as_ptr(&p) as usize)
                .unwrap_or(0);
            format!("{svm} {policy:x} {}", snapshot.cache_generation(svm))
        })
        .collect();
    out.extend(
        running
            .services
            .scanners
            .statuses()
            .into_iter()
            .filter(|s| covered.contains_key(&s.svm))
            .map(|s| format!("{} {} {} {:?}", s.svm, s.server, s.connected, s.version)),
    );
    out.sort();
    out
}

/// New directories under per-directory roots, and mounts coming and going.
fn watch_loop(running: Arc<Running>, inotify: Arc<Inotify>, mut mountinfo: File) {
    let mut sink = Vec::new();
    loop {
        let ready = match sys::wait_any(&[inotify.as_fd(), mountinfo.as_fd()], -1) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "fanotify watcher stopped");
                return;
            }
        };
        if ready.contains(&0) {
            match inotify.read() {
                Ok(created) => {
                    if let Ok(mut m) = running.door.marks.lock()
                        && let Some(m) = m.as_mut()
                    {
                        for dir in created {
                            m.dir_created(dir.watch, &dir.name);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading inotify"),
            }
        }
        if ready.contains(&1) {
            // The change stays signalled until the table is read again.
            sink.clear();
            let _ = mountinfo.rewind();
            let _ = mountinfo.read_to_end(&mut sink);
            if let Ok(mut m) = running.door.marks.lock()
                && let Some(m) = m.as_mut()
            {
                m.refresh_mounts();
            }
        }
    }
}

/// An unanswered permission event. Dropped unanswered, it answers `fallback`.
struct Pending {
    group: Arc<Group>,
    file: Option<OwnedFd>,
    fallback: bool,
}

impl Pending {
    fn answer(mut self, allow: bool) {
        if let Some(file) = self.file.take() {
            respond(&self.group, &file, allow);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            respond(&self.group, &file, self.fallback);
        }
    }
}

fn respond(group: &Group, file: &OwnedFd, allow: bool) {
    if let Err(e) = group.respond(file.as_fd(), allow) {
        tracing::warn!(error = %e, "cannot answer a fanotify permission event");
    }
}

fn read_loop(running: Arc<Running>, group: Arc<Group>, handle: tokio::runtime::Handle) {
    let me = std::process::id() as i32;
    let permits = Arc::new(Semaphore::new(running.door.settings.max_pending.max(1)));
    let background = Arc::new(Semaphore::new(MAX_BACKGROUND));
    let counters = &running.door.counters;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let events = match group.read(&mut buf) {
            Ok(events) => events,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "reading fanotify events");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
        };
        for event in events {
            let received = Instant::now();
            let Some(file) = event.file else {
                if event.mask & libc::FAN_Q_OVERFLOW != 0 {
                    counters.overflows.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("fanotify queue overflow: close-write rescans lost");
                }
                continue;
            };
            let permission = event.mask & sys::PERM_EVENTS != 0;
            // Our own opens and our workers' would wait on ourselves.
            let who = if event.pid == me {
                None
            } else {
                sys::opener(event.pid)
            };
            if event.pid == me || who.is_some_and(|w| w.ppid == me) {
                counters.excluded.fetch_add(1, Ordering::Relaxed);
                if permission {
                    respond(&group, &file, true);
                }
                continue;
            }
            if permission {
                let pending = Pending {
                    group: Arc::clone(&group),
                    file: Some(file),
                    fallback: true,
                };
                // Back-pressure: with every slot taken, stop reading until one frees.
                let Ok(permit) = handle.block_on(Arc::clone(&permits).acquire_owned()) else {
                    continue;
                };
                let execute = event.mask & libc::FAN_OPEN_EXEC_PERM != 0;
                let running = Arc::clone(&running);
                running.door.pending.fetch_add(1, Ordering::Relaxed);
                handle.spawn(async move {
                    on_permission(&running, pending, execute, who, received).await;
                    running.door.pending.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                });
            } else if event.mask & libc::FAN_CLOSE_WRITE != 0 {
                match Arc::clone(&background).try_acquire_owned() {
                    Ok(permit) => {
                        let running = Arc::clone(&running);
                        handle.spawn(async move {
                            rescan(&running, file).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        counters.background_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// Where an event's file is, in the SVM's terms, and what governs it.
struct Located {
    /// Size, mtime and ctime before the scan: a clean verdict is only left with the
    /// kernel for the file as it was scanned.
    stamp: (i64, i64, i64, i64, i64),
    svm: String,
    svm_path: String,
    host: PathBuf,
    policy: Arc<Policy>,
    privileged: bool,
    readonly_volume: bool,
}

/// `None`: not a regular file in a covered SVM with a policy in force (allowed
/// without a look).
fn locate(door: &Door, file: &OwnedFd, who: Option<Opener>) -> Option<Located> {
    let stat = rustix::fs::fstat(file).ok()?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return None;
    }
    let host = sys::fd_path(file.as_fd(), stat.st_nlink == 0).ok()?;
    let table = door.table();
    let (svm, svm_path) = table.locate(&host)?;
    let policy = door.in_force(svm)?;
    let privileged = who.is_some_and(|w| {
        table
            .privileged
            .get(svm)
            .is_some_and(|uids| uids.contains(&w.uid))
    });
    Some(Located {
        stamp: stamp(&stat),
        svm: svm.to_string(),
        svm_path,
        host,
        policy,
        privileged,
        readonly_volume: sys::read_only_fs(file.as_fd()),
    })
}

async fn on_permission(
    running: &Running,
    mut pending: Pending,
    execute: bool,
    who: Option<Opener>,
    received: Instant,
) {
    let door = &running.door;
    let counters = &door.counters;
    let Some(file) = pending.file.as_ref() else {
        return;
    };
    let Some(at) = locate(door, file, who) else {
        counters.allowed.fetch_add(1, Ordering::Relaxed);
        return pending.answer(true);
    };
    pending.fallback = !at.policy.mandatory;
    if at.privileged {
        counters.excluded.fetch_add(1, Ordering::Relaxed);
        return pending.answer(true);
    }
    let timed_out = |what: &str| {
        counters.timed_out.fetch_add(1, Ordering::Relaxed);
        let body = json!({"file_path": at.svm_path, "disconnect_reason": "na"});
        running
            .services
            .events
            .record(&at.svm, "scan_timedout", body);
        tracing::warn!(svm = %at.svm, file = %at.svm_path, mandatory = at.policy.mandatory, "on-access verdict {what}");
        !at.policy.mandatory
    };
    let Some(remaining) = door.settings.deadline.checked_sub(received.elapsed()) else {
        let allow = timed_out("not started within the deadline");
        return finish(door, pending, allow);
    };
    let dup = match file.try_clone() {
        Ok(dup) => File::from(dup),
        Err(e) => {
            tracing::warn!(error = %e, "cannot duplicate a fanotify descriptor");
            return finish(door, pending, !at.policy.mandatory);
        }
    };
    let access = Access {
        svm: at.svm.clone(),
        svm_path: at.svm_path.clone(),
        host: at.host.clone(),
        file: dup,
        execute,
        readonly_volume: at.readonly_volume,
    };
    let allow = match tokio::time::timeout(
        remaining,
        decide::decide(&running.services.on_access, access),
    )
    .await
    {
        Ok(decision) => {
            tracing::debug!(svm = %at.svm, file = %at.svm_path, ?decision, "on-access verdict");
            if matches!(
                decision,
                AccessDecision::Allow(Allowed::Scanned | Allowed::Cached)
            ) {
                remember_clean(&pending.group, file, at.stamp);
            }
            decision.permits()
        }
        Err(_) => timed_out("not reached within the deadline"),
    };
    finish(door, pending, allow);
}

fn stamp(stat: &rustix::fs::Stat) -> (i64, i64, i64, i64, i64) {
    (
        stat.st_size,
        stat.st_mtime,
        stat.st_mtime_nsec as i64,
        stat.st_ctime,
        stat.st_ctime_nsec as i64,
    )
}

/// Leaves a clean verdict with the kernel: set the ignore mask first, then check that
/// the file is still as scanned. A modification after the mask clears it by itself;
/// one between the scan and the mask is caught by the check, which takes it back.
fn remember_clean(group: &Group, file: &OwnedFd, scanned: (i64, i64, i64, i64, i64)) {
    if group.ignore(true, file.as_fd()).is_err() {
        return;
    }
    let same = rustix::fs::fstat(file).is_ok_and(|now| stamp(&now) == scanned);
    if !same {
        let _ = group.ignore(false, file.as_fd());
    }
}

fn finish(door: &Door, pending: Pending, allow: bool) {
    let counter = if allow {
        &door.counters.allowed
    } else {
        &door.counters.denied
    };
    counter.fetch_add(1, Ordering::Relaxed);
    pending.answer(allow);
}

/// A file written and closed: scan it now so that the next open finds the verdict in
/// the cache (or its detection in the events). Its changed stamp already keeps any
/// older clean verdict from being used.
async fn rescan(running: &Running, file: OwnedFd) {
    let door = &running.door;
    let Some(at) = locate(door, &file, None) else {
        return;
    };
    // Written through a mapping, a file may have changed without the modification that
    // clears its ignore mask: forget it here, the rescan sets it again when clean.
    if let Some(group) = door.group.get() {
        let _ = group.ignore(false, file.as_fd());
    }
    let dup = match file.try_clone() {
        Ok(dup) => dup,
        Err(_) => return,
    };
    door.counters
        .background_scans
        .fetch_add(1, Ordering::Relaxed);
    let access = Access {
        svm: at.svm,
        svm_path: at.svm_path,
        host: at.host,
        file: File::from(file),
        execute: false,
        readonly_volume: at.readonly_volume,
    };
    let decision: AccessDecision = decide::decide(&running.services.on_access, access).await;
    tracing::debug!(?decision, "close-write rescan");
    if matches!(
        decision,
        AccessDecision::Allow(Allowed::Scanned | Allowed::Cached)
    ) && let Some(group) = door.group.get()
    {
        remember_clean(group, &dup, at.stamp);
    }
}
