//! Scanning in supervised worker processes, so that a crash inside the engine (a YARA-X
//! bug, a pathological rule, an allocation failure while unpacking) loses only the scan
//! in progress.
//!
//! With `--isolation process`, each pool thread owns one worker process: the same binary
//! started as `vigil scan-worker`, which loads the same rules with the same limits. The
//! thread hands it each file as a descriptor (SCM_RIGHTS, the FILDES mechanism) over a
//! `SOCK_SEQPACKET` socket pair and reads back one verdict per message. When the worker
//! dies (signal, abort, out of memory) or does not answer within the scan time limit and
//! a grace period, that one scan answers an error, the worker is killed and reaped, and
//! the next scan starts a new one. The worker dies with its parent (`PR_SET_PDEATHSIG`)
//! and exits when the socket closes.
//!
//! Wire format, one message each way per scan: request `F` (first match) or `A` (all
//! matches) with one descriptor; reply `C` (clean), `I<name>\n<name>...` (infected),
//! `E<message>` (error) or `L<limit index>` (limit).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::engine::{Engine, Limits, Mode, Scanning};
use crate::ruleset::RuleSources;
use crate::verdict::{Limit, Verdict};

/// The descriptor number the worker finds its socket on.
const WORKER_FD: RawFd = 3;
/// Beyond the scan time limit, how long a worker may take to answer before it is killed.
const GRACE: Duration = Duration::from_secs(10);
/// Content that makes a worker started with `--test-faults` abort mid-scan: the fault a
/// test injects to prove isolation. Never honoured without that hidden option.
pub const TEST_FAULT_MARKER: &[u8] = b"VIGIL-TEST-FAULT:abort-scan-worker";

/// Where engine crashes are contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// Scans run on the pool's threads; a crash in the engine ends the process.
    Thread,
    /// Scans run in supervised worker processes (`vigil scan-worker`).
    Process,
}

/// Options of the hidden `vigil scan-worker` command; the pool passes them.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    #[arg(long = "rules-dir")]
    pub rules_dir: Option<PathBuf>,
    #[arg(long = "no-builtin-rules")]
    pub no_builtin_rules: bool,
    /// Abort on files starting with [`TEST_FAULT_MARKER`] (tests only).
    #[arg(long = "test-faults", hide = true)]
    pub test_faults: bool,
    #[command(flatten)]
    pub limits: Limits,
}

/// How to start a worker: the program and the arguments that reproduce the engine.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Scan time limit, to know when a silent worker is stuck.
    scan_timeout: Duration,
}

impl WorkerSpec {
    /// Workers running this very binary's `scan-worker` command with `sources` and `limits`.
    pub fn current_exe(
        sources: &RuleSources,
        limits: &Limits,
        test_faults: bool,
    ) -> io::Result<WorkerSpec> {
        let mut args: Vec<OsString> = vec!["scan-worker".into()];
        if let Some(dir) = &sources.dir {
            args.push("--rules-dir".into());
            args.push(dir.clone().into_os_string());
        }
        if !sources.builtin {
            args.push("--no-builtin-rules".into());
        }
        if test_faults {
            args.push("--test-faults".into());
        }
        let flag = |name: &str, value: String| [OsString::from(name), OsString::from(value)];
        args.extend(flag("--max-recursion", limits.max_recursion.to_string()));
        args.extend(flag("--max-files", limits.max_files.to_string()));
        args.extend(flag("--max-scan-size", limits.max_scan_size.to_string()));
        args.extend(flag("--max-file-size", limits.max_file_size.to_string()));
        args.extend(flag(
            "--max-compression-ratio",
            limits.max_compression_ratio.to_string(),
        ));
        args.extend(flag("--scan-timeout", limits.scan_timeout.to_string()));
        if limits.alert_exceeds_max {
            args.push("--alert-exceeds-max".into());
        }
        Ok(WorkerSpec {
            program: std::env::current_exe()?,
            args,
            scan_timeout: Duration::from_secs(limits.scan_timeout.max(1)),
        })
    }
}

/// One pool thread's worker process, started on first use and after every crash.
pub struct Worker {
    spec: WorkerSpec,
    running: Option<(Child, OwnedFd)>,
    reply: Vec<u8>,
}

impl crate::engine::Isolation for Worker {
    fn scan(&mut self, fd: BorrowedFd<'_>, mode: Mode) -> Verdict {
        Worker::scan(self, fd, mode)
    }
}

impl Worker {
    pub fn new(spec: WorkerSpec) -> Worker {
        Worker {
            spec,
            running: None,
            reply: vec![0u8; 64 * 1024],
        }
    }

    /// Scans `fd` in the worker; a worker that fails answers this scan with an error.
    pub fn scan(&mut self, fd: BorrowedFd<'_>, mode: Mode) -> Verdict {
        match self.try_scan(fd, mode) {
            Ok(verdict) => verdict,
            Err(e) => {
                let status = self.stop();
                tracing::error!(error = %e, status = %status, "scan worker failed; starting a new one for the next scan");
                Verdict::Error(format!("Scan worker failed ({status})"))
            }
        }
    }

    fn try_scan(&mut self, fd: BorrowedFd<'_>, mode: Mode) -> io::Result<Verdict> {
        if self.running.is_none() {
            self.running = Some(spawn(&self.spec)?);
        }
        let Some((_, sock)) = &self.running else {
            return Err(io::Error::other("no worker"));
        };
        let request: &[u8] = match mode {
            Mode::FirstMatch => b"F",
            Mode::AllMatches => b"A",
        };
        clamd::fdpass::send_with_fd(sock.as_raw_fd(), request, fd)?;
        let deadline = Instant::now() + self.spec.scan_timeout + GRACE;
        let n = recv_until(sock.as_raw_fd(), &mut self.reply, deadline)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "worker exited",
            ));
        }
        decode(&self.reply[..n]).ok_or_else(|| io::Error::other("unreadable worker reply"))
    }

    /// Kills and reaps the worker; what became of it, for the log and the error.
    fn stop(&mut self) -> String {
        let Some((mut child, sock)) = self.running.take() else {
            return "not started".into();
        };
        drop(sock);
        // It may have died already (the usual case): then kill is a no-op.
        let _ = child.kill();
        match child.wait() {
            Ok(status) => match status.signal() {
                Some(signal) => format!("signal {signal}"),
                None => status.to_string(),
            },
            Err(e) => e.to_string(),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(spec: &WorkerSpec) -> io::Result<(Child, OwnedFd)> {
    let (ours, theirs) = seqpacket_pair()?;
    let theirs_raw = theirs.as_raw_fd();
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .env(
            "VIGIL_LOG",
            std::env::var("VIGIL_LOG").unwrap_or_else(|_| "warn".into()),
        );
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(theirs_raw, WORKER_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = command.spawn()?;
    drop(theirs);
    Ok((child, ours))
}

fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair writes two descriptors into the array on success.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Receives one message, waiting at most until `deadline`.
fn recv_until(sock: RawFd, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "worker did not answer",
            ));
        }
        let mut poll = libc::pollfd {
            fd: sock,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut poll, 1, ms.max(1)) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if rc == 0 {
            continue;
        }
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(sock, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(n as usize);
    }
}

const LIMITS: [Limit; 6] = [
    Limit::Recursion,
    Limit::Files,
    Limit::ScanSize,
    Limit::FileSize,
    Limit::CompressionRatio,
    Limit::ScanTime,
];

fn encode(verdict: &Verdict) -> Vec<u8> {
    match verdict {
        Verdict::Clean => b"C".to_vec(),
        Verdict::Infected(names) => {
            let mut out = b"I".to_vec();
            out.extend_from_slice(names.join("\n").as_bytes());
            out
        }
        Verdict::Error(message) => {
            let mut out = b"E".to_vec();
            out.extend_from_slice(message.as_bytes());
            out
        }
        Verdict::LimitExceeded(limit) => {
            let index = LIMITS.iter().position(|l| l == limit).unwrap_or(0);
            vec![b'L', index as u8]
        }
    }
}

fn decode(message: &[u8]) -> Option<Verdict> {
    let (&kind, rest) = message.split_first()?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    Some(match kind {
        b'C' => Verdict::Clean,
        b'I' => Verdict::Infected(text().split('\n').map(str::to_string).collect()),
        b'E' => Verdict::Error(text()),
        b'L' => Verdict::LimitExceeded(*LIMITS.get(usize::from(*rest.first()?))?),
        _ => return None,
    })
}

/// `vigil scan-worker`: serves scans on descriptor 3 until the parent closes it.
pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let sources = RuleSources {
        dir: args.rules_dir,
        builtin: !args.no_builtin_rules,
    };
    let engine = Engine::new(sources, args.limits.clone())?;
    let ruleset = engine.ruleset();
    let mut scanning = Scanning::new(&ruleset, args.limits);
    // SAFETY: the parent placed our end of the socket pair on this descriptor.
    let sock = unsafe { OwnedFd::from_raw_fd(WORKER_FD) };
    let mut request = [0u8; 16];
    let mut fds = Vec::new();
    loop {
        fds.clear();
        let n = match clamd::fdpass::recv_with_fds(sock.as_raw_fd(), &mut request, &mut fds) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let mode = match request[..n].first() {
            Some(b'A') => Mode::AllMatches,
            _ => Mode::FirstMatch,
        };
        let verdict = match fds.pop() {
            Some(fd) => {
                let file = File::from(fd);
                if args.test_faults && starts_with_fault_marker(&file) {
                    tracing::warn!("test fault: aborting this scan worker");
                    std::process::abort();
                }
                scanning.scan_file(&file, mode)
            }
            None => Verdict::Error("No file descriptor received.".into()),
        };
        let reply = encode(&verdict);
        // SAFETY: reply is valid for its length.
        let sent = unsafe {
            libc::send(
                sock.as_raw_fd(),
                reply.as_ptr().cast(),
                reply.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error().into());
        }
    }
}

fn starts_with_fault_marker(file: &File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; TEST_FAULT_MARKER.len()];
    matches!(file.read_at(&mut head, 0), Ok(n) if n == head.len() && head == TEST_FAULT_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_round_trip() {
        for verdict in [
            Verdict::Clean,
            Verdict::Infected(vec!["A".into(), "B.C".into()]),
            Verdict::Error("Access denied.".into()),
            Verdict::LimitExceeded(Limit::ScanTime),
            Verdict::LimitExceeded(Limit::Recursion),
        ] {
            assert_eq!(decode(&encode(&verdict)), Some(verdict));
        }
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"L\x09"), None);
    }
}
