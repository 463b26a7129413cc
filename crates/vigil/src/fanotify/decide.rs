//! The one call the fanotify door makes per file: given the SVM, the file's SVM path and
//! the descriptor the event handed over, allow or deny.
//!
//! Until the shared on-access decision service lands (issue #16), the policy comes from
//! [`Policies`], resolved once per configuration pass rather than per open, and the
//! scan goes through [`ScanService::scan`](crate::scanning::ScanService::scan) with the
//! open file, never the path.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vscan::config::{Snapshot, strings};
use vscan::scope::{PathStyle, Scope};

use crate::scanning::{Job, Outcome, Remediation, Request, Subject, Trigger};
use crate::state::State;

/// An SVM's enabled on-access policy, as the door needs it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub mandatory: bool,
    pub scope: Scope,
    /// Local uids of the pools' privileged users (`domain\user` → `user`): their opens
    /// are never scanned, as ONTAP never scans its scanners' own access.
    pub privileged: HashSet<u32>,
}

/// The policy of every SVM that has Vscan on and an on-access policy enabled.
pub type Policies = HashMap<String, Arc<Policy>>;

pub fn policies(snapshot: &Snapshot, svms: &[String]) -> Policies {
    let mut out = HashMap::new();
    for svm in svms.iter().filter(|s| snapshot.enabled(s)) {
        let Some(name) = snapshot.enabled_policy(svm) else {
            continue;
        };
        let Some(seen) = snapshot.policy(svm, &name) else {
            continue;
        };
        let scope = match vscan::config::policy_scope(&seen.record["scope"], PathStyle::Cifs) {
            Ok(scope) => scope,
            Err(e) => {
                tracing::error!(svm, policy = %name, error = %e, "on-access policy scope unusable");
                continue;
            }
        };
        let privileged = snapshot
            .pools(svm)
            .iter()
            .filter(|p| vscan::config::is_active_role(&p.record["role"]))
            .flat_map(|p| strings(&p.record["privileged_users"]))
            .filter_map(|u| {
                let local = u.rsplit('\\').next().unwrap_or(&u).to_string();
                super::sys::user_uid(&local)
            })
            .collect();
        out.insert(
            svm.clone(),
            Arc::new(Policy {
                name,
                mandatory: seen.record["mandatory"].as_bool().unwrap_or(true),
                scope,
                privileged,
            }),
        );
    }
    out
}

/// What the door answers, and why.
pub struct Answer {
    pub allow: bool,
    pub outcome: Outcome,
}

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
    pub deadline: Duration,
}

pub async fn decide(state: &State, policy: &Policy, access: Access) -> Answer {
    let job = Job {
        svm: access.svm,
        trigger: Trigger::OnAccess,
        // On access the open is denied; the file stays where it is for the admin.
        remediation: Remediation::Report,
        deadline: Some(access.deadline),
    };
    let request = Request {
        file_path: access.svm_path,
        subject: Subject::Open {
            file: access.file,
            host: Some(access.host),
        },
        execute: access.execute,
        readonly_volume: access.readonly_volume,
    };
    let outcome = state.scanning.scan(&policy.scope, &job, request).await;
    let allow = match &outcome {
        Outcome::Skipped(_) | Outcome::Clean { .. } => true,
        Outcome::Infected { .. } => false,
        Outcome::Unavailable(_) | Outcome::Failed(_) => !policy.mandatory,
    };
    Answer { allow, outcome }
}
