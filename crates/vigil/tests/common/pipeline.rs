//! The scanning pipeline without the server around it, for the tests of the services:
//! the real embedded scanner on a unix socket, the real monitor and dispatcher, a real
//! SQLite store that the events are written to, and a data directory on disk.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use scan::remote::{Assignment, Desired, Manager, ManagerConfig, Role};
use serde_json::json;
use store::Store;
use vigil::scanning::ScanService;
use vigil::scanning::events::{EventLog, Retention, run_writer};
use vigil::scanning::observer::ScanCounters;

pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// Vscan on, the embedded scanner its primary server.
pub const SVM: &str = "0f0e0d0c-0000-4000-8000-000000000001";
/// Vscan on, but no scan server connected.
pub const NO_SERVER_SVM: &str = "0f0e0d0c-0000-4000-8000-000000000002";

pub struct Pipeline {
    pub dir: tempfile::TempDir,
    pub store: Arc<Store>,
    pub scanning: Arc<ScanService>,
    pub counters: Arc<ScanCounters>,
    pub manager: Arc<Manager>,
}

/// Starts the pipeline, with [`SVM`] served by the embedded scanner once it is
/// connected.
pub async fn start() -> Pipeline {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("scanner.sock");
    let args = scan::ScannerArgs {
        listen: "off".into(),
        socket: socket.display().to_string(),
        scan_threads: Some(2),
        ..Default::default()
    };
    let scanner = scan::Server::bind(&args).await.expect("embedded scanner");
    let local = scan::dispatch::Local {
        engine: scanner.engine(),
        pool: scanner.pool(),
        addresses: vec![vscan::address::ServerAddress::ClamdUnix {
            path: socket.clone(),
        }],
    };
    tokio::spawn(scanner.serve(std::future::pending()));
    let store = Store::open(&Store::sqlite_url(&dir.path().join("db.sqlite")))
        .await
        .expect("store");
    let (events, rx) = EventLog::new(json!({"uuid": "n1", "name": "n1"}));
    let retention = Retention {
        max: 1000,
        max_age: Duration::from_secs(3600),
    };
    tokio::spawn(run_writer(Arc::clone(&store), retention, rx));
    let manager = Manager::new(
        ManagerConfig {
            check_interval: Duration::from_millis(200),
            ..Default::default()
        },
        Arc::clone(&events) as _,
    );
    manager.set_local(local);
    manager.set_cache(Arc::new(scan::cache::ScanCache::open(1000, None)));
    manager.apply(&Desired {
        enabled_svms: HashSet::from([SVM.to_string(), NO_SERVER_SVM.to_string()]),
        assignments: vec![Assignment {
            svm: SVM.into(),
            server: format!("unix://{}", socket.display()),
            role: Role::Primary,
        }],
        cache_generations: HashMap::new(),
    });
    for _ in 0..200 {
        if !manager.view(SVM).has_no_server() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !manager.view(SVM).has_no_server(),
        "the embedded scanner never connected"
    );
    let counters = Arc::new(ScanCounters::default());
    let scanning = Arc::new(ScanService::new(
        Arc::clone(&manager),
        events,
        dir.path().join("data"),
        Arc::clone(&counters) as _,
    ));
    Pipeline {
        dir,
        store,
        scanning,
        counters,
        manager,
    }
}
