//! The async client: connections, OPTIONS cache, RESPMOD exchange.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};

use crate::error::IcapError;
use crate::options::Options;
use crate::reply::{Event, Limits, ReplyHead, ReplyParser};
use crate::request;
use crate::verdict::{IcapVerdict, verdict_from_echo, verdict_from_head};

/// Client settings. [`Config::default`] suits a scan server on the local network.
#[derive(Debug, Clone)]
pub struct Config {
    /// Limit on establishing one TCP connection.
    pub connect_timeout: Duration,
    /// Limit on one whole exchange (connect, send, wait for the verdict), not counting
    /// the wait for a free connection slot.
    pub timeout: Duration,
    /// Exchanges in flight at once; further calls wait for a slot.
    pub max_connections: usize,
    /// Kept-alive connections held for reuse; 0 disables reuse.
    pub max_idle: usize,
    /// An idle connection older than this is closed rather than reused (keep it below
    /// the server's keep-alive timeout: c-icap's default is 600 s).
    pub idle_timeout: Duration,
    /// How long an OPTIONS answer is used when the server sends no `Options-TTL`.
    pub default_options_ttl: Duration,
    /// Upper bound on the preview sent, whatever the server asks for: the preview is
    /// held in memory (so that a stale kept-alive connection can be retried).
    pub max_preview: usize,
    /// Size of the body chunks written after the preview.
    pub chunk_size: usize,
    /// Body bytes read (and discarded) after the verdict is known to keep the
    /// connection usable; past this the connection is closed instead.
    pub max_drain: u64,
    pub user_agent: String,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            max_connections: 16,
            max_idle: 8,
            idle_timeout: Duration::from_secs(30),
            default_options_ttl: Duration::from_secs(3600),
            max_preview: 64 * 1024,
            chunk_size: 64 * 1024,
            max_drain: 64 * 1024,
            user_agent: concat!("Vigil-ICAP/", env!("CARGO_PKG_VERSION")).to_owned(),
            limits: Limits::default(),
        }
    }
}

/// A verdict with the `ISTag` of the reply that gave it: the key under which a cache
/// may keep the verdict (a new ISTag means new signatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    pub verdict: IcapVerdict,
    pub istag: Option<String>,
}

/// A client for one ICAP service, `icap://host:port/service`. Cheap to clone; clones
/// share the OPTIONS cache, the idle connections and the connection slots.
#[derive(Debug, Clone)]
pub struct IcapClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    host: String,
    port: u16,
    uri: String,
    host_header: String,
    cfg: Config,
    slots: Semaphore,
    options: Mutex<Option<CachedOptions>>,
    istag: Mutex<Option<String>>,
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct CachedOptions {
    options: Options,
    expires: Instant,
}

#[derive(Debug)]
struct Idle {
    stream: TcpStream,
    since: Instant,
}

/// A connection during one exchange: the stream, bytes received but not yet parsed,
/// and whether it came from the idle list.
struct Conn {
    stream: TcpStream,
    buf: RecvBuf,
    reused: bool,
}

/// Received bytes not yet parsed. Consumed bytes are skipped with an offset and only
/// compacted before the next read: a reply of many tiny chunks must not cost a memmove
/// of the whole buffer per chunk.
#[derive(Default)]
struct RecvBuf {
    data: Vec<u8>,
    start: usize,
}

impl RecvBuf {
    fn pending(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.data.len());
    }

    fn is_empty(&self) -> bool {
        self.start >= self.data.len()
    }

    async fn read_more<R: AsyncRead + Unpin>(&mut self, rd: &mut R) -> io::Result<usize> {
        self.data.drain(..self.start);
        self.start = 0;
        self.data.reserve(16 * 1024);
        rd.read_buf(&mut self.data).await
    }
}

/// Where the request writer is, shared with the reply reader of the same exchange.
const W_HEAD: u8 = 0;
/// Head and preview sent; waiting for `100 Continue`.
const W_WAITING: u8 = 1;
/// Sending the body past the preview (or the whole body, without preview).
const W_STREAMING: u8 = 2;
const W_DONE: u8 = 3;

enum WriteError {
    Source(io::Error),
    Net(io::Error),
}

/// An attempt's error, and whether it may be repeated on a fresh connection.
struct Failed {
    error: IcapError,
    retry: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave their data inconsistent (plain
    // assignments), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl IcapClient {
    /// A client for `icap://host:port/service`. `host` is a name or an IP address (IPv6
    /// with or without brackets); nothing is resolved or connected until first use.
    pub fn new(host: &str, port: u16, service: &str, cfg: Config) -> IcapClient {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let host_header = request::authority(&host, port);
        let uri = format!("icap://{host_header}/{}", request::encode_service(service));
        IcapClient {
            inner: Arc::new(Inner {
                slots: Semaphore::new(cfg.max_connections.max(1)),
                host,
                port,
                uri,
                host_header,
                cfg,
                options: Mutex::new(None),
                istag: Mutex::new(None),
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The service URI sent in request lines.
    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    /// The latest `ISTag` the service sent, in any reply.
    pub fn istag(&self) -> Option<String> {
        lock(&self.inner.istag).clone()
    }

    /// Drops the cached OPTIONS answer: the next scan asks again.
    pub fn invalidate_options(&self) {
        *lock(&self.inner.options) = None;
    }

    /// Sends OPTIONS now (a health check), caches and returns the answer.
    pub async fn options(&self) -> Result<Options, IcapError> {
        let _slot = self.slot().await?;
        let cfg = &self.inner.cfg;
        let head = tokio::time::timeout(cfg.timeout, self.options_exchange())
            .await
            .map_err(|_| IcapError::Timeout(cfg.timeout))??;
        if head.status != 200 {
            return Err(IcapError::Status {
                code: head.status,
                reason: head.reason,
            });
        }
        let options = Options::from_head(&head);
        let ttl = options.ttl.unwrap_or(cfg.default_options_ttl);
        self.note_istag(options.istag.as_deref());
        *lock(&self.inner.options) = Some(CachedOptions {
            options: options.clone(),
            expires: Instant::now() + ttl,
        });
        Ok(options)
    }

    /// The cached OPTIONS answer while its TTL lasts, otherwise a fresh one.
    pub async fn cached_options(&self) -> Result<Options, IcapError> {
        if let Some(cached) = lock(&self.inner.options).as_ref()
            && cached.expires > Instant::now()
        {
            return Ok(cached.options.clone());
        }
        self.options().await
    }

    /// Scans `size` bytes read from `body`, sent as the body of an HTTP response for
    /// `name` (the name only labels the request: c-icap logs it).
    ///
    /// RESPMOD with `Allow: 204`; when the service advertises `Preview`, the first
    /// bytes go as a preview, with `0; ieof` if they are the whole file, and the rest
    /// follows only after `100 Continue`. Exactly `size` bytes are read from `body`;
    /// fewer is an [`IcapError::Source`] error.
    pub async fn scan<R: AsyncRead + Unpin>(
        &self,
        name: &str,
        size: u64,
        mut body: R,
    ) -> Result<ScanResult, IcapError> {
        let options = self.cached_options().await?;
        if !options.supports_respmod() {
            return Err(IcapError::Protocol(format!(
                "{} does not offer RESPMOD (Methods: {})",
                self.inner.uri,
                options.methods.join(", ")
            )));
        }
        let cfg = &self.inner.cfg;
        let preview_size = options.preview.map(|p| p.min(cfg.max_preview));
        // Read the preview before connecting: held in memory, it can be sent again if
        // a kept-alive connection turns out to be dead.
        let preview_len =
            preview_size.map_or(0, |p| u64::try_from(p).unwrap_or(u64::MAX).min(size));
        let mut preview = Vec::new();
        read_exact_or_eof(&mut body, &mut preview, preview_len, size).await?;
        let head = request::respmod(
            &self.inner.uri,
            &self.inner.host_header,
            &cfg.user_agent,
            name,
            size,
            preview_size,
        );
        let _slot = self.slot().await?;
        let result = tokio::time::timeout(cfg.timeout, async {
            let mut retried = false;
            loop {
                let conn = self.connection(retried).await?;
                let job = Job {
                    head: &head,
                    preview: &preview,
                    preview_mode: preview_size.is_some(),
                    size,
                };
                match self.respmod_exchange(conn, &job, &mut body).await {
                    Ok(result) => return Ok(result),
                    Err(Failed { error, retry }) if retry && !retried => {
                        tracing::debug!(uri = %self.inner.uri, %error, "kept-alive connection failed; retrying on a new one");
                        retried = true;
                    }
                    Err(Failed { error, .. }) => return Err(error),
                }
            }
        })
        .await
        .map_err(|_| IcapError::Timeout(cfg.timeout))?;
        match &result {
            Ok(r) => {
                tracing::debug!(uri = %self.inner.uri, name, size, verdict = ?r.verdict, "ICAP scan")
            }
            Err(e) => {
                tracing::debug!(uri = %self.inner.uri, name, size, error = %e, "ICAP scan failed")
            }
        }
        result
    }

    /// [`IcapClient::scan`] of an in-memory file.
    pub async fn scan_bytes(&self, name: &str, data: &[u8]) -> Result<ScanResult, IcapError> {
        self.scan(name, data.len() as u64, data).await
    }

    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, IcapError> {
        self.inner
            .slots
            .acquire()
            .await
            .map_err(|_| IcapError::Protocol("client closed".into()))
    }

    fn note_istag(&self, istag: Option<&str>) {
        let Some(tag) = istag else { return };
        let mut seen = lock(&self.inner.istag);
        if seen.as_deref() != Some(tag) {
            *seen = Some(tag.to_owned());
        }
        drop(seen);
        let mut options = lock(&self.inner.options);
        // RFC 3507 4.7: a new ISTag means the service changed; its OPTIONS may have too.
        if options
            .as_ref()
            .is_some_and(|c| c.options.istag.as_deref() != Some(tag))
        {
            *options = None;
        }
    }

    /// An idle connection that still looks alive, or a new one (`fresh` skips the idle
    /// list).
    async fn connection(&self, fresh: bool) -> Result<Conn, IcapError> {
        if !fresh {
            loop {
                let Some(idle) = lock(&self.inner.idle).pop() else {
                    break;
                };
                if idle.since.elapsed() < self.inner.cfg.idle_timeout && looks_alive(&idle.stream) {
                    return Ok(Conn {
                        stream: idle.stream,
                        buf: RecvBuf::default(),
                        reused: true,
                    });
                }
            }
        }
        let addr = || self.inner.host_header.clone();
        let connect = TcpStream::connect((self.inner.host.as_str(), self.inner.port));
        let stream = tokio::time::timeout(self.inner.cfg.connect_timeout, connect)
            .await
            .map_err(|_| IcapError::Connect {
                addr: addr(),
                source: io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
            })?
            .map_err(|source| IcapError::Connect {
                addr: addr(),
                source,
            })?;
        // Preview and 100 Continue are small back-and-forth writes: without this, Nagle
        // and delayed ACKs add tens of milliseconds per scan.
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: RecvBuf::default(),
            reused: false,
        })
    }

    fn keep(&self, conn: Conn) {
        if !conn.buf.is_empty() {
            return;
        }
        let mut idle = lock(&self.inner.idle);
        if idle.len() < self.inner.cfg.max_idle {
            idle.push(Idle {
                stream: conn.stream,
                since: Instant::now(),
            });
        }
    }

    async fn options_exchange(&self) -> Result<ReplyHead, IcapError> {
        let cfg = &self.inner.cfg;
        let req = request::options(&self.inner.uri, &self.inner.host_header, &cfg.user_agent);
        let mut retried = false;
        loop {
            let mut conn = self.connection(retried).await?;
            let mut parser = ReplyParser::new(cfg.limits);
            let attempt = async {
                conn.stream.write_all(&req).await.map_err(IcapError::Io)?;
                let head = match read_event(&mut conn.stream, &mut conn.buf, &mut parser).await? {
                    Event::Head(h) if h.status >= 200 => h,
                    Event::Head(h) => {
                        return Err(IcapError::Protocol(format!(
                            "interim {} reply to OPTIONS",
                            h.status
                        )));
                    }
                    _ => return Err(IcapError::Protocol("body before head".into())),
                };
                let drained = !head.has_body
                    || drain(&mut conn.stream, &mut conn.buf, &mut parser, cfg.max_drain).await?;
                Ok((head, drained))
            }
            .await;
            match attempt {
                Ok((head, drained)) => {
                    if drained && !head.closes() && head.status == 200 {
                        self.keep(conn);
                    }
                    return Ok(*head);
                }
                Err(e)
                    if conn.reused
                        && !retried
                        && parser.at_reply_boundary()
                        && conn.buf.is_empty()
                        && e.is_connection_failure() =>
                {
                    retried = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One RESPMOD on one connection: the request is written while the reply is read,
    /// because a server may answer (or start echoing) before it has the whole body.
    async fn respmod_exchange<R: AsyncRead + Unpin>(
        &self,
        mut conn: Conn,
        job: &Job<'_>,
        body: &mut R,
    ) -> Result<ScanResult, Failed> {
        let cfg = &self.inner.cfg;
        let phase = AtomicU8::new(W_HEAD);
        let mut parser = ReplyParser::new(cfg.limits);
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let mut go_tx = Some(go_tx);
        let reused = conn.reused;
        let (outcome, write_error) = {
            let (mut rd, mut wr) = conn.stream.split();
            let write = write_request(&mut wr, job, body, go_rx, &phase, cfg.chunk_size);
            let read = read_verdict(
                &mut rd,
                &mut conn.buf,
                &mut parser,
                &mut go_tx,
                job.size,
                cfg.max_drain,
            );
            tokio::pin!(write, read);
            let mut write_error: Option<io::Error> = None;
            let mut write_finished = false;
            let outcome = loop {
                tokio::select! {
                    w = &mut write, if !write_finished => {
                        write_finished = true;
                        match w {
                            Ok(()) => {}
                            Err(WriteError::Source(e)) => {
                                return Err(Failed { error: IcapError::Source(e), retry: false });
                            }
                            // The server may have answered and closed: the reply says
                            // more than the broken pipe does, so keep reading.
                            Err(WriteError::Net(e)) => write_error = Some(e),
                        }
                    }
                    r = &mut read => break r,
                }
            };
            (outcome, write_error)
        };
        let sent = phase.load(Ordering::Acquire);
        match outcome {
            Ok((head, verdict, drained)) => {
                self.note_istag(head.istag());
                let in_sync = write_error.is_none()
                    && (sent == W_DONE || sent == W_WAITING)
                    && drained
                    && !head.closes();
                if in_sync {
                    self.keep(conn);
                }
                let istag = head.istag().map(str::to_owned);
                match verdict {
                    Some(verdict) => Ok(ScanResult { verdict, istag }),
                    None => Err(Failed {
                        error: IcapError::Status {
                            code: head.status,
                            reason: head.reason.clone(),
                        },
                        retry: false,
                    }),
                }
            }
            Err(error) => {
                let nothing_received = parser.at_reply_boundary() && conn.buf.is_empty();
                let retry = reused
                    && nothing_received
                    && sent != W_STREAMING
                    && error.is_connection_failure();
                let error = match (error, write_error) {
                    (IcapError::Closed, Some(e)) => IcapError::Io(e),
                    (error, _) => error,
                };
                Err(Failed { error, retry })
            }
        }
    }
}

/// What one RESPMOD sends.
struct Job<'a> {
    /// ICAP head plus encapsulated HTTP heads.
    head: &'a [u8],
    /// The preview: the first bytes of the body (empty without `preview_mode`).
    preview: &'a [u8],
    preview_mode: bool,
    size: u64,
}

/// Whether an idle connection is still open: a closed one is readable with EOF, a live
/// one has nothing to read (the server sends nothing unasked).
fn looks_alive(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Appends exactly `want` bytes of `body` to `out`.
async fn read_exact_or_eof<R: AsyncRead + Unpin>(
    body: &mut R,
    out: &mut Vec<u8>,
    want: u64,
    size: u64,
) -> Result<(), IcapError> {
    let start = out.len();
    let got = (&mut *body)
        .take(want)
        .read_to_end(out)
        .await
        .map_err(IcapError::Source)?;
    if (got as u64) < want {
        out.truncate(start);
        return Err(IcapError::Source(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file ended before the {size} bytes announced"),
        )));
    }
    Ok(())
}

async fn write_request<W: AsyncWrite + Unpin, R: AsyncRead + Unpin>(
    wr: &mut W,
    job: &Job<'_>,
    body: &mut R,
    go: oneshot::Receiver<()>,
    phase: &AtomicU8,
    chunk_size: usize,
) -> Result<(), WriteError> {
    let net = WriteError::Net;
    let mut out = Vec::with_capacity(job.head.len() + job.preview.len() + 32);
    out.extend_from_slice(job.head);
    let mut remaining = job.size;
    if job.preview_mode {
        request::push_chunk(&mut out, job.preview);
        remaining -= job.preview.len() as u64;
        out.extend_from_slice(request::last_chunk(remaining == 0));
        wr.write_all(&out).await.map_err(net)?;
        wr.flush().await.map_err(net)?;
        if remaining == 0 {
            phase.store(W_DONE, Ordering::Release);
            return Ok(());
        }
        phase.store(W_WAITING, Ordering::Release);
        if go.await.is_err() {
            // The reader got a final reply to the preview: nothing more to send.
            return Ok(());
        }
        out.clear();
    }
    phase.store(W_STREAMING, Ordering::Release);
    let mut data =
        Vec::with_capacity(chunk_size.min(usize::try_from(remaining).unwrap_or(usize::MAX)));
    while remaining > 0 {
        let want = remaining.min(chunk_size.max(1) as u64);
        data.clear();
        let got = (&mut *body)
            .take(want)
            .read_to_end(&mut data)
            .await
            .map_err(WriteError::Source)?;
        if got == 0 {
            return Err(WriteError::Source(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file ended {remaining} bytes short of the {} announced",
                    job.size
                ),
            )));
        }
        remaining -= got as u64;
        request::push_chunk(&mut out, &data);
        wr.write_all(&out).await.map_err(net)?;
        out.clear();
    }
    wr.write_all(request::last_chunk(false))
        .await
        .map_err(net)?;
    wr.flush().await.map_err(net)?;
    phase.store(W_DONE, Ordering::Release);
    Ok(())
}

/// Reads until the parser yields an event; EOF first is [`IcapError::Closed`].
async fn read_event<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut RecvBuf,
    parser: &mut ReplyParser,
) -> Result<Event, IcapError> {
    loop {
        let (used, event) = parser
            .next(buf.pending())
            .map_err(|e| IcapError::Protocol(e.to_string()))?;
        buf.consume(used);
        if let Some(event) = event {
            return Ok(event);
        }
        if used > 0 {
            continue;
        }
        let n = buf.read_more(rd).await.map_err(IcapError::Io)?;
        if n == 0 {
            return Err(IcapError::Closed);
        }
    }
}

/// Reads and discards the rest of a body; `false` when it was longer than `max` (the
/// connection must then be closed).
async fn drain<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut RecvBuf,
    parser: &mut ReplyParser,
    max: u64,
) -> Result<bool, IcapError> {
    let mut seen: u64 = 0;
    loop {
        match read_event(rd, buf, parser).await? {
            Event::Body(n) => {
                seen += n as u64;
                if seen > max {
                    return Ok(false);
                }
            }
            Event::End => return Ok(true),
            Event::Head(_) => return Err(IcapError::Protocol("reply inside a body".into())),
        }
    }
}

/// Reads replies until the final one and decides. Returns the head, the verdict (`None`
/// for an ICAP error status) and whether the reply was read to its end.
async fn read_verdict<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut RecvBuf,
    parser: &mut ReplyParser,
    go: &mut Option<oneshot::Sender<()>>,
    sent_len: u64,
    max_drain: u64,
) -> Result<(Box<ReplyHead>, Option<IcapVerdict>, bool), IcapError> {
    let head = loop {
        match read_event(rd, buf, parser).await? {
            Event::Head(h) if h.status == 100 => {
                // After `0; ieof` nobody waits for it: RFC 3507 erratum 5893 says to
                // ignore a 100 Continue then.
                if let Some(tx) = go.take() {
                    let _ = tx.send(());
                }
            }
            Event::Head(h) if h.status < 200 => {
                return Err(IcapError::Protocol(format!(
                    "unexpected interim reply {}",
                    h.status
                )));
            }
            Event::Head(h) => break h,
            _ => return Err(IcapError::Protocol("body before head".into())),
        }
    };
    // Dropping the sender tells a writer still waiting for 100 Continue to stop.
    go.take();
    if head.status >= 300 {
        let drained = !head.has_body || drain(rd, buf, parser, max_drain).await?;
        return Ok((head, None, drained));
    }
    if head.status != 200 && head.status != 204 {
        return Err(IcapError::Protocol(format!(
            "unsupported reply status {} {}",
            head.status, head.reason
        )));
    }
    if let Some(verdict) = verdict_from_head(&head) {
        let drained = !head.has_body || drain(rd, buf, parser, max_drain).await?;
        return Ok((head, Some(verdict), drained));
    }
    // A 2xx echo: clean only if the whole body comes back, so read it all.
    let mut body_len: u64 = 0;
    if head.has_body {
        loop {
            match read_event(rd, buf, parser).await? {
                Event::Body(n) => {
                    body_len += n as u64;
                    if body_len > sent_len {
                        let verdict = verdict_from_echo(&head, body_len, sent_len);
                        return Ok((head, Some(verdict), false));
                    }
                }
                Event::End => break,
                Event::Head(_) => return Err(IcapError::Protocol("reply inside a body".into())),
            }
        }
    }
    let verdict = verdict_from_echo(&head, body_len, sent_len);
    Ok((head, Some(verdict), true))
}
