//! `/api/cluster/schedules`: cron and interval job schedules.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Ty, array, enumeration, object, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Params, Record, Resource, ResourceDef, Schema,
    Work,
};
use serde_json::{Map, Value, json};

use crate::state::State;

pub const KIND: &str = crate::state::SCHEDULE_KIND;

/// (field, lowest, highest) of each cron list.
const CRON_FIELDS: &[(&str, i64, i64)] = &[
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("weekdays", 0, 6),
    ("days", 1, 31),
    ("months", 1, 12),
];

/// The schedules a new cluster has (ONTAP's built-in job schedules).
pub fn defaults() -> Vec<Value> {
    vec![
        json!({"name": "5min", "type": "cron", "cron": {"minutes": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]}}),
        json!({"name": "8hour", "type": "cron", "cron": {"minutes": [15], "hours": [2, 10, 18]}}),
        json!({"name": "hourly", "type": "cron", "cron": {"minutes": [5]}}),
        json!({"name": "daily", "type": "cron", "cron": {"minutes": [10], "hours": [0]}}),
        json!({"name": "weekly", "type": "cron", "cron": {"minutes": [15], "hours": [0], "weekdays": [0]}}),
        json!({"name": "monthly", "type": "cron", "cron": {"minutes": [20], "hours": [0], "days": [1]}}),
    ]
}

pub struct Schedules {
    state: Arc<State>,
    def: ResourceDef,
}

fn invalid(message: String, target: &str) -> ApiError {
    ApiError::new(Code::InvalidSchedule, message).with_target(target)
}

/// Checks a `cron` object and returns it with empty lists dropped (empty means "any").
fn check_cron(cron: &Value) -> ApiResult<Value> {
    let mut out = Map::new();
    for (field, lo, hi) in CRON_FIELDS {
        let Some(values) = cron.get(*field).and_then(Value::as_array) else {
            continue;
        };
        let mut seen = Vec::new();
        for v in values {
            let n = v
                .as_i64()
                .filter(|n| (*lo..=*hi).contains(n))
                .ok_or_else(|| {
                    invalid(
                        format!(
                            "\"{v}\" is not a valid value for \"cron.{field}\": use {lo} to {hi}."
                        ),
                        &format!("cron.{field}"),
                    )
                })?;
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
        seen.sort_unstable();
        if !seen.is_empty() {
            out.insert((*field).to_string(), json!(seen));
        }
    }
    Ok(Value::Object(out))
}

fn check_interval(interval: &str) -> ApiResult<()> {
    match rest::duration::parse(interval) {
        Some(s) if s > 0 => Ok(()),
        _ => Err(invalid(
            format!(
                "\"{interval}\" is not a valid ISO-8601 duration for \"interval\" (e.g. PT7M30S, P1D)."
            ),
            "interval",
        )),
    }
}

impl Schedules {
    pub fn new(state: &Arc<State>) -> Schedules {
        let cron_list = |name| array(name, Ty::Integer);
        let mut def = ResourceDef::new(Schema::new(vec![
            string("uuid").read_only().identity(),
            string("name").create().identity(),
            enumeration("type", &["cron", "interval"]).read_only(),
            object(
                "cron",
                vec![
                    cron_list("minutes"),
                    cron_list("hours"),
                    cron_list("weekdays"),
                    cron_list("days"),
                    cron_list("months"),
                ],
            )
            .read_write(),
            string("interval").read_write(),
            reference("cluster").create(),
            enumeration("scope", &["cluster", "svm"]).read_only(),
            reference("svm").create(),
        ]));
        def.collection = Some("/api/cluster/schedules");
        def.instance = Some("/api/cluster/schedules/{uuid}");
        def.post = true;
        def.patch = true;
        def.delete = true;
        Schedules {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for Schedules {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, _keys: &Keys) -> ApiResult<Vec<Record>> {
        let cluster = self.state.cluster();
        let cluster_ref = json!({"name": cluster["name"], "uuid": cluster["uuid"]});
        Ok(self
            .state
            .store
            .list(KIND)
            .iter()
            .map(|s| {
                let mut r = (**s).clone();
                r["cluster"] = cluster_ref.clone();
                if let Some(svm) = r["svm"]["uuid"].as_str().and_then(|u| self.state.svm(u)) {
                    r["svm"]["name"] = svm["name"].clone();
                }
                r["scope"] = json!(if r.get("svm").is_some() {
                    "svm"
                } else {
                    "cluster"
                });
                r.into()
            })
            .collect())
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        _keys: &Keys,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        let name = ApiError::required_str(&body, "name")?.to_string();
        if name.is_empty() || name.chars().count() > 256 {
            return Err(ApiError::invalid_value("name", &name));
        }
        let mut record = json!({"uuid": uuid::Uuid::new_v4().to_string(), "name": name});
        match (
            body.get("cron").filter(|v| !v.is_null()),
            body.get("interval").and_then(Value::as_str),
        ) {
            (Some(_), Some(_)) => {
                return Err(ApiError::new(
                    Code::InvalidCombination,
                    "Give either \"cron\" or \"interval\", not both.",
                )
                .with_target("interval"));
            }
            (None, None) => return Err(ApiError::required("cron.minutes")),
            (Some(cron), None) => {
                let cron = check_cron(cron)?;
                if cron.get("minutes").is_none() {
                    return Err(ApiError::required("cron.minutes"));
                }
                record["type"] = json!("cron");
                record["cron"] = cron;
            }
            (None, Some(interval)) => {
                check_interval(interval)?;
                record["type"] = json!("interval");
                record["interval"] = json!(interval);
            }
        }
        if let Some(c) = body.get("cluster") {
            let ours = self.state.cluster();
            if c.get("uuid").is_some_and(|u| *u != ours["uuid"])
                || c.get("name").is_some_and(|n| *n != ours["name"])
            {
                return Err(ApiError::invalid_value("cluster", &c.to_string()));
            }
        }
        if let Some(svm) = body.get("svm") {
            let svm = self.state.resolve_svm_ref(svm, "svm")?;
            record["svm"] = json!({"uuid": svm["uuid"], "name": svm["name"]});
        }
        let mut txn = self.state.store.begin().await;
        if txn
            .list(KIND)
            .iter()
            .any(|(_, s)| s["name"] == record["name"])
        {
            return Err(ApiError::new(
                Code::Duplicate,
                format!("A schedule named \"{name}\" already exists."),
            )
            .with_target("name"));
        }
        txn.put(
            KIND,
            record["uuid"].as_str().unwrap_or_default(),
            record.clone(),
        );
        txn.commit().await?;
        Ok(Created {
            record,
            work: Work::Done,
        })
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        let uuid = record["uuid"].as_str().unwrap_or_default();
        let mut txn = self.state.store.begin().await;
        let mut schedule = txn
            .get(KIND, uuid)
            .ok_or_else(|| ApiError::not_found("uuid"))?;
        let is_cron = schedule["type"] == "cron";
        if let Some(cron) = body.get("cron").filter(|v| !v.is_null()) {
            if !is_cron {
                return Err(ApiError::new(
                    Code::InvalidCombination,
                    "\"cron\" cannot be set on an interval schedule.",
                )
                .with_target("cron"));
            }
            // Fields not given keep their values; an empty list clears one.
            let mut merged = schedule["cron"].clone();
            for (field, _, _) in CRON_FIELDS {
                if let Some(v) = cron.get(*field) {
                    merged[*field] = v.clone();
                }
            }
            let merged = check_cron(&merged)?;
            if merged.get("minutes").is_none() {
                return Err(ApiError::required("cron.minutes"));
            }
            schedule["cron"] = merged;
        }
        if let Some(interval) = body.get("interval").and_then(Value::as_str) {
            if is_cron {
                return Err(ApiError::new(
                    Code::InvalidCombination,
                    "\"interval\" cannot be set on a cron schedule.",
                )
                .with_target("interval"));
            }
            check_interval(interval)?;
            schedule["interval"] = json!(interval);
        }
        txn.put(KIND, uuid, schedule);
        txn.commit().await?;
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let uuid = record["uuid"].as_str().unwrap_or_default();
        let mut txn = self.state.store.begin().await;
        // A schedule that runs an on-demand scan stays until the policy lets go of it.
        if let Some((_, policy)) = txn
            .list(crate::api::vscan::ON_DEMAND_KIND)
            .into_iter()
            .find(|(_, p)| p["schedule"]["uuid"] == uuid)
        {
            return Err(ApiError::new(
                Code::InUse,
                format!(
                    "Schedule \"{}\" is used by On-Demand policy \"{}\"; unschedule the policy first.",
                    record["name"].as_str().unwrap_or_default(),
                    policy["name"].as_str().unwrap_or_default()
                ),
            ));
        }
        txn.delete(KIND, uuid);
        txn.commit().await?;
        Ok(Work::Done)
    }
}
