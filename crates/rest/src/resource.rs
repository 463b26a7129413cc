//! What a resource declares and implements; everything else comes from the core.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{ApiError, ApiResult, Code};
use crate::jobs::JobWork;
use crate::record::Record;
use crate::schema::Schema;

/// Path captures (`svm.uuid` → value), percent-decoded.
pub type Keys = BTreeMap<String, String>;
/// Query parameters a resource declared for itself (e.g. `force`, `action`).
pub type Params = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Readonly,
    Vsadmin,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// The owning SVM `(uuid, name)` of an SVM-scoped account.
    pub svm: Option<(String, String)>,
}

/// Per-request context handed to resources.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub principal: Principal,
    pub request_id: String,
}

/// What an SVM administrator may do with a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VsadminAccess {
    None,
    Read,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

pub struct ResourceDef {
    /// Collection path template, e.g. `/api/protocols/vscan/{svm.uuid}/scanner-pools`.
    pub collection: Option<&'static str>,
    /// Instance path template, e.g. `/api/protocols/vscan/{svm.uuid}/scanner-pools/{name}`.
    pub instance: Option<&'static str>,
    pub schema: Schema,
    pub post: bool,
    pub patch: bool,
    pub delete: bool,
    /// Operations ONTAP runs as jobs (202 + job unless done within `return_timeout`).
    pub async_ops: &'static [Method],
    /// Dotted path of the owning SVM's uuid in a record (`svm.uuid`, or `uuid` for SVMs).
    pub svm_field: Option<&'static str>,
    pub vsadmin: VsadminAccess,
    /// Extra query parameters accepted per method.
    pub params: &'static [(Method, &'static str)],
    /// A PATCH may carry an empty body when one of these parameters is given.
    pub patch_actions: &'static [&'static str],
    /// Members any caller may PATCH on its own account (the instance whose `name` key
    /// is its login name), whatever its role: a user changes its own password.
    pub self_patch: &'static [&'static str],
    /// `order_by` applied when the request gives none, for collections without a
    /// unique key (events); paging then continues by offset.
    pub default_order: Option<&'static str>,
}

impl ResourceDef {
    pub fn new(schema: Schema) -> ResourceDef {
        ResourceDef {
            collection: None,
            instance: None,
            schema,
            post: false,
            patch: false,
            delete: false,
            async_ops: &[],
            svm_field: None,
            vsadmin: VsadminAccess::None,
            params: &[],
            patch_actions: &[],
            self_patch: &[],
            default_order: None,
        }
    }

    /// One object per key with the same path for POST and the instance
    /// (`/api/protocols/audit/{svm.uuid}/object-store`): `*` as the key is the collection.
    pub fn keyed_singleton(&self) -> bool {
        self.collection.is_some() && self.collection == self.instance
    }

    pub fn is_async(&self, m: Method) -> bool {
        self.async_ops.contains(&m)
    }

    pub fn accepts_param(&self, m: Method, name: &str) -> bool {
        self.params.iter().any(|(pm, p)| *pm == m && *p == name)
    }
}

/// The outcome of a write: finished now, or work to run as a job.
pub enum Work {
    Done,
    Job(JobWork),
    /// Finished now, answered with this body instead of `{}`: the one place a secret
    /// made by the write is shown (S3 user keys, `{num_records, records}`).
    Reply(serde_json::Value),
}

/// A created object: its record (at least its key fields) and any remaining work.
pub struct Created {
    pub record: Value,
    pub work: Work,
}

/// What a collection GET asks for, so a resource with many records (an events table)
/// can narrow its lookup. The core still applies filters, order and paging itself: a
/// resource may return more records than asked, never fewer.
pub struct ListHints<'a> {
    pub filters: &'a [crate::query::Filter],
    pub order: &'a [crate::query::OrderKey],
    /// The records from the start of the filtered, ordered result that the page needs
    /// (offset + max_records + 1). Only a resource that applies every filter and the
    /// order exactly may stop there; `None` when the request pages by key.
    pub window: Option<usize>,
    /// The top-level members the request reads from the records (returned, filtered,
    /// ordered on, path keys); `None` for all. A resource may leave out a member not
    /// named here, so that what costs to compute (ONTAP's expensive fields) is only
    /// computed when asked for.
    pub members: Option<&'a [&'a str]>,
}

impl ListHints<'static> {
    /// No narrowing: every record, complete.
    pub const ALL: ListHints<'static> = ListHints {
        filters: &[],
        order: &[],
        window: None,
        members: None,
    };
}

impl ListHints<'_> {
    /// Whether the request reads the top-level member `name`.
    pub fn wants(&self, name: &str) -> bool {
        self.members.is_none_or(|m| m.contains(&name))
    }
}

#[async_trait]
pub trait Resource: Send + Sync + 'static {
    fn def(&self) -> &ResourceDef;

    /// Every record below the path captures `keys`, as complete API objects. The core
    /// filters, sorts, pages, projects and adds `_links.self`; a resource may use
    /// `keys` to narrow its own lookup. A record built fresh converts with
    /// `Record::from(value)`; a stored document is better shared than copied (see
    /// [`Record`]).
    async fn list(&self, ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>>;

    /// [`list`](Self::list) for a collection GET, with what the query asks for.
    async fn list_hinted(
        &self,
        ctx: &Ctx,
        keys: &Keys,
        _hints: &ListHints<'_>,
    ) -> ApiResult<Vec<Record>> {
        self.list(ctx, keys).await
    }

    /// The error for an instance path whose lookup found nothing; `None` keeps the
    /// generic 404 (code 4). For resources whose absence has its own ONTAP code.
    fn missing(&self, _keys: &Keys, _method: Method) -> Option<ApiError> {
        None
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        _keys: &Keys,
        _body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        Err(unsupported())
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        _record: &Value,
        _body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        Err(unsupported())
    }

    async fn remove(&self, _ctx: &Ctx, _record: &Value, _params: &Params) -> ApiResult<Work> {
        Err(unsupported())
    }
}

fn unsupported() -> ApiError {
    ApiError::new(
        Code::NotSupported,
        "The operation is not supported on this resource.",
    )
}
