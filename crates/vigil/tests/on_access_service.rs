//! The on-access decision service on its own: the real embedded scanner on a unix
//! socket, the real monitor and dispatcher, a real SQLite store holding the Vscan
//! configuration as the REST layer stores it, and files on disk. Each test asks
//! `OnAccess::check` what a door would and checks the decision, the Vscan events and
//! the day's `ACTIVE` run record.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use store::Store;
use store::events::EventQuery;
use vigil::scanning::on_access::{Access, AccessDecision, Allowed, OnAccess};
use vigil::scanning::records::RUN_KIND;
use vigil::scanning::{ScanService, Subject, Trigger};
use vscan::config::{ON_ACCESS_KIND, STATE_KIND, object_id};

mod common;

use common::pipeline::{EICAR, NO_SERVER_SVM, SVM};

const ADMIN: &str = "0f0e0d0c-0000-4000-8000-0000000000aa";

struct Harness {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    scanning: Arc<ScanService>,
    on_access: Arc<OnAccess>,
}

/// The pipeline with the Vscan configuration the REST layer would store: both SVMs
/// on, each with the enabled policy `p1`.
async fn harness() -> Harness {
    let common::pipeline::Pipeline {
        dir,
        store,
        scanning,
        ..
    } = common::pipeline::start().await;
    let mut txn = store.begin().await;
    txn.put("cluster", "cluster", json!({"uuid": ADMIN, "name": "c1"}));
    for (svm, name) in [(SVM, "vs1"), (NO_SERVER_SVM, "vs2")] {
        txn.put("svm", svm, json!({"uuid": svm, "name": name}));
        txn.put(STATE_KIND, svm, vscan_state(svm, true));
    }
    txn.commit().await.expect("commit");
    put_policy(&store, SVM, json!({})).await;
    put_policy(&store, NO_SERVER_SVM, json!({})).await;
    let on_access = OnAccess::new(Arc::clone(&store), Arc::clone(&scanning));
    Harness {
        dir,
        store,
        scanning,
        on_access,
    }
}

fn vscan_state(svm: &str, enabled: bool) -> Value {
    json!({"svm_uuid": svm, "enabled": enabled, "cache_generation": 0})
}

/// Stores the SVM's enabled policy `p1` (mandatory), its scope the defaults with
/// `scope` merged in, and any other top-level fields `extra` gives.
async fn put_policy(store: &Store, svm: &str, scope: Value) {
    put_policy_with(store, svm, scope, json!({})).await;
}

async fn put_policy_with(store: &Store, svm: &str, scope: Value, extra: Value) {
    let mut full = vscan::config::default_scope(vscan::scope::PathStyle::Cifs);
    for (k, v) in scope.as_object().into_iter().flatten() {
        full[k] = v.clone();
    }
    let mut policy = json!({
        "svm": {"uuid": svm}, "name": "p1", "enabled": true, "mandatory": true,
        "protocol": "CIFS", "scope": full,
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        policy[k] = v.clone();
    }
    let mut txn = store.begin().await;
    txn.put(ON_ACCESS_KIND, &object_id(svm, "p1"), policy);
    txn.commit().await.expect("commit");
}

impl Harness {
    fn file(&self, name: &str, content: &[u8]) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    async fn check(&self, svm: &str, name: &str, content: &[u8]) -> AccessDecision {
        let host = self.file(name, content);
        self.check_path(svm, &host, &format!("/vol1/{name}")).await
    }

    async fn check_path(&self, svm: &str, host: &std::path::Path, path: &str) -> AccessDecision {
        self.on_access
            .check(
                svm,
                path,
                Subject::Path(host.to_path_buf()),
                Access::default(),
                Trigger::OnAccess,
            )
            .await
    }

    /// The SVM's `ACTIVE` records after a flush.
    async fn active(&self, svm: &str) -> Vec<Value> {
        self.on_access.flush().await;
        self.store
            .list(RUN_KIND)
            .iter()
            .filter(|r| r["type"] == "ACTIVE" && r["svm"]["uuid"] == svm)
            .map(|r| (**r).clone())
            .collect()
    }
}

/// The stored events of `kind` for `svm`, waiting for the writer task.
async fn events_of(store: &Store, svm: &str, kind: &str) -> Vec<Value> {
    for _ in 0..250 {
        let got: Vec<_> = store
            .query_events(&EventQuery {
                svm: Some(svm.into()),
                kinds: vec![kind.into()],
                ..Default::default()
            })
            .await
            .expect("query")
            .into_iter()
            .map(|e| e.body)
            .collect();
        if !got.is_empty() {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {kind} event was stored for {svm}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_is_allowed_then_answered_from_the_cache_and_counted_active() {
    let h = harness().await;
    let host = h.file("clean.txt", b"nothing to see");
    assert_eq!(
        h.check_path(SVM, &host, "/vol1/clean.txt").await,
        AccessDecision::Allow(Allowed::Scanned)
    );
    assert_eq!(
        h.check_path(SVM, &host, "/vol1/clean.txt").await,
        AccessDecision::Allow(Allowed::Cached)
    );
    let active = h.active(SVM).await;
    assert_eq!(active.len(), 1, "{active:?}");
    let r = &active[0];
    assert_eq!(r["svm"], json!({"uuid": SVM, "name": "vs1"}));
    assert_eq!(r["policy"], "p1");
    assert_eq!(r["status"], "COMPLETED");
    assert_eq!(r["files_scanned"], 2);
    assert_eq!(r["files_from_cache"], 1);
    assert_eq!(r["checks"], json!({"on_access": 2}));
    assert!(
        r["uuid"]
            .as_str()
            .is_some_and(|u| uuid::Uuid::parse_str(u).is_ok())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infected_is_denied_with_an_event_and_in_the_record() {
    let h = harness().await;
    let decision = h.check(SVM, "eicar.com", EICAR).await;
    let AccessDecision::Deny { threat, remedy } = &decision else {
        panic!("not denied: {decision:?}");
    };
    assert!(threat.to_lowercase().contains("eicar"), "{threat}");
    // The policy has no remediation field: report only, the file stays.
    assert!(
        matches!(
            remedy,
            Some(vigil::scanning::Remedy::Done {
                action: "report",
                ..
            })
        ),
        "{remedy:?}"
    );
    assert!(h.dir.path().join("eicar.com").exists());
    assert!(!decision.permits());
    let events = events_of(&h.store, SVM, "file_infected").await;
    assert_eq!(events[0]["file_path"], "/vol1/eicar.com");
    let active = h.active(SVM).await;
    assert_eq!(active[0]["infected_count"], 1);
    assert_eq!(active[0]["infected"][0]["path"], "/vol1/eicar.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_remediation_applies() {
    let h = harness().await;
    put_policy_with(&h.store, SVM, json!({}), json!({"remediation": "delete"})).await;
    let decision = h.check(SVM, "eicar.com", EICAR).await;
    assert!(
        matches!(
            &decision,
            AccessDecision::Deny {
                remedy: Some(vigil::scanning::Remedy::Done {
                    action: "delete",
                    ..
                }),
                ..
            }
        ),
        "{decision:?}"
    );
    assert!(!h.dir.path().join("eicar.com").exists());
    events_of(&h.store, SVM, "file_deleted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_in_force_allows_without_scanning_or_recording() {
    let h = harness().await;
    let mut txn = h.store.begin().await;
    txn.put(STATE_KIND, SVM, vscan_state(SVM, false));
    txn.commit().await.expect("commit");
    assert_eq!(
        h.check(SVM, "eicar.com", EICAR).await,
        AccessDecision::Allow(Allowed::NotInForce)
    );
    assert!(h.on_access.policy(SVM).is_none());
    // Vscan on again, but the policy disabled.
    let mut txn = h.store.begin().await;
    txn.put(STATE_KIND, SVM, vscan_state(SVM, true));
    txn.commit().await.expect("commit");
    put_policy_with(&h.store, SVM, json!({}), json!({"enabled": false})).await;
    assert_eq!(
        h.check(SVM, "eicar.com", EICAR).await,
        AccessDecision::Allow(Allowed::NotInForce)
    );
    assert!(h.active(SVM).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_policy_change_is_seen_by_the_next_check() {
    let h = harness().await;
    put_policy(&h.store, SVM, json!({"exclude_paths": ["\\vol1\\skip"]})).await;
    let host = h.file("e.com", EICAR);
    let decision = h.check_path(SVM, &host, "/vol1/skip/e.com").await;
    assert!(
        matches!(decision, AccessDecision::Allow(Allowed::Excluded(_))),
        "{decision:?}"
    );
    let policy = h.on_access.policy(SVM).expect("in force");
    assert!(Arc::ptr_eq(
        &policy,
        &h.on_access.policy(SVM).expect("in force")
    ));
    put_policy(&h.store, SVM, json!({"exclude_extensions": ["txt"]})).await;
    let decision = h.check_path(SVM, &host, "/vol1/skip/e.com").await;
    assert!(
        matches!(decision, AccessDecision::Deny { .. }),
        "{decision:?}"
    );
    let txt = h.file("e.txt", EICAR);
    let decision = h.check_path(SVM, &txt, "/vol1/e.txt").await;
    assert!(
        matches!(decision, AccessDecision::Allow(Allowed::Excluded(_))),
        "{decision:?}"
    );
    assert_eq!(h.active(SVM).await[0]["files_skipped"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_scanner_is_unavailable_and_mandatory_decides() {
    let h = harness().await;
    let decision = h.check(NO_SERVER_SVM, "any.txt", b"x").await;
    assert!(
        matches!(
            decision,
            AccessDecision::Unavailable {
                mandatory: true,
                ..
            }
        ),
        "{decision:?}"
    );
    assert!(!decision.permits());
    events_of(&h.store, NO_SERVER_SVM, "scan_failed").await;
    put_policy_with(
        &h.store,
        NO_SERVER_SVM,
        json!({}),
        json!({"mandatory": false}),
    )
    .await;
    let decision = h.check(NO_SERVER_SVM, "any.txt", b"x").await;
    assert!(
        matches!(
            decision,
            AccessDecision::Unavailable {
                mandatory: false,
                ..
            }
        ),
        "{decision:?}"
    );
    assert!(decision.permits());
    let active = h.active(NO_SERVER_SVM).await;
    assert_eq!(active[0]["error_count"], 2);
    assert_eq!(active[0]["status"], "COMPLETED_WITH_ERRORS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_goes_on_counting_in_the_days_record() {
    let h = harness().await;
    h.check(SVM, "a.txt", b"first").await;
    let before = h.active(SVM).await;
    let again = OnAccess::new(Arc::clone(&h.store), Arc::clone(&h.scanning));
    let host = h.file("b.txt", b"second");
    again
        .check(
            SVM,
            "/vol1/b.txt",
            Subject::Path(host),
            Access::default(),
            Trigger::S3Upload,
        )
        .await;
    again.flush().await;
    let after: Vec<Value> = h
        .store
        .list(RUN_KIND)
        .iter()
        .filter(|r| r["type"] == "ACTIVE")
        .map(|r| (**r).clone())
        .collect();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["uuid"], before[0]["uuid"]);
    assert_eq!(after[0]["files_scanned"], 2);
    assert_eq!(after[0]["checks"], json!({"on_access": 1, "s3_upload": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_switch_is_per_svm() {
    let h = harness().await;
    assert!(h.on_access.scans_s3(SVM));
    let mut state = vscan_state(SVM, true);
    state["s3_scanning"] = json!(false);
    let mut txn = h.store.begin().await;
    txn.put(STATE_KIND, SVM, state);
    txn.commit().await.expect("commit");
    assert!(!h.on_access.scans_s3(SVM));
    assert!(h.on_access.scans_s3(NO_SERVER_SVM));
    // The switch is about S3 only: file doors still get decisions.
    assert!(h.on_access.policy(SVM).is_some());
}
