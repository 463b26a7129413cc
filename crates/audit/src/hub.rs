//! The live audit state of a node: one [`AuditLog`] per SVM whose auditing is enabled,
//! and the one call the S3 endpoint makes, [`AuditHub::record`].
//!
//! Configuration changes replace an SVM's entry under a lock that `record` also takes
//! (briefly, to pick the log and the switches), so the first record started after a
//! change returns sees the new `enabled`/`events` and the new log settings.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::log::{AuditError, AuditLog, Clock, LogConfig};
use crate::record::{AuditEvent, Category, SvmRef};

/// What the hub needs of one SVM's S3 audit configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SvmAudit {
    pub svm_uuid: String,
    pub svm_name: String,
    pub enabled: bool,
    /// `events.data`
    pub data: bool,
    /// `events.management`
    pub management: bool,
    /// `log_path` resolved to a host directory, rotation and retention.
    pub log: LogConfig,
}

struct Entry {
    /// Shared with in-flight records, so `record` copies a pointer, not the config.
    config: Arc<SvmAudit>,
    /// `None` while disabled, or when the log could not be opened at startup (then
    /// every record is refused until it can be).
    log: Option<AuditLog>,
}

pub struct AuditHub {
    node: String,
    clock: Arc<dyn Clock>,
    svms: RwLock<HashMap<String, Entry>>,
    /// Serializes late opens: two writers on one file would break torn-line repair.
    reopening: tokio::sync::Mutex<()>,
}

impl AuditHub {
    pub fn new(node: impl Into<String>, clock: Arc<dyn Clock>) -> AuditHub {
        AuditHub {
            node: node.into(),
            clock,
            svms: RwLock::new(HashMap::new()),
            reopening: tokio::sync::Mutex::new(()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.svms.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.svms.write().unwrap_or_else(|e| e.into_inner())
    }

    async fn open(&self, config: LogConfig) -> Result<AuditLog, AuditError> {
        let clock = Arc::clone(&self.clock);
        let dir = config.dir.display().to_string();
        tokio::task::spawn_blocking(move || AuditLog::open(config, clock))
            .await
            .map_err(|e| AuditError::Write {
                dir,
                reason: e.to_string(),
            })?
    }

    /// Installs or changes an SVM's configuration. On error nothing changes.
    pub async fn apply(&self, config: SvmAudit) -> Result<(), AuditError> {
        let existing = self
            .read()
            .get(&config.svm_uuid)
            .and_then(|e| e.log.clone());
        let log = match (config.enabled, existing) {
            (false, _) => None,
            (true, Some(log)) => {
                log.configure(config.log.clone()).await?;
                Some(log)
            }
            (true, None) => Some(self.open(config.log.clone()).await?),
        };
        let config = Arc::new(config);
        self.write()
            .insert(config.svm_uuid.clone(), Entry { config, log });
        Ok(())
    }

    /// Installs a stored configuration at startup. A log that cannot be opened is
    /// reported and retried by the next `record`, which fails until then: a stored,
    /// enabled configuration must never let S3 requests through unaudited.
    pub async fn restore(&self, config: SvmAudit) {
        let log = if config.enabled {
            match self.open(config.log.clone()).await {
                Ok(log) => Some(log),
                Err(e) => {
                    report(&config, &e);
                    None
                }
            }
        } else {
            None
        };
        let config = Arc::new(config);
        self.write()
            .insert(config.svm_uuid.clone(), Entry { config, log });
    }

    /// Forgets an SVM's configuration; its files stay.
    pub fn remove(&self, svm_uuid: &str) {
        self.write().remove(svm_uuid);
    }

    /// Follows an SVM rename, so later records carry the new name.
    pub fn rename(&self, svm_uuid: &str, name: &str) {
        if let Some(entry) = self.write().get_mut(svm_uuid) {
            Arc::make_mut(&mut entry.config).svm_name = name.to_string();
        }
    }

    /// The SVM's open log (for its counters); `None` unless auditing is enabled.
    pub fn log(&self, svm_uuid: &str) -> Option<AuditLog> {
        self.read().get(svm_uuid).and_then(|e| e.log.clone())
    }

    pub fn config(&self, svm_uuid: &str) -> Option<SvmAudit> {
        self.read().get(svm_uuid).map(|e| (*e.config).clone())
    }

    /// Whether a record of `category` for the SVM would be written now (auditing
    /// enabled and the category selected).
    pub fn selects(&self, svm_uuid: &str, category: Category) -> bool {
        self.read().get(svm_uuid).is_some_and(|e| {
            let c = &e.config;
            c.enabled
                && match category {
                    Category::Data => c.data,
                    Category::Management => c.management,
                }
        })
    }

    /// `log.rotation.now`: rotates the SVM's active file at once.
    pub async fn rotate_now(&self, svm_uuid: &str) -> Result<(), AuditError> {
        let log = self.read().get(svm_uuid).and_then(|e| e.log.clone());
        match log {
            Some(log) => log.rotate_now().await,
            None => Err(AuditError::NotEnabled(svm_uuid.to_string())),
        }
    }

    /// Lets every log check its rotation schedule and retention now.
    pub fn tick(&self) {
        for entry in self.read().values() {
            if let Some(log) = &entry.log {
                log.tick();
            }
        }
    }

    /// Records one S3 event for an SVM. `Ok` without writing when the SVM has no
    /// configuration, auditing is disabled or the event's category is not selected;
    /// otherwise `Ok` only once the record is durable. An error means the request must
    /// be refused, as ONTAP refuses S3 operations it cannot audit; it is also logged.
    pub async fn record(&self, svm_uuid: &str, mut event: AuditEvent) -> Result<(), AuditError> {
        let (config, log) = {
            let svms = self.read();
            let Some(entry) = svms.get(svm_uuid) else {
                return Ok(());
            };
            let c = &entry.config;
            let selected = match event.event.category() {
                Category::Data => c.data,
                Category::Management => c.management,
            };
            if !c.enabled || !selected {
                return Ok(());
            }
            (Arc::clone(c), entry.log.clone())
        };
        event.category = event.event.category();
        event.svm = SvmRef {
            uuid: config.svm_uuid.clone(),
            name: config.svm_name.clone(),
        };
        event.node = self.node.clone();
        let result = match serde_json::to_vec(&event) {
            Ok(line) => match log {
                Some(log) => log.append(line).await,
                None => self.reopen_and_append(&config, line).await,
            },
            Err(e) => Err(AuditError::Write {
                dir: config.log.dir.display().to_string(),
                reason: format!("cannot serialize the record: {e}"),
            }),
        };
        match &result {
            Ok(()) => telemetry::audit::AuditRecordWritten.emit(),
            Err(e) => {
                telemetry::audit::AuditRecordRefused.emit();
                report(&config, e);
            }
        }
        result
    }

    async fn reopen_and_append(
        &self,
        config: &Arc<SvmAudit>,
        line: Vec<u8>,
    ) -> Result<(), AuditError> {
        let _one_at_a_time = self.reopening.lock().await;
        let current = self
            .read()
            .get(&config.svm_uuid)
            .map(|e| (*e.config == **config, e.log.clone()));
        let log = match current {
            Some((_, Some(log))) => log,
            // Reconfigured or removed meanwhile: write nothing under a stale config.
            Some((false, None)) | None => {
                return Err(AuditError::NotEnabled(config.svm_uuid.clone()));
            }
            Some((true, None)) => {
                let log = self.open(config.log.clone()).await?;
                if let Some(entry) = self.write().get_mut(&config.svm_uuid) {
                    entry.log = Some(log.clone());
                }
                log
            }
        };
        log.append(line).await
    }
}

/// The operator-visible trace of a record that could not be written.
fn report(config: &SvmAudit, e: &AuditError) {
    tracing::error!(
        svm = %config.svm_name,
        svm_uuid = %config.svm_uuid,
        dir = %config.log.dir.display(),
        reason = %e,
        "S3 audit record cannot be written; S3 requests of this SVM are refused"
    );
}
