//! An async clamd client: one connection per request, `z` framing, the way clamdscan
//! talks to clamd. Works against clamd itself and against Vigil's scanner.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::command::{Command, Framing};
use crate::instream::{END_OF_STREAM, chunk_header};
use crate::reply::{ParsedReply, parse_reply};

/// Where a clamd-protocol server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Replies larger than this are treated as a protocol error rather than buffered forever.
const MAX_REPLY_BYTES: u64 = 16 * 1024 * 1024;

/// INSTREAM chunk size the client sends (clamdscan uses 8 KiB writes; larger chunks
/// mean fewer syscalls on both sides).
const INSTREAM_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    timeout: Duration,
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

fn protocol_error(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Client {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Self {
        Client { endpoint, timeout }
    }

    async fn connect(&self) -> io::Result<Box<dyn Conn>> {
        Ok(match &self.endpoint {
            Endpoint::Tcp(addr) => Box::new(TcpStream::connect(addr).await?),
            Endpoint::Unix(path) => Box::new(UnixStream::connect(path).await?),
        })
    }

    async fn with_timeout<T>(&self, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "clamd request timed out"))?
    }

    /// Sends one command and returns every NUL-terminated reply line until the server
    /// closes the connection.
    async fn request(&self, command: &Command) -> io::Result<Vec<Vec<u8>>> {
        self.with_timeout(async {
            let mut conn = self.connect().await?;
            conn.write_all(&command.encode(Framing::Nul)).await?;
            read_replies(&mut conn).await
        })
        .await
    }

    async fn single_line(&self, command: &Command) -> io::Result<Vec<u8>> {
        self.request(command)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| protocol_error(format!("no reply to {}", command.word())))
    }

    pub async fn ping(&self) -> io::Result<()> {
        let line = self.single_line(&Command::Ping).await?;
        if line == b"PONG" {
            Ok(())
        } else {
            Err(protocol_error(format!(
                "unexpected PING reply {:?}",
                String::from_utf8_lossy(&line)
            )))
        }
    }

    /// The VERSION string, e.g. `ClamAV 1.4.6/27123/Sun Nov 22 09:31:17 2026`.
    pub async fn version(&self) -> io::Result<String> {
        Ok(String::from_utf8_lossy(&self.single_line(&Command::Version).await?).into_owned())
    }

    /// The multi-line STATS text, `END` included.
    pub async fn stats(&self) -> io::Result<String> {
        Ok(String::from_utf8_lossy(&self.single_line(&Command::Stats).await?).into_owned())
    }

    /// Sends a path command (SCAN, CONTSCAN, MULTISCAN, ALLMATCHSCAN) and parses every line.
    pub async fn scan_command(&self, command: &Command) -> io::Result<Vec<ParsedReply>> {
        Ok(self
            .request(command)
            .await?
            .iter()
            .map(|l| parse_reply(l))
            .collect())
    }

    pub async fn scan_path(&self, path: &Path) -> io::Result<Vec<ParsedReply>> {
        use std::os::unix::ffi::OsStrExt;
        self.scan_command(&Command::Scan(path.as_os_str().as_bytes().to_vec()))
            .await
    }

    /// Streams `body` with INSTREAM.
    pub async fn instream(&self, mut body: impl AsyncRead + Unpin) -> io::Result<ParsedReply> {
        self.with_timeout(async {
            let mut conn = self.connect().await?;
            conn.write_all(&Command::Instream.encode(Framing::Nul))
                .await?;
            let mut buf = vec![0u8; INSTREAM_CHUNK];
            loop {
                let n = body.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                // A server that refuses the stream (size limit) closes early: stop sending
                // and read its verdict instead of failing on the broken pipe.
                if conn.write_all(&chunk_header(n as u32)).await.is_err()
                    || conn.write_all(&buf[..n]).await.is_err()
                {
                    break;
                }
            }
            let _ = conn.write_all(&END_OF_STREAM).await;
            first_reply(read_replies(&mut conn).await?)
        })
        .await
    }

    /// FILDES hands over a descriptor, which only a unix socket can carry.
    fn fildes_socket(&self) -> io::Result<&Path> {
        match &self.endpoint {
            Endpoint::Unix(path) => Ok(path),
            Endpoint::Tcp(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "FILDES needs a unix socket",
            )),
        }
    }

    /// Passes `fd` with FILDES (unix-socket endpoints only).
    pub async fn fildes(&self, fd: BorrowedFd<'_>) -> io::Result<ParsedReply> {
        let path = self.fildes_socket()?;
        self.with_timeout(async {
            let mut conn = UnixStream::connect(path).await?;
            conn.write_all(&Command::Fildes.encode(Framing::Nul))
                .await?;
            send_fd(&conn, fd).await?;
            first_reply(read_replies(&mut conn).await?)
        })
        .await
    }

    /// Passes every descriptor of `fds` with FILDES inside one IDSESSION (unix-socket
    /// endpoints only): one connection for the lot, and the server scans them
    /// concurrently on its own threads. Replies come back in the order of `fds`.
    pub async fn fildes_session(&self, fds: &[BorrowedFd<'_>]) -> io::Result<Vec<ParsedReply>> {
        let path = self.fildes_socket()?;
        self.with_timeout(async {
            let mut conn = UnixStream::connect(path).await?;
            conn.write_all(&Command::IdSession.encode(Framing::Nul))
                .await?;
            let fildes = Command::Fildes.encode(Framing::Nul);
            for fd in fds {
                conn.write_all(&fildes).await?;
                send_fd(&conn, *fd).await?;
            }
            // Replies are a few dozen bytes each: they wait in the socket buffer while
            // the commands are written, and END makes the server close after the last.
            conn.write_all(&Command::End.encode(Framing::Nul)).await?;
            let mut replies: Vec<Option<ParsedReply>> = vec![None; fds.len()];
            for line in read_replies(&mut conn).await? {
                let reply = parse_reply(&line);
                let slot = reply
                    .session_id
                    .and_then(|id| usize::try_from(id).ok()?.checked_sub(1))
                    .and_then(|i| replies.get_mut(i));
                match slot {
                    Some(slot) => *slot = Some(reply),
                    None => {
                        return Err(protocol_error(format!(
                            "unexpected reply in the session: {:?}",
                            String::from_utf8_lossy(&line)
                        )));
                    }
                }
            }
            replies
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    r.ok_or_else(|| protocol_error(format!("no reply to request {}", i + 1)))
                })
                .collect()
        })
        .await
    }
}

/// Sends the one byte that carries `fd` (clamd reads exactly one after FILDES).
async fn send_fd(conn: &UnixStream, fd: BorrowedFd<'_>) -> io::Result<()> {
    loop {
        conn.writable().await?;
        match conn.try_io(tokio::io::Interest::WRITABLE, || {
            crate::fdpass::send_with_fd(conn.as_raw_fd(), b"\0", fd)
        }) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn first_reply(lines: Vec<Vec<u8>>) -> io::Result<ParsedReply> {
    lines
        .first()
        .map(|l| parse_reply(l))
        .ok_or_else(|| protocol_error("connection closed without a reply"))
}

async fn read_replies(conn: &mut (impl AsyncRead + Unpin)) -> io::Result<Vec<Vec<u8>>> {
    let mut raw = Vec::new();
    conn.take(MAX_REPLY_BYTES).read_to_end(&mut raw).await?;
    Ok(raw
        .split(|&b| b == 0)
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\n").unwrap_or(l).to_vec())
        .collect())
}
