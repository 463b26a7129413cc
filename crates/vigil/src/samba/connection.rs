//! One client connection on an SVM's Samba socket, as clamd answers it:
//! `vfs_virusfilter` connects, sends one `zSCAN <path>\0`, reads one reply and hangs
//! up. Framing and command words are the `clamd` crate's; the verdict is the shared
//! on-access decision's ([`OnAccess::check`]).
//!
//! One command per connection (clamd's rule outside IDSESSION). The path commands
//! (`SCAN`, `CONTSCAN`, `MULTISCAN`, `ALLMATCHSCAN`) scan one regular file; `PING`,
//! `VERSION` and `VERSIONCOMMANDS` are answered for health checks; anything else gets
//! clamd's error forms.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clamd::{Command, FrameError, Framing, ReplyWriter, Status, next_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::paths;
use crate::scanning::on_access::{Access, AccessDecision, OnAccess};
use crate::scanning::{Subject, Trigger};

/// Longest a client may take to send its command (clamd's `CommandReadTimeout`).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The commands this socket serves, for `VERSIONCOMMANDS`.
const SERVED: &str = "SCAN CONTSCAN MULTISCAN ALLMATCHSCAN PING VERSION VERSIONCOMMANDS";

/// The SVM a socket belongs to.
pub struct Svm {
    pub uuid: String,
    /// Its namespace root, canonical.
    pub root: std::path::PathBuf,
}

pub async fn serve(mut stream: UnixStream, svm: Arc<Svm>, on_access: Arc<OnAccess>) {
    let reply = match read_command(&mut stream).await {
        Ok(Some((framing, command))) => answer(framing, command, &svm, &on_access).await,
        Ok(None) => return,
        Err(reply) => reply,
    };
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

/// The command, `None` when the client left without one, or the reply that ends a
/// connection whose command cannot be read.
async fn read_command(
    stream: &mut UnixStream,
) -> Result<Option<(Framing, Result<Command, clamd::ParseError>)>, Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk)).await {
            Err(_) => return Err(b"COMMAND READ TIMED OUT\n".to_vec()),
            Ok(Err(_)) => return Ok(None),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // Each read is a packet: a bare command may end at one (clamd's rule).
        match next_frame(&buf, true) {
            Ok(Some(frame)) => return Ok(Some((frame.framing, frame.command))),
            Ok(None) if n == 0 => return Ok(None),
            Ok(None) => {}
            Err(FrameError::TooLong) => {
                return Err(nul().error("Command too long (longer than PATH_MAX)."));
            }
        }
    }
}

fn nul() -> ReplyWriter {
    ReplyWriter {
        session_id: None,
        terminator: 0,
    }
}

async fn answer(
    framing: Framing,
    command: Result<Command, clamd::ParseError>,
    svm: &Svm,
    on_access: &OnAccess,
) -> Vec<u8> {
    let writer = ReplyWriter {
        session_id: None,
        terminator: framing.terminator(),
    };
    let command = match command {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "Samba socket: bad command");
            return writer.plain(b"UNKNOWN COMMAND");
        }
    };
    let version = format!("Vigil {}", env!("CARGO_PKG_VERSION"));
    match command {
        Command::Ping => writer.plain(b"PONG"),
        Command::Version => writer.plain(version.as_bytes()),
        Command::VersionCommands => {
            writer.plain(format!("{version}| COMMANDS: {SERVED}").as_bytes())
        }
        Command::Scan(path)
        | Command::ContScan(path)
        | Command::MultiScan(path)
        | Command::AllMatchScan(path) => {
            let status = scan(svm, on_access, &path).await;
            writer.status(&path, &status)
        }
        other => writer.error(&format!(
            "{} is not served on Vigil's Samba socket (it scans paths: {SERVED}).",
            other.word()
        )),
    }
}

/// The verdict for one path, in clamd's terms. No verdict under a mandatory policy is
/// an `ERROR`, which Samba's `virusfilter:block access on error = yes` turns into a
/// refused open; under a policy that is not mandatory it is `OK`.
async fn scan(svm: &Svm, on_access: &OnAccess, raw: &[u8]) -> Status {
    let at = match paths::locate(&svm.root, raw) {
        Ok(at) => at,
        Err(refused) => {
            tracing::debug!(svm = %svm.uuid, path = %String::from_utf8_lossy(raw), %refused, "Samba socket: path refused");
            return Status::Error(refused.to_string());
        }
    };
    let access = Access {
        execute: false,
        readonly_volume: read_only(&at.host),
    };
    let decision = on_access
        .check(
            &svm.uuid,
            &at.svm_path,
            Subject::Path(at.host),
            access,
            Trigger::OnAccess,
        )
        .await;
    tracing::debug!(svm = %svm.uuid, file = %at.svm_path, ?decision, "Samba on-access verdict");
    match decision {
        AccessDecision::Allow(_) => Status::Ok,
        AccessDecision::Deny { threat, .. } => Status::Found(one_line(&threat)),
        AccessDecision::Unavailable {
            mandatory: true,
            reason,
        } => Status::Error(one_line(&reason)),
        AccessDecision::Unavailable {
            mandatory: false, ..
        } => Status::Ok,
    }
}

/// Whether the file's file system is mounted read-only (the policy's
/// `scan_readonly_volumes`).
fn read_only(path: &Path) -> bool {
    rustix::fs::statvfs(path)
        .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// A reply is one line ending in NUL or newline: neither may appear inside it.
fn one_line(text: &str) -> String {
    text.replace(['\0', '\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("a\nb\0c"), "a b c");
    }
}
