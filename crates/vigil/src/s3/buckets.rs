//! Creating and deleting buckets, whoever asks: the REST API and the S3 protocol's
//! CreateBucket/DeleteBucket both come here, so the records and the directories stay
//! one thing.

use std::path::Path;
use std::sync::Arc;

use s3model::model::{BUCKET_KIND, Bucket, BucketType};
use serde_json::Value;
use store::Store;

use super::storage::BucketDir;

#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error("a bucket named \"{0}\" already exists on the SVM")]
    Exists(String),
    #[error("the bucket \"{0}\" is not empty")]
    NotEmpty(String),
    #[error("the bucket directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

pub fn from_doc(doc: &Value) -> Option<Bucket> {
    serde_json::from_value(doc.clone()).ok()
}

/// Every stored bucket.
pub fn all(store: &Store) -> Vec<Bucket> {
    store
        .list(BUCKET_KIND)
        .iter()
        .filter_map(|d| from_doc(d))
        .collect()
}

/// The SVM's buckets, by name.
pub fn of_svm(store: &Store, svm_uuid: &str) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = store
        .list(BUCKET_KIND)
        .iter()
        .filter(|d| d["svm_uuid"] == svm_uuid)
        .filter_map(|d| from_doc(d))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub fn by_name(store: &Store, svm_uuid: &str, name: &str) -> Option<Bucket> {
    store
        .list(BUCKET_KIND)
        .iter()
        .find(|d| d["svm_uuid"] == svm_uuid && d["name"] == name)
        .and_then(|d| from_doc(d))
}

pub async fn create(
    store: &Arc<Store>,
    svm_root: &Path,
    bucket: Bucket,
) -> Result<(), BucketError> {
    let mut txn = store.begin().await;
    let taken = txn.list(BUCKET_KIND).iter().any(|(_, d)| {
        d["svm_uuid"] == bucket.svm_uuid.as_str() && d["name"] == bucket.name.as_str()
    });
    if taken {
        return Err(BucketError::Exists(bucket.name));
    }
    let dir = BucketDir::new(svm_root, &bucket.uuid);
    if bucket.kind == BucketType::S3 {
        dir.create()?;
    }
    let doc = serde_json::to_value(&bucket).map_err(std::io::Error::other)?;
    txn.put(BUCKET_KIND, &bucket.uuid, doc);
    if let Err(e) = txn.commit().await {
        let _ = dir.remove();
        return Err(e.into());
    }
    Ok(())
}

/// Deletes an empty bucket and its directory.
pub async fn delete(
    store: &Arc<Store>,
    svm_root: &Path,
    bucket: &Bucket,
) -> Result<(), BucketError> {
    let dir = BucketDir::new(svm_root, &bucket.uuid);
    let mut txn = store.begin().await;
    if bucket.kind == BucketType::S3 {
        let dir_check = BucketDir::new(svm_root, &bucket.uuid);
        let empty = tokio::task::spawn_blocking(move || dir_check.is_empty())
            .await
            .map_err(std::io::Error::other)??;
        if !empty {
            return Err(BucketError::NotEmpty(bucket.name.clone()));
        }
    }
    txn.delete(BUCKET_KIND, &bucket.uuid);
    txn.commit().await?;
    if bucket.kind == BucketType::S3 {
        dir.remove()?;
    }
    Ok(())
}

/// Changes the record of the SVM's bucket `name` in one transaction: `change` sees
/// the bucket as stored now and may refuse. `Ok(false)`: no such bucket.
pub async fn update<E: From<store::StoreError>>(
    store: &Arc<Store>,
    svm_uuid: &str,
    name: &str,
    change: impl FnOnce(&mut Bucket) -> Result<(), E>,
) -> Result<bool, E> {
    let mut txn = store.begin().await;
    let found = txn
        .list(BUCKET_KIND)
        .into_iter()
        .find(|(_, d)| d["svm_uuid"] == svm_uuid && d["name"] == name)
        .and_then(|(_, d)| from_doc(&d));
    let Some(mut bucket) = found else {
        return Ok(false);
    };
    change(&mut bucket)?;
    if let Ok(doc) = serde_json::to_value(&bucket) {
        txn.put(BUCKET_KIND, &bucket.uuid, doc);
    }
    txn.commit().await?;
    Ok(true)
}
