//! `vigil serve` options: command-line flags, then `VIGIL_*` environment variables,
//! then the TOML file given by `--config`, then defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

pub use crate::http::access::{DEFAULT_METRICS_ALLOW, MetricsAccess};

#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of these options (keys as the long flags, with underscores).
    #[arg(long, env = "VIGIL_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Directory for the database, TLS certificate, node identity and SVM namespaces.
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `https://ADDR:PORT` (default https://127.0.0.1:8443) or `http://ADDR:PORT`.
    #[arg(long, env = "VIGIL_LISTEN")]
    pub listen: Option<String>,
    /// Database URL; default: the SQLite file `vigil.db` in the data directory.
    #[arg(long, env = "VIGIL_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PEM certificate chain; default: a self-signed certificate generated into the data dir.
    #[arg(long, env = "VIGIL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "VIGIL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// This node's name; default: the host name.
    #[arg(long, env = "VIGIL_NODE_NAME")]
    pub node_name: Option<String>,
    /// The cluster name set on first start; default `vigil`.
    #[arg(long, env = "VIGIL_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// Seconds a finished job stays readable (at least 300).
    #[arg(long, env = "VIGIL_JOB_RETENTION_SECS")]
    pub job_retention_secs: Option<u64>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "VIGIL_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// TCP address of the embedded clamd-protocol scanner (default 127.0.0.1:3310), or `off`.
    #[arg(long, env = "VIGIL_SCANNER_LISTEN")]
    pub scanner_listen: Option<String>,
    /// Unix socket of the embedded scanner (default `<data-dir>/scanner.sock`), or `off`.
    #[arg(long, env = "VIGIL_SCANNER_SOCKET")]
    pub scanner_socket: Option<String>,
    /// Directory of extra YARA rules and `.hdb`/`.hsb` hash lists for the embedded scanner.
    #[arg(long, env = "VIGIL_SCANNER_RULES_DIR")]
    pub scanner_rules_dir: Option<PathBuf>,
    /// Scanning threads of the embedded scanner (the number of cores).
    #[arg(long, env = "VIGIL_SCANNER_THREADS")]
    pub scanner_threads: Option<usize>,
    /// Scan jobs one scanner client may have queued or running (twice the threads).
    #[arg(long, env = "VIGIL_SCANNER_MAX_CLIENT_JOBS")]
    pub scanner_max_client_jobs: Option<usize>,
    /// Seconds a scanner connection may stay silent mid-command (120).
    #[arg(long, env = "VIGIL_SCANNER_READ_TIMEOUT")]
    pub scanner_read_timeout: Option<u64>,
    /// Largest INSTREAM body (100M; K/M/G suffixes).
    #[arg(long, env = "VIGIL_SCANNER_STREAM_MAX_LENGTH")]
    pub scanner_stream_max_length: Option<String>,
    /// Largest file scanned and archive member unpacked (100M).
    #[arg(long, env = "VIGIL_SCANNER_MAX_FILE_SIZE")]
    pub scanner_max_file_size: Option<String>,
    /// Largest object scanned and most bytes unpacked from one (400M).
    #[arg(long, env = "VIGIL_SCANNER_MAX_SCAN_SIZE")]
    pub scanner_max_scan_size: Option<String>,
    /// Archive members unpacked per scanned object (10000).
    #[arg(long, env = "VIGIL_SCANNER_MAX_FILES")]
    pub scanner_max_files: Option<u32>,
    /// Deepest archive nesting unpacked (8).
    #[arg(long, env = "VIGIL_SCANNER_MAX_RECURSION")]
    pub scanner_max_recursion: Option<u32>,
    /// Seconds one object may be scanned (120).
    #[arg(long, env = "VIGIL_SCANNER_SCAN_TIMEOUT")]
    pub scanner_scan_timeout: Option<u64>,
    /// `true`: objects skipped at a limit are `Heuristics.Limits.Exceeded.*` detections
    /// instead of clean (false).
    #[arg(long, env = "VIGIL_SCANNER_ALERT_EXCEEDS_MAX")]
    pub scanner_alert_exceeds_max: Option<bool>,
    /// `process`: scans run in supervised worker processes, so an engine crash loses only
    /// the scans in progress; `thread`: on the server's own threads (process).
    #[arg(long, env = "VIGIL_SCANNER_ISOLATION")]
    pub scanner_isolation: Option<String>,
    /// Test-only: scan workers abort on a marker file (proves isolation).
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub scanner_test_faults: bool,
    /// Milliseconds between health checks of each scan server a pool names (10000).
    #[arg(long, env = "VIGIL_VSCAN_CHECK_INTERVAL_MS")]
    pub vscan_check_interval_ms: Option<u64>,
    /// Vscan events kept, newest first (1000000).
    #[arg(long, env = "VIGIL_VSCAN_EVENTS_MAX")]
    pub vscan_events_max: Option<u64>,
    /// Days Vscan events are kept (30).
    #[arg(long, env = "VIGIL_VSCAN_EVENTS_MAX_AGE_DAYS")]
    pub vscan_events_max_age_days: Option<u64>,
    /// On-demand run records kept, newest first (100000).
    #[arg(long, env = "VIGIL_VSCAN_RUNS_MAX")]
    pub vscan_runs_max: Option<u64>,
    /// Days on-demand run records are kept (366: the RMM asks for a year of history).
    #[arg(long, env = "VIGIL_VSCAN_RUNS_MAX_AGE_DAYS")]
    pub vscan_runs_max_age_days: Option<u64>,
    /// Clean verdicts the scan cache keeps (1000000).
    #[arg(long, env = "VIGIL_SCAN_CACHE_ENTRIES")]
    pub scan_cache_entries: Option<usize>,
    /// IP address the SVMs' S3 servers listen on (127.0.0.1).
    #[arg(long, env = "VIGIL_S3_ADDRESS")]
    pub s3_address: Option<String>,
    /// Added to every S3 server's `port` and `secure_port` (0), so that a non-root node
    /// serves ONTAP's default ports 80/443 at e.g. 20080/20443.
    #[arg(long, env = "VIGIL_S3_PORT_OFFSET")]
    pub s3_port_offset: Option<u16>,
    /// Collect metrics and serve them at `GET /metrics` (true).
    #[arg(long, env = "VIGIL_METRICS")]
    pub metrics: Option<bool>,
    /// Bearer token that lets a scraper at any address read `/metrics` (none).
    #[arg(long, env = "VIGIL_METRICS_TOKEN")]
    pub metrics_token: Option<String>,
    /// Client networks that read `/metrics` without a token, comma-separated CIDRs
    /// (`127.0.0.0/8,::1/128`), or `none`.
    #[arg(long, env = "VIGIL_METRICS_ALLOW")]
    pub metrics_allow: Option<String>,
    /// On-access scanning of opens under SVM roots through fanotify (false; needs
    /// CAP_SYS_ADMIN). See docs/on-access.md.
    #[arg(long, env = "VIGIL_FANOTIFY")]
    pub fanotify: Option<bool>,
    /// Milliseconds an opener waits for a fanotify verdict before the policy's
    /// `mandatory` decides (5000).
    #[arg(long, env = "VIGIL_FANOTIFY_DEADLINE_MS")]
    pub fanotify_deadline_ms: Option<u64>,
    /// fanotify permission events decided at once; beyond, openers wait in the kernel (256).
    #[arg(long, env = "VIGIL_FANOTIFY_MAX_PENDING")]
    pub fanotify_max_pending: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Http(String),
    Https(String),
}

/// The options after merging, with defaults applied.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: Listen,
    pub database_url: String,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub node_name: String,
    pub cluster_name: String,
    pub job_retention: Duration,
    pub max_body_bytes: usize,
    /// The embedded scanner; `None` when both its listeners are `off`.
    pub scanner: Option<scan::ScannerArgs>,
    pub vscan_check_interval: Duration,
    pub vscan_events_max: u64,
    pub vscan_events_max_age: Duration,
    pub scan_cache_entries: usize,
    pub vscan_runs_max: u64,
    pub vscan_runs_max_age: Duration,
    pub s3_address: std::net::IpAddr,
    pub s3_port_offset: u16,
    /// Who may read `/metrics`; `None` when metrics are off.
    pub metrics: Option<MetricsAccess>,
    pub fanotify: FanotifySettings,
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<ServeArgs>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => ServeArgs::default(),
        };
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./vigil-data"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = std::fs::canonicalize(&data_dir)?;
        let listen = parse_listen(
            self.listen
                .or(file.listen)
                .as_deref()
                .unwrap_or("https://127.0.0.1:8443"),
        )?;
        let database_url = self
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| store::Store::sqlite_url(&data_dir.join("vigil.db")));
        let tls = match (
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        let retention = self
            .job_retention_secs
            .or(file.job_retention_secs)
            .unwrap_or(600);
        anyhow::ensure!(retention >= 300, "job_retention_secs must be at least 300");
        let scanner_listen = self
            .scanner_listen
            .or(file.scanner_listen)
            .unwrap_or_else(|| "127.0.0.1:3310".to_string());
        let scanner_socket = self
            .scanner_socket
            .or(file.scanner_socket)
            .unwrap_or_else(|| data_dir.join("scanner.sock").display().to_string());
        let off = |v: &str| v.eq_ignore_ascii_case("off");
        let size = |name: &str, value: Option<String>| -> anyhow::Result<Option<u64>> {
            value
                .map(|v| scan::engine::parse_size(&v).map_err(|e| anyhow::anyhow!("{name}: {e}")))
                .transpose()
        };
        let defaults = scan::ScannerArgs::default();
        let limits = scan::Limits {
            max_file_size: size(
                "scanner_max_file_size",
                self.scanner_max_file_size.or(file.scanner_max_file_size),
            )?
            .unwrap_or(defaults.limits.max_file_size),
            max_scan_size: size(
                "scanner_max_scan_size",
                self.scanner_max_scan_size.or(file.scanner_max_scan_size),
            )?
            .unwrap_or(defaults.limits.max_scan_size),
            max_files: self
                .scanner_max_files
                .or(file.scanner_max_files)
                .unwrap_or(defaults.limits.max_files),
            max_recursion: self
                .scanner_max_recursion
                .or(file.scanner_max_recursion)
                .unwrap_or(defaults.limits.max_recursion),
            scan_timeout: self
                .scanner_scan_timeout
                .or(file.scanner_scan_timeout)
                .unwrap_or(defaults.limits.scan_timeout),
            alert_exceeds_max: self
                .scanner_alert_exceeds_max
                .or(file.scanner_alert_exceeds_max)
                .unwrap_or(defaults.limits.alert_exceeds_max),
            ..defaults.limits.clone()
        };
        let stream_max_length = size(
            "scanner_stream_max_length",
            self.scanner_stream_max_length
                .or(file.scanner_stream_max_length),
        )?
        .unwrap_or(defaults.stream_max_length);
        let isolation = match self.scanner_isolation.or(file.scanner_isolation) {
            None => scan::worker::Isolation::Process,
            Some(text) => <scan::worker::Isolation as clap::ValueEnum>::from_str(&text, true)
                .map_err(|_| {
                    anyhow::anyhow!("scanner_isolation {text:?} is not process or thread")
                })?,
        };
        let scanner =
            (!(off(&scanner_listen) && off(&scanner_socket))).then(|| scan::ScannerArgs {
                listen: scanner_listen,
                socket: scanner_socket,
                rules_dir: self.scanner_rules_dir.or(file.scanner_rules_dir),
                scan_threads: self.scanner_threads.or(file.scanner_threads),
                max_client_jobs: self
                    .scanner_max_client_jobs
                    .or(file.scanner_max_client_jobs)
                    .unwrap_or(defaults.max_client_jobs),
                read_timeout: self
                    .scanner_read_timeout
                    .or(file.scanner_read_timeout)
                    .unwrap_or(defaults.read_timeout),
                stream_max_length,
                limits,
                isolation,
                test_faults: self.scanner_test_faults,
                ..scan::ScannerArgs::default()
            });
        let check_ms = self
            .vscan_check_interval_ms
            .or(file.vscan_check_interval_ms)
            .unwrap_or(10_000);
        anyhow::ensure!(
            check_ms >= 100,
            "vscan_check_interval_ms must be at least 100"
        );
        let s3_address = self
            .s3_address
            .or(file.s3_address)
            .unwrap_or_else(|| "127.0.0.1".to_string());
        let s3_address = s3_address
            .parse()
            .map_err(|_| anyhow::anyhow!("s3_address {s3_address:?} is not an IP address"))?;
        let metrics = match self.metrics.or(file.metrics).unwrap_or(true) {
            false => None,
            true => Some(MetricsAccess::new(
                self.metrics_token
                    .or(file.metrics_token)
                    .filter(|t| !t.is_empty()),
                self.metrics_allow
                    .or(file.metrics_allow)
                    .as_deref()
                    .unwrap_or(DEFAULT_METRICS_ALLOW),
            )?),
        };
        let fanotify_defaults = FanotifySettings::default();
        let fanotify = FanotifySettings {
            enabled: self.fanotify.or(file.fanotify).unwrap_or(false),
            deadline: self
                .fanotify_deadline_ms
                .or(file.fanotify_deadline_ms)
                .map(Duration::from_millis)
                .unwrap_or(fanotify_defaults.deadline),
            max_pending: self
                .fanotify_max_pending
                .or(file.fanotify_max_pending)
                .unwrap_or(fanotify_defaults.max_pending),
        };
        anyhow::ensure!(
            fanotify.deadline >= Duration::from_millis(10),
            "fanotify_deadline_ms must be at least 10"
        );
        anyhow::ensure!(
            fanotify.max_pending >= 1,
            "fanotify_max_pending must be at least 1"
        );
        Ok(Config {
            fanotify,
            s3_address,
            s3_port_offset: self.s3_port_offset.or(file.s3_port_offset).unwrap_or(0),
            metrics,
            scanner,
            vscan_check_interval: Duration::from_millis(check_ms),
            scan_cache_entries: self
                .scan_cache_entries
                .or(file.scan_cache_entries)
                .unwrap_or(1_000_000),
            vscan_events_max: self
                .vscan_events_max
                .or(file.vscan_events_max)
                .unwrap_or(1_000_000),
            vscan_events_max_age: Duration::from_secs(
                86_400
                    * self
                        .vscan_events_max_age_days
                        .or(file.vscan_events_max_age_days)
                        .unwrap_or(30),
            ),
            vscan_runs_max: self
                .vscan_runs_max
                .or(file.vscan_runs_max)
                .unwrap_or(100_000),
            vscan_runs_max_age: Duration::from_secs(
                86_400
                    * self
                        .vscan_runs_max_age_days
                        .or(file.vscan_runs_max_age_days)
                        .unwrap_or(366),
            ),
            listen,
            database_url,
            tls,
            node_name: self.node_name.or(file.node_name).unwrap_or_else(hostname),
            cluster_name: self
                .cluster_name
                .or(file.cluster_name)
                .unwrap_or_else(|| "vigil".to_string()),
            job_retention: Duration::from_secs(retention),
            max_body_bytes: self
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(1 << 20),
            data_dir,
        })
    }
}

fn parse_listen(value: &str) -> anyhow::Result<Listen> {
    let (scheme, addr) = match value.split_once("://") {
        Some((s, a)) => (s, a.trim_end_matches('/')),
        None => ("https", value),
    };
    anyhow::ensure!(
        !addr.is_empty(),
        "--listen needs an address, e.g. https://127.0.0.1:8443"
    );
    match scheme {
        "http" => Ok(Listen::Http(addr.to_string())),
        "https" => Ok(Listen::Https(addr.to_string())),
        other => anyhow::bail!("--listen scheme {other:?} is not http or https"),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node1".to_string())
}

/// Reads a file holding a UUID, creating it with a new one on first use.
pub fn stable_uuid(path: &Path) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let id = text.trim();
        if uuid::Uuid::parse_str(id).is_ok() {
            return Ok(id.to_string());
        }
        anyhow::bail!("{} does not hold a UUID", path.display());
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(path, format!("{id}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("http://0.0.0.0:80").unwrap(),
            Listen::Http("0.0.0.0:80".into())
        );
        assert_eq!(
            parse_listen("127.0.0.1:8443").unwrap(),
            Listen::Https("127.0.0.1:8443".into())
        );
        assert!(parse_listen("ftp://x").is_err());
    }

    #[test]
    fn file_values_apply_below_flags() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("vigil.toml");
        std::fs::write(
            &cfg,
            format!(
                "data_dir = {:?}\nnode_name = \"from-file\"\ncluster_name = \"c1\"\n",
                dir.path().join("d")
            ),
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(cfg),
            node_name: Some("from-flag".into()),
            ..ServeArgs::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.node_name, "from-flag");
        assert_eq!(c.cluster_name, "c1");
        assert!(c.data_dir.ends_with("d"));
    }
}

/// `vigil serve` options of the fanotify on-access door (crate::fanotify).
#[derive(Debug, Clone)]
pub struct FanotifySettings {
    pub enabled: bool,
    /// Longest an opener waits for a verdict.
    pub deadline: Duration,
    /// Decisions in flight at most (permission events read and not yet answered).
    pub max_pending: usize,
}

impl Default for FanotifySettings {
    fn default() -> FanotifySettings {
        FanotifySettings {
            enabled: false,
            deadline: Duration::from_secs(5),
            max_pending: 256,
        }
    }
}
