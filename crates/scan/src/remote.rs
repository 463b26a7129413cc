//! Connections to the scan servers that scanner pools name: health, identity, status.
//!
//! One monitor task per (SVM, server) checks its server on an interval. PING proves the
//! server answers, VERSION gives `vendor` and `version`, STATS the `extended_stats` lines.
//! The monitor's state is what `/api/protocols/vscan/server-status` shows, and each change
//! of state is reported to an [`EventSink`] as an ONTAP Vscan event. clamd serves one
//! request per connection (as clamdscan uses it), so "connected" means "the last check
//! succeeded"; a failed check is retried with exponential backoff.
//!
//! [`Manager::apply`] takes the whole wanted set each time (from the Vscan configuration)
//! and starts, stops or re-roles monitors so the running set matches it, without restart.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clamd::client::{Client, Endpoint};
use tokio::sync::watch;
use vscan::address::{Host, ServerAddress};

/// A scanner pool's role for the SVM that uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    /// The server-status `type`: servers of secondary pools are ONTAP's `backup`.
    pub fn server_type(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "backup",
        }
    }
}

/// One server an SVM with Vscan enabled may use, as its pools name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub svm: String,
    /// The `servers` entry as configured.
    pub server: String,
    pub role: Role,
}

/// What should be running: the servers of every SVM with Vscan enabled.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub enabled_svms: HashSet<String>,
    pub assignments: Vec<Assignment>,
    /// Each SVM's cache generation; a new one (`cache_clear`) drops its cached verdicts.
    pub cache_generations: HashMap<String, u64>,
}

/// ONTAP's `disconnected_reason` values that Vigil can observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    Unknown,
    VscanDisabled,
    SessionUninitialized,
    RemoteClosed,
    InvalidProtocolMsg,
    InactiveConnection,
    ServerRemoved,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::Unknown => "unknown",
            DisconnectReason::VscanDisabled => "vscan_disabled",
            DisconnectReason::SessionUninitialized => "session_uninitialized",
            DisconnectReason::RemoteClosed => "remote_closed",
            DisconnectReason::InvalidProtocolMsg => "invalid_protocol_msg",
            DisconnectReason::InactiveConnection => "inactive_connection",
            DisconnectReason::ServerRemoved => "server_removed",
        }
    }

    /// How an I/O failure of a check reads to an administrator.
    pub fn from_io(e: &io::Error) -> DisconnectReason {
        match e.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotFound => DisconnectReason::RemoteClosed,
            io::ErrorKind::TimedOut => DisconnectReason::InactiveConnection,
            io::ErrorKind::InvalidData => DisconnectReason::InvalidProtocolMsg,
            _ => DisconnectReason::Unknown,
        }
    }
}

/// The live status of one (SVM, server).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerStatus {
    pub svm: String,
    pub server: String,
    /// The address last connected to (resolved for host names), else the entry itself.
    pub ip: String,
    pub role: Role,
    pub connected: bool,
    /// Set while disconnected.
    pub reason: Option<DisconnectReason>,
    /// When the current state began.
    pub since: DateTime<Utc>,
    pub vendor: Option<String>,
    pub version: Option<String>,
    pub extended_stats: Vec<String>,
    /// Checks made, for tests and diagnostics.
    pub checks: u64,
    pub last_error: Option<String>,
}

/// What happened to a server, in ONTAP's event vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEventKind {
    Connected,
    Disconnected(DisconnectReason),
    /// Connected with a new vendor/version (e.g. a signature update).
    Updated,
}

#[derive(Debug, Clone)]
pub struct ServerEvent {
    pub kind: ServerEventKind,
    pub status: ServerStatus,
}

/// Where server events go (the events table, logs).
pub trait EventSink: Send + Sync + 'static {
    fn server_event(&self, event: ServerEvent);
    fn scan_event(&self, event: crate::scan_event::ScanEvent);
}

#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Time between checks of a connected server.
    pub check_interval: Duration,
    /// Limit for each request of a check.
    pub timeout: Duration,
    /// First retry delay after a failed check; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Limit for one scan on one server; a scan past it moves to another server.
    pub scan_timeout: Duration,
    /// Scans in progress at once on one server; more wait for a slot.
    pub per_server_scans: usize,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            check_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            scan_timeout: Duration::from_secs(60),
            per_server_scans: 16,
        }
    }
}

type Key = (String, String);

pub(crate) struct Monitor {
    pub(crate) status: Arc<Mutex<ServerStatus>>,
    stop: watch::Sender<bool>,
    pub(crate) load: Arc<crate::load::Load>,
    /// For `icap://` servers: one client, so checks and scans share its connections.
    pub(crate) icap: Option<icap::IcapClient>,
    /// The pool's `servers` entry, parsed once here rather than on every scan.
    pub(crate) address: Option<ServerAddress>,
}

/// The ICAP client for an `icap://` address.
fn icap_client(address: &ServerAddress, config: &ManagerConfig) -> Option<icap::IcapClient> {
    match address {
        ServerAddress::Icap {
            host,
            port,
            service,
        } => Some(icap::IcapClient::new(
            &host.to_string(),
            *port,
            service,
            icap::Config {
                timeout: config.scan_timeout,
                connect_timeout: config.timeout,
                max_connections: config.per_server_scans,
                ..icap::Config::default()
            },
        )),
        _ => None,
    }
}

/// Removed servers keep a disconnected record so an administrator sees why they went.
const MAX_TOMBSTONES: usize = 1024;

pub struct Manager {
    pub(crate) config: ManagerConfig,
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) monitors: Mutex<HashMap<Key, Monitor>>,
    tombstones: Mutex<HashMap<Key, ServerStatus>>,
    /// The embedded scanner, called in-process for the addresses it listens on.
    pub(crate) local: Mutex<Option<Arc<crate::local::Local>>>,
    pub(crate) cache: Mutex<Option<Arc<crate::cache::ScanCache>>>,
    pub(crate) generations: Mutex<HashMap<String, u64>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Manager {
    pub fn new(config: ManagerConfig, sink: Arc<dyn EventSink>) -> Arc<Manager> {
        Arc::new(Manager {
            config,
            sink,
            monitors: Mutex::new(HashMap::new()),
            tombstones: Mutex::new(HashMap::new()),
            local: Mutex::new(None),
            cache: Mutex::new(None),
            generations: Mutex::new(HashMap::new()),
        })
    }

    /// Makes the running monitors match `desired`. Must run inside a tokio runtime.
    pub fn apply(&self, desired: &Desired) {
        {
            let cache = lock(&self.cache).clone();
            let mut generations = lock(&self.generations);
            for (svm, generation) in &desired.cache_generations {
                let previous = generations.insert(svm.clone(), *generation);
                if previous.is_some_and(|p| p != *generation)
                    && let Some(cache) = &cache
                {
                    cache.clear_svm(svm);
                }
            }
        }
        // A server named by two pools of one SVM serves in the better role.
        let mut wanted: HashMap<Key, Role> = HashMap::new();
        for a in &desired.assignments {
            let role = wanted
                .entry((a.svm.clone(), a.server.clone()))
                .or_insert(a.role);
            *role = (*role).min(a.role);
        }
        let mut monitors = lock(&self.monitors);
        let gone: Vec<Key> = monitors
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(m) = monitors.remove(&key) {
                let _ = m.stop.send(true);
                let reason = if desired.enabled_svms.contains(&key.0) {
                    DisconnectReason::ServerRemoved
                } else {
                    DisconnectReason::VscanDisabled
                };
                let mut status = lock(&m.status).clone();
                let was_connected = status.connected;
                status.connected = false;
                status.reason = Some(reason);
                status.since = Utc::now();
                if was_connected {
                    self.sink.server_event(ServerEvent {
                        kind: ServerEventKind::Disconnected(reason),
                        status: status.clone(),
                    });
                }
                let mut tombstones = lock(&self.tombstones);
                if tombstones.len() >= MAX_TOMBSTONES {
                    tombstones.clear();
                }
                tombstones.insert(key, status);
            }
        }
        for (key, role) in wanted {
            if let Some(m) = monitors.get(&key) {
                lock(&m.status).role = role;
                continue;
            }
            lock(&self.tombstones).remove(&key);
            let status = Arc::new(Mutex::new(ServerStatus {
                svm: key.0.clone(),
                server: key.1.clone(),
                ip: shown_ip(&key.1),
                role,
                connected: false,
                reason: Some(DisconnectReason::SessionUninitialized),
                since: Utc::now(),
                vendor: None,
                version: None,
                extended_stats: Vec::new(),
                checks: 0,
                last_error: None,
            }));
            let (stop, stopped) = watch::channel(false);
            let address = key.1.parse::<ServerAddress>().ok();
            let icap = address.as_ref().and_then(|a| icap_client(a, &self.config));
            tokio::spawn(monitor(
                key.1.clone(),
                Arc::clone(&status),
                self.config.clone(),
                Arc::clone(&self.sink),
                icap.clone(),
                stopped,
            ));
            monitors.insert(
                key,
                Monitor {
                    status,
                    stop,
                    load: Arc::new(crate::load::Load::new(self.config.per_server_scans)),
                    icap,
                    address,
                },
            );
        }
    }

    /// Every monitored server, then the removed ones, sorted by SVM and server.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        let mut out: Vec<ServerStatus> = lock(&self.monitors)
            .values()
            .map(|m| lock(&m.status).clone())
            .collect();
        out.extend(lock(&self.tombstones).values().cloned());
        out.sort_by(|a, b| (&a.svm, &a.server).cmp(&(&b.svm, &b.server)));
        out
    }

    /// Stops every monitor (node shutdown).
    pub fn shutdown(&self) {
        for (_, m) in lock(&self.monitors).drain() {
            let _ = m.stop.send(true);
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The `ip` shown before a server was ever reached: its address without the port.
fn shown_ip(server: &str) -> String {
    match server.parse::<ServerAddress>() {
        Ok(ServerAddress::Clamd { host, .. } | ServerAddress::Icap { host, .. }) => {
            host.to_string()
        }
        Ok(ServerAddress::ClamdUnix { path }) => format!("unix://{}", path.display()),
        Err(_) => server.to_string(),
    }
}

/// What one successful check learned.
struct Identity {
    ip: String,
    vendor: Option<String>,
    version: Option<String>,
    stats: Vec<String>,
}

/// A check's failure: the reason ONTAP shows and the detail for logs.
struct CheckError {
    reason: DisconnectReason,
    detail: String,
}

impl CheckError {
    fn io(e: io::Error) -> CheckError {
        CheckError {
            reason: DisconnectReason::from_io(&e),
            detail: e.to_string(),
        }
    }
}

async fn monitor(
    server: String,
    status: Arc<Mutex<ServerStatus>>,
    config: ManagerConfig,
    sink: Arc<dyn EventSink>,
    icap: Option<icap::IcapClient>,
    mut stopped: watch::Receiver<bool>,
) {
    let address = server.parse::<ServerAddress>();
    let mut backoff = config.backoff_min;
    let mut first = true;
    loop {
        let outcome = match (&address, &icap) {
            (Ok(a), Some(client)) => check_icap(a, client).await,
            (Ok(a), None) => check(a, &config).await,
            (Err(e), _) => Err(CheckError {
                reason: DisconnectReason::Unknown,
                detail: e.to_string(),
            }),
        };
        if *stopped.borrow() {
            return;
        }
        let delay = {
            let mut s = lock(&status);
            s.checks += 1;
            match outcome {
                Ok(id) => {
                    let event = if !s.connected {
                        Some(ServerEventKind::Connected)
                    } else if s.vendor != id.vendor || s.version != id.version {
                        Some(ServerEventKind::Updated)
                    } else {
                        None
                    };
                    if !s.connected {
                        s.since = Utc::now();
                    }
                    s.connected = true;
                    s.reason = None;
                    s.ip = id.ip;
                    s.vendor = id.vendor;
                    s.version = id.version;
                    s.extended_stats = id.stats;
                    s.last_error = None;
                    if let Some(kind) = event {
                        tracing::info!(svm = %s.svm, server = %s.server, vendor = ?s.vendor, version = ?s.version, "scan server connected");
                        sink.server_event(ServerEvent {
                            kind,
                            status: s.clone(),
                        });
                    }
                    backoff = config.backoff_min;
                    config.check_interval
                }
                Err(e) => {
                    let changed = s.connected || first || s.reason != Some(e.reason);
                    if changed {
                        s.since = Utc::now();
                    }
                    let was_connected = s.connected;
                    s.connected = false;
                    s.reason = Some(e.reason);
                    s.last_error = Some(e.detail.clone());
                    if was_connected || (first && changed) {
                        tracing::warn!(svm = %s.svm, server = %s.server, reason = e.reason.as_str(), error = %e.detail, "scan server disconnected");
                        sink.server_event(ServerEvent {
                            kind: ServerEventKind::Disconnected(e.reason),
                            status: s.clone(),
                        });
                    }
                    let d = backoff;
                    backoff = (backoff * 2).min(config.backoff_max);
                    d
                }
            }
        };
        first = false;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Where to reach a clamd-protocol server, resolving host names each time so a moved
/// server is found again.
pub async fn clamd_endpoint(address: &ServerAddress) -> io::Result<Option<Endpoint>> {
    Ok(match address {
        ServerAddress::ClamdUnix { path } => Some(Endpoint::Unix(path.clone())),
        ServerAddress::Clamd { host, port } => Some(Endpoint::Tcp(resolve(host, *port).await?)),
        ServerAddress::Icap { .. } => None,
    })
}

async fn resolve(host: &Host, port: u16) -> io::Result<SocketAddr> {
    match host {
        Host::Ip(ip) => Ok(SocketAddr::new(*ip, port)),
        Host::Name(name) => tokio::net::lookup_host((name.as_str(), port))
            .await?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{name} has no address"))
            }),
    }
}

async fn check(address: &ServerAddress, config: &ManagerConfig) -> Result<Identity, CheckError> {
    let Some(endpoint) = clamd_endpoint(address).await.map_err(CheckError::io)? else {
        return Err(CheckError {
            reason: DisconnectReason::InvalidProtocolMsg,
            detail: "an ICAP address was checked as clamd".to_string(),
        });
    };
    let ip = match &endpoint {
        Endpoint::Tcp(addr) => addr.ip().to_string(),
        Endpoint::Unix(path) => format!("unix://{}", path.display()),
    };
    let client = Client::new(endpoint, config.timeout);
    client.ping().await.map_err(CheckError::io)?;
    let version = client.version().await.map_err(CheckError::io)?;
    let (vendor, version) = split_version(&version);
    // STATS is optional: some servers refuse it, and that is no reason to stop using them.
    let stats = client
        .stats()
        .await
        .map(|s| stats_lines(&s))
        .unwrap_or_default();
    Ok(Identity {
        ip,
        vendor,
        version,
        stats,
    })
}

/// An ICAP server's check: OPTIONS, sent fresh each time. `vendor`/`version` come from
/// its `Service` header (`C-ICAP/0.5.10 server - Clamav/Antivirus service`), with the
/// `ISTag`, which changes with the virus database, appended to the version.
async fn check_icap(
    address: &ServerAddress,
    client: &icap::IcapClient,
) -> Result<Identity, CheckError> {
    let options = client.options().await.map_err(|e| CheckError {
        reason: icap_reason(&e),
        detail: e.to_string(),
    })?;
    if !options.supports_respmod() {
        return Err(CheckError {
            reason: DisconnectReason::InvalidProtocolMsg,
            detail: format!("the ICAP service {} does not offer RESPMOD", client.uri()),
        });
    }
    let (vendor, version) = match options.service.as_deref() {
        Some(service) => {
            let product = service.split_whitespace().next().unwrap_or(service);
            match product.split_once('/') {
                Some((v, ver)) => (Some(v.to_string()), Some(ver.to_string())),
                None => (Some(product.to_string()), None),
            }
        }
        None => (None, None),
    };
    let version = match (version, options.istag.as_deref()) {
        (Some(v), Some(tag)) => Some(format!("{v} (ISTag {tag})")),
        (None, Some(tag)) => Some(format!("ISTag {tag}")),
        (v, None) => v,
    };
    let ip = match address.host() {
        Some(Host::Ip(ip)) => ip.to_string(),
        Some(Host::Name(name)) => match address.port() {
            Some(port) => resolve(&Host::Name(name.clone()), port)
                .await
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|_| name.clone()),
            None => name.clone(),
        },
        None => address.to_string(),
    };
    let mut stats = vec![format!("uri={}", client.uri())];
    stats.extend(options.methods.iter().map(|m| format!("method={m}")));
    if let Some(p) = options.preview {
        stats.push(format!("preview={p}"));
    }
    Ok(Identity {
        ip,
        vendor,
        version,
        stats,
    })
}

pub(crate) fn icap_reason(e: &icap::IcapError) -> DisconnectReason {
    match e {
        icap::IcapError::Connect { .. } | icap::IcapError::Closed | icap::IcapError::Io(_) => {
            DisconnectReason::RemoteClosed
        }
        icap::IcapError::Timeout(_) => DisconnectReason::InactiveConnection,
        icap::IcapError::Protocol(_) | icap::IcapError::Status { .. } => {
            DisconnectReason::InvalidProtocolMsg
        }
        icap::IcapError::Source(_) => DisconnectReason::Unknown,
    }
}

/// `ClamAV 1.4.6/27123/Sun Nov 22 08:22:01 2026` → (`ClamAV`, `1.4.6/27123`): the
/// vendor, then the engine and signature versions without the signature date.
pub fn split_version(reply: &str) -> (Option<String>, Option<String>) {
    let reply = reply.trim();
    let (vendor, rest) = match reply.split_once(' ') {
        Some((v, r)) => (v, r.trim()),
        None => (reply, ""),
    };
    let version: Vec<&str> = rest.split('/').take(2).filter(|p| !p.is_empty()).collect();
    let some = |s: String| (!s.is_empty()).then_some(s);
    (some(vendor.to_string()), some(version.join("/")))
}

/// The STATS reply as `extended_stats` lines (bounded; the trailing `END` dropped).
pub fn stats_lines(reply: &str) -> Vec<String> {
    reply
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "END")
        .take(64)
        .map(|l| l.chars().take(256).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_splits_vendor_engine_and_signatures() {
        assert_eq!(
            split_version("ClamAV 1.4.6/27123/Sun Nov 22 08:22:01 2026\n"),
            (Some("ClamAV".into()), Some("1.4.6/27123".into()))
        );
        assert_eq!(
            split_version("ClamAV 1.4.6"),
            (Some("ClamAV".into()), Some("1.4.6".into()))
        );
        assert_eq!(split_version("Weird"), (Some("Weird".into()), None));
        assert_eq!(split_version(""), (None, None));
    }

    #[test]
    fn stats_drop_blank_and_end() {
        assert_eq!(
            stats_lines("POOLS: 1\n\nSTATE: VALID PRIMARY\nEND\n"),
            vec!["POOLS: 1", "STATE: VALID PRIMARY"]
        );
    }

    #[test]
    fn io_errors_map_to_ontap_reasons() {
        let r = |k| DisconnectReason::from_io(&io::Error::from(k)).as_str();
        assert_eq!(r(io::ErrorKind::ConnectionRefused), "remote_closed");
        assert_eq!(r(io::ErrorKind::TimedOut), "inactive_connection");
        assert_eq!(r(io::ErrorKind::InvalidData), "invalid_protocol_msg");
        assert_eq!(r(io::ErrorKind::PermissionDenied), "unknown");
    }
}
