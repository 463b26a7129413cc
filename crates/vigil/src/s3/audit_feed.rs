//! The S3 audit feed (issue #16): the [`S3Hooks`] that turn the requests of an SVM
//! whose S3 audit configuration is enabled into records of its audit log
//! (`audit::AuditHub`), in guaranteed mode. docs/audit.md is the contract.
//!
//! Which requests: the event class must be enabled (`events.data` / `events.management`,
//! decided by the hub), and the bucket's `audit_event_selector` must match (`access`
//! read/write/all, `permission` allow/deny/all). A bucket without a selector is not
//! audited; a request addressed to no existing bucket (ListAllMyBuckets, creating a
//! bucket, a bucket that does not exist) is audited by the class alone.
//!
//! When: a change is recorded before it becomes visible ([`S3Hooks::admit_change`]:
//! uploads just before their commit, every other change before its handler runs);
//! everything else once its response is ready ([`S3Hooks::finish`]). A record that
//! cannot be made durable refuses the request with 503 and nothing changes. When a
//! change recorded in advance then fails, a second record of the same request id with
//! `revised: true` gives the real outcome.
//!
//! Crashes: before an upload's record is written, a pending file naming the upload's
//! staged file goes to `<data_dir>/s3-audit-pending/`; it is removed once the request
//! is answered. At start-up [`recover`] settles what a crash left: an upload that did
//! not commit gets its `revised` failure record, one that did keeps its record.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use audit::record::{Outcome, Principal};
use audit::{AuditEvent, AuditHub, S3Event};
use s3model::keypath::KeyPath;
use serde::{Deserialize, Serialize};
use store::Store;

use super::buckets;
use super::hooks::{AuditRefused, Change, PendingRead, PendingUpload, S3Hooks, S3Operation};
use super::storage::BucketDir;
use super::trail::{self, Trail};
use s3s::S3Error;

/// Under the node's data directory: uploads whose record is written and whose answer
/// is not sent yet.
const PENDING_DIR: &str = "s3-audit-pending";

pub struct AuditFeed {
    hub: Arc<AuditHub>,
    store: Arc<Store>,
    pending: PathBuf,
    /// The hooks this feed adds auditing to (logging, upload scanning).
    inner: Arc<dyn S3Hooks>,
}

/// What a restart needs to settle an upload whose record was written.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    svm_uuid: String,
    key: String,
    /// The upload's staged file; the object is this upload iff its version is named
    /// after it.
    staged: PathBuf,
    record: AuditEvent,
}

impl AuditFeed {
    pub fn new(
        hub: Arc<AuditHub>,
        store: Arc<Store>,
        data_dir: &Path,
        inner: Arc<dyn S3Hooks>,
    ) -> AuditFeed {
        AuditFeed {
            hub,
            store,
            pending: data_dir.join(PENDING_DIR),
            inner,
        }
    }

    /// The bucket's selector against the request (the class is the hub's part).
    fn selected(&self, op: &S3Operation, event: S3Event) -> bool {
        let bucket = op
            .bucket
            .as_deref()
            .and_then(|b| buckets::by_name(&self.store, &op.svm_uuid, b));
        let Some(bucket) = bucket else {
            return true;
        };
        let Some(selector) = &bucket.audit_event_selector else {
            return false;
        };
        let access = selector["access"].as_str().unwrap_or("all");
        let permission = selector["permission"].as_str().unwrap_or("all");
        let access_ok = match access {
            "read" => !is_write(event),
            "write" => is_write(event),
            _ => true,
        };
        let permission_ok = match permission {
            "allow" => op.authorized,
            "deny" => !op.authorized,
            _ => true,
        };
        access_ok && permission_ok
    }

    async fn write(&self, op: &S3Operation, record: AuditEvent) -> Result<(), AuditRefused> {
        self.hub
            .record(&op.svm_uuid, record)
            .await
            .map_err(|e| AuditRefused(e.to_string()))
    }

    async fn write_pending(
        &self,
        request_id: &str,
        pending: &Pending,
    ) -> Result<PathBuf, AuditRefused> {
        let refused = |e: std::io::Error| AuditRefused(format!("pending audit file: {e}"));
        tokio::fs::create_dir_all(&self.pending)
            .await
            .map_err(refused)?;
        let path = self.pending.join(format!("{request_id}.json"));
        let text = serde_json::to_vec(pending).map_err(|e| AuditRefused(e.to_string()))?;
        // No fsync: the file only has to outlive the process (kill -9), and it is
        // written before the record it settles (docs/audit.md, crashes).
        tokio::fs::write(&path, text).await.map_err(refused)?;
        Ok(path)
    }

    async fn admit(
        &self,
        trail: &Trail,
        upload: Option<&PendingUpload<'_>>,
    ) -> Result<(), AuditRefused> {
        let Some(mut op) = trail.record() else {
            return Ok(());
        };
        let Some(event) = event_of(op.operation) else {
            return Ok(());
        };
        if !is_write(event)
            || (upload.is_none() && commits_upload(event))
            || trail.state().admitted.is_some()
            || !self.selected(&op, event)
            || !self.hub.selects(&op.svm_uuid, event.category())
        {
            return Ok(());
        }
        op.status = success_status(event);
        op.error = None;
        if let Some(u) = upload {
            op.bytes_in = u.size;
        }
        let record = record_of(&op, event, trail);
        let pending = match upload {
            Some(u) => Some(
                self.write_pending(
                    &trail.request_id,
                    &Pending {
                        svm_uuid: op.svm_uuid.clone(),
                        key: u.key.to_string(),
                        staged: u.file.to_path_buf(),
                        record: record.clone(),
                    },
                )
                .await?,
            ),
            None => None,
        };
        match self.write(&op, record).await {
            Ok(()) => {
                let mut state = trail.state();
                state.admitted = Some(op);
                state.pending = pending;
                Ok(())
            }
            Err(e) => {
                if let Some(p) = pending {
                    let _ = tokio::fs::remove_file(p).await;
                }
                trail.state().refused = true;
                Err(e)
            }
        }
    }
}

#[async_trait]
impl S3Hooks for AuditFeed {
    fn operation(&self, op: &S3Operation) {
        if let Some(trail) = trail::current() {
            trail.note(op);
        }
        self.inner.operation(op);
    }

    async fn before_commit(&self, upload: &PendingUpload<'_>) -> Result<(), S3Error> {
        self.inner.before_commit(upload).await
    }

    async fn before_read(&self, read: &PendingRead<'_>) -> Result<(), S3Error> {
        self.inner.before_read(read).await
    }

    async fn admit_change(&self, change: Change<'_>) -> Result<(), AuditRefused> {
        let upload = match &change {
            Change::Upload(u) => Some(*u),
            Change::Other => None,
        };
        self.inner.admit_change(change).await?;
        match trail::current() {
            Some(trail) => self.admit(&trail, upload).await,
            None => Ok(()),
        }
    }

    async fn finish(&self, op: &S3Operation) -> Result<(), AuditRefused> {
        self.inner.finish(op).await?;
        let Some(trail) = trail::current() else {
            return Ok(());
        };
        let state = trail.state().clone();
        let Some(event) = event_of(op.operation) else {
            return Ok(());
        };
        if state.refused {
            return Ok(());
        }
        let written = match &state.admitted {
            Some(admitted) if succeeded(admitted) == succeeded(op) => Ok(()),
            Some(_) => {
                let mut record = record_of(op, event, &trail);
                record.revised = true;
                self.write(op, record).await
            }
            None if self.selected(op, event) => self.write(op, record_of(op, event, &trail)).await,
            None => Ok(()),
        };
        // Kept when the revision failed: the next start settles the upload instead.
        if let (Some(p), Ok(())) = (&state.pending, &written) {
            let _ = tokio::fs::remove_file(p).await;
        }
        written
    }
}

fn succeeded(op: &S3Operation) -> bool {
    op.error.is_none() && op.status < 400
}

/// ONTAP's event of an operation, by the names the door and authorizer report (and
/// the `s3s` names of operations only the protocol layer answers).
pub fn event_of(name: &str) -> Option<S3Event> {
    let ontap = match name {
        "CreateBucket" => "PutBucket",
        "ListBuckets" => "ListAllMyBuckets",
        "ListObjects" | "ListObjectsV2" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "CreateMultipartUpload" => "MPUpload",
        "UploadPart" => "MPUploadPart",
        "CompleteMultipartUpload" => "MPComplete",
        "AbortMultipartUpload" => "MPAbort",
        "ListMultipartUploads" => "ListUploads",
        "PutBucketCors" => "PutBucketCORS",
        "GetBucketCors" => "GetBucketCORS",
        "DeleteBucketCors" => "DeleteBucketCORS",
        "PutBucketLifecycleConfiguration" => "PutBucketLifecycle",
        "GetBucketLifecycleConfiguration" => "GetBucketLifecycle",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        other => other,
    };
    S3Event::ALL.iter().copied().find(|e| e.as_str() == ontap)
}

/// `access: write` operations: those that change something.
pub fn is_write(event: S3Event) -> bool {
    ["Put", "Delete", "MP", "Copy", "UploadPart", "Modify"]
        .iter()
        .any(|p| event.as_str().starts_with(p))
}

/// Changes admitted at the upload's commit rather than before the handler.
fn commits_upload(event: S3Event) -> bool {
    matches!(
        event,
        S3Event::PutObject | S3Event::CopyObject | S3Event::MPComplete
    )
}

/// The status a change recorded in advance answers when it succeeds.
fn success_status(event: S3Event) -> u16 {
    let name = event.as_str();
    if event == S3Event::MPAbort || (name.starts_with("Delete") && event != S3Event::DeleteObjects)
    {
        204
    } else {
        200
    }
}

fn record_of(op: &S3Operation, event: S3Event, trail: &Trail) -> AuditEvent {
    let client = op
        .client
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut record = AuditEvent::new(event, client, op.request_id.clone());
    record.time = trail.arrived;
    record.result = if succeeded(op) {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    record.error_code = op.error.clone().filter(|_| !succeeded(op));
    record.http_status = op.status;
    record.bucket = op.bucket.clone();
    record.object = op.key.clone();
    record.version_id = op.version_id.clone();
    record.user = Principal {
        access_key: op.access_key.clone(),
        name: op.user.clone(),
    };
    record.bytes_in = op.bytes_in;
    record.bytes_out = op.bytes_out;
    record.duration_us = u64::try_from(op.elapsed.as_micros()).unwrap_or(u64::MAX);
    record.user_agent = op.user_agent.clone();
    record
}

/// Settles the uploads a crash left between their record and their answer (see the
/// module comment). Runs at start-up, after the audit logs are restored and before
/// the S3 listeners start; a pending file whose record cannot be written yet stays
/// for the next start.
pub async fn recover(hub: &AuditHub, data_dir: &Path) {
    let dir = data_dir.join(PENDING_DIR);
    let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        let pending = match tokio::fs::read(&path)
            .await
            .map(|b| serde_json::from_slice::<Pending>(&b))
        {
            Ok(Ok(p)) => p,
            // A file cut by the crash: its record was never written (it follows the file).
            Ok(Err(_)) => {
                let _ = tokio::fs::remove_file(&path).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read a pending S3 audit file");
                continue;
            }
        };
        let staged = pending.staged.clone();
        let key = pending.key.clone();
        let committed = tokio::task::spawn_blocking(move || {
            let key = KeyPath::parse(&key).ok()?;
            BucketDir::of_upload(&staged)?
                .holds_upload(&key, &staged)
                .ok()
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(false);
        let settled = if committed {
            Ok(())
        } else {
            let mut record = pending.record;
            record.result = Outcome::Failure;
            // No answer was sent: the server stopped before the commit.
            record.http_status = 0;
            record.error_code = Some("InternalError".to_string());
            record.revised = true;
            hub.record(&pending.svm_uuid, record).await
        };
        match settled {
            Ok(()) => {
                let _ = tokio::fs::remove_file(&path).await;
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot settle an interrupted audited S3 upload; retried at the next start")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_map_to_ontap_events() {
        assert_eq!(event_of("CreateBucket"), Some(S3Event::PutBucket));
        assert_eq!(event_of("ListObjectsV2"), Some(S3Event::ListBucket));
        assert_eq!(event_of("ListBucket"), Some(S3Event::ListBucket));
        assert_eq!(event_of("MPComplete"), Some(S3Event::MPComplete));
        assert_eq!(event_of("PutBucketCors"), Some(S3Event::PutBucketCORS));
        assert_eq!(event_of("DeleteObjects"), Some(S3Event::DeleteObjects));
        assert_eq!(event_of("UnlistedOperation"), None);
        // Every name the authorizer reports for an operation it knows is an event.
        for op in super::super::authorize::SERVED_OPERATIONS {
            let (_, name) = super::super::authorize::classify(op);
            assert!(event_of(name).is_some(), "{op} -> {name}");
        }
    }

    #[test]
    fn access_classes_and_success_status() {
        let writes = [
            S3Event::PutObject,
            S3Event::DeleteObject,
            S3Event::DeleteObjects,
            S3Event::MPUpload,
            S3Event::MPUploadPart,
            S3Event::MPComplete,
            S3Event::MPAbort,
            S3Event::CopyObject,
            S3Event::UploadPartCopy,
            S3Event::PutBucket,
            S3Event::PutObjectTagging,
            S3Event::ModifyObjectTagging,
        ];
        let reads = [
            S3Event::GetObject,
            S3Event::HeadObject,
            S3Event::ListBucket,
            S3Event::ListUploads,
            S3Event::ListParts,
            S3Event::HeadBucket,
            S3Event::GetBucketPolicy,
            S3Event::ListAllMyBuckets,
        ];
        assert!(writes.iter().all(|e| is_write(*e)));
        assert!(!reads.iter().any(|e| is_write(*e)));
        assert_eq!(success_status(S3Event::DeleteObject), 204);
        assert_eq!(success_status(S3Event::MPAbort), 204);
        assert_eq!(success_status(S3Event::DeleteObjects), 200);
        assert_eq!(success_status(S3Event::PutObject), 200);
        assert!(commits_upload(S3Event::CopyObject) && !commits_upload(S3Event::UploadPartCopy));
    }
}
