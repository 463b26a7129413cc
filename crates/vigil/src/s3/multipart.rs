//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListMultipartUploads, ListParts.
//! Parts are staged by [`super::staging`]; completion joins them into one temporary
//! file, fsyncs it and hands it to the same before-commit hook and commit as a PUT, so
//! the object appears whole or not at all. The ETag is S3's: the MD5 of the parts'
//! binary MD5s, then `-` and the number of parts.

use std::collections::BTreeMap;
use std::sync::Arc;

use md5::{Digest, Md5};
use s3model::keypath::KeyPath;
use s3s::dto::{self, ETag};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::checksums::{Checksums, Wanted};
use super::conditional::{Conditions, write_precondition};
use super::door::{Door, Encoding, blocking, key_error, now_rfc3339, timestamp};
use super::staging::{PartRecord, Staging, UploadRecord};
use super::storage::{BucketDir, ObjectMeta};
use super::tagging;
use super::upload::{self, Expected, hex};

/// S3's smallest part, except the last.
const MIN_PART: u64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: i32 = 10_000;
const MAX_LISTED: usize = 1000;

fn no_such_upload() -> s3s::S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n as u32)
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// S3's ETag of a multipart object.
pub fn multipart_etag(parts: &[PartRecord]) -> String {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(unhex(&p.etag).unwrap_or_default());
    }
    format!("{}-{}", hex(&md5.finalize()), parts.len())
}

/// `bytes=first-last` of UploadPartCopy, as (start, length) within `size`.
fn copy_range(range: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(range) = range else {
        return Ok((0, size));
    };
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable."
        ));
    }
    Ok((first, last - first + 1))
}

fn owner(user: &Option<String>) -> (Option<dto::Initiator>, Option<dto::Owner>) {
    let initiator = user.clone().map(|u| dto::Initiator {
        display_name: Some(u.clone()),
        id: Some(u),
    });
    let owner = user.clone().map(|u| dto::Owner {
        display_name: Some(u.clone()),
        id: Some(u),
    });
    (initiator, owner)
}

/// A checked object named by a copy source header, in this SVM.
pub fn copy_source(source: &dto::CopySource) -> S3Result<(&str, &str)> {
    match source {
        dto::CopySource::Bucket {
            bucket,
            key,
            version_id: None,
        } => Ok((bucket, key)),
        dto::CopySource::Bucket { .. } => Err(s3_error!(
            NotImplemented,
            "Copying a specific version is not supported: buckets are not versioned."
        )),
        _ => Err(s3_error!(
            NotImplemented,
            "Access point copy sources are not supported."
        )),
    }
}

impl Door {
    fn staging(&self, bucket: &str) -> S3Result<(Arc<BucketDir>, Arc<Staging>)> {
        let (_, dir) = self.bucket(bucket)?;
        let staging = Arc::new(Staging::new(dir.root()));
        Ok((dir, staging))
    }

    async fn upload_of(
        &self,
        staging: &Arc<Staging>,
        id: &str,
        key: &str,
    ) -> S3Result<UploadRecord> {
        let s = Arc::clone(staging);
        let id = id.to_string();
        let record = blocking(move || s.record(&id)).await?;
        record.filter(|r| r.key == key).ok_or_else(no_such_upload)
    }

    /// Makes the fsynced `tmp` a part; removes `tmp` on any failure.
    async fn store_part(
        &self,
        staging: &Arc<Staging>,
        id: &str,
        tmp: std::path::PathBuf,
        part: PartRecord,
    ) -> S3Result<()> {
        let s = Arc::clone(staging);
        let id = id.to_string();
        let t = tmp.clone();
        let stored = blocking(move || s.put_part(&id, &t, part)).await;
        if !matches!(stored, Ok(true)) {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        match stored? {
            true => Ok(()),
            false => Err(no_such_upload()),
        }
    }

    pub(super) async fn create_multipart(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        let seen = self.seen(
            "MPUpload",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let user = seen.user.clone();
        let i = req.input;
        let result = async {
            KeyPath::parse(&i.key).map_err(key_error)?;
            let (_, staging) = self.staging(&i.bucket)?;
            let tags = i
                .tagging
                .as_deref()
                .map(tagging::parse_header)
                .transpose()?
                .unwrap_or_default();
            // Refuses an unknown algorithm now rather than at the first part.
            Wanted::new(
                Checksums::default(),
                i.checksum_algorithm.as_ref(),
                &Default::default(),
                None,
            )?;
            let record = UploadRecord {
                key: i.key.clone(),
                initiated: now_rfc3339(),
                user,
                content_type: i.content_type.clone(),
                user_metadata: i
                    .metadata
                    .clone()
                    .map(|m| m.into_iter().collect::<BTreeMap<_, _>>())
                    .unwrap_or_default(),
                tags,
                checksum_algorithm: i
                    .checksum_algorithm
                    .as_ref()
                    .map(|a| a.as_str().to_string()),
            };
            let id = blocking(move || staging.create(&record)).await?;
            Ok(S3Response::new(dto::CreateMultipartUploadOutput {
                bucket: Some(i.bucket.clone()),
                key: Some(i.key.clone()),
                upload_id: Some(id),
                checksum_algorithm: i.checksum_algorithm.clone(),
                ..Default::default()
            }))
        }
        .await;
        self.done(seen, 0, result)
    }

    pub(super) async fn receive_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        let seen = self.seen(
            "MPUploadPart",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let mut req = req;
        let body = req.input.body.take();
        let result = async {
            let i = &req.input;
            let number = part_number(i.part_number)?;
            let (dir, staging) = self.staging(&i.bucket)?;
            self.upload_of(&staging, &i.upload_id, &i.key).await?;
            let wanted = Wanted::new(
                Checksums::claimed(
                    i.checksum_crc32.as_ref(),
                    i.checksum_crc32c.as_ref(),
                    i.checksum_crc64nvme.as_ref(),
                    i.checksum_sha1.as_ref(),
                    i.checksum_sha256.as_ref(),
                ),
                i.checksum_algorithm.as_ref(),
                &req.headers,
                req.trailing_headers.clone(),
            )?;
            let (tmp, file) = blocking(move || dir.begin_upload()).await?;
            let expected = Expected {
                content_md5: i.content_md5.as_deref(),
                content_length: i.content_length,
                checksums: wanted,
            };
            let got = match upload::receive(body, file, expected).await {
                Ok(got) => got,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(e);
                }
            };
            let part = PartRecord {
                number,
                data: String::new(),
                size: got.size,
                etag: got.etag(),
                last_modified: now_rfc3339(),
                checksums: got.checksums.clone(),
            };
            self.store_part(&staging, &i.upload_id, tmp, part).await?;
            let etag = got.etag();
            let c = got.checksums;
            Ok((
                S3Response::new(dto::UploadPartOutput {
                    e_tag: Some(ETag::Strong(etag)),
                    checksum_crc32: c.crc32,
                    checksum_crc32c: c.crc32c,
                    checksum_crc64nvme: c.crc64nvme,
                    checksum_sha1: c.sha1,
                    checksum_sha256: c.sha256,
                    ..Default::default()
                }),
                got.size,
            ))
        }
        .await;
        let bytes = result.as_ref().map(|(_, n)| *n).unwrap_or(0);
        self.done(seen, bytes, result.map(|(r, _)| r))
    }

    pub(super) async fn copy_part(
        &self,
        req: S3Request<dto::UploadPartCopyInput>,
    ) -> S3Result<S3Response<dto::UploadPartCopyOutput>> {
        let seen = self.seen(
            "UploadPartCopy",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let result = async {
            let i = &req.input;
            let number = part_number(i.part_number)?;
            let (src_bucket, src_key) = copy_source(&i.copy_source)?;
            let (dir, staging) = self.staging(&i.bucket)?;
            self.upload_of(&staging, &i.upload_id, &i.key).await?;
            let (src_meta, src) = self.open(src_bucket, src_key).await?;
            Conditions {
                if_match: i.copy_source_if_match.as_ref(),
                if_none_match: i.copy_source_if_none_match.as_ref(),
                if_modified_since: i.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: i.copy_source_if_unmodified_since.as_ref(),
            }
            .check_copy_source(&src_meta)?;
            let (start, len) = copy_range(i.copy_source_range.as_deref(), src_meta.size)?;
            let (tmp, file) = blocking(move || dir.begin_upload()).await?;
            let copied =
                blocking(move || upload::copy_range(src, start, len, file, &Wanted::default()))
                    .await;
            let got = match copied {
                Ok(got) => got,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(e);
                }
            };
            let modified = now_rfc3339();
            let part = PartRecord {
                number,
                data: String::new(),
                size: got.size,
                etag: got.etag(),
                last_modified: modified.clone(),
                checksums: Checksums::default(),
            };
            self.store_part(&staging, &i.upload_id, tmp, part).await?;
            Ok((
                S3Response::new(dto::UploadPartCopyOutput {
                    copy_part_result: Some(dto::CopyPartResult {
                        e_tag: Some(ETag::Strong(got.etag())),
                        last_modified: timestamp(&modified),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                got.size,
            ))
        }
        .await;
        let bytes = result.as_ref().map(|(_, n)| *n).unwrap_or(0);
        self.done(seen, bytes, result.map(|(r, _)| r))
    }

    pub(super) async fn complete_multipart(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let seen = self.seen(
            "MPComplete",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let user = seen.user.clone();
        let result = self.complete(req.input, user.as_deref()).await;
        let bytes = result.as_ref().map(|(_, m)| m.size).unwrap_or(0);
        self.done(seen, bytes, result.map(|(out, _)| S3Response::new(out)))
    }

    async fn complete(
        &self,
        i: dto::CompleteMultipartUploadInput,
        user: Option<&str>,
    ) -> S3Result<(dto::CompleteMultipartUploadOutput, ObjectMeta)> {
        let key = KeyPath::parse(&i.key).map_err(key_error)?;
        let (dir, staging) = self.staging(&i.bucket)?;
        let record = self.upload_of(&staging, &i.upload_id, &i.key).await?;
        let pre = write_precondition(i.if_match.as_ref(), i.if_none_match.as_ref())?;
        let asked = i.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let s = Arc::clone(&staging);
        let id = i.upload_id.clone();
        let stored: BTreeMap<u32, PartRecord> = blocking(move || s.parts(&id))
            .await?
            .into_iter()
            .map(|p| (p.number, p))
            .collect();
        // As S3 does: the order of the whole list first, then each part.
        let numbers = asked
            .iter()
            .map(|p| {
                p.part_number
                    .map(part_number)
                    .transpose()
                    .map(|n| n.unwrap_or(0))
            })
            .collect::<S3Result<Vec<u32>>>()?;
        if numbers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(s3_error!(
                InvalidPartOrder,
                "The list of parts was not in ascending order. The parts list must be specified in order by part number."
            ));
        }
        let mut chosen: Vec<PartRecord> = Vec::with_capacity(asked.len());
        for (part, number) in asked.iter().zip(&numbers) {
            let found = stored.get(number).filter(|p| {
                part.e_tag
                    .as_ref()
                    .is_some_and(|e| e.value().trim_matches('"') == p.etag)
            });
            let Some(found) = found else {
                return Err(s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
                ));
            };
            chosen.push(found.clone());
        }
        if chosen[..chosen.len() - 1].iter().any(|p| p.size < MIN_PART) {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size."
            ));
        }
        let files = chosen
            .iter()
            .map(|p| {
                staging
                    .part_file(&i.upload_id, p)
                    .ok_or_else(no_such_upload)
            })
            .collect::<S3Result<Vec<_>>>()?;
        let d = Arc::clone(&dir);
        let (tmp, mut file) = blocking(move || d.begin_upload()).await?;
        let joined = blocking(move || {
            for path in files {
                let mut part = std::fs::File::open(path)?;
                std::io::copy(&mut part, &mut file)?;
            }
            file.sync_all()
        })
        .await;
        if let Err(e) = joined {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let meta = ObjectMeta {
            data: String::new(),
            size: chosen.iter().map(|p| p.size).sum(),
            etag: multipart_etag(&chosen),
            content_type: record.content_type,
            last_modified: now_rfc3339(),
            user_metadata: record.user_metadata,
            tags: record.tags,
            checksums: Checksums::default(),
        };
        let meta = self
            .commit_upload(&i.bucket, &i.key, &key, &dir, &tmp, meta, user, &pre)
            .await?;
        // The object is whole; the staged parts are no longer needed. A crash before
        // this leaves the upload listed, and completing it again is harmless.
        let id = i.upload_id.clone();
        if let Err(e) = blocking(move || staging.remove(&id)).await {
            tracing::warn!(error = ?e, "a completed multipart upload was not removed");
        }
        Ok((
            dto::CompleteMultipartUploadOutput {
                bucket: Some(i.bucket.clone()),
                key: Some(i.key.clone()),
                e_tag: Some(ETag::Strong(meta.etag.clone())),
                location: Some(format!("/{}/{}", i.bucket, i.key)),
                ..Default::default()
            },
            meta,
        ))
    }

    pub(super) async fn abort_multipart(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let i = &req.input;
        let seen = self.seen("MPAbort", &req, Some(&i.bucket), Some(&i.key));
        let result = async {
            let (_, staging) = self.staging(&i.bucket)?;
            self.upload_of(&staging, &i.upload_id, &i.key).await?;
            let id = i.upload_id.clone();
            match blocking(move || staging.remove(&id)).await? {
                true => Ok(S3Response::new(dto::AbortMultipartUploadOutput::default())),
                false => Err(no_such_upload()),
            }
        }
        .await;
        self.done(seen, 0, result)
    }

    pub(super) async fn list_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        let i = &req.input;
        let seen = self.seen("ListUploads", &req, Some(&i.bucket), None);
        let result = async {
            let (_, staging) = self.staging(&i.bucket)?;
            let mut all = blocking(move || staging.list()).await?;
            let prefix = i.prefix.clone().unwrap_or_default();
            all.retain(|(_, r)| r.key.starts_with(&prefix));
            all.sort_by(|a, b| {
                (&a.1.key, &a.1.initiated, &a.0).cmp(&(&b.1.key, &b.1.initiated, &b.0))
            });
            if let Some(km) = &i.key_marker {
                all.retain(|(id, r)| match &i.upload_id_marker {
                    Some(im) => r.key > *km || (r.key == *km && id > im),
                    None => r.key > *km,
                });
            }
            let max = match i.max_uploads {
                Some(n) if n < 0 => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "max-uploads must not be negative."
                    ));
                }
                Some(n) => (n as usize).min(MAX_LISTED),
                None => MAX_LISTED,
            };
            let enc = Encoding::of(i.encoding_type.as_ref());
            let delimiter = i.delimiter.clone().filter(|d| !d.is_empty());
            let mut prefixes: Vec<String> = Vec::new();
            let mut uploads = Vec::new();
            let mut truncated = false;
            let mut last: Option<(String, String)> = None;
            for (id, r) in all {
                let rolled = delimiter.as_deref().and_then(|d| {
                    r.key[prefix.len()..]
                        .find(d)
                        .map(|n| r.key[..prefix.len() + n + d.len()].to_string())
                });
                if let Some(cp) = &rolled
                    && prefixes.last() == Some(cp)
                {
                    continue;
                }
                if uploads.len() + prefixes.len() == max {
                    truncated = true;
                    break;
                }
                last = Some((r.key.clone(), id.clone()));
                match rolled {
                    Some(cp) => prefixes.push(cp),
                    None => {
                        let (initiator, owner) = owner(&r.user);
                        uploads.push(dto::MultipartUpload {
                            key: Some(enc.apply(&r.key)),
                            upload_id: Some(id),
                            initiated: timestamp(&r.initiated),
                            initiator,
                            owner,
                            storage_class: Some(dto::StorageClass::from_static(
                                dto::StorageClass::STANDARD,
                            )),
                            checksum_algorithm: r
                                .checksum_algorithm
                                .clone()
                                .map(dto::ChecksumAlgorithm::from),
                            ..Default::default()
                        });
                    }
                }
            }
            let common: Vec<dto::CommonPrefix> = prefixes
                .into_iter()
                .map(|p| dto::CommonPrefix {
                    prefix: Some(enc.apply(&p)),
                })
                .collect();
            let (next_key, next_id) = match (truncated, last) {
                (true, Some((k, id))) => (Some(enc.apply(&k)), Some(id)),
                _ => (None, None),
            };
            Ok(S3Response::new(dto::ListMultipartUploadsOutput {
                bucket: Some(i.bucket.clone()),
                prefix: i.prefix.as_deref().map(|p| enc.apply(p)),
                delimiter: delimiter.map(|d| enc.apply(&d)),
                key_marker: i.key_marker.as_deref().map(|k| enc.apply(k)),
                upload_id_marker: i.upload_id_marker.clone(),
                max_uploads: Some(max as i32),
                is_truncated: Some(truncated),
                next_key_marker: next_key,
                next_upload_id_marker: next_id,
                uploads: Some(uploads),
                common_prefixes: (!common.is_empty()).then_some(common),
                encoding_type: i.encoding_type.clone(),
                ..Default::default()
            }))
        }
        .await;
        self.done(seen, 0, result)
    }

    pub(super) async fn parts_of_upload(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        let i = &req.input;
        let seen = self.seen("ListParts", &req, Some(&i.bucket), Some(&i.key));
        let result = async {
            let (_, staging) = self.staging(&i.bucket)?;
            let record = self.upload_of(&staging, &i.upload_id, &i.key).await?;
            let id = i.upload_id.clone();
            let s = Arc::clone(&staging);
            let parts = blocking(move || s.parts(&id)).await?;
            let marker = i.part_number_marker.unwrap_or(0).max(0) as u32;
            let max = match i.max_parts {
                Some(n) if n < 0 => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "max-parts must not be negative."
                    ));
                }
                Some(n) => (n as usize).min(MAX_LISTED),
                None => MAX_LISTED,
            };
            let after: Vec<&PartRecord> = parts.iter().filter(|p| p.number > marker).collect();
            let page = &after[..after.len().min(max)];
            let truncated = after.len() > page.len();
            let (initiator, owner) = owner(&record.user);
            Ok(S3Response::new(dto::ListPartsOutput {
                bucket: Some(i.bucket.clone()),
                key: Some(i.key.clone()),
                upload_id: Some(i.upload_id.clone()),
                part_number_marker: i.part_number_marker,
                next_part_number_marker: page.last().filter(|_| truncated).map(|p| p.number as i32),
                max_parts: Some(max as i32),
                is_truncated: Some(truncated),
                initiator,
                owner,
                storage_class: Some(dto::StorageClass::from_static(dto::StorageClass::STANDARD)),
                checksum_algorithm: record.checksum_algorithm.map(dto::ChecksumAlgorithm::from),
                parts: Some(
                    page.iter()
                        .map(|p| dto::Part {
                            part_number: Some(p.number as i32),
                            size: i64::try_from(p.size).ok(),
                            e_tag: Some(ETag::Strong(p.etag.clone())),
                            last_modified: timestamp(&p.last_modified),
                            checksum_crc32: p.checksums.crc32.clone(),
                            checksum_crc32c: p.checksums.crc32c.clone(),
                            checksum_crc64nvme: p.checksums.crc64nvme.clone(),
                            checksum_sha1: p.checksums.sha1.clone(),
                            checksum_sha256: p.checksums.sha256.clone(),
                        })
                        .collect(),
                ),
                ..Default::default()
            }))
        }
        .await;
        self.done(seen, 0, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_and_ranges() {
        // Two parts with the MD5s of "a" and "b": S3's ETag is MD5(md5(a) || md5(b))-2.
        let part = |body: &[u8]| PartRecord {
            etag: hex(&Md5::digest(body)),
            ..Default::default()
        };
        let mut both = Md5::digest(b"a").to_vec();
        both.extend_from_slice(&Md5::digest(b"b"));
        assert_eq!(
            multipart_etag(&[part(b"a"), part(b"b")]),
            format!("{}-2", hex(&Md5::digest(&both)))
        );
        assert_eq!(copy_range(None, 10).unwrap(), (0, 10));
        assert_eq!(copy_range(Some("bytes=2-5"), 10).unwrap(), (2, 4));
        assert!(copy_range(Some("bytes=5-2"), 10).is_err());
        assert!(copy_range(Some("bytes=0-10"), 10).is_err());
        assert!(copy_range(Some("2-5"), 10).is_err());
        assert_eq!(unhex("0aff"), Some(vec![10, 255]));
        assert_eq!(unhex("0g"), None);
    }
}
