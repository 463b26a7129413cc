//! The real peers for the ICAP client tests: Debian's clamd with a private EICAR
//! database, and c-icap with virus_scan's clamd_mod pointed at it.
//!
//! Missing programs fail the test with a message, never skip it:
//! `scripts/install-test-deps.sh` installs them.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// What clamd reports for the custom signature below.
pub const EICAR_NAME: &str = "Test.EICAR-1.UNOFFICIAL";
pub const MODULES_DIR: &str = "/usr/lib/x86_64-linux-gnu/c_icap";

pub fn require_tool(name: &str) -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/bin",
        "/usr/local/sbin",
    ] {
        let candidate = Path::new(dir).join(name);
        if candidate.exists() {
            return candidate;
        }
    }
    panic!("required test tool `{name}` is not installed; run scripts/install-test-deps.sh")
}

/// A child process killed when the test ends, pass or fail.
pub struct Daemon(pub Child, &'static str);

impl Drop for Daemon {
    /// SIGTERM first: c-icap's main process then stops its forked server children,
    /// which SIGKILL would leave holding the port.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    fn spawn(what: &'static str, cmd: &mut Command) -> Daemon {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        Daemon(child, what)
    }

    fn wait_until(&mut self, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            if let Ok(Some(status)) = self.0.try_wait() {
                panic!("{} exited during startup: {status}", self.1);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready in 60 s",
                self.1
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// clamd + c-icap, both on private sockets and ports under one temp dir.
pub struct Peers {
    pub dir: tempfile::TempDir,
    pub port: u16,
    cicap: Option<Daemon>,
    _clamd: Daemon,
}

impl Peers {
    pub fn start() -> Peers {
        let clamd = require_tool("clamd");
        let cicap = require_tool("c-icap");
        assert!(
            Path::new(MODULES_DIR).join("clamd_mod.so").exists()
                && Path::new(MODULES_DIR).join("virus_scan.so").exists(),
            "libc-icap-mod-virus-scan is not installed; run scripts/install-test-deps.sh"
        );
        let _ = cicap;
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).expect("db dir");
        // No signature download is possible here: one body signature for EICAR.
        std::fs::write(
            db.join("icap-test.ndb"),
            format!("Test.EICAR-1:0:*:{}\n", hex(EICAR)),
        )
        .expect("ndb");
        let socket = dir.path().join("clamd.sock");
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "DatabaseDirectory {}\nLocalSocket {}\nForeground yes\nLogFile {}\nUser root\n\
                 StreamMaxLength 64M\nMaxScanSize 64M\nMaxFileSize 64M\n",
                db.display(),
                socket.display(),
                dir.path().join("clamd.log").display()
            ),
        )
        .expect("clamd.conf");
        let mut clamd = Daemon::spawn("clamd", Command::new(clamd).arg("-c").arg(&conf));
        clamd.wait_until(|| std::os::unix::net::UnixStream::connect(&socket).is_ok());
        let mut peers = Peers {
            port: free_port(),
            dir,
            cicap: None,
            _clamd: clamd,
        };
        peers.start_cicap();
        peers
    }

    /// (Re)starts c-icap on `self.port`.
    pub fn start_cicap(&mut self) {
        self.stop_cicap();
        let d = self.dir.path().display();
        let port = self.port;
        let conf = self.dir.path().join("c-icap.conf");
        // `virus_scan` keeps Debian's defaults for large objects (send 5 % back early
        // past 2 MiB, scan at most 5 MiB); `avscan` is Debian's alias that turns both
        // off (`sizelimit=off&mode=simple`).
        std::fs::write(
            &conf,
            format!(
                "PidFile {d}/c-icap.pid
CommandsSocket {d}/c-icap.ctl
Port 127.0.0.1:{port}
StartServers 1
MaxServers 1
ThreadsPerChild 16
MinSpareThreads 1
MaxSpareThreads 16
TmpDir {d}
ServerLog {d}/server.log
AccessLog {d}/access.log
DebugLevel 1
ModulesDir {MODULES_DIR}
ServicesDir {MODULES_DIR}
TemplateDir /usr/share/c_icap/templates/
TemplateDefaultLanguage en
LoadMagicFile /etc/c-icap/c-icap.magic
Module common clamd_mod.so
clamd_mod.ClamdSocket {d}/clamd.sock
Service virus_scan virus_scan.so
ServiceAlias avscan virus_scan?allow204=on&sizelimit=off&mode=simple
virus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE GIF JPEG MSOFFICE
virus_scan.DefaultEngine clamd
virus_scan.SendPercentData 5
virus_scan.StartSendPercentDataAfter 2M
virus_scan.MaxObjectSize 5M
"
            ),
        )
        .expect("c-icap.conf");
        let mut cicap = Daemon::spawn(
            "c-icap",
            Command::new(require_tool("c-icap"))
                .arg("-N")
                .arg("-f")
                .arg(&conf),
        );
        cicap.wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_ok());
        self.cicap = Some(cicap);
    }

    /// Stops c-icap and waits until its port refuses connections: its forked
    /// children outlive the main process for a moment, still holding the listening
    /// socket.
    pub fn stop_cicap(&mut self) {
        if self.cicap.take().is_none() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "c-icap still listens 30 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}
