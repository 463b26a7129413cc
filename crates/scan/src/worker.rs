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
//! Wire format: a request is one message, `F` (first match) or `A` (all matches) and the
//! number of files (one byte), carrying up to [`MAX_BATCH`] descriptors; the reply is one
//! or more messages holding, in order, one verdict per file, each as a little-endian
//! `u16` length, the file's scanned length (little-endian `u64`) and `C` (clean),
//! `I<name>\n<name>...` (infected), `E<message>` (error) or `L<limit index>` (limit). A
//! batch costs one round trip, whatever its size.

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
use crate::verdict::{Limit, Scanned, Verdict};

/// The descriptor number the worker finds its socket on.
const WORKER_FD: RawFd = 3;
/// Beyond the scan time limit, how long a worker may take to answer before it is killed.
const GRACE: Duration = Duration::from_secs(10);
/// Files handed to a worker in one round trip at most.
pub const MAX_BATCH: usize = 32;
/// The largest reply message a worker sends (below the parent's buffer and the socket's).
const MAX_REPLY: usize = 60 * 1024;
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
    fn scan(&mut self, fds: &[BorrowedFd<'_>], mode: Mode) -> Vec<Scanned> {
        Worker::scan(self, fds, mode)
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

    /// Scans each descriptor in the worker, [`MAX_BATCH`] to a round trip. When the worker
    /// fails during a batch, which file brought it down is unknown: the batch's files go
    /// again one at a time, so only the one that fails again answers an error.
    pub fn scan(&mut self, fds: &[BorrowedFd<'_>], mode: Mode) -> Vec<Scanned> {
        let mut verdicts = Vec::with_capacity(fds.len());
        for batch in fds.chunks(MAX_BATCH) {
            match self.try_scan(batch, mode) {
                Ok(answers) => verdicts.extend(answers),
                Err(e) if batch.len() == 1 => verdicts.push(self.failed(&e)),
                Err(e) => {
                    self.failed(&e);
                    for fd in batch {
                        let verdict = match self.try_scan(std::slice::from_ref(fd), mode) {
                            Ok(mut answers) => answers.pop().unwrap_or_else(no_verdict),
                            Err(e) => self.failed(&e),
                        };
                        verdicts.push(verdict);
                    }
                }
            }
        }
        verdicts
    }

    /// Stops the failed worker (the next scan starts a new one); the scan's error.
    fn failed(&mut self, e: &io::Error) -> Scanned {
        let status = self.stop();
        tracing::error!(error = %e, status = %status, "scan worker failed; starting a new one for the next scan");
        Scanned::unscanned(Verdict::Error(format!("Scan worker failed ({status})")))
    }

    fn try_scan(&mut self, fds: &[BorrowedFd<'_>], mode: Mode) -> io::Result<Vec<Scanned>> {
        if self.running.is_none() {
            self.running = Some(spawn(&self.spec)?);
        }
        let Some((_, sock)) = &self.running else {
            return Err(io::Error::other("no worker"));
        };
        let mode = match mode {
            Mode::FirstMatch => b'F',
            Mode::AllMatches => b'A',
        };
        // Fits a byte: batches are at most MAX_BATCH.
        let request = [mode, fds.len() as u8];
        clamd::fdpass::send_with_fds(sock.as_raw_fd(), &request, fds)?;
        // Every file may take up to the scan time limit.
        let deadline = Instant::now() + self.spec.scan_timeout * fds.len() as u32 + GRACE;
        let mut verdicts = Vec::with_capacity(fds.len());
        while verdicts.len() < fds.len() {
            let n = recv_until(sock.as_raw_fd(), &mut self.reply, deadline)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "worker exited",
                ));
            }
            decode_all(&self.reply[..n], &mut verdicts)
                .ok_or_else(|| io::Error::other("unreadable worker reply"))?;
        }
        if verdicts.len() > fds.len() {
            return Err(io::Error::other("worker sent more verdicts than files"));
        }
        Ok(verdicts)
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

fn encode(scanned: &Scanned) -> Vec<u8> {
    let mut out = scanned.bytes.to_le_bytes().to_vec();
    out.extend(encode_verdict(&scanned.verdict));
    out
}

fn encode_verdict(verdict: &Verdict) -> Vec<u8> {
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

fn decode(message: &[u8]) -> Option<Scanned> {
    let (bytes, message) = message.split_first_chunk::<8>()?;
    Some(Scanned {
        verdict: decode_verdict(message)?,
        bytes: u64::from_le_bytes(*bytes),
    })
}

fn decode_verdict(message: &[u8]) -> Option<Verdict> {
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

fn no_verdict() -> Scanned {
    Scanned::unscanned(Verdict::Error("Scan worker gave no verdict".into()))
}

/// Appends each framed verdict of one reply message; `None` when the message is garbled.
fn decode_all(mut message: &[u8], verdicts: &mut Vec<Scanned>) -> Option<()> {
    while !message.is_empty() {
        let (len, rest) = message.split_at_checked(2)?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let (entry, rest) = rest.split_at_checked(len)?;
        verdicts.push(decode(entry)?);
        message = rest;
    }
    Some(())
}

/// Frames `verdict` onto `out`. An entry never exceeds one reply message: a list of
/// names that would is cut to the names that fit.
fn encode_framed(scanned: &Scanned, out: &mut Vec<u8>) {
    let mut entry = encode(scanned);
    let max = MAX_REPLY - 2;
    if entry.len() > max {
        // The length and the kind byte stay whole; names are cut at a name boundary.
        let names_start = 9;
        let cut = entry[names_start..max]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(max, |at| names_start + at);
        entry.truncate(cut.max(names_start));
    }
    out.extend_from_slice(&(entry.len() as u16).to_le_bytes());
    out.extend_from_slice(&entry);
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
    let mut reply = Vec::with_capacity(MAX_REPLY);
    loop {
        fds.clear();
        let received =
            clamd::fdpass::recv_with_fds_up_to(sock.as_raw_fd(), &mut request, &mut fds, MAX_BATCH);
        let (n, truncated) = match received {
            Ok((0, _)) => return Ok(()),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let mode = match request[..n].first() {
            Some(b'A') => Mode::AllMatches,
            _ => Mode::FirstMatch,
        };
        let count = request[..n].get(1).map_or(fds.len(), |&c| usize::from(c));
        let files: Vec<File> = fds.drain(..).map(File::from).collect();
        let verdicts: Vec<Scanned> = if truncated || files.len() != count {
            let lost = Verdict::Error("File descriptors lost in transit".into());
            vec![Scanned::unscanned(lost); count.max(1)]
        } else {
            if args.test_faults && files.iter().any(starts_with_fault_marker) {
                tracing::warn!("test fault: aborting this scan worker");
                std::process::abort();
            }
            if files.is_empty() {
                let none = Verdict::Error("No file descriptor received.".into());
                vec![Scanned::unscanned(none)]
            } else {
                scanning.scan_files_sized(&files.iter().collect::<Vec<_>>(), mode)
            }
        };
        drop(files);
        reply.clear();
        for verdict in &verdicts {
            let before = reply.len();
            encode_framed(verdict, &mut reply);
            if reply.len() > MAX_REPLY {
                // This entry does not fit: send what came before, start the next message.
                let entry = reply.split_off(before);
                send_reply(&sock, &reply)?;
                reply = entry;
            }
        }
        send_reply(&sock, &reply)?;
    }
}

fn send_reply(sock: &OwnedFd, reply: &[u8]) -> anyhow::Result<()> {
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
    Ok(())
}

fn starts_with_fault_marker(file: &File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; TEST_FAULT_MARKER.len()];
    matches!(file.read_at(&mut head, 0), Ok(n) if n == head.len() && head == TEST_FAULT_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(verdict: Verdict, bytes: u64) -> Scanned {
        Scanned { verdict, bytes }
    }

    #[test]
    fn verdicts_round_trip() {
        for (verdict, bytes) in [
            (Verdict::Clean, 0),
            (Verdict::Infected(vec!["A".into(), "B.C".into()]), 68),
            (Verdict::Error("Access denied.".into()), 10),
            (Verdict::LimitExceeded(Limit::ScanTime), u64::MAX),
            (Verdict::LimitExceeded(Limit::Recursion), 1 << 40),
        ] {
            let scanned = sized(verdict, bytes);
            assert_eq!(decode(&encode(&scanned)), Some(scanned));
        }
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"C"), None, "no length");
        assert_eq!(decode(b"\0\0\0\0\0\0\0\0L\x09"), None);
    }

    #[test]
    fn framed_verdicts_round_trip_and_fit_a_message() {
        let many_names = Verdict::Infected((0..20_000).map(|i| format!("Rule.{i}")).collect());
        // A single name longer than a message, and a length holding a newline byte (10):
        // the cut must keep the length and kind whole.
        let one_long_name = Verdict::Infected(vec!["N".repeat(MAX_REPLY * 2)]);
        let verdicts = [
            sized(Verdict::Clean, 4096),
            sized(many_names, 7),
            sized(Verdict::Error("x".into()), 0),
            sized(one_long_name, 10),
        ];
        let mut decoded = Vec::new();
        for verdict in &verdicts {
            let mut out = Vec::new();
            encode_framed(verdict, &mut out);
            assert!(out.len() <= MAX_REPLY);
            decode_all(&out, &mut decoded).expect("decodes");
        }
        assert_eq!(decoded[0], sized(Verdict::Clean, 4096));
        assert_eq!(decoded[1].bytes, 7);
        let Verdict::Infected(names) = &decoded[1].verdict else {
            panic!("{:?}", decoded[1]);
        };
        assert!(names.len() > 1000 && names.len() < 20_000);
        assert_eq!(names[0], "Rule.0");
        assert!(names.iter().all(|n| n.starts_with("Rule.")));
        assert_eq!(decoded[2], sized(Verdict::Error("x".into()), 0));
        assert_eq!(decoded[3].bytes, 10);
        let Verdict::Infected(names) = &decoded[3].verdict else {
            panic!("{:?}", decoded[3]);
        };
        assert!(names[0].len() > 1000 && names[0].bytes().all(|b| b == b'N'));
        assert_eq!(decode_all(&[5, 0, b'C'], &mut decoded), None);
    }
}
