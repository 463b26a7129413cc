//! The RMM managed-antivirus reporting service, `GET /api/?apikey=…&service=…`, served
//! from the on-demand run history through `crates/mav`. Keys are managed at
//! `/api/security/mav-keys` (stored as SHA-256 digests); each SVM is a device with a
//! stable integer id (`mav_device_id`, kept in the store once assigned).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mav::{
    Client, Device, Engine, ErrorReason, Guid, KeyDecision, KeyScope, QuarantineItem, Scan,
    ScanError, ScanStatus, ScanType, Site, SourceError, Threat, ThreatStatus,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::scanning::records::RUN_KIND;
use crate::state::{SVM_KIND, State};

pub const KEY_KIND: &str = "mav_key";
pub const DEVICE_KIND: &str = "mav_device";

pub fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Gives every SVM without one the next device id (at start and when an SVM is
/// created, so requests only read). Ids are never reused.
pub async fn assign_device_ids(state: &State) -> Result<(), store::StoreError> {
    let mut txn = state.store.begin().await;
    let known = txn.list(DEVICE_KIND);
    let mut next = known
        .iter()
        .filter_map(|(_, d)| d["device_id"].as_u64())
        .max()
        .unwrap_or(1000);
    for (uuid, _) in txn.list(SVM_KIND) {
        if !known.iter().any(|(id, _)| *id == uuid) {
            next += 1;
            txn.put(DEVICE_KIND, &uuid, json!({"device_id": next}));
        }
    }
    txn.commit().await
}

pub fn device_id(state: &State, svm_uuid: &str) -> Option<u64> {
    state
        .store
        .get(DEVICE_KIND, svm_uuid)
        .and_then(|d| id_of(&d))
}

/// The SVM documents, all or the one with `uuid`, each with its device id.
pub fn svms_with_device_ids(state: &State, uuid: Option<&str>) -> Vec<(Arc<Value>, Option<u64>)> {
    match uuid {
        Some(uuid) => state
            .svm(uuid)
            .map(|svm| (svm, device_id(state, uuid)))
            .into_iter()
            .collect(),
        // Device ids are kept under the SVM's uuid, which is also the SVM's own id.
        None => state
            .store
            .list_with(SVM_KIND, DEVICE_KIND)
            .into_iter()
            .map(|(svm, device)| (svm, device.and_then(|d| id_of(&d))))
            .collect(),
    }
}

fn id_of(device: &Value) -> Option<u64> {
    device["device_id"].as_u64()
}

/// Keys, compared by digest (a digest comparison reveals nothing of the key).
pub struct Keys<'a>(pub &'a State);

impl mav::KeyCheck for Keys<'_> {
    fn check(&self, key: &str) -> KeyDecision {
        let wanted = digest(key);
        let Some(doc) = self
            .0
            .store
            .list(KEY_KIND)
            .into_iter()
            .find(|k| k["digest"] == wanted.as_str())
        else {
            return KeyDecision::Denied;
        };
        match doc["svms"].as_array() {
            Some(svms) if !svms.is_empty() => KeyDecision::Allowed(KeyScope::Devices(
                svms.iter()
                    .filter_map(|s| s["uuid"].as_str())
                    .filter_map(|u| device_id(self.0, u))
                    .collect::<BTreeSet<u64>>(),
            )),
            _ => KeyDecision::Allowed(KeyScope::All),
        }
    }
}

/// The cluster, its SVMs and their runs, as the RMM model sees them.
pub struct History<'a>(pub &'a State);

fn created_date(state: &State) -> Option<chrono::NaiveDate> {
    state.cluster()["created"]
        .as_str()
        .and_then(|t| t.parse::<DateTime<Utc>>().ok())
        .map(|t| t.date_naive())
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|t| t.parse().ok())
}

/// A run's uuid as the integer id the RMM wants (its first 64 bits).
fn scan_id(uuid: &str) -> u64 {
    uuid::Uuid::parse_str(uuid).map_or(0, |u| (u.as_u128() >> 64) as u64)
}

fn threat(item: &Value) -> Threat {
    let name = item["threat"].as_str().unwrap_or("unknown");
    // The engine's family when the name has one (`Win.Test.EICAR` → `Win.Test`).
    let category = name
        .rsplit_once('.')
        .map_or("Virus", |(family, _)| family)
        .to_string();
    let status = match item["action"].as_str() {
        Some("quarantine") if item["released"] == true => ThreatStatus::Released,
        Some("quarantine") => ThreatStatus::Quarantined,
        Some("delete") => ThreatStatus::Deleted,
        // "failed" is how records before error kinds said a quarantine failed.
        Some("quarantine_failed" | "failed") => ThreatStatus::FailedToQuarantine,
        Some("delete_failed") => ThreatStatus::FailedToDelete,
        _ => ThreatStatus::Reported,
    };
    let mut t = Threat::file(
        name,
        category,
        status,
        item["path"].as_str().unwrap_or_default(),
    );
    if let Some(id) = item["quarantine_id"]
        .as_str()
        .and_then(|q| uuid::Uuid::parse_str(q).ok())
    {
        t.quarantine.push(QuarantineItem {
            guid: Guid(id.as_u128()),
            count: 1,
            deleted: item["purged"] == true,
        });
    }
    t
}

/// The RMM's reason for a run error, from the error's kind.
fn error_reason(e: &Value) -> ErrorReason {
    match e["kind"].as_str() {
        Some("list_folder") => ErrorReason::ListFolderContents,
        Some("open_file") => ErrorReason::CreateFile,
        Some("quarantine") => ErrorReason::FailedToQuarantine,
        Some("remediation") => ErrorReason::RemediationFailure,
        Some(_) => ErrorReason::Unknown,
        // Records written before error kinds.
        None if e["reason"].as_str().is_some_and(|r| r.contains("failed:")) => {
            ErrorReason::RemediationFailure
        }
        None => ErrorReason::Unknown,
    }
}

fn scan(state: &State, run: &Value) -> Option<Scan> {
    let start = time(&run["start_time"])?;
    let status = match run["status"].as_str() {
        Some("RUNNING") => ScanStatus::Running,
        Some("FAILED") => ScanStatus::Error,
        Some("CANCELED") => ScanStatus::Canceled,
        _ => ScanStatus::Finished,
    };
    let count = |f: &str| run[f].as_u64().unwrap_or(0);
    Some(Scan {
        id: scan_id(run["uuid"].as_str().unwrap_or_default()),
        scan_type: match run["type"].as_str() {
            Some("DEEP") => ScanType::Deep,
            Some("QUICK") => ScanType::Quick,
            // On-access aggregates: one record per SVM per day (see docs/mav.md).
            Some("ACTIVE") => ScanType::Active,
            _ => ScanType::Custom,
        },
        status,
        start,
        end: time(&run["end_time"]),
        files_scanned: count("files_scanned"),
        folders_scanned: count("folders_scanned"),
        cookies_scanned: 0,
        registry_scanned: 0,
        processes_scanned: 0,
        threats: run["infected"]
            .as_array()
            .map(|a| a.iter().map(threat).collect())
            .unwrap_or_default(),
        errors: run["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| ScanError {
                        item: e["path"].as_str().unwrap_or_default().to_string(),
                        reason: error_reason(e),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        engine: Engine {
            name: "Vigil".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    })
    .filter(|_| {
        state
            .svm(run["svm"]["uuid"].as_str().unwrap_or_default())
            .is_some()
    })
}

impl mav::Source for History<'_> {
    fn client(&self) -> Result<Client, SourceError> {
        Ok(Client {
            id: 1,
            name: self.0.cluster_name(),
            timezone: "UTC".into(),
            created: created_date(self.0),
        })
    }

    fn site(&self) -> Result<Site, SourceError> {
        Ok(Site {
            id: 1,
            name: self.0.cluster_name(),
            created: created_date(self.0),
        })
    }

    fn devices(&self) -> Result<Vec<Device>, SourceError> {
        Ok(self
            .0
            .store
            .list(SVM_KIND)
            .iter()
            .filter_map(|svm| {
                let uuid = svm["uuid"].as_str()?;
                Some(Device {
                    id: device_id(self.0, uuid)?,
                    name: svm["name"].as_str().unwrap_or_default().to_string(),
                    uuid: uuid.to_string(),
                    description: svm["comment"]
                        .as_str()
                        .filter(|c| !c.is_empty())
                        .map(String::from),
                    online: svm["state"] == "running",
                })
            })
            .collect())
    }

    fn scans(&self, device: u64, since: DateTime<Utc>) -> Result<Vec<Scan>, SourceError> {
        let Some(svm) = self
            .0
            .store
            .list(SVM_KIND)
            .iter()
            .filter_map(|s| s["uuid"].as_str().map(String::from))
            .find(|u| device_id(self.0, u) == Some(device))
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .0
            .store
            .list(RUN_KIND)
            .iter()
            .filter(|r| r["svm"]["uuid"] == svm.as_str())
            .filter_map(|r| scan(self.0, r))
            .filter(|s| s.start >= since)
            .collect())
    }
}

/// Answers one request (always HTTP 200 with XML, errors in the RMM form).
pub async fn respond(state: &State, query: &[(String, String)], host: &str) -> String {
    let ctx = mav::Context::new(host, Utc::now());
    match mav::handle(query, &Keys(state), &History(state), &ctx) {
        Ok(xml) => xml,
        Err(e) => {
            if let mav::MavError::Internal(detail) = &e {
                tracing::error!(detail, "MAV request failed");
            }
            mav::render_error(&e, &ctx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threat_status_follows_the_action_and_the_quarantine_item_its_fate() {
        let id = "55778734-483c-4bcf-a0f5-4c78ed28cbe1";
        let item = |action: &str, extra: Value| {
            let mut v = json!({"path": "/d/f", "threat": "Vigil.Test.EICAR", "action": action});
            if action == "quarantine" {
                v["quarantine_id"] = json!(id);
            }
            for (k, x) in extra.as_object().into_iter().flatten() {
                v[k] = x.clone();
            }
            threat(&v)
        };
        let cases = [
            ("report", json!({}), ThreatStatus::Reported),
            ("rename", json!({}), ThreatStatus::Reported),
            ("rename_failed", json!({}), ThreatStatus::Reported),
            ("quarantine", json!({}), ThreatStatus::Quarantined),
            (
                "quarantine",
                json!({"released": true}),
                ThreatStatus::Released,
            ),
            (
                "quarantine",
                json!({"purged": true}),
                ThreatStatus::Quarantined,
            ),
            (
                "quarantine_failed",
                json!({}),
                ThreatStatus::FailedToQuarantine,
            ),
            ("failed", json!({}), ThreatStatus::FailedToQuarantine),
            ("delete", json!({}), ThreatStatus::Deleted),
            ("delete_failed", json!({}), ThreatStatus::FailedToDelete),
        ];
        for (action, extra, want) in cases {
            let t = item(action, extra.clone());
            assert_eq!(t.status, want, "{action} {extra}");
        }
        let purged = item("quarantine", json!({"purged": true}));
        assert_eq!(purged.quarantine.len(), 1);
        assert!(purged.quarantine[0].deleted);
        assert!(!item("quarantine", json!({"released": true})).quarantine[0].deleted);
        assert_eq!(purged.category, "Vigil.Test");
    }

    #[test]
    fn error_reasons_follow_the_kind() {
        let cases = [
            (
                json!({"kind": "list_folder"}),
                ErrorReason::ListFolderContents,
            ),
            (json!({"kind": "open_file"}), ErrorReason::CreateFile),
            (
                json!({"kind": "quarantine"}),
                ErrorReason::FailedToQuarantine,
            ),
            (
                json!({"kind": "remediation"}),
                ErrorReason::RemediationFailure,
            ),
            (json!({"kind": "scan"}), ErrorReason::Unknown),
            (json!({"kind": "other"}), ErrorReason::Unknown),
            (
                json!({"reason": "delete failed: busy"}),
                ErrorReason::RemediationFailure,
            ),
            (json!({"reason": "no scan server"}), ErrorReason::Unknown),
        ];
        for (e, want) in cases {
            assert_eq!(error_reason(&e), want, "{e}");
        }
    }
}
