//! A `vigil serve` under attack: its embedded scanner's sockets, a watcher that keeps
//! calling `GET /api/cluster` for the whole test, and the process's memory.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{self, Server};

pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// How long a test waits for any one reply before calling it lost.
const REPLY_WAIT: Duration = Duration::from_secs(300);

pub struct Node {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub tcp: SocketAddr,
    watch: Option<Watch>,
}

impl Node {
    /// `vigil serve` with its scanner on a unix socket and a TCP port in a temp dir.
    pub fn start(extra: &[&str]) -> Node {
        let dir = tempfile::tempdir_in(work_dir()).expect("tempdir");
        let socket = dir.path().join("scanner.sock");
        let tcp = free_tcp();
        let (socket_arg, tcp_arg) = (socket.display().to_string(), tcp.to_string());
        let mut args = vec![
            "--scanner-socket",
            &socket_arg,
            "--scanner-listen",
            &tcp_arg,
        ];
        args.extend_from_slice(extra);
        let server = Server::start_with(&dir.path().join("data"), false, &args);
        wait_for_socket(&socket);
        let watch = Watch::start(&server.base);
        Node {
            server,
            dir,
            socket,
            tcp,
            watch: Some(watch),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Asserts what every hostile case must leave: the process alive, the REST API
    /// having answered every probe, and reports peak memory.
    pub fn finish(mut self, case: &str) {
        assert!(self.server.alive(), "{case}: vigil serve died");
        assert_eq!(
            request(&self.socket, b"zPING\0"),
            b"PONG\0",
            "{case}: scanner gone"
        );
        let watch = self.watch.take().expect("watch");
        let (ok, failed) = watch.stop();
        let (peak, anon) = memory(self.server.pid());
        eprintln!(
            "{case}: GET /api/cluster answered {ok} times, failed {failed}; peak RSS {} MiB, anonymous RSS now {} MiB",
            peak >> 10,
            anon >> 10
        );
        assert_eq!(failed, 0, "{case}: GET /api/cluster failed {failed} times");
        assert!(ok > 0, "{case}: GET /api/cluster never answered");
        assert!(self.server.alive(), "{case}: vigil serve died");
    }
}

/// Where test files go: the disk, not a RAM-backed /tmp (a 20 GiB sparse file must not
/// be written for real anyway, but 1 GiB ones are).
fn work_dir() -> PathBuf {
    let dir = std::env::temp_dir();
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn free_tcp() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn wait_for_socket(socket: &Path) {
    for _ in 0..600 {
        if UnixStream::connect(socket).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("scanner socket {} never came up", socket.display());
}

/// Peak and current anonymous resident memory of `pid`, in KiB (VmHWM, RssAnon).
pub fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("RssAnon:"))
}

/// Keeps calling `GET /api/cluster` until stopped, counting answers and failures.
struct Watch {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Watch {
    fn start(base: &str) -> Watch {
        let (stop, ok, failed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let url = format!("{base}/api/cluster");
        let (s, o, f) = (stop.clone(), ok.clone(), failed.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                let (user, password) = common::admin();
                // Probe first, then look at the flag: a case that finishes before the
                // thread's first request still gets one answer checked.
                loop {
                    let answer = client
                        .get(&url)
                        .basic_auth(user, Some(password))
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status().is_success() => o.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("GET /api/cluster: {other:?}");
                            f.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
        });
        Watch {
            stop,
            ok,
            failed,
            thread,
        }
    }

    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

fn connect(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket).expect("connect to scanner");
    stream.set_read_timeout(Some(REPLY_WAIT)).expect("timeout");
    stream
}

fn read_reply(mut stream: UnixStream) -> Vec<u8> {
    let mut reply = Vec::new();
    if let Err(e) = stream.read_to_end(&mut reply) {
        panic!(
            "no complete reply ({e}); got {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    reply
}

/// One command on a new connection; the whole reply (the server closes after it).
pub fn request(socket: &Path, command: &[u8]) -> Vec<u8> {
    let mut stream = connect(socket);
    stream.write_all(command).expect("send command");
    read_reply(stream)
}

/// `zFILDES` with `file` passed alongside.
pub fn fildes(socket: &Path, file: &std::fs::File) -> Vec<u8> {
    use std::os::fd::AsFd;
    let mut stream = connect(socket);
    stream.write_all(b"zFILDES\0").expect("send FILDES");
    clamd::fdpass::send_with_fd(stream.as_raw_fd(), b"x", file.as_fd()).expect("pass fd");
    read_reply(stream)
}

/// `zSCAN <path>`; asserts a single complete reply naming the path.
pub fn scan(socket: &Path, path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut command = b"zSCAN ".to_vec();
    command.extend_from_slice(path.as_os_str().as_bytes());
    command.push(0);
    let reply = request(socket, &command);
    let mut prefix = path.as_os_str().as_bytes().to_vec();
    prefix.extend_from_slice(b": ");
    assert!(
        reply.starts_with(&prefix) && reply.ends_with(b"\0"),
        "zSCAN {}: {:?}",
        path.display(),
        String::from_utf8_lossy(&reply)
    );
    String::from_utf8_lossy(&reply[prefix.len()..reply.len() - 1]).into_owned()
}

/// INSTREAM of `data` in 64 KiB chunks; returns the reply (the server may close early).
pub fn instream(socket: &Path, data_len: u64) -> Vec<u8> {
    let mut stream = connect(socket);
    stream.write_all(b"zINSTREAM\0").expect("send INSTREAM");
    let chunk = vec![b'A'; 64 << 10];
    let mut sent = 0u64;
    while sent < data_len {
        let n = chunk.len().min((data_len - sent) as usize);
        let mut frame = (n as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&chunk[..n]);
        if stream.write_all(&frame).is_err() {
            break; // the server stopped reading: its reply says why
        }
        sent += n as u64;
    }
    let _ = stream.write_all(&0u32.to_be_bytes());
    read_reply(stream)
}

/// An SVM over `root` (files under `<root>/data`) scanned on demand by the node's
/// embedded scanner.
pub struct OnDemand {
    pub svm: String,
    runtime: tokio::runtime::Runtime,
}

const VSCAN: &str = "/api/protocols/vscan";

impl OnDemand {
    pub fn new(node: &Node, root: &Path) -> OnDemand {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        std::fs::create_dir_all(root.join("reports")).expect("reports dir");
        let server = &node.server;
        let name = format!("hostile{}", std::process::id());
        let svm = runtime.block_on(async {
            let body = serde_json::json!({"name": name, "root_path": root}).to_string();
            let (status, headers, v) = server
                .call(
                    reqwest::Method::POST,
                    "/api/svm/svms?return_timeout=30",
                    Some(&body),
                    common::admin(),
                )
                .await;
            assert!(status.is_success(), "create svm: {status} {v}");
            let svm = headers["location"]
                .to_str()
                .expect("location")
                .rsplit('/')
                .next()
                .expect("uuid")
                .to_string();
            let socket = format!("unix://{}", node.socket.display());
            let pool = serde_json::json!({"name": "embedded", "servers": [socket],
                "privileged_users": ["cifs\\scanner"]});
            let (s, v) = server
                .post(&format!("{VSCAN}/{svm}/scanner-pools"), &pool.to_string())
                .await;
            assert_eq!(s.as_u16(), 201, "pool: {v}");
            let (s, v) = server
                .patch(&format!("{VSCAN}/{svm}"), r#"{"enabled":true}"#)
                .await;
            assert_eq!(s.as_u16(), 200, "enable: {v}");
            for _ in 0..600 {
                let (_, v) = server
                    .get(&format!(
                        "{VSCAN}/server-status?svm.uuid={svm}&fields=state,ip"
                    ))
                    .await;
                let connected = v["records"].as_array().is_some_and(|r| {
                    r.iter()
                        .any(|s| s["state"] == "connected" && s["ip"] == socket.as_str())
                });
                if connected {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let policy = serde_json::json!({"name": "hostile", "scan_paths": ["/data"],
                "log_path": "/reports"});
            let (s, v) = server
                .post(
                    &format!("{VSCAN}/{svm}/on-demand-policies"),
                    &policy.to_string(),
                )
                .await;
            assert_eq!(s.as_u16(), 201, "policy: {v}");
            svm
        });
        OnDemand { svm, runtime }
    }

    /// Runs the policy and waits for its job; returns the job record.
    pub fn run(&self, node: &Node) -> serde_json::Value {
        let server = &node.server;
        self.runtime.block_on(async {
            let path = format!("{VSCAN}/{}/on-demand-policies/hostile?action=run", self.svm);
            let (s, _, v) = server
                .call(reqwest::Method::PATCH, &path, None, common::admin())
                .await;
            assert_eq!(s.as_u16(), 202, "run: {v}");
            let href = v["job"]["_links"]["self"]["href"]
                .as_str()
                .expect("job href")
                .to_string();
            for _ in 0..6000 {
                let (_, job) = server.get(&href).await;
                if job["state"] == "success" || job["state"] == "failure" {
                    return job;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("on-demand run never finished");
        })
    }

    /// The SVM's Vscan events.
    pub fn events(&self, node: &Node) -> Vec<serde_json::Value> {
        self.runtime.block_on(async {
            let (_, v) = node
                .server
                .get(&format!(
                    "{VSCAN}/{}/events?fields=*&max_records=10000",
                    self.svm
                ))
                .await;
            v["records"].as_array().cloned().unwrap_or_default()
        })
    }
}
