//! The on-access decision: the one answer every on-access door (S3 uploads and reads,
//! fanotify opens) asks for before it lets a client see a file.
//!
//! [`OnAccess::check`] finds what is in force for the SVM (Vscan enabled and its one
//! enabled on-access policy, [`Policy`]), runs the file through the scanning service
//! under that policy's scope, and turns the [`Outcome`] into an [`AccessDecision`]:
//! allow (scanned clean, known clean, outside the scope, or nothing in force), deny (a
//! threat) or unavailable (no scanner could answer; the policy's `mandatory` says
//! whether the door refuses). The scanning service records the Vscan events (detection,
//! `scan_failed`, `scan_timedout`); this module adds the file to the SVM's `ACTIVE` run
//! record of the day ([`active`]) for the managed-antivirus report.
//!
//! What is in force is cached, not read from the store on every open: the cache holds
//! the stored Vscan documents it was made from (the SVMs' switches, the on-access
//! policies, the inherited choices) and is rebuilt when any of them is no longer the
//! same document, so a REST change (or another node's, through store invalidation) is
//! seen by the next check without a notification.

pub mod active;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use store::Store;
use vscan::config::{INHERITED_KIND, ON_ACCESS_KIND, STATE_KIND, Snapshot, policy_scope};
use vscan::scope::{PathStyle, Scope, SkipReason};

use crate::tenancy::CLUSTER_KIND;

use super::{Job, Outcome, Remediation, Remedy, Request, ScanService, Subject, Trigger};

/// Longest a door waits for a verdict. Past it the file is `Unavailable` (and a
/// `mandatory` policy refuses it): a client's open or upload must not hang on a
/// scanner that stopped answering.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The per-SVM switch for S3 scanning on the Vscan state document (a Vigil extension,
/// `s3_scanning` on `/api/protocols/vscan/{svm.uuid}`; absent means on).
pub const S3_SWITCH: &str = "s3_scanning";

/// How the file is being accessed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    /// Opened with execute intent (the policy's `only_execute_access`).
    pub execute: bool,
    /// On a read-only volume (the policy's `scan_readonly_volumes`).
    pub readonly_volume: bool,
}

/// Why access is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Scanned now and found clean.
    Scanned,
    /// Known clean as it is now (the scan cache).
    Cached,
    /// Outside the policy's scope: not scanned.
    Excluded(SkipReason),
    /// Nothing is in force for the SVM: Vscan is disabled or no on-access policy is
    /// enabled.
    NotInForce,
}

/// The answer for one access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    Allow(Allowed),
    /// Infected (or a scan limit hit, which counts as infected). `remedy` is what the
    /// policy's remediation did, `None` where it could not apply (no host path).
    Deny {
        threat: String,
        remedy: Option<Remedy>,
    },
    /// No verdict: no scanner could answer, or the file could not be scanned. The door
    /// refuses when `mandatory`, else lets the access through unscanned.
    Unavailable {
        mandatory: bool,
        reason: String,
    },
}

impl AccessDecision {
    /// Whether the door lets the access happen.
    pub fn permits(&self) -> bool {
        match self {
            AccessDecision::Allow(_) => true,
            AccessDecision::Deny { .. } => false,
            AccessDecision::Unavailable { mandatory, .. } => !mandatory,
        }
    }
}

/// The enabled on-access policy of an SVM with Vscan on, ready to evaluate.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub scope: Scope,
    /// The stored scope, as run records show it.
    pub scope_doc: Value,
    pub mandatory: bool,
    pub remediation: Remediation,
    /// S3 uploads and reads are scanned (the SVM's [`S3_SWITCH`]).
    pub s3: bool,
}

/// The stored documents a cached answer was made from: the same `Arc`s (kept alive
/// here, so an address cannot be reused by a new document) mean nothing changed.
#[derive(Default)]
struct Sources(Vec<Arc<Value>>);

impl Sources {
    fn read(store: &Store) -> Sources {
        let mut docs = Vec::new();
        for kind in [STATE_KIND, ON_ACCESS_KIND, INHERITED_KIND] {
            docs.extend(store.list(kind));
        }
        if let Some(cluster) = store.get(CLUSTER_KIND, CLUSTER_KIND) {
            docs.push(cluster);
        }
        Sources(docs)
    }

    fn same(&self, other: &Sources) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

#[derive(Default)]
struct InForce {
    sources: Sources,
    by_svm: HashMap<String, Option<Arc<Policy>>>,
}

pub struct OnAccess {
    store: Arc<Store>,
    scanning: Arc<ScanService>,
    in_force: Mutex<InForce>,
    active: active::ActiveRuns,
}

impl OnAccess {
    pub fn new(store: Arc<Store>, scanning: Arc<ScanService>) -> Arc<OnAccess> {
        Arc::new(OnAccess {
            active: active::ActiveRuns::new(Arc::clone(&store)),
            store,
            scanning,
            in_force: Mutex::new(InForce::default()),
        })
    }

    /// Writes the day's `ACTIVE` records every few seconds (and [`OnAccess::flush`]
    /// at shutdown). Needs a Tokio runtime.
    pub fn start(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(active::FLUSH_EVERY);
            loop {
                tick.tick().await;
                me.active.flush().await;
            }
        });
    }

    /// Stores what the `ACTIVE` records gathered since the last write.
    pub async fn flush(&self) {
        self.active.flush().await;
    }

    /// What is in force for the SVM: `None` when Vscan is disabled on it or none of its
    /// on-access policies is enabled (or the enabled one's stored scope is unusable,
    /// which is logged).
    pub fn policy(&self, svm_uuid: &str) -> Option<Arc<Policy>> {
        let sources = Sources::read(&self.store);
        let mut in_force = self.in_force.lock().unwrap_or_else(|e| e.into_inner());
        if !in_force.sources.same(&sources) {
            *in_force = InForce {
                sources,
                by_svm: HashMap::new(),
            };
        }
        if let Some(known) = in_force.by_svm.get(svm_uuid) {
            return known.clone();
        }
        let policy = self.load(svm_uuid).map(Arc::new);
        in_force.by_svm.insert(svm_uuid.to_string(), policy.clone());
        policy
    }

    /// The Vscan configuration as stored now (the Samba door serves every SVM with
    /// Vscan enabled, whether or not a policy is in force).
    pub fn snapshot(&self) -> Snapshot {
        let admin = self
            .store
            .get(CLUSTER_KIND, CLUSTER_KIND)
            .and_then(|c| c["uuid"].as_str().map(String::from))
            .unwrap_or_default();
        Snapshot::load(&*self.store, &admin)
    }

    fn load(&self, svm_uuid: &str) -> Option<Policy> {
        let snapshot = self.snapshot();
        if !snapshot.enabled(svm_uuid) {
            return None;
        }
        let seen = snapshot
            .on_access(svm_uuid)
            .into_iter()
            .find(|p| p.record["enabled"] == true)?;
        let record = &seen.record;
        let scope = match policy_scope(&record["scope"], PathStyle::Cifs) {
            Ok(scope) => scope,
            Err(e) => {
                tracing::error!(svm = svm_uuid, policy = seen.name(), error = %e, "the stored scope of the enabled on-access policy is invalid; nothing is scanned on access");
                return None;
            }
        };
        Some(Policy {
            name: seen.name().to_string(),
            scope,
            scope_doc: record["scope"].clone(),
            mandatory: record["mandatory"].as_bool().unwrap_or(true),
            remediation: Remediation::from_policy(record["remediation"].as_str()),
            s3: snapshot.state_doc(svm_uuid)[S3_SWITCH] != false,
        })
    }

    /// Whether S3 uploads and reads of the SVM go through [`OnAccess::check`] now.
    pub fn scans_s3(&self, svm_uuid: &str) -> bool {
        self.policy(svm_uuid).is_some_and(|p| p.s3)
    }

    /// The decision for one access to `file_path` (as the SVM names it, `/vol1/a.exe`)
    /// of `subject`. A door calls it before the client sees the file; `trigger` says
    /// which door (events, metrics and the `ACTIVE` record count by it).
    pub async fn check(
        &self,
        svm_uuid: &str,
        file_path: &str,
        subject: Subject,
        access: Access,
        trigger: Trigger,
    ) -> AccessDecision {
        let Some(policy) = self.policy(svm_uuid) else {
            return AccessDecision::Allow(Allowed::NotInForce);
        };
        let job = Job {
            svm: svm_uuid.to_string(),
            trigger,
            remediation: policy.remediation,
            deadline: Some(DEADLINE),
        };
        let request = Request {
            file_path: file_path.to_string(),
            subject,
            execute: access.execute,
            readonly_volume: access.readonly_volume,
        };
        let outcome = self.scanning.scan(&policy.scope, &job, request).await;
        self.active
            .add(svm_uuid, &policy, trigger, file_path, &outcome);
        decide(outcome, policy.mandatory)
    }
}

/// The door's answer for a pipeline outcome under a policy that is (or is not)
/// mandatory.
pub fn decide(outcome: Outcome, mandatory: bool) -> AccessDecision {
    match outcome {
        Outcome::Skipped(reason) => AccessDecision::Allow(Allowed::Excluded(reason)),
        Outcome::Clean { cached: true } => AccessDecision::Allow(Allowed::Cached),
        Outcome::Clean { cached: false } => AccessDecision::Allow(Allowed::Scanned),
        Outcome::Infected { threat, remedy } => AccessDecision::Deny { threat, remedy },
        Outcome::Unavailable(reason) | Outcome::Failed(reason) => {
            AccessDecision::Unavailable { mandatory, reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandatory_decides_what_no_verdict_means() {
        let down = || Outcome::Unavailable("no scan server of the SVM is connected".into());
        assert!(!decide(down(), true).permits());
        assert!(decide(down(), false).permits());
        assert!(!decide(Outcome::Failed("unreadable".into()), true).permits());
    }

    #[test]
    fn verdicts_map_to_allow_and_deny() {
        assert_eq!(
            decide(Outcome::Clean { cached: true }, true),
            AccessDecision::Allow(Allowed::Cached)
        );
        assert_eq!(
            decide(Outcome::Clean { cached: false }, true),
            AccessDecision::Allow(Allowed::Scanned)
        );
        assert_eq!(
            decide(Outcome::Skipped(SkipReason::NoExtension), true),
            AccessDecision::Allow(Allowed::Excluded(SkipReason::NoExtension))
        );
        let infected = decide(
            Outcome::Infected {
                threat: "Eicar".into(),
                remedy: None,
            },
            false,
        );
        assert!(!infected.permits());
        assert!(matches!(infected, AccessDecision::Deny { threat, .. } if threat == "Eicar"));
    }
}
