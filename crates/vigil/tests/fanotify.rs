//! The fanotify on-access door against the real binary: each test mounts a tmpfs as an
//! SVM root (the tests run as root, as CI does), creates the SVM, Vscan with a pool on
//! the embedded scanner and an on-access policy over REST, and then opens files the way
//! any program does (`cat`, `cp` as child processes, each under `timeout` so that a
//! lost answer fails the test instead of hanging it).

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, eicar};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A tmpfs mounted for the test, unmounted (lazily: a test that failed may leave a
/// process inside) when it ends.
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    fn mount(at: &Path) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512m", "vigil-test"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs at {}", at.display());
        Tmpfs {
            at: at.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Most a single open may take here before the test calls it a hang.
const HANG: &str = "120";

/// `cat path`: the bytes, or cat's error message.
fn cat(path: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new("timeout")
        .arg(HANG)
        .arg("cat")
        .arg("--")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run cat");
    assert_ne!(out.status.code(), Some(124), "cat {} hung", path.display());
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[track_caller]
fn assert_denied(path: &Path) {
    match cat(path) {
        Ok(bytes) => panic!("{} was read ({} bytes)", path.display(), bytes.len()),
        Err(e) => assert!(
            e.contains("Operation not permitted"),
            "{}: expected EPERM, got {e}",
            path.display()
        ),
    }
}

/// Writes `bytes` to `path` in the marked tree through `cp` (its open of `path` is an
/// on-access event like any other), from a staging file outside it.
fn put(staging: &Path, path: &Path, bytes: &[u8]) {
    let src = staging.join(format!("staged-{}", rand_name()));
    std::fs::write(&src, bytes).unwrap();
    let status = Command::new("timeout")
        .arg(HANG)
        .arg("cp")
        .arg("--")
        .arg(&src)
        .arg(path)
        .status()
        .expect("run cp");
    assert!(status.success(), "cp to {}: {status}", path.display());
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

struct Setup {
    dir: tempfile::TempDir,
    server: Server,
    svm: String,
    root: PathBuf,
    _mounts: Vec<Tmpfs>,
}

impl Setup {
    fn staging(&self) -> PathBuf {
        self.dir.path().join("staging")
    }
}

struct Options<'a> {
    /// The SVM root is the tmpfs itself (mount mark) or a directory inside it.
    root_is_mount: bool,
    mandatory: bool,
    extra: &'a [&'a str],
}

const DEFAULTS: Options<'static> = Options {
    root_is_mount: true,
    mandatory: true,
    extra: &[],
};

async fn setup(options: Options<'_>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mount = Tmpfs::mount(&dir.path().join("mnt"));
    let root = if options.root_is_mount {
        mount.at.clone()
    } else {
        let root = mount.at.join("svmroot");
        std::fs::create_dir_all(&root).unwrap();
        root
    };
    std::fs::create_dir_all(dir.path().join("staging")).unwrap();
    let mut args = vec!["--fanotify", "true", "--vscan-check-interval-ms", "200"];
    args.extend_from_slice(options.extra);
    let server = Server::start_with(&dir.path().join("data"), false, &args);
    let svm = vscan_svm(&server, &root, options.mandatory, &[]).await;
    wait_covered(&server, &svm, &root).await;
    Setup {
        dir,
        server,
        svm,
        root,
        _mounts: vec![mount],
    }
}

/// An SVM rooted at `root` with Vscan on (a pool on the embedded scanner, seen
/// connected) and its own on-access policy `fan` enabled in place of `default_CIFS`.
async fn vscan_svm(server: &Server, root: &Path, mandatory: bool, pool_servers: &[&str]) -> String {
    let body = json!({"name": "fan_svm", "root_path": root});
    let (s, v) = server
        .post("/api/svm/svms?return_timeout=30", &body.to_string())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, v) = server.get("/api/svm/svms?name=fan_svm").await;
    let svm = v["records"][0]["uuid"].as_str().expect("uuid").to_string();
    let socket = format!("unix://{}", server.data().join("scanner.sock").display());
    let servers: Vec<String> = if pool_servers.is_empty() {
        vec![socket]
    } else {
        pool_servers.iter().map(|s| s.to_string()).collect()
    };
    // Vscan off while the policies change: an SVM with Vscan on needs one enabled.
    let body = json!({
        "svm": {"uuid": svm},
        "enabled": false,
        "scanner_pools": [{
            "name": "embedded",
            "servers": servers,
            // `nobody` is a local user: its opens are never scanned.
            "privileged_users": ["fan\\scanner", "fan\\nobody"],
        }],
    });
    let (s, v) = server.post("/api/protocols/vscan", &body.to_string()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let policies = format!("/api/protocols/vscan/{svm}/on-access-policies");
    let (s, v) = server
        .patch(&format!("{policies}/default_CIFS"), r#"{"enabled": false}"#)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let body = json!({"name": "fan", "enabled": true, "mandatory": mandatory});
    let (s, v) = server.post(&policies, &body.to_string()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = server
        .patch(
            &format!("/api/protocols/vscan/{svm}"),
            r#"{"enabled": true}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    if pool_servers.is_empty() {
        wait_for("the embedded scanner to be connected", || async {
            let (_, v) = server
                .get("/api/protocols/vscan/server-status?fields=state")
                .await;
            let records = v["records"].as_array().cloned().unwrap_or_default();
            records.iter().any(|r| r["state"] == "connected")
        })
        .await;
    }
    svm
}

async fn wait_for<F, Fut>(what: &str, ready: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn door(server: &Server) -> Value {
    let (s, v) = server
        .get("/api/protocols/vscan/on-access-status?fields=*")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["records"][0]["fanotify"].clone()
}

fn svm_status<'a>(door: &'a Value, svm: &str) -> Option<&'a Value> {
    door["svms"]
        .as_array()?
        .iter()
        .find(|r| r["svm"]["uuid"] == svm)
}

/// Waits until the door marks `path` (a mount mark, or directory marks on the root).
async fn wait_covered(server: &Server, svm: &str, path: &Path) {
    let shown = path.display().to_string();
    wait_for(&format!("fanotify to cover {shown}"), || async {
        let door = door(server).await;
        assert_ne!(door["state"], "unavailable", "{door}");
        svm_status(&door, svm).is_some_and(|r| {
            r["mount_marks"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m == shown.as_str()))
                || (r["root"] == shown.as_str() && r["directory_marks"].as_u64() > Some(0))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn infected_open_fails_with_eperm_clean_reads_rewrite_is_caught() {
    let t = setup(DEFAULTS).await;
    let staging = t.staging();
    put(&staging, &t.root.join("eicar.txt"), &eicar());
    put(&staging, &t.root.join("clean.txt"), b"just text\n");
    assert_denied(&t.root.join("eicar.txt"));
    assert_eq!(cat(&t.root.join("clean.txt")).unwrap(), b"just text\n");
    // Read again: the cached verdict answers the same.
    assert_eq!(cat(&t.root.join("clean.txt")).unwrap(), b"just text\n");
    // Rewritten to infected: the next open is caught (the cached clean verdict was
    // for the file as it was).
    put(&staging, &t.root.join("clean.txt"), &eicar());
    assert_denied(&t.root.join("clean.txt"));
    let door = door(&t.server).await;
    assert_eq!(door["state"], "active", "{door}");
    assert!(door["counters"]["denied"].as_u64() >= Some(2), "{door}");
    let status = svm_status(&door, &t.svm).expect("svm status");
    assert_eq!(status["policy"], "fan", "{status}");
    assert_eq!(status["mandatory"], true, "{status}");
    // The detections are Vscan events of the SVM.
    let events = format!(
        "/api/protocols/vscan/{}/events?fields=*&file_path=/eicar.txt",
        t.svm
    );
    wait_for("the detection event", || async {
        let (_, v) = t.server.get(&events).await;
        v["num_records"].as_u64() > Some(0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vigils_own_scan_of_the_marked_tree_completes() {
    let t = setup(DEFAULTS).await;
    let staging = t.staging();
    std::fs::create_dir_all(t.root.join("dir")).unwrap();
    put(&staging, &t.root.join("dir/eicar.com"), &eicar());
    for i in 0..50 {
        put(
            &staging,
            &t.root.join(format!("dir/clean{i}.txt")),
            b"clean",
        );
    }
    let body = r#"{"name":"sweep","scan_paths":["/"],"log_path":"/","remediation":"report"}"#;
    let (s, v) = t
        .server
        .post(
            &format!("/api/protocols/vscan/{}/on-demand-policies", t.svm),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // Vigil opens every file of the marked tree by path: its own permission events
    // must not wait on itself.
    let (s, v) = t
        .server
        .patch(
            &format!(
                "/api/protocols/vscan/{}/on-demand-policies/sweep?action=run",
                t.svm
            ),
            "",
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
    let job = v["job"]["uuid"].as_str().expect("job").to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, v) = t.server.get(&format!("/api/cluster/jobs/{job}")).await;
        if v["state"] == "success" {
            let message = v["message"].as_str().unwrap_or_default();
            assert!(message.contains(" 1 infected"), "{v}");
            break;
        }
        assert_ne!(v["state"], "failure", "{v}");
        assert!(
            Instant::now() < deadline,
            "the on-demand run never ended: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(door(&t.server).await["counters"]["excluded"].as_u64() > Some(0));
    assert_denied(&t.root.join("dir/eicar.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn names_with_newline_and_invalid_utf8() {
    let t = setup(DEFAULTS).await;
    let staging = t.staging();
    let bad = |name: &[u8]| t.root.join(OsStr::from_bytes(name));
    put(&staging, &bad(b"new\nline.txt"), &eicar());
    put(&staging, &bad(b"latin\xe9\xff.txt"), &eicar());
    put(&staging, &bad(b"ok\nname\xfe.txt"), b"fine");
    assert_denied(&bad(b"new\nline.txt"));
    assert_denied(&bad(b"latin\xe9\xff.txt"));
    assert_eq!(cat(&bad(b"ok\nname\xfe.txt")).unwrap(), b"fine");
}

#[tokio::test(flavor = "multi_thread")]
async fn file_deleted_or_truncated_while_scanned() {
    let mut t = setup(DEFAULTS).await;
    let staging = t.staging();
    // Big enough that the scan is still running when the file changes under it.
    let big: Vec<u8> = (0..64u32 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    for round in 0..4 {
        let path = t.root.join(format!("big{round}.bin"));
        put(&staging, &path, &big);
        let reader = Command::new("timeout")
            .arg(HANG)
            .arg("cat")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // truncate(2) by path: no open, so no event of its own.
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::truncate(c.as_ptr(), 100) }, 0);
        if round % 2 == 0 {
            std::fs::remove_file(&path).unwrap();
        }
        let out = reader.wait_with_output().unwrap();
        // Allowed or denied, the open was answered (no hang) and Vigil lives on.
        assert_ne!(out.status.code(), Some(124), "cat of a changing file hung");
    }
    assert!(t.server.alive(), "vigil died");
    put(&staging, &t.root.join("after.txt"), &eicar());
    assert_denied(&t.root.join("after.txt"));
}

#[tokio::test(flavor = "multi_thread")]
async fn flood_of_opens_is_answered_under_back_pressure() {
    let t = setup(Options {
        extra: &["--fanotify-max-pending", "4"],
        ..DEFAULTS
    })
    .await;
    let dir = t.root.join("flood");
    std::fs::create_dir_all(&dir).unwrap();
    let files = 1200;
    let mut expected = Vec::new();
    let mut sources = Vec::new();
    for i in 0..files {
        let infected = i % 10 == 0;
        let src = t.staging().join(format!("f{i}.txt"));
        let body = if infected {
            eicar()
        } else {
            format!("clean {i}").into_bytes()
        };
        std::fs::write(&src, body).unwrap();
        expected.push((dir.join(format!("f{i}.txt")), infected));
        sources.push(src);
    }
    // Into the tree with one cp per 100 files (each of its opens is an event too).
    for chunk in sources.chunks(100) {
        let status = Command::new("timeout")
            .arg(HANG)
            .arg("cp")
            .arg("-t")
            .arg(&dir)
            .args(chunk)
            .status()
            .unwrap();
        assert!(status.success());
    }
    // 16 readers at once, each over its share of the files.
    let script = r#"for f in "$@"; do if cat -- "$f" >/dev/null 2>&1; then echo "ok $f"; else echo "no $f"; fi; done"#;
    let mut readers = Vec::new();
    for share in expected.chunks(files / 16 + 1) {
        let mut c = Command::new("timeout");
        c.arg("300").arg("sh").arg("-c").arg(script).arg("sh");
        for (dst, _) in share {
            c.arg(dst);
        }
        readers.push(c.stdout(Stdio::piped()).spawn().unwrap());
    }
    let mut answered = std::collections::HashMap::new();
    for r in readers {
        let out = r.wait_with_output().unwrap();
        assert_ne!(out.status.code(), Some(124), "a reader hung");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let (verdict, path) = line.split_once(' ').unwrap();
            answered.insert(PathBuf::from(path), verdict == "ok");
        }
    }
    assert_eq!(answered.len(), files, "every open answered");
    for (dst, infected) in &expected {
        assert_eq!(answered[dst], !infected, "{}", dst.display());
    }
    let door = door(&t.server).await;
    assert_eq!(door["max_pending"], 4, "{door}");
    assert_eq!(door["counters"]["pending"], 0, "{door}");
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_mounted_under_the_root_after_start_is_covered() {
    let mut t = setup(DEFAULTS).await;
    let vol = t.root.join("vol2");
    let mounted = Tmpfs::mount(&vol);
    wait_covered(&t.server, &t.svm, &vol).await;
    // Unmounted before the root it sits in.
    t._mounts.insert(0, mounted);
    put(&t.staging(), &vol.join("eicar.txt"), &eicar());
    put(&t.staging(), &vol.join("clean.txt"), b"ok");
    assert_denied(&vol.join("eicar.txt"));
    assert_eq!(cat(&vol.join("clean.txt")).unwrap(), b"ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn root_that_is_not_a_mount_point_gets_directory_marks() {
    let t = setup(Options {
        root_is_mount: false,
        ..DEFAULTS
    })
    .await;
    put(&t.staging(), &t.root.join("eicar.txt"), &eicar());
    assert_denied(&t.root.join("eicar.txt"));
    let marks = |d: &Value| svm_status(d, &t.svm).and_then(|r| r["directory_marks"].as_u64());
    let before = marks(&door(&t.server).await).unwrap_or(0);
    // Directories made while Vigil runs are marked as they appear.
    let deep = t.root.join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    wait_for("the new directories to be marked", || async {
        marks(&door(&t.server).await) >= Some(before + 3)
    })
    .await;
    put(&t.staging(), &deep.join("eicar.txt"), &eicar());
    assert_denied(&deep.join("eicar.txt"));
    // Outside the root, on the same file system: not Vigil's business.
    let outside = t.root.parent().unwrap().join("outside.txt");
    std::fs::write(&outside, eicar()).unwrap();
    assert_eq!(cat(&outside).unwrap(), eicar());
}

#[tokio::test(flavor = "multi_thread")]
async fn not_mandatory_and_no_scanner_allows_mandatory_denies() {
    for mandatory in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mount = Tmpfs::mount(&dir.path().join("mnt"));
        std::fs::create_dir_all(dir.path().join("staging")).unwrap();
        let server = Server::start_with(
            &dir.path().join("data"),
            false,
            &["--fanotify", "true", "--vscan-check-interval-ms", "200"],
        );
        // A pool whose one server is not there: no verdict can be had.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let nobody = format!("127.0.0.1:{port}");
        // Written before the door covers it: with no scanner, a mandatory policy
        // would refuse the very open that creates it.
        let file = mount.at.join("file.txt");
        std::fs::write(&file, b"content").unwrap();
        let svm = vscan_svm(&server, &mount.at, mandatory, &[&nobody]).await;
        wait_covered(&server, &svm, &mount.at).await;
        if mandatory {
            assert_denied(&file);
        } else {
            assert_eq!(cat(&file).unwrap(), b"content");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_cap_sys_admin_the_rest_runs_and_the_status_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_wrapped(
        &dir.path().join("data"),
        false,
        &[
            "setpriv",
            "--bounding-set",
            "-sys_admin",
            "--inh-caps",
            "-sys_admin",
        ],
        &["--fanotify", "true"],
    );
    let door = door(&server).await;
    assert_eq!(door["state"], "unavailable", "{door}");
    let reason = door["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("CAP_SYS_ADMIN"), "{reason}");
    // The rest of Vigil is there.
    let (s, v) = server.get("/api/cluster").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let svm = server.create_svm("still_works").await;
    assert!(!svm.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), false);
    let door = door(&server).await;
    assert_eq!(door["state"], "off", "{door}");
    assert!(
        door["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("--fanotify")
    );
}

/// A clamd-protocol server that passes health checks (PING, VERSION, STATS) and never
/// answers a scan: the stalled scanner a deadline exists for, which a real clamd does
/// not produce on demand. Named for what it is.
fn stalling_clamd(socket: &Path) {
    use std::io::{Read, Write};
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut stalled = false;
                loop {
                    let n = match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if stalled {
                        continue;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.iter().position(|b| *b == 0 || *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=end).collect();
                        let term = line[line.len() - 1];
                        let command = String::from_utf8_lossy(&line[1..line.len() - 1]).to_string();
                        let reply = match command.as_str() {
                            "PING" => "PONG".to_string(),
                            "VERSION" => "ClamAV 1.0.0/27000/Thu Jan  1 00:00:00 2026".to_string(),
                            "STATS" => "POOLS: 1\nEND".to_string(),
                            _ => {
                                stalled = true;
                                continue;
                            }
                        };
                        // One command per connection, closed after the reply, as clamd does.
                        let _ = conn.write_all(format!("{reply}{}", term as char).as_bytes());
                        return;
                    }
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_scanner_meets_the_deadline_by_mandatory() {
    for mandatory in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mount = Tmpfs::mount(&dir.path().join("mnt"));
        let file = mount.at.join("file.txt");
        std::fs::write(&file, b"content").unwrap();
        let socket = dir.path().join("stall.sock");
        stalling_clamd(&socket);
        let server = Server::start_with(
            &dir.path().join("data"),
            false,
            &[
                "--fanotify",
                "true",
                "--fanotify-deadline-ms",
                "500",
                "--vscan-check-interval-ms",
                "200",
            ],
        );
        let stall = format!("unix://{}", socket.display());
        let svm = vscan_svm(&server, &mount.at, mandatory, &[&stall]).await;
        wait_for("the stalling scanner to be connected", || async {
            let (_, v) = server
                .get("/api/protocols/vscan/server-status?fields=state")
                .await;
            let records = v["records"].as_array().cloned().unwrap_or_default();
            records.iter().any(|r| r["state"] == "connected")
        })
        .await;
        wait_covered(&server, &svm, &mount.at).await;
        if mandatory {
            assert_denied(&file);
        } else {
            assert_eq!(cat(&file).unwrap(), b"content");
        }
        let events = format!("/api/protocols/vscan/{svm}/events?fields=*&type=scan_timedout");
        wait_for("the scan_timedout event", || async {
            let (_, v) = server.get(&events).await;
            v["records"]
                .as_array()
                .is_some_and(|r| r.iter().any(|e| e["file_path"] == "/file.txt"))
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn privileged_users_open_without_a_scan() {
    use std::os::unix::fs::PermissionsExt;
    let t = setup(DEFAULTS).await;
    // `nobody` must reach the file through the test's private temporary directory.
    std::fs::set_permissions(t.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = t.root.join("eicar.txt");
    put(&t.staging(), &path, &eicar());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_denied(&path);
    let out = Command::new("timeout")
        .arg(HANG)
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "cat",
            "--",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nobody (a pool's privileged user) was refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, eicar());
}
