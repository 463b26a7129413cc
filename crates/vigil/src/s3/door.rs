//! The S3 front door of one SVM: the `s3s` protocol layer (routing, XML, SigV4) calls
//! [`Door`] for each operation, which answers from the SVM's bucket records and the
//! bucket directories ([`super::storage`]), and [`KeyAuth`] for each access key.
//!
//! Whether a request may run at all is decided before it gets here
//! ([`super::authorize`]); bucket policies and versioning live in
//! [`super::bucket_policy`] and [`super::versioning`].

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use s3model::keypath::{KeyError, KeyPath};
use s3model::model::{Bucket, BucketType, DEFAULT_BUCKET_SIZE, USER_KIND, User, Versioning};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{self, ETag, StreamingBlob, Timestamp};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use store::Store;

use super::buckets::{self, BucketError};
use super::checksums::{Checksums, Wanted};
use super::conditional::{self, Conditions};
use super::hooks::{Change, PendingRead, PendingUpload, S3Hooks, S3Operation};
use super::secrets::{Sealer, binding};
use super::storage::{BucketDir, ObjectMeta, Precondition};
use super::tagging;
use super::upload::{self, Expected};
use super::{bucket_policy, versioning};

/// Bytes read from a file per chunk of a GET body.
const CHUNK: usize = 256 * 1024;
/// ListObjects' default and largest page.
pub(super) const MAX_KEYS: usize = 1000;

pub struct Door {
    pub store: Arc<Store>,
    pub svm_uuid: String,
    pub svm_root: PathBuf,
    pub hooks: Arc<dyn S3Hooks>,
}

/// What every operation reports, gathered from the request before it is consumed.
pub(super) struct Seen {
    operation: &'static str,
    bucket: Option<String>,
    key: Option<String>,
    pub(super) user: Option<String>,
    client: Option<SocketAddr>,
    started: Instant,
}

pub(super) fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "s3 request failed");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "The server could not complete the request.",
    )
}

pub(super) fn key_error(e: KeyError) -> S3Error {
    let code = match e {
        KeyError::TooLong => S3ErrorCode::KeyTooLongError,
        _ => S3ErrorCode::InvalidArgument,
    };
    S3Error::with_message(code, e.to_string())
}

fn bucket_error(e: BucketError) -> S3Error {
    match e {
        BucketError::Exists(_) => s3_error!(
            BucketAlreadyOwnedByYou,
            "The bucket already exists on this server."
        ),
        BucketError::NotEmpty(_) => s3_error!(
            BucketNotEmpty,
            "The bucket you tried to delete is not empty."
        ),
        other => internal(other),
    }
}

/// The object at `key` with its data opened, or `NoSuchKey`.
async fn open_object(dir: Arc<BucketDir>, key: KeyPath) -> S3Result<(ObjectMeta, std::fs::File)> {
    blocking(move || dir.open(&key))
        .await?
        .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
}

pub(super) fn timestamp(rfc3339: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| Timestamp::from(SystemTime::from(t)))
}

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> S3Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(internal)?
        .map_err(internal)
}

pub(super) fn etag(meta: &ObjectMeta) -> ETag {
    ETag::Strong(meta.etag.clone())
}

fn metadata(meta: &ObjectMeta) -> Option<dto::Metadata> {
    (!meta.user_metadata.is_empty()).then(|| {
        meta.user_metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// The checksums of an object for a response, when the request asked for them.
fn checksums_if(meta: &ObjectMeta, mode: Option<&dto::ChecksumMode>) -> Checksums {
    match mode {
        Some(m) if m.as_str() == dto::ChecksumMode::ENABLED => meta.checksums.clone(),
        _ => Checksums::default(),
    }
}

impl Door {
    pub(super) fn seen<T>(
        &self,
        operation: &'static str,
        req: &S3Request<T>,
        bucket: Option<&str>,
        key: Option<&str>,
    ) -> Seen {
        let user = req
            .credentials
            .as_ref()
            .and_then(|c| user_by_access_key(&self.store, &self.svm_uuid, &c.access_key))
            .map(|u| u.name);
        let client = req
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Seen {
            operation,
            bucket: bucket.map(String::from),
            key: key.map(String::from),
            user,
            client,
            started: Instant::now(),
        }
    }

    pub(super) fn done<T>(&self, seen: Seen, bytes: u64, result: S3Result<T>) -> S3Result<T> {
        self.hooks.operation(&S3Operation {
            operation: seen.operation,
            svm_uuid: self.svm_uuid.clone(),
            bucket: seen.bucket,
            key: seen.key,
            user: seen.user,
            client: seen.client,
            error: result.as_ref().err().map(|e| e.code().as_str().to_string()),
            bytes,
            elapsed: seen.started.elapsed(),
            authorized: true,
            ..Default::default()
        });
        result
    }

    pub(super) fn bucket(&self, name: &str) -> S3Result<(Bucket, Arc<BucketDir>)> {
        let bucket = buckets::by_name(&self.store, &self.svm_uuid, name)
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist."))?;
        if bucket.kind != BucketType::S3 {
            return Err(s3_error!(
                NotImplemented,
                "Objects of nas buckets are not served yet."
            ));
        }
        let dir = Arc::new(BucketDir::new(&self.svm_root, &bucket.uuid));
        Ok((bucket, dir))
    }

    /// Receives an upload into a temporary file, passes it through the commit hook and
    /// commits it. The temporary file is gone afterwards, whatever happened.
    async fn put(
        &self,
        req: S3Request<dto::PutObjectInput>,
        user: Option<&str>,
    ) -> S3Result<ObjectMeta> {
        let mut input = req.input;
        let key = KeyPath::parse(&input.key).map_err(key_error)?;
        let (bucket, dir) = self.bucket(&input.bucket)?;
        let pre =
            conditional::write_precondition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let tags = input
            .tagging
            .as_deref()
            .map(tagging::parse_header)
            .transpose()?
            .unwrap_or_default();
        let wanted = Wanted::new(
            Checksums::claimed(
                input.checksum_crc32.as_ref(),
                input.checksum_crc32c.as_ref(),
                input.checksum_crc64nvme.as_ref(),
                input.checksum_sha1.as_ref(),
                input.checksum_sha256.as_ref(),
            ),
            input.checksum_algorithm.as_ref(),
            &req.headers,
            req.trailing_headers,
        )?;
        if pre != Precondition::None {
            // Refused before the body is read; checked again at commit.
            let (d, k) = (Arc::clone(&dir), key.clone());
            let current = blocking(move || d.meta(&k)).await?;
            if !pre.holds(current.as_ref()) {
                return Err(conditional::write_refused());
            }
        }
        let d = Arc::clone(&dir);
        let (tmp, file) = blocking(move || d.begin_upload()).await?;
        let expected = Expected {
            content_md5: input.content_md5.as_deref(),
            content_length: input.content_length,
            checksums: wanted,
        };
        let got = match upload::receive(input.body.take(), file, expected).await {
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
            content_type: input.content_type.take(),
            last_modified: now_rfc3339(),
            user_metadata: input
                .metadata
                .take()
                .map(|m| m.into_iter().collect::<BTreeMap<_, _>>())
                .unwrap_or_default(),
            tags,
            checksums: got.checksums,
        };
        self.commit_upload(&bucket.name, &input.key, &key, &dir, &tmp, meta, user, &pre)
            .await
    }

    /// The one place every new object passes (PUT, copy, multipart completion): the
    /// before-commit hook sees the complete, fsynced file, then the commit makes it
    /// visible if `pre` holds. `tmp` is gone afterwards, whatever happened.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn commit_upload(
        &self,
        bucket: &str,
        key_text: &str,
        key: &KeyPath,
        dir: &Arc<BucketDir>,
        tmp: &Path,
        meta: ObjectMeta,
        user: Option<&str>,
        pre: &Precondition,
    ) -> S3Result<ObjectMeta> {
        let svm_path = self.svm_path(dir, key_text);
        let upload = PendingUpload {
            svm_uuid: &self.svm_uuid,
            bucket,
            key: key_text,
            user,
            size: meta.size,
            file: tmp,
            svm_path: &svm_path,
        };
        let admitted = self.hooks.before_commit(&upload).await;
        // The audit record goes before the commit: if it cannot be written, nothing changes.
        let admitted = match admitted {
            Ok(()) => self
                .hooks
                .admit_change(Change::Upload(&upload))
                .await
                .map_err(|_| super::trail::refused_error()),
            Err(e) => Err(e),
        };
        let committed = match admitted {
            Ok(()) => {
                let (d, k, t, p) = (Arc::clone(dir), key.clone(), tmp.to_path_buf(), pre.clone());
                blocking(move || d.commit_when(&k, &t, meta, &p))
                    .await
                    .and_then(|m| m.ok_or_else(conditional::write_refused))
            }
            Err(e) => Err(e),
        };
        if committed.is_err() {
            let _ = tokio::fs::remove_file(tmp).await;
        }
        committed
    }

    /// How the SVM namespace names an object of the bucket in `dir`: the bucket
    /// directory from the SVM root, then the key as given.
    fn svm_path(&self, dir: &BucketDir, key_text: &str) -> String {
        let bucket_dir = dir
            .root()
            .strip_prefix(&self.svm_root)
            .unwrap_or(dir.root());
        format!("/{}/{key_text}", bucket_dir.display())
    }

    pub(super) async fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> S3Result<(ObjectMeta, std::fs::File)> {
        let key = KeyPath::parse(key).map_err(key_error)?;
        let (_, dir) = self.bucket(bucket)?;
        open_object(dir, key).await
    }

    /// [`Door::open`] for serving the object's bytes: the read hook sees it first and
    /// may refuse it. An object whose data the hook's remediation moved away
    /// (quarantined, deleted, renamed) is removed from the bucket, so it is neither
    /// listed nor served again.
    async fn open_to_serve(
        &self,
        bucket: &str,
        key_text: &str,
    ) -> S3Result<(ObjectMeta, std::fs::File)> {
        let key = KeyPath::parse(key_text).map_err(key_error)?;
        let (_, dir) = self.bucket(bucket)?;
        let (meta, file) = open_object(Arc::clone(&dir), key.clone()).await?;
        let data_path = dir.root().join(key.dir()).join(&meta.data);
        let svm_path = self.svm_path(&dir, key_text);
        let read = self
            .hooks
            .before_read(&PendingRead {
                svm_uuid: &self.svm_uuid,
                bucket,
                key: key_text,
                file: &file,
                data_path: &data_path,
                svm_path: &svm_path,
            })
            .await;
        if let Err(refused) = read {
            let data = meta.data.clone();
            blocking(move || {
                if !data_path.exists() && dir.meta(&key)?.is_some_and(|m| m.data == data) {
                    dir.delete(&key)?;
                }
                Ok(())
            })
            .await?;
            return Err(refused);
        }
        Ok((meta, file))
    }

    async fn get(&self, input: &dto::GetObjectInput) -> S3Result<(dto::GetObjectOutput, u64)> {
        let (meta, mut file) = self.open_to_serve(&input.bucket, &input.key).await?;
        Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check_read(&meta)?;
        let sums = checksums_if(&meta, input.checksum_mode.as_ref());
        let (start, len, content_range) = match &input.range {
            None => (0, meta.size, None),
            Some(range) => {
                let r = range.check(meta.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable.")
                })?;
                let range_text = format!(
                    "bytes {}-{}/{}",
                    r.start,
                    r.end.saturating_sub(1),
                    meta.size
                );
                (r.start, r.end - r.start, Some(range_text))
            }
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).map_err(internal)?;
        }
        let body = file_stream(file, len);
        Ok((
            dto::GetObjectOutput {
                body: Some(StreamingBlob::wrap(body)),
                content_length: i64::try_from(len).ok(),
                content_range,
                content_type: meta.content_type.clone(),
                e_tag: Some(etag(&meta)),
                last_modified: timestamp(&meta.last_modified),
                metadata: metadata(&meta),
                accept_ranges: Some("bytes".into()),
                tag_count: tagging::count(&meta.tags),
                // A range's checksums would not be those of the bytes sent.
                checksum_crc32: sums.crc32.filter(|_| input.range.is_none()),
                checksum_crc32c: sums.crc32c.filter(|_| input.range.is_none()),
                checksum_crc64nvme: sums.crc64nvme.filter(|_| input.range.is_none()),
                checksum_sha1: sums.sha1.filter(|_| input.range.is_none()),
                checksum_sha256: sums.sha256.filter(|_| input.range.is_none()),
                ..Default::default()
            },
            len,
        ))
    }

    async fn list_v2(&self, input: &dto::ListObjectsV2Input) -> S3Result<dto::ListObjectsV2Output> {
        let (_, dir) = self.bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let p = prefix.clone();
        let objects = blocking(move || dir.list(&p)).await?;
        let max_keys = max_keys(input.max_keys)?;
        let marker = match &input.continuation_token {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone(),
        };
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let enc = Encoding::of(input.encoding_type.as_ref());
        let page = list_page(
            &objects,
            &prefix,
            delimiter.as_deref(),
            marker.as_deref(),
            max_keys,
        );
        let (contents, common) = page.entries(enc);
        let count = contents.len() + common.len();
        Ok(dto::ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: Some(enc.apply(&prefix)),
            delimiter: delimiter.map(|d| enc.apply(&d)),
            max_keys: Some(max_keys as i32),
            key_count: Some(count as i32),
            is_truncated: Some(page.next.is_some()),
            continuation_token: input.continuation_token.clone(),
            next_continuation_token: page.next.map(|n| encode_token(&n)),
            start_after: input.start_after.as_deref().map(|s| enc.apply(s)),
            contents: Some(contents),
            common_prefixes: (!common.is_empty()).then_some(common),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        })
    }

    async fn create_bucket(&self, name: &str, owner: Option<String>) -> S3Result<()> {
        s3model::names::check_bucket_name(name)
            .map_err(|reason| S3Error::with_message(S3ErrorCode::InvalidBucketName, reason))?;
        let bucket = Bucket {
            uuid: uuid::Uuid::new_v4().to_string(),
            svm_uuid: self.svm_uuid.clone(),
            name: name.to_string(),
            comment: String::new(),
            size: DEFAULT_BUCKET_SIZE,
            kind: BucketType::S3,
            nas_path: None,
            versioning_state: Versioning::Disabled,
            audit_event_selector: None,
            create_time: now_rfc3339(),
            policy: Vec::new(),
            owner,
        };
        buckets::create(&self.store, &self.svm_root, bucket)
            .await
            .map_err(bucket_error)
    }

    async fn delete_bucket(&self, name: &str) -> S3Result<()> {
        let bucket = buckets::by_name(&self.store, &self.svm_uuid, name)
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist."))?;
        buckets::delete(&self.store, &self.svm_root, &bucket)
            .await
            .map_err(bucket_error)
    }
}

/// Continuation tokens are the last key or prefix of the page, base64 so that any key
/// survives XML and query strings.
fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token is not valid."))
}

/// `encoding-type=url` of a listing: names in the reply percent-encoded (form style,
/// which botocore's and rclone's decoders read), so that any key survives XML.
#[derive(Debug, Clone, Copy)]
pub(super) struct Encoding(bool);

impl Encoding {
    pub(super) fn of(requested: Option<&dto::EncodingType>) -> Encoding {
        Encoding(requested.is_some_and(|e| e.as_str() == dto::EncodingType::URL))
    }

    pub(super) fn apply(self, name: &str) -> String {
        if self.0 {
            form_urlencoded::byte_serialize(name.as_bytes()).collect()
        } else {
            name.to_string()
        }
    }
}

pub struct Page<'a> {
    pub objects: Vec<&'a (String, ObjectMeta)>,
    pub prefixes: Vec<String>,
    /// The last entry of a truncated page.
    pub next: Option<String>,
}

impl Page<'_> {
    /// The page's keys and common prefixes as both ListObjects versions answer them.
    pub(super) fn entries(&self, enc: Encoding) -> (Vec<dto::Object>, Vec<dto::CommonPrefix>) {
        let contents = self
            .objects
            .iter()
            .map(|(key, meta)| dto::Object {
                key: Some(enc.apply(key)),
                size: i64::try_from(meta.size).ok(),
                e_tag: Some(etag(meta)),
                last_modified: timestamp(&meta.last_modified),
                storage_class: Some(dto::ObjectStorageClass::from_static(
                    dto::ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let common = self
            .prefixes
            .iter()
            .map(|p| dto::CommonPrefix {
                prefix: Some(enc.apply(p)),
            })
            .collect();
        (contents, common)
    }
}

/// A listing's `max-keys`: at most [`MAX_KEYS`], which is also the default.
pub(super) fn max_keys(asked: Option<i32>) -> S3Result<usize> {
    match asked {
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative.")),
        Some(n) => Ok((n as usize).min(MAX_KEYS)),
        None => Ok(MAX_KEYS),
    }
}

/// One page of a listing: keys (sorted, all starting with `prefix`) after `marker`,
/// with keys that hold `delimiter` after the prefix rolled up into common prefixes.
/// A marker that is a common prefix skips every key under it.
pub fn list_page<'a>(
    objects: &'a [(String, ObjectMeta)],
    prefix: &str,
    delimiter: Option<&str>,
    marker: Option<&str>,
    max_keys: usize,
) -> Page<'a> {
    let mut page = Page {
        objects: Vec::new(),
        prefixes: Vec::new(),
        next: None,
    };
    let mut last: Option<String> = None;
    for entry in objects {
        let key = entry.0.as_str();
        if let Some(m) = marker {
            let under_marker = delimiter.is_some_and(|d| m.ends_with(d)) && key.starts_with(m);
            if key <= m || under_marker {
                continue;
            }
        }
        let rolled = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_string())
        });
        if let Some(cp) = &rolled
            && page.prefixes.last() == Some(cp)
        {
            continue;
        }
        if page.objects.len() + page.prefixes.len() == max_keys {
            page.next = last;
            return page;
        }
        match rolled {
            Some(cp) => {
                last = Some(cp.clone());
                page.prefixes.push(cp);
            }
            None => {
                last = Some(key.to_string());
                page.objects.push(entry);
            }
        }
    }
    page
}

/// A GET body: `len` bytes of `file` from where it stands, read on the blocking pool.
fn file_stream(
    file: std::fs::File,
    len: u64,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    futures::stream::unfold((Some(file), len), |(file, left)| async move {
        let mut file = file?;
        if left == 0 {
            return None;
        }
        let want = left.min(CHUNK as u64) as usize;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; want];
            let mut filled = 0;
            while filled < want {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(filled);
            Ok((buf, file))
        })
        .await;
        match read {
            Ok(Ok((buf, _))) if buf.is_empty() => Some((
                Err(std::io::Error::other(
                    "the object is shorter than its metadata says",
                )),
                (None, 0),
            )),
            Ok(Ok((buf, file))) => {
                let n = buf.len() as u64;
                Some((Ok(Bytes::from(buf)), (Some(file), left - n)))
            }
            Ok(Err(e)) => Some((Err(e), (None, 0))),
            Err(e) => Some((Err(std::io::Error::other(e)), (None, 0))),
        }
    })
}

pub fn user_by_access_key(store: &Store, svm_uuid: &str, access_key: &str) -> Option<User> {
    // A user whose keys were deleted has an empty access key, which matches nothing.
    if access_key.is_empty() {
        return None;
    }
    store
        .list(USER_KIND)
        .iter()
        .find(|d| d["svm_uuid"] == svm_uuid && d["access_key"] == access_key)
        .and_then(|d| serde_json::from_value(d.as_ref().clone()).ok())
}

#[async_trait]
impl S3 for Door {
    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let seen = self.seen("ListAllMyBuckets", &req, None, None);
        let list: Vec<dto::Bucket> = buckets::of_svm(&self.store, &self.svm_uuid)
            .into_iter()
            .map(|b| dto::Bucket {
                name: Some(b.name),
                creation_date: timestamp(&b.create_time),
                bucket_region: None,
            })
            .collect();
        let owner = seen.user.clone().map(|name| dto::Owner {
            display_name: Some(name.clone()),
            id: Some(name),
        });
        let out = dto::ListBucketsOutput {
            buckets: Some(list),
            owner,
            ..Default::default()
        };
        self.done(seen, 0, Ok(S3Response::new(out)))
    }

    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let seen = self.seen("CreateBucket", &req, Some(&req.input.bucket), None);
        let owner = seen.user.clone();
        let result = self
            .create_bucket(&req.input.bucket, owner)
            .await
            .map(|()| {
                S3Response::new(dto::CreateBucketOutput {
                    location: Some(format!("/{}", req.input.bucket)),
                })
            });
        self.done(seen, 0, result)
    }

    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        let seen = self.seen("DeleteBucket", &req, Some(&req.input.bucket), None);
        let result = self
            .delete_bucket(&req.input.bucket)
            .await
            .map(|()| S3Response::new(dto::DeleteBucketOutput {}));
        self.done(seen, 0, result)
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        let seen = self.seen("HeadBucket", &req, Some(&req.input.bucket), None);
        let result = buckets::by_name(&self.store, &self.svm_uuid, &req.input.bucket)
            .map(|_| S3Response::new(dto::HeadBucketOutput::default()))
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist."));
        self.done(seen, 0, result)
    }

    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let seen = self.seen(
            "PutObject",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let user = seen.user.clone();
        let result = self.put(req, user.as_deref()).await;
        let bytes = result.as_ref().map(|m| m.size).unwrap_or(0);
        let result = result.map(|meta| {
            let sums = meta.checksums.clone();
            S3Response::new(dto::PutObjectOutput {
                e_tag: Some(etag(&meta)),
                checksum_crc32: sums.crc32,
                checksum_crc32c: sums.crc32c,
                checksum_crc64nvme: sums.crc64nvme,
                checksum_sha1: sums.sha1,
                checksum_sha256: sums.sha256,
                ..Default::default()
            })
        });
        self.done(seen, bytes, result)
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        let seen = self.seen(
            "GetObject",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let result = self.get(&req.input).await;
        let bytes = result.as_ref().map(|(_, n)| *n).unwrap_or(0);
        self.done(seen, bytes, result.map(|(out, _)| S3Response::new(out)))
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        let seen = self.seen(
            "HeadObject",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let i = &req.input;
        let result = async {
            let (meta, _) = self.open(&i.bucket, &i.key).await?;
            Conditions {
                if_match: i.if_match.as_ref(),
                if_none_match: i.if_none_match.as_ref(),
                if_modified_since: i.if_modified_since.as_ref(),
                if_unmodified_since: i.if_unmodified_since.as_ref(),
            }
            .check_read(&meta)?;
            let sums = checksums_if(&meta, i.checksum_mode.as_ref());
            Ok(S3Response::new(dto::HeadObjectOutput {
                content_length: i64::try_from(meta.size).ok(),
                content_type: meta.content_type.clone(),
                e_tag: Some(etag(&meta)),
                last_modified: timestamp(&meta.last_modified),
                metadata: metadata(&meta),
                accept_ranges: Some("bytes".into()),
                checksum_crc32: sums.crc32,
                checksum_crc32c: sums.crc32c,
                checksum_crc64nvme: sums.crc64nvme,
                checksum_sha1: sums.sha1,
                checksum_sha256: sums.sha256,
                ..Default::default()
            }))
        }
        .await;
        self.done(seen, 0, result)
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        let seen = self.seen(
            "DeleteObject",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let result = async {
            let key = KeyPath::parse(&req.input.key).map_err(key_error)?;
            let (_, dir) = self.bucket(&req.input.bucket)?;
            // Deleting a key that does not exist succeeds, as in S3.
            blocking(move || dir.delete(&key)).await?;
            Ok(S3Response::new(dto::DeleteObjectOutput::default()))
        }
        .await;
        self.done(seen, 0, result)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        let seen = self.seen("ListBucket", &req, Some(&req.input.bucket), None);
        let result = self.list_v2(&req.input).await.map(S3Response::new);
        self.done(seen, 0, result)
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<dto::GetBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::GetBucketPolicyOutput>> {
        let seen = self.seen("GetBucketPolicy", &req, Some(&req.input.bucket), None);
        let result = bucket_policy::get(&self.store, &self.svm_uuid, &req.input.bucket);
        self.done(seen, 0, result.map(S3Response::new))
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<dto::PutBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::PutBucketPolicyOutput>> {
        let seen = self.seen("PutBucketPolicy", &req, Some(&req.input.bucket), None);
        let input = &req.input;
        let result = bucket_policy::put(&self.store, &self.svm_uuid, &input.bucket, &input.policy);
        let result = result
            .await
            .map(|()| S3Response::new(dto::PutBucketPolicyOutput {}));
        self.done(seen, 0, result)
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<dto::DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketPolicyOutput>> {
        let seen = self.seen("DeleteBucketPolicy", &req, Some(&req.input.bucket), None);
        let result = bucket_policy::delete(&self.store, &self.svm_uuid, &req.input.bucket).await;
        let result = result.map(|()| S3Response::new(dto::DeleteBucketPolicyOutput {}));
        self.done(seen, 0, result)
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<dto::GetBucketVersioningInput>,
    ) -> S3Result<S3Response<dto::GetBucketVersioningOutput>> {
        let seen = self.seen("GetBucketVersioning", &req, Some(&req.input.bucket), None);
        let result = versioning::get(&self.store, &self.svm_uuid, &req.input.bucket);
        self.done(seen, 0, result.map(S3Response::new))
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<dto::PutBucketVersioningInput>,
    ) -> S3Result<S3Response<dto::PutBucketVersioningOutput>> {
        let seen = self.seen("PutBucketVersioning", &req, Some(&req.input.bucket), None);
        let input = &req.input;
        let result = versioning::put(
            &self.store,
            &self.svm_uuid,
            &input.bucket,
            &input.versioning_configuration,
        );
        let result = result
            .await
            .map(|()| S3Response::new(dto::PutBucketVersioningOutput {}));
        self.done(seen, 0, result)
    }

    async fn list_objects(
        &self,
        req: S3Request<dto::ListObjectsInput>,
    ) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        self.list_v1(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        self.delete_many(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<dto::CopyObjectInput>,
    ) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        self.copy(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        self.create_multipart(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        self.receive_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<dto::UploadPartCopyInput>,
    ) -> S3Result<S3Response<dto::UploadPartCopyOutput>> {
        self.copy_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        self.complete_multipart(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        self.abort_multipart(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        self.list_uploads(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        self.parts_of_upload(req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<dto::GetObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::GetObjectTaggingOutput>> {
        self.get_tagging(req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<dto::PutObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::PutObjectTaggingOutput>> {
        self.put_tagging(req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<dto::DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectTaggingOutput>> {
        self.delete_tagging(req).await
    }
}

/// The secret of an access key of this SVM's users, while the key has not expired.
pub struct KeyAuth {
    pub store: Arc<Store>,
    pub svm_uuid: String,
    pub sealer: Arc<Sealer>,
}

#[async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let user =
            user_by_access_key(&self.store, &self.svm_uuid, access_key).ok_or_else(|| {
                s3_error!(
                    InvalidAccessKeyId,
                    "The AWS access key Id you provided does not exist in our records."
                )
            })?;
        if let Some(expiry) = user.key_expiry_time.as_deref()
            && chrono::DateTime::parse_from_rfc3339(expiry).is_ok_and(|t| t <= chrono::Utc::now())
        {
            return Err(s3_error!(
                ExpiredToken,
                "The access key of this user has expired."
            ));
        }
        let secret = self
            .sealer
            .unseal(
                &binding(&user.svm_uuid, &user.name, &user.access_key),
                &user.sealed_secret,
            )
            .ok_or_else(|| internal("a stored S3 secret key cannot be unsealed"))?;
        Ok(SecretKey::from(secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[&str]) -> Vec<(String, ObjectMeta)> {
        keys.iter()
            .map(|k| {
                (
                    k.to_string(),
                    ObjectMeta {
                        data: String::new(),
                        size: 0,
                        etag: String::new(),
                        content_type: None,
                        last_modified: String::new(),
                        ..Default::default()
                    },
                )
            })
            .collect()
    }

    fn names(p: &Page<'_>) -> (Vec<String>, Vec<String>, Option<String>) {
        (
            p.objects.iter().map(|(k, _)| k.clone()).collect(),
            p.prefixes.clone(),
            p.next.clone(),
        )
    }

    #[test]
    fn pages_with_delimiter_and_marker() {
        let all = objects(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
        let (o, p, n) = names(&list_page(&all, "", Some("/"), None, 1000));
        assert_eq!(o, ["b", "d"]);
        assert_eq!(p, ["a/", "c/"]);
        assert_eq!(n, None);
        let first = list_page(&all, "", Some("/"), None, 2);
        let (o, p, n) = names(&first);
        assert_eq!((o, p), (vec!["b".to_string()], vec!["a/".to_string()]));
        assert_eq!(n.as_deref(), Some("b"));
        let (o, p, n) = names(&list_page(&all, "", Some("/"), Some("b"), 2));
        assert_eq!((o, p), (vec!["d".to_string()], vec!["c/".to_string()]));
        assert_eq!(n, None);
        // A marker that is a common prefix skips what it rolled up.
        let (o, p, _) = names(&list_page(&all, "", Some("/"), Some("a/"), 1000));
        assert_eq!(o, ["b", "d"]);
        assert_eq!(p, ["c/"]);
        let c = objects(&["c/x/1", "c/y"]);
        let (o, p, _) = names(&list_page(&c, "c/", Some("/"), None, 1000));
        assert_eq!((o, p), (vec!["c/y".to_string()], vec!["c/x/".to_string()]));
        let (o, _, n) = names(&list_page(&all, "", None, None, 3));
        assert_eq!(o, ["a/1", "a/2", "b"]);
        assert_eq!(n.as_deref(), Some("b"));
        assert_eq!(decode_token(&encode_token("k/é")).unwrap(), "k/é");
    }
}
