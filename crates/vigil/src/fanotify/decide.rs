//! The one call the fanotify door makes per file: the shared on-access decision
//! service ([`OnAccess::check`](crate::scanning::on_access::OnAccess::check)), given the
//! SVM, the file's SVM path and the descriptor the event handed over (never the path:
//! reopening it would wait on our own event).

use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;

use vscan::config::{Snapshot, strings};

use crate::scanning::on_access::{self, AccessDecision, OnAccess};
use crate::scanning::{Subject, Trigger};

/// One file, opened by someone else, that the kernel holds until we answer.
pub struct Access {
    pub svm: String,
    pub svm_path: String,
    pub host: PathBuf,
    /// A duplicate of the event's descriptor: the scan may close it, the answer
    /// needs the original.
    pub file: File,
    pub execute: bool,
    pub readonly_volume: bool,
}

pub async fn decide(service: &OnAccess, access: Access) -> AccessDecision {
    let subject = Subject::Open {
        file: access.file,
        host: Some(access.host),
    };
    let how = on_access::Access {
        execute: access.execute,
        readonly_volume: access.readonly_volume,
    };
    service
        .check(
            &access.svm,
            &access.svm_path,
            subject,
            how,
            Trigger::OnAccess,
        )
        .await
}

/// Local uids of the privileged users of the SVM's active pools (`domain\user` →
/// `user`): their opens are never scanned, as ONTAP never scans its scanners' own
/// access.
pub fn privileged(snapshot: &Snapshot, svm: &str) -> HashSet<u32> {
    snapshot
        .pools(svm)
        .iter()
        .filter(|p| vscan::config::is_active_role(&p.record["role"]))
        .flat_map(|p| strings(&p.record["privileged_users"]))
        .filter_map(|u| {
            let local = u.rsplit('\\').next().unwrap_or(&u).to_string();
            super::sys::user_uid(&local)
        })
        .collect()
}
