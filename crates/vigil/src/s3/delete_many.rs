//! DeleteObjects: up to 1000 keys in one request, each deleted as DeleteObject does
//! (a missing key counts as deleted, as in S3). A key that cannot be deleted is
//! reported in `<Error>` and the others still go; `<Quiet>` leaves out the successes.

use s3model::keypath::KeyPath;
use s3s::dto;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::door::{Door, blocking, key_error};

const MAX_DELETE: usize = 1000;

impl Door {
    pub(super) async fn delete_many(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        let i = &req.input;
        let seen = self.seen("DeleteObjects", &req, Some(&i.bucket), None);
        let result = async {
            let (_, dir) = self.bucket(&i.bucket)?;
            let objects = &i.delete.objects;
            if objects.is_empty() || objects.len() > MAX_DELETE {
                return Err(s3_error!(
                    MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema"
                ));
            }
            let quiet = i.delete.quiet.unwrap_or(false);
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for object in objects {
                let outcome = match KeyPath::parse(&object.key).map_err(key_error) {
                    Ok(key) => {
                        let d = dir.clone();
                        blocking(move || d.delete(&key)).await.map(|_| ())
                    }
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) if quiet => {}
                    Ok(()) => deleted.push(dto::DeletedObject {
                        key: Some(object.key.clone()),
                        ..Default::default()
                    }),
                    Err(e) => errors.push(dto::Error {
                        code: Some(e.code().as_str().to_string()),
                        key: Some(object.key.clone()),
                        message: e.message().map(String::from),
                        version_id: None,
                    }),
                }
            }
            Ok(S3Response::new(dto::DeleteObjectsOutput {
                deleted: Some(deleted),
                errors: (!errors.is_empty()).then_some(errors),
                ..Default::default()
            }))
        }
        .await;
        self.done(seen, 0, result)
    }
}
