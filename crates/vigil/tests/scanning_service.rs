//! The scanning service on its own: the real embedded scanner on a unix socket, the real
//! monitor and dispatcher, a real SQLite store for the events, and files on disk. Each
//! test goes through the pipeline a front door uses (`ScanService::scan`) and checks
//! the outcome, the file system, the stored Vscan events and the metrics hook.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use scan::remote::Desired;
use serde_json::json;
use store::Store;
use store::events::EventQuery;
use vigil::scanning::{Job, Outcome, OutcomeKind, Remediation, Remedy, Request, Subject, Trigger};
use vscan::scope::{PathStyle, Scope};

mod common;

use common::pipeline::{EICAR, NO_SERVER_SVM, SVM};

async fn harness() -> common::pipeline::Pipeline {
    common::pipeline::start().await
}

fn job(svm: &str, trigger: Trigger, remediation: Remediation) -> Job {
    Job {
        svm: svm.into(),
        trigger,
        remediation,
        deadline: None,
    }
}

fn everything() -> Scope {
    let scope = vscan::config::default_scope(PathStyle::Unix);
    vscan::config::policy_scope(&scope, PathStyle::Unix).expect("scope")
}

fn path_request(host: &Path, file_path: &str) -> Request {
    Request {
        file_path: file_path.into(),
        subject: Subject::Path(host.to_path_buf()),
        execute: false,
        readonly_volume: false,
    }
}

/// The stored events of `kind` for the SVM, waiting for the writer task.
async fn events_of(store: &Store, kind: &str, want: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let got: Vec<_> = store
            .query_events(&EventQuery {
                svm: Some(SVM.into()),
                kinds: vec![kind.into()],
                ..Default::default()
            })
            .await
            .expect("query")
            .into_iter()
            .map(|e| e.body)
            .collect();
        if got.len() >= want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {want} {kind} events were stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_file_is_scanned_then_answered_from_the_cache() {
    let h = harness().await;
    let file = h.dir.path().join("clean.txt");
    std::fs::write(&file, b"nothing to see").expect("write");
    let job = job(SVM, Trigger::OnAccess, Remediation::Report);
    let first = h
        .scanning
        .scan(&everything(), &job, path_request(&file, "/vol1/clean.txt"))
        .await;
    assert_eq!(first, Outcome::Clean { cached: false });
    let second = h
        .scanning
        .scan(&everything(), &job, path_request(&file, "/vol1/clean.txt"))
        .await;
    assert_eq!(second, Outcome::Clean { cached: true });
    // A change makes it a new file for the cache.
    std::fs::write(&file, b"something else, longer").expect("rewrite");
    let third = h
        .scanning
        .scan(&everything(), &job, path_request(&file, "/vol1/clean.txt"))
        .await;
    assert_eq!(third, Outcome::Clean { cached: false });
    assert_eq!(
        h.counters.get(Trigger::OnAccess, OutcomeKind::Clean).files,
        2
    );
    assert_eq!(
        h.counters.get(Trigger::OnAccess, OutcomeKind::Cached).files,
        1
    );
    assert_eq!(
        h.counters.get(Trigger::OnAccess, OutcomeKind::Clean).bytes,
        14 + 22
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infected_file_is_quarantined_with_events() {
    let h = harness().await;
    let file = h.dir.path().join("eicar.com");
    std::fs::write(&file, EICAR).expect("write");
    let outcome = h
        .scanning
        .scan(
            &everything(),
            &job(SVM, Trigger::OnDemand, Remediation::Quarantine),
            path_request(&file, "/vol1/eicar.com"),
        )
        .await;
    let Outcome::Infected {
        threat,
        remedy:
            Some(Remedy::Done {
                action: "quarantine",
                quarantine_id: Some(id),
            }),
    } = outcome
    else {
        panic!("not quarantined: {outcome:?}");
    };
    assert!(threat.contains("EICAR"), "{threat}");
    assert!(!file.exists(), "the original is gone");
    let kept = h
        .dir
        .path()
        .join("data/quarantine")
        .join(SVM)
        .join(format!("{id}.data"));
    assert_eq!(std::fs::read(kept).expect("quarantined copy"), EICAR);
    let infected = events_of(&h.store, "file_infected", 1).await;
    assert_eq!(infected[0]["file_path"], "/vol1/eicar.com");
    let quarantined = events_of(&h.store, "file_quarantined", 1).await;
    assert_eq!(quarantined[0]["file_path"], "/vol1/eicar.com");
    assert_eq!(
        h.counters
            .get(Trigger::OnDemand, OutcomeKind::Infected)
            .files,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_are_scanned_every_time_and_never_remediated() {
    let h = harness().await;
    let job = job(SVM, Trigger::S3Upload, Remediation::Delete);
    for _ in 0..2 {
        let clean = Request {
            file_path: "/bucket/a.txt".into(),
            subject: Subject::Bytes(b"plain upload".to_vec()),
            execute: false,
            readonly_volume: false,
        };
        assert_eq!(
            h.scanning.scan(&everything(), &job, clean).await,
            Outcome::Clean { cached: false }
        );
    }
    let infected = Request {
        file_path: "/bucket/eicar.com".into(),
        subject: Subject::Bytes(EICAR.to_vec()),
        execute: false,
        readonly_volume: false,
    };
    match h.scanning.scan(&everything(), &job, infected).await {
        Outcome::Infected { remedy: None, .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.counters.get(Trigger::S3Upload, OutcomeKind::Clean).files,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_descriptor_is_scanned_and_remediated_only_with_its_path() {
    let h = harness().await;
    let file = h.dir.path().join("held.exe");
    std::fs::write(&file, EICAR).expect("write");
    let opened = |host| Request {
        file_path: "/vol1/held.exe".into(),
        subject: Subject::Open {
            file: std::fs::File::open(&file).expect("open"),
            host,
        },
        execute: true,
        readonly_volume: false,
    };
    let job = job(SVM, Trigger::OnAccess, Remediation::Rename);
    match h.scanning.scan(&everything(), &job, opened(None)).await {
        Outcome::Infected { remedy: None, .. } => {}
        other => panic!("{other:?}"),
    }
    assert!(file.exists());
    match h
        .scanning
        .scan(&everything(), &job, opened(Some(file.clone())))
        .await
    {
        Outcome::Infected {
            remedy: Some(Remedy::Done {
                action: "rename", ..
            }),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    assert!(!file.exists());
    assert!(h.dir.path().join("held.exe.vscan-infected").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_skips_before_anything_is_scanned() {
    let h = harness().await;
    let file = h.dir.path().join("eicar.log");
    std::fs::write(&file, EICAR).expect("write");
    let scope = vscan::config::merge_scope(
        Some(&json!({"exclude_extensions": ["log"]})),
        None,
        PathStyle::Unix,
    )
    .expect("scope");
    let scope = vscan::config::policy_scope(&scope, PathStyle::Unix).expect("scope");
    let outcome = h
        .scanning
        .scan(
            &scope,
            &job(SVM, Trigger::OnAccess, Remediation::Delete),
            path_request(&file, "/vol1/eicar.log"),
        )
        .await;
    assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
    assert!(file.exists(), "a skipped file is left alone");
    let skipped = h.counters.get(Trigger::OnAccess, OutcomeKind::Skipped);
    assert_eq!((skipped.files, skipped.bytes), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_scanner_is_unavailable_not_clean() {
    let h = harness().await;
    let file = h.dir.path().join("any.txt");
    std::fs::write(&file, b"x").expect("write");
    let outcome = h
        .scanning
        .scan(
            &everything(),
            &job(NO_SERVER_SVM, Trigger::OnAccess, Remediation::Report),
            path_request(&file, "/vol1/any.txt"),
        )
        .await;
    assert!(matches!(outcome, Outcome::Unavailable(_)), "{outcome:?}");
    // The pool's server going away is the same answer.
    h.manager.apply(&Desired {
        enabled_svms: HashSet::from([SVM.to_string()]),
        assignments: Vec::new(),
        cache_generations: HashMap::new(),
    });
    let outcome = h
        .scanning
        .scan(
            &everything(),
            &job(SVM, Trigger::OnAccess, Remediation::Report),
            path_request(&file, "/vol1/any.txt"),
        )
        .await;
    assert!(matches!(outcome, Outcome::Unavailable(_)), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_regular_file_fails_without_being_followed() {
    let h = harness().await;
    let target = h.dir.path().join("eicar.com");
    std::fs::write(&target, EICAR).expect("write");
    let link = h.dir.path().join("link.com");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let job = job(SVM, Trigger::OnAccess, Remediation::Delete);
    for (host, shown) in [
        (&link, "/vol1/link.com"),
        (&h.dir.path().to_path_buf(), "/vol1"),
    ] {
        let outcome = h
            .scanning
            .scan(&everything(), &job, path_request(host, shown))
            .await;
        assert!(
            matches!(outcome, Outcome::Failed(_)),
            "{shown}: {outcome:?}"
        );
    }
    assert!(target.exists(), "the link's target was not touched");
    let failed = events_of(&h.store, "scan_internal_error", 2).await;
    assert!(failed.iter().any(|e| e["file_path"] == "/vol1/link.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_too_short_for_the_scan_is_unavailable() {
    let h = harness().await;
    let file = h.dir.path().join("big.bin");
    // Large enough that scanning it takes longer than a microsecond.
    std::fs::write(&file, vec![b'a'; 32 << 20]).expect("write");
    let job = Job {
        deadline: Some(Duration::from_micros(1)),
        ..job(SVM, Trigger::OnAccess, Remediation::Report)
    };
    let outcome = h
        .scanning
        .scan(&everything(), &job, path_request(&file, "/vol1/big.bin"))
        .await;
    assert!(matches!(outcome, Outcome::Unavailable(_)), "{outcome:?}");
    let late = events_of(&h.store, "scan_timedout", 1).await;
    assert_eq!(late[0]["file_path"], "/vol1/big.bin");
}
