//! Samba's vfs_virusfilter (backend `clamav`) pointed at Vigil's unix socket: a real smbd
//! on a loopback port with NetBIOS off, driven by the real smbclient.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Daemon, EICAR, Vigil, free_port, require_tool};

fn smb_conf(root: &Path, port: u16, socket: &Path) -> String {
    let dir = |name: &str| {
        let path = root.join(name);
        std::fs::create_dir_all(&path).expect("mkdir");
        path.display().to_string()
    };
    format!(
        "[global]
  smb ports = {port}
  disable netbios = yes
  interfaces = lo
  bind interfaces only = yes
  server role = standalone server
  map to guest = Bad User
  private dir = {private}
  lock directory = {lock}
  state directory = {state}
  cache directory = {cache}
  pid directory = {pid}
  ncalrpc dir = {ncalrpc}
  log file = {log}/log.%m
  passdb backend = tdbsam:{private}/passdb.tdb
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
[share]
  path = {share}
  read only = no
  guest ok = yes
  guest only = yes
  force user = root
  vfs objects = virusfilter
  virusfilter:scanner = clamav
  virusfilter:socket path = {socket}
  virusfilter:scan on open = yes
  virusfilter:scan on close = yes
  virusfilter:infected file action = nothing
",
        private = dir("private"),
        lock = dir("lock"),
        state = dir("state"),
        cache = dir("cache"),
        pid = dir("pid"),
        ncalrpc = dir("ncalrpc"),
        log = dir("log"),
        share = dir("share"),
        socket = socket.display(),
    )
}

fn smbclient(port: u16, workdir: &Path, commands: &str) -> String {
    let output = Command::new(require_tool("smbclient"))
        .current_dir(workdir)
        .args([
            "//127.0.0.1/share",
            "-p",
            &port.to_string(),
            "-N",
            "-c",
            commands,
        ])
        .output()
        .expect("run smbclient");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn infected_file_written_over_smb_cannot_be_read_back_and_clean_one_can() {
    let vigil = Vigil::start();
    let root = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let conf = root.path().join("smb.conf");
    std::fs::write(&conf, smb_conf(root.path(), port, &vigil.socket)).expect("smb.conf");
    let mut smbd = Daemon::spawn_sigkill_only(
        "smbd",
        Command::new(require_tool("smbd"))
            .args(["--foreground", "--no-process-group", "--debug-stdout", "-s"])
            .arg(&conf),
    );
    smbd.wait_until(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("eicar.com"), EICAR).expect("write");
    let clean_body = b"a perfectly ordinary document\n".repeat(100);
    std::fs::write(work.path().join("clean.txt"), &clean_body).expect("write");

    let put = smbclient(
        port,
        work.path(),
        "put eicar.com eicar.com; put clean.txt clean.txt",
    );
    assert!(put.contains("putting file eicar.com"), "{put}");
    assert!(put.contains("putting file clean.txt"), "{put}");

    let get_infected = smbclient(port, work.path(), "get eicar.com back-eicar.com");
    assert!(
        get_infected.contains("NT_STATUS_ACCESS_DENIED"),
        "reading EICAR must be denied:\n{get_infected}"
    );
    let leaked = std::fs::read(work.path().join("back-eicar.com")).unwrap_or_default();
    assert!(
        !leaked.windows(EICAR.len()).any(|w| w == EICAR),
        "EICAR content leaked to the client"
    );

    let get_clean = smbclient(port, work.path(), "get clean.txt back-clean.txt");
    assert!(!get_clean.contains("NT_STATUS"), "{get_clean}");
    assert_eq!(
        std::fs::read(work.path().join("back-clean.txt")).expect("clean file served"),
        clean_body
    );
}
