//! Authorization of every S3 request, before its handler runs: `s3s` calls
//! [`Authorizer`] (its `S3Access`) once the signature is checked, for signed and
//! anonymous requests alike. The request's user (by access key), the policies of its
//! groups and the bucket's policy decide with `s3model::policy::decide`: an explicit
//! deny wins, then an allow, then the implicit grants below; anything else is
//! `AccessDenied`. A refused request never reaches the door, so it is reported to the
//! hooks here (the audit feed's `permission: deny`).
//!
//! Implicit grants (docs/s3.md), for signed requests only:
//! * the service's `root` user may do everything;
//! * a bucket's owner (the user whose S3 CreateBucket made it) may do everything on it;
//! * every user may list the SVM's buckets and create buckets.
//!
//! Buckets made over REST have no owner: only `root`, group policies and the bucket
//! policy open them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use s3model::model::Bucket;
use s3model::policy::{Decision, ROOT_USER, Request, decide};
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{self, CopySource};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};
use store::Store;

use super::buckets;
use super::door::user_by_access_key;
use super::hooks::{Change, S3Hooks, S3Operation};
use super::policies::grants_of;

/// Actions every signed request may do unless a statement denies them.
const EVERY_USER: &[&str] = &["ListAllMyBuckets", "CreateBucket"];

/// The policy action of an S3 operation, and its name in ONTAP's audit list (the
/// door's names, so that a refused request and a served one are reported alike).
/// Operations without their own action need `*` (or a pattern that covers the
/// operation's name).
pub fn classify(op: &str) -> (&'static str, &'static str) {
    match op {
        "GetObject" => ("GetObject", "GetObject"),
        "HeadObject" => ("GetObject", "HeadObject"),
        "PutObject" => ("PutObject", "PutObject"),
        "CopyObject" => ("PutObject", "CopyObject"),
        "CreateMultipartUpload" => ("PutObject", "MPUpload"),
        "UploadPart" => ("PutObject", "MPUploadPart"),
        "UploadPartCopy" => ("PutObject", "UploadPartCopy"),
        "CompleteMultipartUpload" => ("PutObject", "MPComplete"),
        "AbortMultipartUpload" => ("AbortMultipartUpload", "MPAbort"),
        "ListParts" => ("ListMultipartUploadParts", "ListParts"),
        "ListMultipartUploads" => ("ListBucketMultipartUploads", "ListUploads"),
        "DeleteObject" => ("DeleteObject", "DeleteObject"),
        "DeleteObjects" => ("DeleteObject", "DeleteObjects"),
        "ListObjects" | "ListObjectsV2" => ("ListBucket", "ListBucket"),
        "HeadBucket" => ("ListBucket", "HeadBucket"),
        "ListObjectVersions" => ("ListBucketVersions", "ListBucketVersions"),
        "ListBuckets" => ("ListAllMyBuckets", "ListAllMyBuckets"),
        "CreateBucket" => ("CreateBucket", "CreateBucket"),
        "DeleteBucket" => ("DeleteBucket", "DeleteBucket"),
        "GetBucketLocation" => ("GetBucketLocation", "GetBucketLocation"),
        "GetBucketAcl" => ("GetBucketAcl", "GetBucketAcl"),
        "GetObjectAcl" => ("GetObjectAcl", "GetObjectAcl"),
        "GetObjectTagging" => ("GetObjectTagging", "GetObjectTagging"),
        "PutObjectTagging" => ("PutObjectTagging", "PutObjectTagging"),
        "DeleteObjectTagging" => ("DeleteObjectTagging", "DeleteObjectTagging"),
        "GetBucketVersioning" => ("GetBucketVersioning", "GetBucketVersioning"),
        "PutBucketVersioning" => ("PutBucketVersioning", "PutBucketVersioning"),
        "GetBucketPolicy" => ("GetBucketPolicy", "GetBucketPolicy"),
        "PutBucketPolicy" => ("PutBucketPolicy", "PutBucketPolicy"),
        "DeleteBucketPolicy" => ("DeleteBucketPolicy", "DeleteBucketPolicy"),
        _ => ("UnlistedOperation", "UnlistedOperation"),
    }
}

pub struct Authorizer {
    pub store: Arc<Store>,
    pub svm_uuid: String,
    pub hooks: Arc<dyn S3Hooks>,
}

/// What one check is about.
struct Asked<'a> {
    access_key: Option<&'a str>,
    action: &'static str,
    bucket: Option<&'a str>,
    key: Option<&'a str>,
}

fn denied(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, message.to_string())
}

impl Authorizer {
    /// `Ok(user name)` when the request may go on.
    fn decide(&self, asked: &Asked<'_>) -> Result<Option<String>, S3Error> {
        let user = match asked.access_key {
            None => None,
            Some(key) => Some(
                user_by_access_key(&self.store, &self.svm_uuid, key)
                    .ok_or_else(|| denied("The access key no longer belongs to a user."))?
                    .name,
            ),
        };
        let bucket: Option<Bucket> = asked
            .bucket
            .and_then(|b| buckets::by_name(&self.store, &self.svm_uuid, b));
        if asked.bucket.is_some() && bucket.is_none() && asked.action != "CreateBucket" {
            // A signed request on a bucket that does not exist goes on to the door's
            // NoSuchBucket; an anonymous one learns nothing.
            return match user {
                Some(_) => Ok(user),
                None => Err(denied("Access Denied")),
            };
        }
        let resource = match (asked.bucket, asked.key) {
            (Some(b), Some(k)) => format!("{b}/{k}"),
            (Some(b), None) => b.to_string(),
            _ => "*".to_string(),
        };
        let (groups, statements) = match &user {
            Some(name) => grants_of(&self.store, &self.svm_uuid, name),
            None => (Vec::new(), Vec::new()),
        };
        let implicit_allow = user.as_deref().is_some_and(|name| {
            name == ROOT_USER
                || EVERY_USER.contains(&asked.action)
                || bucket.as_ref().and_then(|b| b.owner.as_deref()) == Some(name)
        });
        let req = Request {
            action: asked.action,
            resource: &resource,
            user: user.as_deref(),
            groups: &groups,
            implicit_allow,
        };
        let bucket_policy = bucket.as_ref().map(|b| b.policy.as_slice()).unwrap_or(&[]);
        match decide(&req, statements.iter(), bucket_policy) {
            Decision::Allowed => Ok(user),
            Decision::Denied => Err(denied("Access Denied: a policy denies this request.")),
            Decision::NotAllowed => Err(denied("Access Denied: no policy allows this request.")),
        }
    }

    /// Decides, and reports a refusal as the operation's record.
    fn check_one(
        &self,
        asked: &Asked<'_>,
        operation: &'static str,
        client: Option<SocketAddr>,
    ) -> S3Result<()> {
        let started = Instant::now();
        match self.decide(asked) {
            Ok(user) => {
                // The door reports what it does later; this covers what it never sees
                // (operations the protocol layer answers itself).
                if let Some(trail) = super::trail::current() {
                    trail.note(&S3Operation {
                        operation,
                        svm_uuid: self.svm_uuid.clone(),
                        bucket: asked.bucket.map(String::from),
                        key: asked.key.map(String::from),
                        user,
                        access_key: asked.access_key.map(String::from),
                        client,
                        authorized: true,
                        ..Default::default()
                    });
                }
                Ok(())
            }
            Err(e) => {
                let user = asked
                    .access_key
                    .and_then(|k| user_by_access_key(&self.store, &self.svm_uuid, k))
                    .map(|u| u.name);
                self.hooks.operation(&S3Operation {
                    operation,
                    svm_uuid: self.svm_uuid.clone(),
                    bucket: asked.bucket.map(String::from),
                    key: asked.key.map(String::from),
                    user,
                    client,
                    error: Some(e.code().as_str().to_string()),
                    bytes: 0,
                    elapsed: started.elapsed(),
                    access_key: asked.access_key.map(String::from),
                    status: e.status_code().map_or(403, |s| s.as_u16()),
                    ..Default::default()
                });
                Err(e)
            }
        }
    }

    /// The source of a copy needs `GetObject` on it, as a GET of it would.
    fn check_source<T>(
        &self,
        req: &S3Request<T>,
        source: &CopySource,
        operation: &'static str,
    ) -> S3Result<()> {
        let CopySource::Bucket { bucket, key, .. } = source else {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "Access point copy sources are not supported.",
            ));
        };
        let asked = Asked {
            access_key: req.credentials.as_ref().map(|c| c.access_key.as_str()),
            action: "GetObject",
            bucket: Some(bucket.as_ref()),
            key: Some(key.as_ref()),
        };
        self.check_one(&asked, operation, client_of(&req.extensions))
    }
}

fn client_of(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[async_trait]
impl S3Access for Authorizer {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let client = client_of(cx.extensions_mut());
        let (action, operation) = classify(cx.s3_op().name());
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.as_ref()), None),
            S3Path::Object { bucket, key } => (Some(bucket.as_ref()), Some(key.as_ref())),
        };
        let asked = Asked {
            access_key: cx.credentials().map(|c| c.access_key.as_str()),
            action,
            bucket,
            key,
        };
        self.check_one(&asked, operation, client)?;
        // A change without an upload to commit is audited before its handler runs, so
        // an audit log that cannot be written refuses it with the bucket unchanged.
        self.hooks
            .admit_change(Change::Other)
            .await
            .map_err(|_| super::trail::refused_error())
    }

    async fn copy_object(&self, req: &mut S3Request<dto::CopyObjectInput>) -> S3Result<()> {
        self.check_source(req, &req.input.copy_source, "CopyObject")
    }

    async fn upload_part_copy(
        &self,
        req: &mut S3Request<dto::UploadPartCopyInput>,
    ) -> S3Result<()> {
        self.check_source(req, &req.input.copy_source, "UploadPartCopy")
    }

    /// Each key of a DeleteObjects needs `DeleteObject` on it: a deny on one prefix
    /// must not be side-stepped by deleting in bulk. One refused key refuses the
    /// request (nothing is deleted).
    async fn delete_objects(&self, req: &mut S3Request<dto::DeleteObjectsInput>) -> S3Result<()> {
        let client = client_of(&req.extensions);
        for object in &req.input.delete.objects {
            let asked = Asked {
                access_key: req.credentials.as_ref().map(|c| c.access_key.as_str()),
                action: "DeleteObject",
                bucket: Some(req.input.bucket.as_str()),
                key: Some(object.key.as_str()),
            };
            self.check_one(&asked, "DeleteObjects", client)?;
        }
        Ok(())
    }
}

/// Every operation the S3 door serves, for the tests that check each one end to end
/// through the authorizer's classification.
#[cfg(test)]
pub const SERVED_OPERATIONS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "PutObject",
    "CopyObject",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "ListMultipartUploads",
    "DeleteObject",
    "DeleteObjects",
    "ListObjects",
    "ListObjectsV2",
    "HeadBucket",
    "ListObjectVersions",
    "ListBuckets",
    "CreateBucket",
    "DeleteBucket",
    "GetBucketLocation",
    "GetBucketAcl",
    "GetObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetBucketVersioning",
    "PutBucketVersioning",
    "GetBucketPolicy",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action an operation needs is one policies can name (a typo here would
    /// make an operation reachable only through `*`).
    #[test]
    fn operations_need_nameable_actions() {
        for op in SERVED_OPERATIONS {
            let (action, _) = classify(op);
            assert!(
                s3model::policy::ACTIONS.contains(&action),
                "{op} needs {action}"
            );
        }
        for action in EVERY_USER {
            assert!(s3model::policy::ACTIONS.contains(action));
        }
        assert_eq!(classify("PutBucketCors").0, "UnlistedOperation");
    }
}
