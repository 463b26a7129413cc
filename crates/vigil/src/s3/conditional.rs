//! Conditional requests as S3 evaluates them (RFC 7232 order): on GET/HEAD, `If-Match`
//! and `If-Unmodified-Since` fail with 412 and `If-None-Match` and `If-Modified-Since`
//! with 304, a true `If-Match` overrides `If-Unmodified-Since` and a present
//! `If-None-Match` overrides `If-Modified-Since`. The `x-amz-copy-source-if-*` headers
//! of a copy use the same rules but every failure is 412. Writes take `If-None-Match: *`
//! (no object yet) and `If-Match: "etag"`, checked at commit ([`Precondition`]).
//! Dates compare at whole seconds, the precision of HTTP dates.

use s3s::dto::{ETagCondition, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use super::storage::{ObjectMeta, Precondition};

/// The four headers of a read, or of a copy's source.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn seconds(t: &Timestamp) -> Option<i64> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::EpochSeconds, &mut buf).ok()?;
    let text = String::from_utf8(buf).ok()?;
    text.parse::<f64>().ok().map(|s| s.floor() as i64)
}

fn modified_seconds(meta: &ObjectMeta) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&meta.last_modified)
        .ok()
        .map(|t| t.timestamp())
}

fn matches(c: &ETagCondition, meta: &ObjectMeta) -> bool {
    match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == meta.etag,
    }
}

fn failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

impl Conditions<'_> {
    /// `Ok` when the object may be served; 412 or 304 otherwise.
    pub fn check_read(&self, meta: &ObjectMeta) -> S3Result<()> {
        self.check(meta, false)
    }

    /// The same for the source of a copy, where every failure is 412.
    pub fn check_copy_source(&self, meta: &ObjectMeta) -> S3Result<()> {
        self.check(meta, true)
    }

    fn check(&self, meta: &ObjectMeta, copy: bool) -> S3Result<()> {
        let modified = modified_seconds(meta);
        let after = |t: &Timestamp| match (modified, seconds(t)) {
            (Some(m), Some(t)) => m > t,
            _ => false,
        };
        match (self.if_match, self.if_unmodified_since) {
            (Some(c), _) if !matches(c, meta) => return Err(failed()),
            (None, Some(t)) if after(t) => return Err(failed()),
            _ => {}
        }
        let not_modified = match (self.if_none_match, self.if_modified_since) {
            (Some(c), _) => matches(c, meta),
            (None, Some(t)) => !after(t),
            (None, None) => false,
        };
        if not_modified {
            return Err(if copy {
                failed()
            } else {
                S3Error::with_message(S3ErrorCode::NotModified, "Not Modified")
            });
        }
        Ok(())
    }
}

/// What a conditional PUT or CompleteMultipartUpload requires of the object it replaces.
pub fn write_precondition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<Precondition> {
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidArgument,
            "If-Match and If-None-Match cannot both be given on a write."
        )),
        (None, Some(ETagCondition::Any)) => Ok(Precondition::Absent),
        (None, Some(ETagCondition::ETag(_))) => Err(s3_error!(
            NotImplemented,
            "A write supports If-None-Match only with the value *."
        )),
        (Some(ETagCondition::ETag(e)), None) => Ok(Precondition::ETag(e.value().to_string())),
        (Some(ETagCondition::Any), None) => Err(s3_error!(
            NotImplemented,
            "A write supports If-Match only with an ETag."
        )),
        (None, None) => Ok(Precondition::None),
    }
}

/// The error of a write whose precondition does not hold.
pub fn write_refused() -> S3Error {
    failed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::ETag;
    use std::time::{Duration, SystemTime};

    fn meta_at(t: SystemTime) -> ObjectMeta {
        ObjectMeta {
            etag: "abc".into(),
            last_modified: chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339(),
            ..Default::default()
        }
    }

    fn code(r: S3Result<()>) -> Option<S3ErrorCode> {
        r.err().map(|e| e.code().clone())
    }

    #[test]
    fn read_rules() {
        let now = SystemTime::now();
        let m = meta_at(now);
        let same = ETagCondition::ETag(ETag::Strong("abc".into()));
        let other = ETagCondition::ETag(ETag::Strong("xyz".into()));
        let before = Timestamp::from(now - Duration::from_secs(3600));
        let later = Timestamp::from(now + Duration::from_secs(3600));
        let c = |im, inm, ims, ius| Conditions {
            if_match: im,
            if_none_match: inm,
            if_modified_since: ims,
            if_unmodified_since: ius,
        };
        assert_eq!(code(c(Some(&same), None, None, None).check_read(&m)), None);
        assert_eq!(
            code(c(Some(&other), None, None, None).check_read(&m)),
            Some(S3ErrorCode::PreconditionFailed)
        );
        assert_eq!(
            code(c(None, Some(&same), None, None).check_read(&m)),
            Some(S3ErrorCode::NotModified)
        );
        assert_eq!(code(c(None, Some(&other), None, None).check_read(&m)), None);
        assert_eq!(
            code(c(None, None, Some(&later), None).check_read(&m)),
            Some(S3ErrorCode::NotModified)
        );
        assert_eq!(
            code(c(None, None, Some(&before), None).check_read(&m)),
            None
        );
        assert_eq!(
            code(c(None, None, None, Some(&before)).check_read(&m)),
            Some(S3ErrorCode::PreconditionFailed)
        );
        // A true If-Match overrides a false If-Unmodified-Since; a non-matching
        // If-None-Match overrides a false If-Modified-Since.
        assert_eq!(
            code(c(Some(&same), None, None, Some(&before)).check_read(&m)),
            None
        );
        assert_eq!(
            code(c(None, Some(&other), Some(&later), None).check_read(&m)),
            None
        );
        assert_eq!(
            code(c(None, Some(&same), None, None).check_copy_source(&m)),
            Some(S3ErrorCode::PreconditionFailed)
        );
        assert_eq!(
            write_precondition(None, Some(&ETagCondition::Any)).unwrap(),
            Precondition::Absent
        );
    }
}
