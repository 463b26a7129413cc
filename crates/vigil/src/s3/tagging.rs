//! Object tags: the tag set S3 keeps with an object (`x-amz-tagging` on PUT, copy and
//! CreateMultipartUpload; Get/Put/DeleteObjectTagging), stored in the object's
//! metadata file so it survives restarts and goes with the object. S3's limits: at
//! most 10 tags, keys of 1 to 128 and values of at most 256 characters, keys unique.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use s3model::keypath::KeyPath;
use s3s::dto;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::door::{Door, blocking, key_error};

pub type Tags = BTreeMap<String, String>;

const MAX_TAGS: usize = 10;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

fn check(pairs: Vec<(String, String)>) -> S3Result<Tags> {
    if pairs.len() > MAX_TAGS {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("BadRequest".into()),
            "Object tags cannot be greater than 10",
        );
        e.set_status_code(StatusCode::BAD_REQUEST);
        return Err(e);
    }
    let mut tags = Tags::new();
    for (k, v) in pairs {
        let klen = k.chars().count();
        if klen == 0 || klen > MAX_KEY_CHARS {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid"
            ));
        }
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is invalid"
            ));
        }
        if tags.insert(k, v).is_some() {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(tags)
}

/// The `x-amz-tagging` header: URL-encoded `key=value&...`.
pub fn parse_header(value: &str) -> S3Result<Tags> {
    check(
        form_urlencoded::parse(value.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

fn from_dto(tagging: dto::Tagging) -> S3Result<Tags> {
    check(
        tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect(),
    )
}

pub fn to_dto(tags: &Tags) -> Vec<dto::Tag> {
    tags.iter()
        .map(|(k, v)| dto::Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// `x-amz-tagging-count` of a GET.
pub fn count(tags: &Tags) -> Option<i32> {
    (!tags.is_empty()).then_some(tags.len() as i32)
}

impl Door {
    /// Sets (or, with `None`, reads) the tags of an object; its tags afterwards.
    async fn retag(&self, bucket: &str, key: &str, tags: Option<Tags>) -> S3Result<Tags> {
        let key = KeyPath::parse(key).map_err(key_error)?;
        let (_, dir) = self.bucket(bucket)?;
        let meta = blocking(move || match tags {
            Some(tags) => dir.update_meta(&key, |m| m.tags = tags),
            None => dir.meta(&key),
        })
        .await?;
        meta.map(|m| m.tags)
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }

    pub(super) async fn get_tagging(
        &self,
        req: S3Request<dto::GetObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::GetObjectTaggingOutput>> {
        let i = &req.input;
        let seen = self.seen("GetObjectTagging", &req, Some(&i.bucket), Some(&i.key));
        let result = self.retag(&i.bucket, &i.key, None).await.map(|tags| {
            S3Response::new(dto::GetObjectTaggingOutput {
                tag_set: to_dto(&tags),
                version_id: None,
            })
        });
        self.done(seen, 0, result)
    }

    pub(super) async fn put_tagging(
        &self,
        req: S3Request<dto::PutObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::PutObjectTaggingOutput>> {
        let seen = self.seen(
            "PutObjectTagging",
            &req,
            Some(&req.input.bucket),
            Some(&req.input.key),
        );
        let i = req.input;
        let result = async {
            let tags = from_dto(i.tagging)?;
            self.retag(&i.bucket, &i.key, Some(tags)).await?;
            Ok(S3Response::new(dto::PutObjectTaggingOutput::default()))
        }
        .await;
        self.done(seen, 0, result)
    }

    pub(super) async fn delete_tagging(
        &self,
        req: S3Request<dto::DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectTaggingOutput>> {
        let i = &req.input;
        let seen = self.seen("DeleteObjectTagging", &req, Some(&i.bucket), Some(&i.key));
        let result = self
            .retag(&i.bucket, &i.key, Some(Tags::new()))
            .await
            .map(|_| S3Response::new(dto::DeleteObjectTaggingOutput::default()));
        self.done(seen, 0, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_limits() {
        let t = parse_header("a=1&b%20c=x%2Fy&empty=").unwrap();
        assert_eq!(t["a"], "1");
        assert_eq!(t["b c"], "x/y");
        assert_eq!(t["empty"], "");
        assert!(parse_header("a=1&a=2").is_err());
        assert!(parse_header("=v").is_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(parse_header(&eleven.join("&")).is_err());
        assert!(parse_header(&format!("{}=v", "k".repeat(129))).is_err());
        assert!(parse_header(&format!("k={}", "v".repeat(257))).is_err());
        assert!(parse_header("").unwrap().is_empty());
    }
}
