//! The store's contract, checked on both backends: SQLite in a temp file and a real
//! PostgreSQL server started for the test (Debian's postgresql, `initdb` in a temp dir).
//! PostgreSQL adds what only a shared database has: several stores (nodes) on one
//! database, following each other's commits and taking turns to write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use store::events::{EventQuery, NewEvent, StoredEvent};
use store::{Invalidation, Store};
use testkit::RealPostgres;

fn event(svm: &str, second: u32, kind: &str) -> NewEvent {
    NewEvent {
        svm: svm.into(),
        time: format!("2026-11-22T10:00:{second:02}.000000Z"),
        kind: kind.into(),
        body: json!({"svm": svm, "second": second, "type": kind}),
    }
}

fn seconds(events: &[StoredEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|v| v.body["second"].as_u64().unwrap())
        .collect()
}

async fn events_filter_order_page_and_trim(store: &Store) {
    let mut events = Vec::new();
    for s in 0..30 {
        let kind = if s % 3 == 0 {
            "file_infected"
        } else {
            "scanner_connected"
        };
        events.push(event(if s % 2 == 0 { "a" } else { "b" }, s, kind));
    }
    let seqs = store.append_events(&events).await.unwrap();
    assert_eq!(seqs.len(), 30);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let q = EventQuery {
        svm: Some("a".into()),
        kinds: vec!["file_infected".into()],
        ..Default::default()
    };
    let got = store.query_events(&q).await.unwrap();
    assert_eq!(seconds(&got), vec![24, 18, 12, 6, 0]);
    // Keyset paging continues after the last event seen, both ways.
    let after = |e: &StoredEvent| Some((e.time.clone(), e.seq));
    let next = store
        .query_events(&EventQuery {
            after: after(&got[1]),
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(seconds(&next), vec![12, 6, 0]);
    let next = store
        .query_events(&EventQuery {
            after: after(&got[3]),
            oldest_first: true,
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(seconds(&next), vec![12, 18, 24]);
    let page = store
        .query_events(&EventQuery {
            oldest_first: true,
            limit: Some(2),
            offset: 3,
            since: Some("2026-11-22T10:00:01.000000Z".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(seconds(&page), vec![4, 5]);
    // A repeat folded into an earlier event keeps its place by the new time.
    let first = &got[4];
    store
        .update_event(
            first.seq,
            "2026-11-22T10:00:59.000000Z",
            &json!({"second": 59}),
        )
        .await
        .unwrap();
    let newest = store
        .query_events(&EventQuery {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(seconds(&newest), vec![59]);
    assert_eq!(
        store
            .trim_events(10, Some("2026-11-22T10:00:05.000000Z"))
            .await
            .unwrap(),
        20
    );
    assert_eq!(store.count_events().await.unwrap(), 10);
    let all = store.query_events(&EventQuery::default()).await.unwrap();
    // Trimming by count keeps the newest by sequence: the folded repeat went with it.
    assert_eq!(seconds(&all).first(), Some(&29));
    assert_eq!(seconds(&all).last(), Some(&20));
}

async fn documents_commit_and_roll_back(url: &str) {
    {
        let store = Store::open(url).await.unwrap();
        let mut txn = store.begin().await;
        txn.put("svm", "a", json!({"name": "a"}));
        txn.put("svm", "b", json!({"name": "b"}));
        assert_eq!(txn.list("svm").len(), 2);
        txn.commit().await.unwrap();
        let mut txn = store.begin().await;
        txn.put("svm", "c", json!({"name": "c"}));
        txn.delete("svm", "a");
        drop(txn); // not committed
        assert_eq!(store.count("svm"), 2);
        let mut txn = store.begin().await;
        txn.delete("svm", "a");
        txn.commit().await.unwrap();
    }
    let store = Store::open(url).await.unwrap();
    let names: Vec<_> = store
        .list("svm")
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("b")]);
}

#[tokio::test]
async fn sqlite_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = Store::sqlite_url(&dir.path().join("db.sqlite"));
    documents_commit_and_roll_back(&url).await;
    let events = Store::open(&Store::sqlite_url(&dir.path().join("events.sqlite")))
        .await
        .unwrap();
    assert_eq!(events.engine(), "sqlite");
    events_filter_order_page_and_trim(&events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_keeps_the_contract() {
    let pg = RealPostgres::start();
    pg.create_database("docs");
    pg.create_database("events");
    documents_commit_and_roll_back(&pg.url("docs")).await;
    let events = Store::open(&pg.url("events")).await.unwrap();
    assert_eq!(events.engine(), "postgresql");
    events_filter_order_page_and_trim(&events).await;
}

/// Waits (generously: the periodic look is 5 s) until `check` holds.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nodes_follow_each_other_and_take_turns_to_write() {
    let pg = RealPostgres::start();
    pg.create_database("cluster");
    let url = pg.url("cluster");
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();

    // What A commits reaches B by itself, puts and deletes.
    let mut txn = a.begin().await;
    txn.put("svm", "x", json!({"name": "x"}));
    txn.put("svm", "y", json!({"name": "y"}));
    txn.commit().await.unwrap();
    eventually("B sees A's two SVMs", || b.count("svm") == 2).await;
    let mut txn = a.begin().await;
    txn.delete("svm", "x");
    txn.commit().await.unwrap();
    eventually("B sees A's delete", || b.get("svm", "x").is_none()).await;

    // A write on B, begun while A's write is open, waits for it and then reads it: a
    // uniqueness check on B cannot miss what A just committed.
    let mut first = a.begin().await;
    first.put("svm", "z", json!({"name": "z"}));
    let b2 = Arc::clone(&b);
    let second = tokio::spawn(async move {
        let txn = b2.begin().await;
        let seen = txn.get("svm", "z");
        drop(txn);
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "B's write did not wait for A's");
    first.commit().await.unwrap();
    let seen = second.await.unwrap();
    assert_eq!(seen, Some(json!({"name": "z"})));

    // Invalidation by hand still works on a shared backend.
    b.invalidate(Invalidation::Everything).await.unwrap();
    assert_eq!(b.count("svm"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_fails_commits_cleanly_and_recovers() {
    let mut pg = RealPostgres::start();
    pg.create_database("outage");
    let url = pg.url("outage");
    let store = Store::open(&url).await.unwrap();
    let mut txn = store.begin().await;
    txn.put("svm", "kept", json!({"name": "kept"}));
    txn.commit().await.unwrap();

    pg.stop();
    let mut txn = store.begin().await;
    assert!(
        txn.get("svm", "kept").is_some(),
        "reads still served from memory"
    );
    txn.put("svm", "lost", json!({"name": "lost"}));
    let err = txn.commit().await.expect_err("commit without a database");
    assert!(err.is_unavailable(), "{err}");
    assert!(
        store.get("svm", "lost").is_none(),
        "a failed commit publishes nothing"
    );
    assert!(store.query_events(&EventQuery::default()).await.is_err());

    pg.resume();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut txn = store.begin().await;
        txn.put("svm", "after", json!({"name": "after"}));
        match txn.commit().await {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "no recovery: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reopened = Store::open(&url).await.unwrap();
    assert!(reopened.get("svm", "kept").is_some());
    assert!(reopened.get("svm", "after").is_some());
    assert!(reopened.get("svm", "lost").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_newer_than_the_binary_is_refused() {
    let pg = RealPostgres::start();
    pg.create_database("newer");
    let url = pg.url("newer");
    drop(Store::open(&url).await.unwrap());
    pg.psql(
        "newer",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer vigil', true, '\\x00', 0)",
    );
    let err = Store::open(&url)
        .await
        .err()
        .expect("a newer schema is refused");
    assert!(err.to_string().contains("migration"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_sqlite_into_postgres_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::sqlite_url(&dir.path().join("single.sqlite"));
    {
        let store = Store::open(&sqlite).await.unwrap();
        let mut txn = store.begin().await;
        for i in 0..50 {
            txn.put(
                "svm",
                &format!("s{i:02}"),
                json!({"name": format!("s{i:02}"), "n": i}),
            );
        }
        txn.put(
            "schedule",
            "one",
            json!({"name": "one", "interval": "PT1M"}),
        );
        txn.commit().await.unwrap();
        let events: Vec<_> = (0..12_000u32)
            .map(|i| NewEvent {
                svm: format!("s{:02}", i % 50),
                time: format!(
                    "2026-11-22T10:{:02}:{:02}.{:06}Z",
                    i / 3600,
                    (i / 60) % 60,
                    i
                ),
                kind: if i % 7 == 0 {
                    "file_infected"
                } else {
                    "scanner_connected"
                }
                .into(),
                body: json!({"i": i}),
            })
            .collect();
        store.append_events(&events).await.unwrap();
    }
    let pg = RealPostgres::start();
    pg.create_database("cluster");
    let postgres = pg.url("cluster");
    let copied = store::migrate::migrate(&sqlite, &postgres, false)
        .await
        .unwrap();
    assert_eq!(copied.documents, 51);
    assert_eq!(copied.events, 12_000);

    let before = Store::open(&sqlite).await.unwrap();
    let after = Store::open(&postgres).await.unwrap();
    for kind in ["svm", "schedule"] {
        assert_eq!(before.list(kind), after.list(kind), "{kind}");
    }
    let infected = |store: Arc<Store>| async move {
        store
            .query_events(&EventQuery {
                svm: Some("s07".into()),
                kinds: vec!["file_infected".into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.time, e.body))
            .collect::<Vec<_>>()
    };
    let want = infected(Arc::clone(&before)).await;
    assert!(!want.is_empty());
    assert_eq!(want, infected(Arc::clone(&after)).await);

    // A non-empty target is refused and left alone, unless replaced.
    let err = store::migrate::migrate(&sqlite, &postgres, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let mut txn = after.begin().await;
    txn.put("svm", "only-in-cluster", json!({"name": "x"}));
    txn.commit().await.unwrap();
    let back = Store::sqlite_url(&dir.path().join("back.sqlite"));
    store::migrate::migrate(&postgres, &back, false)
        .await
        .unwrap();
    let again = store::migrate::migrate(&sqlite, &back, true).await.unwrap();
    assert_eq!(again.events, 12_000);
    let replaced = Store::open(&back).await.unwrap();
    assert!(
        replaced.get("svm", "only-in-cluster").is_none(),
        "replace removes what was there"
    );
    assert_eq!(replaced.count("svm"), 50);
    assert_eq!(replaced.count_events().await.unwrap(), 12_000);
}
