//! `AuditHub::record`, the S3 endpoint's interface, on real files: which events are
//! written under which configuration, live reconfiguration, and failures.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use audit::log::{ACTIVE_NAME, archives};
use audit::{
    AuditEvent, AuditHub, LogConfig, Outcome, RotationSchedule, S3Event, SvmAudit, SystemClock,
};
use serde_json::Value;

const SVM: &str = "6f1c2b9e-0000-4000-8000-000000000001";

fn config(dir: &Path, enabled: bool, data: bool, management: bool) -> SvmAudit {
    SvmAudit {
        svm_uuid: SVM.into(),
        svm_name: "vs1".into(),
        enabled,
        data,
        management,
        log: LogConfig {
            dir: dir.to_path_buf(),
            rotation_size: 100 << 20,
            rotation_schedule: RotationSchedule::default(),
            retention_count: 0,
            retention_age: Duration::ZERO,
        },
    }
}

fn event(name: S3Event, id: &str) -> AuditEvent {
    let mut e = AuditEvent::new(name, "198.51.100.4:40222".parse().unwrap(), id);
    e.bucket = Some("bucket1".into());
    e.object = Some("dir/key.txt".into());
    e.user.access_key = Some("AKIAEXAMPLE".into());
    e.bytes_in = 12;
    e.duration_us = 350;
    e
}

fn lines(dir: &Path) -> Vec<Value> {
    let mut names = archives(dir).unwrap();
    names.push(ACTIVE_NAME.to_string());
    names
        .iter()
        .flat_map(|n| {
            std::fs::read_to_string(dir.join(n))
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn ids(dir: &Path) -> Vec<String> {
    lines(dir)
        .iter()
        .map(|l| l["request_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn records_follow_the_live_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let hub = AuditHub::new("node-a", Arc::new(SystemClock));

    // No configuration: nothing written, no error.
    hub.record(SVM, event(S3Event::GetObject, "none"))
        .await
        .unwrap();
    assert!(!dir.path().join(ACTIVE_NAME).exists());

    hub.apply(config(dir.path(), true, true, false))
        .await
        .unwrap();
    hub.record(SVM, event(S3Event::GetObject, "d1"))
        .await
        .unwrap();
    hub.record(SVM, event(S3Event::PutBucket, "m1"))
        .await
        .unwrap();
    assert_eq!(ids(dir.path()), ["d1"], "management not selected");

    // events = management only: takes effect for the very next record.
    hub.apply(config(dir.path(), true, false, true))
        .await
        .unwrap();
    hub.record(SVM, event(S3Event::PutObject, "d2"))
        .await
        .unwrap();
    hub.record(SVM, event(S3Event::DeleteBucket, "m2"))
        .await
        .unwrap();
    assert_eq!(ids(dir.path()), ["d1", "m2"]);

    // Disabled: nothing, enabled again: records resume in the same file.
    hub.apply(config(dir.path(), false, true, true))
        .await
        .unwrap();
    hub.record(SVM, event(S3Event::GetObject, "off"))
        .await
        .unwrap();
    hub.apply(config(dir.path(), true, true, true))
        .await
        .unwrap();
    hub.record(SVM, event(S3Event::MPComplete, "d3"))
        .await
        .unwrap();
    assert_eq!(ids(dir.path()), ["d1", "m2", "d3"]);

    // rotation.now moves the active file into an archive.
    hub.rotate_now(SVM).await.unwrap();
    assert_eq!(archives(dir.path()).unwrap().len(), 1);
    hub.record(SVM, event(S3Event::GetObject, "d4"))
        .await
        .unwrap();
    assert_eq!(ids(dir.path()), ["d1", "m2", "d3", "d4"]);

    // The record carries what the hub knows, not what the caller claimed.
    let mut claim = event(S3Event::PutBucket, "m3");
    claim.svm.name = "someone-else".into();
    claim.category = audit::Category::Data;
    claim.result = Outcome::Failure;
    claim.error_code = Some("AccessDenied".into());
    claim.http_status = 403;
    hub.rename(SVM, "vs1-renamed");
    hub.record(SVM, claim).await.unwrap();
    let last = lines(dir.path()).pop().unwrap();
    assert_eq!(last["svm"]["name"], "vs1-renamed");
    assert_eq!(last["svm"]["uuid"], SVM);
    assert_eq!(last["node"], "node-a");
    assert_eq!(last["category"], "management");
    assert_eq!(last["event"], "PutBucket");
    assert_eq!(last["result"], "failure");
    assert_eq!(last["error_code"], "AccessDenied");
    assert_eq!(last["http_status"], 403);
    assert_eq!(last["client"]["ip"], "198.51.100.4");
    assert_eq!(last["client"]["port"], 40222);
    assert_eq!(last["user"]["access_key"], "AKIAEXAMPLE");
    let time = last["time"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.len() == 27,
        "RFC 3339 with microseconds: {time}"
    );

    // Removed: nothing more, files stay.
    hub.remove(SVM);
    hub.record(SVM, event(S3Event::GetObject, "gone"))
        .await
        .unwrap();
    assert_eq!(lines(dir.path()).len(), 5);
}

/// Collects what the hub logs, as `vigil serve` would print it on stderr.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_record_that_cannot_be_made_durable_is_an_error() {
    let log = Captured::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    // current-thread runtime: record() and its report run on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let hub = AuditHub::new("node-a", Arc::new(SystemClock));
    // A configuration that cannot be opened is refused by apply and changes nothing.
    let missing = dir.path().join("missing");
    assert!(hub.apply(config(&missing, true, true, true)).await.is_err());
    assert!(hub.config(SVM).is_none());

    // Restored from the store with an unusable directory: every selected record fails,
    // unselected ones still pass; once the directory exists, records resume.
    hub.restore(config(&missing, true, true, false)).await;
    assert!(
        hub.record(SVM, event(S3Event::GetObject, "x"))
            .await
            .is_err()
    );
    hub.record(SVM, event(S3Event::PutBucket, "m"))
        .await
        .unwrap();
    let report = log.text();
    assert!(
        report.contains("ERROR")
            && report.contains("S3 audit record cannot be written")
            && report.contains("svm=vs1")
            && report.contains(&format!("svm_uuid={SVM}"))
            && report.contains("reason="),
        "{report}"
    );
    std::fs::create_dir(&missing).unwrap();
    hub.record(SVM, event(S3Event::GetObject, "back"))
        .await
        .unwrap();
    assert_eq!(ids(&missing), ["back"]);

    // Disk full (the active file is /dev/full): an error, and earlier records intact.
    if std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .is_ok()
    {
        let full = dir.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::os::unix::fs::symlink("/dev/full", full.join(ACTIVE_NAME)).unwrap();
        hub.apply(config(&full, true, true, true)).await.unwrap();
        let err = hub
            .record(SVM, event(S3Event::GetObject, "lost"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
    }
    assert_eq!(ids(&missing), ["back"]);
}

#[tokio::test]
async fn concurrent_records_through_the_hub_are_all_written() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Arc::new(AuditHub::new("node-a", Arc::new(SystemClock)));
    let mut cfg = config(dir.path(), true, true, true);
    cfg.log.rotation_size = 1 << 20;
    hub.apply(cfg).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|w| {
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                for i in 0..500 {
                    hub.record(SVM, event(S3Event::PutObject, &format!("{w}-{i}")))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut got = ids(dir.path());
    assert_eq!(got.len(), 16 * 500);
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 16 * 500, "no duplicates");
    assert!(!archives(dir.path()).unwrap().is_empty(), "rotated by size");
}
