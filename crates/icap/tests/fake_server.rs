//! The client against scripted ICAP servers: the cases c-icap does not produce on
//! demand (dying kept-alive connections, silence, hostile replies, other servers'
//! habits).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use icap::{Config, IcapClient, IcapError, IcapVerdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OPTIONS_REPLY: &[u8] = b"ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\nISTag: \"T1\"\r\nPreview: 4\r\nAllow: 204\r\nEncapsulated: null-body=0\r\n\r\n";
const NO_CONTENT: &[u8] = b"ICAP/1.0 204 No Content\r\nISTag: \"T1\"\r\n\r\n";

/// One ICAP request as the server saw it.
#[derive(Debug, Default)]
struct Request {
    head: String,
    /// Body bytes (dechunked) read so far.
    body: Vec<u8>,
    ieof: bool,
}

struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    async fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&line).trim_end().to_owned());
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// Reads an ICAP head and the encapsulated HTTP heads; `None` at EOF.
    async fn request_head(&mut self) -> Option<Request> {
        let mut head = String::new();
        loop {
            let line = self.line().await?;
            if line.is_empty() {
                break;
            }
            head.push_str(&line);
            head.push('\n');
        }
        let body_at = head
            .lines()
            .find_map(|l| l.strip_prefix("Encapsulated: "))
            .and_then(|v| v.split(", ").find_map(|p| p.strip_prefix("res-body=")))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(n) = body_at {
            let http = self.take(n).await?;
            head.push_str(&String::from_utf8_lossy(&http));
        }
        Some(Request {
            head,
            ..Request::default()
        })
    }

    /// Reads chunks up to the next zero-size chunk.
    async fn chunks(&mut self, req: &mut Request) -> Option<()> {
        loop {
            let line = self.line().await?;
            let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                req.ieof = line.contains("ieof");
                self.line().await?;
                return Some(());
            }
            let data = self.take(size + 2).await?;
            req.body.extend_from_slice(&data[..size]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }
}

/// Serves connections with `script(connection number, peer)`; returns the port and the
/// number of connections accepted so far.
async fn serve<F, Fut>(script: F) -> (u16, Arc<AtomicUsize>)
where
    F: Fn(usize, Peer) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(script(
                n,
                Peer {
                    stream,
                    buf: Vec::new(),
                },
            ));
        }
    });
    (port, count)
}

/// A well-behaved server: OPTIONS, then RESPMOD with preview, 100 Continue, 204 or an
/// infection header when the body contains `EVIL`.
async fn good_server(mut peer: Peer) {
    while let Some(mut req) = peer.request_head().await {
        if req.head.starts_with("OPTIONS") {
            peer.send(OPTIONS_REPLY).await;
            continue;
        }
        if peer.chunks(&mut req).await.is_none() {
            return;
        }
        if req.head.contains("Preview:") && !req.ieof {
            peer.send(b"ICAP/1.0 100 Continue\r\n\r\n").await;
            if peer.chunks(&mut req).await.is_none() {
                return;
            }
        }
        if req.body.windows(4).any(|w| w == b"EVIL") {
            peer.send(b"ICAP/1.0 200 OK\r\nISTag: \"T1\"\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Evil;\r\nEncapsulated: res-hdr=0, null-body=19\r\n\r\nHTTP/1.1 403 No\r\n\r\n").await;
        } else {
            peer.send(NO_CONTENT).await;
        }
    }
}

fn client(port: u16, cfg: Config) -> IcapClient {
    IcapClient::new("127.0.0.1", port, "svc", cfg)
}

#[tokio::test]
async fn connections_are_reused() {
    let (port, conns) = serve(|_, peer| good_server(peer)).await;
    let c = client(port, Config::default());
    for i in 0..20 {
        let data = if i % 2 == 0 {
            &b"fine data here"[..]
        } else {
            &b"xxEVILxx"[..]
        };
        let r = c.scan_bytes("f", data).await.expect("scan");
        assert_eq!(r.verdict.is_clean(), i % 2 == 0);
        assert_eq!(r.istag.as_deref(), Some("T1"));
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1, "one kept-alive connection");

    let no_reuse = client(
        port,
        Config {
            max_idle: 0,
            ..Config::default()
        },
    );
    for _ in 0..3 {
        no_reuse.scan_bytes("f", b"abc").await.expect("scan");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1 + 4);
}

/// The server closes a kept-alive connection just as the next request arrives: the
/// scan is retried once on a new connection.
#[tokio::test]
async fn dying_kept_alive_connection_is_retried() {
    let (port, conns) = serve(|n, mut peer| async move {
        if n == 0 {
            // OPTIONS, then one scan, then die on the next request.
            let Some(_) = peer.request_head().await else {
                return;
            };
            peer.send(OPTIONS_REPLY).await;
            let Some(mut req) = peer.request_head().await else {
                return;
            };
            if peer.chunks(&mut req).await.is_none() {
                return;
            }
            peer.send(NO_CONTENT).await;
            let _ = peer.request_head().await;
            return;
        }
        good_server(peer).await
    })
    .await;
    let c = client(port, Config::default());
    assert!(
        c.scan_bytes("a", b"ab")
            .await
            .expect("first")
            .verdict
            .is_clean()
    );
    // Within the preview (all of it held in memory) and larger than the preview.
    let r = c.scan_bytes("b", b"xEVIL").await.expect("retried");
    assert_eq!(r.verdict.threat_name(), Some("Evil"));
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn silent_server_times_out() {
    let (port, _) = serve(|_, mut peer| async move { while peer.fill().await {} }).await;
    let c = client(
        port,
        Config {
            timeout: Duration::from_millis(300),
            ..Config::default()
        },
    );
    let start = Instant::now();
    match c.scan_bytes("f", b"abc").await {
        Err(e @ IcapError::Timeout(_)) => assert!(e.is_connection_failure()),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Replies that never end or never stop growing: refused within the limits, not
/// buffered.
#[tokio::test]
async fn hostile_replies_are_bounded() {
    // An endless header block.
    let (port, _) = serve(|_, mut peer| async move {
        let _ = peer.request_head().await;
        peer.send(b"ICAP/1.0 200 OK\r\n").await;
        let line = b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(100);
        for _ in 0..100_000 {
            if peer.stream.write_all(&line).await.is_err() {
                return;
            }
        }
    })
    .await;
    match client(port, Config::default()).options().await {
        Err(IcapError::Protocol(msg)) => assert!(msg.contains("ICAP head"), "{msg}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }

    // A 200 echo that keeps sending: modified as soon as it outgrows the file.
    let (port, _) = serve(|_, mut peer| async move {
        while let Some(mut req) = peer.request_head().await {
            if req.head.starts_with("OPTIONS") {
                peer.send(OPTIONS_REPLY).await;
                continue;
            }
            let _ = peer.chunks(&mut req).await;
            peer.send(b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n").await;
            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
            loop {
                if peer.stream.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let r = client(port, Config::default())
        .scan_bytes("f", b"abc")
        .await
        .expect("scan");
    assert_eq!(
        r.verdict,
        IcapVerdict::Modified {
            http_status: Some(200)
        }
    );

    // A chunk-size line that never ends.
    let (port, _) = serve(|_, mut peer| async move {
        while let Some(mut req) = peer.request_head().await {
            if req.head.starts_with("OPTIONS") {
                peer.send(OPTIONS_REPLY).await;
                continue;
            }
            let _ = peer.chunks(&mut req).await;
            peer.send(b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n1").await;
            loop {
                if peer.stream.write_all(&[b'0'; 4096]).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    match client(port, Config::default())
        .scan_bytes("f", b"abc")
        .await
    {
        Err(IcapError::Protocol(msg)) => assert!(msg.contains("chunk"), "{msg}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

/// Server habits: a final answer to the preview (no 100 Continue), a 100 Continue after
/// `0; ieof` (erratum 5893), no Preview at all, an ISTag change, 5xx, `Connection:
/// close`.
#[tokio::test]
async fn server_habits() {
    let options_seen = Arc::new(AtomicUsize::new(0));
    let seen = options_seen.clone();
    let (port, conns) = serve(move |_, mut peer| {
        let seen = seen.clone();
        async move {
            while let Some(mut req) = peer.request_head().await {
                if req.head.starts_with("OPTIONS") {
                    seen.fetch_add(1, Ordering::SeqCst);
                    peer.send(OPTIONS_REPLY).await;
                    continue;
                }
                if peer.chunks(&mut req).await.is_none() {
                    return;
                }
                let name = req
                    .head
                    .lines()
                    .find_map(|l| l.strip_prefix("GET /"))
                    .and_then(|l| l.split(' ').next())
                    .unwrap_or("")
                    .to_owned();
                match name.as_str() {
                    // Decides on the preview: the rest is never sent.
                    "early204" => peer.send(NO_CONTENT).await,
                    "continue-after-ieof" => {
                        assert!(req.ieof);
                        peer.send(b"ICAP/1.0 100 Continue\r\n\r\n").await;
                        peer.send(NO_CONTENT).await;
                    }
                    "new-istag" => {
                        peer.send(b"ICAP/1.0 204 No Content\r\nISTag: \"T2\"\r\n\r\n")
                            .await
                    }
                    "error" => {
                        peer.send(b"ICAP/1.0 500 Server Error\r\nEncapsulated: null-body=0\r\n\r\n")
                            .await
                    }
                    "close" => {
                        peer.send(b"ICAP/1.0 204 No Content\r\nConnection: close\r\n\r\n")
                            .await;
                        return;
                    }
                    other => panic!("unexpected request for {other}"),
                }
            }
        }
    })
    .await;
    let c = client(port, Config::default());
    let big = vec![b'a'; 100_000];
    assert!(
        c.scan_bytes("early204", &big)
            .await
            .expect("early")
            .verdict
            .is_clean()
    );
    // The unsent rest did not desynchronise the kept-alive connection.
    assert!(
        c.scan_bytes("continue-after-ieof", b"ab")
            .await
            .expect("ieof")
            .verdict
            .is_clean()
    );
    assert_eq!(conns.load(Ordering::SeqCst), 1);
    assert_eq!(options_seen.load(Ordering::SeqCst), 1);
    assert_eq!(c.istag().as_deref(), Some("T1"));
    let r = c.scan_bytes("new-istag", b"ab").await.expect("new istag");
    assert_eq!(r.istag.as_deref(), Some("T2"));
    assert_eq!(c.istag().as_deref(), Some("T2"));
    // A changed ISTag drops the cached OPTIONS.
    c.scan_bytes("early204", b"ab").await.expect("again");
    assert_eq!(options_seen.load(Ordering::SeqCst), 2);
    match c.scan_bytes("error", b"ab").await {
        Err(IcapError::Status { code: 500, reason }) => assert_eq!(reason, "Server Error"),
        other => panic!("expected 500, got {other:?}"),
    }
    let before = conns.load(Ordering::SeqCst);
    c.scan_bytes("close", b"ab").await.expect("close");
    c.scan_bytes("early204", b"ab").await.expect("after close");
    assert_eq!(conns.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn without_preview_the_whole_body_is_sent() {
    let (port, _) = serve(|_, mut peer| async move {
        while let Some(mut req) = peer.request_head().await {
            if req.head.starts_with("OPTIONS") {
                peer.send(b"ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\nEncapsulated: null-body=0\r\n\r\n")
                    .await;
                continue;
            }
            assert!(!req.head.contains("Preview"), "{}", req.head);
            assert!(req.head.contains("Allow: 204"), "{}", req.head);
            if peer.chunks(&mut req).await.is_none() {
                return;
            }
            assert!(!req.ieof);
            let reply = format!(
                "ICAP/1.0 200 OK\r\nX-Violations-Found: 1\r\n\tinner.exe\r\n\tW32.Len{}\r\n\t9\r\n\t2\r\nEncapsulated: null-body=0\r\n\r\n",
                req.body.len()
            );
            peer.send(reply.as_bytes()).await;
        }
    })
    .await;
    let c = client(
        port,
        Config {
            chunk_size: 1000,
            ..Config::default()
        },
    );
    let r = c.scan_bytes("f", &vec![7u8; 123_457]).await.expect("scan");
    match r.verdict {
        IcapVerdict::Infected { threat, violations } => {
            assert_eq!(threat, "W32.Len123457");
            assert_eq!(violations[0].filename.as_deref(), Some("inner.exe"));
            assert_eq!(violations[0].problem_id, Some(9));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn service_without_respmod_is_refused() {
    let (port, _) = serve(|_, mut peer| async move {
        while peer.request_head().await.is_some() {
            peer.send(b"ICAP/1.0 200 OK\r\nMethods: REQMOD\r\nEncapsulated: null-body=0\r\n\r\n")
                .await;
        }
    })
    .await;
    match client(port, Config::default()).scan_bytes("f", b"x").await {
        Err(IcapError::Protocol(msg)) => assert!(msg.contains("RESPMOD"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

/// An echo of the whole file in one-byte chunks (what a slow server relaying byte by
/// byte looks like): clean, and parsed in linear time.
#[tokio::test]
async fn echo_in_tiny_chunks() {
    const LEN: usize = 300_000;
    let (port, _) = serve(|_, mut peer| async move {
        while let Some(mut req) = peer.request_head().await {
            if req.head.starts_with("OPTIONS") {
                peer.send(OPTIONS_REPLY).await;
                continue;
            }
            if peer.chunks(&mut req).await.is_none() {
                return;
            }
            if !req.ieof {
                peer.send(b"ICAP/1.0 100 Continue\r\n\r\n").await;
                if peer.chunks(&mut req).await.is_none() {
                    return;
                }
            }
            let mut reply = b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n".to_vec();
            for &b in &req.body {
                reply.extend_from_slice(b"1\r\n");
                reply.push(b);
                reply.extend_from_slice(b"\r\n");
            }
            reply.extend_from_slice(b"0\r\n\r\n");
            peer.send(&reply).await;
        }
    })
    .await;
    let c = client(port, Config::default());
    let start = Instant::now();
    let r = c.scan_bytes("f", &vec![b'z'; LEN]).await.expect("scan");
    assert_eq!(r.verdict, IcapVerdict::Clean);
    let r = c.scan_bytes("f", &vec![b'z'; LEN - 1]).await.expect("scan");
    assert!(r.verdict.is_clean());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
