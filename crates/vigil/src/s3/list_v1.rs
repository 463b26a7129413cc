//! ListObjects (version 1): the same listing as ListObjectsV2 ([`super::door::list_page`]),
//! paged by `marker` instead of a continuation token. `NextMarker` is the last key or
//! common prefix of a truncated page (AWS sends it only with a delimiter; clients
//! without one use the last key, which is the same value).

use s3s::dto;
use s3s::{S3Request, S3Response, S3Result};

use super::door::{Door, Encoding, blocking, list_page, max_keys};

impl Door {
    pub(super) async fn list_v1(
        &self,
        req: S3Request<dto::ListObjectsInput>,
    ) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        let i = &req.input;
        let seen = self.seen("ListBucket", &req, Some(&i.bucket), None);
        let result = async {
            let (_, dir) = self.bucket(&i.bucket)?;
            let prefix = i.prefix.clone().unwrap_or_default();
            let p = prefix.clone();
            let objects = blocking(move || dir.list(&p)).await?;
            let max_keys = max_keys(i.max_keys)?;
            let enc = Encoding::of(i.encoding_type.as_ref());
            let delimiter = i.delimiter.clone().filter(|d| !d.is_empty());
            let marker = i.marker.clone().filter(|m| !m.is_empty());
            let page = list_page(
                &objects,
                &prefix,
                delimiter.as_deref(),
                marker.as_deref(),
                max_keys,
            );
            let (contents, common) = page.entries(enc);
            Ok(S3Response::new(dto::ListObjectsOutput {
                name: Some(i.bucket.clone()),
                prefix: Some(enc.apply(&prefix)),
                marker: Some(enc.apply(&marker.unwrap_or_default())),
                delimiter: delimiter.map(|d| enc.apply(&d)),
                max_keys: Some(max_keys as i32),
                is_truncated: Some(page.next.is_some()),
                next_marker: page.next.map(|n| enc.apply(&n)),
                contents: Some(contents),
                common_prefixes: (!common.is_empty()).then_some(common),
                encoding_type: i.encoding_type.clone(),
                ..Default::default()
            }))
        }
        .await;
        self.done(seen, 0, result)
    }
}
