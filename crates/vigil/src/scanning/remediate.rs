//! What the pipeline does about an infected file: the policy's remediation, checked to
//! act on the very file that was scanned, with the matching Vscan event.

use std::path::{Path, PathBuf};

use scan::cache::FileId;
use serde_json::json;

use super::events::EventLog;
use crate::quarantine::{Done, remediate};

/// A policy's `remediation` (a Vigil extension field; ONTAP only reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remediation {
    Report,
    Quarantine,
    Rename,
    Delete,
}

impl Remediation {
    /// The stored value; anything unknown reports only.
    pub fn from_policy(value: Option<&str>) -> Remediation {
        match value {
            Some("quarantine") => Remediation::Quarantine,
            Some("rename") => Remediation::Rename,
            Some("delete") => Remediation::Delete,
            _ => Remediation::Report,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Remediation::Report => "report",
            Remediation::Quarantine => "quarantine",
            Remediation::Rename => "rename",
            Remediation::Delete => "delete",
        }
    }
}

/// What was done about an infected file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    Done {
        action: &'static str,
        quarantine_id: Option<String>,
    },
    /// The action that failed and why.
    Failed {
        action: &'static str,
        reason: String,
    },
}

/// The infected file, as scanned.
pub struct Target {
    pub svm_uuid: String,
    pub host_path: PathBuf,
    /// Its identity when it was scanned.
    pub scanned: FileId,
    /// As the SVM names it.
    pub svm_path: String,
    pub threat: String,
}

/// Applies the remediation and records the matching event; a failure is an event and
/// an error for the caller, never a silent skip. The file must still be the one that
/// was scanned (same inode, size and times): a file replaced or changed since is left
/// alone. Blocking: moves and copies files.
pub fn apply(
    events: &EventLog,
    data_dir: &Path,
    remediation: Remediation,
    target: &Target,
) -> Remedy {
    let (svm_uuid, host_path, svm_path) = (
        target.svm_uuid.as_str(),
        target.host_path.as_path(),
        target.svm_path.as_str(),
    );
    let action = remediation.as_str();
    let fail = |reason: String| {
        tracing::error!(svm = svm_uuid, path = svm_path, action, error = %reason, "remediation failed");
        let body = json!({"file_path": svm_path, "disconnect_reason": "na"});
        events.record(svm_uuid, "scan_internal_error", body);
        Remedy::Failed {
            action,
            reason: format!("{action} failed: {reason}"),
        }
    };
    if remediation != Remediation::Report {
        match std::fs::symlink_metadata(host_path) {
            Ok(meta) if meta.is_file() && FileId::of(&meta) == target.scanned => {}
            Ok(_) => return fail("the file changed after it was scanned".to_string()),
            Err(e) => return fail(e.to_string()),
        }
    }
    match remediate(
        action,
        data_dir,
        svm_uuid,
        host_path,
        svm_path,
        &target.threat,
    ) {
        Ok(done) => {
            if let Some(kind) = done.event_type() {
                let body = json!({"file_path": svm_path, "disconnect_reason": "na"});
                events.record(svm_uuid, kind, body);
            }
            let (action, quarantine_id) = match done {
                Done::Reported => ("report", None),
                Done::Quarantined { id } => ("quarantine", Some(id)),
                Done::Renamed { .. } => ("rename", None),
                Done::Deleted => ("delete", None),
            };
            Remedy::Done {
                action,
                quarantine_id,
            }
        }
        Err(e) => fail(e.to_string()),
    }
}
