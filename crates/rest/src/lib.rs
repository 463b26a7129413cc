//! ONTAP's REST conventions as a reusable layer: a resource declares its schema and
//! implements list/create/modify/remove; fields, filters, ordering, paging, errors,
//! jobs, RBAC and OpenAPI come from here.

pub mod api;
pub mod dotted;
pub mod duration;
pub mod error;
pub mod fields;
pub mod jobs;
pub mod query;
pub mod record;
pub mod resource;
pub mod response;
pub mod schema;

pub use api::{Api, Authenticator};
pub use error::{ApiError, ApiResult, Code};
pub use jobs::Jobs;
pub use record::Record;
pub use resource::{
    Created, Ctx, Keys, ListHints, Method, Params, Principal, Resource, ResourceDef, Role,
    VsadminAccess, Work,
};
pub use schema::Schema;
