//! Get/Put/DeleteBucketPolicy: the bucket policy as S3's JSON document, stored as the
//! same statements the REST bucket shows in `policy.statements` (one record, two
//! spellings: `s3model::policy_json`). Who may call these is decided like every
//! request (`super::authorize`), with the actions of the same names.

use std::sync::Arc;

use s3s::dto;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use store::Store;

use super::buckets;
use super::door::internal;

fn no_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist.")
}

pub fn get(store: &Store, svm_uuid: &str, bucket: &str) -> S3Result<dto::GetBucketPolicyOutput> {
    let bucket = buckets::by_name(store, svm_uuid, bucket).ok_or_else(no_bucket)?;
    if bucket.policy.is_empty() {
        return Err(s3_error!(
            NoSuchBucketPolicy,
            "The bucket policy does not exist."
        ));
    }
    Ok(dto::GetBucketPolicyOutput {
        policy: Some(s3model::policy_json::render(&bucket.policy)),
    })
}

pub async fn put(store: &Arc<Store>, svm_uuid: &str, bucket: &str, document: &str) -> S3Result<()> {
    let statements = s3model::policy_json::parse(bucket, document)
        .map_err(|why| S3Error::with_message(S3ErrorCode::MalformedPolicy, why))?;
    set(store, svm_uuid, bucket, statements).await
}

pub async fn delete(store: &Arc<Store>, svm_uuid: &str, bucket: &str) -> S3Result<()> {
    set(store, svm_uuid, bucket, Vec::new()).await
}

async fn set(
    store: &Arc<Store>,
    svm_uuid: &str,
    bucket: &str,
    statements: Vec<s3model::policy::Statement>,
) -> S3Result<()> {
    let found = buckets::update(store, svm_uuid, bucket, |b| {
        b.policy = statements;
        Ok::<(), store::StoreError>(())
    })
    .await
    .map_err(internal)?;
    if found { Ok(()) } else { Err(no_bucket()) }
}
