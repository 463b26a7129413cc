//! On-access scanning of S3 (issue #16): uploads are scanned before they become
//! visible and objects before they are served, through the on-access decision service
//! ([`crate::scanning::on_access`]), under the SVM's enabled on-access policy. The
//! object's path in the SVM namespace is its bucket directory and key
//! (`/.vigil-s3/<bucket uuid>/<key>`), which the policy's scope rules see.
//!
//! - Infected upload: `403 VirusDetected`, nothing stored. Infected object on read:
//!   `403 VirusDetected`, the policy's remediation applied to its data.
//! - No verdict (scanners down or too slow): `503 ServiceUnavailable` under a
//!   `mandatory` policy; otherwise the upload is stored (or the object served)
//!   unscanned, which the `scan_failed`/`scan_timedout` Vscan event records.
//! - The SVM's `s3_scanning` switch off, Vscan disabled or no enabled policy: nothing
//!   is scanned.
//!
//! Which objects have a clean verdict under the current rules is the scan cache's
//! business (keyed by the data file's inode, size, times, the engines' versions and the
//! SVM's cache generation): a read of an object stored while scanning was off, or
//! since an engine or signature update, or `cache_clear`, misses it and is scanned.
//!
//! Every other hook call goes to the wrapped hooks (the audit feed), after the scan:
//! a refused upload reaches them with its error code like any failed operation.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use s3s::{S3Error, S3ErrorCode};

use super::hooks::{PendingRead, PendingUpload, S3Hooks, S3Operation};
use crate::scanning::on_access::{Access, AccessDecision, OnAccess};
use crate::scanning::{Subject, Trigger};

/// The S3 error code of an infected upload or object (HTTP 403), a Vigil extension.
pub const INFECTED_CODE: &str = "VirusDetected";

pub struct ScanHooks {
    inner: Arc<dyn S3Hooks>,
    on_access: Arc<OnAccess>,
}

impl ScanHooks {
    pub fn new(inner: Arc<dyn S3Hooks>, on_access: Arc<OnAccess>) -> ScanHooks {
        ScanHooks { inner, on_access }
    }

    async fn check(
        &self,
        svm_uuid: &str,
        svm_path: &str,
        subject: Subject,
        trigger: Trigger,
    ) -> Result<(), S3Error> {
        if !self.on_access.scans_s3(svm_uuid) {
            return Ok(());
        }
        let decision = self
            .on_access
            .check(svm_uuid, svm_path, subject, Access::default(), trigger)
            .await;
        refusal(&decision).map_or(Ok(()), Err)
    }
}

/// The S3 error for a decision that refuses, `None` when it permits.
fn refusal(decision: &AccessDecision) -> Option<S3Error> {
    if decision.permits() {
        return None;
    }
    Some(match decision {
        AccessDecision::Deny { threat, .. } => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom(INFECTED_CODE.into()),
                format!("The object is infected ({threat}) and is refused."),
            );
            e.set_status_code(StatusCode::FORBIDDEN);
            e
        }
        AccessDecision::Unavailable { reason, .. } => S3Error::with_message(
            S3ErrorCode::ServiceUnavailable,
            format!(
                "The object could not be scanned ({reason}) and the SVM's on-access policy is mandatory. Retry later."
            ),
        ),
        AccessDecision::Allow(_) => return None,
    })
}

/// A descriptor of the data file of its own, for the scanning service to own.
fn reopened(file: &std::fs::File) -> Result<std::fs::File, S3Error> {
    file.try_clone().map_err(super::door::internal)
}

#[async_trait]
impl S3Hooks for ScanHooks {
    fn operation(&self, op: &S3Operation) {
        self.inner.operation(op);
    }

    async fn before_commit(&self, upload: &PendingUpload<'_>) -> Result<(), S3Error> {
        // Opened here, not by path: the service must not remediate an upload that is
        // refused anyway, and the open file is what the scan cache keys.
        let file = std::fs::File::open(upload.file).map_err(super::door::internal)?;
        let subject = Subject::Open { file, host: None };
        self.check(upload.svm_uuid, upload.svm_path, subject, Trigger::S3Upload)
            .await?;
        self.inner.before_commit(upload).await
    }

    async fn before_read(&self, read: &PendingRead<'_>) -> Result<(), S3Error> {
        let subject = Subject::Open {
            file: reopened(read.file)?,
            host: Some(read.data_path.to_path_buf()),
        };
        self.check(read.svm_uuid, read.svm_path, subject, Trigger::OnAccess)
            .await?;
        self.inner.before_read(read).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanning::on_access::Allowed;

    #[test]
    fn infected_is_403_and_no_verdict_under_mandatory_503() {
        let deny = AccessDecision::Deny {
            threat: "Eicar-Signature".into(),
            remedy: None,
        };
        let e = refusal(&deny).expect("refused");
        assert_eq!(e.code().as_str(), INFECTED_CODE);
        assert_eq!(e.status_code(), Some(StatusCode::FORBIDDEN));
        let down = AccessDecision::Unavailable {
            mandatory: true,
            reason: "no scan server".into(),
        };
        let e = refusal(&down).expect("refused");
        assert_eq!(e.status_code(), Some(StatusCode::SERVICE_UNAVAILABLE));
        let optional = AccessDecision::Unavailable {
            mandatory: false,
            reason: "no scan server".into(),
        };
        assert!(refusal(&optional).is_none());
        assert!(refusal(&AccessDecision::Allow(Allowed::Scanned)).is_none());
    }
}
