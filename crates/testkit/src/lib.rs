//! What the integration tests of several crates share: the real peers Vigil talks to
//! (Debian's clamd with a private EICAR database, c-icap with virus_scan over a clamd
//! socket), each on private sockets and ports under a temp dir, and the helpers to start,
//! wait for and stop external programs.
//!
//! A missing program fails the test with a message, never skips it:
//! `scripts/install-test-deps.sh` installs them all.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// What [`RealClamd`] reports for EICAR (its database's one body signature).
pub const CLAMD_EICAR_NAME: &str = "Test.EICAR-1.UNOFFICIAL";
/// Where Debian's libc-icap-mod-virus-scan puts its modules.
pub const CICAP_MODULES_DIR: &str = "/usr/lib/x86_64-linux-gnu/c_icap";
/// How long a peer may take to become ready.
const STARTUP: Duration = Duration::from_secs(60);

/// The path of an installed program; panics with the fix when it is absent.
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

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + STARTUP;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait_for_path(path: &Path, what: &str) {
    wait(&format!("{what} to create {}", path.display()), || {
        path.exists()
    });
}

pub fn wait_for_port(port: u16, what: &str) {
    wait(&format!("{what} to listen on port {port}"), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// A child process stopped when the test ends, pass or fail: SIGTERM first (c-icap's
/// main process then stops its forked children, which SIGKILL would leave holding the
/// port), SIGKILL after 10 s.
pub struct Daemon {
    child: Option<Child>,
    what: &'static str,
    graceful: bool,
}

impl Daemon {
    /// Starts `cmd` with its output discarded.
    pub fn spawn(what: &'static str, cmd: &mut Command) -> Daemon {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        Daemon {
            child: Some(child),
            what,
            graceful: true,
        }
    }

    /// Like [`Daemon::spawn`], for a program that answers SIGTERM by signalling its
    /// whole process group (smbd with `--no-process-group`, which shares the test's
    /// group): it only ever gets SIGKILL.
    pub fn spawn_sigkill_only(what: &'static str, cmd: &mut Command) -> Daemon {
        let mut daemon = Daemon::spawn(what, cmd);
        daemon.graceful = false;
        daemon
    }

    /// Waits for `ready`, failing fast if the program exits instead.
    pub fn wait_until(&mut self, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + STARTUP;
        while !ready() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("{} exited during startup: {status}", self.what);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready in {} s",
                self.what,
                STARTUP.as_secs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL now: the program says goodbye to nobody.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.graceful {
            return self.kill();
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The real clamd from Debian's clamav-daemon on a private unix socket and loopback
/// port, with a database holding one EICAR body signature (no download is possible
/// here); EICAR is reported as [`CLAMD_EICAR_NAME`].
pub struct RealClamd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub port: u16,
    conf: PathBuf,
    daemon: Option<Daemon>,
}

impl RealClamd {
    pub fn start() -> RealClamd {
        RealClamd::start_with("")
    }

    /// `extra` is appended to clamd.conf (one directive per line).
    pub fn start_with(extra: &str) -> RealClamd {
        require_tool("clamd");
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).expect("db dir");
        std::fs::write(
            db.join("vigil-test.ndb"),
            format!("Test.EICAR-1:0:*:{}\n", hex(EICAR)),
        )
        .expect("ndb");
        let socket = dir.path().join("clamd.sock");
        let port = free_port();
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "DatabaseDirectory {}\nLocalSocket {}\nTCPSocket {port}\nTCPAddr 127.0.0.1\n\
                 Foreground yes\nLogFile {}\nUser root\n{extra}",
                db.display(),
                socket.display(),
                dir.path().join("clamd.log").display()
            ),
        )
        .expect("clamd.conf");
        let mut clamd = RealClamd {
            dir,
            socket,
            port,
            conf,
            daemon: None,
        };
        clamd.restart();
        clamd
    }

    /// Kills clamd (SIGKILL: no goodbye to connected clients).
    pub fn kill(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Starts clamd again on the same socket and port.
    pub fn restart(&mut self) {
        self.kill();
        let mut daemon = Daemon::spawn(
            "clamd",
            Command::new(require_tool("clamd"))
                .arg("-c")
                .arg(&self.conf),
        );
        let (socket, port) = (self.socket.clone(), self.port);
        daemon.wait_until(|| socket.exists() && TcpStream::connect(("127.0.0.1", port)).is_ok());
        self.daemon = Some(daemon);
    }
}

/// Real c-icap with the virus_scan service, whose clamd_mod scans through a
/// clamd-protocol socket (real clamd or Vigil's scanner), on a loopback port. Services:
/// `virus_scan` with Debian's large-object defaults written out (past 2 MiB send 5 %
/// back early, scan at most 5 MiB) and `avscan`, Debian's alias that turns both off.
pub struct Cicap {
    pub dir: tempfile::TempDir,
    pub port: u16,
    conf: PathBuf,
    daemon: Option<Daemon>,
}

impl Cicap {
    /// Starts c-icap over `clamd_socket`; `debug_level` 3 logs what clamd_mod makes of
    /// the server's VERSION.
    pub fn start(clamd_socket: &Path, debug_level: u8) -> Cicap {
        require_tool("c-icap");
        assert!(
            Path::new(CICAP_MODULES_DIR).join("clamd_mod.so").exists()
                && Path::new(CICAP_MODULES_DIR).join("virus_scan.so").exists(),
            "libc-icap-mod-virus-scan is not installed; run scripts/install-test-deps.sh"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let d = dir.path().display();
        let conf = dir.path().join("c-icap.conf");
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
DebugLevel {debug_level}
ModulesDir {CICAP_MODULES_DIR}
ServicesDir {CICAP_MODULES_DIR}
TemplateDir /usr/share/c_icap/templates/
TemplateDefaultLanguage en
LoadMagicFile /etc/c-icap/c-icap.magic
Module common clamd_mod.so
clamd_mod.ClamdSocket {socket}
Service virus_scan virus_scan.so
ServiceAlias avscan virus_scan?allow204=on&sizelimit=off&mode=simple
virus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE GIF JPEG MSOFFICE
virus_scan.DefaultEngine clamd
virus_scan.SendPercentData 5
virus_scan.StartSendPercentDataAfter 2M
virus_scan.MaxObjectSize 5M
",
                socket = clamd_socket.display()
            ),
        )
        .expect("c-icap.conf");
        let mut cicap = Cicap {
            dir,
            port,
            conf,
            daemon: None,
        };
        cicap.restart();
        cicap
    }

    /// (Re)starts c-icap on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let mut daemon = Daemon::spawn(
            "c-icap",
            Command::new(require_tool("c-icap"))
                .arg("-N")
                .arg("-f")
                .arg(&self.conf),
        );
        let port = self.port;
        daemon.wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_ok());
        self.daemon = Some(daemon);
    }

    /// Stops c-icap and waits until its port refuses connections: its forked children
    /// outlive the main process for a moment, still holding the listening socket.
    pub fn stop(&mut self) {
        if self.daemon.take().is_none() {
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

    /// c-icap's server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

/// A throwaway PostgreSQL server from Debian's postgresql package: `initdb` in a temp
/// dir, the server on a loopback port, run as the `postgres` user (the server refuses
/// root), trust authentication, fsync off (a test database need not survive the
/// machine). Stopped and removed when dropped.
pub struct RealPostgres {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    daemon: Option<Daemon>,
}

impl RealPostgres {
    pub fn start() -> RealPostgres {
        let bin = postgres_bin_dir();
        let dir = tempfile::tempdir().expect("tempdir");
        as_postgres_owner(dir.path());
        let data = dir.path().join("data");
        let status = Command::new("setpriv")
            .args(postgres_user())
            .arg(bin.join("initdb"))
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed: {status}");
        let mut pg = RealPostgres {
            dir,
            port: free_port(),
            bin,
            daemon: None,
        };
        pg.resume();
        pg
    }

    /// The URL of database `name` (see [`RealPostgres::create_database`]).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn create_database(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    /// Runs one SQL command through psql, failing the test if it fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
            ])
            .arg("postgres")
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .arg("-c")
            .arg(sql)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server with a fast shutdown: connections are cut, as in an outage.
    /// (SIGTERM would wait for every client to leave.)
    pub fn stop(&mut self) {
        if self.daemon.is_none() {
            return;
        }
        let _ = Command::new("setpriv")
            .args(postgres_user())
            .arg(self.bin.join("pg_ctl"))
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .status();
        self.daemon = None;
    }

    /// Starts the server again on the same port and data.
    pub fn resume(&mut self) {
        let mut daemon = Daemon::spawn(
            "postgres",
            Command::new("setpriv")
                .args(postgres_user())
                .arg(self.bin.join("postgres"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .arg("-k")
                .arg(self.dir.path())
                .arg("-p")
                .arg(self.port.to_string())
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]),
        );
        let port = self.port;
        daemon.wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_ok());
        self.daemon = Some(daemon);
        let ready = self.bin.join("pg_isready");
        wait("postgres to accept connections", || {
            Command::new(&ready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        });
    }
}

/// Where Debian puts the server's programs (`/usr/lib/postgresql/15/bin`).
fn postgres_bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed: run scripts/install-test-deps.sh (Debian postgresql)")
    })
}

impl Drop for RealPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn postgres_user() -> [&'static str; 4] {
    [
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
    ]
}

fn as_postgres_owner(dir: &Path) {
    let status = Command::new("chown")
        .arg("postgres:postgres")
        .arg(dir)
        .status()
        .expect("run chown");
    assert!(
        status.success(),
        "chown postgres {}: {status}",
        dir.display()
    );
}
