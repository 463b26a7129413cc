//! The dispatcher: turns an HTTP request into resource calls with ONTAP's conventions
//! (path keys, `fields`, filters, `order_by`, paging, jobs, RBAC, errors).

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method as HttpMethod, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult, Code};
use crate::fields::{Links, Projection, Selection, write_json};
use crate::jobs::{Jobs, is_terminal, job_link};
use crate::query::{Filter, OrderKey, compare_records, parse_order_by, sort_records};
use crate::record::{Members, Record, key_text};
use crate::resource::{
    Created, Ctx, Keys, ListHints, Method, Params, Principal, Resource, Role, VsadminAccess, Work,
};
use crate::response::{
    COMPONENT, HAL_JSON, body_response, encode_key, json_response_as, strip_links,
};
use crate::schema::WriteOp;

/// Checks credentials; implemented by the accounts module of the binary.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// `None` when the credentials are missing or wrong (answered with 401).
    async fn authenticate(&self, headers: &HeaderMap) -> Option<Principal>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Collection,
    Instance,
}

#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    Key(String),
}

struct Route {
    /// The path template as the resource declared it (the metrics' `route` label).
    template: &'static str,
    segs: Vec<Seg>,
    kind: Kind,
    resource: Arc<dyn Resource>,
    /// The resource's instance path template, parsed once for `_links.self`.
    instance: Option<Vec<Seg>>,
}

pub struct Api {
    routes: Vec<Route>,
    jobs: Arc<Jobs>,
    auth: Arc<dyn Authenticator>,
    body_limit: usize,
    info: Value,
}

/// [`Api::route_template`] of a path that no route takes.
pub const UNMATCHED: &str = "unmatched";

const MAX_RECORDS_DEFAULT: usize = 10_000;
const RESERVED: &[&str] = &[
    "fields",
    "max_records",
    "return_records",
    "return_timeout",
    "order_by",
    "$orderBy",
    "ignore_unknown_fields",
    "pretty",
    "offset",
];

fn parse_template(template: &str) -> Vec<Seg> {
    template
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(key) => Seg::Key(key.to_string()),
                None => Seg::Lit(s.to_string()),
            },
        )
        .collect()
}

/// Builds a path from a template and a record's key values, encoding each key.
pub fn instance_href<M: Members + ?Sized>(template: &str, record: &M) -> Option<String> {
    href_of(&parse_template(template), record)
}

fn href_of<M: Members + ?Sized>(template: &[Seg], record: &M) -> Option<String> {
    let mut out = String::new();
    write_href(&mut out, template, record).then_some(out)
}

/// Appends [`instance_href`] to `out`, so that a collection response can reuse one
/// buffer for every record's href; `false` (with `out` partly written) when the
/// record lacks one of the template's keys.
fn write_href<M: Members + ?Sized>(out: &mut String, template: &[Seg], record: &M) -> bool {
    for seg in template {
        out.push('/');
        match seg {
            Seg::Lit(s) => out.push_str(s),
            Seg::Key(key) => {
                let Some(value) = key_text(record, key) else {
                    return false;
                };
                out.extend(percent_encoding::utf8_percent_encode(&value, COMPONENT));
            }
        }
    }
    true
}

fn decode(s: &str, plus_is_space: bool) -> ApiResult<String> {
    let s = if plus_is_space {
        s.replace('+', " ")
    } else {
        s.to_string()
    };
    percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            ApiError::new(
                Code::InvalidValue,
                "The URL contains percent-encoded bytes that are not UTF-8.",
            )
        })
}

/// A parsed request, before it reaches a resource.
struct Request {
    method: HttpMethod,
    path: String,
    raw_query: Option<String>,
    query: Vec<(String, String)>,
    segments: Vec<String>,
    json_only: bool,
    body: Bytes,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn self_href(&self) -> String {
        match &self.raw_query {
            Some(q) if !q.is_empty() => format!("{}?{}", self.path, q),
            _ => self.path.clone(),
        }
    }
}

pub struct ApiBuilder {
    routes: Vec<Route>,
}

impl ApiBuilder {
    pub fn register(mut self, resource: Arc<dyn Resource>) -> ApiBuilder {
        let def = resource.def();
        // A keyed singleton serves POST and the instance on one path: one route does.
        if let Some(c) = def.collection.filter(|_| !def.keyed_singleton()) {
            self.routes.push(Route {
                template: c,
                segs: parse_template(c),
                kind: Kind::Collection,
                resource: Arc::clone(&resource),
                instance: def.instance.map(parse_template),
            });
        }
        if let Some(i) = def.instance {
            self.routes.push(Route {
                template: i,
                segs: parse_template(i),
                kind: Kind::Instance,
                resource: Arc::clone(&resource),
                instance: Some(parse_template(i)),
            });
        }
        self
    }

    /// `info` is the OpenAPI `info` object.
    pub fn build(
        self,
        jobs: Arc<Jobs>,
        auth: Arc<dyn Authenticator>,
        body_limit: usize,
        info: Value,
    ) -> Api {
        Api {
            routes: self.routes,
            jobs,
            auth,
            body_limit,
            info,
        }
    }
}

impl Api {
    pub fn builder() -> ApiBuilder {
        ApiBuilder { routes: Vec::new() }
    }

    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }

    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The template of the route `path` takes (`/api/svm/svms/{uuid}`), whoever asks and
    /// whatever the answer; [`UNMATCHED`] for a path no route takes. Metrics label
    /// requests with it: a bounded set, unlike raw paths.
    pub fn route_template(&self, path: &str) -> &'static str {
        const OPENAPI: &str = "/api/openapi.json";
        // Every request pays for this: a path without escapes, `+` or dot segments is
        // split in place, as `split_path` would split it.
        let decoded;
        let segments: Vec<&str> = if path.contains(['%', '+']) || path.contains("/.") {
            let Ok(d) = split_path(path) else {
                return UNMATCHED;
            };
            decoded = d;
            decoded.iter().map(String::as_str).collect()
        } else {
            path.split('/').filter(|s| !s.is_empty()).collect()
        };
        if segments == ["api", "openapi.json"] {
            return OPENAPI;
        }
        let mut best: Option<(usize, &'static str)> = None;
        'routes: for route in &self.routes {
            if route.segs.len() != segments.len() {
                continue;
            }
            let mut literals = 0;
            for (seg, actual) in route.segs.iter().zip(&segments) {
                match seg {
                    Seg::Lit(l) if l == actual => literals += 1,
                    Seg::Lit(_) => continue 'routes,
                    Seg::Key(_) => {}
                }
            }
            if best.is_none_or(|(n, _)| literals > n) {
                best = Some((literals, route.template));
            }
        }
        best.map_or(UNMATCHED, |(_, t)| t)
    }

    /// Answers one HTTP request. Never panics on input; every failure is an ONTAP error.
    pub async fn handle(
        &self,
        method: HttpMethod,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: Result<Bytes, usize>,
        request_id: &str,
    ) -> Response {
        let principal = self.auth.authenticate(headers).await;
        self.handle_for(principal, method, uri, headers, body, request_id)
            .await
    }

    /// [`Api::handle`] for a caller another door has already authenticated (the web
    /// console's session): the same routes, RBAC and errors as a REST client gets.
    pub async fn handle_as(
        &self,
        principal: Principal,
        method: HttpMethod,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: Result<Bytes, usize>,
        request_id: &str,
    ) -> Response {
        self.handle_for(Some(principal), method, uri, headers, body, request_id)
            .await
    }

    async fn handle_for(
        &self,
        principal: Option<Principal>,
        method: HttpMethod,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: Result<Bytes, usize>,
        request_id: &str,
    ) -> Response {
        let json_only = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| {
                a.split(',')
                    .any(|t| t.trim().starts_with("application/json"))
                    && !a.contains("hal+json")
            });
        let head = method == HttpMethod::HEAD;
        let mut response = match self
            .handle_inner(principal, method, uri, body, json_only, request_id)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                if e.code == Code::Internal {
                    tracing::error!(error = %e, "internal error");
                }
                let mut r = json_response_as(e.status(), &e.body(), content_type(json_only));
                if e.status() == StatusCode::UNAUTHORIZED {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"vigil\""),
                    );
                }
                if let Some(allow) = e
                    .allow
                    .as_deref()
                    .and_then(|a| HeaderValue::from_str(a).ok())
                {
                    r.headers_mut().insert(header::ALLOW, allow);
                }
                r
            }
        };
        if let Ok(v) = HeaderValue::from_str(request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
        if head {
            *response.body_mut() = Body::empty();
        }
        response
    }

    async fn handle_inner(
        &self,
        principal: Option<Principal>,
        method: HttpMethod,
        uri: &axum::http::Uri,
        body: Result<Bytes, usize>,
        json_only: bool,
        request_id: &str,
    ) -> ApiResult<Response> {
        let Some(principal) = principal else {
            return Err(ApiError::new(
                Code::Unauthenticated,
                "Authentication failed: a valid user name and password are required.",
            ));
        };
        let body = body.map_err(|limit| {
            ApiError::new(
                Code::JsonUnknown,
                format!("The request body exceeds the limit of {limit} bytes."),
            )
        })?;
        let segments = split_path(uri.path())?;
        let path = format!(
            "/{}",
            segments
                .iter()
                .map(|s| encode_key(s))
                .collect::<Vec<_>>()
                .join("/")
        );
        let mut query = Vec::new();
        if let Some(q) = uri.query() {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                query.push((decode(k, true)?, decode(v, true)?));
            }
        }
        let req = Request {
            method,
            path,
            raw_query: uri.query().map(str::to_string),
            query,
            segments,
            json_only,
            body,
        };
        let ctx = Ctx {
            principal,
            request_id: request_id.to_string(),
        };

        if req.segments == ["api", "openapi.json"] {
            return match req.method {
                HttpMethod::GET | HttpMethod::HEAD => {
                    Ok(self.reply(&req, StatusCode::OK, self.openapi()))
                }
                _ => Err(method_not_allowed(&req, "GET, HEAD")),
            };
        }

        let (route, keys) = self.route(&req)?;
        let def = route.resource.def();
        let allow = allow_header(route);
        let method = match req.method {
            HttpMethod::GET | HttpMethod::HEAD => Method::Get,
            HttpMethod::POST => Method::Post,
            HttpMethod::PATCH => Method::Patch,
            HttpMethod::DELETE => Method::Delete,
            HttpMethod::OPTIONS => {
                let mut r = self.reply(&req, StatusCode::OK, json!({}));
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    r.headers_mut().insert(header::ALLOW, v);
                }
                return Ok(r);
            }
            _ => return Err(method_not_allowed(&req, &allow)),
        };
        let star = keys.values().any(|v| v == "*");
        let supported = match (route.kind, method) {
            (_, Method::Get) => true,
            (Kind::Collection, Method::Post) => def.post,
            (Kind::Instance, Method::Post) => def.post && def.keyed_singleton(),
            (_, Method::Patch) => def.patch && !star_instance_of_collection(route, star),
            (_, Method::Delete) => def.delete && !star_instance_of_collection(route, star),
        };
        if !supported {
            return Err(method_not_allowed(&req, &allow));
        }
        if let Err(e) = authorize(&ctx.principal, def, method, &keys) {
            if !own_account_patch(&ctx.principal, def, method, &keys, route.kind) {
                return Err(e);
            }
            // Only what a user may change on its own account (its password).
            let body = def
                .schema
                .expand_dotted(self.body(&req)?, WriteOp::Modify)?;
            let own = body.as_object().is_some_and(|m| {
                m.keys()
                    .all(|k| k == "_links" || def.self_patch.contains(&k.as_str()))
            });
            if !own {
                return Err(e);
            }
        }
        if method == Method::Get
            && !req.body.is_empty()
            && req.body.iter().any(|b| !b.is_ascii_whitespace())
        {
            return Err(ApiError::new(
                Code::BodyNotAllowed,
                "A request body is not allowed on GET or HEAD.",
            ));
        }
        let collection_form = route.kind == Kind::Collection || star;
        match (collection_form, method) {
            (true, Method::Get) => self.get_collection(&req, &ctx, route, &keys).await,
            (false, Method::Get) => self.get_instance(&req, &ctx, route, &keys).await,
            (_, Method::Post) => self.post(&req, &ctx, route, &keys).await,
            (false, Method::Patch | Method::Delete) => {
                self.write_instance(&req, &ctx, route, &keys, method).await
            }
            (true, Method::Patch | Method::Delete) => {
                self.write_collection(&req, &ctx, route, &keys, method)
                    .await
            }
        }
    }

    fn reply(&self, req: &Request, status: StatusCode, mut body: Value) -> Response {
        if req.json_only {
            // A job reference keeps its link even then: clients (Ansible's restit)
            // follow `job._links.self.href` to wait for the job.
            let job_links = body.get("job").and_then(|j| j.get("_links")).cloned();
            strip_links(&mut body, true);
            if let (Some(links), Some(Value::Object(job))) = (job_links, body.get_mut("job")) {
                job.insert("_links".into(), links);
            }
        }
        json_response_as(status, &body, content_type(req.json_only))
    }

    /// Like [`reply`](Self::reply) for a body `write` puts straight into the response
    /// buffer, already without `_links` for `req.json_only`.
    fn reply_with(
        &self,
        req: &Request,
        status: StatusCode,
        size_hint: usize,
        write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
    ) -> ApiResult<Response> {
        let mut out = Vec::with_capacity(size_hint);
        write(&mut out)
            .map_err(|e| ApiError::internal(format!("Cannot write the response: {e}")))?;
        Ok(body_response(status, out, content_type(req.json_only)))
    }

    /// The route a path takes. A literal segment beats a key, so
    /// `/api/protocols/vscan/server-status` is never read as an SVM uuid.
    fn route(&self, req: &Request) -> ApiResult<(&Route, Keys)> {
        let mut best: Option<(usize, &Route, Keys)> = None;
        'routes: for route in &self.routes {
            if route.segs.len() != req.segments.len() {
                continue;
            }
            let mut keys = Keys::new();
            let mut literals = 0;
            for (seg, actual) in route.segs.iter().zip(&req.segments) {
                match seg {
                    Seg::Lit(l) if l == actual => literals += 1,
                    Seg::Lit(_) => continue 'routes,
                    Seg::Key(k) => {
                        keys.insert(k.clone(), actual.clone());
                    }
                }
            }
            if best.as_ref().is_none_or(|(n, _, _)| literals > *n) {
                best = Some((literals, route, keys));
            }
        }
        best.map(|(_, route, keys)| (route, keys))
            .ok_or_else(|| ApiError::new(Code::ApiNotFound, "API not found"))
    }

    /// Records under the path keys that the caller may see, before query filters.
    /// Their `_links.self` is added where they are answered ([`with_links`],
    /// [`self_link`]), not to every record listed.
    async fn visible(&self, ctx: &Ctx, route: &Route, keys: &Keys) -> ApiResult<Vec<Record>> {
        self.visible_hinted(ctx, route, keys, None).await
    }

    async fn visible_hinted(
        &self,
        ctx: &Ctx,
        route: &Route,
        keys: &Keys,
        hints: Option<&ListHints<'_>>,
    ) -> ApiResult<Vec<Record>> {
        let def = route.resource.def();
        let mut records = match hints {
            Some(h) => route.resource.list_hinted(ctx, keys, h).await?,
            None => route.resource.list(ctx, keys).await?,
        };
        records.retain(|r| {
            keys.iter()
                .all(|(k, v)| v == "*" || key_text(r, k).as_deref() == Some(v.as_str()))
        });
        if let (Some((own, _)), Some(field)) = (&ctx.principal.svm, def.svm_field) {
            records.retain(|r| key_text(r, field).as_deref() == Some(own.as_str()));
        }
        Ok(records)
    }

    /// Splits the query into filters and the resource's own parameters, rejecting
    /// anything else with 262179.
    fn parse_query(
        &self,
        req: &Request,
        route: &Route,
        method: Method,
        filters_allowed: bool,
    ) -> ApiResult<(Vec<Filter>, Params)> {
        let def = route.resource.def();
        let mut filters = Vec::new();
        let mut params = Params::new();
        for (name, value) in &req.query {
            if RESERVED.contains(&name.as_str()) || name.starts_with("start.") {
                continue;
            }
            if def.accepts_param(method, name) {
                params.insert(name.clone(), value.clone());
                continue;
            }
            if def.schema.lookup(name).is_some() {
                if !filters_allowed {
                    return Err(if method == Method::Post {
                        ApiError::new(
                            Code::PostWithFilter,
                            "POST does not support filtering on attributes.",
                        )
                        .with_target(name)
                    } else {
                        ApiError::unexpected_argument(name)
                    });
                }
                filters.push(Filter::parse(name, value, &def.schema)?);
                continue;
            }
            return Err(ApiError::unexpected_argument(name));
        }
        Ok((filters, params))
    }

    fn order_keys(&self, req: &Request, route: &Route) -> ApiResult<(Vec<OrderKey>, bool)> {
        let schema = &route.resource.def().schema;
        match req.param("order_by").or_else(|| req.param("$orderBy")) {
            Some(v) => Ok((parse_order_by(v, schema)?, true)),
            None => {
                if let Some(default) = route.resource.def().default_order {
                    return Ok((parse_order_by(default, schema)?, true));
                }
                let keys = key_paths(route).join(",");
                Ok((
                    if keys.is_empty() {
                        Vec::new()
                    } else {
                        parse_order_by(&keys, schema)?
                    },
                    false,
                ))
            }
        }
    }

    async fn get_collection(
        &self,
        req: &Request,
        ctx: &Ctx,
        route: &Route,
        keys: &Keys,
    ) -> ApiResult<Response> {
        let def = route.resource.def();
        let (filters, _) = self.parse_query(req, route, Method::Get, true)?;
        let max_records = match req.param("max_records") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ApiError::invalid_value("max_records", v))?,
            None => MAX_RECORDS_DEFAULT,
        };
        let return_records = parse_bool_param(req, "return_records", true)?;
        parse_timeout(req, 15)?;
        let ignore_unknown = parse_bool_param(req, "ignore_unknown_fields", false)?;
        let offset = match req.param("offset") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ApiError::invalid_value("offset", v))?,
            None => 0,
        };
        let (order, explicit_order) = self.order_keys(req, route)?;
        let mut selection = match req.param("fields") {
            Some(f) => Selection::parse(f, &def.schema, ignore_unknown)?,
            None => Selection::paths(filters.iter().map(|f| f.path.clone())),
        };
        for p in def
            .schema
            .identity_paths()
            .into_iter()
            .chain(key_paths(route))
        {
            selection.add(&p);
        }

        let projection = selection.compile(&def.schema);
        let members = read_members(
            route,
            keys,
            &filters,
            &order,
            return_records.then_some(&projection),
        );
        let paged_by_key = req.query.iter().any(|(k, _)| k.starts_with("start."));
        let hints = ListHints {
            filters: &filters,
            order: &order,
            window: (!paged_by_key).then(|| offset.saturating_add(max_records).saturating_add(1)),
            members: Some(&members),
        };
        let mut records = self.visible_hinted(ctx, route, keys, Some(&hints)).await?;
        records.retain(|r| filters.iter().all(|f| f.matches(r)));
        sort_records(&mut records, &order);

        let skip = start_skip(req, &def.schema, &records, &order, explicit_order);
        let remaining = records
            .get(skip.saturating_add(offset)..)
            .unwrap_or_default();
        let more = remaining.len() > max_records;
        let page = &remaining[..remaining.len().min(max_records)];

        let next =
            more.then(|| next_href(req, route, page.last(), explicit_order, offset + page.len()));
        let self_href = req.self_href();
        let body = CollectionBody {
            records: return_records.then_some(page),
            num_records: page.len(),
            projection: &projection,
            template: route.instance.as_deref(),
            strip: req.json_only,
            self_href: &self_href,
            next: next.as_deref(),
        };
        // Records of most resources serialize to a few hundred bytes.
        let size_hint = 256 + 256 * page.len();
        let mut response =
            self.reply_with(req, StatusCode::OK, size_hint, |out| body.write(out))?;
        if let Some(href) = next
            && let Ok(v) = HeaderValue::from_str(&format!("<{href}>; rel=\"next\""))
        {
            response.headers_mut().insert(header::LINK, v);
        }
        Ok(response)
    }

    /// The record an instance path names, as one JSON value with its `_links`.
    async fn find(
        &self,
        ctx: &Ctx,
        route: &Route,
        keys: &Keys,
        method: Method,
    ) -> ApiResult<Value> {
        let record = self.find_record(ctx, route, keys, method).await?;
        Ok(with_links(route, &record))
    }

    async fn find_record(
        &self,
        ctx: &Ctx,
        route: &Route,
        keys: &Keys,
        method: Method,
    ) -> ApiResult<Record> {
        let mut records = self.visible(ctx, route, keys).await?;
        if records.len() == 1 {
            return Ok(records.swap_remove(0));
        }
        Err(instance_missing(route, keys, method))
    }

    async fn get_instance(
        &self,
        req: &Request,
        ctx: &Ctx,
        route: &Route,
        keys: &Keys,
    ) -> ApiResult<Response> {
        let def = route.resource.def();
        for (name, _) in &req.query {
            // `max_records` means nothing for one record; readers that page every
            // query (na_ontap_rest_info) send it to instance paths too.
            if !matches!(
                name.as_str(),
                "fields" | "return_timeout" | "ignore_unknown_fields" | "pretty" | "max_records"
            ) {
                return Err(ApiError::unexpected_argument(name));
            }
        }
        let ignore_unknown = parse_bool_param(req, "ignore_unknown_fields", false)?;
        let mut selection = match req.param("fields") {
            Some(f) => Selection::parse(f, &def.schema, ignore_unknown)?,
            None => Selection::standard(),
        };
        for p in def
            .schema
            .identity_paths()
            .into_iter()
            .chain(key_paths(route))
        {
            selection.add(&p);
        }
        let record = self.find_record(ctx, route, keys, Method::Get).await?;
        let href = self_link(route, &record);
        let links = href.as_deref().map_or(Links::Own, Links::SelfHref);
        let projection = selection.compile(&def.schema);
        self.reply_with(req, StatusCode::OK, 1024, |out| {
            projection.write_record(out, &record, links, req.json_only)
        })
    }

    fn body(&self, req: &Request) -> ApiResult<Value> {
        if req.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(json!({}));
        }
        let text = std::str::from_utf8(&req.body).map_err(|e| {
            ApiError::new(
                Code::InvalidJson,
                format!(
                    "The request body is not valid UTF-8 (at byte {}).",
                    e.valid_up_to()
                ),
            )
        })?;
        serde_json::from_str(text).map_err(|e| {
            ApiError::new(
                Code::InvalidJson,
                format!(
                    "Invalid JSON input at line {}, column {}: {e}",
                    e.line(),
                    e.column()
                ),
            )
        })
    }

    async fn post(
        &self,
        req: &Request,
        ctx: &Ctx,
        route: &Route,
        keys: &Keys,
    ) -> ApiResult<Response> {
        let def = route.resource.def();
        let (_, params) = self.parse_query(req, route, Method::Post, false)?;
        let timeout = parse_timeout(req, 0)?;
        let return_records = parse_bool_param(req, "return_records", false)?;
        let mut body = def.schema.expand_dotted(self.body(req)?, WriteOp::Create)?;
        def.schema.validate_body(&body, WriteOp::Create)?;
        scope_body_to_svm(&ctx.principal, def, &mut body)?;
        let Created { record, work } = route.resource.create(ctx, keys, body, &params).await?;
        let location = def.instance.and_then(|t| instance_href(t, &record));
        let description = format!("POST {}", req.path);
        let (status, mut reply) = self
            .finish(
                ctx,
                work,
                def.is_async(Method::Post),
                description,
                timeout,
                StatusCode::CREATED,
            )
            .await?;
        // A reply that already lists records (made keys) keeps them.
        if return_records && reply.get("records").is_none() {
            let fresh = match &location {
                Some(_) => self
                    .find(ctx, route, &record_keys(route, &record), Method::Get)
                    .await
                    .unwrap_or(record),
                None => record,
            };
            reply["num_records"] = json!(1);
            reply["records"] = json!([Selection::standard().project(&fresh, &def.schema)]);
        }
        let mut response = self.reply(req, status, reply);
        if let Some(loc) = location
            && let Ok(v) = HeaderValue::from_str(&loc)
        {
            response.headers_mut().insert(header::LOCATION, v);
        }
        Ok(response)
    }

    /// Runs `work` (as a job when the operation is asynchronous) and picks the status:
    /// 202 while a job runs past `return_timeout`, the job's error if it failed in time.
    async fn finish(
        &self,
        ctx: &Ctx,
        work: Work,
        is_async: bool,
        description: String,
        timeout: Duration,
        done: StatusCode,
    ) -> ApiResult<(StatusCode, Value)> {
        let future = match work {
            Work::Done if !is_async => return Ok((done, json!({}))),
            Work::Reply(body) => return Ok((done, body)),
            Work::Done => Box::pin(async { Ok("success".to_string()) }) as crate::jobs::JobWork,
            Work::Job(f) => f,
        };
        let svm = ctx
            .principal
            .svm
            .as_ref()
            .map(|(uuid, name)| json!({"uuid": uuid, "name": name}));
        let uuid = self.jobs.start(description, svm, future).await?;
        let body = json!({"job": job_link(&uuid)});
        // return_timeout=0 (the default) means "answer 202 at once", even when the job
        // happened to finish before we looked: the status must not depend on timing.
        if timeout.is_zero() {
            return Ok((StatusCode::ACCEPTED, body));
        }
        match self.jobs.wait(&uuid, timeout).await {
            Some(job) if job["state"] == "success" => Ok((done, body)),
            Some(job) if is_terminal(&job) => Err(job_error(&job)),
            _ => Ok((StatusCode::ACCEPTED, body)),
        }
    }

    async fn write_instance(
        &self,
        req: &Request,
        ctx: &Ctx,
        route: &Route,
        keys: &Keys,
        method: Method,
    ) -> ApiResult<Response> {
        let def = route.resource.def();
        // Query terms on an instance URL (`PATCH …/{uuid}?svm.name=vs1`) restate what
        // the instance is: a condition it must meet, or it is not the one meant.
        let (conditions, params) = self.parse_query(req, route, method, true)?;
        let timeout = parse_timeout(req, 0)?;
        let body = self.body(req)?;
        let record = self.find_record(ctx, route, keys, method).await?;
        if !conditions.iter().all(|f| f.matches(&record)) {
            return Err(instance_missing(route, keys, method));
        }
        let record = with_links(route, &record);
        let work = self
            .apply(ctx, route, &record, body, &params, method)
            .await?;
        let description = format!("{} {}", method.as_str(), req.path);
        let (status, reply) = self
            .finish(
                ctx,
                work,
                def.is_async(method),
                description,
                timeout,
                StatusCode::OK,
            )
            .await?;
        Ok(self.reply(req, status, reply))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        route: &Route,
        record: &Value,
        body: Value,
        params: &Params,
        method: Method,
    ) -> ApiResult<Work> {
        let def = route.resource.def();
        match method {
            Method::Patch => {
                let body = def.schema.expand_dotted(body, WriteOp::Modify)?;
                def.schema.validate_body(&body, WriteOp::Modify)?;
                let empty = body
                    .as_object()
                    .is_none_or(|m| m.keys().all(|k| k == "_links"));
                if empty && !def.patch_actions.iter().any(|a| params.contains_key(*a)) {
                    return Err(ApiError::new(
                        Code::NothingToModify,
                        "No values were supplied to modify.",
                    ));
                }
                route.resource.modify(ctx, record, body, params).await
            }
            Method::Delete => {
                let params = delete_params(def, body, params)?;
                route.resource.remove(ctx, record, &params).await
            }
            Method::Get | Method::Post => {
                Err(ApiError::internal("write dispatch on a read method"))
            }
        }
    }

    /// ONTAP's query-based PATCH/DELETE: the matching records one at a time, each job
    /// awaited before the next.
    async fn write_collection(
        &self,
        req: &Request,
        ctx: &Ctx,
        route: &Route,
        keys: &Keys,
        method: Method,
    ) -> ApiResult<Response> {
        let def = route.resource.def();
        let (filters, params) = self.parse_query(req, route, method, true)?;
        if filters.is_empty() {
            return Err(ApiError::new(
                Code::InvalidField,
                format!(
                    "{} on a collection needs at least one query filter to select the records.",
                    method.as_str()
                ),
            ));
        }
        let timeout = parse_timeout(req, 15)?;
        let max_records = match req.param("max_records") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ApiError::invalid_value("max_records", v))?,
            None => usize::MAX,
        };
        let offset = match req.param("offset") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ApiError::invalid_value("offset", v))?,
            None => 0,
        };
        let body = self.body(req)?;
        let (order, explicit_order) = self.order_keys(req, route)?;
        let mut records = self.visible(ctx, route, keys).await?;
        records.retain(|r| filters.iter().all(|f| f.matches(r)));
        sort_records(&mut records, &order);
        let skip = start_skip(req, &def.schema, &records, &order, explicit_order);
        let records = records
            .get(skip.saturating_add(offset)..)
            .unwrap_or_default();
        let more = records.len() > max_records;
        let mut jobs = Vec::new();
        let mut count = 0;
        for record in records.iter().take(max_records) {
            let record = with_links(route, record);
            let work = self
                .apply(ctx, route, &record, body.clone(), &params, method)
                .await?;
            let href = record
                .get("_links")
                .and_then(|l| l["self"]["href"].as_str())
                .unwrap_or(&req.path)
                .to_string();
            let description = format!("{} {}", method.as_str(), href);
            let (_, reply) = self
                .finish(
                    ctx,
                    work,
                    def.is_async(method),
                    description,
                    timeout.max(Duration::from_secs(120)),
                    StatusCode::OK,
                )
                .await?;
            if let Some(job) = reply.get("job") {
                jobs.push(job.clone());
            }
            count += 1;
        }
        let mut reply =
            json!({"num_records": count, "_links": {"self": {"href": req.self_href()}}});
        if more {
            // The client repeats the same method on `next`. Deleted records leave the
            // ordered set, so an offset continuation of a DELETE stays where it was.
            let next_offset = if method == Method::Delete {
                offset
            } else {
                offset + count
            };
            let last = records.get(count.saturating_sub(1));
            reply["_links"]["next"] =
                json!({"href": next_href(req, route, last, explicit_order, next_offset)});
        }
        if !jobs.is_empty() {
            reply["jobs"] = Value::Array(jobs);
        }
        Ok(self.reply(req, StatusCode::OK, reply))
    }

    /// The OpenAPI description, built from the registered schemas.
    pub fn openapi(&self) -> Value {
        let mut paths = Map::new();
        for route in &self.routes {
            let def = route.resource.def();
            let template = route.segs.iter().map(|s| match s {
                Seg::Lit(l) => l.clone(),
                Seg::Key(k) => format!("{{{k}}}"),
            });
            let path = format!("/{}", template.collect::<Vec<_>>().join("/"));
            let schema = def.schema.openapi();
            let params: Vec<Value> = route
                .segs
                .iter()
                .filter_map(|s| match s {
                    Seg::Key(k) => Some(json!({"name": k, "in": "path", "required": true, "schema": {"type": "string"}})),
                    Seg::Lit(_) => None,
                })
                .collect();
            let mut ops = Map::new();
            let error = json!({"description": "ONTAP error", "content": {HAL_JSON: {"schema": {"$ref": "#/components/schemas/error_response"}}}});
            let get = if route.kind == Kind::Collection {
                json!({"parameters": params, "responses": {"200": {"description": "collection", "content": {HAL_JSON: {"schema": {
                    "type": "object", "properties": {"records": {"type": "array", "items": schema}, "num_records": {"type": "integer"}, "_links": {"type": "object"}}}}}}, "default": error}})
            } else {
                json!({"parameters": params, "responses": {"200": {"description": "instance", "content": {HAL_JSON: {"schema": schema}}}, "default": error}})
            };
            ops.insert("get".into(), get);
            let job_reply = json!({"description": "job started", "content": {HAL_JSON: {"schema": {"$ref": "#/components/schemas/job_link_response"}}}});
            let write = |m: Method, ok: &str| {
                let mut responses = json!({ok: {"description": "done"}, "default": error});
                if def.is_async(m) {
                    responses["202"] = job_reply.clone();
                }
                let mut op = json!({"parameters": params, "responses": responses});
                if m != Method::Delete {
                    op["requestBody"] =
                        json!({"content": {"application/json": {"schema": schema}}});
                }
                op
            };
            if (route.kind == Kind::Collection || def.keyed_singleton()) && def.post {
                ops.insert("post".into(), write(Method::Post, "201"));
            }
            if def.patch {
                ops.insert("patch".into(), write(Method::Patch, "200"));
            }
            if def.delete {
                ops.insert("delete".into(), write(Method::Delete, "200"));
            }
            paths.insert(path, Value::Object(ops));
        }
        json!({
            "openapi": "3.0.3",
            "info": self.info,
            "paths": paths,
            "components": {
                "securitySchemes": {"basic_auth": {"type": "http", "scheme": "basic"}},
                "schemas": {
                    "error_response": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                        "message": {"type": "string"}, "code": {"type": "string"}, "target": {"type": "string"}}}}},
                    "job_link_response": {"type": "object", "properties": {"job": {"type": "object", "properties": {
                        "uuid": {"type": "string"}, "_links": {"type": "object"}}}}}
                }
            },
            "security": [{"basic_auth": []}]
        })
    }
}

/// The answer for an instance path that names nothing the caller may see (or, with
/// query terms, nothing that meets them): the resource's own code, else 404 / 4.
fn instance_missing(route: &Route, keys: &Keys, method: Method) -> ApiError {
    if let Some(e) = route.resource.missing(keys, method) {
        return e;
    }
    let target = key_paths(route)
        .last()
        .cloned()
        .unwrap_or_else(|| "uuid".to_string());
    ApiError::not_found(&target)
}

fn content_type(json_only: bool) -> &'static str {
    if json_only {
        "application/json"
    } else {
        HAL_JSON
    }
}

fn method_not_allowed(req: &Request, allow: &str) -> ApiError {
    let mut e = ApiError::new(
        Code::NotSupported,
        format!(
            "The method \"{}\" is not supported on \"{}\".",
            req.method, req.path
        ),
    );
    e.allow = Some(allow.to_string());
    e
}

/// `*` in an instance path of a resource that also has a collection path: ONTAP's
/// collection form, which has no PATCH/DELETE of its own here.
fn star_instance_of_collection(route: &Route, star: bool) -> bool {
    let def = route.resource.def();
    star && route.kind == Kind::Instance && def.collection.is_some() && !def.keyed_singleton()
}

fn allow_header(route: &Route) -> String {
    let def = route.resource.def();
    let mut methods = vec!["GET", "HEAD", "OPTIONS"];
    if (route.kind == Kind::Collection || def.keyed_singleton()) && def.post {
        methods.push("POST");
    }
    if def.patch {
        methods.push("PATCH");
    }
    if def.delete {
        methods.push("DELETE");
    }
    methods.join(", ")
}

fn key_paths(route: &Route) -> Vec<String> {
    let template = route
        .resource
        .def()
        .instance
        .map(parse_template)
        .unwrap_or_default();
    template
        .into_iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k),
            Seg::Lit(_) => None,
        })
        .collect()
}

fn record_keys(route: &Route, record: &Value) -> Keys {
    key_paths(route)
        .into_iter()
        .filter_map(|k| key_text(record, &k).map(|v| (k, v.into_owned())))
        .collect()
}

/// The top-level members a collection GET reads from its records: path keys and the
/// caller's SVM scope, filters, order (`start.*` continues by it too), the instance
/// keys (`_links.self`, `next`) and, when records are returned, their fields and
/// `_links`.
fn read_members<'a>(
    route: &'a Route,
    keys: &'a Keys,
    filters: &'a [Filter],
    order: &'a [OrderKey],
    projection: Option<&'a Projection<'a>>,
) -> Vec<&'a str> {
    let def = route.resource.def();
    let instance_keys = route.instance.iter().flatten().filter_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Lit(_) => None,
    });
    let paths = keys
        .keys()
        .map(String::as_str)
        .chain(def.svm_field)
        .chain(filters.iter().map(|f| f.path.as_str()))
        .chain(order.iter().map(|k| k.path.as_str()))
        .chain(instance_keys);
    let mut members: Vec<&str> = paths
        .filter_map(|p| p.split('.').next())
        .chain(projection.into_iter().flat_map(|p| p.members()))
        .chain(projection.map(|_| "_links"))
        .collect();
    members.sort_unstable();
    members.dedup();
    members
}

/// The `_links.self` href of a listed record, when its resource has instances.
fn self_link(route: &Route, record: &Record) -> Option<String> {
    route
        .instance
        .as_deref()
        .and_then(|template| href_of(template, record))
}

/// A record as one JSON value, with the `_links.self` every answer shows: for the
/// write paths, which hand resources a `Value`.
fn with_links(route: &Route, record: &Record) -> Value {
    let mut value = record.to_value();
    if let (Some(href), Value::Object(map)) = (self_link(route, record), &mut value) {
        map.insert("_links".into(), json!({"self": {"href": href}}));
    }
    value
}

/// A collection GET's body: `records` (projected as they are written),
/// `num_records` and `_links`, in that order.
struct CollectionBody<'a> {
    records: Option<&'a [Record]>,
    num_records: usize,
    projection: &'a Projection<'a>,
    template: Option<&'a [Seg]>,
    /// `Accept: application/json`: no `_links` but the collection's `next`.
    strip: bool,
    self_href: &'a str,
    next: Option<&'a str>,
}

impl CollectionBody<'_> {
    fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.push(b'{');
        if let Some(records) = self.records {
            out.extend_from_slice(br#""records":["#);
            let mut href = String::new();
            for (i, record) in records.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                href.clear();
                let links = match self.template {
                    Some(t) if write_href(&mut href, t, record) => Links::SelfHref(&href),
                    _ => Links::Own,
                };
                self.projection
                    .write_record(out, record, links, self.strip)?;
            }
            out.extend_from_slice(b"],");
        }
        out.extend_from_slice(br#""num_records":"#);
        write_json(out, &self.num_records)?;
        if !self.strip {
            out.extend_from_slice(br#","_links":{"self":{"href":"#);
            write_json(out, self.self_href)?;
            out.push(b'}');
            if let Some(next) = self.next {
                out.extend_from_slice(br#","next":{"href":"#);
                write_json(out, next)?;
                out.push(b'}');
            }
            out.push(b'}');
        } else if let Some(next) = self.next {
            out.extend_from_slice(br#","_links":{"next":{"href":"#);
            write_json(out, next)?;
            out.extend_from_slice(b"}}");
        }
        out.push(b'}');
        Ok(())
    }
}

fn next_href<M: Members + ?Sized>(
    req: &Request,
    route: &Route,
    last: Option<&M>,
    explicit_order: bool,
    next_offset: usize,
) -> String {
    let enc =
        |s: &str| percent_encoding::utf8_percent_encode(s, crate::response::COMPONENT).to_string();
    let mut parts = Vec::new();
    if explicit_order {
        parts.push(format!("offset={next_offset}"));
    } else if let Some(last) = last {
        for key in key_paths(route) {
            if let Some(v) = key_text(last, &key) {
                parts.push(format!("start.{}={}", key, enc(&v)));
            }
        }
    }
    for (k, v) in &req.query {
        if k.starts_with("start.") || k == "offset" {
            continue;
        }
        parts.push(format!("{}={}", enc(k), enc(v)));
    }
    format!("{}?{}", req.path, parts.join("&"))
}

/// How many of the sorted `records` a `start.<key>` continuation skips. The
/// continuation of a default-ordered listing is the key of the last record sent
/// (ONTAP's `start.<key>`), so inserts between pages neither repeat nor skip.
fn start_skip(
    req: &Request,
    schema: &crate::schema::Schema,
    records: &[Record],
    order: &[OrderKey],
    explicit_order: bool,
) -> usize {
    let start: Vec<(String, String)> = req
        .query
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("start.").map(|p| (p.to_string(), v.clone())))
        .collect();
    if start.is_empty() || explicit_order {
        return 0;
    }
    let mut probe = Value::Object(Map::new());
    for (path, value) in &start {
        set_path(&mut probe, path, value, schema);
    }
    records
        .iter()
        .take_while(|r| compare_records(*r, &probe, order) != Ordering::Greater)
        .count()
}

fn set_path(target: &mut Value, path: &str, value: &str, schema: &crate::schema::Schema) {
    let typed = match schema.lookup(path).map(|f| f.scalar_ty()) {
        Some(crate::schema::Ty::Integer) => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value)),
        _ => json!(value),
    };
    let mut cur = target;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Value::Object(map) = cur else { return };
        if i == parts.len() - 1 {
            map.insert((*part).to_string(), typed);
            return;
        }
        cur = map.entry((*part).to_string()).or_insert_with(|| json!({}));
    }
}

fn parse_bool_param(req: &Request, name: &str, default: bool) -> ApiResult<bool> {
    match req.param(name) {
        None => Ok(default),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ApiError::invalid_value(name, v)),
        },
    }
}

fn parse_timeout(req: &Request, default: u64) -> ApiResult<Duration> {
    match req.param("return_timeout") {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= 120)
            .map(Duration::from_secs)
            .ok_or_else(|| ApiError::invalid_value("return_timeout", v)),
    }
}

fn job_error(job: &Value) -> ApiError {
    let code = job["code"]
        .as_u64()
        .and_then(|c| Code::ALL.iter().copied().find(|k| k.code() == c))
        .unwrap_or(Code::Internal);
    ApiError::new(
        code,
        job["message"]
            .as_str()
            .unwrap_or("The job failed.")
            .to_string(),
    )
}

/// Decodes path segments and resolves `.`/`..` (RFC 3986 §5.2.4); trailing slashes
/// and empty segments are dropped.
fn split_path(path: &str) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for raw in path.split('/') {
        match raw {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(decode(raw, true)?),
        }
    }
    Ok(out)
}

/// A PATCH of the caller's own account (an instance whose `name` key is the caller's
/// name) on a resource that lets users change some of their own members.
fn own_account_patch(
    principal: &Principal,
    def: &crate::resource::ResourceDef,
    method: Method,
    keys: &Keys,
    kind: Kind,
) -> bool {
    method == Method::Patch
        && kind == Kind::Instance
        && !def.self_patch.is_empty()
        && keys.get("name") == Some(&principal.name)
}

fn authorize(
    principal: &Principal,
    def: &crate::resource::ResourceDef,
    method: Method,
    keys: &Keys,
) -> ApiResult<()> {
    match principal.role {
        Role::Admin => Ok(()),
        Role::Readonly if method == Method::Get => Ok(()),
        Role::Readonly => Err(ApiError::forbidden()),
        Role::Vsadmin => {
            let allowed = match def.vsadmin {
                VsadminAccess::None => false,
                VsadminAccess::Read => method == Method::Get,
                VsadminAccess::All => true,
            };
            if !allowed {
                return Err(ApiError::forbidden());
            }
            if let (Some(field), Some((own, _))) = (def.svm_field, &principal.svm)
                && let Some(v) = keys.get(field)
                && v != "*"
                && v != own
            {
                return Err(ApiError::forbidden());
            }
            Ok(())
        }
    }
}

/// An SVM administrator's POST is about its own SVM: `svm` defaults to it and naming
/// another SVM is refused.
fn scope_body_to_svm(
    principal: &Principal,
    def: &crate::resource::ResourceDef,
    body: &mut Value,
) -> ApiResult<()> {
    let (Some((own_uuid, own_name)), Some(field)) = (&principal.svm, def.svm_field) else {
        return Ok(());
    };
    let Some(object) = field.strip_suffix(".uuid") else {
        return Ok(());
    };
    if def.schema.lookup(object).is_none_or(|f| !f.access().create) {
        return Ok(());
    }
    let svm = body.get(object).cloned().unwrap_or(Value::Null);
    let uuid_ok = svm
        .get("uuid")
        .and_then(Value::as_str)
        .is_none_or(|u| u == own_uuid);
    let name_ok = svm
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n == own_name);
    if !uuid_ok || !name_ok {
        return Err(ApiError::forbidden());
    }
    if let Value::Object(map) = body {
        map.insert(
            object.to_string(),
            json!({"uuid": own_uuid, "name": own_name}),
        );
    }
    Ok(())
}

/// The parameters of a DELETE. Its body may carry only the parameters the resource
/// declares for DELETE, which ONTAP takes from the body as well as from the query
/// (Ansible's na_ontap_s3_services sends `{"delete_all": false}` as the body); the same
/// parameter in both is refused.
fn delete_params(
    def: &crate::resource::ResourceDef,
    body: Value,
    params: &Params,
) -> ApiResult<Params> {
    let Value::Object(members) = body else {
        return Err(ApiError::new(
            Code::BodyNotAllowed,
            "A request body is not allowed on DELETE.",
        ));
    };
    let mut out = params.clone();
    for (name, value) in members {
        if !def.accepts_param(Method::Delete, &name) {
            return Err(ApiError::new(
                Code::BodyNotAllowed,
                format!(
                    "A request body is not allowed on DELETE, except its parameters: \"{name}\" is not one."
                ),
            )
            .with_target(name));
        }
        if out.contains_key(&name) {
            return Err(ApiError::new(
                Code::SpecifiedTwice,
                format!("\"{name}\" is given both in the query and in the body."),
            )
            .with_target(name));
        }
        let text = match value {
            Value::String(s) => s,
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            other => return Err(ApiError::invalid_value(&name, &other.to_string())),
        };
        out.insert(name, text);
    }
    Ok(out)
}
