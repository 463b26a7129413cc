//! `/api/protocols/audit/{svm.uuid}/object-store`: an SVM's S3 audit configuration.
//!
//! One configuration per SVM, keyed by the SVM in the path (`*` lists them all). POST,
//! PATCH and DELETE run as jobs like ONTAP's; everything that can be checked without
//! side effects (body, SVM, `log_path` on disk, ranges, combinations) is checked
//! before the job starts, so bad input gets an immediate ONTAP error. Each change is
//! applied to the node's [`audit::AuditHub`] before it is committed, so the next S3
//! event follows it. Decisions on points ONTAP leaves open are in `docs/audit.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use audit::{LogConfig, RotationSchedule, SvmAudit};
use rest::schema::{Ty, array, boolean, enumeration, integer, object, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Method, Params, Record, Resource, ResourceDef,
    Schema, VsadminAccess, Work,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::namespace::{NamespaceError, Symlinks};
use crate::state::{State, svm_ref};

pub const KIND: &str = "s3_audit";
const PATH: &str = "/api/protocols/audit/{svm.uuid}/object-store";

/// ONTAP's default `log.rotation.size`: 100 MB.
pub const DEFAULT_ROTATION_SIZE: u64 = 100 * 1024 * 1024;
/// ONTAP refuses rotation sizes below 1024 KB.
pub const MIN_ROTATION_SIZE: u64 = 1024 * 1024;
/// The CLI's documented limit for `-destination`.
pub const MAX_LOG_PATH_CHARS: usize = 864;

/// (field, lowest, highest) of each schedule list, in the order GET shows them.
const SCHEDULE_FIELDS: &[(&str, u32, u32)] = &[
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("weekdays", 0, 6),
    ("days", 1, 31),
    ("months", 1, 12),
];

/// A configuration as stored (kind `s3_audit`, id = SVM uuid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub enabled: bool,
    pub data: bool,
    pub management: bool,
    pub log_path: String,
    /// `None` when only a schedule rotates the log.
    pub rotation_size: Option<u64>,
    pub schedule: Option<RotationSchedule>,
    pub retention_count: u64,
    pub retention_secs: u64,
}

impl Stored {
    fn from_doc(doc: &Value) -> ApiResult<Stored> {
        serde_json::from_value(doc.clone())
            .map_err(|e| ApiError::internal(format!("stored S3 audit configuration: {e}")))
    }

    fn to_doc(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The API object.
    fn render(&self, svm: &Value) -> Value {
        let mut rotation = Map::new();
        if let Some(size) = self.rotation_size {
            rotation.insert("size".into(), json!(size));
        }
        if let Some(s) = &self.schedule {
            let mut schedule = Map::new();
            for (field, _, _) in SCHEDULE_FIELDS {
                let list = schedule_list(s, field);
                if !list.is_empty() {
                    schedule.insert((*field).into(), json!(list));
                }
            }
            rotation.insert("schedule".into(), Value::Object(schedule));
        }
        json!({
            "svm": svm_ref(svm),
            "enabled": self.enabled,
            "events": {"data": self.data, "management": self.management},
            "log": {
                "format": "json",
                "rotation": rotation,
                "retention": {
                    "count": self.retention_count,
                    "duration": render_duration(self.retention_secs),
                },
            },
            "log_path": self.log_path,
        })
    }

    /// What the hub needs, with `log_path` already resolved to `dir`.
    pub fn hub_config(&self, svm: &Value, dir: PathBuf) -> SvmAudit {
        let mut schedule = self.schedule.clone().unwrap_or_default();
        // `months: [0]` (the documented example) means every month.
        schedule.months.retain(|m| *m != 0);
        SvmAudit {
            svm_uuid: svm["uuid"].as_str().unwrap_or_default().to_string(),
            svm_name: svm["name"].as_str().unwrap_or_default().to_string(),
            enabled: self.enabled,
            data: self.data,
            management: self.management,
            log: LogConfig {
                dir,
                rotation_size: self.rotation_size.unwrap_or(0),
                rotation_schedule: schedule,
                retention_count: self.retention_count,
                retention_age: Duration::from_secs(self.retention_secs),
            },
        }
    }
}

fn schedule_list<'a>(s: &'a RotationSchedule, field: &str) -> &'a [u32] {
    match field {
        "minutes" => &s.minutes,
        "hours" => &s.hours,
        "weekdays" => &s.weekdays,
        "days" => &s.days,
        _ => &s.months,
    }
}

fn schedule_list_mut<'a>(s: &'a mut RotationSchedule, field: &str) -> &'a mut Vec<u32> {
    match field {
        "minutes" => &mut s.minutes,
        "hours" => &mut s.hours,
        "weekdays" => &mut s.weekdays,
        "days" => &mut s.days,
        _ => &mut s.months,
    }
}

/// Zero renders as `0s`, the form every ONTAP example shows.
fn render_duration(secs: u64) -> String {
    if secs == 0 {
        "0s".to_string()
    } else {
        rest::duration::format(secs)
    }
}

fn parse_duration(value: &Value) -> ApiResult<u64> {
    const FIELD: &str = "log.retention.duration";
    let Some(text) = value.as_str() else {
        return Err(ApiError::invalid_value(FIELD, &value.to_string()));
    };
    // `0s` is what GET returns, so a client sending a record back must be able to.
    if text == "0" || text.eq_ignore_ascii_case("0s") {
        return Ok(0);
    }
    rest::duration::parse(text).ok_or_else(|| {
        ApiError::new(
            Code::InvalidFieldValue,
            format!("\"{text}\" is an invalid value for field \"{FIELD}\": use an ISO-8601 duration such as P4DT12H30M5S."),
        )
        .with_target(FIELD)
    })
}

fn parse_size(value: &Value) -> ApiResult<u64> {
    match value.as_u64() {
        Some(n) if n >= MIN_ROTATION_SIZE => Ok(n),
        _ => Err(ApiError::new(
            Code::AuditRotateSizeTooSmall,
            "Rotate size must be greater than or equal to 1024 KB.",
        )
        .with_target("log.rotation.size")),
    }
}

fn parse_schedule(value: &Value) -> ApiResult<RotationSchedule> {
    let mut schedule = RotationSchedule::default();
    for (field, lo, hi) in SCHEDULE_FIELDS {
        let target = format!("log.rotation.schedule.{field}");
        let Some(items) = value.get(*field).filter(|v| !v.is_null()) else {
            continue;
        };
        let items = items
            .as_array()
            .ok_or_else(|| ApiError::invalid_value(&target, &items.to_string()))?;
        let list = schedule_list_mut(&mut schedule, field);
        for item in items {
            let n = item.as_u64().and_then(|n| u32::try_from(n).ok());
            // Months accept 0 because ONTAP's own example sends `[0]` (see docs/audit.md).
            let ok = n.filter(|n| (*lo..=*hi).contains(n) || (*field == "months" && *n == 0));
            let n = ok.ok_or_else(|| {
                ApiError::new(
                    Code::InvalidFieldValue,
                    format!(
                        "\"{item}\" is an invalid value for field \"{target}\": use {lo} to {hi}."
                    ),
                )
                .with_target(&target)
            })?;
            if !list.contains(&n) {
                list.push(n);
            }
        }
        list.sort_unstable();
    }
    if schedule.minutes.is_empty() {
        return Err(ApiError::required("log.rotation.schedule.minutes"));
    }
    Ok(schedule)
}

fn parse_count(value: &Value) -> ApiResult<u64> {
    value
        .as_u64()
        .ok_or_else(|| ApiError::invalid_value("log.retention.count", &value.to_string()))
}

fn check_retention(s: &Stored) -> ApiResult<()> {
    if s.retention_count > 0 && s.retention_secs > 0 {
        return Err(ApiError::new(
            Code::InvalidCombination,
            "\"log.retention.count\" and \"log.retention.duration\" are mutually exclusive: set one of them to zero.",
        )
        .with_target("log.retention.duration"));
    }
    Ok(())
}

/// A non-null member of an object.
fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get(name).filter(|m| !m.is_null())
}

/// The configuration a POST body describes, with ONTAP's defaults.
fn from_post(body: &Value) -> ApiResult<Stored> {
    let log_path = match member(body, "log_path") {
        Some(p) => p.as_str().unwrap_or_default().to_string(),
        None => return Err(ApiError::required("log_path")),
    };
    let events = body.get("events").cloned().unwrap_or(Value::Null);
    let log = body.get("log").cloned().unwrap_or(Value::Null);
    let retention = log.get("retention").cloned().unwrap_or(Value::Null);
    let rotation = log.get("rotation").cloned().unwrap_or(Value::Null);
    let rotation_size = member(&rotation, "size").map(parse_size).transpose()?;
    let schedule = member(&rotation, "schedule")
        .map(parse_schedule)
        .transpose()?;
    let stored = Stored {
        enabled: member(body, "enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        data: member(&events, "data")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        management: member(&events, "management")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        log_path,
        // A schedule alone rotates by schedule only: the documented example echoes no size.
        rotation_size: match (rotation_size, &schedule) {
            (None, None) => Some(DEFAULT_ROTATION_SIZE),
            (size, _) => size,
        },
        schedule,
        retention_count: member(&retention, "count")
            .map(parse_count)
            .transpose()?
            .unwrap_or(0),
        retention_secs: member(&retention, "duration")
            .map(parse_duration)
            .transpose()?
            .unwrap_or(0),
    };
    check_retention(&stored)?;
    Ok(stored)
}

/// A PATCH applied to `current`: the new configuration and whether to rotate now.
fn apply_patch(current: &Stored, body: &Value) -> ApiResult<(Stored, bool)> {
    let Value::Object(map) = body else {
        return Err(ApiError::new(
            Code::InvalidJson,
            "The request body must be a JSON object.",
        ));
    };
    let given: Vec<&String> = map.keys().filter(|k| *k != "_links").collect();
    let mut next = current.clone();
    if let Some(enabled) = map.get("enabled") {
        if given.len() > 1 {
            return Err(ApiError::new(
                Code::AuditEnabledNotAlone,
                "The \"enabled\" field must be specified alone: enable or disable auditing in a PATCH of its own.",
            )
            .with_target("enabled"));
        }
        let Some(enabled) = enabled.as_bool() else {
            return Err(ApiError::invalid_value("enabled", &enabled.to_string()));
        };
        match (current.enabled, enabled) {
            (true, true) => {
                return Err(ApiError::new(
                    Code::AuditAlreadyEnabled,
                    "Audit enable failed, audit configuration already enabled for the SVM.",
                )
                .with_target("enabled"));
            }
            (false, false) => {
                return Err(ApiError::new(
                    Code::AuditAlreadyDisabled,
                    "Audit disable failed, audit configuration is already disabled for the SVM.",
                )
                .with_target("enabled"));
            }
            _ => next.enabled = enabled,
        }
        return Ok((next, false));
    }
    if let Some(events) = member(body, "events") {
        // ONTAP: "Not specifying either data or management is equivalent to setting it
        // to false."
        next.data = member(events, "data")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        next.management = member(events, "management")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    }
    if let Some(p) = map.get("log_path") {
        next.log_path = p.as_str().unwrap_or_default().to_string();
    }
    let mut rotate = false;
    if let Some(log) = member(body, "log") {
        if let Some(retention) = member(log, "retention") {
            if let Some(c) = retention.get("count") {
                next.retention_count = if c.is_null() { 0 } else { parse_count(c)? };
            }
            if let Some(d) = retention.get("duration") {
                next.retention_secs = if d.is_null() { 0 } else { parse_duration(d)? };
            }
        }
        if let Some(rotation) = member(log, "rotation") {
            if let Some(size) = rotation.get("size") {
                next.rotation_size = if size.is_null() {
                    None
                } else {
                    Some(parse_size(size)?)
                };
            }
            if let Some(schedule) = rotation.get("schedule") {
                // A given schedule replaces the stored one; null removes it.
                next.schedule = if schedule.is_null() {
                    None
                } else {
                    Some(parse_schedule(schedule)?)
                };
            }
            if next.rotation_size.is_none() && next.schedule.is_none() {
                next.rotation_size = Some(DEFAULT_ROTATION_SIZE);
            }
            rotate = member(rotation, "now").and_then(Value::as_bool) == Some(true);
        }
    }
    check_retention(&next)?;
    if rotate && !next.enabled {
        return Err(ApiError::new(
            Code::AuditRotateDisabled,
            "Cannot rotate audit log, auditing is not enabled for this SVM.",
        )
        .with_target("log.rotation.now"));
    }
    Ok((next, rotate))
}

fn path_error(code: Code, message: &str) -> ApiError {
    ApiError::new(code, message).with_target("log_path")
}

/// Checks `log_path` in the SVM's namespace and returns the host directory.
pub fn check_log_path(state: &State, svm: &Value, path: &str) -> ApiResult<PathBuf> {
    if path.is_empty() {
        return Err(path_error(
            Code::AuditPathEmpty,
            "The log_path cannot be empty.",
        ));
    }
    if path.chars().count() > MAX_LOG_PATH_CHARS {
        return Err(path_error(
            Code::AuditPathTooLong,
            &format!(
                "The log_path exceeds a maximum supported length of {MAX_LOG_PATH_CHARS} characters."
            ),
        ));
    }
    let canonical = path.starts_with('/')
        && !path.contains('\0')
        && (path == "/"
            || path[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."));
    let not_canonical = || {
        path_error(
            Code::AuditPathNotCanonical,
            "The log_path must be a canonical path in the SVM's namespace.",
        )
    };
    if !canonical {
        return Err(not_canonical());
    }
    let namespace = state.namespace(svm)?;
    let dir = namespace
        .existing_dir(path, Symlinks::Refuse)
        .map_err(|e| match e {
            NamespaceError::Symlink(_) => path_error(
                Code::AuditPathSymlink,
                "The destination path must not contain a symbolic link.",
            ),
            NamespaceError::NotFound => path_error(
                Code::AuditPathNotFound,
                "The specified log_path does not exist.",
            ),
            NamespaceError::NotDirectory => path_error(
                Code::AuditPathNotDirectory,
                "The log_path must be a directory.",
            ),
            NamespaceError::Io(reason) => path_error(
                Code::AuditPathInaccessible,
                &format!("The log_path cannot be accessed for validation: {reason}."),
            ),
            NamespaceError::NotRooted
            | NamespaceError::Nul
            | NamespaceError::TooLong
            | NamespaceError::Escapes => not_canonical(),
        })?;
    // Audit files are written as the server's user: a directory it cannot create files
    // in would fail every S3 request later, so find out now.
    let probe = dir.join(format!(
        ".vigil-audit-probe-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| {
            path_error(
                Code::AuditPathInaccessible,
                &format!("The log_path validation failed: {e}."),
            )
        })?;
    Ok(dir)
}

/// Where `log_path` lies on the host without checking it: for a log that is not going to
/// be opened, or one that must fail when it is.
fn lexical_dir(svm: &Value, log_path: &str) -> PathBuf {
    PathBuf::from(svm["root_path"].as_str().unwrap_or_default())
        .join(log_path.trim_start_matches('/'))
}

/// The directory of a patched configuration. An unchanged `log_path` of a configuration
/// that stays disabled is not checked: a directory removed behind Vigil's back must not
/// stop an administrator from disabling auditing or changing other settings.
fn patched_dir(state: &State, svm: &Value, current: &Stored, next: &Stored) -> ApiResult<PathBuf> {
    if next.enabled || next.log_path != current.log_path {
        check_log_path(state, svm, &next.log_path)
    } else {
        Ok(lexical_dir(svm, &next.log_path))
    }
}

fn svm_lookup_failed() -> ApiError {
    ApiError::new(Code::AuditSvmLookup, "SVM UUID lookup failed").with_target("svm.uuid")
}

fn no_config_to_modify() -> ApiError {
    ApiError::new(
        Code::AuditModifyAbsent,
        "Failed to modify an audit configuration because no audit configuration exists for the SVM.",
    )
    .with_target("svm.uuid")
}

pub struct S3Audit {
    state: Arc<State>,
    def: ResourceDef,
}

impl S3Audit {
    pub fn new(state: &Arc<State>) -> S3Audit {
        let list = |name| array(name, Ty::Integer);
        let mut def = ResourceDef::new(Schema::new(vec![
            object(
                "svm",
                vec![string("uuid").identity(), string("name").identity()],
            )
            .create(),
            boolean("enabled").read_write(),
            object("events", vec![boolean("data"), boolean("management")]).read_write(),
            object(
                "log",
                vec![
                    enumeration("format", &["json"]),
                    object("retention", vec![integer("count"), string("duration")]),
                    object(
                        "rotation",
                        vec![
                            boolean("now")
                                .modify_only()
                                .doc("Rotates the log at once. PATCH only; never returned."),
                            integer("size"),
                            object(
                                "schedule",
                                vec![
                                    list("minutes"),
                                    list("hours"),
                                    list("weekdays"),
                                    list("days"),
                                    list("months"),
                                ],
                            ),
                        ],
                    ),
                ],
            )
            .read_write(),
            string("log_path").read_write(),
        ]));
        def.collection = Some(PATH);
        def.instance = Some(PATH);
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.async_ops = &[Method::Post, Method::Patch, Method::Delete];
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        def.params = &[(Method::Delete, "force")];
        S3Audit {
            state: Arc::clone(state),
            def,
        }
    }

    fn svm(&self, uuid: &str) -> ApiResult<Arc<Value>> {
        if uuid == "*" {
            return Err(svm_lookup_failed());
        }
        self.state.svm(uuid).ok_or_else(svm_lookup_failed)
    }
}

/// Installs every stored configuration in the hub (at startup).
pub async fn restore(state: &State) {
    for svm in state.store.list(crate::state::SVM_KIND) {
        let uuid = svm["uuid"].as_str().unwrap_or_default();
        let Some(doc) = state.store.get(KIND, uuid) else {
            continue;
        };
        let stored = match Stored::from_doc(&doc) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(svm_uuid = uuid, error = %e, "unreadable S3 audit configuration");
                continue;
            }
        };
        // A log_path that no longer checks out still gets an entry: its records fail
        // (and are reported) instead of passing unaudited.
        let dir = match check_log_path(state, &svm, &stored.log_path) {
            Ok(dir) => dir,
            Err(e) => {
                tracing::error!(svm = %svm["name"], error = %e, "S3 audit log_path is unusable");
                lexical_dir(&svm, &stored.log_path)
            }
        };
        state.audit.restore(stored.hub_config(&svm, dir)).await;
    }
}

#[async_trait]
impl Resource for S3Audit {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let docs: Vec<(String, Arc<Value>)> = match keys.get("svm.uuid").filter(|k| *k != "*") {
            Some(uuid) => self
                .state
                .store
                .get(KIND, uuid)
                .map(|d| (uuid.clone(), d))
                .into_iter()
                .collect(),
            None => self
                .state
                .store
                .list(crate::state::SVM_KIND)
                .iter()
                .filter_map(|s| {
                    let uuid = s["uuid"].as_str()?.to_string();
                    let doc = self.state.store.get(KIND, &uuid)?;
                    Some((uuid, doc))
                })
                .collect(),
        };
        let mut out = Vec::new();
        for (uuid, doc) in docs {
            let Some(svm) = self.state.svm(&uuid) else {
                continue;
            };
            out.push(Stored::from_doc(&doc)?.render(&svm).into());
        }
        Ok(out)
    }

    fn missing(&self, keys: &Keys, method: Method) -> Option<ApiError> {
        let uuid = keys.get("svm.uuid")?;
        if uuid == "*" {
            return None;
        }
        if self.state.svm(uuid).is_none() {
            return Some(svm_lookup_failed());
        }
        (method == Method::Patch).then(no_config_to_modify)
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        keys: &Keys,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        let uuid = keys.get("svm.uuid").cloned().unwrap_or_default();
        let svm = self.svm(&uuid)?;
        if let Some(given) = body.get("svm") {
            if let Some(u) = given.get("uuid").and_then(Value::as_str)
                && u != uuid
            {
                return Err(ApiError::invalid_value("svm.uuid", u));
            }
            if let Some(n) = given.get("name").and_then(Value::as_str)
                && svm["name"] != n
            {
                return Err(ApiError::invalid_value("svm.name", n));
            }
        }
        let already = || {
            ApiError::new(
                Code::AuditAlreadyPresent,
                "Audit configuration is already present.",
            )
            .with_target("svm.uuid")
        };
        if self.state.store.get(KIND, &uuid).is_some() {
            return Err(already());
        }
        let stored = from_post(&body)?;
        let dir = check_log_path(&self.state, &svm, &stored.log_path)?;
        let record = stored.render(&svm);
        let state = Arc::clone(&self.state);
        let work = Work::Job(Box::pin(async move {
            let mut txn = state.store.begin().await;
            // Checked again under the writer lock: a concurrent POST may have won.
            if txn.get(KIND, &uuid).is_some() {
                return Err(already());
            }
            state
                .audit
                .apply(stored.hub_config(&svm, dir))
                .await
                .map_err(|e| {
                    ApiError::new(
                        Code::AuditCreateFailed,
                        format!("Failed to create an audit configuration for the SVM: {e}"),
                    )
                })?;
            txn.put(KIND, &uuid, stored.to_doc());
            if let Err(e) = txn.commit().await {
                state.audit.remove(&uuid);
                return Err(e.into());
            }
            Ok("success".to_string())
        }));
        Ok(Created { record, work })
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        let uuid = record["svm"]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let svm = self.svm(&uuid)?;
        let current = match self.state.store.get(KIND, &uuid) {
            Some(doc) => Stored::from_doc(&doc)?,
            None => return Err(no_config_to_modify()),
        };
        let (next, _) = apply_patch(&current, &body)?;
        patched_dir(&self.state, &svm, &current, &next)?;
        let state = Arc::clone(&self.state);
        Ok(Work::Job(Box::pin(async move {
            let mut txn = state.store.begin().await;
            // Applied again to what is stored now, in case another PATCH ran first.
            let current = match txn.get(KIND, &uuid) {
                Some(doc) => Stored::from_doc(&doc)?,
                None => return Err(no_config_to_modify()),
            };
            let (next, rotate) = apply_patch(&current, &body)?;
            let dir = patched_dir(&state, &svm, &current, &next)?;
            let modify_failed = |e: audit::AuditError| {
                ApiError::new(
                    Code::AuditModifyFailed,
                    format!("Failed to modify audit configuration for SVM: {e}"),
                )
            };
            state
                .audit
                .apply(next.hub_config(&svm, dir.clone()))
                .await
                .map_err(modify_failed)?;
            txn.put(KIND, &uuid, next.to_doc());
            if let Err(e) = txn.commit().await {
                let old_dir = lexical_dir(&svm, &current.log_path);
                let _ = state.audit.apply(current.hub_config(&svm, old_dir)).await;
                return Err(e.into());
            }
            if rotate {
                state.audit.rotate_now(&uuid).await.map_err(|e| {
                    ApiError::new(
                        Code::AuditRotateFailed,
                        format!("Failed to rotate audit log: {e}"),
                    )
                })?;
            }
            Ok("success".to_string())
        })))
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, params: &Params) -> ApiResult<Work> {
        let uuid = record["svm"]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let force = match params.get("force").map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => return Err(ApiError::invalid_value("force", &v)),
        };
        if record["enabled"] == true && !force {
            return Err(ApiError::new(
                Code::AuditDeleteEnabled,
                "Failed to delete audit configuration for the SVM because audit is enabled for the SVM.",
            )
            .with_target("enabled"));
        }
        let state = Arc::clone(&self.state);
        Ok(Work::Job(Box::pin(async move {
            let mut txn = state.store.begin().await;
            if let Some(doc) = txn.get(KIND, &uuid)
                && doc["enabled"] == true
                && !force
            {
                return Err(ApiError::new(
                    Code::AuditDeleteEnabled,
                    "Failed to delete audit configuration for the SVM because audit is enabled for the SVM.",
                ));
            }
            txn.delete(KIND, &uuid);
            txn.commit().await?;
            // Disable, then forget; the log files stay where they are.
            state.audit.remove(&uuid);
            Ok("success".to_string())
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Stored {
        from_post(&json!({"log_path": "/"})).unwrap()
    }

    #[test]
    fn post_defaults() {
        let s = base();
        assert!(s.enabled && s.data && !s.management);
        assert_eq!(s.rotation_size, Some(DEFAULT_ROTATION_SIZE));
        assert_eq!(s.schedule, None);
        assert_eq!((s.retention_count, s.retention_secs), (0, 0));
        let s = from_post(
            &json!({"log_path": "/", "log": {"rotation": {"schedule": {"minutes": [5]}}}}),
        )
        .unwrap();
        assert_eq!(
            s.rotation_size, None,
            "a schedule alone gets no default size"
        );
    }

    #[test]
    fn post_checks() {
        let code = |body: Value| from_post(&body).unwrap_err().code;
        assert_eq!(code(json!({})), Code::RequiredValueMissing);
        assert_eq!(
            code(json!({"log_path": "/", "log": {"rotation": {"size": 1048575}}})),
            Code::AuditRotateSizeTooSmall
        );
        assert_eq!(
            code(json!({"log_path": "/", "log": {"retention": {"count": 2, "duration": "P1D"}}})),
            Code::InvalidCombination
        );
        assert_eq!(
            code(json!({"log_path": "/", "log": {"retention": {"duration": "1 day"}}})),
            Code::InvalidFieldValue
        );
        for (field, bad) in [
            ("minutes", 60),
            ("hours", 24),
            ("weekdays", 7),
            ("days", 0),
            ("days", 32),
            ("months", 13),
        ] {
            let mut sched = json!({"minutes": [1]});
            sched[field] = json!([bad]);
            assert_eq!(
                code(json!({"log_path": "/", "log": {"rotation": {"schedule": sched}}})),
                Code::InvalidFieldValue,
                "{field}={bad}"
            );
        }
        assert_eq!(
            code(json!({"log_path": "/", "log": {"rotation": {"schedule": {"hours": [1]}}}})),
            Code::RequiredValueMissing
        );
    }

    #[test]
    fn patch_rules() {
        let s = base();
        let err = apply_patch(&s, &json!({"enabled": false, "log_path": "/"})).unwrap_err();
        assert_eq!(err.code, Code::AuditEnabledNotAlone);
        assert_eq!(
            apply_patch(&s, &json!({"enabled": true})).unwrap_err().code,
            Code::AuditAlreadyEnabled
        );
        let (off, _) = apply_patch(&s, &json!({"enabled": false})).unwrap();
        assert!(!off.enabled);
        assert_eq!(
            apply_patch(&off, &json!({"enabled": false}))
                .unwrap_err()
                .code,
            Code::AuditAlreadyDisabled
        );
        let (e, _) = apply_patch(&s, &json!({"events": {"management": true}})).unwrap();
        assert!(!e.data && e.management, "events replaces both flags");
        let (_, rotate) = apply_patch(&s, &json!({"log": {"rotation": {"now": true}}})).unwrap();
        assert!(rotate);
        assert_eq!(
            apply_patch(&off, &json!({"log": {"rotation": {"now": true}}}))
                .unwrap_err()
                .code,
            Code::AuditRotateDisabled
        );
        let (r, _) = apply_patch(&s, &json!({"log": {"retention": {"count": 3}}})).unwrap();
        assert_eq!(
            apply_patch(&r, &json!({"log": {"retention": {"duration": "PT1H"}}}))
                .unwrap_err()
                .code,
            Code::InvalidCombination
        );
        let (r, _) = apply_patch(
            &r,
            &json!({"log": {"retention": {"count": 0, "duration": "PT1H"}}}),
        )
        .unwrap();
        assert_eq!((r.retention_count, r.retention_secs), (0, 3600));
        let (r, _) = apply_patch(&r, &json!({"log": {"retention": {"duration": "0s"}}})).unwrap();
        assert_eq!(r.retention_secs, 0);
    }

    #[test]
    fn renders_like_ontap() {
        let s = from_post(&json!({"log_path": "/", "log": {"retention": {"duration": "P4DT12H30M5S"},
            "rotation": {"schedule": {"days": [15, 1, 5, 10], "hours": [0], "minutes": [10], "months": [0], "weekdays": [0, 2, 5]}}}}))
        .unwrap();
        let svm = json!({"uuid": "u", "name": "vs3"});
        let r = s.render(&svm);
        assert_eq!(
            r["log"]["retention"],
            json!({"count": 0, "duration": "P4DT12H30M5S"})
        );
        assert_eq!(
            r["log"]["rotation"]["schedule"]["days"],
            json!([1, 5, 10, 15])
        );
        assert_eq!(r["log"]["rotation"]["schedule"]["months"], json!([0]));
        assert!(r["log"]["rotation"].get("size").is_none());
        assert_eq!(base().render(&svm)["log"]["retention"]["duration"], "0s");
        let hub = s.hub_config(&svm, PathBuf::from("/x"));
        assert!(
            hub.log.rotation_schedule.months.is_empty(),
            "0 means every month"
        );
    }
}
