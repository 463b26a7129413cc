//! ONTAP jobs: every asynchronous operation runs as one, is persisted, and stays
//! readable at `/api/cluster/jobs/{uuid}` for the retention time after it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use store::Store;
use tokio::sync::watch;

use crate::error::{ApiError, ApiResult};

const KIND: &str = "job";

/// What an asynchronous operation returns: the job's final `message`.
pub type JobWork = BoxFuture<'static, ApiResult<String>>;

pub struct Jobs {
    store: Arc<Store>,
    finished: Mutex<HashMap<String, watch::Receiver<bool>>>,
    retention: Duration,
    node: Value,
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn job_link(uuid: &str) -> Value {
    json!({"uuid": uuid, "_links": {"self": {"href": format!("/api/cluster/jobs/{uuid}")}}})
}

impl Jobs {
    /// Marks jobs that a previous run left unfinished as failed: their work died with
    /// the process and a client polling them must not wait forever.
    pub async fn open(store: Arc<Store>, retention: Duration, node: Value) -> ApiResult<Arc<Jobs>> {
        let mut txn = store.begin().await;
        for (id, mut job) in txn.list(KIND) {
            let state = job["state"].as_str().unwrap_or_default().to_string();
            if matches!(state.as_str(), "queued" | "running" | "paused") {
                let message =
                    "The node restarted while this job was running; check the object it changed.";
                job["state"] = json!("failure");
                job["message"] = json!(message);
                job["code"] = json!(crate::Code::Internal.code());
                job["error"] =
                    json!({"code": crate::Code::Internal.code().to_string(), "message": message});
                job["end_time"] = json!(now_rfc3339());
                txn.put(KIND, &id, job);
            }
        }
        txn.commit().await?;
        Ok(Arc::new(Jobs {
            store,
            finished: Mutex::new(HashMap::new()),
            retention,
            node,
        }))
    }

    /// Starts `work` as a job and returns its uuid at once.
    pub async fn start(
        self: &Arc<Self>,
        description: String,
        svm: Option<Value>,
        work: JobWork,
    ) -> ApiResult<String> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let mut job = json!({
            "uuid": uuid,
            "description": description,
            "state": "running",
            "message": "running",
            "code": 0,
            "start_time": now_rfc3339(),
            "node": self.node,
        });
        if let Some(svm) = svm {
            job["svm"] = svm;
        }
        self.put(&uuid, job.clone()).await?;
        let (tx, rx) = watch::channel(false);
        self.lock_finished().insert(uuid.clone(), rx);
        telemetry::jobs::JobStarted.emit();
        let jobs = Arc::clone(self);
        let id = uuid.clone();
        tokio::spawn(async move {
            let result = tokio::spawn(work).await;
            let result = match result {
                Ok(r) => r,
                Err(join_error) => Err(ApiError::internal(format!(
                    "The job's task failed: {join_error}"
                ))),
            };
            job["end_time"] = json!(now_rfc3339());
            let state = if result.is_ok() { "success" } else { "failure" };
            telemetry::jobs::JobFinished { state }.emit();
            match result {
                Ok(message) => {
                    job["state"] = json!("success");
                    job["message"] = json!(message);
                }
                Err(e) => {
                    job["state"] = json!("failure");
                    job["message"] = json!(e.message);
                    job["code"] = json!(e.code.code());
                    job["error"] = json!({"code": e.code.code().to_string(), "message": e.message});
                }
            }
            if let Err(e) = jobs.put(&id, job).await {
                tracing::error!(job = %id, error = %e, "could not record the end of a job");
            }
            let _ = tx.send(true);
        });
        Ok(uuid)
    }

    fn lock_finished(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<bool>>> {
        self.finished.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn put(&self, uuid: &str, job: Value) -> ApiResult<()> {
        let mut txn = self.store.begin().await;
        txn.put(KIND, uuid, job);
        txn.commit().await?;
        Ok(())
    }

    /// Waits up to `timeout` for the job to end; returns its record when it has.
    pub async fn wait(&self, uuid: &str, timeout: Duration) -> Option<Value> {
        let rx = self.lock_finished().get(uuid).cloned();
        if let Some(mut rx) = rx {
            let _ = tokio::time::timeout(timeout, rx.wait_for(|done| *done)).await;
        }
        self.get(uuid).filter(is_terminal)
    }

    pub fn get(&self, uuid: &str) -> Option<Value> {
        self.store.get(KIND, uuid).map(|v| (*v).clone())
    }

    pub fn list(&self) -> Vec<Value> {
        self.store
            .list(KIND)
            .iter()
            .map(|v| (**v).clone())
            .collect()
    }

    /// Deletes ended jobs older than the retention time; runs forever.
    pub async fn expire_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(30).min(self.retention));
        loop {
            tick.tick().await;
            if let Err(e) = self.expire().await {
                tracing::warn!(error = %e, "job expiry failed");
            }
        }
    }

    pub async fn expire(&self) -> ApiResult<()> {
        let cutoff = Utc::now()
            - chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let mut txn = self.store.begin().await;
        let mut expired = Vec::new();
        for (id, job) in txn.list(KIND) {
            let ended = job["end_time"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            if is_terminal(&job) && ended.is_some_and(|t| t < cutoff) {
                expired.push(id);
            }
        }
        for id in &expired {
            txn.delete(KIND, id);
        }
        txn.commit().await?;
        let mut finished = self.lock_finished();
        for id in expired {
            finished.remove(&id);
        }
        Ok(())
    }
}

pub fn is_terminal(job: &Value) -> bool {
    matches!(job["state"].as_str(), Some("success" | "failure"))
}
