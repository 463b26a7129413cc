//! Sending a file to a scan server of the right SVM and role, with failover.
//!
//! [`Manager::scan`] picks, among the SVM's connected servers of the active role (primary
//! pools; secondary pools only while no primary server is connected), the one with the
//! fewest scans in flight. A server that shares the file system gets the file itself
//! (FILDES over its unix socket, or the embedded engine in-process); one reached over TCP
//! gets the bytes (INSTREAM). A connection failure or a timeout moves the scan to one
//! other server; when none can answer, the caller gets an error and a `scan_failed` or
//! `scan_timedout` event is recorded, so a file is never reported clean by default.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use clamd::client::{Client, Endpoint};
use clamd::reply::{ParsedReply, Status};
use vscan::address::ServerAddress;

use crate::cache::{FileId, ScanCache};
use crate::load::{InFlight, Load};
pub use crate::local::Local;
use crate::remote::{Manager, Role, clamd_endpoint, lock};
pub use crate::scan_event::{ScanEvent, ScanEventKind};
use crate::{Mode, Verdict};
use telemetry::pool::ScansFailedOver;
use telemetry::scans::CacheLookedUp;
pub use telemetry::scans::Engine as EngineKind;

/// A verdict and who gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub verdict: Verdict,
    /// The pool's `servers` entry that answered.
    pub server: String,
    pub vendor: Option<String>,
    pub version: Option<String>,
    /// What kind of engine answered (the metrics' `engine` label).
    pub engine: EngineKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("no scan server of the SVM is connected")]
    NoServer,
    #[error("the scan failed on {server}: {detail}")]
    Failed { server: String, detail: String },
    #[error("the scan timed out on {server}")]
    TimedOut { server: String },
    #[error("the file cannot be opened: {0}")]
    Unreadable(String),
}

#[derive(Clone)]
struct Candidate {
    icap: Option<icap::IcapClient>,
    server: String,
    address: Option<ServerAddress>,
    ip: String,
    vendor: Option<String>,
    version: Option<String>,
    load: Arc<Load>,
}

impl Manager {
    /// Registers the embedded scanner so pools naming its addresses are served in-process.
    pub fn set_local(&self, local: Local) {
        *lock(&self.local) = Some(Arc::new(local));
    }

    /// Keeps clean verdicts in `cache` (see [`crate::cache`]).
    pub fn set_cache(&self, cache: Arc<ScanCache>) {
        *lock(&self.cache) = Some(cache);
    }

    pub fn cache(&self) -> Option<Arc<ScanCache>> {
        lock(&self.cache).clone()
    }

    /// Scans served by each (SVM, server) so far, for tests and diagnostics.
    pub fn served(&self) -> Vec<(String, String, usize)> {
        lock(&self.monitors)
            .iter()
            .map(|((svm, server), m)| {
                (
                    svm.clone(),
                    server.clone(),
                    m.load.served.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Connected servers of the active role, least loaded first.
    fn candidates(&self, svm: &str) -> Vec<Candidate> {
        let monitors = lock(&self.monitors);
        let mut connected: Vec<(Role, Candidate)> = monitors
            .iter()
            .filter(|((s, _), _)| s == svm)
            .filter_map(|((_, server), m)| {
                let st = lock(&m.status);
                st.connected.then(|| {
                    (
                        st.role,
                        Candidate {
                            icap: m.icap.clone(),
                            server: server.clone(),
                            address: m.address.clone(),
                            ip: st.ip.clone(),
                            vendor: st.vendor.clone(),
                            version: st.version.clone(),
                            load: Arc::clone(&m.load),
                        },
                    )
                })
            })
            .collect();
        let active = if connected.iter().any(|(r, _)| *r == Role::Primary) {
            Role::Primary
        } else {
            Role::Secondary
        };
        connected.retain(|(r, _)| *r == active);
        let mut out: Vec<Candidate> = connected.into_iter().map(|(_, c)| c).collect();
        out.sort_by_key(|c| (c.load.in_flight.load(Ordering::Relaxed), c.server.clone()));
        out
    }

    /// What scanning for `svm` goes through right now: its connected servers of the
    /// active role, the cache and the SVM's cache generation. Taken once per batch, so a
    /// batch is answered by one consistent set of servers.
    pub fn view(&self, svm: &str) -> View {
        let candidates = self.candidates(svm);
        let engine = engine_tag(&candidates);
        View {
            svm: svm.to_string(),
            cache: lock(&self.cache).clone(),
            generation: lock(&self.generations).get(svm).copied().unwrap_or(0),
            engine,
            candidates,
        }
    }

    /// Scans `path` (a host path) for `svm`; `file_path` is how events name the file.
    pub async fn scan(
        &self,
        svm: &str,
        path: &Path,
        file_path: &str,
    ) -> Result<Scanned, ScanError> {
        // A file that cannot be read is not a server's fault: no failover for it.
        let unreadable = |e: io::Error| {
            let error = ScanError::Unreadable(e.to_string());
            self.report(
                ScanEventKind::ScanInternalError,
                svm,
                file_path,
                None,
                error.to_string(),
            );
            error
        };
        // A stat is enough to answer from the cache; the file is opened only on a miss.
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        let view = self.view(svm);
        if view.is_clean(&FileId::of(&meta)) {
            return Ok(Scanned::from_cache());
        }
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let id = FileId::of(&file.metadata().map_err(unreadable)?);
        let item = Opened {
            file,
            id,
            path: path.to_path_buf(),
            file_path: file_path.to_string(),
        };
        let mut results = self.scan_opened(&view, Arc::from([item])).await;
        results.pop().unwrap_or(Err(ScanError::NoServer))
    }

    /// Scans files the caller has opened (and checked against the cache with the same
    /// `view`), in the order given. Files that go to the embedded engine are scanned in
    /// one job, so a batch costs one queue round trip instead of one per file; other
    /// servers get one request per file, concurrently within the server's slots. A
    /// server that fails or times out hands the files it did not answer to one other.
    pub async fn scan_opened(
        &self,
        view: &View,
        items: Arc<[Opened]>,
    ) -> Vec<Result<Scanned, ScanError>> {
        let svm = view.svm.as_str();
        let mut results: Vec<Option<Result<Scanned, ScanError>>> = vec![None; items.len()];
        let mut errors: Vec<ScanError> = vec![ScanError::NoServer; items.len()];
        // One retry on another server, so one dead server costs at most one timeout.
        for (n, c) in view.candidates.iter().take(2).enumerate() {
            let pending: Vec<usize> = (0..items.len()).filter(|&i| results[i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            if n > 0 {
                ScansFailedOver {
                    files: pending.len() as u64,
                }
                .emit();
            }
            for (i, attempt) in self.attempt(c, &items, &pending).await {
                let item = &items[i];
                match attempt {
                    Ok(Ok(verdict)) => {
                        c.load.served.fetch_add(1, Ordering::Relaxed);
                        results[i] = Some(Ok(self.accept(view, c, item, verdict)));
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(svm, server = %c.server, path = item.file_path, error = %e, "scan failed; trying another server");
                        errors[i] = ScanError::Failed {
                            server: c.server.clone(),
                            detail: e.to_string(),
                        };
                    }
                    Err(_) => {
                        tracing::warn!(svm, server = %c.server, path = item.file_path, "scan timed out; trying another server");
                        errors[i] = ScanError::TimedOut {
                            server: c.server.clone(),
                        };
                    }
                }
            }
        }
        results
            .into_iter()
            .zip(errors)
            .zip(items.iter())
            .map(|((result, error), item)| {
                result.unwrap_or_else(|| {
                    let (kind, server) = match &error {
                        ScanError::TimedOut { server } => {
                            (ScanEventKind::ScanTimedout, Some(server))
                        }
                        ScanError::Failed { server, .. } => {
                            (ScanEventKind::ScanFailed, Some(server))
                        }
                        ScanError::NoServer | ScanError::Unreadable(_) => {
                            (ScanEventKind::ScanFailed, None)
                        }
                    };
                    let candidate =
                        server.and_then(|s| view.candidates.iter().find(|c| &c.server == s));
                    self.report(kind, svm, &item.file_path, candidate, error.to_string());
                    Err(error)
                })
            })
            .collect()
    }

    /// A verdict from `c`: cached when clean, reported when not.
    fn accept(&self, view: &View, c: &Candidate, item: &Opened, verdict: Verdict) -> Scanned {
        if verdict.is_clean()
            && let Some(cache) = &view.cache
        {
            cache.insert_clean(&view.svm, &item.id, &view.engine, view.generation);
        }
        let kind = match &verdict {
            Verdict::Infected(_) | Verdict::LimitExceeded(_) => Some(ScanEventKind::FileInfected),
            Verdict::Error(_) => Some(ScanEventKind::ScanInternalError),
            Verdict::Clean => None,
        };
        if let Some(kind) = kind {
            let detail = match &verdict {
                Verdict::Error(e) => e.clone(),
                v => v.found_names().join(", "),
            };
            self.report(kind, &view.svm, &item.file_path, Some(c), detail);
        }
        Scanned {
            verdict,
            server: c.server.clone(),
            vendor: c.vendor.clone(),
            version: c.version.clone(),
            engine: self.engine_of(c),
        }
    }

    fn engine_of(&self, c: &Candidate) -> EngineKind {
        if c.icap.is_some() {
            EngineKind::Icap
        } else if self.local_for(c).is_some() {
            EngineKind::Builtin
        } else {
            EngineKind::Clamd
        }
    }

    /// One attempt of the `pending` items on `c`: the verdict, a server failure, or a
    /// timeout, per item.
    async fn attempt(
        &self,
        c: &Candidate,
        items: &Arc<[Opened]>,
        pending: &[usize],
    ) -> Vec<(usize, Result<io::Result<Verdict>, TimedOut>)> {
        let timeout = self.config.scan_timeout;
        if let Some(local) = self.local_for(c) {
            let Ok(_slot) = c.load.slots.acquire().await else {
                return Vec::new();
            };
            c.load.in_flight.fetch_add(pending.len(), Ordering::Relaxed);
            let _counted = InFlight(&c.load, pending.len());
            let description = match pending {
                [one] => format!("vscan {}", items[*one].path.display()),
                many => format!("vscan {} files", many.len()),
            };
            // The engine reads with pread and maps from offset 0: the files need no
            // rewinding and no second descriptor.
            let (files, indices) = (Arc::clone(items), pending.to_vec());
            let job = local.pool.run(description, move |s| {
                let batch: Vec<&std::fs::File> = indices.iter().map(|&i| &files[i].file).collect();
                s.scan_files(&batch, Mode::FirstMatch)
            });
            // The budget grows with the batch: each file gets the per-scan timeout.
            let budget = timeout.saturating_mul(u32::try_from(pending.len()).unwrap_or(u32::MAX));
            return match tokio::time::timeout(budget, job).await {
                Ok(Ok(verdicts)) => pending
                    .iter()
                    .copied()
                    .zip(verdicts.into_iter().map(|v| Ok(Ok(v))))
                    .collect(),
                Ok(Err(_)) => pending
                    .iter()
                    .map(|&i| {
                        (
                            i,
                            Ok(Err(io::Error::other("the embedded scanner has stopped"))),
                        )
                    })
                    .collect(),
                Err(_) => pending.iter().map(|&i| (i, Err(TimedOut))).collect(),
            };
        }
        if c.icap.is_none()
            && pending.len() > 1
            && let Some(address) = &c.address
            && let Ok(Some(endpoint @ Endpoint::Unix(_))) = clamd_endpoint(address).await
        {
            return self.session_attempt(c, endpoint, items, pending).await;
        }
        let one = |i: usize| async move {
            let item = &items[i];
            let Ok(_slot) = c.load.slots.acquire().await else {
                return (i, Ok(Err(io::Error::other("the server was removed"))));
            };
            c.load.in_flight.fetch_add(1, Ordering::Relaxed);
            let _counted = InFlight(&c.load, 1);
            let outcome =
                tokio::time::timeout(timeout, self.scan_remote(c, &item.path, &item.file)).await;
            (i, outcome.map_err(|_| TimedOut))
        };
        futures::future::join_all(pending.iter().map(|&i| one(i))).await
    }

    /// The `pending` files to a clamd on this host in one IDSESSION of FILDES commands:
    /// one connection and one slot for the batch, scanned concurrently by clamd's threads.
    async fn session_attempt(
        &self,
        c: &Candidate,
        endpoint: Endpoint,
        items: &Arc<[Opened]>,
        pending: &[usize],
    ) -> Vec<(usize, Result<io::Result<Verdict>, TimedOut>)> {
        let Ok(_slot) = c.load.slots.acquire().await else {
            return Vec::new();
        };
        c.load.in_flight.fetch_add(pending.len(), Ordering::Relaxed);
        let _counted = InFlight(&c.load, pending.len());
        // The server reads through the shared file description: start each at 0, in case
        // an earlier attempt moved it.
        for &i in pending {
            if let Err(e) = (&items[i].file).seek(SeekFrom::Start(0)) {
                let kind = e.kind();
                return pending
                    .iter()
                    .map(|&i| (i, Ok(Err(io::Error::new(kind, e.to_string())))))
                    .collect();
            }
        }
        let fds: Vec<_> = pending.iter().map(|&i| items[i].file.as_fd()).collect();
        let budget = self
            .config
            .scan_timeout
            .saturating_mul(u32::try_from(pending.len()).unwrap_or(u32::MAX));
        let client = Client::new(endpoint, budget);
        match client.fildes_session(&fds).await {
            Ok(replies) => pending
                .iter()
                .copied()
                .zip(replies.into_iter().map(|r| Ok(Ok(reply_verdict(r)))))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                pending.iter().map(|&i| (i, Err(TimedOut))).collect()
            }
            Err(e) => {
                let kind = e.kind();
                pending
                    .iter()
                    .map(|&i| (i, Ok(Err(io::Error::new(kind, e.to_string())))))
                    .collect()
            }
        }
    }

    /// The embedded engine, when `c` is one of its addresses.
    fn local_for(&self, c: &Candidate) -> Option<Arc<Local>> {
        let address = c.address.as_ref()?;
        lock(&self.local)
            .clone()
            .filter(|l| l.addresses.contains(address))
    }

    fn report(
        &self,
        kind: ScanEventKind,
        svm: &str,
        file_path: &str,
        c: Option<&Candidate>,
        detail: String,
    ) {
        self.sink.scan_event(ScanEvent {
            kind,
            svm: svm.to_string(),
            file_path: file_path.to_string(),
            server: c.map(|c| c.ip.clone()),
            vendor: c.and_then(|c| c.vendor.clone()),
            version: c.and_then(|c| c.version.clone()),
            detail,
        });
    }

    /// Scans the already opened `file` on a clamd or ICAP server (each attempt reads it
    /// from its start).
    async fn scan_remote(&self, c: &Candidate, path: &Path, file: &File) -> io::Result<Verdict> {
        if let Some(client) = &c.icap {
            return icap_scan(client, path, from_start(file)?).await;
        }
        let address = c.address.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("\"{}\" is not a scan server address", c.server),
            )
        })?;
        let Some(endpoint) = clamd_endpoint(address).await? else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an ICAP address without its client",
            ));
        };
        let client = Client::new(endpoint.clone(), self.config.scan_timeout);
        let reply = match endpoint {
            // Same host: hand over the open file, no copy.
            Endpoint::Unix(_) => client.fildes(from_start(file)?.as_fd()).await?,
            Endpoint::Tcp(_) => {
                client
                    .instream(tokio::fs::File::from_std(from_start(file)?))
                    .await?
            }
        };
        Ok(reply_verdict(reply))
    }
}

/// A scan attempt ran out of time.
struct TimedOut;

/// Another handle on `file`, positioned at its start.
fn from_start(file: &File) -> io::Result<File> {
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

/// A file opened by the caller for [`Manager::scan_opened`].
pub struct Opened {
    pub file: File,
    /// Its identity and state, from `fstat` of the open file.
    pub id: FileId,
    /// Its host path (ICAP names the file after it; the pool's job list shows it).
    pub path: PathBuf,
    /// How events name it (`/vol1/a.exe`).
    pub file_path: String,
}

/// The servers, cache and generation one batch of an SVM's scans goes through.
pub struct View {
    svm: String,
    candidates: Vec<Candidate>,
    cache: Option<Arc<ScanCache>>,
    generation: u64,
    engine: String,
}

impl View {
    /// Is this file, as it is now, known clean to every server that could scan it? A
    /// hit needs a connected server: the engine tag is made from them.
    pub fn is_clean(&self, file: &FileId) -> bool {
        let Some(cache) = self.cache.as_ref().filter(|_| !self.candidates.is_empty()) else {
            return false;
        };
        let hit = cache.is_clean(&self.svm, file, &self.engine, self.generation);
        CacheLookedUp { hit }.emit();
        hit
    }

    /// No server can scan for the SVM now.
    pub fn has_no_server(&self) -> bool {
        self.candidates.is_empty()
    }
}

impl Scanned {
    fn from_cache() -> Scanned {
        Scanned {
            verdict: Verdict::Clean,
            server: CACHE.to_string(),
            vendor: None,
            version: None,
            engine: EngineKind::Cache,
        }
    }
}

/// The `server` of a verdict that came from the scan cache.
pub const CACHE: &str = "cache";

/// What a cached clean verdict must have been made with: the versions of every server
/// that could scan now, so an update on any of them invalidates it.
fn engine_tag(candidates: &[Candidate]) -> String {
    let mut versions: Vec<String> = candidates
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.vendor.as_deref().unwrap_or("?"),
                c.version.as_deref().unwrap_or("?")
            )
        })
        .collect();
    versions.sort();
    versions.dedup();
    versions.join("; ")
}

/// RESPMOD of the file. A response the server modified without naming a threat (a
/// block page, a cut echo) is a detection: the file is not known clean.
async fn icap_scan(client: &icap::IcapClient, path: &Path, file: File) -> io::Result<Verdict> {
    let size = file.metadata()?.len();
    let file = tokio::fs::File::from_std(file);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match client.scan(&name, size, file).await {
        Ok(result) => Ok(match result.verdict.threat_name() {
            None => Verdict::Clean,
            Some(threat) => Verdict::Infected(vec![threat.to_string()]),
        }),
        Err(icap::IcapError::Source(e)) => Ok(Verdict::Error(e.to_string())),
        Err(e) => {
            let kind = match crate::remote::icap_reason(&e) {
                crate::remote::DisconnectReason::InactiveConnection => io::ErrorKind::TimedOut,
                crate::remote::DisconnectReason::InvalidProtocolMsg => io::ErrorKind::InvalidData,
                _ => io::ErrorKind::ConnectionAborted,
            };
            Err(io::Error::new(kind, e.to_string()))
        }
    }
}

/// A clamd reply line as a verdict. Limit heuristics count as detections (the file is
/// not known clean), as clamd clients treat them.
pub fn reply_verdict(reply: ParsedReply) -> Verdict {
    match reply.status {
        Status::Ok => Verdict::Clean,
        Status::Found(name) => Verdict::Infected(vec![name]),
        Status::Error(msg) => Verdict::Error(msg),
    }
}
