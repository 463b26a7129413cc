//! Get/PutBucketVersioning, over the REST bucket's `versioning_state`. Vigil keeps one
//! version of each object, so it refuses `Enabled` (it would promise old versions it
//! does not keep) and accepts `Suspended`, which is exactly what it does: a PUT
//! replaces the object. Disabled reads back as no status, as in S3.

use std::sync::Arc;

use s3model::model::Versioning;
use s3s::dto::{self, BucketVersioningStatus, MFADelete};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use store::Store;

use super::buckets;
use super::door::internal;

/// Why `enabled` is refused, over S3 and REST alike.
pub const NOT_VERSIONED: &str = "Object versioning is not supported by this Vigil release: objects keep one version. Use Suspended (REST: suspended).";

fn no_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist.")
}

pub fn get(
    store: &Store,
    svm_uuid: &str,
    bucket: &str,
) -> S3Result<dto::GetBucketVersioningOutput> {
    let bucket = buckets::by_name(store, svm_uuid, bucket).ok_or_else(no_bucket)?;
    let status = match bucket.versioning_state {
        Versioning::Disabled => None,
        Versioning::Enabled => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::ENABLED,
        )),
        Versioning::Suspended => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::SUSPENDED,
        )),
    };
    Ok(dto::GetBucketVersioningOutput {
        status,
        mfa_delete: None,
    })
}

pub async fn put(
    store: &Arc<Store>,
    svm_uuid: &str,
    bucket: &str,
    config: &dto::VersioningConfiguration,
) -> S3Result<()> {
    if config
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
    {
        return Err(s3_error!(
            NotImplemented,
            "MFA delete is not supported by this Vigil release."
        ));
    }
    let next = match config.status.as_ref().map(BucketVersioningStatus::as_str) {
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        Some(BucketVersioningStatus::ENABLED) => {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                NOT_VERSIONED,
            ));
        }
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "The versioning Status must be Enabled or Suspended."
            ));
        }
    };
    let found = buckets::update(store, svm_uuid, bucket, |b| {
        b.versioning_state = next;
        Ok::<(), store::StoreError>(())
    })
    .await
    .map_err(internal)?;
    if found { Ok(()) } else { Err(no_bucket()) }
}
