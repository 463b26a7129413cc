//! Vigil's S3 server domain model, shared by the REST API (`/api/protocols/s3/...`)
//! and the S3 data path. It holds no HTTP types and does no I/O.
//!
//! * [`model`]: the stored documents of a service, a bucket and a user, and the kinds
//!   they are stored under.
//! * [`names`]: ONTAP's rules for server, bucket and user names.
//! * [`policy`], [`policy_json`]: named policies, groups and bucket policies, the
//!   rule that decides a request, and S3's JSON spelling of a bucket policy.
//! * [`keypath`]: where an object key lives below a bucket's directory, refusing keys
//!   that could reach outside it.

pub mod keypath;
pub mod model;
pub mod names;
pub mod policy;
pub mod policy_json;
