//! The dispatcher against real servers: two real clamd as the primary pool (one over
//! TCP with INSTREAM, one over its unix socket with FILDES) and Vigil's scanner as the
//! secondary pool. Servers are killed and restarted under the dispatcher's feet; every
//! scan must end in the right verdict or an error, never in a wrong "clean".

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{EICAR, Vigil, real_clamd};
use scan::Verdict;
use scan::cache::ScanCache;
use scan::dispatch::{ScanEvent, ScanEventKind};
use scan::remote::{
    Assignment, Desired, EventSink, Manager, ManagerConfig, Role, ServerEvent, ServerEventKind,
};

/// Collects what the manager reports, as the events table would.
#[derive(Default)]
struct Recorder {
    server: Mutex<Vec<ServerEvent>>,
    scans: Mutex<Vec<ScanEvent>>,
}

impl EventSink for Recorder {
    fn server_event(&self, event: ServerEvent) {
        self.server.lock().unwrap().push(event);
    }
    fn scan_event(&self, event: ScanEvent) {
        self.scans.lock().unwrap().push(event);
    }
}

const SVM: &str = "svm-1";

fn manager(recorder: &Arc<Recorder>) -> Arc<Manager> {
    Manager::new(
        ManagerConfig {
            check_interval: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(400),
            scan_timeout: Duration::from_secs(10),
            per_server_scans: 4,
        },
        Arc::clone(recorder) as Arc<dyn EventSink>,
    )
}

fn assignment(server: String, role: Role) -> Assignment {
    Assignment {
        svm: SVM.into(),
        server,
        role,
    }
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn connected(m: &Manager, server: &str) -> bool {
    m.statuses()
        .iter()
        .any(|s| s.server == server && s.connected)
}

fn files(dir: &Path, n: usize) -> Vec<(PathBuf, bool)> {
    (0..n)
        .map(|i| {
            let infected = i % 5 == 0;
            let path = dir.join(format!("f{i}.bin"));
            let mut body = format!("file {i} ").into_bytes();
            if infected {
                body = EICAR.to_vec();
            }
            std::fs::write(&path, body).unwrap();
            (path, infected)
        })
        .collect()
}

/// Scans every file concurrently; returns (verdicts right, errors). A wrong verdict
/// fails the test at once.
async fn scan_all(m: &Arc<Manager>, files: &[(PathBuf, bool)]) -> (usize, usize) {
    let mut tasks = Vec::new();
    for (path, infected) in files.iter().cloned() {
        let m = Arc::clone(m);
        tasks.push(tokio::spawn(async move {
            let name = path.display().to_string();
            match m.scan(SVM, &path, &name).await {
                Ok(s) => {
                    match (&s.verdict, infected) {
                        (Verdict::Infected(_), true) | (Verdict::Clean, false) => {}
                        other => panic!("wrong verdict for {name}: {other:?} from {}", s.server),
                    }
                    (1, 0)
                }
                Err(_) => (0, 1),
            }
        }));
    }
    let mut totals = (0, 0);
    for t in tasks {
        let (ok, err) = t.await.unwrap();
        totals.0 += ok;
        totals.1 += err;
    }
    totals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_between_primaries_and_to_the_secondary_and_back() {
    let mut tcp_clamd = real_clamd();
    let mut unix_clamd = real_clamd();
    let vigil = Vigil::start();
    let recorder = Arc::new(Recorder::default());
    let m = manager(&recorder);
    let tcp = format!("127.0.0.1:{}", tcp_clamd.port);
    let unix = format!("unix://{}", unix_clamd.socket.display());
    let secondary = format!("unix://{}", vigil.socket.display());
    m.apply(&Desired {
        enabled_svms: HashSet::from([SVM.to_string()]),
        cache_generations: Default::default(),
        assignments: vec![
            assignment(tcp.clone(), Role::Primary),
            assignment(unix.clone(), Role::Primary),
            assignment(secondary.clone(), Role::Secondary),
        ],
    });
    wait_for("all three connected", || {
        connected(&m, &tcp) && connected(&m, &unix) && connected(&m, &secondary)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let set = files(dir.path(), 60);

    // Both primaries share the work; the secondary idles.
    assert_eq!(scan_all(&m, &set).await, (60, 0));
    let served = |server: &str| {
        m.served()
            .into_iter()
            .find(|(_, s, _)| s == server)
            .map_or(0, |(_, _, n)| n)
    };
    assert!(served(&tcp) > 0 && served(&unix) > 0, "{:?}", m.served());
    assert_eq!(served(&secondary), 0);
    let infected_events = recorder
        .scans
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == ScanEventKind::FileInfected)
        .count();
    assert_eq!(infected_events, 12);

    // Kill one primary while scans run: each scan that hits it moves to the other one.
    tcp_clamd.kill();
    assert_eq!(scan_all(&m, &set).await, (60, 0));
    wait_for("tcp clamd disconnected", || !connected(&m, &tcp)).await;
    let reason = m
        .statuses()
        .into_iter()
        .find(|s| s.server == tcp)
        .and_then(|s| s.reason)
        .unwrap();
    assert_eq!(reason.as_str(), "remote_closed");

    // Both primaries down: the secondary pool takes over once they are seen down.
    unix_clamd.kill();
    wait_for("both primaries disconnected", || {
        !connected(&m, &tcp) && !connected(&m, &unix)
    })
    .await;
    let before = served(&secondary);
    assert_eq!(scan_all(&m, &set).await, (60, 0));
    assert_eq!(served(&secondary), before + 60);

    // A primary returns: work goes back to it.
    tcp_clamd.restart();
    wait_for("tcp clamd back", || connected(&m, &tcp)).await;
    let (tcp_before, sec_before) = (served(&tcp), served(&secondary));
    assert_eq!(scan_all(&m, &set).await, (60, 0));
    assert_eq!(served(&tcp), tcp_before + 60);
    assert_eq!(served(&secondary), sec_before);

    let kinds: Vec<ServerEventKind> = recorder
        .server
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.status.server == tcp)
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.first(), Some(&ServerEventKind::Connected));
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, ServerEventKind::Disconnected(_)))
    );
    assert_eq!(kinds.last(), Some(&ServerEventKind::Connected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_means_an_error_and_an_event_never_clean() {
    let recorder = Arc::new(Recorder::default());
    let m = manager(&recorder);
    let dead = format!("127.0.0.1:{}", common::free_port());
    m.apply(&Desired {
        enabled_svms: HashSet::from([SVM.to_string()]),
        cache_generations: Default::default(),
        assignments: vec![assignment(dead.clone(), Role::Primary)],
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean.txt");
    std::fs::write(&path, b"clean").unwrap();
    wait_for("a failed check", || {
        m.statuses()
            .iter()
            .any(|s| s.server == dead && s.checks > 0)
    })
    .await;
    let err = m.scan(SVM, &path, "/clean.txt").await.unwrap_err();
    assert_eq!(err, scan::dispatch::ScanError::NoServer);
    let missing = m
        .scan(SVM, &dir.path().join("missing"), "/missing")
        .await
        .unwrap_err();
    assert!(matches!(missing, scan::dispatch::ScanError::Unreadable(_)));
    let kinds: Vec<_> = recorder
        .scans
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![ScanEventKind::ScanFailed, ScanEventKind::ScanInternalError]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icap_servers_are_checked_and_scan_through_respmod() {
    let vigil = Vigil::start();
    let cicap = common::start_cicap(&vigil);
    let port = cicap.port;
    let recorder = Arc::new(Recorder::default());
    let m = manager(&recorder);
    let server = format!("icap://127.0.0.1:{port}/avscan");
    m.apply(&Desired {
        enabled_svms: HashSet::from([SVM.to_string()]),
        cache_generations: Default::default(),
        assignments: vec![assignment(server.clone(), Role::Primary)],
    });
    wait_for("c-icap connected", || connected(&m, &server)).await;
    let status = m
        .statuses()
        .into_iter()
        .find(|s| s.server == server)
        .unwrap();
    assert_eq!(status.ip, "127.0.0.1");
    assert_eq!(status.vendor.as_deref(), Some("C-ICAP"), "{status:?}");
    assert!(
        status
            .version
            .as_deref()
            .unwrap_or_default()
            .contains("ISTag"),
        "{status:?}"
    );
    assert!(
        status.extended_stats.iter().any(|l| l == "method=RESPMOD"),
        "{status:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let set = files(dir.path(), 20);
    assert_eq!(scan_all(&m, &set).await, (20, 0));
    // A file past c-icap's preview, infected at its end.
    let big = dir.path().join("big.bin");
    let mut body = vec![b'a'; 3 * 1024 * 1024];
    body.extend_from_slice(EICAR);
    std::fs::write(&big, &body).unwrap();
    let scanned = m.scan(SVM, &big, "/big.bin").await.unwrap();
    assert!(
        matches!(scanned.verdict, Verdict::Infected(_)),
        "{scanned:?}"
    );

    drop(cicap);
    wait_for("c-icap disconnected", || !connected(&m, &server)).await;
    let err = m.scan(SVM, &set[1].0, "/f1.bin").await.unwrap_err();
    assert_eq!(err, scan::dispatch::ScanError::NoServer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_skips_unchanged_files_until_touched_reloaded_or_cleared() {
    let rules = tempfile::tempdir().unwrap();
    let rules_dir = rules.path().to_path_buf();
    let vigil = Vigil::start_with(|a| a.rules_dir = Some(rules_dir));
    let recorder = Arc::new(Recorder::default());
    let m = manager(&recorder);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache_file = cache_dir.path().join("scan-cache");
    m.set_cache(Arc::new(ScanCache::open(1000, Some(cache_file.clone()))));
    let server = format!("unix://{}", vigil.socket.display());
    let desired = |generation: u64| Desired {
        enabled_svms: HashSet::from([SVM.to_string()]),
        cache_generations: [(SVM.to_string(), generation)].into(),
        assignments: vec![assignment(server.clone(), Role::Primary)],
    };
    m.apply(&desired(0));
    wait_for("scanner connected", || connected(&m, &server)).await;
    let served = || {
        m.served()
            .into_iter()
            .find(|(_, s, _)| *s == server)
            .map_or(0, |(_, _, n)| n)
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.txt");
    std::fs::write(&file, b"an ordinary document").unwrap();
    let infected = dir.path().join("eicar.com");
    std::fs::write(&infected, EICAR).unwrap();
    let scan = |p: PathBuf| {
        let m = Arc::clone(&m);
        async move { m.scan(SVM, &p, "/f").await.unwrap() }
    };

    assert_eq!(scan(file.clone()).await.verdict, Verdict::Clean);
    assert_eq!(served(), 1);
    let again = scan(file.clone()).await;
    assert_eq!(
        (again.verdict, again.server.as_str()),
        (Verdict::Clean, scan::dispatch::CACHE)
    );
    assert_eq!(served(), 1, "an unchanged file must not reach the server");
    // Detections are never cached.
    for _ in 0..2 {
        assert!(matches!(
            scan(infected.clone()).await.verdict,
            Verdict::Infected(_)
        ));
    }
    assert_eq!(served(), 3);

    // touch: new mtime/ctime, rescanned
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    scan(file.clone()).await;
    assert_eq!(served(), 4);
    scan(file.clone()).await;
    assert_eq!(served(), 4);

    // cache_clear: a new generation, rescanned
    m.apply(&desired(1));
    scan(file.clone()).await;
    assert_eq!(served(), 5);
    scan(file.clone()).await;
    assert_eq!(served(), 5);

    // rules reload: the scanner's version changes, rescanned once the monitor sees it
    let before = m.statuses()[0].version.clone();
    let rule = rules.path().join("extra.yar");
    std::fs::write(
        &rule,
        "rule Extra_Test { strings: $a = \"vigil-extra-marker\" condition: $a }\n",
    )
    .unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(100);
    std::fs::File::options()
        .write(true)
        .open(&rule)
        .unwrap()
        .set_modified(later)
        .unwrap();
    vigil.engine.reload().unwrap();
    wait_for("new rules version seen", || {
        m.statuses()[0].version != before
    })
    .await;
    scan(file.clone()).await;
    assert_eq!(served(), 6);

    // the cache file keeps entries across a restart of the manager
    m.cache().unwrap().save().unwrap();
    let reopened = ScanCache::open(1000, Some(cache_file));
    assert_eq!(reopened.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_scanner_is_called_in_process() {
    // The pool names a real clamd's socket, registered as the embedded scanner's own
    // address: checks go to clamd, scans must not. The detection name tells who scanned
    // (Vigil's engine says Vigil.Test.EICAR, clamd Test.EICAR-1.UNOFFICIAL).
    let clamd = real_clamd();
    let vigil = Vigil::start();
    let recorder = Arc::new(Recorder::default());
    let m = manager(&recorder);
    let address: vscan::address::ServerAddress = format!("unix://{}", clamd.socket.display())
        .parse()
        .unwrap();
    m.set_local(scan::dispatch::Local {
        engine: Arc::clone(&vigil.engine),
        pool: scan::Pool::start(Arc::clone(&vigil.engine), 2, 16).unwrap(),
        addresses: vec![address.clone()],
    });
    let server = address.to_string();
    m.apply(&Desired {
        enabled_svms: HashSet::from([SVM.to_string()]),
        cache_generations: Default::default(),
        assignments: vec![assignment(server.clone(), Role::Primary)],
    });
    wait_for("server connected", || connected(&m, &server)).await;
    let dir = tempfile::tempdir().unwrap();
    let set = files(dir.path(), 20);
    assert_eq!(scan_all(&m, &set).await, (20, 0));
    let infected = m.scan(SVM, &set[0].0, "/f0.bin").await.unwrap();
    assert_eq!(
        infected.verdict,
        Verdict::Infected(vec!["Vigil.Test.EICAR".into()])
    );
    // A file the engine cannot read is an error verdict from the engine, not a failover.
    let unreadable = dir.path().join("dir.bin");
    std::fs::create_dir(&unreadable).unwrap();
    let scanned = m.scan(SVM, &unreadable, "/dir.bin").await.unwrap();
    assert!(matches!(scanned.verdict, Verdict::Error(_)), "{scanned:?}");
}

/// Opens `files` the way an on-demand walker does, for `scan_opened`.
fn opened(files: &[(PathBuf, bool)]) -> Arc<[scan::dispatch::Opened]> {
    files
        .iter()
        .map(|(path, _)| {
            let file = std::fs::File::open(path).unwrap();
            let id = scan::cache::FileId::of(&file.metadata().unwrap());
            scan::dispatch::Opened {
                file,
                id,
                path: path.clone(),
                file_path: path.display().to_string(),
            }
        })
        .collect()
}

fn assert_verdicts(
    files: &[(PathBuf, bool)],
    results: &[Result<scan::dispatch::Scanned, scan::dispatch::ScanError>],
    server: &str,
) {
    assert_eq!(results.len(), files.len());
    for ((path, infected), result) in files.iter().zip(results) {
        let scanned = result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(scanned.server, server, "{}", path.display());
        match (&scanned.verdict, infected) {
            (Verdict::Infected(names), true) => assert!(names[0].contains("EICAR"), "{names:?}"),
            (Verdict::Clean, false) => {}
            other => panic!("wrong verdict for {}: {other:?}", path.display()),
        }
    }
}

/// A batch to a clamd-protocol server on this host goes as FILDES commands in one
/// IDSESSION (real clamd and Vigil's scanner both answer it); verdicts come back in the
/// files' order. A batch on a server that died is all errors (never clean); once the
/// monitor sees it gone, batches go to the secondary pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_go_in_one_session_and_fail_over_whole() {
    let mut clamd = real_clamd();
    let vigil = Vigil::start();
    let recorder = Arc::new(Recorder::default());
    let m = manager(&recorder);
    m.set_cache(Arc::new(ScanCache::open(1000, None)));
    let primary = format!("unix://{}", clamd.socket.display());
    let secondary = format!("unix://{}", vigil.socket.display());
    m.apply(&Desired {
        enabled_svms: HashSet::from([SVM.to_string()]),
        cache_generations: Default::default(),
        assignments: vec![
            assignment(primary.clone(), Role::Primary),
            assignment(secondary.clone(), Role::Secondary),
        ],
    });
    wait_for("both connected", || {
        connected(&m, &primary) && connected(&m, &secondary)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let set = files(dir.path(), 40);

    let view = m.view(SVM);
    let results = m.scan_opened(&view, opened(&set)).await;
    assert_verdicts(&set, &results, &primary);
    let infected_events = recorder
        .scans
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == ScanEventKind::FileInfected)
        .count();
    assert_eq!(infected_events, 8);

    // The primary dies between two batches, before its monitor notices: the batch fails
    // on it, and with no other primary in the view every file is an error, never clean.
    let view = m.view(SVM);
    clamd.kill();
    let other = files(&dir.path().join("b").tap_mkdir(), 20);
    let results = m.scan_opened(&view, opened(&other)).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(scan::dispatch::ScanError::Failed { .. }))),
        "{results:?}"
    );
    let failed_events = recorder
        .scans
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == ScanEventKind::ScanFailed)
        .count();
    assert_eq!(failed_events, 20);

    // Once it is seen gone, the secondary pool is active: the next batch goes there, in
    // one session to Vigil's scanner.
    wait_for("primary disconnected", || !connected(&m, &primary)).await;
    let results = m.scan_opened(&m.view(SVM), opened(&other)).await;
    assert_verdicts(&other, &results, &secondary);

    // Verdicts cached from the dead primary do not answer for the secondary.
    let view = m.view(SVM);
    let clean = set.iter().find(|(_, infected)| !infected).unwrap();
    let id = scan::cache::FileId::of(&std::fs::metadata(&clean.0).unwrap());
    assert!(
        !view.is_clean(&id),
        "engine set changed: the cache must not answer"
    );
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}
