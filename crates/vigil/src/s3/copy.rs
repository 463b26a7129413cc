//! CopyObject: a server-side copy within the SVM's buckets. The bytes are copied into
//! a temporary upload file and committed like a PUT (the before-commit hook included),
//! so the copy is whole or absent. `x-amz-metadata-directive` (`COPY`, the default, or
//! `REPLACE`) decides whether content type and user metadata come from the source or
//! the request, `x-amz-tagging-directive` the same for tags. The copy's ETag is the
//! MD5 of its content, and it keeps the source's checksum algorithms.

use std::collections::BTreeMap;

use s3model::keypath::KeyPath;
use s3s::dto::{self, ETag};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::checksums::Wanted;
use super::conditional::Conditions;
use super::door::{Door, blocking, key_error, now_rfc3339, timestamp};
use super::multipart::copy_source;
use super::storage::{ObjectMeta, Precondition};
use super::tagging;
use super::upload;

/// Whether a directive header says `REPLACE` (`COPY` when absent).
fn replaces(directive: Option<&str>, header: &str) -> S3Result<bool> {
    match directive {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Unknown {header}: it must be COPY or REPLACE.",
        )),
    }
}

impl Door {
    pub(super) async fn copy(
        &self,
        req: S3Request<dto::CopyObjectInput>,
    ) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        let seen = self.seen(
            "CopyObject",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let user = seen.user.clone();
        let result = self.copy_inner(req.input, user.as_deref()).await;
        let bytes = result.as_ref().map(|m| m.size).unwrap_or(0);
        let result = result.map(|meta| {
            S3Response::new(dto::CopyObjectOutput {
                copy_object_result: Some(dto::CopyObjectResult {
                    e_tag: Some(ETag::Strong(meta.etag.clone())),
                    last_modified: timestamp(&meta.last_modified),
                    checksum_crc32: meta.checksums.crc32.clone(),
                    checksum_crc32c: meta.checksums.crc32c.clone(),
                    checksum_crc64nvme: meta.checksums.crc64nvme.clone(),
                    checksum_sha1: meta.checksums.sha1.clone(),
                    checksum_sha256: meta.checksums.sha256.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            })
        });
        self.done(seen, bytes, result)
    }

    async fn copy_inner(
        &self,
        i: dto::CopyObjectInput,
        user: Option<&str>,
    ) -> S3Result<ObjectMeta> {
        let (src_bucket, src_key) = copy_source(&i.copy_source)?;
        let key = KeyPath::parse(&i.key).map_err(key_error)?;
        let (_, dir) = self.bucket(&i.bucket)?;
        let replace_meta = replaces(
            i.metadata_directive.as_ref().map(|d| d.as_str()),
            "x-amz-metadata-directive",
        )?;
        let replace_tags = replaces(
            i.tagging_directive.as_ref().map(|d| d.as_str()),
            "x-amz-tagging-directive",
        )?;
        let (src_meta, src) = self.open(src_bucket, src_key).await?;
        Conditions {
            if_match: i.copy_source_if_match.as_ref(),
            if_none_match: i.copy_source_if_none_match.as_ref(),
            if_modified_since: i.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: i.copy_source_if_unmodified_since.as_ref(),
        }
        .check_copy_source(&src_meta)?;
        if src_bucket == i.bucket && src_key == i.key && !replace_meta && !replace_tags {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let (content_type, user_metadata) = if replace_meta {
            (
                i.content_type.clone(),
                i.metadata
                    .clone()
                    .map(|m| m.into_iter().collect::<BTreeMap<_, _>>())
                    .unwrap_or_default(),
            )
        } else {
            (
                src_meta.content_type.clone(),
                src_meta.user_metadata.clone(),
            )
        };
        let tags = if replace_tags {
            i.tagging
                .as_deref()
                .map(tagging::parse_header)
                .transpose()?
                .unwrap_or_default()
        } else {
            src_meta.tags.clone()
        };
        let wanted = Wanted::like(&src_meta.checksums);
        let d = dir.clone();
        let (tmp, file) = blocking(move || d.begin_upload()).await?;
        let size = src_meta.size;
        let copied = blocking(move || upload::copy_range(src, 0, size, file, &wanted)).await;
        let got = match copied {
            Ok(got) => got,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let meta = ObjectMeta {
            data: String::new(),
            size: got.size,
            etag: got.etag(),
            content_type,
            last_modified: now_rfc3339(),
            user_metadata,
            tags,
            checksums: got.checksums,
        };
        self.commit_upload(
            &i.bucket,
            &i.key,
            &key,
            &dir,
            &tmp,
            meta,
            user,
            &Precondition::None,
        )
        .await
    }
}
