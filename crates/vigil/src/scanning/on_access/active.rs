//! On-access scans as `ACTIVE` run records: one record per SVM per UTC day, its counts
//! summed over every door's checks, so that a million opens make one record, not a
//! million. The managed-antivirus report lists it like an on-demand run
//! (`docs/mav.md`).
//!
//! Checks only add to an in-memory copy; [`ActiveRuns::flush`] writes the copies that
//! changed (every [`FLUSH_EVERY`] and at shutdown), so a check never waits for the
//! database. A restart picks the day's stored record up again and goes on counting in
//! it; a crash loses at most the counts of one interval. The record keeps the first
//! [`RECORD_LIMIT`] infected files and errors, and counts all of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use store::Store;

use super::Policy;
use crate::scanning::events::event_time;
use crate::scanning::records::{self, RECORD_LIMIT, RUN_KIND, Tally};
use crate::scanning::{Outcome, Trigger};
use crate::tenancy::SVM_KIND;

/// How often changed `ACTIVE` records are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// The record type the managed-antivirus report shows as `ACTIVE`.
pub const ACTIVE: &str = "ACTIVE";

struct Day {
    record: Value,
    dirty: bool,
}

pub struct ActiveRuns {
    store: Arc<Store>,
    days: Mutex<HashMap<(String, NaiveDate), Day>>,
}

impl ActiveRuns {
    pub fn new(store: Arc<Store>) -> ActiveRuns {
        ActiveRuns {
            store,
            days: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one checked file in the SVM's record of today.
    pub fn add(
        &self,
        svm_uuid: &str,
        policy: &Policy,
        trigger: Trigger,
        file_path: &str,
        outcome: &Outcome,
    ) {
        let now = Utc::now();
        let key = (svm_uuid.to_string(), now.date_naive());
        let mut days = self.days.lock().unwrap_or_else(|e| e.into_inner());
        let day = days.entry(key).or_insert_with(|| Day {
            record: self.today(svm_uuid, policy, now),
            dirty: true,
        });
        count(&mut day.record, policy, trigger, file_path, outcome, now);
        day.dirty = true;
    }

    /// The SVM's stored record of the day (after a restart), or a new one.
    fn today(&self, svm_uuid: &str, policy: &Policy, now: DateTime<Utc>) -> Value {
        let date = now.date_naive().to_string();
        if let Some(stored) = self.store.list(RUN_KIND).into_iter().find(|r| {
            r["type"] == ACTIVE && r["svm"]["uuid"] == svm_uuid && r["day"] == date.as_str()
        }) {
            return (*stored).clone();
        }
        let name = self
            .store
            .get(SVM_KIND, svm_uuid)
            .map(|s| s["name"].clone())
            .unwrap_or(Value::Null);
        json!({
            "uuid": uuid::Uuid::new_v4().to_string(),
            "svm": {"uuid": svm_uuid, "name": name},
            "policy": policy.name,
            "type": ACTIVE,
            "trigger": "on_access",
            "day": date,
            "status": "COMPLETED",
            "start_time": event_time(now),
            "end_time": event_time(now),
            "scope": policy.scope_doc,
            "files_scanned": 0,
            "files_from_cache": 0,
            "files_skipped": 0,
            "folders_scanned": 0,
            "infected": [],
            "infected_count": 0,
            "errors": [],
            "error_count": 0,
            "checks": {},
        })
    }

    /// Writes every record that changed since it was last written; one that cannot be
    /// written stays to be written next time. Records of past days are then dropped
    /// from memory.
    pub async fn flush(&self) {
        let today = Utc::now().date_naive();
        let pending: Vec<((String, NaiveDate), Value)> = {
            let mut days = self.days.lock().unwrap_or_else(|e| e.into_inner());
            days.iter_mut()
                .filter(|(_, d)| d.dirty)
                .map(|(k, d)| {
                    d.dirty = false;
                    (k.clone(), d.record.clone())
                })
                .collect()
        };
        for (key, record) in pending {
            if let Err(e) = records::save(&self.store, &record).await {
                tracing::error!(svm = key.0, error = %e, "cannot save the on-access ACTIVE run record; retrying");
                let mut days = self.days.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(d) = days.get_mut(&key) {
                    d.dirty = true;
                }
            }
        }
        let mut days = self.days.lock().unwrap_or_else(|e| e.into_inner());
        days.retain(|(_, date), d| *date >= today || d.dirty);
    }
}

fn add_u64(record: &mut Value, field: &str, n: u64) {
    record[field] = json!(record[field].as_u64().unwrap_or(0) + n);
}

/// Adds one outcome to the record, as an on-demand run's tally would.
fn count(
    record: &mut Value,
    policy: &Policy,
    trigger: Trigger,
    file_path: &str,
    outcome: &Outcome,
    now: DateTime<Utc>,
) {
    match outcome {
        Outcome::Skipped(_) => add_u64(record, "files_skipped", 1),
        Outcome::Clean { cached: true } => add_u64(record, "files_from_cache", 1),
        _ => {}
    }
    let mut tally = Tally::default();
    tally.add(file_path.to_string(), outcome.clone());
    let mut one = json!({});
    tally.fill(&mut one);
    add_u64(
        record,
        "files_scanned",
        one["files_scanned"].as_u64().unwrap_or(0),
    );
    for (list, counter) in [("infected", "infected_count"), ("errors", "error_count")] {
        let new = one[list].as_array().cloned().unwrap_or_default();
        add_u64(record, counter, new.len() as u64);
        if let Some(kept) = record[list].as_array_mut() {
            let room = RECORD_LIMIT.saturating_sub(kept.len());
            kept.extend(new.into_iter().take(room));
        }
    }
    let checks = &mut record["checks"];
    checks[trigger.as_str()] = json!(checks[trigger.as_str()].as_u64().unwrap_or(0) + 1);
    record["end_time"] = json!(event_time(now));
    // The policy in force now: the day's record names the latest one.
    record["policy"] = json!(policy.name);
    record["status"] = json!(if record["error_count"].as_u64().unwrap_or(0) > 0 {
        "COMPLETED_WITH_ERRORS"
    } else {
        "COMPLETED"
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanning::Remediation;
    use vscan::scope::{PathStyle, SkipReason};

    fn policy() -> Policy {
        let scope = vscan::config::default_scope(PathStyle::Cifs);
        Policy {
            name: "p".into(),
            scope: vscan::config::policy_scope(&scope, PathStyle::Cifs).expect("scope"),
            scope_doc: scope,
            mandatory: true,
            remediation: Remediation::Report,
            s3: true,
        }
    }

    fn blank() -> Value {
        json!({"files_scanned": 0, "files_from_cache": 0, "files_skipped": 0,
               "infected": [], "infected_count": 0, "errors": [], "error_count": 0, "checks": {}})
    }

    #[test]
    fn outcomes_add_up_in_one_record() {
        let (p, now) = (policy(), Utc::now());
        let mut r = blank();
        count(
            &mut r,
            &p,
            Trigger::S3Upload,
            "/a",
            &Outcome::Clean { cached: false },
            now,
        );
        count(
            &mut r,
            &p,
            Trigger::S3Upload,
            "/b",
            &Outcome::Clean { cached: true },
            now,
        );
        count(
            &mut r,
            &p,
            Trigger::OnAccess,
            "/c",
            &Outcome::Skipped(SkipReason::NoExtension),
            now,
        );
        let infected = Outcome::Infected {
            threat: "Eicar".into(),
            remedy: None,
        };
        count(&mut r, &p, Trigger::S3Upload, "/d", &infected, now);
        count(
            &mut r,
            &p,
            Trigger::OnAccess,
            "/e",
            &Outcome::Unavailable("down".into()),
            now,
        );
        assert_eq!(r["files_scanned"], 3);
        assert_eq!(r["files_from_cache"], 1);
        assert_eq!(r["files_skipped"], 1);
        assert_eq!(r["infected_count"], 1);
        assert_eq!(r["infected"][0]["path"], "/d");
        assert_eq!(r["infected"][0]["threat"], "Eicar");
        assert_eq!(r["error_count"], 1);
        assert_eq!(r["errors"][0]["kind"], "scan");
        assert_eq!(r["checks"], json!({"s3_upload": 3, "on_access": 2}));
        assert_eq!(r["status"], "COMPLETED_WITH_ERRORS");
    }

    #[test]
    fn lists_stop_growing_at_the_limit_but_counts_do_not() {
        let (p, now) = (policy(), Utc::now());
        let mut r = blank();
        let infected = Outcome::Infected {
            threat: "T".into(),
            remedy: None,
        };
        for i in 0..RECORD_LIMIT + 5 {
            count(
                &mut r,
                &p,
                Trigger::OnAccess,
                &format!("/f{i}"),
                &infected,
                now,
            );
        }
        assert_eq!(r["infected"].as_array().map(Vec::len), Some(RECORD_LIMIT));
        assert_eq!(r["infected_count"], RECORD_LIMIT as u64 + 5);
    }
}
