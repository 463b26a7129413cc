//! Shared test harness: a real Vigil scanner on real sockets, the real peers (clamd,
//! clamdscan, smbd, c-icap; the common ones from `testkit`), and a generated tree with
//! planted test files.
//!
//! Missing tools are a test failure, never a skip: `scripts/install-test-deps.sh`
//! installs them.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

// Each test binary uses its own part of these.
#[allow(unused_imports)]
pub use testkit::{Cicap, Daemon, EICAR, RealClamd, free_port, hex, require_tool};

/// A Vigil scanner served in-process on its own runtime thread, on a loopback port and a
/// unix socket in a temp dir.
pub struct Vigil {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub tcp: SocketAddr,
    pub engine: Arc<scan::Engine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Vigil {
    pub fn start() -> Vigil {
        Vigil::start_with(|_| {})
    }

    pub fn start_with(configure: impl FnOnce(&mut scan::ScannerArgs)) -> Vigil {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("vigil.sock");
        let mut args = scan::ScannerArgs {
            listen: "127.0.0.1:0".into(),
            socket: socket.display().to_string(),
            socket_mode: "666".into(),
            scan_threads: Some(2),
            ..Default::default()
        };
        configure(&mut args);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async move {
                let server = scan::Server::bind(&args).await.expect("bind scanner");
                let tcp = server.tcp_addr().expect("tcp addr");
                ready_tx.send((tcp, server.engine())).expect("ready");
                server
                    .serve(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        let (tcp, engine) = ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("scanner did not start");
        Vigil {
            dir,
            socket,
            tcp,
            engine,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// A clamd.conf that points clamdscan at this scanner's unix socket (or TCP port).
    pub fn clamdscan_config(&self, via_tcp: bool) -> PathBuf {
        let path = self.dir.path().join(if via_tcp {
            "clamdscan-tcp.conf"
        } else {
            "clamdscan-unix.conf"
        });
        let text = if via_tcp {
            format!("TCPSocket {}\nTCPAddr 127.0.0.1\n", self.tcp.port())
        } else {
            format!("LocalSocket {}\n", self.socket.display())
        };
        std::fs::write(&path, text).expect("write clamdscan config");
        path
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Real clamd as these tests compare it with Vigil: INSTREAM capped at 1 MiB, the cap
/// the byte-for-byte tests give Vigil too.
pub fn real_clamd() -> RealClamd {
    RealClamd::start_with("StreamMaxLength 1M\n")
}

/// Sends raw bytes over a unix socket and returns everything the server sends back
/// until it closes the connection (or 10 s pass).
pub fn exchange_unix(socket: &Path, request: &[u8]) -> Vec<u8> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect unix");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = stream.write_all(request);
    read_until_close(&mut stream)
}

pub fn exchange_tcp(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect tcp");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = stream.write_all(request);
    read_until_close(&mut stream)
}

pub fn read_until_close(stream: &mut impl std::io::Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// INSTREAM body: the chunks, then the zero terminator.
pub fn instream_body(chunks: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in chunks {
        body.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        body.extend_from_slice(chunk);
    }
    body.extend_from_slice(&[0, 0, 0, 0]);
    body
}

/// A generated tree: clean files of assorted sizes plus planted detections, some inside
/// archives. `planted` holds the paths a scanner must report, nothing else.
pub struct Tree {
    pub dir: tempfile::TempDir,
    pub planted: BTreeSet<PathBuf>,
}

pub fn zip_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        writer.start_file(*name, options).expect("zip member");
        writer.write_all(data).expect("zip write");
    }
    writer.finish().expect("zip finish").into_inner()
}

pub fn tar_gz_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, *data)
            .expect("tar member");
    }
    builder
        .into_inner()
        .expect("tar finish")
        .finish()
        .expect("gz finish")
}

impl Tree {
    pub fn generate(clean_files: usize) -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut planted = BTreeSet::new();
        let mut seed: u64 = 0x5eed;
        for i in 0..clean_files {
            // xorshift: deterministic sizes and contents without a dependency.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let sub = root
                .join(format!("d{:02}", i % 7))
                .join(format!("s{}", i % 3));
            std::fs::create_dir_all(&sub).expect("mkdir");
            let len = (seed % 20_000) as usize + 1;
            let body: Vec<u8> = (0..len)
                .map(|j| b"abcdefghij klmnop\n"[(j + i) % 18])
                .collect();
            std::fs::write(sub.join(format!("clean {i}.txt")), body).expect("write");
        }
        let mut plant = |relative: &str, data: Vec<u8>| {
            let path = root.join(relative);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, data).expect("plant");
            planted.insert(path);
        };
        plant("eicar.com", EICAR.to_vec());
        plant("d01/s2/with space eicar.txt", EICAR.to_vec());
        let mut embedded = vec![b'x'; 5000];
        embedded.extend_from_slice(EICAR);
        plant("d03/embedded.bin", embedded);
        plant(
            "d04/s1/eicar.zip",
            zip_bytes(&[("readme.txt", b"hello"), ("eicar.com", EICAR)]),
        );
        plant(
            "d05/eicar.tar.gz",
            tar_gz_bytes(&[("dir/eicar.com", EICAR)]),
        );
        let inner = zip_bytes(&[("eicar.com", EICAR)]);
        plant("d06/s0/nested.zip", zip_bytes(&[("inner.zip", &inner)]));
        // Clean archives and an empty file must not be reported.
        std::fs::write(
            root.join("d02/clean.zip"),
            zip_bytes(&[("a.txt", b"just text")]),
        )
        .expect("write");
        std::fs::write(root.join("d02/empty.txt"), b"").expect("write");
        Tree { dir, planted }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs clamdscan and returns (exit code, paths reported FOUND, stdout).
pub fn clamdscan(
    config: &Path,
    mode_args: &[&str],
    target: &Path,
) -> (i32, BTreeSet<PathBuf>, String) {
    let output = Command::new(require_tool("clamdscan"))
        .arg(format!("--config-file={}", config.display()))
        .arg("--no-summary")
        .args(mode_args)
        .arg(target)
        .output()
        .expect("run clamdscan");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let found = stdout
        .lines()
        .filter_map(|line| line.strip_suffix(" FOUND"))
        .filter_map(|head| {
            head.rsplit_once(": ")
                .map(|(path, _name)| PathBuf::from(path))
        })
        .collect();
    (output.status.code().unwrap_or(-1), found, stdout)
}

/// Open descriptors of this process: the in-process scanner's leaks show up here.
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What each open descriptor points at, for leak reports.
pub fn open_fd_targets() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| format!("{:?}", std::fs::read_link(e.path()).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Real c-icap whose clamd_mod uses Vigil's socket (debug level 3: the log shows what
/// it makes of Vigil's VERSION).
pub fn start_cicap(vigil: &Vigil) -> Cicap {
    Cicap::start(&vigil.socket, 3)
}
